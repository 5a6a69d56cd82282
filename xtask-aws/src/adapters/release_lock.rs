//! The release lock's object (`layout::RELEASE_LOCK_KEY` in the public template bucket):
//! read with what a conditional write must still find, and written only on that
//! condition. `domain/publishing/release_lock.rs` decides what to write.

use anyhow::{Context, Result};
use xtask::domain::{
    names::commit::CommitId,
    publishing::layout::{JSON_TYPE, RELEASE_LOCK_KEY},
    publishing::publish_plan::{Desired, Owner, Precondition},
    publishing::release_lock::LockRecord,
};

use crate::adapters::{
    s3::{Bucket, Written},
    site::Site,
};

pub struct LockStore {
    bucket: Bucket,
}

/// The lock as read: its record and what a conditional write must still find.
pub struct LockRead {
    pub record: Option<LockRecord>,
    pub precondition: Precondition,
}

impl LockStore {
    pub fn of(site: &Site) -> LockStore {
        LockStore { bucket: site.bucket(&site.config.cfn_public_bucket) }
    }

    pub fn location(&self) -> String {
        format!("s3://{}/{RELEASE_LOCK_KEY}", self.bucket.name)
    }

    pub async fn read(&self) -> Result<LockRead> {
        let Some((bytes, remote)) = self.bucket.download(RELEASE_LOCK_KEY).await? else {
            return Ok(LockRead { record: None, precondition: Precondition::Absent });
        };
        let record = serde_json::from_slice(&bytes).with_context(|| {
            format!("{} is not a release lock this xtask wrote; look at it before anything else", self.location())
        })?;
        let etag = remote.etag.with_context(|| format!("S3 gave no ETag for {}", self.location()))?;
        Ok(LockRead { record: Some(record), precondition: Precondition::Unchanged(etag) })
    }

    /// Writes `record` if the lock is still as read; `false` when another writer was first.
    pub async fn write(&self, record: &LockRecord, read: &LockRead, commit: CommitId) -> Result<bool> {
        let text = serde_json::to_string_pretty(record)? + "\n";
        let desired = Desired::bytes(RELEASE_LOCK_KEY.to_owned(), text.into_bytes(), JSON_TYPE, true);
        Ok(self.bucket.write(&desired, &Owner::Commit(commit), None, &read.precondition).await? == Written::Done)
    }
}
