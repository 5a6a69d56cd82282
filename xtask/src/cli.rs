//! The whole command line, for both binaries: `xtask` parses it and runs the commands
//! that need no AWS, and hands the rest to `xtask-aws`, which parses the same
//! definition. The pipeline check parses `.buildkite/pipeline.yml`'s command lines
//! with it too (`xtask-aws/src/pipeline.rs` says what each command does with AWS).

use std::{path::PathBuf, time::Duration};

use clap::{Parser, Subcommand};

use crate::domain::{
    images::accounts::AccountId, names::build::BuildId, names::commit::CommitId, names::stage::Stage,
    names::tag::ReleaseTag, names::user::LocalUser, pipeline::queues::Queue, publishing::download_base::DownloadBase,
};

const EXAMPLES: &str = "\
Examples:
  cargo xtask rehearse
      a whole release on this machine against the AWS emulator, no AWS account needed
  cargo xtask release v2024.06.1 --dry-run
      show the change that sets the release constants
  cargo xtask release v2024.06.1 --check
      fail unless this checkout carries that release
  cargo xtask build-installer --target x86_64-unknown-linux-musl
      build, strip and checksum the installer for one target
  cargo xtask publish-installer v2024.06.1 --artifacts target/dist/v2024.06.1 --dry-run
      show what publishing the installers would upload
  cargo xtask status v2024.06.1
      show where each object of a release stands
  cargo xtask verify v2024.06.1
      download a release as customers do and check it
  cargo xtask rollback v2024.05.2 --dry-run
      show what serving an earlier release again would change
  cargo xtask amis build --dry-run
      show the Packer command that builds the internal images
  cargo xtask amis promote --stage release --from target/dist/amis-internal.json --release v2024.06.1 --dry-run
      show the copies of the tested images a release would make
  cargo xtask cfn render --amis target/dist/amis-internal.json --out target/cfn
      bake the AMIs into the CloudFormation templates
  cargo xtask cfn upload --dir target/cfn --internal 0123abc --dry-run
      show the keys an upload would write
  cargo xtask customers add 123456789012 --note Initech
      allow a customer account to launch the AMIs
  cargo xtask customers sync --dry-run
      show the permission changes that apply the customer list to every alpha and release AMI
  cargo xtask preflight --queue release
      check, reading only, that the account holds what a release needs
  cargo xtask signing-key export --dry-run
      show the release signing key's public half that would be committed
  cargo xtask ci
      install missing tools, then run every check and test

Commands that talk to AWS run in the xtask-aws binary, which cargo builds on first use.";

/// Release automation for ReadySet: AMIs, CloudFormation templates and the installer.
///
/// Every command that changes something accepts --dry-run, which prints the whole plan
/// and changes nothing. AWS credentials come from the standard chain (environment,
/// profile, SSO, instance role); AWS_ENDPOINT_URL points every AWS call elsewhere.
#[derive(Parser, Debug)]
#[command(name = "cargo xtask", bin_name = "cargo xtask", after_help = EXAMPLES, max_term_width = 100)]
pub struct Cli {
    /// Print the whole plan (commands, keys, sizes, checksums) and change nothing.
    #[arg(long, global = true)]
    pub dry_run: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    Release(ReleaseArgs),
    BuildInstaller(BuildInstallerArgs),
    PublishInstaller(PublishInstallerArgs),
    Status(StatusArgs),
    Verify(VerifyArgs),
    Rollback(RollbackArgs),
    /// Build the internal AMIs with Packer, or promote tested ones to alpha or release.
    #[command(subcommand)]
    Amis(AmisCommand),
    /// Render CloudFormation templates with AMIs and upload them.
    #[command(subcommand)]
    Cfn(CfnCommand),
    /// List, add or remove customer accounts allowed to launch the AMIs, and apply the list.
    #[command(subcommand)]
    Customers(CustomersCommand),
    Rehearse(RehearseArgs),
    /// Measure a command against the AWS emulator.
    #[command(subcommand)]
    Bench(BenchCommand),
    Preflight(PreflightArgs),
    /// Hold, release, show or take over the lock that lets one release run at a time.
    #[command(subcommand)]
    ReleaseLock(ReleaseLockCommand),
    /// The release's own AWS resources as a CloudFormation template.
    #[command(subcommand)]
    ReleaseInfra(ReleaseInfraCommand),
    /// Export the release signing key's public half from KMS into the checkout.
    #[command(subcommand)]
    SigningKey(SigningKeyCommand),
    IamPolicy(IamPolicyArgs),
    Ci(CiArgs),
}

