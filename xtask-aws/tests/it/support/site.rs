//! A release site in the emulator for one test: an emulator of its own while the test
//! runs (so tests may break it freely and run in parallel), the buckets and the
//! CloudFront distribution the configuration names, and a temporary checkout with the
//! repository's configuration, wrapper template and ops files.
//!
//! Emulators are reused: when a test's site goes, its emulator is reset (every service
//! emptied, faults off) and waits in a pool for the next test, instead of a new moto
//! starting for each test (about a second of CPU each). An emulator that enforces IAM
//! is never reused.

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
    sync::Mutex,
};

use xtask::{
    adapters::toolchain,
    commands::build_installer::Host,
    domain::{
        names::commit::CommitId,
        names::tag::ReleaseTag,
        publishing::build_record::BuildRecord,
        publishing::digest::{checksum_line, sha256_hex},
    },
};
use xtask_aws::adapters::{
    emulator::{self, Emulator, Options},
    manifest_signature::{self, ReleaseKey},
    site::Site as AwsSite,
};

use super::{clear_aws_environment, config, expect_success, workspace, workspace_root, COMMIT, REGION};

pub struct Site {
    pub emulator: Pooled,
    pub aws: AwsSite,
    pub checkout: tempfile::TempDir,
    pub runtime: tokio::runtime::Runtime,
}

impl Site {
    pub fn new() -> Site {
        Site::with(false)
    }

    /// A site whose emulator enforces IAM: the site's own calls use the administrator's
    /// keys, and a test makes users with the policies it wants to prove.
    pub fn with_iam() -> Site {
        Site::with(true)
    }

    /// An empty account: none of the resources the configuration names exist yet (an
    /// administrator's first day, before `ops/release-infra/` is deployed).
    pub fn bare(iam: bool) -> Site {
        Site::made(iam, false)
    }

    fn with(iam: bool) -> Site {
        Site::made(iam, true)
    }

    fn made(iam: bool, populated: bool) -> Site {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let emulator = Pooled::take(iam);
        let aws = runtime.block_on(async { AwsSite::from_sdk_config(config(), emulator.sdk_config(REGION).await) });
        if populated {
            runtime.block_on(emulator::create_site(&aws)).unwrap();
        }
        let checkout = tempfile::tempdir().unwrap();
        for file in [
            "Cargo.toml",
            "installer/readyset-orchestrator.sh",
            "installer/readyset-check.sh",
            "installer/src/constants.rs",
        ] {
            let to = checkout.path().join(file);
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::copy(workspace_root().join(file), to).unwrap();
        }
        copy_dir(&workspace_root().join("ops"), &checkout.path().join("ops"));
        Site { emulator, aws, checkout, runtime }
    }

    pub fn orchestrator(&self) -> &str {
        &config().orchestrator_bucket
    }

    /// Runs the `aws` CLI against the emulator.
    pub fn aws_cli(&self, args: &[&str]) -> Output {
        self.command(super::venv_tool("aws", "awscli")).args(args).output().expect("the aws CLI runs")
    }

    /// The site checkout's `target/`, where the xtask writes its outputs.
    pub fn output_dir(&self) -> OutputDir {
        OutputDir(self.checkout.path().join("target"))
    }

    /// A user of the emulator's IAM with one inline policy (IAM is enforced only in a
    /// site made `with_iam`); returns the keys as environment variables.
    pub fn iam_user(&self, name: &str, policy: &str) -> Vec<(&'static str, String)> {
        let iam =
            |args: &[&str]| expect_success(&format!("aws iam {}", args[0]), &self.aws_cli(&[&["iam"], args].concat()));
        iam(&["create-user", "--user-name", name]);
        iam(&["put-user-policy", "--user-name", name, "--policy-name", "test", "--policy-document", policy]);
        let key: serde_json::Value =
            serde_json::from_str(&iam(&["create-access-key", "--user-name", name, "--output", "json"])).unwrap();
        let field = |name: &str| key["AccessKey"][name].as_str().unwrap().to_owned();
        vec![("AWS_ACCESS_KEY_ID", field("AccessKeyId")), ("AWS_SECRET_ACCESS_KEY", field("SecretAccessKey"))]
    }

