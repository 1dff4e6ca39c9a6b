//! The embedded store: one SQLite database (WAL) under the data directory.
//!
//! Writes go through a single writer thread that owns the only read-write connection. It takes
//! every append that queued up while the previous transaction was syncing and commits them in
//! one durable transaction (group commit): with `synchronous=FULL` each commit is one fsync of
//! the WAL, shared by every append in the batch. No append is acknowledged before its commit
//! returns. A single writer also makes global positions trivially gap-free and equal to commit
//! order, which is what subscriptions rely on.
//!
//! Reads use a small pool of read-only connections on blocking threads; WAL lets them run
//! beside the writer.

use super::sqlite_segments::{self, SEGMENT};
use super::sqlite_watch::Watcher;
use super::{AppendOutcome, Direction, EventStore, ExpectedVersion, StoreError, Tail, corrupt_event, validate_append};
use crate::event::{
    Actor, EventPage, EventPageBuilder, FOLD_COLUMNS, FoldEnvelope, NewEvent, PAGE_COLUMN_NAMES, PAGE_COLUMNS,
    PageFields, PageRow, Payload, RecordedEvent, RowLinks, chain_hash_bytes, event_hash_input,
};
use crate::issue::PayloadView;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use tokio::sync::{oneshot, watch};
use uuid::Uuid;

/// Longest a batch waits for stragglers after its first append arrived. Under one fsync
/// (~200 µs here), so it can only shorten the total time of concurrent writers.
const GATHER_WAIT: std::time::Duration = std::time::Duration::from_micros(200);
/// Page cache of the writer's connection, KiB (readers have 64 MiB).
const WRITER_CACHE_KIB: i64 = 8_192;
/// Page size of a new database (one keeps the size it was created with). A commit of 64
/// appends dirtied ~40 pages of 4 KiB (the table's right edge, the leaves of both indexes),
/// and SQLite writes each page to the WAL with two system calls, which cost microseconds
/// each on this virtual machine: the commit, not the inserts, was most of the writer's time.
/// With 8 KiB pages 64 concurrent writers appended 68–69k events/s where they appended
/// 53–59k (BENCHMARKS.md, session 19); 16 KiB pages gained no more and slowed single appends.
const PAGE_SIZE: i64 = 8_192;
/// The writer checkpoints the WAL once it holds this many bytes of pages (~40 MB), not
/// SQLite's 1,000 pages: the pages every commit rewrites (the table's right edge, index
/// leaves) are then copied back once per checkpoint instead of ten times, and a checkpoint's
/// two syncs come ten times less often. 64 concurrent writers appended faster in each of six
/// alternated bench pairs (+1% to +68% on a noisy host; BENCHMARKS.md, session 7). Only the
/// writer's setting counts: the readers never commit.
const WAL_CHECKPOINT_BYTES: i64 = 40_960_000;
/// WAL space zero-filled at open when [`SqliteOptions::preallocate_wal`] asks for it, in
/// checkpoint intervals: one, and a fifth more for the commit that crosses it (~49 MB).
const WAL_PREALLOCATED_INTERVALS: f64 = 1.2;
/// Largest number of appends one transaction carries.
const MAX_BATCH: usize = 4096;
/// Largest number of events in one append.
/// Stream heads kept in the writer's cache before it is cleared (bounds memory).
const MAX_CACHED_HEADS: usize = 1_000_000;

/// Stream → (version, hash) of its last committed event. Hashes stay raw bytes (hex only in
/// the canonical text being hashed), and the map hashes with foldhash, seeded per process:
/// SipHash and hex round trips were a visible share of the writer's CPU per append.
type Heads = HashMap<String, (u64, [u8; 32]), foldhash::fast::RandomState>;

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        match &e {
            // SQLITE_FULL: a write met ENOSPC (or the database reached its page limit).
            rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::DiskFull => {
                StoreError::StorageFull(e.to_string())
            }
            // SQLITE_BUSY / SQLITE_LOCKED past the busy timeout: another process (a CLI command,
            // a backup) held the database longer than that. Nothing was written; it passes.
            rusqlite::Error::SqliteFailure(f, _)
                if matches!(f.code, rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) =>
            {
                super::outages::gave_up();
                StoreError::unavailable(format!("{e} (another process holds the embedded log)"))
            }
            _ => StoreError::Backend(e.to_string()),
        }
    }
}

/// How to open the embedded store.
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    /// The database file (`<data dir>/convene.db`).
    pub path: PathBuf,
    /// `synchronous=FULL` (durable against power loss). Only benchmarks of the non-durable
    /// case turn this off; the product never does.
    pub durable: bool,
    /// Zero-fill the write-ahead log's first ~49 MB at open, so commits overwrite blocks that
    /// exist instead of growing the file (`sqlite_wal`). Costs ~0.1 s and the disk space at
    /// each open: for long-lived processes (the server, the benchmark), not a CLI command.
    pub preallocate_wal: bool,
}

impl SqliteOptions {
    pub fn in_dir(dir: &Path) -> Self {
        Self { path: dir.join("convene.db"), durable: true, preallocate_wal: false }
    }

    /// [`Self::preallocate_wal`] set.
    pub fn preallocating_wal(self) -> Self {
        Self { preallocate_wal: true, ..self }
    }
}

struct Request {
    stream: String,
    expected: ExpectedVersion,
    events: Vec<NewEvent>,
    reply: oneshot::Sender<Result<AppendOutcome, StoreError>>,
}

/// Counters of the group commit, for operators and the benchmark.
#[derive(Debug, Default)]
pub struct CommitStats {
    /// Durable transactions committed.
    pub commits: AtomicU64,
    /// Appends they carried.
    pub appends: AtomicU64,
}

struct Inner {
    stats: Arc<CommitStats>,
    path: PathBuf,
    sender: Mutex<Option<mpsc::Sender<Request>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    head: watch::Receiver<u64>,
    readers: Mutex<Vec<Connection>>,
    /// The latest events this process committed, for live subscribers.
    tail: Arc<Tail>,
    /// Moves the head to commits made by other processes (see `sqlite_watch`).
    watcher: Mutex<Option<Watcher>>,
}

