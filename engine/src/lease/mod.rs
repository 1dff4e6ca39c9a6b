//! Leader leases: background work (the meetings' process manager, projections, timers) runs in
//! one process at a time, cluster-wide, and another process takes over when the holder dies.
//!
//! - [`LeaseProvider`] hands out a named [`Lease`] to at most one holder at a time;
//! - `file.rs`: the embedded store's provider, an OS file lock beside the database (several
//!   processes on one data directory; the OS releases it when the holder dies);
//! - `postgres.rs`: a PostgreSQL session advisory lock held on a dedicated connection (the
//!   server releases it when that session ends, i.e. when the holder dies or is cut off);
//! - [`run_under_lease`]: keeps trying to acquire, runs the work while holding, and stops the
//!   work the moment the lease is lost.
//!
//! Invariant: work started by [`run_under_lease`] runs only while its lease is held; when the
//! holder notices the lease is gone it drops the work's future before trying again. A holder
//! cut off from PostgreSQL notices within [`CHECK_EVERY`] + the query timeout, and the server
//! frees the lock only once it sees the session end, so for a network partition there is a
//! window in which both may run: work run under a lease must still be idempotent (the process
//! manager's deterministic event ids and expected versions make a doubled step impossible).

mod file;
mod postgres;

pub use file::FileLeases;
pub use postgres::PgLeases;

use async_trait::async_trait;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// How often a waiting process tries to take a free lease, and a holder checks it still holds.
pub const CHECK_EVERY: Duration = Duration::from_millis(500);

#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    /// The lease backend cannot be reached; the caller retries after [`CHECK_EVERY`].
    #[error("lease backend unavailable: {0}")]
    Unavailable(String),
}

/// A held lease. Dropping it releases it.
#[async_trait]
pub trait Lease: Send + Sync {
    /// Whether it is still held (a PostgreSQL lease checks its session is alive).
    async fn still_held(&mut self) -> bool;
}

/// Hands out named leases, at most one holder per name at a time.
#[async_trait]
pub trait LeaseProvider: Send + Sync + 'static {
    /// Takes the lease `name` if no one holds it; `Ok(None)` if someone does.
    async fn try_acquire(&self, name: &str) -> Result<Option<Box<dyn Lease>>, LeaseError>;

    /// For logs: `file`, `postgres`.
    fn kind(&self) -> &'static str;
}

/// Runs `work()` whenever this process holds the lease `name`, until `shutdown` turns true.
/// `holding` reports whether this process is the leader right now (for `/readyz` and logs).
/// The work's future is dropped (cancelled) when the lease is lost, and started afresh after
/// the lease is taken again; if it returns while the lease is held, it is started again after
/// [`CHECK_EVERY`].
pub async fn run_under_lease<F, Fut>(
    provider: Arc<dyn LeaseProvider>,
    name: String,
    holding: watch::Sender<bool>,
    mut shutdown: watch::Receiver<bool>,
    work: F,
) where
    F: Fn() -> Fut + Send,
    Fut: Future<Output = ()> + Send,
{
    let mut warned = false;
    while !*shutdown.borrow() {
        let lease = match provider.try_acquire(&name).await {
            Ok(l) => {
                warned = false;
                l
            }
            Err(e) => {
                if !warned {
                    tracing::warn!(lease = %name, error = %e, "cannot reach the lease backend; retrying");
                    warned = true;
                }
                None
            }
        };
        let Some(mut lease) = lease else {
            tokio::select! {
                _ = tokio::time::sleep(CHECK_EVERY) => {}
                _ = shutdown.changed() => {}
            }
            continue;
        };
        tracing::info!(lease = %name, kind = provider.kind(), "leader lease acquired: starting background work");
        holding.send_replace(true);
        'held: loop {
            let run = work();
            tokio::pin!(run);
            loop {
                tokio::select! {
                    _ = &mut run => {
                        tokio::time::sleep(CHECK_EVERY).await;
                        continue 'held;
                    }
                    _ = tokio::time::sleep(CHECK_EVERY) => {
                        if !lease.still_held().await {
                            tracing::warn!(lease = %name, "leader lease lost: background work stopped");
                            break 'held;
                        }
                    }
                    _ = shutdown.changed() => {
                        if *shutdown.borrow() {
                            break 'held;
                        }
                    }
                }
            }
        }
        holding.send_replace(false);
        drop(lease);
    }
}
