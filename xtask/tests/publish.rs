//! Publishing the installer against the emulator, over HTTP, through the real CLI.

mod support;

use support::site::{
    commit_of, real_linux_build, synthetic_artifacts, write_build, write_build_of_commit, Site, COMMIT, ORCHESTRATOR,
    TARGETS,
};

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn publish_writes_every_object_in_order_with_types_checksums_and_caching() {
    let site = Site::new();
    site.publish_templates("v1");
    let artifacts = synthetic_artifacts("v1");
    let dir = artifacts.path().to_str().unwrap();
    let stdout = site.xtask_ok(&["publish-installer", "v1", "--artifacts", dir]);
    assert!(stdout.contains("Published v1"), "{stdout}");

    let mut keys = site.keys();
    keys.sort();
    let mut expected: Vec<String> = vec![
        "binaries/v1/manifest.json".into(),
        "binaries/v1/readyset-orchestrator.sh".into(),
        "readyset-orchestrator.sh".into(),
    ];
    for (_, name) in TARGETS {
        expected.push(format!("binaries/v1/{name}"));
        expected.push(format!("binaries/v1/{name}.sha256"));
        expected.push(format!("binaries/{name}"));
    }
    expected.sort();
    assert_eq!(keys, expected);

    for (_, name) in TARGETS {
        let local = std::fs::read(
            artifacts
                .path()
                .join(format!("agent-{}/target/dist/v1/{name}", TARGETS.iter().position(|t| t.1 == name).unwrap())),
        )
        .unwrap();
        assert_eq!(site.get(&format!("binaries/v1/{name}")).unwrap(), local, "versioned {name}");
        assert_eq!(site.get(&format!("binaries/{name}")).unwrap(), local, "legacy {name}");
        let head = site.head(&format!("binaries/v1/{name}")).unwrap();
        assert_eq!(head.content_type(), Some("application/octet-stream"));
        assert_eq!(head.cache_control(), Some("public, max-age=31536000, immutable"));
        let legacy = site.head(&format!("binaries/{name}")).unwrap();
        assert_eq!(legacy.content_type(), Some("application/octet-stream"));
        assert_eq!(legacy.cache_control(), Some("public, max-age=300"));
        let sum = text(&site.get(&format!("binaries/v1/{name}.sha256")).unwrap());
        assert_eq!(sum, format!("{}  {name}\n", xtask::domain::build_record::sha256_hex(&local)));
    }
    let manifest: serde_json::Value = serde_json::from_slice(&site.get("binaries/v1/manifest.json").unwrap()).unwrap();
    assert_eq!(manifest["tag"], "v1");
    assert_eq!(manifest["commit"], COMMIT);
    assert_eq!(manifest["installers"].as_array().unwrap().len(), 3);
    assert_eq!(site.head("binaries/v1/manifest.json").unwrap().content_type(), Some("application/json"));
    let wrapper = site.head("readyset-orchestrator.sh").unwrap();
    assert_eq!(wrapper.content_type(), Some("text/x-shellscript"));
    assert_eq!(wrapper.cache_control(), Some("public, max-age=300"));
    let script = text(&site.get("readyset-orchestrator.sh").unwrap());
    assert!(script.contains("readyset_tag=\"v1\""));
    assert!(!script.contains("@@SHA256"), "every checksum is filled in");
    assert_eq!(site.invalidations().len(), 1);
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
    assert_eq!(stdout.matches("nothing to write").count(), 4, "{stdout}");
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
    write_build(&rebuilt.path().join("agent-0/target/dist/v1"), "v1", TARGETS[0].0, TARGETS[0].1, b"different bytes");
    let output = site.xtask(&["publish-installer", "v1", "--artifacts", rebuilt.path().to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("binaries/v1/x86_64-unknown-linux-gnu already holds sha256"), "{stderr}");
    assert!(
        stderr.contains(&xtask::domain::build_record::sha256_hex(b"different bytes")),
        "names both checksums: {stderr}"
    );
    assert!(stderr.contains("Nothing was written"), "{stderr}");
    assert_eq!(site.get("readyset-orchestrator.sh").unwrap(), wrapper_before);
    assert_eq!(site.invalidations().len(), 1);
}

#[test]
fn bad_inputs_are_refused_with_nothing_written() {
    let site = Site::new();
    site.publish_templates("v1");
    let refuse = |args: &[&str], phrase: &str| {
        let output = site.xtask(args);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {}", text(&output.stdout));
        let stderr = text(&output.stderr);
        assert!(stderr.contains(phrase), "{args:?}: expected {phrase:?} in {stderr}");
        assert!(site.keys().is_empty(), "{args:?} wrote something");
    };

    let missing = synthetic_artifacts("v1");
    std::fs::remove_dir_all(missing.path().join("agent-2")).unwrap();
    refuse(
        &["publish-installer", "v1", "--artifacts", missing.path().to_str().unwrap()],
        "no build of aarch64-apple-darwin",
    );

    let tampered = synthetic_artifacts("v1");
    std::fs::write(tampered.path().join("agent-1/target/dist/v1/x86_64-apple-darwin"), b"tampered").unwrap();
    refuse(
        &["publish-installer", "v1", "--artifacts", tampered.path().to_str().unwrap()],
        "the binary beside it is 8 bytes",
    );

    let mismatched = synthetic_artifacts("v1");
    let record_path = mismatched.path().join("agent-1/target/dist/v1/x86_64-apple-darwin.json");
    let record = std::fs::read_to_string(&record_path).unwrap().replace(COMMIT, &"f".repeat(40));
    std::fs::write(&record_path, record).unwrap();
    refuse(
        &["publish-installer", "v1", "--artifacts", mismatched.path().to_str().unwrap()],
        "the builds disagree on commit",
    );

    let other_tag = synthetic_artifacts("v1");
    refuse(
        &["publish-installer", "v2", "--artifacts", other_tag.path().to_str().unwrap()],
        "built with READYSET_TAG \"v1\", but the release is v2",
    );

    let no_templates = synthetic_artifacts("v3");
    refuse(
        &["publish-installer", "v3", "--artifacts", no_templates.path().to_str().unwrap()],
        "CloudFormation templates that are not published",
    );

    refuse(&["publish-installer", "v1", "--artifacts", "/nonexistent/artifacts"], "does not exist");

    let bad_tag = site.xtask(&["publish-installer", "v1/../x", "--artifacts", "."]);
    assert_eq!(bad_tag.status.code(), Some(2));
    assert!(text(&bad_tag.stderr).contains("not allowed"));
    assert!(site.invalidations().is_empty());
}

#[test]
fn missing_templates_can_be_overridden_with_a_warning() {
    let site = Site::new();
    let artifacts = synthetic_artifacts("v4");
    let output = site.xtask(&[
        "publish-installer",
        "v4",
        "--artifacts",
        artifacts.path().to_str().unwrap(),
        "--allow-missing-templates",
    ]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(text(&output.stderr)
        .contains("WARNING: publishing v4 although its installers point at templates that do not exist"));
    assert!(site.get("readyset-orchestrator.sh").is_some());
}

#[test]
fn dry_run_prints_the_plan_and_writes_nothing() {
    let site = Site::new();
    site.publish_templates("v1");
    let artifacts = synthetic_artifacts("v1");
    let stdout =
        site.xtask_ok(&["publish-installer", "v1", "--artifacts", artifacts.path().to_str().unwrap(), "--dry-run"]);
    for phrase in [
        "new                    binaries/v1/x86_64-unknown-linux-gnu",
        "binaries/x86_64-apple-darwin (copy of binaries/v1/x86_64-apple-darwin)",
        "application/octet-stream, public, max-age=31536000, immutable",
        "CloudFront invalidation of /binaries/aarch64-apple-darwin /binaries/x86_64-apple-darwin /binaries/x86_64-unknown-linux-gnu /readyset-orchestrator.sh",
        "+readyset_tag=\"v1\"",
        "Dry run: nothing was written",
    ] {
        assert!(stdout.contains(phrase), "expected {phrase:?} in\n{stdout}");
    }
    assert!(site.keys().is_empty());
    assert!(site.invalidations().is_empty());
}

#[test]
fn an_interrupted_publish_completes_when_run_again() {
    // Stop after N writes for every N up to the whole publish, then run it again.
    let total_writes = 3 * 3 + 2 + 1;
    for stop_after in [1, 5, 7, 9, 10, 11] {
        let site = Site::new();
        site.publish_templates("v1");
        let artifacts = synthetic_artifacts("v1");
        let workspace = xtask::adapters::workspace::Workspace::at(site.checkout.path()).unwrap();
        let config = workspace.config.clone();
        let interrupted = site.runtime.block_on(async {
            let plan = publish_plan_for(&site, &config, artifacts.path(), "v1").await;
            assert_eq!(plan.writes(), total_writes);
            let bucket = xtask::adapters::s3::Bucket::new(&site.aws.s3, ORCHESTRATOR);
            xtask::adapters::publisher::execute(&bucket, &plan, Some(stop_after)).await
        });
        assert!(interrupted.unwrap_err().to_string().contains(&format!("stopped after {stop_after} writes")));
        assert_eq!(site.keys().len(), stop_after, "exactly {stop_after} objects were written");
        if stop_after < 11 {
            assert!(site.get("readyset-orchestrator.sh").is_none(), "customers stay on the previous release");
        }

        let stdout = site.xtask_ok(&["publish-installer", "v1", "--artifacts", artifacts.path().to_str().unwrap()]);
        assert!(stdout.contains("Published v1"), "{stdout}");
        assert_eq!(site.keys().len(), total_writes);
        assert_eq!(site.invalidations().len(), 1);
        site.xtask_ok(&["verify", "v1", "--base-url", &site.base_url()]);
    }
}

async fn publish_plan_for(
    site: &Site,
    config: &xtask::domain::config::ReleaseConfig,
    artifacts: &std::path::Path,
    tag: &str,
) -> xtask::domain::publish_plan::PublishPlan {
    use std::collections::BTreeMap;
    use xtask::domain::{publish_plan, release_manifest::ReleaseManifest, tag::ReleaseTag, wrapper};
    let tag = ReleaseTag::parse(tag).unwrap();
    let collected = xtask::adapters::artifacts::collect(artifacts, config).unwrap();
    let builds: Vec<_> = collected.iter().map(|(b, _)| b.clone()).collect();
    let manifest = ReleaseManifest::assemble(&tag, config, &builds, &[], false).unwrap();
    let binaries: BTreeMap<_, _> =
        collected.iter().map(|(b, p)| (b.record.published_name.clone(), p.clone())).collect();
    let sums = manifest.installers.iter().map(|e| (e.published_name.clone(), Some(e.sha256.clone()))).collect();
    let template = std::fs::read_to_string(site.checkout.path().join("installer/readyset-orchestrator.sh")).unwrap();
    let rendered = wrapper::render(&template, &tag, &config.public_base_url, &sums).unwrap();
    let stages = publish_plan::desired_objects(&manifest, &tag, &binaries, &rendered);
    publish_plan::plan(&tag, stages, &BTreeMap::new())
}

#[test]
fn verify_fails_on_a_tampered_object_and_lists_it() {
    let site = Site::new();
    site.publish_templates("v1");
    let artifacts = synthetic_artifacts("v1");
    site.xtask_ok(&["publish-installer", "v1", "--artifacts", artifacts.path().to_str().unwrap()]);
    let stdout = site.xtask_ok(&["verify", "v1", "--base-url", &site.base_url()]);
    assert!(stdout.contains("Release v1 verified: 3 installers"), "{stdout}");

    site.runtime.block_on(async {
        site.aws
            .s3
            .put_object()
            .bucket(ORCHESTRATOR)
            .key("binaries/x86_64-apple-darwin")
            .body(b"evil".to_vec().into())
            .send()
            .await
            .unwrap();
    });
    let output = site.xtask(&["verify", "v1", "--base-url", &site.base_url()]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("release v1 failed 1 check(s)"), "{stderr}");
    assert!(stderr.contains("binaries/x86_64-apple-darwin serves v1's x86_64-apple-darwin"), "{stderr}");
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
    assert_eq!((status("v2")["complete"].clone(), status("v2")["live"].clone()), (true.into(), true.into()));
    assert_eq!((status("v1")["complete"].clone(), status("v1")["live"].clone()), (true.into(), false.into()));
    let table = site.xtask_ok(&["status", "v1"]);
    assert!(table.contains("Release v1 (CFN version v1): complete, not live"), "{table}");
    let wrapper_line = table
        .lines()
        .find(|line| line.ends_with("s3://readysettech-orchestrator-us-east-2/readyset-orchestrator.sh"))
        .unwrap();
    assert!(wrapper_line.trim_start().starts_with("serves v2") && wrapper_line.contains(" wrapper "), "{table}");

    let dry = site.xtask_ok(&["rollback", "v1", "--dry-run"]);
    assert!(dry.contains("moves from v2") && dry.contains("Dry run"), "{dry}");
    assert_eq!(status("v2")["live"], true);

    let invalidations = site.invalidations().len();
    site.xtask_ok(&["rollback", "v1"]);
    assert_eq!(status("v1")["live"], true);
    assert_eq!(status("v2")["live"], false);
    assert_eq!(site.invalidations().len(), invalidations + 1);
    site.xtask_ok(&["verify", "v1", "--base-url", &site.base_url()]);
    assert!(site.xtask(&["verify", "v2", "--base-url", &site.base_url()]).status.code() == Some(1));

    site.xtask_ok(&["rollback", "v2"]);
    assert_eq!(status("v2")["live"], true);
    assert_eq!(site.invalidations().len(), invalidations + 2, "moving the keys again needs a new invalidation");
    site.xtask_ok(&["verify", "v2", "--base-url", &site.base_url()]);

    let artifacts = synthetic_artifacts("v2");
    site.xtask_ok(&["publish-installer", "v2", "--artifacts", artifacts.path().to_str().unwrap()]);
    assert_eq!(site.invalidations().len(), invalidations + 2, "publishing what is already live changes nothing");
}

#[test]
fn rollback_refuses_an_incomplete_release() {
    let site = Site::new();
    site.publish_templates("v1");
    let artifacts = synthetic_artifacts("v1");
    site.xtask_ok(&["publish-installer", "v1", "--artifacts", artifacts.path().to_str().unwrap()]);
    site.runtime.block_on(async {
        site.aws.s3.delete_object().bucket(ORCHESTRATOR).key("binaries/v1/aarch64-apple-darwin").send().await.unwrap();
    });
    let before = site.get("readyset-orchestrator.sh");
    for tag in ["v1", "v0"] {
        let output = site.xtask(&["rollback", tag]);
        assert_eq!(output.status.code(), Some(1));
        let stderr = text(&output.stderr);
        assert!(stderr.contains(&format!("refusing to roll back to {tag}: it is not fully published")), "{stderr}");
        assert!(stderr.contains("missing"), "{stderr}");
    }
    assert_eq!(site.get("readyset-orchestrator.sh"), before);
}

#[test]
fn publishes_the_real_build_installer_output_and_a_large_installer_in_parts() {
    let site = Site::new();
    let artifacts = tempfile::tempdir().unwrap();
    let tag = real_linux_build(&artifacts.path().join("linux"));
    let commit = commit_of(&artifacts.path().join("linux/x86_64-unknown-linux-gnu.json"));
    site.publish_templates(&tag);
    // 17 MiB: above the multipart threshold, so it goes up in three parts.
    let large: Vec<u8> = (0..17 * 1024 * 1024u32).map(|i| (i.wrapping_mul(2654435761) >> 24) as u8).collect();
    write_build_of_commit(&artifacts.path().join("mac"), &tag, &commit, TARGETS[1].0, TARGETS[1].1, &large);
    write_build_of_commit(&artifacts.path().join("mac"), &tag, &commit, TARGETS[2].0, TARGETS[2].1, b"arm");
    let output =
        site.xtask(&["publish-installer", &tag, "--artifacts", artifacts.path().to_str().unwrap(), "--allow-dirty"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let log = text(&output.stderr);
    assert!(log.contains("uploaded part 3 of 3 of binaries/"), "plain progress lines when not on a terminal: {log}");
    assert_eq!(site.get(&format!("binaries/{tag}/x86_64-apple-darwin")).unwrap(), large);
    assert_eq!(site.get("binaries/x86_64-apple-darwin").unwrap(), large, "the legacy copy of a multipart object");
    let linux = std::fs::read(artifacts.path().join("linux/x86_64-unknown-linux-gnu")).unwrap();
    assert_eq!(site.get(&format!("binaries/{tag}/x86_64-unknown-linux-gnu")).unwrap(), linux);
    site.xtask_ok(&["verify", &tag, "--base-url", &site.base_url()]);

    let dirty_refused = site.xtask(&["publish-installer", &tag, "--artifacts", artifacts.path().to_str().unwrap()]);
    let record: xtask::domain::build_record::BuildRecord =
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
    let refused = site.xtask_with_env(&["publish-installer", "v1", "--artifacts", dir], &branch);
    assert_eq!(refused.status.code(), Some(1));
    let stderr = text(&refused.stderr);
    assert!(
        stderr.contains("refusing to publish release v1 from a build of branch \"feature/faster-joins\""),
        "{stderr}"
    );
    assert!(site.keys().is_empty());
    let refused = site.xtask_with_env(&["cfn", "upload", "--dir", dir, "--release", "v1"], &branch);
    assert!(text(&refused.stderr).contains("refusing to upload the templates of release v1 from a build of branch"));
    let dry_run = site.xtask_with_env(&["publish-installer", "v1", "--artifacts", dir, "--dry-run"], &branch);
    assert!(dry_run.status.success(), "a dry run is allowed anywhere: {}", text(&dry_run.stderr));

    // On main it publishes, and annotates the build through buildkite-agent (the
    // rehearsal's stand-in here, which keeps annotations in a directory).
    let agent = tempfile::tempdir().unwrap();
    std::fs::copy(
        support::workspace_root().join("xtask/emulator/buildkite-agent"),
        agent.path().join("buildkite-agent"),
    )
    .unwrap();
    let path = format!("{}:{}", agent.path().display(), std::env::var("PATH").unwrap());
    let rehearsal_dir = agent.path().display().to_string();
    let main =
        [("BUILDKITE", "true"), ("BUILDKITE_BRANCH", "main"), ("PATH", &path), ("REHEARSAL_DIR", &rehearsal_dir)];
    let output = site.xtask_with_env(&["publish-installer", "v1", "--artifacts", dir], &main);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let annotation = std::fs::read_to_string(agent.path().join("annotations/build.md")).unwrap();
    assert!(annotation.contains("### Release v1 published"), "{annotation}");
    assert!(annotation.contains("curl -fsSL https://launch.readyset.io/readyset-orchestrator.sh | sh"), "{annotation}");
    let linux = xtask::domain::build_record::sha256_hex(b"#!/bin/sh\necho x86_64-unknown-linux-gnu v1\n");
    assert!(annotation.contains(&format!("| `{linux}` |")), "{annotation}");
    assert!(annotation.contains("https://readysettech-cfn-public-us-east-2.s3.us-east-2.amazonaws.com/v1/readyset/templates/readyset-mysql-super.yaml"), "{annotation}");
}

#[test]
fn a_large_upload_shows_a_progress_bar_on_a_terminal() {
    let site = Site::new();
    site.publish_templates("v1");
    let artifacts = synthetic_artifacts("v1");
    let large: Vec<u8> = (0..9 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    write_build(&artifacts.path().join("agent-1/target/dist/v1"), "v1", TARGETS[1].0, TARGETS[1].1, &large);
    // `script` (util-linux) runs the command on a pseudo-terminal, as a person's shell does.
    let command =
        format!("{} publish-installer v1 --artifacts {}", env!("CARGO_BIN_EXE_xtask"), artifacts.path().display());
    let output = site
        .command("script")
        .args(["--quiet", "--return", "--command", &command, "/dev/null"])
        .current_dir(site.checkout.path())
        .output()
        .expect("script (util-linux) runs");
    let screen = text(&output.stdout);
    assert!(output.status.success(), "{screen}");
    assert!(screen.contains("binaries/v1/x86_64-apple-darwin [") && screen.contains("9.00 MiB/9.00 MiB"), "{screen}");
    assert!(!screen.contains("uploaded part 1 of 2"), "plain lines are for logs, not terminals: {screen}");
    assert_eq!(site.get("binaries/v1/x86_64-apple-darwin").unwrap(), large);
}