    pub fn xtask(&self, args: &[impl AsRef<std::ffi::OsStr>]) -> Output {
        let mut command = self.command(env!("CARGO_BIN_EXE_xtask-aws"));
        command.args(args).current_dir(self.checkout.path());
        command.output().unwrap()
    }

    /// Runs the xtask in the site's checkout with extra environment variables (as a
    /// Buildkite agent sets them).
    pub fn xtask_with_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut command = self.command(env!("CARGO_BIN_EXE_xtask-aws"));
        command.args(args).current_dir(self.checkout.path()).envs(env.iter().copied());
        command.output().unwrap()
    }

    /// A command whose AWS calls go to this site's emulator, and nowhere else.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut command = Command::new(program);
        clear_aws_environment(&mut command);
        command.envs(self.emulator.env(REGION));
        command
    }

    /// Runs the xtask and fails the test with its output when it fails.
    pub fn xtask_ok(&self, args: &[&str]) -> String {
        expect_success(&format!("cargo xtask {}", args.join(" ")), &self.xtask(args))
    }

    /// `verify` of a release, reading the installers and the templates from this site's
    /// emulator (never from their production URLs).
    pub fn verify_args(&self, tag: &str) -> Vec<String> {
        let (base, s3) = (self.base_url(), self.emulator.endpoint());
        ["verify", tag, "--base-url", &base, "--s3-url", &s3].map(String::from).to_vec()
    }

    pub fn verify(&self, tag: &str) -> String {
        let args = self.verify_args(tag);
        self.xtask_ok(&args.iter().map(String::as_str).collect::<Vec<_>>())
    }

    /// A signature of `message` by the emulator's signing key, as publish makes one.
    pub async fn sign(&self, message: &[u8]) -> Vec<u8> {
        let key = ReleaseKey::of_kms_key(&self.aws).await.unwrap_or_else(|error| panic!("{error:#}"));
        manifest_signature::sign(&self.aws, &key, message).await.unwrap_or_else(|error| panic!("{error:#}"))
    }

    /// Makes the emulator fail a share of the signed calls (see the launcher); `[]` stops it.
    pub fn set_faults(&self, rules: &str) {
        self.emulator.set_faults(rules).unwrap_or_else(|error| panic!("{error:#}"));
    }

    /// The public URL of the orchestrator bucket, path-style, served by the emulator.
    pub fn base_url(&self) -> String {
        format!("{}/{}", self.emulator.endpoint(), self.orchestrator())
    }

    /// The same URL over HTTPS, as CloudFront serves customers; `trust_https` makes a
    /// download tool accept the emulator's certificate.
    pub fn https_base_url(&self) -> String {
        format!("{}/{}", self.emulator.tls_endpoint(), self.orchestrator())
    }

    /// Trust the emulator's certificate: curl through `CURL_CA_BUNDLE`, OpenSSL through
    /// `SSL_CERT_FILE`, GNU wget through a `WGETRC` written to `scratch`.
    pub fn trust_https(&self, command: &mut std::process::Command, scratch: &Path) {
        let certificate = self.emulator.certificate();
        let wgetrc = scratch.join("wgetrc");
        std::fs::write(&wgetrc, format!("ca_certificate = {}\n", certificate.display())).unwrap();
        command.env("CURL_CA_BUNDLE", &certificate).env("SSL_CERT_FILE", &certificate).env("WGETRC", wgetrc);
    }

    /// Puts a stand-in for every public template of a CFN version in the public bucket.
    /// What `cfn upload --release` leaves for a CFN version: the public templates (stand-ins)
    /// and `amis.json` beside them.
    pub fn publish_templates(&self, cfn_version: &str) {
        self.runtime.block_on(async {
            let files = public_templates()
                .into_iter()
                .map(|name| (format!("{name}.yaml"), format!("Description: {name}\n")))
                .chain([("amis.json".to_owned(), stand_in_amis_file(cfn_version))]);
            for (file, body) in files {
                self.aws
                    .s3
                    .put_object()
                    .bucket(&config().cfn_public_bucket)
                    .key(format!("{cfn_version}/readyset/templates/{file}"))
                    .body(body.into_bytes().into())
                    .send()
                    .await
                    .unwrap();
            }
        });
    }

    pub fn put_in(&self, bucket: &str, key: &str, bytes: &[u8]) {
        let request = self.aws.s3.put_object().bucket(bucket).key(key).body(bytes.to_vec().into());
        self.runtime.block_on(request.send()).unwrap();
    }

    pub fn put(&self, key: &str, bytes: &[u8]) {
        let request = self.aws.s3.put_object().bucket(self.orchestrator()).key(key).body(bytes.to_vec().into());
        self.runtime.block_on(request.send()).unwrap();
    }

    pub fn get(&self, key: &str) -> Option<Vec<u8>> {
        self.runtime.block_on(async {
            let object = self.aws.s3.get_object().bucket(self.orchestrator()).key(key).send().await.ok()?;
            Some(object.body.collect().await.unwrap().into_bytes().to_vec())
        })
    }

    pub fn head(&self, key: &str) -> Option<aws_sdk_s3::operation::head_object::HeadObjectOutput> {
        self.runtime
            .block_on(async { self.aws.s3.head_object().bucket(self.orchestrator()).key(key).send().await.ok() })
    }

    pub fn keys(&self) -> Vec<String> {
        self.keys_of(self.orchestrator())
    }

    pub fn keys_of(&self, bucket: &str) -> Vec<String> {
        self.runtime.block_on(async {
            let listed = self.aws.s3.list_objects_v2().bucket(bucket).send().await.unwrap();
            let mut keys: Vec<String> = listed.contents().iter().filter_map(|o| o.key().map(String::from)).collect();
            keys.sort();
            keys
        })
    }

    pub fn invalidations(&self) -> Vec<String> {
        self.runtime.block_on(async {
            let listed = self
                .aws
                .cloudfront
                .list_invalidations()
                .distribution_id(&config().cloudfront_distribution)
                .send()
                .await
                .unwrap();
            listed.invalidation_list().map(|l| l.items().iter().map(|i| i.id.clone()).collect()).unwrap_or_default()
        })
    }
}

