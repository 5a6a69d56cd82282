//! Where a published release stands, object by object, and what that means: complete
//! (every versioned object, the manifest and the templates are right) and live (the
//! wrapper and every legacy key serve it). `status` prints it; `rollback` and `verify`
//! decide on it.

use std::fmt;

use serde::Serialize;

use crate::domain::{names::tag::ReleaseTag, publishing::release_manifest::ReleaseManifest};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ObjectKind {
    #[serde(rename = "manifest")]
    Manifest,
    /// The manifest's signature, checked with the trusted public key.
    #[serde(rename = "signature")]
    Signature,
    #[serde(rename = "template")]
    Template,
    #[serde(rename = "installer")]
    Installer,
    #[serde(rename = "checksum")]
    Checksum,
    #[serde(rename = "wrapper (kept)")]
    KeptWrapper,
    #[serde(rename = "legacy key")]
    LegacyKey,
    /// The legacy key of a configured platform the release has no installer for: it
    /// serves whatever release last had one.
    #[serde(rename = "legacy key (not in this release)")]
    ExcludedLegacyKey,
    #[serde(rename = "wrapper")]
    Wrapper,
}

impl ObjectKind {
    /// Keys that move between releases: they say which release they serve.
    pub fn moves(self) -> bool {
        matches!(self, ObjectKind::LegacyKey | ObjectKind::Wrapper)
    }

    fn label(self) -> &'static str {
        match self {
            ObjectKind::Manifest => "manifest",
            ObjectKind::Signature => "signature",
            ObjectKind::Template => "template",
            ObjectKind::Installer => "installer",
            ObjectKind::Checksum => "checksum",
            ObjectKind::KeptWrapper => "wrapper (kept)",
            ObjectKind::LegacyKey => "legacy key",
            ObjectKind::ExcludedLegacyKey => "legacy key (left out)",
            ObjectKind::Wrapper => "wrapper",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ObjectState {
    Present,
    Missing,
    /// Present with other bytes than the manifest lists.
    Differs,
    /// Present, but there is no manifest to check it against.
    Unverified,
}

#[derive(Debug, Clone, Serialize)]
pub struct ObjectStatus {
    #[serde(rename = "what")]
    pub kind: ObjectKind,
    pub url: String,
    pub state: ObjectState,
    /// For keys that move: the release they serve now ("unknown" for an object the
    /// xtask did not write).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serves: Option<String>,
}

impl ObjectStatus {
    pub fn presence(kind: ObjectKind, url: String, found: bool) -> ObjectStatus {
        let state = if found { ObjectState::Present } else { ObjectState::Missing };
        ObjectStatus { kind, url, state, serves: None }
    }

    /// A versioned object compared with the manifest: `same` is `None` when it is
    /// absent, and `Some(None)` when there is nothing to compare it with.
    pub fn compared(kind: ObjectKind, url: String, same: Option<Option<bool>>) -> ObjectStatus {
        let state = match same {
            None => ObjectState::Missing,
            Some(None) => ObjectState::Unverified,
            Some(Some(true)) => ObjectState::Present,
            Some(Some(false)) => ObjectState::Differs,
        };
        ObjectStatus { kind, url, state, serves: None }
    }

    pub fn serving(kind: ObjectKind, url: String, serves: Option<String>) -> ObjectStatus {
        let state = if serves.is_some() { ObjectState::Present } else { ObjectState::Missing };
        ObjectStatus { kind, url, state, serves }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ReleaseStatus {
    pub tag: ReleaseTag,
    pub cfn_version: ReleaseTag,
    pub complete: bool,
    pub live: bool,
    pub objects: Vec<ObjectStatus>,
    #[serde(skip)]
    pub manifest: Option<ReleaseManifest>,
}

impl ReleaseStatus {
    pub fn judge(
        tag: ReleaseTag,
        cfn_version: ReleaseTag,
        objects: Vec<ObjectStatus>,
        manifest: Option<ReleaseManifest>,
    ) -> ReleaseStatus {
        let complete = manifest.is_some()
            && objects
                .iter()
                .filter(|o| !o.kind.moves() && o.kind != ObjectKind::ExcludedLegacyKey)
                .all(|o| o.state == ObjectState::Present);
        let live =
            complete && objects.iter().filter(|o| o.kind.moves()).all(|o| o.serves.as_deref() == Some(tag.as_str()));
        ReleaseStatus { tag, cfn_version, complete, live, objects, manifest }
    }

    /// The manifest of a complete release: what a rollback may serve again.
    pub fn complete_manifest(&self) -> Option<&ReleaseManifest> {
        self.manifest.as_ref().filter(|_| self.complete)
    }

    /// Legacy keys of platforms this release left out that serve another release:
    /// serving this release again would leave them there unless they are removed.
    pub fn stray_legacy_keys(&self) -> impl Iterator<Item = &ObjectStatus> {
        self.objects.iter().filter(|o| o.kind == ObjectKind::ExcludedLegacyKey && o.serves.is_some())
    }
}

impl fmt::Display for ReleaseStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verdict = match (self.complete, self.live) {
            (true, true) => "complete and live: customers who run the wrapper get it",
            (true, false) => "complete, not live: the wrapper or a legacy key serves another release",
            (false, _) => "incomplete: objects below are missing or differ",
        };
        writeln!(f, "Release {} (CFN version {}): {verdict}", self.tag, self.cfn_version)?;
        let width = self.objects.iter().map(|object| object.kind.label().len()).max().unwrap_or(0).max(18);
        for object in &self.objects {
            let state = match (&object.serves, &object.state) {
                (Some(tag), _) => format!("serves {tag}"),
                (None, ObjectState::Differs) if object.kind == ObjectKind::Signature => "does not verify".to_owned(),
                (None, state) => format!("{state:?}").to_lowercase(),
            };
            writeln!(f, "  {state:<16} {:<width$} {}", object.kind.label(), object.url)?;
        }
        Ok(())
    }
}
