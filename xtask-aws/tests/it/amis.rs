//! Build once, promote what was tested: copies of the internal AMIs for alpha and
//! release, shared per stage, made once even when EC2 calls fail, customers kept in
//! sync, encryption that cannot be shared refused, current Packer handled, and Packer
//! given the xtask's credentials. All against the emulator's EC2, checked with boto3.

use std::{collections::BTreeSet, path::Path};

use expect_test::expect;
use xtask::domain::{
    images::{lifecycle, packer::AmisFile},
    names::stage::Stage,
};

use crate::support::{
    expect_success,
    images::{
        build_amis, customer_accounts, foreign_image, image_access, inspect, internal_accounts, owned_images,
        packer_xtask, packer_xtask_with_env, IMAGES, REGIONS,
    },
    number_ids,
    site::Site,
    stable_times, text, xtask_command, COMMIT,
};

fn read_amis(path: &Path) -> AmisFile {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// Output with the emulator's random IDs and the test's paths named.
fn shown(output: &str, target: &Path) -> String {
    let text = number_ids(&number_ids(&output.replace(target.to_str().unwrap(), "<checkout>/target"), "ami-"), "snap-");
    stable_times(&text)
}

fn promote(site: &Site, target: &Path, extra: &[&str]) -> std::process::Output {
    let from = target.join("dist/amis-internal.json");
    let mut args = vec!["amis", "promote", "--from", from.to_str().unwrap(), "--commit", COMMIT];
    args.extend_from_slice(extra);
    packer_xtask(site, &args)
}

fn everyone() -> BTreeSet<String> {
    internal_accounts().union(&customer_accounts()).cloned().collect()
}

/// The copies of a promotion: tagged with where they come from, named after it, and
/// shared with exactly the internal and customer accounts, snapshots too.
fn check_copies(site: &Site, promoted: &AmisFile, internal: &AmisFile, stage: &str) {
    assert_eq!(promoted.sources, internal.images, "every copy records the tested AMI it came from");
    let mut copies = Vec::new();
    for (image, by_region) in &promoted.images {
        assert_eq!(by_region.keys().map(String::as_str).collect::<Vec<_>>(), REGIONS, "{image}");
        copies.extend(by_region.iter().map(|(region, ami)| (image, region.as_str(), ami.as_str())));
    }
    let pairs: Vec<(&str, &str)> = copies.iter().map(|(_, region, ami)| (*region, *ami)).collect();
    for ((image, region, ami), (described, access)) in copies.iter().zip(inspect(site, &pairs)) {
        let source = &internal.images[*image][*region];
        assert_ne!(ami, source, "a copy, not the internal image itself");
        assert_eq!(described.tags.get("SourceAmi"), Some(source), "{image} in {region}");
        assert_eq!(described.tags.get("Stage").map(String::as_str), Some(stage));
        assert_eq!(described.tags.get("Image"), Some(*image));
        assert_eq!(described.tags.get("Commit").map(String::as_str), Some(COMMIT));
        // CopyImage tagged the copy's snapshots as it made them (TagSpecification).
        let snapshots = &described.snapshot_tags;
        assert!(!snapshots.is_empty(), "{image} in {region} has snapshots");
        for tags in snapshots {
            assert_eq!(tags.get("Stage").map(String::as_str), Some(stage), "{image} in {region}: {tags:?}");
            assert_eq!(tags.get("SourceAmi"), Some(source), "{image} in {region}");
        }
        assert!(described.name.starts_with(&format!("{image}-{stage}-")) && described.name.ends_with(source));
        assert_eq!((access.launch.clone(), access.public), (everyone(), false), "{image} in {region}");
        assert!(!access.volumes.is_empty() && access.volumes.iter().all(|users| *users == everyone()));
        // Alpha copies are marked deprecated alpha-deprecation-days from now (EC2 keeps
        // whole seconds); release copies never are.
        match stage {
            "alpha" => {
                let at = lifecycle::parse_time(described.deprecation.as_deref().expect("deprecated")).unwrap();
                let days = at.duration_since(std::time::SystemTime::now()).unwrap().as_secs() as f64 / 86_400.0;
                assert!((89.9..=90.0).contains(&days), "{image} in {region} deprecates in {days} days");
            }
            _ => assert_eq!(described.deprecation, None, "{image} in {region}"),
        }
    }
}

#[test]
fn promotion_copies_the_tested_amis_and_a_rerun_copies_nothing_twice() {
    let site = Site::new();
    let target = site.output_dir();
    let internal = build_amis(&site);
    assert!(
        !target.path().join("packer/templates/required_plugins.pkr.hcl").exists(),
        "Packer 1.6 gets no plugin block"
    );
    let built = owned_images(&site);

    let dry = expect_success("promote --dry-run", &promote(&site, target.path(), &["--stage", "alpha", "--dry-run"]));
    expect![[r#"
        Promotion plan: the internal AMIs of 0123456789abcdef0123456789abcdef01234567, copied for alpha 0123456789abcdef0123456789abcdef01234567:
          readyset-bastion           us-east-1  <ami-#1> -> readyset-bastion-alpha-01234567-from-<ami-#1>  (copy)
          readyset-bastion           us-east-2  <ami-#2> -> readyset-bastion-alpha-01234567-from-<ami-#2>  (copy)
          readyset-bastion           us-west-2  <ami-#3> -> readyset-bastion-alpha-01234567-from-<ami-#3>  (copy)
          readyset-mysql-adapter     us-east-1  <ami-#4> -> readyset-mysql-adapter-alpha-01234567-from-<ami-#4>  (copy)
          readyset-mysql-adapter     us-east-2  <ami-#5> -> readyset-mysql-adapter-alpha-01234567-from-<ami-#5>  (copy)
          readyset-mysql-adapter     us-west-2  <ami-#6> -> readyset-mysql-adapter-alpha-01234567-from-<ami-#6>  (copy)
          readyset-postgres-adapter  us-east-1  <ami-#7> -> readyset-postgres-adapter-alpha-01234567-from-<ami-#7>  (copy)
          readyset-postgres-adapter  us-east-2  <ami-#8> -> readyset-postgres-adapter-alpha-01234567-from-<ami-#8>  (copy)
          readyset-postgres-adapter  us-west-2  <ami-#9> -> readyset-postgres-adapter-alpha-01234567-from-<ami-#9>  (copy)
          readyset-server            us-east-1  <ami-#10> -> readyset-server-alpha-01234567-from-<ami-#10>  (copy)
          readyset-server            us-east-2  <ami-#11> -> readyset-server-alpha-01234567-from-<ami-#11>  (copy)
          readyset-server            us-west-2  <ami-#12> -> readyset-server-alpha-01234567-from-<ami-#12>  (copy)
        Then each copy and its snapshots are shared with exactly: 305198143522, 418275639014, 888877776666, 999988887777 (internal and customer accounts; never public)
        EC2 marks each copy deprecated from <time> (alpha-deprecation-days); they still launch

        Dry run: nothing was copied or shared, and no file was written.
    "#]].assert_eq(&shown(&dry, target.path()));
    assert_eq!(owned_images(&site), built, "a dry run copies nothing");
    assert!(!target.path().join("dist/amis-alpha.json").exists());

    let promoted = expect_success("promote alpha", &promote(&site, target.path(), &["--stage", "alpha"]));
    expect![[r#"
        Promotion plan: the internal AMIs of 0123456789abcdef0123456789abcdef01234567, copied for alpha 0123456789abcdef0123456789abcdef01234567:
          readyset-bastion           us-east-1  <ami-#1> -> readyset-bastion-alpha-01234567-from-<ami-#1>  (copy)
          readyset-bastion           us-east-2  <ami-#2> -> readyset-bastion-alpha-01234567-from-<ami-#2>  (copy)
          readyset-bastion           us-west-2  <ami-#3> -> readyset-bastion-alpha-01234567-from-<ami-#3>  (copy)
          readyset-mysql-adapter     us-east-1  <ami-#4> -> readyset-mysql-adapter-alpha-01234567-from-<ami-#4>  (copy)
          readyset-mysql-adapter     us-east-2  <ami-#5> -> readyset-mysql-adapter-alpha-01234567-from-<ami-#5>  (copy)
          readyset-mysql-adapter     us-west-2  <ami-#6> -> readyset-mysql-adapter-alpha-01234567-from-<ami-#6>  (copy)
          readyset-postgres-adapter  us-east-1  <ami-#7> -> readyset-postgres-adapter-alpha-01234567-from-<ami-#7>  (copy)
          readyset-postgres-adapter  us-east-2  <ami-#8> -> readyset-postgres-adapter-alpha-01234567-from-<ami-#8>  (copy)
          readyset-postgres-adapter  us-west-2  <ami-#9> -> readyset-postgres-adapter-alpha-01234567-from-<ami-#9>  (copy)
          readyset-server            us-east-1  <ami-#10> -> readyset-server-alpha-01234567-from-<ami-#10>  (copy)
          readyset-server            us-east-2  <ami-#11> -> readyset-server-alpha-01234567-from-<ami-#11>  (copy)
          readyset-server            us-west-2  <ami-#12> -> readyset-server-alpha-01234567-from-<ami-#12>  (copy)
        Then each copy and its snapshots are shared with exactly: 305198143522, 418275639014, 888877776666, 999988887777 (internal and customer accounts; never public)
        EC2 marks each copy deprecated from <time> (alpha-deprecation-days); they still launch
          copied <ami-#1> in us-east-1 to <ami-#13>
          copied <ami-#2> in us-east-2 to <ami-#14>
          copied <ami-#3> in us-west-2 to <ami-#15>
          copied <ami-#4> in us-east-1 to <ami-#16>
          copied <ami-#5> in us-east-2 to <ami-#17>
          copied <ami-#6> in us-west-2 to <ami-#18>
          copied <ami-#7> in us-east-1 to <ami-#19>
          copied <ami-#8> in us-east-2 to <ami-#20>
          copied <ami-#9> in us-west-2 to <ami-#21>
          copied <ami-#10> in us-east-1 to <ami-#22>
          copied <ami-#11> in us-east-2 to <ami-#23>
          copied <ami-#12> in us-west-2 to <ami-#24>
           <ami-#13> in us-east-1: launch: grant 305198143522, 418275639014, 888877776666, 999988887777
             snapshot <snap-#1>: create volume: grant 305198143522, 418275639014, 888877776666, 999988887777
           <ami-#14> in us-east-2: launch: grant 305198143522, 418275639014, 888877776666, 999988887777
             snapshot <snap-#2>: create volume: grant 305198143522, 418275639014, 888877776666, 999988887777
           <ami-#15> in us-west-2: launch: grant 305198143522, 418275639014, 888877776666, 999988887777
             snapshot <snap-#3>: create volume: grant 305198143522, 418275639014, 888877776666, 999988887777
           <ami-#16> in us-east-1: launch: grant 305198143522, 418275639014, 888877776666, 999988887777
             snapshot <snap-#4>: create volume: grant 305198143522, 418275639014, 888877776666, 999988887777
           <ami-#17> in us-east-2: launch: grant 305198143522, 418275639014, 888877776666, 999988887777
             snapshot <snap-#5>: create volume: grant 305198143522, 418275639014, 888877776666, 999988887777
           <ami-#18> in us-west-2: launch: grant 305198143522, 418275639014, 888877776666, 999988887777
             snapshot <snap-#6>: create volume: grant 305198143522, 418275639014, 888877776666, 999988887777
           <ami-#19> in us-east-1: launch: grant 305198143522, 418275639014, 888877776666, 999988887777
             snapshot <snap-#7>: create volume: grant 305198143522, 418275639014, 888877776666, 999988887777
           <ami-#20> in us-east-2: launch: grant 305198143522, 418275639014, 888877776666, 999988887777
             snapshot <snap-#8>: create volume: grant 305198143522, 418275639014, 888877776666, 999988887777
           <ami-#21> in us-west-2: launch: grant 305198143522, 418275639014, 888877776666, 999988887777
             snapshot <snap-#9>: create volume: grant 305198143522, 418275639014, 888877776666, 999988887777
           <ami-#22> in us-east-1: launch: grant 305198143522, 418275639014, 888877776666, 999988887777
             snapshot <snap-#10>: create volume: grant 305198143522, 418275639014, 888877776666, 999988887777
           <ami-#23> in us-east-2: launch: grant 305198143522, 418275639014, 888877776666, 999988887777
             snapshot <snap-#11>: create volume: grant 305198143522, 418275639014, 888877776666, 999988887777
           <ami-#24> in us-west-2: launch: grant 305198143522, 418275639014, 888877776666, 999988887777
             snapshot <snap-#12>: create volume: grant 305198143522, 418275639014, 888877776666, 999988887777

        AMIs of 0123456789abcdef0123456789abcdef01234567 (alpha), each a copy of the internal AMI beside it:
          readyset-bastion             us-east-1    <ami-#13>  (from <ami-#1>)
          readyset-bastion             us-east-2    <ami-#14>  (from <ami-#2>)
          readyset-bastion             us-west-2    <ami-#15>  (from <ami-#3>)
          readyset-mysql-adapter       us-east-1    <ami-#16>  (from <ami-#4>)
          readyset-mysql-adapter       us-east-2    <ami-#17>  (from <ami-#5>)
          readyset-mysql-adapter       us-west-2    <ami-#18>  (from <ami-#6>)
          readyset-postgres-adapter    us-east-1    <ami-#19>  (from <ami-#7>)
          readyset-postgres-adapter    us-east-2    <ami-#20>  (from <ami-#8>)
          readyset-postgres-adapter    us-west-2    <ami-#21>  (from <ami-#9>)
          readyset-server              us-east-1    <ami-#22>  (from <ami-#10>)
          readyset-server              us-east-2    <ami-#23>  (from <ami-#11>)
          readyset-server              us-west-2    <ami-#24>  (from <ami-#12>)
        Written to <checkout>/target/dist/amis-alpha.json
    "#]].assert_eq(&shown(&promoted, target.path()));
    let alpha = read_amis(&target.path().join("dist/amis-alpha.json"));
    assert_eq!((alpha.stage, alpha.release.as_ref()), (Stage::Alpha, None));
    check_copies(&site, &alpha, &internal, "alpha");
    let internal_access = image_access(&site, "us-east-1", &internal.images["readyset-server"]["us-east-1"]);
    assert_eq!(internal_access.launch, internal_accounts(), "promotion never widens the internal images");
    let copied = owned_images(&site);
    assert_eq!(copied.len(), built.len() * 2);

    let again = expect_success("promote alpha again", &promote(&site, target.path(), &["--stage", "alpha"]));
    assert_eq!(again.matches("copied before").count(), IMAGES.len() * REGIONS.len(), "{again}");
    assert_eq!(owned_images(&site), copied, "a rerun copies nothing twice");
    assert_eq!(read_amis(&target.path().join("dist/amis-alpha.json")), alpha);

    expect_success("promote release", &promote(&site, target.path(), &["--stage", "release", "--release", "v1"]));
    let release = read_amis(&target.path().join("dist/amis-release.json"));
    assert_eq!((release.stage, release.release.as_ref().map(|r| r.as_str())), (Stage::Release, Some("v1")));
    check_copies(&site, &release, &internal, "release");
    let released = owned_images(&site);
    expect_success("promote release again", &promote(&site, target.path(), &["--stage", "release", "--release", "v1"]));
    assert_eq!(owned_images(&site), released);

    // A new internal build of the same commit: other AMIs. The release name already
    // names the first ones, so promoting these under it is refused with nothing copied.
    build_amis(&site);
    let rebuilt = owned_images(&site);
    let refused = promote(&site, target.path(), &["--stage", "release", "--release", "v1"]);
    assert_eq!(refused.status.code(), Some(1));
    let stderr = shown(&text(&refused.stderr), target.path());
    assert!(stderr.starts_with("error: refusing to promote: release v1 already names other images"), "{stderr}");
    assert_eq!(stderr.matches(", not of the AMIs being promoted").count(), IMAGES.len() * REGIONS.len(), "{stderr}");
    assert_eq!(owned_images(&site), rebuilt, "nothing was copied");
    assert_eq!(read_amis(&target.path().join("dist/amis-release.json")), release);
}

/// With a share of the EC2 calls failing (errors, throttling, connections dropped before
/// an answer or in the middle of one, after the call took effect), a promotion still
/// makes exactly one copy of each tested AMI, tags and shares every one, and says what
/// it retried.
#[test]
fn with_flaky_ec2_a_promotion_makes_each_copy_once_and_shares_it() {
    let site = Site::new();
    let target = site.output_dir();
    let internal = build_amis(&site);
    let built = owned_images(&site);
    site.set_faults(r#"[{"service": "ec2", "share": 0.15, "kinds": ["500", "503", "reset", "cut"]}]"#);
    let promoted = promote(&site, target.path(), &["--stage", "alpha"]);
    site.set_faults("[]");
    expect_success("promote alpha under faults", &promoted);
    let logs = text(&promoted.stderr);
    assert!(logs.contains("retrying"), "the faults were retried and the retries reported:\n{logs}");
    assert_eq!(owned_images(&site).len(), built.len() * 2, "one copy of each image, however often a call was retried");
    check_copies(&site, &read_amis(&target.path().join("dist/amis-alpha.json")), &internal, "alpha");
}

/// EC2 is eventually consistent: an image CopyImage just made may be unknown to the next
/// calls (CreateTags, DescribeImages). With every new image unknown to its first call, a
/// promotion still makes each copy once, tags and shares every one, and says it waited
/// for EC2.
#[test]
fn a_promotion_waits_for_ec2_to_know_the_copies_it_made() {
    let site = Site::new();
    let target = site.output_dir();
    let internal = build_amis(&site);
    let built = owned_images(&site);
    site.set_faults(r#"[{"service": "ec2", "not_found_first": 1}]"#);
    let promoted = promote(&site, target.path(), &["--stage", "alpha"]);
    site.set_faults("[]");
    expect_success("promote alpha while EC2 catches up", &promoted);
    let logs = text(&promoted.stderr);
    assert_eq!(logs.matches("yet (it catches up after a new image); tagging again in").count(), built.len(), "{logs}");
    assert_eq!(owned_images(&site).len(), built.len() * 2, "one copy of each image");
    check_copies(&site, &read_amis(&target.path().join("dist/amis-alpha.json")), &internal, "alpha");
}

/// Each kind of bad source or stage, with the exit code and the whole message: none
/// copies an image or writes an AMIs file.
#[test]
fn promotion_refuses_what_was_not_tested_with_nothing_copied() {
    let site = Site::new();
    let target = site.output_dir();
    let internal = build_amis(&site);
    let images = owned_images(&site);
    let from = target.path().join("dist/amis-internal.json");
    let mut seen = String::new();
    let mut refuse = |file: &AmisFile, args: &[&str]| {
        std::fs::write(&from, file.to_json()).unwrap();
        let output = promote(&site, target.path(), args);
        seen += &format!(
            "$ amis promote {}\nexit {:?}\n{}\n",
            args.join(" "),
            output.status.code(),
            shown(&text(&output.stderr), target.path())
        );
    };
    let mut other_commit = internal.clone();
    other_commit.commit =
        xtask::domain::names::commit::CommitId::parse("fedcba9876543210fedcba9876543210fedcba98").unwrap();
    refuse(&other_commit, &["--stage", "alpha"]);
    let mut missing_region = internal.clone();
    missing_region.images.get_mut("readyset-bastion").unwrap().remove("us-west-2");
    refuse(&missing_region, &["--stage", "alpha"]);
    let mut an_alpha = internal.clone();
    an_alpha.stage = Stage::Alpha;
    refuse(&an_alpha, &["--stage", "release", "--release", "v2"]);
    refuse(&internal, &["--stage", "internal"]);
    refuse(&internal, &["--stage", "alpha", "--release", "v2"]);
    refuse(&internal, &["--stage", "release"]);
    refuse(&internal, &["--stage", "release", "--release", "alpha"]);
    expect![[r#"
        $ amis promote --stage alpha
        exit Some(1)
        error: refusing to promote from this AMIs file; nothing was copied:
          - it holds the AMIs of commit fedcba9876543210fedcba9876543210fedcba98, but this promotion is of commit 0123456789abcdef0123456789abcdef01234567

        $ amis promote --stage alpha
        exit Some(1)
        error: refusing to promote from this AMIs file; nothing was copied:
          - it has no AMI of readyset-bastion in us-west-2, a region of ami_regions

        $ amis promote --stage release --release v2
        exit Some(1)
        error: refusing to promote from this AMIs file; nothing was copied:
          - it holds alpha AMIs; promotion copies the internal AMIs that the smoke test launched (amis-internal.json)

        $ amis promote --stage internal
        exit Some(2)
        error: invalid value 'internal' for '--stage <STAGE>': internal AMIs are built by `cargo xtask amis build`, not promoted; promote to alpha or release

        For more information, try '--help'.

        $ amis promote --stage alpha --release v2
        exit Some(1)
        error: --release is only for --stage release; alpha images carry the commit instead

        $ amis promote --stage release
        exit Some(1)
        error: --stage release needs --release <NAME>, the release the images belong to
          because: no release name given; pass it (e.g. v2024.06.1). Only inside Buildkite is it read from the release block step

        $ amis promote --stage release --release alpha
        exit Some(2)
        error: invalid value 'alpha' for '--release <NAME>': release name "alpha" is reserved: it already names a part of the bucket layout (rule: a release name is 1 to 64 characters of ASCII letters, digits, '.', '_' and '-', starts with a letter or digit, contains no '..', does not end with '.' or '.lock' (git refuses such branch names), and is not 'alpha' or 'latest')

        For more information, try '--help'.

    "#]].assert_eq(&seen);
    assert_eq!(owned_images(&site), images);
    assert!(
        !target.path().join("dist/amis-alpha.json").exists() && !target.path().join("dist/amis-release.json").exists()
    );
}

#[test]
fn customers_sync_grants_the_added_and_revokes_the_removed_on_every_promoted_image() {
    let site = Site::new();
    let target = site.output_dir();
    build_amis(&site);
    // DescribeImages answers one image a page: every page must be read.
    site.set_faults(r#"[{"page_size": 1}]"#);
    expect_success("promote alpha", &promote(&site, target.path(), &["--stage", "alpha"]));
    expect_success("promote release", &promote(&site, target.path(), &["--stage", "release", "--release", "v1"]));
    let alpha = read_amis(&target.path().join("dist/amis-alpha.json"));
    let release = read_amis(&target.path().join("dist/amis-release.json"));
    site.xtask_ok(&["customers", "remove", "305198143522"]);
    site.xtask_ok(&["customers", "add", "123456789012", "--note", "Initech"]);
    // Tagged alpha, but a copy of nothing this account built: never shared.
    let stray =
        foreign_image(&site, "us-east-2", "stray", None, &[("Stage", "alpha"), ("SourceAmi", "ami-0000000000000000f")]);

    let dry = site.xtask_ok(&["customers", "sync", "--dry-run"]);
    assert_eq!(
        dry.matches("grant 123456789012; revoke 305198143522").count(),
        2 * 2 * IMAGES.len() * REGIONS.len(),
        "{dry}"
    );
    let first = &alpha.images["readyset-server"]["us-east-1"];
    assert_eq!(image_access(&site, "us-east-1", first).launch, everyone(), "a dry run changes nothing");
    let said = text(&site.xtask(&["customers", "sync", "--dry-run"]).stderr);
    assert!(
        said.contains(&format!("not shared: {stray} in us-east-2 says it is a copy of ami-0000000000000000f, which is not an internal image of this account")),
        "{said}"
    );

    let applied = site.xtask_ok(&["customers", "sync"]);
    let count = IMAGES.len() * REGIONS.len() * 2;
    assert!(
        applied.ends_with(&format!("Applied: {count} of {count} image(s) changed; the rest were already exact.\n")),
        "{applied}"
    );
    let expected: BTreeSet<String> =
        internal_accounts().into_iter().chain(["418275639014".to_owned(), "123456789012".to_owned()]).collect();
    let images: Vec<(&str, &str)> = [&alpha, &release]
        .into_iter()
        .flat_map(|file| file.images.values().flat_map(|by_region| by_region.iter()))
        .map(|(region, ami)| (region.as_str(), ami.as_str()))
        .collect();
    for ((region, ami), (_, access)) in images.iter().zip(inspect(&site, &images)) {
        assert_eq!(access.launch, expected, "{ami} in {region}");
        assert!(access.volumes.iter().all(|users| *users == expected), "{ami} in {region}");
        assert_ne!(*ami, stray);
    }
    assert!(image_access(&site, "us-east-2", &stray).launch.is_empty(), "the stray image was shared");
    {}
    let again = site.xtask_ok(&["customers", "sync", "--stage", "release"]);
    assert!(
        again.ends_with(&format!("Applied: 0 of {} image(s) changed; the rest were already exact.\n", count / 2)),
        "{again}"
    );
    let refused = site.xtask(&["customers", "sync", "--stage", "internal"]);
    assert_eq!(refused.status.code(), Some(2));
    expect![[r#"
        error: invalid value 'internal' for '--stage <STAGE>': internal AMIs are built by `cargo xtask amis build`, not promoted; promote to alpha or release

        For more information, try '--help'.
    "#]].assert_eq(&text(&refused.stderr));
}

#[test]
fn encryption_by_default_without_a_customer_managed_key_is_refused_before_anything_is_made() {
    let site = Site::new();
    let target = site.output_dir();
    let internal = build_amis(&site);
    let images = owned_images(&site);
    expect_success(
        "enable encryption",
        &site.aws_cli(&["ec2", "enable-ebs-encryption-by-default", "--region", "us-west-2"]),
    );
    let build = packer_xtask(&site, &["amis", "build", "--commit", COMMIT]);
    let promote = promote(&site, target.path(), &["--stage", "alpha"]);
    assert_eq!((build.status.code(), promote.status.code()), (Some(1), Some(1)));
    expect![[r#"
        error: refusing to make images that cannot be shared; nothing was built or copied:
          - EBS encryption by default is on in us-west-2, so its images would be encrypted with the AWS-managed key, which cannot be shared with the internal or customer accounts
        Set ami_kms_key_ids in ops/image-deploy/locals.pkr.hcl to a customer-managed KMS key for every region (the xtask then grants the internal and customer accounts the use of it), or turn EBS encryption by default off in the build account
        error: refusing to make images that cannot be shared; nothing was built or copied:
          - EBS encryption by default is on in us-west-2, so its images would be encrypted with the AWS-managed key, which cannot be shared with the internal or customer accounts
        Set ami_kms_key_ids in ops/image-deploy/locals.pkr.hcl to a customer-managed KMS key for every region (the xtask then grants the internal and customer accounts the use of it), or turn EBS encryption by default off in the build account
    "#]].assert_eq(&(text(&build.stderr) + &text(&promote.stderr)));
    assert_eq!(owned_images(&site), images, "nothing was built or copied");
    assert_eq!(read_amis(&target.path().join("dist/amis-internal.json")), internal);
}

/// Packer 1.10 and later bundle no plugins: the xtask declares the pinned amazon plugin
/// and runs `packer init` first. Only Packer 1.6.6 can be installed here, so a stand-in
/// that reports a current version records what it is asked to do.
#[test]
fn current_packer_gets_the_pinned_plugin_and_init_before_build() {
    let site = Site::new();
    let target = site.output_dir();
    let bin = tempfile::tempdir().unwrap();
    let log = bin.path().join("calls");
    let stand_in = bin.path().join("packer");
    std::fs::write(&stand_in, STAND_IN_PACKER).unwrap();
    std::fs::set_permissions(&stand_in, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let env = [("PACKER", stand_in.to_str().unwrap()), ("PACKER_CALLS", log.to_str().unwrap())];
    let output = packer_xtask_with_env(&site, &["amis", "build", "--commit", COMMIT], &env);
    expect_success("amis build with a current Packer", &output);
    let calls = std::fs::read_to_string(&log)
        .unwrap()
        .replace(target.path().to_str().unwrap(), "<checkout>/target")
        .replace(&site.emulator.endpoint(), "$AWS_ENDPOINT_URL");
    expect![[r#"
        version | AWS variables: 
        init <checkout>/target/packer/templates | AWS variables: AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
        build -color=false -var=commit=0123456789abcdef0123456789abcdef01234567 -var=ec2_endpoint=$AWS_ENDPOINT_URL -var=manifest_path=<checkout>/target/packer/manifest-internal.json -var=package_dir=<checkout>/target/packer/templates/packages -var=packages= -var=communicator=none <checkout>/target/packer/templates | AWS variables: AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
    "#]].assert_eq(&calls);
    let declared = std::fs::read_to_string(target.path().join("packer/templates/required_plugins.pkr.hcl")).unwrap();
    assert!(
        declared.contains("source  = \"github.com/hashicorp/amazon\"") && declared.contains("version = \"= 1.3.3\""),
        "{declared}"
    );
    assert_eq!(read_amis(&target.path().join("dist/amis-internal.json")).images.len(), IMAGES.len());
}

/// A stand-in for a current Packer: it reports 1.11.2, logs each call with the names of
/// the AWS variables it was given, and for `build` writes a manifest as Packer does.
const STAND_IN_PACKER: &str = r#"#!/bin/sh
printf '%s | AWS variables: %s\n' "$*" "$(env | grep '^AWS_' | cut -d= -f1 | sort | paste -sd ' ' -)" >>"$PACKER_CALLS"
case "$1" in
  version) echo "Packer v1.11.2" ;;
  init) test -f "$2/required_plugins.pkr.hcl" || { echo "no plugin declaration in $2" >&2; exit 1; } ;;
  build)
    for arg in "$@"; do case "$arg" in -var=manifest_path=*) manifest="${arg#-var=manifest_path=}" ;; esac; done
    builds=""
    for image in readyset-server readyset-mysql-adapter readyset-postgres-adapter readyset-bastion; do
      builds="$builds${builds:+,}{\"name\":\"readyset\",\"artifact_id\":\"us-east-1:ami-11111111,us-east-2:ami-22222222,us-west-2:ami-33333333\",\"packer_run_uuid\":\"run-1\",\"custom_data\":{\"image\":\"$image\"}}"
    done
    printf '{"builds":[%s],"last_run_uuid":"run-1"}\n' "$builds" >"$manifest"
    ;;
  *) echo "unexpected packer call: $*" >&2; exit 1 ;;
esac
"#;

/// A profile Packer can read is handed to it by name (it renews what it assumes during a
/// long build); every other AWS variable is removed, and the amazon plugin's polling
/// variables are passed through. Here the keys exist only in a profile file, and the
/// emulator enforces IAM, so the build can succeed only if Packer read that profile.
/// (An SSO profile, which Packer 1.6 cannot read, gets the keys the xtask resolved:
/// `domain::images::packer::profile_uses_sso` decides, tested beside it.)
#[test]
fn packer_gets_the_credentials_that_only_a_profile_file_holds() {
    let site = Site::with_iam();
    let json = |args: &[&str]| -> serde_json::Value {
        serde_json::from_slice(expect_success("aws iam", &site.aws_cli(args)).as_bytes()).unwrap()
    };
    json(&["iam", "create-user", "--user-name", "release-engineer", "--output", "json"]);
    let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ec2:*","Resource":"*"}]}"#;
    site.aws_cli(&[
        "iam",
        "put-user-policy",
        "--user-name",
        "release-engineer",
        "--policy-name",
        "ec2",
        "--policy-document",
        policy,
    ]);
    let key = json(&["iam", "create-access-key", "--user-name", "release-engineer", "--output", "json"]);
    let files = tempfile::tempdir().unwrap();
    let credentials = files.path().join("credentials");
    std::fs::write(
        &credentials,
        format!(
            "[release]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
            key["AccessKey"]["AccessKeyId"].as_str().unwrap(),
            key["AccessKey"]["SecretAccessKey"].as_str().unwrap()
        ),
    )
    .unwrap();
    let config = files.path().join("config");
    std::fs::write(&config, "[profile release]\nregion = us-east-2\n").unwrap();
    let run = |profile: &str| {
        let mut command = xtask_command();
        command
            .args(["amis", "build", "--commit", COMMIT, "--only", "readyset-bastion"])
            .current_dir(site.checkout.path())
            .env("AWS_ENDPOINT_URL", site.emulator.endpoint())
            .env("AWS_PROFILE", profile)
            .env("AWS_CONFIG_FILE", &config)
            .env("AWS_SHARED_CREDENTIALS_FILE", &credentials)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("PKR_VAR_base_image_name", xtask_aws::adapters::emulator::EMULATOR_BASE_IMAGE.0)
            .env("PKR_VAR_base_image_owner", xtask_aws::adapters::emulator::EMULATOR_BASE_IMAGE.1);
        command.env("AWS_MAX_ATTEMPTS", "90").output().unwrap()
    };
    let built = run("release");
    let stdout = expect_success("amis build with a profile", &built);
    assert!(
        stdout.contains("  credentials: profile release, read by Packer itself (it renews what it assumes)"),
        "{stdout}"
    );
    assert!(stdout.contains("  passed to Packer's amazon plugin: AWS_MAX_ATTEMPTS=90\n"), "{stdout}");
    assert!(stdout.contains("Written to"), "{stdout}");
    assert!(
        !text(&built.stdout).contains(key["AccessKey"]["SecretAccessKey"].as_str().unwrap()),
        "the secret is never printed"
    );
    std::fs::write(&credentials, "[release]\naws_access_key_id = AKIANOTAUSER\naws_secret_access_key = wrong\n")
        .unwrap();
    let refused = run("release");
    assert!(
        !refused.status.success(),
        "the emulator enforces IAM, so the success above was the profile's keys at work"
    );
}

/// With customer-managed keys configured, every account allowed to launch the images
/// gets a grant on each region's key, and `customers sync` revokes a removed customer's.
#[test]
fn customer_managed_keys_are_granted_to_exactly_the_allowed_accounts() {
    let site = Site::new();
    let target = site.output_dir();
    let mut keys = Vec::new();
    for region in REGIONS {
        let created = site.aws_cli(&["kms", "create-key", "--region", region, "--output", "json"]);
        let created: serde_json::Value =
            serde_json::from_slice(expect_success("create-key", &created).as_bytes()).unwrap();
        keys.push((region, created["KeyMetadata"]["Arn"].as_str().unwrap().to_owned()));
    }
    let locals_path = site.checkout.path().join("ops/image-deploy/locals.pkr.hcl");
    let entries: Vec<String> = keys.iter().map(|(region, key)| format!("    \"{region}\" = \"{key}\"")).collect();
    let locals = std::fs::read_to_string(&locals_path).unwrap();
    assert!(locals.contains("ami_kms_key_ids = {}"));
    std::fs::write(
        &locals_path,
        locals.replace("ami_kms_key_ids = {}", &format!("ami_kms_key_ids = {{\n{}\n  }}", entries.join("\n"))),
    )
    .unwrap();
    expect_success(
        "encryption on",
        &site.aws_cli(&["ec2", "enable-ebs-encryption-by-default", "--region", "us-east-1"]),
    );

    build_amis(&site);
    // Every listing answers one item a page from here on, as AWS may: a reader of the
    // first page alone would miss grants to revoke.
    site.set_faults(r#"[{"page_size": 1}]"#);
    expect_success("promote alpha", &promote(&site, target.path(), &["--stage", "alpha"]));
    let grantees = |region: &str, key: &str| -> BTreeSet<String> {
        let listed = site.aws_cli(&["kms", "list-grants", "--region", region, "--key-id", key, "--output", "json"]);
        let listed: serde_json::Value =
            serde_json::from_slice(expect_success("list-grants", &listed).as_bytes()).unwrap();
        listed["Grants"].as_array().unwrap().iter().map(|g| g["Name"].as_str().unwrap().to_owned()).collect()
    };
    let names = |accounts: &BTreeSet<String>| -> BTreeSet<String> {
        accounts.iter().map(|a| format!("readyset-ami-access-{a}")).collect()
    };
    for (region, key) in &keys {
        assert_eq!(grantees(region, key), names(&everyone()), "{region}");
    }
    // Not the first grant of a key: with one grant a page, only a reader of every page
    // finds it to revoke.
    site.xtask_ok(&["customers", "remove", "418275639014"]);
    site.xtask_ok(&["customers", "sync"]);
    let remaining: BTreeSet<String> = everyone().into_iter().filter(|a| a != "418275639014").collect();
    for (region, key) in &keys {
        assert_eq!(grantees(region, key), names(&remaining), "{region}: the removed customer's grant is revoked");
    }
}

/// A promotion reuses an image under a copy's name only if it is that copy: tagged as
/// this promotion tags it, or, untagged (as an interrupted run leaves a copy), with
/// snapshots that say EC2 copied it from the source. Anything else stops the promotion
/// before it copies, naming the image and what differs.
#[test]
fn an_image_under_a_copys_name_is_reused_only_if_it_is_that_copy() {
    let site = Site::new();
    let target = site.output_dir();
    let internal = build_amis(&site);
    let source = &internal.images["readyset-server"]["us-east-2"];
    let name = format!("readyset-server-alpha-{}-from-{source}", &COMMIT[..8]);
    let impostor =
        foreign_image(&site, "us-east-2", &name, None, &[("Stage", "alpha"), ("SourceAmi", "ami-0000000000000000f")]);
    let before = owned_images(&site);
    let refused = promote(&site, target.path(), &["--stage", "alpha"]);
    assert_eq!(refused.status.code(), Some(1));
    let said = text(&refused.stderr).replace(&impostor, "<impostor>").replace(source.as_str(), "<source>");
    expect![[r#"
        error: refusing to promote: images with the names of this promotion's copies are not its copies, so they cannot be reused:
          - <impostor> has the copy's name, but Image is "absent", not "readyset-server", Commit is "absent", not "0123456789abcdef0123456789abcdef01234567", SourceAmi is "ami-0000000000000000f", not "<source>" (in us-east-2)
        Nothing was copied. Find out who made them; deregister them if they are not needed, and promote again.
    "#]].assert_eq(&said);
    assert_eq!(owned_images(&site), before, "nothing was copied");
    let deregister = site.aws_cli(&["ec2", "--region", "us-east-2", "deregister-image", "--image-id", &impostor]);
    expect_success("deregister the impostor", &deregister);
    // A copy an interrupted run made and did not tag: reused, and tagged now.
    let untagged = foreign_image(&site, "us-east-2", &name, Some(source), &[]);
    expect_success("promote alpha", &promote(&site, target.path(), &["--stage", "alpha"]));
    let promoted = read_amis(&target.path().join("dist/amis-alpha.json"));
    assert_eq!(&promoted.images["readyset-server"]["us-east-2"], &untagged);
    check_copies(&site, &promoted, &internal, "alpha");
}
