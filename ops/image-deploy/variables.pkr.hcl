# What differs between runs. `cargo xtask amis build` sets commit, ec2_endpoint and
# manifest_path; the rest have defaults for production.

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
  default     = "ubuntu/images/hvm-ssd/ubuntu-jammy-22.04-amd64-server-*"
  description = "Name filter of the image the ReadySet images start from."
}

variable "base_image_owner" {
  type        = string
  default     = "099720109477"
  description = "Account that publishes the base image (Canonical)."
}

variable "manifest_path" {
  type    = string
  default = "packer-manifest.json"
}
