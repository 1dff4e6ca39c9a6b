//! Many events in one INSERT: the rows are sent as one array per column and unnested by the
//! server, so a batch of a few hundred events costs one round trip and one statement.

use super::pg_error;
use crate::event::{Actor, FoldEnvelope};
use crate::store::StoreError;
use chrono::{DateTime, Utc};
use std::borrow::Cow;
use tokio_postgres::{Statement, Transaction};
use uuid::Uuid;

pub(super) const INSERT: &str = "INSERT INTO convene_events (position, id, stream, version, type, schema_version, \
    recorded_at, actor_id, actor_role, actor_name, actor_community, correlation_id, causation_id, data, prev_hash, hash, \
    envelope, payload_view) SELECT * FROM unnest($1::bigint[], $2::uuid[], $3::text[], $4::bigint[], $5::text[], \
    $6::int4[], $7::timestamptz[], $8::text[], $9::text[], $10::text[], $11::text[], $12::uuid[], $13::uuid[], \
    $14::text[], $15::bytea[], $16::bytea[], $17::bytea[], $18::bytea[])";

/// One event about to be inserted, borrowing its text from the append or import it came from.
pub(super) struct Row<'a> {
    pub position: u64,
    pub id: Uuid,
    pub stream: &'a str,
    pub version: u64,
    pub event_type: &'a str,
    pub schema_version: u32,
    pub recorded_at: DateTime<Utc>,
    pub actor: &'a Actor,
    pub correlation_id: Option<Uuid>,
    pub causation_id: Option<Uuid>,
    pub data: &'a str,
    pub prev_hash: [u8; 32],
    pub hash: [u8; 32],
    /// The payload's view in byte form (`crate::issue::PayloadView`).
    pub payload_view: Cow<'a, [u8]>,
}

/// Inserts `rows` with one statement (`st` is [`INSERT`] prepared on this connection).
pub(super) async fn insert_rows(tx: &Transaction<'_>, st: &Statement, rows: &[Row<'_>]) -> Result<(), StoreError> {
    let n = rows.len();
    let mut position = Vec::with_capacity(n);
    let mut id = Vec::with_capacity(n);
    let mut stream = Vec::with_capacity(n);
    let mut version = Vec::with_capacity(n);
    let mut event_type = Vec::with_capacity(n);
    let mut schema_version = Vec::with_capacity(n);
    let mut recorded_at = Vec::with_capacity(n);
    let mut actor_id = Vec::with_capacity(n);
    let mut actor_role = Vec::with_capacity(n);
    let mut actor_name = Vec::with_capacity(n);
    let mut actor_community = Vec::with_capacity(n);
    let mut correlation_id = Vec::with_capacity(n);
    let mut causation_id = Vec::with_capacity(n);
    let mut data = Vec::with_capacity(n);
    let mut prev_hash: Vec<&[u8]> = Vec::with_capacity(n);
    let mut hash: Vec<&[u8]> = Vec::with_capacity(n);
    let mut payload_view: Vec<&[u8]> = Vec::with_capacity(n);
    // Every row's fold envelope in one buffer, sliced below.
    let mut packed = Vec::with_capacity(n * 160);
    let mut ends = Vec::with_capacity(n);
    for r in rows {
        let us = r.recorded_at.timestamp_micros();
        FoldEnvelope::of(&r.id, r.version, r.event_type, r.schema_version, us, r.actor).encode(&mut packed);
        ends.push(packed.len());
        position.push(r.position as i64);
        id.push(r.id);
        stream.push(r.stream);
        version.push(r.version as i64);
        event_type.push(r.event_type);
        schema_version.push(r.schema_version as i32);
        recorded_at.push(r.recorded_at);
        actor_id.push(r.actor.id.as_str());
        actor_role.push(r.actor.role.as_str());
        actor_name.push(r.actor.name.as_deref());
        actor_community.push(r.actor.community.as_deref());
        correlation_id.push(r.correlation_id);
        causation_id.push(r.causation_id);
        data.push(r.data);
        prev_hash.push(&r.prev_hash);
        hash.push(&r.hash);
        payload_view.push(&r.payload_view);
    }
    let envelope: Vec<&[u8]> =
        ends.iter().scan(0, |start, &end| Some(&packed[std::mem::replace(start, end)..end])).collect();
    tx.execute(
        st,
        &[
            &position,
            &id,
            &stream,
            &version,
            &event_type,
            &schema_version,
            &recorded_at,
            &actor_id,
            &actor_role,
            &actor_name,
            &actor_community,
            &correlation_id,
            &causation_id,
            &data,
            &prev_hash,
            &hash,
            &envelope,
            &payload_view,
        ],
    )
    .await
    .map_err(pg_error)?;
    Ok(())
}
