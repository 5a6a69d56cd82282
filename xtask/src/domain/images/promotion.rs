//! Promotion: alpha and release AMIs are copies of the internal AMIs the smoke test
//! launched, never a rebuild. This decides what may be promoted, what each copy is
//! called and tagged, and refuses a release name that already points at other AMIs.

use std::collections::BTreeMap;

use anyhow::{bail, Result};

use crate::domain::{
    images::packer::{packages_text, AmiTable, AmisFile, Packages},
    names::commit::CommitId,
    names::stage::{Placement, Stage},
};

/// Refuses, naming every problem, an AMIs file that is not the tested internal AMIs of
/// this commit in every region the images are copied to.
pub fn check_source(from: &AmisFile, commit: &CommitId, regions: &[String], images: &[String]) -> Result<()> {
    let mut problems = Vec::new();
    if from.stage != Stage::Internal {
        problems.push(format!(
            "it holds {} AMIs; promotion copies the internal AMIs that the smoke test launched (amis-internal.json)",
            from.stage
        ));
    }
    if !from.commit.same_as(commit) {
        problems.push(format!("it holds the AMIs of commit {}, but this promotion is of commit {commit}", from.commit));
    }
    for image in images {
        let Some(by_region) = from.images.get(image) else {
            problems.push(format!("it has no AMIs of {image}"));
            continue;
        };
        for region in regions.iter().filter(|region| !by_region.contains_key(*region)) {
            problems.push(format!("it has no AMI of {image} in {region}, a region of ami_regions"));
        }
    }
    if !problems.is_empty() {
        bail!("refusing to promote from this AMIs file; nothing was copied:\n  - {}", problems.join("\n  - "));
    }
    Ok(())
}

/// The copy's AMI name: the image, the stage with its commit or release, and the
/// source. Deterministic, so a rerun finds the copy an earlier run made.
pub fn copy_name(image: &str, placement: &Placement, source_ami: &str) -> String {
    let stage = match placement {
        Placement::Internal(commit) | Placement::Alpha(commit) => format!("{}-{}", placement.stage(), commit.short()),
        Placement::Release(name) => format!("release-{name}"),
    };
    format!("{image}-{stage}-from-{source_ami}")
}

/// The tags every copy carries: what it is, and the internal AMI it was copied from.
pub fn copy_tags(
    image: &str,
    placement: &Placement,
    commit: &CommitId,
    source_ami: &str,
    packages: &Packages,
) -> Vec<(String, String)> {
    let mut tags = vec![
        ("Image".to_owned(), image.to_owned()),
        ("Commit".to_owned(), commit.to_string()),
        ("Stage".to_owned(), placement.stage().to_string()),
        ("SourceAmi".to_owned(), source_ami.to_owned()),
    ];
    if !packages.is_empty() {
        tags.push(("ReadySetPackages".to_owned(), packages_text(packages)));
    }
    if let Placement::Release(name) = placement {
        tags.push(("Release".to_owned(), name.to_string()));
    }
    tags
}

/// The tags that say which copy an image is; the others (such as the packages) describe it.
const IDENTITY_TAGS: [&str; 5] = ["Image", "Commit", "Stage", "SourceAmi", "Release"];

