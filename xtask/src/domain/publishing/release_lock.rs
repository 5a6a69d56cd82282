//! One release at a time. Buildkite's concurrency group orders jobs, not builds: the
//! steps of two release builds can interleave (AMIs of one, templates of the other).
//! The lock is one S3 object, written only conditionally, that names the build holding
//! it from its first release step to its last. Every release step acquires it (a step
//! of the holding build passes; a retried step too), the last one releases it, and a
//! build that died holding it is taken over only by a person, with a reason that stays
//! in the lock's history.

use std::time::{Duration, SystemTime};

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

use crate::domain::names::{build::BuildId, commit::CommitId};

/// Entries of the history kept in the lock object (the newest last).
const HISTORY: usize = 50;

/// A lock held this long is probably left over from a build that died; the refusal
/// says so and names the takeover. It is never taken over without a person.
pub const STALE_AFTER: Duration = Duration::from_secs(6 * 3600);

/// The lock object's content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct LockRecord {
    /// Who holds it; none while free.
    pub holder: Option<Holder>,
    /// What happened to the lock, one line each, the newest last.
    pub history: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Holder {
    pub build: BuildId,
    pub commit: CommitId,
    /// RFC 3339, UTC.
    pub since: String,
    /// Buildkite's page of the build, when the holder ran in Buildkite.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_url: Option<String>,
}

impl Holder {
    pub fn new(build: BuildId, commit: CommitId, build_url: Option<String>, now: SystemTime) -> Holder {
        Holder { build, commit, since: humantime::format_rfc3339_seconds(now).to_string(), build_url }
    }

    fn name(&self) -> String {
        let url = self.build_url.as_ref().map(|url| format!(" ({url})")).unwrap_or_default();
        format!("build {}{url} of commit {}", self.build, self.commit.short())
    }

    fn describe(&self, now: SystemTime) -> String {
        let age = humantime::parse_rfc3339(&self.since)
            .ok()
            .and_then(|since| now.duration_since(since).ok())
            .map(|age| format!(", {} ago", humantime::format_duration(Duration::from_secs(age.as_secs() / 60 * 60))))
            .unwrap_or_default();
        format!("{}, since {}{age}", self.name(), self.since)
    }

    fn is_stale(&self, now: SystemTime) -> bool {
        humantime::parse_rfc3339(&self.since)
            .ok()
            .and_then(|since| now.duration_since(since).ok())
            .is_some_and(|age| age >= STALE_AFTER)
    }
}

/// What acquiring decides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Acquire {
    /// Write this record (conditionally on what was read).
    Write(LockRecord),
    /// This build holds it already (a later step, or a retried one).
    Held,
}

pub fn acquire(current: Option<&LockRecord>, me: &Holder, now: SystemTime) -> Result<Acquire> {
    let record = current.cloned().unwrap_or_default();
    match &record.holder {
        Some(holder) if holder.build == me.build => Ok(Acquire::Held),
        Some(holder) => {
            let stale = if holder.is_stale(now) {
                format!(
                    " It has been held for more than {}: if that build is dead, ",
                    humantime::format_duration(STALE_AFTER)
                )
            } else {
                " Wait for that build to finish, or, if it is dead, ".to_owned()
            };
            bail!(
                "another release holds the release lock: {}. Nothing was written.{stale}take the lock over with \
                 `cargo xtask release-lock takeover --build {} --reason \"<why>\"` and retry this step",
                holder.describe(now),
                me.build
            )
        }
        None => {
            Ok(Acquire::Write(with_event(record, Some(me.clone()), format!("{} acquired by {}", me.since, me.name()))))
        }
    }
}

/// The record after this build releases the lock, or `None` when it is free already.
pub fn release(current: Option<&LockRecord>, build: &BuildId, now: SystemTime) -> Result<Option<LockRecord>> {
    let Some(record) = current.cloned() else {
        return Ok(None);
    };
    match &record.holder {
        None => Ok(None),
        Some(holder) if &holder.build == build => {
            let event = format!("{} released by build {build}", humantime::format_rfc3339_seconds(now));
            Ok(Some(with_event(record, None, event)))
        }
        Some(holder) => bail!(
            "build {build} does not hold the release lock, so it cannot release it: {} holds it. Nothing was \
             written. Did another release take it over (`cargo xtask release-lock show`)?",
            holder.describe(now)
        ),
    }
}

