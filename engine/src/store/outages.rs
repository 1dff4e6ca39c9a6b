//! Counts of a store out of reach, for operators: how often this process tried again after a
//! lost database connection, and how often it gave up and answered
//! [`StoreError::Unavailable`](super::StoreError::Unavailable) (503 over HTTP).
//!
//! Process-wide, like the `/metrics` that show them: a server has one store (and, on
//! PostgreSQL, one secrets pool beside it), and both count here.

use std::sync::atomic::{AtomicU64, Ordering};

static RETRIED: AtomicU64 = AtomicU64::new(0);
static GAVE_UP: AtomicU64 = AtomicU64::new(0);

/// Lost database connections in this process so far.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct OutageCounts {
    /// Reads, connections and group commits tried again on a new connection after one was
    /// lost (PostgreSQL; the others do not try again themselves).
    pub retried: u64,
    /// Operations given up because the store stayed out of reach: PostgreSQL past
    /// `--db-outage-wait`, the embedded log locked by another process past SQLite's busy
    /// timeout, KurrentDB unreachable.
    pub gave_up: u64,
}

/// How this process has fared with a store out of reach so far (`store::outage_counts`).
pub fn counts() -> OutageCounts {
    OutageCounts { retried: RETRIED.load(Ordering::Relaxed), gave_up: GAVE_UP.load(Ordering::Relaxed) }
}

pub(crate) fn retried() {
    RETRIED.fetch_add(1, Ordering::Relaxed);
}

pub(crate) fn gave_up() {
    GAVE_UP.fetch_add(1, Ordering::Relaxed);
}
