//! Running a command as root of a user namespace, so that the tests that need a root
//! file system (mmdebstrap, chroot, bind mounts) run on an agent without root. The
//! namespace maps root to the caller and `IDS` IDs of the caller's subordinate range
//! (/etc/subuid, /etc/subgid) to 1..=`IDS`, as mmdebstrap's own unshare mode does, so a
//! Debian root's files keep their owners.

use anyhow::{bail, Context, Result};
use xshell::cmd;

use crate::adapters::workspace::Workspace;

/// How many IDs besides root the namespace maps: every ID a Debian system uses.
pub const IDS: u64 = 65536;

/// The subordinate ID files, as shadow's newuidmap and newgidmap read them.
const SUBUID: &str = "/etc/subuid";
const SUBGID: &str = "/etc/subgid";

/// Whether this process runs as root, and so needs no namespace (nor anyone's help to
/// install system packages).
pub fn is_root(workspace: &Workspace) -> Result<bool> {
    let sh = &workspace.sh;
    Ok(cmd!(sh, "id -u").quiet().read().context("`id -u` failed")?.trim() == "0")
}

/// The program and arguments that run what follows them as root of such a namespace.
pub fn prefix(workspace: &Workspace) -> Result<Vec<String>> {
    let sh = &workspace.sh;
    let user = cmd!(sh, "id -un").quiet().read().context("`id -un` failed")?;
    let uid = cmd!(sh, "id -u").quiet().read().context("`id -u` failed")?;
    let start = |file: &str| -> Result<u64> {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        range_start(&text, &[&user, &uid]).with_context(|| no_range(file, &user))
    };
    let (uids, gids) = (start(SUBUID)?, start(SUBGID)?);
    if workspace.env.which("newuidmap").is_none() {
        bail!(
            "the tests that need a root file system run in a user namespace, which needs newuidmap: install the \
               Debian package uidmap (as root: `apt-get install uidmap`)"
        );
    }
    Ok([
        "unshare".to_owned(),
        "--map-root-user".to_owned(),
        format!("--map-users={uids},1,{IDS}"),
        format!("--map-groups={gids},1,{IDS}"),
        "--mount".to_owned(),
        "--pid".to_owned(),
        "--fork".to_owned(),
    ]
    .into())
}

/// The start of the first range in `text` (lines `owner:start:count`) whose owner is one
/// of `owners` (a name or an ID) and that holds at least `IDS` IDs.
pub fn range_start(text: &str, owners: &[&str]) -> Option<u64> {
    text.lines().find_map(|line| {
        let mut fields = line.trim().split(':');
        let (owner, start, count) = (fields.next()?, fields.next()?, fields.next()?);
        let (start, count) = (start.parse::<u64>().ok()?, count.parse::<u64>().ok()?);
        (owners.contains(&owner) && count >= IDS).then_some(start)
    })
}

/// Whether `user` (by name or ID) has a range of `IDS` IDs in both files.
pub fn has_ranges(owners: &[&str]) -> bool {
    let read = |file: &str| std::fs::read_to_string(file).unwrap_or_default();
    range_start(&read(SUBUID), owners).is_some() && range_start(&read(SUBGID), owners).is_some()
}

/// The first ID past every range of both files, and at least 100000 (below it are the
/// system's own users and groups): where a new range of `IDS` goes.
pub fn free_start() -> u64 {
    let read = |file: &str| std::fs::read_to_string(file).unwrap_or_default();
    end_of_ranges(&read(SUBUID)).max(end_of_ranges(&read(SUBGID))).max(100_000)
}

fn end_of_ranges(text: &str) -> u64 {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.trim().split(':').skip(1);
            Some(fields.next()?.parse::<u64>().ok()? + fields.next()?.parse::<u64>().ok()?)
        })
        .max()
        .unwrap_or(0)
}

fn no_range(file: &str, user: &str) -> String {
    format!(
        "the tests that need a root file system run in a user namespace without root, and {file} gives {user} no range \
         of {IDS} subordinate IDs. As root: `usermod --add-subuids 100000-165535 --add-subgids 100000-165535 {user}` \
         (any free range of {IDS}); `cargo xtask ci --unprivileged-as` does this for its user"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_range_is_found_by_name_or_id_and_must_hold_every_id_debian_uses() {
        let text = "other:100000:65536\nci:165536:1000\nci:200000:65536\n1001:300000:70000\n";
        assert_eq!(range_start(text, &["ci", "1000"]), Some(200000));
        assert_eq!(range_start(text, &["xtask-ci", "1001"]), Some(300000));
        assert_eq!(range_start(text, &["nobody", "65534"]), None);
        assert_eq!(range_start("ci:x:65536\nci:5\n", &["ci"]), None);
        assert_eq!(end_of_ranges(text), 370000);
        assert_eq!(end_of_ranges(""), 0);
    }
}
