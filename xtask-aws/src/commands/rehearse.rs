//! `cargo xtask rehearse`: a whole release on this machine, with nothing from AWS. The
//! release path of `.buildkite/pipeline.yml` runs step by step, in dependency order,
//! against the AWS emulator, with a stand-in for `buildkite-agent`. What cannot be real
//! here (macOS builds, the public URL, the base image) is adapted openly and reported.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::Path,
    process::Command,
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};
use xshell::cmd;
use xtask::{
    adapters::{files, git, toolchain, workspace::Workspace},
    cli::RehearseArgs,
    domain::{
        images::packages,
        images::packer::AmisFile,
        names::commit::CommitId,
        names::tag::ReleaseTag,
        pipeline::buildkite::{PIPELINE_PATH, RELEASE_NAME_FIELD},
        pipeline::queues::{self, Queue},
        publishing::digest::sha256_hex,
    },
};

use crate::{
    adapters::{
        aws_error::aws_error,
        ec2::{Ec2, ImageQuery},
        emulator::{self, Emulator, EMULATOR_BASE_IMAGE},
        iam::{self, AccessKey},
        manifest_signature::ReleaseKey,
        sigv4_http::SignedClient,
        site::{runtime, Site},
    },
    pipeline::{CommandLine, Pipeline, Step, StepKind},
    pipeline_use,
};

/// The last step of the release path; the rehearsal runs it and everything it needs.
const LAST_STEP: &str = "verify";
/// The emulator signing key's public half, in the scratch directory.
const PUBLIC_KEY_FILE: &str = "release-signing-key.pem";

/// Where the pipeline's steps download artifacts (the stand-in marks it as its own).
const ARTIFACTS_DIR: &str = "target/artifacts";

enum Decision {
    Run,
    /// A block step: the rehearsal answers its fields.
    Answer,
    Skip(&'static str),
}

/// The steps on the release path, each with what the rehearsal does with it.
struct Rehearsal {
    pipeline: Pipeline,
    /// The release `cargo xtask release` sets in the scratch checkout.
    release_name: ReleaseTag,
    /// What is typed into the release block step (the release name, unless a mistyped
    /// one is rehearsed).
    typed_name: ReleaseTag,
    steps: Vec<(String, Decision)>,
    /// Targets built only on macOS agents, left out of the publish here.
    excluded_targets: Vec<String>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum StepState {
    Ok,
    Skipped,
    Failed,
    NotRun,
}

struct Outcome {
    label: String,
    state: StepState,
    detail: String,
    elapsed: Duration,
}

pub fn run(workspace: &Workspace, args: RehearseArgs, dry_run: bool) -> Result<()> {
    emulator::refuse_remote_endpoint(workspace)?;
    let rehearsal = Rehearsal::decide(workspace, &args)?;
    print!("{}", rehearsal.describe(workspace));
    if dry_run {
        println!("\nDry run: nothing was started or written.");
        return Ok(());
    }
    let install = if args.no_install { toolchain::Install::Nothing } else { toolchain::Install::Everything };
    toolchain::ensure_tools(workspace, install)?;
    let scratch = tempfile::Builder::new().prefix("xtask-rehearsal-").tempdir()?;
    let checkout = release_checkout(workspace, scratch.path(), &rehearsal.release_name)?;
    let world = World::start(&checkout, scratch)?;
    let outcomes = rehearsal.execute(&checkout, &world);
    print!("{}", report(&rehearsal, &world.commit, &outcomes));
    if args.keep {
        println!("Meta-data, artifacts and annotations are in {}", world.scratch.keep().display());
    }
    if outcomes.iter().any(|o| o.state == StepState::Failed) {
        bail!("the rehearsal failed; the report above says where");
    }
    println!("The release path of {PIPELINE_PATH} works end to end.");
    Ok(())
}

impl Rehearsal {
    fn decide(workspace: &Workspace, args: &RehearseArgs) -> Result<Rehearsal> {
        let pipeline = Pipeline::parse(&workspace.read(PIPELINE_PATH)?)?;
        let problems = pipeline.check(&pipeline_use::of_args);
        if !problems.is_empty() {
            bail!("{PIPELINE_PATH} is inconsistent; fix it before rehearsing:\n  - {}", problems.join("\n  - "));
        }
        let release_name = match &args.release_name {
            Some(name) => name.clone(),
            None => ReleaseTag::parse(&format!("rehearsal-{}", git::head_commit(&workspace.sh)?.short()))?,
        };
        let typed_name = args.type_release_name.clone().unwrap_or_else(|| release_name.clone());
        let mut on_path = pipeline.ancestors(LAST_STEP);
        on_path.insert(LAST_STEP.to_owned());
        let mut excluded_targets = Vec::new();
        let steps = pipeline
            .in_dependency_order()
            .into_iter()
            .filter(|step| on_path.contains(&step.key))
            .map(|step| (step.key.clone(), decision(step, &mut excluded_targets)))
            .collect();
        Ok(Rehearsal { pipeline, release_name, typed_name, steps, excluded_targets })
    }

