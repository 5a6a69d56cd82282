//! `cargo xtask amis build`: Packer builds the internal images of a commit, the only
//! stage that is built; alpha and release are copies of these (`amis promote`).

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use aws_credential_types::Credentials;
use xshell::cmd;
use xtask::{
    adapters::{
        buildkite,
        files::{self, write_atomically, Protected},
        workspace::Workspace,
    },
    cli::AmisBuildArgs,
    domain::{
        accounts::Accounts,
        commit::CommitId,
        packer::{self, amis_of_last_run, AmisFile, PackerVersion},
        stage::{Audience, Stage},
    },
};

use crate::adapters::{
    access,
    ec2::Ec2,
    kms::Kms,
    signed::SignedClient,
    site::{credentials, with_site},
};

/// Where the plugin declaration lives; it is added to the staged templates for Packer 1.7+.
const PLUGINS_FILE: &str = "plugins/required_plugins.pkr.hcl";

pub fn run(workspace: &Workspace, args: AmisBuildArgs, dry_run: bool) -> Result<()> {
    let plan = BuildPlan::decide(workspace, &args)?;
    let credentials = with_site(workspace, async |site| {
        let client = SignedClient::new(&site.sdk);
        access::require_shareable_encryption(&Ec2 { client: &client }, &plan.regions, &plan.kms_keys).await?;
        credentials(&site.sdk).await
    })?;
    print!("{}", plan.describe(credentials.session_token().is_some()));
    if dry_run {
        println!("\nDry run: Packer was not run and nothing was written.");
        return Ok(());
    }
    let file = plan.run(workspace, &credentials)?;
    if !plan.kms_keys.is_empty() {
        grant_keys(workspace, &plan)?;
    }
    println!("\nAMIs of {} (internal):", file.commit);
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
    commit: CommitId,
    images: Vec<String>,
    regions: Vec<String>,
    accounts: Accounts,
    kms_keys: std::collections::BTreeMap<String, String>,
    packer: String,
    version: PackerVersion,
    /// The templates as Packer reads them: ops/image-deploy, with the plugin declaration
    /// when this Packer takes one.
    staged: PathBuf,
    args: Vec<String>,
    manifest: PathBuf,
    output: PathBuf,
}

impl BuildPlan {
    fn decide(workspace: &Workspace, args: &AmisBuildArgs) -> Result<BuildPlan> {
        let all_images = workspace.images()?;
        if let Some(unknown) = args.only.iter().find(|image| !all_images.contains(image)) {
            bail!("--only {unknown}: there is no such image; the images are {}", all_images.join(", "));
        }
        let images = if args.only.is_empty() { all_images } else { args.only.clone() };
        let locals = workspace.read(packer::LOCALS_FILE)?;
        let commit = buildkite::commit(workspace, args.commit.clone())?;
        let staged = workspace.output_dir().join("packer/templates");
        let manifest = workspace.output_dir().join("packer/manifest-internal.json");
        let args = packer_args(workspace, args, &commit, &images, &manifest, &staged);
        Ok(BuildPlan {
            version: packer_version(workspace)?,
            packer: workspace.env.packer.clone(),
            output: workspace.dist_dir().join(format!("amis-{}.json", Stage::Internal)),
            regions: workspace.ami_regions()?,
            accounts: Accounts::from_locals(&locals)?,
            kms_keys: packer::local_string_map(packer::LOCALS_FILE, &locals, "ami_kms_key_ids")?,
            commit,
            images,
            staged,
            args,
            manifest,
        })
    }

    fn describe(&self, session_token: bool) -> String {
        let staged = self.staged.display();
        let mut text = format!("Plan for the internal images of {} (Packer {}):\n", self.commit, self.version);
        if self.version.declares_plugins() {
            text += &format!("  stage: {} and {PLUGINS_FILE} -> {staged}\n", packer::TEMPLATE_DIR);
            text += &format!("  run: {} init {staged}\n", self.packer);
        } else {
            text += &format!(
                "  stage: {} -> {staged} (Packer {} takes no plugin declaration)\n",
                packer::TEMPLATE_DIR,
                self.version
            );
        }
        text += &format!("  run: {} {}\n", self.packer, self.args.join(" "));
        let token = if session_token { ", AWS_SESSION_TOKEN" } else { "" };
        text += &format!(
            "  credentials: the xtask's AWS chain, given to Packer as AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY{token} \
             (never printed); no other AWS_* variable reaches it\n"
        );
        let internal: Vec<String> =
            self.accounts.audience(Audience::InternalAccounts).iter().map(ToString::to_string).collect();
        text += &format!("  share with: {} (internal accounts only; snapshots too)\n", internal.join(", "));
        if !self.kms_keys.is_empty() {
            let keys: Vec<String> = self.kms_keys.iter().map(|(region, key)| format!("{region}: {key}")).collect();
            text += &format!("  encrypt with: {}\n", keys.join(", "));
        }
        text += &format!(
            "  images: {}\n  regions: {}\n  write: {}\n",
            self.images.join(", "),
            self.regions.join(", "),
            self.output.display()
        );
        text
    }

