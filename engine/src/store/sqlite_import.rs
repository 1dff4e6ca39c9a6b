//! Importing a copied log into the embedded store (`convene migrate --to sqlite://…`).
//!
//! Runs on its own read-write connection beside the store's writer thread (SQLite serialises
//! the two with its write lock; the writer notices the import through `PRAGMA data_version`
//! before its next batch and re-reads its caches). The checks are those of the PostgreSQL
//! import: next position, next stream version, intact link and hash, times not going back.

use super::StoreError;
use super::import_check::{check_next, refused};
use crate::event::{FoldEnvelope, RecordedEvent, hex};
use crate::issue::PayloadView;
use rusqlite::{OptionalExtension, TransactionBehavior, params};
use std::collections::HashMap;
use std::path::PathBuf;

pub(super) async fn import(path: PathBuf, events: Vec<RecordedEvent>) -> Result<u64, StoreError> {
    tokio::task::spawn_blocking(move || import_blocking(&path, &events))
        .await
        .map_err(|e| StoreError::Backend(format!("import task failed: {e}")))?
}

fn import_blocking(path: &std::path::Path, events: &[RecordedEvent]) -> Result<u64, StoreError> {
    let mut conn = rusqlite::Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(30))?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let (mut position, last_us): (i64, i64) =
        tx.query_row("SELECT COALESCE(MAX(position), 0), COALESCE(MAX(recorded_at), 0) FROM events", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
    let mut last_us = last_us;
    let mut heads: HashMap<String, (u64, String)> = HashMap::new();
    {
        let mut head_q =
            tx.prepare_cached("SELECT version, hash FROM events WHERE stream = ?1 ORDER BY version DESC LIMIT 1")?;
        let mut insert = tx.prepare_cached(
            "INSERT INTO events (position, id, stream, version, type, schema_version, recorded_at, \
             actor_id, actor_role, actor_name, actor_community, correlation_id, causation_id, data, \
             prev_hash, hash, envelope, payload_view) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, \
             ?14, ?15, ?16, ?17, ?18)",
        )?;
        let mut envelope = Vec::with_capacity(192);
        let mut view = Vec::with_capacity(256);
        for e in events {
            super::validate_stream_name(&e.stream)?;
            if !heads.contains_key(&e.stream) {
                let h = head_q
                    .query_row([&e.stream], |r| Ok((r.get::<_, i64>(0)? as u64, hex::encode(&r.get::<_, Vec<u8>>(1)?))))
                    .optional()?;
                if let Some(h) = h {
                    heads.insert(e.stream.clone(), h);
                }
            }
            let last_time = chrono::DateTime::from_timestamp_micros(last_us);
            check_next(e, position as u64, last_time, heads.get(&e.stream).map(|(v, h)| (*v, h.as_str())))?;
            let us = e.recorded_at.timestamp_micros();
            let prev = hex::decode32(&e.prev_hash).ok_or_else(|| refused(e, "prev_hash is not 64 hex digits"))?;
            let hash = hex::decode32(&e.hash).ok_or_else(|| refused(e, "hash is not 64 hex digits"))?;
            envelope.clear();
            FoldEnvelope::of(&e.id, e.version, &e.event_type, e.schema_version, us, &e.actor).encode(&mut envelope);
            PayloadView::stored_form(&e.event_type, e.schema_version, e.data.get(), &mut view);
            insert.execute(params![
                e.position as i64,
                e.id.as_bytes().as_slice(),
                e.stream,
                e.version as i64,
                e.event_type,
                e.schema_version as i64,
                us,
                e.actor.id,
                e.actor.role,
                e.actor.name,
                e.actor.community,
                e.correlation_id.map(|u| u.as_bytes().to_vec()),
                e.causation_id.map(|u| u.as_bytes().to_vec()),
                e.data.get(),
                prev.as_slice(),
                hash.as_slice(),
                envelope.as_slice(),
                view.as_slice(),
            ])?;
            heads.insert(e.stream.clone(), (e.version, e.hash.clone()));
            last_us = us;
            position = e.position as i64;
        }
    }
    tx.commit()?;
    // The imported runs get their replay segments now rather than at the next open, so a
    // replay right after a migration reads them packed too.
    super::sqlite_segments::catch_up(&mut conn)?;
    Ok(position as u64)
}
