//! One S3 bucket as the release commands use it. Every object the xtask writes carries
//! S3's SHA-256 checksum (validated by S3 as it writes), and its SHA-256 and release tag
//! as metadata. Bytes are judged by S3's checksum or by hashing them, never by the
//! metadata label alone; the label says which release a moving key serves.

use std::{
    collections::{BTreeMap, HashMap},
    io::IsTerminal,
    path::Path,
};

use anyhow::{bail, Context, Result};
use aws_sdk_s3::{
    primitives::ByteStream,
    types::{
        ChecksumAlgorithm, ChecksumMode, ChecksumType, CompletedMultipartUpload, CompletedPart, MetadataDirective,
    },
};
use base64::Engine;
use sha2::{Digest, Sha256};
use tokio::io::AsyncReadExt;

use crate::adapters::{aws_error::aws_error, tasks::join_in_order};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::http::Response as HttpResponse;
use xtask::domain::{
    publishing::digest::sha256_hex,
    publishing::publish_plan::{Content, Desired, Owner, Precondition, Remote},
};

const SHA256_META: &str = "sha256";
/// The release a key was written for (the commit, for a commit's templates).
const TAG_META: &str = "readyset-tag";
const COMMIT_META: &str = "readyset-commit";
const PUBLISH_ID_META: &str = "publish-id";

/// Downloads of one object, when its body breaks off part way.
const BODY_ATTEMPTS: u32 = 5;

/// Files larger than this go up in parts. AWS suggests parts from about 100 MB; below
/// that one PutObject per installer (several installers at once) is faster: against
/// the emulator a publish of three 64 MiB installers took 3.1 s instead of 4.3 s with
/// 8 MiB parts (`cargo xtask bench publish`).
pub const MULTIPART_THRESHOLD: u64 = 100 * 1024 * 1024;
const PART_SIZE: u64 = 8 * 1024 * 1024;
/// Parts of one file, or independent objects, in flight at once.
pub const CONCURRENCY: usize = 4;
/// HEAD requests in flight at once: a release's keys (a dozen) in one round.
const LOOKUPS: usize = 16;

#[derive(Clone)]
pub struct Bucket {
    client: aws_sdk_s3::Client,
    pub name: String,
}

/// What a head request tells about an object.
#[derive(Debug, Clone)]
pub struct Head {
    pub remote: Remote,
    pub last_modified: Option<std::time::SystemTime>,
    /// The SHA-256 of the bytes (hex) as S3 validated it when the object was written: a
    /// whole-object checksum, asked for with ChecksumMode. None for an object written
    /// without one, or in parts (S3 then keeps a checksum of the parts' checksums).
    pub s3_sha256: Option<String>,
}

/// A key whose state a plan needs, and how to judge an object the xtask did not label.
#[derive(Debug, Clone)]
pub struct Lookup {
    pub key: String,
    /// Download and hash an unlabelled object (for versioned keys, whose immutability is
    /// judged on bytes); a moving key needs only its label.
    pub hash_unlabelled: bool,
}

impl Lookup {
    pub fn of(desired: &Desired) -> Lookup {
        Lookup { key: desired.key.clone(), hash_unlabelled: !desired.mutable }
    }
}

impl Bucket {
    pub fn new(client: &aws_sdk_s3::Client, name: &str) -> Bucket {
        Bucket { client: client.clone(), name: name.to_owned() }
    }

    pub async fn head(&self, key: &str) -> Result<Option<Head>> {
        let request = self.client.head_object().bucket(&self.name).key(key).checksum_mode(ChecksumMode::Enabled);
        let response = match request.send().await {
            Ok(response) => response,
            Err(error) if status(&error) == Some(403) => bail!(
                "S3 refused to describe s3://{}/{key} (403 Forbidden). Without s3:ListBucket on the bucket, S3 answers \
                 403 instead of 404 for a key that does not exist, so the publish cannot tell a new key from one it \
                 may not read. Grant s3:ListBucket on arn:aws:s3:::{} and s3:GetObject on its objects to this role \
                 (RELEASE.md lists the policy of each queue)",
                self.name,
                self.name
            ),
            Err(error) => {
                let error = error.into_service_error();
                if error.is_not_found() {
                    return Ok(None);
                }
                return Err(error).with_context(|| format!("cannot read s3://{}/{key}", self.name));
            }
        };
        // Only a whole-object checksum is the bytes' SHA-256; one of an object uploaded in
        // parts is a checksum of the parts' checksums.
        let whole = response.checksum_type() == Some(&ChecksumType::FullObject);
        let s3_sha256 = response
            .checksum_sha256()
            .filter(|checksum| whole && !checksum.contains('-'))
            .and_then(|checksum| base64::engine::general_purpose::STANDARD.decode(checksum).ok().map(hex::encode));
        Ok(Some(Head {
            remote: labelled(response.metadata(), response.content_length(), response.e_tag()),
            last_modified: response.last_modified().and_then(|time| std::time::SystemTime::try_from(*time).ok()),
            s3_sha256,
        }))
    }

