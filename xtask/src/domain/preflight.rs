//! `preflight`'s judgement: what the account must hold for a release to work, as
//! `ops/release-infra/` declares it, compared with what the account holds. The facts
//! come from the adapter (`account_facts.rs`); nothing here calls AWS.

use serde::Serialize;
use serde_json::{json, Value};

use crate::domain::{
    config::ReleaseConfig, images::accounts::Accounts, pipeline::queues::Queue, publishing::signing_key::KmsKey,
    release_infra,
};

/// What one read of the account found.
#[derive(Debug, Clone, PartialEq)]
pub enum Read<T> {
    Present(T),
    Absent,
    /// AWS refused or failed the read; the text says why.
    Unreadable(String),
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub check: String,
    pub ok: bool,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Finding {
    fn ok(check: impl Into<String>, detail: impl Into<String>) -> Finding {
        Finding { check: check.into(), ok: true, detail: detail.into(), fix: None }
    }

    fn failed(check: impl Into<String>, detail: impl Into<String>, fix: impl Into<String>) -> Finding {
        Finding { check: check.into(), ok: false, detail: detail.into(), fix: Some(fix.into()) }
    }

    /// A read that could not be made: the check fails, saying which permission to give.
    fn unreadable(check: impl Into<String>, why: &str) -> Finding {
        Finding::failed(
            check,
            format!("could not be read: {why}"),
            "give these credentials their queue's policy (`cargo xtask iam-policy ops|release`), which allows \
             every read preflight makes",
        )
    }
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let status = if self.ok { "ok  " } else { "FAIL" };
        write!(f, "{status}  {}: {}", self.check, self.detail)?;
        if let Some(fix) = &self.fix {
            write!(f, "\n        fix: {fix}")?;
        }
        Ok(())
    }
}

/// The fix for anything `ops/release-infra/` makes and the account lacks.
pub const DEPLOY: &str = "deploy ops/release-infra/release-infra.json as RELEASE.md says (Setting up an account)";

/// The three buckets, by what they are for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BucketRole {
    Installer,
    PublicTemplates,
    InternalTemplates,
}

impl BucketRole {
    /// The buckets the steps of these queues use: the installer bucket is release's,
    /// the internal one ops's, the public one both's.
    pub fn used_by(queues: &[Queue]) -> Vec<BucketRole> {
        let mut roles = Vec::new();
        if queues.contains(&Queue::Release) {
            roles.push(BucketRole::Installer);
        }
        roles.push(BucketRole::PublicTemplates);
        if queues.contains(&Queue::Ops) {
            roles.push(BucketRole::InternalTemplates);
        }
        roles
    }

    pub fn name(self, config: &ReleaseConfig) -> &str {
        match self {
            BucketRole::Installer => &config.orchestrator_bucket,
            BucketRole::PublicTemplates => &config.cfn_public_bucket,
            BucketRole::InternalTemplates => &config.cfn_internal_bucket,
        }
    }

    fn label(self) -> &'static str {
        match self {
            BucketRole::Installer => "installer bucket",
            BucketRole::PublicTemplates => "public template bucket",
            BucketRole::InternalTemplates => "internal template bucket",
        }
    }

    /// Block Public Access as declared: all four on, except that the public template
    /// bucket lets its policy grant anonymous reads.
    fn public_access_block(self) -> [bool; 4] {
        let public = self == BucketRole::PublicTemplates;
        [true, true, !public, !public]
    }

    /// The statements its policy must hold. `distribution_arn` is the configured
    /// distribution's, in the caller's account.
    fn statements(self, config: &ReleaseConfig, accounts: &Accounts, distribution_arn: &str) -> Vec<Value> {
        match self {
            BucketRole::Installer => {
                let mut statements = vec![release_infra::cloudfront_read_statement(config, json!(distribution_arn))];
                statements.extend(release_infra::installer_write_rules(config));
                statements
            }
            BucketRole::PublicTemplates => vec![release_infra::public_template_statement(config)],
            BucketRole::InternalTemplates => vec![release_infra::internal_template_statement(config, accounts)],
        }
    }
}

/// What the account says about one bucket.
#[derive(Debug, Clone, PartialEq)]
pub struct BucketFacts {
    pub role: BucketRole,
    pub region: Read<String>,
    /// BlockPublicAcls, IgnorePublicAcls, BlockPublicPolicy, RestrictPublicBuckets.
    pub public_access_block: Read<[bool; 4]>,
    pub policy: Read<Value>,
    /// The days after which an enabled lifecycle rule aborts incomplete multipart
    /// uploads, if one does.
    pub abort_incomplete_uploads: Read<Option<i32>>,
}

