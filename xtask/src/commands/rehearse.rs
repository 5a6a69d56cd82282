//! `cargo xtask rehearse`: a whole release on this machine, with nothing from AWS. The
//! release path of `.buildkite/pipeline.yml` runs step by step, in dependency order,
//! against the AWS emulator, with a stand-in for `buildkite-agent`. What cannot be real
//! here (macOS builds, the public URL, the base image) is adapted openly and reported.

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};

use crate::{
    adapters::{
        aws::{self, Aws},
        emulator::{self, create_distribution, Emulator},
        git,
        workspace::Workspace,
    },
    cli::Cli,
    commands::ci,
    domain::{
        constants_file::ConstantsFile,
        pipeline::{CommandLine, Pipeline, Step, StepKind, PIPELINE_PATH, RELEASE_NAME_FIELD},
        tag::ReleaseTag,
    },
};

/// The last step of the release path; the rehearsal runs it and everything it needs.
const LAST_STEP: &str = "verify";
/// The step that runs `cargo xtask ci`, which is what runs the rehearsal in the tests.
const CHECKS_STEP: &str = "ci";
/// A base image the emulator's EC2 has, standing in for the production one.
const EMULATOR_BASE_IMAGE: (&str, &str) = ("ubuntu/images/hvm-ssd/ubuntu-trusty-14.04-amd64-server-*", "099720109477");

/// Rehearse a whole release locally: the pipeline's release path against the AWS emulator.
///
/// Starts moto (or uses AWS_ENDPOINT_URL), creates the buckets and the distribution,
/// then runs the steps of .buildkite/pipeline.yml that lead to "verify", in order:
/// real Packer, render, upload, build-installer for what this host can build, publish,
/// verify; finally runs the installer through the published wrapper.
///
/// Example: cargo xtask rehearse
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The name typed into the release block step; by default CFN_VERSION of this checkout.
    #[arg(long, value_name = "NAME")]
    pub release_name: Option<ReleaseTag>,

    /// Keep the directory of meta-data, artifacts and annotations, and say where it is.
    #[arg(long)]
    pub keep: bool,

    /// Do not install missing tools; fail with the list instead.
    #[arg(long)]
    pub no_install: bool,
}

enum Decision {
    Run,
    Block,
    Skip(String),
}

struct Outcome {
    label: String,
    state: State,
    detail: String,
    elapsed: Duration,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Ok,
    Skipped,
    Failed,
    NotRun,
}

