//! The AWS emulator as the xtask's commands will use it: real SDK clients over HTTP.

mod support;

use std::time::{Duration, Instant};

use aws_sdk_cloudfront::{
    client::Waiters,
    types::{InvalidationBatch, Paths},
};
use aws_sdk_s3::{primitives::ByteStream, types::ChecksumAlgorithm};
use sha2::{Digest, Sha256};
use support::{aws, create_bucket, unique_bucket};
use xtask::adapters::emulator::create_distribution;

#[tokio::test]
async fn an_object_put_with_a_checksum_reads_back_identical() {
    let aws = aws().await;
    let bucket = unique_bucket("roundtrip");
    create_bucket(&aws, &bucket).await;
    let body = b"#!/bin/sh\necho hello\n".to_vec();
    let checksum = base64_sha256(&body);
    aws.s3
        .put_object()
        .bucket(&bucket)
        .key("dir/object.sh")
        .body(ByteStream::from(body.clone()))
        .checksum_algorithm(ChecksumAlgorithm::Sha256)
        .checksum_sha256(&checksum)
        .content_type("text/x-shellscript")
        .send()
        .await
        .expect("put_object");

    let object = aws
        .s3
        .get_object()
        .bucket(&bucket)
        .key("dir/object.sh")
        .checksum_mode(aws_sdk_s3::types::ChecksumMode::Enabled)
        .send()
        .await
        .expect("get_object");
    assert_eq!(object.content_type(), Some("text/x-shellscript"));
    assert_eq!(object.checksum_sha256(), Some(checksum.as_str()));
    let read_back = object.body.collect().await.unwrap().into_bytes();
    assert_eq!(read_back.as_ref(), body.as_slice());

    let missing = aws.s3.head_object().bucket(&bucket).key("dir/absent").send().await;
    assert!(missing.unwrap_err().into_service_error().is_not_found());
}

#[tokio::test]
async fn an_invalidation_is_in_progress_then_completed_and_the_waiter_sees_it() {
    let aws = aws().await;
    let bucket = unique_bucket("cdn");
    create_bucket(&aws, &bucket).await;
    let distribution = create_distribution(&aws.cloudfront, &bucket).await.unwrap();

    let created = aws
        .cloudfront
        .create_invalidation()
        .distribution_id(&distribution)
        .invalidation_batch(
            InvalidationBatch::builder()
                .caller_reference(format!("test-{bucket}"))
                .paths(Paths::builder().quantity(1).items("/readyset-orchestrator.sh").build().unwrap())
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("create_invalidation");
    let invalidation = created.invalidation.unwrap();
    assert_eq!(invalidation.status, "InProgress", "real CloudFront starts in progress");

    let started = Instant::now();
    let waited = aws
        .cloudfront
        .wait_until_invalidation_completed()
        .distribution_id(&distribution)
        .id(&invalidation.id)
        .wait(Duration::from_secs(60))
        .await
        .expect("the invalidation completes");
    let final_state = waited.into_result().unwrap().invalidation.unwrap();
    assert_eq!(final_state.status, "Completed");
    assert!(started.elapsed() >= Duration::from_millis(500), "the waiter really waited");
}

#[test]
fn reset_forgets_every_bucket() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    // Its own emulator: a reset of the shared one would pull buckets from under the
    // other tests of this binary.
    let python = xtask::adapters::emulator::python(&support::workspace_root());
    let own = xtask::adapters::emulator::Emulator::start(&python).unwrap();
    runtime.block_on(async {
        let aws = xtask::adapters::aws::Aws::from_sdk_config(&own.sdk_config(support::REGION).await);
        create_bucket(&aws, "to-be-forgotten").await;
        assert_eq!(aws.s3.list_buckets().send().await.unwrap().buckets().len(), 1);
        own.reset().unwrap();
        assert!(aws.s3.list_buckets().send().await.unwrap().buckets().is_empty());
    });
}

#[test]
fn a_python_without_moto_fails_with_the_install_command() {
    let dir = std::env::temp_dir().join(format!("no-moto-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // A Python that cannot import moto: isolated mode with an empty path.
    let fake = dir.join("python");
    std::fs::write(&fake, "#!/bin/sh\nexec python3 -I -S \"$@\"\n").unwrap();
    std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let error = match xtask::adapters::emulator::Emulator::start(&fake) {
        Ok(_) => panic!("started without moto"),
        Err(error) => format!("{error:#}"),
    };
    assert!(error.contains("moto is not installed"), "{error}");
    assert!(error.contains("pip install 'moto[server]'"), "{error}");
    let error = match xtask::adapters::emulator::Emulator::start(&dir.join("no-such-python")) {
        Ok(_) => panic!("started without python"),
        Err(error) => format!("{error:#}"),
    };
    assert!(error.contains("cannot run") && error.contains("moto"), "{error}");
    std::fs::remove_dir_all(&dir).unwrap();
}

fn base64_sha256(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(bytes))
}
