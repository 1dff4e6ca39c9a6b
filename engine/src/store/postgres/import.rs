//! Appending a log copied from another store (`convene migrate`), keeping every event's id,
//! stream version, global position, recorded time and hashes.
//!
//! Nothing is trusted: each event must continue the log (the next position), its stream (the
//! next version, `prev_hash` equal to the stream head's hash), carry the hash its content
//! computes to, and not be recorded earlier than the log's last event. A batch that breaks any
//! of these is refused whole, under the same `convene_log` lock that appends take.

use super::insert::{INSERT, Row, insert_rows};
use super::pg_error;
use crate::event::{RecordedEvent, hex};
use crate::issue::PayloadView;
use crate::store::StoreError;
use crate::store::import_check::{check_page, refused};
use chrono::{DateTime, Utc};
use std::collections::HashMap;

/// Imports `events` (in position order) in one transaction; returns the log's new position.
pub(super) async fn import(
    client: &mut deadpool_postgres::Client,
    events: &[RecordedEvent],
    channel: &str,
) -> Result<u64, StoreError> {
    let tx = client.transaction().await.map_err(pg_error)?;
    let log = tx
        .query_one("SELECT position, recorded_at FROM convene_log WHERE id = 1 FOR UPDATE", &[])
        .await
        .map_err(pg_error)?;
    let log_position = log.get::<_, i64>(0) as u64;
    let Some(last_event) = events.last() else { return Ok(log_position) };
    let last_time: Option<DateTime<Utc>> = log.get(1);

    let mut streams: Vec<&str> = events.iter().map(|e| e.stream.as_str()).collect();
    streams.sort_unstable();
    streams.dedup();
    let head_rows = tx
        .query(
            "SELECT s.stream, e.version, e.hash FROM unnest($1::text[]) AS s(stream) \
             CROSS JOIN LATERAL (SELECT version, hash FROM convene_events WHERE stream = s.stream \
             ORDER BY version DESC LIMIT 1) e",
            &[&streams],
        )
        .await
        .map_err(pg_error)?;
    let mut heads: HashMap<String, (u64, String)> = HashMap::new();
    for r in &head_rows {
        heads.insert(r.get(0), (r.get::<_, i64>(1) as u64, hex::encode(r.get::<_, &[u8]>(2))));
    }

    check_page(events, log_position, last_time, &mut heads)?;
    let mut rows = Vec::with_capacity(events.len());
    for e in events {
        let prev_hash = hex::decode32(&e.prev_hash).ok_or_else(|| refused(e, "prev_hash is not 64 hex digits"))?;
        let hash = hex::decode32(&e.hash).ok_or_else(|| refused(e, "hash is not 64 hex digits"))?;
        rows.push(Row {
            position: e.position,
            id: e.id,
            stream: &e.stream,
            version: e.version,
            event_type: &e.event_type,
            schema_version: e.schema_version,
            recorded_at: e.recorded_at,
            actor: &e.actor,
            correlation_id: e.correlation_id,
            causation_id: e.causation_id,
            data: e.data.get(),
            prev_hash,
            hash,
            payload_view: {
                let mut view = Vec::new();
                PayloadView::stored_form(&e.event_type, e.schema_version, e.data.get(), &mut view);
                view.into()
            },
        });
    }
    let last_time = last_event.recorded_at;
    let st = tx.prepare_cached(INSERT).await.map_err(pg_error)?;
    insert_rows(&tx, &st, &rows).await?;
    let last = last_event.position as i64;
    tx.query_one(
        "WITH moved AS (UPDATE convene_log SET position = $1, recorded_at = $2 WHERE id = 1 RETURNING position) \
         SELECT pg_notify($3, position::text) FROM moved",
        &[&last, &last_time, &channel],
    )
    .await
    .map_err(pg_error)?;
    tx.commit().await.map_err(pg_error)?;
    Ok(last_event.position)
}
