//! AMIs in the emulator: Packer runs of the xtask, and what EC2 says about an image,
//! read with the AWS CLI so the checks do not trust the xtask's own EC2 code.

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
    pub snapshots: Vec<String>,
}

fn cli_json(site: &Site, args: &[&str]) -> serde_json::Value {
    let output = site.aws_cli(args);
    serde_json::from_slice(expect_success(&format!("aws {}", args.join(" ")), &output).as_bytes()).unwrap()
}

pub fn describe_image(site: &Site, region: &str, ami: &str) -> Described {
    let images =
        cli_json(site, &["ec2", "describe-images", "--region", region, "--image-ids", ami, "--output", "json"]);
    let image = &images["Images"][0];
    let tags = image["Tags"].as_array().map(|tags| {
        tags.iter().map(|t| (t["Key"].as_str().unwrap().to_owned(), t["Value"].as_str().unwrap().to_owned())).collect()
    });
    let snapshots = image["BlockDeviceMappings"].as_array().unwrap().iter();
    Described {
        name: image["Name"].as_str().unwrap().to_owned(),
        tags: tags.unwrap_or_default(),
        snapshots: snapshots.filter_map(|m| m["Ebs"]["SnapshotId"].as_str().map(String::from)).collect(),
    }
}

/// Who may launch an image, and who may create volumes from its snapshots.
#[derive(Debug, PartialEq, Eq)]
pub struct Access {
    pub launch: BTreeSet<String>,
    pub public: bool,
    /// Per snapshot of the image.
    pub volumes: Vec<BTreeSet<String>>,
}

pub fn image_access(site: &Site, region: &str, ami: &str) -> Access {
    let attribute = ["ec2", "describe-image-attribute", "--region", region, "--image-id", ami];
    let launch = cli_json(site, &[&attribute[..], &["--attribute", "launchPermission", "--output", "json"]].concat());
    let launch = launch["LaunchPermissions"].as_array().unwrap().clone();
    let snapshots = describe_image(site, region, ami).snapshots;
    let volumes = snapshots.iter().map(|snapshot| {
        let args = ["ec2", "describe-snapshot-attribute", "--region", region, "--snapshot-id", snapshot];
        let found =
            cli_json(site, &[&args[..], &["--attribute", "createVolumePermission", "--output", "json"]].concat());
        let permissions = found["CreateVolumePermissions"].as_array().unwrap();
        assert!(permissions.iter().all(|p| p.get("Group").is_none()), "snapshot {snapshot} is public");
        permissions.iter().filter_map(|p| p["UserId"].as_str().map(String::from)).collect()
    });
    Access {
        launch: launch.iter().filter_map(|p| p["UserId"].as_str().map(String::from)).collect(),
        public: launch.iter().any(|p| p["Group"] == "all"),
        volumes: volumes.collect(),
    }
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