/// Why an image found under a copy's name is not this promotion's copy of `source`, or
/// `None` when it is. Its identity tags must be the ones `copy_tags` gives; an image an
/// interrupted run left untagged must show it in every snapshot's description, which EC2
/// writes when it copies ("Copied for DestinationAmi <copy> from SourceAmi <source> ...").
pub fn not_this_copy(
    found: &str,
    tags: &BTreeMap<String, String>,
    snapshot_descriptions: &[String],
    wanted: &[(String, String)],
    source: &str,
) -> Option<String> {
    if tags.contains_key("SourceAmi") {
        let differing: Vec<String> = wanted
            .iter()
            .filter(|(key, _)| IDENTITY_TAGS.contains(&key.as_str()))
            .filter(|(key, value)| tags.get(key) != Some(value))
            .map(|(key, value)| {
                format!("{key} is {:?}, not {value:?}", tags.get(key).map(String::as_str).unwrap_or("absent"))
            })
            .collect();
        return (!differing.is_empty()).then(|| format!("{found} has the copy's name, but {}", differing.join(", ")));
    }
    let marker = format!("DestinationAmi {found} from SourceAmi {source} ");
    if snapshot_descriptions.is_empty() || !snapshot_descriptions.iter().all(|d| d.contains(&marker)) {
        return Some(format!(
            "{found} has the copy's name but no tags, and its snapshots do not say EC2 copied it from {source} \
             ({})",
            if snapshot_descriptions.is_empty() { "it has none".to_owned() } else { snapshot_descriptions.join("; ") }
        ));
    }
    None
}

/// An image already tagged with the release name: where it is and what it was copied from.
#[derive(Debug, Clone)]
pub struct Existing {
    pub region: String,
    pub ami: String,
    pub image: Option<String>,
    pub source_ami: Option<String>,
}

/// A release name names one set of AMIs: every image already tagged with it must be a
/// copy of the AMIs being promoted now.
pub fn release_conflicts(existing: &[Existing], sources: &AmiTable) -> Vec<String> {
    existing
        .iter()
        .filter_map(|found| {
            let expected = found.image.as_ref().and_then(|image| sources.get(image)).and_then(|r| r.get(&found.region));
            match (expected, &found.source_ami) {
                (Some(expected), Some(source)) if expected == source => None,
                _ => Some(format!(
                    "{} in {} ({}) is a copy of {}, not of the AMIs being promoted",
                    found.ami,
                    found.region,
                    found.image.as_deref().unwrap_or("an untagged image"),
                    found.source_ami.as_deref().unwrap_or("an unknown AMI")
                )),
            }
        })
        .collect()
}

/// The AMIs file of a promotion: the copies, the internal AMIs they came from, and the
/// packages those hold.
pub fn promoted_file(placement: &Placement, commit: &CommitId, copies: AmiTable, from: &AmisFile) -> AmisFile {
    let release = match placement {
        Placement::Release(name) => Some(name.clone()),
        _ => None,
    };
    let sources: AmiTable = from
        .images
        .iter()
        .filter(|(image, _)| copies.contains_key(*image))
        .map(|(i, r)| (i.clone(), r.clone()))
        .collect();
    let packages = from.packages.clone();
    AmisFile { stage: placement.stage(), commit: commit.clone(), release, images: copies, sources, packages }
}