/// Embedded SQLite event store. Cheap to clone; clones share one writer.
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS events (
    position       INTEGER PRIMARY KEY,
    id             BLOB NOT NULL UNIQUE,
    stream         TEXT NOT NULL,
    version        INTEGER NOT NULL,
    type           TEXT NOT NULL,
    schema_version INTEGER NOT NULL,
    recorded_at    INTEGER NOT NULL,
    actor_id       TEXT NOT NULL,
    actor_role     TEXT NOT NULL,
    actor_name     TEXT,
    actor_community TEXT,
    correlation_id BLOB,
    causation_id   BLOB,
    data           TEXT NOT NULL,
    prev_hash      BLOB NOT NULL,
    hash           BLOB NOT NULL,
    envelope       BLOB,
    payload_view   BLOB,
    UNIQUE (stream, version)
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
INSERT OR IGNORE INTO meta (key, value) VALUES ('format', '1');
";

const COLUMNS: &str = "position, id, stream, version, type, schema_version, recorded_at, actor_id, \
    actor_role, actor_name, actor_community, correlation_id, causation_id, data, prev_hash, hash";

/// Position and recorded time (µs) of the last event, or zeros. Recorded times never go
/// backwards in position order (the writer enforces it), so the last row holds the latest
/// time; a `MAX(recorded_at)` would scan the whole table on every open.
pub(super) fn last_event(conn: &Connection) -> Result<(i64, i64), StoreError> {
    Ok(conn
        .prepare_cached("SELECT position, recorded_at FROM events ORDER BY position DESC LIMIT 1")?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?
        .unwrap_or((0, 0)))
}

pub(super) fn open_conn(path: &Path, durable: bool) -> Result<Connection, StoreError> {
    let conn = Connection::open(path)?;
    // Before the journal mode, which writes the header of a new database.
    conn.pragma_update(None, "page_size", PAGE_SIZE)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    // FULL: each commit syncs the WAL before it becomes visible to readers, so nothing is
    // acknowledged or read before it is durable.
    conn.pragma_update(None, "synchronous", if durable { "FULL" } else { "OFF" })?;
    // 64 MiB page cache and memory-mapped reads: replay scans the whole table.
    conn.pragma_update(None, "cache_size", -65_536)?;
    conn.pragma_update(None, "mmap_size", 1_i64 << 32)?;
    conn.set_prepared_statement_cache_capacity(32);
    Ok(conn)
}

impl SqliteStore {
    /// Opens (creating if needed) the store in `options.path`'s directory.
    pub fn open(options: SqliteOptions) -> Result<Self, StoreError> {
        if let Some(dir) = options.path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::Backend(format!("cannot create data directory {}: {e}", dir.display())))?;
        }
        let mut conn = open_conn(&options.path, options.durable)?;
        // The writer touches the right edge of the table and the index pages of the streams
        // being appended to; a smaller cache than the readers' keeps SQLite's end-of-commit
        // truncation of the page cache (a walk over every cache slot) cheap.
        conn.pragma_update(None, "cache_size", -WRITER_CACHE_KIB)?;
        conn.execute_batch(SCHEMA)?;
        // In pages of the size the database has (older ones were made with 4 KiB).
        let page_size: i64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
        let checkpoint_pages = WAL_CHECKPOINT_BYTES / page_size.max(512);
        conn.pragma_update(None, "wal_autocheckpoint", checkpoint_pages)?;
        conn.execute_batch(sqlite_segments::SCHEMA)?;
        super::sqlite_envelope::migrate(&mut conn)?;
        super::sqlite_views::migrate(&mut conn)?;
        super::sqlite_segments::migrate(&mut conn)?;
        if options.preallocate_wal {
            let pages = (checkpoint_pages as f64 * WAL_PREALLOCATED_INTERVALS) as i64;
            let bytes = super::sqlite_wal::wal_bytes_for(&conn, pages)?;
            let added = super::sqlite_wal::preallocate(&conn, &options.path, bytes)?;
            if added > 0 {
                tracing::debug!(bytes = added, "write-ahead log preallocated");
            }
        }
        let (last_pos, last_us) = last_event(&conn)?;
        let (head_tx, head_rx) = watch::channel(last_pos as u64);
        let head_tx = Arc::new(head_tx);
        let watcher = Watcher::spawn(&options.path, head_tx.clone())?;
        let stats = Arc::new(CommitStats::default());
        let (tx, rx) = mpsc::channel::<Request>();
        let tail = Arc::new(Tail::default());
        let writer = Writer {
            tail: tail.clone(),
            conn,
            next_position: last_pos as u64 + 1,
            last_recorded_us: last_us,
            heads: Heads::default(),
            head_tx,
            data_version: 0,
            stats: stats.clone(),
            packer: sqlite_segments::Packer::default(),
        };
        let handle = std::thread::Builder::new()
            .name("convene-sqlite-writer".into())
            .spawn(move || writer.run(rx))
            .map_err(|e| StoreError::Backend(format!("cannot start writer thread: {e}")))?;
        Ok(Self {
            inner: Arc::new(Inner {
                stats,
                path: options.path,
                sender: Mutex::new(Some(tx)),
                writer: Mutex::new(Some(handle)),
                head: head_rx,
                readers: Mutex::new(Vec::new()),
                tail,
                watcher: Mutex::new(Some(watcher)),
            }),
        })
    }

    /// Group-commit counters.
    pub fn stats(&self) -> &CommitStats {
        &self.inner.stats
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Runs `f` with a pooled read-only connection on a blocking thread.
    async fn with_reader<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let pooled = inner.readers.lock().map_err(|_| poisoned())?.pop();
            let conn = match pooled {
                Some(c) => c,
                None => {
                    let c = open_conn(&inner.path, true)?;
                    c.pragma_update(None, "query_only", "1")?;
                    c
                }
            };
            let out = f(&conn);
            if let Ok(mut pool) = inner.readers.lock()
                && pool.len() < 8
            {
                pool.push(conn);
            }
            out
        })
        .await
        .map_err(|e| StoreError::Backend(format!("reader task failed: {e}")))?
    }
}

fn poisoned() -> StoreError {
    StoreError::Backend("a store lock was poisoned by a panic".into())
}

fn uuid_from(bytes: Option<Vec<u8>>) -> Option<Uuid> {
    bytes.and_then(|b| Uuid::from_slice(&b).ok())
}

