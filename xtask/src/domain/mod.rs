//! The pure core: rules and data shapes of a release. Nothing here touches the file
//! system, a process, the environment or the network, so all of it is tested without
//! any of them.

pub mod access;
pub mod accounts;
pub mod build_record;
pub mod buildkite;
pub mod cfn;
pub mod commit;
pub mod config;
pub mod constants_file;
pub mod customers;
pub mod diff;
pub mod digest;
pub mod layout;
pub mod packer;
pub mod promotion;
pub mod provisioning;
pub mod publish_plan;
pub mod queues;
pub mod release_manifest;
pub mod release_status;
pub mod stage;
pub mod tag;
pub mod wrapper;
