//! AMIs with the real Packer against the emulator's EC2, templates rendered and linted
//! with the real cfn-lint, uploaded per stage, and the test-stack scripts run by bash
//! with the AWS CLI against the emulator's CloudFormation.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::PathBuf,
    process::{Command, Output},
};

use expect_test::expect;
use xtask::domain::{
    images::packer::AmisFile, names::commit::CommitId, names::stage::Stage, pipeline::queues::SMOKE_TEST_SECRET,
    publishing::digest::sha256_hex,
};

use crate::support::{
    clear_aws_environment, config, expect_success,
    images::{build_amis, inspect, internal_accounts, packer_xtask, IMAGES, REGIONS},
    number_hashes,
    site::{OutputDir, Site},
    system_tool, text, venv_tool, COMMIT,
};

fn cfn_lint() -> PathBuf {
    venv_tool("cfn-lint", "cfn-lint")
}

fn bucket_keys(site: &Site, bucket: &str) -> BTreeSet<String> {
    site.keys_of(bucket).into_iter().collect()
}

#[test]
fn packer_builds_every_internal_image_in_every_region_for_the_internal_accounts_only() {
    let site = Site::new();
    let target = site.output_dir();
    let amis = build_amis(&site);
    assert_eq!((amis.stage, amis.commit.as_str(), amis.release.as_ref()), (Stage::Internal, COMMIT, None));
    assert_eq!(amis.images.keys().map(String::as_str).collect::<BTreeSet<_>>(), IMAGES.into_iter().collect());
    let internal: BTreeSet<String> = internal_accounts();
    let mut built = Vec::new();
    for (image, by_region) in &amis.images {
        assert_eq!(by_region.keys().map(String::as_str).collect::<Vec<_>>(), REGIONS, "{image}");
        built.extend(by_region.iter().map(|(region, ami)| (image, region.as_str(), ami.as_str())));
    }
    let pairs: Vec<(&str, &str)> = built.iter().map(|(_, region, ami)| (*region, *ami)).collect();
    for ((image, region, _), (described, access)) in built.iter().zip(inspect(&site, &pairs)) {
        assert!(described.name.starts_with(&format!("{image}-{}-", &COMMIT[..8])), "{image}: {}", described.name);
        if *region == "us-east-2" {
            assert_eq!(described.tags.get("Commit").map(String::as_str), Some(COMMIT), "{image}");
            assert_eq!(described.tags.get("Stage").map(String::as_str), Some("internal"));
        }
        assert_eq!(access.launch, internal, "{image} in {region}: internal accounts only, never customers");
        assert!(!access.public, "{image} in {region} is public");
    }

    let only = packer_xtask(&site, &["amis", "build", "--commit", COMMIT, "--only", "readyset-bastion"]);
    expect_success("amis build --only", &only);
    let amis: AmisFile =
        serde_json::from_slice(&std::fs::read(target.path().join("dist/amis-internal.json")).unwrap()).unwrap();
    assert_eq!(amis.images.keys().collect::<Vec<_>>(), vec!["readyset-bastion"]);
}

