//! The signed index of every release (`layout::INDEX_KEY`): what customers and support
//! read to answer "what is release X": its commit, its manifest's SHA-256, when it was
//! first published, its AMIs per region and its templates' URLs. It only grows: a
//! release is added once, by the publish that first serves it, and an entry never
//! changes. Each index names the SHA-256 of the one it replaced and a sequence one
//! higher, as the pointer does.
//!
//! The bucket holds an envelope, `{"index": "<the index as JSON text>", "signature":
//! "<base64 DER>"}`: the signature covers the exact bytes of the `index` string, so no
//! one has to re-serialise JSON to check it (`jq -j .index`, `jq -r .signature |
//! openssl base64 -d -A`, `openssl dgst -sha256 -verify`).

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use crate::domain::{
    images::packer::AmiTable,
    names::{commit::CommitId, tag::ReleaseTag},
    publishing::digest::sha256_hex,
    publishing::pointer::ReleasePointer,
};

/// The only format there is; a reader refuses another.
pub const FORMAT: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseIndex {
    pub format: u32,
    pub sequence: u64,
    /// The SHA-256 of the envelope this index replaced; `None` for the first.
    pub previous_sha256: Option<String>,
    /// In the order they were first published.
    pub releases: Vec<IndexEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndexEntry {
    pub name: ReleaseTag,
    pub commit: CommitId,
    pub manifest_sha256: String,
    /// When the publish that added it ran, RFC 3339 in UTC.
    pub published: String,
    /// The release's AMIs, image by region, from the `amis.json` beside its templates.
    pub amis: AmiTable,
    /// The public URL of each template the release's installers launch.
    pub templates: Vec<String>,
}

/// The object as the bucket holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    pub index: String,
    pub signature: String,
}

/// An index as read from the bucket, not yet checked against the key.
#[derive(Debug, Clone)]
pub struct ReadIndex {
    pub envelope: Envelope,
    pub index: ReleaseIndex,
    /// The SHA-256 of the whole object, which the next index names.
    pub sha256: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IndexChange {
    /// The release is already listed, as this publish would list it (a rerun).
    Keep,
    /// The index with the release added, to be signed and written on the condition
    /// that the bucket still holds the one it follows.
    Write(ReleaseIndex),
}

impl ReleaseIndex {
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("an index serialises") + "\n"
    }

    pub fn entry(&self, name: &ReleaseTag) -> Option<&IndexEntry> {
        self.releases.iter().find(|entry| &entry.name == name)
    }
}

impl Envelope {
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("an envelope serialises") + "\n"
    }
}

/// The index as `status --all` prints it: one line per release, oldest first, the one
/// `current` names marked.
pub fn describe(index: &ReleaseIndex, current: Option<&ReleasePointer>) -> String {
    let mut text =
        format!("{} release(s) in the index of releases (index {}):\n", index.releases.len(), index.sequence);
    for entry in &index.releases {
        let images: usize = entry.amis.values().map(|regions| regions.len()).sum();
        let serving = match current {
            Some(pointer) if pointer.release == entry.name => format!("  <- current (pointer {})", pointer.sequence),
            _ => String::new(),
        };
        text += &format!(
            "  {:<20} commit {}  published {}  manifest sha256 {}  {images} AMI(s), {} template(s){serving}\n",
            entry.name.as_str(),
            entry.commit,
            entry.published,
            &entry.manifest_sha256[..12],
            entry.templates.len()
        );
    }
    if current.is_none() {
        text += "No signed pointer names a current release.\n";
    }
    text
}

/// A time as the index records it: RFC 3339, UTC, to the second.
pub fn timestamp(time: std::time::SystemTime) -> String {
    humantime::format_rfc3339_seconds(time).to_string()
}

/// Reads an envelope and the index inside it; the signature is checked by the caller.
pub fn parse(bytes: &[u8]) -> Result<ReadIndex> {
    let envelope: Envelope =
        serde_json::from_slice(bytes).context("it is not an envelope {\"index\": ..., \"signature\": ...}")?;
    let index: ReleaseIndex = serde_json::from_str(&envelope.index).context("its index is not a release index")?;
    if index.format != FORMAT {
        bail!("its index has format {}, and this xtask reads format {FORMAT} only", index.format);
    }
    Ok(ReadIndex { envelope, index, sha256: sha256_hex(bytes) })
}

