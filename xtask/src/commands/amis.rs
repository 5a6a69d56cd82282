//! `cargo xtask amis build`: runs Packer for a stage and records the AMIs it made.

use std::path::Path;

use anyhow::{bail, Context, Result};
use xshell::cmd;

use crate::{
    adapters::{buildkite, files::write_atomically, git, tools, workspace::Workspace},
    domain::{
        cfn::CommitId,
        packer::{self, amis_of_last_run, AmisFile},
        tag::ReleaseTag,
    },
};

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Build the images with Packer and write target/dist/amis-<STAGE>.json.
    ///
    /// Packer is found on PATH or through PACKER; AWS_ENDPOINT_URL, when set, is passed
    /// to it as the EC2 endpoint (Packer does not read it itself).
    ///
    /// Example: cargo xtask amis build --stage internal --dry-run
    Build(BuildArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AmiStage {
    Internal,
    Alpha,
    Release,
}

impl AmiStage {
    fn name(self) -> &'static str {
        match self {
            AmiStage::Internal => "internal",
            AmiStage::Alpha => "alpha",
            AmiStage::Release => "release",
        }
    }
}

#[derive(clap::Args, Debug)]
pub struct BuildArgs {
    #[arg(long, value_enum)]
    pub stage: AmiStage,

    /// The release name, with --stage release only; in Buildkite it defaults to the
    /// name typed into the release block step.
    #[arg(long, value_name = "NAME")]
    pub release: Option<ReleaseTag>,

    /// Build only these images (repeatable); by default every image.
    #[arg(long = "only", value_name = "IMAGE")]
    pub only: Vec<String>,

    /// The commit the images are built from; by default BUILDKITE_COMMIT, else HEAD.
    #[arg(long)]
    pub commit: Option<CommitId>,
}

pub fn run(workspace: &Workspace, command: Command, dry_run: bool) -> Result<()> {
    let Command::Build(args) = command;
    let read =
        |path: &str| std::fs::read_to_string(workspace.root.join(path)).with_context(|| format!("cannot read {path}"));
    let all_images = packer::images(&read(packer::IMAGES_FILE)?)?;
    let regions: Vec<String> = packer::local_list(packer::LOCALS_FILE, &read(packer::LOCALS_FILE)?, "ami_regions")?
        .items
        .into_iter()
        .map(|item| item.value)
        .collect();
    for image in &args.only {
        if !all_images.contains(image) {
            bail!("--only {image}: there is no such image; the images are {}", all_images.join(", "));
        }
    }
    let images = if args.only.is_empty() { all_images } else { args.only.clone() };
    let release = match (args.stage, &args.release) {
        (AmiStage::Release, given) => buildkite::release_name(given.clone())
            .context("--stage release needs --release <NAME>, the release the images belong to")?
            .to_string(),
        (_, Some(_)) => {
            bail!("--release is only for --stage release; {} images carry the commit instead", args.stage.name())
        }
        (_, None) => String::new(),
    };
    let sh = workspace.shell()?;
    let commit = match args.commit {
        Some(commit) => commit,
        None => CommitId::parse(&std::env::var("BUILDKITE_COMMIT").or_else(|_| git::head_commit(&sh))?)?,
    };
    let packer_program = std::env::var("PACKER").unwrap_or_else(|_| "packer".into());
    let manifest = workspace.target_dir().join(format!("packer/manifest-{}.json", args.stage.name()));
    let output = workspace.dist_dir().join(format!("amis-{}.json", args.stage.name()));
    let endpoint = std::env::var("AWS_ENDPOINT_URL").unwrap_or_default();
    let mut packer_args = vec![
        "build".to_owned(),
        "-color=false".to_owned(),
        format!("-var=commit={commit}"),
        format!("-var=stage={}", args.stage.name()),
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

    if args.stage == AmiStage::Release && !dry_run {
        buildkite::require_main_branch(&format!("build the AMIs of release {release}"))?;
    }
    if dry_run {
        println!("Plan for the {} images of {commit} (dry run: Packer is not run):", args.stage.name());
        println!("  run: {packer_program} {}", packer_args.join(" "));
        println!("  images: {}", images.join(", "));
        println!("  regions: {}", regions.join(", "));
        println!("  write: {}", output.display());
        return Ok(());
    }
    if !packer_program.contains('/') && tools::which(&packer_program).is_none() {
        bail!("`{packer_program}` is not on PATH; install Packer (`apt-get install packer` or `brew install packer`) or point PACKER at it");
    }
    std::fs::create_dir_all(manifest.parent().expect("has a parent"))?;
    let started_manifest = std::fs::read_to_string(&manifest).ok();
    cmd!(sh, "{packer_program} {packer_args...}")
        .run()
        .with_context(|| format!("Packer failed building the {} images; its output is above", args.stage.name()))?;
    let text = std::fs::read_to_string(&manifest)
        .with_context(|| format!("Packer wrote no manifest at {}", manifest.display()))?;
    if started_manifest.as_deref() == Some(text.as_str()) {
        bail!("Packer reported success but recorded no new run in {}; check the -only names", manifest.display());
    }
    let table = amis_of_last_run(&text, &images, &regions)?;
    let file = AmisFile {
        stage: args.stage.name().to_owned(),
        commit: commit.to_string(),
        release: (!release.is_empty()).then_some(release),
        images: table,
    };
    std::fs::create_dir_all(workspace.dist_dir())?;
    write_atomically(&output, (serde_json::to_string_pretty(&file)? + "\n").as_bytes())?;
    println!("\nAMIs of {} ({}):", commit, args.stage.name());
    for (image, by_region) in &file.images {
        for (region, ami) in by_region {
            println!("  {image:<28} {region:<12} {ami}");
        }
    }
    println!("Written to {}", output.display());
    Ok(())
}

/// Reads an AMIs file written by `amis build`.
pub fn read_amis(path: &Path) -> Result<AmisFile> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read the AMIs file {}", path.display()))?;
    serde_json::from_str(&text)
        .with_context(|| format!("{} is not an AMIs file written by `cargo xtask amis build`", path.display()))
}
