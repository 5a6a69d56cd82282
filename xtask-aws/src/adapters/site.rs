//! The AWS side of a release: the clients of the services it writes, built in one place
//! so every command gets the same credential chain, region and endpoint handling, and
//! the one way commands run their async work.

use anyhow::{Context, Result};
use aws_config::{retry::RetryConfig, timeout::TimeoutConfig, BehaviorVersion, Region, SdkConfig};
use aws_smithy_runtime_api::{
    box_error::BoxError,
    client::{
        interceptors::{context::BeforeTransmitInterceptorContextRef, Intercept},
        orchestrator::Metadata,
        retries::RequestAttempts,
        runtime_components::RuntimeComponents,
    },
};
use aws_smithy_types::config_bag::ConfigBag;
use xtask::{adapters::workspace::Workspace, domain::config::ReleaseConfig};

use crate::adapters::{
    retry::{self, ATTEMPTS},
    s3::Bucket,
};

pub struct Site {
    pub config: ReleaseConfig,
    pub sdk: SdkConfig,
    pub s3: aws_sdk_s3::Client,
    pub cloudfront: aws_sdk_cloudfront::Client,
}

impl Site {
    /// Credentials come from the standard chain (environment, profile, SSO, instance
    /// role) and are never printed. `AWS_ENDPOINT_URL` is honoured, which is how the
    /// tests and the rehearsal point everything at the emulator.
    pub async fn connect(config: &ReleaseConfig) -> Result<Site> {
        let timeouts = TimeoutConfig::builder().connect_timeout(CONNECT_TIMEOUT).read_timeout(READ_TIMEOUT).build();
        let sdk = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(config.region.clone()))
            .retry_config(
                RetryConfig::standard()
                    .with_max_attempts(ATTEMPTS)
                    .with_initial_backoff(retry::INITIAL_BACKOFF)
                    .with_max_backoff(retry::MAX_BACKOFF),
            )
            .timeout_config(timeouts)
            .load()
            .await;
        credentials(&sdk).await?;
        Ok(Site::from_sdk_config(config, sdk))
    }

    pub fn from_sdk_config(config: &ReleaseConfig, sdk: SdkConfig) -> Site {
        // Virtual-host addressing puts the bucket in the host name, which an endpoint
        // such as `http://localhost:port` cannot resolve: use path style there.
        let s3 = aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(sdk.endpoint_url().is_some())
            .interceptor(ReportRetries)
            .build();
        let cloudfront = aws_sdk_cloudfront::config::Builder::from(&sdk).interceptor(ReportRetries).build();
        Site {
            config: config.clone(),
            s3: aws_sdk_s3::Client::from_conf(s3),
            cloudfront: aws_sdk_cloudfront::Client::from_conf(cloudfront),
            sdk,
        }
    }

    pub fn orchestrator(&self) -> Bucket {
        Bucket::new(&self.s3, &self.config.orchestrator_bucket)
    }

    pub fn bucket(&self, name: &str) -> Bucket {
        Bucket::new(&self.s3, name)
    }
}

/// Runs a command's AWS work on a runtime of its own, with the site connected. Commands
/// stay synchronous around it.
pub fn with_site<T>(workspace: &Workspace, work: impl AsyncFnOnce(&Site) -> Result<T>) -> Result<T> {
    runtime()?.block_on(async {
        let site = Site::connect(&workspace.config).await?;
        work(&site).await
    })
}

/// The credentials of the standard chain, or an error that says how to provide them
/// (the SDK's own error is a chain of what each provider tried).
pub async fn credentials(sdk: &SdkConfig) -> Result<aws_credential_types::Credentials> {
    use aws_credential_types::provider::ProvideCredentials;
    let provider = sdk.credentials_provider().context("the AWS configuration has no credentials provider")?;
    provider.provide_credentials().await.context(
        "no AWS credentials were found. Sign in (`aws sso login --profile <profile>` and set AWS_PROFILE), \
         or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; to try a release without AWS, run `cargo xtask rehearse`",
    )
}

/// The SDK waits forever for a stalled connection by default; a release must not.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
const READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// Says on stderr which call is being retried, so a run that survived a flaky network
/// or an overloaded service says so.
#[derive(Debug)]
struct ReportRetries;

impl Intercept for ReportRetries {
    fn name(&self) -> &'static str {
        "ReportRetries"
    }

    fn read_before_attempt(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> std::result::Result<(), BoxError> {
        let attempt = cfg.load::<RequestAttempts>().map_or(1, RequestAttempts::attempts);
        if let (true, Some(operation)) = (attempt > 1, cfg.load::<Metadata>()) {
            eprintln!("  retrying {} {} (attempt {attempt} of {ATTEMPTS})", operation.service(), operation.name());
        }
        Ok(())
    }
}

pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}