    fn run(&self, workspace: &Workspace, credentials: &Credentials) -> Result<AmisFile> {
        self.stage(workspace)?;
        std::fs::create_dir_all(self.manifest.parent().expect("has a parent"))?;
        let before = std::fs::read_to_string(&self.manifest).ok();
        if self.version.declares_plugins() {
            let staged = &self.staged;
            self.packer_command(workspace, credentials, &["init".to_owned(), staged.display().to_string()])
                .run()
                .context("`packer init` could not install the amazon plugin; its output is above")?;
        }
        self.packer_command(workspace, credentials, &self.args)
            .run()
            .context("Packer failed building the internal images; its output is above")?;
        let text = std::fs::read_to_string(&self.manifest)
            .with_context(|| format!("Packer wrote no manifest at {}", self.manifest.display()))?;
        if before.as_deref() == Some(text.as_str()) {
            bail!(
                "Packer reported success but recorded no new run in {}; check the -only names",
                self.manifest.display()
            );
        }
        let images = amis_of_last_run(&text, &self.images, &self.regions)?;
        let file = AmisFile {
            stage: Stage::Internal,
            commit: self.commit.clone(),
            release: None,
            images,
            sources: Default::default(),
        };
        std::fs::create_dir_all(workspace.dist_dir())?;
        write_atomically(&self.output, file.to_json().as_bytes())?;
        Ok(file)
    }

    /// The templates Packer reads, replaced whole on every run.
    fn stage(&self, workspace: &Workspace) -> Result<()> {
        let source = workspace.root.join(packer::TEMPLATE_DIR);
        let mut files = files::read_tree(&source, &["plugins"])?;
        if self.version.declares_plugins() {
            files.push(("required_plugins.pkr.hcl".to_owned(), std::fs::read(source.join(PLUGINS_FILE))?));
        }
        let protected = Protected { checkout: &workspace.root, home: workspace.env.home.as_deref() };
        files::replace_output_dir(&self.staged, &files, &protected, "amis build")
    }

    /// Packer with the credentials the xtask resolved, and no other AWS variable: Packer
    /// 1.6 cannot read SSO profiles, and a profile or endpoint of the caller's shell must
    /// not send it elsewhere.
    fn packer_command<'a>(
        &self,
        workspace: &'a Workspace,
        credentials: &Credentials,
        args: &[String],
    ) -> xshell::Cmd<'a> {
        let (sh, packer) = (&workspace.sh, &self.packer);
        let mut command = cmd!(sh, "{packer} {args...}");
        for name in &workspace.env.aws_variables {
            command = command.env_remove(name);
        }
        command = command
            .env("AWS_ACCESS_KEY_ID", credentials.access_key_id())
            .env("AWS_SECRET_ACCESS_KEY", credentials.secret_access_key());
        match credentials.session_token() {
            Some(token) => command.env("AWS_SESSION_TOKEN", token),
            None => command,
        }
    }
}

fn packer_version(workspace: &Workspace) -> Result<PackerVersion> {
    let (sh, packer) = (&workspace.sh, &workspace.env.packer);
    if !workspace.env.has_program(packer) {
        bail!("`{packer}` is not on PATH; install Packer (`apt-get install packer` or `brew install packer`) or point PACKER at it");
    }
    let mut command = cmd!(sh, "{packer} version").quiet();
    for name in &workspace.env.aws_variables {
        command = command.env_remove(name);
    }
    let output = command.read().with_context(|| format!("cannot run `{packer} version`"))?;
    PackerVersion::parse(&output)
}

fn packer_args(
    workspace: &Workspace,
    args: &AmisBuildArgs,
    commit: &CommitId,
    images: &[String],
    manifest: &std::path::Path,
    staged: &std::path::Path,
) -> Vec<String> {
    let endpoint = workspace.env.aws_endpoint.clone().unwrap_or_default();
    let mut packer_args = vec![
        "build".to_owned(),
        "-color=false".to_owned(),
        format!("-var=commit={commit}"),
        format!("-var=ec2_endpoint={endpoint}"),
        format!("-var=manifest_path={}", manifest.display()),
    ];
    if !args.only.is_empty() {
        // Without the source type Packer silently builds nothing.
        let only: Vec<String> = images.iter().map(|image| format!("amazon-ebs.{image}")).collect();
        packer_args.push(format!("-only={}", only.join(",")));
    }
    packer_args.push(staged.display().to_string());
    packer_args
}

/// Internal images encrypted with a customer-managed key need grants for every account
/// that may launch them (customers too: their copies use the same keys).
fn grant_keys(workspace: &Workspace, plan: &BuildPlan) -> Result<()> {
    let accounts = plan.accounts.audience(Audience::InternalAccountsAndCustomers);
    with_site(workspace, async |site| {
        let client = SignedClient::new(&site.sdk);
        let kms = Kms { client: &client };
        let plans = access::plan_keys(&kms, &plan.kms_keys, &accounts).await?;
        access::apply_keys(&kms, &plans).await
    })
}
