//! File writes that never leave a half-written file behind, and output directories that
//! are replaced whole only when the xtask made them.

use std::{
    ffi::OsStr,
    io::Write,
    path::{Path, PathBuf},
};

use anyhow::{bail, Context, Result};

/// The file that proves an output directory was made by the xtask, so a later run may
/// replace it. A directory without it is never deleted.
pub const OUTPUT_MARKER: &str = ".xtask-output";

/// Writes through a temporary file in the same directory and renames it into place, so
/// a reader (or a crash) sees the old contents or the new, never a mix. Keeps the
/// permissions of the file it replaces; a new file is readable by all, as a checkout's
/// files are (the temporary file itself is private until it is complete).
pub fn write_atomically(path: &Path, contents: &[u8]) -> Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let written = (|| -> std::io::Result<()> {
        let mut file = tempfile::Builder::new().prefix(&format!(".{name}.partial-")).tempfile_in(dir)?;
        file.write_all(contents)?;
        file.as_file().sync_all()?;
        let permissions = match std::fs::metadata(path) {
            Ok(metadata) => metadata.permissions(),
            Err(_) => std::os::unix::fs::PermissionsExt::from_mode(0o644),
        };
        file.as_file().set_permissions(permissions)?;
        file.persist(path).map(drop).map_err(|error| error.error)
    })();
    written.with_context(|| format!("cannot write {}", path.display()))
}

/// Every file below `dir`, sorted by path, without following symbolic links (a link
/// cannot pull in files from elsewhere or send the walk round a loop); directories
/// whose name `skip` accepts are not entered.
pub fn files_below(dir: &Path, skip: &dyn Fn(&OsStr) -> bool) -> Result<Vec<PathBuf>> {
    let walk = walkdir::WalkDir::new(dir).follow_links(false).sort_by_file_name();
    let entries = walk
        .into_iter()
        .filter_entry(|entry| entry.depth() == 0 || !entry.file_type().is_dir() || !skip(entry.file_name()));
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.with_context(|| format!("cannot list {}", dir.display()))?;
        if entry.file_type().is_file() {
            files.push(entry.into_path());
        }
    }
    Ok(files)
}

/// Reads a JSON file the xtask wrote earlier; `what` names it for the error message.
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path, what: &str) -> Result<T> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {what} {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not {what}", path.display()))
}

/// Every file below `dir` (not following links), by its path relative to `dir`, with
/// its bytes; directories named in `skip` are left out.
pub fn read_tree(dir: &Path, skip: &[&str]) -> Result<Vec<(String, Vec<u8>)>> {
    let mut files = Vec::new();
    for path in files_below(dir, &|name| skip.iter().any(|s| name == *s))? {
        let relative = path.strip_prefix(dir)?.to_string_lossy().into_owned();
        let bytes = std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
        files.push((relative, bytes));
    }
    Ok(files)
}

/// Places that are never an output directory, whatever they hold.
pub struct Protected<'a> {
    pub checkout: &'a Path,
    pub home: Option<&'a Path>,
}

/// Replaces `out` with a directory holding `files` (name, bytes), or creates it. `out`
/// may be replaced only if it is absent, empty, or was made by an earlier run (it holds
/// the marker). The new contents are written beside it first, so a failure leaves the
/// old directory as it was.
pub fn replace_output_dir(out: &Path, files: &[(String, Vec<u8>)], protected: &Protected, made_by: &str) -> Result<()> {
    refuse_unowned(out, protected)?;
    let parent = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
    let name = out.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let staging = tempfile::Builder::new()
        .prefix(&format!(".{name}.partial-"))
        .tempdir_in(parent)
        .with_context(|| format!("cannot create a staging directory in {}", parent.display()))?;
    for (file, bytes) in files {
        let path = staging.path().join(file);
        std::fs::create_dir_all(path.parent().expect("a file in the staging directory"))?;
        std::fs::write(&path, bytes).with_context(|| format!("cannot write {}", path.display()))?;
    }
    let marker = format!("Written by `cargo xtask {made_by}`; the next run replaces this directory whole.\n");
    std::fs::write(staging.path().join(OUTPUT_MARKER), marker)?;
    swap_in(staging, out)
}

