//! One retry policy for every AWS call, the SDK's and the signed EC2 and KMS calls
//! alike: the parameters of the SDK's standard mode (exponential backoff with full
//! jitter, so many agents retrying at once do not retry in step). Only what is transient
//! is retried: throttling, 5xx answers and broken connections; never a missing or
//! refused credential and never a refused permission.

use std::time::Duration;

/// Attempts of one call, the first included.
pub const ATTEMPTS: u32 = 8;
/// The largest pause before a retry (before jitter).
pub const MAX_BACKOFF: Duration = Duration::from_secs(20);
/// The pause before the first retry (before jitter).
pub const INITIAL_BACKOFF: Duration = Duration::from_secs(1);

/// The pause before retry number `retry` (1 for the first): a random share of
/// `INITIAL_BACKOFF * 2^(retry-1)`, capped at `MAX_BACKOFF`, as the SDK's standard mode.
pub fn pause(retry: u32) -> Duration {
    ceiling(retry).mul_f64(fastrand::f64())
}

/// The most `pause(retry)` can be.
pub fn ceiling(retry: u32) -> Duration {
    let doubled = INITIAL_BACKOFF.saturating_mul(1u32.checked_shl(retry.saturating_sub(1)).unwrap_or(u32::MAX));
    doubled.min(MAX_BACKOFF)
}

/// How long EC2 may not yet know an ID it just handed out (CopyImage, RegisterImage,
/// CreateTags on a new image): AWS documents this eventual consistency without a bound,
/// and Packer waits minutes for it. Two minutes covers what AWS describes as "a few
/// seconds" many times over, and still fails a step that names a wrong ID soon.
pub const EVENTUAL_CONSISTENCY: Duration = Duration::from_secs(120);
