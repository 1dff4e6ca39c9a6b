//! Replaying the whole log: every issue's state and (optionally) every hash chain.
//!
//! Reading and folding overlap, and both are split: reader tasks take turns reading pages of
//! the store while one fold worker per core folds the previous pages, each worker taking the issue
//! streams of its partition (every stream's events still arrive in order, which is all a
//! stream-local fold needs). The partial indexes merge at the end. Workflow documents go to
//! every worker, since any issue may be pinned to any of them.
//!
//! [`read_log`] runs the same readers and hand-off with nothing folded: the store's share of
//! a replay's time, which `convene bench` reports beside the replay.

use crate::catalog::Catalog;
use crate::event::{EventPage, PageFields, REPLAY_PAGE};
use crate::issue::{self, PayloadView};
use crate::projection::{ChainTracker, IssueIndex};
use crate::store::{EventStore, StoreError, read_stream_all};
use crate::workflow::{Definition, PayloadReads, Reads};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use std::hash::BuildHasher;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

const PAGE: usize = REPLAY_PAGE;
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
    /// Issues folded a second time from their streams, because their fold needed a payload
    /// the replay's pages had left out (a view that did not decode, say); 0 in the usual case.
    pub refolded: usize,
}

/// What one fold worker ends with.
struct Part {
    index: IssueIndex,
    chains: Option<ChainTracker>,
}

/// A page as the readers hand it on: the rows of each fold worker's partition (issue streams
/// by a hash of their name; workflow documents to every worker), so a worker touches only
/// its own rows instead of decoding and hashing every row of every page.
struct Sorted {
    page: EventPage,
    partitions: Vec<Vec<u32>>,
}

/// What a fold worker is sent: a page, and the rows `from..to` of it that are to be folded
/// (rows at or below a position already folded, or recorded after `until`, are not).
struct Work {
    page: Arc<Sorted>,
    from: usize,
    to: usize,
}

/// Marks a row in another worker's partition that a worker folds too (workflow documents).
const NOT_MINE: u32 = 1 << 31;

fn sort_rows(page: EventPage, workers: usize) -> Sorted {
    let hasher = foldhash::fast::FixedState::default();
    let mut partitions: Vec<Vec<u32>> = (0..workers).map(|_| Vec::with_capacity(page.len() / workers + 8)).collect();
    for i in 0..page.len() {
        let Some(stream) = page.stream_at(i) else { continue };
        let owner = if workers == 1 { 0 } else { hasher.hash_one(stream) as usize % workers };
        partitions[owner].push(i as u32);
        if workers > 1 && stream.starts_with("workflow-") {
            // Every worker needs the documents to fold its issues; only the owner checks
            // their chain (and counts them as verified).
            for (k, p) in partitions.iter_mut().enumerate() {
                if k != owner {
                    p.push(i as u32 | NOT_MINE);
                }
            }
        }
    }
    Sorted { page, partitions }
}

/// Replays the log from the start up to `until` (recorded time, inclusive), calling
/// `progress(position)` after each page.
pub async fn replay_log(
    store: Arc<dyn EventStore>,
    until: Option<DateTime<Utc>>,
    verify_chains: bool,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<LogReplay, StoreError> {
    run(store, until, verify_chains, true, progress).await
}

/// Reads the whole log the way a replay does (the same readers, pages and hand-off to the
/// workers) but folds nothing: how fast the store alone hands out events, which bounds how
/// fast any replay can be. Returns the events read. `convene bench` reports it beside the
/// replay so the two halves of a replay's time can be told apart.
pub async fn read_log(store: Arc<dyn EventStore>) -> Result<u64, StoreError> {
    Ok(run(store, None, false, false, &|_| {}).await?.events)
}

async fn run(
    store: Arc<dyn EventStore>,
    until: Option<DateTime<Utc>>,
    verify_chains: bool,
    fold: bool,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<LogReplay, StoreError> {
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, MAX_WORKERS);
    let fields = if verify_chains {
        PageFields::All
    } else if views_suffice(store.as_ref()).await? {
        PageFields::Views
    } else {
        PageFields::Fold
    };
    let mut senders = Vec::with_capacity(workers);
    let mut handles = Vec::with_capacity(workers);
    for k in 0..workers {
        let (tx, rx) = sync_channel::<Work>(2);
        senders.push(tx);
        let handle = std::thread::Builder::new()
            .name(format!("convene-fold-{k}"))
            .spawn(move || fold_partition(rx, k, verify_chains, fold))
            .map_err(|e| StoreError::Backend(format!("cannot start a fold worker: {e}")))?;
        handles.push(handle);
    }
    // Readers take turns: reader r reads pages r, r + R, r + 2R, … (positions are gap-free, so
    // page i starts after position i × PAGE), and the pages are handed on in order by taking
    // them from the readers in turn.
    let readers = workers.min(MAX_READERS);
    let mut from_readers = Vec::with_capacity(readers);
    for r in 0..readers {
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Sorted, StoreError>>(2);
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
                if tx.send(page.map(|p| sort_rows(p, workers))).await.is_err() || last {
                    return;
                }
                i += readers as u64;
            }
        });
    }
    let mut read = Ok(());
    let (mut events, mut position) = (0u64, 0u64);
    for i in 0.. {
        let Some(page) = from_readers[i % readers].recv().await else { break };
        let sorted = match page {
            Ok(p) => Arc::new(p),
            Err(e) => {
                read = Err(e);
                break;
            }
        };
        let page = &sorted.page;
        let Some(last) = page.last_position() else { break };
        // A store with holes in its positions would make neighbouring pages overlap: skip
        // what was folded already. Positions ascend within a page, and so do recorded times
        // (the writers never let them go backwards in commit order).
        let from = (0..page.len()).find(|&r| page.position_at(r).is_some_and(|p| p > position)).unwrap_or(page.len());
        let to = match until {
            Some(t) => {
                (from..page.len()).find(|&r| page.recorded_at_at(r).is_some_and(|at| at > t)).unwrap_or(page.len())
            }
            None => page.len(),
        };
        let done = page.len() < PAGE || to < page.len();
        if to > from {
            events += (to - from) as u64;
            position = page.position_at(to - 1).unwrap_or(position);
        }
        if !send_all(&senders, &sorted, from, to).await {
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
            out = Some(LogReplay { index: part.index, chains: part.chains, events, position, refolded: 0 });
            continue;
        };
        out.index.merge(part.index);
        if let (Some(all), Some(c)) = (out.chains.as_mut(), part.chains) {
            all.merge(c);
        }
    }
    let mut out = out.unwrap_or_else(|| LogReplay {
        index: IssueIndex::new(),
        chains: verify_chains.then(ChainTracker::new),
        events: 0,
        position: 0,
        refolded: 0,
    });
    refold_left_out(store.as_ref(), &mut out, until).await?;
    Ok(out)
}

