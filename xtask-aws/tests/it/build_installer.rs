//! `build-installer` for real: cargo builds, strip strips, and the outputs are checked
//! with the tools a person would use (`sha256sum`, running the binary).

use std::{path::Path, process::Command};

use expect_test::expect;
use xtask::{
    commands::build_installer::{build, BuildPlan, Host},
    domain::{
        config::{BuildHost, InstallerTarget},
        publishing::build_record::BuildRecord,
    },
};

use crate::support::{site::real_linux_build, text, workspace, workspace_root, xtask_command};

fn constants() -> (String, String) {
    let values = workspace().constants().unwrap();
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
    assert_eq!(record.commit.as_str().len(), 40);
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
    // The real command line, as a Linux build agent runs it: the build every test shares.
    real_linux_build(&tempfile::tempdir().unwrap().path().join("copy"));

    let workspace = workspace();
    let target = workspace.config.target("x86_64-unknown-linux-musl").unwrap().clone();
    let plan = BuildPlan::new(&workspace, target, Host::detect(&workspace).unwrap(), None).unwrap();
    assert!(plan.binary().ends_with(format!("target/dist/{}/x86_64-unknown-linux-gnu", constants().0)));
    let record: BuildRecord = serde_json::from_str(&std::fs::read_to_string(plan.record_file()).unwrap()).unwrap();
    assert_eq!(record.target, "x86_64-unknown-linux-musl");
    assert_eq!(record.published_name, "x86_64-unknown-linux-gnu");
    check_outputs(&plan, &record);
    assert!(!has_interpreter(&std::fs::read(plan.binary()).unwrap()), "the musl build is statically linked");
}

#[test]
fn builds_for_the_host_triple() {
    let workspace = workspace();
    let host = Host::detect(&workspace).unwrap();
    // The host's own triple is not a published target on Linux; build it under a
    // test-only name into a directory of the test's own.
    let target = InstallerTarget {
        triple: host.triple.clone(),
        published_name: "host-test-build".into(),
        build_host: BuildHost::of_triple(&host.triple).unwrap(),
    };
    let out = tempfile::tempdir().unwrap();
    let mut plan = BuildPlan::new(&workspace, target, host, None).unwrap();
    plan.out_dir = out.path().to_owned();
    let record = build(&workspace, &plan).unwrap();
    assert_eq!(record.published_name, "host-test-build");
    check_outputs(&plan, &record);
    if plan.target.triple.ends_with("-linux-gnu") {
        assert!(has_interpreter(&std::fs::read(plan.binary()).unwrap()), "a glibc build is dynamically linked");
    }
}

/// A Mac agent builds both darwin targets with a toolchain that has one: a target the
/// pinned toolchain lacks is added with rustup first (asked of the real rustup here, with
/// a Linux target this machine does not have; nothing is downloaded in a plan).
#[test]
fn a_target_the_toolchain_lacks_is_added_before_the_build() {
    let workspace = workspace();
    let host = Host::detect(&workspace).unwrap();
    let plan_for = |triple: &str| {
        let target = InstallerTarget {
            triple: triple.into(),
            published_name: "test-build".into(),
            build_host: BuildHost::of_triple(triple).unwrap(),
        };
        BuildPlan::new(&workspace, target, host.clone(), None).unwrap()
    };
    let lacking = plan_for("aarch64-unknown-linux-musl");
    assert!(lacking.add_target);
    let first = lacking.describe(&workspace).lines().nth(1).unwrap().to_owned();
    assert_eq!(
        first,
        "  run: rustup target add aarch64-unknown-linux-musl  (the pinned toolchain lacks this target; once per machine)"
    );
    let pinned = plan_for("x86_64-unknown-linux-musl");
    assert!(!pinned.add_target, "rust-toolchain.toml installs the musl target");
    assert!(!pinned.describe(&workspace).contains("rustup target add"));
}

