//! The two ways the AWS commands wait: for many requests at once, with a bound and a
//! reproducible error, and for a remote state to change, with a pause that grows and a
//! limit.

use std::{
    future::Future,
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::Result;
use tokio::sync::Semaphore;

/// Runs `jobs`, at most `limit` at once, and waits for every one: a failure does not
/// leave others running behind the caller's back. The results come in the order given,
/// and when several jobs fail the error is the first in that order, so a rerun that
/// fails the same way reports the same key.
pub async fn join_in_order<T, F>(limit: usize, jobs: impl IntoIterator<Item = F>) -> Result<Vec<T>>
where
    T: Send + 'static,
    F: Future<Output = Result<T>> + Send + 'static,
{
    let permits = Arc::new(Semaphore::new(limit));
    let mut tasks = tokio::task::JoinSet::new();
    for (index, job) in jobs.into_iter().enumerate() {
        let permits = permits.clone();
        tasks.spawn(async move {
            let outcome = match permits.acquire_owned().await {
                Ok(_permit) => job.await,
                Err(closed) => Err(closed.into()),
            };
            (index, outcome)
        });
    }
    let mut outcomes = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        outcomes.push(joined?);
    }
    outcomes.sort_by_key(|(index, _)| *index);
    outcomes.into_iter().map(|(_, outcome)| outcome).collect()
}

/// How a wait polls: the first pause, the longest (each pause doubles up to it), and
/// how long to wait in all.
#[derive(Debug, Clone, Copy)]
pub struct Polling {
    pub first: Duration,
    pub longest: Duration,
    pub timeout: Duration,
}

/// One look at what is awaited.
pub enum Poll<T> {
    Done(T),
    /// Not yet; the text says what is still pending, for the progress line.
    Pending(String),
}

/// Looks with `check` until it is done, printing what it waits for between looks. An
/// error of `check` ends the wait with that error (an API error is never taken for
/// completion); at the limit, the error is `timed_out(what is pending, time waited)`.
pub async fn poll_until<T, C, F>(
    polling: Polling,
    mut check: C,
    timed_out: impl FnOnce(&str, Duration) -> anyhow::Error,
) -> Result<T>
where
    C: FnMut() -> F,
    F: Future<Output = Result<Poll<T>>>,
{
    let started = Instant::now();
    let mut pause = polling.first;
    loop {
        let pending = match check().await? {
            Poll::Done(value) => return Ok(value),
            Poll::Pending(pending) => pending,
        };
        let elapsed = started.elapsed();
        if elapsed >= polling.timeout {
            return Err(timed_out(&pending, elapsed));
        }
        let limit = polling.timeout.as_secs();
        println!("  waiting for {pending} ({}s of at most {limit}s)", elapsed.as_secs());
        tokio::time::sleep(pause.min(polling.timeout.saturating_sub(elapsed))).await;
        pause = (pause * 2).min(polling.longest);
    }
}
