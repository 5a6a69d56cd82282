//! Adapters: the only code that touches the world (files of the checkout, processes,
//! AWS). Commands combine them with the pure `domain`.

pub mod aws;
pub mod emulator;
pub mod files;
pub mod git;
pub mod tools;
pub mod workspace;
