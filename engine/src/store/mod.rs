//! The `EventStore` trait every backend implements, and what it promises.
//!
//! Promises (checked by the conformance suite in `tests/`):
//! - stream versions are 0-based and gap-free; global positions are 1-based, gap-free and in
//!   commit order, so a reader that has seen position P never later finds an event below P;
//! - an append is all-or-nothing and is acknowledged only once durable;
//! - appending event ids that are already stored returns the original outcome and writes
//!   nothing (idempotency); a partial overlap is refused;
//! - a subscription delivers every event after its start position exactly once, in order.

mod import_check;
#[cfg(feature = "kurrentdb")]
pub mod kurrentdb;
mod open;
pub(crate) mod outages;
pub mod postgres;
mod sqlite;
mod sqlite_derived;
mod sqlite_envelope;
mod sqlite_import;
mod sqlite_segments;
mod sqlite_views;
mod sqlite_wal;
mod sqlite_watch;
mod subscription;
mod tail;

pub use open::{OpenOptions, StoreUrl, open, open_parsed};
pub use outages::{OutageCounts, counts as outage_counts};
pub use postgres::{PgSecrets, PostgresOptions, PostgresStore, RootCerts, SslMode, TlsOptions, Verification};
pub use sqlite::{SqliteOptions, SqliteStore};
pub use subscription::Subscription;
pub use tail::{TAIL_EVENTS, Tail};

use crate::event::{EventPage, NewEvent, PageFields, RecordedEvent};
use async_trait::async_trait;
use std::path::Path;
use std::sync::Arc;
use tokio::sync::watch;
use uuid::Uuid;

/// What the writer believes the stream's version is (optimistic concurrency).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpectedVersion {
    /// Append whatever the current version is.
    Any,
    /// The stream must not exist yet.
    NoStream,
    /// The stream's last event must have exactly this version.
    Exact(u64),
}

/// What an append did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendOutcome {
    /// Version of the first appended event.
    pub first_version: u64,
    /// Version of the last appended event (the stream's version after the append).
    pub last_version: u64,
    /// Global position of the first appended event.
    pub first_position: u64,
    /// Global position of the last appended event.
    pub last_position: u64,
    /// True when every event was already stored: nothing was written this time.
    pub already_present: bool,
}

/// Direction of a stream read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Forward,
    Backward,
}

/// Errors of any backend. Each variant says how a caller handles it.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The stream's version is not what the caller expected: re-read, re-decide, retry
    /// (or report 412/409 to a client that sent If-Match).
    #[error("wrong expected version for {stream}: expected {expected:?}, actual {actual:?}")]
    WrongExpectedVersion { stream: String, expected: ExpectedVersion, actual: Option<u64> },
    /// Some but not all of the event ids are already stored, or they are stored elsewhere:
    /// the caller reused ids for different events. Not retryable.
    #[error("event ids partly stored already or stored in another stream: {0}")]
    IdempotencyMismatch(String),
    /// The append was malformed (no events, bad stream name), or the store URL is (bad
    /// schema name, unknown `sslmode`, unreadable `sslrootcert`). Not retryable.
    #[error("invalid: {0}")]
    Invalid(String),
    /// The store has shut down; the process is stopping.
    #[error("event store is closed")]
    Closed,
    /// The backend failed (disk, database). Retryable after the operator fixes the cause;
    /// nothing of the failed append was written.
    #[error("storage backend error: {0}")]
    Backend(String),
    /// The disk (or the database server's disk) is full. Nothing of the failed append was
    /// written; the same append succeeds once the operator has freed space, without a
    /// restart. Kept apart from `Backend` so a client hears "retry later", not "bug".
    #[error("存储空间已满，腾出磁盘空间后可重试 / the storage is full; retry once disk space is freed: {0}")]
    StorageFull(String),
    /// The database cannot be reached right now: the connection was refused, reset or timed
    /// out, or the server is starting, stopping or failing over (PostgreSQL), or another
    /// process has held the embedded log's write lock past the busy timeout. Retryable as it
    /// is: the same request succeeds once the database answers again, with no operator action.
    ///
    /// `outcome_unknown`: the connection broke after an append's COMMIT was sent, so it may
    /// have been written. Every append carries its event ids and the store is idempotent by
    /// them, so retrying the same append (over HTTP: the same request with the same
    /// `Idempotency-Key`) records it exactly once either way.
    #[error("{}: {message}", unavailable_title(*.outcome_unknown))]
    Unavailable { message: String, outcome_unknown: bool },
    /// TLS to the database could not be set up as the URL's `sslmode` requires (the server
    /// offers no TLS, its certificate does not verify). The message says which and what to
    /// change, in zh-CN and English; retrying does not help until the server or URL changes.
    #[error("{0}")]
    Tls(String),
}

fn unavailable_title(outcome_unknown: bool) -> &'static str {
    if outcome_unknown {
        "提交时与数据库的连接中断，本次写入可能已保存，用相同的事件编号重试只会记录一次 / the connection to the database \
         broke while committing: the append may have been written; retrying it with the same event ids records it once"
    } else {
        "数据库暂时无法连接，未写入任何内容，可稍后重试 / the database cannot be reached right now; nothing was written, \
         retry later"
    }
}

impl StoreError {
    /// The database cannot be reached; nothing was written.
    pub fn unavailable(message: impl Into<String>) -> StoreError {
        StoreError::Unavailable { message: message.into(), outcome_unknown: false }
    }

    /// Is this a passing failure of the connection to the database ([`StoreError::Unavailable`]),
    /// which the same request survives once the database is back?
    pub fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Unavailable { .. })
    }
}

