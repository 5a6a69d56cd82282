# The ReadySet images, built once per commit for the internal stage. Alpha and release
# AMIs are copies of these (`cargo xtask amis promote`), never a rebuild. Each build below
# is one image; `cargo xtask amis build --only` picks images by these names.

source "amazon-ebs" "readyset" {
  region                  = var.build_region
  instance_type           = var.instance_type
  custom_endpoint_ec2     = var.ec2_endpoint
  skip_region_validation  = var.ec2_endpoint != ""
  skip_metadata_api_check = true
  # Provisioning runs over SSH as the base image's user (Debian's: admin). `amis build`
  # passes communicator = "none" to the emulator, which has no instance to connect to.
  communicator   = var.communicator
  ssh_username   = var.ssh_username
  ami_regions    = local.ami_regions
  ami_users      = local.internal_account_ids
  snapshot_users = local.internal_account_ids

  encrypt_boot       = length(local.ami_kms_key_ids) > 0
  kms_key_id         = lookup(local.ami_kms_key_ids, var.build_region, "")
  region_kms_key_ids = local.ami_kms_key_ids

  source_ami_filter {
    filters = {
      name                = var.base_image_name
      root-device-type    = "ebs"
      virtualization-type = "hvm"
    }
    owners      = [var.base_image_owner]
    most_recent = true
  }

  # ReadySetPackages: "<file>=<sha256> ..." of the packages installed (empty for the
  # bastion, which has none).
  tags = {
    Commit           = var.commit
    Stage            = "internal"
    ReadySetPackages = var.packages
  }
  # The snapshots carry the image's stage too: the release queue's policy shares only
  # snapshots not tagged with another queue's stage.
  snapshot_tags = {
    Commit = var.commit
    Stage  = "internal"
  }
}

build {
  source "amazon-ebs.readyset" {
    name     = "readyset-server"
    ami_name = "readyset-server-${local.label}-${local.timestamp}"
  }

  source "amazon-ebs.readyset" {
    name     = "readyset-mysql-adapter"
    ami_name = "readyset-mysql-adapter-${local.label}-${local.timestamp}"
  }

  source "amazon-ebs.readyset" {
    name     = "readyset-postgres-adapter"
    ami_name = "readyset-postgres-adapter-${local.label}-${local.timestamp}"
  }

  source "amazon-ebs.readyset" {
    name     = "readyset-bastion"
    ami_name = "readyset-bastion-${local.label}-${local.timestamp}"
  }

  # Every image, first: security updates and SSH with keys only, no root login. Scripts
  # run as root through sudo, with Packer's variables in the environment.
  provisioner "shell" {
    execute_command = "sudo env {{ .Vars }} sh -eu '{{ .Path }}'"
    script          = "${path.root}/scripts/base.sh"
  }

  # The server and adapters: the ReadySet packages `amis build --package` staged, and the
  # image's systemd unit; readyset.sh checks each package against its recorded SHA-256.
  provisioner "shell" {
    only   = ["amazon-ebs.readyset-server", "amazon-ebs.readyset-mysql-adapter", "amazon-ebs.readyset-postgres-adapter"]
    inline = ["mkdir -p /tmp/readyset-packages /tmp/readyset-units"]
  }

  provisioner "file" {
    only        = ["amazon-ebs.readyset-server", "amazon-ebs.readyset-mysql-adapter", "amazon-ebs.readyset-postgres-adapter"]
    source      = "${var.package_dir}/"
    destination = "/tmp/readyset-packages"
  }

  provisioner "file" {
    only        = ["amazon-ebs.readyset-server", "amazon-ebs.readyset-mysql-adapter", "amazon-ebs.readyset-postgres-adapter"]
    source      = "${path.root}/units/"
    destination = "/tmp/readyset-units"
  }

  provisioner "shell" {
    only             = ["amazon-ebs.readyset-server", "amazon-ebs.readyset-mysql-adapter", "amazon-ebs.readyset-postgres-adapter"]
    execute_command  = "sudo env {{ .Vars }} sh -eu '{{ .Path }}'"
    environment_vars = ["READYSET_IMAGE=${source.name}", "READYSET_PACKAGES=${var.packages}"]
    script           = "${path.root}/scripts/readyset.sh"
  }

  # The bastion: the SSH server and nothing else.
  provisioner "shell" {
    only            = ["amazon-ebs.readyset-bastion"]
    execute_command = "sudo env {{ .Vars }} sh -eu '{{ .Path }}'"
    script          = "${path.root}/scripts/bastion.sh"
  }

  # Every image, last: the build's key, host keys, machine ID, cloud-init state and
  # package caches removed.
  provisioner "shell" {
    execute_command = "sudo env {{ .Vars }} sh -eu '{{ .Path }}'"
    script          = "${path.root}/scripts/cleanup.sh"
  }

  # Packer 1.6 records the shared source's name ("readyset") in the manifest; the image
  # name goes into custom_data so the xtask can tell the builds apart on every version.
  post-processor "manifest" {
    output = var.manifest_path
    custom_data = {
      image = source.name
    }
  }
}
