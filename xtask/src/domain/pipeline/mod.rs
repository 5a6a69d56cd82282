//! The Buildkite pipeline: its fixed names, and the agent queues with their IAM policies.

pub mod buildkite;
pub mod queues;