/// The pipeline's AMI step takes the packages ReadySet's build published for the
/// checkout's READYSET_TAG: no SHA256SUMS, a package it lists but missing, and a package
/// with other bytes are each refused by name before Packer starts; the right ones are
/// written to target/packages/<tag>/ (against the emulator, checked but not installed).
#[test]
fn amis_build_fetches_the_tags_packages_and_refuses_a_missing_or_changed_one() {
    let site = Site::new();
    let target = site.output_dir();
    let prefix = format!("{}unreleased/", config().packages_prefix);
    let put = |name: &str, bytes: &[u8]| {
        let request = site
            .aws
            .s3
            .put_object()
            .bucket(&config().cfn_internal_bucket)
            .key(format!("{prefix}{name}"))
            .body(bytes.to_vec().into());
        site.runtime.block_on(request.send()).unwrap();
    };
    let fetch = || {
        packer_xtask(&site, &["amis", "build", "--commit", COMMIT, "--only", "readyset-bastion", "--fetch-packages"])
    };
    let (server, adapter) = (b"readyset server package".as_slice(), b"readyset adapter package".as_slice());
    let sums = format!(
        "{}  readyset-server_1.0_amd64.deb\n{}  readyset-adapter_1.0_amd64.deb\n",
        sha256_hex(server),
        sha256_hex(adapter)
    );
    let mut seen = String::new();
    let mut refused = |case: &str| {
        let output = fetch();
        seen += &format!("{case}: exit {:?}\n{}", output.status.code(), text(&output.stderr));
        assert!(!target.path().join("packer").exists() && !target.path().join("packages").exists(), "{case}");
    };
    refused("no SHA256SUMS");
    put("SHA256SUMS", sums.as_bytes());
    put("readyset-server_1.0_amd64.deb", server);
    refused("a listed package missing");
    put("readyset-adapter_1.0_amd64.deb", b"other bytes");
    refused("a package changed");
    expect![[r#"
        no SHA256SUMS: exit Some(1)
        error: refusing to build the images: s3://readysettech-cfn-internal-us-east-2/readyset-packages/unreleased/SHA256SUMS does not exist. ReadySet's build publishes the packages of READYSET_TAG unreleased and their SHA256SUMS there (RELEASE.md, What the images hold); publish them, or set READYSET_TAG to a tag that has them. Nothing was built
        a listed package missing: exit Some(1)
        error: refusing to build the images: readyset-adapter_1.0_amd64.deb is listed in s3://readysettech-cfn-internal-us-east-2/readyset-packages/unreleased/SHA256SUMS, but s3://readysettech-cfn-internal-us-east-2/readyset-packages/unreleased/readyset-adapter_1.0_amd64.deb does not exist. Nothing was built
        a package changed: exit Some(1)
        error: refusing to build the images: s3://readysettech-cfn-internal-us-east-2/readyset-packages/unreleased/readyset-adapter_1.0_amd64.deb has SHA-256 <sha256 #1>, but s3://readysettech-cfn-internal-us-east-2/readyset-packages/unreleased/SHA256SUMS lists <sha256 #2> for it. The package was changed after the build published it; publish it again. Nothing was built
    "#]].assert_eq(&number_hashes(&seen));

    put("readyset-adapter_1.0_amd64.deb", adapter);
    let stdout = expect_success("amis build --fetch-packages", &fetch());
    let listing = &stdout[..stdout.find("Plan for the internal images").unwrap()];
    expect![[r#"
        Packages of READYSET_TAG unreleased, checked against SHA256SUMS:
          readyset-server_1.0_amd64.deb  23 bytes  sha256 <sha256 #1>
          readyset-adapter_1.0_amd64.deb  24 bytes  sha256 <sha256 #2>
          (against the emulator nothing is provisioned, so they are neither installed nor recorded)
    "#]]
    .assert_eq(&number_hashes(listing));
    let fetched = target.path().join("packages/unreleased");
    assert_eq!(std::fs::read(fetched.join("readyset-adapter_1.0_amd64.deb")).unwrap(), adapter);
    assert_eq!(std::fs::read(fetched.join("readyset-server_1.0_amd64.deb")).unwrap(), server);
}

#[test]
fn amis_build_needs_readyset_packages_outside_the_emulator_and_checks_each() {
    let site = Site::new();
    let dir = tempfile::tempdir().unwrap();
    let (deb, other) = (dir.path().join("readyset_1.0_amd64.deb"), dir.path().join("again"));
    std::fs::write(&deb, b"not really a package").unwrap();
    std::fs::create_dir(&other).unwrap();
    std::fs::write(other.join("readyset_1.0_amd64.deb"), b"another").unwrap();
    let (deb, again) = (deb.to_str().unwrap(), other.join("readyset_1.0_amd64.deb"));
    let notes = dir.path().join("notes.txt");
    let many: Vec<String> = (1..=3)
        .map(|n| {
            let path = dir.path().join(format!("readyset-component-number-{n}_1.0.0_amd64.deb"));
            std::fs::write(&path, format!("package {n}")).unwrap();
            path.to_str().unwrap().to_owned()
        })
        .collect();
    let mut seen = String::new();
    // Without AWS_ENDPOINT_URL this would be a production build: every case here is
    // refused before anything is read from AWS.
    for args in [
        vec!["amis", "build", "--commit", COMMIT],
        vec!["amis", "build", "--commit", COMMIT, "--package", notes.to_str().unwrap()],
        vec!["amis", "build", "--commit", COMMIT, "--package", "missing_1.0_amd64.deb"],
        vec!["amis", "build", "--commit", COMMIT, "--package", deb, "--package", again.to_str().unwrap()],
        vec!["amis", "build", "--commit", COMMIT, "--package", &many[0], "--package", &many[1], "--package", &many[2]],
    ] {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_xtask-aws"));
        clear_aws_environment(&mut command);
        let output = command.args(&args).current_dir(site.checkout.path()).output().unwrap();
        seen += &format!("$ {}\nexit {:?}\n{}\n", args[2..].join(" "), output.status.code(), text(&output.stderr));
    }
    let output = packer_xtask(&site, &["amis", "build", "--commit", COMMIT, "--package", deb]);
    seen += &format!("$ (emulator) --package\nexit {:?}\n{}", output.status.code(), text(&output.stderr));
    expect![[r#"
        $ --commit 0123456789abcdef0123456789abcdef01234567
        exit Some(1)
        error: refusing to build readyset-server, readyset-mysql-adapter, readyset-postgres-adapter without ReadySet: pass the Debian package(s) with --package <file.deb> (repeatable), or build only the bastion (--only readyset-bastion). Nothing was built

        $ --commit 0123456789abcdef0123456789abcdef01234567 --package <dir>/notes.txt
        exit Some(1)
        error: --package <dir>/notes.txt: expected a Debian package file named like readyset_1.2.0_amd64.deb (letters, digits, '.', '_', '-', '+', '~', ending in .deb)

        $ --commit 0123456789abcdef0123456789abcdef01234567 --package missing_1.0_amd64.deb
        exit Some(1)
        error: --package missing_1.0_amd64.deb: cannot read it; pass an existing .deb file
          because: No such file or directory (os error 2)

        $ --commit 0123456789abcdef0123456789abcdef01234567 --package <dir>/readyset_1.0_amd64.deb --package <dir>/again/readyset_1.0_amd64.deb
        exit Some(1)
        error: --package <dir>/again/readyset_1.0_amd64.deb: two packages are named readyset_1.0_amd64.deb; pass each package once

        $ --commit 0123456789abcdef0123456789abcdef01234567 --package <dir>/readyset-component-number-1_1.0.0_amd64.deb --package <dir>/readyset-component-number-2_1.0.0_amd64.deb --package <dir>/readyset-component-number-3_1.0.0_amd64.deb
        exit Some(1)
        error: --package: the packages' names and hashes take 326 characters, and the ReadySetPackages tag holds at most 256; pass fewer packages or shorter file names. Nothing was built

        $ (emulator) --package
        exit Some(1)
        error: --package: against the emulator (AWS_ENDPOINT_URL is set) nothing is provisioned, so the AMIs would be tagged with packages they do not hold; leave --package out there
    "#]].assert_eq(&seen.replace(dir.path().to_str().unwrap(), "<dir>"));
}

#[test]
fn amis_build_refuses_bad_arguments_and_dry_run_prints_the_packer_command() {
    let site = Site::new();
    let target = site.output_dir();
    let mut seen = String::new();
    for args in [
        vec!["amis", "build", "--only", "readyset-nope", "--commit", COMMIT],
        vec!["amis", "build", "--commit", "HEAD"],
        vec!["amis", "build", "--stage", "release", "--commit", COMMIT],
    ] {
        let output = packer_xtask(&site, &args);
        seen += &format!("$ {}\nexit {:?}\n{}\n", args.join(" "), output.status.code(), text(&output.stderr));
    }
    expect![[r#"
        $ amis build --only readyset-nope --commit 0123456789abcdef0123456789abcdef01234567
        exit Some(1)
        error: --only readyset-nope: there is no such image; the images are readyset-server, readyset-mysql-adapter, readyset-postgres-adapter, readyset-bastion

        $ amis build --commit HEAD
        exit Some(2)
        error: invalid value 'HEAD' for '--commit <COMMIT>': "HEAD" does not look like a git commit: expected 7 to 40 lowercase hex digits, as `git rev-parse HEAD` prints

        For more information, try '--help'.

        $ amis build --stage release --commit 0123456789abcdef0123456789abcdef01234567
        exit Some(2)
        error: unexpected argument '--stage' found

        Usage: cargo xtask amis build [OPTIONS]

        For more information, try '--help'.

    "#]].assert_eq(&seen);
    let output = packer_xtask(&site, &["amis", "build", "--commit", COMMIT, "--only", "readyset-server", "--dry-run"]);
    let stdout = expect_success("amis build --dry-run", &output)
        .replace(target.path().to_str().unwrap(), "<checkout>/target")
        .replace(&site.emulator.endpoint(), "$AWS_ENDPOINT_URL");
    expect![[r#"
        Plan for the internal images of 0123456789abcdef0123456789abcdef01234567 (Packer 1.6.6):
          stage: ops/image-deploy -> <checkout>/target/packer/templates (Packer 1.6.6 takes no plugin declaration)
          run: packer build -color=false -var=commit=0123456789abcdef0123456789abcdef01234567 -var=ec2_endpoint=$AWS_ENDPOINT_URL -var=manifest_path=<checkout>/target/packer/manifest-internal.json -var=package_dir=<checkout>/target/packer/templates/packages -var=packages= -var=communicator=none -only=amazon-ebs.readyset-server <checkout>/target/packer/templates
          provision: left out; the emulator runs no instance to connect to (the scripts are tested in a Debian 12 root)
          credentials: the xtask's AWS chain, given to Packer as AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (never printed; Packer cannot renew them); no other AWS_* variable reaches it
          share with: 888877776666, 999988887777 (internal accounts only; snapshots too)
          images: readyset-server
          regions: us-east-1, us-east-2, us-west-2
          write: <checkout>/target/dist/amis-internal.json

        Dry run: Packer was not run and nothing was written.
    "#]].assert_eq(&stdout);
    assert!(!target.path().join("dist").exists() && !target.path().join("packer").exists(), "a dry run writes nothing");
}

#[test]
fn templates_render_lint_clean_pass_the_rules_and_upload_to_each_stage() {
    let site = Site::new();
    let target = site.output_dir();
    let amis = build_amis(&site);
    let amis_path = target.path().join("dist/amis-internal.json");
    let out = target.path().join("cfn");
    site.xtask_ok(&["cfn", "render", "--amis", amis_path.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    let server = std::fs::read_to_string(out.join("readyset-server.yaml")).unwrap();
    for region in REGIONS {
        assert!(server.contains(&format!("Ami: \"{}\"", amis.images["readyset-server"][region])), "{server}");
    }
    let rendered: Vec<PathBuf> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    assert_eq!(rendered.len(), 7);
    let lint = Command::new(cfn_lint()).args(&rendered).output().unwrap();
    assert!(lint.status.success(), "cfn-lint on the rendered templates:\n{}", text(&lint.stdout));
    assert_eq!(crate::stacks::failed_rules(&out), "", "AWS's rules (ops/cfn-rules/) over the rendered templates");

    let out_str = out.to_str().unwrap();
    site.xtask_ok(&["cfn", "upload", "--dir", out_str, "--internal", COMMIT]);
    site.xtask_ok(&["cfn", "upload", "--dir", out_str, "--alpha", COMMIT]);
    site.xtask_ok(&["cfn", "upload", "--dir", out_str, "--release", "v1"]);
    let names = crate::support::site::public_templates();
    let keys = |prefix: &str, with_internal: bool| -> BTreeSet<String> {
        let mut keys: BTreeSet<String> = names.iter().map(|n| format!("{prefix}{n}.yaml")).collect();
        if with_internal {
            keys.insert(format!("{prefix}readyset-benchmark.yaml"));
        }
        keys.insert(format!("{prefix}amis.json"));
        keys
    };
    assert_eq!(bucket_keys(&site, &config().cfn_internal_bucket), keys(&format!("{COMMIT}/readyset/templates/"), true));
    let public: BTreeSet<String> = keys(&format!("alpha/{COMMIT}/readyset/templates/"), false)
        .union(&keys("v1/readyset/templates/", false))
        .cloned()
        .collect();
    assert_eq!(
        bucket_keys(&site, &config().cfn_public_bucket),
        public,
        "internal-only templates never reach the public bucket"
    );

    let again = site.xtask_ok(&["cfn", "upload", "--dir", out_str, "--release", "v1"]);
    assert!(again.contains("nothing to write"), "{again}");
    std::fs::write(out.join("readyset-vpc.yaml"), server.replace("ReadySet server", "changed")).unwrap();
    let refused = site.xtask(&["cfn", "upload", "--dir", out_str, "--release", "v1"]);
    assert_eq!(refused.status.code(), Some(1));
    let stderr = text(&refused.stderr);
    assert!(stderr.contains("v1/readyset/templates/readyset-vpc.yaml already holds sha256"), "{stderr}");
    assert!(stderr.contains("Nothing was written"), "{stderr}");
    site.xtask_ok(&["cfn", "upload", "--dir", out_str, "--internal", COMMIT]);

    let dry = site.xtask_ok(&["cfn", "upload", "--dir", out_str, "--release", "v2", "--dry-run"]);
    assert!(dry.contains("new                    v2/readyset/templates/readyset-mysql-super.yaml"), "{dry}");
    assert!(dry.contains("internal only, not uploaded to the public bucket: readyset-benchmark"), "{dry}");
    assert!(!bucket_keys(&site, &config().cfn_public_bucket).iter().any(|k| k.starts_with("v2/")));
    for (args, phrase) in [
        (vec!["cfn", "upload", "--dir", out_str, "--alpha", "main"], "does not look like a git commit"),
        (vec!["cfn", "upload", "--dir", out_str, "--release", "latest"], "reserved"),
        (vec!["cfn", "upload", "--dir", out_str, "--release", "v3", "--alpha", COMMIT], "cannot be used with"),
        (vec!["cfn", "upload", "--dir", out_str], "required arguments were not provided"),
    ] {
        let output = site.xtask(&args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(text(&output.stderr).contains(phrase), "{args:?}: {}", text(&output.stderr));
    }
}

#[test]
fn render_refuses_incomplete_amis_and_leaves_no_output() {
    let site = Site::new();
    let scratch = tempfile::tempdir().unwrap();
    let mut images = BTreeMap::new();
    for image in IMAGES {
        images.insert(
            image.to_string(),
            REGIONS.iter().map(|r| (r.to_string(), "ami-0123456789abcdef0".to_string())).collect::<BTreeMap<_, _>>(),
        );
    }
    images.get_mut("readyset-bastion").unwrap().remove("us-west-2");
    let amis = AmisFile {
        stage: Stage::Internal,
        commit: CommitId::parse(COMMIT).unwrap(),
        release: None,
        images,
        sources: Default::default(),
        packages: Default::default(),
    };
    let path = scratch.path().join("amis.json");
    std::fs::write(&path, serde_json::to_string(&amis).unwrap()).unwrap();
    let out = scratch.path().join("out");
    let output = site.xtask(&["cfn", "render", "--amis", path.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("cannot render readyset-bastion.yaml")
            && stderr.contains("no AMI of readyset-bastion in us-west-2"),
        "{stderr}"
    );
    assert!(!out.exists(), "no partial output");
    assert_eq!(std::fs::read_dir(scratch.path()).unwrap().count(), 1);

    std::fs::write(site.checkout.path().join("ops/cfn/readyset-extra.yaml"), "Resources: {}\n").unwrap();
    let output = site.xtask(&["cfn", "render", "--amis", path.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert!(
        text(&output.stderr).contains("ops/cfn/readyset-extra.yaml is not in [workspace.metadata.release] templates")
    );
    std::fs::write(&path, "{}").unwrap();
    let output = site.xtask(&["cfn", "render", "--amis", path.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert!(
        text(&output.stderr).contains("is not an AMIs file written by `cargo xtask amis build`"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn customers_are_added_and_removed_keeping_every_other_byte() {
    let site = Site::new();
    let locals = site.checkout.path().join("ops/image-deploy/locals.pkr.hcl");
    let original = std::fs::read_to_string(&locals).unwrap();
    let list = site.xtask_ok(&["customers", "list"]);
    assert!(list.contains("305198143522  Acme Analytics (pilot)"), "{list}");

    let dry = site.xtask_ok(&["customers", "add", "123456789012", "--note", "Initech (trial)", "--dry-run"]);
    assert!(dry.contains("+    \"123456789012\", # Initech (trial)"), "{dry}");
    assert_eq!(std::fs::read_to_string(&locals).unwrap(), original);

    site.xtask_ok(&["customers", "add", "123456789012", "--note", "Initech (trial)"]);
    let added = std::fs::read_to_string(&locals).unwrap();
    assert_eq!(
        added,
        original.replace("# Globex Retail\n", "# Globex Retail\n    \"123456789012\", # Initech (trial)\n")
    );
    let fmt = Command::new(system_tool("packer", "packer")).args(["fmt", "-check"]).arg(&locals).output().unwrap();
    assert!(fmt.status.success(), "packer fmt -check after an add: {}", text(&fmt.stdout));

    for (args, phrase) in [
        (vec!["customers", "add", "123456789012", "--note", "again"], "already in customer_account_ids"),
        (vec!["customers", "remove", "999999999999"], "not in customer_account_ids"),
    ] {
        let output = site.xtask(&args);
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        assert!(text(&output.stderr).contains(phrase), "{args:?}: {}", text(&output.stderr));
    }
    for (args, phrase) in [
        (vec!["customers", "add", "12345", "--note", "short"], "exactly 12 digits"),
        (vec!["customers", "add", "123456789012"], "--note <NOTE>"),
    ] {
        let output = site.xtask(&args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(text(&output.stderr).contains(phrase), "{args:?}: {}", text(&output.stderr));
    }
    assert_eq!(std::fs::read_to_string(&locals).unwrap(), added, "refusals write nothing");
    site.xtask_ok(&["customers", "remove", "123456789012"]);
    assert_eq!(std::fs::read_to_string(&locals).unwrap(), original);
}

#[test]
fn the_test_stack_is_created_reported_refused_twice_and_deleted() {
    let (site, _target) = site_with_internal_templates();

    let script = |name: &str, args: &[&str]| run_script(&site, name, args);
    let created = script(
        "create-mysql-super-stack.sh",
        &["-c", COMMIT, "-k", "release-test", "-a", "203.0.113.7/32", "-s", SMOKE_TEST_SECRET, "-n", "smoke"],
    );
    assert!(
        created.status.success(),
        "{}\n{}\nemulator log:\n{}",
        text(&created.stdout),
        text(&created.stderr),
        site.emulator.log()
    );
    let report = text(&created.stdout);
    assert!(report.contains("Stack smoke is ready."), "{report}");
    let bastion = report.lines().find_map(|l| l.strip_prefix("  bastion (public):")).unwrap().trim().to_owned();
    assert!(bastion.split('.').count() == 4, "a bastion address: {report}");
    assert!(report.contains(&format!("ssh -i ~/.ssh/release-test.pem admin@{bastion}")), "{report}");
    assert!(report.contains("ops/cfn-test/delete-stack.sh -n smoke"), "{report}");
    let server = report.lines().find_map(|l| l.strip_prefix("  ReadySet server:")).unwrap().trim().to_owned();
    expect![[r#"
        created as: arn:aws:iam::123456789012:role/readyset-cfn-test-stacks
        parameters: DeploymentName=smoke ServerAddress=<server> UpstreamDatabaseSecretArn=<secret arn>
        role boundary: arn:aws:iam::123456789012:policy/readyset-cfn-test-stacks-instance-boundary
        role policy: {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": "<secret arn>"}]}
        instance profile: yes
        user data: unit=readyset-mysql-adapter.service
        user data: env=/etc/readyset/readyset-mysql-adapter.env
        user data: --secret-id '<secret arn>' --query SecretString --output text); then
        user data: DEPLOYMENT=smoke
        user data: SERVER_ADDRESS=<server>:5433
        user data: LISTEN_ADDRESS=0.0.0.0:3306
    "#]].assert_eq(&launched_adapter(&site, "smoke").replace(&server, "<server>"));

    let twice = script(
        "create-mysql-super-stack.sh",
        &["-c", COMMIT, "-k", "release-test", "-a", "203.0.113.7/32", "-s", SMOKE_TEST_SECRET, "-n", "smoke"],
    );
    assert_eq!(twice.status.code(), Some(1));
    assert!(text(&twice.stderr).contains("stack smoke already exists"), "{}", text(&twice.stderr));

    let deleted = script("delete-stack.sh", &["-n", "smoke"]);
    assert!(deleted.status.success(), "{}", text(&deleted.stderr));
    let stacks = site.aws_cli(&["cloudformation", "describe-stacks", "--stack-name", "smoke"]);
    assert!(!stacks.status.success(), "the stack is gone");
    let again = script("delete-stack.sh", &["-n", "smoke"]);
    assert!(again.status.success() && text(&again.stdout).contains("nothing to delete"));

    // A secret that does not exist is refused before any stack is created.
    let missing = script(
        "create-mysql-super-stack.sh",
        &["-c", COMMIT, "-k", "k", "-a", "203.0.113.7/32", "-s", "no-such-secret", "-n", "nosecret"],
    );
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        text(&missing.stderr)
            .contains("error: no secret 'no-such-secret' in us-east-2 (see the message above); create it with:"),
        "{}",
        text(&missing.stderr)
    );
    assert!(!site.aws_cli(&["cloudformation", "describe-stacks", "--stack-name", "nosecret"]).status.success());
    let bad = script(
        "create-mysql-super-stack.sh",
        &["-c", "not-a-sha", "-k", "k", "-a", "203.0.113.7/32", "-s", SMOKE_TEST_SECRET],
    );
    assert_eq!(bad.status.code(), Some(2));
    assert!(text(&bad.stderr).contains("does not look like a git commit"));
    for cidr in ["", "0.0.0.0", "my-laptop"] {
        let bad =
            script("create-mysql-super-stack.sh", &["-c", COMMIT, "-k", "k", "-a", cidr, "-s", SMOKE_TEST_SECRET]);
        assert_eq!(bad.status.code(), Some(2), "-a {cidr:?}");
        assert!(text(&bad.stderr).contains(&format!("error: -a '{cidr}' is not a CIDR")), "{}", text(&bad.stderr));
    }
}

/// The super stack in a VPC the customer already has: no VPC, subnet or gateway is made,
/// ReadySet's instances go into the given private subnet, and interface endpoints for
/// the two APIs the instances call are made on request.
#[test]
fn the_super_stack_runs_in_an_existing_vpc_when_given_one() {
    let (site, _target) = site_with_internal_templates();
    let ec2 = |args: &[&str]| -> serde_json::Value {
        let output = site.aws_cli(&[&["ec2"], args, &["--output", "json"]].concat());
        serde_json::from_str(&expect_success(&format!("aws ec2 {args:?}"), &output)).unwrap()
    };
    let vpc = ec2(&["create-vpc", "--cidr-block", "10.9.0.0/16"])["Vpc"]["VpcId"].as_str().unwrap().to_owned();
    let subnet = |cidr: &str| {
        let made = ec2(&["create-subnet", "--vpc-id", &vpc, "--cidr-block", cidr, "--availability-zone", "us-east-2b"]);
        made["Subnet"]["SubnetId"].as_str().unwrap().to_owned()
    };
    let (public, private) = (subnet("10.9.0.0/24"), subnet("10.9.1.0/24"));
    let vpcs_before = ec2(&["describe-vpcs"])["Vpcs"].as_array().unwrap().len();
    let given = [
        format!("VpcId={vpc}"),
        format!("PublicSubnetId={public}"),
        format!("PrivateSubnetId={private}"),
        "ClientCidr=10.9.0.0/16".to_owned(),
        "CreateEndpoints=true".to_owned(),
    ];
    let mut args = vec!["-c", COMMIT, "-k", "k", "-a", "203.0.113.7/32", "-s", SMOKE_TEST_SECRET, "-n", "existing"];
    for parameter in &given {
        args.extend(["-p", parameter.as_str()]);
    }
    let created = run_script(&site, "create-mysql-super-stack.sh", &args);
    assert!(created.status.success(), "{}\n{}\n{}", text(&created.stdout), text(&created.stderr), site.emulator.log());
    assert_eq!(ec2(&["describe-vpcs"])["Vpcs"].as_array().unwrap().len(), vpcs_before, "no VPC is made");
    let network = stack_resource(&site, "existing", "Network");
    let mut made = stack_resources(&site, &network);
    made.sort();
    assert_eq!(
        made,
        ["CloudFormationEndpoint", "EndpointSecurityGroup", "InstanceSecurityGroup", "SecretsManagerEndpoint"],
        "the network stack makes only the endpoints and their groups"
    );
    let adapter = stack_resource(&site, "existing", "MysqlAdapter");
    let instance = stack_resource(&site, &adapter, "Instance");
    let described = ec2(&["describe-instances", "--instance-ids", &instance]);
    assert_eq!(described["Reservations"][0]["Instances"][0]["SubnetId"], private.as_str());
    let endpoints = ec2(&["describe-vpc-endpoints"]);
    let mut services: Vec<&str> = endpoints["VpcEndpoints"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["VpcId"] == vpc.as_str() && e["PrivateDnsEnabled"] == true)
        .map(|e| e["ServiceName"].as_str().unwrap())
        .collect();
    services.sort();
    assert_eq!(services, ["com.amazonaws.us-east-2.cloudformation", "com.amazonaws.us-east-2.secretsmanager"]);
}

/// The physical ID of a stack's resource (a nested stack's own stack ID).
fn stack_resource(site: &Site, stack: &str, logical: &str) -> String {
    let args = ["cloudformation", "describe-stack-resource", "--stack-name", stack, "--logical-resource-id", logical];
    let output =
        site.aws_cli(&[&args[..], &["--query", "StackResourceDetail.PhysicalResourceId", "--output", "text"]].concat());
    assert!(output.status.success(), "{args:?}: {}\nemulator log:\n{}", text(&output.stderr), site.emulator.log());
    text(&output.stdout).trim().to_owned()
}

fn stack_resources(site: &Site, stack: &str) -> Vec<String> {
    let output = site.aws_cli(&[
        "cloudformation",
        "describe-stack-resources",
        "--stack-name",
        stack,
        "--query",
        "StackResources[].LogicalResourceId",
        "--output",
        "json",
    ]);
    serde_json::from_str(&expect_success("describe-stack-resources", &output)).unwrap()
}

#[test]
fn a_failed_test_stack_is_deleted_unless_kept() {
    let (site, _target) = site_with_internal_templates();
    // The super stack's third nested template is missing: creation fails part way.
    site.runtime.block_on(async {
        let key = format!("{COMMIT}/readyset/templates/readyset-server.yaml");
        site.aws.s3.delete_object().bucket(&config().cfn_internal_bucket).key(key).send().await.unwrap();
    });
    let live_stacks = || -> Vec<String> {
        let listed = site.aws_cli(&["cloudformation", "list-stacks", "--output", "json"]);
        let listed: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
        listed["StackSummaries"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["StackStatus"] != "DELETE_COMPLETE")
            .map(|s| s["StackName"].as_str().unwrap().to_owned())
            .collect()
    };

    let failed = run_script(
        &site,
        "create-mysql-super-stack.sh",
        &["-c", COMMIT, "-k", "k", "-a", "203.0.113.7/32", "-s", SMOKE_TEST_SECRET, "-n", "broken"],
    );
    assert_eq!(failed.status.code(), Some(1), "{}", text(&failed.stdout));
    let stderr = text(&failed.stderr);
    assert!(stderr.contains("error: creating broken failed"), "{stderr}");
    assert!(live_stacks().is_empty(), "nothing is left behind: {:?}\n{stderr}", live_stacks());

    let kept = run_script(
        &site,
        "create-mysql-super-stack.sh",
        &[
            "-c",
            COMMIT,
            "-k",
            "k",
            "-a",
            "203.0.113.7/32",
            "-s",
            SMOKE_TEST_SECRET,
            "-n",
            "broken",
            "--keep-on-failure",
        ],
    );
    assert_eq!(kept.status.code(), Some(1));
    let stderr = text(&kept.stderr);
    assert!(stderr.contains("Kept for inspection"), "{stderr}");
    assert!(live_stacks().contains(&"broken".to_owned()), "{:?}", live_stacks());
    let deleted = run_script(&site, "delete-stack.sh", &["-n", "broken"]);
    assert!(deleted.status.success(), "{}", text(&deleted.stderr));
    assert!(live_stacks().is_empty(), "{:?}", live_stacks());
}

/// What the super stack's MySQL adapter was launched with: its stack's parameters (the
/// secret's ARN, never its value), its instance profile's role policy, and the UserData
/// lines that carry the parameters.
fn launched_adapter(site: &Site, stack: &str) -> String {
    let json = |args: &[&str]| -> serde_json::Value {
        let output = site.aws_cli(&[args, &["--output", "json"]].concat());
        serde_json::from_slice(&output.stdout).unwrap_or_else(|_| panic!("{args:?}: {}", text(&output.stderr)))
    };
    let resource = |stack: &str, logical: &str| -> String {
        let found = json(&[
            "cloudformation",
            "describe-stack-resource",
            "--stack-name",
            stack,
            "--logical-resource-id",
            logical,
        ]);
        found["StackResourceDetail"]["PhysicalResourceId"].as_str().unwrap().to_owned()
    };
    let adapter = resource(stack, "MysqlAdapter");
    let mut out = String::new();
    let parent = json(&["cloudformation", "describe-stacks", "--stack-name", stack]);
    out += &format!("created as: {}\n", parent["Stacks"][0]["RoleARN"].as_str().unwrap_or("the caller"));
    let described = json(&["cloudformation", "describe-stacks", "--stack-name", &adapter]);
    let mut parameters: Vec<String> = described["Stacks"][0]["Parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| format!("{}={}", p["ParameterKey"].as_str().unwrap(), p["ParameterValue"].as_str().unwrap()))
        .filter(|p| ["DeploymentName", "UpstreamDatabaseSecretArn", "ServerAddress"].iter().any(|k| p.starts_with(k)))
        .collect();
    parameters.sort();
    out += &format!("parameters: {}\n", parameters.join(" "));
    let role = resource(&adapter, "Role");
    let described_role = json(&["iam", "get-role", "--role-name", &role]);
    let boundary = described_role["Role"]["PermissionsBoundary"]["PermissionsBoundaryArn"].as_str().unwrap_or("none");
    out += &format!("role boundary: {boundary}\n");
    let policy =
        json(&["iam", "get-role-policy", "--role-name", &role, "--policy-name", "read-upstream-database-secret"]);
    // The emulator answers with the document as Python prints it; quotes made JSON's.
    out += &format!("role policy: {}\n", policy["PolicyDocument"].as_str().unwrap().replace('\'', "\""));
    let instance = resource(&adapter, "Instance");
    let described = json(&["ec2", "describe-instances", "--instance-ids", &instance]);
    let profile = described["Reservations"][0]["Instances"][0]["IamInstanceProfile"]["Arn"].as_str().unwrap_or("none");
    out += &format!("instance profile: {}\n", if profile.contains(":instance-profile/") { "yes" } else { profile });
    let user_data =
        json(&["ec2", "describe-instance-attribute", "--instance-id", &instance, "--attribute", "userData"]);
    let user_data = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        user_data["UserData"]["Value"].as_str().unwrap(),
    )
    .unwrap();
    let user_data = String::from_utf8(user_data).unwrap();
    for line in user_data.lines().filter(|l| l.contains("--secret-id") || l.contains('=') && !l.contains('$')) {
        out += &format!("user data: {}\n", line.trim());
    }
    let secret = json(&["secretsmanager", "describe-secret", "--secret-id", SMOKE_TEST_SECRET]);
    out.replace(secret["ARN"].as_str().unwrap(), "<secret arn>")
}

/// A site whose internal bucket holds the rendered templates of COMMIT, as the
/// pipeline's internal steps leave it.
fn site_with_internal_templates() -> (Site, OutputDir) {
    let site = Site::new();
    let target = site.output_dir();
    build_amis(&site);
    let out = target.path().join("cfn");
    let amis = target.path().join("dist/amis-internal.json");
    site.xtask_ok(&["cfn", "render", "--amis", amis.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    site.xtask_ok(&["cfn", "upload", "--dir", out.to_str().unwrap(), "--internal", COMMIT]);
    (site, target)
}

/// Runs a test-stack script with bash and the AWS CLI against the emulator. The stack's
/// template URLs are the production bucket's; the emulator reads them from its own S3
/// (it sends no request for them), so the templates carry no test-only parameter.
fn run_script(site: &Site, name: &str, args: &[&str]) -> Output {
    let mut command = site.command("bash");
    command.arg(site.checkout.path().join("ops/cfn-test").join(name)).args(args);
    command.env("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{}", site.emulator.port()));
    let aws_dir = venv_tool("aws", "awscli").parent().unwrap().to_owned();
    command.env("PATH", format!("{}:{}", aws_dir.display(), std::env::var("PATH").unwrap()));
    command.output().unwrap()
}

/// `--out` may name only a new or empty directory, or one an earlier render made; every
/// other place is refused with nothing written and nothing deleted.
#[test]
fn render_never_replaces_a_directory_it_did_not_make() {
    let site = Site::new();
    let checkout = site.checkout.path();
    std::fs::create_dir_all(checkout.join(".git")).unwrap();
    std::fs::write(checkout.join(".git/HEAD"), "ref: refs/heads/main\n").unwrap();
    let home = tempfile::tempdir().unwrap();
    std::fs::write(home.path().join(".profile"), "# mine\n").unwrap();
    let foreign = checkout.join("notes");
    std::fs::create_dir_all(&foreign).unwrap();
    std::fs::write(foreign.join("todo.txt"), "keep me\n").unwrap();
    let amis = checkout.join("amis.json");
    let images = ["readyset-server", "readyset-mysql-adapter", "readyset-postgres-adapter", "readyset-bastion"]
        .iter()
        .map(|image| {
            (image.to_string(), REGIONS.iter().map(|r| (r.to_string(), "ami-0123456789abcdef0".to_string())).collect())
        })
        .collect();
    let file = AmisFile {
        stage: Stage::Internal,
        commit: CommitId::parse(COMMIT).unwrap(),
        release: None,
        images,
        sources: Default::default(),
        packages: Default::default(),
    };
    std::fs::write(&amis, file.to_json()).unwrap();

    let home_dir = home.path().to_str().unwrap().to_owned();
    let mut seen = String::new();
    for out in [".", "..", "/", checkout.to_str().unwrap(), &home_dir, "notes", "amis.json"] {
        let output =
            site.xtask_with_env(&["cfn", "render", "--amis", "amis.json", "--out", out], &[("HOME", &home_dir)]);
        assert_eq!(output.status.code(), Some(1), "--out {out}");
        let stderr =
            text(&output.stderr).replace(checkout.to_str().unwrap(), "<checkout>").replace(&home_dir, "<home>");
        seen += &format!(
            "--out {}\n{stderr}",
            out.replace(checkout.to_str().unwrap(), "<checkout>").replace(&home_dir, "<home>")
        );
    }
    expect![[r#"
        --out .
        error: refusing to use "." as an output directory: it names the current, parent or root directory. Pass a directory of its own, such as target/cfn
        --out ..
        error: refusing to use ".." as an output directory: it names the current, parent or root directory. Pass a directory of its own, such as target/cfn
        --out /
        error: refusing to use "/" as an output directory: it names the current, parent or root directory. Pass a directory of its own, such as target/cfn
        --out <checkout>
        error: refusing to replace <checkout>: it is (or holds) the checkout or the home directory. Nothing was written. Pass a directory of its own, such as target/cfn
        --out <home>
        error: refusing to replace <home>: it is (or holds) the checkout or the home directory. Nothing was written. Pass a directory of its own, such as target/cfn
        --out notes
        error: refusing to replace notes: it holds files the xtask did not write (no .xtask-output marker). Nothing was written. Pass a new or empty directory, or remove this one yourself if it is expendable
        --out amis.json
        error: refusing to replace amis.json: it is a file, not an output directory. Nothing was written
    "#]].assert_eq(&seen);
    assert_eq!(std::fs::read_to_string(checkout.join(".git/HEAD")).unwrap(), "ref: refs/heads/main\n");
    assert_eq!(std::fs::read_to_string(home.path().join(".profile")).unwrap(), "# mine\n");
    assert_eq!(std::fs::read_to_string(foreign.join("todo.txt")).unwrap(), "keep me\n");

    site.xtask_ok(&["cfn", "render", "--amis", "amis.json", "--out", "target/cfn"]);
    std::fs::write(checkout.join("target/cfn/stale.yaml"), "old").unwrap();
    site.xtask_ok(&["cfn", "render", "--amis", "amis.json", "--out", "target/cfn"]);
    assert!(!checkout.join("target/cfn/stale.yaml").exists(), "an earlier render's directory is replaced whole");
    assert!(checkout.join("target/cfn/readyset-server.yaml").exists());
}