    fn step(&self, key: &str) -> &Step {
        self.pipeline.step(key).expect("planned steps exist")
    }

    fn skipped(&self) -> BTreeSet<&str> {
        self.steps.iter().filter(|(_, d)| matches!(d, Decision::Skip(_))).map(|(key, _)| key.as_str()).collect()
    }

    fn describe(&self, workspace: &Workspace) -> String {
        let mut text = format!(
            "Rehearsal of release {} from {PIPELINE_PATH} ({} steps on the release path):\n",
            self.release_name,
            self.steps.len()
        );
        text += &format!(
            "  first `cargo xtask release {}` in a scratch clone of this checkout (uncommitted changes committed \
             there), as a person would before merging; every step runs in that clone, and Cargo builds into {}\n",
            self.release_name,
            workspace.cargo_target_dir().display()
        );
        if self.typed_name != self.release_name {
            text += &format!("  the release block step is answered with {} (a mistyped name)\n", self.typed_name);
        }
        for (key, decision) in &self.steps {
            let label = &self.step(key).label;
            text += &match decision {
                Decision::Run => format!("  run    {label}\n"),
                Decision::Answer => format!("  answer {label}\n"),
                Decision::Skip(why) => format!("  skip   {label} ({why})\n"),
            };
        }
        let excluded =
            if self.excluded_targets.is_empty() { "nothing".to_owned() } else { self.excluded_targets.join(", ") };
        text += "Adaptations for this machine:\n";
        text += &format!(
            "  - AWS is the emulator (moto); Packer starts from the emulator's base image {}\n",
            EMULATOR_BASE_IMAGE.0
        );
        text += "  - each step has the access of its queue: the IAM policy of `cargo xtask iam-policy <queue>` on ops \
                 and release, no credentials on build and mac\n";
        text += &format!("  - publish-installer gets --exclude-target for: {excluded}\n");
        text += &format!(
            "  - verify gets --base-url and --s3-url pointing at the emulator's buckets instead of {} and S3\n",
            workspace.config.public_base_url
        );
        text
    }

    fn execute(&self, workspace: &Workspace, world: &World) -> Vec<Outcome> {
        let mut outcomes = Vec::new();
        let mut failed = false;
        for (key, decision) in &self.steps {
            let step = self.step(key);
            let started = Instant::now();
            let result = match decision {
                _ if failed => {
                    outcomes.push(Outcome::not_run(&step.label));
                    continue;
                }
                Decision::Skip(why) => {
                    outcomes.push(Outcome::skipped(&step.label, why));
                    continue;
                }
                Decision::Answer => self.answer(step, world),
                Decision::Run => {
                    println!("\n--- {} ---", step.label);
                    self.run_step(step, workspace, world)
                }
            };
            failed |= result.is_err();
            outcomes.push(Outcome::of(&step.label, result, started.elapsed()));
        }
        if !failed {
            let started = Instant::now();
            let result = run_installer_through_wrapper(workspace, world, &self.release_name);
            outcomes.push(Outcome::of("Run the installer through the published wrapper", result, started.elapsed()));
        }
        outcomes
    }

