//! The Buildkite pipeline: valid for Buildkite, and consistent with the xtask. Each
//! check is also shown to fail on a pipeline broken the way it guards against.

use std::process::Command;

use xtask::cli::Cli;
use xtask_aws::pipeline::{Pipeline, RELEASE_BLOCK_LABEL, RELEASE_NAME_FIELD};

use crate::support::{venv_tool, workspace_root};

fn pipeline_text() -> String {
    std::fs::read_to_string(workspace_root().join(".buildkite/pipeline.yml")).unwrap()
}

fn problems(text: &str) -> Vec<String> {
    Pipeline::parse(text).unwrap().check(&Cli::pipeline_use)
}

/// The pipeline with one exact piece of text replaced; the piece must be there.
fn broken(from: &str, to: &str) -> String {
    let text = pipeline_text();
    assert!(text.contains(from), "the pipeline no longer contains {from:?}; update this test");
    text.replacen(from, to, 1)
}

#[test]
fn the_pipeline_is_consistent_with_the_xtask() {
    assert_eq!(problems(&pipeline_text()), Vec::<String>::new());
}

#[test]
fn a_renamed_flag_breaks_the_check() {
    let found = problems(&broken(
        "publish-installer --artifacts target/artifacts",
        "publish-installer --artifact-dir target/artifacts",
    ));
    assert!(
        found.iter().any(|p| p
            .contains("step publish: `cargo xtask publish-installer --artifact-dir target/artifacts` does not parse")),
        "{found:?}"
    );
    let found = problems(&broken(
        "cargo xtask build-installer --target x86_64-apple-darwin",
        "cargo xtask build-installers --target x86_64-apple-darwin",
    ));
    assert!(found.iter().any(|p| p.contains("step installer-mac")), "{found:?}");
}

#[test]
fn a_download_of_something_no_earlier_step_uploads_breaks_the_check() {
    let found = problems(&broken("    artifact_paths: target/dist/amis-release.json\n", ""));
    assert!(
        found.iter().any(|p| p.contains("step release-templates downloads target/dist/amis-release.json")),
        "{found:?}"
    );
    let found = problems(&broken(
        "depends_on: [release-templates, installer-linux, installer-mac]",
        "depends_on: [release-templates, installer-linux]",
    ));
    assert!(found.iter().any(|p| p.contains("step publish downloads target/dist/*/*-apple-darwin*")), "{found:?}");
}

#[test]
fn a_meta_data_key_no_block_step_asks_for_breaks_the_check() {
    let found = problems(&broken("        key: release-name\n", "        key: release\n"));
    for step in ["release-check", "release-amis", "release-templates", "publish", "verify"] {
        assert!(
            found
                .iter()
                .any(|p| p.contains(&format!("step {step} takes the release name from meta-data release-name"))),
            "{step}: {found:?}"
        );
    }
    let found = problems(&broken(
        "      - .buildkite/xtask.sh publish-installer --artifacts target/artifacts",
        "      - buildkite-agent meta-data get approver\n      - .buildkite/xtask.sh publish-installer --artifacts target/artifacts",
    ));
    assert!(found.iter().any(|p| p.contains("step publish reads meta-data approver")), "{found:?}");
}

#[test]
fn a_step_using_the_prebuilt_xtask_without_waiting_for_its_build_breaks_the_check() {
    let found = problems(&broken("    depends_on: [ci, xtask]\n", "    depends_on: [ci]\n"));
    assert!(
        found
            .iter()
            .any(|p| p.contains("step internal-amis runs .buildkite/xtask.sh but does not depend on step xtask")),
        "{found:?}"
    );
}

#[test]
fn aws_writes_outside_the_ops_queue_and_dangling_dependencies_break_the_check() {
    let text = broken("    key: publish\n    branches: main\n    depends_on: [release-templates, installer-linux, installer-mac]\n    agents:\n      queue: ops\n", "    key: publish\n    branches: main\n    depends_on: [release-templates, installer-linux, installer-mac]\n");
    let found = problems(&text);
    assert!(found.iter().any(|p| p.contains("step publish runs `cargo xtask publish-installer --artifacts target/artifacts`, which writes to AWS, outside the ops queue")), "{found:?}");
    let found = problems(&broken("depends_on: release-amis", "depends_on: release-amiz"));
    assert!(found.iter().any(|p| p.contains("depends on release-amiz, which no step has as its key")), "{found:?}");
}

fn check_jsonschema(text: &str) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pipeline.yml");
    std::fs::write(&path, text).unwrap();
    Command::new(venv_tool("check-jsonschema", "check-jsonschema"))
        .args(["--builtin-schema", "vendor.buildkite"])
        .arg(&path)
        .output()
        .unwrap()
}

#[test]
fn the_pipeline_validates_against_the_buildkite_schema_and_a_broken_one_does_not() {
    let valid = check_jsonschema(&pipeline_text());
    assert!(valid.status.success(), "{}", String::from_utf8_lossy(&valid.stdout));
    let invalid =
        check_jsonschema(&broken("    prompt: Release this commit to customers\n", "    prompt: [not, a, string]\n"));
    assert!(!invalid.status.success(), "the schema check accepts a broken pipeline");
}

#[test]
fn the_release_block_step_is_the_one_release_names() {
    let pipeline = Pipeline::parse(&pipeline_text()).unwrap();
    let block = pipeline.step("release-block").unwrap();
    assert_eq!(block.label, RELEASE_BLOCK_LABEL);
    assert_eq!(block.field_keys().collect::<Vec<_>>(), vec![RELEASE_NAME_FIELD]);
    assert_eq!(block.branches.as_deref(), Some("main"));
    for step in &pipeline.steps {
        if pipeline.ancestors(&step.key).contains("release-block") {
            assert_eq!(step.branches.as_deref(), Some("main"), "release step {} runs only on main", step.key);
        }
    }
    assert_eq!(pipeline.step("installer-mac").unwrap().queue.as_deref(), Some("mac"));
}

/// Every `cargo xtask` line of the release documents parses with the real command line,
/// and every script they name exists.
#[test]
fn every_command_in_the_release_documents_parses() {
    let mut checked = 0;
    for document in ["RELEASE.md", "README.md", "ops/cfn-test/README.md"] {
        let text = std::fs::read_to_string(workspace_root().join(document)).unwrap();
        let mut in_code = false;
        for line in text.lines() {
            if line.trim_start().starts_with("```") {
                in_code = !in_code;
                continue;
            }
            let command = line.split(" #").next().unwrap().trim();
            if in_code && command.starts_with("cargo xtask ") {
                let words = shlex::split(command).unwrap();
                let parsed = xtask::cli::Cli::pipeline_use(&words[2..]);
                assert!(parsed.is_ok(), "{document}: `{command}` does not parse: {}", parsed.unwrap_err());
                checked += 1;
            }
            if in_code && command.starts_with("ops/") {
                let script = command.split_whitespace().next().unwrap();
                assert!(workspace_root().join(script).exists(), "{document} names {script}, which does not exist");
            }
        }
    }
    assert!(checked >= 15, "only {checked} commands found; did the documents lose their code blocks?");
}
