//! `cargo xtask status <tag>`: where a release stands, key by key.

use anyhow::Result;
use xtask::{adapters::workspace::Workspace, cli::StatusArgs};

use crate::adapters::{release_state, site::with_site};

pub fn run(workspace: &Workspace, args: StatusArgs) -> Result<()> {
    let status = with_site(workspace, async |site| release_state::inspect(site, &args.tag).await)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&status)?);
    } else {
        print!("{status}");
    }
    Ok(())
}
