# What differs between runs. `cargo xtask amis build` sets commit, ec2_endpoint,
# manifest_path, package_dir and packages (and communicator for the emulator); the rest
# have defaults for production.

variable "commit" {
  type        = string
  description = "Git commit the images are built from (full SHA)."
}

variable "ec2_endpoint" {
  type        = string
  default     = ""
  description = "EC2 endpoint URL; empty for AWS itself. Tests point it at an emulator."
}

variable "build_region" {
  type    = string
  default = "us-east-2"
}

variable "instance_type" {
  type    = string
  default = "t3.medium"
}

variable "base_image_name" {
  type        = string
  default     = "debian-12-amd64-*"
  description = "Name filter of the image the ReadySet images start from: Debian 12, the system the provisioning scripts are tested on."
}

variable "base_image_owner" {
  type        = string
  default     = "136693071363"
  description = "Account that publishes the base image (Debian's official AMIs)."
}

variable "communicator" {
  type        = string
  default     = "ssh"
  description = "How Packer reaches the build instance; `amis build` passes none to the emulator, which runs no instance."
}

variable "ssh_username" {
  type        = string
  default     = "admin"
  description = "The base image's login user (admin on Debian's AMIs)."
}

variable "package_dir" {
  type        = string
  default     = ""
  description = "Directory of the ReadySet packages `amis build --package` staged."
}

variable "packages" {
  type        = string
  default     = ""
  description = "The staged packages as <file>=<sha256>, separated by spaces; checked on the instance before installing."
}

variable "manifest_path" {
  type    = string
  default = "packer-manifest.json"
}
