//! The writer task: group commit of queued appends, one transaction per batch.
//!
//! Every append of this process goes through one task that owns one connection. It takes all
//! appends that queued up while the previous transaction was committing and writes them in one
//! transaction, so one WAL flush carries the whole batch. The transaction first locks the
//! `convene_log` row (`SELECT … FOR UPDATE`): that lock hands out positions and serialises
//! commits across every process on the database, so positions are gap-free and in commit order
//! (see `mod.rs` for why this, and not a sequence with a high-water mark).
//!
//! A failed check (expected version, idempotency) refuses only that append; a failed statement
//! or commit refuses the whole batch and writes nothing.
//!
//! A batch that fails because the connection is gone (a restart, a failover, a network cut) is
//! written again on a new connection, for up to the store's `outage_wait`. That is safe even
//! when the connection broke after COMMIT was sent and the batch did land: every batch starts
//! by looking up its event ids, so the second attempt finds them and answers each append with
//! its original outcome — written once, acknowledged once. Only when the wait runs out is the
//! batch answered [`StoreError::Unavailable`], saying whether a COMMIT may have landed.

use super::insert::{INSERT, Row, insert_rows};
use super::outage::{Backoff, Patience};
use super::{CommitCounts, Connector, pg_error};
use crate::event::{GENESIS_HASH, NewEvent, chain_hash_bytes, event_hash_input, hex};
use crate::store::{AppendOutcome, ExpectedVersion, StoreError};
use chrono::{DateTime, Utc};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_postgres::{Client, Statement};
use uuid::Uuid;

/// Largest number of appends one transaction carries.
const MAX_BATCH: usize = 2048;
/// Stream heads kept in the writer's cache before it is cleared (bounds memory).
const MAX_CACHED_HEADS: usize = 1_000_000;

pub(super) struct Request {
    pub stream: String,
    pub expected: ExpectedVersion,
    pub events: Vec<NewEvent>,
    pub reply: oneshot::Sender<Result<AppendOutcome, StoreError>>,
}

const LOCK: &str = "SELECT position, recorded_at FROM convene_log WHERE id = 1 FOR UPDATE";
const IDS: &str = "SELECT id, stream, version, position FROM convene_events WHERE id = ANY($1::uuid[])";
const HEADS: &str = "SELECT s.stream, e.version, e.hash FROM unnest($1::text[]) AS s(stream) \
    CROSS JOIN LATERAL (SELECT version, hash FROM convene_events WHERE stream = s.stream \
    ORDER BY version DESC LIMIT 1) e";
const ADVANCE: &str = "WITH moved AS (UPDATE convene_log SET position = $1, recorded_at = $2 WHERE id = 1 \
    RETURNING position) SELECT pg_notify($3, position::text) FROM moved";

/// The writer's connection and its prepared statements.
struct Conn {
    client: Client,
    lock: Statement,
    ids: Statement,
    heads: Statement,
    insert: Statement,
    advance: Statement,
}

impl Conn {
    async fn open(connector: &Connector) -> Result<Conn, StoreError> {
        let client = connector.connect("writer").await?;
        // The writer's transaction holds the log row's lock, which every instance's writer
        // needs. If this process vanishes mid-transaction without the connection closing (a
        // partition), the server ends the session after this long, not after its TCP
        // timeouts: the other instances' appends wait seconds, not hours. A healthy batch is
        // never idle inside its transaction for more than a round trip.
        client.batch_execute("SET idle_in_transaction_session_timeout = '15s'").await.map_err(pg_error)?;
        let (lock, ids, heads, insert, advance) = tokio::try_join!(
            client.prepare(LOCK),
            client.prepare(IDS),
            client.prepare(HEADS),
            client.prepare(INSERT),
            client.prepare(ADVANCE),
        )
        .map_err(pg_error)?;
        Ok(Conn { client, lock, ids, heads, insert, advance })
    }
}

type Head = (u64, [u8; 32]);

