//! Signed manifests: signed through the emulator's KMS, checked by `verify`, `status`
//! and `rollback`, and by a customer with RELEASE.md's `openssl` commands. The key
//! committed for production cannot sign here (its private half is in production's KMS),
//! so the emulator's key is exported to a PEM file the way RELEASE.md exports the real one.

use std::{path::Path, process::Output};

use expect_test::expect;
use xtask_aws::adapters::manifest_signature::{self, ReleaseKey};

use crate::support::{
    clear_aws_environment, config, expect_success, number_hashes,
    site::{synthetic_artifacts, Site},
    system_tool, text, workspace_root,
};

const MANIFEST: &str = "binaries/v1/manifest.json";
const SIGNATURE: &str = "binaries/v1/manifest.json.sig";

/// A site with v1 published and then v2, so v1 is a rollback target.
fn two_releases() -> Site {
    let site = Site::new();
    publish(&site, "v1");
    publish(&site, "v2");
    site
}

fn publish(site: &Site, tag: &str) {
    site.publish_templates(tag);
    let artifacts = synthetic_artifacts(tag);
    site.xtask_ok(&["publish-installer", tag, "--artifacts", artifacts.path().to_str().unwrap()]);
}

/// The first fenced `sh` block of RELEASE.md that contains `marker`.
fn release_md_block(marker: &str) -> String {
    let text = std::fs::read_to_string(workspace_root().join("RELEASE.md")).unwrap();
    let block = text
        .split("```sh\n")
        .skip(1)
        .map(|rest| rest.split_once("```").unwrap().0)
        .find(|block| block.contains(marker));
    block.unwrap_or_else(|| panic!("RELEASE.md has no sh block with {marker:?}")).to_owned()
}

/// The signing key's public half as a release engineer exports it (`cargo xtask
/// signing-key export`, RELEASE.md), from the emulator's KMS into `dir`.
fn export_public_key(site: &Site, dir: &Path) -> std::path::PathBuf {
    let pem = dir.join("ops/release-signing-key.pem");
    std::fs::create_dir_all(pem.parent().unwrap()).unwrap();
    site.xtask_ok(&["signing-key", "export", "--out", pem.to_str().unwrap()]);
    pem
}

/// A customer of a site, with the release key's PEM and a state directory of their own.
struct Customer {
    dir: tempfile::TempDir,
}

impl Customer {
    fn of(site: &Site) -> Customer {
        let dir = tempfile::tempdir().unwrap();
        let pem = export_public_key(site, dir.path());
        std::fs::copy(&pem, dir.path().join("readyset-release-signing-key.pem")).unwrap();
        Customer { dir }
    }

    /// RELEASE.md's block that downloads and runs `readyset-check.sh`, pointed at the
    /// emulator over HTTPS (the script's production URLs replaced by its variables).
    fn check(&self, site: &Site, release: Option<&str>) -> Output {
        let script = release_md_block("sh readyset-check.sh")
            .replace("https://launch.readyset.io", &site.https_base_url())
            .replace("v2024.06.1", release.unwrap_or_default());
        system_tool("openssl", "openssl");
        system_tool("curl", "curl");
        let mut command = std::process::Command::new("sh");
        command.args(["-euc", &script]).current_dir(self.dir.path());
        site.trust_https(&mut command, self.dir.path());
        let templates = format!("{}/{}", site.emulator.tls_endpoint(), config().cfn_public_bucket);
        command
            .env("READYSET_CHECK_BASE_URL", site.https_base_url())
            .env("READYSET_CHECK_TEMPLATE_BASE_URL", templates)
            .env("XDG_STATE_HOME", self.dir.path().join("state"))
            .env("TMPDIR", self.dir.path());
        command.output().unwrap()
    }

    /// The check's whole output, with the emulator's URLs and the hashes named.
    fn said(&self, site: &Site, output: &Output) -> String {
        let said = format!("{}{}exit {}\n", text(&output.stdout), text(&output.stderr), output.status.code().unwrap());
        normalise(site, &said)
    }
}

