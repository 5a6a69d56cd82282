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
use xtask::{
    adapters::{toolchain, workspace::Workspace},
    domain::pipeline::{queues::SMOKE_TEST_SECRET, test_stack_role},
};

use serde_json::json;

use crate::adapters::{
    iam,
    kms::Kms,
    sigv4_http::{Call, SignedClient},
    site::Site,
};

const LAUNCHER: &str = include_str!("../../emulator/moto_launcher.py");
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A base image the emulator's EC2 has (name filter, owner), standing in for the
/// production one when Packer builds against it.
pub const EMULATOR_BASE_IMAGE: (&str, &str) =
    ("ubuntu/images/hvm-ssd/ubuntu-trusty-14.04-amd64-server-*", "099720109477");

/// How an emulator is started.
#[derive(Debug, Default, Clone)]
pub struct Options<'a> {
    /// The ID the first CloudFront distribution gets (the configuration's, for a site).
    pub distribution_id: Option<&'a str>,
    /// Enforce IAM, as AWS does: requests need the keys of a user whose policies allow
    /// them. The emulator then has an administrator, whose keys `access` hands out.
    pub iam: bool,
    /// How long a CloudFront invalidation stays InProgress (the launcher's default when
    /// `None`).
    pub invalidation_seconds: Option<f64>,
}

/// A running emulator on 127.0.0.1. It stops when this value is dropped, and also when
/// the process that started it exits in any way (the launcher exits when its standard
/// input closes).
pub struct Emulator {
    child: Child,
    port: u16,
    /// The same emulator over HTTPS, as CloudFront serves customers, and the directory
    /// holding its certificate (removed with the value).
    tls_port: u16,
    tls_dir: tempfile::TempDir,
    /// Keys that work in it: any keys without IAM, the administrator's with it.
    keys: (String, String),
    /// What the emulator printed to stderr (tracebacks of its internal errors).
    log: Arc<Mutex<String>>,
}

/// Where an emulator is and the keys to use there.
#[derive(Debug, Clone)]
pub struct EmulatorAccess {
    pub endpoint: String,
    pub key_id: String,
    pub secret: String,
}

const INSTALL_HINT: &str = "install it with `cargo xtask ci` (creates target/ci-venv) or `pip install 'moto[server]'`";

impl Emulator {
    pub fn start(python: &Path, options: &Options) -> Result<Emulator> {
        let tls_dir = tempfile::tempdir().context("cannot create a directory for the emulator's certificate")?;
        let mut command = Command::new(python);
        command.env("XTASK_EMULATOR_TLS_DIR", tls_dir.path());
        if let Some(id) = options.distribution_id {
            command.env("XTASK_EMULATOR_DISTRIBUTION_ID", id);
        }
        if options.iam {
            command.env("XTASK_EMULATOR_IAM", "1");
        }
        if let Some(seconds) = options.invalidation_seconds {
            command.env("XTASK_EMULATOR_INVALIDATION_SECONDS", seconds.to_string());
        }
        let mut child = command
            .arg("-c")
            .arg(LAUNCHER)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| {
                format!("cannot run {} to start the AWS emulator (moto); {INSTALL_HINT}", python.display())
            })?;
        let log = collect_stderr(&mut child);
        match ready_line(&mut child).as_deref().and_then(parse_ready) {
            Some(Ready { port, tls_port, keys }) => Ok(Emulator { child, port, tls_port, tls_dir, keys, log }),
            None => Err(start_failure(python, &mut child, &log)),
        }
    }

    /// The emulator at 127.0.0.1, or at `localhost` where a URL must name a host
    /// (moto's nested stacks fetch their templates from it).
    pub fn access(&self, host: &str) -> EmulatorAccess {
        EmulatorAccess {
            endpoint: format!("http://{host}:{}", self.port),
            key_id: self.keys.0.clone(),
            secret: self.keys.1.clone(),
        }
    }

    /// The emulator's own error output so far, for diagnosing a failed call.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Makes the emulator fail a share of the signed calls (see the launcher); `[]` stops it.
    pub fn set_faults(&self, rules: &str) -> Result<()> {
        self.control("/xtask/faults", rules)
    }

    /// Empties every service and the launcher's own state, so the emulator can serve
    /// another test as if new (refused by one that enforces IAM).
    pub fn reset(&self) -> Result<()> {
        self.control("/xtask/reset", "")?;
        self.log.lock().unwrap_or_else(|p| p.into_inner()).clear();
        Ok(())
    }

    /// A POST to one of the launcher's own endpoints, by hand: no SDK serves them.
    fn control(&self, path: &str, body: &str) -> Result<()> {
        use std::io::Write;
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", self.port))?;
        let length = body.len();
        write!(
            stream,
            "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n{body}"
        )?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer)?;
        if !(answer.starts_with("HTTP/1.1 200") || answer.starts_with("HTTP/1.0 200")) {
            bail!("the emulator refused POST {path}: {}", answer.lines().next().unwrap_or_default());
        }
        Ok(())
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The emulator over HTTPS; its certificate is `certificate()`, which a client must
    /// be told to trust (curl: `CURL_CA_BUNDLE`).
    pub fn tls_endpoint(&self) -> String {
        format!("https://127.0.0.1:{}", self.tls_port)
    }

    pub fn certificate(&self) -> std::path::PathBuf {
        self.tls_dir.path().join("cert.pem")
    }

    pub async fn sdk_config(&self, region: &str) -> SdkConfig {
        self.access("127.0.0.1").sdk_config(region).await
    }

    pub fn env(&self, region: &str) -> Vec<(&'static str, String)> {
        self.access("127.0.0.1").env(region)
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn collect_stderr(child: &mut Child) -> Arc<Mutex<String>> {
    let log = Arc::new(Mutex::new(String::new()));
    let mut child_stderr = child.stderr.take().expect("stderr is piped");
    let collected = Arc::clone(&log);
    std::thread::spawn(move || {
        let mut buffer = [0u8; 4096];
        while let Ok(n @ 1..) = child_stderr.read(&mut buffer) {
            collected.lock().unwrap().push_str(&String::from_utf8_lossy(&buffer[..n]));
        }
    });
    log
}

/// The line the launcher prints once it serves, or `None` after the start timeout.
fn ready_line(child: &mut Child) -> Option<String> {
    let stdout = child.stdout.take().expect("stdout is piped");
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = sender.send(line);
    });
    receiver.recv_timeout(START_TIMEOUT).ok()
}

