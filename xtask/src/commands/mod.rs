//! One module per `cargo xtask` command that needs no AWS, each with a `run`. The
//! arguments are in `cli.rs`; the AWS commands are in the `xtask-aws` crate. A command
//! module never imports another: what two commands share lives in the domain or an
//! adapter.

pub mod build_installer;
pub mod cfn_render;
pub mod ci;
pub mod customers;
pub mod iam_policy;
pub mod release;
pub mod release_infra;
