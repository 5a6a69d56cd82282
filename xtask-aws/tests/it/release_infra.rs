//! The release's own infrastructure (`ops/release-infra/`): the committed template is
//! what the xtask renders from the configuration and the policies `iam-policy` prints,
//! and it deploys to the emulator as CloudFormation deploys it.

use std::process::Output;

use xtask::domain::{
    pipeline::{
        queues::{self, Queue},
        test_stack_role,
    },
    release_infra::TEMPLATE_PATH,
};

use crate::support::{config, expect_success, image_keys, site::Site, text, workspace_root};

pub const STACK: &str = "readyset-release-infra";

fn committed() -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(workspace_root().join(TEMPLATE_PATH)).unwrap()).unwrap()
}

/// The committed template is the xtask's output, and each role in it holds exactly the
/// policy `iam-policy` prints for it (and is capped by a boundary of the same document).
#[test]
fn the_committed_template_is_what_the_xtask_renders_with_the_printed_policies() {
    let site = Site::bare(false);
    let rendered = site.xtask_ok(&["release-infra", "template"]);
    let committed_text = std::fs::read_to_string(workspace_root().join(TEMPLATE_PATH)).unwrap();
    assert!(
        rendered == committed_text,
        "{TEMPLATE_PATH} is not the xtask's output; run `cargo xtask release-infra template > {TEMPLATE_PATH}`"
    );
    let template = committed();
    let resources = &template["Resources"];
    let policy_of = |role: &str| resources[role]["Properties"]["Policies"][0]["PolicyDocument"].clone();
    let boundary_of = |role: &str| {
        let boundary = resources[role]["Properties"]["PermissionsBoundary"]["Ref"].as_str().unwrap();
        resources[boundary]["Properties"]["PolicyDocument"].clone()
    };
    for (role, printed) in [
        ("OpsAgentRole", serde_json::to_value(queues::policy(Queue::Ops, config(), image_keys())).unwrap()),
        ("ReleaseAgentRole", serde_json::to_value(queues::policy(Queue::Release, config(), image_keys())).unwrap()),
        ("TestStackRole", serde_json::to_value(test_stack_role::policy(config())).unwrap()),
    ] {
        assert_eq!(policy_of(role), printed, "{role}'s policy is `iam-policy`'s");
        assert_eq!(boundary_of(role), printed, "{role}'s boundary is its policy");
    }
    assert_eq!(resources["TestStackRole"]["Properties"]["RoleName"], config().test_stack_role.as_str());
}

/// Deploys the committed template to the site's emulator, as RELEASE.md has an
/// administrator deploy it.
pub fn deploy(site: &Site) -> Output {
    let template = format!("file://{}", workspace_root().join(TEMPLATE_PATH).display());
    let created = site.aws_cli(&[
        "cloudformation",
        "create-stack",
        "--stack-name",
        STACK,
        "--template-body",
        &template,
        "--capabilities",
        "CAPABILITY_NAMED_IAM",
        "--parameters",
        "ParameterKey=CertificateArn,ParameterValue=arn:aws:acm:us-east-1:123456789012:certificate/0f0e0d0c-0b0a-0908-0706-050403020100",
        "ParameterKey=SmokeTestUpstreamUrl,ParameterValue=mysql://readyset:test@upstream.invalid:3306/readyset",
    ]);
    if !created.status.success() {
        return created;
    }
    site.aws_cli(&["cloudformation", "wait", "stack-create-complete", "--stack-name", STACK])
}

/// What moto cannot create is made by the launcher with each service's own model (see
/// its docstring); what no emulator checks at all (CloudFront serving the bucket through
/// its origin access control, the certificate, DNS) is left to `preflight` in the
/// real account.
#[test]
fn the_release_infrastructure_deploys_to_an_empty_account() {
    let site = Site::bare(false);
    let deployed = deploy(&site);
    assert!(deployed.status.success(), "{}\n{}", text(&deployed.stderr), site.emulator.log());
    let json = |args: &[&str]| -> serde_json::Value {
        let output = site.aws_cli(&[args, &["--output", "json"]].concat());
        serde_json::from_str(&expect_success(&format!("{args:?}"), &output)).unwrap()
    };
    let config = config();
    let block = json(&["s3api", "get-public-access-block", "--bucket", &config.orchestrator_bucket]);
    assert_eq!(block["PublicAccessBlockConfiguration"]["BlockPublicPolicy"], true);
    let key = json(&["kms", "describe-key", "--key-id", &config.signing_key]);
    assert_eq!(key["KeyMetadata"]["KeySpec"], "ECC_NIST_P256");
    let distribution = json(&["cloudfront", "get-distribution", "--id", &config.cloudfront_distribution]);
    let origin = &distribution["Distribution"]["DistributionConfig"]["Origins"]["Items"][0];
    assert!(origin["OriginAccessControlId"].as_str().is_some_and(|id| !id.is_empty()), "{distribution:#}");
}

