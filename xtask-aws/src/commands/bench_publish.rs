//! `cargo xtask bench publish`: `publish-installer` timed against the manual AWS CLI
//! steps it replaced, on one emulator, in the build that runs it (the pipeline's is a
//! dev build). The figures go in RELEASE.md and issue notes; no test asserts a time.

use std::{
    path::Path,
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};
use xshell::cmd;
use xtask::{
    adapters::{git, toolchain, workspace::Workspace},
    cli::BenchPublishArgs,
    domain::{
        images::packer::{AmiTable, AmisFile, Packages},
        names::{commit::CommitId, stage::Stage, tag::ReleaseTag},
        publishing::build_record::BuildRecord,
        publishing::digest::{checksum_line, sha256_hex},
        publishing::layout,
    },
};

use crate::adapters::{
    emulator::{self, Emulator, EmulatorAccess, Options},
    site::{runtime, Site},
};

/// The release names the bench publishes (in the emulator only): `bench-<round>`.
const TAG_PREFIX: &str = "bench";
const PUBLISH_GOAL: f64 = 0.5;
const RERUN_GOAL: f64 = 0.1;

/// One round's three timings.
struct Round {
    cli: Duration,
    first: Duration,
    rerun: Duration,
}

pub fn run(workspace: &Workspace, args: BenchPublishArgs, dry_run: bool) -> Result<()> {
    let size = args.size_mib * 1024 * 1024;
    println!(
        "Bench of publish-installer: {} installers of {} MiB, against the AWS emulator (moto) on 127.0.0.1, \
         {} rounds (round n publishes release {TAG_PREFIX}-n), each:\n  \
         1. the manual steps: `aws s3 cp` of each installer and the wrapper, one CloudFront invalidation\n  \
         2. `publish-installer {TAG_PREFIX}-n`\n  3. `publish-installer {TAG_PREFIX}-n` again, with nothing to do",
        workspace.config.targets.len(),
        args.size_mib,
        args.rounds
    );
    if dry_run {
        println!("Dry run: nothing was started or written.");
        return Ok(());
    }
    toolchain::ensure_tools(workspace, toolchain::Install::Everything)?;
    let scratch = tempfile::Builder::new().prefix("xtask-bench-").tempdir()?;
    let tags: Vec<ReleaseTag> =
        (1..=args.rounds).map(|round| ReleaseTag::parse(&format!("{TAG_PREFIX}-{round}"))).collect::<Result<_, _>>()?;
    for tag in &tags {
        write_builds(workspace, &scratch.path().join(tag.as_str()), size, tag)?;
    }
    let options = Options {
        distribution_id: Some(&workspace.config.cloudfront_distribution),
        invalidation_seconds: Some(0.0),
        ..Options::default()
    };
    let emulator = Emulator::start(&toolchain::python(workspace), &options)?;
    let access = emulator.access("127.0.0.1");
    prepare(workspace, &access, &tags)?;
    let mut rounds = Vec::new();
    for tag in &tags {
        let artifacts = scratch.path().join(tag.as_str());
        rounds.push(Round {
            cli: time(|| manual_steps(workspace, &access, &artifacts))?,
            first: time(|| publish(workspace, &access, tag, &artifacts))?,
            rerun: time(|| publish(workspace, &access, tag, &artifacts))?,
        });
    }
    report(&rounds);
    Ok(())
}

/// One build output per configured target, of `size` bytes each, as `build-installer`
/// writes them (binary, `.sha256`, record).
fn write_builds(workspace: &Workspace, dir: &Path, size: u64, tag: &ReleaseTag) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    let commit = git::head_commit(&workspace.sh)?;
    for (index, target) in workspace.config.targets.iter().enumerate() {
        let bytes = filler(size as usize, index as u64 + 1);
        let name = &target.published_name;
        let record = BuildRecord {
            target: target.triple.clone(),
            published_name: name.clone(),
            size,
            sha256: sha256_hex(&bytes),
            readyset_tag: tag.clone(),
            cfn_version: tag.clone(),
            commit: commit.clone(),
            dirty: false,
            rustc: "bench".into(),
            build_host: "bench".into(),
        };
        std::fs::write(dir.join(name), &bytes)?;
        std::fs::write(dir.join(format!("{name}.sha256")), checksum_line(&record.sha256, name))?;
        std::fs::write(dir.join(format!("{name}.json")), serde_json::to_string_pretty(&record)?)?;
    }
    Ok(())
}

/// Bytes that neither compress nor repeat (xorshift), so no layer can shortcut them.
fn filler(size: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut bytes = Vec::with_capacity(size + 8);
    while bytes.len() < size {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        bytes.extend_from_slice(&state.to_le_bytes());
    }
    bytes.truncate(size);
    bytes
}

