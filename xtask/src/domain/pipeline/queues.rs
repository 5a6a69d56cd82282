//! The Buildkite agent queues and the AWS access each one's agents hold. A build queue
//! runs any branch's code (build scripts, proc-macros, tests), so it holds no AWS
//! credentials at all; `ops` writes what only the team sees (internal and alpha), and
//! `release` writes what customers get, on agents that run main's commits only (the
//! agent hook in `ops/buildkite-agent/`). The pipeline check places every step by this,
//! and each credentialed queue's IAM policy is derived here from the release
//! configuration, so the policy and the buckets it names cannot drift apart.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::domain::{config::ReleaseConfig, images::access::EBS_GRANT_OPERATIONS, names::stage::Stage};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Queue {
    /// Linux agents without credentials: checks, the xtask binary, the Linux installer.
    Build,
    /// macOS agents without credentials: the macOS installers.
    Mac,
    /// Internal AMIs (the only Packer run), internal and alpha templates, the smoke test.
    Ops,
    /// Release AMIs and templates, the installer, rollback, customer access.
    Release,
}

impl Queue {
    pub const ALL: [Queue; 4] = [Queue::Build, Queue::Mac, Queue::Ops, Queue::Release];

    /// The name in `agents: queue:` of the pipeline and in the agents' configuration.
    pub fn name(self) -> &'static str {
        match self {
            Queue::Build => "build",
            Queue::Mac => "mac",
            Queue::Ops => "ops",
            Queue::Release => "release",
        }
    }

    pub fn parse(name: &str) -> Option<Queue> {
        Queue::ALL.into_iter().find(|queue| queue.name() == name)
    }

    /// The stages whose artifacts this queue's credentials write.
    pub fn writes(self) -> &'static [Stage] {
        match self {
            Queue::Build | Queue::Mac => &[],
            Queue::Ops => &[Stage::Internal, Stage::Alpha],
            Queue::Release => &[Stage::Release],
        }
    }

    pub fn has_credentials(self) -> bool {
        !self.writes().is_empty()
    }

    /// The queue that writes a stage's artifacts.
    pub fn writing(stage: Stage) -> Queue {
        match stage {
            Stage::Internal | Stage::Alpha => Queue::Ops,
            Stage::Release => Queue::Release,
        }
    }
}

impl std::fmt::Display for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What Packer's amazon-ebs builder calls: a temporary key pair, security group and
/// instance, then an image of its volume (Packer's documentation lists the same), less
/// the image writes and tagging, which `IMAGE_WRITES` and `TAGGING` hold under
/// conditions on the images' `Stage` tag. Split as AWS's Service Authorization
/// Reference says: the reads that take no resource (hence `*`), and the calls that do,
/// held to the resource types of `PACKER_TYPES`.
const PACKER_READS: &[&str] = &[
    "ec2:DescribeImages",
    "ec2:DescribeInstanceStatus",
    "ec2:DescribeInstances",
    "ec2:DescribeRegions",
    "ec2:DescribeSecurityGroups",
    "ec2:DescribeSnapshots",
    "ec2:DescribeSubnets",
    "ec2:DescribeTags",
    "ec2:DescribeVolumes",
    "ec2:DescribeVpcs",
    "ec2:GetEbsEncryptionByDefault",
];
const PACKER_WRITES: &[&str] = &[
    "ec2:AttachVolume",
    "ec2:AuthorizeSecurityGroupIngress",
    "ec2:CopyImage",
    "ec2:CreateImage",
    "ec2:CreateKeyPair",
    "ec2:CreateSecurityGroup",
    "ec2:CreateSnapshot",
    "ec2:CreateVolume",
    "ec2:DeleteKeyPair",
    "ec2:DeleteSecurityGroup",
    "ec2:DeleteSnapshot",
    "ec2:DeleteVolume",
    "ec2:DescribeImageAttribute",
    "ec2:DetachVolume",
    "ec2:GetPasswordData",
    "ec2:ModifyInstanceAttribute",
    "ec2:RegisterImage",
    "ec2:RunInstances",
    "ec2:StopInstances",
    "ec2:TerminateInstances",
];

