//! `cargo xtask ci`: the one test command. It installs what the checks need when it can
//! (and says exactly what to install when it cannot), then runs every check, reporting
//! all failures rather than stopping at the first.

use std::{
    path::Path,
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};
use xshell::cmd;

use crate::{
    adapters::{
        ci_user, files,
        toolchain::{self, Install, Missing},
        user_namespace,
        workspace::Workspace,
    },
    cli::CiArgs,
    domain::{names::user::LocalUser, pipeline::buildkite::PIPELINE_PATH, release_infra},
};

/// The tests that need a root file system: a Debian root made with mmdebstrap, bind
/// mounts and chroot (`tests/it/support/debian.rs`; a test keeps this list complete).
/// They run beside the other tests: as root where the checks run as root, otherwise as
/// root of a user namespace (`adapters/user_namespace.rs`), so no agent needs root.
pub const ROOT_TESTS: &[&str] = &[
    "provisioning::a_package_with_another_checksum_is_refused_before_anything_is_installed",
    "provisioning::every_image_is_provisioned_as_packer_runs_it_in_a_debian_12_root",
];

/// Where the tests that need a root file system keep what they make, under target/: a
/// Debian root and its copies. Their files must keep their owners (subordinate IDs,
/// without root), so `--unprivileged-as` never hands this directory to its user.
pub const ROOT_TESTS_DIR: &str = "root-tests";

/// Which checks a run makes, as the agent running it can.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Everything,
    Unprivileged,
    RootTests,
}

pub fn run(workspace: &Workspace, args: CiArgs, dry_run: bool) -> Result<()> {
    if args.list_tools {
        print!("{}", toolchain::tool_list());
        return Ok(());
    }
    if let Some(user) = &args.unprivileged_as {
        return run_unprivileged_as(workspace, user, args.no_install, dry_run);
    }
    let mode = match (args.unprivileged, args.root_tests) {
        (true, _) => Mode::Unprivileged,
        (_, true) => Mode::RootTests,
        _ => Mode::Everything,
    };
    let checks = checks(workspace, mode)?;
    if dry_run {
        println!("Would install: {}", Missing::survey(workspace)?.describe());
        println!("Would run:");
        for check in &checks {
            println!("  {}", check.command_line());
            if let Some(beside) = &check.beside {
                println!("  and beside it: {}", beside.command_line());
            }
        }
        return Ok(());
    }
    let install = match (args.no_install, mode) {
        (true, _) => Install::Nothing,
        (false, Mode::Unprivileged) => Install::UnderTarget,
        (false, _) => Install::Everything,
    };
    toolchain::ensure_tools(workspace, install)?;
    let sh = &workspace.sh;
    let _path = sh.push_env("PATH", toolchain::tools_path(workspace)?);
    let _python = sh.push_env("XTASK_PYTHON", toolchain::ci_venv(workspace).join("bin/python"));

    let results = run_checks(workspace, &checks);
    println!("\n{}", summary(&results));
    let failed: Vec<&str> = results.iter().filter(|(_, _, ok)| !ok).map(|(name, _, _)| *name).collect();
    if !failed.is_empty() {
        bail!("{} of {} checks failed: {}; their output is above", failed.len(), results.len(), failed.join(", "));
    }
    Ok(())
}

/// Runs each check in turn, and a check's companion beside it (its output, kept, follows
/// the check's), reporting every failure rather than stopping at the first.
fn run_checks<'a>(workspace: &Workspace, checks: &'a [Check]) -> Vec<(&'a str, Duration, bool)> {
    let mut results = Vec::new();
    for check in checks {
        println!("\n==> {}\n    $ {}", check.name, check.command_line());
        let started = Instant::now();
        let beside = check.beside.as_ref().map(|beside| {
            println!("    and beside it, {}: $ {}", beside.name, beside.command_line());
            let child = beside.spawn_captured(workspace);
            let waited = std::thread::spawn(move || {
                let output =
                    child.and_then(|child| child.wait_with_output().context("lost a check run beside another"));
                (output, started.elapsed())
            });
            (beside, waited)
        });
        let outcome = check.run(workspace);
        if let Err(error) = &outcome {
            eprintln!("FAILED: {}: {error:#}", check.name);
        }
        results.push((check.name, started.elapsed(), outcome.is_ok()));
        if let Some((beside, waited)) = beside {
            println!("\n==> {} (ran beside {})\n    $ {}", beside.name, check.name, beside.command_line());
            let (output, took) =
                waited.join().unwrap_or_else(|_| (Err(anyhow::anyhow!("its waiter panicked")), Duration::ZERO));
            let outcome = output.and_then(report_captured);
            if let Err(error) = &outcome {
                eprintln!("FAILED: {}: {error:#}", beside.name);
            }
            results.push((beside.name, took, outcome.is_ok()));
        }
    }
    results
}

