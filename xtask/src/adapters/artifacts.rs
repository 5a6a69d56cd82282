//! Finding what the build machines produced in an artifacts directory (Buildkite
//! downloads keep their paths, so the files may sit anywhere below it).

use std::path::Path;

use anyhow::{Context, Result};

use sha2::{Digest, Sha256};

use super::files;
use crate::domain::{
    config::ReleaseConfig, publishing::build_record::BuildRecord, publishing::release_manifest::CollectedBuild,
};

/// Every `<published-name>.json` of a configured target below `dir`, with the binary
/// and checksum file beside it, hashed from disk. Symbolic links are not followed, so a
/// link cannot pull in files from elsewhere or send the search round a loop.
pub fn collect(dir: &Path, config: &ReleaseConfig) -> Result<Vec<CollectedBuild>> {
    if !dir.is_dir() {
        anyhow::bail!(
            "the artifacts directory {} does not exist; pass the directory holding the build-installer outputs \
             (target/dist/<tag> on a build machine, or where the pipeline downloaded them)",
            dir.display()
        );
    }
    let names: Vec<String> = config.targets.iter().map(|t| format!("{}.json", t.published_name)).collect();
    let records: Vec<_> = files::files_below(dir, &|_| false)?
        .into_iter()
        .filter(|path| path.file_name().is_some_and(|name| names.iter().any(|wanted| name == wanted.as_str())))
        .collect();
    // Each build is hashed on its own thread: hashing is most of a rerun's time.
    std::thread::scope(|scope| {
        let reads: Vec<_> = records.iter().map(|path| scope.spawn(|| read_build(path))).collect();
        reads.into_iter().map(|read| read.join().expect("hashing a build does not panic")).collect()
    })
}

fn read_build(path: &Path) -> Result<CollectedBuild> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let record: BuildRecord = serde_json::from_str(&text).with_context(|| {
        format!(
            "{} is not a build record of `cargo xtask build-installer`; remove it from the artifacts, \
             or rebuild that target with build-installer",
            path.display()
        )
    })?;
    let binary = path.with_file_name(&record.published_name);
    let (binary_size, binary_sha256) = hash_file(&binary)
        .with_context(|| format!("{} has no binary beside it ({} is missing)", path.display(), binary.display()))?;
    let checksum_path = path.with_file_name(format!("{}.sha256", record.published_name));
    let checksum_file = std::fs::read_to_string(&checksum_path).unwrap_or_default();
    Ok(CollectedBuild {
        record_path: path.display().to_string(),
        binary_size,
        binary_sha256,
        binary,
        checksum_file,
        record,
    })
}

/// The size and SHA-256 of a file, read in pieces rather than whole into memory.
pub fn hash_file(path: &Path) -> std::io::Result<(u64, String)> {
    use std::io::Read;
    let (mut file, mut hasher, mut size) = (std::fs::File::open(path)?, Sha256::new(), 0);
    // Small enough to stay in the CPU's cache between the kernel's copy and the hash:
    // with 1 MiB pieces, that copy was a quarter of a publish rerun's CPU time
    // (`perf record` of `cargo xtask bench publish`), with 128 KiB a tenth.
    let mut buffer = vec![0; 128 * 1024];
    loop {
        let read = file.read(&mut buffer)?;
        if read == 0 {
            return Ok((size, hex::encode(hasher.finalize())));
        }
        hasher.update(&buffer[..read]);
        size += read as u64;
    }
}