struct Ready {
    port: u16,
    tls_port: u16,
    keys: (String, String),
}

/// `port=<port> tls_port=<port>` and, with IAM, ` admin=<key id>:<secret>`.
fn parse_ready(line: &str) -> Option<Ready> {
    let mut words = line.split_whitespace();
    let port = words.next()?.strip_prefix("port=")?.parse().ok()?;
    let tls_port = words.next()?.strip_prefix("tls_port=")?.parse().ok()?;
    let keys = match words.next().and_then(|word| word.strip_prefix("admin=")) {
        Some(admin) => admin.split_once(':').map(|(k, s)| (k.to_owned(), s.to_owned()))?,
        None => ("testing".to_owned(), "testing".to_owned()),
    };
    Some(Ready { port, tls_port, keys })
}

fn start_failure(python: &Path, child: &mut Child, log: &Mutex<String>) -> anyhow::Error {
    let _ = child.kill();
    let status = child.wait().ok();
    std::thread::sleep(Duration::from_millis(100));
    let stderr = log.lock().unwrap().trim().to_owned();
    if status.and_then(|s| s.code()) == Some(3) {
        return anyhow::anyhow!("{stderr}");
    }
    anyhow::anyhow!(
        "the AWS emulator (moto, run by {}) did not start within {}s; {INSTALL_HINT}. Its output:\n{stderr}",
        python.display(),
        START_TIMEOUT.as_secs()
    )
}

impl EmulatorAccess {
    /// A command that reaches this emulator and nothing else: every `AWS_*` variable of
    /// this process removed, the emulator's put in (the benches run the xtask so).
    pub fn isolate<'a>(&self, workspace: &Workspace, mut command: xshell::Cmd<'a>) -> xshell::Cmd<'a> {
        for name in &workspace.env.aws_variables {
            command = command.env_remove(name);
        }
        command.envs(self.env(&workspace.config.region))
    }

    /// An SDK configuration for the emulator, with its keys.
    pub async fn sdk_config(&self, region: &str) -> SdkConfig {
        aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(region.to_owned()))
            .endpoint_url(&self.endpoint)
            .credentials_provider(Credentials::new(&self.key_id, &self.secret, None, None, "emulator"))
            .load()
            .await
    }

    /// Environment variables that point a child process (the xtask binary, the `aws` CLI,
    /// a script) at the emulator.
    pub fn env(&self, region: &str) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_ACCESS_KEY_ID", self.key_id.clone()),
            ("AWS_SECRET_ACCESS_KEY", self.secret.clone()),
            ("AWS_REGION", region.into()),
            ("AWS_DEFAULT_REGION", region.into()),
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
        ]
    }
}