/// Set the release constants and commit them on a new branch `release/<TAG>`.
///
/// Rewrites only the string literals of READYSET_TAG and CFN_VERSION in
/// installer/src/constants.rs. The working tree must be clean.
///
/// Example: cargo xtask release v2024.06.1 --dry-run
#[derive(clap::Args, Debug)]
pub struct ReleaseArgs {
    /// The release name customers will see; also the S3 prefix of its templates.
    /// ASCII letters, digits, '.', '_', '-'; at most 64; not 'alpha' or 'latest'.
    /// In Buildkite it defaults to the name typed into the release block step.
    pub tag: Option<ReleaseTag>,

    /// Set READYSET_TAG to this instead (CFN_VERSION still becomes <TAG>).
    #[arg(long, value_name = "TAG")]
    pub readyset_tag: Option<ReleaseTag>,

    /// Change nothing; fail unless both constants already equal the release.
    #[arg(long, conflicts_with = "no_commit")]
    pub check: bool,

    /// Rewrite the file but leave it uncommitted on the current branch.
    #[arg(long)]
    pub no_commit: bool,
}

/// Build, strip and checksum the installer for one target into target/dist/<tag>/.
///
/// The build is reproducible: paths of the checkout and of CARGO_HOME are remapped, the
/// toolchain is the one rust-toolchain.toml pins, and RUSTFLAGS-like variables are
/// refused, so another machine building the same commit gets the same bytes.
///
/// Without --target it builds for this host when the host is a configured target, or
/// the one target configured for this kind of host (the static musl build on Linux).
///
/// Example: cargo xtask build-installer --target x86_64-unknown-linux-musl
#[derive(clap::Args, Debug)]
pub struct BuildInstallerArgs {
    /// Rust target triple; one of the targets in [workspace.metadata.release].
    #[arg(long, value_name = "TRIPLE")]
    pub target: Option<String>,

    /// Write into <DIR>/<tag>/ instead of target/dist/<tag>/ (the pipeline's second
    /// Linux build keeps its results apart from the first, for publish to compare).
    #[arg(long, value_name = "DIR")]
    pub dist_dir: Option<PathBuf>,
}

/// Publish the installers of a release to S3 and point customers at them.
///
/// Signs the manifest with the configured KMS key (the dry run signs too, and shows the
/// signature in the plan). Refuses, before writing anything, when a build is missing or
/// inconsistent, when the release's CloudFormation templates are not published, when
/// the signature does not verify with the committed public key, or when a versioned key
/// already holds other bytes. Running it again completes an interrupted publish.
///
/// Example: cargo xtask publish-installer v2024.06.1 --artifacts target/dist/v2024.06.1 --dry-run
#[derive(clap::Args, Debug)]
pub struct PublishInstallerArgs {
    /// The release; must equal READYSET_TAG of the builds. In Buildkite it defaults to
    /// the name typed into the release block step.
    pub tag: Option<ReleaseTag>,

    /// Directory holding the build-installer outputs of every target (searched recursively).
    #[arg(long, value_name = "DIR")]
    pub artifacts: PathBuf,

    /// Publish even though the templates for the builds' CFN_VERSION are not in the public bucket.
    #[arg(long)]
    pub allow_missing_templates: bool,

    /// Publish builds made from a working tree with uncommitted changes.
    #[arg(long)]
    pub allow_dirty: bool,

    /// Leave a configured target out of this release on purpose (repeatable); its
    /// platform's customers are told the release has no installer for them.
    #[arg(long = "exclude-target", value_name = "TRIPLE")]
    pub exclude_targets: Vec<String>,

    /// Publish although this release's commit is an ancestor of the served release's,
    /// or outside its history (customers would move back). `cargo xtask rollback` is the
    /// usual way back.
    #[arg(long)]
    pub allow_downgrade: bool,