/// Whether a replay may leave payloads out of its pages ([`PageFields::Views`]): whether every
/// guard of every workflow published in the log reads no more of a payload than its stored
/// view holds ([`PayloadView::answers`]). Otherwise most issues would be folded twice
/// ([`refold_left_out`]), and the pages keep their payloads. Workflows are few: this reads
/// their streams only, and looks at each guard's rule without compiling the workflow (the
/// fold compiles it); a document that does not parse folds no issue.
async fn views_suffice(store: &dyn EventStore) -> Result<bool, StoreError> {
    for stream in store.list_streams("workflow-").await? {
        for e in read_stream_all(store, &stream).await? {
            let doc: serde_json::Value = serde_json::from_str(e.data.get()).unwrap_or_default();
            let Some(Ok(definition)) = doc.get("definition").map(Definition::deserialize) else { continue };
            let answered = |(event_type, rule): (&str, &serde_json::Value)| match Reads::of(rule).data {
                PayloadReads::Nothing => true,
                PayloadReads::Fields(fields) => fields.iter().all(|f| PayloadView::answers(event_type, f)),
                PayloadReads::Whole => false,
            };
            if !definition.guards().all(answered) {
                return Ok(false);
            }
        }
    }
    Ok(true)
}

/// Folds again, from their streams with every payload, the issues whose fold needed a payload
/// their page had left out (a view that did not decode, a workflow published while the replay
/// ran): a view can make a replay slower, never different. Up to where the replay folded.
async fn refold_left_out(
    store: &dyn EventStore,
    out: &mut LogReplay,
    until: Option<DateTime<Utc>>,
) -> Result<(), StoreError> {
    let ids: Vec<String> = out.index.left_out().map(str::to_string).collect();
    for id in ids {
        let events = read_stream_all(store, &issue::stream_of(&id)).await?;
        let folded = events.iter().filter(|e| e.position <= out.position && until.is_none_or(|t| e.recorded_at <= t));
        out.index.refold(&id, folded.map(|e| e.view()));
        out.refolded += 1;
    }
    Ok(())
}

/// Hands a page to every worker; false if one has stopped (it only stops on a panic).
async fn send_all(senders: &[SyncSender<Work>], page: &Arc<Sorted>, from: usize, to: usize) -> bool {
    let senders = senders.to_vec();
    let page = page.clone();
    // The channels are bounded (back-pressure on the reader), so sending may block.
    tokio::task::spawn_blocking(move || senders.iter().all(|s| s.send(Work { page: page.clone(), from, to }).is_ok()))
        .await
        .unwrap_or(false)
}

/// Folds the rows of partition `k` (its issue streams, and every workflow document); with
/// `fold` false, only takes the pages (a read of the log, see [`read_log`]).
fn fold_partition(work: Receiver<Work>, k: usize, verify_chains: bool, fold: bool) -> Part {
    let catalog = Catalog::shipped();
    let mut part = Part { index: IssueIndex::new(), chains: verify_chains.then(ChainTracker::new) };
    for w in work {
        if !fold {
            continue;
        }
        let Sorted { page, partitions } = &*w.page;
        for &row in &partitions[k] {
            let i = (row & !NOT_MINE) as usize;
            if i < w.from || i >= w.to {
                continue;
            }
            let Some(e) = page.get(i) else { continue };
            if let Some(c) = part.chains.as_mut()
                && row & NOT_MINE == 0
            {
                c.check(&e);
            }
            part.index.apply(&e, catalog);
        }
    }
    part
}
