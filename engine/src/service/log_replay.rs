//! Replaying the whole log: every issue's state and (optionally) every hash chain.
//!
//! Reading and folding overlap, and both are split: reader tasks take turns reading pages of
//! the store while one fold worker per core folds the previous pages, each worker taking the issue
//! streams of its partition (every stream's events still arrive in order, which is all a
//! stream-local fold needs). The partial indexes merge at the end. Workflow documents go to
//! every worker, since any issue may be pinned to any of them.

use crate::catalog::Catalog;
use crate::event::{EventPage, PageFields};
use crate::projection::{ChainTracker, IssueIndex};
use crate::store::{EventStore, StoreError};
use chrono::{DateTime, Utc};
use std::hash::BuildHasher;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

const PAGE: usize = 2_048;
/// Fold workers at most (more cores than this only add merge work).
const MAX_WORKERS: usize = 8;
/// Readers at most (one per core, up to this).
const MAX_READERS: usize = 4;

/// Outcome of a whole-log replay.
pub struct LogReplay {
    pub index: IssueIndex,
    pub chains: Option<ChainTracker>,
    pub events: u64,
    /// Position of the last event folded.
    pub position: u64,
}

/// What one fold worker ends with.
struct Part {
    index: IssueIndex,
    chains: Option<ChainTracker>,
    events: u64,
    position: u64,
}

/// Replays the log from the start up to `until` (recorded time, inclusive), calling
/// `progress(position)` after each page.
pub async fn replay_log(
    store: Arc<dyn EventStore>,
    until: Option<DateTime<Utc>>,
    verify_chains: bool,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<LogReplay, StoreError> {
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, MAX_WORKERS);
    let fields = if verify_chains { PageFields::All } else { PageFields::Fold };
    let mut senders = Vec::with_capacity(workers);
    let mut handles = Vec::with_capacity(workers);
    for k in 0..workers {
        let (tx, rx) = sync_channel::<Arc<EventPage>>(2);
        senders.push(tx);
        let handle = std::thread::Builder::new()
            .name(format!("convene-fold-{k}"))
            .spawn(move || fold_partition(rx, k, workers, until, verify_chains))
            .map_err(|e| StoreError::Backend(format!("cannot start a fold worker: {e}")))?;
        handles.push(handle);
    }
    // Readers take turns: reader r reads pages r, r + R, r + 2R, … (positions are gap-free, so
    // page i starts after position i × PAGE), and the pages are handed on in order by taking
    // them from the readers in turn.
    let readers = workers.min(MAX_READERS);
    let mut from_readers = Vec::with_capacity(readers);
    for r in 0..readers {
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<EventPage, StoreError>>(2);
        from_readers.push(rx);
        let store = store.clone();
        tokio::spawn(async move {
            let mut i = r as u64;
            loop {
                let page = store.read_all_page(i * PAGE as u64, PAGE, fields).await;
                let last = match &page {
                    Ok(p) => {
                        p.len() < PAGE || until.is_some_and(|t| p.iter().last().is_some_and(|e| e.recorded_at > t))
                    }
                    Err(_) => true,
                };
                if tx.send(page).await.is_err() || last {
                    return;
                }
                i += readers as u64;
            }
        });
    }
    let mut read = Ok(());
    for i in 0.. {
        let Some(page) = from_readers[i % readers].recv().await else { break };
        let page = match page {
            Ok(p) => Arc::new(p),
            Err(e) => {
                read = Err(e);
                break;
            }
        };
        let Some(last) = page.last_position() else { break };
        let done = page.len() < PAGE || until.is_some_and(|t| page.iter().last().is_some_and(|e| e.recorded_at > t));
        if !send_all(&senders, &page).await {
            break;
        }
        progress(last);
        if done {
            break;
        }
    }
    drop(from_readers);
    drop(senders);
    let parts = tokio::task::spawn_blocking(move || handles.into_iter().map(|h| h.join()).collect::<Vec<_>>())
        .await
        .map_err(|e| StoreError::Backend(format!("fold workers failed: {e}")))?;
    EventPage::release_pooled_buffers();
    read?;
    let mut out: Option<LogReplay> = None;
    for part in parts {
        let part = part.map_err(|_| StoreError::Backend("a fold worker panicked".into()))?;
        // The first part becomes the result as it is (no copy); the others merge into it.
        let Some(out) = out.as_mut() else {
            out = Some(LogReplay {
                index: part.index,
                chains: part.chains,
                events: part.events,
                position: part.position,
            });
            continue;
        };
        out.index.merge(part.index);
        if let (Some(all), Some(c)) = (out.chains.as_mut(), part.chains) {
            all.merge(c);
        }
        // Every worker sees every event (and folds its partition's): any one counts them.
        out.events = out.events.max(part.events);
        out.position = out.position.max(part.position);
    }
    Ok(out.unwrap_or_else(|| LogReplay {
        index: IssueIndex::new(),
        chains: verify_chains.then(ChainTracker::new),
        events: 0,
        position: 0,
    }))
}

/// Hands a page to every worker; false if one has stopped (it only stops on a panic).
async fn send_all(senders: &[SyncSender<Arc<EventPage>>], page: &Arc<EventPage>) -> bool {
    let senders = senders.to_vec();
    let page = page.clone();
    // The channels are bounded (back-pressure on the reader), so sending may block.
    tokio::task::spawn_blocking(move || senders.iter().all(|s| s.send(page.clone()).is_ok())).await.unwrap_or(false)
}

/// Folds the issue streams of partition `k` of `n`, and workflow documents.
fn fold_partition(
    pages: Receiver<Arc<EventPage>>,
    k: usize,
    n: usize,
    until: Option<DateTime<Utc>>,
    verify_chains: bool,
) -> Part {
    let catalog = Catalog::shipped();
    let hasher = foldhash::fast::FixedState::default();
    let mut part =
        Part { index: IssueIndex::new(), chains: verify_chains.then(ChainTracker::new), events: 0, position: 0 };
    'pages: for page in pages {
        for e in page.iter() {
            if until.is_some_and(|t| e.recorded_at > t) {
                break 'pages;
            }
            // A store with holes in its positions would make neighbouring pages overlap.
            if e.position <= part.position {
                continue;
            }
            part.events += 1;
            part.position = e.position;
            let mine = n == 1 || hasher.hash_one(e.stream) as usize % n == k;
            if mine {
                if let Some(c) = part.chains.as_mut() {
                    c.check(&e);
                }
                part.index.apply(&e, catalog);
            } else if e.stream.starts_with("workflow-") {
                part.index.apply(&e, catalog);
            }
        }
    }
    part
}
