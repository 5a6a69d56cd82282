//! The programs the checks, the tests and the rehearsal need, found or installed: Debian
//! packages, rustup components and targets, a Python venv with moto and the linters,
//! and tools built with `cargo install` into target/ci-tools.
//! Installing needs root and apt-get; elsewhere it stops and prints the commands.

use std::{ffi::OsString, path::PathBuf};

use anyhow::{bail, Context, Result};
use xshell::cmd;

use crate::{adapters::workspace::Workspace, domain::publishing::digest::sha256_hex};

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
    // The images' provisioning runs in a Debian 12 root made with mmdebstrap, without
    // root in a user namespace (newuidmap maps the user's subordinate IDs); the stand-in
    // ReadySet package is built with dpkg-deb; units are checked by systemd.
    ("mmdebstrap", "mmdebstrap"),
    ("newuidmap", "uidmap"),
    ("dpkg-deb", "dpkg"),
    ("systemd-analyze", "systemd"),
];
const RUSTUP_COMPONENTS: &[&str] = &["clippy", "rustfmt"];
const RUST_TARGETS: &[&str] = &["x86_64-unknown-linux-musl"];
pub const PYTHON_REQUIREMENTS: &str = "xtask/ci-requirements.txt";
/// Tools built from crates.io, pinned: (command, crate, version). AWS CloudFormation
/// Guard checks the templates against ops/cfn-rules/; Debian and PyPI do not ship it.
pub const CARGO_TOOLS: &[(&str, &str, &str)] = &[("cfn-guard", "cfn-guard", "3.2.1")];
/// AWS's resource schemas with their handlers' permissions, which the test-stack role's
/// policy is checked against: cfn-lint shipped them whole up to 1.12.3 (later releases
/// drop the handlers). Only read, never installed: (file, SHA-256).
pub const RESOURCE_SCHEMAS: (&str, &str) =
    ("cfn_lint-1.12.3-py3-none-any.whl", "529dadf23677c91d6427704101f6ab99b51f08b235a172f4863d2f2bdc4dd801");

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

/// Where `cargo install` puts the tools of `CARGO_TOOLS` (in its `bin/`).
pub fn ci_tools(workspace: &Workspace) -> PathBuf {
    workspace.output_dir().join("ci-tools")
}

/// The wheel of `RESOURCE_SCHEMAS`, once downloaded.
pub fn resource_schemas(workspace: &Workspace) -> PathBuf {
    workspace.output_dir().join("cfn-schemas").join(RESOURCE_SCHEMAS.0)
}

/// PATH with the CI venv's tools and the cargo-installed tools first.
pub fn tools_path(workspace: &Workspace) -> Result<OsString> {
    let ours = [ci_venv(workspace).join("bin"), ci_tools(workspace).join("bin")];
    Ok(std::env::join_paths(ours.into_iter().chain(std::env::split_paths(&workspace.env.path)))?)
}

/// Installs what is missing, or, with `install` false or where installing is
/// impossible, fails saying exactly what to install.
/// What `ensure_tools` may install.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Install {
    /// Everything missing: system packages need root and apt-get.
    Everything,
    /// Only what lives under target/ (the venv, cfn-guard, the schemas), as any user
    /// can; missing system packages, components or targets are an error naming them
    /// (an unprivileged agent's image provides those: `cargo xtask ci --list-tools`).
    UnderTarget,
    Nothing,
}

/// What `cargo xtask ci --unprivileged-as` needs beyond the checks' tools: `setfacl`
/// lets its user through to this machine's toolchain, `runuser` runs as that user.
pub const HANDOVER_TOOLS: &[(&str, &str)] = &[("setfacl", "acl"), ("runuser", "util-linux")];

/// Installs what is missing of the machine's part only (packages, rustup components and
/// targets, and `also`), as root; what lives under target/ is left to whoever runs the
/// checks. With `install` false it fails naming what is missing.
pub fn ensure_system_tools(workspace: &Workspace, also: &[(&'static str, &'static str)], install: bool) -> Result<()> {
    let missing = Missing::survey_with(workspace, also)?.system_part();
    match (missing.is_empty(), install) {
        (true, _) => Ok(()),
        (false, true) => missing.install(workspace),
        (false, false) => bail!("missing tools: {}. {}", missing.describe(), missing.how_to_install()),
    }
}