/// Removes an output directory an earlier run made (it holds the marker); an absent one
/// is fine, and any other directory is refused, never deleted.
pub fn remove_output_dir(dir: &Path) -> Result<()> {
    if !dir.exists() {
        return Ok(());
    }
    if !dir.join(OUTPUT_MARKER).is_file() {
        bail!(
            "refusing to remove {}: it holds files the xtask did not write (no {OUTPUT_MARKER} marker). \
             Remove it yourself if it is expendable, then run this again",
            dir.display()
        );
    }
    std::fs::remove_dir_all(dir).with_context(|| format!("cannot remove {}", dir.display()))
}

/// Moves `out` aside (into a fresh directory beside it), the staging directory into its
/// place, and only then removes the old contents: a failure part way leaves either the
/// old output in place or the new one.
fn swap_in(staging: tempfile::TempDir, out: &Path) -> Result<()> {
    let aside = if out.exists() {
        let parent = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let aside = tempfile::Builder::new().prefix(".old-output-").tempdir_in(parent)?;
        std::fs::rename(out, aside.path().join("old"))
            .with_context(|| format!("cannot move {} aside to replace it", out.display()))?;
        Some(aside.keep())
    } else {
        None
    };
    std::fs::rename(staging.path(), out).with_context(|| format!("cannot move the new output to {}", out.display()))?;
    let _moved = staging.keep();
    if let Some(aside) = aside {
        std::fs::remove_dir_all(&aside).with_context(|| {
            format!("{} is in place, but its old contents at {} could not be removed", out.display(), aside.display())
        })?;
    }
    Ok(())
}

