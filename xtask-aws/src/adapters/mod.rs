//! Adapters that talk to AWS (and to the emulator that stands in for it in the tests
//! and the rehearsal). The lean adapters (checkout, environment, processes) are in the
//! `xtask` crate.

pub mod access;
pub mod account_facts;
pub mod aws_error;
pub mod cdn;
pub mod ec2;
pub mod emulator;
pub mod iam;
pub mod image_inventory;
pub mod kms;
pub mod manifest_signature;
pub mod publisher;
pub mod release_index;
pub mod release_lock;
pub mod release_pointer;
pub mod release_state;
pub mod retry;
pub mod s3;
pub mod sigv4_http;
pub mod site;
pub mod tasks;
