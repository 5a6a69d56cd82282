//! Reads the signed pointer to the current release and makes new ones. What a pointer
//! says and when it moves is `domain/publishing/pointer.rs`; here it is read from the
//! bucket, checked against the release key, and signed with KMS.

use anyhow::{bail, Result};
use xtask::domain::{
    names::tag::ReleaseTag,
    publishing::layout::{self, POINTER_KEY, POINTER_TYPE},
    publishing::pointer::{self, PointerChange, SignedPointer},
    publishing::publish_plan::{Desired, Remote},
};

use crate::adapters::{
    manifest_signature::{self, ReleaseKey},
    site::Site,
};

/// The pointer the bucket holds, signed by `key`, with what a conditional write of the
/// next one must still find there; `None` before the first release that wrote one.
pub struct Current {
    pub signed: Option<SignedPointer>,
    pub remote: Option<Remote>,
}

pub async fn read(site: &Site, key: &ReleaseKey) -> Result<Current> {
    let bucket = site.orchestrator();
    let Some((bytes, remote)) = bucket.download(POINTER_KEY).await? else {
        return Ok(Current { signed: None, remote: None });
    };
    match checked(key, &bytes) {
        Ok(signed) => Ok(Current { signed: Some(signed), remote: Some(remote) }),
        Err(why) => bail!(
            "s3://{}/{POINTER_KEY} is not a release pointer signed by {}: {why:#}. Nothing was written. Find out who \
             wrote it (CloudTrail) before anything else; to start a new chain of pointers, an administrator deletes \
             it, and the next publish or rollback writes pointer 1",
            bucket.name,
            key.source
        ),
    }
}

/// A pointer's bytes, parsed and with its signature checked.
pub fn checked(key: &ReleaseKey, bytes: &[u8]) -> Result<SignedPointer> {
    let text = std::str::from_utf8(bytes).map_err(|_| anyhow::anyhow!("it is not text"))?;
    let signed = pointer::parse(text)?;
    let signature = manifest_signature::decode_signature(&signed.signature_base64);
    if !signature.is_some_and(|signature| key.verifies(signed.body.as_bytes(), &signature)) {
        bail!("its signature does not verify");
    }
    Ok(signed)
}

/// The pointer's object naming `release` current, and what the bucket holds at its key
/// now (the write is conditional on it): the current pointer kept when it already names
/// this release, manifest and wrapper (a rerun), else the next in the chain, signed.
pub async fn next(
    site: &Site,
    key: &ReleaseKey,
    release: &ReleaseTag,
    manifest_sha256: &str,
    wrapper_sha256: &str,
) -> Result<(Desired, Option<Remote>)> {
    let current = read(site, key).await?;
    let change = pointer::change(current.signed.as_ref(), release, manifest_sha256, wrapper_sha256);
    let text = match (change, &current.signed) {
        (PointerChange::Keep, Some(kept)) => kept.text(),
        (PointerChange::Write(next), _) => {
            println!("Signing release pointer {} with KMS key {}.", next.sequence, site.config.signing_key);
            let what = format!("release pointer {}", next.sequence);
            let signature = manifest_signature::sign_as(site, key, next.body().as_bytes(), &what).await?;
            next.render(&manifest_signature::encode_signature(&signature))
        }
        (PointerChange::Keep, None) => bail!("there is no release pointer to keep; this is a bug in the xtask"),
    };
    Ok((Desired::bytes(layout::POINTER_KEY.to_owned(), text.into_bytes(), POINTER_TYPE, true), current.remote))
}