/// Prints what a companion check said, and whether it passed.
fn report_captured(output: std::process::Output) -> Result<()> {
    eprint!("{}", String::from_utf8_lossy(&output.stderr));
    print!("{}", String::from_utf8_lossy(&output.stdout));
    if !output.status.success() {
        bail!("it exited with {}", output.status);
    }
    Ok(())
}

fn summary(results: &[(&str, Duration, bool)]) -> String {
    let mut text = String::from("Summary:\n");
    for (name, elapsed, ok) in results {
        text += &format!("  {:<4} {:>6.1}s  {name}\n", if *ok { "ok" } else { "FAIL" }, elapsed.as_secs_f64());
    }
    text
}

/// One check: a program and its arguments, run from the workspace root, and maybe
/// another run beside it (the tests that need a root file system, beside the others).
struct Check {
    name: &'static str,
    program: &'static str,
    args: Vec<String>,
    beside: Option<Box<Check>>,
}

impl Check {
    fn new(name: &'static str, program: &'static str, args: impl IntoIterator<Item = impl Into<String>>) -> Check {
        Check { name, program, args: args.into_iter().map(Into::into).collect(), beside: None }
    }

    fn with_beside(self, beside: Check) -> Check {
        Check { beside: Some(Box::new(beside)), ..self }
    }

    fn spawn_captured(&self, workspace: &Workspace) -> Result<std::process::Child> {
        let sh = &workspace.sh;
        let (program, args) = (self.program, &self.args);
        let mut command = std::process::Command::from(cmd!(sh, "{program} {args...}"));
        command.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
        command.spawn().with_context(|| format!("could not start {}", self.name))
    }

    fn command_line(&self) -> String {
        std::iter::once(self.program).chain(self.args.iter().map(String::as_str)).collect::<Vec<_>>().join(" ")
    }

    fn run(&self, workspace: &Workspace) -> Result<()> {
        let sh = &workspace.sh;
        let (program, args) = (self.program, &self.args);
        cmd!(sh, "{program} {args...}").quiet().run()?;
        Ok(())
    }
}

/// AWS's rules for the templates, as AWS CloudFormation Guard reads them, and their cases.
const CFN_RULES: &str = "ops/cfn-rules/readyset.guard";
const CFN_RULE_TESTS: &str = "ops/cfn-rules/readyset.tests.yaml";

/// The checks for what exists in the checkout: a linter runs only over files of its
/// kind, but when such files exist, a missing linter is a failure, never a skip.
fn checks(workspace: &Workspace, mode: Mode) -> Result<Vec<Check>> {
    if mode == Mode::RootTests {
        return Ok(vec![root_tests(workspace)?]);
    }
    let root = &workspace.root;
    let mut checks = vec![
        Check::new("rustfmt", "cargo", ["fmt", "--all", "--", "--check"]),
        Check::new("clippy", "cargo", ["clippy", "--workspace", "--all-targets", "--locked", "--", "-D", "warnings"]),
    ];
    let scripts = files_matching(root, is_shell_script)?;
    if !scripts.is_empty() {
        checks.push(Check::new("shellcheck", "shellcheck", scripts));
    }
    if root.join(PIPELINE_PATH).exists() {
        checks.push(Check::new(
            "buildkite schema",
            "check-jsonschema",
            ["--builtin-schema", "vendor.buildkite", PIPELINE_PATH],
        ));
        checks.push(Check::new("yamllint", "yamllint", ["--strict", PIPELINE_PATH]));
    }
    let templates = files_matching(&root.join("ops/cfn"), |path| path.extension().is_some_and(|e| e == "yaml"))?;
    if !templates.is_empty() {
        // W1034 checks that a mapped ImageId looks like an AMI ID; in the sources it is
        // a placeholder. The tests lint the rendered templates with no check ignored.
        let args = ["--ignore-checks", "W1034", "--"].map(String::from).into_iter();
        checks.push(Check::new("cfn-lint", "cfn-lint", args.chain(templates.iter().map(|t| format!("ops/cfn/{t}")))));
    }
    if root.join(release_infra::TEMPLATE_PATH).exists() {
        checks.push(Check::new("cfn-lint (release infrastructure)", "cfn-lint", [release_infra::TEMPLATE_PATH]));
    }
    if !templates.is_empty() && root.join(CFN_RULES).exists() {
        // The rules' own cases first: a rule that passes everything would pass the templates.
        checks.push(Check::new("cfn-guard rules", "cfn-guard", ["test", "-r", CFN_RULES, "-t", CFN_RULE_TESTS]));
        checks.push(Check::new(
            "cfn-guard",
            "cfn-guard",
            ["validate", "--show-summary", "fail", "-r", CFN_RULES, "-d", "ops/cfn"],
        ));
    }
    if root.join("ops/image-deploy").is_dir() {
        // Packer 1.6's fmt does not recurse: the plugin declaration is checked on its own.
        checks.push(Check::new("packer fmt", "packer", ["fmt", "-check", "-diff", "ops/image-deploy"]));
        checks.push(Check::new(
            "packer fmt (plugins)",
            "packer",
            ["fmt", "-check", "-diff", "ops/image-deploy/plugins"],
        ));
        let commit = format!("-var=commit={}", "0".repeat(40));
        checks.push(Check::new("packer validate", "packer", ["validate", commit.as_str(), "ops/image-deploy"]));
    }
    // Most integration tests wait on an emulator or a child process: four test threads
    // keep two cores busy where the default (one per core) left a quarter idle.
    let mut tests: Vec<&str> = vec!["test", "--workspace", "--locked", "--", "--test-threads=4"];
    tests.extend(ROOT_TESTS.iter().flat_map(|test| ["--skip", test]));
    checks.push(Check::new("tests", "cargo", tests).with_beside(root_tests(workspace)?));
    Ok(checks)
}

