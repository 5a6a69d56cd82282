//! `cargo xtask amis build`: Packer builds the internal images of a commit, the only
//! stage that is built; alpha and release are copies of these (`amis promote`).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use aws_credential_types::Credentials;
use xshell::cmd;
use xtask::{
    adapters::{
        artifacts, buildkite,
        files::{self, write_atomically, Protected},
        workspace::Workspace,
    },
    cli::AmisBuildArgs,
    domain::{
        images::accounts::Accounts,
        images::packages,
        images::packer::{self, amis_of_last_run, AmisFile, Packages, PackerVersion},
        images::provisioning,
        names::commit::CommitId,
        names::stage::{Audience, Stage},
        names::tag::ReleaseTag,
        publishing::digest::sha256_hex,
    },
};

use crate::adapters::{
    access,
    ec2::Ec2,
    kms::Kms,
    sigv4_http::SignedClient,
    site::{credentials, with_site, Site},
};

/// Where the plugin declaration lives; it is added to the staged templates for Packer 1.7+.
const PLUGINS_FILE: &str = "plugins/required_plugins.pkr.hcl";
/// Where the packages are staged beside the templates, for Packer's file provisioner.
const PACKAGES_DIR: &str = "packages";
/// The longest value an EC2 tag holds; Packer would fail on a longer one after the build.
const MAX_TAG_VALUE: usize = 256;

