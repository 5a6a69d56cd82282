//! A release site in the emulator for one test: its own emulator (so tests may reset
//! or break it freely), the three buckets, a CloudFront distribution, and a temporary
//! checkout whose release configuration names that distribution.

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
};

use xtask::{
    adapters::{aws::Aws, emulator::Emulator},
    domain::build_record::{checksum_line, sha256_hex, BuildRecord},
};

use super::{create_bucket, workspace_root, REGION};

pub const ORCHESTRATOR: &str = "readysettech-orchestrator-us-east-2";
pub const CFN_PUBLIC: &str = "readysettech-cfn-public-us-east-2";
pub const CFN_INTERNAL: &str = "readysettech-cfn-internal-us-east-2";
pub const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

pub struct Site {
    pub emulator: Emulator,
    pub aws: Aws,
    pub distribution: String,
    pub checkout: tempfile::TempDir,
    pub runtime: tokio::runtime::Runtime,
}

impl Site {
    pub fn new() -> Site {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let python = xtask::adapters::emulator::python(&workspace_root());
        let emulator = Emulator::start(&python).unwrap_or_else(|error| panic!("{error:#}"));
        let aws = runtime.block_on(async { Aws::from_sdk_config(&emulator.sdk_config(REGION).await) });
        let distribution = runtime.block_on(async {
            for bucket in [ORCHESTRATOR, CFN_PUBLIC, CFN_INTERNAL] {
                create_bucket(&aws, bucket).await;
            }
            // Customers read the orchestrator bucket anonymously (through CloudFront in
            // production); a public-read policy lets plain HTTP GETs stand in for that.
            let policy = format!(
                r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::{ORCHESTRATOR}/*"}}]}}"#
            );
            aws.s3.put_bucket_policy().bucket(ORCHESTRATOR).policy(policy).send().await.unwrap();
            xtask::adapters::emulator::create_distribution(&aws.cloudfront, ORCHESTRATOR).await.unwrap()
        });
        let checkout = tempfile::tempdir().unwrap();
        let manifest = std::fs::read_to_string(workspace_root().join("Cargo.toml")).unwrap().replace(
            "cloudfront-distribution = \"EGUPZSIU4Q3J9\"",
            &format!("cloudfront-distribution = \"{distribution}\""),
        );
        assert!(manifest.contains(&distribution));
        std::fs::write(checkout.path().join("Cargo.toml"), manifest).unwrap();
        std::fs::create_dir_all(checkout.path().join("installer")).unwrap();
        std::fs::copy(
            workspace_root().join("installer/readyset-orchestrator.sh"),
            checkout.path().join("installer/readyset-orchestrator.sh"),
        )
        .unwrap();
        copy_dir(&workspace_root().join("ops"), &checkout.path().join("ops"));
        Site { emulator, aws, distribution, checkout, runtime }
    }

    /// Runs the `aws` CLI against the emulator.
    pub fn aws_cli(&self, args: &[&str]) -> Output {
        self.command(aws_cli()).args(args).output().expect("the aws CLI runs")
    }

    pub fn xtask(&self, args: &[&str]) -> Output {
        self.xtask_with_env(args, &[])
    }

    /// Runs the xtask with extra environment variables (as a Buildkite agent sets them).
    pub fn xtask_with_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut command = self.command(env!("CARGO_BIN_EXE_xtask"));
        command.args(args).current_dir(self.checkout.path()).envs(env.iter().copied());
        command.output().unwrap()
    }

    /// A command whose AWS calls go to this site's emulator.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut command = Command::new(program);
        command.envs(self.emulator.env(REGION));
        command
    }

    /// Runs the xtask and fails the test with its output when it fails.
    pub fn xtask_ok(&self, args: &[&str]) -> String {
        let output = self.xtask(args);
        assert!(
            output.status.success(),
            "cargo xtask {args:?} failed:\n{}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    }

    /// The public URL of the orchestrator bucket, path-style, served by the emulator.
    pub fn base_url(&self) -> String {
        format!("{}/{ORCHESTRATOR}", self.emulator.endpoint())
    }

    pub fn publish_templates(&self, cfn_version: &str) {
        self.runtime.block_on(async {
            for name in public_templates() {
                self.aws
                    .s3
                    .put_object()
                    .bucket(CFN_PUBLIC)
                    .key(format!("{cfn_version}/readyset/templates/{name}.yaml"))
                    .body(format!("Description: {name}\n").into_bytes().into())
                    .send()
                    .await
                    .unwrap();
            }
        });
    }

    pub fn get(&self, key: &str) -> Option<Vec<u8>> {
        self.runtime.block_on(async {
            let object = self.aws.s3.get_object().bucket(ORCHESTRATOR).key(key).send().await.ok()?;
            Some(object.body.collect().await.unwrap().into_bytes().to_vec())
        })
    }

    pub fn head(&self, key: &str) -> Option<aws_sdk_s3::operation::head_object::HeadObjectOutput> {
        self.runtime.block_on(async { self.aws.s3.head_object().bucket(ORCHESTRATOR).key(key).send().await.ok() })
    }

    pub fn keys(&self) -> Vec<String> {
        self.runtime.block_on(async {
            let listed = self.aws.s3.list_objects_v2().bucket(ORCHESTRATOR).send().await.unwrap();
            listed.contents().iter().filter_map(|o| o.key().map(String::from)).collect()
        })
    }

    pub fn invalidations(&self) -> Vec<String> {
        self.runtime.block_on(async {
            let listed =
                self.aws.cloudfront.list_invalidations().distribution_id(&self.distribution).send().await.unwrap();
            listed.invalidation_list().map(|l| l.items().iter().map(|i| i.id.clone()).collect()).unwrap_or_default()
        })
    }
}

/// The configured targets: (triple, published name).
pub const TARGETS: [(&str, &str); 3] = [
    ("x86_64-unknown-linux-musl", "x86_64-unknown-linux-gnu"),
    ("x86_64-apple-darwin", "x86_64-apple-darwin"),
    ("aarch64-apple-darwin", "aarch64-apple-darwin"),
];

/// Writes what `build-installer` would leave for one target, with the given bytes.
pub fn write_build(dir: &Path, tag: &str, triple: &str, name: &str, bytes: &[u8]) -> BuildRecord {
    write_build_of_commit(dir, tag, COMMIT, triple, name, bytes)
}

/// The commit a real build recorded, so stand-ins for other machines can agree with it.
pub fn commit_of(record: &Path) -> String {
    let record: BuildRecord = serde_json::from_slice(&std::fs::read(record).unwrap()).unwrap();
    record.commit
}

pub fn write_build_of_commit(
    dir: &Path,
    tag: &str,
    commit: &str,
    triple: &str,
    name: &str,
    bytes: &[u8],
) -> BuildRecord {
    std::fs::create_dir_all(dir).unwrap();
    let record = BuildRecord {
        target: triple.into(),
        published_name: name.into(),
        size: bytes.len() as u64,
        sha256: sha256_hex(bytes),
        readyset_tag: tag.into(),
        cfn_version: tag.into(),
        commit: commit.into(),
        dirty: false,
        rustc: "rustc 1.95.0".into(),
        build_host: "test".into(),
    };
    std::fs::write(dir.join(name), bytes).unwrap();
    std::fs::write(dir.join(format!("{name}.sha256")), checksum_line(&record.sha256, name)).unwrap();
    std::fs::write(dir.join(format!("{name}.json")), serde_json::to_string_pretty(&record).unwrap()).unwrap();
    record
}

/// Synthetic builds of every target for a tag, as if downloaded from three machines.
pub fn synthetic_artifacts(tag: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (index, (triple, name)) in TARGETS.iter().enumerate() {
        let machine: PathBuf = dir.path().join(format!("agent-{index}/target/dist/{tag}"));
        write_build(&machine, tag, triple, name, format!("#!/bin/sh\necho {name} {tag}\n").as_bytes());
    }
    dir
}

/// The real output of `cargo xtask build-installer --target x86_64-unknown-linux-musl`
/// in this checkout, built once per test binary and copied into `dir`. Returns the tag.
pub fn real_linux_build(dir: &Path) -> String {
    use std::sync::OnceLock;
    static BUILT: OnceLock<(PathBuf, String)> = OnceLock::new();
    let (dist, tag) = BUILT.get_or_init(|| {
        let output = Command::new(env!("CARGO_BIN_EXE_xtask"))
            .args(["build-installer", "--target", "x86_64-unknown-linux-musl"])
            .current_dir(workspace_root())
            .output()
            .unwrap();
        assert!(output.status.success(), "build-installer: {}", String::from_utf8_lossy(&output.stderr));
        let constants = std::fs::read_to_string(workspace_root().join("installer/src/constants.rs")).unwrap();
        let tag = xtask::domain::constants_file::ConstantsFile::parse(&constants).unwrap().values().readyset_tag;
        (workspace_root().join("target/dist").join(&tag), tag)
    });
    std::fs::create_dir_all(dir).unwrap();
    for file in ["x86_64-unknown-linux-gnu", "x86_64-unknown-linux-gnu.sha256", "x86_64-unknown-linux-gnu.json"] {
        std::fs::copy(dist.join(file), dir.join(file)).unwrap();
    }
    tag.clone()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_dir(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}

/// The AWS CLI from the CI venv, else from PATH; a clear failure when neither exists.
pub fn aws_cli() -> PathBuf {
    let venv = xtask::adapters::emulator::ci_venv(&workspace_root()).join("bin/aws");
    if venv.exists() {
        return venv;
    }
    xtask::adapters::tools::which("aws")
        .expect("the AWS CLI is not installed: run `cargo xtask ci` (it installs it into target/ci-venv) or `pip install awscli`")
}

/// The public templates, as the release configuration lists them.
pub fn public_templates() -> Vec<String> {
    let config = xtask::adapters::workspace::Workspace::at(&workspace_root()).unwrap().config;
    config.public_templates().map(|template| template.name.clone()).collect()
}
