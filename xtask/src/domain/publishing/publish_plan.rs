//! The publish plan: what must be written where, in which order, and how each key
//! compares with what the bucket already holds. Deciding all of it before the first
//! write is what lets a publish refuse a conflict with nothing written, print the whole
//! plan for `--dry-run`, and complete an interrupted run without redoing what is right.

use std::{collections::BTreeMap, fmt, path::PathBuf};

use crate::domain::{
    names::commit::CommitId,
    names::tag::ReleaseTag,
    publishing::digest::{checksum_line, sha256_hex},
    publishing::layout::{self, IMMUTABLE_CACHE, MUTABLE_CACHE},
    publishing::release_manifest::{AssembledRelease, ManifestEntry, Scripts},
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

impl Desired {
    /// An object whose bytes are in memory; its checksum and size follow from them.
    pub fn bytes(key: String, data: Vec<u8>, content_type: &'static str, mutable: bool) -> Desired {
        Desired {
            key,
            sha256: sha256_hex(&data),
            size: data.len() as u64,
            content: Content::Bytes(data),
            content_type,
            cache_control: if mutable { MUTABLE_CACHE } else { IMMUTABLE_CACHE },
            mutable,
        }
    }
}

/// What the objects a plan writes are labelled with (S3 metadata), so a later run knows
/// which release a moving key serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    Release(ReleaseTag),
    Commit(CommitId),
}

impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Owner::Release(tag) => write!(f, "release {tag}"),
            Owner::Commit(commit) => write!(f, "commit {commit}"),
        }
    }
}

/// What the bucket holds at a key, from the metadata every write carries (`sha256`, the
/// release it belongs to), or from hashing the object when that is absent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remote {
    pub sha256: Option<String>,
    pub size: u64,
    /// The release a key was written for, as its metadata says.
    pub release: Option<String>,
    /// What a conditional write of a moving key must still find there.
    pub etag: Option<String>,
    /// The run that wrote a moving key: its CDN invalidation is named after it.
    pub publish_id: Option<String>,
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
    /// For a key that moves: the ETag read when the plan was made (the write is
    /// conditional on it, so a concurrent publish cannot be overwritten unseen).
    pub expected_etag: Option<String>,
    /// For a key that moves: the publish ID it carried when the plan was made. A run
    /// that leaves the wrapper as it is confirms the invalidation of the run that wrote
    /// it, without reading the key again.
    pub found_publish_id: Option<String>,
}

impl Step {
    pub fn writes(&self) -> bool {
        matches!(self.state, State::New | State::Moves { .. })
    }

    /// What the key must still be when the write lands, so a concurrent writer is never
    /// overwritten unseen: absent for a new key, unchanged since the plan read it for a
    /// key that moves.
    pub fn precondition(&self) -> Precondition {
        match &self.expected_etag {
            Some(etag) => Precondition::Unchanged(etag.clone()),
            None => Precondition::Absent,
        }
    }
}

/// A condition S3 checks atomically as it writes (`If-None-Match: *`, `If-Match`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Precondition {
    Absent,
    Unchanged(String),
}

/// A group of writes that completes before the next group starts.
#[derive(Debug, Clone)]
pub struct Phase {
    pub name: &'static str,
    pub steps: Vec<Step>,
}

