//! The checkout the xtask works on, found from the current directory so the same
//! binary works from any subdirectory, in a Buildkite checkout, or in a test's
//! temporary repository.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use xshell::Shell;

use crate::domain::config::ReleaseConfig;

pub struct Workspace {
    pub root: PathBuf,
    pub config: ReleaseConfig,
}

impl Workspace {
    /// The nearest directory at or above the current one whose `Cargo.toml` declares a
    /// `[workspace]`.
    pub fn locate() -> Result<Workspace> {
        let cwd = std::env::current_dir().context("cannot read the current directory")?;
        for dir in cwd.ancestors() {
            let manifest = dir.join("Cargo.toml");
            if let Ok(text) = std::fs::read_to_string(&manifest) {
                if text.lines().any(|line| line.trim() == "[workspace]") {
                    return Workspace::at(dir);
                }
            }
        }
        bail!("no Cargo workspace at or above {}: run `cargo xtask` inside a checkout of the repository", cwd.display())
    }

    pub fn at(root: &Path) -> Result<Workspace> {
        let manifest = root.join("Cargo.toml");
        let text = std::fs::read_to_string(&manifest).with_context(|| format!("cannot read {}", manifest.display()))?;
        let config =
            ReleaseConfig::from_workspace_manifest(&text).with_context(|| format!("in {}", manifest.display()))?;
        Ok(Workspace { root: root.to_owned(), config })
    }

    /// A shell whose relative paths start at the workspace root.
    pub fn shell(&self) -> Result<Shell> {
        let sh = Shell::new().context("cannot start a shell for running commands")?;
        sh.change_dir(&self.root);
        Ok(sh)
    }

    pub fn constants_file(&self) -> PathBuf {
        self.root.join("installer/src/constants.rs")
    }

    pub fn target_dir(&self) -> PathBuf {
        std::env::var_os("CARGO_TARGET_DIR").map(|dir| self.root.join(dir)).unwrap_or_else(|| self.root.join("target"))
    }

    /// Where build outputs are collected for publishing.
    pub fn dist_dir(&self) -> PathBuf {
        self.target_dir().join("dist")
    }
}
