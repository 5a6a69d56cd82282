//! The publish plan: what must be written where, in which order, and how each key
//! compares with what the bucket already holds. Deciding all of it before the first
//! write is what lets a publish refuse a conflict with nothing written, print the whole
//! plan for `--dry-run`, and complete an interrupted run without redoing what is right.

use std::{collections::BTreeMap, path::PathBuf};

use crate::domain::{
    build_record::{checksum_line, sha256_hex},
    layout::{self, IMMUTABLE_CACHE, MUTABLE_CACHE},
    release_manifest::{ManifestEntry, ReleaseManifest},
    tag::ReleaseTag,
};

/// Where the bytes of an object come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    File(PathBuf),
    Bytes(Vec<u8>),
    /// A server-side copy of another key of the same bucket.
    CopyOf(String),
}

/// One object as the release wants it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Desired {
    pub key: String,
    pub content: Content,
    pub sha256: String,
    pub size: u64,
    pub content_type: &'static str,
    pub cache_control: &'static str,
    /// Mutable keys move between releases; every other key is written once.
    pub mutable: bool,
}

/// What the bucket holds at a key, from the metadata the publish writes with every
/// object (`sha256`, `readyset-tag`), or from hashing the object when that is absent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remote {
    pub sha256: Option<String>,
    pub size: u64,
    pub tag: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    New,
    Identical,
    /// A mutable key that will move; `from` is the release it serves now, if known.
    Moves {
        from: Option<String>,
    },
    /// A versioned key holding other bytes: the publish must stop.
    Conflict {
        remote_sha256: String,
    },
}

#[derive(Debug, Clone)]
pub struct Step {
    pub desired: Desired,
    pub state: State,
}

impl Step {
    pub fn writes(&self) -> bool {
        matches!(self.state, State::New | State::Moves { .. })
    }
}

#[derive(Debug, Clone)]
pub struct Stage {
    pub name: &'static str,
    pub steps: Vec<Step>,
}

#[derive(Debug, Clone)]
pub struct PublishPlan {
    pub tag: ReleaseTag,
    /// In the order they must run: each stage completes before the next starts.
    pub stages: Vec<Stage>,
    /// CloudFront paths of every mutable key of the release.
    pub invalidation_paths: Vec<String>,
}

/// The objects of a release, stage by stage: versioned installers, checksums and the
/// rendered wrapper; then the manifest that declares them complete; then the legacy
/// keys; then the wrapper customers download.
pub fn desired_objects(
    manifest: &ReleaseManifest,
    tag: &ReleaseTag,
    binaries: &BTreeMap<String, PathBuf>,
    rendered_wrapper: &str,
) -> Vec<(&'static str, Vec<Desired>)> {
    let bytes = |key: String, data: Vec<u8>, content_type, mutable| Desired {
        key,
        sha256: sha256_hex(&data),
        size: data.len() as u64,
        content: Content::Bytes(data),
        content_type,
        cache_control: if mutable { MUTABLE_CACHE } else { IMMUTABLE_CACHE },
        mutable,
    };
    let mut versioned = Vec::new();
    let mut legacy = Vec::new();
    for entry in &manifest.installers {
        let name = &entry.published_name;
        versioned.push(Desired {
            key: layout::versioned_binary(tag, name),
            content: Content::File(binaries[name].clone()),
            sha256: entry.sha256.clone(),
            size: entry.size,
            content_type: layout::BINARY_TYPE,
            cache_control: IMMUTABLE_CACHE,
            mutable: false,
        });
        versioned.push(bytes(
            layout::versioned_checksum(tag, name),
            checksum_line(&entry.sha256, name).into_bytes(),
            layout::CHECKSUM_TYPE,
            false,
        ));
        legacy.push(legacy_copy(tag, entry));
    }
    versioned.push(bytes(
        layout::versioned_wrapper(tag),
        rendered_wrapper.as_bytes().to_vec(),
        layout::WRAPPER_TYPE,
        false,
    ));
    let wrapper =
        bytes(layout::WRAPPER_KEY.to_owned(), rendered_wrapper.as_bytes().to_vec(), layout::WRAPPER_TYPE, true);
    vec![
        ("versioned installers, checksums and wrapper", versioned),
        ("manifest", vec![bytes(layout::manifest(tag), manifest.to_json().into_bytes(), layout::JSON_TYPE, false)]),
        ("legacy keys (server-side copies)", legacy),
        ("wrapper", vec![wrapper]),
    ]
}