#[derive(Debug, Clone)]
pub struct PublishPlan {
    pub owner: Owner,
    /// In the order they must run.
    pub phases: Vec<Phase>,
    /// Moving keys deleted after the phases (a rollback to a release that left a
    /// platform out, when asked to), each only if unchanged since it was read.
    pub removals: Vec<Removal>,
    /// CloudFront paths of every mutable key of the release.
    pub invalidation_paths: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removal {
    pub key: String,
    pub etag: String,
    /// The release the key serves now, for the plan's description.
    pub serves: String,
}

/// The objects of a release, phase by phase: versioned installers, checksums and the
/// rendered wrapper; then the manifest that declares them complete, with its signature;
/// then the legacy keys; then the wrapper customers download; then the signed pointer
/// that names the release current, so a pointer never names a release whose wrapper is
/// not out yet; then the signed index of releases with this one in it (`pointer` and
/// `index` are left out only to list the other keys). `signature` is made
/// before planning: ECDSA signatures differ each time, so a rerun passes the one already
/// published when it still verifies.
pub fn desired_objects(
    release: &AssembledRelease,
    scripts: &Scripts,
    signature: Vec<u8>,
    pointer: Option<Desired>,
    index: Option<Desired>,
) -> Vec<(&'static str, Vec<Desired>)> {
    let tag = &release.manifest.tag;
    let mut versioned = Vec::new();
    let mut legacy = Vec::new();
    for installer in &release.installers {
        let entry = &installer.entry;
        let name = &entry.published_name;
        versioned.push(Desired {
            key: layout::versioned_binary(tag, name),
            content: Content::File(installer.file.clone()),
            sha256: entry.sha256.clone(),
            size: entry.size,
            content_type: layout::BINARY_TYPE,
            cache_control: IMMUTABLE_CACHE,
            mutable: false,
        });
        let checksum = checksum_line(&entry.sha256, name).into_bytes();
        versioned.push(Desired::bytes(layout::versioned_checksum(tag, name), checksum, layout::CHECKSUM_TYPE, false));
        legacy.push(legacy_copy(tag, entry));
    }
    let wrapper = scripts.wrapper.as_bytes().to_vec();
    versioned.push(Desired::bytes(layout::versioned_wrapper(tag), wrapper.clone(), layout::WRAPPER_TYPE, false));
    let check = scripts.check.as_bytes().to_vec();
    versioned.push(Desired::bytes(layout::versioned_check_script(tag), check.clone(), layout::WRAPPER_TYPE, false));
    let manifest = release.manifest.to_json().into_bytes();
    let mut phases = vec![
        ("versioned installers, checksums and wrapper", versioned),
        (
            "manifest and its signature",
            vec![
                Desired::bytes(layout::manifest(tag), manifest, layout::JSON_TYPE, false),
                Desired::bytes(layout::manifest_signature(tag), signature, layout::SIGNATURE_TYPE, false),
            ],
        ),
        ("legacy keys (server-side copies)", legacy),
        (
            "wrapper and the customer's check",
            vec![
                Desired::bytes(layout::WRAPPER_KEY.to_owned(), wrapper, layout::WRAPPER_TYPE, true),
                Desired::bytes(layout::CHECK_SCRIPT_KEY.to_owned(), check, layout::WRAPPER_TYPE, true),
            ],
        ),
    ];
    phases.extend(pointer.map(|pointer| (POINTER_PHASE, vec![pointer])));
    phases.extend(index.map(|index| ("signed index of releases", vec![index])));
    phases
}

pub const POINTER_PHASE: &str = "signed pointer to the current release";

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
/// that exists. `invalidate` says whether the mutable keys are behind the CDN.
pub fn plan(
    owner: Owner,
    phases: Vec<(&'static str, Vec<Desired>)>,
    remote: &BTreeMap<String, Remote>,
    invalidate: bool,
) -> PublishPlan {
    let mut invalidation_paths = Vec::new();
    let phases = phases
        .into_iter()
        .map(|(name, objects)| Phase {
            name,
            steps: objects
                .into_iter()
                .map(|desired| {
                    if desired.mutable && invalidate {
                        invalidation_paths.push(layout::cdn_path(&desired.key));
                    }
                    let found = remote.get(&desired.key);
                    let state = compare(&owner, &desired, found);
                    let moving = found.filter(|_| desired.mutable);
                    let expected_etag = moving.and_then(|r| r.etag.clone());
                    let found_publish_id = moving.and_then(|r| r.publish_id.clone());
                    Step { desired, state, expected_etag, found_publish_id }
                })
                .collect(),
        })
        .collect();
    invalidation_paths.sort();
    PublishPlan { owner, phases, removals: Vec::new(), invalidation_paths }
}

fn compare(owner: &Owner, desired: &Desired, remote: Option<&Remote>) -> State {
    let Some(remote) = remote else {
        return State::New;
    };
    let same_bytes = remote.sha256.as_deref() == Some(desired.sha256.as_str()) && remote.size == desired.size;
    let same_owner = match owner {
        Owner::Release(tag) => remote.release.as_deref() == Some(tag.as_str()),
        Owner::Commit(_) => true,
    };
    match (desired.mutable, same_bytes) {
        (true, true) if same_owner => State::Identical,
        (true, _) => State::Moves { from: remote.release.clone() },
        (false, true) => State::Identical,
        (false, false) => State::Conflict { remote_sha256: remote.sha256.clone().unwrap_or_else(|| "unknown".into()) },
    }
}

impl PublishPlan {
    /// Adds deletions of moving keys; their paths are invalidated with the rest.
    pub fn remove(&mut self, removals: Vec<Removal>) {
        self.invalidation_paths.extend(removals.iter().map(|removal| layout::cdn_path(&removal.key)));
        self.invalidation_paths.sort();
        self.removals.extend(removals);
    }

    /// Adds a key's path to the invalidation without writing the key. A rollback leaves
    /// the index of releases as it is but invalidates it as a publish does: a publish of
    /// the release served again then has the same paths, and gets the rollback's
    /// invalidation back instead of a second one.
    pub fn invalidate_also(&mut self, key: &str) {
        self.invalidation_paths.push(layout::cdn_path(key));
        self.invalidation_paths.sort();
        self.invalidation_paths.dedup();
    }

    pub fn steps(&self) -> impl Iterator<Item = &Step> {
        self.phases.iter().flat_map(|phase| &phase.steps)
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
        self.steps().filter(|step| step.writes()).count() + self.removals.len()
    }

    pub fn describe(&self) -> String {
        let mut text = String::new();
        for (number, phase) in self.phases.iter().enumerate() {
            text += &format!("{}. {}\n", number + 1, phase.name);
            for step in &phase.steps {
                text += &describe_step(step);
            }
        }
        let mut number = self.phases.len();
        if !self.removals.is_empty() {
            number += 1;
            text += &format!("{number}. legacy keys of platforms this release leaves out\n");
            for removal in &self.removals {
                text += &format!("   {:<22} {}\n", format!("remove (serves {})", removal.serves), removal.key);
            }
        }
        if !self.invalidation_paths.is_empty() {
            text += &format!("{}. CloudFront invalidation of {}\n", number + 1, self.invalidation_paths.join(" "));
        }
        text
    }
}

fn describe_step(step: &Step) -> String {
    let state = match &step.state {
        State::New => "new".to_owned(),
        State::Identical => "identical, skipped".to_owned(),
        State::Moves { from: Some(from) } => format!("moves from {from}"),
        State::Moves { from: None } => "replaces an object of unknown release".to_owned(),
        State::Conflict { remote_sha256 } => format!("CONFLICT: holds sha256 {remote_sha256}"),
    };
    let source = match &step.desired.content {
        Content::CopyOf(from) => format!(" (copy of {from})"),
        _ => String::new(),
    };
    let desired = &step.desired;
    format!(
        "   {state:<22} {}{source}\n   {:<22} {} bytes, sha256 {}, {}, {}\n",
        desired.key, "", desired.size, desired.sha256, desired.content_type, desired.cache_control
    )
}

/// How the commit being published relates to the commit of the release the wrapper
/// serves, as git's history says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lineage {
    Same,
    /// Ours comes after the served one: the normal release.
    Descendant,
    /// Ours is in the served release's history: customers would move back.
    Ancestor,
    /// Neither is in the other's history: one of them was not built from main.
    Unrelated,
}

/// Why publishing would move customers back, or `None` when it moves them forward (or
/// republishes what they get). Release names are free text and publish times are when
/// someone pressed a button; only the history says which release is newer.
pub fn downgrade(ours: &CommitId, served_tag: &ReleaseTag, served: &CommitId, lineage: Lineage) -> Option<String> {
    match lineage {
        Lineage::Same | Lineage::Descendant => None,
        Lineage::Ancestor => Some(format!(
            "the wrapper serves {served_tag}, built from commit {served}, and this release's commit {ours} is an \
             ancestor of it, so customers would move back to older code"
        )),
        Lineage::Unrelated => Some(format!(
            "the wrapper serves {served_tag}, built from commit {served}, and neither it nor this release's commit \
             {ours} is in the other's history, so one of them was not built from main"
        )),
    }
}

/// The invalidation's caller reference. CloudFront answers a repeated reference with
/// the invalidation it already made, so a retried publish never makes a second one. The
/// wrapper's publish ID (new on every write of the wrapper) is part of it: a later
/// publish of the same tag, after a rollback, moved the keys again and needs a new one.
pub fn caller_reference(owner: &Owner, paths: &[String], wrapper_publish_id: &str) -> String {
    let digest = sha256_hex(format!("{}\n{wrapper_publish_id}", paths.join("\n")).as_bytes());
    let label = match owner {
        Owner::Release(tag) => tag.to_string(),
        Owner::Commit(commit) => commit.to_string(),
    };
    format!("xtask-{label}-{}", &digest[..16])
}

#[cfg(test)]
mod tests {
    use expect_test::expect;

