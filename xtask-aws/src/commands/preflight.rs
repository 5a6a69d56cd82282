//! `cargo xtask preflight`: whether the account the credentials reach holds what a
//! release needs, as `ops/release-infra/` declares it. It only reads: every fact comes
//! from `account_facts`, and the domain (`preflight.rs`) judges it.

use std::path::Path;

use anyhow::{bail, Result};
use xtask::{
    adapters::workspace::Workspace,
    cli::PreflightArgs,
    domain::{
        images::{accounts::Accounts, packer},
        pipeline::queues::{Queue, SMOKE_TEST_KEY_PAIR, SMOKE_TEST_SECRET},
        preflight::{self, BucketRole, Finding, DEPLOY},
        publishing::layout,
    },
};

use crate::adapters::{
    access, account_facts,
    ec2::Ec2,
    manifest_signature::pem_public_key,
    sigv4_http::SignedClient,
    site::{with_site, Site},
};

/// What the checks compare with, read from the checkout before anything is asked of AWS.
struct Expected {
    accounts: Accounts,
    queues: Vec<Queue>,
    /// The trusted public key's DER, or why there is none.
    trusted_key: Result<Vec<u8>, String>,
    regions: Vec<String>,
    ami_keys: std::collections::BTreeMap<String, String>,
}

pub fn run(workspace: &Workspace, args: PreflightArgs) -> Result<()> {
    let expected = expected(workspace, &args)?;
    let (caller, findings) = with_site(workspace, async |site| check(site, &expected).await)?;
    report(&caller, &findings, args.json)?;
    let failed = findings.iter().filter(|finding| !finding.ok).count();
    if failed > 0 {
        bail!("{failed} of {} checks failed; each says what to do", findings.len());
    }
    Ok(())
}

fn expected(workspace: &Workspace, args: &PreflightArgs) -> Result<Expected> {
    let locals = workspace.read(packer::LOCALS_FILE)?;
    let key_file = args.public_key.clone().unwrap_or_else(|| workspace.root.join(layout::SIGNING_PUBLIC_KEY));
    Ok(Expected {
        accounts: Accounts::from_locals(&locals)?,
        queues: args.queue.map_or_else(|| vec![Queue::Ops, Queue::Release], |queue| vec![queue]),
        trusted_key: trusted_key(&key_file),
        regions: workspace.ami_regions()?,
        ami_keys: packer::local_string_map(packer::LOCALS_FILE, &locals, "ami_kms_key_ids")?,
    })
}

fn trusted_key(path: &Path) -> Result<Vec<u8>, String> {
    let text = std::fs::read_to_string(path).map_err(|error| format!("{} cannot be read ({error})", path.display()))?;
    pem_public_key(&text).map_err(|error| format!("{} holds no public key ({error:#})", path.display()))
}

/// Every check of the chosen queues, in a fixed order.
async fn check(site: &Site, expected: &Expected) -> Result<(String, Vec<Finding>)> {
    let config = &site.config;
    let (account, caller) = account_facts::caller(site).await?;
    let distribution_arn = format!("arn:aws:cloudfront::{account}:distribution/{}", config.cloudfront_distribution);
    let (ops, release) = (expected.queues.contains(&Queue::Ops), expected.queues.contains(&Queue::Release));
    let mut findings = Vec::new();
    for role in BucketRole::used_by(&expected.queues) {
        let facts = account_facts::bucket(site, role).await;
        findings.extend(preflight::judge_bucket(&facts, config, &expected.accounts, &distribution_arn));
    }
    if release {
        findings.extend(preflight::judge_distribution(&account_facts::distribution(site).await, config));
        findings.extend(preflight::judge_signing_key(
            &account_facts::signing_key(site).await,
            &expected.trusted_key,
            config,
        ));
    }
    findings.push(ebs_encryption(site, expected).await);
    if ops {
        findings.extend(smoke_test(site).await);
    }
    Ok((caller, findings))
}

/// The check `amis build` and `amis promote` make before they start, made here too.
async fn ebs_encryption(site: &Site, expected: &Expected) -> Finding {
    let client = SignedClient::new(&site.sdk);
    let ec2 = Ec2 { client: &client };
    let outcome = match access::unshareable_regions(&ec2, &expected.regions, &expected.ami_keys).await {
        Ok(problems) if problems.is_empty() => {
            Ok(format!("images made in {} can be shared", expected.regions.join(", ")))
        }
        Ok(problems) => Err(problems.join("; ")),
        Err(error) => Err(format!("could not be read: {error:#}")),
    };
    preflight::judge_outcome("AMI encryption", outcome, access::SHAREABLE_FIX)
}

async fn smoke_test(site: &Site) -> Vec<Finding> {
    let role = &site.config.test_stack_role;
    let trust = account_facts::role_trust(site, role).await;
    vec![
        preflight::judge_present(
            &format!("smoke test key pair {SMOKE_TEST_KEY_PAIR}"),
            &account_facts::key_pair(site, SMOKE_TEST_KEY_PAIR).await,
            DEPLOY,
        ),
        preflight::judge_present(
            &format!("smoke test secret {SMOKE_TEST_SECRET}"),
            &account_facts::secret(site, SMOKE_TEST_SECRET).await,
            DEPLOY,
        ),
        preflight::judge_role_trust(&format!("test-stack role {role}"), &trust, "cloudformation.amazonaws.com"),
    ]
}

fn report(caller: &str, findings: &[Finding], json: bool) -> Result<()> {
    if json {
        let ok = findings.iter().all(|finding| finding.ok);
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({ "caller": caller, "ok": ok, "findings": findings }))?
        );
    } else {
        println!("Checking the account of {caller} (reads only):");
        for finding in findings {
            println!("{finding}");
        }
    }
    Ok(())
}
