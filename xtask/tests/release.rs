//! `cargo xtask release` end to end: the real binary in a temporary git repository.

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
};

const CONSTANTS: &str = "installer/src/constants.rs";

struct Repo {
    dir: tempfile::TempDir,
}

impl Repo {
    /// A repository holding a workspace manifest and the installer's real constants
    /// file, committed on `main`.
    fn new() -> Repo {
        let repo = Repo { dir: tempfile::tempdir().unwrap() };
        std::fs::create_dir_all(repo.path().join("installer/src")).unwrap();
        std::fs::write(repo.path().join("Cargo.toml"), "[workspace]\nmembers = []\n").unwrap();
        std::fs::write(repo.path().join(CONSTANTS), original()).unwrap();
        repo.git(&["init", "--quiet", "--initial-branch=main"]);
        repo.git(&["config", "user.name", "Release Test"]);
        repo.git(&["config", "user.email", "release-test@example.com"]);
        repo.git(&["add", "."]);
        repo.git(&["commit", "--quiet", "-m", "initial"]);
        repo
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn git(&self, args: &[&str]) -> String {
        let output = Command::new("git").args(args).current_dir(self.path()).output().unwrap();
        assert!(output.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).unwrap().trim().to_owned()
    }

    fn xtask(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_xtask"))
            .args(args)
            .current_dir(self.path().join("installer"))
            .output()
            .unwrap()
    }

    fn constants(&self) -> String {
        std::fs::read_to_string(self.path().join(CONSTANTS)).unwrap()
    }

    fn branches(&self) -> String {
        self.git(&["branch", "--format=%(refname:short)"])
    }
}

fn original() -> String {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "..", CONSTANTS].iter().collect();
    std::fs::read_to_string(path).unwrap()
}