/// The tests that need a root file system: as root where this runs as root, otherwise
/// as root of a user namespace. `--workspace` as the other tests are built, so that
/// their build is found fresh (the first of the two to start builds it; the other waits
/// for cargo's lock).
fn root_tests(workspace: &Workspace) -> Result<Check> {
    let cargo = ["cargo", "test", "--workspace", "--locked", "--test", "it", "--", "--exact"];
    let tests = cargo.iter().copied().chain(ROOT_TESTS.iter().copied()).map(String::from);
    let name = "tests that need a root file system";
    if user_namespace::is_root(workspace)? {
        return Ok(Check::new(name, "cargo", tests.skip(1)));
    }
    let prefix = user_namespace::prefix(workspace)?;
    Ok(Check::new(name, "unshare", prefix.into_iter().skip(1).chain(tests)))
}

/// `.sh` files, and files without an extension whose first line runs sh or bash.
fn is_shell_script(path: &Path) -> bool {
    match path.extension() {
        Some(extension) => extension == "sh",
        None => std::fs::read(path).is_ok_and(|bytes| {
            let first = bytes.split(|b| *b == b'\n').next().unwrap_or_default();
            first.starts_with(b"#!") && (first.ends_with(b"/sh") || first.ends_with(b"bash"))
        }),
    }
}

/// Files under `dir` (relative to it, sorted) that `wanted` accepts, skipping build
/// output and git's own directory.
fn files_matching(dir: &Path, wanted: impl Fn(&Path) -> bool) -> Result<Vec<String>> {
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let skip = |name: &std::ffi::OsStr| name == ".git" || name == "target";
    let mut found: Vec<String> = files::files_below(dir, &skip)?
        .into_iter()
        .filter(|path| wanted(path))
        .filter_map(|path| Some(path.strip_prefix(dir).ok()?.to_string_lossy().into_owned()))
        .collect();
    found.sort();
    Ok(found)
}

/// CI's own machine runs as root; this shows that the pipeline's unprivileged step
/// passes there: root installs the machine's packages and hands the checkout over, and
/// every check and test runs as `user` (those that need a root file system in a user
/// namespace), as on an agent.
fn run_unprivileged_as(workspace: &Workspace, user: &LocalUser, no_install: bool, dry_run: bool) -> Result<()> {
    if !dry_run && !user_namespace::is_root(workspace)? {
        bail!(
            "`--unprivileged-as {user}` needs root: it makes {user} and hands it this checkout. Without root, run \
             `cargo xtask ci --unprivileged`"
        );
    }
    let handover = ci_user::plan(workspace, user, &workspace.output_dir().join(ROOT_TESTS_DIR))?;
    let checks_args: &[&str] =
        if no_install { &["ci", "--unprivileged", "--no-install"] } else { &["ci", "--unprivileged"] };
    if dry_run {
        let missing = Missing::survey_with(workspace, toolchain::HANDOVER_TOOLS)?.system_part();
        println!("Would install, as root: {}", missing.describe());
        print!("Would hand the checkout to {user}:\n{}", handover.describe());
        println!("Would run as {user}: xtask {} (`cargo xtask {0} --dry-run` prints its plan)", checks_args.join(" "));
        return Ok(());
    }
    toolchain::ensure_system_tools(workspace, toolchain::HANDOVER_TOOLS, !no_install)?;
    print!("==> handing the checkout to {user}\n{}", handover.describe());
    handover.carry_out(workspace)?;
    let xtask = std::env::current_exe().context("cannot tell where this xtask's binary is")?;
    println!("\n==> as {user}: xtask {}", checks_args.join(" "));
    let status = ci_user::command_as(workspace, user, &xtask, checks_args)?
        .status()
        .with_context(|| format!("could not run the checks as {user}"))?;
    if !status.success() {
        bail!("the checks run as {user} failed ({status}); their output and summary are above");
    }
    Ok(())
}