/// A person's takeover: the lock goes to `me` whoever holds it, and the history keeps
/// who held it and why it was taken.
pub fn takeover(current: Option<&LockRecord>, me: &Holder, reason: &str, now: SystemTime) -> Result<LockRecord> {
    let reason = reason.trim();
    if reason.is_empty() || reason.contains('\n') {
        bail!("--reason must say, on one line, why the lock is taken over (it stays in the lock's history)");
    }
    let record = current.cloned().unwrap_or_default();
    let previous = record.holder.as_ref().map(|h| h.describe(now)).unwrap_or_else(|| "nobody".to_owned());
    let event = format!("{} taken over by {} from {previous}: {reason}", me.since, me.name());
    Ok(with_event(record, Some(me.clone()), event))
}

/// A change to what customers get made by hand beside the pipeline (a rollback) takes
/// no lock, but never runs while a release holds it.
pub fn require_free(current: Option<&LockRecord>, what: &str, now: SystemTime) -> Result<()> {
    if let Some(holder) = current.and_then(|record| record.holder.as_ref()) {
        bail!(
            "refusing to {what}: a release holds the release lock: {}. Nothing was written. Wait for that release \
             to finish (`cargo xtask release-lock show`); if it is dead, take the lock over and release it \
             (`cargo xtask release-lock takeover`, then `release-lock release`)",
            holder.describe(now)
        );
    }
    Ok(())
}

fn with_event(mut record: LockRecord, holder: Option<Holder>, event: String) -> LockRecord {
    record.holder = holder;
    record.history.push(event);
    let excess = record.history.len().saturating_sub(HISTORY);
    record.history.drain(..excess);
    record
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holder(build: &str, now: SystemTime) -> Holder {
        Holder::new(BuildId::parse(build).unwrap(), CommitId::parse(&"c".repeat(40)).unwrap(), None, now)
    }

    #[test]
    fn a_free_lock_is_taken_a_held_one_refused_and_only_its_holder_releases_it() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let first = holder("b1", now);
        let Acquire::Write(held) = acquire(None, &first, now).unwrap() else { panic!("a free lock was not taken") };
        assert_eq!(acquire(Some(&held), &first, now).unwrap(), Acquire::Held);
        let later = now + Duration::from_secs(600);
        let refused = acquire(Some(&held), &holder("b2", later), later).unwrap_err().to_string();
        assert!(refused.contains("build b1 of commit cccccccc, since 2027-01-15T08:00:00Z, 10m ago"), "{refused}");
        assert!(refused.contains("Wait for that build to finish"), "{refused}");
        let stale = now + STALE_AFTER;
        let refused = acquire(Some(&held), &holder("b2", stale), stale).unwrap_err().to_string();
        assert!(refused.contains("held for more than 6h"), "{refused}");
        assert!(release(Some(&held), &BuildId::parse("b2").unwrap(), later).is_err());
        let free = release(Some(&held), &first.build, later).unwrap().unwrap();
        assert_eq!(free.holder, None);
        assert_eq!(release(Some(&free), &first.build, later).unwrap(), None, "releasing a free lock changes nothing");
        assert!(matches!(acquire(Some(&free), &holder("b2", later), later).unwrap(), Acquire::Write(_)));
    }

    #[test]
    fn a_rollback_waits_for_no_lock_but_never_runs_beside_a_release() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        assert!(require_free(None, "roll back", now).is_ok());
        let Acquire::Write(held) = acquire(None, &holder("b1", now), now).unwrap() else { panic!() };
        let refused = require_free(Some(&held), "roll back to v1", now).unwrap_err().to_string();
        assert!(refused.starts_with("refusing to roll back to v1: a release holds the release lock: build b1"));
        let free = release(Some(&held), &BuildId::parse("b1").unwrap(), now).unwrap().unwrap();
        assert!(require_free(Some(&free), "roll back", now).is_ok());
    }

    #[test]
    fn a_takeover_needs_a_reason_and_keeps_who_held_the_lock() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let Acquire::Write(held) = acquire(None, &holder("b1", now), now).unwrap() else { panic!() };
        assert!(takeover(Some(&held), &holder("b2", now), " ", now).is_err());
        assert!(takeover(Some(&held), &holder("b2", now), "two\nlines", now).is_err());
        let taken = takeover(Some(&held), &holder("b2", now), "build b1 was cancelled", now).unwrap();
        assert_eq!(taken.holder.unwrap().build, BuildId::parse("b2").unwrap());
        assert!(taken.history.last().unwrap().contains("from build b1 of commit cccccccc"));
        assert!(taken.history.last().unwrap().ends_with(": build b1 was cancelled"));
        let mut long = LockRecord::default();
        for n in 0..(HISTORY + 5) {
            long = with_event(long, None, format!("event {n}"));
        }
        assert_eq!(long.history.len(), HISTORY);
        assert_eq!(long.history[0], "event 5");
    }
}
