//! `cargo xtask ci`: the one test command. It installs what the checks need when it can
//! (and says exactly what to install when it cannot), then runs every check, reporting
//! all failures rather than stopping at the first.

use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};
use xshell::{cmd, Shell};

use crate::adapters::{emulator, tools::which, workspace::Workspace};

/// Run every check the way CI does, installing missing tools first.
///
/// Example: cargo xtask ci
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Do not install anything; fail with the list of what is missing instead.
    #[arg(long)]
    pub no_install: bool,
}

/// Tools that come from the system package manager: (command, Debian package). The
/// last five are on most machines; the tests use them (downloads, checksums, strip, a
/// pseudo-terminal).
const SYSTEM_TOOLS: &[(&str, &str)] = &[
    ("packer", "packer"),
    ("shellcheck", "shellcheck"),
    ("musl-gcc", "musl-tools"),
    ("curl", "curl"),
    ("wget", "wget"),
    ("openssl", "openssl"),
    ("strip", "binutils"),
    ("script", "bsdutils"),
];
const RUSTUP_COMPONENTS: &[&str] = &["clippy", "rustfmt"];
const RUST_TARGETS: &[&str] = &["x86_64-unknown-linux-musl"];
const PYTHON_REQUIREMENTS: &str = "xtask/ci-requirements.txt";

pub fn run(workspace: &Workspace, args: Args, dry_run: bool) -> Result<()> {
    let sh = workspace.shell()?;
    let checks = checks(workspace)?;
    if dry_run {
        println!("Would install: {}", Missing::survey(&sh, workspace)?.describe());
        println!("Would run:");
        for check in &checks {
            println!("  {}", check.command_line());
        }
        return Ok(());
    }
    ensure_tools(workspace, !args.no_install)?;
    let _path = sh.push_env("PATH", tools_path(workspace)?);
    let _python = sh.push_env("XTASK_PYTHON", emulator::ci_venv(&workspace.root).join("bin/python"));

    let mut results = Vec::new();
    for check in &checks {
        println!("\n==> {}\n    $ {}", check.name, check.command_line());
        let started = Instant::now();
        let outcome = check.run(&sh);
        if let Err(error) = &outcome {
            eprintln!("FAILED: {}: {error:#}", check.name);
        }
        results.push((check.name.clone(), started.elapsed(), outcome.is_ok()));
    }
    println!("\n{}", summary(&results));
    let failed: Vec<&str> = results.iter().filter(|(_, _, ok)| !ok).map(|(name, _, _)| name.as_str()).collect();
    if !failed.is_empty() {
        bail!("{} of {} checks failed: {}; their output is above", failed.len(), results.len(), failed.join(", "));
    }
    Ok(())
}

/// Installs what the checks (and the rehearsal) need, or, with `install` false or where
/// installing is impossible, fails saying exactly what to install.
pub fn ensure_tools(workspace: &Workspace, install: bool) -> Result<()> {
    let sh = workspace.shell()?;
    let missing = Missing::survey(&sh, workspace)?;
    if missing.is_empty() {
        return Ok(());
    }
    if !install {
        bail!("missing tools: {}. {}", missing.describe(), missing.how_to_install());
    }
    missing.install(&sh, workspace)
}

/// PATH with the CI venv's tools (moto, cfn-lint, the AWS CLI, ...) first.
pub fn tools_path(workspace: &Workspace) -> Result<std::ffi::OsString> {
    let venv_bin = emulator::ci_venv(&workspace.root).join("bin");
    let rest = std::env::var_os("PATH").unwrap_or_default();
    Ok(std::env::join_paths(std::iter::once(venv_bin).chain(std::env::split_paths(&rest)))?)
}

fn summary(results: &[(String, Duration, bool)]) -> String {
    let mut text = String::from("Summary:\n");
    for (name, elapsed, ok) in results {
        text += &format!("  {:<4} {:>6.1}s  {name}\n", if *ok { "ok" } else { "FAIL" }, elapsed.as_secs_f64());
    }
    text
}

