//! Safe under concurrency, faults, missing permissions and bad input: each test sets up
//! what goes wrong for a release engineer or on a flaky network, and checks what
//! customers would get.

use std::{
    path::Path,
    process::{Command, Output, Stdio},
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use expect_test::expect;
use xtask::{
    adapters::artifacts,
    domain::{
        names::tag::ReleaseTag,
        pipeline::queues::{self, Queue},
        publishing::digest::sha256_hex,
        publishing::publish_plan::{self, Owner, PublishPlan},
        publishing::release_manifest::{Allowances, ReleaseManifest, Scripts},
        publishing::wrapper,
    },
};
use xtask_aws::adapters::{publisher, s3::Lookup};

use crate::support::{
    config, expect_success, git, image_keys, number_hashes,
    site::{synthetic_artifacts, synthetic_artifacts_of_commit, targets, write_build, Site},
    stable_times, text, workspace_root, COMMIT,
};

fn publish(site: &Site, tag: &str, artifacts: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["publish-installer", tag, "--artifacts", artifacts.to_str().unwrap()];
    args.extend_from_slice(extra);
    site.xtask(&args)
}

/// The plan `publish-installer` would make for these artifacts, against the bucket now.
fn plan_for(site: &Site, artifacts: &Path, tag: &str) -> PublishPlan {
    let tag = ReleaseTag::parse(tag).unwrap();
    let builds = artifacts::collect(artifacts, config()).unwrap();
    let release = ReleaseManifest::assemble(&tag, config(), &builds, &Allowances::default()).unwrap();
    let sums = release.manifest.installers.iter().map(|e| (e.published_name.clone(), Some(e.sha256.clone()))).collect();
    let template = std::fs::read_to_string(workspace_root().join("installer/readyset-orchestrator.sh")).unwrap();
    let rendered = wrapper::render(&template, &tag, &config().public_base_url, &sums).unwrap();
    let signature = site.runtime.block_on(site.sign(release.manifest.to_json().as_bytes()));
    // The customer's check is not what these tests race over.
    let scripts = Scripts { wrapper: rendered, check: "check\n".into() };
    let phases = publish_plan::desired_objects(&release, &scripts, signature, None, None);
    let lookups: Vec<Lookup> = phases.iter().flat_map(|(_, objects)| objects).map(Lookup::of).collect();
    let remote = site.runtime.block_on(site.aws.orchestrator().remotes(lookups)).unwrap();
    publish_plan::plan(Owner::Release(tag), phases, &remote, true)
}

/// Another run writes between this run's plan and its writes: a versioned key that now
/// holds the same bytes is fine, other bytes stop the run naming both, and a moving key
/// that changed stops the run before it is overwritten.
#[test]
fn a_write_that_lost_a_race_is_judged_by_what_the_key_holds_now() {
    let site = Site::new();
    site.publish_templates("v1");
    let artifacts = synthetic_artifacts("v1");
    let (_, linux) = &targets()[0];
    let linux_bytes = std::fs::read(artifacts.path().join(format!("agent-0/target/dist/v1/{linux}"))).unwrap();
    let execute = |plan: &PublishPlan| site.runtime.block_on(publisher::execute(&site.aws.orchestrator(), plan));

    let plan = plan_for(&site, artifacts.path(), "v1");
    site.put(&format!("binaries/v1/{linux}"), &linux_bytes);
    let same = execute(&plan);
    assert!(same.is_ok(), "the same bytes written meanwhile are not a conflict: {same:?}");

    let v2 = synthetic_artifacts("v2");
    let plan = plan_for(&site, v2.path(), "v2");
    site.put("binaries/v2/x86_64-apple-darwin", b"other bytes");
    let error = format!("{:#}", execute(&plan).unwrap_err());
    expect!["binaries/v2/x86_64-apple-darwin was written meanwhile by another run with other bytes (sha256 <sha256 #1>; this release has <sha256 #2>). Published versions never change: publish the builds of that release's commit, or release under a new name"].assert_eq(&number_hashes(&error));

    let v3 = synthetic_artifacts("v3");
    site.publish_templates("v3");
    let plan = plan_for(&site, v3.path(), "v3");
    site.put("readyset-orchestrator.sh", b"#!/bin/sh\necho another release\n");
    let error = format!("{:#}", execute(&plan).unwrap_err());
    expect!["s3://readysettech-orchestrator-us-east-2/readyset-orchestrator.sh changed after this run read it: another publish or rollback ran at the same time (in the pipeline, releases run one at a time). Nothing after it was written; run the command again and it plans against what the bucket holds now"].assert_eq(&error);
    assert_eq!(site.get("readyset-orchestrator.sh").unwrap(), b"#!/bin/sh\necho another release\n", "not overwritten");
}

/// Two publishes of one release name with different builds, at the same time, while
/// every S3 call is slowed so they interleave: no key ever holds a mix, the manifest
/// never names bytes that are not there, and the wrapper serves a whole release.
#[test]
fn two_publishes_of_one_release_at_once_never_mix_bytes() {
    let site = Site::new();
    site.publish_templates("v1");
    let first = synthetic_artifacts("v1");
    let second = synthetic_artifacts("v1");
    for (index, (triple, name)) in targets().iter().enumerate() {
        let dir = second.path().join(format!("agent-{index}/target/dist/v1"));
        write_build(&dir, "v1", triple, name, format!("#!/bin/sh\necho other build of {name}\n").as_bytes());
    }
    site.set_faults(r#"[{"service": "s3", "delay": 0.05}]"#);
    let spawn = |artifacts: &Path| {
        let mut command = site.command(env!("CARGO_BIN_EXE_xtask-aws"));
        command.args(["publish-installer", "v1", "--artifacts", artifacts.to_str().unwrap()]);
        command.current_dir(site.checkout.path()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap()
    };
    let (a, b) = (spawn(first.path()), spawn(second.path()));
    let outcomes = [a.wait_with_output().unwrap(), b.wait_with_output().unwrap()];
    site.set_faults("[]");
    let succeeded = outcomes.iter().filter(|o| o.status.success()).count();
    assert!(succeeded <= 1, "both publishes of one name succeeded");
    for failed in outcomes.iter().filter(|o| !o.status.success()) {
        let stderr = text(&failed.stderr);
        assert!(
            stderr.contains("written meanwhile by another run with other bytes")
                || stderr.contains("published versions never change, and these keys hold other bytes")
                || stderr.contains("changed after this run read it"),
            "{stderr}"
        );
    }
    let builds = [first.path(), second.path()];
    for (index, (_, name)) in targets().iter().enumerate() {
        if let Some(bytes) = site.get(&format!("binaries/v1/{name}")) {
            let whole = builds
                .iter()
                .any(|b| std::fs::read(b.join(format!("agent-{index}/target/dist/v1/{name}"))).unwrap() == bytes);
            assert!(whole, "binaries/v1/{name} holds bytes of neither build");
        }
    }
    if let Some(manifest) = site.get("binaries/v1/manifest.json") {
        let manifest: ReleaseManifest = serde_json::from_slice(&manifest).unwrap();
        for entry in &manifest.installers {
            let bytes = site.get(&format!("binaries/v1/{}", entry.published_name)).unwrap();
            assert_eq!(sha256_hex(&bytes), entry.sha256, "the manifest names bytes that are not published");
        }
    }
    if succeeded == 1 {
        site.verify("v1");
    }
}

/// A retried old build must not move customers back: the wrapper moves only to a release
/// whose commit comes after the served one's in the checkout's history (two commits of
/// a test repository), unless asked; a commit outside that history is refused too.
#[test]
fn an_older_release_is_never_published_over_a_newer_one_unless_asked() {
    let site = Site::new();
    let checkout = site.checkout.path();
    git(checkout, &["init", "--quiet"]);
    git(checkout, &["commit", "--quiet", "--allow-empty", "-m", "v1"]);
    let first = git(checkout, &["rev-parse", "HEAD"]);
    git(checkout, &["commit", "--quiet", "--allow-empty", "-m", "v2"]);
    let second = git(checkout, &["rev-parse", "HEAD"]);
    git(checkout, &["switch", "--quiet", "--orphan", "elsewhere"]);
    git(checkout, &["commit", "--quiet", "--allow-empty", "-m", "not main"]);
    let unrelated = git(checkout, &["rev-parse", "HEAD"]);
    git(checkout, &["switch", "--quiet", "main"]);
    let (v1, v2) = (synthetic_artifacts_of_commit("v1", &first), synthetic_artifacts_of_commit("v2", &second));
    let v3 = synthetic_artifacts_of_commit("v3", &unrelated);
    for tag in ["v1", "v2", "v3"] {
        site.publish_templates(tag);
    }
    // Published in the wrong order on purpose: v2 first, so publish times say v1 is newer.
    expect_success("publish v2", &publish(&site, "v2", v2.path(), &[]));
    let older = publish(&site, "v1", v1.path(), &[]);
    let outside = publish(&site, "v3", v3.path(), &[]);
    let report = [older, outside].map(|output| format!("{:?} {}", output.status.code(), text(&output.stderr)));
    let report =
        report.join("").replace(&first, "<first>").replace(&second, "<second>").replace(&unrelated, "<orphan>");
    expect![[r#"
        Some(1) error: refusing to publish v1: the wrapper serves v2, built from commit <second>, and this release's commit <first> is an ancestor of it, so customers would move back to older code. Nothing was written. To serve v1 on purpose, run `cargo xtask rollback v1`; to publish it anyway, pass --allow-downgrade
        Some(1) error: refusing to publish v3: the wrapper serves v2, built from commit <second>, and neither it nor this release's commit <orphan> is in the other's history, so one of them was not built from main. Nothing was written. To serve v3 on purpose, run `cargo xtask rollback v3`; to publish it anyway, pass --allow-downgrade
    "#]].assert_eq(&report);
    assert!(text(&site.get("readyset-orchestrator.sh").unwrap()).contains("readyset_tag=\"v2\""));
    let allowed = publish(&site, "v1", v1.path(), &["--allow-downgrade"]);
    expect_success("publish v1 --allow-downgrade", &allowed);
    assert!(text(&allowed.stderr).contains("WARNING: publishing v1 anyway (--allow-downgrade)"));
    assert!(text(&site.get("readyset-orchestrator.sh").unwrap()).contains("readyset_tag=\"v1\""));
    expect_success("publish v2 again, forward", &publish(&site, "v2", v2.path(), &[]));
}

/// The release queue's policy (`cargo xtask iam-policy release`) with one action taken
/// out of every statement that has it.
fn release_policy_without(action: &str) -> String {
    let mut policy = queues::policy(Queue::Release, config(), image_keys()).unwrap();
    for statement in &mut policy.statement {
        statement.action.retain(|a| a != action);
    }
    policy.statement.retain(|statement| !statement.action.is_empty());
    serde_json::to_string(&policy).unwrap()
}

fn publish_as(site: &Site, keys: &[(&'static str, String)], artifacts: &Path) -> Output {
    let mut command = site.command(env!("CARGO_BIN_EXE_xtask-aws"));
    command
        .args(["publish-installer", "v1", "--artifacts", artifacts.to_str().unwrap()])
        .current_dir(site.checkout.path());
    command.envs(keys.iter().map(|(k, v)| (*k, v.as_str()))).output().unwrap()
}

/// Without s3:ListBucket, S3 answers a HEAD of a missing key with 403: the publish says
/// which permission is missing instead of failing at the first new key obscurely.
#[test]
fn a_role_without_list_bucket_is_told_which_permission_is_missing() {
    let site = Site::with_iam();
    site.publish_templates("v1");
    let artifacts = synthetic_artifacts("v1");
    let refused =
        publish_as(&site, &site.iam_user("no-list-bucket", &release_policy_without("s3:ListBucket")), artifacts.path());
    assert_eq!(refused.status.code(), Some(1));
    expect![[r#"
        error: S3 refused to describe s3://readysettech-orchestrator-us-east-2/binaries/v1/aarch64-apple-darwin (403 Forbidden). Without s3:ListBucket on the bucket, S3 answers 403 instead of 404 for a key that does not exist, so the publish cannot tell a new key from one it may not read. Grant s3:ListBucket on arn:aws:s3:::readysettech-orchestrator-us-east-2 and s3:GetObject on its objects to this role (RELEASE.md lists the policy of each queue)
    "#]]
    .assert_eq(&text(&refused.stderr));
    assert!(site.keys().is_empty(), "nothing was written");
}

/// The release queue's policy is enough to publish, and without any one of the actions
/// a publish uses, it stops with an error that names the call refused and where the
/// policy is.
#[test]
fn the_release_policy_publishes_and_a_policy_missing_an_action_fails_clearly() {
    let site = Site::with_iam();
    site.publish_templates("v1");
    let artifacts = synthetic_artifacts("v1");
    let release = serde_json::to_string(&queues::policy(Queue::Release, config(), image_keys()).unwrap()).unwrap();
    let without_put = site.iam_user("no-put", &release_policy_without("s3:PutObject"));
    let refused = publish_as(&site, &without_put, artifacts.path());
    assert_eq!(refused.status.code(), Some(1));
    expect![[r#"
        error: cannot write s3://readysettech-orchestrator-us-east-2/binaries/v1/aarch64-apple-darwin
          because: AWS refused S3 PutObject (AccessDenied: Access Denied): the credentials in use lack a permission this command needs. The policy of each pipeline queue is printed by `cargo xtask iam-policy ops|release` (RELEASE.md, Agents and their credentials); compare the role's policy with it
    "#]].assert_eq(&text(&refused.stderr));
    assert!(site.keys().is_empty(), "nothing was written");
    let without_invalidation =
        site.iam_user("no-invalidation", &release_policy_without("cloudfront:CreateInvalidation"));
    let refused = publish_as(&site, &without_invalidation, artifacts.path());
    assert_eq!(refused.status.code(), Some(1));
    expect![[r#"
        error: AWS refused CloudFront CreateInvalidation on distribution EGUPZSIU4Q3J9 (HTTP 403): the credentials in use lack a permission this command needs. The policy of each pipeline queue is printed by `cargo xtask iam-policy ops|release` (RELEASE.md, Agents and their credentials); compare the role's policy with it
    "#]].assert_eq(&text(&refused.stderr));
    expect_success(
        "publish with the release policy",
        &publish_as(&site, &site.iam_user("release", &release), artifacts.path()),
    );
}

/// With a share of the S3 and CloudFront calls failing (errors, throttling, connections
/// dropped before an answer or in the middle of one), publishing, uploading templates and
/// rolling back finish with the right bytes, and say what they retried.
#[test]
fn with_flaky_s3_and_cloudfront_every_write_finishes_with_the_right_bytes() {
    let site = Site::new();
    let target = tempfile::tempdir().unwrap();
    let templates = render_templates(&site, target.path());
    let v1 = synthetic_artifacts("v1");
    let large: Vec<u8> = (0..9 * 1024 * 1024u32).map(|i| (i % 241) as u8).collect();
    let (triple, name) = &targets()[1];
    write_build(&v1.path().join("agent-1/target/dist/v1"), "v1", triple, name, &large);
    let v2 = synthetic_artifacts("v2");
    site.set_faults(
        r#"[{"service": "s3", "share": 0.1, "kinds": ["500", "503", "reset", "cut"]},
            {"service": "cloudfront", "share": 0.1, "kinds": ["500", "503", "reset"]}]"#,
    );
    let mut logs = String::new();
    for args in [
        vec!["cfn", "upload", "--dir", templates.to_str().unwrap(), "--release", "v1"],
        vec!["cfn", "upload", "--dir", templates.to_str().unwrap(), "--release", "v2"],
        vec!["publish-installer", "v1", "--artifacts", v1.path().to_str().unwrap()],
        vec!["publish-installer", "v2", "--artifacts", v2.path().to_str().unwrap()],
        vec!["rollback", "v1"],
    ] {
        let output = site.xtask(&args);
        logs += &text(&output.stderr);
        expect_success(&args.join(" "), &output);
    }
    site.set_faults("[]");
    assert!(logs.contains("retrying"), "the faults were retried and the retries reported:\n{logs}");
    site.verify("v1");
    site.xtask_ok(&["publish-installer", "v2", "--artifacts", v2.path().to_str().unwrap(), "--dry-run"]);
    for tag in ["v1", "v2"] {
        for entry in std::fs::read_dir(&templates)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        {
            let key = format!("{tag}/readyset/templates/{}", entry.file_name().unwrap().to_str().unwrap());
            if config().templates.iter().any(|t| {
                format!("{}.yaml", t.name) == entry.file_name().unwrap().to_str().unwrap()
                    && t.visibility == xtask::domain::config::Visibility::Public
            }) {
                assert_eq!(
                    sha256_hex(&get_from(&site, &config().cfn_public_bucket, &key)),
                    sha256_hex(&std::fs::read(&entry).unwrap()),
                    "{key}"
                );
            }
        }
    }
    assert_eq!(site.get(&format!("binaries/v1/{name}")).unwrap(), large);
}

fn get_from(site: &Site, bucket: &str, key: &str) -> Vec<u8> {
    site.runtime.block_on(async {
        let object = site.aws.s3.get_object().bucket(bucket).key(key).send().await.unwrap();
        object.body.collect().await.unwrap().into_bytes().to_vec()
    })
}

/// Templates rendered from made-up AMIs, for the upload tests.
fn render_templates(site: &Site, target: &Path) -> std::path::PathBuf {
    use crate::support::images::{IMAGES, REGIONS};
    let images = IMAGES
        .iter()
        .map(|image| {
            (image.to_string(), REGIONS.iter().map(|r| (r.to_string(), "ami-0123456789abcdef0".to_string())).collect())
        })
        .collect();
    let file = xtask::domain::images::packer::AmisFile {
        stage: xtask::domain::names::stage::Stage::Release,
        commit: xtask::domain::names::commit::CommitId::parse(COMMIT).unwrap(),
        release: None,
        images,
        sources: Default::default(),
        packages: Default::default(),
    };
    let amis = target.join("amis.json");
    std::fs::write(&amis, file.to_json()).unwrap();
    let out = target.join("cfn");
    site.xtask_ok(&["cfn", "render", "--amis", amis.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    out
}

/// Whether a publish of a release has got to a point of its order.
type Reached = fn(&Site, &str) -> bool;

/// A publish killed (SIGKILL) at every point of its order, then run again, completes;
/// meanwhile a customer running the wrapper in a loop always gets a whole release.
#[test]
fn a_publish_killed_anywhere_completes_when_run_again_and_customers_never_see_a_broken_release() {
    let site = Arc::new(Site::new());
    site.publish_templates("v1");
    expect_success("publish v1", &publish(&site, "v1", synthetic_artifacts("v1").path(), &[]));
    let checker = Checker::start(&site);
    site.set_faults(r#"[{"service": "s3", "delay": 0.12}]"#);
    let points: [(&str, Reached); 7] = [
        ("after the first versioned object", |site, tag| versioned(site, tag) >= 1),
        ("part way through the versioned objects", |site, tag| versioned(site, tag) >= 4),
        ("after the versioned objects", |site, tag| versioned(site, tag) >= 7),
        ("after the manifest", |site, tag| versioned(site, tag) >= 8),
        ("after the first legacy key", |site, tag| legacy_serving(site, tag) >= 1),
        ("after the legacy keys", |site, tag| legacy_serving(site, tag) >= 3),
        ("after the wrapper, before the invalidation completes", |site, tag| wrapper_serves(site, tag)),
    ];
    for (index, (point, reached)) in points.iter().enumerate() {
        let tag = format!("v{}", index + 2);
        site.publish_templates(&tag);
        let artifacts = synthetic_artifacts(&tag);
        let mut command = site.command(env!("CARGO_BIN_EXE_xtask-aws"));
        command.args(["publish-installer", &tag, "--artifacts", artifacts.path().to_str().unwrap()]);
        let mut child =
            command.current_dir(site.checkout.path()).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        let started = Instant::now();
        while !reached(&site, &tag) {
            assert!(started.elapsed() < Duration::from_secs(60), "{tag} never got {point}");
            assert!(child.try_wait().unwrap().is_none(), "{tag} finished before it could be killed {point}");
            std::thread::sleep(Duration::from_millis(10));
        }
        child.kill().unwrap(); // SIGKILL: no cleanup runs
        child.wait().unwrap();
        expect_success(
            &format!("publish {tag} again after a kill {point}"),
            &publish(&site, &tag, artifacts.path(), &[]),
        );
        site.verify(&tag);
    }
    site.set_faults("[]");
    let (runs, failures) = checker.stop();
    assert!(runs > 20, "the customer ran the wrapper only {runs} times");
    assert!(
        failures.is_empty(),
        "a customer saw a broken release:\n{}\nemulator log:\n{}",
        failures.join("\n"),
        site.emulator.log()
    );
}

fn versioned(site: &Site, tag: &str) -> usize {
    site.keys().iter().filter(|key| key.starts_with(&format!("binaries/{tag}/"))).count()
}

fn serves(site: &Site, key: &str) -> Option<String> {
    site.head(key).and_then(|head| head.metadata().and_then(|m| m.get("readyset-tag").cloned()))
}

fn legacy_serving(site: &Site, tag: &str) -> usize {
    targets().iter().filter(|(_, name)| serves(site, &format!("binaries/{name}")).as_deref() == Some(tag)).count()
}

fn wrapper_serves(site: &Site, tag: &str) -> bool {
    serves(site, "readyset-orchestrator.sh").as_deref() == Some(tag)
}

/// A customer in a loop: downloads the wrapper anonymously and runs it, so it downloads
/// the installer it names, checks its SHA-256 and runs it.
struct Checker {
    stop: Arc<AtomicBool>,
    runs: Arc<AtomicUsize>,
    failures: Arc<Mutex<Vec<String>>>,
    thread: std::thread::JoinHandle<()>,
}

impl Checker {
    fn start(site: &Site) -> Checker {
        let (stop, runs, failures) =
            (Arc::new(AtomicBool::new(false)), Arc::new(AtomicUsize::new(0)), Arc::new(Mutex::new(Vec::new())));
        let base = site.https_base_url();
        let scratch = tempfile::tempdir().unwrap();
        let (mut download, mut run) = (Command::new("curl"), Command::new("sh"));
        site.trust_https(&mut download, scratch.path());
        site.trust_https(&mut run, scratch.path());
        let (stop2, runs2, failures2) = (stop.clone(), runs.clone(), failures.clone());
        let thread = std::thread::spawn(move || {
            let script = scratch.path().join("wrapper.sh");
            download.args(["-fsS", "-o"]).arg(&script).arg(format!("{base}/readyset-orchestrator.sh"));
            run.arg(&script).env("READYSET_INSTALLER_BASE_URL", &base).env("TMPDIR", scratch.path());
            while !stop2.load(Ordering::Relaxed) {
                let download = download.output().unwrap();
                let output = run.output().unwrap();
                let said = text(&output.stdout);
                if !download.status.success()
                    || !output.status.success()
                    || !said.starts_with("x86_64-unknown-linux-gnu v")
                {
                    failures2.lock().unwrap().push(format!(
                        "{} {} {said}{}",
                        text(&download.stderr),
                        output.status,
                        text(&output.stderr)
                    ));
                }
                runs2.fetch_add(1, Ordering::Relaxed);
            }
        });
        Checker { stop, runs, failures, thread }
    }

    fn stop(self) -> (usize, Vec<String>) {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap();
        let failures = self.failures.lock().unwrap().clone();
        (self.runs.load(Ordering::Relaxed), failures)
    }
}

/// Rolling back to a release that has no installer for a platform would leave that
/// platform's legacy key on a newer release: status says which release every legacy key
/// serves, and rollback asks what to do with such a key.
#[test]
fn rollback_asks_what_to_do_with_platforms_the_release_left_out() {
    let site = Site::new();
    let arm = "aarch64-apple-darwin";
    for (tag, extra) in [("v1", vec![]), ("v2", vec!["--exclude-target", arm]), ("v3", vec![])] {
        site.publish_templates(tag);
        std::thread::sleep(Duration::from_millis(1100));
        expect_success(tag, &publish(&site, tag, synthetic_artifacts(tag).path(), &extra));
    }
    let refused = site.xtask(&["rollback", "v2"]);
    assert_eq!(refused.status.code(), Some(1));
    expect![[r#"
        error: refusing to roll back to v2: it has no installer for some platforms whose legacy keys serve another release:
          s3://readysettech-orchestrator-us-east-2/binaries/aarch64-apple-darwin (serves v3)
        Say what to do with them: --left-out-keys keep (they keep serving that release) or --left-out-keys remove (old wrappers on those platforms then find no installer). Nothing was written.
    "#]].assert_eq(&text(&refused.stderr));
    site.xtask_ok(&["rollback", "v2", "--left-out-keys", "keep"]);
    expect![[r#"
        Release v2 (CFN version v2): complete and live: customers who run the wrapper get it
          present          manifest              s3://readysettech-orchestrator-us-east-2/binaries/v2/manifest.json
          present          signature             s3://readysettech-orchestrator-us-east-2/binaries/v2/manifest.json.sig
          present          template              s3://readysettech-cfn-public-us-east-2/v2/readyset/templates/readyset-mysql-super.yaml
          present          template              s3://readysettech-cfn-public-us-east-2/v2/readyset/templates/readyset-vpc.yaml
          present          template              s3://readysettech-cfn-public-us-east-2/v2/readyset/templates/readyset-server.yaml
          present          template              s3://readysettech-cfn-public-us-east-2/v2/readyset/templates/readyset-mysql-adapter.yaml
          present          template              s3://readysettech-cfn-public-us-east-2/v2/readyset/templates/readyset-postgres-adapter.yaml
          present          template              s3://readysettech-cfn-public-us-east-2/v2/readyset/templates/readyset-bastion.yaml
          present          installer             s3://readysettech-orchestrator-us-east-2/binaries/v2/x86_64-apple-darwin
          present          checksum              s3://readysettech-orchestrator-us-east-2/binaries/v2/x86_64-apple-darwin.sha256
          present          installer             s3://readysettech-orchestrator-us-east-2/binaries/v2/x86_64-unknown-linux-gnu
          present          checksum              s3://readysettech-orchestrator-us-east-2/binaries/v2/x86_64-unknown-linux-gnu.sha256
          present          wrapper (kept)        s3://readysettech-orchestrator-us-east-2/binaries/v2/readyset-orchestrator.sh
          serves v2        legacy key            s3://readysettech-orchestrator-us-east-2/binaries/x86_64-unknown-linux-gnu
          serves v2        legacy key            s3://readysettech-orchestrator-us-east-2/binaries/x86_64-apple-darwin
          serves v3        legacy key (left out) s3://readysettech-orchestrator-us-east-2/binaries/aarch64-apple-darwin
          serves v2        wrapper               s3://readysettech-orchestrator-us-east-2/readyset-orchestrator.sh
        The signature was checked with the emulator's key alias/readyset-release-manifest, standing in for the committed key.
    "#]].assert_eq(&site.xtask_ok(&["status", "v2"]));
    site.xtask_ok(&["rollback", "v3"]);
    let removed = site.xtask_ok(&["rollback", "v2", "--left-out-keys", "remove"]);
    assert!(removed.contains(&format!("removed s3://{}/binaries/{arm}", config().orchestrator_bucket)), "{removed}");
    assert!(site.get(&format!("binaries/{arm}")).is_none());
    let status: serde_json::Value = serde_json::from_str(&site.xtask_ok(&["status", "v2", "--json"])).unwrap();
    assert_eq!((status["complete"].clone(), status["live"].clone()), (true.into(), true.into()));
}

/// A link in the artifacts directory is never followed: a loop cannot hang the search
/// and a link cannot pull in a build from elsewhere.
#[test]
fn the_artifacts_search_never_follows_links() {
    let site = Site::new();
    site.publish_templates("v1");
    let artifacts = synthetic_artifacts("v1");
    std::os::unix::fs::symlink(artifacts.path(), artifacts.path().join("agent-0/loop")).unwrap();
    let elsewhere = synthetic_artifacts("v1");
    std::os::unix::fs::symlink(elsewhere.path().join("agent-1"), artifacts.path().join("linked-agent")).unwrap();
    let mut child = site
        .command(env!("CARGO_BIN_EXE_xtask-aws"))
        .args(["publish-installer", "v1", "--artifacts", artifacts.path().to_str().unwrap(), "--dry-run"])
        .current_dir(site.checkout.path())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(60) {
            child.kill().unwrap();
            panic!("the artifacts search did not finish: it followed the loop");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "only the three real builds were found, no second build of a target");
}

/// Release-lock output with its times made stable: RFC 3339 stamps and ages.
fn lock_text(text: &str, commit: &str) -> String {
    let out = stable_times(text);
    let out: Vec<String> = out
        .split(", ")
        .map(|part| match part.split_once(" ago") {
            Some((age, rest)) if age.chars().all(|c| c.is_ascii_alphanumeric() || c == ' ') => {
                format!("<age> ago{rest}")
            }
            _ => part.to_owned(),
        })
        .collect();
    out.join(", ").replace(commit, "<commit>").replace(&commit[..8], "<short>")
}

/// One release at a time: two release chains (builds b1 and b2) with exactly the release
/// queue's credentials against an emulator that enforces IAM. The second stops naming
/// the holder; a person takes over a dead holder's lock with a reason that stays in the
/// history; bad input and a dry run write nothing.
#[test]
fn two_releases_never_interleave_and_a_dead_holder_is_taken_over_by_a_person() {
    let site = Site::with_iam();
    let policy = serde_json::to_string(&queues::policy(Queue::Release, config(), image_keys()).unwrap()).unwrap();
    let keys = site.iam_user("agent-release-lock", &policy);
    let checkout = site.checkout.path();
    git(checkout, &["init", "--quiet"]);
    git(checkout, &["commit", "--quiet", "--allow-empty", "-m", "release"]);
    let commit = git(checkout, &["rev-parse", "HEAD"]);
    let run = |args: &str| {
        let args: Vec<&str> = args.split(' ').collect();
        let mut env: Vec<(&str, &str)> = keys.iter().map(|(name, value)| (*name, value.as_str())).collect();
        env.extend([("BUILDKITE", "true"), ("BUILDKITE_BUILD_URL", "https://buildkite.example/b")]);
        let output = site.xtask_with_env(&[&["release-lock"], args.as_slice()].concat(), &env);
        let text = format!(
            "$ release-lock {}\n{:?} {}{}",
            args.join(" "),
            output.status.code(),
            text(&output.stdout),
            text(&output.stderr)
        );
        lock_text(&text, &commit)
    };
    let rollback = |args: &str| {
        let args: Vec<&str> = args.split(' ').collect();
        let env: Vec<(&str, &str)> = keys.iter().map(|(name, value)| (*name, value.as_str())).collect();
        let output = site.xtask_with_env(&args, &env);
        lock_text(&format!("$ {}\n{:?} {}", args.join(" "), output.status.code(), text(&output.stderr)), &commit)
    };
    let steps = [
        run("acquire --build b1"),
        run("acquire --build b1"),
        run("acquire --build b2"),
        run("release --build b2"),
        rollback("rollback v1"),
        run("takeover --build b2 --reason"),
        run("acquire --build ../b3"),
        run("takeover --build b2 --reason b1-was-cancelled --dry-run"),
        run("takeover --build b2 --reason b1-was-cancelled"),
        run("acquire --build b1"),
        run("release --build b2"),
        run("release --build b2"),
        run("show"),
    ];
    expect![[r#"
        $ release-lock acquire --build b1
        Some(0) Build b1 holds the release lock (s3://readysettech-cfn-public-us-east-2/locks/release.json).

        $ release-lock acquire --build b1
        Some(0) Build b1 holds the release lock already (s3://readysettech-cfn-public-us-east-2/locks/release.json).

        $ release-lock acquire --build b2
        Some(1) error: another release holds the release lock: build b1 (https://buildkite.example/b) of commit <short>, since <time>, <age> ago. Nothing was written. Wait for that build to finish, or, if it is dead, take the lock over with `cargo xtask release-lock takeover --build b2 --reason "<why>"` and retry this step

        $ release-lock release --build b2
        Some(1) error: build b2 does not hold the release lock, so it cannot release it: build b1 (https://buildkite.example/b) of commit <short>, since <time>, <age> ago holds it. Nothing was written. Did another release take it over (`cargo xtask release-lock show`)?

        $ rollback v1
        Some(1) error: refusing to roll back to v1: a release holds the release lock: build b1 (https://buildkite.example/b) of commit <short>, since <time>, <age> ago. Nothing was written. Wait for that release to finish (`cargo xtask release-lock show`); if it is dead, take the lock over and release it (`cargo xtask release-lock takeover`, then `release-lock release`)

        $ release-lock takeover --build b2 --reason
        Some(2) error: a value is required for '--reason <REASON>' but none was supplied

        For more information, try '--help'.

        $ release-lock acquire --build ../b3
        Some(2) error: invalid value '../b3' for '--build <ID>': "../b3" is not a build ID: expected 1 to 64 letters, digits and dashes, such as Buildkite's $BUILDKITE_BUILD_ID

        For more information, try '--help'.

        $ release-lock takeover --build b2 --reason b1-was-cancelled --dry-run
        Some(0) Would write s3://readysettech-cfn-public-us-east-2/locks/release.json (takeover):
        {
          "holder": {
            "build": "b2",
            "commit": "<commit>",
            "since": "<time>",
            "build-url": "https://buildkite.example/b"
          },
          "history": [
            "<time> acquired by build b1 (https://buildkite.example/b) of commit <short>",
            "<time> taken over by build b2 (https://buildkite.example/b) of commit <short> from build b1 (https://buildkite.example/b) of commit <short>, since <time>, <age> ago: b1-was-cancelled"
          ]
        }
        Dry run: nothing was written.
        TAKEOVER: <time> taken over by build b2 (https://buildkite.example/b) of commit <short> from build b1 (https://buildkite.example/b) of commit <short>, since <time>, <age> ago: b1-was-cancelled

        $ release-lock takeover --build b2 --reason b1-was-cancelled
        Some(0) Build b2 holds the release lock (s3://readysettech-cfn-public-us-east-2/locks/release.json).
        TAKEOVER: <time> taken over by build b2 (https://buildkite.example/b) of commit <short> from build b1 (https://buildkite.example/b) of commit <short>, since <time>, <age> ago: b1-was-cancelled

        $ release-lock acquire --build b1
        Some(1) error: another release holds the release lock: build b2 (https://buildkite.example/b) of commit <short>, since <time>, <age> ago. Nothing was written. Wait for that build to finish, or, if it is dead, take the lock over with `cargo xtask release-lock takeover --build b1 --reason "<why>"` and retry this step

        $ release-lock release --build b2
        Some(0) Build b2 released the release lock (s3://readysettech-cfn-public-us-east-2/locks/release.json).

        $ release-lock release --build b2
        Some(0) The release lock is free already (s3://readysettech-cfn-public-us-east-2/locks/release.json).

        $ release-lock show
        Some(0) The release lock is free.
          <time> acquired by build b1 (https://buildkite.example/b) of commit <short>
          <time> taken over by build b2 (https://buildkite.example/b) of commit <short> from build b1 (https://buildkite.example/b) of commit <short>, since <time>, <age> ago: b1-was-cancelled
          <time> released by build b2
    "#]].assert_eq(&steps.join("\n"));
}
