# The ReadySet images, built once per commit for the internal stage. Alpha and release
# AMIs are copies of these (`cargo xtask amis promote`), never a rebuild. Each build below
# is one image; `cargo xtask amis build --only` picks images by these names.

source "amazon-ebs" "readyset" {
  region                  = var.build_region
  instance_type           = var.instance_type
  custom_endpoint_ec2     = var.ec2_endpoint
  skip_region_validation  = var.ec2_endpoint != ""
  skip_metadata_api_check = true
  # No provisioner runs yet, so no SSH connection is needed.
  communicator   = "none"
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

  tags = {
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

  # Packer 1.6 records the shared source's name ("readyset") in the manifest; the image
  # name goes into custom_data so the xtask can tell the builds apart on every version.
  post-processor "manifest" {
    output = var.manifest_path
    custom_data = {
      image = source.name
    }
  }
}