    /// How long to wait for the CloudFront invalidation (e.g. 900s, 15m).
    #[arg(long, default_value = "15m", value_parser = duration, value_name = "DURATION")]
    pub invalidation_timeout: Duration,
}

/// Show every object of a release: present, missing or different, whether its
/// manifest's signature verifies, and which release the legacy keys and the wrapper
/// serve now; or, with --all, every release the signed index lists.
///
/// Example: cargo xtask status v2024.06.1
/// Example: cargo xtask status --all
#[derive(clap::Args, Debug)]
pub struct StatusArgs {
    #[arg(required_unless_present = "all")]
    pub tag: Option<ReleaseTag>,

    /// List every release from the signed index of releases (`releases.json`), with the
    /// one the signed pointer names current.
    #[arg(long, conflicts_with = "tag")]
    pub all: bool,

    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,

    /// Check the signature with this public key (PEM) instead of the committed one.
    #[arg(long, value_name = "PEM")]
    pub public_key: Option<PathBuf>,
}

/// Download every published object of a release as customers do, and check it.
///
/// Checks the manifest's signature with the committed public key, sizes and SHA-256
/// against the manifest, that the wrapper and legacy keys serve this release, and that
/// the templates the installer points at can be read. It uses no AWS credentials:
/// everything is read anonymously, through public URLs.
///
/// Example: cargo xtask verify v2024.06.1
#[derive(clap::Args, Debug)]
pub struct VerifyArgs {
    /// The release; in Buildkite it defaults to the name typed into the release block step.
    pub tag: Option<ReleaseTag>,

    /// Download from here instead of the configured public URL (e.g. the bucket's own
    /// URL, to check before the CDN). HTTPS; plain HTTP only to this machine (an
    /// emulator), since customers' scripts download over HTTPS only.
    #[arg(long, value_name = "URL")]
    pub base_url: Option<DownloadBase>,

    /// Read the templates at <URL>/<bucket>/<key> (path style, such as an emulator's)
    /// instead of https://<bucket>.s3.<region>.amazonaws.com/<key>. HTTPS, or plain
    /// HTTP to this machine, as for --base-url.
    #[arg(long, value_name = "URL")]
    pub s3_url: Option<DownloadBase>,

    /// Check the manifest's signature with this public key (PEM) instead of the
    /// committed ops/release-signing-key.pem.
    #[arg(long, value_name = "PEM")]
    pub public_key: Option<PathBuf>,
}

/// Serve an earlier release again: legacy keys and wrapper back to <TAG>, then invalidate.
///
/// Refuses a release whose versioned objects are incomplete, or whose manifest's
/// signature is missing or does not verify with the committed public key.
///
/// Example: cargo xtask rollback v2024.05.2 --dry-run
#[derive(clap::Args, Debug)]
pub struct RollbackArgs {
    /// The earlier release to serve.
    pub tag: ReleaseTag,

    /// What to do with the legacy key of a platform <TAG> has no installer for, when it
    /// serves another release: keep it there, or remove it (old wrappers on that
    /// platform then find no installer). Required when there is such a key.
    #[arg(long, value_enum, value_name = "WHAT")]
    pub left_out_keys: Option<LeftOutKeys>,

    /// How long to wait for the CloudFront invalidation (e.g. 900s, 15m).
    #[arg(long, default_value = "15m", value_parser = duration, value_name = "DURATION")]
    pub invalidation_timeout: Duration,
}

/// What a rollback does with the legacy keys of platforms the release leaves out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LeftOutKeys {
    Keep,
    Remove,
}

