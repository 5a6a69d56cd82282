//! Adapters that talk to AWS (and to the emulator that stands in for it in the tests
//! and the rehearsal). The lean adapters (checkout, environment, processes) are in the
//! `xtask` crate.

pub mod cdn;
pub mod emulator;
pub mod publisher;
pub mod release_state;
pub mod s3;
pub mod site;
