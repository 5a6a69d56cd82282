//! The provisioners of the images' build block, read from `images.pkr.hcl`: which run
//! for an image and in what order (the tests run exactly those in a Debian root), and
//! the file without them (what `amis build` stages for the emulator, which has no
//! instance to connect to).

use std::ops::Range;

use anyhow::{bail, Context, Result};
use hcl_edit::{
    expr::Expression,
    structure::{Block, Body},
    Span,
};

use crate::domain::images::packer::IMAGES_FILE;

/// One provisioner as the file writes it (`${...}` left for the caller to resolve).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Provisioner {
    /// `shell` with `script`, and its `environment_vars`.
    Script { path: String, env: Vec<String> },
    /// `shell` with `inline` commands.
    Inline(Vec<String>),
    /// `file`: a local source uploaded to the instance.
    Upload { source: String, destination: String },
}

/// The provisioners the build runs for `image` (named by its source), in file order.
pub fn for_image(text: &str, image: &str) -> Result<Vec<Provisioner>> {
    let body = parse(text)?;
    let source = format!("amazon-ebs.{image}");
    let mut provisioners = Vec::new();
    for block in provisioner_blocks(&body) {
        let only = match block.body.get_attribute("only") {
            Some(attribute) => strings(text, &attribute.value)?,
            None => Vec::new(),
        };
        if only.is_empty() || only.contains(&source) {
            provisioners.push(read(text, block)?);
        }
    }
    Ok(provisioners)
}

/// Whether the build uploads `amis build --package`'s packages to this image.
pub fn installs_packages(text: &str, image: &str) -> Result<bool> {
    let uploads_packages =
        |p: &Provisioner| matches!(p, Provisioner::Upload { source, .. } if source.contains("var.package_dir"));
    Ok(for_image(text, image)?.iter().any(uploads_packages))
}

/// The file with every provisioner block cut out by its span; the rest stays byte for byte.
pub fn without_provisioners(text: &str) -> Result<String> {
    let body = parse(text)?;
    let spans: Vec<Range<usize>> = provisioner_blocks(&body)
        .map(|block| block.span().context("hcl-edit gave a provisioner block no span"))
        .collect::<Result<_>>()?;
    let mut kept = String::with_capacity(text.len());
    let mut at = 0;
    for span in spans {
        kept += &text[at..span.start];
        at = span.end;
    }
    kept += &text[at..];
    Ok(kept)
}

fn parse(text: &str) -> Result<Body> {
    hcl_edit::parser::parse_body(text).map_err(|error| anyhow::anyhow!("{IMAGES_FILE} does not parse as HCL: {error}"))
}

fn provisioner_blocks(body: &Body) -> impl Iterator<Item = &Block> {
    body.blocks()
        .filter(|block| block.ident.as_str() == "build")
        .flat_map(|build| build.body.blocks())
        .filter(|block| block.ident.as_str() == "provisioner")
}

fn read(text: &str, block: &Block) -> Result<Provisioner> {
    let kind = block.labels.first().map(|label| label.as_str().to_owned()).unwrap_or_default();
    let attribute = |name: &str| block.body.get_attribute(name).map(|attribute| &attribute.value);
    match (kind.as_str(), attribute("script"), attribute("inline"), attribute("source")) {
        ("shell", Some(script), None, _) => {
            let env = attribute("environment_vars").map(|value| strings(text, value)).transpose()?;
            Ok(Provisioner::Script { path: string(text, script)?, env: env.unwrap_or_default() })
        }
        ("shell", None, Some(inline), _) => Ok(Provisioner::Inline(strings(text, inline)?)),
        ("file", _, _, Some(source)) => {
            let destination = attribute("destination").context("a file provisioner has no destination")?;
            Ok(Provisioner::Upload { source: string(text, source)?, destination: string(text, destination)? })
        }
        _ => bail!(
            "{IMAGES_FILE}: a `{kind}` provisioner that is neither a shell `script`, a shell `inline` nor a `file` \
             upload; the tests run only those kinds"
        ),
    }
}

/// A quoted string as written, interpolations included.
fn string(text: &str, value: &Expression) -> Result<String> {
    if !matches!(value, Expression::String(_) | Expression::StringTemplate(_)) {
        bail!("{IMAGES_FILE}: expected a quoted string in a provisioner");
    }
    let span = value.span().context("hcl-edit gave a string no span")?;
    Ok(text[span].trim_matches('"').to_owned())
}

fn strings(text: &str, value: &Expression) -> Result<Vec<String>> {
    let Expression::Array(array) = value else {
        bail!("{IMAGES_FILE}: expected a list of quoted strings in a provisioner");
    };
    array.iter().map(|element| string(text, element)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const IMAGES: &str = include_str!("../../../../ops/image-deploy/images.pkr.hcl");

    #[test]
    fn each_image_runs_its_provisioners_and_the_emulator_copy_has_none() {
        let described: Vec<String> = ["readyset-server", "readyset-bastion"]
            .iter()
            .map(|image| format!("{image}: {:?}", for_image(IMAGES, image).unwrap()))
            .collect();
        expect_test::expect![[r#"
            readyset-server: [Script { path: "${path.root}/scripts/base.sh", env: [] }, Inline(["mkdir -p /tmp/readyset-packages /tmp/readyset-units"]), Upload { source: "${var.package_dir}/", destination: "/tmp/readyset-packages" }, Upload { source: "${path.root}/units/", destination: "/tmp/readyset-units" }, Script { path: "${path.root}/scripts/readyset.sh", env: ["READYSET_IMAGE=${source.name}", "READYSET_PACKAGES=${var.packages}"] }, Script { path: "${path.root}/scripts/cleanup.sh", env: [] }]
            readyset-bastion: [Script { path: "${path.root}/scripts/base.sh", env: [] }, Script { path: "${path.root}/scripts/bastion.sh", env: [] }, Script { path: "${path.root}/scripts/cleanup.sh", env: [] }]"#]].assert_eq(&described.join("\n"));
        let stripped = without_provisioners(IMAGES).unwrap();
        assert!(!stripped.contains("provisioner \""), "{stripped}");
        assert!(stripped.contains("post-processor \"manifest\""), "{stripped}");
        assert_eq!(for_image(&stripped, "readyset-server").unwrap(), Vec::new());
        assert!(installs_packages(IMAGES, "readyset-postgres-adapter").unwrap());
        assert!(!installs_packages(IMAGES, "readyset-bastion").unwrap());
    }
}