    /// Fills a block step's fields as the person unblocking it would.
    fn answer(&self, step: &Step, world: &World) -> Result<String> {
        for field in step.field_keys() {
            if field != RELEASE_NAME_FIELD {
                bail!(
                    "block step {} asks for a field {field}, and the rehearsal answers only {RELEASE_NAME_FIELD}; \
                     teach commands/rehearse.rs an answer for it",
                    step.key
                );
            }
            let dir = world.scratch.path().join("meta-data");
            std::fs::create_dir_all(&dir)?;
            std::fs::write(dir.join(field), self.typed_name.as_str())?;
        }
        Ok(if step.fields.is_empty() {
            "unblocked".into()
        } else {
            format!("answered {RELEASE_NAME_FIELD} = {}", self.typed_name)
        })
    }

    fn run_step(&self, step: &Step, workspace: &Workspace, world: &World) -> Result<String> {
        let mut notes = Vec::new();
        for (text, line) in step.commands.iter().zip(step.command_lines()?) {
            let Some(text) = self.adapt(step, text, &line, world, &mut notes) else {
                continue;
            };
            println!("$ {text}");
            world
                .run(workspace, step, "bash", &["-euo", "pipefail", "-c", &text])
                .with_context(|| format!("`{text}` failed"))?;
        }
        for pattern in &step.artifact_paths {
            world
                .run(workspace, step, "buildkite-agent", &["artifact", "upload", pattern])
                .with_context(|| format!("uploading the artifacts {pattern} failed"))?;
        }
        let promoted = step.command_lines()?.into_iter().find_map(|line| match line {
            CommandLine::Xtask { args, .. } if args.starts_with(&["amis".into(), "promote".into()]) => {
                args.iter().position(|a| a == "--stage").and_then(|at| args.get(at + 1).cloned())
            }
            _ => None,
        });
        if let Some(stage) = promoted {
            notes.push(check_copies(workspace, world, &stage)?);
        }
        Ok(notes.join("; "))
    }

