//! One module per `cargo xtask` command, each with its clap `Args` and a `run`.

pub mod build_installer;
pub mod ci;
pub mod release;