pub fn run(workspace: &Workspace, args: Args, dry_run: bool) -> Result<()> {
    let root = &workspace.root;
    let pipeline_text =
        std::fs::read_to_string(root.join(PIPELINE_PATH)).with_context(|| format!("cannot read {PIPELINE_PATH}"))?;
    let pipeline = Pipeline::parse(&pipeline_text)?;
    let problems = pipeline.check(&Cli::pipeline_use);
    if !problems.is_empty() {
        bail!("{PIPELINE_PATH} is inconsistent; fix it before rehearsing:\n  - {}", problems.join("\n  - "));
    }
    let release_name = match args.release_name.clone() {
        Some(name) => name,
        None => {
            let text = std::fs::read_to_string(workspace.constants_file())?;
            let values =
                ConstantsFile::parse(&text).map_err(|e| anyhow::anyhow!("installer/src/constants.rs: {e}"))?.values();
            ReleaseTag::parse(&values.cfn_version).context("CFN_VERSION of this checkout is not a release name")?
        }
    };

    let mut on_path: BTreeSet<String> = pipeline.ancestors(LAST_STEP);
    on_path.insert(LAST_STEP.to_owned());
    let steps: Vec<&Step> = pipeline.in_dependency_order().into_iter().filter(|s| on_path.contains(&s.key)).collect();
    let mut excluded_targets = Vec::new();
    let mut skipped_keys = BTreeSet::new();
    let decisions: Vec<Decision> = steps
        .iter()
        .map(|step| {
            if step.key == CHECKS_STEP {
                skipped_keys.insert(step.key.clone());
                Decision::Skip("the checks and tests are what run this rehearsal".into())
            } else if step.queue.as_deref() == Some("mac") {
                skipped_keys.insert(step.key.clone());
                for line in step.command_lines().unwrap_or_default() {
                    if let CommandLine::Xtask { args: words, .. } = line {
                        if let Some(at) = words.iter().position(|w| w == "--target") {
                            excluded_targets.extend(words.get(at + 1).cloned());
                        }
                    }
                }
                Decision::Skip("needs a macOS agent; its targets are left out of the publish".into())
            } else if step.kind == StepKind::Block {
                Decision::Block
            } else {
                Decision::Run
            }
        })
        .collect();

    println!("Rehearsal of release {release_name} from {PIPELINE_PATH} ({} steps on the release path):", steps.len());
    for (step, decision) in steps.iter().zip(&decisions) {
        match decision {
            Decision::Run => println!("  run    {}", step.label),
            Decision::Block => println!("  answer {}", step.label),
            Decision::Skip(why) => println!("  skip   {} ({why})", step.label),
        }
    }
    println!("Adaptations for this machine:");
    println!("  - AWS is the emulator (moto); Packer starts from the emulator's base image {}", EMULATOR_BASE_IMAGE.0);
    println!(
        "  - publish-installer gets --exclude-target for: {}",
        if excluded_targets.is_empty() { "nothing".to_owned() } else { excluded_targets.join(", ") }
    );
    println!(
        "  - verify gets --base-url pointing at the emulator's bucket instead of {}",
        workspace.config.public_base_url
    );
    if dry_run {
        println!("\nDry run: nothing was started or written.");
        return Ok(());
    }

    ci::ensure_tools(workspace, !args.no_install)?;
    let scratch = tempfile::Builder::new().prefix("xtask-rehearsal-").tempdir()?;
    let rehearsal_dir = scratch.path().to_owned();
    let bin = rehearsal_dir.join("bin");
    std::fs::create_dir_all(&bin)?;
    std::fs::copy(root.join("xtask/emulator/buildkite-agent"), bin.join("buildkite-agent"))?;
    for stale in ["target/artifacts", "target/cfn"] {
        let _ = std::fs::remove_dir_all(root.join(stale));
    }

    let owned_emulator;
    let endpoint = match std::env::var("AWS_ENDPOINT_URL") {
        Ok(endpoint) => endpoint,
        Err(_) => {
            owned_emulator =
                Emulator::start_with(&emulator::python(root), Some(&workspace.config.cloudfront_distribution))?;
            // Nested stacks in the emulator read their templates from a `localhost` URL.
            format!("http://localhost:{}", owned_emulator.port())
        }
    };
    let aws_env = emulator::env_for(&endpoint, &workspace.config.region);
    prepare_world(workspace, &endpoint)?;

    let sh = workspace.shell()?;
    let commit = git::head_commit(&sh)?;
    let path =
        std::env::join_paths(std::iter::once(bin.clone()).chain(std::env::split_paths(&ci::tools_path(workspace)?)))?;
    let step_env: Vec<(&str, String)> = aws_env
        .into_iter()
        .chain([
            ("BUILDKITE", "true".to_owned()),
            ("BUILDKITE_BRANCH", "main".to_owned()),
            ("BUILDKITE_COMMIT", commit.clone()),
            ("BUILDKITE_BUILD_NUMBER", "1".to_owned()),
            ("BUILDKITE_AGENT_NAME", "rehearsal".to_owned()),
            ("REHEARSAL_DIR", rehearsal_dir.display().to_string()),
            ("PKR_VAR_base_image_name", EMULATOR_BASE_IMAGE.0.to_owned()),
            ("PKR_VAR_base_image_owner", EMULATOR_BASE_IMAGE.1.to_owned()),
            ("PATH", path.to_string_lossy().into_owned()),
        ])
        .collect();
    let public_url = format!("{}/{}", endpoint.replace("localhost", "127.0.0.1"), workspace.config.orchestrator_bucket);

    let dirty = !git::uncommitted_files(&sh)?.is_empty();
    if dirty {
        println!("  - the working tree has uncommitted changes: publish-installer gets --allow-dirty (the pipeline never builds a dirty tree)");
    }
    let mut outcomes = Vec::new();
    let mut failed = false;
    for (step, decision) in steps.iter().zip(&decisions) {
        let started = Instant::now();
        let result = match decision {
            _ if failed => {
                let detail = "an earlier step failed".to_owned();
                outcomes.push(Outcome {
                    label: step.label.clone(),
                    state: State::NotRun,
                    detail,
                    elapsed: Duration::ZERO,
                });
                continue;
            }
            Decision::Skip(why) => {
                outcomes.push(Outcome {
                    label: step.label.clone(),
                    state: State::Skipped,
                    detail: why.clone(),
                    elapsed: Duration::ZERO,
                });
                continue;
            }
            Decision::Block => {
                for field in &step.fields {
                    let value = if field == RELEASE_NAME_FIELD {
                        release_name.to_string()
                    } else {
                        bail!(
                            "block step {} asks for a field {field}, and the rehearsal answers only {RELEASE_NAME_FIELD}; \
                             teach commands/rehearse.rs an answer for it",
                            step.key
                        )
                    };
                    std::fs::create_dir_all(rehearsal_dir.join("meta-data"))?;
                    std::fs::write(rehearsal_dir.join("meta-data").join(field), &value)?;
                }
                Ok(if step.fields.is_empty() {
                    "unblocked".to_owned()
                } else {
                    format!("answered {RELEASE_NAME_FIELD} = {release_name}")
                })
            }
            Decision::Run => {
                println!("\n--- {} ---", step.label);
                let context = StepContext {
                    root,
                    env: &step_env,
                    skipped: &skipped_keys,
                    pipeline: &pipeline,
                    excluded_targets: &excluded_targets,
                    public_url: &public_url,
                    dirty,
                };
                run_step(step, &context)
            }
        };
        failed |= result.is_err();
        outcomes.push(Outcome::of(step.label.clone(), result, started.elapsed()));
    }

    if !failed {
        let started = Instant::now();
        let result = run_installer_through_wrapper(&public_url, &release_name, &rehearsal_dir);
        failed |= result.is_err();
        outcomes.push(Outcome::of("Run the installer through the published wrapper".into(), result, started.elapsed()));
    }

    println!("\nRehearsal report (release {release_name}, commit {commit}):");
    for outcome in &outcomes {
        let state = match outcome.state {
            State::Ok => "ok",
            State::Skipped => "skip",
            State::Failed => "FAIL",
            State::NotRun => "not run",
        };
        let detail = if outcome.detail.is_empty() { String::new() } else { format!("  ({})", outcome.detail) };
        println!("  {state:<7} {:>6.1}s  {}{detail}", outcome.elapsed.as_secs_f64(), outcome.label);
    }
    if !excluded_targets.is_empty() {
        println!("  Not rehearsed (no macOS agent here): {}", excluded_targets.join(", "));
    }
    if args.keep {
        let kept = scratch.keep();
        println!("Meta-data, artifacts and annotations are in {}", kept.display());
    }
    if failed {
        bail!("the rehearsal failed; the report above says where");
    }
    println!("The release path of {PIPELINE_PATH} works end to end.");
    Ok(())
}

