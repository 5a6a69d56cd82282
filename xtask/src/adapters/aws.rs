//! AWS clients, built in one place so every command gets the same credential chain,
//! region and endpoint handling.

use aws_config::{BehaviorVersion, Region, SdkConfig};

pub struct Aws {
    pub s3: aws_sdk_s3::Client,
    pub cloudfront: aws_sdk_cloudfront::Client,
}

impl Aws {
    /// Credentials come from the standard chain (environment, profile, SSO, instance
    /// role) and are never printed. `AWS_ENDPOINT_URL` is honoured, which is how the
    /// tests and the rehearsal point everything at the emulator.
    pub async fn from_environment(region: &str) -> Aws {
        let config =
            aws_config::defaults(BehaviorVersion::latest()).region(Region::new(region.to_owned())).load().await;
        Aws::from_sdk_config(&config)
    }

    pub fn from_sdk_config(config: &SdkConfig) -> Aws {
        // Virtual-host addressing puts the bucket in the host name, which an endpoint
        // such as `http://localhost:port` cannot resolve: use path style there.
        let s3 = aws_sdk_s3::config::Builder::from(config).force_path_style(config.endpoint_url().is_some()).build();
        Aws { s3: aws_sdk_s3::Client::from_conf(s3), cloudfront: aws_sdk_cloudfront::Client::new(config) }
    }
}

/// The runtime for commands that talk to AWS; the others stay synchronous.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    use anyhow::Context;
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}
