//! `cargo xtask release` end to end: the real binary in a temporary git repository.

use std::{
    path::Path,
    process::{Command, Output},
};

use expect_test::expect;

use crate::support::{text, workspace_root, xtask_command};

const CONSTANTS: &str = "installer/src/constants.rs";

struct Repo {
    dir: tempfile::TempDir,
}

impl Repo {
    /// A repository holding the workspace manifest and the installer's real constants
    /// file, committed on `main`.
    fn new() -> Repo {
        let repo = Repo { dir: tempfile::tempdir().unwrap() };
        std::fs::create_dir_all(repo.path().join("installer/src")).unwrap();
        std::fs::copy(workspace_root().join("Cargo.toml"), repo.path().join("Cargo.toml")).unwrap();
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
        assert!(output.status.success(), "git {args:?}: {}", text(&output.stderr));
        text(&output.stdout).trim().to_owned()
    }

    fn xtask(&self, args: &[&str]) -> Output {
        xtask_command().args(args).current_dir(self.path().join("installer")).output().unwrap()
    }

    fn constants(&self) -> String {
        std::fs::read_to_string(self.path().join(CONSTANTS)).unwrap()
    }

    fn branches(&self) -> String {
        self.git(&["branch", "--format=%(refname:short)"])
    }
}

fn original() -> String {
    std::fs::read_to_string(workspace_root().join(CONSTANTS)).unwrap()
}

/// The constants file with both values replaced, found by the value the file holds now.
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