pub(super) struct Writer {
    pub connector: Connector,
    pub head_tx: Arc<watch::Sender<u64>>,
    pub counts: Arc<CommitCounts>,
    /// NOTIFY channel of this store's schema.
    pub channel: String,
    conn: Option<Conn>,
    /// Stream → (version, hash) of its last committed event, valid while `known_position` is the
    /// log's position (no other process wrote since).
    heads: HashMap<String, Head>,
    known_position: u64,
    /// How long a batch is retried after its connection was lost, and how long one attempt
    /// waits for the database to answer.
    patience: Patience,
    /// Set just before COMMIT is sent: an attempt cut off after this may have landed.
    commit_sent: bool,
}

/// The effect of one batch, applied to the caches only after the commit.
struct Committed {
    outcomes: Vec<Result<AppendOutcome, StoreError>>,
    overlay: HashMap<String, Head>,
    position: u64,
}

impl Writer {
    pub fn new(
        connector: Connector,
        head_tx: Arc<watch::Sender<u64>>,
        counts: Arc<CommitCounts>,
        channel: String,
        patience: Patience,
    ) -> Writer {
        Writer {
            connector,
            head_tx,
            counts,
            channel,
            conn: None,
            heads: HashMap::new(),
            known_position: 0,
            patience,
            commit_sent: false,
        }
    }

    pub async fn run(mut self, mut rx: mpsc::Receiver<Request>) {
        // Writers that were acknowledged together come back together. If the last batch was
        // large, let them run (a few yields, no timer: tokio's timers tick in milliseconds)
        // and take them into this batch rather than committing the first few alone.
        let mut expected = 1usize;
        while let Some(first) = rx.recv().await {
            let mut batch = vec![first];
            drain(&mut rx, &mut batch);
            let mut yields = 0;
            while batch.len() < expected && yields < 16 {
                tokio::task::yield_now().await;
                drain(&mut rx, &mut batch);
                yields += 1;
            }
            expected = if batch.len() >= expected { batch.len() } else { batch.len().max(expected / 2) };
            self.commit_batch(batch).await;
        }
        tracing::debug!("postgres writer: queue closed, stopping");
    }

    async fn commit_batch(&mut self, batch: Vec<Request>) {
        let mut backoff = Backoff::new(self.patience.outage_wait);
        // Did any attempt lose its connection after sending COMMIT?
        let mut commit_unknown = false;
        let result = loop {
            let patience = self.patience;
            self.commit_sent = false;
            match patience.answer(self.write_batch(&batch)).await {
                Err(StoreError::Unavailable { message, .. }) => {
                    // Cut off (or unanswered) after COMMIT was sent: it may have landed.
                    commit_unknown |= self.commit_sent;
                    // The connection is gone or useless, and what it cached may be stale.
                    self.conn = None;
                    self.heads.clear();
                    let e = StoreError::Unavailable { message, outcome_unknown: commit_unknown };
                    if !backoff.again(&e, "group commit").await {
                        break Err(e);
                    }
                }
                other => break other,
            }
        };
        if result.is_ok() {
            backoff.recovered("group commit");
        }
        match result {
            Ok(c) => {
                if self.heads.len() + c.overlay.len() > MAX_CACHED_HEADS {
                    self.heads.clear();
                }
                self.heads.extend(c.overlay);
                self.known_position = c.position;
                self.counts.commits.fetch_add(1, Ordering::Relaxed);
                self.counts.appends.fetch_add(batch.len() as u64, Ordering::Relaxed);
                self.head_tx.send_if_modified(|h| {
                    let moved = c.position > *h;
                    if moved {
                        *h = c.position;
                    }
                    moved
                });
                for (req, outcome) in batch.into_iter().zip(c.outcomes) {
                    let _ = req.reply.send(outcome);
                }
            }
            Err(e) => {
                if let StoreError::Unavailable { outcome_unknown: true, .. } = e {
                    tracing::error!(error = %e, appends = batch.len(), "group commit failed; the batch may have been written (a retry with the same ids records it once)");
                } else {
                    tracing::error!(error = %e, appends = batch.len(), "group commit failed; nothing of the batch was written");
                }
                self.heads.clear();
                // A broken connection is replaced on the next batch.
                if self.conn.as_ref().is_some_and(|c| c.client.is_closed()) {
                    self.conn = None;
                }
                for req in batch {
                    let _ = req.reply.send(Err(e.clone()));
                }
            }
        }
    }

