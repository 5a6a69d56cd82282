//! The AMIs' lifecycle against the emulator: `amis list` says what each image costs and
//! what uses it; `amis prune` keeps what a published template names or a copy came
//! from, removes the rest up to the cap, leaves release images alone unless the retired
//! release is named, changes nothing in a dry run, and a rerun finishes what a killed
//! run left (snapshots of an image it had deregistered). Images are made with the AWS
//! CLI (no Packer: only their tags and snapshots matter here).

use std::collections::BTreeSet;

use expect_test::expect;

use crate::support::{config, expect_success, number_ids, site::Site, text, venv_tool, REGION};

/// Images of the emulator's base image, each tagged as the release tags its own, made
/// in one Python process (boto3, from the test venv): an AWS CLI call per step took a
/// second each. Returns their IDs in order.
fn images(site: &Site, specs: &[(&str, &[(&str, &str)])]) -> Vec<String> {
    let script = r#"
import json, sys, boto3
ec2 = boto3.client("ec2")
base = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
instance = ec2.run_instances(ImageId=base, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
made = []
for name, tags in json.loads(sys.argv[1]):
    ami = ec2.create_image(InstanceId=instance, Name=name)["ImageId"]
    ec2.create_tags(Resources=[ami], Tags=[{"Key": k, "Value": v} for k, v in tags])
    made.append(ami)
print(json.dumps(made))
"#;
    let specs = serde_json::to_string(specs).unwrap();
    let output = site
        .command(venv_tool("python", "python"))
        .args(["-c", script, &specs])
        .env("AWS_DEFAULT_REGION", REGION)
        .output()
        .unwrap();
    serde_json::from_str(&expect_success("making images", &output)).unwrap()
}

/// The IDs an `aws ec2 <call> ... --query <query>` lists in the test region.
fn ids(site: &Site, call: &[&str], query: &str) -> Vec<String> {
    let args = [&["ec2", "--region", REGION][..], call, &["--query", query, "--output", "text"]].concat();
    let output = site.aws_cli(&args);
    expect_success("aws ec2", &output).split_whitespace().map(str::to_owned).collect()
}

fn snapshots_of(site: &Site, ami: &str) -> Vec<String> {
    ids(site, &["describe-images", "--image-ids", ami], "Images[0].BlockDeviceMappings[].Ebs.SnapshotId")
}

fn existing_snapshots(site: &Site) -> BTreeSet<String> {
    ids(site, &["describe-snapshots", "--owner-ids", "self"], "Snapshots[].SnapshotId").into_iter().collect()
}

fn images_now(site: &Site) -> BTreeSet<String> {
    ids(site, &["describe-images", "--owners", "self"], "Images[].ImageId").into_iter().collect()
}

#[test]
fn amis_list_and_prune_keep_what_is_used_and_remove_the_rest() {
    let site = Site::new();
    // One image per run at most, so the cap shows.
    let manifest = site.checkout.path().join("Cargo.toml");
    let text_of = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(&manifest, text_of.replace("prune-max-images = 20", "prune-max-images = 1")).unwrap();
    let internal: &[(&str, &str)] = &[("Stage", "internal"), ("Commit", "0123456789abcdef")];
    // Named in the order they are made: images made in the same second sort by name.
    let made = images(
        &site,
        &[("a-named", internal), ("b-copied", internal), ("c-older-unused", internal), ("d-younger-unused", internal)],
    );
    let [named, copied, unused, later] = [0, 1, 2, 3].map(|index| made[index].clone());
    let more = images(
        &site,
        &[
            ("e-copy", &[("Stage", "alpha"), ("SourceAmi", &copied)]),
            ("f-release", &[("Stage", "release"), ("Release", "v1")]),
        ],
    );
    let [copy, release] = [0, 1].map(|index| more[index].clone());
    let template = format!("Mappings:\n  AmiByRegion:\n    {REGION}:\n      AMI: {named}\n");
    let key = "0123456789abcdef/readyset/templates/readyset-server.yaml";
    site.put_in(&config().cfn_internal_bucket, key, template.as_bytes());
    let run = |args: &[&str]| {
        let output = site.xtask(args);
        let shown = format!(
            "$ {}\n{:?} {}{}",
            args.join(" "),
            output.status.code(),
            text(&output.stdout),
            text(&output.stderr)
        );
        number_ids(&number_ids(&shown, "ami-"), "snap-")
    };
    let before = images_now(&site);
    let mut report = vec![run(&["amis", "list"]), run(&["amis", "prune", "--stage", "internal", "--older-than", "0s"])];
    assert_eq!(images_now(&site), before, "a dry run changes nothing");
    report.push(run(&["amis", "prune", "--stage", "internal", "--older-than", "1d"]));
    report.push(run(&["amis", "prune", "--stage", "release"]));
    let unused_snapshots = snapshots_of(&site, &unused);
    report.push(run(&["amis", "prune", "--stage", "internal", "--older-than", "0s", "--apply"]));
    let after: BTreeSet<String> = images_now(&site);
    assert!(!after.contains(&unused) && unused_snapshots.iter().all(|s| !existing_snapshots(&site).contains(s)));
    for kept in [&named, &copied, &later, &copy, &release] {
        assert!(after.contains(kept), "{kept} was removed");
    }
    // A run killed after deregistering `later` and before deleting its snapshots.
    let later_snapshots = snapshots_of(&site, &later);
    let pruned_from = format!("Key=ReadySetPrunedFrom,Value={later}");
    let mut tag = vec!["ec2", "--region", REGION, "create-tags", "--resources"];
    tag.extend(later_snapshots.iter().map(String::as_str));
    tag.extend(["--tags", pruned_from.as_str()]);
    expect_success("tag", &site.aws_cli(&tag));
    expect_success("deregister", &site.aws_cli(&["ec2", "--region", REGION, "deregister-image", "--image-id", &later]));
    report.push(run(&["amis", "prune", "--stage", "internal", "--older-than", "0s", "--apply"]));
    assert!(later_snapshots.iter().all(|s| !existing_snapshots(&site).contains(s)), "the rerun finished the job");
    assert!(images_now(&site).contains(&release), "release images stay without --release");
    let listed: serde_json::Value = serde_json::from_slice(&site.xtask(&["amis", "list", "--json"]).stdout).unwrap();
    let alpha = listed.as_array().unwrap().iter().find(|row| row["id"] == copy.as_str()).unwrap();
    assert_eq!(
        (&alpha["stage"], &alpha["source_ami"], &alpha["gib"]),
        (&"alpha".into(), &copied.as_str().into(), &15.into())
    );
    report.push(run(&["amis", "prune", "--stage", "release", "--release", "v1", "--apply"]));
    assert!(!images_now(&site).contains(&release), "a named retired release's images go");
    expect![[r#"
        $ amis list
        Some(0) region     image                  stage     commit / release          age   GiB   $/month  used by
        us-east-2  <ami-#1>  internal 01234567                   0d    15      0.75  s3://readysettech-cfn-internal-us-east-2/0123456789abcdef/readyset/templates/readyset-server.yaml
        us-east-2  <ami-#2>  internal 01234567                   0d    15      0.75  copy <ami-#3>
        us-east-2  <ami-#4>  internal 01234567                   0d    15      0.75  nothing
        us-east-2  <ami-#5>  internal 01234567                   0d    15      0.75  nothing
        us-east-2  <ami-#3>  alpha                            0d    15      0.75  nothing
        us-east-2  <ami-#6>  release v1                         0d    15      0.75  nothing
        6 image(s), 90 GiB of snapshots, about $4.50 a month at 5 cents per GiB-month (6 requests)

        $ amis prune --stage internal --older-than 0s
        Some(0) Prune of the internal images (4 found; older than 0d; at most 1 per run):
          keep    <ami-#1> in us-east-2: named by the published template s3://readysettech-cfn-internal-us-east-2/0123456789abcdef/readyset/templates/readyset-server.yaml (1 in all)
          keep    <ami-#2> in us-east-2: the source of promoted copies still in the account: <ami-#3>
          remove  <ami-#4> in us-east-2 (c-older-unused, 15 GiB of snapshots)
          later   <ami-#5> in us-east-2: this run removes 1 at most
        Frees 15 GiB of snapshots, about $0.75 a month at 5 cents per GiB-month (9 requests to read the account)

        Dry run: nothing was deregistered or deleted. Pass --apply to remove what is listed above.

        $ amis prune --stage internal --older-than 1d
        Some(0) Prune of the internal images (4 found; older than 1d; at most 1 per run):
          keep    <ami-#1> in us-east-2: named by the published template s3://readysettech-cfn-internal-us-east-2/0123456789abcdef/readyset/templates/readyset-server.yaml (1 in all)
          keep    <ami-#2> in us-east-2: the source of promoted copies still in the account: <ami-#3>
          keep    <ami-#4> in us-east-2: 0d old, younger than 1d
          keep    <ami-#5> in us-east-2: 0d old, younger than 1d
        Frees 0 GiB of snapshots, about $0.00 a month at 5 cents per GiB-month (9 requests to read the account)

        Dry run: nothing was deregistered or deleted. Pass --apply to remove what is listed above.

        $ amis prune --stage release
        Some(1) error: --stage release needs --release <name>, naming the retired release whose images may go; release images are never pruned by age alone

        $ amis prune --stage internal --older-than 0s --apply
        Some(0) Prune of the internal images (4 found; older than 0d; at most 1 per run):
          keep    <ami-#1> in us-east-2: named by the published template s3://readysettech-cfn-internal-us-east-2/0123456789abcdef/readyset/templates/readyset-server.yaml (1 in all)
          keep    <ami-#2> in us-east-2: the source of promoted copies still in the account: <ami-#3>
          remove  <ami-#4> in us-east-2 (c-older-unused, 15 GiB of snapshots)
          later   <ami-#5> in us-east-2: this run removes 1 at most
        Frees 15 GiB of snapshots, about $0.75 a month at 5 cents per GiB-month (9 requests to read the account)
          removed <ami-#4> in us-east-2 and its snapshots <snap-#1>

        Applied.

        $ amis prune --stage internal --older-than 0s --apply
        Some(0) Prune of the internal images (2 found; older than 0d; at most 1 per run):
          keep    <ami-#1> in us-east-2: named by the published template s3://readysettech-cfn-internal-us-east-2/0123456789abcdef/readyset/templates/readyset-server.yaml (1 in all)
          keep    <ami-#2> in us-east-2: the source of promoted copies still in the account: <ami-#3>
          finish  <snap-#1> in us-east-2: a snapshot of <ami-#4>, which an earlier run deregistered
        Frees 0 GiB of snapshots, about $0.00 a month at 5 cents per GiB-month (9 requests to read the account)

        Applied.

        $ amis prune --stage release --release v1 --apply
        Some(0) Prune of the release images (1 found; of release v1, whatever their age; at most 1 per run):
          remove  <ami-#1> in us-east-2 (f-release, 15 GiB of snapshots)
        Frees 15 GiB of snapshots, about $0.75 a month at 5 cents per GiB-month (9 requests to read the account)
          removed <ami-#1> in us-east-2 and its snapshots <snap-#1>

        Applied.
    "#]].assert_eq(&report.join("\n"));
}
