//! The integration tests of every `cargo xtask` command, in one binary: the AWS SDK is
//! linked once rather than once per test file. libtest starts tests in the order of
//! their names, so the longest, the rehearsals of the whole release path, are in
//! `end_to_end` rather than at the end of the alphabet, where they were the run's tail.

mod amis;
mod architecture;
mod aws_calls;
mod build_installer;
mod customer;
mod end_to_end;
mod facts;
mod hardening;
mod iam_analyser;
mod images;
mod launcher;
mod lifecycle;
mod pipeline;
mod provisioning;
mod publish;
mod release;
mod release_infra;
mod signing;
mod stacks;
mod support;
mod wrapper;
