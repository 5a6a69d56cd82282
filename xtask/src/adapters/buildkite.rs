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

/// In Buildkite, customer-facing writes happen only in builds of `main` (the pipeline
/// gates them there too; this holds when a step is retried or copied elsewhere).
/// Outside Buildkite a person decides.
pub fn require_main_branch(what: &str) -> Result<()> {
    if !is_buildkite() {
        return Ok(());
    }
    let branch = std::env::var("BUILDKITE_BRANCH").unwrap_or_default();
    if branch != "main" {
        bail!("refusing to {what} from a build of branch {branch:?}: customer releases come from main only. Nothing was written.");
    }
    Ok(())
}

/// Shows a Markdown summary on the Buildkite build page; does nothing outside Buildkite.
/// A failure is a warning: the work it summarises is done either way.
pub fn annotate(context: &str, markdown: &str) {
    if !is_buildkite() {
        return;
    }
    let result = Shell::new().map_err(anyhow::Error::from).and_then(|sh| {
        cmd!(sh, "buildkite-agent annotate --style success --context {context}")
            .stdin(markdown)
            .quiet()
            .run()
            .map_err(anyhow::Error::from)
    });
    if let Err(error) = result {
        eprintln!("warning: could not write the Buildkite annotation ({error}); the summary was:\n{markdown}");
    }
}
