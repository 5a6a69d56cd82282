//! moto's AWS emulator, started for the tests and the rehearsal. The launcher script is
//! compiled into the xtask and handed to Python with `-c`, so no path has to be found.

use std::{
    io::{BufRead, BufReader, Read},
    path::Path,
    process::{Child, Command, Stdio},
    sync::{mpsc, Arc, Mutex},
    time::Duration,
};

use anyhow::{bail, Context, Result};
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_s3::config::Credentials;
use xtask::adapters::{toolchain, workspace::Workspace};

use crate::adapters::site::Site;

const LAUNCHER: &str = include_str!("../../emulator/moto_launcher.py");
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A base image the emulator's EC2 has (name filter, owner), standing in for the
/// production one when Packer builds against it.
pub const EMULATOR_BASE_IMAGE: (&str, &str) =
    ("ubuntu/images/hvm-ssd/ubuntu-trusty-14.04-amd64-server-*", "099720109477");

/// A running emulator on 127.0.0.1. It stops when this value is dropped, and also when
/// the process that started it exits in any way (the launcher exits when its standard
/// input closes).
pub struct Emulator {
    child: Child,
    port: u16,
    /// What the emulator printed to stderr (tracebacks of its internal errors).
    log: Arc<Mutex<String>>,
}

impl Emulator {
    pub fn start(python: &Path) -> Result<Emulator> {
        Emulator::start_with(python, None)
    }

    /// Starts an emulator whose first CloudFront distribution gets `distribution_id`.
    pub fn start_with(python: &Path, distribution_id: Option<&str>) -> Result<Emulator> {
        let install_hint = "install it with `cargo xtask ci` (creates target/ci-venv) or `pip install 'moto[server]'`";
        let mut command = Command::new(python);
        if let Some(id) = distribution_id {
            command.env("XTASK_EMULATOR_DISTRIBUTION_ID", id);
        }
        let mut child = command
            .arg("-c")
            .arg(LAUNCHER)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| {
                format!("cannot run {} to start the AWS emulator (moto); {install_hint}", python.display())
            })?;

        let stderr = Arc::new(Mutex::new(String::new()));
        let mut child_stderr = child.stderr.take().expect("stderr is piped");
        let collected = Arc::clone(&stderr);
        std::thread::spawn(move || {
            let mut buffer = [0u8; 4096];
            while let Ok(n @ 1..) = child_stderr.read(&mut buffer) {
                collected.lock().unwrap().push_str(&String::from_utf8_lossy(&buffer[..n]));
            }
        });
        let stdout = child.stdout.take().expect("stdout is piped");
        let (sender, receiver) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = sender.send(line);
        });

        let port = match receiver.recv_timeout(START_TIMEOUT) {
            Ok(line) if line.starts_with("port=") => line["port=".len()..].trim().parse::<u16>().ok(),
            _ => None,
        };
        match port {
            Some(port) => Ok(Emulator { child, port, log: stderr }),
            None => {
                let _ = child.kill();
                let status = child.wait().ok();
                std::thread::sleep(Duration::from_millis(100));
                let stderr = stderr.lock().unwrap().trim().to_owned();
                if status.and_then(|s| s.code()) == Some(3) {
                    bail!("{stderr}");
                }
                bail!(
                    "the AWS emulator (moto, run by {}) did not start within {}s; {install_hint}. Its output:\n{stderr}",
                    python.display(),
                    START_TIMEOUT.as_secs()
                )
            }
        }
    }

    /// The emulator's own error output so far, for diagnosing a failed call.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub async fn sdk_config(&self, region: &str) -> SdkConfig {
        sdk_config_for(&self.endpoint(), region).await
    }

    pub fn env(&self, region: &str) -> Vec<(&'static str, String)> {
        env_for(&self.endpoint(), region)
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An SDK configuration pointing at an emulator, with placeholder credentials (moto
/// accepts any).
pub async fn sdk_config_for(endpoint: &str, region: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(region.to_owned()))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new("testing", "testing", None, None, "emulator"))
        .load()
        .await
}

/// Environment variables that point a child process (the xtask binary, the `aws` CLI, a
/// script) at an emulator.
pub fn env_for(endpoint: &str, region: &str) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ENDPOINT_URL", endpoint.to_owned()),
        ("AWS_ACCESS_KEY_ID", "testing".into()),
        ("AWS_SECRET_ACCESS_KEY", "testing".into()),
        ("AWS_REGION", region.into()),
        ("AWS_DEFAULT_REGION", region.into()),
        ("AWS_EC2_METADATA_DISABLED", "true".into()),
    ]
}

