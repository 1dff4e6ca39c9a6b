//! The KurrentDB (EventStoreDB) store, over the official `kurrentdb` client (cargo feature
//! `kurrentdb`; selected by a `kurrentdb://` or `esdb://` URL).
//!
//! Mapping (ARCHITECTURE.md lists what does not map):
//! - a convene stream is a KurrentDB stream of the same name; an event keeps its id (KurrentDB's
//!   event id), type, and payload bytes (sent as binary so they stay byte-exact); the rest of
//!   the envelope — schema version, recorded time, actor, correlation/causation, `prev_hash`,
//!   `hash` — travels as the event's custom metadata (JSON);
//! - `ExpectedVersion` maps to `StreamState` (`NoStream`, `StreamRevision(v)`); `Any` is sent as
//!   the revision just read, because the hash chain needs the head it links to (a race retries);
//! - global positions: convene numbers its events 1, 2, 3 … in `$all` order, which is commit
//!   order and never changes. The [`Index`] learns that order from a catch-up subscription to
//!   `$all` (system events filtered out) and keeps, per position, the id, stream, version and
//!   `$all` position — not the events. `head` is the number of events indexed, so a
//!   subscription never sees a position before every lower one is known;
//! - several convene logs may share one KurrentDB: with `?convene_namespace=NAME` in the URL a
//!   convene stream `s` is the KurrentDB stream `NAME~s` (`~` never occurs in convene stream
//!   names) and the index counts only that namespace's events (the tests use one per test);
//! - idempotency: the index answers "are these ids stored"; an append returns once the index
//!   holds its events, so its outcome carries their positions.

use super::import_check::{check_page, refused};
use super::{
    AppendOutcome, Direction, EventStore, ExpectedVersion, MAX_EVENTS_PER_APPEND, StoreError, validate_append,
    validate_stream_name,
};
use crate::event::{Actor, GENESIS_HASH, NewEvent, Payload, RecordedEvent, chain_hash, event_hash_input};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures_util::{StreamExt, TryStreamExt};
use kurrentdb::{
    AppendToStreamOptions, Client, ClientSettings, EventData, ReadAllOptions, ReadStreamOptions, StreamPosition,
    StreamState, SubscribeToAllOptions, SubscriptionFilter,
};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::sync::watch;
use uuid::Uuid;

/// How long an append waits for the index to learn its own events.
const INDEX_WAIT: Duration = Duration::from_secs(30);
/// Appends retried after losing a race under `ExpectedVersion::Any`.
const ANY_RETRIES: usize = 16;
/// The most bytes (payloads, plus an allowance per envelope) one import append carries: half
/// of KurrentDB's default largest append (1 MiB).
const IMPORT_APPEND_BYTES: usize = 512 * 1024;
/// Stream heads read at once before an import.
const IMPORT_HEAD_READS: usize = 16;

fn backend(e: kurrentdb::Error) -> StoreError {
    match e {
        // The node cannot be reached or is not the leader right now (a restart, an election):
        // passing, as a lost PostgreSQL connection is. Appends carry their event ids, which
        // KurrentDB deduplicates, so the same append retried is recorded once.
        kurrentdb::Error::ConnectionClosed
        | kurrentdb::Error::GrpcConnectionError(_)
        | kurrentdb::Error::DeadlineExceeded
        | kurrentdb::Error::NotLeaderException(_) => {
            super::outages::gave_up();
            StoreError::unavailable(format!("KurrentDB: {e}"))
        }
        _ => StoreError::Backend(format!("KurrentDB: {e}")),
    }
}

/// The envelope fields KurrentDB has no place for, as the event's custom metadata.
#[derive(Serialize, Deserialize)]
struct Envelope {
    schema_version: u32,
    recorded_at: DateTime<Utc>,
    actor: Actor,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    correlation_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    causation_id: Option<Uuid>,
    prev_hash: String,
    hash: String,
}

impl Envelope {
    /// A recorded event's own envelope, as it was recorded (nothing recomputed).
    fn of(e: &RecordedEvent) -> Envelope {
        Envelope {
            schema_version: e.schema_version,
            recorded_at: e.recorded_at,
            actor: e.actor.clone(),
            correlation_id: e.correlation_id,
            causation_id: e.causation_id,
            prev_hash: e.prev_hash.clone(),
            hash: e.hash.clone(),
        }
    }
}