    /// A command line as the rehearsal runs it: with the adaptations it prints, or
    /// `None` for a download of what a skipped step would have uploaded.
    fn adapt(
        &self,
        step: &Step,
        text: &str,
        line: &CommandLine,
        world: &World,
        notes: &mut Vec<String>,
    ) -> Option<String> {
        let quote = |word: &str| shlex::try_quote(word).map(|q| q.into_owned()).unwrap_or_else(|_| word.to_owned());
        let mut text = text.to_owned();
        match line {
            CommandLine::ArtifactDownload { path: pattern, .. } => {
                let skipped = self.skipped();
                let uploaders: Vec<&Step> = self
                    .pipeline
                    .ancestors(&step.key)
                    .iter()
                    .filter_map(|k| self.pipeline.step(k))
                    .filter(|s| s.artifact_paths.iter().any(|p| p == pattern))
                    .collect();
                if !uploaders.is_empty() && uploaders.iter().all(|s| skipped.contains(s.key.as_str())) {
                    notes.push(format!("skipped the download of {pattern} (its step did not run)"));
                    return None;
                }
            }
            CommandLine::Xtask { args, .. } if args.first().is_some_and(|w| w == "publish-installer") => {
                for target in &self.excluded_targets {
                    text += &format!(" --exclude-target {}", quote(target));
                }
                notes.push(
                    "signed with the emulator's KMS key and checked with its public half, not the committed key \
                     (whose private half is in production's KMS)"
                        .to_owned(),
                );
            }
            CommandLine::Xtask { args, .. } if args.starts_with(&["amis".to_owned(), "build".to_owned()]) => {
                notes.push(
                    "the images are not provisioned: the emulator runs no instance (the provisioning scripts are \
                     tested in a Debian 12 root)"
                        .to_owned(),
                );
            }
            CommandLine::Other(words) if words.first().is_some_and(|w| w.ends_with("create-mysql-super-stack.sh")) => {
                notes.push(
                    "the stack's instances do not boot, so no UserData runs; each template's UserData is \
                     tested in a provisioned Debian 12 root"
                        .to_owned(),
                );
            }
            CommandLine::Xtask { args, .. } if args.first().is_some_and(|w| w == "preflight") => {
                notes.push(
                    "skipped preflight: the emulator's site stands in for production with a public-read installer \
                     bucket instead of CloudFront's origin access control; the tests run preflight against \
                     ops/release-infra deployed to an emulator"
                        .to_owned(),
                );
                return None;
            }
            CommandLine::Xtask { args, .. } if args.first().is_some_and(|w| w == "verify") => {
                text += &format!(" --base-url {} --s3-url {}", quote(&world.public_url), quote(&world.s3_url));
                let key = world.scratch.path().join(PUBLIC_KEY_FILE);
                text += &format!(" --public-key {}", quote(&key.display().to_string()));
                notes.push("the signature checked with the emulator key's public half, written to a PEM file".into());
            }
            _ => {}
        }
        Some(text)
    }
}

/// The checkout the release runs in: a scratch clone of this one, where `cargo xtask
/// release <name>` sets the constants and commits them, as a person would before
/// merging. Cargo builds into this checkout's target directory (the clone's files keep
/// their times, so what is built already is not built again).
fn release_checkout(workspace: &Workspace, scratch: &Path, name: &ReleaseTag) -> Result<Workspace> {
    let dir = scratch.join("checkout");
    if git::scratch_checkout(&workspace.sh, &workspace.root, &dir)? {
        println!("  - the working tree's uncommitted changes are committed in the scratch checkout");
    }
    println!("\n$ cargo xtask release {name}    # in the scratch checkout {}", dir.display());
    let status = Command::new(std::env::current_exe()?)
        .args(["release", name.as_str()])
        .current_dir(&dir)
        .status()
        .context("cannot run the xtask in the scratch checkout")?;
    if !status.success() {
        bail!("`cargo xtask release {name}` failed in the scratch checkout {} ({status})", dir.display());
    }
    let mut env = workspace.env.clone();
    env.cargo_target_dir = Some(workspace.cargo_target_dir());
    Workspace::at(&dir, env)
}

fn decision(step: &Step, excluded_targets: &mut Vec<String>) -> Decision {
    let runs_ci = step
        .command_lines()
        .unwrap_or_default()
        .iter()
        .any(|line| matches!(line, CommandLine::Xtask { args, .. } if args.first().is_some_and(|w| w == "ci")));
    if runs_ci {
        return Decision::Skip("the checks and tests are what run this rehearsal");
    }
    if step.queue.as_deref().and_then(Queue::parse) == Some(Queue::Mac) {
        for line in step.command_lines().unwrap_or_default() {
            if let CommandLine::Xtask { args, .. } = line {
                if let Some(at) = args.iter().position(|w| w == "--target") {
                    excluded_targets.extend(args.get(at + 1).cloned());
                }
            }
        }
        return Decision::Skip("needs a macOS agent; its targets are left out of the publish");
    }
    if step.kind == StepKind::Block {
        Decision::Answer
    } else {
        Decision::Run
    }
}

/// Everything the steps run in: a scratch directory for the agent stand-in's meta-data
/// and artifacts, the emulator, and the environment an agent would give them.
struct World {
    scratch: tempfile::TempDir,
    /// The rehearsal's own emulator (none when `AWS_ENDPOINT_URL` names one already).
    emulator: Option<Emulator>,
    /// The emulator's administrator, for setting up and checking, never for a step.
    access: emulator::EmulatorAccess,
    /// What every step gets; credentials come from its queue.
    env: Vec<(&'static str, String)>,
    queue_keys: BTreeMap<Queue, AccessKey>,
    /// The emulator's URL of the orchestrator bucket, standing in for the public URL.
    public_url: String,
    /// The emulator's S3, path style, standing in for the template buckets' public URLs.
    s3_url: String,
    commit: CommitId,
}

impl World {
    /// Everything the steps of a release in `workspace` (the scratch checkout) need.
    fn start(workspace: &Workspace, scratch: tempfile::TempDir) -> Result<World> {
        let bin = scratch.path().join("bin");
        std::fs::create_dir_all(&bin)?;
        std::fs::copy(workspace.root.join("xtask-aws/emulator/buildkite-agent"), bin.join("buildkite-agent"))?;
        let (emulator, access) = emulator::for_rehearsal(workspace)?;
        files::remove_output_dir(&workspace.root.join(ARTIFACTS_DIR))?;
        prepare_world(workspace, &access, scratch.path())?;
        let queue_keys = queue_users(workspace, &access)?;
        let tmp = scratch.path().join("tmp");
        std::fs::create_dir_all(&tmp)?;
        let commit = git::head_commit(&workspace.sh)?;
        let path = std::env::join_paths(
            std::iter::once(bin).chain(std::env::split_paths(&toolchain::tools_path(workspace)?)),
        )?;
        let env = access
            .env(&workspace.config.region)
            .into_iter()
            .filter(|(name, _)| !["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"].contains(name))
            .chain([
                ("BUILDKITE", "true".to_owned()),
                ("BUILDKITE_BRANCH", "main".to_owned()),
                ("BUILDKITE_COMMIT", commit.to_string()),
                ("BUILDKITE_BUILD_NUMBER", "1".to_owned()),
                ("BUILDKITE_BUILD_ID", format!("rehearsal-{}", std::process::id())),
                ("TMPDIR", tmp.display().to_string()),
                ("BUILDKITE_AGENT_NAME", "rehearsal".to_owned()),
                ("REHEARSAL_DIR", scratch.path().display().to_string()),
                ("PKR_VAR_base_image_name", EMULATOR_BASE_IMAGE.0.to_owned()),
                ("PKR_VAR_base_image_owner", EMULATOR_BASE_IMAGE.1.to_owned()),
                ("PATH", path.to_string_lossy().into_owned()),
                ("CARGO_TARGET_DIR", workspace.cargo_target_dir().display().to_string()),
            ])
            .collect();
        let s3_url = access.endpoint.replace("localhost", "127.0.0.1");
        let public_url = format!("{s3_url}/{}", workspace.config.orchestrator_bucket);
        Ok(World { scratch, emulator, access, env, queue_keys, public_url, s3_url, commit })
    }