pub fn ensure_tools(workspace: &Workspace, install: Install) -> Result<()> {
    let missing = Missing::survey(workspace)?;
    if missing.is_empty() {
        return Ok(());
    }
    let from_the_image = !missing.debian_packages.is_empty()
        || !missing.rustup_components.is_empty()
        || !missing.rust_targets.is_empty();
    match install {
        Install::Everything => missing.install(workspace),
        Install::UnderTarget if !from_the_image => missing.install(workspace),
        Install::UnderTarget => bail!(
            "missing tools: {}. An unprivileged run installs only what lives under target/; the agent's image must \
             provide the rest (`cargo xtask ci --list-tools`). {}",
            missing.describe(),
            missing.how_to_install()
        ),
        Install::Nothing => bail!("missing tools: {}. {}", missing.describe(), missing.how_to_install()),
    }
}

/// Everything the checks and tests need from the machine, and what `ci` makes itself
/// under target/: what an agent's image must provide for an unprivileged run.
pub fn tool_list() -> String {
    let mut packages: Vec<&str> = SYSTEM_TOOLS.iter().map(|(_, package)| *package).collect();
    packages.sort();
    packages.dedup();
    let mut text = String::from("From the machine (an unprivileged agent's image provides these):\n");
    text += &format!("  Debian packages: {}\n", packages.join(" "));
    text += &format!("  rustup components: {}\n", RUSTUP_COMPONENTS.join(" "));
    text += &format!("  rustup targets: {}\n", RUST_TARGETS.join(" "));
    text += "  python3 with venv and pip (Debian: python3-venv), and network access to PyPI and crates.io\n";
    text += &format!(
        "  user namespaces, and a range of {} subordinate IDs for the agent's user in /etc/subuid and /etc/subgid \
         (the tests that need a root file system run as root of a user namespace)\n",
        crate::adapters::user_namespace::IDS
    );
    text += "Made by `cargo xtask ci` under target/, as any user:\n";
    text += &format!("  target/ci-venv: a Python venv with {PYTHON_REQUIREMENTS} (hashes pinned)\n");
    for (command, krate, version) in CARGO_TOOLS {
        text += &format!("  target/ci-tools/bin/{command}: `cargo install {krate} --version {version}`\n");
    }
    text += &format!("  target/cfn-schemas/{}: AWS's resource schemas (sha256 pinned)\n", RESOURCE_SCHEMAS.0);
    text
}

/// What the checks need and this machine lacks.
#[derive(Default)]
pub struct Missing {
    debian_packages: Vec<&'static str>,
    rustup_components: Vec<&'static str>,
    rust_targets: Vec<&'static str>,
    /// (crate, version) of `CARGO_TOOLS` absent from target/ci-tools or of another version.
    cargo_tools: Vec<(&'static str, &'static str)>,
    /// The schema wheel is absent or not the pinned bytes.
    resource_schemas: bool,
    /// The venv is absent or was made from other requirements.
    python_venv: bool,
}

impl Missing {
    pub fn survey(workspace: &Workspace) -> Result<Missing> {
        Missing::survey_with(workspace, &[])
    }