/// image -> region -> AMI, from a flat list.
pub fn table(entries: impl IntoIterator<Item = (String, String, String)>) -> AmiTable {
    let mut table: AmiTable = BTreeMap::new();
    for (image, region, ami) in entries {
        table.entry(image).or_default().insert(region, ami);
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::names::tag::ReleaseTag;

    fn commit() -> CommitId {
        CommitId::parse("0123456789abcdef0123456789abcdef01234567").unwrap()
    }

    fn internal() -> AmisFile {
        let images = table([
            ("server".into(), "us-east-1".into(), "ami-1".into()),
            ("server".into(), "us-west-2".into(), "ami-2".into()),
        ]);
        let packages = Packages::from([("readyset_1.0_amd64.deb".into(), "ab".repeat(32))]);
        AmisFile { stage: Stage::Internal, commit: commit(), release: None, images, sources: AmiTable::new(), packages }
    }

    #[test]
    fn only_the_internal_amis_of_this_commit_in_every_region_are_promoted() {
        let regions = ["us-east-1".to_owned(), "us-west-2".to_owned(), "eu-west-1".to_owned()];
        let other = CommitId::parse("fedcba9").unwrap();
        let mut alpha = internal();
        alpha.stage = Stage::Alpha;
        let error =
            check_source(&alpha, &other, &regions, &["server".into(), "bastion".into()]).unwrap_err().to_string();
        expect_test::expect![[r#"
            refusing to promote from this AMIs file; nothing was copied:
              - it holds alpha AMIs; promotion copies the internal AMIs that the smoke test launched (amis-internal.json)
              - it holds the AMIs of commit 0123456789abcdef0123456789abcdef01234567, but this promotion is of commit fedcba9
              - it has no AMI of server in eu-west-1, a region of ami_regions
              - it has no AMIs of bastion"#]]
        .assert_eq(&error);
        check_source(&internal(), &CommitId::parse("0123456").unwrap(), &regions[..2], &["server".into()]).unwrap();
    }

    #[test]
    fn copies_are_named_and_tagged_by_stage_and_source() {
        let release = Placement::Release(ReleaseTag::parse("v1.2").unwrap());
        assert_eq!(copy_name("server", &release, "ami-1"), "server-release-v1.2-from-ami-1");
        assert_eq!(copy_name("server", &Placement::Alpha(commit()), "ami-1"), "server-alpha-01234567-from-ami-1");
        let tags = copy_tags("server", &release, &commit(), "ami-1", &internal().packages);
        let tags: Vec<String> = tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
        expect_test::expect![[r#"
            Image=server
            Commit=0123456789abcdef0123456789abcdef01234567
            Stage=release
            SourceAmi=ami-1
            ReadySetPackages=readyset_1.0_amd64.deb=abababababababababababababababababababababababababababababababab
            Release=v1.2"#]]
        .assert_eq(&tags.join("\n"));
    }

    #[test]
    fn a_release_name_that_points_at_other_amis_is_a_conflict() {
        let sources = internal().images;
        let found = |source: &str| Existing {
            region: "us-east-1".into(),
            ami: "ami-9".into(),
            image: Some("server".into()),
            source_ami: Some(source.into()),
        };
        assert!(release_conflicts(&[found("ami-1")], &sources).is_empty());
        assert_eq!(
            release_conflicts(&[found("ami-7")], &sources),
            vec!["ami-9 in us-east-1 (server) is a copy of ami-7, not of the AMIs being promoted"]
        );
    }

    #[test]
    fn only_this_promotions_copy_of_the_source_is_reused() {
        let wanted: Vec<(String, String)> =
            [("Image", "readyset-server"), ("Commit", "c1"), ("Stage", "alpha"), ("SourceAmi", "ami-1")]
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .into();
        let tags = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let ours = tags(&[("Image", "readyset-server"), ("Commit", "c1"), ("Stage", "alpha"), ("SourceAmi", "ami-1")]);
        assert_eq!(not_this_copy("ami-9", &ours, &[], &wanted, "ami-1"), None);
        let other =
            tags(&[("Image", "readyset-server"), ("Commit", "c1"), ("Stage", "release"), ("SourceAmi", "ami-2")]);
        assert_eq!(
            not_this_copy("ami-9", &other, &[], &wanted, "ami-1").unwrap(),
            "ami-9 has the copy's name, but Stage is \"release\", not \"alpha\", SourceAmi is \"ami-2\", not \"ami-1\""
        );
        let copied =
            vec!["Copied for DestinationAmi ami-9 from SourceAmi ami-1 for SourceSnapshot snap-1. Task".to_owned()];
        assert_eq!(
            not_this_copy("ami-9", &BTreeMap::new(), &copied, &wanted, "ami-1"),
            None,
            "untagged by an interrupted run"
        );
        let made = vec!["Created by CreateImage(i-1) for ami-9".to_owned()];
        assert!(not_this_copy("ami-9", &BTreeMap::new(), &made, &wanted, "ami-1")
            .unwrap()
            .contains("do not say EC2 copied it"));
        assert!(not_this_copy("ami-9", &BTreeMap::new(), &[], &wanted, "ami-1").unwrap().contains("it has none"));
    }
}
