//! `build-installer` for real: cargo builds, strip strips, and the outputs are checked
//! with the tools a person would use (`sha256sum`, running the binary).

mod support;

use std::{path::Path, process::Command};

use support::workspace_root;
use xtask::{
    adapters::workspace::Workspace,
    commands::build_installer::{build, BuildPlan, Host},
    domain::{
        build_record::BuildRecord,
        config::{BuildHost, InstallerTarget},
        constants_file::ConstantsFile,
    },
};

fn constants() -> (String, String) {
    let text = std::fs::read_to_string(workspace_root().join("installer/src/constants.rs")).unwrap();
    let values = ConstantsFile::parse(&text).unwrap().values();
    (values.readyset_tag, values.cfn_version)
}

fn sha256sum(path: &Path) -> String {
    let output = Command::new("sha256sum").arg(path).output().expect("sha256sum (coreutils) runs");
    assert!(output.status.success());
    String::from_utf8(output.stdout).unwrap().split_whitespace().next().unwrap().to_owned()
}

/// Checks everything a build leaves behind against the tools a person would use.
fn check_outputs(plan: &BuildPlan, record: &BuildRecord) {
    let (tag, cfn) = constants();
    let binary = plan.binary();
    let hash = sha256sum(&binary);
    assert_eq!(record.sha256, hash);
    assert_eq!(record.size, std::fs::metadata(&binary).unwrap().len());
    assert!(
        record.size < std::fs::metadata(&plan.cargo_output).unwrap().len(),
        "the stripped binary is smaller than cargo's"
    );
    let on_disk: BuildRecord = serde_json::from_str(&std::fs::read_to_string(plan.record_file()).unwrap()).unwrap();
    assert_eq!(&on_disk, record);
    assert_eq!((record.readyset_tag.as_str(), record.cfn_version.as_str()), (tag.as_str(), cfn.as_str()));
    assert_eq!(record.commit.len(), 40);
    assert!(record.rustc.starts_with("rustc "));

    let checksum = std::fs::read_to_string(plan.checksum_file()).unwrap();
    assert_eq!(checksum, format!("{hash}  {}\n", plan.target.published_name));
    let verified = Command::new("sha256sum")
        .args(["--check", "--strict"])
        .arg(plan.checksum_file().file_name().unwrap())
        .current_dir(&plan.out_dir)
        .output()
        .unwrap();
    assert!(verified.status.success(), "sha256sum -c: {}", String::from_utf8_lossy(&verified.stdout));

    let version = Command::new(&binary).arg("--version").output().unwrap();
    assert!(version.status.success());
    assert_eq!(
        String::from_utf8(version.stdout).unwrap(),
        format!("readyset-installer {tag} (CloudFormation templates {cfn})\n")
    );
}

#[test]
fn builds_the_static_musl_installer_through_the_cli() {
    // The real command line, as a Linux build agent runs it.
    let output = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["build-installer", "--target", "x86_64-unknown-linux-musl"])
        .current_dir(workspace_root())
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));

    let workspace = Workspace::at(&workspace_root()).unwrap();
    let sh = workspace.shell().unwrap();
    let target = workspace.config.target("x86_64-unknown-linux-musl").unwrap().clone();
    let plan = BuildPlan::new(&workspace, target, Host::detect(&sh).unwrap()).unwrap();
    assert!(plan.binary().ends_with(format!("target/dist/{}/x86_64-unknown-linux-gnu", constants().0)));
    let record: BuildRecord = serde_json::from_str(&std::fs::read_to_string(plan.record_file()).unwrap()).unwrap();
    assert_eq!(record.target, "x86_64-unknown-linux-musl");
    assert_eq!(record.published_name, "x86_64-unknown-linux-gnu");
    check_outputs(&plan, &record);
    assert!(!has_interpreter(&std::fs::read(plan.binary()).unwrap()), "the musl build is statically linked");
}

