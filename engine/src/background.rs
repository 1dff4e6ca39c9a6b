//! Background work run by the leader only (see [`crate::lease`]).
//!
//! Today one task: the **chain auditor**, which follows the whole log (catch-up, then live)
//! and verifies every event's link and hash as it is committed, so a tampered or corrupt row
//! is reported within moments instead of at the next `convene replay`. It runs in one process
//! at a time because its work is the same everywhere; the meetings' process manager and timer
//! events are meant to join it under the same lease.

use crate::projection::ChainTracker;
use crate::store::{EventStore, SubscribeExt};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// The lease every leader-only task of a deployment runs under.
pub const LEADER_LEASE: &str = "convene-leader";

/// What the background work has done in this process (for `/readyz`).
#[derive(Debug, Default)]
pub struct BackgroundStatus {
    /// Position of the last event the chain auditor verified.
    pub audited_position: AtomicU64,
    /// Broken links or altered events it found.
    pub broken_chains: AtomicU64,
    /// How many times this process became the leader.
    pub terms: AtomicU64,
}

/// Follows the log from the start and verifies every chain; returns only if the store closes.
pub async fn audit_chains(store: Arc<dyn EventStore>, status: Arc<BackgroundStatus>) {
    status.terms.fetch_add(1, Ordering::Relaxed);
    let mut chains = ChainTracker::new();
    let mut sub = store.subscribe(0);
    loop {
        match sub.next().await {
            Ok(e) => {
                let before = chains.broken.len();
                chains.check(&e.view());
                if chains.broken.len() > before {
                    let err = &chains.broken[chains.broken.len() - 1];
                    tracing::error!(position = e.position, error = %err, "chain auditor: hash chain broken");
                    status.broken_chains.fetch_add(1, Ordering::Relaxed);
                }
                status.audited_position.store(e.position, Ordering::Relaxed);
            }
            Err(e) => {
                tracing::info!(error = %e, "chain auditor stopped");
                return;
            }
        }
    }
}

/// The meetings' process manager as background work: whenever the log grows (appends of any
/// instance), carry the meeting outcomes that have not reached their issues yet. Commands also
/// run it inline; deterministic ids and expected versions make the two never append twice.
pub async fn carry_meeting_outcomes(engine: Arc<crate::Engine>) {
    let mut head = engine.store().head();
    loop {
        if let Err(e) = engine.run_process_manager().await {
            tracing::warn!(error = %e, "process manager: a pass failed; retrying on the next append");
        }
        if head.changed().await.is_err() {
            return;
        }
    }
}