    /// Runs a program of a step in the checkout with the environment an agent of the
    /// step's queue gives it: the queue's keys, or none. Every other `AWS_*` variable of
    /// this process is removed, so a profile or a service endpoint cannot send a step
    /// anywhere but the emulator. A `std::process::Command` rather than xshell's `cmd!`:
    /// the step's output streams to the log as it runs, and its exit status goes into
    /// the report, which xshell gives only for captured output.
    fn run(&self, workspace: &Workspace, step: &Step, program: &str, args: &[&str]) -> Result<()> {
        let mut command = Command::new(program);
        command.args(args).current_dir(&workspace.root);
        for name in &workspace.env.aws_variables {
            command.env_remove(name);
        }
        if let Some((key_id, secret)) =
            step.queue.as_deref().and_then(Queue::parse).and_then(|q| self.queue_keys.get(&q))
        {
            command.env("AWS_ACCESS_KEY_ID", key_id).env("AWS_SECRET_ACCESS_KEY", secret);
        }
        let status = command
            .envs(self.env.iter().map(|(k, v)| (*k, v.as_str())))
            .env("BUILDKITE_STEP_KEY", &step.key)
            .status()
            .with_context(|| format!("cannot run {program}"))?;
        if !status.success() {
            bail!("{program} {status}");
        }
        Ok(())
    }
}

/// A user for each queue that holds credentials, with that queue's policy.
fn queue_users(workspace: &Workspace, admin: &emulator::EmulatorAccess) -> Result<BTreeMap<Queue, AccessKey>> {
    runtime()?.block_on(async {
        let client = SignedClient::new(&admin.sdk_config(&workspace.config.region).await);
        let mut keys = BTreeMap::new();
        for queue in Queue::ALL {
            if let Some(policy) = queues::policy(queue, &workspace.config, &workspace.image_kms_keys()?) {
                let user = format!("agent-{queue}");
                keys.insert(queue, iam::user_with_policy(&client, &user, &serde_json::to_string(&policy)?).await?);
            }
        }
        Ok(keys)
    })
}

/// The buckets and the distribution the release configuration names, in the emulator.
/// Makes the buckets, distribution and signing key; writes the key's public half where
/// `verify` (which runs without credentials) reads it.
/// The buckets, distribution and signing key of a release site, the key's public half
/// written where verify reads it, and the stand-in packages ReadySet's build would have
/// published for this checkout's READYSET_TAG.
fn prepare_world(workspace: &Workspace, access: &emulator::EmulatorAccess, scratch: &Path) -> Result<()> {
    let config = &workspace.config;
    let package = stand_in_package(workspace, scratch)?;
    let tag = workspace.constants()?.tags()?.readyset_tag;
    let key = runtime()?.block_on(async {
        let site = Site::from_sdk_config(config, access.sdk_config(&config.region).await);
        emulator::create_site(&site).await?;
        publish_packages(&site, &tag, &package).await?;
        ReleaseKey::of_kms_key(&site).await
    })?;
    let public_key = scratch.join(PUBLIC_KEY_FILE);
    std::fs::write(&public_key, key.pem()).with_context(|| format!("cannot write {}", public_key.display()))
}

/// A Debian package standing in for ReadySet's, made with dpkg-deb as the product build
/// makes its own: (file name, bytes).
fn stand_in_package(workspace: &Workspace, scratch: &Path) -> Result<(String, Vec<u8>)> {
    let (sh, tree) = (&workspace.sh, scratch.join("stand-in-package"));
    std::fs::create_dir_all(tree.join("DEBIAN"))?;
    std::fs::write(
        tree.join("DEBIAN/control"),
        "Package: readyset\nVersion: 0.0.0-rehearsal\nArchitecture: amd64\nMaintainer: ReadySet release rehearsal \
         <rehearsal@invalid>\nDescription: stand-in for ReadySet in the release rehearsal\n",
    )?;
    let name = "readyset_0.0.0-rehearsal_amd64.deb";
    let deb = scratch.join(name);
    cmd!(sh, "dpkg-deb --root-owner-group --build {tree} {deb}")
        .quiet()
        .ignore_stdout()
        .run()
        .context("cannot make the stand-in ReadySet package; `cargo xtask ci` installs dpkg-deb (Debian's dpkg)")?;
    Ok((name.to_owned(), std::fs::read(&deb)?))
}

/// What ReadySet's build publishes for a tag: the package and its SHA256SUMS.
async fn publish_packages(site: &Site, tag: &ReleaseTag, (name, bytes): &(String, Vec<u8>)) -> Result<()> {
    let prefix = packages::prefix(&site.config, tag);
    let sums = format!("{}  {name}\n", sha256_hex(bytes));
    let bucket = &site.config.cfn_internal_bucket;
    for (key, body) in
        [(format!("{prefix}{name}"), bytes.clone()), (format!("{prefix}{}", packages::SUMS_FILE), sums.into_bytes())]
    {
        let put = site.s3.put_object().bucket(bucket).key(&key).body(body.into());
        put.send().await.map_err(|error| aws_error(&format!("S3 PutObject of s3://{bucket}/{key}"), error))?;
    }
    println!("  - ReadySet's build is stood in for: a stub package and its SHA256SUMS under s3://{bucket}/{prefix}");
    Ok(())
}

/// What customers get must be what the smoke test launched: every promoted AMI is a copy
/// of an internal AMI, by the AMIs files and by its `SourceAmi` tag in EC2.
fn check_copies(workspace: &Workspace, world: &World, stage: &str) -> Result<String> {
    let dist = workspace.dist_dir();
    let internal: AmisFile = files::read_json(&dist.join("amis-internal.json"), "the internal AMIs file")?;
    let promoted: AmisFile = files::read_json(&dist.join(format!("amis-{stage}.json")), "the promoted AMIs file")?;
    if promoted.sources != internal.images {
        bail!(
            "the {stage} AMIs file names sources other than the internal AMIs the smoke test launched; the \
             pipeline's promote step must read the internal AMIs file (`amis promote --from \
             target/dist/amis-internal.json`)"
        );
    }
    let count = runtime()?.block_on(async {
        let client = SignedClient::new(&world.access.sdk_config(&workspace.config.region).await);
        let ec2 = Ec2 { client: &client };
        let mut count = 0;
        for (image, by_region) in &promoted.images {
            for (region, ami) in by_region {
                let found = ec2
                    .describe_images(region, &ImageQuery { ids: std::slice::from_ref(ami), filters: vec![] })
                    .await?;
                let source = found.first().and_then(|i| i.tags.get("SourceAmi")).cloned().unwrap_or_default();
                if source != internal.images[image][region] {
                    bail!(
                        "{ami} ({image} in {region}) is tagged as a copy of {source:?}, not of the internal AMI; \
                         promote from the internal AMIs file the smoke test used"
                    );
                }
                count += 1;
            }
        }
        Ok::<_, anyhow::Error>(count)
    })?;
    Ok(format!("{count} copies of the internal AMIs the smoke test launched (SourceAmi checked in EC2)"))
}

/// Downloads the published wrapper and runs the installer through it, as a customer does:
/// over HTTPS only, which the emulator serves with a certificate of its own.
fn run_installer_through_wrapper(workspace: &Workspace, world: &World, release: &ReleaseTag) -> Result<String> {
    let Some(emulator) = &world.emulator else {
        bail!(
            "the wrapper downloads over HTTPS only, and the emulator AWS_ENDPOINT_URL names serves no HTTPS here; \
             unset AWS_ENDPOINT_URL and the rehearsal starts its own emulator, which does"
        );
    };
    let base = format!("{}/{}", emulator.tls_endpoint(), workspace.config.orchestrator_bucket);
    let (sh, script) = (&workspace.sh, world.scratch.path().join("readyset-orchestrator.sh"));
    let (url, certificate) = (format!("{base}/readyset-orchestrator.sh"), emulator.certificate());
    cmd!(sh, "curl --fail --silent --show-error --proto =https --output {script} {url}")
        .env("CURL_CA_BUNDLE", &certificate)
        .quiet()
        .run()
        .context("cannot download the published wrapper")?;
    let output = cmd!(sh, "sh {script} --version")
        .env("READYSET_INSTALLER_BASE_URL", &base)
        .env("CURL_CA_BUNDLE", &certificate)
        .quiet()
        .ignore_status()
        .output()
        .context("cannot run sh")?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if output.status.success() && stdout.contains(release.as_str()) {
        Ok(stdout.trim().to_owned())
    } else {
        bail!("the wrapper printed {stdout:?} and {:?}", String::from_utf8_lossy(&output.stderr))
    }
}

impl Outcome {
    fn of(label: &str, result: Result<String>, elapsed: Duration) -> Outcome {
        let (state, detail) = match result {
            Ok(detail) => (StepState::Ok, detail),
            Err(error) => (StepState::Failed, format!("{error:#}")),
        };
        Outcome { label: label.to_owned(), state, detail, elapsed }
    }