/// What a Packer build touches: the base image and the new one with its snapshots, the
/// instance with its volumes and network interface in a subnet of a VPC, the temporary
/// key pair and security group (with its rules). RunInstances is checked against every
/// one of these a launch involves, so none may be missing.
const PACKER_TYPES: &[&str] = &[
    "image",
    "instance",
    "key-pair",
    "network-interface",
    "security-group",
    "security-group-rule",
    "snapshot",
    "subnet",
    "volume",
    "vpc",
];

/// What `amis promote` and `customers sync` call (`adapters/ec2.rs`) besides the image
/// writes and tagging: the reads that take no resource, and the calls on images and
/// their snapshots. The release role gets no Packer actions, so it can copy and share
/// images but never build or delete one.
const PROMOTE_READS: &[&str] = &["ec2:DescribeImages", "ec2:GetEbsEncryptionByDefault"];
const PROMOTE_WRITES: &[&str] = &["ec2:CopyImage", "ec2:DescribeImageAttribute", "ec2:DescribeSnapshotAttribute"];
const IMAGE_TYPES: &[&str] = &["image", "snapshot"];

/// What each queue tags: ops, Packer's instance, volumes, image and snapshots, alpha
/// copies with their snapshots, and the snapshots `amis prune` marks; release, its
/// copies with their snapshots (CopyImage tags both as it makes them).
const OPS_TAGGED_TYPES: &[&str] = &["image", "instance", "snapshot", "volume"];
const RELEASE_TAGGED_TYPES: &[&str] = &["image", "snapshot"];

/// The ARNs of every resource of these EC2 types, in any region and account of the
/// agent's own (images and snapshots have no account in their ARN: a public base image
/// is an `image` too).
pub(super) fn ec2_arns(types: &[&str]) -> Vec<String> {
    types
        .iter()
        .map(|kind| match *kind {
            "image" | "snapshot" => format!("arn:aws:ec2:*::{kind}/*"),
            _ => format!("arn:aws:ec2:*:*:{kind}/*"),
        })
        .collect()
}

/// Writes to an image a queue may make only to the stages it owns (the image's `Stage`
/// tag): sharing (ModifyImageAttribute) and, for ops, deprecating alpha copies and
/// deregistering what `amis prune` removes.
const IMAGE_WRITES_OPS: &[&str] = &["ec2:DeregisterImage", "ec2:EnableImageDeprecation", "ec2:ModifyImageAttribute"];
const IMAGE_WRITES_RELEASE: &[&str] = &["ec2:ModifyImageAttribute"];
const TAGGING: &[&str] = &["ec2:CreateTags"];

/// The tag that says which stage an image belongs to, and the one that names a release
/// (`promotion::copy_tags`, and Packer's `tags` for internal images).
const STAGE_TAG: &str = "Stage";
const RELEASE_TAG: &str = "Release";

/// Using a customer-managed image key to copy an encrypted image (`adapters/kms.rs`
/// makes and revokes the grants that let the allowed accounts use it).
const KMS_USE: &[&str] = &[
    "kms:Decrypt",
    "kms:DescribeKey",
    "kms:Encrypt",
    "kms:GenerateDataKeyWithoutPlaintext",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
];
const KMS_GRANTS: &[&str] = &["kms:ListGrants", "kms:RevokeGrant"];

/// The Secrets Manager secret whose value the smoke test's adapter reads as its upstream
/// database URL: `.buildkite/pipeline.yml` passes it to the test-stack script, the ops
/// policy may describe it, and the rehearsal creates it in the emulator.
pub const SMOKE_TEST_SECRET: &str = "readyset-ci-upstream-db-url";

/// The EC2 key pair the smoke test's instances get (`-k` in `.buildkite/pipeline.yml`);
/// nobody logs in with it (the bastion admits 127.0.0.1/32 only), but the templates
/// require one. `ops/release-infra/` makes it.
pub const SMOKE_TEST_KEY_PAIR: &str = "readyset-ci";

/// Stack names the smoke tests create (the pipeline's `smoke-<build>`, the test-stack
/// script's default `readyset-test-<commit>`); nested stacks, and the roles and instance
/// profiles CloudFormation names after them, start with the same prefix.
const SMOKE_TEST_STACKS: [&str; 2] = ["smoke-", "readyset-test-"];

