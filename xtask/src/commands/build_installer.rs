//! `cargo xtask build-installer`: step 5 of a release, run on each build machine.
//! Builds the installer for one configured target, strips it, proves the binary carries
//! the release, and leaves it in `target/dist/<tag>/` with its checksum and a partial
//! manifest for the publish step to collect.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use xshell::cmd;

use crate::{
    adapters::{files::write_atomically, git, toolchain, workspace::Workspace},
    cli::BuildInstallerArgs,
    domain::{
        config::InstallerTarget,
        names::tag::ReleaseTag,
        publishing::build_record::{contains, BuildRecord},
        publishing::digest::{checksum_line, sha256_hex},
    },
};

const PACKAGE: &str = "readyset-installer";

pub fn run(workspace: &Workspace, args: BuildInstallerArgs, dry_run: bool) -> Result<()> {
    let host = Host::detect(workspace)?;
    let target = workspace.config.select_target(args.target.as_deref(), &host.triple)?.clone();
    let plan = BuildPlan::new(workspace, target, host, args.dist_dir.as_deref())?;
    if dry_run {
        print!("{}", plan.describe(workspace));
        return Ok(());
    }
    let record = build(workspace, &plan)?;
    println!("\nBuilt {} for {} (release {}):", record.published_name, record.target, record.readyset_tag);
    println!("  {}  {} bytes  sha256 {}", plan.binary().display(), record.size, record.sha256);
    println!("  {}", plan.checksum_file().display());
    println!("  {}", plan.record_file().display());
    Ok(())
}

/// The build machine's compiler.
#[derive(Debug, Clone)]
pub struct Host {
    pub triple: String,
    pub rustc: String,
}

impl Host {
    pub fn detect(workspace: &Workspace) -> Result<Host> {
        let (sh, rustc) = (&workspace.sh, &workspace.env.rustc);
        let verbose = cmd!(sh, "{rustc} -vV").quiet().read().with_context(|| format!("cannot run `{rustc} -vV`"))?;
        let triple = verbose
            .lines()
            .find_map(|line| line.strip_prefix("host: "))
            .with_context(|| format!("`{rustc} -vV` printed no host line:\n{verbose}"))?;
        let version = verbose.lines().next().unwrap_or_default();
        Ok(Host { triple: triple.to_owned(), rustc: version.to_owned() })
    }

    /// Whether a binary for `target` can run here: the same triple, or the static musl
    /// build of this Linux host's architecture.
    pub fn can_run(&self, target: &str) -> bool {
        let arch = |triple: &str| triple.split('-').next().unwrap_or_default().to_owned();
        target == self.triple
            || (target.ends_with("-linux-musl")
                && self.triple.contains("-linux-")
                && arch(target) == arch(&self.triple))
    }
}

/// Everything a build needs, decided before anything runs, so `--dry-run` can print it.
#[derive(Debug, Clone)]
pub struct BuildPlan {
    pub target: InstallerTarget,
    pub readyset_tag: ReleaseTag,
    pub cfn_version: ReleaseTag,
    pub host: Host,
    /// Where cargo puts the unstripped binary.
    pub cargo_output: PathBuf,
    /// Where the stripped binary, its checksum and its record go.
    pub out_dir: PathBuf,
    pub strip: String,
    /// The compiler flags of the build, and the only ones (`CARGO_ENCODED_RUSTFLAGS`
    /// overrides every other source of flags): they map the machine's paths to fixed ones.
    pub rustflags: Vec<String>,
    /// The pinned toolchain lacks the target's standard library (a Mac builds both
    /// darwin targets, and `rust-toolchain.toml` lists only the one every Linux
    /// machine needs): `rustup target add` it first.
    pub add_target: bool,
}

impl BuildPlan {
    pub fn new(
        workspace: &Workspace,
        target: InstallerTarget,
        host: Host,
        dist_dir: Option<&Path>,
    ) -> Result<BuildPlan> {
        let tags = workspace.constants()?.tags().context("refusing to build the installer")?;
        let dist_dir = dist_dir.map_or_else(|| workspace.dist_dir(), |dir| workspace.root.join(dir));
        let installed = toolchain::installed_rust_targets(workspace);
        Ok(BuildPlan {
            add_target: installed.is_some_and(|installed| !installed.contains(&target.triple)),
            cargo_output: workspace.cargo_target_dir().join(&target.triple).join("release").join(PACKAGE),
            out_dir: dist_dir.join(tags.readyset_tag.as_str()),
            rustflags: reproducible_rustflags(workspace)?,
            strip: workspace.env.strip.clone(),
            target,
            readyset_tag: tags.readyset_tag,
            cfn_version: tags.cfn_version,
            host,
        })
    }

    pub fn binary(&self) -> PathBuf {
        self.out_dir.join(&self.target.published_name)
    }

    pub fn checksum_file(&self) -> PathBuf {
        self.out_dir.join(format!("{}.sha256", self.target.published_name))
    }

    pub fn record_file(&self) -> PathBuf {
        self.out_dir.join(format!("{}.json", self.target.published_name))
    }

    fn cargo_args(&self) -> Vec<String> {
        ["build", "--release", "--locked", "--package", PACKAGE, "--bin", PACKAGE, "--target", &self.target.triple]
            .map(String::from)
            .to_vec()
    }