fn row_to_event(r: &rusqlite::Row<'_>) -> rusqlite::Result<RecordedEvent> {
    let id: Vec<u8> = r.get(1)?;
    let recorded_us: i64 = r.get(6)?;
    let data: String = r.get(13)?;
    let prev: Vec<u8> = r.get(14)?;
    let hash: Vec<u8> = r.get(15)?;
    let bad = |i: usize, what: &str| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Blob, format!("corrupt {what}").into())
    };
    Ok(RecordedEvent {
        position: r.get::<_, i64>(0)? as u64,
        id: Uuid::from_slice(&id).map_err(|_| bad(1, "id"))?,
        stream: r.get(2)?,
        version: r.get::<_, i64>(3)? as u64,
        event_type: r.get(4)?,
        schema_version: r.get::<_, i64>(5)? as u32,
        recorded_at: DateTime::<Utc>::from_timestamp_micros(recorded_us).ok_or_else(|| bad(6, "recorded_at"))?,
        actor: Actor { id: r.get(7)?, role: r.get(8)?, name: r.get(9)?, community: r.get(10)? },
        correlation_id: uuid_from(r.get(11)?),
        causation_id: uuid_from(r.get(12)?),
        data: Payload::trusted(data),
        prev_hash: crate::event::hex::encode(&prev),
        hash: crate::event::hex::encode(&hash),
    })
}

/// One row into a page: text columns are copied into the page buffer as bytes (checked as
/// UTF-8 once per page), hashes stay raw; its links only for [`PageFields::All`].
fn decode_page_row(
    r: &rusqlite::Row<'_>,
    page: &mut EventPageBuilder,
    fields: PageFields,
) -> Result<(PageRow, Option<RowLinks>), StoreError> {
    use rusqlite::types::ValueRef;
    let corrupt = |what: &str| StoreError::Backend(format!("corrupt {what} in the events table"));
    let int = |i: usize| -> Result<i64, StoreError> {
        match r.get_ref(i)? {
            ValueRef::Integer(v) => Ok(v),
            _ => Err(corrupt(PAGE_COLUMN_NAMES[i])),
        }
    };
    let bytes = |i: usize| -> Result<Option<&[u8]>, StoreError> {
        match r.get_ref(i)? {
            ValueRef::Text(b) | ValueRef::Blob(b) => Ok(Some(b)),
            ValueRef::Null => Ok(None),
            _ => Err(corrupt(PAGE_COLUMN_NAMES[i])),
        }
    };
    let required = |i: usize| bytes(i)?.ok_or_else(|| corrupt(PAGE_COLUMN_NAMES[i]));
    let uuid = |i: usize| -> Result<Option<Uuid>, StoreError> {
        bytes(i)?.map(|b| Uuid::from_slice(b).map_err(|_| corrupt(PAGE_COLUMN_NAMES[i]))).transpose()
    };
    let hash = |i: usize| -> Result<[u8; 32], StoreError> {
        required(i)?.try_into().map_err(|_| corrupt(PAGE_COLUMN_NAMES[i]))
    };
    let links = if fields == PageFields::All {
        Some(RowLinks { correlation_id: uuid(12)?, causation_id: uuid(13)?, prev_hash: hash(14)?, hash: hash(15)? })
    } else {
        None
    };
    let row = PageRow {
        position: int(0)? as u64,
        id: uuid(1)?.ok_or_else(|| corrupt("id"))?,
        stream: page.text(required(2)?),
        version: int(3)? as u64,
        event_type: page.text(required(4)?),
        schema_version: int(5)? as u32,
        recorded_at: DateTime::<Utc>::from_timestamp_micros(int(6)?).ok_or_else(|| corrupt("recorded_at"))?,
        actor_id: page.text(required(7)?),
        actor_role: page.text(required(8)?),
        actor_name: bytes(9)?.map(|b| page.text(b)),
        actor_community: bytes(10)?.map(|b| page.text(b)),
        data: page.text(required(11)?),
        payload_view: page.blob(&[]),
        payload_omitted: false,
    };
    Ok((row, links))
}

/// A `position, stream, envelope, data, payload_view` row into a page; `None` if the row has
/// no envelope. A NULL `data` is a [`PageFields::Views`] row: the payload is looked up if the
/// replay reads it ([`PayloadView::read_by_replay`]) and left out otherwise.
fn decode_fold_row(
    c: &Connection,
    r: &rusqlite::Row<'_>,
    page: &mut EventPageBuilder,
) -> Result<Option<PageRow>, StoreError> {
    use rusqlite::types::ValueRef;
    let position = match r.get_ref(0)? {
        ValueRef::Integer(v) => v as u64,
        _ => return Err(StoreError::Backend("corrupt position in the events table".into())),
    };
    let bytes = |i: usize, what: &str| match r.get_ref(i)? {
        ValueRef::Text(b) | ValueRef::Blob(b) => Ok(b),
        _ => Err(corrupt_event(position, what)),
    };
    let envelope = match r.get_ref(2)? {
        ValueRef::Blob(b) => FoldEnvelope::decode(b).map_err(|e| corrupt_event(position, e))?,
        ValueRef::Null => return Ok(None),
        _ => return Err(corrupt_event(position, "envelope")),
    };
    // A row without a view yet (written by an older `convene`) is folded from its payload.
    let view = match r.get_ref(4)? {
        ValueRef::Blob(b) => b,
        _ => &[],
    };
    let data = match r.get_ref(3)? {
        ValueRef::Null => None,
        _ => Some(bytes(3, "data")?),
    };
    fold_row(c, page, position, bytes(1, "stream")?, &envelope, data, view).map(Some)
}

/// A fold's row from its fields; `data` is `None` if the page left the payload out
/// ([`PageFields::Views`]), and then looked up if the replay reads it after all
/// ([`PayloadView::read_by_replay`]). Rows and segments both come through here.
fn fold_row(
    c: &Connection,
    page: &mut EventPageBuilder,
    position: u64,
    stream: &[u8],
    envelope: &FoldEnvelope<'_>,
    data: Option<&[u8]>,
    view: &[u8],
) -> Result<PageRow, StoreError> {
    let looked_up;
    let data = match data {
        None if PayloadView::read_by_replay(stream, envelope.event_type, envelope.schema_version, view) => {
            looked_up = payload_at(c, position)?;
            Some(looked_up.as_bytes())
        }
        data => data,
    };
    page.packed_row(position, stream, envelope, data, view).ok_or_else(|| corrupt_event(position, "recorded_at"))
}

/// Pushes the events of the segment starting at `first` onto a [`PageFields::Views`] page, as
/// their rows would be pushed; false if there is no such segment.
fn push_segment(c: &Connection, first: u64, page: &mut EventPageBuilder) -> Result<bool, StoreError> {
    let Some(body) = sqlite_segments::load(c, first)? else { return Ok(false) };
    let unreadable = |at: u64| corrupt_event(at, "an unreadable replay segment");
    let mut entries = sqlite_segments::entries(&body).ok_or_else(|| unreadable(first))?;
    for position in first..first + SEGMENT {
        let e = entries.next().ok_or_else(|| unreadable(position))?;
        let row = fold_row(c, page, position, e.stream, &e.envelope, None, e.view)?;
        page.push(row);
    }
    if !entries.finished() {
        return Err(unreadable(first));
    }
    Ok(true)
}