/// The emulator a rehearsal runs against, and its endpoint. A preset `AWS_ENDPOINT_URL`
/// is used only when it is a loopback address: the rehearsal writes to the production
/// bucket names, which must never reach anything but an emulator on this machine.
pub fn for_rehearsal(workspace: &Workspace) -> Result<(Option<Emulator>, String)> {
    refuse_remote_endpoint(workspace)?;
    if let Some(endpoint) = &workspace.env.aws_endpoint {
        return Ok((None, endpoint.clone()));
    }
    let emulator =
        Emulator::start_with(&toolchain::python(workspace), Some(&workspace.config.cloudfront_distribution))?;
    // Nested stacks in the emulator read their templates from a `localhost` URL.
    let endpoint = format!("http://localhost:{}", emulator.port());
    Ok((Some(emulator), endpoint))
}

/// Refuses a preset `AWS_ENDPOINT_URL` that is not this machine.
pub fn refuse_remote_endpoint(workspace: &Workspace) -> Result<()> {
    match &workspace.env.aws_endpoint {
        Some(endpoint) if !is_loopback_url(endpoint) => bail!(
            "AWS_ENDPOINT_URL is {endpoint:?}, which is not this machine; the rehearsal writes to the production \
             bucket names and runs only against an emulator on 127.0.0.1 or localhost. Nothing was started or \
             written. Unset AWS_ENDPOINT_URL and the rehearsal starts its own emulator"
        ),
        _ => Ok(()),
    }
}

/// Whether a URL's host is this machine (127.0.0.0/8, ::1 or localhost).
pub fn is_loopback_url(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("http://").or_else(|| url.strip_prefix("https://")) else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return false;
    }
    let host = match authority.strip_prefix('[') {
        Some(bracketed) => bracketed.split(']').next().unwrap_or_default(),
        None => authority.rsplit_once(':').map_or(authority, |(host, _)| host),
    };
    host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The buckets and the distribution the release configuration names, as the
/// production account has them: customers read the orchestrator bucket anonymously
/// (through CloudFront in production; here a public-read policy lets plain HTTP GETs
/// stand in for that).
pub async fn create_site(site: &Site) -> Result<()> {
    let config = &site.config;
    for bucket in [&config.orchestrator_bucket, &config.cfn_public_bucket, &config.cfn_internal_bucket] {
        let constraint = aws_sdk_s3::types::BucketLocationConstraint::from(config.region.as_str());
        let create = aws_sdk_s3::types::CreateBucketConfiguration::builder().location_constraint(constraint).build();
        if let Err(error) = site.s3.create_bucket().bucket(bucket).create_bucket_configuration(create).send().await {
            let error = error.into_service_error();
            if !error.is_bucket_already_owned_by_you() {
                return Err(
                    anyhow::Error::from(error).context(format!("cannot create bucket {bucket} in the emulator"))
                );
            }
        }
    }
    let policy = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::{}/*"}}]}}"#,
        config.orchestrator_bucket
    );
    site.s3.put_bucket_policy().bucket(&config.orchestrator_bucket).policy(policy).send().await?;
    let listed = site.cloudfront.list_distributions().send().await?;
    let exists =
        listed.distribution_list().is_some_and(|l| l.items().iter().any(|d| d.id == config.cloudfront_distribution));
    if !exists {
        let id = create_distribution(&site.cloudfront, &config.orchestrator_bucket).await?;
        if id != config.cloudfront_distribution {
            bail!(
                "the emulator made distribution {id}, but the configuration names {}; start it with \
                 XTASK_EMULATOR_DISTRIBUTION_ID={} or unset AWS_ENDPOINT_URL",
                config.cloudfront_distribution,
                config.cloudfront_distribution
            );
        }
    }
    Ok(())
}

/// Creates a CloudFront distribution in front of `bucket` in the emulator, standing in
/// for the production distribution. Returns its ID.
pub async fn create_distribution(cloudfront: &aws_sdk_cloudfront::Client, bucket: &str) -> Result<String> {
    use aws_sdk_cloudfront::types::{
        DefaultCacheBehavior, DistributionConfig, Origin, Origins, S3OriginConfig, ViewerProtocolPolicy,
    };
    let origin_id = format!("s3-{bucket}");
    let config = DistributionConfig::builder()
        .caller_reference(format!("xtask-emulator-{bucket}"))
        .comment(format!("emulated distribution for {bucket}"))
        .enabled(true)
        .origins(
            Origins::builder()
                .quantity(1)
                .items(
                    Origin::builder()
                        .id(&origin_id)
                        .domain_name(format!("{bucket}.s3.amazonaws.com"))
                        .s3_origin_config(S3OriginConfig::builder().origin_access_identity("").build())
                        .build()?,
                )
                .build()?,
        )
        .default_cache_behavior(
            DefaultCacheBehavior::builder()
                .target_origin_id(&origin_id)
                .viewer_protocol_policy(ViewerProtocolPolicy::RedirectToHttps)
                .build()?,
        )
        .build()?;
    let created = cloudfront
        .create_distribution()
        .distribution_config(config)
        .send()
        .await
        .context("cannot create a CloudFront distribution in the emulator")?;
    let distribution = created.distribution.context("the emulator returned no distribution")?;
    Ok(distribution.id)
}
