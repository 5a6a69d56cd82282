//! Finding what the build machines produced in an artifacts directory (Buildkite
//! downloads keep their paths, so the files may sit anywhere below it).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::domain::{
    build_record::{sha256_hex, BuildRecord},
    config::ReleaseConfig,
    release_manifest::CollectedBuild,
};

/// Every `<published-name>.json` of a configured target below `dir`, with the binary
/// and checksum file beside it, hashed from disk.
pub fn collect(dir: &Path, config: &ReleaseConfig) -> Result<Vec<(CollectedBuild, PathBuf)>> {
    if !dir.is_dir() {
        anyhow::bail!(
            "the artifacts directory {} does not exist; pass the directory holding the build-installer outputs \
             (target/dist/<tag> on a build machine, or where the pipeline downloaded them)",
            dir.display()
        );
    }
    let names: Vec<String> = config.targets.iter().map(|t| format!("{}.json", t.published_name)).collect();
    let mut records = Vec::new();
    walk(dir, &mut |path| {
        if path.file_name().and_then(|n| n.to_str()).is_some_and(|n| names.iter().any(|name| name == n)) {
            records.push(path.to_owned());
        }
    })?;
    records.sort();
    let mut found = Vec::new();
    for path in records {
        let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
        let record: BuildRecord = serde_json::from_str(&text).with_context(|| {
            format!(
                "{} is not a build record of `cargo xtask build-installer`; remove it from the artifacts, \
                 or rebuild that target with build-installer",
                path.display()
            )
        })?;
        let binary = path.with_file_name(&record.published_name);
        let bytes = std::fs::read(&binary)
            .with_context(|| format!("{} has no binary beside it ({} is missing)", path.display(), binary.display()))?;
        let checksum_path = path.with_file_name(format!("{}.sha256", record.published_name));
        let checksum_file = std::fs::read_to_string(&checksum_path).unwrap_or_default();
        found.push((
            CollectedBuild {
                record_path: path.display().to_string(),
                binary_size: bytes.len() as u64,
                binary_sha256: sha256_hex(&bytes),
                checksum_file,
                record,
            },
            binary,
        ));
    }
    Ok(found)
}

fn walk(dir: &Path, visit: &mut dyn FnMut(&Path)) -> Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            walk(&path, visit)?;
        } else {
            visit(&path);
        }
    }
    Ok(())
}