/// What the checks need and this machine lacks.
#[derive(Default)]
struct Missing {
    debian_packages: Vec<&'static str>,
    rustup_components: Vec<&'static str>,
    rust_targets: Vec<&'static str>,
    /// The venv is absent or was made from other requirements.
    python_venv: bool,
}

impl Missing {
    fn survey(sh: &Shell, workspace: &Workspace) -> Result<Missing> {
        let mut missing = Missing::default();
        for (command, package) in SYSTEM_TOOLS {
            if which(command).is_none() {
                missing.debian_packages.push(package);
            }
        }
        for component in RUSTUP_COMPONENTS {
            let subcommand = if *component == "rustfmt" { "fmt" } else { component };
            if cmd!(sh, "cargo {subcommand} --version").quiet().ignore_stdout().ignore_stderr().run().is_err() {
                missing.rustup_components.push(component);
            }
        }
        let installed = cmd!(sh, "rustup target list --installed").quiet().ignore_stderr().read().unwrap_or_default();
        for target in RUST_TARGETS {
            if !installed.lines().any(|line| line.trim() == *target) {
                missing.rust_targets.push(target);
            }
        }
        let requirements = requirements(workspace)?;
        let stamp = std::fs::read_to_string(venv_stamp(workspace)).unwrap_or_default();
        missing.python_venv = stamp != requirements;
        Ok(missing)
    }

    fn is_empty(&self) -> bool {
        self.debian_packages.is_empty()
            && self.rustup_components.is_empty()
            && self.rust_targets.is_empty()
            && !self.python_venv
    }

    fn describe(&self) -> String {
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
                "`python3 -m venv target/ci-venv && target/ci-venv/bin/pip install -r {PYTHON_REQUIREMENTS}`"
            ));
        }
        format!("Install with: {}; or run `cargo xtask ci` without --no-install as root on Debian", steps.join(", "))
    }

    fn install(&self, sh: &Shell, workspace: &Workspace) -> Result<()> {
        if !self.debian_packages.is_empty() {
            let is_root = cmd!(sh, "id -u").quiet().read().map(|uid| uid.trim() == "0").unwrap_or(false);
            if !is_root || which("apt-get").is_none() {
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
            cmd!(sh, "apt-get install -y -qq --no-install-recommends {packages...}")
                .run()
                .context("apt-get install failed")?;
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
            let venv = emulator::ci_venv(&workspace.root);
            println!("==> creating {} with {PYTHON_REQUIREMENTS}", venv.display());
            cmd!(sh, "python3 -m venv {venv}").run().with_context(|| {
                format!("cannot create a Python venv at {}; on Debian install python3-venv", venv.display())
            })?;
            let pip = venv.join("bin/pip");
            cmd!(sh, "{pip} install --quiet --disable-pip-version-check -r {PYTHON_REQUIREMENTS}")
                .run()
                .context("pip install failed")?;
            std::fs::write(venv_stamp(workspace), requirements(workspace)?)?;
        }
        Ok(())
    }
}

fn requirements(workspace: &Workspace) -> Result<String> {
    let path = workspace.root.join(PYTHON_REQUIREMENTS);
    std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))
}

fn venv_stamp(workspace: &Workspace) -> PathBuf {
    emulator::ci_venv(&workspace.root).join("installed-requirements.txt")
}

/// One check: a program and its arguments, run from the workspace root.
struct Check {
    name: String,
    program: String,
    args: Vec<String>,
}

impl Check {
    fn new(name: &str, program: &str, args: impl IntoIterator<Item = impl Into<String>>) -> Check {
        Check { name: name.into(), program: program.into(), args: args.into_iter().map(Into::into).collect() }
    }

    fn command_line(&self) -> String {
        std::iter::once(self.program.as_str()).chain(self.args.iter().map(String::as_str)).collect::<Vec<_>>().join(" ")
    }

