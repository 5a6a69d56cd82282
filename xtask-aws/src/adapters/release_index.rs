//! Reads the signed index of releases and makes the next one. What the index holds and
//! how it grows is `domain/publishing/release_index.rs`; here it is read from the
//! bucket, checked against the release key, and signed with KMS.

use anyhow::{bail, Result};
use xtask::domain::{
    publishing::layout::{self, INDEX_KEY, JSON_TYPE},
    publishing::publish_plan::{Desired, Remote},
    publishing::release_index::{self, Envelope, IndexChange, IndexEntry, ReadIndex},
};

use crate::adapters::{
    manifest_signature::{self, ReleaseKey},
    site::Site,
};

/// The index the bucket holds, signed by `key`, with what a conditional write of the next
/// one must still find there; `None` before the first release that wrote one.
pub async fn read(site: &Site, key: &ReleaseKey) -> Result<(Option<ReadIndex>, Option<Remote>)> {
    let bucket = site.orchestrator();
    let Some((bytes, remote)) = bucket.download(INDEX_KEY).await? else {
        return Ok((None, None));
    };
    match checked(key, &bytes) {
        Ok(index) => Ok((Some(index), Some(remote))),
        Err(why) => bail!(
            "s3://{}/{INDEX_KEY} is not an index of releases signed by {}: {why:#}. Nothing was written. Find out \
             who wrote it (CloudTrail) before anything else; the index is rebuilt only by an administrator",
            bucket.name,
            key.source
        ),
    }
}

/// An index's bytes, parsed and with its signature checked.
pub fn checked(key: &ReleaseKey, bytes: &[u8]) -> Result<ReadIndex> {
    let read = release_index::parse(bytes)?;
    let signature = manifest_signature::decode_signature(&read.envelope.signature);
    if !signature.is_some_and(|signature| key.verifies(read.envelope.index.as_bytes(), &signature)) {
        bail!("its signature does not verify");
    }
    Ok(read)
}

/// The index's object with `entry` in it, and what the bucket holds at its key now (the
/// write is conditional on it): the current index kept when it lists the release
/// already (a rerun), else the next one, signed.
pub async fn next(site: &Site, key: &ReleaseKey, entry: IndexEntry) -> Result<(Desired, Option<Remote>)> {
    let (current, remote) = read(site, key).await?;
    let envelope = match (release_index::append(current.as_ref(), entry)?, current) {
        (IndexChange::Keep, Some(current)) => current.envelope,
        (IndexChange::Write(index), _) => {
            println!("Signing index of releases {} with KMS key {}.", index.sequence, site.config.signing_key);
            let text = index.to_json();
            let what = format!("index of releases {}", index.sequence);
            let signature = manifest_signature::sign_as(site, key, text.as_bytes(), &what).await?;
            Envelope { index: text, signature: manifest_signature::encode_signature(&signature) }
        }
        (IndexChange::Keep, None) => bail!("there is no index of releases to keep; this is a bug in the xtask"),
    };
    let desired = Desired::bytes(layout::INDEX_KEY.to_owned(), envelope.to_json().into_bytes(), JSON_TYPE, true);
    Ok((desired, remote))
}