/// One event as KurrentDB takes it: its id and type, the payload bytes as they are (binary, so
/// they stay byte-exact) and the envelope as custom metadata.
fn event_data(id: Uuid, event_type: &str, payload: &str, env: &Envelope) -> Result<EventData, StoreError> {
    let meta = serde_json::to_vec(env).map_err(|e| StoreError::Backend(e.to_string()))?;
    Ok(EventData::binary(event_type, payload.as_bytes().to_vec().into()).id(id).metadata(meta.into()))
}

/// Where one convene event is: its stream, version and `$all` position.
#[derive(Clone)]
struct Entry {
    id: Uuid,
    stream: String,
    version: u64,
    all: kurrentdb::Position,
}

/// convene's numbering of `$all`, learnt from the subscription.
#[derive(Default)]
struct Index {
    /// Position p (1-based) is `log[p - 1]`.
    log: Vec<Entry>,
    by_id: HashMap<Uuid, u64>,
    /// Stream → position of its first event (creation order for `list_streams`).
    first: HashMap<String, u64>,
}

/// Maps convene stream names to KurrentDB stream names and back.
#[derive(Clone)]
struct Names {
    prefix: Option<String>,
}

impl Names {
    fn outer(&self, stream: &str) -> String {
        match &self.prefix {
            Some(p) => format!("{p}~{stream}"),
            None => stream.to_string(),
        }
    }

    /// The convene stream of a KurrentDB stream, if it belongs to this log.
    fn inner<'a>(&self, outer: &'a str) -> Option<&'a str> {
        if outer.starts_with('$') {
            return None;
        }
        match &self.prefix {
            Some(p) => outer.strip_prefix(p.as_str()).and_then(|r| r.strip_prefix('~')),
            None => (!outer.contains('~')).then_some(outer),
        }
    }
}

struct Inner {
    names: Names,
    client: Client,
    index: Arc<RwLock<Index>>,
    head: watch::Receiver<u64>,
    follower: tokio::task::JoinHandle<()>,
    closed: std::sync::atomic::AtomicBool,
    last_recorded: Mutex<DateTime<Utc>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.follower.abort();
    }
}

#[derive(Clone)]
pub struct KurrentStore {
    inner: Arc<Inner>,
}