    use super::*;
    use crate::domain::publishing::release_manifest::{Installer, ReleaseManifest};

    fn tag() -> ReleaseTag {
        ReleaseTag::parse("v2").unwrap()
    }

    fn release() -> AssembledRelease {
        let entry = ManifestEntry {
            published_name: "x86_64-unknown-linux-gnu".into(),
            target: "x86_64-unknown-linux-musl".into(),
            size: 3,
            sha256: sha256_hex(b"bin"),
        };
        let manifest = ReleaseManifest {
            tag: tag(),
            cfn_version: tag(),
            commit: CommitId::parse(&"c".repeat(40)).unwrap(),
            installers: vec![entry.clone()],
            wrapper_sha256: None,
            check_script_sha256: None,
            templates: Vec::new(),
        };
        AssembledRelease {
            manifest,
            installers: vec![Installer { entry, file: "/dist/x86_64-unknown-linux-gnu".into() }],
        }
    }

    fn phases() -> Vec<(&'static str, Vec<Desired>)> {
        let scripts = Scripts { wrapper: "readyset_tag=\"v2\"\n".into(), check: "check\n".into() };
        desired_objects(&release(), &scripts, b"signature".to_vec(), None, None)
    }

    fn remote_of(desired: &Desired, release: &str) -> Remote {
        Remote {
            sha256: Some(desired.sha256.clone()),
            size: desired.size,
            release: Some(release.into()),
            etag: None,
            publish_id: None,
        }
    }

