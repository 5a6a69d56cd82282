//! moto's AWS emulator, started for the tests and the rehearsal. The launcher script is
//! compiled into the xtask and handed to Python with `-c`, so no path has to be found.

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::TcpStream,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{mpsc, Arc, Mutex},
    time::Duration,
};

use anyhow::{anyhow, bail, Context, Result};
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_s3::config::Credentials;

const LAUNCHER: &str = include_str!("../../emulator/moto_launcher.py");
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Where `cargo xtask ci` puts moto and the linters.
pub fn ci_venv(workspace_root: &Path) -> PathBuf {
    workspace_root.join("target/ci-venv")
}

/// The Python that has moto: `XTASK_PYTHON` if set, else the CI venv if it exists,
/// else `python3` from PATH.
pub fn python(workspace_root: &Path) -> PathBuf {
    if let Some(python) = std::env::var_os("XTASK_PYTHON") {
        return python.into();
    }
    let venv_python = ci_venv(workspace_root).join("bin/python");
    if venv_python.exists() {
        venv_python
    } else {
        "python3".into()
    }
}

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

    /// Forgets every bucket, object and distribution.
    pub fn reset(&self) -> Result<()> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).context("cannot reach the AWS emulator")?;
        write!(
            stream,
            "POST /moto-api/reset HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.port
        )?;
        let mut response = String::new();
        stream.read_to_string(&mut response)?;
        if response.starts_with("HTTP/1.1 200") || response.starts_with("HTTP/1.0 200") {
            Ok(())
        } else {
            Err(anyhow!("the AWS emulator refused a reset: {}", response.lines().next().unwrap_or("")))
        }
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