impl KurrentStore {
    /// Connects (`kurrentdb://host:2113?tls=false`, `esdb://…`) and starts following `$all`.
    pub async fn open(url: &str) -> Result<KurrentStore, StoreError> {
        let (base, query) = url.split_once('?').unwrap_or((url, ""));
        let mut namespace = None;
        let mut kept = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some(("convene_namespace", v)) if !v.is_empty() => namespace = Some(v.to_string()),
                _ => kept.push(pair),
            }
        }
        let url = if kept.is_empty() { base.to_string() } else { format!("{base}?{}", kept.join("&")) };
        let names = Names { prefix: namespace };
        let normalized = match url.strip_prefix("kurrentdb") {
            Some(rest) => format!("esdb{rest}"),
            None => url.to_string(),
        };
        let settings: ClientSettings =
            normalized.parse().map_err(|e| StoreError::Invalid(format!("not a KurrentDB connection string: {e}")))?;
        let client = Client::new(settings).map_err(|e| StoreError::Backend(format!("KurrentDB client: {e}")))?;
        let index = Arc::new(RwLock::new(Index::default()));
        let (head_tx, head) = watch::channel(0);
        // Learn the whole existing log before answering anything.
        let caught_up = catch_up(&client, &names, &index, &head_tx).await?;
        let follower = tokio::spawn(follow(client.clone(), names.clone(), index.clone(), head_tx, caught_up));
        Ok(KurrentStore {
            inner: Arc::new(Inner {
                names,
                client,
                index,
                head,
                follower,
                closed: std::sync::atomic::AtomicBool::new(false),
                last_recorded: Mutex::new(DateTime::<Utc>::MIN_UTC),
            }),
        })
    }

    fn index(&self) -> Result<std::sync::RwLockReadGuard<'_, Index>, StoreError> {
        self.inner.index.read().map_err(|_| StoreError::Backend("KurrentDB index poisoned".into()))
    }

    /// The stream's last (version, hash), read from KurrentDB itself.
    async fn stream_head(&self, stream: &str) -> Result<Option<(u64, String)>, StoreError> {
        let opts = ReadStreamOptions::default().backwards().position(StreamPosition::End).max_count(1);
        let mut read = match self.inner.client.read_stream(self.inner.names.outer(stream), &opts).await {
            Ok(r) => r,
            Err(kurrentdb::Error::ResourceNotFound) => return Ok(None),
            Err(e) => return Err(backend(e)),
        };
        match read.next().await {
            Ok(Some(e)) => {
                let r = e.get_original_event();
                let env: Envelope = serde_json::from_slice(&r.custom_metadata)
                    .map_err(|e| StoreError::Backend(format!("KurrentDB event without convene envelope: {e}")))?;
                Ok(Some((r.revision, env.hash)))
            }
            Ok(None) | Err(kurrentdb::Error::ResourceNotFound) => Ok(None),
            Err(e) => Err(backend(e)),
        }
    }

    /// Waits until the index holds `id`; returns its position.
    async fn indexed(&self, id: Uuid) -> Result<u64, StoreError> {
        let mut head = self.inner.head.clone();
        let deadline = tokio::time::Instant::now() + INDEX_WAIT;
        loop {
            if let Some(p) = self.index()?.by_id.get(&id) {
                return Ok(*p);
            }
            if tokio::time::timeout_at(deadline, head.changed()).await.is_err() {
                return Err(StoreError::Backend(format!("KurrentDB: event {id} was written but not seen in $all")));
            }
        }
    }

    fn recorded_now(&self) -> Result<DateTime<Utc>, StoreError> {
        let now = DateTime::<Utc>::from_timestamp_micros(Utc::now().timestamp_micros())
            .ok_or_else(|| StoreError::Backend("clock out of range".into()))?;
        let mut last = self.inner.last_recorded.lock().map_err(|_| StoreError::Backend("poisoned".into()))?;
        *last = (*last).max(now);
        Ok(*last)
    }

    /// Writes one run of an import (consecutive events of one stream, already checked) as one
    /// `append_to_stream` at the revision before it, then checks that the index numbered its
    /// events as the source did.
    async fn import_run(&self, run: &[RecordedEvent]) -> Result<(), StoreError> {
        let (Some(first), Some(last)) = (run.first(), run.last()) else { return Ok(()) };
        let state = match first.version {
            0 => StreamState::NoStream,
            v => StreamState::StreamRevision(v - 1),
        };
        let data = run
            .iter()
            .map(|e| event_data(e.id, &e.event_type, e.data.get(), &Envelope::of(e)))
            .collect::<Result<Vec<_>, _>>()?;
        let opts = AppendToStreamOptions::default().stream_state(state);
        match self.inner.client.append_to_stream(self.inner.names.outer(&first.stream), &opts, data).await {
            Ok(_) => {}
            Err(kurrentdb::Error::WrongExpectedVersion { current, .. }) => {
                return Err(interleaved(first, format_args!("the stream is at {current:?}")));
            }
            Err(e) => return Err(backend(e)),
        }
        // One append is contiguous in $all: once its last event is indexed, all of it is.
        self.indexed(last.id).await?;
        let idx = self.index()?;
        for e in run {
            match idx.by_id.get(&e.id) {
                Some(p) if *p == e.position => {}
                Some(p) => return Err(interleaved(e, format_args!("KurrentDB's log numbered it {p}"))),
                None => return Err(interleaved(e, "it is not in the index")),
            }
        }
        Ok(())
    }

    /// Reads KurrentDB events of one stream and numbers them from the index.
    async fn to_recorded(&self, e: &kurrentdb::RecordedEvent) -> Result<Option<RecordedEvent>, StoreError> {
        let Some(position) = self.index()?.by_id.get(&e.id).copied() else { return Ok(None) };
        decode(&self.inner.names, e, position).map(Some)
    }
}

/// An import page cut into appends: runs of consecutive events of one stream, each at most
/// `MAX_EVENTS_PER_APPEND` events and about `IMPORT_APPEND_BYTES` (one event at least).
fn import_runs(events: &[RecordedEvent]) -> Vec<std::ops::Range<usize>> {
    let mut runs = Vec::new();
    let mut start = 0;
    while start < events.len() {
        let mut end = start + 1;
        let mut bytes = events[start].data.get().len() + 512;
        while let Some(e) = events.get(end) {
            bytes += e.data.get().len() + 512;
            if e.stream != events[start].stream || end - start >= MAX_EVENTS_PER_APPEND || bytes > IMPORT_APPEND_BYTES {
                break;
            }
            end += 1;
        }
        runs.push(start..end);
        start = end;
    }
    runs
}

