//! `cargo xtask cfn render|upload`: CloudFormation templates with the AMIs of a Packer
//! run baked in, uploaded to the bucket and prefix of a stage.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::{
    adapters::{
        aws::{self, Aws},
        buildkite, publisher,
        s3::Bucket,
        workspace::Workspace,
    },
    commands::amis::read_amis,
    domain::{
        build_record::sha256_hex,
        cfn::{self, CommitId, Stage, AMIS_FILE, SOURCE_DIR},
        config::Visibility,
        layout::{IMMUTABLE_CACHE, MUTABLE_CACHE},
        packer,
        publish_plan::{plan, Content, Desired},
        tag::ReleaseTag,
    },
};

const YAML_TYPE: &str = "application/x-yaml";

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Fill every template's AMI map from an AMIs file into a directory.
    ///
    /// Refuses, writing nothing, when an AMI is missing for an image or region, a
    /// template maps a region Packer does not build, or a placeholder is left.
    ///
    /// Example: cargo xtask cfn render --amis target/dist/amis-internal.json --out target/cfn
    Render {
        /// The AMIs file from `cargo xtask amis build`.
        #[arg(long, value_name = "FILE")]
        amis: PathBuf,
        /// Directory for the rendered templates (replaced as a whole).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Upload rendered templates and amis.json to the bucket and prefix of a stage.
    ///
    /// Internal-only templates never go to the public bucket. A release prefix is
    /// written once: identical content is skipped, different content is refused.
    ///
    /// Example: cargo xtask cfn upload --dir target/cfn --release v2024.06.1 --dry-run
    Upload {
        /// Directory from `cargo xtask cfn render`.
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
        #[command(flatten)]
        stage: StageArgs,
    },
}

