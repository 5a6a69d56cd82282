//! `cargo xtask cfn render`: the CloudFormation templates with a stage's AMIs baked in,
//! written as a whole into an output directory for `cfn upload`.

use anyhow::{bail, Context, Result};

use crate::{
    adapters::{
        files::{self, Protected},
        workspace::Workspace,
    },
    cli::CfnRenderArgs,
    domain::{
        cfn, config::TABLE, images::packer::AmisFile, publishing::digest::sha256_hex, publishing::layout::AMIS_FILE,
    },
};

pub fn run(workspace: &Workspace, args: CfnRenderArgs, dry_run: bool) -> Result<()> {
    let amis: AmisFile = files::read_json(&args.amis, AmisFile::WHAT)?;
    let mut rendered = render_all(workspace, &amis)
        .map_err(|error| anyhow::anyhow!("{error:#}\nNothing was written to {}.", args.out.display()))?;
    if dry_run {
        println!("Would write to {} (dry run):", args.out.display());
        for (name, text) in &rendered {
            println!("  {name}  {} bytes, sha256 {}", text.len(), sha256_hex(text));
        }
        println!("  {AMIS_FILE}  from {}", args.amis.display());
        return Ok(());
    }
    let count = rendered.len();
    rendered.push((AMIS_FILE.to_owned(), amis.to_json().into_bytes()));
    let protected = Protected { checkout: &workspace.root, home: workspace.env.home.as_deref() };
    files::replace_output_dir(&args.out, &rendered, &protected, "cfn render")?;
    println!("Rendered {count} templates for the {} AMIs of {} into {}", amis.stage, amis.commit, args.out.display());
    Ok(())
}

/// Every configured template with its AMI maps filled, or every problem found.
fn render_all(workspace: &Workspace, amis: &AmisFile) -> Result<Vec<(String, Vec<u8>)>> {
    let regions = workspace.ami_regions()?;
    let configured: Vec<&str> = workspace.config.templates.iter().map(|t| t.name.as_str()).collect();
    let sources = workspace.root.join(cfn::SOURCE_DIR);
    for entry in std::fs::read_dir(&sources).with_context(|| format!("cannot list {}", cfn::SOURCE_DIR))? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if let Some(stem) = name.strip_suffix(".yaml") {
            if !configured.contains(&stem) {
                bail!(
                    "{}/{name} is not in {TABLE} templates, so it would never be published; \
                     add it there (public or internal) or remove it",
                    cfn::SOURCE_DIR
                );
            }
        }
    }
    let mut rendered = Vec::new();
    let mut problems = Vec::new();
    for name in configured {
        let text = workspace.read(&format!("{}/{name}.yaml", cfn::SOURCE_DIR))?;
        match cfn::render(name, &text, &amis.images, &regions) {
            Ok(text) => rendered.push((format!("{name}.yaml"), text.into_bytes())),
            Err(error) => problems.push(error.to_string()),
        }
    }
    if !problems.is_empty() {
        bail!("{}", problems.join("\n"));
    }
    Ok(rendered)
}