    /// What a key holds, its SHA-256 judged by S3 rather than by the xtask's own label
    /// (which any writer could copy onto other bytes): S3's validated checksum where the
    /// object has one; else, with `hash_unlabelled` (versioned keys, whose bytes must
    /// never change), the bytes downloaded and hashed; else the label (a moving key,
    /// which is judged by the release it serves).
    pub async fn remote(&self, key: &str, hash_unlabelled: bool) -> Result<Option<Remote>> {
        let Some(head) = self.head(key).await? else {
            return Ok(None);
        };
        if let Some(sha256) = head.s3_sha256 {
            return Ok(Some(Remote { sha256: Some(sha256), ..head.remote }));
        }
        if !hash_unlabelled {
            return Ok(Some(head.remote));
        }
        Ok(self.download(key).await?.map(|(_, remote)| remote))
    }

    /// The remote state of many keys, looked up concurrently.
    ///
    /// When several lookups fail, the error reported is the first in the order given, so
    /// that a rerun names the same key.
    pub async fn remotes(&self, lookups: impl IntoIterator<Item = Lookup>) -> Result<BTreeMap<String, Remote>> {
        let jobs = lookups.into_iter().map(|Lookup { key, hash_unlabelled }| {
            let bucket = self.clone();
            async move { Ok(bucket.remote(&key, hash_unlabelled).await?.map(|remote| (key, remote))) }
        });
        Ok(join_in_order(LOOKUPS, jobs).await?.into_iter().flatten().collect())
    }

