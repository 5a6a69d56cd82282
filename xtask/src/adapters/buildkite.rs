//! What the xtask takes from Buildkite when it runs as a pipeline step: the release name
//! typed into the release block step (meta-data, read with `buildkite-agent`), and an
//! annotation on the build page.

use anyhow::{bail, Context, Result};
use xshell::{cmd, Shell};

use crate::domain::{pipeline::RELEASE_NAME_FIELD, tag::ReleaseTag};

/// Whether this process runs as a Buildkite step (the agent sets `BUILDKITE=true`).
pub fn is_buildkite() -> bool {
    std::env::var("BUILDKITE").is_ok_and(|value| value == "true")
}

/// The release name given on the command line, or else, in Buildkite, the one typed
/// into the release block step.
pub fn release_name(given: Option<ReleaseTag>) -> Result<ReleaseTag> {
    if let Some(tag) = given {
        return Ok(tag);
    }
    if !is_buildkite() {
        bail!("no release name given; pass it (e.g. v2024.06.1). Only inside Buildkite is it read from the release block step");
    }
    let sh = Shell::new()?;
    let value = cmd!(sh, "buildkite-agent meta-data get {RELEASE_NAME_FIELD}")
        .quiet()
        .read()
        .with_context(|| format!("cannot read the release name from Buildkite meta-data `{RELEASE_NAME_FIELD}`"))?;
    ReleaseTag::parse(value.trim()).with_context(|| {
        format!("the release name typed into the release block step ({RELEASE_NAME_FIELD}) is refused")
    })
}

/// Shows a Markdown summary on the Buildkite build page; does nothing outside Buildkite.
pub fn annotate(context: &str, markdown: &str) -> Result<()> {
    if !is_buildkite() {
        return Ok(());
    }
    let sh = Shell::new()?;
    cmd!(sh, "buildkite-agent annotate --style success --context {context}")
        .stdin(markdown)
        .quiet()
        .run()
        .context("cannot write the Buildkite annotation")
}