/// The import stopped because the index numbered `e` otherwise than the source did.
fn interleaved(e: &RecordedEvent, what: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(format!(
        "KurrentDB import stopped at position {} ({} v{}): {what}; another writer appended to the \
         target during the import — the target must not be written to while a log is imported into it",
        e.position, e.stream, e.version
    ))
}

fn decode(names: &Names, e: &kurrentdb::RecordedEvent, position: u64) -> Result<RecordedEvent, StoreError> {
    let stream = names
        .inner(e.stream_id())
        .ok_or_else(|| StoreError::Backend(format!("KurrentDB stream {} is not in this log", e.stream_id())))?;
    let env: Envelope = serde_json::from_slice(&e.custom_metadata)
        .map_err(|err| StoreError::Backend(format!("KurrentDB event {} has no convene envelope: {err}", e.id)))?;
    let data = String::from_utf8(e.data.to_vec())
        .map_err(|_| StoreError::Backend(format!("KurrentDB event {}: payload is not UTF-8", e.id)))?;
    Ok(RecordedEvent {
        id: e.id,
        stream: stream.to_string(),
        version: e.revision,
        position,
        event_type: e.event_type.clone(),
        schema_version: env.schema_version,
        recorded_at: env.recorded_at,
        actor: env.actor,
        correlation_id: env.correlation_id,
        causation_id: env.causation_id,
        data: Payload::trusted(data),
        prev_hash: env.prev_hash,
        hash: env.hash,
    })
}

/// Adds one `$all` event to the index if it is a convene event.
fn learn(names: &Names, index: &RwLock<Index>, head: &watch::Sender<u64>, e: &kurrentdb::RecordedEvent) {
    let Some(stream) = names.inner(e.stream_id()) else { return };
    if e.custom_metadata.is_empty() {
        return;
    }
    let Ok(mut idx) = index.write() else { return };
    if idx.by_id.contains_key(&e.id) {
        return;
    }
    let position = idx.log.len() as u64 + 1;
    idx.log.push(Entry { id: e.id, stream: stream.to_string(), version: e.revision, all: e.position });
    idx.by_id.insert(e.id, position);
    if e.revision == 0 {
        idx.first.entry(stream.to_string()).or_insert(position);
    }
    drop(idx);
    head.send_replace(position);
}

/// Reads `$all` from the start into the index; returns the last `$all` position read.
async fn catch_up(
    client: &Client,
    names: &Names,
    index: &RwLock<Index>,
    head: &watch::Sender<u64>,
) -> Result<Option<kurrentdb::Position>, StoreError> {
    let opts = ReadAllOptions::default()
        .forwards()
        .position(StreamPosition::Start)
        .filter(SubscriptionFilter::on_event_type().exclude_system_events())
        .max_count(usize::MAX);
    let mut read = client.read_all(&opts).await.map_err(backend)?;
    let mut last = None;
    while let Some(e) = read.next().await.map_err(backend)? {
        let r = e.get_original_event();
        learn(names, index, head, r);
        last = Some(r.position);
    }
    Ok(last)
}

/// Follows `$all` live (the client's catch-up subscription), re-subscribing after errors.
async fn follow(
    client: Client,
    names: Names,
    index: Arc<RwLock<Index>>,
    head: watch::Sender<u64>,
    mut last: Option<kurrentdb::Position>,
) {
    loop {
        let start = last.map_or(StreamPosition::Start, StreamPosition::Position);
        let opts = SubscribeToAllOptions::default()
            .position(start)
            .filter(SubscriptionFilter::on_event_type().exclude_system_events());
        let mut sub = client.subscribe_to_all(&opts).await;
        loop {
            match sub.next().await {
                Ok(e) => {
                    let r = e.get_original_event();
                    learn(&names, &index, &head, r);
                    last = Some(r.position);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "KurrentDB $all subscription failed; re-subscribing");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    break;
                }
            }
        }
    }
}