#[test]
fn dry_run_prints_the_commands_and_paths_and_builds_nothing() {
    let target_dir = tempfile::tempdir().unwrap();
    let output = xtask_command()
        .args(["build-installer", "--target", "x86_64-unknown-linux-musl", "--dry-run"])
        .env("CARGO_TARGET_DIR", target_dir.path())
        .env("CARGO_HOME", "/home/someone/.cargo")
        .env_remove("CARGO")
        .current_dir(workspace_root())
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output.stderr));
    let stdout = text(&output.stdout)
        .replace(target_dir.path().to_str().unwrap(), "$CARGO_TARGET_DIR")
        .replace(workspace_root().to_str().unwrap(), "<checkout>")
        .replace(&constants().0, "<tag>")
        .replace(&constants().1, "<cfn>");
    expect![[r#"
        Plan for the installer of release <tag> (CFN_VERSION <tag>) for x86_64-unknown-linux-musl (dry run: nothing is built):
          run: CARGO_ENCODED_RUSTFLAGS='--remap-path-prefix=<checkout>=/readyset --remap-path-prefix=/home/someone/.cargo=/cargo' cargo build --release --locked --package readyset-installer --bin readyset-installer --target x86_64-unknown-linux-musl
          run: strip -o <checkout>/target/dist/<tag>/x86_64-unknown-linux-gnu $CARGO_TARGET_DIR/x86_64-unknown-linux-musl/release/readyset-installer
          check: the binary contains "<tag>" and `x86_64-unknown-linux-gnu --version` prints it
          write: <checkout>/target/dist/<tag>/x86_64-unknown-linux-gnu
          write: <checkout>/target/dist/<tag>/x86_64-unknown-linux-gnu.sha256
          write: <checkout>/target/dist/<tag>/x86_64-unknown-linux-gnu.json
    "#]].assert_eq(&stdout);
    assert_eq!(std::fs::read_dir(target_dir.path()).unwrap().count(), 0, "nothing was built or written");

    // Flags from the environment would make this machine's bytes differ from others'.
    for variable in ["RUSTFLAGS", "CARGO_TARGET_X86_64_UNKNOWN_LINUX_MUSL_RUSTFLAGS"] {
        let output = xtask_command()
            .args(["build-installer", "--target", "x86_64-unknown-linux-musl", "--dry-run"])
            .env(variable, "-C target-cpu=native")
            .current_dir(workspace_root())
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(1));
        assert_eq!(
            text(&output.stderr),
            format!(
                "error: {variable} is set; installers are built with the repository's compiler flags only, so that \
                 every machine builds the same bytes. Unset it for build-installer\n"
            )
        );
    }
}

/// Two clones of the committed tree at different paths, each with its own CARGO_HOME
/// (the registry hard-linked from this one's, so nothing is downloaded) and its own
/// CARGO_TARGET_DIR, build the musl installer through the CLI: the same SHA-256.
/// (Uncommitted changes are not in the clones; CI tests a clean clone.)
#[test]
fn two_checkouts_build_the_same_installer_bytes() {
    let scratch = tempfile::tempdir().unwrap();
    let registry = workspace().env.cargo_home.expect("CARGO_HOME or HOME is set").join("registry");
    let builds: Vec<(String, String)> = std::thread::scope(|scope| {
        let runs: Vec<_> = ["a", "a-second-clone-at-a-longer-path"]
            .into_iter()
            .map(|name| {
                let (dir, registry) = (scratch.path().join(name), &registry);
                scope.spawn(move || build_in_clone(&dir, registry))
            })
            .collect();
        runs.into_iter().map(|run| run.join().unwrap()).collect()
    });
    assert_eq!(builds[0], builds[1], "the two builds differ");
}