/// Checks a verified row (its stream, and its stored envelope and view: the two columns after
/// [`PAGE_COLUMNS`]) against the next entry of its run's segment.
fn check_segment_entry(
    r: &rusqlite::Row<'_>,
    row: &PageRow,
    entries: &mut sqlite_segments::Entries<'_>,
    first: u64,
) -> Result<(), StoreError> {
    use rusqlite::types::ValueRef;
    let raw = |i: usize| match r.get_ref(i) {
        Ok(ValueRef::Text(b) | ValueRef::Blob(b)) => Some(b),
        _ => None,
    };
    let n = PAGE_COLUMN_NAMES.len();
    let expected = first + entries.read();
    let same = entries.next().is_some_and(|e| {
        row.position == expected
            && raw(2) == Some(e.stream)
            && raw(n).and_then(|b| FoldEnvelope::decode(b).ok()) == Some(e.envelope)
            && raw(n + 1) == Some(e.view)
    });
    if same { Ok(()) } else { Err(corrupt_event(row.position, "a replay segment that differs from the row")) }
}

/// The payload of the event at `position`.
fn payload_at(c: &Connection, position: u64) -> Result<String, StoreError> {
    let mut st = c.prepare_cached("SELECT data FROM events WHERE position = ?1")?;
    st.query_row([position as i64], |r| r.get::<_, String>(0))
        .optional()?
        .ok_or_else(|| corrupt_event(position, "row vanished while being read"))
}

/// The fold's row from its columns, for a row without an envelope (written by an older
/// `convene` since this store last opened).
fn fold_row_from_columns(c: &Connection, position: i64, page: &mut EventPageBuilder) -> Result<PageRow, StoreError> {
    let mut st = c.prepare_cached(&format!("SELECT {FOLD_COLUMNS} FROM events WHERE position = ?1"))?;
    let mut rows = st.query([position])?;
    let r = rows.next()?.ok_or_else(|| corrupt_event(position as u64, "row vanished while being read"))?;
    Ok(decode_page_row(r, page, PageFields::Fold)?.0)
}

/// Checks a verified row's envelope (the column after [`PAGE_COLUMNS`]) against the columns
/// the chain covers.
fn check_envelope(r: &rusqlite::Row<'_>, row: &PageRow, page: &EventPageBuilder) -> Result<(), StoreError> {
    use rusqlite::types::ValueRef;
    let stored = match r.get_ref(PAGE_COLUMN_NAMES.len())? {
        ValueRef::Blob(b) => b,
        // Written by an older `convene`: folds read its columns, nothing to compare.
        ValueRef::Null => return Ok(()),
        _ => return Err(corrupt_event(row.position, "envelope")),
    };
    page.envelope_of(row).check_stored(stored).map_err(|e| corrupt_event(row.position, e))
}

/// Checks a verified row's payload view (the column after the envelope) against its payload:
/// a fold reads the view, so a replay could otherwise show what no hash vouches for.
fn check_payload_view(r: &rusqlite::Row<'_>, row: &mut PageRow, page: &mut EventPageBuilder) -> Result<(), StoreError> {
    use rusqlite::types::ValueRef;
    let stored = match r.get_ref(PAGE_COLUMN_NAMES.len() + 1)? {
        ValueRef::Blob(b) => b,
        ValueRef::Null => return Ok(()),
        _ => return Err(corrupt_event(row.position, "payload_view")),
    };
    page.check_payload_view(row, stored).map_err(|e| corrupt_event(row.position, e))
}

/// The least string above every string that starts with `prefix`, in SQLite's binary order
/// (which UTF-8 keeps: it orders as the code points do): the prefix with its last character
/// raised by one. `None` when there is none (an empty prefix, or one ending in U+10FFFF): the
/// range is then left open above.
fn prefix_end(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    let last = chars.pop()?;
    // The next scalar value (surrogates are not characters).
    let next = (last as u32 + 1..=char::MAX as u32).find_map(char::from_u32)?;
    chars.push(next);
    Some(chars.into_iter().collect())
}