/// Adds `entry` to the index the bucket holds (already checked to be signed by the
/// release key). A release already listed keeps its entry; listed with another
/// manifest, it is refused: published versions never change.
pub fn append(current: Option<&ReadIndex>, entry: IndexEntry) -> Result<IndexChange> {
    let Some(current) = current else {
        return Ok(IndexChange::Write(ReleaseIndex {
            format: FORMAT,
            sequence: 1,
            previous_sha256: None,
            releases: vec![entry],
        }));
    };
    if let Some(listed) = current.index.entry(&entry.name) {
        if listed.manifest_sha256 == entry.manifest_sha256 {
            return Ok(IndexChange::Keep);
        }
        bail!(
            "the index of releases lists {} with manifest SHA-256 {}, and this publish has {}; published versions \
             never change, so release under a new name",
            entry.name,
            listed.manifest_sha256,
            entry.manifest_sha256
        );
    }
    let mut releases = current.index.releases.clone();
    releases.push(entry);
    Ok(IndexChange::Write(ReleaseIndex {
        format: FORMAT,
        sequence: current.index.sequence + 1,
        previous_sha256: Some(current.sha256.clone()),
        releases,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, manifest: char) -> IndexEntry {
        IndexEntry {
            name: ReleaseTag::parse(name).unwrap(),
            commit: CommitId::parse("0123abc").unwrap(),
            manifest_sha256: manifest.to_string().repeat(64),
            published: "2026-12-07T06:00:00Z".into(),
            amis: AmiTable::from([("readyset-server".into(), [("us-east-2".into(), "ami-1".into())].into())]),
            templates: vec!["https://example/v1/readyset/templates/readyset-vpc.yaml".into()],
        }
    }

    fn stored(index: &ReleaseIndex) -> ReadIndex {
        let envelope = Envelope { index: index.to_json(), signature: "c2ln".into() };
        parse(envelope.to_json().as_bytes()).unwrap()
    }

    #[test]
    fn releases_are_appended_once_and_each_index_chains_to_the_last() {
        let IndexChange::Write(first) = append(None, entry("v1", 'a')).unwrap() else { panic!("the first index") };
        assert_eq!((first.sequence, first.previous_sha256.as_deref(), first.releases.len()), (1, None, 1));
        let first = stored(&first);
        let IndexChange::Write(second) = append(Some(&first), entry("v2", 'b')).unwrap() else { panic!("v2 added") };
        assert_eq!(second.sequence, 2);
        assert_eq!(second.previous_sha256.as_deref(), Some(first.sha256.as_str()));
        assert_eq!(second.releases[..1], first.index.releases[..], "earlier entries are kept as they were");
        assert_eq!(second.entry(&ReleaseTag::parse("v2").unwrap()).unwrap().manifest_sha256, "b".repeat(64));

        let second = stored(&second);
        let mut rerun = entry("v2", 'b');
        rerun.published = "a later time".into();
        assert_eq!(append(Some(&second), rerun).unwrap(), IndexChange::Keep, "a rerun keeps the first entry");
        let error = append(Some(&second), entry("v1", 'c')).unwrap_err().to_string();
        assert!(error.contains("lists v1 with manifest SHA-256 aaaa"), "{error}");
    }

    #[test]
    fn times_are_rfc3339_utc_seconds() {
        let time = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_796_621_400);
        assert_eq!(timestamp(time), "2026-12-07T05:30:00Z");
    }

    #[test]
    fn what_is_not_an_index_of_this_format_is_refused() {
        let cases = [
            ("{}".to_owned(), "is not an envelope"),
            (r#"{"index": "[]", "signature": "x"}"#.to_owned(), "is not a release index"),
            (
                Envelope {
                    index: r#"{"format": 2, "sequence": 1, "previous_sha256": null, "releases": []}"#.into(),
                    signature: "x".into(),
                }
                .to_json(),
                "format 2",
            ),
        ];
        for (text, expected) in cases {
            let error = format!("{:#}", parse(text.as_bytes()).unwrap_err());
            assert!(error.contains(expected), "{text}: {error}");
        }
    }
}