/// What CloudFormation is asked by the smoke-test scripts of `ops/cfn-test/`.
const SMOKE_TEST_CLOUDFORMATION: &[&str] = &[
    "cloudformation:CreateStack",
    "cloudformation:DeleteStack",
    "cloudformation:DescribeStackEvents",
    "cloudformation:DescribeStackResource",
    "cloudformation:DescribeStacks",
];

/// An IAM policy document, its fields in the order the IAM console shows them.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Policy {
    pub version: &'static str,
    pub statement: Vec<Statement>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Statement {
    pub sid: &'static str,
    pub effect: &'static str,
    pub action: Vec<String>,
    pub resource: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub condition: Option<serde_json::Value>,
}

/// The IAM policy of a queue's agents, or `None` for a queue that holds no credentials.
/// `image_keys` are the customer-managed keys that encrypt the images (`ami_kms_key_ids`
/// of the Packer locals, region to key ARN): the only KMS keys a queue may use or grant.
pub fn policy(queue: Queue, config: &ReleaseConfig, image_keys: &BTreeMap<String, String>) -> Option<Policy> {
    let keys: Vec<&String> = image_keys.values().collect();
    let statement = match queue {
        Queue::Build | Queue::Mac => return None,
        Queue::Ops => [ops_statements(config), kms_statements(&keys)].concat(),
        Queue::Release => [release_statements(config), kms_statements(&keys)].concat(),
    };
    Some(Policy { version: "2012-10-17", statement })
}

/// An image's Stage tag, when it has one, is one of `stages`. Packer shares and tags a
/// new image before it has any tag, and promotion tags a copy after CopyImage makes it,
/// hence "if exists" where a queue acts on images it has just made.
fn stage_condition(key: &str, stages: &[Stage], if_exists: bool) -> serde_json::Value {
    let operator = if if_exists { "StringEqualsIfExists" } else { "StringEquals" };
    let stages: Vec<String> = stages.iter().map(Stage::to_string).collect();
    serde_json::json!({ operator: { format!("{key}/{STAGE_TAG}"): stages } })
}

/// Tagging, image writes and snapshot sharing. Images and snapshots are held to the
/// queue's own stages by their Stage tag; a queue may set Stage only to its own stages,
/// and only release may set the Release tag.
fn image_statements(queue: Queue, writes: &'static [&'static str]) -> [Statement; 3] {
    let stages = queue.writes();
    // ops shares Packer's new images before Packer tags them; release shares only
    // copies it has tagged already.
    let untagged_allowed = queue == Queue::Ops;
    let mut tagging = serde_json::json!({
        "StringEqualsIfExists": {
            format!("aws:RequestTag/{STAGE_TAG}"): stages.iter().map(Stage::to_string).collect::<Vec<_>>(),
            format!("ec2:ResourceTag/{STAGE_TAG}"): stages.iter().map(Stage::to_string).collect::<Vec<_>>(),
        }
    });
    if queue != Queue::Release {
        tagging["ForAllValues:StringNotEquals"] = serde_json::json!({ "aws:TagKeys": [RELEASE_TAG] });
    }
    // customers sync (release queue) shares alpha images too.
    let changed: &[Stage] = if queue == Queue::Release { &[Stage::Alpha, Stage::Release] } else { stages };
    let tagged = if queue == Queue::Ops { OPS_TAGGED_TYPES } else { RELEASE_TAGGED_TYPES };
    let ops = queue == Queue::Ops;
    [
        Statement {
            condition: Some(tagging),
            ..allow(
                if ops { "TagInternalAndAlphaImagesOnly" } else { "TagReleaseImagesOnly" },
                TAGGING,
                &ec2_arns(tagged),
            )
        },
        Statement {
            condition: Some(stage_condition("ec2:ResourceTag", changed, untagged_allowed)),
            ..allow(
                if ops { "ChangeInternalAndAlphaImagesOnly" } else { "ShareAlphaAndReleaseImagesOnly" },
                writes,
                &ec2_arns(&["image"]),
            )
        },
        // Packer shares its snapshots before it tags them, and copies made before
        // CopyImage tagged their snapshots have none: "if exists" for both queues, which
        // still keeps each from the snapshots the other's stages are tagged with.
        Statement {
            condition: Some(stage_condition("ec2:ResourceTag", changed, true)),
            ..allow(
                if ops { "ShareInternalAndAlphaSnapshotsOnly" } else { "ShareAlphaAndReleaseSnapshotsOnly" },
                &["ec2:ModifySnapshotAttribute"],
                &ec2_arns(&["snapshot"]),
            )
        },
    ]
}

