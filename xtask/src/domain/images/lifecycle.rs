//! What the release's images cost and who still uses them, and which ones a prune may
//! remove: nothing a published template names, nothing a promoted copy in use came
//! from, and a release's images only when that retired release is named. Packer keeps
//! no state and EC2 Image Builder prunes only what it built, so the rules are here,
//! decided on what the account holds (the adapters read it) before anything is removed.

use std::{
    collections::{BTreeMap, BTreeSet},
    time::{Duration, SystemTime},
};

use anyhow::{bail, Result};
use serde::Serialize;

use crate::domain::names::{stage::Stage, tag::ReleaseTag};

/// One image the account owns that the release made (it carries a `Stage` tag).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OwnedImage {
    pub region: String,
    pub id: String,
    pub name: String,
    pub stage: Stage,
    pub commit: Option<String>,
    pub release: Option<String>,
    /// The internal image a promoted copy was made from (`SourceAmi`).
    pub source_ami: Option<String>,
    /// When EC2 made it (RFC 3339), if it says.
    pub created: Option<String>,
    /// (snapshot ID, size in GiB) of each EBS volume of the image.
    pub snapshots: Vec<(String, u64)>,
    /// When EC2 marks it deprecated (RFC 3339), if ever.
    pub deprecation: Option<String>,
}

impl OwnedImage {
    pub fn gib(&self) -> u64 {
        self.snapshots.iter().map(|(_, gib)| gib).sum()
    }

    pub fn age(&self, now: SystemTime) -> Option<Duration> {
        now.duration_since(parse_time(self.created.as_deref()?)?).ok()
    }
}

/// A time as EC2 writes it (RFC 3339, with or without fractions of a second).
pub fn parse_time(text: &str) -> Option<SystemTime> {
    humantime::parse_rfc3339_weak(text.trim_end_matches('Z')).ok()
}

/// Who still uses an image.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct References {
    /// Published templates that name it (`s3://bucket/key`).
    pub templates: Vec<String>,
    /// Promoted copies made from it that still exist.
    pub copies: Vec<String>,
}

/// Every image's references: templates by the AMI IDs their text names, copies by
/// their `SourceAmi`.
pub fn references(
    images: &[OwnedImage],
    templates: &BTreeMap<String, BTreeSet<String>>,
) -> BTreeMap<String, References> {
    let mut found: BTreeMap<String, References> = BTreeMap::new();
    for (location, amis) in templates {
        for ami in amis {
            found.entry(ami.clone()).or_default().templates.push(location.clone());
        }
    }
    for image in images {
        if let Some(source) = &image.source_ami {
            found.entry(source.clone()).or_default().copies.push(image.id.clone());
        }
    }
    found
}

/// The AMI IDs a template's text names (`ami-` and 8 or 17 hex digits).
pub fn ami_ids(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for (at, _) in text.match_indices("ami-") {
        let digits: String = text[at + 4..].chars().take_while(|c| c.is_ascii_hexdigit()).collect();
        let boundary = at == 0 || !text[..at].ends_with(|c: char| c.is_ascii_alphanumeric() || c == '-');
        if boundary && (digits.len() == 8 || digits.len() == 17) {
            found.insert(format!("ami-{digits}"));
        }
    }
    found
}

/// What a prune is asked to consider.
#[derive(Debug, Clone)]
pub struct PruneScope {
    pub stage: Stage,
    pub older_than: Duration,
    /// The retired release whose images may go (`--stage release` only).
    pub release: Option<ReleaseTag>,
    /// The most images one run removes (`prune-max-images`).
    pub cap: usize,
}

impl PruneScope {
    pub fn check(&self) -> Result<()> {
        match (self.stage, &self.release) {
            (Stage::Release, None) => bail!(
                "--stage release needs --release <name>, naming the retired release whose images may go; release \
                 images are never pruned by age alone"
            ),
            (Stage::Internal | Stage::Alpha, Some(name)) => {
                bail!("--release {name} names a release, and only --stage release prunes a release's images")
            }
            _ => Ok(()),
        }
    }
}

/// A prune's judgement of one image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", content = "why", rename_all = "kebab-case")]
pub enum Verdict {
    Keep(String),
    Remove,
    /// Would be removed, but this run has removed as many as the cap allows.
    OverTheCap,
}

/// The images of the scope's stage, each with what a prune does with it and why, the
/// oldest first (so the cap keeps the newest; images made in the same second by name).
pub fn judge<'a>(
    images: &'a [OwnedImage],
    references: &BTreeMap<String, References>,
    scope: &PruneScope,
    now: SystemTime,
) -> Vec<(&'a OwnedImage, Verdict)> {
    let mut ours: Vec<&OwnedImage> = images.iter().filter(|image| image.stage == scope.stage).collect();
    ours.sort_by_key(|image| (image.created.clone(), image.name.clone(), image.id.clone()));
    let mut removed = 0;
    ours.into_iter()
        .map(|image| {
            let verdict = match keep_reason(image, references.get(&image.id), scope, now) {
                Some(why) => Verdict::Keep(why),
                None if removed >= scope.cap => Verdict::OverTheCap,
                None => {
                    removed += 1;
                    Verdict::Remove
                }
            };
            (image, verdict)
        })
        .collect()
}

