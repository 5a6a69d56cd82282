//! `cargo xtask release-infra template`: the release's own AWS resources as the
//! CloudFormation template an administrator deploys once per account. It only prints;
//! `ops/release-infra/release-infra.json` is its output, committed.

use anyhow::Result;

use crate::{
    adapters::workspace::Workspace,
    domain::{
        images::{accounts::Accounts, packer},
        release_infra,
    },
};

pub fn template(workspace: &Workspace) -> Result<()> {
    let accounts = Accounts::from_locals(&workspace.read(packer::LOCALS_FILE)?)?;
    println!(
        "{}",
        serde_json::to_string_pretty(&release_infra::template(
            &workspace.config,
            &accounts,
            &workspace.image_kms_keys()?
        ))?
    );
    Ok(())
}