    fn run(&self, sh: &Shell) -> Result<()> {
        let (program, args) = (&self.program, &self.args);
        cmd!(sh, "{program} {args...}").quiet().run()?;
        Ok(())
    }
}

/// The checks for what exists in the checkout: a linter runs only over files of its
/// kind, but when such files exist, a missing linter is a failure, never a skip.
fn checks(workspace: &Workspace) -> Result<Vec<Check>> {
    let root = &workspace.root;
    let mut checks = vec![
        Check::new("rustfmt", "cargo", ["fmt", "--all", "--", "--check"]),
        Check::new("clippy", "cargo", ["clippy", "--workspace", "--all-targets", "--locked", "--", "-D", "warnings"]),
    ];
    let scripts = shell_scripts(root)?;
    if !scripts.is_empty() {
        checks.push(Check::new("shellcheck", "shellcheck", scripts));
    }
    let pipeline = ".buildkite/pipeline.yml";
    if root.join(pipeline).exists() {
        checks.push(Check::new(
            "buildkite schema",
            "check-jsonschema",
            ["--builtin-schema", "vendor.buildkite", pipeline],
        ));
        checks.push(Check::new("yamllint", "yamllint", ["--strict", pipeline]));
    }
    let templates = files_with_extension(&root.join("ops/cfn"), &["yaml", "yml"])?;
    if !templates.is_empty() {
        // W1034 checks that a mapped ImageId looks like an AMI ID; in the sources it is
        // a placeholder. The tests lint the rendered templates with no check ignored.
        let args = ["--ignore-checks", "W1034", "--"].map(String::from).into_iter();
        let templates = templates.into_iter().map(|t| format!("ops/cfn/{t}"));
        checks.push(Check::new("cfn-lint", "cfn-lint", args.chain(templates)));
    }
    if root.join("ops/image-deploy").is_dir() {
        checks.push(Check::new("packer fmt", "packer", ["fmt", "-check", "-diff", "ops/image-deploy"]));
        let commit = format!("-var=commit={}", "0".repeat(40));
        let args = ["validate", commit.as_str(), "-var=stage=internal", "ops/image-deploy"];
        checks.push(Check::new("packer validate", "packer", args));
    }
    checks.push(Check::new("tests", "cargo", ["test", "--workspace", "--locked"]));
    Ok(checks)
}

/// Every shell script of the checkout: `.sh` files, and files without an extension whose
/// first line runs sh or bash.
fn shell_scripts(root: &Path) -> Result<Vec<String>> {
    files_matching(root, &|path| match path.extension() {
        Some(extension) => extension == "sh",
        None => std::fs::read(path).is_ok_and(|bytes| {
            let first = bytes.split(|b| *b == b'\n').next().unwrap_or_default();
            first.starts_with(b"#!") && (first.ends_with(b"/sh") || first.ends_with(b"bash"))
        }),
    })
}

/// Files under `dir` (relative to it, sorted) with one of the extensions.
fn files_with_extension(dir: &Path, extensions: &[&str]) -> Result<Vec<String>> {
    files_matching(dir, &|path| extensions.iter().any(|ext| path.extension().is_some_and(|e| e == *ext)))
}

/// Files under `dir` (relative to it, sorted) that `wanted` accepts, skipping build
/// output and git's own directory.
fn files_matching(dir: &Path, wanted: &dyn Fn(&Path) -> bool) -> Result<Vec<String>> {
    fn walk(base: &Path, dir: &Path, wanted: &dyn Fn(&Path) -> bool, found: &mut Vec<String>) -> Result<()> {
        for entry in std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
            let path = entry?.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            if path.is_dir() {
                if name != ".git" && name != "target" {
                    walk(base, &path, wanted, found)?;
                }
            } else if wanted(&path) {
                found.push(path.strip_prefix(base)?.to_string_lossy().into_owned());
            }
        }
        Ok(())
    }
    let mut found = Vec::new();
    if dir.is_dir() {
        walk(dir, dir, wanted, &mut found)?;
    }
    found.sort();
    Ok(found)
}
