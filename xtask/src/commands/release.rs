//! `cargo xtask release <tag>`: step 1 of a release. Sets `READYSET_TAG` and
//! `CFN_VERSION` and commits that change alone on `release/<tag>`, ready to merge.

use anyhow::{anyhow, bail, Context, Result};

use crate::{
    adapters::{buildkite, files::write_atomically, git, workspace::Workspace},
    domain::{
        constants_file::{ConstantsFile, NewConstants, CFN_VERSION, READYSET_TAG},
        pipeline::RELEASE_BLOCK_LABEL,
        tag::ReleaseTag,
    },
};

const CONSTANTS: &str = "installer/src/constants.rs";

/// Set the release constants and commit them on a new branch `release/<TAG>`.
///
/// Rewrites only the string literals of READYSET_TAG and CFN_VERSION in
/// installer/src/constants.rs. The working tree must be clean.
///
/// Example: cargo xtask release v2024.06.1 --dry-run
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The release name customers will see; also the S3 prefix of its templates.
    /// ASCII letters, digits, '.', '_', '-'; at most 64; not 'alpha' or 'latest'.
    /// In Buildkite it defaults to the name typed into the release block step.
    pub tag: Option<ReleaseTag>,

    /// Set READYSET_TAG to this instead (CFN_VERSION still becomes <TAG>).
    #[arg(long, value_name = "TAG")]
    pub readyset_tag: Option<ReleaseTag>,

    /// Change nothing; fail unless both constants already equal the release.
    #[arg(long, conflicts_with = "no_commit")]
    pub check: bool,

    /// Rewrite the file but leave it uncommitted on the current branch.
    #[arg(long)]
    pub no_commit: bool,
}

pub fn run(workspace: &Workspace, args: Args, dry_run: bool) -> Result<()> {
    let tag = buildkite::release_name(args.tag.clone())?;
    let path = workspace.constants_file();
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!("cannot read {CONSTANTS} (looked at {}); the release constants live there", path.display())
    })?;
    let file = ConstantsFile::parse(&text)
        .map_err(|error| anyhow!("{CONSTANTS} cannot be edited safely: {error}; nothing was written"))?;
    let current = file.values();
    let wanted = NewConstants {
        readyset_tag: args.readyset_tag.clone().unwrap_or_else(|| tag.clone()),
        cfn_version: tag.clone(),
    };
    let already_set =
        current.readyset_tag == wanted.readyset_tag.as_str() && current.cfn_version == wanted.cfn_version.as_str();

    if args.check {
        if already_set {
            println!(
                "{CONSTANTS} matches release {}: {READYSET_TAG} = {:?}, {CFN_VERSION} = {:?}",
                tag, current.readyset_tag, current.cfn_version
            );
            return Ok(());
        }
        bail!(
            "{CONSTANTS} does not match release {tag}: {READYSET_TAG} is {:?} (expected {:?}), {CFN_VERSION} is {:?} (expected {:?}). \
             A release is cut from a commit whose constants name it: run `cargo xtask release {tag}`, merge the branch, \
             and release from that commit (or type the name that commit carries)",
            current.readyset_tag,
            wanted.readyset_tag.as_str(),
            current.cfn_version,
            wanted.cfn_version.as_str(),
        );
    }
    if already_set {
        println!("{CONSTANTS} already names release {}; nothing to do.", tag);
        return Ok(());
    }

    let rewritten = file.rewrite(&wanted);
    let branch = format!("release/{}", tag);
    let message = format!("Release {}", tag);
    if dry_run {
        println!("Plan for release {} (dry run: nothing is written):\n", tag);
        print!("{}", unified_diff(&text, &rewritten));
        if args.no_commit {
            println!("\nwould rewrite {CONSTANTS} and leave it uncommitted");
        } else {
            println!("\nwould run: git switch --create {branch}");
            println!("would run: git commit -m {message:?} -- {CONSTANTS}");
        }
        print_next_steps(&tag, &branch, args.no_commit);
        return Ok(());
    }

    let sh = workspace.shell()?;
    let dirty = git::uncommitted_files(&sh)?;
    if !dirty.is_empty() {
        bail!(
            "the working tree has uncommitted changes, and the release commit must hold the constants alone:\n  {}\n\
             Commit or stash them, then run this again. Nothing was written.",
            dirty.join("\n  ")
        );
    }
    if !args.no_commit {
        git::require_identity(&sh)?;
        if git::branch_exists(&sh, &branch)? {
            bail!(
                "branch {branch} already exists; delete it with `git branch -D {branch}` if it is stale, \
                 or choose another release name. Nothing was written."
            );
        }
        git::create_branch(&sh, &branch)?;
    }
    write_atomically(&path, rewritten.as_bytes())?;
    print!("{}", unified_diff(&text, &rewritten));
    if args.no_commit {
        println!("\nRewrote {CONSTANTS}; left uncommitted as asked.");
    } else {
        git::commit_paths(&sh, &message, &[CONSTANTS])
            .with_context(|| format!("you are on branch {branch} with {CONSTANTS} rewritten but not committed"))?;
        println!("\nCommitted {message:?} on branch {branch}.");
    }
    print_next_steps(&tag, &branch, args.no_commit);
    Ok(())
}

fn print_next_steps(tag: &ReleaseTag, branch: &str, no_commit: bool) {
    println!("\nNext:");
    if no_commit {
        println!("  1. Commit {CONSTANTS}, push, and merge the change to main.");
    } else {
        println!("  1. git push --set-upstream origin {branch}, open a pull request, and merge it to main.");
    }
    println!("  2. In the Buildkite build of that merge on main, unblock \"{RELEASE_BLOCK_LABEL}\"");
    println!("     and enter the release name {tag}. The pipeline runs `cargo xtask release {tag} --check`");
    println!("     against the commit first, so a different name stops the release before anything ships.");
}

fn unified_diff(old: &str, new: &str) -> String {
    similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(2)
        .header(&format!("a/{CONSTANTS}"), &format!("b/{CONSTANTS}"))
        .to_string()
}
