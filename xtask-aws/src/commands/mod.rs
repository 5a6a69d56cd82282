//! One module per `cargo xtask` command that talks to AWS, each with a `run`. Their
//! arguments are in `xtask::cli`. A command module never imports another: what two
//! commands share lives in the domain or an adapter.

pub mod amis_build;
pub mod amis_list;
pub mod amis_promote;
pub mod amis_prune;
pub mod bench_amis;
pub mod bench_publish;
pub mod cfn_upload;
pub mod customers_sync;
pub mod preflight;
pub mod publish_installer;
pub mod rehearse;
pub mod release_lock;
pub mod rollback;
pub mod signing_key_export;
pub mod status;
pub mod verify;