#[derive(Subcommand, Debug)]
pub enum AmisCommand {
    /// Build the internal images of a commit with Packer and write target/dist/amis-internal.json.
    ///
    /// The only stage Packer builds: alpha and release AMIs are copies of these
    /// (`amis promote`). They are shared with the internal accounts alone. Packer is found
    /// on PATH or through PACKER; it gets AWS_PROFILE when that names a profile it can
    /// read (it renews what it assumes), else the keys the xtask's chain resolved (SSO,
    /// environment, instance role); AWS_ENDPOINT_URL, when set, is passed to it as the
    /// EC2 endpoint. Packer connects
    /// over SSH and runs ops/image-deploy/scripts on each image (security updates, the
    /// ReadySet packages and units, SSH hardening for the bastion, cleanup); against the
    /// emulator there is no instance, and provisioning is left out.
    ///
    /// Example: cargo xtask amis build --package readyset_1.2.0_amd64.deb --dry-run
    Build(AmisBuildArgs),
    /// Copy the tested internal AMIs of a commit to alpha or release, and share the copies.
    ///
    /// Copies each AMI in each region (CopyImage), tags the copy (Image, Commit, Stage,
    /// Release, SourceAmi), waits until it is available, shares it and its snapshots with
    /// the internal and customer accounts, and writes target/dist/amis-<STAGE>.json. A rerun
    /// finds the copies an earlier run made and copies nothing twice.
    ///
    /// Example: cargo xtask amis promote --stage alpha --from target/dist/amis-internal.json --dry-run
    Promote(AmisPromoteArgs),
    /// List every image the account owns that the release made, with what uses it and
    /// what it costs.
    ///
    /// By stage, commit and release, with region, age, snapshot size, the published
    /// templates that name it, the promoted copies made from it, and an estimated monthly
    /// cost (`snapshot-cents-per-gib-month`). Reads only.
    ///
    /// Example: cargo xtask amis list --stage internal
    List(AmisListArgs),
    /// Remove the images of a stage that nothing uses: a dry run unless --apply.
    ///
    /// An image goes only when no published template (internal, alpha or release prefix)
    /// names it, no promoted copy made from it is left, and it is older than --older-than.
    /// Release images go only with --stage release --release <name>, naming the retired
    /// release. At most `prune-max-images` per run. Prints what it keeps and why, what it
    /// removes, and the storage and monthly cost freed. Each removed image's snapshots are
    /// tagged before it is deregistered, so a rerun after an interruption deletes them.
    ///
    /// Example: cargo xtask amis prune --stage internal --older-than 30d
    Prune(AmisPruneArgs),
}

#[derive(clap::Args, Debug)]
pub struct AmisListArgs {
    /// Only the images of this stage.
    #[arg(long)]
    pub stage: Option<Stage>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::Args, Debug)]
pub struct AmisPruneArgs {
    /// The stage whose images may go: internal, alpha, or release (with --release).
    #[arg(long)]
    pub stage: Stage,
    /// Keep every image younger than this (such as 30d); a named retired release's
    /// images go whatever their age.
    #[arg(long, value_parser = duration, default_value = "30d", value_name = "DURATION")]
    pub older_than: Duration,
    /// The retired release whose images go (`--stage release` only).
    #[arg(long, value_name = "NAME")]
    pub release: Option<ReleaseTag>,
    /// Deregister the images and delete their snapshots; without it, only the plan.
    #[arg(long)]
    pub apply: bool,
}

#[derive(clap::Args, Debug)]
pub struct AmisBuildArgs {
    /// Build only these images (repeatable); by default every image.
    #[arg(long = "only", value_name = "IMAGE")]
    pub only: Vec<String>,

    /// The commit the images are built from; by default BUILDKITE_COMMIT, else HEAD.
    #[arg(long)]
    pub commit: Option<CommitId>,

    /// A ReadySet Debian package to install in the server and adapter images
    /// (repeatable). Its SHA-256 goes into the AMIs' tags and the AMIs file, and the
    /// build instance checks it before installing. Required for those images, except
    /// against the emulator, which provisions nothing.
    #[arg(long = "package", value_name = "FILE.deb")]
    pub packages: Vec<PathBuf>,

    /// Take the packages from where ReadySet's build publishes them for this checkout's
    /// READYSET_TAG (`packages-prefix` in the internal bucket), each checked against its
    /// SHA256SUMS before Packer starts. What the pipeline runs.
    #[arg(long, conflicts_with = "packages")]
    pub fetch_packages: bool,
}

#[derive(clap::Args, Debug)]
pub struct AmisPromoteArgs {
    /// alpha or release (internal AMIs are built, not promoted).
    #[arg(long, value_parser = promotion_stage)]
    pub stage: Stage,

    /// The AMIs file of the internal build that the smoke test launched.
    #[arg(long, value_name = "FILE")]
    pub from: PathBuf,

