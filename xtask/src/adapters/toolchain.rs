//! The programs the checks, the tests and the rehearsal need, found or installed: Debian
//! packages, rustup components and targets, and a Python venv with moto and the linters.
//! Installing needs root and apt-get; elsewhere it stops and prints the commands.

use std::{ffi::OsString, path::PathBuf};

use anyhow::{bail, Context, Result};
use xshell::cmd;

use crate::adapters::workspace::Workspace;

/// Tools that come from the system package manager: (command, Debian package).
const SYSTEM_TOOLS: &[(&str, &str)] = &[
    ("packer", "packer"),
    ("shellcheck", "shellcheck"),
    ("musl-gcc", "musl-tools"),
    // Runs the release-name regex of the pipeline's block step as Buildkite's web page does.
    ("node", "nodejs"),
    ("curl", "curl"),
    ("wget", "wget"),
    ("openssl", "openssl"),
    ("strip", "binutils"),
    ("script", "bsdutils"),
    // The customer shells and download tools the wrapper is tested with.
    ("busybox", "busybox"),
    ("mksh", "mksh"),
    ("posh", "posh"),
    ("unshare", "util-linux"),
    ("shasum", "perl"),
    // The images' provisioning runs in a Debian 12 root made with debootstrap; the
    // stand-in ReadySet package is built with dpkg-deb; units are checked by systemd.
    ("debootstrap", "debootstrap"),
    ("dpkg-deb", "dpkg"),
    ("systemd-analyze", "systemd"),
];
const RUSTUP_COMPONENTS: &[&str] = &["clippy", "rustfmt"];
const RUST_TARGETS: &[&str] = &["x86_64-unknown-linux-musl"];
pub const PYTHON_REQUIREMENTS: &str = "xtask/ci-requirements.txt";

/// The targets whose standard library this checkout's toolchain has, or `None` where
/// rustup does not manage the toolchain (then cargo says what is missing).
pub fn installed_rust_targets(workspace: &Workspace) -> Option<Vec<String>> {
    let sh = &workspace.sh;
    let listed = cmd!(sh, "rustup target list --installed").quiet().ignore_stderr().read().ok()?;
    Some(listed.lines().map(|line| line.trim().to_owned()).filter(|line| !line.is_empty()).collect())
}

/// Where the Python tools (moto, cfn-lint, the AWS CLI, ...) are installed.
pub fn ci_venv(workspace: &Workspace) -> PathBuf {
    workspace.output_dir().join("ci-venv")
}

/// The Python that has moto: `XTASK_PYTHON` if set, else the CI venv's if it exists,
/// else `python3` from PATH.
pub fn python(workspace: &Workspace) -> PathBuf {
    if let Some(python) = &workspace.env.python {
        return python.clone();
    }
    let venv_python = ci_venv(workspace).join("bin/python");
    if venv_python.exists() {
        venv_python
    } else {
        "python3".into()
    }
}

/// PATH with the CI venv's tools first.
pub fn tools_path(workspace: &Workspace) -> Result<OsString> {
    let venv_bin = ci_venv(workspace).join("bin");
    Ok(std::env::join_paths(std::iter::once(venv_bin).chain(std::env::split_paths(&workspace.env.path)))?)
}

/// Installs what is missing, or, with `install` false or where installing is
/// impossible, fails saying exactly what to install.
pub fn ensure_tools(workspace: &Workspace, install: bool) -> Result<()> {
    let missing = Missing::survey(workspace)?;
    if missing.is_empty() {
        return Ok(());
    }
    if !install {
        bail!("missing tools: {}. {}", missing.describe(), missing.how_to_install());
    }
    missing.install(workspace)
}

/// What the checks need and this machine lacks.
#[derive(Default)]
pub struct Missing {
    debian_packages: Vec<&'static str>,
    rustup_components: Vec<&'static str>,
    rust_targets: Vec<&'static str>,
    /// The venv is absent or was made from other requirements.
    python_venv: bool,
}

impl Missing {
    pub fn survey(workspace: &Workspace) -> Result<Missing> {
        let sh = &workspace.sh;
        let mut missing = Missing::default();
        for (command, package) in SYSTEM_TOOLS {
            if workspace.env.which(command).is_none() {
                missing.debian_packages.push(package);
            }
        }
        for component in RUSTUP_COMPONENTS {
            let subcommand = if *component == "rustfmt" { "fmt" } else { component };
            if cmd!(sh, "cargo {subcommand} --version").quiet().ignore_stdout().ignore_stderr().run().is_err() {
                missing.rustup_components.push(component);
            }
        }
        let installed = installed_rust_targets(workspace).unwrap_or_default();
        for target in RUST_TARGETS {
            if !installed.iter().any(|line| line == target) {
                missing.rust_targets.push(target);
            }
        }
        let stamp = std::fs::read_to_string(venv_stamp(workspace)).unwrap_or_default();
        missing.python_venv = stamp != workspace.read(PYTHON_REQUIREMENTS)?;
        Ok(missing)
    }

