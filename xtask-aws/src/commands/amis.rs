//! `cargo xtask amis build`: runs Packer for a stage and records the AMIs it made.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use xshell::cmd;
use xtask::{
    adapters::{buildkite, files::write_atomically, workspace::Workspace},
    cli::{AmisBuildArgs, AmisCommand},
    domain::{
        commit::CommitId,
        packer::{self, amis_of_last_run, AmisFile},
        stage::Stage,
        tag::ReleaseTag,
    },
};

pub fn run(workspace: &Workspace, command: AmisCommand, dry_run: bool) -> Result<()> {
    let AmisCommand::Build(args) = command;
    let plan = BuildPlan::decide(workspace, &args)?;
    if dry_run {
        print!("{}", plan.describe());
        return Ok(());
    }
    if plan.stage == Stage::Release {
        let release = plan.release.as_ref().map(ToString::to_string).unwrap_or_default();
        buildkite::require_main_branch(workspace, &format!("build the AMIs of release {release}"))?;
    }
    let file = plan.run(workspace)?;
    println!("\nAMIs of {} ({}):", file.commit, file.stage);
    for (image, by_region) in &file.images {
        for (region, ami) in by_region {
            println!("  {image:<28} {region:<12} {ami}");
        }
    }
    println!("Written to {}", plan.output.display());
    Ok(())
}

/// A Packer run, decided before anything runs so `--dry-run` can print it.
struct BuildPlan {
    stage: Stage,
    commit: CommitId,
    release: Option<ReleaseTag>,
    images: Vec<String>,
    regions: Vec<String>,
    packer: String,
    args: Vec<String>,
    manifest: PathBuf,
    output: PathBuf,
}

impl BuildPlan {
    fn decide(workspace: &Workspace, args: &AmisBuildArgs) -> Result<BuildPlan> {
        let all_images = workspace.images()?;
        for image in &args.only {
            if !all_images.contains(image) {
                bail!("--only {image}: there is no such image; the images are {}", all_images.join(", "));
            }
        }
        let release = match (args.stage, &args.release) {
            (Stage::Release, given) => Some(
                buildkite::release_name(workspace, given.clone())
                    .context("--stage release needs --release <NAME>, the release the images belong to")?,
            ),
            (_, Some(_)) => {
                bail!("--release is only for --stage release; {} images carry the commit instead", args.stage)
            }
            (_, None) => None,
        };
        let commit = buildkite::commit(workspace, args.commit.clone())?;
        let images = if args.only.is_empty() { all_images } else { args.only.clone() };
        let manifest = workspace.target_dir().join(format!("packer/manifest-{}.json", args.stage));
        let packer_args = packer_args(workspace, args, &commit, release.as_ref(), &images, &manifest);
        Ok(BuildPlan {
            stage: args.stage,
            output: workspace.dist_dir().join(format!("amis-{}.json", args.stage)),
            regions: workspace.ami_regions()?,
            packer: workspace.env.packer.clone(),
            args: packer_args,
            commit,
            release,
            images,
            manifest,
        })
    }

    fn describe(&self) -> String {
        format!(
            "Plan for the {} images of {} (dry run: Packer is not run):\n  run: {} {}\n  images: {}\n  regions: {}\n  write: {}\n",
            self.stage,
            self.commit,
            self.packer,
            self.args.join(" "),
            self.images.join(", "),
            self.regions.join(", "),
            self.output.display()
        )
    }

    fn run(&self, workspace: &Workspace) -> Result<AmisFile> {
        let (sh, packer, args) = (&workspace.sh, &self.packer, &self.args);
        if !workspace.env.has_program(packer) {
            bail!("`{packer}` is not on PATH; install Packer (`apt-get install packer` or `brew install packer`) or point PACKER at it");
        }
        std::fs::create_dir_all(self.manifest.parent().expect("has a parent"))?;
        let before = std::fs::read_to_string(&self.manifest).ok();
        cmd!(sh, "{packer} {args...}")
            .run()
            .with_context(|| format!("Packer failed building the {} images; its output is above", self.stage))?;
        let text = std::fs::read_to_string(&self.manifest)
            .with_context(|| format!("Packer wrote no manifest at {}", self.manifest.display()))?;
        if before.as_deref() == Some(text.as_str()) {
            bail!(
                "Packer reported success but recorded no new run in {}; check the -only names",
                self.manifest.display()
            );
        }
        let file = AmisFile {
            stage: self.stage,
            commit: self.commit.clone(),
            release: self.release.clone(),
            images: amis_of_last_run(&text, &self.images, &self.regions)?,
        };
        std::fs::create_dir_all(workspace.dist_dir())?;
        write_atomically(&self.output, file.to_json().as_bytes())?;
        Ok(file)
    }
}

fn packer_args(
    workspace: &Workspace,
    args: &AmisBuildArgs,
    commit: &CommitId,
    release: Option<&ReleaseTag>,
    images: &[String],
    manifest: &std::path::Path,
) -> Vec<String> {
    let endpoint = workspace.env.aws_endpoint.clone().unwrap_or_default();
    let release = release.map(ToString::to_string).unwrap_or_default();
    let mut packer_args = vec![
        "build".to_owned(),
        "-color=false".to_owned(),
        format!("-var=commit={commit}"),
        format!("-var=stage={}", args.stage),
        format!("-var=release_name={release}"),
        format!("-var=ec2_endpoint={endpoint}"),
        format!("-var=manifest_path={}", manifest.display()),
    ];
    if !args.only.is_empty() {
        // Without the source type Packer silently builds nothing.
        let only: Vec<String> = images.iter().map(|image| format!("amazon-ebs.{image}")).collect();
        packer_args.push(format!("-only={}", only.join(",")));
    }
    packer_args.push(packer::TEMPLATE_DIR.to_owned());
    packer_args
}
