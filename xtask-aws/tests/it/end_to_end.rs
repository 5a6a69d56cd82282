//! The whole release path of the pipeline, rehearsed against the emulator.

use std::{process::Command, sync::Mutex};

use expect_test::expect;
use xtask::domain::publishing::digest::sha256_hex;

use crate::support::{git, text, workspace, workspace_root, xtask_command};

/// A rehearsal works in the checkout's target directory: one at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// The report with what varies between runs (timings, the commit, the release name)
/// replaced by placeholders. A step's line is `  <state, 7 wide> <seconds, 6 wide>s  <label>`.
fn report(stdout: &str) -> String {
    let report = &stdout[stdout.find("\nRehearsal report").expect("a report") + 1..];
    let constants = workspace().constants().unwrap();
    let lines: Vec<String> = report
        .lines()
        .map(|line| match (line.get(..10), line.get(16..18)) {
            (Some(state), Some("s ")) => format!("{state}<time>{}", &line[17..]),
            _ => line.to_owned(),
        })
        .collect();
    let text = lines.join("\n");
    let commit = text.split("commit ").nth(1).and_then(|rest| rest.split(')').next()).unwrap_or_default().to_owned();
    let name = text.split("release ").nth(1).and_then(|rest| rest.split([',', ')']).next()).unwrap_or_default();
    let text = text.replace(&commit, "<commit>").replace(name, "<name>");
    text.replace(&constants.readyset_tag, "<tag>").replace(&constants.cfn_version, "<cfn>")
}

/// A Cargo target directory other than `target/`, as agents and laptops set with
/// `CARGO_TARGET_DIR`: hard links of the checkout's build (so nothing recompiles), with an
/// xtask-aws binary of its own (a marker appended), so the test can tell which one the
/// pipeline's steps ran.
fn other_target_dir() -> (tempfile::TempDir, String) {
    let target = workspace_root().join("target");
    let other = tempfile::Builder::new().prefix("other-target-").tempdir_in(&target).unwrap();
    // `release` holds the host's build scripts and proc macros of the installer's build.
    for dir in ["debug", "release", "x86_64-unknown-linux-musl"].into_iter().filter(|dir| target.join(dir).exists()) {
        let status = Command::new("cp").arg("-al").arg(target.join(dir)).arg(other.path()).status().unwrap();
        assert!(status.success(), "cannot hard-link {dir} into {}", other.path().display());
    }
    // Cargo copies debug/xtask-aws from its file in debug/deps (a hard link of it), so
    // that file is the one marked.
    let uplifted = other.path().join("debug/xtask-aws");
    let inode = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&uplifted).unwrap());
    let deps = std::fs::read_dir(other.path().join("debug/deps")).unwrap().map(|entry| entry.unwrap().path());
    let built = deps
        .into_iter()
        .find(|path| std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(path).unwrap()) == inode)
        .expect("debug/xtask-aws is a hard link of a file in debug/deps");
    let mut bytes = std::fs::read(&built).unwrap();
    bytes.extend_from_slice(b"\0built in the other target directory\0");
    for binary in [&built, &uplifted] {
        std::fs::remove_file(binary).unwrap();
        std::fs::write(binary, &bytes).unwrap();
        std::fs::set_permissions(binary, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    }
    (other, sha256_hex(&bytes))
}