/// The image keys: used to copy encrypted images, and granted to the allowed accounts
/// for EBS only (`kms:GrantOperations`), never for anything else such as Sign. No
/// statement at all while the images are not encrypted with customer-managed keys.
fn kms_statements(keys: &[&String]) -> Vec<Statement> {
    if keys.is_empty() {
        return Vec::new();
    }
    vec![
        allow("UseTheImageKeys", KMS_USE, keys),
        Statement {
            condition: Some(serde_json::json!({
                "ForAllValues:StringEquals": { "kms:GrantOperations": EBS_GRANT_OPERATIONS }
            })),
            ..allow("GrantTheImageKeysForEbsOnly", &["kms:CreateGrant"], keys)
        },
        allow("ListAndRevokeTheImageKeysGrants", KMS_GRANTS, keys),
    ]
}

fn ops_statements(config: &ReleaseConfig) -> Vec<Statement> {
    let (internal, public) = (&config.cfn_internal_bucket, &config.cfn_public_bucket);
    let [tagging, image_writes, snapshot_sharing] = image_statements(Queue::Ops, IMAGE_WRITES_OPS);
    vec![
        // These reads take no resource (promotion's are among them).
        allow("ReadImagesAndInstances", PACKER_READS, &["*"]),
        allow("BuildInternalImagesWithPacker", PACKER_WRITES, &ec2_arns(PACKER_TYPES)),
        allow("PromoteAlphaImages", PROMOTE_WRITES, &ec2_arns(IMAGE_TYPES)),
        tagging,
        image_writes,
        snapshot_sharing,
        allow("ListTemplateBuckets", &["s3:ListBucket"], &[&bucket(internal), &bucket(public)]),
        allow(
            "InternalAndAlphaTemplates",
            &["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload"],
            &[&objects(internal, "*"), &objects(public, "alpha/*")],
        ),
        allow(
            "SmokeTestStacks",
            SMOKE_TEST_CLOUDFORMATION,
            &smoke_test_arns("arn:aws:cloudformation:*:*:stack/", "*/*"),
        ),
        // CloudFormation creates the stacks' resources with the test-stack role; ops
        // only hands it over, to CloudFormation only (`test_stack_role.rs`).
        Statement {
            condition: Some(serde_json::json!({
                "StringEquals": { "iam:PassedToService": "cloudformation.amazonaws.com" }
            })),
            ..allow(
                "PassTheTestStackRole",
                &["iam:PassRole"],
                &[&format!("arn:aws:iam::*:role/{}", config.test_stack_role)],
            )
        },
        // The smoke test picks a zone that offers the stacks' instance types.
        // DescribeInstanceTypeOfferings takes no resource.
        allow("SmokeTestZone", &["ec2:DescribeInstanceTypeOfferings"], &["*"]),
        allow(
            "SmokeTestUpstreamSecret",
            &["secretsmanager:DescribeSecret"],
            // Secrets Manager appends six random characters to a secret's ARN.
            &[&format!("arn:aws:secretsmanager:*:*:secret:{SMOKE_TEST_SECRET}-??????")],
        ),
        allow("PreflightReadsBuckets", PREFLIGHT_S3, &[&bucket(internal), &bucket(public)]),
        // DescribeKeyPairs takes no resource.
        allow("PreflightReadsKeyPairs", &["ec2:DescribeKeyPairs"], &["*"]),
        allow(
            "PreflightReadsTheTestStackRole",
            &["iam:GetRole"],
            &[&format!("arn:aws:iam::*:role/{}", config.test_stack_role)],
        ),
    ]
}

/// What `preflight` reads of a bucket (`adapters/account_facts.rs`).
const PREFLIGHT_S3: &[&str] =
    &["s3:GetBucketLocation", "s3:GetBucketPolicy", "s3:GetBucketPublicAccessBlock", "s3:GetLifecycleConfiguration"];

pub(super) fn smoke_test_arns(prefix: &str, suffix: &str) -> Vec<String> {
    SMOKE_TEST_STACKS.iter().map(|stack| format!("{prefix}{stack}{suffix}")).collect()
}