    pub fn describe(&self, workspace: &Workspace) -> String {
        let mut text = format!(
            "Plan for the installer of release {} (CFN_VERSION {}) for {} (dry run: nothing is built):\n",
            self.readyset_tag, self.cfn_version, self.target.triple
        );
        if self.add_target {
            text += &format!(
                "  run: rustup target add {}  (the pinned toolchain lacks this target; once per machine)\n",
                self.target.triple
            );
        }
        text += &format!(
            "  run: CARGO_ENCODED_RUSTFLAGS='{}' {} {}\n",
            self.rustflags.join(" "),
            workspace.env.cargo,
            self.cargo_args().join(" ")
        );
        text += &format!("  run: {} -o {} {}\n", self.strip, self.binary().display(), self.cargo_output.display());
        text += &format!("  check: the binary contains {:?}", self.readyset_tag.as_str());
        if self.host.can_run(&self.target.triple) {
            text += &format!(" and `{} --version` prints it", self.target.published_name);
        }
        text += "\n";
        text += &format!("  write: {}\n", self.binary().display());
        text += &format!("  write: {}\n", self.checksum_file().display());
        text += &format!("  write: {}\n", self.record_file().display());
        text
    }
}

/// Flags that replace the checkout's and CARGO_HOME's paths (which panic locations of
/// dependencies carry into the binary) with fixed ones; flags from the environment
/// are refused, since no other machine would have them.
fn reproducible_rustflags(workspace: &Workspace) -> Result<Vec<String>> {
    let env = &workspace.env;
    if !env.rustflags_variables.is_empty() {
        bail!(
            "{} is set; installers are built with the repository's compiler flags only, so that every \
             machine builds the same bytes. Unset it for build-installer",
            env.rustflags_variables.join(" and ")
        );
    }
    let Some(cargo_home) = &env.cargo_home else {
        bail!("neither CARGO_HOME nor HOME is set; set CARGO_HOME to where cargo keeps its registry");
    };
    Ok(vec![
        format!("--remap-path-prefix={}=/readyset", workspace.root.display()),
        format!("--remap-path-prefix={}=/cargo", cargo_home.display()),
    ])
}

/// Runs the plan and returns what was recorded in the partial manifest.
pub fn build(workspace: &Workspace, plan: &BuildPlan) -> Result<BuildRecord> {
    let sh = &workspace.sh;
    let strip = &plan.strip;
    if !workspace.env.has_program(strip) {
        bail!(
            "`{strip}` is not on PATH; it removes symbols from the installer before publishing. \
             Install binutils (`apt-get install binutils`) or the Xcode command line tools \
             (`xcode-select --install`), or point STRIP at a strip for {}",
            plan.target.triple
        );
    }
    if plan.add_target {
        let triple = &plan.target.triple;
        println!("The pinned toolchain lacks {triple}; adding it once for this machine: rustup target add {triple}");
        cmd!(sh, "rustup target add {triple}").run().with_context(|| {
            format!("cannot add the Rust target {triple}; run `rustup target add {triple}` in this checkout and build again")
        })?;
    }
    let cargo = &workspace.env.cargo;
    let args = plan.cargo_args();
    let command_line = format!("{cargo} {}", args.join(" "));
    cmd!(sh, "{cargo} {args...}")
        .env("CARGO_ENCODED_RUSTFLAGS", plan.rustflags.join("\x1f"))
        .run()
        .with_context(|| format!("the build failed: `{command_line}`"))?;

    std::fs::create_dir_all(&plan.out_dir).with_context(|| format!("cannot create {}", plan.out_dir.display()))?;
    let (binary, unstripped) = (plan.binary(), &plan.cargo_output);
    cmd!(sh, "{strip} -o {binary} {unstripped}")
        .run()
        .with_context(|| format!("stripping failed: `{strip} -o {} {}`", binary.display(), unstripped.display()))?;

    let bytes = std::fs::read(&binary).with_context(|| format!("cannot read {}", binary.display()))?;
    if !contains(&bytes, plan.readyset_tag.as_str().as_bytes()) {
        bail!(
            "{} does not contain the release tag {:?}: it was not built from this constants.rs; \
             run `cargo clean -p {PACKAGE}` and build again",
            binary.display(),
            plan.readyset_tag.as_str()
        );
    }
    if plan.host.can_run(&plan.target.triple) {
        let version = cmd!(sh, "{binary} --version")
            .read()
            .with_context(|| format!("the built installer does not run: `{} --version`", binary.display()))?;
        if !version.contains(plan.readyset_tag.as_str()) {
            bail!(
                "`{} --version` printed {version:?}, which does not name release {}",
                binary.display(),
                plan.readyset_tag
            );
        }
    }

    let sha256 = sha256_hex(&bytes);
    let agent = workspace.env.buildkite.as_ref().and_then(|build| build.agent_name.as_deref());
    let record = BuildRecord {
        target: plan.target.triple.clone(),
        published_name: plan.target.published_name.clone(),
        size: bytes.len() as u64,
        sha256: sha256.clone(),
        readyset_tag: plan.readyset_tag.clone(),
        cfn_version: plan.cfn_version.clone(),
        commit: git::head_commit(sh)?,
        dirty: !git::uncommitted_files(sh)?.is_empty(),
        rustc: plan.host.rustc.clone(),
        build_host: match agent {
            Some(agent) => format!("{} (buildkite agent {agent})", plan.host.triple),
            None => plan.host.triple.clone(),
        },
    };
    write_atomically(&plan.checksum_file(), checksum_line(&sha256, &plan.target.published_name).as_bytes())?;
    let json = serde_json::to_string_pretty(&record)? + "\n";
    write_atomically(&plan.record_file(), json.as_bytes())?;
    Ok(record)
}