#[async_trait]
impl EventStore for SqliteStore {
    async fn append(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<AppendOutcome, StoreError> {
        validate_append(stream, &events)?;
        let (reply, rx) = oneshot::channel();
        let req = Request { stream: stream.to_string(), expected, events, reply };
        {
            let guard = self.inner.sender.lock().map_err(|_| poisoned())?;
            let sender = guard.as_ref().ok_or(StoreError::Closed)?;
            sender.send(req).map_err(|_| StoreError::Closed)?;
        }
        rx.await.map_err(|_| StoreError::Closed)?
    }

    async fn read_stream(
        &self,
        stream: &str,
        from: u64,
        direction: Direction,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let stream = stream.to_string();
        let from = from.min(i64::MAX as u64) as i64;
        let limit = limit.min(1_000_000) as i64;
        self.with_reader(move |c| {
            let sql = match direction {
                Direction::Forward => format!(
                    "SELECT {COLUMNS} FROM events WHERE stream = ?1 AND version >= ?2 ORDER BY version ASC LIMIT ?3"
                ),
                Direction::Backward => format!(
                    "SELECT {COLUMNS} FROM events WHERE stream = ?1 AND version <= ?2 ORDER BY version DESC LIMIT ?3"
                ),
            };
            let mut st = c.prepare_cached(&sql)?;
            let rows = st.query_map(params![stream, from, limit], row_to_event)?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    async fn read_all(&self, after: u64, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        let after = after.min(i64::MAX as u64) as i64;
        let limit = limit.min(1_000_000) as i64;
        self.with_reader(move |c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM events WHERE position > ?1 ORDER BY position ASC LIMIT ?2"
            ))?;
            let rows = st.query_map(params![after, limit], row_to_event)?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    async fn read_all_page(&self, after: u64, limit: usize, fields: PageFields) -> Result<EventPage, StoreError> {
        let after = after.min(i64::MAX as u64) as i64;
        let limit = limit.min(1_000_000) as i64;
        self.with_reader(move |c| {
            // A fold reads five columns, its envelope fields packed in one, and the payload's
            // view; a verifying reader reads every column the chain covers, and the envelope
            // and the view to check them against those.
            let sql = match fields {
                PageFields::All => {
                    format!(
"SELECT {PAGE_COLUMNS}, envelope, payload_view FROM events WHERE position > ?1 ORDER BY position \
                         LIMIT ?2"
                    )
                }
                PageFields::Fold => {
                    "SELECT position, stream, envelope, data, payload_view FROM events WHERE position > ?1 ORDER BY position \
                     LIMIT ?2"
                        .to_string()
                }
                // Without the payload: SQLite copies every column it returns, and the payload
                // is the widest. The few a replay reads are looked up by position.
                PageFields::Views => "SELECT position, stream, envelope, NULL, payload_view FROM events \
                                      WHERE position > ?1 ORDER BY position LIMIT ?2"
                    .to_string(),
            };
            // The buffers grow if a page needs more.
            let mut page = EventPageBuilder::for_page(limit as usize, fields);
            let (mut after, mut limit) = (after, limit);
            // Whole runs from their segments, then whatever is left from the rows.
            let segment = |after: i64, limit: i64| (after as u64).is_multiple_of(SEGMENT) && limit as u64 >= SEGMENT;
            if fields == PageFields::Views {
                while segment(after, limit) && push_segment(c, after as u64 + 1, &mut page)? {
                    after += SEGMENT as i64;
                    limit -= SEGMENT as i64;
                }
                if limit == 0 {
                    return page.finish().map_err(|e| StoreError::Backend(e.to_string()));
                }
            }
            // A verifying reader checks the segment of its run, if there is one, against the rows.
            let body = match fields {
                PageFields::All if segment(after, limit) => sqlite_segments::load(c, after as u64 + 1)?,
                _ => None,
            };
            let unreadable = || corrupt_event(after as u64 + 1, "an unreadable replay segment");
            let mut checked = body.as_deref().map(|b| sqlite_segments::entries(b).ok_or_else(unreadable)).transpose()?;
            let mut st = c.prepare_cached(&sql)?;
            let mut rows = st.query(params![after, limit])?;
            while let Some(r) = rows.next()? {
                match fields {
                    PageFields::All => {
                        let (mut row, links) = decode_page_row(r, &mut page, fields)?;
                        check_envelope(r, &row, &page)?;
                        check_payload_view(r, &mut row, &mut page)?;
                        if let Some(entries) = checked.as_mut()
                            && entries.read() < SEGMENT
                        {
                            check_segment_entry(r, &row, entries, after as u64 + 1)?;
                        }
                        page.push_linked(row, links.unwrap_or_default());
                    }
                    PageFields::Fold | PageFields::Views => {
                        let row = match decode_fold_row(c, r, &mut page)? {
                            Some(row) => row,
                            None => fold_row_from_columns(c, r.get(0)?, &mut page)?,
                        };
                        page.push(row);
                    }
                }
            }
            if checked.is_some_and(|entries| !entries.finished()) {
                return Err(corrupt_event(after as u64 + 1, "a replay segment of events the log does not hold"));
            }
            page.finish().map_err(|e| StoreError::Backend(e.to_string()))
        })
        .await
    }

    async fn stream_version(&self, stream: &str) -> Result<Option<u64>, StoreError> {
        let stream = stream.to_string();
        self.with_reader(move |c| {
            let v: Option<i64> = c
                .prepare_cached("SELECT MAX(version) FROM events WHERE stream = ?1")?
                .query_row([stream], |r| r.get(0))?;
            Ok(v.map(|v| v as u64))
        })
        .await
    }

    async fn read_event(&self, id: Uuid) -> Result<Option<RecordedEvent>, StoreError> {
        self.with_reader(move |c| {
            let mut st = c.prepare_cached(&format!("SELECT {COLUMNS} FROM events WHERE id = ?1"))?;
            Ok(st.query_row([id.as_bytes().as_slice()], row_to_event).optional()?)
        })
        .await
    }

    async fn list_streams(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        // A range of the (stream, version) index, not `LIKE`: SQLite's LIKE ignores ASCII case
        // (`ISSUE-x` matched `issue-`) and cannot use a binary index, so it read the whole
        // table (50 ms per 200,000 events to find two workflow streams).
        let prefix = prefix.to_string();
        self.with_reader(move |c| {
            let end = prefix_end(&prefix);
            let mut st = c.prepare_cached(match end {
                Some(_) => {
                    "SELECT stream FROM events WHERE stream >= ?1 AND stream < ?2 AND version = 0 ORDER BY position"
                }
                None => "SELECT stream FROM events WHERE stream >= ?1 AND version = 0 ORDER BY position",
            })?;
            let name = |r: &rusqlite::Row<'_>| r.get::<_, String>(0);
            let rows = match &end {
                Some(end) => st.query_map(params![prefix, end], &name)?,
                None => st.query_map(params![prefix], &name)?,
            };
            let mut out = Vec::new();
            for s in rows {
                out.push(s?);
            }
            // Exact whatever the range was (an open one is only wider).
            out.retain(|s| s.starts_with(prefix.as_str()));
            Ok(out)
        })
        .await
    }

    fn head(&self) -> watch::Receiver<u64> {
        self.inner.head.clone()
    }

    async fn close(&self) {
        // Dropping the sender lets the writer drain what is queued, commit it, and exit.
        if let Ok(mut s) = self.inner.sender.lock() {
            s.take();
        }
        let handle = self.inner.writer.lock().ok().and_then(|mut h| h.take());
        if let Some(h) = handle {
            let _ = tokio::task::spawn_blocking(move || h.join()).await;
        }
        let watcher = self.inner.watcher.lock().ok().and_then(|mut w| w.take());
        if let Some(w) = watcher {
            let _ = tokio::task::spawn_blocking(move || w.stop()).await;
        }
    }

    fn backend(&self) -> &'static str {
        "sqlite"
    }

    fn recent_after(&self, after: u64, max: usize) -> Option<Vec<Arc<RecordedEvent>>> {
        self.inner.tail.after(after, max)
    }

    fn local_file(&self) -> Option<&Path> {
        Some(self.path())
    }

    fn commit_counts(&self) -> Option<(u64, u64)> {
        let s = self.stats();
        Some((s.commits.load(Ordering::Relaxed), s.appends.load(Ordering::Relaxed)))
    }

    async fn import(&self, events: Vec<RecordedEvent>) -> Result<u64, StoreError> {
        super::sqlite_import::import(self.path().to_path_buf(), events).await
    }
}

/// The writer thread's state. Only this thread writes to the database.
struct Writer {
    conn: Connection,
    next_position: u64,
    last_recorded_us: i64,
    /// Stream → (version, hash) of its last committed event.
    heads: Heads,
    /// Shared with the commit watcher; both only move it forward.
    head_tx: Arc<watch::Sender<u64>>,
    tail: Arc<Tail>,
    /// `PRAGMA data_version` as last seen: it changes when *another* connection (another
    /// process, e.g. a CLI command beside the server) commits, which invalidates the caches.
    data_version: i64,
    stats: Arc<CommitStats>,
    /// The replay segment of the run being written.
    packer: sqlite_segments::Packer,
}

/// One append's planned effect, applied to the caches only after the commit.
struct Planned {
    outcome: Result<AppendOutcome, StoreError>,
    /// The hash before its first event, then each event's hash (for the in-memory tail).
    chain: Vec<[u8; 32]>,
}

impl Writer {
    fn run(mut self, rx: mpsc::Receiver<Request>) {
        // Writers that were acknowledged together tend to come back together, a few
        // microseconds apart. If the last batch was large, wait briefly for about that many
        // before committing, so one fsync carries them all instead of the first few.
        let mut expected = 1usize;
        while let Ok(first) = rx.recv() {
            let mut batch = vec![first];
            let deadline = std::time::Instant::now() + GATHER_WAIT;
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(r) => batch.push(r),
                    Err(mpsc::TryRecvError::Disconnected) => break,
                    Err(mpsc::TryRecvError::Empty) => {
                        let now = std::time::Instant::now();
                        if batch.len() >= expected || now >= deadline {
                            break;
                        }
                        match rx.recv_timeout(deadline - now) {
                            Ok(r) => batch.push(r),
                            Err(_) => break,
                        }
                    }
                }
            }
            // Follow the load down quickly (a lone writer must not wait) and up fully.
            expected = if batch.len() >= expected { batch.len() } else { batch.len().max(expected / 2) };
            self.commit_batch(batch);
        }
        // All senders are gone: a clean shutdown. Fold the WAL back into the database so the
        // data directory is a single file at rest.
        let _ = self.conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);");
    }

