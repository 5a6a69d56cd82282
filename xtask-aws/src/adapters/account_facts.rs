//! What the account holds, read for `preflight`: every call here reads, none writes.
//! Each read answers present, absent (the service's not-found), or unreadable (any other
//! refusal or failure, with the service's words), so one missing permission fails one
//! check instead of the whole run.

use anyhow::Result;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use serde_json::{json, Value};
use xtask::domain::{
    preflight::{BucketFacts, BucketRole, DistributionSeen, Read},
    publishing::signing_key::KmsKey,
};

use crate::adapters::{
    ec2::Ec2,
    iam, manifest_signature,
    sigv4_http::{first_text, Call, Query, Refused, SignedClient},
    site::Site,
};

/// The caller's account and ARN (STS GetCallerIdentity, which needs no permission).
pub async fn caller(site: &Site) -> Result<(String, String)> {
    let client = SignedClient::new(&site.sdk);
    let params: Vec<(String, String)> = Vec::new();
    let what = "STS GetCallerIdentity".to_owned();
    let query = Query {
        service: "sts",
        region: &site.config.region,
        version: "2011-06-15",
        action: "GetCallerIdentity",
        params: &params,
        what,
    };
    let xml = client.query(&query).await?;
    let document = roxmltree::Document::parse(&xml)?;
    let field = |name| first_text(document.root(), name).unwrap_or_default();
    Ok((field("Account"), field("Arn")))
}

/// An SDK answer as a read: `absent` lists the error codes that mean "not there".
fn read<T, E: ProvideErrorMetadata>(outcome: Result<T, E>, absent: &[&str]) -> Read<T> {
    match outcome {
        Ok(value) => Read::Present(value),
        Err(error) if error.code().is_some_and(|code| absent.contains(&code)) => Read::Absent,
        Err(error) => Read::Unreadable(match (error.code(), error.message()) {
            (Some(code), Some(message)) => format!("{code}: {message}"),
            (Some(code), None) => code.to_owned(),
            _ => "no answer".to_owned(),
        }),
    }
}

pub async fn bucket(site: &Site, role: BucketRole) -> BucketFacts {
    let name = role.name(&site.config);
    let s3 = &site.s3;
    let location = s3.get_bucket_location().bucket(name).send().await.map_err(|e| e.into_service_error());
    let region = match read(location, &["NoSuchBucket"]) {
        Read::Present(answer) => Read::Present(
            answer
                .location_constraint()
                .map(|c| c.as_str().to_owned())
                .filter(|c| !c.is_empty())
                .unwrap_or_else(|| "us-east-1".into()),
        ),
        Read::Absent => Read::Absent,
        Read::Unreadable(why) => Read::Unreadable(why),
    };
    let block = s3.get_public_access_block().bucket(name).send().await.map_err(|e| e.into_service_error());
    let public_access_block = map(read(block, &["NoSuchPublicAccessBlockConfiguration"]), |answer| {
        let c = answer
            .public_access_block_configuration()
            .cloned()
            .unwrap_or_else(|| aws_sdk_s3::types::PublicAccessBlockConfiguration::builder().build());
        [
            c.block_public_acls().unwrap_or(false),
            c.ignore_public_acls().unwrap_or(false),
            c.block_public_policy().unwrap_or(false),
            c.restrict_public_buckets().unwrap_or(false),
        ]
    });
    let policy = s3.get_bucket_policy().bucket(name).send().await.map_err(|e| e.into_service_error());
    let policy = map(read(policy, &["NoSuchBucketPolicy"]), |answer| {
        serde_json::from_str(answer.policy().unwrap_or("{}")).unwrap_or(Value::Null)
    });
    let lifecycle =
        s3.get_bucket_lifecycle_configuration().bucket(name).send().await.map_err(|e| e.into_service_error());
    let abort_incomplete_uploads =
        map(read(lifecycle, &["NoSuchLifecycleConfiguration"]), |answer| {
            answer.rules().iter().filter(|rule| rule.status().as_str() == "Enabled").find_map(|rule| {
                rule.abort_incomplete_multipart_upload().and_then(|abort| abort.days_after_initiation())
            })
        });
    BucketFacts { role, region, public_access_block, policy, abort_incomplete_uploads }
}

fn map<T, U>(read: Read<T>, f: impl FnOnce(T) -> U) -> Read<U> {
    match read {
        Read::Present(value) => Read::Present(f(value)),
        Read::Absent => Read::Absent,
        Read::Unreadable(why) => Read::Unreadable(why),
    }
}