/// Emulators reset and ready for another test.
static POOL: Mutex<Vec<Emulator>> = Mutex::new(Vec::new());

/// A test's emulator: from the pool or new, and back to the pool (reset) when the test
/// is done with it, also when it failed.
pub struct Pooled {
    emulator: Option<Emulator>,
    reusable: bool,
}

impl Pooled {
    fn take(iam: bool) -> Pooled {
        let pooled = if iam { None } else { POOL.lock().unwrap_or_else(|p| p.into_inner()).pop() };
        let emulator = pooled.unwrap_or_else(|| {
            let python = toolchain::python(&workspace());
            let options =
                Options { distribution_id: Some(&config().cloudfront_distribution), iam, ..Options::default() };
            Emulator::start(&python, &options).unwrap_or_else(|error| panic!("{error:#}"))
        });
        Pooled { emulator: Some(emulator), reusable: !iam }
    }
}

impl std::ops::Deref for Pooled {
    type Target = Emulator;
    fn deref(&self) -> &Emulator {
        self.emulator.as_ref().expect("an emulator until the site is dropped")
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        let Some(emulator) = self.emulator.take() else { return };
        // One that cannot be reset (or enforces IAM) is stopped, as before pooling.
        if self.reusable && emulator.reset().is_ok() {
            POOL.lock().unwrap_or_else(|p| p.into_inner()).push(emulator);
        }
    }
}

/// The configured targets: (triple, published name).
/// An AMIs file as `cfn upload --release` leaves it beside the templates, naming one
/// server image that exists nowhere.
fn stand_in_amis_file(cfn_version: &str) -> String {
    let images = r#"{"readyset-server": {"us-east-2": "ami-0123456789abcdef0"}}"#;
    format!(
        "{{\"stage\": \"release\", \"commit\": \"{COMMIT}\", \"release\": \"{cfn_version}\", \"images\": {images}}}\n"
    )
}

pub fn targets() -> Vec<(String, String)> {
    config().targets.iter().map(|t| (t.triple.clone(), t.published_name.clone())).collect()
}