    fn skipped(label: &str, why: &str) -> Outcome {
        Outcome { label: label.to_owned(), state: StepState::Skipped, detail: why.to_owned(), elapsed: Duration::ZERO }
    }

    fn not_run(label: &str) -> Outcome {
        let detail = "an earlier step failed".to_owned();
        Outcome { label: label.to_owned(), state: StepState::NotRun, detail, elapsed: Duration::ZERO }
    }
}

fn report(rehearsal: &Rehearsal, commit: &CommitId, outcomes: &[Outcome]) -> String {
    let typed = if rehearsal.typed_name == rehearsal.release_name {
        String::new()
    } else {
        format!(", typed as {}", rehearsal.typed_name)
    };
    let mut text = format!("\nRehearsal report (release {}{typed}, commit {commit}):\n", rehearsal.release_name);
    for outcome in outcomes {
        let state = match outcome.state {
            StepState::Ok => "ok",
            StepState::Skipped => "skip",
            StepState::Failed => "FAIL",
            StepState::NotRun => "not run",
        };
        let detail = if outcome.detail.is_empty() { String::new() } else { format!("  ({})", outcome.detail) };
        text += &format!("  {state:<7} {:>6.1}s  {}{detail}\n", outcome.elapsed.as_secs_f64(), outcome.label);
    }
    if !rehearsal.excluded_targets.is_empty() {
        text += &format!("  Not rehearsed (no macOS agent here): {}\n", rehearsal.excluded_targets.join(", "));
    }
    text
}
