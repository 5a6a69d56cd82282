//! The local user CI's own machine runs the checks as (`cargo xtask ci
//! --unprivileged-as`). CI here runs as root and Buildkite's agents do not, so only a run
//! as another user shows that the pipeline's unprivileged step passes: a test that
//! writes where only root may, or a tool that needs root, fails there as on an agent.
//! The user is made when missing, given a range of subordinate IDs when it has none
//! (the tests that need a root file system run in a user namespace that maps them), let
//! through to this machine's toolchain and handed the checkout; it gets no other right.

use std::{
    ffi::OsString,
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{bail, Context, Result};
use xshell::cmd;

use crate::{
    adapters::{user_namespace, workspace::Workspace},
    domain::names::user::LocalUser,
};

/// What handing the checkout over does, decided before anything changes.
pub struct Handover {
    pub user: LocalUser,
    /// `useradd` makes the user: it does not exist yet.
    create: bool,
    /// The user has no range of subordinate IDs yet (useradd gives a new user one on
    /// Debian; otherwise `usermod` adds a free one).
    needs_ids: bool,
    /// Directories on the way to the toolchain, Python or the checkout that others may
    /// not pass (`/root`, where rustup was installed as root). The user gets an ACL entry
    /// to pass each one, and still may not list or read anything in them.
    grants: Vec<PathBuf>,
    /// Changed to the user's without recursing: the checkout and its target/.
    own: Vec<PathBuf>,
    /// Changed to the user's with everything below: all of the checkout but `kept`.
    own_below: Vec<PathBuf>,
    /// Stays as it is: the tests that need a root file system keep a Debian root there,
    /// whose files must keep their owners (subordinate IDs, or root's) and setuid bits.
    kept: PathBuf,
}

/// Decides what to change so that `user` can run the checks in this checkout; `kept`
/// (under target/) stays as it is.
pub fn plan(workspace: &Workspace, user: &LocalUser, kept: &Path) -> Result<Handover> {
    let target = workspace.output_dir();
    if !workspace.cargo_target_dir().starts_with(&workspace.root) {
        bail!(
            "CARGO_TARGET_DIR ({}) is outside the checkout, so handing the checkout to {user} would not give it \
             cargo's build directory; unset CARGO_TARGET_DIR for `--unprivileged-as`",
            workspace.cargo_target_dir().display()
        );
    }
    let mut own_below = entries_except(&workspace.root, &target)?;
    own_below.extend(entries_except(&target, kept)?);
    let rustup_home = workspace.env.rustup_home.clone().context(
        "neither RUSTUP_HOME nor HOME is set, so the toolchain the user must reach is unknown; set RUSTUP_HOME",
    )?;
    let mut reached = vec![rustup_home, workspace.root.clone()];
    for program in ["cargo", "python3"] {
        let found = workspace.env.which(program).with_context(|| {
            format!("{program} is not on PATH, so {user} could not be let through to it; run from a shell where it is")
        })?;
        reached.extend(found.parent().map(Path::to_path_buf));
    }
    let create = home_of(workspace, user)?.is_none();
    Ok(Handover {
        user: user.clone(),
        create,
        needs_ids: create || !user_namespace::has_ranges(&[user.as_str()]),
        grants: closed_directories(&reached),
        own: vec![workspace.root.clone(), target],
        own_below,
        kept: kept.to_path_buf(),
    })
}

/// The entries of `dir` other than `except`, sorted; none when `dir` does not exist.
fn entries_except(dir: &Path, except: &Path) -> Result<Vec<PathBuf>> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Ok(Vec::new()) };
    let mut found = Vec::new();
    for entry in entries {
        let path = entry.with_context(|| format!("cannot list {}", dir.display()))?.path();
        if path != except {
            found.push(path);
        }
    }
    found.sort();
    Ok(found)
}

/// Every directory on the way to each of `paths` (itself included) that others may not
/// pass, sorted and once each.
fn closed_directories(paths: &[PathBuf]) -> Vec<PathBuf> {
    let mut closed: Vec<PathBuf> = paths
        .iter()
        .flat_map(|path| path.ancestors())
        .filter(|dir| std::fs::metadata(dir).is_ok_and(|meta| meta.is_dir() && meta.permissions().mode() & 0o001 == 0))
        .map(Path::to_path_buf)
        .collect();
    closed.sort();
    closed.dedup();
    closed
}

