//! AMIs in the emulator: Packer runs of the xtask, and what EC2 says about an image,
//! read with boto3 (`ec2_facts.py`) so the checks do not trust the xtask's own EC2 code.

use std::{
    collections::{BTreeMap, BTreeSet},
    process::Output,
};

use xtask::domain::images::packer::AmisFile;
use xtask_aws::adapters::emulator::EMULATOR_BASE_IMAGE;

use super::{expect_success, site::Site, workspace_root, COMMIT};

pub const REGIONS: [&str; 3] = ["us-east-1", "us-east-2", "us-west-2"];
pub const IMAGES: [&str; 4] =
    ["readyset-server", "readyset-mysql-adapter", "readyset-postgres-adapter", "readyset-bastion"];

/// Runs the xtask in the site's checkout (its outputs go to that checkout's `target/`)
/// with Packer pointed at a base image the emulator has.
pub fn packer_xtask(site: &Site, args: &[&str]) -> Output {
    packer_xtask_with_env(site, args, &[])
}

pub fn packer_xtask_with_env(site: &Site, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut all = vec![
        ("PKR_VAR_base_image_name", EMULATOR_BASE_IMAGE.0),
        ("PKR_VAR_base_image_owner", EMULATOR_BASE_IMAGE.1),
        ("PACKER_NO_COLOR", "1"),
    ];
    all.extend_from_slice(env);
    site.xtask_with_env(args, &all)
}

/// The internal AMIs of COMMIT, built by the real Packer.
pub fn build_amis(site: &Site) -> AmisFile {
    expect_success("amis build", &packer_xtask(site, &["amis", "build", "--commit", COMMIT]));
    serde_json::from_slice(&std::fs::read(site.output_dir().path().join("dist/amis-internal.json")).unwrap()).unwrap()
}

pub struct Described {
    pub name: String,
    pub tags: BTreeMap<String, String>,
    /// When EC2 marks the image deprecated (DeprecationTime), if ever.
    pub deprecation: Option<String>,
    /// The tags of each of its snapshots.
    pub snapshot_tags: Vec<BTreeMap<String, String>>,
}

/// Who may launch an image, and who may create volumes from its snapshots.
#[derive(Debug, PartialEq, Eq)]
pub struct Access {
    pub launch: BTreeSet<String>,
    pub public: bool,
    /// Per snapshot of the image.
    pub volumes: Vec<BTreeSet<String>>,
}

#[derive(serde::Deserialize)]
struct Facts {
    name: String,
    deprecation: Option<String>,
    tags: BTreeMap<String, String>,
    snapshot_tags: Vec<BTreeMap<String, String>>,
    launch: BTreeSet<String>,
    launch_groups: Vec<String>,
    volumes: Vec<BTreeSet<String>>,
    volume_groups: Vec<String>,
}

/// Runs the boto3 reader against the site's emulator.
fn ec2_facts(site: &Site, request: serde_json::Value) -> serde_json::Value {
    let python = xtask::adapters::toolchain::python(&super::workspace());
    let script = workspace_root().join("xtask-aws/tests/it/support/ec2_facts.py");
    let output = site.command(python).arg(script).arg(request.to_string()).output().expect("python runs");
    serde_json::from_str(&expect_success("ec2_facts.py", &output)).unwrap()
}

/// What EC2 says about each image (region, AMI), in one process.
pub fn inspect(site: &Site, images: &[(&str, &str)]) -> Vec<(Described, Access)> {
    let request = images.iter().map(|(region, ami)| serde_json::json!({"region": region, "ami": ami})).collect();
    let answer = ec2_facts(site, serde_json::json!({ "images": serde_json::Value::Array(request) }));
    let facts: Vec<Facts> = serde_json::from_value(answer["images"].clone()).unwrap();
    images
        .iter()
        .zip(facts)
        .map(|((_, ami), facts)| {
            assert!(facts.volume_groups.is_empty(), "a snapshot of {ami} is shared with {:?}", facts.volume_groups);
            let described = Described {
                name: facts.name,
                tags: facts.tags,
                deprecation: facts.deprecation,
                snapshot_tags: facts.snapshot_tags,
            };
            let public = facts.launch_groups.iter().any(|group| group == "all");
            (described, Access { launch: facts.launch, public, volumes: facts.volumes })
        })
        .collect()
}

pub fn image_access(site: &Site, region: &str, ami: &str) -> Access {
    inspect(site, &[(region, ami)]).remove(0).1
}

/// Every image the account owns, in every region.
pub fn owned_images(site: &Site) -> BTreeSet<String> {
    let answer = ec2_facts(site, serde_json::json!({ "owned": REGIONS }));
    serde_json::from_value(answer["images"].clone()).unwrap()
}

fn accounts(name: &str) -> BTreeSet<String> {
    let locals = std::fs::read_to_string(workspace_root().join(xtask::domain::images::packer::LOCALS_FILE)).unwrap();
    xtask::domain::images::packer::local_strings("locals", &locals, name).unwrap().into_iter().collect()
}

pub fn internal_accounts() -> BTreeSet<String> {
    accounts("internal_account_ids")
}

pub fn customer_accounts() -> BTreeSet<String> {
    accounts("customer_account_ids")
}

/// An image made in the emulator by boto3, not by the xtask: a copy of `copy_of` (as
/// CopyImage makes it, untagged) or else an image of the emulator's base image; then
/// tagged with `tags`. Returns its ID.
pub fn foreign_image(site: &Site, region: &str, name: &str, copy_of: Option<&str>, tags: &[(&str, &str)]) -> String {
    let script = r#"
import json, sys, boto3
region, name, source, tags = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
ec2 = boto3.client("ec2", region_name=region)
if source:
    ami = ec2.copy_image(SourceImageId=source, SourceRegion=region, Name=name)["ImageId"]
else:
    base = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    instance = ec2.run_instances(ImageId=base, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    ami = ec2.create_image(InstanceId=instance, Name=name)["ImageId"]
if tags:
    ec2.create_tags(Resources=[ami], Tags=[{"Key": k, "Value": v} for k, v in tags])
print(ami)
"#;
    let python = xtask::adapters::toolchain::python(&super::workspace());
    let tags = serde_json::to_string(tags).unwrap();
    let output =
        site.command(python).args(["-c", script, region, name, copy_of.unwrap_or(""), &tags]).output().unwrap();
    expect_success("making an image with boto3", &output).trim().to_owned()
}