#[test]
fn a_customer_checks_the_current_release_with_the_published_script() {
    let site = two_releases();
    let customer = Customer::of(&site);
    let checked = customer.check(&site, Some("v2"));
    expect![[r#"
        readyset-check: ok: current-release.txt is signed and names release v2 (pointer 2)
        readyset-check: ok: binaries/v2/manifest.json is signed and is the one the pointer names
        readyset-check: ok: readyset-orchestrator.sh is the wrapper of v2
        readyset-check: ok: 10 installers, templates and amis.json are as the manifest lists
        readyset-check: release v2 is what <public>/readyset-orchestrator.sh installs, as signed
        exit 0
    "#]]
    .assert_eq(&customer.said(&site, &checked));

    // Bad input: a plain HTTP URL, no key file, too many arguments; each stops before
    // any download.
    let script = customer.dir.path().join("readyset-check.sh");
    let cases: [BadInput; 3] = [
        (&["readyset-release-signing-key.pem"], &[("READYSET_CHECK_BASE_URL", "http://127.0.0.1:9")]),
        (&["missing.pem"], &[]),
        (&["readyset-release-signing-key.pem", "v2", "v3"], &[]),
    ];
    let mut refused = String::new();
    for (args, env) in cases {
        let output = std::process::Command::new("sh")
            .arg(&script)
            .args(args)
            .envs(env.iter().copied())
            .current_dir(customer.dir.path())
            .output()
            .unwrap();
        refused += &customer.said(&site, &output);
    }
    expect![[r#"
        readyset-check: FAILED: http://127.0.0.1:9 is not an https:// URL; this script downloads over HTTPS only
        exit 1
        readyset-check: FAILED: cannot read the public key missing.pem; save ReadySet's release signing key there
        exit 1
        readyset-check: FAILED: usage: sh readyset-check.sh <release signing key PEM> [release]
        exit 1
    "#]]
    .assert_eq(&refused);
}

/// Each forgery a writer of the buckets could make without the signing key, through
/// the customer's script and through `verify`: each stops both, naming what differs.
#[test]
fn every_forgery_of_a_release_is_refused_by_the_customer_script_and_by_verify() {
    let site = Site::new();
    publish(&site, "v1");
    let old_pointer = site.get("current-release.txt").unwrap();
    publish(&site, "v2");
    let customer = Customer::of(&site);
    let accepted = customer.check(&site, Some("v2"));
    assert!(accepted.status.success(), "{}", customer.said(&site, &accepted));
    let template = "v2/readyset/templates/readyset-vpc.yaml";
    let forgeries: [(&str, Vec<Write>); 5] = [
        (
            "v1's signed manifest under the name v2",
            vec![
                ("", "binaries/v2/manifest.json", site.get("binaries/v1/manifest.json").unwrap()),
                ("", "binaries/v2/manifest.json.sig", site.get("binaries/v1/manifest.json.sig").unwrap()),
            ],
        ),
        (
            "the root wrapper re-pointed at v1",
            vec![("", "readyset-orchestrator.sh", site.get("binaries/v1/readyset-orchestrator.sh").unwrap())],
        ),
        ("a changed template", vec![(&config().cfn_public_bucket, template, b"Resources: {}\n".to_vec())]),
        ("a changed installer", vec![("", "binaries/v2/x86_64-unknown-linux-gnu", b"#!/bin/sh\n".to_vec())]),
        (
            "v1's pointer and wrapper put back",
            vec![
                ("", "current-release.txt", old_pointer.clone()),
                ("", "readyset-orchestrator.sh", site.get("binaries/v1/readyset-orchestrator.sh").unwrap()),
            ],
        ),
    ];
    let mut seen = String::new();
    for (case, writes) in forgeries {
        let kept =
            writes.iter().map(|(bucket, key, _)| (*bucket, *key, get_in(&site, bucket, key))).collect::<Vec<_>>();
        for (bucket, key, bytes) in &writes {
            put_in(&site, bucket, key, bytes);
        }
        seen += &format!("== {case}\n{}", customer.said(&site, &customer.check(&site, None)));
        let verify = site.xtask(&site.verify_args("v2"));
        assert_eq!(verify.status.code(), Some(1), "verify of {case}");
        seen += &text(&verify.stdout)
            .lines()
            .filter(|line| line.contains("FAIL"))
            .map(|l| format!("{l}\n"))
            .collect::<String>();
        for (bucket, key, bytes) in kept {
            put_in(&site, bucket, key, &bytes);
        }
    }
    // A customer who never ran the check has no pointer to compare with: the release
    // name from the announcement is what refuses the old pointer then.
    let fresh = Customer::of(&site);
    site.put("current-release.txt", &old_pointer);
    site.put("readyset-orchestrator.sh", &site.get("binaries/v1/readyset-orchestrator.sh").unwrap());
    seen += &format!(
        "== the same, checked by a new customer who names v2\n{}",
        fresh.said(&site, &fresh.check(&site, Some("v2")))
    );
    expect![[r#"
        == v1's signed manifest under the name v2
        readyset-check: ok: current-release.txt is signed and names release v2 (pointer 2)
        readyset-check: FAILED: binaries/v2/manifest.json is signed, but it is not the manifest the pointer names: another release's manifest under this name
        exit 1
          FAIL manifest names release v1
          FAIL binaries/v2/aarch64-apple-darwin is 39 bytes with sha256 <sha256 #1>
          FAIL binaries/v2/aarch64-apple-darwin.sha256 holds the manifest's checksum
          FAIL binaries/aarch64-apple-darwin serves v2's aarch64-apple-darwin
          FAIL binaries/v2/x86_64-apple-darwin is 38 bytes with sha256 <sha256 #2>
          FAIL binaries/v2/x86_64-apple-darwin.sha256 holds the manifest's checksum
          FAIL binaries/x86_64-apple-darwin serves v2's x86_64-apple-darwin
          FAIL binaries/v2/x86_64-unknown-linux-gnu is 43 bytes with sha256 <sha256 #3>
          FAIL binaries/v2/x86_64-unknown-linux-gnu.sha256 holds the manifest's checksum
          FAIL binaries/x86_64-unknown-linux-gnu serves v2's x86_64-unknown-linux-gnu
          FAIL readyset-orchestrator.sh installs v1 (it names "v2")
          FAIL readyset-orchestrator.sh expects sha256 <sha256 #1> for aarch64-apple-darwin
          FAIL readyset-orchestrator.sh expects sha256 <sha256 #2> for x86_64-apple-darwin
          FAIL readyset-orchestrator.sh expects sha256 <sha256 #3> for x86_64-unknown-linux-gnu
          FAIL readyset-orchestrator.sh is the wrapper the signed manifest lists
          FAIL the pointer names this manifest's SHA-256
          FAIL releases.json lists v2 with this manifest's SHA-256
        == the root wrapper re-pointed at v1
        readyset-check: ok: current-release.txt is signed and names release v2 (pointer 2)
        readyset-check: ok: binaries/v2/manifest.json is signed and is the one the pointer names
        readyset-check: FAILED: readyset-orchestrator.sh has SHA-256 <sha256 #1>, not the <sha256 #2> the pointer names
        exit 1
          FAIL readyset-orchestrator.sh installs v2 (it names "v1")
          FAIL readyset-orchestrator.sh expects sha256 <sha256 #4> for aarch64-apple-darwin
          FAIL readyset-orchestrator.sh expects sha256 <sha256 #5> for x86_64-apple-darwin
          FAIL readyset-orchestrator.sh expects sha256 <sha256 #6> for x86_64-unknown-linux-gnu
          FAIL readyset-orchestrator.sh is the wrapper the signed manifest lists
          FAIL the pointer names the SHA-256 of readyset-orchestrator.sh as served
        == a changed template
        readyset-check: ok: current-release.txt is signed and names release v2 (pointer 2)
        readyset-check: ok: binaries/v2/manifest.json is signed and is the one the pointer names
        readyset-check: ok: readyset-orchestrator.sh is the wrapper of v2
        readyset-check: FAILED: <s3>/readysettech-cfn-public-us-east-2/v2/readyset/templates/readyset-vpc.yaml has SHA-256 <sha256 #1>, not the <sha256 #2> the manifest lists
        exit 1
          FAIL <s3 over http>/readysettech-cfn-public-us-east-2/v2/readyset/templates/readyset-vpc.yaml is the file the signed manifest lists
        == a changed installer
        readyset-check: ok: current-release.txt is signed and names release v2 (pointer 2)
        readyset-check: ok: binaries/v2/manifest.json is signed and is the one the pointer names
        readyset-check: ok: readyset-orchestrator.sh is the wrapper of v2
        readyset-check: FAILED: <public>/binaries/v2/x86_64-unknown-linux-gnu has SHA-256 <sha256 #1>, not the <sha256 #2> the manifest lists
        exit 1
          FAIL binaries/v2/x86_64-unknown-linux-gnu is 43 bytes with sha256 <sha256 #6>
        == v1's pointer and wrapper put back
        readyset-check: FAILED: current-release.txt is pointer 1, older than pointer 2 this machine accepted before: an older pointer was put back
        exit 1
          FAIL readyset-orchestrator.sh installs v2 (it names "v1")
          FAIL readyset-orchestrator.sh expects sha256 <sha256 #4> for aarch64-apple-darwin
          FAIL readyset-orchestrator.sh expects sha256 <sha256 #5> for x86_64-apple-darwin
          FAIL readyset-orchestrator.sh expects sha256 <sha256 #6> for x86_64-unknown-linux-gnu
          FAIL readyset-orchestrator.sh is the wrapper the signed manifest lists
          FAIL the pointer names v2 as the current release
          FAIL the pointer names this manifest's SHA-256
        == the same, checked by a new customer who names v2
        readyset-check: FAILED: the current release is v1 (pointer 1), not v2
        exit 1
    "#]]
    .assert_eq(&normalise(&site, &seen));
}

/// The index of releases grows by one entry per release, signed each time; a rollback
/// and a rerun leave it as it is; `status --all` lists it with the current release; an
/// index changed by anyone but the release key stops `status --all`, `verify` and the
/// next publish.
#[test]
fn the_signed_index_lists_each_release_once_and_status_all_shows_it() {
    let site = Site::new();
    publish(&site, "v1");
    publish(&site, "v2");
    site.xtask_ok(&["rollback", "v1"]);
    publish(&site, "v2");
    site.xtask_ok(&["rollback", "v1"]);
    let index = site.get("releases.json").unwrap();
    let as_json: serde_json::Value = serde_json::from_str(&site.xtask_ok(&["status", "--all", "--json"])).unwrap();
    assert_eq!(as_json["current"], serde_json::json!({"release": "v1", "sequence": 5}));
    assert_eq!(as_json["index"]["releases"].as_array().map(Vec::len), Some(2));
    let published = regex_free_times(&site.xtask_ok(&["status", "--all"]));
    expect![[r#"
        2 release(s) in the index of releases (index 2):
          v1                   commit 0123456789abcdef0123456789abcdef01234567  published <time>  manifest sha256 c07e70cea94b  1 AMI(s), 6 template(s)  <- current (pointer 5)
          v2                   commit 0123456789abcdef0123456789abcdef01234567  published <time>  manifest sha256 289526344cf7  1 AMI(s), 6 template(s)
        The index and the pointer were checked with the emulator's key alias/readyset-release-manifest, standing in for the committed key.
    "#]]
    .assert_eq(&normalise(&site, &published));

    let forged = String::from_utf8(index.clone()).unwrap().replace("ami-0123456789abcdef0", "ami-0badbadbadbadbad0");
    site.put("releases.json", forged.as_bytes());
    let status = site.xtask(&["status", "--all"]);
    let verify = site.xtask(&site.verify_args("v1"));
    let artifacts = synthetic_artifacts("v7");
    site.publish_templates("v7");
    let publish = site.xtask(&["publish-installer", "v7", "--artifacts", artifacts.path().to_str().unwrap()]);
    let said = format!(
        "status --all: {}verify: {}\npublish: {}",
        text(&status.stderr),
        text(&verify.stdout).lines().filter(|line| line.contains("FAIL")).collect::<Vec<_>>().join("\n"),
        text(&publish.stderr)
    );
    expect![[r#"
        status --all: error: s3://readysettech-orchestrator-us-east-2/releases.json is not an index of releases signed by the emulator's key alias/readyset-release-manifest, standing in for the committed key: its signature does not verify. Nothing was written. Find out who wrote it (CloudTrail) before anything else; the index is rebuilt only by an administrator
        verify:   FAIL releases.json is an index of releases signed by the emulator's key alias/readyset-release-manifest, standing in for the committed key (its signature does not verify)
        publish: error: s3://readysettech-orchestrator-us-east-2/releases.json is not an index of releases signed by the emulator's key alias/readyset-release-manifest, standing in for the committed key: its signature does not verify. Nothing was written. Find out who wrote it (CloudTrail) before anything else; the index is rebuilt only by an administrator
    "#]]
    .assert_eq(&normalise(&site, &said));
    assert_eq!(site.get("releases.json").unwrap(), forged.as_bytes(), "nothing was written");
}

/// Before the first release that wrote an index, `status --all` says there is none.
#[test]
fn status_all_without_an_index_says_so() {
    let site = Site::new();
    expect![[r#"
        s3://readysettech-orchestrator-us-east-2/releases.json does not exist: no release was published since the index was added.
    "#]]
    .assert_eq(&site.xtask_ok(&["status", "--all"]));
}

/// KMS signs at most 4096 bytes as they are (the index of releases grows past that after
/// some six releases): a longer message is signed by its digest, and the signature
/// verifies over the message as any other.
#[test]
fn a_message_longer_than_kms_signs_raw_is_signed_by_digest() {
    let site = Site::new();
    let message = "release index entry\n".repeat(400).into_bytes();
    assert!(message.len() > 4096);
    let signature = site.runtime.block_on(site.sign(&message));
    let key = site.runtime.block_on(ReleaseKey::of_kms_key(&site.aws)).unwrap();
    assert!(key.verifies(&message, &signature));
    assert!(!key.verifies(&message[1..], &signature));
}

/// Output with each RFC 3339 time replaced by `<time>`.
fn regex_free_times(text: &str) -> String {
    text.split(' ')
        .map(
            |word| if word.len() == 20 && word.ends_with('Z') && word.as_bytes()[10] == b'T' { "<time>" } else { word },
        )
        .collect::<Vec<_>>()
        .join(" ")
}

/// Arguments and variables the customer's check is run with.
type BadInput<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)]);

/// A forgery's write: bucket (`""` for the orchestrator bucket), key, bytes.
type Write<'a> = (&'a str, &'a str, Vec<u8>);

/// Output with the emulator's URLs and the hashes named.
fn normalise(site: &Site, text: &str) -> String {
    let text = text.replace(&site.https_base_url(), "<public>").replace(&site.emulator.tls_endpoint(), "<s3>");
    number_hashes(&text.replace(&site.emulator.endpoint(), "<s3 over http>"))
}

/// An object of the orchestrator bucket (`""`) or of another.
fn get_in(site: &Site, bucket: &str, key: &str) -> Vec<u8> {
    let bucket = if bucket.is_empty() { site.orchestrator() } else { bucket };
    let request = site.aws.s3.get_object().bucket(bucket).key(key).send();
    site.runtime.block_on(async { request.await.unwrap().body.collect().await.unwrap().into_bytes().to_vec() })
}

fn put_in(site: &Site, bucket: &str, key: &str, bytes: &[u8]) {
    site.put_in(if bucket.is_empty() { site.orchestrator() } else { bucket }, key, bytes);
}

/// `verify` as anyone runs it: no AWS variables at all, the committed key (here the
/// exported emulator key, copied to where the real one is committed), anonymous reads.
fn verify_without_aws(site: &Site, tag: &str, extra: &[&str]) -> Output {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_xtask-aws"));
    clear_aws_environment(&mut command);
    let args = site.verify_args(tag);
    command.args(&args).args(extra).current_dir(site.checkout.path());
    command.output().unwrap()
}

#[test]
fn verify_and_signing_trust_the_committed_key_and_say_how_to_make_one() {
    let site = two_releases();
    let missing = verify_without_aws(&site, "v2", &[]);
    assert_eq!(missing.status.code(), Some(1));
    expect![[r#"
        error: the release signing key's public half is not committed: ops/release-signing-key.pem does not exist, so no signature can be checked. Create the KMS key and commit its public key as RELEASE.md says ("Signing key"); to check against a key file of your own, pass --public-key <PEM>
    "#]]
    .assert_eq(&text(&missing.stderr));

    export_public_key(&site, site.checkout.path());
    let verified = verify_without_aws(&site, "v2", &[]);
    let stdout = expect_success("verify with the committed key", &verified);
    assert!(
        stdout.contains("ok   binaries/v2/manifest.json.sig is a signature of the manifest by the committed key ops/release-signing-key.pem"),
        "{stdout}"
    );

    let other = tempfile::tempdir().unwrap();
    site.aws_cli(&["kms", "create-key", "--key-spec", "ECC_NIST_P256", "--key-usage", "SIGN_VERIFY"]);
    let other_key = other_signing_key(&site);
    repoint_alias(&site, &other_key);
    let wrong = export_public_key(&site, other.path());

    // The alias now names a key whose public half is not the committed one: publish's
    // signing refuses before anything is written.
    let committed = std::fs::read_to_string(site.checkout.path().join("ops/release-signing-key.pem")).unwrap();
    let committed =
        ReleaseKey::from_der(&manifest_signature::pem_public_key(&committed).unwrap(), "the committed key").unwrap();
    let error = site.runtime.block_on(manifest_signature::sign(&site.aws, &committed, b"a manifest")).err().unwrap();
    expect![[r#"KMS key alias/readyset-release-manifest signed the manifest, but the signature does not verify with the committed key: the key the alias names is not the one customers check against. Point the alias at the signing key, or commit that key's public half (RELEASE.md, "Signing key"). Nothing was written"#]].assert_eq(&format!("{error:#}"));
    let refused = verify_without_aws(&site, "v2", &["--public-key", wrong.to_str().unwrap()]);
    assert_eq!(refused.status.code(), Some(1));
    let stdout = text(&refused.stdout).replace(wrong.to_str().unwrap(), "<other key>.pem");
    assert!(
        stdout.contains("FAIL binaries/v2/manifest.json.sig is a signature of the manifest by <other key>.pem"),
        "{stdout}"
    );
    expect![[r#"
        error: release v2 failed 3 check(s):
          - binaries/v2/manifest.json.sig is a signature of the manifest by <other key>.pem
          - current-release.txt is a release pointer signed by <other key>.pem (its signature does not verify)
          - releases.json is an index of releases signed by <other key>.pem (its signature does not verify)
    "#]]
    .assert_eq(&text(&refused.stderr).replace(wrong.to_str().unwrap(), "<other key>.pem"));
}

/// A second P-256 key in the emulator, other than the one the alias names.
fn other_signing_key(site: &Site) -> String {
    let listed = expect_success("aws kms list-keys", &site.aws_cli(&["kms", "list-keys", "--output", "json"]));
    let current = expect_success(
        "aws kms describe-key",
        &site.aws_cli(&["kms", "describe-key", "--key-id", &crate::support::config().signing_key, "--output", "json"]),
    );
    let current: serde_json::Value = serde_json::from_str(&current).unwrap();
    let current = current["KeyMetadata"]["KeyId"].as_str().unwrap().to_owned();
    let listed: serde_json::Value = serde_json::from_str(&listed).unwrap();
    let keys = listed["Keys"].as_array().unwrap().iter().map(|k| k["KeyId"].as_str().unwrap().to_owned());
    keys.into_iter().find(|key| *key != current).expect("a second key")
}

fn repoint_alias(site: &Site, key: &str) {
    let alias = &crate::support::config().signing_key;
    let args = ["kms", "update-alias", "--alias-name", alias, "--target-key-id", key];
    expect_success("aws kms update-alias", &site.aws_cli(&args));
}

/// What `status` shows and `rollback` and `verify` do for a release whose signature is
/// missing, does not match the manifest, or was made by another key. Nothing is written.
#[test]
fn a_missing_forged_or_foreign_signature_is_shown_and_refused() {
    let site = two_releases();
    let (manifest, signature) = (site.get(MANIFEST).unwrap(), site.get(SIGNATURE).unwrap());
    let served = site.get("readyset-orchestrator.sh").unwrap();
    let mut seen = String::new();
    let mut try_all = |case: &str| {
        seen += &format!("== {case}\n");
        let status = site.xtask_ok(&["status", "v1"]);
        seen += status.lines().find(|line| line.contains("signature ")).unwrap();
        seen += "\n";
        let rollback = site.xtask(&["rollback", "v1"]);
        assert_eq!(rollback.status.code(), Some(1), "rollback of a {case}");
        seen += text(&rollback.stderr).lines().next().unwrap();
        seen += "\n";
        let args = site.verify_args("v1");
        let verify = site.xtask(&args);
        assert_eq!(verify.status.code(), Some(1), "verify of a {case}");
        seen += text(&verify.stdout).lines().find(|line| line.contains(".sig")).unwrap();
        seen += "\n";
        assert_eq!(site.get("readyset-orchestrator.sh").unwrap(), served, "rollback wrote nothing");
    };

    site.runtime.block_on(site.aws.s3.delete_object().bucket(site.orchestrator()).key(SIGNATURE).send()).unwrap();
    try_all("missing signature");
    site.put(SIGNATURE, &signature);

    let forged = String::from_utf8(manifest.clone()).unwrap().replace("\"size\": ", "\"size\": 1");
    site.put(MANIFEST, forged.as_bytes());
    try_all("forged manifest");
    site.put(MANIFEST, &manifest);

    site.aws_cli(&["kms", "create-key", "--key-spec", "ECC_NIST_P256", "--key-usage", "SIGN_VERIFY"]);
    repoint_alias(&site, &other_signing_key(&site));
    try_all("signature by another key");
    expect![[r#"
        == missing signature
          missing          signature          s3://readysettech-orchestrator-us-east-2/binaries/v1/manifest.json.sig
        error: refusing to roll back to v1: it is not fully published with a manifest whose signature verifies with the emulator's key alias/readyset-release-manifest, standing in for the committed key, so customers could get a broken or forged install.
          FAIL binaries/v1/manifest.json.sig is a signature of the manifest by the emulator's key alias/readyset-release-manifest, standing in for the committed key
        == forged manifest
          does not verify  signature          s3://readysettech-orchestrator-us-east-2/binaries/v1/manifest.json.sig
        error: refusing to roll back to v1: it is not fully published with a manifest whose signature verifies with the emulator's key alias/readyset-release-manifest, standing in for the committed key, so customers could get a broken or forged install.
          FAIL binaries/v1/manifest.json.sig is a signature of the manifest by the emulator's key alias/readyset-release-manifest, standing in for the committed key
        == signature by another key
          does not verify  signature          s3://readysettech-orchestrator-us-east-2/binaries/v1/manifest.json.sig
        error: refusing to roll back to v1: it is not fully published with a manifest whose signature verifies with the emulator's key alias/readyset-release-manifest, standing in for the committed key, so customers could get a broken or forged install.
          FAIL binaries/v1/manifest.json.sig is a signature of the manifest by the emulator's key alias/readyset-release-manifest, standing in for the committed key
    "#]]
    .assert_eq(&number_hashes(&seen));
}

/// `signing-key export`: the emulator's key lands where `--out` says, once; the
/// committed file is never written from an emulator; another key in the file is kept
/// unless `--replace`; a key that cannot sign releases is refused with nothing written.
#[test]
fn signing_key_export_writes_the_public_half_once_and_refuses_what_cannot_sign() {
    let site = Site::new();
    let dir = tempfile::tempdir().unwrap();
    let pem = dir.path().join("release-signing-key.pem");
    let out = pem.to_str().unwrap();
    let mut seen = String::new();
    let mut run = |args: &[&str]| {
        let output = site.xtask(&[&["signing-key", "export"], args].concat());
        let said = format!("{}{}", text(&output.stdout), text(&output.stderr));
        seen += &format!("$ signing-key export {}\n{}{}\n", args.join(" "), said, output.status);
        output
    };
    assert!(!run(&[]).status.success());
    assert!(!site.checkout.path().join("ops/release-signing-key.pem").exists(), "never the committed file");
    run(&["--out", out, "--dry-run"]);
    assert!(!pem.exists(), "a dry run writes nothing");
    run(&["--out", out]);
    let exported = std::fs::read(&pem).unwrap();
    let openssl = system_tool("openssl", "openssl");
    let parsed = std::process::Command::new(&openssl).args(["pkey", "-pubin", "-noout", "-text", "-in", out]).output();
    assert!(expect_success("openssl pkey", &parsed.unwrap()).contains("NIST CURVE: P-256"));
    run(&["--out", out]);
    assert_eq!(std::fs::read(&pem).unwrap(), exported, "a rerun leaves the file as it is");

    let made = std::process::Command::new(&openssl)
        .args(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"])
        .output()
        .unwrap();
    let mut private = std::process::Command::new(&openssl)
        .args(["pkey", "-pubout", "-out", pem.to_str().unwrap()])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut private.stdin.take().unwrap(), &made.stdout).unwrap();
    assert!(private.wait().unwrap().success());
    let rotated_from = std::fs::read(&pem).unwrap();
    assert!(!run(&["--out", out]).status.success());
    assert_eq!(std::fs::read(&pem).unwrap(), rotated_from, "another key is kept without --replace");
    run(&["--out", out, "--replace"]);
    assert_eq!(std::fs::read(&pem).unwrap(), exported, "--replace writes the KMS key");

    // The alias moved to an RSA key: refused, the file untouched.
    let alias = &crate::support::config().signing_key;
    let described = site.aws_cli(&["kms", "describe-key", "--key-id", alias, "--query", "KeyMetadata.KeyId"]);
    let release_key = expect_success("describe-key", &described).trim().trim_matches('"').to_owned();
    let rsa = site.aws_cli(&["kms", "create-key", "--key-spec", "RSA_2048", "--key-usage", "SIGN_VERIFY"]);
    let rsa: serde_json::Value = serde_json::from_str(&expect_success("create-key", &rsa)).unwrap();
    let rsa = rsa["KeyMetadata"]["KeyId"].as_str().unwrap().to_owned();
    let moved = site.aws_cli(&["kms", "update-alias", "--alias-name", alias, "--target-key-id", &rsa]);
    expect_success("update-alias", &moved);
    assert!(!run(&["--out", out, "--replace"]).status.success());
    assert_eq!(std::fs::read(&pem).unwrap(), exported, "a refused key writes nothing");

    let seen = seen
        .replace(&String::from_utf8(exported).unwrap(), "<pem>\n")
        .replace(out, "<out>")
        .replace(&site.emulator.endpoint(), "<emulator>")
        .replace(&release_key, "<release key>")
        .replace(&rsa, "<rsa key>");
    expect![[r#"
        $ signing-key export 
        error: AWS_ENDPOINT_URL is set (<emulator>): the key there is not the release account's, and ops/release-signing-key.pem must be. Unset AWS_ENDPOINT_URL to export the release key, or pass --out <file> to export this one elsewhere
        exit status: 1
        $ signing-key export --out <out> --dry-run
        Would create <out> with the public half of KMS key <release key> behind alias/readyset-release-manifest (ECC_NIST_P256, SIGN_VERIFY; SHA-256 of its DER <sha256 #1>):
        <pem>
        exit status: 0
        $ signing-key export --out <out>
        Created <out> with the public half of KMS key <release key> behind alias/readyset-release-manifest (ECC_NIST_P256, SIGN_VERIFY; SHA-256 of its DER <sha256 #1>).
        Next: commit it, paste it into RELEASE.md (Signed releases, Signing key) and publish it where customers read it.
        exit status: 0
        $ signing-key export --out <out>
        <out> already holds the public half of KMS key <release key> behind alias/readyset-release-manifest (ECC_NIST_P256, SIGN_VERIFY; SHA-256 of its DER <sha256 #1>); nothing written.
        exit status: 0
        $ signing-key export --out <out>
        error: <out> holds another public key (SHA-256 of its DER <sha256 #2>) than the KMS key <release key> behind alias/readyset-release-manifest (<sha256 #1>). Releases signed before a rotation verify only with the old key: keep it where customers find it (RELEASE.md, Signing key), then rerun with --replace
        exit status: 1
        $ signing-key export --out <out> --replace
        Replaced <out> with the public half of KMS key <release key> behind alias/readyset-release-manifest (ECC_NIST_P256, SIGN_VERIFY; SHA-256 of its DER <sha256 #1>).
        Next: commit it, paste it into RELEASE.md (Signed releases, Signing key) and publish it where customers read it.
        exit status: 0
        $ signing-key export --out <out> --replace
        error: the KMS key <rsa key> behind alias/readyset-release-manifest is RSA_2048 for SIGN_VERIFY; release manifests are signed with an ECC_NIST_P256 key for SIGN_VERIFY. Create such a key and point the alias at it (RELEASE.md, Signing key), then rerun
        exit status: 1
    "#]].assert_eq(&number_hashes(&seen));
}