pub fn judge_bucket(
    facts: &BucketFacts,
    config: &ReleaseConfig,
    accounts: &Accounts,
    distribution_arn: &str,
) -> Vec<Finding> {
    let role = facts.role;
    let name = role.name(config);
    let check = |what: &str| format!("{} {name}: {what}", role.label());
    let exists = match &facts.region {
        Read::Present(region) if *region == config.region => Finding::ok(check("exists"), format!("in {region}")),
        Read::Present(region) => Finding::failed(
            check("exists"),
            format!("it is in {region}, and the configuration's region is {}", config.region),
            "use a bucket in the configured region, or change `region` in [workspace.metadata.release]",
        ),
        Read::Absent => return vec![Finding::failed(check("exists"), "no such bucket", DEPLOY)],
        Read::Unreadable(why) => return vec![Finding::unreadable(check("exists"), why)],
    };
    let mut findings = vec![exists, judge_public_access_block(facts, &check)];
    findings.extend(judge_policy(facts, &check, &role.statements(config, accounts, distribution_arn)));
    findings.push(judge_lifecycle(facts, &check));
    findings
}

fn judge_public_access_block(facts: &BucketFacts, check: &dyn Fn(&str) -> String) -> Finding {
    const NAMES: [&str; 4] = ["BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"];
    let expected = facts.role.public_access_block();
    let described = |values: [bool; 4]| {
        NAMES
            .iter()
            .zip(values)
            .map(|(name, on)| format!("{name} {}", if on { "on" } else { "off" }))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let check = check("Block Public Access");
    match &facts.public_access_block {
        Read::Present(actual) if *actual == expected => Finding::ok(check, described(expected)),
        Read::Present(actual) => Finding::failed(
            check,
            format!("{}; expected {}", described(*actual), described(expected)),
            format!("set the bucket's public access block to {} (ops/release-infra declares it)", described(expected)),
        ),
        Read::Absent => Finding::failed(check, "none is set", DEPLOY),
        Read::Unreadable(why) => Finding::unreadable(check, why),
    }
}

fn judge_policy(facts: &BucketFacts, check: &dyn Fn(&str) -> String, expected: &[Value]) -> Vec<Finding> {
    let policy = match &facts.policy {
        Read::Present(policy) => policy,
        Read::Absent => return vec![Finding::failed(check("policy"), "the bucket has no policy", DEPLOY)],
        Read::Unreadable(why) => return vec![Finding::unreadable(check("policy"), why)],
    };
    let live = policy["Statement"].as_array().cloned().unwrap_or_default();
    expected
        .iter()
        .map(|statement| {
            let sid = statement["Sid"].as_str().unwrap_or_default();
            let check = check(&format!("policy statement {sid}"));
            match live.iter().find(|s| s["Sid"] == sid) {
                Some(found) if normalized(found) == normalized(statement) => Finding::ok(check, "as declared"),
                Some(found) => Finding::failed(
                    check,
                    format!("is {found}; expected {statement}"),
                    "restore the bucket policy ops/release-infra declares (redeploy the stack)",
                ),
                None => Finding::failed(check, "missing", "restore the bucket policy ops/release-infra declares"),
            }
        })
        .collect()
}

fn judge_lifecycle(facts: &BucketFacts, check: &dyn Fn(&str) -> String) -> Finding {
    let check = check("incomplete uploads are aborted");
    let days = release_infra::ABORT_INCOMPLETE_UPLOADS_DAYS;
    match &facts.abort_incomplete_uploads {
        Read::Present(Some(after)) => Finding::ok(check, format!("after {after} days")),
        Read::Present(None) | Read::Absent => Finding::failed(
            check,
            "no enabled lifecycle rule aborts incomplete multipart uploads, so a killed upload is billed forever",
            format!("add the lifecycle rule ops/release-infra declares (abort after {days} days)"),
        ),
        Read::Unreadable(why) => Finding::unreadable(check, why),
    }
}

/// A policy statement as IAM means it: a single value and a list of one are the same,
/// and order within a list does not matter.
fn normalized(statement: &Value) -> Value {
    match statement {
        Value::Object(map) => Value::Object(map.iter().map(|(k, v)| (k.clone(), normalized(v))).collect()),
        Value::Array(items) => {
            let mut items: Vec<Value> = items.iter().map(normalized).collect();
            items.sort_by_key(|item| item.to_string());
            if items.len() == 1 {
                items.remove(0)
            } else {
                Value::Array(items)
            }
        }
        other => other.clone(),
    }
}

/// What CloudFront says about the configured distribution.
#[derive(Debug, Clone, PartialEq)]
pub struct DistributionSeen {
    pub aliases: Vec<String>,
    /// (domain name, origin access control ID) of each origin.
    pub origins: Vec<(String, String)>,
    pub minimum_protocol: String,
}

pub fn judge_distribution(found: &Read<DistributionSeen>, config: &ReleaseConfig) -> Vec<Finding> {
    let id = &config.cloudfront_distribution;
    let check = |what: &str| format!("distribution {id}: {what}");
    let seen = match found {
        Read::Present(seen) => seen,
        Read::Absent => return vec![Finding::failed(check("exists"), "no such distribution", DEPLOY)],
        Read::Unreadable(why) => return vec![Finding::unreadable(check("exists"), why)],
    };
    let host = release_infra::public_host(config);
    let origin = format!("{}.s3.{}.amazonaws.com", config.orchestrator_bucket, config.region);
    let serves = seen.origins.iter().find(|(domain, _)| *domain == origin);
    vec![
        Finding::ok(check("exists"), format!("aliases {}", seen.aliases.join(", "))),
        if seen.aliases.contains(&host) {
            Finding::ok(check("alias"), format!("answers for {host}"))
        } else {
            Finding::failed(
                check("alias"),
                format!("does not answer for {host}"),
                format!("add {host} to its aliases ({DEPLOY})"),
            )
        },
        match serves {
            Some((_, control)) if !control.is_empty() => {
                Finding::ok(check("origin"), format!("{origin} through origin access control {control}"))
            }
            Some(_) => Finding::failed(
                check("origin"),
                format!("{origin} has no origin access control, so the bucket would have to be public"),
                DEPLOY,
            ),
            None => Finding::failed(check("origin"), format!("no origin is {origin}"), DEPLOY),
        },
        if seen.minimum_protocol.starts_with("TLSv1.2") || seen.minimum_protocol.starts_with("TLSv1.3") {
            Finding::ok(check("TLS"), format!("at least {}", seen.minimum_protocol))
        } else {
            Finding::failed(
                check("TLS"),
                format!("accepts {}", seen.minimum_protocol),
                format!("set its minimum protocol to {}", release_infra::MINIMUM_TLS),
            )
        },
    ]
}

/// The signing key behind the alias against the public key every check trusts.
pub fn judge_signing_key(
    key: &Read<KmsKey>,
    trusted: &Result<Vec<u8>, String>,
    config: &ReleaseConfig,
) -> Vec<Finding> {
    let check = |what: &str| format!("signing key {}: {what}", config.signing_key);
    let key = match key {
        Read::Present(key) => key,
        Read::Absent => return vec![Finding::failed(check("exists"), "no key has that alias", DEPLOY)],
        Read::Unreadable(why) => return vec![Finding::unreadable(check("exists"), why)],
    };
    let spec = match key.require_release_signing() {
        Ok(()) => Finding::ok(check("spec"), format!("{} is {} for {}", key.key_id, key.spec, key.usage)),
        Err(wrong) => Finding::failed(check("spec"), format!("{wrong:#}"), DEPLOY),
    };
    let public = match trusted {
        Ok(der) if *der == key.der => Finding::ok(check("public half"), "equals the trusted public key"),
        Ok(_) => Finding::failed(
            check("public half"),
            "differs from the trusted public key: releases signed now would not verify",
            "point the alias back at the committed key, or export the new one (`cargo xtask signing-key export --replace`) and commit it",
        ),
        Err(why) => Finding::failed(check("public half"), why.clone(), "`cargo xtask signing-key export`, then commit the file"),
    };
    vec![spec, public]
}

/// A resource that only has to exist.
pub fn judge_present(check: &str, read: &Read<String>, fix: &str) -> Finding {
    match read {
        Read::Present(what) => Finding::ok(check, what.clone()),
        Read::Absent => Finding::failed(check, "missing", fix),
        Read::Unreadable(why) => Finding::unreadable(check, why),
    }
}

/// A role that only `service` may assume.
pub fn judge_role_trust(check: &str, trust: &Read<Vec<String>>, service: &str) -> Finding {
    match trust {
        Read::Present(services) if services.len() == 1 && services[0] == service => {
            Finding::ok(check, format!("assumed by {service} only"))
        }
        Read::Present(services) => Finding::failed(
            check,
            format!(
                "assumed by {}; expected {service} only",
                if services.is_empty() { "no service".to_owned() } else { services.join(", ") }
            ),
            DEPLOY,
        ),
        Read::Absent => Finding::failed(check, "missing", DEPLOY),
        Read::Unreadable(why) => Finding::unreadable(check, why),
    }
}

/// A check an adapter made whole (such as the EBS encryption check the image commands
/// share): its error is the finding's detail.
pub fn judge_outcome(check: &str, outcome: Result<String, String>, fix: &str) -> Finding {
    match outcome {
        Ok(detail) => Finding::ok(check, detail),
        Err(detail) => Finding::failed(check, detail, fix),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> ReleaseConfig {
        ReleaseConfig::from_workspace_manifest(include_str!("../../../Cargo.toml")).unwrap()
    }

    #[test]
    fn a_statement_is_the_same_whatever_its_order_and_single_values() {
        let declared = json!({ "Action": ["s3:GetObject"], "Resource": ["b", "a"], "Principal": { "AWS": ["x"] } });
        let live = json!({ "Principal": { "AWS": "x" }, "Resource": ["a", "b"], "Action": "s3:GetObject" });
        assert_eq!(normalized(&declared), normalized(&live));
        assert_ne!(normalized(&declared), normalized(&json!({ "Action": "s3:*", "Resource": ["a", "b"] })));
    }

    #[test]
    fn a_missing_bucket_is_one_finding_and_a_bucket_elsewhere_fails_only_its_region() {
        let config = config();
        let accounts = Accounts { internal: Vec::new(), customers: Vec::new() };
        let facts = |region: Read<String>| BucketFacts {
            role: BucketRole::InternalTemplates,
            region,
            public_access_block: Read::Present([true; 4]),
            policy: Read::Present(json!({ "Statement": [internal_statement(&config)] })),
            abort_incomplete_uploads: Read::Present(Some(7)),
        };
        let missing = judge_bucket(&facts(Read::Absent), &config, &accounts, "arn");
        assert_eq!(missing.len(), 1);
        assert_eq!(missing[0].fix.as_deref(), Some(DEPLOY));
        let elsewhere = judge_bucket(&facts(Read::Present("eu-west-1".into())), &config, &accounts, "arn");
        let failed: Vec<&str> = elsewhere.iter().filter(|f| !f.ok).map(|f| f.check.as_str()).collect();
        assert_eq!(failed, [format!("internal template bucket {}: exists", config.cfn_internal_bucket)]);
    }

    fn internal_statement(config: &ReleaseConfig) -> Value {
        release_infra::internal_template_statement(config, &Accounts { internal: Vec::new(), customers: Vec::new() })
    }

    #[test]
    fn a_distribution_is_judged_by_alias_origin_access_control_and_tls() {
        let config = config();
        let origin = format!("{}.s3.{}.amazonaws.com", config.orchestrator_bucket, config.region);
        let seen = |alias: &str, control: &str, tls: &str| {
            Read::Present(DistributionSeen {
                aliases: vec![alias.to_owned()],
                origins: vec![(origin.clone(), control.to_owned())],
                minimum_protocol: tls.to_owned(),
            })
        };
        let failed = |found: Read<DistributionSeen>| -> Vec<String> {
            judge_distribution(&found, &config).into_iter().filter(|f| !f.ok).map(|f| f.check).collect()
        };
        let id = &config.cloudfront_distribution;
        assert!(failed(seen("launch.readyset.io", "E2OAC", "TLSv1.2_2021")).is_empty());
        assert_eq!(failed(seen("other.example", "E2OAC", "TLSv1.2_2021")), [format!("distribution {id}: alias")]);
        assert_eq!(failed(seen("launch.readyset.io", "", "TLSv1.2_2021")), [format!("distribution {id}: origin")]);
        assert_eq!(failed(seen("launch.readyset.io", "E2OAC", "TLSv1_2016")), [format!("distribution {id}: TLS")]);
        assert_eq!(failed(Read::Absent), [format!("distribution {id}: exists")]);
    }

    #[test]
    fn the_public_bucket_alone_may_let_its_policy_be_public() {
        assert_eq!(BucketRole::PublicTemplates.public_access_block(), [true, true, false, false]);
        assert_eq!(BucketRole::Installer.public_access_block(), [true; 4]);
        assert_eq!(BucketRole::used_by(&[Queue::Ops]), [BucketRole::PublicTemplates, BucketRole::InternalTemplates]);
    }
}
