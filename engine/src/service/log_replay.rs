//! Replaying the whole log: every issue's state and (optionally) every hash chain.
//!
//! Reading and folding overlap: a reader task pages through the store while this task folds
//! the previous page, so SQLite decoding and the fold run on separate cores.

use crate::catalog::Catalog;
use crate::projection::{ChainTracker, IssueIndex};
use crate::store::{EventStore, StoreError};
use chrono::{DateTime, Utc};
use std::sync::Arc;

const PAGE: usize = 2_048;

/// Outcome of a whole-log replay.
pub struct LogReplay {
    pub index: IssueIndex,
    pub chains: Option<ChainTracker>,
    pub events: u64,
    /// Position of the last event folded.
    pub position: u64,
}

/// Replays the log from the start up to `until` (recorded time, inclusive), calling
/// `progress(position)` after each page.
pub async fn replay_log(
    store: Arc<dyn EventStore>,
    until: Option<DateTime<Utc>>,
    verify_chains: bool,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<LogReplay, StoreError> {
    let catalog = Catalog::shipped();
    let (tx, mut rx) = tokio::sync::mpsc::channel(2);
    let reader = tokio::spawn(async move {
        let mut after = 0;
        loop {
            let page = match store.read_all_page(after, PAGE).await {
                Ok(p) => p,
                Err(e) => {
                    let _ = tx.send(Err(e)).await;
                    return;
                }
            };
            let Some(last) = page.last_position() else { return };
            after = last;
            let done = page.len() < PAGE;
            if tx.send(Ok(page)).await.is_err() || done {
                return;
            }
        }
    });
    let mut out =
        LogReplay { index: IssueIndex::new(), chains: verify_chains.then(ChainTracker::new), events: 0, position: 0 };
    'pages: while let Some(page) = rx.recv().await {
        let page = page?;
        for e in page.iter() {
            if until.is_some_and(|t| e.recorded_at > t) {
                break 'pages;
            }
            if let Some(c) = out.chains.as_mut() {
                c.check(&e);
            }
            out.index.apply(&e, catalog);
            out.events += 1;
            out.position = e.position;
        }
        progress(out.position);
    }
    reader.abort();
    Ok(out)
}
