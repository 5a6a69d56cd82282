//! The pure core: rules and data shapes of a release. Nothing here touches the file
//! system, a process or the network, so all of it is tested without any of them.

pub mod build_record;
pub mod cfn;
pub mod config;
pub mod constants_file;
pub mod customers;
pub mod layout;
pub mod packer;
pub mod pipeline;
pub mod publish_plan;
pub mod release_manifest;
pub mod tag;
pub mod wrapper;
