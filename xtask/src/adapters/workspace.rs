//! The checkout the xtask works on, found from the current directory so the same
//! binary works from any subdirectory, in a Buildkite checkout, or in a test's
//! temporary repository.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use anyhow::{bail, Context, Result};
use xshell::Shell;

use crate::{
    adapters::environment::Environment,
    domain::{config::ReleaseConfig, constants_file::ConstantsFile, constants_file::ReleaseConstants, images::packer},
};

pub const CONSTANTS_FILE: &str = "installer/src/constants.rs";

pub struct Workspace {
    pub root: PathBuf,
    pub config: ReleaseConfig,
    pub env: Environment,
    /// The one shell every command runs programs through; relative paths start at `root`.
    pub sh: Shell,
}

impl Workspace {
    /// The nearest directory at or above the current one whose `Cargo.toml` declares a
    /// `[workspace]`.
    pub fn locate(env: Environment) -> Result<Workspace> {
        let cwd = std::env::current_dir().context("cannot read the current directory")?;
        for dir in cwd.ancestors() {
            if let Ok(text) = std::fs::read_to_string(dir.join("Cargo.toml")) {
                if text.lines().any(|line| line.trim() == "[workspace]") {
                    return Workspace::at(dir, env);
                }
            }
        }
        bail!("no Cargo workspace at or above {}: run `cargo xtask` inside a checkout of the repository", cwd.display())
    }

    pub fn at(root: &Path, env: Environment) -> Result<Workspace> {
        let manifest = root.join("Cargo.toml");
        let text = std::fs::read_to_string(&manifest).with_context(|| format!("cannot read {}", manifest.display()))?;
        let config =
            ReleaseConfig::from_workspace_manifest(&text).with_context(|| format!("in {}", manifest.display()))?;
        let sh = Shell::new().context("cannot start a shell for running commands")?;
        sh.change_dir(root);
        Ok(Workspace { root: root.to_owned(), config, env, sh })
    }

    /// A file of the checkout, by its path relative to the root.
    pub fn read(&self, relative: &str) -> Result<String> {
        std::fs::read_to_string(self.root.join(relative)).with_context(|| format!("cannot read {relative}"))
    }

    pub fn constants(&self) -> Result<ReleaseConstants> {
        let text = self.read(CONSTANTS_FILE)?;
        let file = ConstantsFile::parse(&text).map_err(|error| anyhow::anyhow!("{CONSTANTS_FILE}: {error}"))?;
        Ok(file.values())
    }

    /// The regions every AMI is copied to: `ami_regions` of the Packer locals.
    pub fn ami_regions(&self) -> Result<Vec<String>> {
        packer::local_strings(packer::LOCALS_FILE, &self.read(packer::LOCALS_FILE)?, "ami_regions")
    }

    /// The customer-managed keys that encrypt the images, region to key ARN:
    /// `ami_kms_key_ids` of the Packer locals (empty while the images are not encrypted
    /// with such keys). The queues' policies name these keys and no other.
    pub fn image_kms_keys(&self) -> Result<BTreeMap<String, String>> {
        packer::local_string_map(packer::LOCALS_FILE, &self.read(packer::LOCALS_FILE)?, "ami_kms_key_ids")
    }

    /// The images the Packer templates build.
    pub fn images(&self) -> Result<Vec<String>> {
        packer::images(&self.read(packer::IMAGES_FILE)?)
    }

    /// Cargo's target directory, where compiled binaries are: `CARGO_TARGET_DIR`
    /// (relative to the root when relative), else `target/`.
    pub fn cargo_target_dir(&self) -> PathBuf {
        match &self.env.cargo_target_dir {
            Some(dir) => self.root.join(dir),
            None => self.output_dir(),
        }
    }

    /// Where the xtask writes what it makes (`dist/`, `cfn/`, `packer/`, `ci-venv/`):
    /// `target/` of the checkout, whatever `CARGO_TARGET_DIR` says, because the pipeline's
    /// `artifact_paths` and the documented commands name these paths.
    pub fn output_dir(&self) -> PathBuf {
        self.root.join("target")
    }

    /// Where build outputs are collected for publishing.
    pub fn dist_dir(&self) -> PathBuf {
        self.output_dir().join("dist")
    }
}