    /// What is missing of the checks' tools and of `also` (more system tools).
    pub fn survey_with(workspace: &Workspace, also: &[(&'static str, &'static str)]) -> Result<Missing> {
        let sh = &workspace.sh;
        let mut missing = Missing::default();
        for (command, package) in SYSTEM_TOOLS.iter().chain(also) {
            if workspace.env.which(command).is_none() && !missing.debian_packages.contains(package) {
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
        for (command, krate, version) in CARGO_TOOLS {
            let program = ci_tools(workspace).join("bin").join(command);
            let said = cmd!(sh, "{program} --version").quiet().ignore_stderr().read().unwrap_or_default();
            if !said.split_whitespace().any(|word| word == *version) {
                missing.cargo_tools.push((krate, version));
            }
        }
        let wheel = std::fs::read(resource_schemas(workspace)).unwrap_or_default();
        missing.resource_schemas = sha256_hex(&wheel) != RESOURCE_SCHEMAS.1;
        let stamp = std::fs::read_to_string(venv_stamp(workspace)).unwrap_or_default();
        missing.python_venv = stamp != workspace.read(PYTHON_REQUIREMENTS)?;
        Ok(missing)
    }

    /// Only what the machine provides: packages, rustup components and targets.
    pub fn system_part(self) -> Missing {
        Missing {
            debian_packages: self.debian_packages,
            rustup_components: self.rustup_components,
            rust_targets: self.rust_targets,
            ..Missing::default()
        }
    }

    fn is_empty(&self) -> bool {
        self.debian_packages.is_empty()
            && self.rustup_components.is_empty()
            && self.rust_targets.is_empty()
            && self.cargo_tools.is_empty()
            && !self.resource_schemas
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
        if !self.cargo_tools.is_empty() {
            parts.push(format!("cargo-installed tools {} in target/ci-tools", self.cargo_tool_list()));
        }
        if self.resource_schemas {
            parts.push(format!("AWS's resource schemas ({}) in target/cfn-schemas", RESOURCE_SCHEMAS.0));
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
        for (krate, version) in &self.cargo_tools {
            steps.push(format!("`cargo install --debug --locked --root target/ci-tools {krate} --version {version}`"));
        }
        if self.resource_schemas {
            steps.push(format!(
                "`pip download --no-deps --only-binary=:all: -d target/cfn-schemas {}` (sha256 {})",
                schema_requirement(),
                RESOURCE_SCHEMAS.1
            ));
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
        // The tools build (CPU) while pip downloads and installs (mostly the network):
        // on a fresh machine the two together took about as long as the build alone.
        std::thread::scope(|scope| {
            let (root, tools) = (workspace.root.clone(), ci_tools(workspace));
            let built = scope.spawn(move || build_cargo_tools(&root, &tools, &self.cargo_tools));
            let python = self.install_python(workspace);
            built.join().unwrap_or_else(|_| Err(anyhow::anyhow!("building the cargo tools panicked"))).and(python)
        })
    }

    fn install_python(&self, workspace: &Workspace) -> Result<()> {
        if self.python_venv {
            install_venv(workspace)?;
        }
        if self.resource_schemas {
            download_resource_schemas(workspace)?;
        }
        Ok(())
    }

    fn cargo_tool_list(&self) -> String {
        self.cargo_tools.iter().map(|(krate, version)| format!("{krate} {version}")).collect::<Vec<_>>().join(", ")
    }

    fn install_debian_packages(&self, workspace: &Workspace) -> Result<()> {
        let sh = &workspace.sh;
        let is_root = crate::adapters::user_namespace::is_root(workspace).unwrap_or(false);
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

/// Builds `tools` into `into` (target/ci-tools), from `root`, in a shell of its own: it
/// runs beside the venv's installation, which uses the workspace's.
fn build_cargo_tools(root: &std::path::Path, into: &std::path::Path, tools: &[(&str, &str)]) -> Result<()> {
    let sh = xshell::Shell::new()?;
    sh.change_dir(root);
    for (krate, version) in tools {
        println!("==> building {krate} {version} into {} (once per target/)", into.display());
        // A debug build takes about a third of a release build's CPU time, and the
        // rules run over a handful of templates in milliseconds either way.
        cmd!(sh, "cargo install --quiet --debug --locked --root {into} {krate} --version {version}")
            .run()
            .with_context(|| format!("cargo install {krate} {version} failed"))?;
    }
    Ok(())
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

/// `cfn-lint==1.12.3`, from the wheel's file name.
fn schema_requirement() -> String {
    let mut parts = RESOURCE_SCHEMAS.0.split('-');
    format!("{}=={}", parts.next().unwrap_or_default().replace('_', "-"), parts.next().unwrap_or_default())
}

/// Downloads the schema wheel with the venv's pip and keeps it only if its bytes are the
/// pinned ones.
fn download_resource_schemas(workspace: &Workspace) -> Result<()> {
    let sh = &workspace.sh;
    let (pip, wheel) = (ci_venv(workspace).join("bin/pip"), resource_schemas(workspace));
    let dir = wheel.parent().context("the schema wheel's path has a directory")?;
    let requirement = schema_requirement();
    println!("==> downloading AWS's resource schemas ({requirement}) into {}", dir.display());
    cmd!(sh, "{pip} download --quiet --disable-pip-version-check --no-deps --only-binary=:all: -d {dir} {requirement}")
        .run()
        .context("pip download failed")?;
    let got = sha256_hex(&std::fs::read(&wheel).with_context(|| format!("pip left no {}", wheel.display()))?);
    if got != RESOURCE_SCHEMAS.1 {
        std::fs::remove_file(&wheel)?;
        bail!(
            "{} has sha256 {got}, not the pinned {}; the index serves other bytes",
            RESOURCE_SCHEMAS.0,
            RESOURCE_SCHEMAS.1
        );
    }
    Ok(())
}

fn venv_stamp(workspace: &Workspace) -> PathBuf {
    ci_venv(workspace).join("installed-requirements.txt")
}
