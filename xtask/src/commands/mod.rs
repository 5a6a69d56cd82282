//! One module per `cargo xtask` command, each with its clap `Args` and a `run`.

pub mod ci;
pub mod release;
