//! `cargo xtask status <tag>`: where a release stands, key by key.

use anyhow::Result;
use xtask::{adapters::workspace::Workspace, cli::StatusArgs};

use crate::adapters::{manifest_signature::ReleaseKey, release_state, site::with_site};

pub fn run(workspace: &Workspace, args: StatusArgs) -> Result<()> {
    let (status, key) = with_site(workspace, async |site| {
        let key = ReleaseKey::load(workspace, site, args.public_key.as_deref()).await?;
        Ok((release_state::inspect(site, &key, &args.tag).await?, key))
    })?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&status)?);
    } else {
        print!("{status}");
        println!("The signature was checked with {}.", key.source);
    }
    Ok(())
}
