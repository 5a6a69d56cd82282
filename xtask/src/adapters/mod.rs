//! Adapters: the only code that touches the world (files of the checkout, the
//! environment, processes). Commands combine them with the pure `domain`. The AWS
//! adapters live in the `xtask-aws` crate.

pub mod artifacts;
pub mod aws_binary;
pub mod buildkite;
pub mod ci_user;
pub mod environment;
pub mod files;
pub mod git;
pub mod toolchain;
pub mod user_namespace;
pub mod workspace;
