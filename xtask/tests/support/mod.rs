//! Shared by the integration tests: one AWS emulator per test binary.

#![allow(dead_code)]

pub mod site;

use std::{
    path::{Path, PathBuf},
    sync::OnceLock,
};

use xtask::adapters::{aws::Aws, emulator::Emulator};

pub const REGION: &str = "us-east-2";

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_owned()
}

/// Started on first use; it stops when the test binary exits, whether the tests pass,
/// fail or panic (the launcher exits when its standard input closes). Tests share it
/// and keep apart by using bucket names of their own, so they can run in parallel.
pub fn emulator() -> &'static Emulator {
    static EMULATOR: OnceLock<Emulator> = OnceLock::new();
    EMULATOR.get_or_init(|| {
        let python = xtask::adapters::emulator::python(&workspace_root());
        Emulator::start(&python).unwrap_or_else(|error| panic!("{error:#}"))
    })
}

pub async fn aws() -> Aws {
    Aws::from_sdk_config(&emulator().sdk_config(REGION).await)
}

/// A bucket name no other test uses.
pub fn unique_bucket(purpose: &str) -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    format!("{purpose}-{}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed))
}

pub async fn create_bucket(aws: &Aws, bucket: &str) {
    use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration};
    aws.s3
        .create_bucket()
        .bucket(bucket)
        .create_bucket_configuration(
            CreateBucketConfiguration::builder().location_constraint(BucketLocationConstraint::from(REGION)).build(),
        )
        .send()
        .await
        .unwrap_or_else(|error| panic!("create bucket {bucket}: {error:?}"));
}