/// The emulator a rehearsal runs against, and its endpoint. A preset `AWS_ENDPOINT_URL`
/// is used only when it is a loopback address: the rehearsal writes to the production
/// bucket names, which must never reach anything but an emulator on this machine.
pub fn for_rehearsal(workspace: &Workspace) -> Result<(Option<Emulator>, EmulatorAccess)> {
    refuse_remote_endpoint(workspace)?;
    if let Some(endpoint) = &workspace.env.aws_endpoint {
        let access = EmulatorAccess { endpoint: endpoint.clone(), key_id: "testing".into(), secret: "testing".into() };
        return Ok((None, access));
    }
    let options =
        Options { distribution_id: Some(&workspace.config.cloudfront_distribution), iam: true, ..Options::default() };
    let emulator = Emulator::start(&toolchain::python(workspace), &options)?;
    // Nested stacks in the emulator read their templates from a `localhost` URL.
    let access = emulator.access("localhost");
    Ok((Some(emulator), access))
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
/// production account has them: customers read the orchestrator bucket (through
/// CloudFront in production; here a public-read policy lets plain HTTP GETs stand in for
/// that) and the public template bucket anonymously.
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
    for bucket in [&config.orchestrator_bucket, &config.cfn_public_bucket] {
        let policy = format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::{bucket}/*"}}]}}"#
        );
        site.s3.put_bucket_policy().bucket(bucket).policy(policy).send().await?;
    }
    create_signing_key(site).await?;
    create_smoke_test_secret(site).await?;
    create_test_stack_role(site).await?;
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

/// A P-256 signing key under the configured alias, as RELEASE.md has production make
/// one; kept when the alias exists (a rehearsal against a running emulator).
async fn create_signing_key(site: &Site) -> Result<()> {
    let (region, alias) = (&site.config.region, &site.config.signing_key);
    let client = SignedClient::new(&site.sdk);
    let kms = Kms { client: &client };
    match kms.call(region, "DescribeKey", json!({ "KeyId": alias })).await {
        Ok(_) => return Ok(()),
        Err(error) if format!("{error:#}").contains("NotFoundException") => {}
        Err(error) => return Err(error),
    }
    let created =
        kms.call(region, "CreateKey", json!({ "KeySpec": "ECC_NIST_P256", "KeyUsage": "SIGN_VERIFY" })).await?;
    let key = created["KeyMetadata"]["KeyId"].as_str().context("the emulator's CreateKey answered without a KeyId")?;
    kms.call(region, "CreateAlias", json!({ "AliasName": alias, "TargetKeyId": key })).await?;
    Ok(())
}

/// What the emulator's smoke-test secret holds, standing in for a real database's URL.
const SMOKE_TEST_UPSTREAM_URL: &str = "mysql://readyset:emulator@upstream.invalid:3306/readyset";

/// The secret the pipeline's smoke test names, as RELEASE.md has ops make it once; its
/// value stands in for a real upstream database's URL. Kept when it exists.
async fn create_smoke_test_secret(site: &Site) -> Result<()> {
    let region = &site.config.region;
    let body = json!({ "Name": SMOKE_TEST_SECRET, "SecretString": SMOKE_TEST_UPSTREAM_URL });
    let call = Call {
        service: "secretsmanager",
        region,
        what: format!("Secrets Manager CreateSecret {SMOKE_TEST_SECRET} in {region}"),
        content_type: "application/x-amz-json-1.1",
        target: Some("secretsmanager.CreateSecret".to_owned()),
        body: serde_json::to_vec(&body)?,
    };
    let answer = SignedClient::new(&site.sdk).send(&call).await?;
    let text = String::from_utf8_lossy(&answer.body);
    if answer.status == 200 || text.contains("ResourceExistsException") {
        return Ok(());
    }
    bail!("{} was refused (HTTP {}): {text}", call.what, answer.status)
}

/// The role CloudFormation assumes for the smoke test's stacks, with the trust and
/// permissions `iam-policy test-stacks` prints, and the boundary of the roles its
/// stacks make, as ops/release-infra makes them. Kept when the role exists.
async fn create_test_stack_role(site: &Site) -> Result<()> {
    let client = SignedClient::new(&site.sdk);
    let role = &site.config.test_stack_role;
    let name = ("RoleName".to_owned(), role.clone());
    if iam::call(&client, "GetRole", vec![name.clone()]).await.is_ok() {
        return Ok(());
    }
    let trust = serde_json::to_string(&test_stack_role::trust_policy())?;
    iam::call(&client, "CreateRole", vec![name.clone(), ("AssumeRolePolicyDocument".to_owned(), trust)]).await?;
    let policy = serde_json::to_string(&test_stack_role::policy(&site.config))?;
    let document =
        vec![name, ("PolicyName".to_owned(), "test-stacks".to_owned()), ("PolicyDocument".to_owned(), policy)];
    iam::call(&client, "PutRolePolicy", document).await?;
    let boundary = serde_json::to_string(&test_stack_role::instance_boundary())?;
    let name = test_stack_role::instance_boundary_name(&site.config);
    iam::call(&client, "CreatePolicy", vec![("PolicyName".to_owned(), name), ("PolicyDocument".to_owned(), boundary)])
        .await?;
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
