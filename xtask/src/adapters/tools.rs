//! Finding the external programs the xtask runs.

use std::path::PathBuf;

/// The first file called `program` on PATH.
pub fn which(program: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?).map(|dir| dir.join(program)).find(|path| path.is_file())
}

/// The cargo that runs this xtask (cargo sets `CARGO` for `cargo run`), else PATH's.
pub fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}