    /// The release name, with --stage release only; in Buildkite it defaults to the name
    /// typed into the release block step.
    #[arg(long, value_name = "NAME")]
    pub release: Option<ReleaseTag>,

    /// The commit being promoted; by default BUILDKITE_COMMIT, else HEAD. The AMIs file
    /// must be of this commit.
    #[arg(long)]
    pub commit: Option<CommitId>,

    /// How long to wait for the copies to become available (e.g. 45m).
    #[arg(long, default_value = "45m", value_parser = duration, value_name = "DURATION")]
    pub wait_timeout: Duration,
}

/// A duration such as `900s`, `15m`, `2h` or `1h 30m`, as humantime reads them.
fn duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text)
        .map_err(|error| format!("{error}; expected a duration with units, such as 900s, 15m or 1h30m"))
}

fn promotion_stage(text: &str) -> Result<Stage, String> {
    match text.parse::<Stage>()? {
        Stage::Internal => {
            Err("internal AMIs are built by `cargo xtask amis build`, not promoted; promote to alpha or release".into())
        }
        stage => Ok(stage),
    }
}

#[derive(Subcommand, Debug)]
pub enum CfnCommand {
    /// Fill every template's AMI map from an AMIs file into a directory.
    ///
    /// Refuses, writing nothing, when an AMI is missing for an image or region, a
    /// template maps a region Packer does not build, or a placeholder is left.
    ///
    /// Example: cargo xtask cfn render --amis target/dist/amis-internal.json --out target/cfn
    Render(CfnRenderArgs),
    /// Upload rendered templates and amis.json to the bucket and prefix of a stage.
    ///
    /// Internal-only templates never go to the public bucket. A release prefix is
    /// written once: identical content is skipped, different content is refused.
    ///
    /// Example: cargo xtask cfn upload --dir target/cfn --release v2024.06.1 --dry-run
    Upload(CfnUploadArgs),
}

#[derive(clap::Args, Debug)]
pub struct CfnRenderArgs {
    /// The AMIs file from `cargo xtask amis build`.
    #[arg(long, value_name = "FILE")]
    pub amis: PathBuf,
    /// Directory for the rendered templates: created, or replaced whole if an earlier
    /// render made it. Any other existing, non-empty directory is refused.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

#[derive(clap::Args, Debug)]
pub struct CfnUploadArgs {
    /// Directory from `cargo xtask cfn render`.
    #[arg(long, value_name = "DIR")]
    pub dir: PathBuf,
    #[command(flatten)]
    pub stage: TemplateStageArgs,
}

#[derive(clap::Args, Debug)]
#[group(required = true, multiple = false)]
pub struct TemplateStageArgs {
    /// The team's templates for a commit: <COMMIT>/readyset/templates/ in the internal bucket.
    #[arg(long, value_name = "COMMIT")]
    pub internal: Option<CommitId>,
    /// Public alpha templates: alpha/<COMMIT>/readyset/templates/ in the public bucket.
    #[arg(long, value_name = "COMMIT")]
    pub alpha: Option<CommitId>,
    /// Released templates: <RELEASE>/readyset/templates/ in the public bucket, immutable.
    /// Without a value, in Buildkite: the name typed into the release block step.
    #[arg(long, value_name = "RELEASE")]
    pub release: Option<Option<ReleaseTag>>,
}

impl TemplateStageArgs {
    pub fn stage(&self) -> Stage {
        match (&self.internal, &self.alpha) {
            (Some(_), _) => Stage::Internal,
            (_, Some(_)) => Stage::Alpha,
            _ => Stage::Release,
        }
    }
}

#[derive(Subcommand, Debug)]
pub enum CustomersCommand {
    /// List the customer accounts with their notes.
    List,
    /// Allow an account to launch the alpha and release AMIs promoted from now on.
    ///
    /// Example: cargo xtask customers add 123456789012 --note "Initech (trial)"
    Add {
        /// The 12-digit AWS account ID.
        id: AccountId,
        /// Who the account belongs to; kept as a comment beside the ID.
        #[arg(long)]
        note: String,
    },
    /// Stop granting an account launch permission on AMIs promoted from now on.
    ///
    /// Example: cargo xtask customers remove 123456789012
    Remove {
        /// The 12-digit AWS account ID.
        id: AccountId,
    },
    /// Apply the customer list to every existing alpha and release AMI: grant the added,
    /// revoke the removed (launch permission, snapshot copies, KMS grants).
    ///
    /// Example: cargo xtask customers sync --dry-run
    Sync(CustomersSyncArgs),
}

#[derive(clap::Args, Debug)]
pub struct CustomersSyncArgs {
    /// Only the AMIs of this stage (alpha or release); by default both.
    #[arg(long, value_parser = promotion_stage)]
    pub stage: Option<Stage>,
}

/// Rehearse a whole release locally: the pipeline's release path against the AWS emulator.
///
/// Clones this checkout into a scratch directory (uncommitted changes committed there)
/// and sets the release there with `cargo xtask release <name>`, as a person would.
/// Starts moto, creates the buckets and the distribution, then runs the steps of
/// .buildkite/pipeline.yml that lead to "verify", in order, in that checkout: real Packer,
/// render, upload, build-installer for what this host can build, publish, verify;
/// finally runs the installer through the published wrapper.
///
/// Example: cargo xtask rehearse
#[derive(clap::Args, Debug)]
pub struct RehearseArgs {
    /// The release to rehearse: `cargo xtask release <NAME>` sets it in a scratch clone of
    /// this checkout, and it is typed into the release block step. By default
    /// rehearsal-<the first 8 digits of this checkout's commit>.
    #[arg(long, value_name = "NAME")]
    pub release_name: Option<ReleaseTag>,