/// Clones the checkout into `dir` and builds there; returns the record's SHA-256 and rustc.
fn build_in_clone(dir: &Path, registry: &Path) -> (String, String) {
    let run = |program: &str, args: &[&std::ffi::OsStr]| {
        let output = Command::new(program).args(args).output().unwrap();
        assert!(output.status.success(), "{program} {args:?}: {}", text(&output.stderr));
    };
    let (clone, home) = (dir.join("checkout"), dir.join("cargo-home"));
    run("git", &["clone".as_ref(), "--quiet".as_ref(), workspace_root().as_os_str(), clone.as_os_str()]);
    std::fs::create_dir_all(&home).unwrap();
    run("cp", &["-al".as_ref(), registry.as_os_str(), home.as_os_str()]);
    let output = xtask_command()
        .args(["build-installer", "--target", "x86_64-unknown-linux-musl"])
        .current_dir(&clone)
        .env("CARGO_HOME", &home)
        .env("CARGO_TARGET_DIR", dir.join("target"))
        .env("CARGO_NET_OFFLINE", "true")
        .env_remove("CARGO")
        .output()
        .unwrap();
    assert!(output.status.success(), "build-installer in {}: {}", clone.display(), text(&output.stderr));
    let tag = constants().0;
    let record = clone.join(format!("target/dist/{tag}/x86_64-unknown-linux-gnu.json"));
    let record: BuildRecord = serde_json::from_str(&std::fs::read_to_string(record).unwrap()).unwrap();
    (record.sha256, record.rustc)
}

#[test]
fn bad_targets_and_bad_constants_are_refused_before_building() {
    let run = |dir: &Path, args: &[&str]| xtask_command().args(args).current_dir(dir).output().unwrap();
    let root = workspace_root();
    let unknown = run(&root, &["build-installer", "--target", "x86_64-pc-windows-msvc"]);
    assert_eq!(unknown.status.code(), Some(1));
    let wrong_host = run(&root, &["build-installer", "--target", "aarch64-apple-darwin"]);
    assert_eq!(wrong_host.status.code(), Some(1));
    let mut seen = format!("{}{}", text(&unknown.stderr), text(&wrong_host.stderr));

    // A checkout whose constants carry a name that the release rules refuse.
    let checkout = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(checkout.path().join("installer/src")).unwrap();
    std::fs::copy(root.join("Cargo.toml"), checkout.path().join("Cargo.toml")).unwrap();
    for (tag, cfn) in [("v1 beta", "v1"), ("v1", "latest")] {
        std::fs::write(
            checkout.path().join("installer/src/constants.rs"),
            format!("pub const READYSET_TAG: &str = \"{tag}\";\npub const CFN_VERSION: &str = \"{cfn}\";\n"),
        )
        .unwrap();
        let refused = run(checkout.path(), &["build-installer", "--target", "x86_64-unknown-linux-musl"]);
        assert_eq!(refused.status.code(), Some(1));
        seen += &text(&refused.stderr);
    }
    expect![[r#"
        error: x86_64-pc-windows-msvc is not an installer target; the configured targets are: x86_64-unknown-linux-musl (built on linux), x86_64-apple-darwin (built on macos), aarch64-apple-darwin (built on macos)
        error: aarch64-apple-darwin is built on macos build hosts and this host is x86_64-unknown-linux-gnu; run this on a macos agent
        error: refusing to build the installer
          because: READYSET_TAG in installer/src/constants.rs is not a valid release name: release name "v1 beta" has the character ' ' at position 3, which is not allowed (rule: a release name is 1 to 64 characters of ASCII letters, digits, '.', '_' and '-', starts with a letter or digit, contains no '..', does not end with '.' or '.lock' (git refuses such branch names), and is not 'alpha' or 'latest'). Set it with `cargo xtask release <name>`
        error: refusing to build the installer
          because: CFN_VERSION in installer/src/constants.rs is not a valid release name: release name "latest" is reserved: it already names a part of the bucket layout (rule: a release name is 1 to 64 characters of ASCII letters, digits, '.', '_' and '-', starts with a letter or digit, contains no '..', does not end with '.' or '.lock' (git refuses such branch names), and is not 'alpha' or 'latest'). Set it with `cargo xtask release <name>`
    "#]].assert_eq(&seen);
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
