//! The pure core: rules and data shapes of a release. Nothing here touches the file
//! system, a process, the environment or the network, so all of it is tested without
//! any of them.

pub mod cfn;
pub mod config;
pub mod constants_file;
pub mod diff;
pub mod images;
pub mod names;
pub mod pipeline;
pub mod preflight;
pub mod publishing;
pub mod release_infra;