    fn commit_batch(&mut self, batch: Vec<Request>) {
        let now_us = Utc::now().timestamp_micros();
        // Recorded times never go backwards in commit order, so time travel by `at` and by
        // position agree even if the wall clock steps back.
        let recorded_us = now_us.max(self.last_recorded_us);
        let result = self.write_batch(&batch, recorded_us);
        match result {
            Ok((planned, overlay, next_position, recorded_at)) => {
                if self.heads.len() + overlay.len() > MAX_CACHED_HEADS {
                    self.heads.clear();
                }
                self.heads.extend(overlay);
                self.stats.commits.fetch_add(1, Ordering::Relaxed);
                self.stats.appends.fetch_add(batch.len() as u64, Ordering::Relaxed);
                self.next_position = next_position;
                self.last_recorded_us = recorded_at.timestamp_micros();
                // The committed events go to the tail before the head moves, so a subscriber
                // the head wakes finds them there; the texts are moved, not copied.
                let mut recent = Vec::with_capacity(batch.len());
                let mut replies = Vec::with_capacity(batch.len());
                for (req, p) in batch.into_iter().zip(planned) {
                    if let Ok(o) = &p.outcome
                        && !o.already_present
                    {
                        for (i, e) in req.events.into_iter().enumerate() {
                            let (version, position) = (o.first_version + i as u64, o.first_position + i as u64);
                            recent.push(e.into_recorded(
                                req.stream.clone(),
                                version,
                                position,
                                recorded_at,
                                &p.chain[i],
                                &p.chain[i + 1],
                            ));
                        }
                    }
                    replies.push((req.reply, p.outcome));
                }
                self.tail.push(recent);
                super::sqlite_watch::advance(&self.head_tx, next_position - 1);
                for (reply, outcome) in replies {
                    let _ = reply.send(outcome);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "group commit failed; nothing of the batch was written");
                self.heads.clear();
                self.packer.clear();
                if let Ok(p) =
                    self.conn.query_row("SELECT COALESCE(MAX(position), 0) FROM events", [], |r| r.get::<_, i64>(0))
                {
                    self.next_position = p as u64 + 1;
                }
                for req in batch {
                    let _ = req.reply.send(Err(e.clone()));
                }
            }
        }
    }

    /// Writes every append of the batch in one transaction. Appends that fail their checks
    /// (version, idempotency) are answered with that error and write nothing; the others
    /// commit together. Returns per-request outcomes, the new stream heads, the next position
    /// and the recorded time used.
    #[allow(clippy::type_complexity)]
    fn write_batch(
        &mut self,
        batch: &[Request],
        recorded_us: i64,
    ) -> Result<(Vec<Planned>, Heads, u64, DateTime<Utc>), StoreError> {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        // Holding the write lock now, check whether another connection (another process,
        // e.g. a CLI command beside the server) committed since we last looked; if so our
        // cached heads and next position are stale.
        let dv: i64 = tx.prepare_cached("PRAGMA data_version")?.query_row([], |r| r.get(0))?;
        if dv != self.data_version {
            self.data_version = dv;
            self.heads.clear();
            self.packer.clear();
            let (pos, us) = last_event(&tx)?;
            self.next_position = pos as u64 + 1;
            self.last_recorded_us = self.last_recorded_us.max(us);
        }
        let recorded_us = recorded_us.max(self.last_recorded_us);
        let recorded_at = DateTime::<Utc>::from_timestamp_micros(recorded_us)
            .ok_or_else(|| StoreError::Backend("clock out of range".into()))?;
        let mut overlay = Heads::default();
        let mut position = self.next_position;
        let mut planned = Vec::with_capacity(batch.len());
        {
            // Prepared once per batch: taking a cached statement hashes its SQL text each time.
            let mut insert = tx.prepare_cached(INSERT_EVENT)?;
            let mut envelope = Vec::with_capacity(192);
            for req in batch {
                let mut chain = Vec::with_capacity(req.events.len() + 1);
                let outcome = plan_and_insert(
                    &tx,
                    &mut insert,
                    &self.heads,
                    &mut overlay,
                    &mut position,
                    req,
                    recorded_at,
                    recorded_us,
                    &mut chain,
                    &mut envelope,
                )?;
                planned.push(Planned { outcome, chain });
            }
        }
        // Runs of the log this batch completes get their replay segments in the same commit.
        for (req, p) in batch.iter().zip(&planned) {
            let Ok(o) = &p.outcome else { continue };
            if o.already_present {
                continue;
            }
            for (i, e) in req.events.iter().enumerate() {
                let version = o.first_version + i as u64;
                let envelope = FoldEnvelope::of(&e.id, version, &e.event_type, e.schema_version, recorded_us, &e.actor);
                let at = o.first_position + i as u64;
                self.packer.push(&tx, at, req.stream.as_bytes(), &envelope, e.payload_view())?;
            }
        }
        tx.commit()?;
        Ok((planned, overlay, position, recorded_at))
    }
}