    /// Type this name into the release block step instead: rehearses a mistyped name,
    /// which the pipeline's release-name check must stop before anything is released.
    #[arg(long, value_name = "NAME")]
    pub type_release_name: Option<ReleaseTag>,

    /// Keep the directory of meta-data, artifacts and annotations, and say where it is.
    #[arg(long)]
    pub keep: bool,

    /// Do not install missing tools; fail with the list instead.
    #[arg(long)]
    pub no_install: bool,
}

#[derive(Subcommand, Debug)]
pub enum BenchCommand {
    Publish(BenchPublishArgs),
    Amis(BenchAmisArgs),
}

/// Time `amis list` and a dry-run `amis prune` against an account of many images.
///
/// Starts the AWS emulator, seeds it with --images internal images (and a published
/// template naming every tenth), then runs each command once and prints its time and
/// the requests it made. Writes only to the emulator.
///
/// Example: cargo xtask bench amis --images 500
#[derive(clap::Args, Debug)]
pub struct BenchAmisArgs {
    /// How many images to seed.
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u64).range(1..=5000))]
    pub images: u64,
}

/// Time publish-installer against the manual AWS CLI sequence it replaces.
///
/// Starts the AWS emulator, makes three installers of --size-mib each, then runs, one
/// after the other against the same emulator: the manual steps (`aws s3 cp` of each
/// installer and the wrapper, one CloudFront invalidation), `publish-installer`, and
/// `publish-installer` again with nothing to do. Prints the times and their ratios
/// (goals: publish at most 0.5 x the AWS CLI, a rerun at most 0.1 x the publish).
/// Writes only to the emulator and a temporary directory.
///
/// Example: cargo xtask bench publish
#[derive(clap::Args, Debug)]
pub struct BenchPublishArgs {
    /// Size of each of the three installers, in MiB.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub size_mib: u64,
    /// Rounds to run, each with its own release name; the medians are judged.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=9))]
    pub rounds: u64,
}

/// Check, reading only, that the account the credentials reach holds what a release
/// needs, as ops/release-infra declares it.
///
/// One line per check: the buckets (region, Block Public Access, policy, lifecycle),
/// the CloudFront distribution (alias, origin access control, TLS), the signing key
/// (spec, and its public half against the committed PEM), EBS encryption by default,
/// the smoke test's key pair, secret and role. A check AWS refuses to answer fails and
/// names the permission. Exits non-zero if any check fails. The pipeline's first ops
/// and release steps run it.
///
/// Example: cargo xtask preflight --queue release
#[derive(clap::Args, Debug)]
pub struct PreflightArgs {
    /// Check only what this queue's steps use: `ops` or `release` (default: both).
    #[arg(long, value_parser = credentialed_queue)]
    pub queue: Option<Queue>,
    /// Print the findings as JSON.
    #[arg(long)]
    pub json: bool,
    /// Compare the signing key with this PEM file instead of ops/release-signing-key.pem.
    #[arg(long, value_name = "PEM")]
    pub public_key: Option<PathBuf>,
}

