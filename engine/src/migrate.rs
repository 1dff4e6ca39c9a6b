//! Copying a whole log between stores (`convene migrate`), and checking the copy.
//!
//! The copy keeps every event's id, stream, version, position, recorded time and hashes (the
//! target's [`EventStore::import`] refuses anything that does not continue its log and its
//! chains). It is resumable: a target that already holds a prefix of the source — an earlier
//! run that was interrupted — continues after that prefix, once the last copied event is found
//! to be the source's event at that position. A target holding anything else is refused.

use crate::event::RecordedEvent;
use crate::projection::ChainTracker;
use crate::store::{EventStore, StoreError};
use serde::Serialize;

/// Why a migration cannot go on.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    /// The target holds events that are not a prefix of the source: pick an empty target.
    #[error("the target is not empty and does not hold a prefix of the source log: {0}")]
    Diverged(String),
    /// A store failed; re-run the migration to resume.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a copy did.
#[derive(Debug, Clone, Serialize)]
pub struct CopyReport {
    /// Events the target held before (a resumed run).
    pub resumed_at: u64,
    /// Events copied by this run.
    pub copied: u64,
    /// The source's head when the copy ended.
    pub source_head: u64,
}

/// What the final check found.
#[derive(Debug, Clone, Serialize)]
pub struct CompareReport {
    /// Events compared (both logs have exactly this many).
    pub events: u64,
    pub streams: usize,
    /// Positions where source and target differ (empty when identical), at most 20.
    pub differences: Vec<String>,
    /// Broken hash chains in the target, at most 20.
    pub broken_chains: Vec<String>,
}

impl CompareReport {
    pub fn ok(&self) -> bool {
        self.differences.is_empty() && self.broken_chains.is_empty()
    }
}

async fn event_at(store: &dyn EventStore, position: u64) -> Result<Option<RecordedEvent>, StoreError> {
    Ok(store.read_all(position - 1, 1).await?.pop().filter(|e| e.position == position))
}

/// The position of a store's last event. The head watch is where to start looking, not the
/// answer: the embedded store's watch moves on the writer's next commit, not on an import by
/// another connection, so read on until the log ends.
async fn log_end(store: &dyn EventStore) -> Result<u64, StoreError> {
    let mut end = *store.head().borrow();
    while let Some(last) = store.read_all(end, 10_000).await?.last() {
        end = last.position;
    }
    Ok(end)
}

/// Copies every event of `from` that `to` does not have yet, `batch` events per import.
pub async fn copy_log(
    from: &dyn EventStore,
    to: &dyn EventStore,
    batch: usize,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> Result<CopyReport, MigrateError> {
    let batch = batch.clamp(1, 10_000);
    let resumed_at = log_end(to).await?;
    if resumed_at > 0 {
        let theirs = event_at(to, resumed_at).await?;
        let ours = event_at(from, resumed_at).await?;
        match (ours, theirs) {
            (Some(a), Some(b)) if a == b => {
                tracing::info!(position = resumed_at, "target holds a prefix of the source: resuming");
            }
            (None, _) => {
                return Err(MigrateError::Diverged(format!(
                    "the target has {resumed_at} events, more than the source"
                )));
            }
            _ => {
                return Err(MigrateError::Diverged(format!("the events at position {resumed_at} differ")));
            }
        }
    }
    let mut after = resumed_at;
    let mut copied = 0;
    loop {
        let source_head = (*from.head().borrow()).max(after);
        progress(after, source_head);
        let page = from.read_all(after, batch).await?;
        let Some(last) = page.last() else {
            return Ok(CopyReport { resumed_at, copied, source_head: after });
        };
        let last = last.position;
        let n = page.len() as u64;
        to.import(page).await?;
        copied += n;
        after = last;
    }
}

/// Reads both logs side by side: the same events (ids, versions, positions, times, payload
/// bytes, hashes) in the same order, and every chain of the target verifies.
pub async fn compare_logs(
    from: &dyn EventStore,
    to: &dyn EventStore,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<CompareReport, StoreError> {
    const PAGE: usize = 4096;
    let mut chains = ChainTracker::new();
    let mut differences = Vec::new();
    let (mut a_after, mut b_after) = (0, 0);
    let mut events = 0;
    loop {
        let (a, b) = tokio::try_join!(from.read_all(a_after, PAGE), to.read_all(b_after, PAGE))?;
        if a.is_empty() && b.is_empty() {
            break;
        }
        for i in 0..a.len().max(b.len()) {
            match (a.get(i), b.get(i)) {
                (Some(x), Some(y)) if x == y => {}
                (Some(x), Some(y)) => differences.push(format!("position {}: {} ≠ {}", x.position, x.id, y.id)),
                (Some(x), None) => differences.push(format!("position {}: missing in the target", x.position)),
                (None, Some(y)) => differences.push(format!("position {}: only in the target", y.position)),
                (None, None) => {}
            }
            if let Some(y) = b.get(i) {
                chains.check(&y.view());
            }
        }
        events += a.len().min(b.len()) as u64;
        a_after = a.last().map_or(a_after, |e| e.position);
        b_after = b.last().map_or(b_after, |e| e.position);
        progress(events);
        if differences.len() >= 20 || a.len() != b.len() {
            break;
        }
    }
    differences.truncate(20);
    Ok(CompareReport {
        events,
        streams: chains.streams(),
        differences,
        broken_chains: chains.broken.iter().take(20).map(|e| e.to_string()).collect(),
    })
}