/// The current values' lines replaced by a placeholder, so snapshots do not change when
/// the repository's own constants do.
fn neutral(output: &str) -> String {
    let text = original();
    let value = |name: &str| {
        let line = text.lines().find(|l| l.starts_with(&format!("pub const {name}: &str = "))).unwrap();
        line.split('"').nth(1).unwrap().to_owned()
    };
    let output = output
        .replace(&format!("\"{}\"", value("READYSET_TAG")), "\"<current>\"")
        .replace(&format!("\"{}\"", value("CFN_VERSION")), "\"<current>\"");
    // A diff's context line for an empty line is a lone space, which rustfmt would strip
    // from the snapshot.
    output.lines().map(str::trim_end).collect::<Vec<_>>().join("\n") + "\n"
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
    expect![[r#"
        --- a/installer/src/constants.rs
        +++ b/installer/src/constants.rs
        @@ -18,3 +18,3 @@
         /// `cargo xtask build-installer` to prove the binary belongs to the release.
        -pub const READYSET_TAG: &str = "<current>";
        +pub const READYSET_TAG: &str = "v2024.06.1";

        @@ -24,3 +24,3 @@
         /// under `<CFN_VERSION>/readyset/templates/` before an installer pointing there ships.
        -pub const CFN_VERSION: &str = "<current>";
        +pub const CFN_VERSION: &str = "v2024.06.1";


        Committed "Release v2024.06.1" on branch release/v2024.06.1.

        Next:
          1. git push --set-upstream origin release/v2024.06.1, open a pull request, and merge it to main.
          2. In the Buildkite build of that merge on main, unblock ":rocket: Deploy :amazon-ec2: AMIs and :aws-cloudformation: CloudFormation release"
             and enter the release name v2024.06.1. The pipeline runs `cargo xtask release v2024.06.1 --check`
             against the commit first, so a different name stops the release before anything ships.
    "#]].assert_eq(&neutral(&text(&output.stdout)));

    let again = repo.xtask(&["release", "v2024.06.1"]);
    assert!(again.status.success());
    expect![[r#"
        installer/src/constants.rs already names release v2024.06.1; nothing to do.
    "#]]
    .assert_eq(&text(&again.stdout));
    assert_eq!(repo.git(&["log", "-1", "--format=%s"]), "Release v2024.06.1");
}

#[test]
fn a_separate_readyset_tag_is_written_and_checked() {
    let repo = Repo::new();
    let output = repo.xtask(&["release", "v7", "--readyset-tag", "v7-server"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(repo.constants(), with_values("v7-server", "v7"));
    assert!(repo.xtask(&["release", "v7", "--readyset-tag", "v7-server", "--check"]).status.success());
    let mismatch = repo.xtask(&["release", "v7", "--check"]);
    assert_eq!(mismatch.status.code(), Some(1));
    expect![[r#"
        error: installer/src/constants.rs does not match release v7: READYSET_TAG is "v7-server", not "v7". A release is cut from a commit whose constants name it: run `cargo xtask release v7`, merge the branch, and release from that commit (or type the name that commit carries)
    "#]].assert_eq(&text(&mismatch.stderr));
}

#[test]
fn a_dirty_tree_is_refused_listing_the_files_and_nothing_is_written() {
    let repo = Repo::new();
    std::fs::write(repo.path().join("notes.txt"), "wip").unwrap();
    let manifest = std::fs::read_to_string(repo.path().join("Cargo.toml")).unwrap() + "# edited\n";
    std::fs::write(repo.path().join("Cargo.toml"), manifest).unwrap();
    let output = repo.xtask(&["release", "v2"]);
    assert_eq!(output.status.code(), Some(1));
    expect![[r#"
        error: the working tree has uncommitted changes, and the release commit must hold the constants alone:
          Cargo.toml
          notes.txt
        Commit or stash them, then run this again. Nothing was written.
    "#]]
    .assert_eq(&text(&output.stderr));
    assert_eq!(repo.constants(), original());
    assert_eq!(repo.branches(), "main");
}

#[test]
fn check_passes_only_when_both_constants_equal_the_tag() {
    let repo = Repo::new();
    let before = repo.xtask(&["release", "v3", "--check"]);
    assert_eq!(before.status.code(), Some(1));
    assert_eq!(repo.constants(), original(), "--check writes nothing");
    assert!(repo.xtask(&["release", "v3"]).status.success());
    let after = repo.xtask(&["release", "v3", "--check"]);
    assert_eq!(after.status.code(), Some(0), "{}", text(&after.stderr));
    expect![[r#"
        installer/src/constants.rs matches release v3: READYSET_TAG = "v3", CFN_VERSION = "v3"
    "#]]
    .assert_eq(&text(&after.stdout));
    assert_eq!(repo.xtask(&["release", "v4", "--check"]).status.code(), Some(1));
}

#[test]
fn dry_run_prints_the_diff_and_changes_nothing() {
    let repo = Repo::new();
    let output = repo.xtask(&["release", "v5", "--dry-run"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    expect![[r#"
        Plan for release v5 (dry run: nothing is written):

        --- a/installer/src/constants.rs
        +++ b/installer/src/constants.rs
        @@ -18,3 +18,3 @@
         /// `cargo xtask build-installer` to prove the binary belongs to the release.
        -pub const READYSET_TAG: &str = "<current>";
        +pub const READYSET_TAG: &str = "v5";

        @@ -24,3 +24,3 @@
         /// under `<CFN_VERSION>/readyset/templates/` before an installer pointing there ships.
        -pub const CFN_VERSION: &str = "<current>";
        +pub const CFN_VERSION: &str = "v5";


        would run: git switch --create release/v5
        would run: git commit -m "Release v5" -- installer/src/constants.rs

        Next:
          1. git push --set-upstream origin release/v5, open a pull request, and merge it to main.
          2. In the Buildkite build of that merge on main, unblock ":rocket: Deploy :amazon-ec2: AMIs and :aws-cloudformation: CloudFormation release"
             and enter the release name v5. The pipeline runs `cargo xtask release v5 --check`
             against the commit first, so a different name stops the release before anything ships.
    "#]].assert_eq(&neutral(&text(&output.stdout)));
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

/// Each kind of bad input, with the exit code and the whole message it gets; none
/// writes the file or makes a branch.
#[test]
fn bad_input_is_refused_before_anything_is_written() {
    let repo = Repo::new();
    let mut seen = String::new();
    let mut refuse = |args: &[&str]| {
        let output = repo.xtask(args);
        seen +=
            &format!("$ cargo xtask {}\nexit {:?}\n{}\n", args.join(" "), output.status.code(), text(&output.stderr));
    };
    refuse(&["release", "v 1"]);
    refuse(&["release", "../x"]);
    refuse(&["release", "alpha"]);
    refuse(&["release", "v1."]);
    refuse(&["release", "v1.lock"]);
    refuse(&["release", ""]);
    refuse(&["release", "v1", "--check", "--no-commit"]);
    refuse(&["release", "v7", "--readyset-tag", "latest"]);
    repo.git(&["branch", "release/v8"]);
    refuse(&["release", "v8"]);
    assert_eq!(repo.constants(), original());
    assert_eq!(repo.git(&["rev-parse", "--abbrev-ref", "HEAD"]), "main");

    let twice = original() + "\npub const CFN_VERSION: &str = \"again\";\n";
    std::fs::write(repo.path().join(CONSTANTS), &twice).unwrap();
    refuse(&["release", "v9", "--no-commit"]);
    assert_eq!(repo.constants(), twice);
    std::fs::remove_file(repo.path().join(CONSTANTS)).unwrap();
    refuse(&["release", "v9", "--no-commit"]);
    assert!(!repo.path().join(CONSTANTS).exists());
    expect![[r#"
        $ cargo xtask release v 1
        exit Some(2)
        error: invalid value 'v 1' for '[TAG]': release name "v 1" has the character ' ' at position 2, which is not allowed (rule: a release name is 1 to 64 characters of ASCII letters, digits, '.', '_' and '-', starts with a letter or digit, contains no '..', does not end with '.' or '.lock' (git refuses such branch names), and is not 'alpha' or 'latest')

        For more information, try '--help'.

        $ cargo xtask release ../x
        exit Some(2)
        error: invalid value '../x' for '[TAG]': release name "../x" has the character '/' at position 3, which is not allowed (rule: a release name is 1 to 64 characters of ASCII letters, digits, '.', '_' and '-', starts with a letter or digit, contains no '..', does not end with '.' or '.lock' (git refuses such branch names), and is not 'alpha' or 'latest')

        For more information, try '--help'.

        $ cargo xtask release alpha
        exit Some(2)
        error: invalid value 'alpha' for '[TAG]': release name "alpha" is reserved: it already names a part of the bucket layout (rule: a release name is 1 to 64 characters of ASCII letters, digits, '.', '_' and '-', starts with a letter or digit, contains no '..', does not end with '.' or '.lock' (git refuses such branch names), and is not 'alpha' or 'latest')

        For more information, try '--help'.

        $ cargo xtask release v1.
        exit Some(2)
        error: invalid value 'v1.' for '[TAG]': release name "v1." ends with ".", which git refuses in a branch name (rule: a release name is 1 to 64 characters of ASCII letters, digits, '.', '_' and '-', starts with a letter or digit, contains no '..', does not end with '.' or '.lock' (git refuses such branch names), and is not 'alpha' or 'latest')

        For more information, try '--help'.

        $ cargo xtask release v1.lock
        exit Some(2)
        error: invalid value 'v1.lock' for '[TAG]': release name "v1.lock" ends with ".lock", which git refuses in a branch name (rule: a release name is 1 to 64 characters of ASCII letters, digits, '.', '_' and '-', starts with a letter or digit, contains no '..', does not end with '.' or '.lock' (git refuses such branch names), and is not 'alpha' or 'latest')

        For more information, try '--help'.

        $ cargo xtask release 
        exit Some(2)
        error: invalid value '' for '[TAG]': the release name is empty (rule: a release name is 1 to 64 characters of ASCII letters, digits, '.', '_' and '-', starts with a letter or digit, contains no '..', does not end with '.' or '.lock' (git refuses such branch names), and is not 'alpha' or 'latest')

        For more information, try '--help'.

        $ cargo xtask release v1 --check --no-commit
        exit Some(2)
        error: the argument '--check' cannot be used with '--no-commit'

        Usage: cargo xtask release --check <TAG>

        For more information, try '--help'.

        $ cargo xtask release v7 --readyset-tag latest
        exit Some(2)
        error: invalid value 'latest' for '--readyset-tag <TAG>': release name "latest" is reserved: it already names a part of the bucket layout (rule: a release name is 1 to 64 characters of ASCII letters, digits, '.', '_' and '-', starts with a letter or digit, contains no '..', does not end with '.' or '.lock' (git refuses such branch names), and is not 'alpha' or 'latest')

        For more information, try '--help'.

        $ cargo xtask release v8
        exit Some(1)
        error: branch release/v8 already exists; delete it with `git branch -D release/v8` if it is stale, or choose another release name. Nothing was written.

        $ cargo xtask release v9 --no-commit
        exit Some(1)
        error: installer/src/constants.rs cannot be edited safely: `CFN_VERSION` is defined 2 times (lines 25, 75), so which one ships is ambiguous; expected exactly one `pub const READYSET_TAG: &str = "...";` and one `pub const CFN_VERSION: &str = "...";` at the top level, without #[cfg]; nothing was written

        $ cargo xtask release v9 --no-commit
        exit Some(1)
        error: cannot read installer/src/constants.rs; the release constants live there
          because: No such file or directory (os error 2)

    "#]].assert_eq(&seen);
}

/// Names git accepts as a branch are exactly the names the rule accepts (`release/` is
/// the branch `release` makes).
#[test]
fn the_release_name_rule_includes_git_s_branch_rule() {
    use xtask::domain::names::tag::ReleaseTag;
    for name in [
        "v1",
        "v1.2.3",
        "a_b-c",
        "v1.locker",
        "v1.LOCK",
        "x",
        "v1..2",
        "v1.",
        "v1.lock",
        "-v1",
        ".v1",
        "v@{1}",
        "v~1",
        "v^1",
        "v:1",
        "v 1",
        "v1/",
    ] {
        let git =
            Command::new("git").args(["check-ref-format", "--branch", &format!("release/{name}")]).output().unwrap();
        let ours = ReleaseTag::parse(name);
        if ours.is_ok() {
            assert!(git.status.success(), "{name:?} is accepted but git refuses release/{name}");
        }
        if !git.status.success() {
            assert!(ours.is_err(), "git refuses release/{name} but the rule accepts {name:?}");
        }
    }
}