    fn is_empty(&self) -> bool {
        self.debian_packages.is_empty()
            && self.rustup_components.is_empty()
            && self.rust_targets.is_empty()
            && !self.python_venv
    }

    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if !self.debian_packages.is_empty() {
            parts.push(format!("system packages {}", self.debian_packages.join(" ")));
        }
        if !self.rustup_components.is_empty() {
            parts.push(format!("rustup components {}", self.rustup_components.join(" ")));
        }
        if !self.rust_targets.is_empty() {
            parts.push(format!("rustup targets {}", self.rust_targets.join(" ")));
        }
        if self.python_venv {
            parts.push(format!("a Python venv in target/ci-venv with {PYTHON_REQUIREMENTS}"));
        }
        if parts.is_empty() {
            "nothing (every tool is present)".into()
        } else {
            parts.join("; ")
        }
    }

    fn how_to_install(&self) -> String {
        let mut steps = Vec::new();
        if !self.debian_packages.is_empty() {
            steps.push(format!(
                "`sudo apt-get install {}` (Debian/Ubuntu; on macOS `brew install packer shellcheck`)",
                self.debian_packages.join(" ")
            ));
        }
        if !self.rustup_components.is_empty() {
            steps.push(format!("`rustup component add {}`", self.rustup_components.join(" ")));
        }
        if !self.rust_targets.is_empty() {
            steps.push(format!("`rustup target add {}`", self.rust_targets.join(" ")));
        }
        if self.python_venv {
            steps.push(format!(
                "`python3 -m venv target/ci-venv && target/ci-venv/bin/pip install --require-hashes -r {PYTHON_REQUIREMENTS}`"
            ));
        }
        format!("Install with: {}; or run `cargo xtask ci` without --no-install as root on Debian", steps.join(", "))
    }

    fn install(&self, workspace: &Workspace) -> Result<()> {
        let sh = &workspace.sh;
        if !self.debian_packages.is_empty() {
            self.install_debian_packages(workspace)?;
        }
        if !self.rustup_components.is_empty() {
            let components = &self.rustup_components;
            cmd!(sh, "rustup component add {components...}").run().context("rustup component add failed")?;
        }
        if !self.rust_targets.is_empty() {
            let targets = &self.rust_targets;
            cmd!(sh, "rustup target add {targets...}").run().context("rustup target add failed")?;
        }
        if self.python_venv {
            install_venv(workspace)?;
        }
        Ok(())
    }

    fn install_debian_packages(&self, workspace: &Workspace) -> Result<()> {
        let sh = &workspace.sh;
        let is_root = cmd!(sh, "id -u").quiet().read().map(|uid| uid.trim() == "0").unwrap_or(false);
        if !is_root || workspace.env.which("apt-get").is_none() {
            bail!(
                "cannot install {} here (installing needs root and apt-get). {}",
                self.debian_packages.join(" "),
                self.how_to_install()
            );
        }
        let packages = &self.debian_packages;
        println!("==> installing system packages: {}", packages.join(" "));
        let _frontend = sh.push_env("DEBIAN_FRONTEND", "noninteractive");
        cmd!(sh, "apt-get update -qq").run().context("apt-get update failed")?;
        cmd!(sh, "apt-get install -y -qq --no-install-recommends {packages...}").run().context("apt-get install failed")
    }
}

fn install_venv(workspace: &Workspace) -> Result<()> {
    let sh = &workspace.sh;
    let venv = ci_venv(workspace);
    println!("==> creating {} with {PYTHON_REQUIREMENTS}", venv.display());
    cmd!(sh, "python3 -m venv {venv}").run().with_context(|| {
        format!("cannot create a Python venv at {}; on Debian install python3-venv", venv.display())
    })?;
    let pip = venv.join("bin/pip");
    cmd!(sh, "{pip} install --quiet --disable-pip-version-check --require-hashes -r {PYTHON_REQUIREMENTS}")
        .run()
        .context("pip install failed")?;
    std::fs::write(venv_stamp(workspace), workspace.read(PYTHON_REQUIREMENTS)?)?;
    Ok(())
}

fn venv_stamp(workspace: &Workspace) -> PathBuf {
    ci_venv(workspace).join("installed-requirements.txt")
}
