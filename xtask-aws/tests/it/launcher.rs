//! The emulator launcher's patches, each shown through the real SDK: where moto behaves
//! unlike AWS in a way the release depends on, the launcher makes it behave like AWS.
//! (Nested-stack outputs are proven by the test-stack tests in `images`.)

use std::time::{Duration, Instant};

use aws_sdk_cloudfront::types::{InvalidationBatch, Paths};
use xtask::adapters::toolchain;
use xtask_aws::adapters::emulator::{create_distribution, Emulator, Options};

use crate::support::{workspace, REGION};

fn batch(reference: &str, paths: &[&str]) -> InvalidationBatch {
    let items = paths.iter().map(|p| p.to_string()).collect();
    InvalidationBatch::builder()
        .caller_reference(reference)
        .paths(Paths::builder().quantity(paths.len() as i32).set_items(Some(items)).build().unwrap())
        .build()
        .unwrap()
}

#[test]
fn invalidations_progress_and_a_repeated_caller_reference_returns_the_first() {
    let options = Options { distribution_id: Some("EXAMPLEID123"), ..Options::default() };
    let emulator = Emulator::start(&toolchain::python(&workspace()), &options).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let sdk = emulator.sdk_config(REGION).await;
        let cloudfront = aws_sdk_cloudfront::Client::new(&sdk);
        let distribution = create_distribution(&cloudfront, "some-bucket").await.unwrap();
        assert_eq!(distribution, "EXAMPLEID123", "the first distribution gets the ID asked for");
        let create = |reference: &str, paths: &[&str]| {
            cloudfront
                .create_invalidation()
                .distribution_id(&distribution)
                .invalidation_batch(batch(reference, paths))
                .send()
        };
        let first = create("ref-1", &["/a", "/b"]).await.unwrap().invalidation.unwrap();
        assert_eq!(first.status, "InProgress", "real CloudFront starts in progress");
        let again = create("ref-1", &["/b", "/a"]).await.unwrap().invalidation.unwrap();
        assert_eq!(again.id, first.id, "the same reference and paths return the same invalidation");
        let conflict = create("ref-1", &["/c"]).await.unwrap_err().into_service_error();
        assert_eq!(
            aws_sdk_cloudfront::error::ProvideErrorMetadata::code(&conflict),
            Some("InvalidationBatchAlreadyExists")
        );

        let started = Instant::now();
        loop {
            let got = cloudfront.get_invalidation().distribution_id(&distribution).id(&first.id).send().await.unwrap();
            match got.invalidation.unwrap().status.as_str() {
                "InProgress" => assert!(started.elapsed() < Duration::from_secs(10), "never completes"),
                "Completed" => break,
                other => panic!("unexpected status {other}"),
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert!(started.elapsed() >= Duration::from_millis(500), "it was in progress for a while");
    });
}

#[test]
fn a_python_without_moto_fails_with_the_install_command() {
    let dir = tempfile::tempdir().unwrap();
    // A Python that cannot import moto: isolated mode with an empty path.
    let fake = dir.path().join("python");
    std::fs::write(&fake, "#!/bin/sh\nexec python3 -I -S \"$@\"\n").unwrap();
    std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let error = match Emulator::start(&fake, &Options::default()) {
        Ok(_) => panic!("started without moto"),
        Err(error) => format!("{error:#}"),
    };
    assert!(error.contains("moto is not installed"), "{error}");
    assert!(error.contains("pip install 'moto[server]'"), "{error}");
    let error = match Emulator::start(&dir.path().join("no-such-python"), &Options::default()) {
        Ok(_) => panic!("started without python"),
        Err(error) => format!("{error:#}"),
    };
    assert!(error.contains("cannot run") && error.contains("moto"), "{error}");
}

#[test]
fn only_this_machine_counts_as_loopback() {
    use xtask_aws::adapters::emulator::is_loopback_url;
    for url in ["http://127.0.0.1:5000", "http://localhost:1", "https://127.1.2.3/x", "http://[::1]:80/"] {
        assert!(is_loopback_url(url), "{url}");
    }
    for url in [
        "https://s3.amazonaws.com",
        "http://127.0.0.1.evil.example:5000",
        "http://localhost.evil.example",
        "http://user@127.0.0.1@evil.example/",
        "127.0.0.1:5000",
        "http://10.0.0.1",
    ] {
        assert!(!is_loopback_url(url), "{url}");
    }
}

/// A reset emulator serves the next test as if new: every service empty, faults off,
/// the configured distribution ID given again. One that enforces IAM refuses a reset,
/// so its administrator cannot vanish under a test.
#[test]
fn a_reset_emulator_is_as_new_and_an_iam_one_is_never_reset() {
    let options = Options { distribution_id: Some("EXAMPLEID123"), ..Options::default() };
    let emulator = Emulator::start(&toolchain::python(&workspace()), &options).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let sdk = emulator.sdk_config(REGION).await;
        let (s3, cloudfront) = (aws_sdk_s3::Client::new(&sdk), aws_sdk_cloudfront::Client::new(&sdk));
        for round in ["first", "after the reset"] {
            s3.create_bucket()
                .bucket("left-behind")
                .create_bucket_configuration(
                    aws_sdk_s3::types::CreateBucketConfiguration::builder()
                        .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::UsEast2)
                        .build(),
                )
                .send()
                .await
                .unwrap_or_else(|error| panic!("{round}: {error:?}"));
            let distribution = create_distribution(&cloudfront, "left-behind").await.unwrap();
            assert_eq!(distribution, "EXAMPLEID123", "{round}");
            emulator.set_faults(r#"[{"service": "s3", "share": 1.0, "kinds": ["500"]}]"#).unwrap();
            emulator.reset().unwrap();
            let buckets = s3.list_buckets().send().await.unwrap_or_else(|error| panic!("{round}: {error:?}"));
            assert!(buckets.buckets().is_empty(), "{round}: {:?}", buckets.buckets());
        }
    });

    let iam = Options { iam: true, ..Options::default() };
    let enforcing = Emulator::start(&toolchain::python(&workspace()), &iam).unwrap();
    let refused = enforcing.reset().unwrap_err().to_string();
    assert_eq!(refused, "the emulator refused POST /xtask/reset: HTTP/1.1 409 Conflict");
}