#[async_trait]
impl EventStore for KurrentStore {
    async fn append(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<AppendOutcome, StoreError> {
        validate_append(stream, &events)?;
        if self.inner.closed.load(std::sync::atomic::Ordering::Relaxed) {
            return Err(StoreError::Closed);
        }
        let mut ids: Vec<Uuid> = events.iter().map(|e| e.id).collect();
        ids.sort();
        ids.dedup();
        if ids.len() != events.len() {
            return Err(StoreError::Invalid("duplicate event ids in one append".into()));
        }
        for attempt in 0..ANY_RETRIES {
            // Idempotency from the index.
            let found: Vec<Option<(String, u64, u64)>> = {
                let idx = self.index()?;
                events
                    .iter()
                    .map(|e| {
                        idx.by_id.get(&e.id).map(|p| {
                            let en = &idx.log[*p as usize - 1];
                            (en.stream.clone(), en.version, *p)
                        })
                    })
                    .collect()
            };
            let n_found = found.iter().filter(|f| f.is_some()).count();
            if n_found == events.len() {
                let f: Vec<(String, u64, u64)> = found.into_iter().flatten().collect();
                let consistent = f.iter().enumerate().all(|(i, (s, v, _))| s == stream && *v == f[0].1 + i as u64);
                if !consistent {
                    return Err(StoreError::IdempotencyMismatch(format!(
                        "ids are stored, but not as this append to {stream}"
                    )));
                }
                return Ok(AppendOutcome {
                    first_version: f[0].1,
                    last_version: f[f.len() - 1].1,
                    first_position: f[0].2,
                    last_position: f[f.len() - 1].2,
                    already_present: true,
                });
            }
            if n_found > 0 {
                return Err(StoreError::IdempotencyMismatch(format!(
                    "{n_found} of {} event ids are already stored",
                    events.len()
                )));
            }
            let head = self.stream_head(stream).await?;
            let actual = head.as_ref().map(|h| h.0);
            let ok = match expected {
                ExpectedVersion::Any => true,
                ExpectedVersion::NoStream => actual.is_none(),
                ExpectedVersion::Exact(v) => actual == Some(v),
            };
            if !ok {
                return Err(StoreError::WrongExpectedVersion { stream: stream.to_string(), expected, actual });
            }
            let recorded_at = self.recorded_now()?;
            let (mut version, mut prev) = match &head {
                Some((v, h)) => (v + 1, h.clone()),
                None => (0, GENESIS_HASH.to_string()),
            };
            let first_version = version;
            let mut data = Vec::with_capacity(events.len());
            for e in &events {
                let hash = chain_hash(&event_hash_input(e, stream, version, recorded_at, &prev));
                let env = Envelope {
                    schema_version: e.schema_version,
                    recorded_at,
                    actor: e.actor.clone(),
                    correlation_id: e.correlation_id,
                    causation_id: e.causation_id,
                    prev_hash: prev.clone(),
                    hash: hash.clone(),
                };
                data.push(event_data(e.id, &e.event_type, e.data().get(), &env)?);
                prev = hash;
                version += 1;
            }
            let state = match actual {
                Some(v) => StreamState::StreamRevision(v),
                None => StreamState::NoStream,
            };
            let opts = AppendToStreamOptions::default().stream_state(state);
            match self.inner.client.append_to_stream(self.inner.names.outer(stream), &opts, data).await {
                Ok(_) => {
                    let first_position = self.indexed(events[0].id).await?;
                    let last_position = self.indexed(events[events.len() - 1].id).await?;
                    return Ok(AppendOutcome {
                        first_version,
                        last_version: version - 1,
                        first_position,
                        last_position,
                        already_present: false,
                    });
                }
                Err(kurrentdb::Error::WrongExpectedVersion { current, .. }) => {
                    // Someone appended between our read of the head and our write.
                    if expected == ExpectedVersion::Any && attempt + 1 < ANY_RETRIES {
                        continue;
                    }
                    // A retry of ours may have landed meanwhile: the loop's idempotency check
                    // answers it on the next pass.
                    if let Some(p) = self.index()?.by_id.get(&events[0].id).copied() {
                        let _ = p;
                        continue;
                    }
                    let actual = match current {
                        kurrentdb::CurrentRevision::Current(v) => Some(v),
                        kurrentdb::CurrentRevision::NoStream => None,
                    };
                    return Err(StoreError::WrongExpectedVersion { stream: stream.to_string(), expected, actual });
                }
                Err(e) => return Err(backend(e)),
            }
        }
        Err(StoreError::Backend(format!("KurrentDB: too much contention on {stream}")))
    }

    async fn read_stream(
        &self,
        stream: &str,
        from: u64,
        direction: Direction,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let opts = match direction {
            Direction::Forward => ReadStreamOptions::default().forwards().position(StreamPosition::Position(from)),
            Direction::Backward if from == u64::MAX => {
                ReadStreamOptions::default().backwards().position(StreamPosition::End)
            }
            Direction::Backward => ReadStreamOptions::default().backwards().position(StreamPosition::Position(from)),
        }
        .max_count(limit);
        let mut read = match self.inner.client.read_stream(self.inner.names.outer(stream), &opts).await {
            Ok(r) => r,
            Err(kurrentdb::Error::ResourceNotFound) => return Ok(Vec::new()),
            Err(e) => return Err(backend(e)),
        };
        let mut out = Vec::new();
        loop {
            match read.next().await {
                Ok(Some(e)) => {
                    if let Some(r) = self.to_recorded(e.get_original_event()).await? {
                        out.push(r);
                    }
                }
                Ok(None) | Err(kurrentdb::Error::ResourceNotFound) => return Ok(out),
                Err(e) => return Err(backend(e)),
            }
        }
    }

    async fn read_all(&self, after: u64, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        let (start, head) = {
            let idx = self.index()?;
            match idx.log.get(after as usize) {
                Some(en) => (en.all, idx.log.len() as u64),
                None => return Ok(Vec::new()),
            }
        };
        let opts = ReadAllOptions::default()
            .forwards()
            .position(StreamPosition::Position(start))
            .filter(SubscriptionFilter::on_event_type().exclude_system_events())
            .max_count(limit.saturating_mul(2).max(limit + 64));
        let mut read = self.inner.client.read_all(&opts).await.map_err(backend)?;
        let mut out = Vec::with_capacity(limit);
        while out.len() < limit {
            let Some(e) = read.next().await.map_err(backend)? else { break };
            let r = e.get_original_event();
            // Only what the index numbered: nothing beyond the head, nothing twice.
            let position = self.index()?.by_id.get(&r.id).copied();
            match position {
                Some(p) if p == after + out.len() as u64 + 1 && p <= head => out.push(decode(&self.inner.names, r, p)?),
                _ => {}
            }
        }
        Ok(out)
    }

    async fn stream_version(&self, stream: &str) -> Result<Option<u64>, StoreError> {
        Ok(self.stream_head(stream).await?.map(|h| h.0))
    }

    async fn read_event(&self, id: Uuid) -> Result<Option<RecordedEvent>, StoreError> {
        let entry = {
            let idx = self.index()?;
            idx.by_id.get(&id).map(|p| idx.log[*p as usize - 1].clone())
        };
        let Some(en) = entry else { return Ok(None) };
        Ok(self.read_stream(&en.stream, en.version, Direction::Forward, 1).await?.pop().filter(|e| e.id == en.id))
    }

    async fn list_streams(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let idx = self.index()?;
        let mut streams: Vec<(&String, &u64)> = idx.first.iter().filter(|(s, _)| s.starts_with(prefix)).collect();
        streams.sort_by_key(|(_, p)| **p);
        Ok(streams.into_iter().map(|(s, _)| s.clone()).collect())
    }

    fn head(&self) -> watch::Receiver<u64> {
        self.inner.head.clone()
    }

    async fn close(&self) {
        self.inner.closed.store(true, std::sync::atomic::Ordering::Relaxed);
        self.inner.follower.abort();
    }

    fn backend(&self) -> &'static str {
        "kurrentdb"
    }

