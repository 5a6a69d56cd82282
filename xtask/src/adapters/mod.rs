//! Adapters: the only code that touches the world (files of the checkout, processes,
//! AWS). Commands combine them with the pure `domain`.

pub mod artifacts;
pub mod aws;
pub mod buildkite;
pub mod cdn;
pub mod emulator;
pub mod files;
pub mod git;
pub mod publisher;
pub mod s3;
pub mod tools;
pub mod workspace;
