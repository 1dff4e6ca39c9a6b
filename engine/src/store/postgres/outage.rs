//! Riding out a database outage: a restart, a fail-over or a network cut lasts seconds, and
//! the work that met it is tried again on a new connection rather than failed at once.
//!
//! Retried is only what is safe to do twice: reads, getting a connection (nothing was sent),
//! and the writer's batches (idempotent by event id; see `writer.rs`). When the outage
//! outlasts the wait, the last [`StoreError::Unavailable`] is returned and the caller
//! answers "retry later" (503 over HTTP, exit status 75 on the CLI).

use crate::store::{StoreError, outages};
use std::future::Future;
use std::time::{Duration, Instant};

/// First pause before trying again; doubled each time up to [`MAX_PAUSE`]. Short enough that
/// a connection killed by `pg_terminate_backend` costs one round of reconnecting, long enough
/// not to hammer a server that is starting up.
const FIRST_PAUSE: Duration = Duration::from_millis(50);
const MAX_PAUSE: Duration = Duration::from_secs(1);

/// How long work waits on the database: for a lost connection to come back
/// (`outage_wait`), and for an answer on a connection before taking it for lost
/// (`answer_timeout`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Patience {
    pub outage_wait: Duration,
    pub answer_timeout: Duration,
}

impl Patience {
    pub(crate) fn of(options: &super::PostgresOptions) -> Patience {
        Patience { outage_wait: options.outage_wait, answer_timeout: options.answer_timeout }
    }

    /// `work`, or [`StoreError::Unavailable`] if the database has not answered within the
    /// answer timeout (whether the work wrote something by then is for its caller to say).
    pub(crate) async fn answer<T, E: From<StoreError>>(
        &self,
        work: impl Future<Output = Result<T, E>>,
    ) -> Result<T, E> {
        tokio::time::timeout(self.answer_timeout, work).await.unwrap_or_else(|_| {
            Err(E::from(StoreError::unavailable(format!(
                "PostgreSQL 在 {:?} 内没有应答 / PostgreSQL gave no answer within {:?}",
                self.answer_timeout, self.answer_timeout
            ))))
        })
    }
}

/// An error that may be a lost connection: the store's, or one wrapping it (the secrets').
pub(crate) trait MaybeOutage: From<StoreError> {
    fn outage(&self) -> Option<&StoreError>;
}

impl MaybeOutage for StoreError {
    fn outage(&self) -> Option<&StoreError> {
        Some(self)
    }
}

impl MaybeOutage for crate::secrets::SecretsError {
    fn outage(&self) -> Option<&StoreError> {
        match self {
            crate::secrets::SecretsError::Store(e) => Some(e),
            _ => None,
        }
    }
}

/// How long is left to wait out an outage that began at `started`.
pub(crate) struct Backoff {
    started: Instant,
    wait: Duration,
    pause: Duration,
    retries: u32,
}

impl Backoff {
    pub(crate) fn new(wait: Duration) -> Backoff {
        Backoff { started: Instant::now(), wait, pause: FIRST_PAUSE, retries: 0 }
    }

    /// After a failure: if `error` is an outage and the wait allows one more try, sleeps and
    /// returns true; otherwise returns false at once (give up with this error).
    pub(crate) async fn again(&mut self, error: &StoreError, what: &str) -> bool {
        let StoreError::Unavailable { message, outcome_unknown } = error else { return false };
        if self.started.elapsed() + self.pause > self.wait {
            outages::gave_up();
            return false;
        }
        outages::retried();
        tracing::warn!(
            error = %message,
            what,
            retry_in_ms = self.pause.as_millis() as u64,
            commit_may_have_landed = *outcome_unknown,
            "postgres connection lost; trying again on a new connection"
        );
        tokio::time::sleep(self.pause).await;
        self.pause = (self.pause * 2).min(MAX_PAUSE);
        self.retries += 1;
        true
    }