/// A deployed account and the signing key's public half exported from it, as an
/// administrator leaves them (RELEASE.md, Setting up an account).
fn deployed(iam: bool) -> (Site, tempfile::TempDir) {
    let site = Site::bare(iam);
    let deployed = deploy(&site);
    assert!(deployed.status.success(), "{}\n{}", text(&deployed.stderr), site.emulator.log());
    let dir = tempfile::tempdir().unwrap();
    let pem = dir.path().join("key.pem");
    site.xtask_ok(&["signing-key", "export", "--out", pem.to_str().unwrap()]);
    (site, dir)
}

/// preflight's findings as JSON, run with `env` (keys of a user, for IAM).
fn preflight(site: &Site, dir: &tempfile::TempDir, args: &[&str], env: &[(&str, String)]) -> (bool, serde_json::Value) {
    let pem = dir.path().join("key.pem");
    let mut all = vec!["preflight", "--json", "--public-key", pem.to_str().unwrap()];
    all.extend(args);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let output = site.xtask_with_env(&all, &env);
    let report = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|_| panic!("preflight printed no JSON:\n{}{}", text(&output.stdout), text(&output.stderr)));
    (output.status.success(), report)
}

fn failing(report: &serde_json::Value) -> Vec<(String, String, String)> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|finding| finding["ok"] == false)
        .map(|f| {
            let field = |name: &str| f[name].as_str().unwrap_or_default().to_owned();
            (field("check"), field("detail"), field("fix"))
        })
        .collect()
}

