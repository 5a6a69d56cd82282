locals {
  # AWS accounts of customers allowed to launch ReadySet AMIs. One quoted 12-digit ID per
  # line with a comment naming the customer. Edit with `cargo xtask customers add|remove`.
  customer_account_ids = [
    "305198143522", # Acme Analytics (pilot)
    "418275639014", # Globex Retail
  ]

  # ReadySet's own accounts (sandbox, CI) that launch every image for testing.
  internal_account_ids = [
    "888877776666", # readyset-sandbox
    "999988887777", # readyset-ci
  ]

  ami_users = concat(local.internal_account_ids, local.customer_account_ids)

  # Regions every image is copied to. The CloudFormation templates map an AMI for each
  # of them, and `cargo xtask cfn render` refuses a template that maps another set.
  ami_regions = ["us-east-1", "us-east-2", "us-west-2"]

  # The short commit, or the release name for a release, in every AMI name.
  label     = var.stage == "release" ? var.release_name : substr(var.commit, 0, 8)
  timestamp = formatdate("YYYYMMDDhhmmss", timestamp())
}