/// Are the append's event ids stored already? `Some` answers the append (the original outcome
/// of a retry, or a refusal for ids reused elsewhere / duplicated); `None`: all ids are new.
fn check_stored(
    tx: &rusqlite::Transaction<'_>,
    req: &Request,
) -> Result<Option<Result<AppendOutcome, StoreError>>, StoreError> {
    let mut found = Vec::with_capacity(req.events.len());
    {
        let mut st = tx.prepare_cached("SELECT stream, version, position FROM events WHERE id = ?1")?;
        for e in &req.events {
            let hit = st
                .query_row([e.id.as_bytes().as_slice()], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64, r.get::<_, i64>(2)? as u64))
                })
                .optional()?;
            found.push(hit);
        }
    }
    let n_found = found.iter().filter(|f| f.is_some()).count();
    if n_found == req.events.len() {
        let consistent = found.iter().enumerate().all(|(i, f)| {
            let (s, v, _) = f.as_ref().expect("cannot fail: every id was found");
            let (_, v0, _) = found[0].as_ref().expect("cannot fail: every id was found");
            s == &req.stream && *v == v0 + i as u64
        });
        if !consistent {
            return Ok(Some(Err(StoreError::IdempotencyMismatch(format!(
                "ids are stored, but not as this append to {}",
                req.stream
            )))));
        }
        let first = found[0].as_ref().expect("cannot fail: every id was found");
        let last = found[found.len() - 1].as_ref().expect("cannot fail: every id was found");
        return Ok(Some(Ok(AppendOutcome {
            first_version: first.1,
            last_version: last.1,
            first_position: first.2,
            last_position: last.2,
            already_present: true,
        })));
    }
    if n_found > 0 {
        return Ok(Some(Err(StoreError::IdempotencyMismatch(format!(
            "{n_found} of {} event ids are already stored",
            req.events.len()
        )))));
    }
    {
        let mut ids: Vec<&Uuid> = req.events.iter().map(|e| &e.id).collect();
        ids.sort();
        ids.dedup();
        if ids.len() != req.events.len() {
            return Ok(Some(Err(StoreError::Invalid("duplicate event ids in one append".into()))));
        }
    }
    Ok(None)
}

const INSERT_EVENT: &str = "INSERT INTO events (position, id, stream, version, type, schema_version, recorded_at, \
     actor_id, actor_role, actor_name, actor_community, correlation_id, causation_id, data, \
     prev_hash, hash, envelope, payload_view) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, \
     ?15, ?16, ?17, ?18)";

/// Is this the UNIQUE index on event ids refusing a row?
fn is_duplicate_id(err: &rusqlite::Error) -> bool {
    matches!(err, rusqlite::Error::SqliteFailure(e, Some(msg))
        if e.code == rusqlite::ErrorCode::ConstraintViolation && msg.contains("events.id"))
}

/// Is this the UNIQUE (stream, version) index refusing a row?
fn is_existing_stream(err: &rusqlite::Error) -> bool {
    matches!(err, rusqlite::Error::SqliteFailure(e, Some(msg))
        if e.code == rusqlite::ErrorCode::ConstraintViolation && msg.contains("events.stream"))
}

/// The stored head (version, hash) of a stream, if it has events.
fn stored_head(tx: &rusqlite::Transaction<'_>, stream: &str) -> Result<Option<(u64, [u8; 32])>, StoreError> {
    let row = tx
        .prepare_cached("SELECT version, hash FROM events WHERE stream = ?1 ORDER BY version DESC LIMIT 1")?
        .query_row([stream], |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, Vec<u8>>(1)?)))
        .optional()?;
    row.map(|(v, h)| {
        let h: [u8; 32] = h.try_into().map_err(|_| StoreError::Backend(format!("corrupt stored hash in {stream}")))?;
        Ok((v, h))
    })
    .transpose()
}

/// An append whose expected version does not hold: the original outcome if it is a retry of
/// one that landed (its head moved because of it), else the conflict.
fn refuse_version(
    tx: &rusqlite::Transaction<'_>,
    req: &Request,
    single: bool,
    actual: Option<u64>,
) -> Result<Result<AppendOutcome, StoreError>, StoreError> {
    if single && let Some(answer) = check_stored(tx, req)? {
        return Ok(answer);
    }
    Ok(Err(StoreError::WrongExpectedVersion { stream: req.stream.clone(), expected: req.expected, actual }))
}