/// Writes what `build-installer` would leave for one target, with the given bytes.
pub fn write_build(dir: &Path, tag: &str, triple: &str, name: &str, bytes: &[u8]) -> BuildRecord {
    write_build_of_commit(dir, tag, COMMIT, triple, name, bytes)
}

/// The commit a real build recorded, so stand-ins for other machines can agree with it.
pub fn commit_of(record: &Path) -> String {
    let record: BuildRecord = serde_json::from_slice(&std::fs::read(record).unwrap()).unwrap();
    record.commit.to_string()
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
        readyset_tag: ReleaseTag::parse(tag).unwrap(),
        cfn_version: ReleaseTag::parse(tag).unwrap(),
        commit: CommitId::parse(commit).unwrap(),
        dirty: false,
        rustc: rustc_version(),
        build_host: "test".into(),
    };
    std::fs::write(dir.join(name), bytes).unwrap();
    std::fs::write(dir.join(format!("{name}.sha256")), checksum_line(&record.sha256, name)).unwrap();
    std::fs::write(dir.join(format!("{name}.json")), serde_json::to_string_pretty(&record).unwrap()).unwrap();
    record
}

/// The compiler as `build-installer` records it, so stand-ins agree with a real build.
pub fn rustc_version() -> String {
    use std::sync::OnceLock;
    static VERSION: OnceLock<String> = OnceLock::new();
    VERSION.get_or_init(|| Host::detect(&workspace()).unwrap().rustc).clone()
}

/// Synthetic builds of every target for a tag, as if downloaded from three machines.
pub fn synthetic_artifacts(tag: &str) -> tempfile::TempDir {
    synthetic_artifacts_of_commit(tag, COMMIT)
}

/// The same, recorded as built from `commit`.
pub fn synthetic_artifacts_of_commit(tag: &str, commit: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (index, (triple, name)) in targets().iter().enumerate() {
        let machine: PathBuf = dir.path().join(format!("agent-{index}/target/dist/{tag}"));
        let bytes = format!("#!/bin/sh\necho {name} {tag}\n");
        write_build_of_commit(&machine, tag, commit, triple, name, bytes.as_bytes());
    }
    dir
}

/// The real output of `cargo xtask build-installer --target x86_64-unknown-linux-musl`
/// in this checkout, built once per test binary and copied into `dir`. Returns the tag.
pub fn real_linux_build(dir: &Path) -> String {
    use std::sync::OnceLock;
    static BUILT: OnceLock<(PathBuf, String)> = OnceLock::new();
    let (dist, tag) = BUILT.get_or_init(|| {
        let output = super::xtask_command()
            .args(["build-installer", "--target", "x86_64-unknown-linux-musl"])
            .current_dir(workspace_root())
            .output()
            .unwrap();
        expect_success("build-installer", &output);
        let tag = workspace().constants().unwrap().readyset_tag;
        (workspace().dist_dir().join(&tag), tag)
    });
    std::fs::create_dir_all(dir).unwrap();
    // Copied by `cp`, not by this process: tests run the installer, and a write handle
    // this process held would be inherited by any child another test thread forks at
    // that moment, making exec fail with "Text file busy" (ETXTBSY) until that child execs.
    let files = ["x86_64-unknown-linux-gnu", "x86_64-unknown-linux-gnu.sha256", "x86_64-unknown-linux-gnu.json"];
    let output = std::process::Command::new("cp").args(files.map(|file| dist.join(file))).arg(dir).output().unwrap();
    expect_success("copying the built installer", &output);
    tag.clone()
}

fn copy_dir(from: &Path, to: &Path) {
    for entry in walkdir::WalkDir::new(from).into_iter().map(Result::unwrap).filter(|e| e.file_type().is_file()) {
        let target = to.join(entry.path().strip_prefix(from).unwrap());
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(entry.path(), &target).unwrap();
    }
}

/// The public templates, as the release configuration lists them.
pub fn public_templates() -> Vec<String> {
    config().public_templates().map(|template| template.name.clone()).collect()
}

/// A site checkout's `target/`.
pub struct OutputDir(PathBuf);

impl OutputDir {
    pub fn path(&self) -> &Path {
        &self.0
    }
}
