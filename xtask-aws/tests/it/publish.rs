//! Publishing the installer against the emulator, over HTTP, through the real CLI.

use expect_test::expect;
use xtask::domain::publishing::digest::sha256_hex;

use crate::support::{
    any_signature_size, config, number_hashes,
    site::{commit_of, real_linux_build, synthetic_artifacts, targets, write_build, write_build_of_commit, Site},
    text, without_waiting, workspace_root, COMMIT,
};

/// Output for a snapshot: hashes numbered, and the size of the wrapper (which follows
/// from its template) named.
fn neutral(site: &Site, output: &str) -> String {
    let mut output = output.to_owned();
    if let Some(wrapper) = site.get("readyset-orchestrator.sh") {
        output = output.replace(&format!("{} bytes", wrapper.len()), "<n> bytes");
    }
    number_hashes(&any_signature_size(&output))
}

#[test]
fn publish_writes_every_object_in_order_with_types_checksums_and_caching() {
    let site = Site::new();
    site.publish_templates("v1");
    let artifacts = synthetic_artifacts("v1");
    let dir = artifacts.path().to_str().unwrap();
    let stdout = site.xtask_ok(&["publish-installer", "v1", "--artifacts", dir]);
    assert_eq!(site.invalidations().len(), 1);
    // The plan it prints first is the dry run's, snapshotted there; this is what follows.
    let stdout = stdout.split_once("\nversioned installers").map(|(_, writes)| writes).unwrap_or(&stdout);
    let stdout = neutral(&site, &without_waiting(&format!("versioned installers{stdout}"), &site.invalidations()));
    expect![[r#"
        versioned installers, checksums and wrapper: writing 8 object(s)
          wrote s3://readysettech-orchestrator-us-east-2/binaries/v1/aarch64-apple-darwin (39 bytes, sha256 <sha256 #1>)
          wrote s3://readysettech-orchestrator-us-east-2/binaries/v1/aarch64-apple-darwin.sha256 (87 bytes, sha256 <sha256 #2>)
          wrote s3://readysettech-orchestrator-us-east-2/binaries/v1/x86_64-apple-darwin (38 bytes, sha256 <sha256 #3>)
          wrote s3://readysettech-orchestrator-us-east-2/binaries/v1/x86_64-apple-darwin.sha256 (86 bytes, sha256 <sha256 #4>)
          wrote s3://readysettech-orchestrator-us-east-2/binaries/v1/x86_64-unknown-linux-gnu (43 bytes, sha256 <sha256 #5>)
          wrote s3://readysettech-orchestrator-us-east-2/binaries/v1/x86_64-unknown-linux-gnu.sha256 (91 bytes, sha256 <sha256 #6>)
          wrote s3://readysettech-orchestrator-us-east-2/binaries/v1/readyset-orchestrator.sh (<n> bytes, sha256 <sha256 #7>)
          wrote s3://readysettech-orchestrator-us-east-2/binaries/v1/readyset-check.sh (7591 bytes, sha256 <sha256 #8>)
        manifest and its signature: writing 2 object(s)
          wrote s3://readysettech-orchestrator-us-east-2/binaries/v1/manifest.json (2028 bytes, sha256 <sha256 #9>)
          wrote s3://readysettech-orchestrator-us-east-2/binaries/v1/manifest.json.sig (<n> bytes, sha256 <sha256 #10>)
        legacy keys (server-side copies): writing 3 object(s)
          wrote s3://readysettech-orchestrator-us-east-2/binaries/aarch64-apple-darwin (39 bytes, sha256 <sha256 #1>)
          wrote s3://readysettech-orchestrator-us-east-2/binaries/x86_64-apple-darwin (38 bytes, sha256 <sha256 #3>)
          wrote s3://readysettech-orchestrator-us-east-2/binaries/x86_64-unknown-linux-gnu (43 bytes, sha256 <sha256 #5>)
        wrapper and the customer's check: writing 2 object(s)
          wrote s3://readysettech-orchestrator-us-east-2/readyset-orchestrator.sh (<n> bytes, sha256 <sha256 #7>)
          wrote s3://readysettech-orchestrator-us-east-2/readyset-check.sh (7591 bytes, sha256 <sha256 #8>)
        signed pointer to the current release: writing 1 object(s)
          wrote s3://readysettech-orchestrator-us-east-2/current-release.txt (338 bytes, sha256 <sha256 #11>)
        signed index of releases: writing 1 object(s)
          wrote s3://readysettech-orchestrator-us-east-2/releases.json (1413 bytes, sha256 <sha256 #12>)
        CloudFront invalidation <invalidation> on EGUPZSIU4Q3J9 for /binaries/aarch64-apple-darwin /binaries/x86_64-apple-darwin /binaries/x86_64-unknown-linux-gnu /current-release.txt /readyset-check.sh /readyset-orchestrator.sh /releases.json
          invalidation <invalidation> completed after <time>

        Published v1: https://launch.readyset.io/readyset-orchestrator.sh now installs it.
        Check it with `cargo xtask verify v1`.
    "#]].assert_eq(&stdout);

    let mut expected: Vec<String> = vec![
        "binaries/v1/manifest.json".into(),
        "binaries/v1/manifest.json.sig".into(),
        "binaries/v1/readyset-check.sh".into(),
        "binaries/v1/readyset-orchestrator.sh".into(),
        "current-release.txt".into(),
        "readyset-check.sh".into(),
        "readyset-orchestrator.sh".into(),
        "releases.json".into(),
    ];
    for (_, name) in targets() {
        expected.extend([
            format!("binaries/v1/{name}"),
            format!("binaries/v1/{name}.sha256"),
            format!("binaries/{name}"),
        ]);
    }
    expected.sort();
    assert_eq!(site.keys(), expected);

    for (index, (_, name)) in targets().iter().enumerate() {
        let local = std::fs::read(artifacts.path().join(format!("agent-{index}/target/dist/v1/{name}"))).unwrap();
        assert_eq!(site.get(&format!("binaries/v1/{name}")).unwrap(), local, "versioned {name}");
        assert_eq!(site.get(&format!("binaries/{name}")).unwrap(), local, "legacy {name}");
        let head = site.head(&format!("binaries/v1/{name}")).unwrap();
        assert_eq!(
            (head.content_type(), head.cache_control()),
            (Some("application/octet-stream"), Some("public, max-age=31536000, immutable"))
        );
        let legacy = site.head(&format!("binaries/{name}")).unwrap();
        assert_eq!(
            (legacy.content_type(), legacy.cache_control()),
            (Some("application/octet-stream"), Some("public, max-age=300"))
        );
        let sum = text(&site.get(&format!("binaries/v1/{name}.sha256")).unwrap());
        assert_eq!(sum, format!("{}  {name}\n", sha256_hex(&local)));
    }
    let manifest: serde_json::Value = serde_json::from_slice(&site.get("binaries/v1/manifest.json").unwrap()).unwrap();
    assert_eq!((manifest["tag"].as_str(), manifest["commit"].as_str()), (Some("v1"), Some(COMMIT)));
    assert_eq!(manifest["installers"].as_array().unwrap().len(), 3);
    assert_eq!(site.head("binaries/v1/manifest.json").unwrap().content_type(), Some("application/json"));
    let wrapper = site.head("readyset-orchestrator.sh").unwrap();
    assert_eq!(
        (wrapper.content_type(), wrapper.cache_control()),
        (Some("text/x-shellscript"), Some("public, max-age=300"))
    );
    let script = text(&site.get("readyset-orchestrator.sh").unwrap());
    assert!(script.contains("readyset_tag=\"v1\"") && !script.contains("@@SHA256"), "every placeholder is filled");
}

#[test]
fn a_rerun_is_a_no_op_and_makes_no_second_invalidation() {
    let site = Site::new();
    site.publish_templates("v1");
    let artifacts = synthetic_artifacts("v1");
    let dir = artifacts.path().to_str().unwrap();
    site.xtask_ok(&["publish-installer", "v1", "--artifacts", dir]);
    let before: Vec<_> =
        site.keys().iter().map(|k| (k.clone(), site.head(k).unwrap().last_modified().cloned())).collect();
    let stdout = site.xtask_ok(&["publish-installer", "v1", "--artifacts", dir]);
    assert_eq!(stdout.matches("nothing to write").count(), 6, "{stdout}");
    let after: Vec<_> =
        site.keys().iter().map(|k| (k.clone(), site.head(k).unwrap().last_modified().cloned())).collect();
    assert_eq!(before, after, "no object was rewritten");
    assert_eq!(site.invalidations().len(), 1, "the retry got the same invalidation back");
}

#[test]
fn changed_bytes_under_a_published_tag_are_refused_and_nothing_moves() {
    let site = Site::new();
    site.publish_templates("v1");
    let artifacts = synthetic_artifacts("v1");
    site.xtask_ok(&["publish-installer", "v1", "--artifacts", artifacts.path().to_str().unwrap()]);
    let wrapper_before = site.get("readyset-orchestrator.sh").unwrap();

    let rebuilt = synthetic_artifacts("v1");
    let (triple, name) = &targets()[0];
    write_build(&rebuilt.path().join("agent-0/target/dist/v1"), "v1", triple, name, b"different bytes");
    let output = site.xtask(&["publish-installer", "v1", "--artifacts", rebuilt.path().to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    expect![[r#"
        error: the index of releases lists v1 with manifest SHA-256 <sha256 #1>, and this publish has <sha256 #2>; published versions never change, so release under a new name
    "#]].assert_eq(&number_hashes(&text(&output.stderr)));
    assert_eq!(site.get("readyset-orchestrator.sh").unwrap(), wrapper_before);
    assert_eq!(site.invalidations().len(), 1);
}

/// Each kind of bad input to a publish, with the exit code and the whole message; none
/// writes anything or makes an invalidation.
#[test]
fn bad_inputs_are_refused_with_nothing_written() {
    let site = Site::new();
    site.publish_templates("v1");
    let mut seen = String::new();
    let mut refuse = |args: &[&str], artifacts: &std::path::Path| {
        let output = site.xtask(args);
        assert!(site.keys().is_empty(), "{args:?} wrote something");
        let shown = |text: &str| number_hashes(&text.replace(artifacts.to_str().unwrap(), "<artifacts>"));
        seen += &format!(
            "$ publish-installer {}\nexit {:?}\n{}\n",
            shown(&args[1..].join(" ")),
            output.status.code(),
            shown(&text(&output.stderr))
        );
    };

    let missing = synthetic_artifacts("v1");
    std::fs::remove_dir_all(missing.path().join("agent-2")).unwrap();
    refuse(&["publish-installer", "v1", "--artifacts", missing.path().to_str().unwrap()], missing.path());

    let tampered = synthetic_artifacts("v1");
    std::fs::write(tampered.path().join("agent-1/target/dist/v1/x86_64-apple-darwin"), b"tampered").unwrap();
    refuse(&["publish-installer", "v1", "--artifacts", tampered.path().to_str().unwrap()], tampered.path());

    let mismatched = synthetic_artifacts("v1");
    let record_path = mismatched.path().join("agent-1/target/dist/v1/x86_64-apple-darwin.json");
    let record = std::fs::read_to_string(&record_path).unwrap().replace(COMMIT, &"f".repeat(40));
    std::fs::write(&record_path, record).unwrap();
    refuse(&["publish-installer", "v1", "--artifacts", mismatched.path().to_str().unwrap()], mismatched.path());

    // The pipeline's second Linux build, with other bytes; then with other compilers.
    let rebuilt = synthetic_artifacts("v1");
    let again = rebuilt.path().join("agent-3/target/dist-again/v1");
    write_build(&again, "v1", "x86_64-unknown-linux-musl", "x86_64-unknown-linux-gnu", b"other bytes");
    refuse(&["publish-installer", "v1", "--artifacts", rebuilt.path().to_str().unwrap()], rebuilt.path());

    let compilers = synthetic_artifacts("v1");
    let record_path = compilers.path().join("agent-1/target/dist/v1/x86_64-apple-darwin.json");
    let record = std::fs::read_to_string(&record_path).unwrap();
    let rustc = &serde_json::from_str::<serde_json::Value>(&record).unwrap()["rustc"].as_str().unwrap().to_owned();
    std::fs::write(&record_path, record.replace(rustc.as_str(), "rustc 1.94.0 (4a4ef493e 2026-03-02)")).unwrap();
    refuse(&["publish-installer", "v1", "--artifacts", compilers.path().to_str().unwrap()], compilers.path());

    let other_tag = synthetic_artifacts("v1");
    refuse(&["publish-installer", "v2", "--artifacts", other_tag.path().to_str().unwrap()], other_tag.path());

    let no_templates = synthetic_artifacts("v3");
    refuse(&["publish-installer", "v3", "--artifacts", no_templates.path().to_str().unwrap()], no_templates.path());

    let not_a_record = synthetic_artifacts("v1");
    std::fs::write(not_a_record.path().join("agent-0/target/dist/v1/x86_64-unknown-linux-gnu.json"), "{\"target\": 1}")
        .unwrap();
    refuse(&["publish-installer", "v1", "--artifacts", not_a_record.path().to_str().unwrap()], not_a_record.path());

    let nowhere = std::path::Path::new("/nonexistent/artifacts");
    refuse(&["publish-installer", "v1", "--artifacts", "/nonexistent/artifacts"], nowhere);
    refuse(&["publish-installer", "v1/../x", "--artifacts", "."], nowhere);
    expect![[r#"
        $ publish-installer v1 --artifacts <artifacts>
        exit Some(1)
        error: refusing to publish v1; nothing was uploaded:
          - no build of aarch64-apple-darwin (expected aarch64-apple-darwin.json from `cargo xtask build-installer --target aarch64-apple-darwin` on a macos host)

        $ publish-installer v1 --artifacts <artifacts>
        exit Some(1)
        error: refusing to publish v1; nothing was uploaded:
          - <artifacts>/agent-1/target/dist/v1/x86_64-apple-darwin.json: the binary beside it is 8 bytes with sha256 <sha256 #1>, but the record says 38 bytes with sha256 <sha256 #2>

        $ publish-installer v1 --artifacts <artifacts>
        exit Some(1)
        error: refusing to publish v1; nothing was uploaded:
          - the builds disagree on commit: 0123456789abcdef0123456789abcdef01234567 in <artifacts>/agent-2/target/dist/v1/aarch64-apple-darwin.json, <artifacts>/agent-0/target/dist/v1/x86_64-unknown-linux-gnu.json; ffffffffffffffffffffffffffffffffffffffff in <artifacts>/agent-1/target/dist/v1/x86_64-apple-darwin.json

        $ publish-installer v1 --artifacts <artifacts>
        exit Some(1)
        error: refusing to publish v1; nothing was uploaded:
          - <artifacts>/agent-0/target/dist/v1/x86_64-unknown-linux-gnu.json and <artifacts>/agent-3/target/dist-again/v1/x86_64-unknown-linux-gnu.json are two builds of x86_64-unknown-linux-musl with different bytes (sha256 <sha256 #1> by test with rustc 1.95.0 (59807616e 2026-04-14); sha256 <sha256 #2> by test with rustc 1.95.0 (59807616e 2026-04-14)): the build is not reproducible or a build machine is not trustworthy; find out which before publishing

        $ publish-installer v1 --artifacts <artifacts>
        exit Some(1)
        error: refusing to publish v1; nothing was uploaded:
          - the builds disagree on the compiler (rust-toolchain.toml pins it): rustc 1.94.0 (4a4ef493e 2026-03-02) in <artifacts>/agent-1/target/dist/v1/x86_64-apple-darwin.json; rustc 1.95.0 (59807616e 2026-04-14) in <artifacts>/agent-2/target/dist/v1/aarch64-apple-darwin.json, <artifacts>/agent-0/target/dist/v1/x86_64-unknown-linux-gnu.json

        $ publish-installer v2 --artifacts <artifacts>
        exit Some(1)
        error: refusing to publish v2; nothing was uploaded:
          - <artifacts>/agent-2/target/dist/v1/aarch64-apple-darwin.json: built with READYSET_TAG "v1", but the release is v2
          - <artifacts>/agent-1/target/dist/v1/x86_64-apple-darwin.json: built with READYSET_TAG "v1", but the release is v2
          - <artifacts>/agent-0/target/dist/v1/x86_64-unknown-linux-gnu.json: built with READYSET_TAG "v1", but the release is v2

        $ publish-installer v3 --artifacts <artifacts>
        exit Some(1)
        error: refusing to publish v3: the installers point at CloudFormation templates that are not published:
          s3://readysettech-cfn-public-us-east-2/v3/readyset/templates/readyset-mysql-super.yaml
          s3://readysettech-cfn-public-us-east-2/v3/readyset/templates/readyset-vpc.yaml
          s3://readysettech-cfn-public-us-east-2/v3/readyset/templates/readyset-server.yaml
          s3://readysettech-cfn-public-us-east-2/v3/readyset/templates/readyset-mysql-adapter.yaml
          s3://readysettech-cfn-public-us-east-2/v3/readyset/templates/readyset-postgres-adapter.yaml
          s3://readysettech-cfn-public-us-east-2/v3/readyset/templates/readyset-bastion.yaml
        Upload them first (`cargo xtask cfn upload --release v3`), or pass --allow-missing-templates if you know they are coming. Nothing was written.

        $ publish-installer v1 --artifacts <artifacts>
        exit Some(1)
        error: <artifacts>/agent-0/target/dist/v1/x86_64-unknown-linux-gnu.json is not a build record of `cargo xtask build-installer`; remove it from the artifacts, or rebuild that target with build-installer
          because: invalid type: integer `1`, expected a string at line 1 column 12

        $ publish-installer v1 --artifacts <artifacts>
        exit Some(1)
        error: the artifacts directory <artifacts> does not exist; pass the directory holding the build-installer outputs (target/dist/<tag> on a build machine, or where the pipeline downloaded them)

        $ publish-installer v1/../x --artifacts .
        exit Some(2)
        error: invalid value 'v1/../x' for '[TAG]': release name "v1/../x" has the character '/' at position 3, which is not allowed (rule: a release name is 1 to 64 characters of ASCII letters, digits, '.', '_' and '-', starts with a letter or digit, contains no '..', does not end with '.' or '.lock' (git refuses such branch names), and is not 'alpha' or 'latest')

        For more information, try '--help'.

    "#]].assert_eq(&seen);
    assert!(site.invalidations().is_empty());
}

#[test]
fn missing_templates_can_be_overridden_with_a_warning() {
    let site = Site::new();
    let artifacts = synthetic_artifacts("v4");
    let dir = artifacts.path().to_str().unwrap();
    let output = site.xtask(&["publish-installer", "v4", "--artifacts", dir, "--allow-missing-templates"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    expect![[r#"

        WARNING: publishing v4 although its installers point at templates that do not exist yet:
          s3://readysettech-cfn-public-us-east-2/v4/readyset/templates/readyset-mysql-super.yaml
          s3://readysettech-cfn-public-us-east-2/v4/readyset/templates/readyset-vpc.yaml
          s3://readysettech-cfn-public-us-east-2/v4/readyset/templates/readyset-server.yaml
          s3://readysettech-cfn-public-us-east-2/v4/readyset/templates/readyset-mysql-adapter.yaml
          s3://readysettech-cfn-public-us-east-2/v4/readyset/templates/readyset-postgres-adapter.yaml
          s3://readysettech-cfn-public-us-east-2/v4/readyset/templates/readyset-bastion.yaml
        Customers who run it before they are uploaded will fail.

    "#]]
    .assert_eq(&text(&output.stderr));
    assert!(site.get("readyset-orchestrator.sh").is_some());
}

#[test]
fn dry_run_prints_the_plan_and_writes_nothing() {
    let site = Site::new();
    site.publish_templates("v1");
    let artifacts = synthetic_artifacts("v1");
    let stdout =
        site.xtask_ok(&["publish-installer", "v1", "--artifacts", artifacts.path().to_str().unwrap(), "--dry-run"]);
    let (plan, wrapper_diff) = stdout.split_once("\nWrapper change").unwrap();
    let rendered_wrapper =
        wrapper_diff.lines().filter_map(|l| l.strip_prefix('+')).skip(1).collect::<Vec<_>>().join("\n") + "\n";
    let plan =
        number_hashes(&any_signature_size(&plan.replace(&format!("{} bytes", rendered_wrapper.len()), "<n> bytes")));
    expect![[r#"
        Signing the manifest with KMS key alias/readyset-release-manifest; the signature is checked with the emulator's key alias/readyset-release-manifest, standing in for the committed key.
        Signing release pointer 1 with KMS key alias/readyset-release-manifest.
        Signing index of releases 1 with KMS key alias/readyset-release-manifest.
        Publish plan for v1 to s3://readysettech-orchestrator-us-east-2 (CFN version v1):
        1. versioned installers, checksums and wrapper
           new                    binaries/v1/aarch64-apple-darwin
                                  39 bytes, sha256 <sha256 #1>, application/octet-stream, public, max-age=31536000, immutable
           new                    binaries/v1/aarch64-apple-darwin.sha256
                                  87 bytes, sha256 <sha256 #2>, text/plain; charset=utf-8, public, max-age=31536000, immutable
           new                    binaries/v1/x86_64-apple-darwin
                                  38 bytes, sha256 <sha256 #3>, application/octet-stream, public, max-age=31536000, immutable
           new                    binaries/v1/x86_64-apple-darwin.sha256
                                  86 bytes, sha256 <sha256 #4>, text/plain; charset=utf-8, public, max-age=31536000, immutable
           new                    binaries/v1/x86_64-unknown-linux-gnu
                                  43 bytes, sha256 <sha256 #5>, application/octet-stream, public, max-age=31536000, immutable
           new                    binaries/v1/x86_64-unknown-linux-gnu.sha256
                                  91 bytes, sha256 <sha256 #6>, text/plain; charset=utf-8, public, max-age=31536000, immutable
           new                    binaries/v1/readyset-orchestrator.sh
                                  <n> bytes, sha256 <sha256 #7>, text/x-shellscript, public, max-age=31536000, immutable
           new                    binaries/v1/readyset-check.sh
                                  7591 bytes, sha256 <sha256 #8>, text/x-shellscript, public, max-age=31536000, immutable
        2. manifest and its signature
           new                    binaries/v1/manifest.json
                                  2028 bytes, sha256 <sha256 #9>, application/json, public, max-age=31536000, immutable
           new                    binaries/v1/manifest.json.sig
                                  <n> bytes, sha256 <sha256 #10>, application/octet-stream, public, max-age=31536000, immutable
        3. legacy keys (server-side copies)
           new                    binaries/aarch64-apple-darwin (copy of binaries/v1/aarch64-apple-darwin)
                                  39 bytes, sha256 <sha256 #1>, application/octet-stream, public, max-age=300
           new                    binaries/x86_64-apple-darwin (copy of binaries/v1/x86_64-apple-darwin)
                                  38 bytes, sha256 <sha256 #3>, application/octet-stream, public, max-age=300
           new                    binaries/x86_64-unknown-linux-gnu (copy of binaries/v1/x86_64-unknown-linux-gnu)
                                  43 bytes, sha256 <sha256 #5>, application/octet-stream, public, max-age=300
        4. wrapper and the customer's check
           new                    readyset-orchestrator.sh
                                  <n> bytes, sha256 <sha256 #7>, text/x-shellscript, public, max-age=300
           new                    readyset-check.sh
                                  7591 bytes, sha256 <sha256 #8>, text/x-shellscript, public, max-age=300
        5. signed pointer to the current release
           new                    current-release.txt
                                  338 bytes, sha256 <sha256 #11>, text/plain; charset=utf-8, public, max-age=300
        6. signed index of releases
           new                    releases.json
                                  1413 bytes, sha256 <sha256 #12>, application/json, public, max-age=300
        7. CloudFront invalidation of /binaries/aarch64-apple-darwin /binaries/x86_64-apple-darwin /binaries/x86_64-unknown-linux-gnu /current-release.txt /readyset-check.sh /readyset-orchestrator.sh /releases.json
    "#]].assert_eq(&plan);
    assert!(
        wrapper_diff.contains("+readyset_tag=\"v1\"")
            && stdout.ends_with("Dry run: nothing was written and no invalidation was made.\n")
    );
    assert!(site.keys().is_empty());
    assert!(site.invalidations().is_empty());
}

#[test]
fn verify_fails_on_a_tampered_object_and_lists_it() {
    let site = Site::new();
    site.publish_templates("v1");
    let artifacts = synthetic_artifacts("v1");
    site.xtask_ok(&["publish-installer", "v1", "--artifacts", artifacts.path().to_str().unwrap()]);
    let stdout = site.verify("v1");
    expect![[r#"
        Verifying release v1 through <base>:
          ok   binaries/v1/manifest.json.sig is a signature of the manifest by the emulator's key alias/readyset-release-manifest, standing in for the committed key
          ok   manifest names release v1
          ok   binaries/v1/aarch64-apple-darwin is 39 bytes with sha256 a40df4795c80a8bc767e3b2567682b5f6e0a924ed16024cb947bf7132fea1551
          ok   binaries/v1/aarch64-apple-darwin.sha256 holds the manifest's checksum
          ok   binaries/aarch64-apple-darwin serves v1's aarch64-apple-darwin
          ok   binaries/v1/x86_64-apple-darwin is 38 bytes with sha256 c99c6d7161a20b9425c5081ad151efae965e20372f3de4cdfd2f797b73688c26
          ok   binaries/v1/x86_64-apple-darwin.sha256 holds the manifest's checksum
          ok   binaries/x86_64-apple-darwin serves v1's x86_64-apple-darwin
          ok   binaries/v1/x86_64-unknown-linux-gnu is 43 bytes with sha256 a5dcd9bfcdc262ec1906008e023dba1dc05e46c9fb6e54deba3df321967e8d2a
          ok   binaries/v1/x86_64-unknown-linux-gnu.sha256 holds the manifest's checksum
          ok   binaries/x86_64-unknown-linux-gnu serves v1's x86_64-unknown-linux-gnu
          ok   readyset-orchestrator.sh installs v1 (it names "v1")
          ok   readyset-orchestrator.sh expects sha256 a40df4795c80a8bc767e3b2567682b5f6e0a924ed16024cb947bf7132fea1551 for aarch64-apple-darwin
          ok   readyset-orchestrator.sh expects sha256 c99c6d7161a20b9425c5081ad151efae965e20372f3de4cdfd2f797b73688c26 for x86_64-apple-darwin
          ok   readyset-orchestrator.sh expects sha256 a5dcd9bfcdc262ec1906008e023dba1dc05e46c9fb6e54deba3df321967e8d2a for x86_64-unknown-linux-gnu
          ok   binaries/v1/readyset-check.sh is the check script the signed manifest lists
          ok   readyset-check.sh is the check script the signed manifest lists
          ok   binaries/v1/readyset-orchestrator.sh is the wrapper the signed manifest lists
          ok   readyset-orchestrator.sh is the wrapper the signed manifest lists
          ok   current-release.txt is signed by the emulator's key alias/readyset-release-manifest, standing in for the committed key: it names v1 (pointer sequence 1)
          ok   the pointer names v1 as the current release
          ok   the pointer names this manifest's SHA-256
          ok   the pointer names the SHA-256 of readyset-orchestrator.sh as served
          ok   releases.json lists v1 with this manifest's SHA-256
          ok   <s3>/readysettech-cfn-public-us-east-2/v1/readyset/templates/amis.json is the file the signed manifest lists
          ok   <s3>/readysettech-cfn-public-us-east-2/v1/readyset/templates/readyset-bastion.yaml is the file the signed manifest lists
          ok   <s3>/readysettech-cfn-public-us-east-2/v1/readyset/templates/readyset-mysql-adapter.yaml is the file the signed manifest lists
          ok   <s3>/readysettech-cfn-public-us-east-2/v1/readyset/templates/readyset-mysql-super.yaml is the file the signed manifest lists
          ok   <s3>/readysettech-cfn-public-us-east-2/v1/readyset/templates/readyset-postgres-adapter.yaml is the file the signed manifest lists
          ok   <s3>/readysettech-cfn-public-us-east-2/v1/readyset/templates/readyset-server.yaml is the file the signed manifest lists
          ok   <s3>/readysettech-cfn-public-us-east-2/v1/readyset/templates/readyset-vpc.yaml is the file the signed manifest lists
        Release v1 verified: 3 installers, wrapper and templates are as published.
    "#]].assert_eq(&stdout.replace(&site.base_url(), "<base>").replace(&site.emulator.endpoint(), "<s3>"));

    site.put("binaries/x86_64-apple-darwin", b"evil");
    site.put("binaries/v1/readyset-orchestrator.sh", b"#!/bin/sh\necho evil\n");
    // Another template (another AMI, another IAM policy) under the signed one's key.
    site.put_in(&config().cfn_public_bucket, "v1/readyset/templates/readyset-server.yaml", b"Description: evil\n");
    let output = site.xtask(&site.verify_args("v1"));
    assert_eq!(output.status.code(), Some(1));
    expect![[r#"
        error: release v1 failed 3 check(s):
          - binaries/x86_64-apple-darwin serves v1's x86_64-apple-darwin
          - binaries/v1/readyset-orchestrator.sh is the wrapper the signed manifest lists
          - <s3>/readysettech-cfn-public-us-east-2/v1/readyset/templates/readyset-server.yaml is the file the signed manifest lists
    "#]]
    .assert_eq(&number_hashes(&text(&output.stderr)).replace(&site.emulator.endpoint(), "<s3>"));

    // Customers' scripts download over HTTPS only; verify too, but from this machine.
    let refused = |flag: &str, url: &str| {
        let output = site.xtask(&["verify", "v1", flag, url]);
        assert_eq!(output.status.code(), Some(2), "{flag} {url}");
        text(&output.stderr).lines().next().unwrap().to_owned() + "\n"
    };
    let report = refused("--base-url", "http://downloads.example.com") + &refused("--s3-url", "http://10.0.0.1:9000");
    expect![[r#"
        error: invalid value 'http://downloads.example.com' for '--base-url <URL>': "http://downloads.example.com" is plain HTTP to another machine: verify checks what customers download, and their scripts refuse anything but HTTPS; use https://, or http:// only to 127.0.0.1, localhost or [::1] (an emulator on this machine)
        error: invalid value 'http://10.0.0.1:9000' for '--s3-url <URL>': "http://10.0.0.1:9000" is plain HTTP to another machine: verify checks what customers download, and their scripts refuse anything but HTTPS; use https://, or http:// only to 127.0.0.1, localhost or [::1] (an emulator on this machine)
    "#]].assert_eq(&report);
}

#[test]
fn rollback_to_a_previous_release_and_forward_again_with_status_on_the_way() {
    let site = Site::new();
    for tag in ["v1", "v2"] {
        site.publish_templates(tag);
        let artifacts = synthetic_artifacts(tag);
        site.xtask_ok(&["publish-installer", tag, "--artifacts", artifacts.path().to_str().unwrap()]);
    }
    let status =
        |tag: &str| -> serde_json::Value { serde_json::from_str(&site.xtask_ok(&["status", tag, "--json"])).unwrap() };
    let live = |tag: &str| (status(tag)["complete"].clone(), status(tag)["live"].clone());
    assert_eq!(live("v2"), (true.into(), true.into()));
    assert_eq!(live("v1"), (true.into(), false.into()));
    expect![[r#"
        Release v1 (CFN version v1): complete, not live: the wrapper or a legacy key serves another release
          present          manifest           s3://readysettech-orchestrator-us-east-2/binaries/v1/manifest.json
          present          signature          s3://readysettech-orchestrator-us-east-2/binaries/v1/manifest.json.sig
          present          template           s3://readysettech-cfn-public-us-east-2/v1/readyset/templates/readyset-mysql-super.yaml
          present          template           s3://readysettech-cfn-public-us-east-2/v1/readyset/templates/readyset-vpc.yaml
          present          template           s3://readysettech-cfn-public-us-east-2/v1/readyset/templates/readyset-server.yaml
          present          template           s3://readysettech-cfn-public-us-east-2/v1/readyset/templates/readyset-mysql-adapter.yaml
          present          template           s3://readysettech-cfn-public-us-east-2/v1/readyset/templates/readyset-postgres-adapter.yaml
          present          template           s3://readysettech-cfn-public-us-east-2/v1/readyset/templates/readyset-bastion.yaml
          present          installer          s3://readysettech-orchestrator-us-east-2/binaries/v1/aarch64-apple-darwin
          present          checksum           s3://readysettech-orchestrator-us-east-2/binaries/v1/aarch64-apple-darwin.sha256
          present          installer          s3://readysettech-orchestrator-us-east-2/binaries/v1/x86_64-apple-darwin
          present          checksum           s3://readysettech-orchestrator-us-east-2/binaries/v1/x86_64-apple-darwin.sha256
          present          installer          s3://readysettech-orchestrator-us-east-2/binaries/v1/x86_64-unknown-linux-gnu
          present          checksum           s3://readysettech-orchestrator-us-east-2/binaries/v1/x86_64-unknown-linux-gnu.sha256
          present          wrapper (kept)     s3://readysettech-orchestrator-us-east-2/binaries/v1/readyset-orchestrator.sh
          serves v2        legacy key         s3://readysettech-orchestrator-us-east-2/binaries/x86_64-unknown-linux-gnu
          serves v2        legacy key         s3://readysettech-orchestrator-us-east-2/binaries/x86_64-apple-darwin
          serves v2        legacy key         s3://readysettech-orchestrator-us-east-2/binaries/aarch64-apple-darwin
          serves v2        wrapper            s3://readysettech-orchestrator-us-east-2/readyset-orchestrator.sh
        The signature was checked with the emulator's key alias/readyset-release-manifest, standing in for the committed key.
    "#]].assert_eq(&site.xtask_ok(&["status", "v1"]));

    let dry = site.xtask_ok(&["rollback", "v1", "--dry-run"]);
    expect![[r#"
        Signing release pointer 3 with KMS key alias/readyset-release-manifest.
        Rollback plan: serve v1 from s3://readysettech-orchestrator-us-east-2:
        1. legacy keys (server-side copies)
           moves from v2          binaries/aarch64-apple-darwin (copy of binaries/v1/aarch64-apple-darwin)
                                  39 bytes, sha256 <sha256 #1>, application/octet-stream, public, max-age=300
           moves from v2          binaries/x86_64-apple-darwin (copy of binaries/v1/x86_64-apple-darwin)
                                  38 bytes, sha256 <sha256 #2>, application/octet-stream, public, max-age=300
           moves from v2          binaries/x86_64-unknown-linux-gnu (copy of binaries/v1/x86_64-unknown-linux-gnu)
                                  43 bytes, sha256 <sha256 #3>, application/octet-stream, public, max-age=300
        2. wrapper and the customer's check
           moves from v2          readyset-orchestrator.sh (copy of binaries/v1/readyset-orchestrator.sh)
                                  <n> bytes, sha256 <sha256 #4>, text/x-shellscript, public, max-age=300
           moves from v2          readyset-check.sh (copy of binaries/v1/readyset-check.sh)
                                  7591 bytes, sha256 <sha256 #5>, text/x-shellscript, public, max-age=300
        3. signed pointer to the current release
           moves from v2          current-release.txt
                                  398 bytes, sha256 <sha256 #6>, text/plain; charset=utf-8, public, max-age=300
        4. CloudFront invalidation of /binaries/aarch64-apple-darwin /binaries/x86_64-apple-darwin /binaries/x86_64-unknown-linux-gnu /current-release.txt /readyset-check.sh /readyset-orchestrator.sh /releases.json

        Dry run: nothing was written and no invalidation was made.
    "#]].assert_eq(&neutral(&site, &dry));
    assert_eq!(status("v2")["live"], true);

    let invalidations = site.invalidations().len();
    site.xtask_ok(&["rollback", "v1"]);
    assert_eq!(live("v1").1, true);
    assert_eq!(live("v2").1, false);
    assert_eq!(site.invalidations().len(), invalidations + 1);
    site.verify("v1");
    assert_eq!(site.xtask(&site.verify_args("v2")).status.code(), Some(1));

    site.xtask_ok(&["rollback", "v2"]);
    assert_eq!(live("v2").1, true);
    assert_eq!(site.invalidations().len(), invalidations + 2, "moving the keys again needs a new invalidation");
    site.verify("v2");

    let artifacts = synthetic_artifacts("v2");
    let again = site.xtask_ok(&["publish-installer", "v2", "--artifacts", artifacts.path().to_str().unwrap()]);
    assert_eq!(
        site.invalidations().len(),
        invalidations + 2,
        "publishing what is already live changes nothing: {again}"
    );
}

#[test]
fn rollback_refuses_an_incomplete_release() {
    let site = Site::new();
    site.publish_templates("v1");
    let artifacts = synthetic_artifacts("v1");
    site.xtask_ok(&["publish-installer", "v1", "--artifacts", artifacts.path().to_str().unwrap()]);
    site.runtime.block_on(async {
        let delete = site.aws.s3.delete_object().bucket(site.orchestrator()).key("binaries/v1/aarch64-apple-darwin");
        delete.send().await.unwrap();
    });
    // The wrapper a rollback would serve again no longer is the one the manifest lists.
    site.put("binaries/v1/readyset-orchestrator.sh", b"#!/bin/sh\necho evil\n");
    let before = site.get("readyset-orchestrator.sh");
    let mut seen = String::new();
    for tag in ["v1", "v0"] {
        let output = site.xtask(&["rollback", tag]);
        assert_eq!(output.status.code(), Some(1));
        seen += &text(&output.stderr);
    }
    expect![[r#"
        error: refusing to roll back to v1: it is not fully published with a manifest whose signature verifies with the emulator's key alias/readyset-release-manifest, standing in for the committed key, so customers could get a broken or forged install.
        Release v1 (CFN version v1): incomplete: objects below are missing or differ
          present          manifest           s3://readysettech-orchestrator-us-east-2/binaries/v1/manifest.json
          present          signature          s3://readysettech-orchestrator-us-east-2/binaries/v1/manifest.json.sig
          present          template           s3://readysettech-cfn-public-us-east-2/v1/readyset/templates/readyset-mysql-super.yaml
          present          template           s3://readysettech-cfn-public-us-east-2/v1/readyset/templates/readyset-vpc.yaml
          present          template           s3://readysettech-cfn-public-us-east-2/v1/readyset/templates/readyset-server.yaml
          present          template           s3://readysettech-cfn-public-us-east-2/v1/readyset/templates/readyset-mysql-adapter.yaml
          present          template           s3://readysettech-cfn-public-us-east-2/v1/readyset/templates/readyset-postgres-adapter.yaml
          present          template           s3://readysettech-cfn-public-us-east-2/v1/readyset/templates/readyset-bastion.yaml
          missing          installer          s3://readysettech-orchestrator-us-east-2/binaries/v1/aarch64-apple-darwin
          present          checksum           s3://readysettech-orchestrator-us-east-2/binaries/v1/aarch64-apple-darwin.sha256
          present          installer          s3://readysettech-orchestrator-us-east-2/binaries/v1/x86_64-apple-darwin
          present          checksum           s3://readysettech-orchestrator-us-east-2/binaries/v1/x86_64-apple-darwin.sha256
          present          installer          s3://readysettech-orchestrator-us-east-2/binaries/v1/x86_64-unknown-linux-gnu
          present          checksum           s3://readysettech-orchestrator-us-east-2/binaries/v1/x86_64-unknown-linux-gnu.sha256
          differs          wrapper (kept)     s3://readysettech-orchestrator-us-east-2/binaries/v1/readyset-orchestrator.sh
          serves v1        legacy key         s3://readysettech-orchestrator-us-east-2/binaries/x86_64-unknown-linux-gnu
          serves v1        legacy key         s3://readysettech-orchestrator-us-east-2/binaries/x86_64-apple-darwin
          serves v1        legacy key         s3://readysettech-orchestrator-us-east-2/binaries/aarch64-apple-darwin
          serves v1        wrapper            s3://readysettech-orchestrator-us-east-2/readyset-orchestrator.sh
        Nothing was written.
        error: refusing to roll back to v0: it is not fully published with a manifest whose signature verifies with the emulator's key alias/readyset-release-manifest, standing in for the committed key, so customers could get a broken or forged install.
        Release v0 (CFN version v0): incomplete: objects below are missing or differ
          missing          manifest           s3://readysettech-orchestrator-us-east-2/binaries/v0/manifest.json
          missing          signature          s3://readysettech-orchestrator-us-east-2/binaries/v0/manifest.json.sig
          missing          template           s3://readysettech-cfn-public-us-east-2/v0/readyset/templates/readyset-mysql-super.yaml
          missing          template           s3://readysettech-cfn-public-us-east-2/v0/readyset/templates/readyset-vpc.yaml
          missing          template           s3://readysettech-cfn-public-us-east-2/v0/readyset/templates/readyset-server.yaml
          missing          template           s3://readysettech-cfn-public-us-east-2/v0/readyset/templates/readyset-mysql-adapter.yaml
          missing          template           s3://readysettech-cfn-public-us-east-2/v0/readyset/templates/readyset-postgres-adapter.yaml
          missing          template           s3://readysettech-cfn-public-us-east-2/v0/readyset/templates/readyset-bastion.yaml
          missing          installer          s3://readysettech-orchestrator-us-east-2/binaries/v0/x86_64-unknown-linux-gnu
          missing          checksum           s3://readysettech-orchestrator-us-east-2/binaries/v0/x86_64-unknown-linux-gnu.sha256
          missing          installer          s3://readysettech-orchestrator-us-east-2/binaries/v0/x86_64-apple-darwin
          missing          checksum           s3://readysettech-orchestrator-us-east-2/binaries/v0/x86_64-apple-darwin.sha256
          missing          installer          s3://readysettech-orchestrator-us-east-2/binaries/v0/aarch64-apple-darwin
          missing          checksum           s3://readysettech-orchestrator-us-east-2/binaries/v0/aarch64-apple-darwin.sha256
          missing          wrapper (kept)     s3://readysettech-orchestrator-us-east-2/binaries/v0/readyset-orchestrator.sh
          serves v1        legacy key         s3://readysettech-orchestrator-us-east-2/binaries/x86_64-unknown-linux-gnu
          serves v1        legacy key         s3://readysettech-orchestrator-us-east-2/binaries/x86_64-apple-darwin
          serves v1        legacy key         s3://readysettech-orchestrator-us-east-2/binaries/aarch64-apple-darwin
          serves v1        wrapper            s3://readysettech-orchestrator-us-east-2/readyset-orchestrator.sh
        Nothing was written.
    "#]].assert_eq(&seen);
    assert_eq!(site.get("readyset-orchestrator.sh"), before);
}

#[test]
fn publishes_the_real_build_installer_output_and_a_large_installer_in_parts() {
    let site = Site::new();
    let artifacts = tempfile::tempdir().unwrap();
    let tag = real_linux_build(&artifacts.path().join("linux"));
    let commit = commit_of(&artifacts.path().join("linux/x86_64-unknown-linux-gnu.json"));
    site.publish_templates(&tag);
    // 101 MiB: above the multipart threshold (100 MiB), so it goes up in 8 MiB parts.
    let large: Vec<u8> = (0..101 * 1024 * 1024u32).map(|i| (i.wrapping_mul(2654435761) >> 24) as u8).collect();
    let targets = targets();
    write_build_of_commit(&artifacts.path().join("mac"), &tag, &commit, &targets[1].0, &targets[1].1, &large);
    write_build_of_commit(&artifacts.path().join("mac"), &tag, &commit, &targets[2].0, &targets[2].1, b"arm");
    let dir = artifacts.path().to_str().unwrap();
    let output = site.xtask(&["publish-installer", &tag, "--artifacts", dir, "--allow-dirty"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let log = text(&output.stderr);
    assert!(log.contains("uploaded part 13 of 13 of binaries/"), "plain progress lines when not on a terminal: {log}");
    assert_eq!(site.get(&format!("binaries/{tag}/x86_64-apple-darwin")).unwrap(), large);
    assert_eq!(site.get("binaries/x86_64-apple-darwin").unwrap(), large, "the legacy copy of a multipart object");
    let linux = std::fs::read(artifacts.path().join("linux/x86_64-unknown-linux-gnu")).unwrap();
    assert_eq!(site.get(&format!("binaries/{tag}/x86_64-unknown-linux-gnu")).unwrap(), linux);
    site.verify(&tag);

    let dirty_refused = site.xtask(&["publish-installer", &tag, "--artifacts", dir]);
    let record: xtask::domain::publishing::build_record::BuildRecord =
        serde_json::from_slice(&std::fs::read(artifacts.path().join("linux/x86_64-unknown-linux-gnu.json")).unwrap())
            .unwrap();
    if record.dirty {
        assert_eq!(dirty_refused.status.code(), Some(1));
        assert!(text(&dirty_refused.stderr).contains("pass --allow-dirty"));
    } else {
        assert!(dirty_refused.status.success(), "{}", text(&dirty_refused.stderr));
    }
}

#[test]
fn in_buildkite_customer_facing_writes_happen_only_on_main() {
    let site = Site::new();
    site.publish_templates("v1");
    let artifacts = synthetic_artifacts("v1");
    let dir = artifacts.path().to_str().unwrap();
    let branch = [("BUILDKITE", "true"), ("BUILDKITE_BRANCH", "feature/faster-joins")];
    let publish = site.xtask_with_env(&["publish-installer", "v1", "--artifacts", dir], &branch);
    let upload = site.xtask_with_env(&["cfn", "upload", "--dir", dir, "--release", "v1"], &branch);
    assert_eq!((publish.status.code(), upload.status.code()), (Some(1), Some(1)));
    expect![[r#"
        error: refusing to publish release v1 from a build of branch "feature/faster-joins": customer releases come from main only. Nothing was written.
        error: refusing to upload the templates of release v1 from a build of branch "feature/faster-joins": customer releases come from main only. Nothing was written.
    "#]].assert_eq(&(text(&publish.stderr) + &text(&upload.stderr)));
    assert!(site.keys().is_empty());
    let dry_run = site.xtask_with_env(&["publish-installer", "v1", "--artifacts", dir, "--dry-run"], &branch);
    assert!(dry_run.status.success(), "a dry run is allowed anywhere: {}", text(&dry_run.stderr));

    // On main it publishes, and annotates the build through buildkite-agent (the
    // rehearsal's stand-in here, which keeps annotations in a directory).
    let agent = tempfile::tempdir().unwrap();
    std::fs::copy(workspace_root().join("xtask-aws/emulator/buildkite-agent"), agent.path().join("buildkite-agent"))
        .unwrap();
    let path = format!("{}:{}", agent.path().display(), std::env::var("PATH").unwrap());
    let rehearsal_dir = agent.path().display().to_string();
    let main =
        [("BUILDKITE", "true"), ("BUILDKITE_BRANCH", "main"), ("PATH", &path), ("REHEARSAL_DIR", &rehearsal_dir)];
    let output = site.xtask_with_env(&["publish-installer", "v1", "--artifacts", dir], &main);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let annotation = std::fs::read_to_string(agent.path().join("annotations/build.md")).unwrap();
    expect![[r#"
        ### Release v1 published

        Install: `curl -fsSL https://launch.readyset.io/readyset-orchestrator.sh | sh`

        | installer | size | sha256 |
        |---|---|---|
        | [aarch64-apple-darwin](https://launch.readyset.io/binaries/v1/aarch64-apple-darwin) | 39 | `<sha256 #1>` |
        | [x86_64-apple-darwin](https://launch.readyset.io/binaries/v1/x86_64-apple-darwin) | 38 | `<sha256 #2>` |
        | [x86_64-unknown-linux-gnu](https://launch.readyset.io/binaries/v1/x86_64-unknown-linux-gnu) | 43 | `<sha256 #3>` |

        Manifest: https://launch.readyset.io/binaries/v1/manifest.json

        Templates:
        - https://readysettech-cfn-public-us-east-2.s3.us-east-2.amazonaws.com/v1/readyset/templates/readyset-mysql-super.yaml
        - https://readysettech-cfn-public-us-east-2.s3.us-east-2.amazonaws.com/v1/readyset/templates/readyset-vpc.yaml
        - https://readysettech-cfn-public-us-east-2.s3.us-east-2.amazonaws.com/v1/readyset/templates/readyset-server.yaml
        - https://readysettech-cfn-public-us-east-2.s3.us-east-2.amazonaws.com/v1/readyset/templates/readyset-mysql-adapter.yaml
        - https://readysettech-cfn-public-us-east-2.s3.us-east-2.amazonaws.com/v1/readyset/templates/readyset-postgres-adapter.yaml
        - https://readysettech-cfn-public-us-east-2.s3.us-east-2.amazonaws.com/v1/readyset/templates/readyset-bastion.yaml
    "#]].assert_eq(&number_hashes(&annotation));
}

#[test]
fn a_large_upload_shows_a_progress_bar_on_a_terminal() {
    let site = Site::new();
    site.publish_templates("v1");
    let artifacts = synthetic_artifacts("v1");
    // Above the multipart threshold (100 MiB): smaller files go up in one request.
    let large: Vec<u8> = (0..101 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    let (triple, name) = &targets()[1];
    write_build(&artifacts.path().join("agent-1/target/dist/v1"), "v1", triple, name, &large);
    // `script` (util-linux) runs the command on a pseudo-terminal, as a person's shell does.
    let command =
        format!("{} publish-installer v1 --artifacts {}", env!("CARGO_BIN_EXE_xtask-aws"), artifacts.path().display());
    let output = site
        .command(crate::support::system_tool("script", "bsdutils"))
        .args(["--quiet", "--return", "--command", &command, "/dev/null"])
        .current_dir(site.checkout.path())
        .output()
        .unwrap();
    let screen = text(&output.stdout);
    assert!(output.status.success(), "{screen}");
    assert!(
        screen.contains("binaries/v1/x86_64-apple-darwin [") && screen.contains("101.00 MiB/101.00 MiB"),
        "{screen}"
    );
    assert!(!screen.contains("uploaded part 1 of 13"), "plain lines are for logs, not terminals: {screen}");
    assert_eq!(site.get("binaries/v1/x86_64-apple-darwin").unwrap(), large);
}

/// Bytes are judged by S3 (its validated SHA-256 checksum, or the bytes hashed), never
/// by the label the xtask writes: an installer replaced with other bytes under the old
/// `sha256` label is reported by `status` and refused by `rollback`.
#[test]
fn a_replaced_installer_with_the_old_label_is_caught_by_status_and_rollback() {
    let site = Site::new();
    for tag in ["v1", "v2"] {
        site.publish_templates(tag);
        let artifacts = synthetic_artifacts(tag);
        site.xtask_ok(&["publish-installer", tag, "--artifacts", artifacts.path().to_str().unwrap()]);
    }
    let key = "binaries/v1/x86_64-unknown-linux-gnu";
    let label = site.head(key).unwrap().metadata().unwrap()["sha256"].clone();
    let request = site
        .aws
        .s3
        .put_object()
        .bucket(site.orchestrator())
        .key(key)
        .metadata("sha256", &label)
        .metadata("readyset-tag", "v1")
        .body(b"#!/bin/sh\necho other bytes\n".to_vec().into());
    site.runtime.block_on(request.send()).unwrap();
    let status = site.xtask(&["status", "v1"]);
    let shown = text(&status.stdout);
    let line = shown.lines().find(|line| line.contains(key)).unwrap();
    assert!(line.trim_start().starts_with("differs"), "{shown}");
    let refused = site.xtask(&["rollback", "v1", "--left-out-keys", "keep"]);
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused.stdout));
    assert!(text(&refused.stderr).contains("refusing to roll back to v1"), "{}", text(&refused.stderr));
    assert!(text(&site.get("readyset-orchestrator.sh").unwrap()).contains("readyset_tag=\"v2\""), "nothing moved");
}
