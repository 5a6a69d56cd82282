//! `cargo xtask bench amis`: `amis list` and a dry-run `amis prune` against an account
//! of many images (the emulator's, seeded here), timed, with the requests each made.
//! The figures go in RELEASE.md and issue notes; no test asserts a time.

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use xshell::cmd;
use xtask::{
    adapters::{toolchain, workspace::Workspace},
    cli::BenchAmisArgs,
};

use crate::adapters::{
    emulator::{self, Emulator, EmulatorAccess, Options},
    site::{runtime, Site},
};

/// Seeds the images in one Python process (boto3 from the test venv): one instance, then
/// `count` images of it, tagged as internal images of commits, and a published template
/// naming every tenth one.
const SEED: &str = r#"
import sys, boto3
count, bucket = int(sys.argv[1]), sys.argv[2]
ec2, s3 = boto3.client("ec2"), boto3.client("s3")
base = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
instance = ec2.run_instances(ImageId=base, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
named = []
for n in range(count):
    ami = ec2.create_image(InstanceId=instance, Name=f"readyset-server-internal-{n:04}")["ImageId"]
    ec2.create_tags(Resources=[ami], Tags=[{"Key": "Stage", "Value": "internal"}, {"Key": "Commit", "Value": f"{n:040x}"}])
    if n % 10 == 0:
        named.append(ami)
body = "Mappings:\n" + "".join(f"  r{i}: {{AMI: {ami}}}\n" for i, ami in enumerate(named))
s3.put_object(Bucket=bucket, Key="bench/readyset/templates/readyset-server.yaml", Body=body.encode())
"#;

pub fn run(workspace: &Workspace, args: BenchAmisArgs, dry_run: bool) -> Result<()> {
    println!(
        "Bench of `amis list` and `amis prune --stage internal --older-than 0s` (a dry run) against the AWS \
         emulator (moto) on 127.0.0.1, seeded with {} internal images and a published template naming every tenth",
        args.images
    );
    if dry_run {
        println!("Dry run: nothing was started or written.");
        return Ok(());
    }
    toolchain::ensure_tools(workspace, toolchain::Install::Everything)?;
    let options = Options { distribution_id: Some(&workspace.config.cloudfront_distribution), ..Options::default() };
    let emulator = Emulator::start(&toolchain::python(workspace), &options)?;
    let access = emulator.access("127.0.0.1");
    let config = &workspace.config;
    runtime()?.block_on(async {
        let site = Site::from_sdk_config(config, access.sdk_config(&config.region).await);
        emulator::create_site(&site).await
    })?;
    let started = Instant::now();
    let (sh, python, count) = (&workspace.sh, toolchain::python(workspace), args.images.to_string());
    let bucket = &config.cfn_internal_bucket;
    access
        .isolate(workspace, cmd!(sh, "{python} -c {SEED} {count} {bucket}"))
        .env("AWS_DEFAULT_REGION", &config.region)
        .quiet()
        .run()
        .context("seeding the emulator with images failed")?;
    println!("Seeded in {:.1}s.", started.elapsed().as_secs_f64());
    for (what, command) in [
        ("amis list", &["amis", "list"][..]),
        ("amis prune (dry run)", &["amis", "prune", "--stage", "internal", "--older-than", "0s"][..]),
    ] {
        let (elapsed, requests) = timed(workspace, &access, command)?;
        println!("  {what:<22} {:>6.2}s  {requests} requests", elapsed.as_secs_f64());
    }
    Ok(())
}

/// Runs the xtask against the emulator; its time and the requests it says it made.
fn timed(workspace: &Workspace, access: &EmulatorAccess, args: &[&str]) -> Result<(Duration, String)> {
    let (sh, xtask) = (&workspace.sh, std::env::current_exe()?);
    let started = Instant::now();
    let output = access.isolate(workspace, cmd!(sh, "{xtask} {args...}")).quiet().ignore_status().output()?;
    let elapsed = started.elapsed();
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!("`cargo xtask {}` failed:\n{}", args.join(" "), String::from_utf8_lossy(&output.stderr));
    }
    let requests = stdout.rsplit(" requests").nth(1).and_then(|before| before.rsplit('(').next()).unwrap_or("?");
    Ok((elapsed, requests.to_owned()))
}