/// Refuses every `out` that is not the xtask's to replace, before anything is written.
fn refuse_unowned(out: &Path, protected: &Protected) -> Result<()> {
    let last = out.components().next_back();
    if matches!(
        last,
        None | Some(std::path::Component::CurDir | std::path::Component::ParentDir | std::path::Component::RootDir)
    ) {
        bail!(
            "refusing to use {:?} as an output directory: it names the current, parent or root directory. \
             Pass a directory of its own, such as target/cfn",
            out.display().to_string()
        );
    }
    if !out.exists() {
        return Ok(());
    }
    let real = out.canonicalize().with_context(|| format!("cannot resolve {}", out.display()))?;
    let special: Vec<PathBuf> = [Some(protected.checkout), protected.home]
        .into_iter()
        .flatten()
        .filter_map(|p| p.canonicalize().ok())
        .collect();
    if special.iter().any(|p| p == &real || p.starts_with(&real)) {
        bail!(
            "refusing to replace {}: it is (or holds) the checkout or the home directory. Nothing was written. \
             Pass a directory of its own, such as target/cfn",
            out.display()
        );
    }
    if !real.is_dir() {
        bail!("refusing to replace {}: it is a file, not an output directory. Nothing was written", out.display());
    }
    let empty = std::fs::read_dir(&real)?.next().is_none();
    if !empty && !real.join(OUTPUT_MARKER).is_file() {
        bail!(
            "refusing to replace {}: it holds files the xtask did not write (no {OUTPUT_MARKER} marker). \
             Nothing was written. Pass a new or empty directory, or remove this one yourself if it is expendable",
            out.display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files() -> Vec<(String, Vec<u8>)> {
        vec![("a.yaml".into(), b"a".to_vec())]
    }

    #[test]
    fn replaces_only_what_it_made() {
        let shell = xshell::Shell::new().unwrap();
        let scratch = shell.create_temp_dir().unwrap();
        let checkout = scratch.path().join("checkout");
        std::fs::create_dir_all(checkout.join(".git")).unwrap();
        let home = scratch.path().join("home");
        std::fs::create_dir_all(&home).unwrap();
        let protected = Protected { checkout: &checkout, home: Some(&home) };

        let out = checkout.join("target/cfn");
        replace_output_dir(&out, &files(), &protected, "cfn render").unwrap();
        assert_eq!(std::fs::read(out.join("a.yaml")).unwrap(), b"a");
        replace_output_dir(&out, &[("b.yaml".into(), b"b".to_vec())], &protected, "cfn render").unwrap();
        assert!(!out.join("a.yaml").exists() && out.join("b.yaml").exists(), "replaced whole");

        let refusals: Vec<(PathBuf, &str)> = vec![
            (PathBuf::from("."), "current, parent or root"),
            (PathBuf::from(".."), "current, parent or root"),
            (PathBuf::from("/"), "current, parent or root"),
            (checkout.join("target/.."), "current, parent or root"),
            (checkout.clone(), "the checkout or the home directory"),
            (home.clone(), "the checkout or the home directory"),
            (scratch.path().to_owned(), "the checkout or the home directory"),
            (checkout.join(".git"), "did not write"),
        ];
        std::fs::write(checkout.join(".git/HEAD"), "ref").unwrap();
        for (out, reason) in refusals {
            let error = replace_output_dir(&out, &files(), &protected, "cfn render").unwrap_err().to_string();
            assert!(error.contains(reason), "{}: {error}", out.display());
        }
        assert_eq!(std::fs::read_to_string(checkout.join(".git/HEAD")).unwrap(), "ref", "nothing was deleted");
        let leftovers: Vec<_> =
            std::fs::read_dir(checkout.join("target")).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(leftovers, vec!["cfn"], "no staging or old directories are left behind");
    }

    #[test]
    fn the_walk_is_sorted_skips_what_it_is_told_and_follows_no_link() {
        let shell = xshell::Shell::new().unwrap();
        let dir = shell.create_temp_dir().unwrap();
        let root = dir.path();
        for file in ["b/2", "b/1", "a", "target/x", "c/target/y", "outside/z"] {
            std::fs::create_dir_all(root.join(file).parent().unwrap()).unwrap();
            std::fs::write(root.join(file), file).unwrap();
        }
        std::os::unix::fs::symlink(root.join("outside"), root.join("b/linked-dir")).unwrap();
        std::os::unix::fs::symlink(root.join("a"), root.join("b/linked-file")).unwrap();
        std::os::unix::fs::symlink(root, root.join("b/loop")).unwrap();
        let walk = files_below(root, &|name| name == "target" || name == "outside").unwrap();
        let found: Vec<_> = walk.iter().map(|p| p.strip_prefix(root).unwrap().to_str().unwrap()).collect();
        assert_eq!(found, ["a", "b/1", "b/2"]);
        let error = files_below(&root.join("missing"), &|_| false).unwrap_err();
        assert!(format!("{error:#}").starts_with(&format!("cannot list {}: ", root.join("missing").display())));
    }

    #[test]
    fn atomic_writes_keep_permissions_and_leave_no_temporary_file() {
        use std::os::unix::fs::PermissionsExt;
        let shell = xshell::Shell::new().unwrap();
        let dir = shell.create_temp_dir().unwrap();
        let path = dir.path().join("script.sh");
        std::fs::write(&path, "old").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o750)).unwrap();
        write_atomically(&path, b"new").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o750);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        let new = dir.path().join("new.json");
        write_atomically(&new, b"{}").unwrap();
        assert_eq!(
            std::fs::metadata(&new).unwrap().permissions().mode() & 0o777,
            0o644,
            "readable as a checkout's files"
        );
        std::fs::remove_file(&new).unwrap();
        let error = write_atomically(&dir.path().join("missing/file"), b"new").unwrap_err();
        assert!(format!("{error:#}").starts_with("cannot write "), "{error:#}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
