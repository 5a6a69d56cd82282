//! `cargo xtask status <tag>`: where a release stands, key by key; `status --all`:
//! every release the signed index lists, and which one is current.

use anyhow::Result;
use serde_json::json;
use xtask::{
    adapters::workspace::Workspace,
    cli::StatusArgs,
    domain::publishing::{layout::INDEX_KEY, release_index},
};

use crate::adapters::{
    manifest_signature::ReleaseKey,
    release_index as index_store, release_pointer, release_state,
    site::{with_site, Site},
};

pub fn run(workspace: &Workspace, args: StatusArgs) -> Result<()> {
    let Some(tag) = &args.tag else {
        return all(workspace, &args);
    };
    let (status, key) = with_site(workspace, async |site| {
        let key = ReleaseKey::load(workspace, site, args.public_key.as_deref()).await?;
        Ok((release_state::inspect(site, &key, tag).await?, key))
    })?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&status)?);
    } else {
        print!("{status}");
        println!("The signature was checked with {}.", key.source);
    }
    Ok(())
}

/// Every release of the index, both it and the pointer checked with the release key.
fn all(workspace: &Workspace, args: &StatusArgs) -> Result<()> {
    with_site(workspace, async |site: &Site| {
        let key = ReleaseKey::load(workspace, site, args.public_key.as_deref()).await?;
        let (index, _) = index_store::read(site, &key).await?;
        let current = release_pointer::read(site, &key).await?.signed.map(|signed| signed.pointer);
        let Some(index) = index.map(|read| read.index) else {
            let bucket = &site.config.orchestrator_bucket;
            println!("s3://{bucket}/{INDEX_KEY} does not exist: no release was published since the index was added.");
            return Ok(());
        };
        if args.json {
            let current = current.map(|p| json!({ "release": p.release, "sequence": p.sequence }));
            println!("{}", serde_json::to_string_pretty(&json!({ "index": index, "current": current }))?);
        } else {
            print!("{}", release_index::describe(&index, current.as_ref()));
            println!("The index and the pointer were checked with {}.", key.source);
        }
        Ok(())
    })
}
