//! What the xtask takes from Buildkite when it runs as a pipeline step: the release name
//! typed into the release block step (meta-data, read with `buildkite-agent`), the
//! branch rule for customer-facing writes, and an annotation on the build page.

use anyhow::{bail, Context, Result};
use xshell::cmd;

use crate::{
    adapters::{git, workspace::Workspace},
    domain::{names::commit::CommitId, names::tag::ReleaseTag, pipeline::buildkite::RELEASE_NAME_FIELD},
};

/// The release name given on the command line, or else, in Buildkite, the one typed
/// into the release block step.
pub fn release_name(workspace: &Workspace, given: Option<ReleaseTag>) -> Result<ReleaseTag> {
    if let Some(tag) = given {
        return Ok(tag);
    }
    if workspace.env.buildkite.is_none() {
        bail!("no release name given; pass it (e.g. v2024.06.1). Only inside Buildkite is it read from the release block step");
    }
    let sh = &workspace.sh;
    let value = cmd!(sh, "buildkite-agent meta-data get {RELEASE_NAME_FIELD}")
        .quiet()
        .read()
        .with_context(|| format!("cannot read the release name from Buildkite meta-data `{RELEASE_NAME_FIELD}`"))?;
    ReleaseTag::parse(value.trim()).with_context(|| {
        format!("the release name typed into the release block step ({RELEASE_NAME_FIELD}) is refused")
    })
}

/// The commit a step works on: the one given, else the build's, else the checkout's.
pub fn commit(workspace: &Workspace, given: Option<CommitId>) -> Result<CommitId> {
    let from_build =
        workspace.env.buildkite.as_ref().and_then(|build| build.commit.as_deref()).filter(|c| *c != "HEAD");
    match (given, from_build) {
        (Some(commit), _) => Ok(commit),
        (None, Some(text)) => CommitId::parse(text).context("BUILDKITE_COMMIT is not a commit"),
        (None, None) => git::head_commit(&workspace.sh),
    }
}

/// In Buildkite, customer-facing writes happen only in builds of `main` (the pipeline
/// and the release agents' hook gate them too; this holds when a step is retried or
/// copied elsewhere). Outside Buildkite a person decides.
pub fn require_main_branch(workspace: &Workspace, what: &str) -> Result<()> {
    match &workspace.env.buildkite {
        Some(build) if build.branch != "main" => bail!(
            "refusing to {what} from a build of branch {:?}: customer releases come from main only. Nothing was written.",
            build.branch
        ),
        _ => Ok(()),
    }
}

/// Shows a Markdown summary on the Buildkite build page; does nothing outside Buildkite.
/// A failure is a warning: the work it summarises is done either way.
pub fn annotate(workspace: &Workspace, context: &str, markdown: &str) {
    if workspace.env.buildkite.is_none() {
        return;
    }
    let sh = &workspace.sh;
    let result = cmd!(sh, "buildkite-agent annotate --style success --context {context}").stdin(markdown).quiet().run();
    if let Err(error) = result {
        eprintln!("warning: could not write the Buildkite annotation ({error}); the summary was:\n{markdown}");
    }
}
