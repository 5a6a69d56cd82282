//! The git questions and actions the release commands need.

use std::path::Path;

use anyhow::{bail, Context, Result};
use xshell::{cmd, Shell};

use crate::domain::{names::commit::CommitId, publishing::publish_plan::Lineage};

/// Files with uncommitted changes or untracked, as `git status --porcelain` lists them.
pub fn uncommitted_files(sh: &Shell) -> Result<Vec<String>> {
    let status = cmd!(sh, "git status --porcelain --untracked-files=normal")
        .quiet()
        .read()
        .context("cannot run `git status`: is this a git checkout with git installed?")?;
    Ok(status.lines().map(|line| line.get(3..).unwrap_or(line).to_owned()).collect())
}

pub fn head_commit(sh: &Shell) -> Result<CommitId> {
    let text = cmd!(sh, "git rev-parse HEAD")
        .quiet()
        .read()
        .context("cannot read the current commit with `git rev-parse HEAD`")?;
    CommitId::parse(text.trim())
}

pub fn branch_exists(sh: &Shell, branch: &str) -> Result<bool> {
    let reference = format!("refs/heads/{branch}");
    Ok(cmd!(sh, "git show-ref --verify --quiet {reference}").quiet().run().is_ok())
}

/// Fails early when a commit would fail for want of an author, before anything is
/// written.
pub fn require_identity(sh: &Shell) -> Result<()> {
    if cmd!(sh, "git var GIT_AUTHOR_IDENT").quiet().ignore_stdout().ignore_stderr().run().is_err() {
        bail!(
            "git has no author identity here, so the release commit would fail; set one with \
             `git config user.name \"Your Name\"` and `git config user.email you@example.com`"
        );
    }
    Ok(())
}

pub fn create_branch(sh: &Shell, branch: &str) -> Result<()> {
    cmd!(sh, "git switch --quiet --create {branch}").run().with_context(|| format!("cannot create branch {branch}"))
}

pub fn commit_paths(sh: &Shell, message: &str, paths: &[&str]) -> Result<()> {
    cmd!(sh, "git add -- {paths...}").quiet().run().context("git add failed")?;
    cmd!(sh, "git commit --quiet -m {message} -- {paths...}").run().context("git commit failed")
}

/// How `ours` relates to `served` in this checkout's history. A commit the checkout does
/// not have is an error, never a guess: a shallow clone cannot tell a downgrade.
pub fn lineage(sh: &Shell, ours: &CommitId, served: &CommitId) -> Result<Lineage> {
    if ours.same_as(served) {
        return Ok(Lineage::Same);
    }
    let is_ancestor = |a: &CommitId, b: &CommitId| -> Result<bool> {
        let (a, b) = (a.as_str(), b.as_str());
        let output = cmd!(sh, "git merge-base --is-ancestor {a} {b}").quiet().ignore_status().output()?;
        match output.status.code() {
            Some(0) => Ok(true),
            Some(1) => Ok(false),
            _ => bail!(
                "cannot tell whether commit {a} comes before {b}: git answered {}. Fetch main's full history \
                 (`git fetch --unshallow origin main`, or a checkout with history) and retry",
                String::from_utf8_lossy(&output.stderr).trim()
            ),
        }
    };
    Ok(if is_ancestor(ours, served)? {
        Lineage::Ancestor
    } else if is_ancestor(served, ours)? {
        Lineage::Descendant
    } else {
        Lineage::Unrelated
    })
}

/// A checkout of this one's HEAD at `dest`, sharing its objects (`git clone --shared`),
/// with this working tree's uncommitted changes (new files too, ignored ones not)
/// committed there, so it is clean and holds exactly what is here; each file keeps its
/// modification time. The rehearsal runs a release in it as a person would, leaving
/// this checkout's branches alone. Returns whether there were changes to commit.
pub fn scratch_checkout(sh: &Shell, root: &Path, dest: &Path) -> Result<bool> {
    let head = head_commit(sh)?.to_string();
    cmd!(sh, "git clone --quiet --shared --no-checkout {root} {dest}")
        .quiet()
        .run()
        .with_context(|| format!("cannot clone {} into {}", root.display(), dest.display()))?;
    let git = |args: &[&str]| cmd!(sh, "git -C {dest} {args...}");
    git(&["checkout", "--quiet", "--detach", &head]).quiet().run()?;
    git(&["config", "user.name", "xtask rehearsal"]).quiet().run()?;
    git(&["config", "user.email", "rehearsal@invalid"]).quiet().run()?;
    let listed = cmd!(sh, "git -C {root} ls-files -z --cached --others --exclude-standard").quiet().read()?;
    for path in listed.split('\0').filter(|path| !path.is_empty()) {
        let (from, to) = (root.join(path), dest.join(path));
        if from.is_file() {
            if let Some(parent) = to.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::copy(&from, &to).with_context(|| format!("cannot copy {path} into the scratch checkout"))?;
            // The same bytes with the same time: Cargo, building into the same target
            // directory, finds what it built for this checkout fresh.
            let modified = std::fs::metadata(&from)?.modified()?;
            std::fs::File::options().write(true).open(&to)?.set_modified(modified)?;
        } else if !from.exists() && to.is_file() {
            std::fs::remove_file(&to)?;
        }
    }
    let changed = !git(&["status", "--porcelain"]).quiet().read()?.trim().is_empty();
    if changed {
        git(&["add", "--all"]).quiet().run()?;
        git(&["commit", "--quiet", "--message", "rehearsal: the uncommitted changes of the checkout"]).quiet().run()?;
    }
    Ok(changed)
}