#[derive(clap::Args, Debug)]
#[group(required = true, multiple = false)]
pub struct StageArgs {
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

impl StageArgs {
    fn stage(&self) -> Result<Stage> {
        Ok(match (&self.internal, &self.alpha, &self.release) {
            (Some(commit), _, _) => Stage::Internal { commit: commit.clone() },
            (_, Some(commit), _) => Stage::Alpha { commit: commit.clone() },
            (_, _, Some(name)) => Stage::Release { name: buildkite::release_name(name.clone())? },
            _ => unreachable!("clap requires one of --internal, --alpha, --release"),
        })
    }
}

pub fn run(workspace: &Workspace, command: Command, dry_run: bool) -> Result<()> {
    match command {
        Command::Render { amis, out } => render(workspace, &amis, &out, dry_run),
        Command::Upload { dir, stage } => upload(workspace, &dir, &stage.stage()?, dry_run),
    }
}

fn render(workspace: &Workspace, amis_path: &PathBuf, out: &Path, dry_run: bool) -> Result<()> {
    let amis = read_amis(amis_path)?;
    let locals = std::fs::read_to_string(workspace.root.join(packer::LOCALS_FILE))?;
    let regions: Vec<String> =
        packer::local_list(packer::LOCALS_FILE, &locals, "ami_regions")?.items.into_iter().map(|i| i.value).collect();
    let sources = workspace.root.join(SOURCE_DIR);
    let configured: Vec<&str> = workspace.config.templates.iter().map(|t| t.name.as_str()).collect();
    for entry in std::fs::read_dir(&sources).with_context(|| format!("cannot list {SOURCE_DIR}"))? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if let Some(stem) = name.strip_suffix(".yaml") {
            if !configured.contains(&stem) {
                bail!("{SOURCE_DIR}/{name} is not in [workspace.metadata.release] templates, so it would never be published; add it there (public or internal) or remove it");
            }
        }
    }
    let mut rendered = Vec::new();
    let mut problems = Vec::new();
    for name in &configured {
        let path = sources.join(format!("{name}.yaml"));
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {SOURCE_DIR}/{name}.yaml, a configured template"))?;
        match cfn::render(name, &text, &amis.images, &regions) {
            Ok(text) => rendered.push((format!("{name}.yaml"), text)),
            Err(error) => problems.push(error.to_string()),
        }
    }
    if !problems.is_empty() {
        bail!("{}\nNothing was written to {}.", problems.join("\n"), out.display());
    }
    if dry_run {
        println!("Would write to {} (dry run):", out.display());
        for (name, text) in &rendered {
            println!("  {name}  {} bytes, sha256 {}", text.len(), sha256_hex(text.as_bytes()));
        }
        println!("  {AMIS_FILE}  from {}", amis_path.display());
        return Ok(());
    }
    // Written beside the destination and swapped in whole, so a failure leaves either
    // the old directory or the new one, never a mix.
    let staging = out.with_extension(format!("partial-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging).with_context(|| format!("cannot create {}", staging.display()))?;
    for (name, text) in &rendered {
        std::fs::write(staging.join(name), text)?;
    }
    std::fs::copy(amis_path, staging.join(AMIS_FILE))?;
    if out.exists() {
        std::fs::remove_dir_all(out).with_context(|| format!("cannot replace {}", out.display()))?;
    }
    std::fs::rename(&staging, out)
        .with_context(|| format!("cannot move the rendered templates to {}", out.display()))?;
    println!(
        "Rendered {} templates for the {} AMIs of {} into {}",
        rendered.len(),
        amis.stage,
        amis.commit,
        out.display()
    );
    Ok(())
}

fn upload(workspace: &Workspace, dir: &Path, stage: &Stage, dry_run: bool) -> Result<()> {
    let config = &workspace.config;
    if let (Stage::Release { name }, false) = (stage, dry_run) {
        buildkite::require_main_branch(&format!("upload the templates of release {name}"))?;
    }
    let prefix = stage.prefix();
    let mut objects = Vec::new();
    let mut skipped = Vec::new();
    for template in &config.templates {
        if stage.is_public() && template.visibility == Visibility::Internal {
            skipped.push(template.name.clone());
            continue;
        }
        objects.push((format!("{}.yaml", template.name), YAML_TYPE));
    }
    objects.push((AMIS_FILE.to_owned(), crate::domain::layout::JSON_TYPE));
    let desired: Vec<Desired> = objects
        .into_iter()
        .map(|(file, content_type)| {
            let path = dir.join(&file);
            let bytes = std::fs::read(&path).with_context(|| {
                format!("{} is missing; run `cargo xtask cfn render` into {} first", path.display(), dir.display())
            })?;
            Ok(Desired {
                key: format!("{prefix}{file}"),
                sha256: sha256_hex(&bytes),
                size: bytes.len() as u64,
                content: Content::Bytes(bytes),
                content_type,
                cache_control: if stage.is_immutable() { IMMUTABLE_CACHE } else { MUTABLE_CACHE },
                mutable: !stage.is_immutable(),
            })
        })
        .collect::<Result<_>>()?;
    let label = match stage {
        Stage::Internal { commit } | Stage::Alpha { commit } => ReleaseTag::parse(&commit.to_string())?,
        Stage::Release { name } => name.clone(),
    };
    aws::runtime()?.block_on(async {
        let aws = Aws::from_environment(&config.region).await;
        let bucket = Bucket::new(&aws.s3, stage.bucket(config));
        let keys: Vec<(String, bool)> = desired.iter().map(|d| (d.key.clone(), !d.mutable)).collect();
        let remote = bucket.remotes(&keys).await?;
        let mut plan = plan(&label, vec![("templates", desired)], &remote);
        plan.invalidation_paths.clear();
        let conflicts = plan.conflicts();
        if !conflicts.is_empty() {
            bail!(
                "refusing to upload: release prefixes are written once, and these objects hold other content:\n  {}\n\
                 Nothing was written. Render from the AMIs of that release, or release under a new name.",
                conflicts.join("\n  ")
            );
        }
        println!("Upload plan to s3://{}/{prefix}:", bucket.name);
        print!("{}", plan.describe());
        if !skipped.is_empty() {
            println!("   internal only, not uploaded to the public bucket: {}", skipped.join(", "));
        }
        if dry_run {
            println!("\nDry run: nothing was written.");
            return Ok(());
        }
        publisher::execute(&bucket, &plan, None).await?;
        println!("Templates are at https://{}.s3.{}.amazonaws.com/{prefix}", bucket.name, config.region);
        Ok(())
    })
}
