//! `cargo xtask release <tag>`: step 1 of a release. Sets `READYSET_TAG` and
//! `CFN_VERSION` and commits that change alone on `release/<tag>`, ready to merge.

use anyhow::{anyhow, bail, Context, Result};

use crate::{
    adapters::{
        buildkite,
        files::write_atomically,
        git,
        workspace::{Workspace, CONSTANTS_FILE},
    },
    cli::ReleaseArgs,
    domain::{
        constants_file::{ConstantsFile, NewConstants, ReleaseConstants, CFN_VERSION, READYSET_TAG},
        diff,
        names::tag::ReleaseTag,
        pipeline::buildkite::RELEASE_BLOCK_LABEL,
    },
};

/// What a run will do, decided before anything is written.
struct Plan {
    tag: ReleaseTag,
    wanted: NewConstants,
    current: ReleaseConstants,
    text: String,
    rewritten: String,
    branch: String,
    message: String,
}

impl Plan {
    fn already_set(&self) -> bool {
        self.current.readyset_tag == self.wanted.readyset_tag.as_str()
            && self.current.cfn_version == self.wanted.cfn_version.as_str()
    }

    fn diff(&self) -> String {
        diff::unified(&self.text, &self.rewritten, &format!("a/{CONSTANTS_FILE}"), &format!("b/{CONSTANTS_FILE}"))
    }
}

pub fn run(workspace: &Workspace, args: ReleaseArgs, dry_run: bool) -> Result<()> {
    let plan = decide(workspace, &args)?;
    if args.check {
        return check(&plan);
    }
    if plan.already_set() {
        println!("{CONSTANTS_FILE} already names release {}; nothing to do.", plan.tag);
        return Ok(());
    }
    if dry_run {
        print_dry_run(&plan, args.no_commit);
        return Ok(());
    }
    write(workspace, &plan, args.no_commit)?;
    print_next_steps(&plan.tag, &plan.branch, args.no_commit);
    Ok(())
}

fn decide(workspace: &Workspace, args: &ReleaseArgs) -> Result<Plan> {
    let tag = buildkite::release_name(workspace, args.tag.clone())?;
    let text = std::fs::read_to_string(workspace.root.join(CONSTANTS_FILE))
        .with_context(|| format!("cannot read {CONSTANTS_FILE}; the release constants live there"))?;
    let file = ConstantsFile::parse(&text)
        .map_err(|error| anyhow!("{CONSTANTS_FILE} cannot be edited safely: {error}; nothing was written"))?;
    let wanted = NewConstants {
        readyset_tag: args.readyset_tag.clone().unwrap_or_else(|| tag.clone()),
        cfn_version: tag.clone(),
    };
    let rewritten = file.rewrite(&wanted);
    Ok(Plan {
        branch: format!("release/{tag}"),
        message: format!("Release {tag}"),
        current: file.values(),
        tag,
        wanted,
        text,
        rewritten,
    })
}

fn check(plan: &Plan) -> Result<()> {
    let current = &plan.current;
    if plan.already_set() {
        println!(
            "{CONSTANTS_FILE} matches release {}: {READYSET_TAG} = {:?}, {CFN_VERSION} = {:?}",
            plan.tag, current.readyset_tag, current.cfn_version
        );
        return Ok(());
    }
    let differing: Vec<String> = [
        (READYSET_TAG, &current.readyset_tag, &plan.wanted.readyset_tag),
        (CFN_VERSION, &current.cfn_version, &plan.wanted.cfn_version),
    ]
    .into_iter()
    .filter(|(_, is, wanted)| is.as_str() != wanted.as_str())
    .map(|(name, is, wanted)| format!("{name} is {is:?}, not {:?}", wanted.as_str()))
    .collect();
    bail!(
        "{CONSTANTS_FILE} does not match release {tag}: {}. A release is cut from a commit whose constants name it: \
         run `cargo xtask release {tag}`, merge the branch, and release from that commit (or type the name that \
         commit carries)",
        differing.join(" and "),
        tag = plan.tag,
    )
}

fn print_dry_run(plan: &Plan, no_commit: bool) {
    println!("Plan for release {} (dry run: nothing is written):\n", plan.tag);
    print!("{}", plan.diff());
    if no_commit {
        println!("\nwould rewrite {CONSTANTS_FILE} and leave it uncommitted");
    } else {
        println!("\nwould run: git switch --create {}", plan.branch);
        println!("would run: git commit -m {:?} -- {CONSTANTS_FILE}", plan.message);
    }
    print_next_steps(&plan.tag, &plan.branch, no_commit);
}

fn write(workspace: &Workspace, plan: &Plan, no_commit: bool) -> Result<()> {
    let sh = &workspace.sh;
    let dirty = git::uncommitted_files(sh)?;
    if !dirty.is_empty() {
        bail!(
            "the working tree has uncommitted changes, and the release commit must hold the constants alone:\n  {}\n\
             Commit or stash them, then run this again. Nothing was written.",
            dirty.join("\n  ")
        );
    }
    if !no_commit {
        git::require_identity(sh)?;
        if git::branch_exists(sh, &plan.branch)? {
            bail!(
                "branch {} already exists; delete it with `git branch -D {}` if it is stale, \
                 or choose another release name. Nothing was written.",
                plan.branch,
                plan.branch
            );
        }
        git::create_branch(sh, &plan.branch)?;
    }
    write_atomically(&workspace.root.join(CONSTANTS_FILE), plan.rewritten.as_bytes())?;
    print!("{}", plan.diff());
    if no_commit {
        println!("\nRewrote {CONSTANTS_FILE}; left uncommitted as asked.");
    } else {
        git::commit_paths(sh, &plan.message, &[CONSTANTS_FILE]).with_context(|| {
            format!("you are on branch {} with {CONSTANTS_FILE} rewritten but not committed", plan.branch)
        })?;
        println!("\nCommitted {:?} on branch {}.", plan.message, plan.branch);
    }
    Ok(())
}

fn print_next_steps(tag: &ReleaseTag, branch: &str, no_commit: bool) {
    println!("\nNext:");
    if no_commit {
        println!("  1. Commit {CONSTANTS_FILE}, push, and merge the change to main.");
    } else {
        println!("  1. git push --set-upstream origin {branch}, open a pull request, and merge it to main.");
    }
    println!("  2. In the Buildkite build of that merge on main, unblock \"{RELEASE_BLOCK_LABEL}\"");
    println!("     and enter the release name {tag}. The pipeline runs `cargo xtask release {tag} --check`");
    println!("     against the commit first, so a different name stops the release before anything ships.");
}