    /// Appends a log copied from another store (`convene migrate`), keeping ids, versions,
    /// positions, recorded times, payload bytes and hashes.
    ///
    /// The whole page is checked before anything is written, as the other backends check it
    /// ([`check_page`]): it continues the log (the next position after the events indexed in
    /// this namespace, recorded no earlier than the log's last event) and each stream (the next
    /// version, `prev_hash` = the stream's last hash read from KurrentDB), every hash matches
    /// its content, and no id is stored already; a refusal (`Invalid`) writes nothing. Then
    /// each run of consecutive events of one stream is one `append_to_stream` at the revision
    /// before it, with the recorded envelope as it is.
    ///
    /// **Atomic per run, not per call**: KurrentDB has no transaction across streams, so a
    /// failure in the middle of a page leaves the runs before it written (the trait's "writes
    /// nothing" holds only for the checks). `convene migrate` resumes after what the target
    /// holds, so that is enough for it. Positions are assigned by `$all` order, so after each
    /// run the index must have numbered its events as the source did; if another writer
    /// appended meanwhile it has not, and the import stops with an error saying so.
    async fn import(&self, events: Vec<RecordedEvent>) -> Result<u64, StoreError> {
        if self.inner.closed.load(std::sync::atomic::Ordering::Relaxed) {
            return Err(StoreError::Closed);
        }
        let position = self.index()?.log.len() as u64;
        let Some(last_event) = events.last() else { return Ok(position) };
        let last_time = match position {
            0 => None,
            p => Some(
                self.read_all(p - 1, 1)
                    .await?
                    .pop()
                    .ok_or_else(|| StoreError::Backend(format!("KurrentDB: event {p} could not be read")))?
                    .recorded_at,
            ),
        };
        let mut streams: Vec<String> =
            events.iter().filter(|e| validate_stream_name(&e.stream).is_ok()).map(|e| e.stream.clone()).collect();
        streams.sort_unstable();
        streams.dedup();
        let mut heads: HashMap<String, (u64, String)> = futures_util::stream::iter(streams)
            .map(|s| async move { Ok::<_, StoreError>(self.stream_head(&s).await?.map(|h| (s, h))) })
            .buffer_unordered(IMPORT_HEAD_READS)
            .try_filter_map(|h| async move { Ok(h) })
            .try_collect()
            .await?;
        check_page(&events, position, last_time, &mut heads)?;
        {
            let idx = self.index()?;
            if let Some(e) = events.iter().find(|e| idx.by_id.contains_key(&e.id)) {
                return Err(refused(e, "its event id is already stored"));
            }
        }
        for run in import_runs(&events) {
            self.import_run(&events[run]).await?;
        }
        // Later appends of this process are not recorded before the imported log's end.
        let mut last = self.inner.last_recorded.lock().map_err(|_| StoreError::Backend("poisoned".into()))?;
        *last = (*last).max(last_event.recorded_at);
        Ok(last_event.position)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(stream: &str, payload_len: usize) -> RecordedEvent {
        RecordedEvent {
            id: Uuid::now_v7(),
            stream: stream.into(),
            version: 0,
            position: 1,
            event_type: "IssueRaised".into(),
            schema_version: 1,
            recorded_at: DateTime::<Utc>::UNIX_EPOCH,
            actor: Actor { id: "r1".into(), name: None, role: "resident".into(), community: None },
            correlation_id: None,
            causation_id: None,
            data: Payload::trusted(format!("\"{}\"", "x".repeat(payload_len))),
            prev_hash: GENESIS_HASH.into(),
            hash: GENESIS_HASH.into(),
        }
    }

    #[test]
    fn an_import_page_is_cut_into_runs_of_one_stream_and_bounded_size() {
        let page: Vec<RecordedEvent> = ["a", "a", "b", "a", "a", "a"].iter().map(|s| event(s, 10)).collect();
        assert_eq!(import_runs(&page), vec![0..2, 2..3, 3..6]);
        assert!(import_runs(&[]).is_empty());
        // Large payloads: a run is cut before it passes the byte budget, one event at least.
        let big: Vec<RecordedEvent> = (0..5).map(|_| event("a", IMPORT_APPEND_BYTES / 2)).collect();
        assert_eq!(import_runs(&big), vec![0..1, 1..2, 2..3, 3..4, 4..5]);
        let huge = vec![event("a", IMPORT_APPEND_BYTES * 2)];
        assert_eq!(import_runs(&huge), vec![0..1]);
        let many: Vec<RecordedEvent> = (0..MAX_EVENTS_PER_APPEND + 1).map(|_| event("a", 0)).collect();
        let runs = import_runs(&many);
        assert!(runs.iter().all(|r| r.len() <= MAX_EVENTS_PER_APPEND && !r.is_empty()), "{runs:?}");
        assert_eq!(runs.iter().map(|r| r.len()).sum::<usize>(), many.len());
    }

    #[test]
    fn an_imported_event_keeps_its_recorded_envelope() {
        let mut e = event("a", 3);
        e.recorded_at = DateTime::<Utc>::from_timestamp(1_700_000_000, 123_456_000).expect("cannot fail: valid");
        e.correlation_id = Some(Uuid::now_v7());
        let env = Envelope::of(&e);
        let back: Envelope = serde_json::from_slice(&serde_json::to_vec(&env).expect("serialize")).expect("parse");
        assert_eq!((back.recorded_at, back.correlation_id, back.hash), (e.recorded_at, e.correlation_id, e.hash));
        assert_eq!(back.actor, e.actor);
    }
}