/// The whole path, with `CARGO_TARGET_DIR` set: the steps run the binary built there.
/// The release is named after the commit and set by `cargo xtask release` in a scratch
/// clone: this checkout's constants and branches stay as they were.
#[test]
fn the_release_path_of_the_pipeline_rehearses_end_to_end() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let (other, sha256) = other_target_dir();
    let constants = std::fs::read(workspace_root().join("installer/src/constants.rs")).unwrap();
    let head = git(&workspace_root(), &["rev-parse", "HEAD"]);
    let output = xtask_command()
        .args(["rehearse", "--no-install"])
        .env("CARGO_TARGET_DIR", other.path())
        .current_dir(workspace_root())
        .output()
        .unwrap();
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "rehearse failed:\n{stdout}\n{}", text(&output.stderr));
    assert!(stdout.contains(&format!("target/pipeline/xtask-aws: sha256 {sha256}")), "{stdout}");
    let name = format!("rehearsal-{}", &head[..8]);
    assert!(stdout.contains(&format!("$ cargo xtask release {name}    # in the scratch checkout")), "{stdout}");
    assert!(stdout.contains(&format!("\nRehearsal report (release {name}, commit ")), "{stdout}");
    assert_eq!(std::fs::read(workspace_root().join("installer/src/constants.rs")).unwrap(), constants);
    assert_eq!(git(&workspace_root(), &["branch", "--list", &format!("release/{name}")]), "");
    expect![[r#"
        Rehearsal report (release <name>, commit <commit>):
          skip    <time>  :rust: Checks and tests  (the checks and tests are what run this rehearsal)
          ok      <time>  :rust: Build the xtask
          ok      <time>  :amazon-ec2: Build AMIs and CloudFormation templates  (unblocked)
          ok      <time>  :packer: Internal AMIs  (skipped preflight: the emulator's site stands in for production with a public-read installer bucket instead of CloudFront's origin access control; the tests run preflight against ops/release-infra deployed to an emulator; the images are not provisioned: the emulator runs no instance (the provisioning scripts are tested in a Debian 12 root))
          ok      <time>  :aws-cloudformation: Internal templates
          ok      <time>  :fire: Smoke test of the templates  (the stack's instances do not boot, so no UserData runs; each template's UserData is tested in a provisioned Debian 12 root)
          ok      <time>  :rocket: Deploy :amazon-ec2: AMIs and :aws-cloudformation: CloudFormation release  (answered release-name = <name>)
          ok      <time>  :white_check_mark: Release name matches the constants
          ok      <time>  :amazon-ec2: Release AMIs (copies of the tested ones)  (skipped preflight: the emulator's site stands in for production with a public-read installer bucket instead of CloudFront's origin access control; the tests run preflight against ops/release-infra deployed to an emulator; 12 copies of the internal AMIs the smoke test launched (SourceAmi checked in EC2))
          ok      <time>  :aws-cloudformation: Release templates
          ok      <time>  :linux: Installer for Linux
          ok      <time>  :linux: Installer for Linux, built again to compare
          skip    <time>  :mac: Installers for macOS  (needs a macOS agent; its targets are left out of the publish)
          ok      <time>  :rocket: Publish the installer  (skipped the download of target/dist/*/*-apple-darwin* (its step did not run); signed with the emulator's KMS key and checked with its public half, not the committed key (whose private half is in production's KMS))
          ok      <time>  :white_check_mark: Verify the release  (the signature checked with the emulator key's public half, written to a PEM file)
          ok      <time>  Run the installer through the published wrapper  (readyset-installer <name> (CloudFormation templates <name>))
          Not rehearsed (no macOS agent here): x86_64-apple-darwin, aarch64-apple-darwin
        The release path of .buildkite/pipeline.yml works end to end."#]].assert_eq(&report(&stdout));
}

#[test]
fn a_release_name_that_differs_from_the_constants_stops_the_rehearsal_at_the_check() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let output = xtask_command()
        .args(["rehearse", "--no-install", "--type-release-name", "v-not-in-the-constants"])
        .current_dir(workspace_root())
        .output()
        .unwrap();
    let stdout = text(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    expect![[r#"
        Rehearsal report (release <name>, typed as v-not-in-the-constants, commit <commit>):
          skip    <time>  :rust: Checks and tests  (the checks and tests are what run this rehearsal)
          ok      <time>  :rust: Build the xtask
          ok      <time>  :amazon-ec2: Build AMIs and CloudFormation templates  (unblocked)
          ok      <time>  :packer: Internal AMIs  (skipped preflight: the emulator's site stands in for production with a public-read installer bucket instead of CloudFront's origin access control; the tests run preflight against ops/release-infra deployed to an emulator; the images are not provisioned: the emulator runs no instance (the provisioning scripts are tested in a Debian 12 root))
          ok      <time>  :aws-cloudformation: Internal templates
          ok      <time>  :fire: Smoke test of the templates  (the stack's instances do not boot, so no UserData runs; each template's UserData is tested in a provisioned Debian 12 root)
          ok      <time>  :rocket: Deploy :amazon-ec2: AMIs and :aws-cloudformation: CloudFormation release  (answered release-name = v-not-in-the-constants)
          FAIL    <time>  :white_check_mark: Release name matches the constants  (`.buildkite/xtask.sh release --check` failed: bash exit status: 1)
          not run <time>  :amazon-ec2: Release AMIs (copies of the tested ones)  (an earlier step failed)
          not run <time>  :aws-cloudformation: Release templates  (an earlier step failed)
          not run <time>  :linux: Installer for Linux  (an earlier step failed)
          not run <time>  :linux: Installer for Linux, built again to compare  (an earlier step failed)
          not run <time>  :mac: Installers for macOS  (an earlier step failed)
          not run <time>  :rocket: Publish the installer  (an earlier step failed)
          not run <time>  :white_check_mark: Verify the release  (an earlier step failed)
          Not rehearsed (no macOS agent here): x86_64-apple-darwin, aarch64-apple-darwin"#]].assert_eq(&report(&stdout));
    assert!(text(&output.stderr).contains("does not match release v-not-in-the-constants"));
}

#[test]
fn a_rehearsal_refuses_an_endpoint_that_is_not_this_machine() {
    let output = xtask_command()
        .args(["rehearse", "--no-install"])
        .env("AWS_ENDPOINT_URL", "https://s3.us-east-2.amazonaws.com")
        .current_dir(workspace_root())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    expect![[r#"
        error: AWS_ENDPOINT_URL is "https://s3.us-east-2.amazonaws.com", which is not this machine; the rehearsal writes to the production bucket names and runs only against an emulator on 127.0.0.1 or localhost. Nothing was started or written. Unset AWS_ENDPOINT_URL and the rehearsal starts its own emulator
    "#]].assert_eq(&text(&output.stderr));
}
