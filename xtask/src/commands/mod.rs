//! One module per `cargo xtask` command, each with its clap `Args` and a `run`.

pub mod amis;
pub mod build_installer;
pub mod cfn;
pub mod ci;
pub mod customers;
pub mod publish_installer;
pub mod rehearse;
pub mod release;
pub mod rollback;
pub mod status;
pub mod verify;