impl Outcome {
    fn of(label: String, result: Result<String, String>, elapsed: Duration) -> Outcome {
        match result {
            Ok(detail) => Outcome { label, state: State::Ok, detail, elapsed },
            Err(detail) => Outcome { label, state: State::Failed, detail, elapsed },
        }
    }
}

/// The buckets and the distribution the release configuration names, in the emulator.
fn prepare_world(workspace: &Workspace, endpoint: &str) -> Result<()> {
    let config = &workspace.config;
    aws::runtime()?.block_on(async {
        let aws = Aws::from_sdk_config(&emulator::sdk_config_for(endpoint, &config.region).await);
        for bucket in [&config.orchestrator_bucket, &config.cfn_public_bucket, &config.cfn_internal_bucket] {
            let constraint = aws_sdk_s3::types::BucketLocationConstraint::from(config.region.as_str());
            let create = aws_sdk_s3::types::CreateBucketConfiguration::builder().location_constraint(constraint).build();
            if let Err(error) = aws.s3.create_bucket().bucket(bucket).create_bucket_configuration(create).send().await {
                let error = error.into_service_error();
                if !error.is_bucket_already_owned_by_you() {
                    return Err(anyhow::Error::from(error).context(format!("cannot create bucket {bucket} in the emulator")));
                }
            }
        }
        // Customers read through CloudFront; a public-read policy lets plain HTTP stand in.
        let policy = format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::{}/*"}}]}}"#,
            config.orchestrator_bucket
        );
        aws.s3.put_bucket_policy().bucket(&config.orchestrator_bucket).policy(policy).send().await?;
        let listed = aws.cloudfront.list_distributions().send().await?;
        let exists = listed.distribution_list().is_some_and(|l| l.items().iter().any(|d| d.id == config.cloudfront_distribution));
        if !exists {
            let id = create_distribution(&aws.cloudfront, &config.orchestrator_bucket).await?;
            if id != config.cloudfront_distribution {
                bail!(
                    "the emulator at AWS_ENDPOINT_URL made distribution {id}, but the configuration names {}; \
                     start it with XTASK_EMULATOR_DISTRIBUTION_ID={} or unset AWS_ENDPOINT_URL",
                    config.cloudfront_distribution,
                    config.cloudfront_distribution
                );
            }
        }
        Ok(())
    })
}

/// What every step of a rehearsal runs with.
struct StepContext<'a> {
    root: &'a Path,
    env: &'a [(&'a str, String)],
    /// Steps that did not run here (their artifacts do not exist).
    skipped: &'a BTreeSet<String>,
    pipeline: &'a Pipeline,
    excluded_targets: &'a [String],
    /// The emulator's URL of the orchestrator bucket, standing in for the public URL.
    public_url: &'a str,
    dirty: bool,
}

impl StepContext<'_> {
    /// Runs a program in the checkout with the step's environment, as an agent would.
    fn run(&self, program: &str, args: &[&str]) -> Result<(), String> {
        let status = Command::new(program)
            .args(args)
            .current_dir(self.root)
            .envs(self.env.iter().map(|(k, v)| (*k, v.as_str())))
            .status()
            .map_err(|e| format!("cannot run {program}: {e}"))?;
        if status.success() {
            Ok(())
        } else {
            Err(status.to_string())
        }
    }
}

fn run_step(step: &Step, context: &StepContext<'_>) -> Result<String, String> {
    let lines = step.command_lines().map_err(|e| e.to_string())?;
    let mut notes = Vec::new();
    for (text, line) in step.commands.iter().zip(lines) {
        let mut text = text.clone();
        match &line {
            CommandLine::ArtifactDownload(pattern) => {
                let uploaders: Vec<&Step> = context
                    .pipeline
                    .ancestors(&step.key)
                    .iter()
                    .filter_map(|k| context.pipeline.step(k))
                    .filter(|s| s.artifact_paths.iter().any(|p| p == pattern))
                    .collect();
                if !uploaders.is_empty() && uploaders.iter().all(|s| context.skipped.contains(&s.key)) {
                    notes.push(format!("skipped the download of {pattern} (its step did not run)"));
                    continue;
                }
            }
            CommandLine::Xtask { args: words, .. } if words.first().is_some_and(|w| w == "publish-installer") => {
                for target in context.excluded_targets {
                    text += &format!(" --exclude-target {target}");
                }
                if context.dirty {
                    text += " --allow-dirty";
                }
            }
            CommandLine::Xtask { args: words, .. } if words.first().is_some_and(|w| w == "verify") => {
                text += &format!(" --base-url {}", context.public_url);
            }
            _ => {}
        }
        println!("$ {text}");
        context.run("bash", &["-euo", "pipefail", "-c", &text]).map_err(|e| format!("`{text}` failed: {e}"))?;
    }
    for pattern in &step.artifact_paths {
        context
            .run("buildkite-agent", &["artifact", "upload", pattern])
            .map_err(|e| format!("uploading the artifacts {pattern} failed: {e}"))?;
    }
    Ok(notes.join("; "))
}

/// Downloads the published wrapper and runs the installer through it, as a customer does.
fn run_installer_through_wrapper(public_url: &str, release: &ReleaseTag, scratch: &Path) -> Result<String, String> {
    let script: PathBuf = scratch.join("readyset-orchestrator.sh");
    let download = Command::new("curl")
        .args(["--fail", "--silent", "--show-error", "--output"])
        .arg(&script)
        .arg(format!("{public_url}/readyset-orchestrator.sh"))
        .status()
        .map_err(|e| format!("cannot run curl: {e}"))?;
    if !download.success() {
        return Err("cannot download the published wrapper".into());
    }
    let output = Command::new("sh")
        .arg(&script)
        .arg("--version")
        .env("READYSET_INSTALLER_BASE_URL", public_url)
        .output()
        .map_err(|e| format!("cannot run sh: {e}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if output.status.success() && stdout.contains(release.as_str()) {
        Ok(stdout.trim().to_owned())
    } else {
        Err(format!("the wrapper printed {stdout:?} and {:?}", String::from_utf8_lossy(&output.stderr)))
    }
}