/// The legacy `binaries/<name>` key serving one installer of `tag`: a server-side copy
/// of its versioned object. Publish and rollback move the legacy keys the same way.
pub fn legacy_copy(tag: &ReleaseTag, entry: &ManifestEntry) -> Desired {
    Desired {
        key: layout::legacy_binary(&entry.published_name),
        content: Content::CopyOf(layout::versioned_binary(tag, &entry.published_name)),
        sha256: entry.sha256.clone(),
        size: entry.size,
        content_type: layout::BINARY_TYPE,
        cache_control: MUTABLE_CACHE,
        mutable: true,
    }
}

/// Compares each desired object with the bucket. `remote` has an entry for every key
/// that exists.
pub fn plan(
    tag: &ReleaseTag,
    stages: Vec<(&'static str, Vec<Desired>)>,
    remote: &BTreeMap<String, Remote>,
) -> PublishPlan {
    let mut invalidation_paths = Vec::new();
    let stages = stages
        .into_iter()
        .map(|(name, objects)| Stage {
            name,
            steps: objects
                .into_iter()
                .map(|desired| {
                    if desired.mutable {
                        invalidation_paths.push(layout::cdn_path(&desired.key));
                    }
                    let state = compare(tag, &desired, remote.get(&desired.key));
                    Step { desired, state }
                })
                .collect(),
        })
        .collect();
    invalidation_paths.sort();
    PublishPlan { tag: tag.clone(), stages, invalidation_paths }
}

fn compare(tag: &ReleaseTag, desired: &Desired, remote: Option<&Remote>) -> State {
    let Some(remote) = remote else {
        return State::New;
    };
    let same_bytes = remote.sha256.as_deref() == Some(desired.sha256.as_str()) && remote.size == desired.size;
    if desired.mutable {
        if same_bytes && remote.tag.as_deref() == Some(tag.as_str()) {
            State::Identical
        } else {
            State::Moves { from: remote.tag.clone() }
        }
    } else if same_bytes {
        State::Identical
    } else {
        State::Conflict { remote_sha256: remote.sha256.clone().unwrap_or_else(|| "unknown".into()) }
    }
}

impl PublishPlan {
    pub fn steps(&self) -> impl Iterator<Item = &Step> {
        self.stages.iter().flat_map(|stage| &stage.steps)
    }

    /// Every versioned key that holds other bytes, as messages naming key and checksums.
    pub fn conflicts(&self) -> Vec<String> {
        self.steps()
            .filter_map(|step| match &step.state {
                State::Conflict { remote_sha256 } => Some(format!(
                    "{} already holds sha256 {remote_sha256}; this release has sha256 {}",
                    step.desired.key, step.desired.sha256
                )),
                _ => None,
            })
            .collect()
    }

    pub fn writes(&self) -> usize {
        self.steps().filter(|step| step.writes()).count()
    }

    pub fn describe(&self) -> String {
        let mut text = String::new();
        for (number, stage) in self.stages.iter().enumerate() {
            text += &format!("{}. {}\n", number + 1, stage.name);
            for step in &stage.steps {
                let state = match &step.state {
                    State::New => "new".to_owned(),
                    State::Identical => "identical, skipped".to_owned(),
                    State::Moves { from: Some(from) } => format!("moves from {from}"),
                    State::Moves { from: None } => "replaces an object of unknown release".to_owned(),
                    State::Conflict { remote_sha256 } => {
                        format!("CONFLICT: holds sha256 {remote_sha256}")
                    }
                };
                let source = match &step.desired.content {
                    Content::CopyOf(from) => format!(" (copy of {from})"),
                    _ => String::new(),
                };
                text += &format!(
                    "   {:<22} {}{source}\n   {:<22} {} bytes, sha256 {}, {}, {}\n",
                    state,
                    step.desired.key,
                    "",
                    step.desired.size,
                    step.desired.sha256,
                    step.desired.content_type,
                    step.desired.cache_control
                );
            }
        }
        if !self.invalidation_paths.is_empty() {
            text += &format!(
                "{}. CloudFront invalidation of {}\n",
                self.stages.len() + 1,
                self.invalidation_paths.join(" ")
            );
        }
        text
    }
}

/// The invalidation's caller reference. CloudFront answers a repeated reference with
/// the invalidation it already made, so a retried publish never makes a second one. The
/// wrapper's publish ID (new on every write of the wrapper) is part of it: a later
/// publish of the same tag, after a rollback, moved the keys again and needs a new one.
pub fn caller_reference(tag: &ReleaseTag, paths: &[String], wrapper_publish_id: &str) -> String {
    let digest = sha256_hex(format!("{}\n{wrapper_publish_id}", paths.join("\n")).as_bytes());
    format!("xtask-{tag}-{}", &digest[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag() -> ReleaseTag {
        ReleaseTag::parse("v2").unwrap()
    }

    fn manifest() -> ReleaseManifest {
        ReleaseManifest {
            tag: "v2".into(),
            cfn_version: "v2".into(),
            commit: "c".repeat(40),
            installers: vec![ManifestEntry {
                published_name: "x86_64-unknown-linux-gnu".into(),
                target: "x86_64-unknown-linux-musl".into(),
                size: 3,
                sha256: sha256_hex(b"bin"),
            }],
        }
    }

    fn stages() -> Vec<(&'static str, Vec<Desired>)> {
        let binaries =
            [("x86_64-unknown-linux-gnu".to_owned(), PathBuf::from("/dist/x86_64-unknown-linux-gnu"))].into();
        desired_objects(&manifest(), &tag(), &binaries, "readyset_tag=\"v2\"\n")
    }

    fn remote_of(desired: &Desired, tag: &str) -> Remote {
        Remote { sha256: Some(desired.sha256.clone()), size: desired.size, tag: Some(tag.into()) }
    }

    #[test]
    fn stages_run_versioned_then_manifest_then_legacy_then_wrapper() {
        let plan = plan(&tag(), stages(), &BTreeMap::new());
        let keys: Vec<Vec<&str>> =
            plan.stages.iter().map(|s| s.steps.iter().map(|s| s.desired.key.as_str()).collect()).collect();
        assert_eq!(
            keys,
            vec![
                vec![
                    "binaries/v2/x86_64-unknown-linux-gnu",
                    "binaries/v2/x86_64-unknown-linux-gnu.sha256",
                    "binaries/v2/readyset-orchestrator.sh"
                ],
                vec!["binaries/v2/manifest.json"],
                vec!["binaries/x86_64-unknown-linux-gnu"],
                vec!["readyset-orchestrator.sh"],
            ]
        );
        assert!(plan.steps().all(|s| s.state == State::New));
        assert_eq!(plan.invalidation_paths, vec!["/binaries/x86_64-unknown-linux-gnu", "/readyset-orchestrator.sh"]);
        let legacy = &plan.stages[2].steps[0].desired;
        assert_eq!(legacy.content, Content::CopyOf("binaries/v2/x86_64-unknown-linux-gnu".into()));
        assert_eq!(legacy.cache_control, MUTABLE_CACHE);
        assert_eq!(plan.stages[0].steps[0].desired.cache_control, IMMUTABLE_CACHE);
        assert_eq!(plan.stages[1].steps[0].desired.content_type, "application/json");
    }

    #[test]
    fn a_complete_publish_plans_no_writes() {
        let remote: BTreeMap<String, Remote> =
            stages().iter().flat_map(|(_, objects)| objects).map(|d| (d.key.clone(), remote_of(d, "v2"))).collect();
        let plan = plan(&tag(), stages(), &remote);
        assert_eq!(plan.writes(), 0);
        assert!(plan.conflicts().is_empty());
    }

    #[test]
    fn mutable_keys_of_another_release_move_and_versioned_keys_with_other_bytes_conflict() {
        let mut remote = BTreeMap::new();
        for (_, objects) in stages() {
            for desired in objects {
                let mut state = remote_of(&desired, "v1");
                if desired.key == "binaries/v2/x86_64-unknown-linux-gnu" {
                    state.sha256 = Some("f".repeat(64));
                }
                if !desired.mutable {
                    state.tag = Some("v2".into());
                }
                remote.insert(desired.key.clone(), state);
            }
        }
        let plan = plan(&tag(), stages(), &remote);
        assert_eq!(plan.conflicts().len(), 1);
        assert!(plan.conflicts()[0]
            .starts_with(&format!("binaries/v2/x86_64-unknown-linux-gnu already holds sha256 {}", "f".repeat(64))));
        let wrapper = plan.stages[3].steps[0].clone();
        assert_eq!(wrapper.state, State::Moves { from: Some("v1".into()) });
        assert!(plan.describe().contains("CONFLICT"));
    }

    #[test]
    fn the_caller_reference_is_stable_for_a_retry_and_new_for_a_new_wrapper_write() {
        let paths = vec!["/a".to_owned(), "/b".to_owned()];
        let first = caller_reference(&tag(), &paths, "id-1");
        assert_eq!(first, caller_reference(&tag(), &paths, "id-1"));
        assert_ne!(first, caller_reference(&tag(), &paths, "id-2"));
        assert_ne!(first, caller_reference(&tag(), &paths[..1], "id-1"));
        assert!(first.starts_with("xtask-v2-"));
    }
}