pub async fn distribution(site: &Site) -> Read<DistributionSeen> {
    let id = &site.config.cloudfront_distribution;
    let got = site.cloudfront.get_distribution().id(id).send().await.map_err(|e| e.into_service_error());
    map(read(got, &["NoSuchDistribution"]), |answer| {
        let config = answer.distribution().and_then(|d| d.distribution_config()).cloned();
        let aliases = config.as_ref().and_then(|c| c.aliases()).map(|a| a.items().to_vec()).unwrap_or_default();
        let origins = config
            .as_ref()
            .and_then(|c| c.origins())
            .map(|o| {
                o.items()
                    .iter()
                    .map(|o| (o.domain_name().to_owned(), o.origin_access_control_id().unwrap_or_default().to_owned()))
                    .collect()
            })
            .unwrap_or_default();
        let minimum_protocol = config
            .as_ref()
            .and_then(|c| c.viewer_certificate())
            .and_then(|v| v.minimum_protocol_version())
            .map(|p| p.as_str().to_owned())
            .unwrap_or_else(|| "TLSv1".to_owned());
        DistributionSeen { aliases, origins, minimum_protocol }
    })
}

pub async fn signing_key(site: &Site) -> Read<KmsKey> {
    match manifest_signature::kms_key(site).await {
        Ok(key) => Read::Present(key),
        Err(error) if format!("{error:#}").contains("NotFoundException") => Read::Absent,
        Err(error) => Read::Unreadable(format!("{error:#}")),
    }
}

/// An EC2 key pair by name.
pub async fn key_pair(site: &Site, name: &str) -> Read<String> {
    let client = SignedClient::new(&site.sdk);
    match (Ec2 { client: &client }).key_pair_id(&site.config.region, name).await {
        Ok(id) => Read::Present(format!("key pair {id}")),
        Err(error) => refused_or(error, "InvalidKeyPair.NotFound"),
    }
}

/// A Secrets Manager secret by name.
pub async fn secret(site: &Site, name: &str) -> Read<String> {
    let region = &site.config.region;
    let call = Call {
        service: "secretsmanager",
        region,
        what: format!("Secrets Manager DescribeSecret {name}"),
        content_type: "application/x-amz-json-1.1",
        target: Some("secretsmanager.DescribeSecret".to_owned()),
        body: json!({ "SecretId": name }).to_string().into_bytes(),
    };
    match SignedClient::new(&site.sdk).send(&call).await {
        Ok(answer) if answer.status == 200 => {
            let value: Value = serde_json::from_slice(&answer.body).unwrap_or(Value::Null);
            Read::Present(value["ARN"].as_str().unwrap_or(name).to_owned())
        }
        Ok(answer) => {
            let text = String::from_utf8_lossy(&answer.body).into_owned();
            if text.contains("ResourceNotFoundException") {
                Read::Absent
            } else {
                Read::Unreadable(format!("HTTP {}: {text}", answer.status))
            }
        }
        Err(error) => Read::Unreadable(format!("{error:#}")),
    }
}

/// The services that may assume an IAM role, by the role's name.
pub async fn role_trust(site: &Site, name: &str) -> Read<Vec<String>> {
    let client = SignedClient::new(&site.sdk);
    match iam::call(&client, "GetRole", vec![("RoleName".to_owned(), name.to_owned())]).await {
        Ok(xml) => Read::Present(trusted_services(&percent_decoded(
            &extract(&xml, "AssumeRolePolicyDocument").unwrap_or_default(),
        ))),
        Err(error) => refused_or(error, "NoSuchEntity"),
    }
}

/// A failed Query call as a read: absent when the service said `absent`.
fn refused_or<T>(error: anyhow::Error, absent: &str) -> Read<T> {
    match error.downcast_ref::<Refused>() {
        Some(refused) if refused.code == absent => Read::Absent,
        _ => Read::Unreadable(format!("{error:#}")),
    }
}

fn extract(xml: &str, name: &str) -> Option<String> {
    let document = roxmltree::Document::parse(xml).ok()?;
    first_text(document.root(), name)
}

/// IAM answers a role's trust policy percent-encoded (RFC 3986).
fn percent_decoded(text: &str) -> String {
    percent_encoding::percent_decode_str(text).decode_utf8_lossy().into_owned()
}

fn trusted_services(trust: &str) -> Vec<String> {
    let document: Value = serde_json::from_str(trust).unwrap_or(Value::Null);
    let mut services: Vec<String> = document["Statement"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|statement| match &statement["Principal"]["Service"] {
            Value::String(one) => vec![one.clone()],
            Value::Array(many) => many.iter().filter_map(|s| s.as_str().map(str::to_owned)).collect(),
            _ => Vec::new(),
        })
        .collect();
    services.sort();
    services
}