/// Checks one append and inserts its rows. `Ok(Err(..))` is a refusal of this append only
/// (nothing inserted); `Err(..)` is a backend failure that aborts the batch.
#[allow(clippy::too_many_arguments)]
fn plan_and_insert(
    tx: &rusqlite::Transaction<'_>,
    st: &mut rusqlite::Statement<'_>,
    heads: &Heads,
    overlay: &mut Heads,
    position: &mut u64,
    req: &Request,
    recorded_at: DateTime<Utc>,
    recorded_us: i64,
    chain: &mut Vec<[u8; 32]>,
    envelope: &mut Vec<u8>,
) -> Result<Result<AppendOutcome, StoreError>, StoreError> {
    // Idempotency. A single-event append (the common case) skips the lookup: a stored id makes
    // its INSERT fail on the UNIQUE index, SQLite backs out just that statement, and we answer
    // from the lookup then. Multi-event appends look up first, so nothing partial is written.
    let single = req.events.len() == 1;
    if !single && let Some(answer) = check_stored(tx, req)? {
        return Ok(answer);
    }

    // Optimistic concurrency against the stream's head. A new stream whose head is not cached
    // (every raised issue) is not looked up: its first row is version 0, and the UNIQUE
    // (stream, version) index refuses it if the stream exists after all (answered below).
    // That lookup was a tenth of the writer's time under concurrent appends.
    let cached = overlay.get(&req.stream).or_else(|| heads.get(&req.stream)).copied();
    let head: Option<(u64, [u8; 32])> = match cached {
        Some(h) => Some(h),
        None if req.expected == ExpectedVersion::NoStream => None,
        None => stored_head(tx, &req.stream)?,
    };
    let actual = head.as_ref().map(|h| h.0);
    let ok = match req.expected {
        ExpectedVersion::Any => true,
        ExpectedVersion::NoStream => actual.is_none(),
        ExpectedVersion::Exact(v) => actual == Some(v),
    };
    if !ok {
        return refuse_version(tx, req, single, actual);
    }

    let (mut version, mut prev) = match head {
        Some((v, h)) => (v + 1, h),
        None => (0, [0u8; 32]),
    };
    let first_version = version;
    let first_position = *position;
    chain.push(prev);
    let mut prev_hex = [0u8; 64];
    for e in &req.events {
        let prev_text = crate::event::hex::encode_into(&prev, &mut prev_hex);
        let hash_bytes = chain_hash_bytes(&event_hash_input(e, &req.stream, version, recorded_at, prev_text));
        envelope.clear();
        FoldEnvelope::of(&e.id, version, &e.event_type, e.schema_version, recorded_us, &e.actor).encode(envelope);
        let inserted = st.execute(params![
            *position as i64,
            e.id.as_bytes().as_slice(),
            req.stream,
            version as i64,
            e.event_type,
            e.schema_version as i64,
            recorded_us,
            e.actor.id,
            e.actor.role,
            e.actor.name,
            e.actor.community,
            e.correlation_id.map(|u| u.as_bytes().to_vec()),
            e.causation_id.map(|u| u.as_bytes().to_vec()),
            e.data().get(),
            prev.as_slice(),
            hash_bytes.as_slice(),
            envelope.as_slice(),
            e.payload_view(),
        ]);
        if let Err(err) = inserted {
            if single && is_duplicate_id(&err) {
                return Ok(check_stored(tx, req)?
                    .unwrap_or_else(|| Err(StoreError::Backend("duplicate id reported but not found".into()))));
            }
            // The uncached "no stream" case: the stream exists. Nothing of this append is
            // written (its first row is the one refused; SQLite backs out just that statement).
            if version == 0 && head.is_none() && is_existing_stream(&err) {
                let actual = stored_head(tx, &req.stream)?.map(|h| h.0);
                return refuse_version(tx, req, single, actual);
            }
            return Err(err.into());
        }
        prev = hash_bytes;
        chain.push(hash_bytes);
        version += 1;
        *position += 1;
    }
    overlay.insert(req.stream.clone(), (version - 1, prev));
    Ok(Ok(AppendOutcome {
        first_version,
        last_version: version - 1,
        first_position,
        last_position: *position - 1,
        already_present: false,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prefix_ends_at_its_last_character_raised_by_one() {
        assert_eq!(prefix_end("workflow-").as_deref(), Some("workflow."));
        assert_eq!(prefix_end("议题").as_deref(), Some("议颙"));
        assert_eq!(prefix_end("a\u{d7ff}").as_deref(), Some("a\u{e000}"), "surrogates skipped");
        assert_eq!(prefix_end(""), None);
        assert_eq!(prefix_end("a\u{10ffff}"), None);
    }

    #[tokio::test]
    async fn streams_are_listed_by_exact_prefix_in_creation_order() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(SqliteOptions::in_dir(dir.path())).unwrap();
        for s in ["issue-b", "ISSUE-c", "issuex", "issue-a", "workflow-w", "issue-z"] {
            let e = NewEvent::new("IssueWithdrawn", &serde_json::json!({}), Actor::new("u", "resident"));
            store.append(s, ExpectedVersion::NoStream, vec![e]).await.unwrap();
        }
        assert_eq!(store.list_streams("issue-").await.unwrap(), ["issue-b", "issue-a", "issue-z"]);
        // A prefix with no end above it: the range is open, the answer still exact.
        assert!(store.list_streams("issue-\u{10ffff}").await.unwrap().is_empty());
        assert_eq!(store.list_streams("").await.unwrap().len(), 6);
        assert_eq!(store.list_streams("workflow-").await.unwrap(), ["workflow-w"]);
        store.close().await;
    }

    #[tokio::test]
    async fn a_new_log_gets_8_kib_pages_and_one_made_with_4_kib_keeps_them() {
        let page_size = |dir: &Path| -> i64 {
            let c = Connection::open(dir.join("convene.db")).unwrap();
            c.query_row("PRAGMA page_size", [], |r| r.get(0)).unwrap()
        };
        let event = || vec![NewEvent::new("IssueWithdrawn", &serde_json::json!({}), Actor::new("u", "resident"))];
        // Given no database, when the store opens, then its pages are 8 KiB.
        let new = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(SqliteOptions::in_dir(new.path())).unwrap();
        store.append("issue-a", ExpectedVersion::Any, event()).await.unwrap();
        store.close().await;
        assert_eq!(page_size(new.path()), PAGE_SIZE);
        // Given a database an older version made with 4 KiB pages, when the store opens and
        // appends, then it keeps its pages and every event.
        let old = tempfile::tempdir().unwrap();
        let c = Connection::open(old.path().join("convene.db")).unwrap();
        c.execute_batch("PRAGMA page_size = 4096; PRAGMA journal_mode = WAL; CREATE TABLE t (x);").unwrap();
        drop(c);
        for _ in 0..2 {
            let store = SqliteStore::open(SqliteOptions::in_dir(old.path()).preallocating_wal()).unwrap();
            store.append("issue-a", ExpectedVersion::Any, event()).await.unwrap();
            store.close().await;
        }
        assert_eq!(page_size(old.path()), 4096);
        let store = SqliteStore::open(SqliteOptions::in_dir(old.path())).unwrap();
        assert_eq!(store.read_all(0, 10).await.unwrap().len(), 2);
        store.close().await;
    }

    #[test]
    fn a_log_locked_by_another_process_past_the_busy_timeout_is_unavailable_not_a_fault() {
        // Real lock contention: a second connection asks for the write lock while the first
        // holds it, with no busy timeout to wait out.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let holder = rusqlite::Connection::open(&path).unwrap();
        holder
            .execute_batch("PRAGMA journal_mode=WAL; CREATE TABLE t (x); BEGIN IMMEDIATE; INSERT INTO t VALUES (1);")
            .unwrap();
        let other = rusqlite::Connection::open(&path).unwrap();
        let before = super::super::outages::counts().gave_up;
        let e = StoreError::from(other.execute_batch("BEGIN IMMEDIATE").unwrap_err());
        assert!(e.is_unavailable(), "{e}");
        assert!(e.to_string().contains("another process holds the embedded log"), "{e}");
        assert!(super::super::outages::counts().gave_up > before, "counted for /metrics");
    }

    #[test]
    fn a_full_disk_stays_storage_full() {
        let e = rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL), None);
        assert!(matches!(StoreError::from(e), StoreError::StorageFull(_)));
    }
}
