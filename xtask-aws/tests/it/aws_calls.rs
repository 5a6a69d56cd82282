//! How every AWS call behaves: one retry policy, and credentials asked of the chain once
//! and kept until shortly before they expire.

use std::{
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::{Duration, SystemTime},
};

use aws_credential_types::{
    provider::{error::CredentialsError, future, ProvideCredentials},
    Credentials,
};
use xtask_aws::adapters::{
    ec2::Ec2,
    retry::{self, ATTEMPTS, MAX_BACKOFF},
    sigv4_http::SignedClient,
};

use crate::support::{site::Site, REGION};

#[test]
fn retries_pause_longer_each_time_up_to_the_cap_with_jitter() {
    let ceilings: Vec<u64> = (1..ATTEMPTS).map(|retry| retry::ceiling(retry).as_secs()).collect();
    assert_eq!(ceilings, [1, 2, 4, 8, 16, 20, 20]);
    assert_eq!(retry::ceiling(u32::MAX), MAX_BACKOFF, "no overflow however many retries");
    let pauses: Vec<Duration> = (0..200).map(|_| retry::pause(3)).collect();
    assert!(pauses.iter().all(|pause| *pause <= retry::ceiling(3)));
    assert!(pauses.iter().any(|pause| *pause != pauses[0]), "jittered, not all the same");
}

/// A credentials chain that counts how often it is asked; `None` finds no credentials.
#[derive(Debug)]
struct Counting {
    asked: Arc<AtomicUsize>,
    credentials: Option<Credentials>,
}

impl ProvideCredentials for Counting {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        self.asked.fetch_add(1, Ordering::SeqCst);
        let found = self.credentials.clone().ok_or_else(|| CredentialsError::not_loaded("no profile, no role"));
        future::ProvideCredentials::ready(found)
    }
}

/// An EC2 call signed with what `provider` gives, against the site's emulator.
fn call_ec2(site: &Site, provider: Counting, calls: usize) -> anyhow::Result<()> {
    let access = site.emulator.access("127.0.0.1");
    site.runtime.block_on(async {
        let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(REGION))
            .endpoint_url(&access.endpoint)
            .credentials_provider(provider)
            .load()
            .await;
        let client = SignedClient::new(&sdk);
        let ec2 = Ec2 { client: &client };
        for _ in 0..calls {
            ec2.encryption_by_default(REGION).await?;
        }
        Ok(())
    })
}

/// The signed EC2 calls of a promotion poll for up to 45 minutes: the chain (an
/// instance-metadata or SSO round trip) is asked once while its credentials last, and
/// again for each call once they are about to expire; a chain that finds none stops the
/// call at once.
#[test]
fn signed_calls_ask_the_credentials_chain_once_until_the_credentials_expire() {
    let site = Site::new();
    let access = site.emulator.access("127.0.0.1");
    for (expiry, calls, asked) in [
        (None, 5, 1),
        (Some(SystemTime::now() + Duration::from_secs(3600)), 5, 1),
        (Some(SystemTime::now() + Duration::from_secs(60)), 5, 5),
    ] {
        let counter = Arc::new(AtomicUsize::new(0));
        let credentials = Credentials::new(&access.key_id, &access.secret, None, expiry, "test");
        call_ec2(&site, Counting { asked: counter.clone(), credentials: Some(credentials) }, calls).unwrap();
        assert_eq!(counter.load(Ordering::SeqCst), asked, "credentials expiring at {expiry:?}");
    }

    // No credentials: one question to the chain, no retry, and what to do.
    let counter = Arc::new(AtomicUsize::new(0));
    let error = call_ec2(&site, Counting { asked: counter.clone(), credentials: None }, 1).unwrap_err();
    assert_eq!(counter.load(Ordering::SeqCst), 1, "a missing credential is not retried");
    assert!(format!("{error:#}").starts_with("no AWS credentials were found. Sign in"), "{error:#}");
}