/// The release lock: one S3 object, written conditionally, naming the build that holds
/// it from its first release step to its last (RELEASE.md, One release at a time).
#[derive(Subcommand, Debug)]
pub enum ReleaseLockCommand {
    /// Take the lock for this build, or pass if this build holds it already. Refuses,
    /// naming the holder, while another build holds it. Every release step runs it first.
    ///
    /// Example: cargo xtask release-lock acquire --build "$BUILDKITE_BUILD_ID"
    Acquire(ReleaseLockArgs),
    /// Free the lock this build holds (the last release step). Refuses if another build
    /// holds it; passes if it is free.
    ///
    /// Example: cargo xtask release-lock release --build "$BUILDKITE_BUILD_ID"
    Release(ReleaseLockArgs),
    /// Take the lock from whoever holds it: for a build that died holding it. The reason
    /// and the previous holder stay in the lock's history.
    ///
    /// Example: cargo xtask release-lock takeover --build "$BUILDKITE_BUILD_ID" --reason "build 812 was cancelled"
    Takeover(ReleaseLockTakeoverArgs),
    /// Print who holds the lock, since when, and its history.
    Show,
}

#[derive(clap::Args, Debug)]
pub struct ReleaseLockArgs {
    /// The build that holds the lock: Buildkite's $BUILDKITE_BUILD_ID in the pipeline.
    #[arg(long, value_name = "ID")]
    pub build: BuildId,
}

#[derive(clap::Args, Debug)]
pub struct ReleaseLockTakeoverArgs {
    /// The build that takes the lock (the one whose release step will be retried).
    #[arg(long, value_name = "ID")]
    pub build: BuildId,
    /// Why, on one line: kept in the lock's history.
    #[arg(long)]
    pub reason: String,
}

fn credentialed_queue(name: &str) -> Result<Queue, String> {
    match Queue::parse(name) {
        Some(queue) if queue.has_credentials() => Ok(queue),
        _ => Err(format!("{name:?} is not a queue that holds AWS credentials; use ops or release")),
    }
}

#[derive(Subcommand, Debug)]
pub enum ReleaseInfraCommand {
    /// Print the CloudFormation template of the release's own resources (buckets,
    /// CloudFront, the signing key, the pipeline's roles, the smoke test's key pair and
    /// secret), built from the release configuration and the policies `iam-policy`
    /// prints. ops/release-infra/release-infra.json is this output, committed; an
    /// administrator deploys it once (RELEASE.md, Setting up an account).
    ///
    /// Example: cargo xtask release-infra template > ops/release-infra/release-infra.json
    Template,
}

#[derive(Subcommand, Debug)]
pub enum SigningKeyCommand {
    Export(SigningKeyExportArgs),
}

/// Write the public half of the KMS key behind `signing-key` (the configured alias) as
/// the PEM file that `publish-installer`, `verify`, `status` and customers check
/// signatures with.
///
/// Refuses a key that is not ECC_NIST_P256 for SIGN_VERIFY. A file that already holds
/// that key is left as it is; one that holds another key is replaced only with
/// --replace (a rotation). Against an emulator (AWS_ENDPOINT_URL) it writes only to
/// --out, never the committed file. Then commit the file (RELEASE.md, Signing key).
///
/// Example: cargo xtask signing-key export --dry-run
#[derive(clap::Args, Debug)]
pub struct SigningKeyExportArgs {
    /// Where to write the PEM (default: the committed ops/release-signing-key.pem).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Replace a file that holds another public key: the alias was moved to a new key.
    #[arg(long)]
    pub replace: bool,
}