/// After the deploy every check passes; then each resource is broken or removed in
/// turn, and each time exactly the checks of that resource fail, each with its fix.
#[test]
fn preflight_passes_on_the_deployed_account_and_names_each_broken_resource() {
    let (site, dir) = deployed(false);
    let (passed, report) = preflight(&site, &dir, &[], &[]);
    assert!(passed && failing(&report).is_empty(), "{report:#}");
    let config = config();
    let cli = |args: &[&str]| expect_success(&format!("aws {args:?}"), &site.aws_cli(args));
    let answer = cli(&["s3api", "get-bucket-policy", "--bucket", &config.orchestrator_bucket, "--output", "json"]);
    let answer: serde_json::Value = serde_json::from_str(&answer).unwrap();
    let installer_policy: serde_json::Value = serde_json::from_str(answer["Policy"].as_str().unwrap()).unwrap();
    let mut weakened = installer_policy.clone();
    weakened["Statement"].as_array_mut().unwrap().retain(|s| s["Sid"] != "VersionedKeysAreWrittenOnce");
    let weakened = weakened.to_string();
    let new_key: serde_json::Value = serde_json::from_str(&cli(&[
        "kms",
        "create-key",
        "--key-spec",
        "ECC_NIST_P256",
        "--key-usage",
        "SIGN_VERIFY",
        "--output",
        "json",
    ]))
    .unwrap();
    let new_key = new_key["KeyMetadata"]["KeyId"].as_str().unwrap().to_owned();
    let ec2_trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    let breaks: Vec<(&str, Vec<&str>)> = vec![
        (
            "installer bucket's public access block deleted",
            vec!["s3api", "delete-public-access-block", "--bucket", &config.orchestrator_bucket],
        ),
        (
            "conditional-write rule taken out of the installer bucket's policy",
            vec!["s3api", "put-bucket-policy", "--bucket", &config.orchestrator_bucket, "--policy", &weakened],
        ),
        (
            "internal bucket's lifecycle deleted",
            vec!["s3api", "delete-bucket-lifecycle", "--bucket", &config.cfn_internal_bucket],
        ),
        (
            "public bucket's policy deleted",
            vec!["s3api", "delete-bucket-policy", "--bucket", &config.cfn_public_bucket],
        ),
        (
            "signing alias moved to another P-256 key",
            vec!["kms", "update-alias", "--alias-name", &config.signing_key, "--target-key-id", &new_key],
        ),
        ("smoke key pair deleted", vec!["ec2", "delete-key-pair", "--key-name", "readyset-ci"]),
        (
            "smoke secret deleted",
            vec![
                "secretsmanager",
                "delete-secret",
                "--secret-id",
                "readyset-ci-upstream-db-url",
                "--force-delete-without-recovery",
            ],
        ),
        (
            "test-stack role trusts EC2",
            vec![
                "iam",
                "update-assume-role-policy",
                "--role-name",
                &config.test_stack_role,
                "--policy-document",
                ec2_trust,
            ],
        ),
        ("EBS encryption by default turned on", vec!["ec2", "enable-ebs-encryption-by-default"]),
    ];
    let mut seen = String::new();
    let mut before = Vec::new();
    for (what, args) in breaks {
        cli(&args);
        let (passed, report) = preflight(&site, &dir, &[], &[]);
        assert!(!passed, "{what}: preflight passed");
        let now = failing(&report);
        let new: Vec<_> = now.iter().filter(|f| !before.contains(*f)).collect();
        assert!(before.iter().all(|f| now.contains(f)), "{what}: an earlier failure went away");
        seen += &format!("{what}:\n");
        for (check, detail, fix) in new {
            seen += &format!("  FAIL {check}: {detail}\n    fix: {fix}\n");
        }
        before = now;
    }
    let seen = seen.replace(&new_key, "<other key>");
    expect_test::expect![[r#"
        installer bucket's public access block deleted:
          FAIL installer bucket readysettech-orchestrator-us-east-2: Block Public Access: none is set
            fix: deploy ops/release-infra/release-infra.json as RELEASE.md says (Setting up an account)
        conditional-write rule taken out of the installer bucket's policy:
          FAIL installer bucket readysettech-orchestrator-us-east-2: policy statement VersionedKeysAreWrittenOnce: missing
            fix: restore the bucket policy ops/release-infra declares
        internal bucket's lifecycle deleted:
          FAIL internal template bucket readysettech-cfn-internal-us-east-2: incomplete uploads are aborted: no enabled lifecycle rule aborts incomplete multipart uploads, so a killed upload is billed forever
            fix: add the lifecycle rule ops/release-infra declares (abort after 7 days)
        public bucket's policy deleted:
          FAIL public template bucket readysettech-cfn-public-us-east-2: policy: the bucket has no policy
            fix: deploy ops/release-infra/release-infra.json as RELEASE.md says (Setting up an account)
        signing alias moved to another P-256 key:
          FAIL signing key alias/readyset-release-manifest: public half: differs from the trusted public key: releases signed now would not verify
            fix: point the alias back at the committed key, or export the new one (`cargo xtask signing-key export --replace`) and commit it
        smoke key pair deleted:
          FAIL smoke test key pair readyset-ci: missing
            fix: deploy ops/release-infra/release-infra.json as RELEASE.md says (Setting up an account)
        smoke secret deleted:
          FAIL smoke test secret readyset-ci-upstream-db-url: missing
            fix: deploy ops/release-infra/release-infra.json as RELEASE.md says (Setting up an account)
        test-stack role trusts EC2:
          FAIL test-stack role readyset-cfn-test-stacks: assumed by ec2.amazonaws.com; expected cloudformation.amazonaws.com only
            fix: deploy ops/release-infra/release-infra.json as RELEASE.md says (Setting up an account)
        EBS encryption by default turned on:
          FAIL AMI encryption: EBS encryption by default is on in us-east-2, so its images would be encrypted with the AWS-managed key, which cannot be shared with the internal or customer accounts
            fix: Set ami_kms_key_ids in ops/image-deploy/locals.pkr.hcl to a customer-managed KMS key for every region (the xtask then grants the internal and customer accounts the use of it), or turn EBS encryption by default off in the build account
    "#]].assert_eq(&seen);
}

/// preflight reads only: it passes with keys that may only read (Get, Describe, List),
/// and with each queue's own policy for that queue's checks.
#[test]
fn preflight_reads_only_and_each_queue_policy_allows_its_checks() {
    let (site, dir) = deployed(true);
    let reads = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:Get*","s3:List*","cloudfront:Get*","kms:Get*","kms:Describe*","ec2:Describe*","ec2:Get*","secretsmanager:Describe*","iam:Get*","sts:GetCallerIdentity"],"Resource":"*"}]}"#;
    let reader = site.iam_user("preflight-reader", reads);
    let (passed, report) = preflight(&site, &dir, &[], &reader);
    assert!(passed, "with read-only keys: {report:#}");
    for queue in [Queue::Ops, Queue::Release] {
        let policy = serde_json::to_string(&queues::policy(queue, config(), image_keys())).unwrap();
        let user = site.iam_user(&format!("{queue}-agent"), &policy);
        let (passed, report) = preflight(&site, &dir, &["--queue", queue.name()], &user);
        assert!(passed, "with the {queue} policy: {:#?}", failing(&report));
    }
}