fn release_statements(config: &ReleaseConfig) -> Vec<Statement> {
    let (orchestrator, public) = (&config.orchestrator_bucket, &config.cfn_public_bucket);
    let distribution = format!("arn:aws:cloudfront::*:distribution/{}", config.cloudfront_distribution);
    let [tagging, image_writes, snapshot_sharing] = image_statements(Queue::Release, IMAGE_WRITES_RELEASE);
    vec![
        // These reads take no resource.
        allow("ReadImages", PROMOTE_READS, &["*"]),
        allow("PromoteAndShareReleaseImages", PROMOTE_WRITES, &ec2_arns(IMAGE_TYPES)),
        tagging,
        image_writes,
        snapshot_sharing,
        // Only the key behind the configured alias: the alias can move to a new key
        // without a policy change, and no other key signs a release. Its public half is
        // public anyway; the rehearsal and RELEASE.md's setup read it.
        Statement {
            condition: Some(serde_json::json!({
                "ForAnyValue:StringEquals": { "kms:ResourceAliases": config.signing_key }
            })),
            ..allow(
                "SignReleaseManifests",
                &["kms:GetPublicKey", "kms:Sign"],
                &[&format!("arn:aws:kms:{}:*:key/*", config.region)],
            )
        },
        allow("ListReleaseBuckets", &["s3:ListBucket"], &[&bucket(orchestrator), &bucket(public)]),
        allow(
            "ReleaseTemplates",
            &["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload"],
            &[&objects(public, "*")],
        ),
        Statement {
            effect: "Deny",
            ..allow("AlphaTemplatesAreOpsOnly", &["s3:PutObject"], &[&objects(public, "alpha/*")])
        },
        allow(
            "InstallerObjects",
            &["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"],
            &[&objects(orchestrator, "*")],
        ),
        allow(
            "InvalidateTheInstallerDistribution",
            &["cloudfront:CreateInvalidation", "cloudfront:GetInvalidation"],
            &[&distribution],
        ),
        allow("PreflightReadsBuckets", PREFLIGHT_S3, &[&bucket(orchestrator), &bucket(public)]),
        allow("PreflightReadsTheDistribution", &["cloudfront:GetDistribution"], &[&distribution]),
    ]
}

pub(super) fn allow(sid: &'static str, actions: &[&str], resources: &[impl AsRef<str>]) -> Statement {
    let action = actions.iter().map(|action| action.to_string()).collect();
    let resource = resources.iter().map(|resource| resource.as_ref().to_owned()).collect();
    Statement { sid, effect: "Allow", action, resource, condition: None }
}

fn bucket(name: &str) -> String {
    format!("arn:aws:s3:::{name}")
}

