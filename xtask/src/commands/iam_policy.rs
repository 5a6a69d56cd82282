//! `cargo xtask iam-policy <queue>`: the policy to attach to a queue's agent role, printed
//! from the release configuration so that it names the buckets and distribution the
//! commands use.

use anyhow::{Context, Result};

use crate::{adapters::workspace::Workspace, cli::IamPolicyArgs, domain::pipeline::queues};

pub fn run(workspace: &Workspace, args: IamPolicyArgs) -> Result<()> {
    let policy = queues::policy(args.queue, &workspace.config)
        .with_context(|| format!("the {} queue holds no AWS credentials, so it has no policy", args.queue))?;
    println!("{}", serde_json::to_string_pretty(&policy)?);
    Ok(())
}