    /// An object's bytes. A body that breaks off part way is downloaded again (the SDK
    /// retries a request, not a body it has started to read).
    /// Every key under `prefix`, every page of them (ListObjectsV2 answers 1000 a page).
    pub async fn keys(&self, prefix: &str) -> Result<Vec<String>> {
        let mut keys = Vec::new();
        let mut pages = self.client.list_objects_v2().bucket(&self.name).prefix(prefix).into_paginator().send();
        while let Some(page) = pages.next().await {
            let page =
                page.map_err(|error| aws_error(&format!("S3 ListObjectsV2 of s3://{}/{prefix}", self.name), error))?;
            keys.extend(page.contents().iter().filter_map(|object| object.key().map(str::to_owned)));
        }
        Ok(keys)
    }

    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.fetch(key).await?.map(|(bytes, _)| bytes))
    }

    /// An object's bytes and its state, its SHA-256 that of these bytes, for a caller that
    /// needs both: one request instead of a HEAD and a GET.
    pub async fn download(&self, key: &str) -> Result<Option<(Vec<u8>, Remote)>> {
        let fetched = self.fetch(key).await?;
        Ok(fetched.map(|(bytes, mut remote)| {
            // The bytes themselves, never the label.
            remote.sha256 = Some(sha256_hex(&bytes));
            (bytes, remote)
        }))
    }

    async fn fetch(&self, key: &str) -> Result<Option<(Vec<u8>, Remote)>> {
        let mut attempt = 1;
        loop {
            let response = match self.client.get_object().bucket(&self.name).key(key).send().await {
                Ok(response) => response,
                Err(error) => {
                    let error = error.into_service_error();
                    if error.is_no_such_key() {
                        return Ok(None);
                    }
                    return Err(error).with_context(|| format!("cannot download s3://{}/{key}", self.name));
                }
            };
            let remote = labelled(response.metadata(), response.content_length(), response.e_tag());
            match response.body.collect().await {
                Ok(bytes) => return Ok(Some((bytes.into_bytes().to_vec(), remote))),
                Err(error) if attempt < BODY_ATTEMPTS => {
                    attempt += 1;
                    eprintln!("  retrying the download of s3://{}/{key} after it broke off ({error}), attempt {attempt} of {BODY_ATTEMPTS}", self.name);
                }
                Err(error) => return Err(error).with_context(|| format!("cannot download s3://{}/{key}", self.name)),
            }
        }
    }

    /// Writes one object as the plan describes it, if the key still is as `precondition`
    /// says (checked by S3 as it writes). `publish_id` labels a write of a moving key (the
    /// wrapper's is the invalidation's `caller_reference`).
    pub async fn write(
        &self,
        desired: &Desired,
        owner: &Owner,
        publish_id: Option<&str>,
        precondition: &Precondition,
    ) -> Result<Written> {
        let label = match owner {
            Owner::Release(tag) => (TAG_META, tag.to_string()),
            Owner::Commit(commit) => (COMMIT_META, commit.to_string()),
        };
        let mut metadata = BTreeMap::from([(SHA256_META, desired.sha256.clone()), label]);
        if let Some(id) = publish_id {
            metadata.insert(PUBLISH_ID_META, id.to_owned());
        }
        let write = Write { desired, metadata: &metadata, precondition };
        let result = match &desired.content {
            Content::Bytes(bytes) => self.put(&write, ByteStream::from(bytes.clone())).await,
            Content::File(path) if desired.size > MULTIPART_THRESHOLD => self.put_multipart(&write, path).await,
            Content::File(path) => {
                let body =
                    ByteStream::from_path(path).await.with_context(|| format!("cannot read {}", path.display()))?;
                self.put(&write, body).await
            }
            Content::CopyOf(source) => self.copy(&write, source).await,
        };
        result.with_context(|| format!("cannot write s3://{}/{}", self.name, desired.key))
    }

    /// Deletes a key if it is still what was read (its ETag).
    pub async fn delete(&self, key: &str, etag: &str) -> Result<Written> {
        let request = self.client.delete_object().bucket(&self.name).key(key).if_match(etag);
        judge("S3 DeleteObject", request.send().await)
            .with_context(|| format!("cannot remove s3://{}/{key}", self.name))
    }

    async fn copy(&self, write: &Write<'_>, source: &str) -> Result<Written> {
        let desired = write.desired;
        let mut request = self
            .client
            .copy_object()
            .bucket(&self.name)
            .key(&desired.key)
            .copy_source(format!("{}/{source}", self.name))
            .metadata_directive(MetadataDirective::Replace)
            .content_type(desired.content_type)
            .cache_control(desired.cache_control)
            .checksum_algorithm(ChecksumAlgorithm::Sha256);
        for (name, value) in write.metadata {
            request = request.metadata(*name, value);
        }
        request = match write.precondition {
            Precondition::Absent => request.if_none_match("*"),
            Precondition::Unchanged(etag) => request.if_match(etag),
        };
        judge("S3 CopyObject", request.send().await)
    }

    async fn put(&self, write: &Write<'_>, body: ByteStream) -> Result<Written> {
        let desired = write.desired;
        let mut request = self
            .client
            .put_object()
            .bucket(&self.name)
            .key(&desired.key)
            .body(body)
            .content_length(desired.size as i64)
            .content_type(desired.content_type)
            .cache_control(desired.cache_control)
            .checksum_algorithm(ChecksumAlgorithm::Sha256)
            .checksum_sha256(base64_of_hex(&desired.sha256)?);
        for (name, value) in write.metadata {
            request = request.metadata(*name, value);
        }
        request = match write.precondition {
            Precondition::Absent => request.if_none_match("*"),
            Precondition::Unchanged(etag) => request.if_match(etag),
        };
        judge("S3 PutObject", request.send().await)
    }

    /// Uploads a large file in parts, several at once, each with its own checksum; the
    /// upload is aborted on any failure so no orphaned parts are billed (a killed process
    /// leaves them to the bucket's lifecycle rule, see RELEASE.md).
    async fn put_multipart(&self, write: &Write<'_>, path: &Path) -> Result<Written> {
        let desired = write.desired;
        let mut create = self
            .client
            .create_multipart_upload()
            .bucket(&self.name)
            .key(&desired.key)
            .content_type(desired.content_type)
            .cache_control(desired.cache_control)
            .checksum_algorithm(ChecksumAlgorithm::Sha256);
        for (name, value) in write.metadata {
            create = create.metadata(*name, value);
        }
        let created = create.send().await.map_err(|error| aws_error("S3 CreateMultipartUpload", error))?;
        let upload_id = created.upload_id.context("S3 returned no upload ID")?;
        let result = match self.upload_parts(desired, path, &upload_id).await {
            Ok(parts) => {
                let mut complete = self
                    .client
                    .complete_multipart_upload()
                    .bucket(&self.name)
                    .key(&desired.key)
                    .upload_id(&upload_id)
                    .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build());
                complete = match write.precondition {
                    Precondition::Absent => complete.if_none_match("*"),
                    Precondition::Unchanged(etag) => complete.if_match(etag),
                };
                judge("S3 CompleteMultipartUpload", complete.send().await)
            }
            Err(error) => Err(error),
        };
        if !matches!(result, Ok(Written::Done)) {
            let abort = self.client.abort_multipart_upload().bucket(&self.name).key(&desired.key).upload_id(&upload_id);
            let _ = abort.send().await;
        }
        result
    }

    async fn upload_parts(&self, desired: &Desired, path: &Path, upload_id: &str) -> Result<Vec<CompletedPart>> {
        let count = desired.size.div_ceil(PART_SIZE);
        let progress = Progress::new(&desired.key, desired.size);
        let jobs = (0..count).map(|index| {
            let (bucket, progress) = (self.clone(), progress.clone());
            let (path, key, upload_id) = (path.to_owned(), desired.key.clone(), upload_id.to_owned());
            let length = PART_SIZE.min(desired.size - index * PART_SIZE);
            async move {
                let mut file = tokio::fs::File::open(&path).await?;
                tokio::io::AsyncSeekExt::seek(&mut file, std::io::SeekFrom::Start(index * PART_SIZE)).await?;
                let mut data = vec![0; length as usize];
                file.read_exact(&mut data).await?;
                let checksum = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(&data));
                let part_number = index as i32 + 1;
                let response = bucket
                    .client
                    .upload_part()
                    .bucket(&bucket.name)
                    .key(&key)
                    .upload_id(&upload_id)
                    .part_number(part_number)
                    .body(ByteStream::from(data))
                    .checksum_algorithm(ChecksumAlgorithm::Sha256)
                    .checksum_sha256(&checksum)
                    .send()
                    .await
                    .with_context(|| format!("part {part_number} of {key} failed"))?;
                progress.advance(length, part_number, count);
                Ok(CompletedPart::builder()
                    .part_number(part_number)
                    .set_e_tag(response.e_tag)
                    .checksum_sha256(checksum)
                    .build())
            }
        });
        let parts = join_in_order(CONCURRENCY, jobs).await?;
        progress.finish();
        Ok(parts)
    }
}

