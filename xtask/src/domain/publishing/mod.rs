//! Publishing installers: build records, the signed manifest, the bucket layout, the signed pointer to the current release and index of releases, the plan of writes, the wrapper, and where a release stands.

pub mod build_record;
pub mod digest;
pub mod download_base;
pub mod layout;
pub mod pointer;
pub mod publish_plan;
pub mod release_index;
pub mod release_lock;
pub mod release_manifest;
pub mod release_status;
pub mod signing_key;
pub mod wrapper;
