//! The Buildkite pipeline: valid for Buildkite, and consistent with the xtask. Each
//! check is also shown to fail on a pipeline broken the way it guards against.

use std::process::Command;

use expect_test::expect;
use xtask::domain::{
    names::tag::{self, ReleaseTag},
    pipeline::{
        queues::{self, Queue},
        test_stack_role,
    },
    publishing::digest::sha256_hex,
};
use xtask_aws::{
    pipeline::{Pipeline, RELEASE_BLOCK_LABEL, RELEASE_NAME_FIELD},
    pipeline_use,
};

use crate::support::{config, git, system_tool, text, venv_tool, workspace_root};

fn pipeline_text() -> String {
    std::fs::read_to_string(workspace_root().join(".buildkite/pipeline.yml")).unwrap()
}

fn problems(text: &str) -> Vec<String> {
    Pipeline::parse(text).unwrap().check(&pipeline_use::of_args)
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
        "depends_on: [release-templates, installer-linux, installer-linux-again, installer-mac]",
        "depends_on: [release-templates, installer-linux, installer-linux-again]",
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

/// Every way a step could get credentials it should not have, or write beside another
/// release: each broken pipeline and the whole list of problems the check finds.
#[test]
fn a_step_on_the_wrong_queue_or_outside_the_release_group_breaks_the_check() {
    let publish_on_ops = broken(
        "      - .buildkite/xtask.sh publish-installer --artifacts target/artifacts\n",
        "      - .buildkite/xtask.sh publish-installer --artifacts target/artifacts\n    # moved\n",
    )
    .replacen(
        "    depends_on: [release-templates, installer-linux, installer-mac]\n    agents:\n      queue: release\n",
        "    depends_on: [release-templates, installer-linux, installer-mac]\n    agents:\n      queue: ops\n",
        1,
    );
    let packer_on_build = broken(
        "    depends_on: build-block\n    agents:\n      queue: ops\n",
        "    depends_on: build-block\n    agents:\n      queue: build\n",
    );
    let no_queue = broken("    key: ci\n    agents:\n      queue: build\n", "    key: ci\n");
    let unknown_queue =
        broken("    key: ci\n    agents:\n      queue: build\n", "    key: ci\n    agents:\n      queue: default\n");
    let no_group = broken(
        "    concurrency: 1\n    command:\n      - buildkite-agent artifact download target/dist/amis-release.json .\n",
        "    command:\n      - buildkite-agent artifact download target/dist/amis-release.json .\n",
    );
    let status_on_build =
        broken("    command: .buildkite/xtask.sh verify\n", "    command: .buildkite/xtask.sh status v1\n");
    let dangling = broken("depends_on: release-amis", "depends_on: release-amiz");
    let found: Vec<String> =
        [publish_on_ops, packer_on_build, no_queue, unknown_queue, no_group, status_on_build, dangling]
            .iter()
            .flat_map(|text| problems(text))
            .collect();
    expect![[r#"
        step internal-amis runs `cargo xtask preflight --queue ops`, which reads AWS with credentials, on build, which holds none
        step internal-amis runs `cargo xtask amis build --commit 0000000000000000000000000000000000000000 --fetch-packages`, which writes internal artifacts, on build; only the ops queue holds credentials for them
        step ci names no queue (agents: queue:), so it would run on whatever agent the default queue has; name one of build, mac, ops, release
        step ci runs on queue default, which is not one of build, mac, ops, release
        step release-templates runs on the release queue outside concurrency_group readyset/release with concurrency 1, so two releases could write at once
        step verify runs `cargo xtask status v1`, which reads AWS with credentials, on build, which holds none
        step release-templates depends on release-amiz, which no step has as its key
        step release-templates downloads target/dist/amis-release.json, which no step it depends on uploads
        step release-templates runs .buildkite/xtask.sh but does not depend on step xtask, which builds it
        step release-templates takes the release name from meta-data release-name, which no block step before it asks for"#]].assert_eq(&found.join("\n"));
}

/// The block step checks the release name as it is typed, with the rule the xtask
/// applies: the field's `format` is `tag::PATTERN`, and that regex, run as Buildkite runs
/// it (an HTML `pattern`: anchored, JavaScript's `v` flag) by Node, accepts exactly the
/// names `ReleaseTag::parse` accepts.
#[test]
fn the_release_name_field_checks_names_as_the_xtask_does() {
    let pipeline = Pipeline::parse(&pipeline_text()).unwrap();
    let field = pipeline.step("release-block").unwrap().fields.iter().find(|f| f.key == RELEASE_NAME_FIELD).unwrap();
    assert_eq!(field.format.as_deref(), Some(tag::PATTERN));
    let found = problems(&broken("(?!.*\\.lock$)", ""));
    expect!["step release-block: field release-name must have format: the release-name rule of xtask/src/domain/tag.rs (tag::PATTERN), so a name the xtask refuses cannot be typed"].assert_eq(&found.join("\n"));

    let (longest, too_long) = ("x".repeat(64), "x".repeat(65));
    let names: [&str; 32] = [
        "v1",
        "v2024.06.1",
        "1.0",
        "V_1-rc.2",
        "a",
        "alphabet",
        "latest2",
        "v1.locker",
        &longest,
        "",
        "alpha",
        "ALPHA",
        "Latest",
        "v1..2",
        "v1.",
        "v1.lock",
        ".v1",
        "-v1",
        "_v1",
        "v 1",
        "v1/2",
        "v1:2",
        "v1~",
        "v1^",
        "v1\\",
        "v1@{",
        "über",
        "v1\n",
        &too_long,
        "v1*",
        "v1?",
        "v1[",
    ];
    // Browsers compile a `pattern` with the `v` flag, older ones with `u`; Node 20+ has
    // both, and every flag it has must give the same verdict.
    let script = format!(
        "const flags = ['u']; try {{ new RegExp('', 'v'); flags.push('v'); }} catch (e) {{}}\n\
         const res = flags.map(flag => new RegExp('^(?:' + {pattern} + ')$', flag));\n\
         for (const name of JSON.parse(process.argv[1])) {{\n\
           const verdicts = new Set(res.map(re => re.test(name) ? 'accepts' : 'refuses'));\n\
           console.log(verdicts.size === 1 ? [...verdicts][0] : 'flags disagree');\n\
         }}",
        pattern = serde_json::to_string(tag::PATTERN).unwrap()
    );
    let node = system_tool("node", "nodejs");
    let output =
        Command::new(node).arg("-e").arg(&script).arg(serde_json::to_string(&names).unwrap()).output().unwrap();
    assert!(output.status.success(), "node failed: {}", String::from_utf8_lossy(&output.stderr));
    let browser: Vec<String> = String::from_utf8(output.stdout).unwrap().lines().map(str::to_owned).collect();
    assert_eq!(browser.len(), names.len());
    for (name, verdict) in names.iter().zip(&browser) {
        let xtask = if ReleaseTag::parse(name).is_ok() { "accepts" } else { "refuses" };
        assert_eq!(verdict, xtask, "Buildkite's field {verdict} {name:?}, the xtask {xtask} it");
    }
    assert!(browser.iter().filter(|v| *v == "accepts").count() >= 9, "the table has names either way");
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
            // A comment, or where the shell sends the output, is not the command's.
            let command = line.split(" #").next().unwrap().split(" > ").next().unwrap().trim();
            if in_code && command.starts_with("cargo xtask ") {
                let words = shlex::split(command).unwrap();
                let parsed = xtask_aws::pipeline_use::of_args(&words[2..]);
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

/// The agent hook of the release agents (ops/buildkite-agent/hooks/post-checkout), run
/// in a checkout as the agent runs it: it lets through only main's commits of the
/// release pipeline, and says why it refuses anything else.
#[test]
fn the_release_agent_hook_runs_only_mains_commits_of_the_release_pipeline() {
    let dir = tempfile::tempdir().unwrap();
    let (origin, checkout) = (dir.path().join("origin"), dir.path().join("checkout"));
    std::fs::create_dir(&origin).unwrap();
    git(&origin, &["init", "--quiet"]);
    git(&origin, &["commit", "--quiet", "--allow-empty", "-m", "on main"]);
    let on_main = git(&origin, &["rev-parse", "HEAD"]);
    git(&origin, &["switch", "--quiet", "-c", "feature"]);
    git(&origin, &["commit", "--quiet", "--allow-empty", "-m", "on a branch"]);
    let on_branch = git(&origin, &["rev-parse", "HEAD"]);
    git(dir.path(), &["clone", "--quiet", origin.to_str().unwrap(), "checkout"]);
    git(&checkout, &["fetch", "--quiet", "origin", "feature"]);
    let hook = workspace_root().join("ops/buildkite-agent/hooks/post-checkout");
    // One job: the commit checked out, the pipeline, branch and commit Buildkite says,
    // and the agent's own settings.
    let run = |head: &str, pipeline: &str, branch: &str, commit: &str, agent: &[(&str, &str)]| {
        git(&checkout, &["checkout", "--quiet", "--detach", head]);
        let output = Command::new(&hook)
            .current_dir(&checkout)
            .env_remove("READYSET_RELEASE_PIPELINE")
            .env_remove("READYSET_ALLOW_BRANCHES")
            .envs([("BUILDKITE_PIPELINE_SLUG", pipeline), ("BUILDKITE_BRANCH", branch), ("BUILDKITE_COMMIT", commit)])
            .envs(agent.iter().copied())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr)
            .replace(&on_main, "<main>")
            .replace(&on_branch, "<branch>")
            .replace(&on_main[..12], "<main, 12 digits>");
        format!("{:?} {}", output.status.code(), stderr.lines().next().unwrap_or("(nothing)"))
    };
    let release = [("READYSET_RELEASE_PIPELINE", "readyset")];
    let ops = [("READYSET_RELEASE_PIPELINE", "readyset"), ("READYSET_ALLOW_BRANCHES", "any")];
    let outcomes = [
        ("main's commit of the release pipeline", run(&on_main, "readyset", "main", &on_main, &release)),
        ("no trusted pipeline configured", run(&on_main, "readyset", "main", &on_main, &[])),
        ("another pipeline", run(&on_main, "fork", "main", &on_main, &release)),
        ("a branch", run(&on_branch, "readyset", "feature", &on_branch, &release)),
        ("a branch's commit built as main", run(&on_branch, "readyset", "main", &on_branch, &release)),
        ("a short commit ID", run(&on_main, "readyset", "main", &on_main[..12], &release)),
        ("a checkout of another commit", run(&on_branch, "readyset", "main", &on_main, &release)),
        ("a branch on an ops agent", run(&on_branch, "readyset", "feature", &on_branch, &ops)),
        ("another pipeline on an ops agent", run(&on_branch, "fork", "feature", &on_branch, &ops)),
    ];
    let report: Vec<String> = outcomes.iter().map(|(case, outcome)| format!("{case}: {outcome}")).collect();
    expect![[r#"
        main's commit of the release pipeline: Some(0) (nothing)
        no trusted pipeline configured: Some(1) release-agent hook: refusing this job: READYSET_RELEASE_PIPELINE is not set in the agent's environment, so no pipeline is trusted
        another pipeline: Some(1) release-agent hook: refusing this job: pipeline fork is not readyset
        a branch: Some(1) release-agent hook: refusing this job: branch feature is not main
        a branch's commit built as main: Some(1) release-agent hook: refusing this job: commit <branch> is not on main (not an ancestor of origin/main)
        a short commit ID: Some(1) release-agent hook: refusing this job: commit <main, 12 digits> is not a full commit ID
        a checkout of another commit: Some(1) release-agent hook: refusing this job: the checkout is at <branch>, not the build's commit <main>
        a branch on an ops agent: Some(0) (nothing)
        another pipeline on an ops agent: Some(1) release-agent hook: refusing this job: pipeline fork is not readyset"#]].assert_eq(&report.join("\n"));
}

/// `.buildkite/xtask.sh` runs the binary of this build only: downloaded into a
/// directory of the build, and run only if its SHA-256 is the one the build step
/// recorded. The agent is the rehearsal's stand-in; the "binary" is a script.
#[test]
fn the_pipeline_runs_only_the_xtask_binary_its_build_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let (agent, tmp) = (dir.path().join("agent"), dir.path().join("tmp"));
    let stored = agent.join("artifacts/target/pipeline/xtask-aws");
    std::fs::create_dir_all(stored.parent().unwrap()).unwrap();
    std::fs::create_dir_all(agent.join("meta-data")).unwrap();
    std::fs::create_dir_all(agent.join("bin")).unwrap();
    std::fs::create_dir_all(&tmp).unwrap();
    std::fs::copy(workspace_root().join("xtask-aws/emulator/buildkite-agent"), agent.join("bin/buildkite-agent"))
        .unwrap();
    let binary = b"#!/bin/sh\necho \"the xtask of build 42 ran with: $*\"\n";
    std::fs::write(&stored, binary).unwrap();
    let record = |sum: &str| std::fs::write(agent.join("meta-data/xtask-aws-sha256"), sum).unwrap();
    let path = format!("{}:{}", agent.join("bin").display(), std::env::var("PATH").unwrap());
    let root = workspace_root().display().to_string();
    let run = |build: Option<&str>| {
        let mut command = Command::new(workspace_root().join(".buildkite/xtask.sh"));
        command.args(["status", "v1"]).env("REHEARSAL_DIR", &agent).env("TMPDIR", &tmp).env("PATH", &path);
        match build {
            Some(id) => command.env("BUILDKITE_BUILD_ID", id),
            None => command.env_remove("BUILDKITE_BUILD_ID"),
        };
        let output = command.output().unwrap();
        let text = format!("{}{}", text(&output.stdout), text(&output.stderr));
        format!(
            "{:?} {}",
            output.status.code(),
            text.replace(&tmp.display().to_string(), "$TMPDIR").replace(&root, "<checkout>").trim_end()
        )
    };
    record(&sha256_hex(binary));
    let mut outcomes = vec![("as recorded", run(Some("0190-b42")))];
    let downloaded = tmp.join("readyset-xtask-0190-b42/target/pipeline/xtask-aws");
    std::fs::write(&downloaded, b"#!/bin/sh\necho tampered\n").unwrap();
    outcomes.push(("changed after the download", run(Some("0190-b42"))));
    record(&"0".repeat(64));
    outcomes.push(("another binary recorded", run(Some("0190-b43"))));
    outcomes.push(("outside Buildkite", run(None)));
    outcomes.push(("a build ID with a path in it", run(Some("../b42"))));
    let report: Vec<String> = outcomes.iter().map(|(case, outcome)| format!("{case}: {outcome}")).collect();
    expect![[r#"
        as recorded: Some(0) downloaded 1 file(s) for target/pipeline/xtask-aws
        the xtask of build 42 ran with: status v1
        changed after the download: Some(1) refusing to run $TMPDIR/readyset-xtask-0190-b42/target/pipeline/xtask-aws: its sha256 is 7e40d73947def685849713b029b6c69910b8c1f18b0496f268e5042300232eee, and this build's xtask step recorded 38ff0f2469556f5c2f9db9d962d4c46c417ba3bc3a6dc563df6cfa6bd327c344.
        Delete $TMPDIR/readyset-xtask-0190-b42 and retry the step; if it fails again, retry the "Build the xtask" step.
        another binary recorded: Some(1) downloaded 1 file(s) for target/pipeline/xtask-aws
        refusing to run $TMPDIR/readyset-xtask-0190-b43/target/pipeline/xtask-aws: its sha256 is 38ff0f2469556f5c2f9db9d962d4c46c417ba3bc3a6dc563df6cfa6bd327c344, and this build's xtask step recorded 0000000000000000000000000000000000000000000000000000000000000000.
        Delete $TMPDIR/readyset-xtask-0190-b43 and retry the step; if it fails again, retry the "Build the xtask" step.
        outside Buildkite: Some(1) <checkout>/.buildkite/xtask.sh: line 6: BUILDKITE_BUILD_ID: .buildkite/xtask.sh runs inside a Buildkite job; elsewhere run cargo xtask
        a build ID with a path in it: Some(1) BUILDKITE_BUILD_ID ../b42 is not a build ID"#]].assert_eq(&report.join("\n"));
}

/// RELEASE.md shows each queue's policy, and the test-stack role's trust and policy,
/// exactly as `cargo xtask iam-policy` prints them.
#[test]
fn the_release_document_shows_the_policies_the_xtask_prints() {
    let document = std::fs::read_to_string(workspace_root().join("RELEASE.md")).unwrap();
    let pretty = |policy: serde_json::Result<String>| policy.unwrap();
    let mut printed: Vec<(String, String)> = [Queue::Ops, Queue::Release]
        .into_iter()
        .map(|queue| (queue.to_string(), pretty(serde_json::to_string_pretty(&queues::policy(queue, config())))))
        .collect();
    printed.push(("test-stacks".into(), pretty(serde_json::to_string_pretty(&test_stack_role::policy(config())))));
    printed
        .push(("test-stacks --trust".into(), pretty(serde_json::to_string_pretty(&test_stack_role::trust_policy()))));
    for (args, printed) in printed {
        let marker = format!("<!-- cargo xtask iam-policy {args} -->\n```json\n");
        let start = document.find(&marker).unwrap_or_else(|| panic!("RELEASE.md lacks {marker:?}")) + marker.len();
        let shown = &document[start..start + document[start..].find("\n```").unwrap()];
        assert_eq!(shown, printed, "RELEASE.md shows an old policy; paste `cargo xtask iam-policy {args}`");
    }
}