pub fn run(workspace: &Workspace, mut args: AmisBuildArgs, dry_run: bool) -> Result<()> {
    let _staged_for_a_dry_run = if args.fetch_packages {
        let (files, scratch) = fetch_packages(workspace, dry_run)?;
        if workspace.env.aws_endpoint.is_none() {
            args.packages = files;
        }
        scratch
    } else {
        None
    };
    let plan = BuildPlan::decide(workspace, &args)?;
    let credentials = with_site(workspace, async |site| {
        let client = SignedClient::new(&site.sdk);
        access::require_shareable_encryption(&Ec2 { client: &client }, &plan.regions, &plan.kms_keys).await?;
        credentials(&site.sdk).await
    })?;
    let handoff = Handoff::decide(workspace, credentials);
    print!("{}", plan.describe(workspace, &handoff));
    if dry_run {
        println!("\nDry run: Packer was not run and nothing was written.");
        return Ok(());
    }
    let file = plan.run(workspace, &handoff)?;
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
    /// when this Packer takes one, the packages, and no provisioners for the emulator.
    staged: PathBuf,
    /// False against the emulator: no instance runs there to connect to.
    provision: bool,
    packages: Packages,
    package_files: Vec<(String, PathBuf)>,
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
        let provision = workspace.env.aws_endpoint.is_none();
        let (packages, package_files) = read_packages(&args.packages)?;
        require_packages(workspace, &images, &packages, provision)?;
        let staged = workspace.output_dir().join("packer/templates");
        let manifest = workspace.output_dir().join("packer/manifest-internal.json");
        let run =
            PackerRun { commit: &commit, images: &images, manifest: &manifest, staged: &staged, packages: &packages };
        let args = packer_args(workspace, args, &run, provision);
        Ok(BuildPlan {
            provision,
            packages,
            package_files,
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

    fn describe(&self, workspace: &Workspace, handoff: &Handoff) -> String {
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
        text += &self.describe_provisioning();
        text += &format!("  credentials: {}\n", handoff.describe());
        for (name, value) in &workspace.env.packer_polling {
            text += &format!("  passed to Packer's amazon plugin: {name}={value}\n");
        }
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

    fn describe_provisioning(&self) -> String {
        if !self.provision {
            return "  provision: left out; the emulator runs no instance to connect to (the scripts are tested in a \
                    Debian 12 root)\n"
                .to_owned();
        }
        let mut text = "  provision: over SSH, ops/image-deploy/scripts as each image's provisioners say\n".to_owned();
        for (file, sha256) in &self.packages {
            text += &format!("  package: {file} sha256 {sha256}\n");
        }
        text
    }

    fn run(&self, workspace: &Workspace, handoff: &Handoff) -> Result<AmisFile> {
        self.stage(workspace)?;
        std::fs::create_dir_all(self.manifest.parent().expect("has a parent"))?;
        let before = std::fs::read_to_string(&self.manifest).ok();
        if self.version.declares_plugins() {
            let staged = &self.staged;
            self.packer_command(workspace, handoff, &["init".to_owned(), staged.display().to_string()])
                .run()
                .context("`packer init` could not install the amazon plugin; its output is above")?;
        }
        self.packer_command(workspace, handoff, &self.args)
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
            packages: self.packages.clone(),
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
        if !self.provision {
            let name = packer::IMAGES_FILE.strip_prefix(&format!("{}/", packer::TEMPLATE_DIR)).unwrap_or_default();
            let images = files
                .iter_mut()
                .find(|(file, _)| file == name)
                .with_context(|| format!("{} is missing from the staged templates", packer::IMAGES_FILE))?;
            images.1 = provisioning::without_provisioners(&String::from_utf8_lossy(&images.1))?.into_bytes();
        }
        for (name, path) in &self.package_files {
            let bytes = std::fs::read(path).with_context(|| format!("cannot read the package {}", path.display()))?;
            files.push((format!("{PACKAGES_DIR}/{name}"), bytes));
        }
        let protected = Protected { checkout: &workspace.root, home: workspace.env.home.as_deref() };
        files::replace_output_dir(&self.staged, &files, &protected, "amis build")
    }

    /// Packer with its credentials (`Handoff`), the plugin's polling variables, and no
    /// other AWS variable: a profile or endpoint of the caller's shell must not send it
    /// elsewhere.
    fn packer_command<'a>(&self, workspace: &'a Workspace, handoff: &Handoff, args: &[String]) -> xshell::Cmd<'a> {
        let (sh, packer) = (&workspace.sh, &self.packer);
        let mut command = cmd!(sh, "{packer} {args...}");
        for name in &workspace.env.aws_variables {
            command = command.env_remove(name);
        }
        command = command.envs(workspace.env.packer_polling.iter().map(|(name, value)| (name, value)));
        match handoff {
            Handoff::Profile(name) => {
                let env = &workspace.env;
                let files = [
                    ("AWS_CONFIG_FILE", &env.aws_config_file),
                    ("AWS_SHARED_CREDENTIALS_FILE", &env.aws_credentials_file),
                ];
                let files = files.into_iter().filter_map(|(variable, file)| Some((variable, file.as_ref()?)));
                // aws-sdk-go reads role_arn and source_profile from the config file only when asked.
                command.env("AWS_PROFILE", name).env("AWS_SDK_LOAD_CONFIG", "1").envs(files)
            }
            Handoff::Keys(credentials) => {
                command = command
                    .env("AWS_ACCESS_KEY_ID", credentials.access_key_id())
                    .env("AWS_SECRET_ACCESS_KEY", credentials.secret_access_key());
                match credentials.session_token() {
                    Some(token) => command.env("AWS_SESSION_TOKEN", token),
                    None => command,
                }
            }
        }
    }
}

/// How Packer gets AWS credentials. A profile it can read (static keys, a role it
/// assumes, a credential process) is handed over by name, so Packer renews what it
/// assumes during a long build; otherwise (keys in the environment, an instance role
/// the xtask already resolved, or an SSO profile, which Packer 1.6 cannot read) it gets
/// the keys the xtask's chain resolved, which it cannot renew.
enum Handoff {
    Profile(String),
    Keys(Credentials),
}

impl Handoff {
    fn decide(workspace: &Workspace, credentials: Credentials) -> Handoff {
        let env = &workspace.env;
        let keys_in_environment = env.aws_variables.iter().any(|name| name == "AWS_ACCESS_KEY_ID");
        let Some(profile) = env.aws_profile.clone().filter(|_| !keys_in_environment) else {
            return Handoff::Keys(credentials);
        };
        let config_file =
            env.aws_config_file.clone().or_else(|| env.home.as_ref().map(|home| home.join(".aws/config")));
        let config = config_file.and_then(|file| std::fs::read_to_string(file).ok()).unwrap_or_default();
        match packer::profile_uses_sso(&config, &profile) {
            true => Handoff::Keys(credentials),
            false => Handoff::Profile(profile),
        }
    }

    fn describe(&self) -> String {
        match self {
            Handoff::Profile(name) => {
                format!("profile {name}, read by Packer itself (it renews what it assumes); no other AWS_* variable")
            }
            Handoff::Keys(credentials) => format!(
                "the xtask's AWS chain, given to Packer as AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY{} (never printed; \
                 Packer cannot renew them); no other AWS_* variable reaches it",
                if credentials.session_token().is_some() { ", AWS_SESSION_TOKEN" } else { "" }
            ),
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

/// What the Packer command line names.
struct PackerRun<'a> {
    commit: &'a CommitId,
    images: &'a [String],
    manifest: &'a Path,
    staged: &'a Path,
    packages: &'a Packages,
}

fn packer_args(workspace: &Workspace, args: &AmisBuildArgs, run: &PackerRun, provision: bool) -> Vec<String> {
    let endpoint = workspace.env.aws_endpoint.clone().unwrap_or_default();
    let mut packer_args = vec![
        "build".to_owned(),
        "-color=false".to_owned(),
        format!("-var=commit={}", run.commit),
        format!("-var=ec2_endpoint={endpoint}"),
        format!("-var=manifest_path={}", run.manifest.display()),
        format!("-var=package_dir={}", run.staged.join(PACKAGES_DIR).display()),
        format!("-var=packages={}", packer::packages_text(run.packages)),
    ];
    if !provision {
        packer_args.push("-var=communicator=none".to_owned());
    }
    if !args.only.is_empty() {
        // Without the source type Packer silently builds nothing.
        let only: Vec<String> = run.images.iter().map(|image| format!("amazon-ebs.{image}")).collect();
        packer_args.push(format!("-only={}", only.join(",")));
    }
    packer_args.push(run.staged.display().to_string());
    packer_args
}

/// The packages of this checkout's READYSET_TAG from where ReadySet's build publishes
/// them, each checked against SHA256SUMS, written to `target/packages/<tag>/` (to a
/// scratch directory, removed with the returned handle, for a dry run). Against the
/// emulator they are fetched and checked, and then left out: nothing is provisioned.
fn fetch_packages(workspace: &Workspace, dry_run: bool) -> Result<(Vec<PathBuf>, Option<tempfile::TempDir>)> {
    let tag = workspace.constants()?.tags().context("refusing to build the images")?.readyset_tag;
    let fetched = with_site(workspace, async |site| fetch_checked(site, &tag).await)?;
    let (dir, scratch) = if dry_run {
        let scratch = tempfile::Builder::new().prefix("xtask-packages-").tempdir()?;
        (scratch.path().to_owned(), Some(scratch))
    } else {
        (workspace.output_dir().join("packages").join(tag.as_str()), None)
    };
    let protected = Protected { checkout: &workspace.root, home: workspace.env.home.as_deref() };
    files::replace_output_dir(&dir, &fetched, &protected, "amis build --fetch-packages")?;
    println!("Packages of READYSET_TAG {tag}, checked against {}:", packages::SUMS_FILE);
    for (name, bytes) in &fetched {
        println!("  {name}  {} bytes  sha256 {}", bytes.len(), sha256_hex(bytes));
    }
    if workspace.env.aws_endpoint.is_some() {
        println!("  (against the emulator nothing is provisioned, so they are neither installed nor recorded)");
    }
    Ok((fetched.iter().map(|(name, _)| dir.join(name)).collect(), scratch))
}

/// Every package `SHA256SUMS` lists under the tag's prefix, with its bytes; refused,
/// naming the key, when the list or a package is missing or a package's SHA-256 differs.
async fn fetch_checked(site: &Site, tag: &ReleaseTag) -> Result<Vec<(String, Vec<u8>)>> {
    let bucket = site.bucket(&site.config.cfn_internal_bucket);
    let prefix = packages::prefix(&site.config, tag);
    let at = |name: &str| format!("s3://{}/{prefix}{name}", bucket.name);
    let sums = at(packages::SUMS_FILE);
    let Some(listed) = bucket.get(&format!("{prefix}{}", packages::SUMS_FILE)).await? else {
        bail!(
            "refusing to build the images: {sums} does not exist. ReadySet's build publishes the packages of \
             READYSET_TAG {tag} and their {} there (RELEASE.md, What the images hold); publish them, or set \
             READYSET_TAG to a tag that has them. Nothing was built",
            packages::SUMS_FILE
        );
    };
    let listed = packages::parse_sums(&String::from_utf8_lossy(&listed))
        .with_context(|| format!("refusing to build the images: {sums} is not usable. Nothing was built"))?;
    let mut fetched = Vec::new();
    for (name, expected) in listed {
        let Some(bytes) = bucket.get(&format!("{prefix}{name}")).await? else {
            bail!(
                "refusing to build the images: {name} is listed in {sums}, but {} does not exist. Nothing was built",
                at(&name)
            );
        };
        let actual = sha256_hex(&bytes);
        if actual != expected {
            bail!(
                "refusing to build the images: {} has SHA-256 {actual}, but {sums} lists {expected} for it. The \
                 package was changed after the build published it; publish it again. Nothing was built",
                at(&name)
            );
        }
        fetched.push((name, bytes));
    }
    Ok(fetched)
}

/// Each package's file name and SHA-256, refused unless it is a `.deb` file with a
/// plain name (names and hashes travel as `<file>=<sha256>` words).
fn read_packages(paths: &[PathBuf]) -> Result<(Packages, Vec<(String, PathBuf)>)> {
    let mut packages = Packages::new();
    let mut files = Vec::new();
    for path in paths {
        let name = path.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default();
        if !packages::is_package_name(&name) {
            bail!(
                "--package {}: expected a Debian package file named like readyset_1.2.0_amd64.deb (letters, digits, \
                 '.', '_', '-', '+', '~', ending in .deb)",
                path.display()
            );
        }
        let (_, sha256) = artifacts::hash_file(path)
            .with_context(|| format!("--package {}: cannot read it; pass an existing .deb file", path.display()))?;
        if packages.insert(name.clone(), sha256).is_some() {
            bail!("--package {}: two packages are named {name}; pass each package once", path.display());
        }
        files.push((name, path.clone()));
    }
    let tag = packer::packages_text(&packages);
    if tag.len() > MAX_TAG_VALUE {
        bail!(
            "--package: the packages' names and hashes take {} characters, and the ReadySetPackages tag holds at most \
             {MAX_TAG_VALUE}; pass fewer packages or shorter file names. Nothing was built",
            tag.len()
        );
    }
    Ok((packages, files))
}

/// The server and adapter images install ReadySet: building them without a package
/// would ship machines that run nothing.
fn require_packages(workspace: &Workspace, images: &[String], packages: &Packages, provision: bool) -> Result<()> {
    if !provision && !packages.is_empty() {
        bail!(
            "--package: against the emulator (AWS_ENDPOINT_URL is set) nothing is provisioned, so the AMIs would be \
             tagged with packages they do not hold; leave --package out there"
        );
    }
    if !provision || !packages.is_empty() {
        return Ok(());
    }
    let text = workspace.read(packer::IMAGES_FILE)?;
    let mut needing = Vec::new();
    for image in images {
        if provisioning::installs_packages(&text, image)? {
            needing.push(image.as_str());
        }
    }
    if needing.is_empty() {
        return Ok(());
    }
    bail!(
        "refusing to build {} without ReadySet: pass the Debian package(s) with --package <file.deb> (repeatable), \
         or build only the bastion (--only readyset-bastion). Nothing was built",
        needing.join(", ")
    )
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