pub(super) fn objects(bucket: &str, pattern: &str) -> String {
    format!("arn:aws:s3:::{bucket}/{pattern}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> ReleaseConfig {
        ReleaseConfig::from_workspace_manifest(include_str!("../../../../Cargo.toml")).unwrap()
    }

    #[test]
    fn only_the_release_queue_writes_what_customers_get() {
        for queue in Queue::ALL {
            assert_eq!(queue.writes().contains(&Stage::Release), queue == Queue::Release, "{queue}");
            assert_eq!(Queue::parse(queue.name()), Some(queue));
            assert_eq!(policy(queue, &sample(), &BTreeMap::new()).is_some(), queue.has_credentials(), "{queue}");
        }
        for stage in Stage::ALL {
            assert!(Queue::writing(stage).writes().contains(&stage));
        }
        assert_eq!(Queue::parse("default"), None);
    }

    #[test]
    fn only_the_release_policy_names_the_installer_bucket_and_distribution() {
        let config = sample();
        let text = |queue| format!("{:?}", policy(queue, &config, &BTreeMap::new()).unwrap());
        let (ops, release) = (text(Queue::Ops), text(Queue::Release));
        for name in [&config.orchestrator_bucket, &config.cloudfront_distribution] {
            assert!(!ops.contains(name.as_str()), "ops names {name}");
            assert!(release.contains(name.as_str()), "release lacks {name}");
        }
        assert!(!release.contains(&config.cfn_internal_bucket), "release names the internal bucket");
        assert!(!release.contains("ec2:RunInstances") && !release.contains("ec2:DeregisterImage"));
    }

    fn statement<'a>(policy: &'a Policy, sid: &str) -> &'a Statement {
        policy.statement.iter().find(|s| s.sid == sid).unwrap_or_else(|| panic!("no statement {sid}"))
    }

    /// What IAM would decide is not something the emulator or the analyser evaluates
    /// (neither reads conditions), so the conditions themselves are pinned here.
    #[test]
    fn each_queue_writes_and_tags_only_images_of_its_own_stages() {
        let ops = policy(Queue::Ops, &sample(), &BTreeMap::new()).unwrap();
        let release = policy(Queue::Release, &sample(), &BTreeMap::new()).unwrap();
        let json = |s: &Statement| serde_json::to_string(&s.condition).unwrap();
        assert_eq!(
            json(statement(&ops, "TagInternalAndAlphaImagesOnly")),
            r#"{"ForAllValues:StringNotEquals":{"aws:TagKeys":["Release"]},"StringEqualsIfExists":{"aws:RequestTag/Stage":["internal","alpha"],"ec2:ResourceTag/Stage":["internal","alpha"]}}"#
        );
        assert_eq!(
            json(statement(&ops, "ChangeInternalAndAlphaImagesOnly")),
            r#"{"StringEqualsIfExists":{"ec2:ResourceTag/Stage":["internal","alpha"]}}"#
        );
        assert_eq!(
            json(statement(&release, "TagReleaseImagesOnly")),
            r#"{"StringEqualsIfExists":{"aws:RequestTag/Stage":["release"],"ec2:ResourceTag/Stage":["release"]}}"#
        );
        assert_eq!(
            json(statement(&release, "ShareAlphaAndReleaseImagesOnly")),
            r#"{"StringEquals":{"ec2:ResourceTag/Stage":["alpha","release"]}}"#
        );
        assert_eq!(
            json(statement(&ops, "ShareInternalAndAlphaSnapshotsOnly")),
            r#"{"StringEqualsIfExists":{"ec2:ResourceTag/Stage":["internal","alpha"]}}"#
        );
        assert_eq!(
            json(statement(&release, "ShareAlphaAndReleaseSnapshotsOnly")),
            r#"{"StringEqualsIfExists":{"ec2:ResourceTag/Stage":["alpha","release"]}}"#
        );
        for policy in [&ops, &release] {
            let unconditioned: Vec<&String> = policy
                .statement
                .iter()
                .filter(|s| s.condition.is_none())
                .flat_map(|s| &s.action)
                .filter(|a| {
                    ["ec2:CreateTags", "ec2:DeregisterImage", "ec2:ModifyImageAttribute", "ec2:ModifySnapshotAttribute"]
                        .contains(&a.as_str())
                })
                .collect();
            assert_eq!(unconditioned, Vec::<&String>::new(), "an image write without a Stage condition");
        }
        assert!(!format!("{release:?}").contains("ec2:DeregisterImage"), "release never deletes an image");
    }

    #[test]
    fn kms_is_only_the_configured_image_keys_granted_for_ebs_only() {
        assert!(!format!("{:?}", policy(Queue::Ops, &sample(), &BTreeMap::new()).unwrap()).contains("kms:CreateGrant"));
        let keys = BTreeMap::from([("us-east-2".to_owned(), "arn:aws:kms:us-east-2:111122223333:key/k".to_owned())]);
        for queue in [Queue::Ops, Queue::Release] {
            let policy = policy(queue, &sample(), &keys).unwrap();
            let grant = statement(&policy, "GrantTheImageKeysForEbsOnly");
            assert_eq!(grant.resource, vec!["arn:aws:kms:us-east-2:111122223333:key/k"]);
            assert_eq!(
                grant.condition.as_ref().unwrap()["ForAllValues:StringEquals"]["kms:GrantOperations"]
                    .as_array()
                    .unwrap()
                    .len(),
                6
            );
            let kms: Vec<&Statement> =
                policy.statement.iter().filter(|s| s.action.iter().any(|a| a.starts_with("kms:"))).collect();
            for s in kms.iter().filter(|s| s.sid != "SignReleaseManifests") {
                assert_eq!(s.resource, vec!["arn:aws:kms:us-east-2:111122223333:key/k"], "{}", s.sid);
            }
        }
    }
}
