//! One module per `cargo xtask` command, each with its clap `Args` and a `run`.

pub mod build_installer;
pub mod ci;
pub mod publish_installer;
pub mod release;
pub mod rollback;
pub mod status;
pub mod verify;