fn keep_reason(image: &OwnedImage, refs: Option<&References>, scope: &PruneScope, now: SystemTime) -> Option<String> {
    if let Some(release) = &scope.release {
        if image.release.as_deref() != Some(release.as_str()) {
            return Some(format!(
                "a release image of {}, not of {release}",
                image.release.as_deref().unwrap_or("no release")
            ));
        }
    }
    if let Some(refs) = refs {
        if let Some(template) = refs.templates.first() {
            return Some(format!("named by the published template {template} ({} in all)", refs.templates.len()));
        }
        if !refs.copies.is_empty() {
            return Some(format!("the source of promoted copies still in the account: {}", refs.copies.join(", ")));
        }
    }
    match image.age(now) {
        None => Some("EC2 gives no creation date, so its age is unknown".to_owned()),
        Some(age) if age < scope.older_than && scope.release.is_none() => {
            Some(format!("{} old, younger than {}", days(age), days(scope.older_than)))
        }
        _ => None,
    }
}

fn days(duration: Duration) -> String {
    format!("{}d", duration.as_secs() / 86_400)
}

/// The monthly cost of `gib` of snapshots, in dollars, at `cents` per GiB-month.
pub fn monthly_dollars(gib: u64, cents: u32) -> f64 {
    gib as f64 * f64::from(cents) / 100.0
}

/// When an alpha copy made now is marked deprecated.
pub fn alpha_deprecation(now: SystemTime, days: u32) -> String {
    let at = now + Duration::from_secs(u64::from(days) * 86_400);
    humantime::format_rfc3339_seconds(at).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(id: &str, stage: Stage, created: &str, source: Option<&str>, release: Option<&str>) -> OwnedImage {
        OwnedImage {
            region: "us-east-2".into(),
            id: id.into(),
            name: format!("readyset-server-{id}"),
            stage,
            commit: Some("0123abcd".into()),
            release: release.map(Into::into),
            source_ami: source.map(Into::into),
            created: Some(created.into()),
            snapshots: vec![(format!("snap-{id}"), 8)],
            deprecation: None,
        }
    }

    #[test]
    fn template_text_names_amis_by_their_ids_only() {
        let text =
            "Mappings:\n  us-east-2: { AMI: ami-0123456789abcdef0 }\n  old: ami-12345678\n  not: xami-12345678 ami-123";
        let ids: Vec<String> = ami_ids(text).into_iter().collect();
        assert_eq!(ids, ["ami-0123456789abcdef0", "ami-12345678"]);
    }

    #[test]
    fn a_prune_keeps_what_is_named_copied_young_or_over_the_cap() {
        let now = humantime::parse_rfc3339("2026-12-01T00:00:00Z").unwrap();
        let images = vec![
            image("ami-00000001", Stage::Internal, "2026-01-01T00:00:00.000Z", None, None),
            image("ami-00000002", Stage::Internal, "2026-01-02T00:00:00.000Z", None, None),
            image("ami-00000003", Stage::Internal, "2026-01-03T00:00:00.000Z", None, None),
            image("ami-00000004", Stage::Internal, "2026-01-04T00:00:00.000Z", None, None),
            image("ami-00000005", Stage::Internal, "2026-11-30T00:00:00.000Z", None, None),
            image("ami-0000000a", Stage::Alpha, "2026-01-01T00:00:00.000Z", Some("ami-00000002"), None),
        ];
        let templates = BTreeMap::from([("s3://b/abc/readyset/templates/x.yaml".to_owned(), ami_ids("ami-00000001"))]);
        let refs = references(&images, &templates);
        let scope =
            PruneScope { stage: Stage::Internal, older_than: Duration::from_secs(30 * 86_400), release: None, cap: 1 };
        let judged: Vec<String> = judge(&images, &refs, &scope, now)
            .into_iter()
            .map(|(image, verdict)| format!("{} {verdict:?}", image.id))
            .collect();
        assert_eq!(
            judged,
            [
                "ami-00000001 Keep(\"named by the published template s3://b/abc/readyset/templates/x.yaml (1 in all)\")",
                "ami-00000002 Keep(\"the source of promoted copies still in the account: ami-0000000a\")",
                "ami-00000003 Remove",
                "ami-00000004 OverTheCap",
                "ami-00000005 Keep(\"1d old, younger than 30d\")",
            ]
        );
    }

    #[test]
    fn release_images_go_only_by_naming_the_retired_release() {
        let now = humantime::parse_rfc3339("2026-12-01T00:00:00Z").unwrap();
        let scope = |release: Option<&str>, stage| PruneScope {
            stage,
            older_than: Duration::ZERO,
            release: release.map(|name| ReleaseTag::parse(name).unwrap()),
            cap: 10,
        };
        assert!(scope(None, Stage::Release).check().unwrap_err().to_string().contains("needs --release"));
        assert!(scope(Some("v1"), Stage::Alpha).check().is_err());
        let images = vec![
            image("ami-00000001", Stage::Release, "2026-11-30T00:00:00.000Z", None, Some("v1")),
            image("ami-00000002", Stage::Release, "2026-01-01T00:00:00.000Z", None, Some("v2")),
        ];
        let judged = judge(&images, &BTreeMap::new(), &scope(Some("v1"), Stage::Release), now);
        assert_eq!(judged[0].1, Verdict::Keep("a release image of v2, not of v1".into()));
        assert_eq!(judged[1].1, Verdict::Remove, "a named retired release goes whatever its age");
    }

    #[test]
    fn costs_and_deprecation_times() {
        assert_eq!(monthly_dollars(16, 5), 0.8);
        let now = humantime::parse_rfc3339("2026-12-01T00:00:00Z").unwrap();
        assert_eq!(alpha_deprecation(now, 90), "2027-03-01T00:00:00Z");
    }
}