    #[test]
    fn phases_run_versioned_then_manifest_then_legacy_then_wrapper() {
        let plan = plan(Owner::Release(tag()), phases(), &BTreeMap::new(), true);
        expect![[r#"
            1. versioned installers, checksums and wrapper
               new                    binaries/v2/x86_64-unknown-linux-gnu
                                      3 bytes, sha256 51a1f05af85e342e3c849b47d387086476282d5f50dc240c19216d6edfb1eb5a, application/octet-stream, public, max-age=31536000, immutable
               new                    binaries/v2/x86_64-unknown-linux-gnu.sha256
                                      91 bytes, sha256 e2499cc3045c8916a3afa29986f44627f4931bbd6cafd891adb82413d61cd9e6, text/plain; charset=utf-8, public, max-age=31536000, immutable
               new                    binaries/v2/readyset-orchestrator.sh
                                      18 bytes, sha256 5742449e41aa23e849ce52b88ec6a1a2cb9b4c6d42814f9fa255fa082b9fa5c0, text/x-shellscript, public, max-age=31536000, immutable
               new                    binaries/v2/readyset-check.sh
                                      6 bytes, sha256 b78232388282c6420137ababfeb08b77a605007fe7650cfce4e36bb6afa013fb, text/x-shellscript, public, max-age=31536000, immutable
            2. manifest and its signature
               new                    binaries/v2/manifest.json
                                      329 bytes, sha256 43c33499f64825aed5768d9372582f6785a153991a49b734920288359b1cf3cd, application/json, public, max-age=31536000, immutable
               new                    binaries/v2/manifest.json.sig
                                      9 bytes, sha256 1a2fc26dc7ea5a2a4748b7cb2b1ef193d96ab2c99f93092f69e63075b28d1278, application/octet-stream, public, max-age=31536000, immutable
            3. legacy keys (server-side copies)
               new                    binaries/x86_64-unknown-linux-gnu (copy of binaries/v2/x86_64-unknown-linux-gnu)
                                      3 bytes, sha256 51a1f05af85e342e3c849b47d387086476282d5f50dc240c19216d6edfb1eb5a, application/octet-stream, public, max-age=300
            4. wrapper and the customer's check
               new                    readyset-orchestrator.sh
                                      18 bytes, sha256 5742449e41aa23e849ce52b88ec6a1a2cb9b4c6d42814f9fa255fa082b9fa5c0, text/x-shellscript, public, max-age=300
               new                    readyset-check.sh
                                      6 bytes, sha256 b78232388282c6420137ababfeb08b77a605007fe7650cfce4e36bb6afa013fb, text/x-shellscript, public, max-age=300
            5. CloudFront invalidation of /binaries/x86_64-unknown-linux-gnu /readyset-check.sh /readyset-orchestrator.sh
        "#]].assert_eq(&plan.describe());
    }

    #[test]
    fn a_complete_publish_plans_no_writes() {
        let remote: BTreeMap<String, Remote> =
            phases().iter().flat_map(|(_, objects)| objects).map(|d| (d.key.clone(), remote_of(d, "v2"))).collect();
        let plan = plan(Owner::Release(tag()), phases(), &remote, true);
        assert_eq!(plan.writes(), 0);
        assert!(plan.conflicts().is_empty());
    }

    #[test]
    fn mutable_keys_of_another_release_move_and_versioned_keys_with_other_bytes_conflict() {
        let mut remote = BTreeMap::new();
        for (_, objects) in phases() {
            for desired in objects {
                let mut state = remote_of(&desired, if desired.mutable { "v1" } else { "v2" });
                if desired.key == "binaries/v2/x86_64-unknown-linux-gnu" {
                    state.sha256 = Some("f".repeat(64));
                }
                state.etag = Some(format!("\"etag-of-{}\"", desired.key));
                remote.insert(desired.key.clone(), state);
            }
        }
        let plan = plan(Owner::Release(tag()), phases(), &remote, true);
        assert_eq!(
            plan.conflicts(),
            vec![format!(
                "binaries/v2/x86_64-unknown-linux-gnu already holds sha256 {}; this release has sha256 {}",
                "f".repeat(64),
                sha256_hex(b"bin")
            )]
        );
        let wrapper = &plan.phases[3].steps[0];
        assert_eq!(wrapper.state, State::Moves { from: Some("v1".into()) });
        assert_eq!(wrapper.expected_etag.as_deref(), Some("\"etag-of-readyset-orchestrator.sh\""));
        assert_eq!(plan.phases[0].steps[1].expected_etag, None, "versioned keys are written only where absent");
        assert!(plan.describe().contains("CONFLICT"));
    }

    #[test]
    fn a_commit_owned_key_with_the_same_bytes_is_identical_whatever_its_label() {
        let desired = Desired::bytes("c/readyset/templates/a.yaml".into(), b"x".to_vec(), layout::YAML_TYPE, true);
        let remote = [(desired.key.clone(), remote_of(&desired, "other"))].into();
        let owner = Owner::Commit(CommitId::parse("0123abc").unwrap());
        let plan = plan(owner, vec![("templates", vec![desired])], &remote, false);
        assert_eq!(plan.phases[0].steps[0].state, State::Identical);
        assert!(plan.invalidation_paths.is_empty());
    }

    #[test]
    fn only_an_ancestor_or_an_unrelated_commit_of_the_served_release_is_a_downgrade() {
        let (ours, served) = (CommitId::parse(&"a".repeat(40)).unwrap(), CommitId::parse(&"b".repeat(40)).unwrap());
        let tag = ReleaseTag::parse("v2").unwrap();
        assert_eq!(downgrade(&ours, &tag, &served, Lineage::Same), None);
        assert_eq!(downgrade(&ours, &tag, &served, Lineage::Descendant), None);
        let older = downgrade(&ours, &tag, &served, Lineage::Ancestor).unwrap();
        assert!(older.contains("is an ancestor of it"), "{older}");
        let unrelated = downgrade(&ours, &tag, &served, Lineage::Unrelated).unwrap();
        assert!(unrelated.contains("was not built from main"), "{unrelated}");
    }

    #[test]
    fn the_caller_reference_is_stable_for_a_retry_and_new_for_a_new_wrapper_write() {
        let paths = vec!["/a".to_owned(), "/b".to_owned()];
        let owner = Owner::Release(tag());
        let first = caller_reference(&owner, &paths, "id-1");
        assert_eq!(first, caller_reference(&owner, &paths, "id-1"));
        assert_ne!(first, caller_reference(&owner, &paths, "id-2"));
        assert_ne!(first, caller_reference(&owner, &paths[..1], "id-1"));
        assert!(first.starts_with("xtask-v2-"));
    }
}
