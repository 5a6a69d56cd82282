# The amazon plugin, pinned. Packer 1.10 and later bundle no plugins: `packer init`
# installs this one. Packer 1.6 refuses a `packer` block, so this file sits apart from the
# templates, and `cargo xtask amis build` adds it only when the Packer it runs is 1.7 or
# later (it then runs `packer init` before `packer build`).
packer {
  required_plugins {
    amazon = {
      version = "= 1.3.3"
      source  = "github.com/hashicorp/amazon"
    }
  }
}