/// A bar on a terminal, plain lines in CI logs.
#[derive(Clone)]
struct Progress {
    bar: Option<indicatif::ProgressBar>,
    key: String,
}

impl Progress {
    fn new(key: &str, size: u64) -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new(size);
            bar.set_style(
                indicatif::ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}")
                    .expect("a valid template")
                    .progress_chars("=> "),
            );
            bar.set_message(key.to_owned());
            bar
        });
        Progress { bar, key: key.to_owned() }
    }

    fn advance(&self, bytes: u64, part: i32, parts: u64) {
        match &self.bar {
            Some(bar) => bar.inc(bytes),
            None => eprintln!("  uploaded part {part} of {parts} of {} ({bytes} bytes)", self.key),
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish();
        }
    }
}

/// One write and what it needs.
struct Write<'a> {
    desired: &'a Desired,
    metadata: &'a BTreeMap<&'static str, String>,
    precondition: &'a Precondition,
}

/// Whether a conditional write landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    Done,
    /// The key was not as the precondition said (412): another writer was there first.
    PreconditionFailed,
}

/// Head and get answers carry the same labels: read in one place, a plan sees a key the
/// same whichever request read it.
fn labelled(metadata: Option<&HashMap<String, String>>, length: Option<i64>, etag: Option<&str>) -> Remote {
    let label = |name: &str| metadata.and_then(|metadata| metadata.get(name)).cloned();
    Remote {
        sha256: label(SHA256_META),
        size: length.unwrap_or_default().max(0) as u64,
        release: label(TAG_META).or_else(|| label(COMMIT_META)),
        etag: etag.map(String::from),
        publish_id: label(PUBLISH_ID_META),
    }
}

/// A 412 (or a 409 conflict of two conditional writers) is the key's state, not an
/// error: the caller judges it.
fn judge<T, E>(call: &str, result: std::result::Result<T, SdkError<E, HttpResponse>>) -> Result<Written>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match result {
        Ok(_) => Ok(Written::Done),
        Err(error) if matches!(status(&error), Some(412 | 409)) => Ok(Written::PreconditionFailed),
        Err(error) => Err(aws_error(call, error)),
    }
}

fn status<E>(error: &SdkError<E, HttpResponse>) -> Option<u16> {
    error.raw_response().map(|response| response.status().as_u16())
}

fn base64_of_hex(hex_digest: &str) -> Result<String> {
    let raw = hex::decode(hex_digest).with_context(|| format!("{hex_digest:?} is not a hex SHA-256"))?;
    if raw.len() != 32 {
        bail!("{hex_digest:?} is not a SHA-256 (32 bytes)");
    }
    Ok(base64::engine::general_purpose::STANDARD.encode(raw))
}