/// The buckets and distribution, and the bench releases' templates and AMIs files
/// (publish refuses a release whose templates are missing).
fn prepare(workspace: &Workspace, access: &EmulatorAccess, tags: &[ReleaseTag]) -> Result<()> {
    let config = &workspace.config;
    runtime()?.block_on(async {
        let site = Site::from_sdk_config(config, access.sdk_config(&config.region).await);
        emulator::create_site(&site).await?;
        for tag in tags {
            let mut objects: Vec<(String, Vec<u8>)> = config
                .public_templates()
                .map(|t| (layout::release_template(tag, &t.name), format!("# stand-in for {}\n", t.name).into_bytes()))
                .collect();
            objects.push((layout::release_amis_file(tag), stand_in_amis_file(tag)?.into_bytes()));
            for (key, body) in objects {
                site.s3.put_object().bucket(&config.cfn_public_bucket).key(key).body(body.into()).send().await?;
            }
        }
        Ok(())
    })
}

/// An AMIs file naming no image, as `cfn upload --release` would leave one beside the
/// templates.
fn stand_in_amis_file(tag: &ReleaseTag) -> Result<String> {
    let file = AmisFile {
        stage: Stage::Release,
        commit: CommitId::parse(&"0".repeat(40))?,
        release: Some(tag.clone()),
        images: AmiTable::new(),
        sources: AmiTable::new(),
        packages: Packages::new(),
    };
    Ok(file.to_json())
}

/// The steps of the manual release page, as a release engineer ran them.
fn manual_steps(workspace: &Workspace, access: &EmulatorAccess, artifacts: &Path) -> Result<()> {
    let config = &workspace.config;
    let bucket = format!("s3://{}", config.orchestrator_bucket);
    for target in &config.targets {
        let name = &target.published_name;
        let from = artifacts.join(name);
        aws(
            workspace,
            access,
            &["s3", "cp", "--quiet", &from.to_string_lossy(), &format!("{bucket}/binaries/{name}")],
        )?;
    }
    let wrapper = workspace.root.join("installer/readyset-orchestrator.sh");
    aws(
        workspace,
        access,
        &["s3", "cp", "--quiet", &wrapper.to_string_lossy(), &format!("{bucket}/readyset-orchestrator.sh")],
    )?;
    let distribution = &config.cloudfront_distribution;
    aws(workspace, access, &["cloudfront", "create-invalidation", "--distribution-id", distribution, "--paths", "/*"])
}

fn aws(workspace: &Workspace, access: &EmulatorAccess, args: &[&str]) -> Result<()> {
    let (sh, program) = (&workspace.sh, toolchain::ci_venv(workspace).join("bin/aws"));
    access
        .isolate(workspace, cmd!(sh, "{program} {args...}"))
        .quiet()
        .ignore_stdout()
        .run()
        .with_context(|| format!("aws {} failed; `cargo xtask ci` installs the AWS CLI", args.join(" ")))
}

fn publish(workspace: &Workspace, access: &EmulatorAccess, tag: &ReleaseTag, artifacts: &Path) -> Result<()> {
    let (sh, xtask, tag) = (&workspace.sh, std::env::current_exe()?, tag.as_str());
    let output = access
        .isolate(workspace, cmd!(sh, "{xtask} publish-installer {tag} --artifacts {artifacts}"))
        .quiet()
        .ignore_status()
        .output()?;
    if !output.status.success() {
        bail!("publish-installer failed:\n{}", String::from_utf8_lossy(&output.stderr));
    }
    Ok(())
}

fn time(work: impl FnOnce() -> Result<()>) -> Result<Duration> {
    let started = Instant::now();
    work()?;
    Ok(started.elapsed())
}

/// Each round's figures, then the medians and their ratios against the goals: one
/// round can be thrown by anything else the machine does.
fn report(rounds: &[Round]) {
    let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64();
    let verdict = |value: f64, goal: f64| if value <= goal { "meets" } else { "misses" };
    println!("\n  round  AWS CLI steps  publish-installer  rerun");
    for (index, round) in rounds.iter().enumerate() {
        println!(
            "  {:>5}  {:>12.2}s  {:>16.2}s  {:>5.2}s",
            index + 1,
            round.cli.as_secs_f64(),
            round.first.as_secs_f64(),
            round.rerun.as_secs_f64()
        );
    }
    let median = |pick: fn(&Round) -> Duration| {
        let mut values: Vec<Duration> = rounds.iter().map(pick).collect();
        values.sort();
        values[values.len() / 2]
    };
    let (cli, first, rerun) = (median(|r| r.cli), median(|r| r.first), median(|r| r.rerun));
    let (publish_ratio, rerun_ratio) = (ratio(first, cli), ratio(rerun, first));
    println!("\nMedians of {} rounds:", rounds.len());
    println!("  AWS CLI steps        {:>7.2}s", cli.as_secs_f64());
    println!(
        "  publish-installer    {:>7.2}s  {publish_ratio:.2} x the AWS CLI ({} the goal of {PUBLISH_GOAL})",
        first.as_secs_f64(),
        verdict(publish_ratio, PUBLISH_GOAL)
    );
    println!(
        "  rerun, nothing to do {:>7.2}s  {rerun_ratio:.2} x the publish ({} the goal of {RERUN_GOAL})",
        rerun.as_secs_f64(),
        verdict(rerun_ratio, RERUN_GOAL)
    );
}
