//! The Buildkite pipeline: its fixed names, the agent queues with their IAM policies, and
//! the role CloudFormation assumes for the smoke test's stacks.

pub mod buildkite;
pub mod queues;
pub mod test_stack_role;