/// Print the IAM policy of a pipeline queue's agents, or of the test-stack role, from the
/// release configuration.
///
/// The build and mac queues hold no AWS credentials; ops writes internal and alpha
/// artifacts, release writes what customers get; test-stacks is the role CloudFormation
/// assumes for the smoke test's stacks (`test-stack-role`). RELEASE.md shows each.
///
/// Example: cargo xtask iam-policy release
#[derive(clap::Args, Debug)]
pub struct IamPolicyArgs {
    /// `ops`, `release` or `test-stacks`.
    #[arg(value_parser = policy_holder)]
    pub holder: PolicyHolder,
    /// Print the trust policy (who may assume the role) instead; test-stacks only.
    #[arg(long)]
    pub trust: bool,
}

/// Whose policy `iam-policy` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyHolder {
    Queue(Queue),
    TestStacks,
}

fn policy_holder(name: &str) -> Result<PolicyHolder, String> {
    if name == "test-stacks" {
        return Ok(PolicyHolder::TestStacks);
    }
    match Queue::parse(name) {
        Some(queue) if queue.has_credentials() => Ok(PolicyHolder::Queue(queue)),
        Some(queue) => Err(format!(
            "the {queue} queue holds no AWS credentials, so it has no policy; use ops, release or test-stacks"
        )),
        None => Err(format!(
            "{name:?} is not a queue of the pipeline nor test-stacks; use ops (internal and alpha), release (what \
             customers get) or test-stacks (the role CloudFormation assumes for the smoke test)"
        )),
    }
}

/// Run every check the way CI does, installing missing tools first.
///
/// Example: cargo xtask ci
#[derive(clap::Args, Debug)]
pub struct CiArgs {
    /// Do not install anything; fail with the list of what is missing instead.
    #[arg(long)]
    pub no_install: bool,

    /// Run as an unprivileged agent: install only what lives under target/ (missing
    /// system packages are an error naming them). The tests that need a root file
    /// system run as root of a user namespace, as they do whenever `ci` is not root.
    #[arg(long, conflicts_with = "root_tests")]
    pub unprivileged: bool,

    /// Run only the tests that need a root file system (a Debian root made with
    /// mmdebstrap, bind mounts, chroot): as root, or else in a user namespace.
    #[arg(long)]
    pub root_tests: bool,

    /// Print what the checks need from the machine (an unprivileged agent's image
    /// provides it) and what `ci` makes under target/, then exit.
    #[arg(long)]
    pub list_tools: bool,

    /// As root, show that the pipeline's unprivileged step passes (CI's own machine runs
    /// as root; Buildkite's agents do not): install the machine's packages, make USER if
    /// missing (with subordinate IDs for the user namespace), hand it this checkout
    /// (chown: use a checkout made for the run, as CI's clone is), and run
    /// `ci --unprivileged` as USER. `.ci/run` runs this.
    #[arg(long, value_name = "USER", conflicts_with_all = ["unprivileged", "root_tests", "list_tools"])]
    pub unprivileged_as: Option<LocalUser>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_seconds_minutes_and_hours() {
        let parse = |text: &str| {
            Cli::try_parse_from(["cargo xtask", "rollback", "v1", &format!("--invalidation-timeout={text}")]).map(
                |cli| match cli.command {
                    Command::Rollback(args) => args.invalidation_timeout,
                    _ => unreachable!(),
                },
            )
        };
        assert_eq!(parse("900s").unwrap(), Duration::from_secs(900));
        assert_eq!(parse("15m").unwrap(), Duration::from_secs(900));
        assert_eq!(parse("2h").unwrap(), Duration::from_secs(7200));
        assert_eq!(parse("15 minutes").unwrap(), Duration::from_secs(900));
        assert_eq!(parse("1h 30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse("1h30m5s").unwrap(), Duration::from_secs(5405));
        assert_eq!(parse("1.5h").unwrap(), Duration::from_secs(5400));
        for bad in [
            "soon",
            "",
            "15",
            "m",
            "15 fortnights",
            "-5m",
            "99999999999999999999h",
            "5124095576030431h 5124095576030431h",
        ] {
            let error = parse(bad).unwrap_err().to_string();
            let start = format!("error: invalid value '{bad}' for '--invalidation-timeout <DURATION>': ");
            assert!(error.starts_with(&start), "{error}");
        }
    }

    #[test]
    fn the_command_line_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