    async fn write_batch(&mut self, batch: &[Request]) -> Result<Committed, StoreError> {
        if self.conn.as_ref().is_none_or(|c| c.client.is_closed()) {
            self.conn = None;
            self.conn = Some(Conn::open(&self.connector).await?);
        }
        let conn = self.conn.as_mut().expect("cannot fail: opened just above");
        let tx = conn.client.transaction().await.map_err(pg_error)?;
        // From here until COMMIT no other process appends: positions and heads are ours.
        let log = tx.query_one(&conn.lock, &[]).await.map_err(pg_error)?;
        let log_position = log.get::<_, i64>(0) as u64;
        let log_time: Option<DateTime<Utc>> = log.get(1);
        if log_position != self.known_position {
            // Another process appended since our last commit: our cached heads may be stale.
            self.heads.clear();
        }

        let ids: Vec<Uuid> = batch.iter().flat_map(|r| r.events.iter().map(|e| e.id)).collect();
        let mut seen = HashSet::new();
        let uncached: Vec<&str> = batch
            .iter()
            .map(|r| r.stream.as_str())
            .filter(|s| !self.heads.contains_key(*s) && seen.insert(*s))
            .collect();
        // Both lookups in one round trip (tokio-postgres pipelines concurrent queries).
        let id_params: [&(dyn tokio_postgres::types::ToSql + Sync); 1] = [&ids];
        let head_params: [&(dyn tokio_postgres::types::ToSql + Sync); 1] = [&uncached];
        let (found_rows, head_rows) = tokio::try_join!(tx.query(&conn.ids, &id_params), async {
            if uncached.is_empty() { Ok(Vec::new()) } else { tx.query(&conn.heads, &head_params).await }
        })
        .map_err(pg_error)?;
        let mut stored: HashMap<Uuid, (String, u64, u64)> = HashMap::with_capacity(found_rows.len());
        for r in &found_rows {
            stored.insert(r.get(0), (r.get(1), r.get::<_, i64>(2) as u64, r.get::<_, i64>(3) as u64));
        }
        let mut overlay: HashMap<String, Head> = HashMap::new();
        for r in &head_rows {
            let hash: &[u8] = r.get(2);
            let hash: [u8; 32] =
                hash.try_into().map_err(|_| StoreError::Backend("corrupt stored hash (not 32 bytes)".into()))?;
            self.heads.insert(r.get(0), (r.get::<_, i64>(1) as u64, hash));
        }

        // Recorded times never go backwards in commit order, across every process.
        let now = DateTime::<Utc>::from_timestamp_micros(Utc::now().timestamp_micros())
            .ok_or_else(|| StoreError::Backend("clock out of range".into()))?;
        let recorded_at = log_time.map_or(now, |t| t.max(now));

        let mut position = log_position + 1;
        let mut rows: Vec<Row<'_>> = Vec::new();
        let mut outcomes = Vec::with_capacity(batch.len());
        for req in batch {
            let outcome = plan(req, &self.heads, &mut overlay, &mut stored, &mut position, recorded_at, &mut rows);
            outcomes.push(outcome);
        }
        if !rows.is_empty() {
            insert_rows(&tx, &conn.insert, &rows).await?;
            let last = (position - 1) as i64;
            tx.query_one(&conn.advance, &[&last, &recorded_at, &self.channel]).await.map_err(pg_error)?;
        }
        // From here, a lost connection leaves unknown whether the batch landed.
        self.commit_sent = true;
        tx.commit().await.map_err(pg_error)?;
        Ok(Committed { outcomes, overlay, position: position - 1 })
    }
}

