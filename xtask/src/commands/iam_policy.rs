//! `cargo xtask iam-policy <queue|test-stacks>`: the policy to attach to a queue's agent
//! role or to the test-stack role, printed from the release configuration so that it
//! names the buckets and distribution the commands use.

use anyhow::{bail, Context, Result};

use crate::{
    adapters::workspace::Workspace,
    cli::{IamPolicyArgs, PolicyHolder},
    domain::pipeline::{queues, test_stack_role},
};

pub fn run(workspace: &Workspace, args: IamPolicyArgs) -> Result<()> {
    let document = match (args.holder, args.trust) {
        (PolicyHolder::TestStacks, true) => serde_json::to_string_pretty(&test_stack_role::trust_policy())?,
        (PolicyHolder::TestStacks, false) => serde_json::to_string_pretty(&test_stack_role::policy(&workspace.config))?,
        (PolicyHolder::Queue(queue), false) => serde_json::to_string_pretty(
            &queues::policy(queue, &workspace.config, &workspace.image_kms_keys()?)
                .with_context(|| format!("the {queue} queue holds no AWS credentials, so it has no policy"))?,
        )?,
        (PolicyHolder::Queue(queue), true) => bail!(
            "--trust prints the test-stack role's trust policy; the {queue} agents' role is assumed by whatever \
             runs the agents (an EC2 instance profile, for example), which RELEASE.md sets up"
        ),
    };
    println!("{document}");
    Ok(())
}
