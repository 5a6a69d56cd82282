locals {
  # AWS accounts of customers allowed to launch ReadySet AMIs. One quoted 12-digit ID per
  # line with a comment naming the customer. Edit with `cargo xtask customers add|remove`,
  # then apply it to existing AMIs with `cargo xtask customers sync`.
  customer_account_ids = [
    "305198143522", # Acme Analytics (pilot)
    "418275639014", # Globex Retail
  ]

  # ReadySet's own accounts (sandbox, CI) that launch every image for testing. Packer
  # shares the internal images with these alone; `cargo xtask amis promote` shares the
  # alpha and release copies with these and the customers.
  internal_account_ids = [
    "888877776666", # readyset-sandbox
    "999988887777", # readyset-ci
  ]

  # Regions every image is copied to. The CloudFormation templates map an AMI for each
  # of them, and `cargo xtask cfn render` refuses a template that maps another set.
  ami_regions = ["us-east-1", "us-east-2", "us-west-2"]

  # Customer-managed KMS keys that encrypt the images, one per region of ami_regions,
  # such as { "us-east-2" = "arn:aws:kms:us-east-2:111122223333:key/..." }. Leave empty
  # while the build account does not encrypt EBS by default: an image encrypted with the
  # AWS-managed key cannot be shared, and the xtask refuses to build or promote one.
  ami_kms_key_ids = {}

  # The short commit in every AMI name.
  label     = substr(var.commit, 0, 8)
  timestamp = formatdate("YYYYMMDDhhmmss", timestamp())
}