    /// After the work succeeded: says so if it had to try again.
    pub(crate) fn recovered(&self, what: &str) {
        if self.retries > 0 {
            tracing::info!(what, waited_ms = self.started.elapsed().as_millis() as u64, "postgres connection back");
        }
    }
}

/// Runs `op` until it succeeds, fails with anything but an outage, or the outage outlasts
/// the wait; a run the database does not answer within the answer timeout counts as an
/// outage. `op` must be safe to run more than once (a read, or getting a connection).
pub(crate) async fn ride_out<T, E, F, Fut>(patience: Patience, what: &str, mut op: F) -> Result<T, E>
where
    E: MaybeOutage,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut backoff = Backoff::new(patience.outage_wait);
    loop {
        let result = patience.answer(op()).await;
        match result.as_ref().err().and_then(MaybeOutage::outage) {
            Some(outage) if backoff.again(outage, what).await => continue,
            _ if result.is_ok() => backoff.recovered(what),
            _ => {}
        }
        return result;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    // Real time, kept short: the pauses are 50, 100, 200, … ms.

    fn waiting(outage_wait: Duration) -> Patience {
        Patience { outage_wait, answer_timeout: Duration::from_secs(5) }
    }

    #[tokio::test]
    async fn an_outage_shorter_than_the_wait_is_ridden_out() {
        let calls = AtomicU32::new(0);
        let r = ride_out(waiting(Duration::from_secs(10)), "read", || async {
            if calls.fetch_add(1, Ordering::SeqCst) < 2 { Err(StoreError::unavailable("refused")) } else { Ok(7) }
        })
        .await;
        assert_eq!(r.unwrap(), 7);
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn an_outage_longer_than_the_wait_is_reported_within_the_wait() {
        let calls = AtomicU32::new(0);
        let wait = Duration::from_millis(400);
        let started = Instant::now();
        let r: Result<(), _> = ride_out(waiting(wait), "read", || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(StoreError::unavailable("refused"))
        })
        .await;
        assert!(r.unwrap_err().is_unavailable());
        // 50 + 100 + 200 ms fit in 400 ms and the next pause (400 ms) would not: at most four
        // tries, fewer only if the machine is so slow that a pause overran a lot.
        let n = calls.load(Ordering::SeqCst);
        assert!((2..=4).contains(&n), "{n} tries");
        assert!(started.elapsed() <= wait + Duration::from_millis(300), "gave up within the wait");
    }

    #[tokio::test]
    async fn other_errors_are_not_retried() {
        let calls = AtomicU32::new(0);
        let r: Result<(), _> = ride_out(waiting(Duration::from_secs(10)), "read", || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(StoreError::Backend("syntax error".into()))
        })
        .await;
        assert!(matches!(r, Err(StoreError::Backend(_))));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn retries_and_give_ups_are_counted() {
        let before = outages::counts();
        let _: Result<(), StoreError> =
            ride_out(waiting(Duration::from_millis(100)), "read", || async { Err(StoreError::unavailable("refused")) })
                .await;
        let after = outages::counts();
        // Other tests may count too (the counters are process-wide): at least ours.
        assert!(after.retried > before.retried);
        assert!(after.gave_up > before.gave_up);
    }

    #[tokio::test]
    async fn a_database_that_does_not_answer_counts_as_an_outage() {
        let calls = AtomicU32::new(0);
        let patience = Patience { outage_wait: Duration::from_millis(500), answer_timeout: Duration::from_millis(100) };
        let r: Result<i32, StoreError> = ride_out(patience, "read", || async {
            if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                // The first connection hangs (a partition): no error, no answer.
                std::future::pending::<()>().await;
            }
            Ok(5)
        })
        .await;
        assert_eq!(r.unwrap(), 5, "tried again on a new connection after the answer timeout");
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn no_wait_means_no_retry() {
        let calls = AtomicU32::new(0);
        let r: Result<(), _> = ride_out(waiting(Duration::ZERO), "read", || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(StoreError::unavailable("refused"))
        })
        .await;
        assert!(r.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }
}
