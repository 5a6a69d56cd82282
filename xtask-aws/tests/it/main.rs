//! The integration tests of every `cargo xtask` command, in one binary: the AWS SDK is
//! linked once rather than once per test file.

mod amis;
mod architecture;
mod aws_calls;
mod build_installer;
mod customer;
mod facts;
mod hardening;
mod images;
mod launcher;
mod pipeline;
mod provisioning;
mod publish;
mod rehearse;
mod release;
mod signing;
mod support;
mod wrapper;