#[test]
fn builds_for_the_host_triple() {
    let workspace = Workspace::at(&workspace_root()).unwrap();
    let sh = workspace.shell().unwrap();
    let host = Host::detect(&sh).unwrap();
    // The host's own triple is not a published target on Linux; build it under a
    // test-only name into a directory of the test's own.
    let target = InstallerTarget {
        triple: host.triple.clone(),
        published_name: "host-test-build".into(),
        build_host: BuildHost::of_triple(&host.triple).unwrap(),
    };
    let out = tempfile::tempdir().unwrap();
    let mut plan = BuildPlan::new(&workspace, target, host).unwrap();
    plan.out_dir = out.path().to_owned();
    let record = build(&sh, &plan).unwrap();
    assert_eq!(record.published_name, "host-test-build");
    check_outputs(&plan, &record);
    if plan.target.triple.ends_with("-linux-gnu") {
        assert!(has_interpreter(&std::fs::read(plan.binary()).unwrap()), "a glibc build is dynamically linked");
    }
}

#[test]
fn dry_run_prints_the_commands_and_paths_and_builds_nothing() {
    let target_dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["build-installer", "--target", "x86_64-unknown-linux-musl", "--dry-run"])
        .env("CARGO_TARGET_DIR", target_dir.path())
        .current_dir(workspace_root())
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(stdout.contains("build --release --locked --package readyset-installer --bin readyset-installer --target x86_64-unknown-linux-musl"), "{stdout}");
    assert!(stdout.contains("strip -o "), "{stdout}");
    assert!(stdout.contains("x86_64-unknown-linux-gnu.sha256"), "{stdout}");
    assert!(stdout.contains("x86_64-unknown-linux-gnu.json"), "{stdout}");
    assert_eq!(std::fs::read_dir(target_dir.path()).unwrap().count(), 0, "nothing was built or written");
}

#[test]
fn bad_targets_and_bad_constants_are_refused_before_building() {
    let run = |dir: &Path, args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_xtask")).args(args).current_dir(dir).output().unwrap()
    };
    let root = workspace_root();
    let unknown = run(&root, &["build-installer", "--target", "x86_64-pc-windows-msvc"]);
    assert_eq!(unknown.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&unknown.stderr);
    assert!(stderr.contains("not an installer target") && stderr.contains("aarch64-apple-darwin"), "{stderr}");
    let wrong_host = run(&root, &["build-installer", "--target", "aarch64-apple-darwin"]);
    assert_eq!(wrong_host.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&wrong_host.stderr).contains("built on macos build hosts"));

    // A checkout whose constants carry a name that the release rules refuse.
    let checkout = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(checkout.path().join("installer/src")).unwrap();
    std::fs::write(checkout.path().join("Cargo.toml"), "[workspace]\nmembers = []\n").unwrap();
    for (tag, cfn, complaint) in [
        ("v1 beta", "v1", "READYSET_TAG in installer/src/constants.rs is not a valid release name"),
        ("v1", "latest", "CFN_VERSION in installer/src/constants.rs is not a valid release name"),
    ] {
        std::fs::write(
            checkout.path().join("installer/src/constants.rs"),
            format!("pub const READYSET_TAG: &str = \"{tag}\";\npub const CFN_VERSION: &str = \"{cfn}\";\n"),
        )
        .unwrap();
        let refused = run(checkout.path(), &["build-installer", "--target", "x86_64-unknown-linux-musl"]);
        assert_eq!(refused.status.code(), Some(1));
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert!(stderr.contains(complaint) && stderr.contains("cargo xtask release"), "{stderr}");
    }
    assert!(!checkout.path().join("target").exists(), "nothing was built");
}

/// Whether an ELF executable asks for a dynamic loader (has a PT_INTERP segment).
fn has_interpreter(elf: &[u8]) -> bool {
    assert_eq!(&elf[..4], b"\x7fELF");
    assert_eq!(elf[4], 2, "64-bit ELF");
    let u16_at = |at: usize| u16::from_le_bytes(elf[at..at + 2].try_into().unwrap()) as usize;
    let program_headers = u64::from_le_bytes(elf[0x20..0x28].try_into().unwrap()) as usize;
    let (entry_size, count) = (u16_at(0x36), u16_at(0x38));
    assert!(count > 0);
    (0..count).any(|i| {
        let at = program_headers + i * entry_size;
        u32::from_le_bytes(elf[at..at + 4].try_into().unwrap()) == 3
    })
}