fn drain(rx: &mut mpsc::Receiver<Request>, batch: &mut Vec<Request>) {
    while batch.len() < MAX_BATCH {
        match rx.try_recv() {
            Ok(r) => batch.push(r),
            Err(_) => return,
        }
    }
}

/// Checks one append against the stored ids and the stream head and, if it passes, adds its
/// rows. Refusals concern this append only.
fn plan<'a>(
    req: &'a Request,
    heads: &HashMap<String, Head>,
    overlay: &mut HashMap<String, Head>,
    stored: &mut HashMap<Uuid, (String, u64, u64)>,
    position: &mut u64,
    recorded_at: DateTime<Utc>,
    rows: &mut Vec<Row<'a>>,
) -> Result<AppendOutcome, StoreError> {
    // Idempotency: ids stored before, or earlier in this batch.
    let found: Vec<Option<&(String, u64, u64)>> = req.events.iter().map(|e| stored.get(&e.id)).collect();
    let n_found = found.iter().filter(|f| f.is_some()).count();
    if n_found == req.events.len() {
        let first = found[0].expect("cannot fail: every id was found");
        let consistent = found.iter().enumerate().all(|(i, f)| {
            let (s, v, _) = f.expect("cannot fail: every id was found");
            s == &req.stream && *v == first.1 + i as u64
        });
        if !consistent {
            return Err(StoreError::IdempotencyMismatch(format!(
                "ids are stored, but not as this append to {}",
                req.stream
            )));
        }
        let last = found[found.len() - 1].expect("cannot fail: every id was found");
        return Ok(AppendOutcome {
            first_version: first.1,
            last_version: last.1,
            first_position: first.2,
            last_position: last.2,
            already_present: true,
        });
    }
    if n_found > 0 {
        return Err(StoreError::IdempotencyMismatch(format!(
            "{n_found} of {} event ids are already stored",
            req.events.len()
        )));
    }
    let mut distinct: Vec<&Uuid> = req.events.iter().map(|e| &e.id).collect();
    distinct.sort();
    distinct.dedup();
    if distinct.len() != req.events.len() {
        return Err(StoreError::Invalid("duplicate event ids in one append".into()));
    }

    // Optimistic concurrency against the stream head.
    let head = overlay.get(&req.stream).or_else(|| heads.get(&req.stream)).copied();
    let actual = head.map(|h| h.0);
    let ok = match req.expected {
        ExpectedVersion::Any => true,
        ExpectedVersion::NoStream => actual.is_none(),
        ExpectedVersion::Exact(v) => actual == Some(v),
    };
    if !ok {
        return Err(StoreError::WrongExpectedVersion { stream: req.stream.clone(), expected: req.expected, actual });
    }

    let (mut version, mut prev) = match head {
        Some((v, h)) => (v + 1, h),
        None => (0, [0u8; 32]),
    };
    let first_version = version;
    let first_position = *position;
    let mut prev_hex = if head.is_some() { hex::encode(&prev) } else { GENESIS_HASH.to_string() };
    for e in &req.events {
        let hash = chain_hash_bytes(&event_hash_input(e, &req.stream, version, recorded_at, &prev_hex));
        rows.push(Row {
            position: *position,
            id: e.id,
            stream: &req.stream,
            version,
            event_type: &e.event_type,
            schema_version: e.schema_version,
            recorded_at,
            actor: &e.actor,
            correlation_id: e.correlation_id,
            causation_id: e.causation_id,
            data: e.data().get(),
            prev_hash: prev,
            hash,
            payload_view: std::borrow::Cow::Borrowed(e.payload_view()),
        });
        stored.insert(e.id, (req.stream.clone(), version, *position));
        prev = hash;
        prev_hex = hex::encode(&hash);
        version += 1;
        *position += 1;
    }
    overlay.insert(req.stream.clone(), (version - 1, prev));
    Ok(AppendOutcome {
        first_version,
        last_version: version - 1,
        first_position,
        last_position: *position - 1,
        already_present: false,
    })
}