/// A stored event that cannot be read as stored, named by its position.
pub(crate) fn corrupt_event(position: u64, what: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(format!("位置 {position} 的事件已损坏 / corrupt event at position {position}: {what}"))
}

/// An append-only event log with streams, a global order and subscriptions.
#[async_trait]
pub trait EventStore: Send + Sync + 'static {
    /// Appends `events` to `stream` atomically if the stream is at `expected`.
    async fn append(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<AppendOutcome, StoreError>;

    /// Reads up to `limit` events of one stream, forward from version `from` (inclusive) or
    /// backward from `from` (inclusive; `u64::MAX` = from the end).
    async fn read_stream(
        &self,
        stream: &str,
        from: u64,
        direction: Direction,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError>;

    /// Reads up to `limit` events with global position greater than `after`, in order.
    async fn read_all(&self, after: u64, limit: usize) -> Result<Vec<RecordedEvent>, StoreError>;

    /// [`EventStore::read_all`] decoded into one buffer, for folds that only look at each
    /// event (whole-log replay, projections catching up). Stores override it when they can
    /// decode rows without an owned envelope per event.
    /// `fields` says which envelope fields the fold needs ([`PageFields::Fold`] leaves the
    /// hashes out); a store may always return more.
    async fn read_all_page(&self, after: u64, limit: usize, fields: PageFields) -> Result<EventPage, StoreError> {
        let _ = fields;
        Ok(EventPage::from_recorded(&self.read_all(after, limit).await?))
    }

    /// The stream's current version, or None if it does not exist.
    async fn stream_version(&self, stream: &str) -> Result<Option<u64>, StoreError>;

    /// Finds one event by id.
    async fn read_event(&self, id: Uuid) -> Result<Option<RecordedEvent>, StoreError>;

    /// Lists stream names with the given prefix (e.g. `issue-`), in creation order.
    async fn list_streams(&self, prefix: &str) -> Result<Vec<String>, StoreError>;

    /// A watch of the highest durable global position (0 when empty); subscriptions wait on it.
    fn head(&self) -> watch::Receiver<u64>;

    /// Stops accepting appends, finishes the ones in flight, and flushes.
    async fn close(&self);

    /// Backend name for logs and `/readyz`.
    fn backend(&self) -> &'static str;

    /// The log's latest events from position `after + 1` on (at most `max`), if this process
    /// wrote them and still holds them in memory (see [`Tail`]); `None`: read the store.
    fn recent_after(&self, after: u64, max: usize) -> Option<Vec<std::sync::Arc<RecordedEvent>>> {
        let _ = (after, max);
        None
    }

    /// Group-commit counters: (durable transactions, appends they carried), for operators and
    /// the benchmark. `None` when the backend does not count them.
    fn commit_counts(&self) -> Option<(u64, u64)> {
        None
    }

    /// The file holding the log on this machine (the embedded store's database), whose disk
    /// `/metrics` watches for free space. `None` for a log on a database server.
    fn local_file(&self) -> Option<&Path> {
        None
    }

    /// Appends events recorded by another store (`convene migrate`), keeping their ids,
    /// versions, positions, recorded times and hashes. The events must continue this log: the
    /// first one's position is the head + 1 and positions are consecutive; each continues its
    /// stream (next version, `prev_hash` = the stream's last hash) and carries the hash its
    /// content computes to. Otherwise the whole call is refused (`Invalid`) and writes nothing.
    /// Returns the log's position afterwards. The embedded and PostgreSQL stores write a call in
    /// one transaction; KurrentDB, with none across streams, per run of one stream (see its
    /// `import`).
    async fn import(&self, events: Vec<RecordedEvent>) -> Result<u64, StoreError> {
        let _ = events;
        Err(StoreError::Invalid(format!("the {} backend cannot import a log", self.backend())))
    }
}

/// Subscriptions for any store.
pub trait SubscribeExt {
    /// Catch-up from `after`, then live: every later event exactly once, in global order.
    fn subscribe(&self, after: u64) -> Subscription;
}

impl SubscribeExt for Arc<dyn EventStore> {
    fn subscribe(&self, after: u64) -> Subscription {
        Subscription::new(self.clone(), after)
    }
}

/// Reads a whole stream forward (convenience over paged reads).
pub async fn read_stream_all(store: &dyn EventStore, stream: &str) -> Result<Vec<RecordedEvent>, StoreError> {
    const PAGE: usize = 4096;
    let mut out = Vec::new();
    loop {
        let from = out.len() as u64;
        let page = store.read_stream(stream, from, Direction::Forward, PAGE).await?;
        let n = page.len();
        out.extend(page);
        if n < PAGE {
            return Ok(out);
        }
    }
}

/// Checks a stream name: `<kind>-<id>`, printable, bounded.
/// Largest number of events in one append, on every backend.
pub const MAX_EVENTS_PER_APPEND: usize = 10_000;

/// What every backend checks before an append: a valid stream name and 1..=10,000 events.
pub fn validate_append(stream: &str, events: &[NewEvent]) -> Result<(), StoreError> {
    validate_stream_name(stream)?;
    if events.is_empty() || events.len() > MAX_EVENTS_PER_APPEND {
        return Err(StoreError::Invalid(format!(
            "an append carries 1..={MAX_EVENTS_PER_APPEND} events, got {}",
            events.len()
        )));
    }
    Ok(())
}

pub fn validate_stream_name(stream: &str) -> Result<(), StoreError> {
    let ok = !stream.is_empty()
        && stream.len() <= 200
        && stream.chars().all(|c| c.is_ascii_alphanumeric() || "-_.:/".contains(c));
    if ok { Ok(()) } else { Err(StoreError::Invalid(format!("bad stream name {stream:?}"))) }
}