impl Handover {
    /// The plan, one step a line, for `--dry-run` and the log.
    pub fn describe(&self) -> String {
        let name = &self.user;
        let mut text = String::new();
        if self.create {
            text += &format!("  useradd --create-home --user-group --shell /usr/sbin/nologin {name}\n");
        } else {
            text += &format!("  (user {name} exists)\n");
        }
        if self.needs_ids {
            text += &format!(
                "  usermod --add-subuids <free>-<free+{}> --add-subgids <same> {name}, if it has no range of {} \
                 subordinate IDs\n",
                user_namespace::IDS - 1,
                user_namespace::IDS
            );
        }
        for dir in &self.grants {
            text += &format!("  setfacl --modify u:{name}:x {}\n", dir.display());
        }
        let checkout = self.own.first().map(|dir| dir.display().to_string()).unwrap_or_default();
        text += &format!(
            "  chown --recursive {name}: the checkout {checkout}, all but {} (the tests that need a root file system \
             keep a Debian root there, whose files must keep their owners)\n",
            self.kept.display()
        );
        text
    }

    pub fn carry_out(&self, workspace: &Workspace) -> Result<()> {
        let sh = &workspace.sh;
        let name = self.user.as_str();
        if self.create {
            cmd!(sh, "useradd --create-home --user-group --shell /usr/sbin/nologin {name}")
                .run()
                .with_context(|| format!("could not make the user {name}"))?;
        }
        if self.needs_ids && !user_namespace::has_ranges(&[name]) {
            let start = user_namespace::free_start();
            let range = format!("{start}-{}", start + user_namespace::IDS - 1);
            cmd!(sh, "usermod --add-subuids {range} --add-subgids {range} {name}")
                .run()
                .with_context(|| format!("could not give {name} subordinate IDs"))?;
        }
        let grants = &self.grants;
        if !grants.is_empty() {
            cmd!(sh, "setfacl --modify u:{name}:x {grants...}")
                .run()
                .with_context(|| format!("could not let {name} through to the toolchain"))?;
        }
        let (owner, own, own_below) = (format!("{name}:"), &self.own, &self.own_below);
        cmd!(sh, "chown {owner} {own...}").run().with_context(|| format!("could not hand the checkout to {name}"))?;
        if !own_below.is_empty() {
            cmd!(sh, "chown --recursive {owner} {own_below...}")
                .run()
                .with_context(|| format!("could not hand the checkout to {name}"))?;
        }
        Ok(())
    }
}

/// The user's home directory, from the account database; `None` when there is no such
/// user.
fn home_of(workspace: &Workspace, user: &LocalUser) -> Result<Option<PathBuf>> {
    let sh = &workspace.sh;
    let name = user.as_str();
    let Ok(entry) = cmd!(sh, "getent passwd {name}").quiet().ignore_stderr().read() else { return Ok(None) };
    match entry.trim().split(':').nth(5) {
        Some(home) if !home.is_empty() => Ok(Some(PathBuf::from(home))),
        _ => bail!("the account database's entry for {name} names no home directory: {entry:?}"),
    }
}

/// `program args` run as the user from the checkout, with its own home and cargo home
/// and this process's toolchain and PATH (runuser keeps the rest of the environment).
pub fn command_as(workspace: &Workspace, user: &LocalUser, program: &Path, args: &[&str]) -> Result<Command> {
    let sh = &workspace.sh;
    let name = user.as_str();
    let home = home_of(workspace, user)?.with_context(|| format!("there is no user {name}"))?;
    let rustup_home = workspace.env.rustup_home.clone().context("neither RUSTUP_HOME nor HOME is set")?;
    let assignments: Vec<OsString> = [
        ("HOME", home.clone().into_os_string()),
        ("CARGO_HOME", home.join(".cargo").into_os_string()),
        ("RUSTUP_HOME", rustup_home.into_os_string()),
        ("PATH", workspace.env.path.clone()),
    ]
    .into_iter()
    .map(|(name, value)| {
        let mut assignment = OsString::from(format!("{name}="));
        assignment.push(value);
        assignment
    })
    .collect();
    let command = cmd!(sh, "runuser -u {name} -- env {assignments...} {program} {args...}");
    Ok(Command::from(command))
}