fn with_values(tag: &str, cfn: &str) -> String {
    let text = original();
    let current = |name: &str| {
        let line = text.lines().find(|l| l.starts_with(&format!("pub const {name}: &str = "))).unwrap();
        line.split('"').nth(1).unwrap().to_owned()
    };
    text.replace(
        &format!("pub const READYSET_TAG: &str = \"{}\";", current("READYSET_TAG")),
        &format!("pub const READYSET_TAG: &str = \"{tag}\";"),
    )
    .replace(
        &format!("pub const CFN_VERSION: &str = \"{}\";", current("CFN_VERSION")),
        &format!("pub const CFN_VERSION: &str = \"{cfn}\";"),
    )
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn release_commits_the_constants_alone_on_a_release_branch() {
    let repo = Repo::new();
    let output = repo.xtask(&["release", "v2024.06.1"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(repo.constants(), with_values("v2024.06.1", "v2024.06.1"));
    assert_eq!(repo.git(&["rev-parse", "--abbrev-ref", "HEAD"]), "release/v2024.06.1");
    assert_eq!(repo.git(&["log", "-1", "--format=%s"]), "Release v2024.06.1");
    assert_eq!(repo.git(&["show", "--name-only", "--format=", "HEAD"]), CONSTANTS);
    assert_eq!(repo.git(&["status", "--porcelain"]), "");
    let stdout = text(&output.stdout);
    assert!(stdout.contains("Committed \"Release v2024.06.1\" on branch release/v2024.06.1"), "{stdout}");
    assert!(stdout.contains("git push --set-upstream origin release/v2024.06.1"), "{stdout}");
    assert!(stdout.contains("CloudFormation release\""), "names the pipeline's block step: {stdout}");

    let again = repo.xtask(&["release", "v2024.06.1"]);
    assert!(again.status.success());
    assert!(text(&again.stdout).contains("already names release v2024.06.1; nothing to do"));
    assert_eq!(repo.git(&["log", "-1", "--format=%s"]), "Release v2024.06.1");
}

#[test]
fn a_separate_readyset_tag_is_written_and_checked() {
    let repo = Repo::new();
    let output = repo.xtask(&["release", "v7", "--readyset-tag", "v7-server"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(repo.constants(), with_values("v7-server", "v7"));
    assert!(repo.xtask(&["release", "v7", "--readyset-tag", "v7-server", "--check"]).status.success());
    assert_eq!(repo.xtask(&["release", "v7", "--check"]).status.code(), Some(1));
    let bad = repo.xtask(&["release", "v7", "--readyset-tag", "latest"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(text(&bad.stderr).contains("reserved"));
}

#[test]
fn a_dirty_tree_is_refused_listing_the_files_and_nothing_is_written() {
    let repo = Repo::new();
    std::fs::write(repo.path().join("notes.txt"), "wip").unwrap();
    std::fs::write(repo.path().join("Cargo.toml"), "[workspace]\nmembers = []\n# edited\n").unwrap();
    let output = repo.xtask(&["release", "v2"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("uncommitted changes"), "{stderr}");
    assert!(stderr.contains("notes.txt") && stderr.contains("Cargo.toml"), "{stderr}");
    assert!(stderr.contains("Nothing was written"), "{stderr}");
    assert_eq!(repo.constants(), original());
    assert_eq!(repo.branches(), "main");
}

#[test]
fn check_passes_only_when_both_constants_equal_the_tag() {
    let repo = Repo::new();
    let before = repo.xtask(&["release", "v3", "--check"]);
    assert_eq!(before.status.code(), Some(1));
    let stderr = text(&before.stderr);
    assert!(stderr.contains("does not match release v3"), "{stderr}");
    assert!(stderr.contains("run `cargo xtask release v3`"), "{stderr}");
    assert_eq!(repo.constants(), original(), "--check writes nothing");
    assert!(repo.xtask(&["release", "v3"]).status.success());
    let after = repo.xtask(&["release", "v3", "--check"]);
    assert_eq!(after.status.code(), Some(0), "{}", text(&after.stderr));
    assert_eq!(repo.xtask(&["release", "v4", "--check"]).status.code(), Some(1));
}

#[test]
fn dry_run_prints_the_diff_and_changes_nothing() {
    let repo = Repo::new();
    let output = repo.xtask(&["release", "v5", "--dry-run"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    assert!(stdout.contains("--- a/installer/src/constants.rs"), "{stdout}");
    assert!(stdout.contains("+pub const READYSET_TAG: &str = \"v5\";"), "{stdout}");
    assert!(stdout.contains("+pub const CFN_VERSION: &str = \"v5\";"), "{stdout}");
    assert!(stdout.contains("would run: git switch --create release/v5"), "{stdout}");
    assert_eq!(repo.constants(), original());
    assert_eq!(repo.branches(), "main");
    let global_flag_first = repo.xtask(&["--dry-run", "release", "v5"]);
    assert!(global_flag_first.status.success());
    assert_eq!(repo.constants(), original());
}

#[test]
fn no_commit_leaves_the_change_on_the_current_branch() {
    let repo = Repo::new();
    let output = repo.xtask(&["release", "v6", "--no-commit"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(repo.constants(), with_values("v6", "v6"));
    assert_eq!(repo.git(&["rev-parse", "--abbrev-ref", "HEAD"]), "main");
    assert_eq!(repo.git(&["status", "--porcelain"]), format!("M {CONSTANTS}"));
}

#[test]
fn bad_input_is_refused_before_anything_is_written() {
    // Each kind of bad input: the exit code, a phrase of the message.
    let repo = Repo::new();
    for (args, code, phrase) in [
        (vec!["release", "v 1"], 2, "not allowed"),
        (vec!["release", "../x"], 2, "'/' at position 3"),
        (vec!["release", "alpha"], 2, "reserved"),
        (vec!["release", ""], 2, "empty"),
        (vec!["release", "v1", "--check", "--no-commit"], 2, "cannot be used with"),
    ] {
        let output = repo.xtask(&args);
        assert_eq!(output.status.code(), Some(code), "{args:?}");
        assert!(text(&output.stderr).contains(phrase), "{args:?}: {}", text(&output.stderr));
    }
    assert_eq!(repo.constants(), original());

    repo.git(&["branch", "release/v8"]);
    let output = repo.xtask(&["release", "v8"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(text(&output.stderr).contains("branch release/v8 already exists"));
    assert_eq!(repo.constants(), original());
    assert_eq!(repo.git(&["rev-parse", "--abbrev-ref", "HEAD"]), "main");

    let twice = original() + "\npub const CFN_VERSION: &str = \"again\";\n";
    std::fs::write(repo.path().join(CONSTANTS), &twice).unwrap();
    let output = repo.xtask(&["release", "v9", "--no-commit"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(text(&output.stderr).contains("`CFN_VERSION` is defined 2 times"), "{}", text(&output.stderr));
    assert_eq!(repo.constants(), twice);

    std::fs::remove_file(repo.path().join(CONSTANTS)).unwrap();
    let output = repo.xtask(&["release", "v9", "--no-commit"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(text(&output.stderr).contains("cannot read installer/src/constants.rs"), "{}", text(&output.stderr));
    assert!(!repo.path().join(CONSTANTS).exists());
}
