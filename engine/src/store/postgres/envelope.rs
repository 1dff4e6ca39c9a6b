//! Filling in the fold envelopes of rows written without one (see
//! [`crate::event::FoldEnvelope`] and migration V3): rows from before the column existed, or
//! rows an older `convene` wrote beside a newer one. Run at start under the migration lock, so
//! two instances starting together do not both fill; the partial index over the rows without
//! one keeps the check cheap when there are none (the normal case).

use super::pg_error;
use crate::event::{Actor, FoldEnvelope};
use crate::store::StoreError;
use chrono::{DateTime, Utc};
use tokio_postgres::Client;
use uuid::Uuid;

/// Rows filled in per transaction.
const FILL_BATCH: i64 = 10_000;

/// Fills in every row without an envelope; returns how many.
pub(super) async fn fill(client: &mut Client) -> Result<u64, StoreError> {
    let mut filled = 0u64;
    loop {
        let tx = client.transaction().await.map_err(pg_error)?;
        let rows = tx
            .query(
                "SELECT position, id, version, type, schema_version, recorded_at, actor_id, actor_role, actor_name, \
                 actor_community FROM convene_events WHERE envelope IS NULL ORDER BY position LIMIT $1",
                &[&FILL_BATCH],
            )
            .await
            .map_err(pg_error)?;
        if rows.is_empty() {
            return Ok(filled);
        }
        let mut positions = Vec::with_capacity(rows.len());
        let mut envelopes = Vec::with_capacity(rows.len());
        for r in &rows {
            let position: i64 = r.try_get(0).map_err(pg_error)?;
            let id: Uuid = r.try_get(1).map_err(pg_error)?;
            let version: i64 = r.try_get(2).map_err(pg_error)?;
            let event_type: String = r.try_get(3).map_err(pg_error)?;
            let schema_version: i32 = r.try_get(4).map_err(pg_error)?;
            let recorded_at: DateTime<Utc> = r.try_get(5).map_err(pg_error)?;
            let actor = Actor {
                id: r.try_get(6).map_err(pg_error)?,
                role: r.try_get(7).map_err(pg_error)?,
                name: r.try_get(8).map_err(pg_error)?,
                community: r.try_get(9).map_err(pg_error)?,
            };
            let mut blob = Vec::with_capacity(160);
            FoldEnvelope::of(
                &id,
                version as u64,
                &event_type,
                schema_version as u32,
                recorded_at.timestamp_micros(),
                &actor,
            )
            .encode(&mut blob);
            positions.push(position);
            envelopes.push(blob);
        }
        tx.execute(
            "UPDATE convene_events e SET envelope = u.envelope \
             FROM unnest($1::bigint[], $2::bytea[]) AS u(position, envelope) WHERE e.position = u.position",
            &[&positions, &envelopes],
        )
        .await
        .map_err(pg_error)?;
        tx.commit().await.map_err(pg_error)?;
        filled += rows.len() as u64;
        tracing::info!(filled, "填写折叠信封 / filling in fold envelopes of older rows");
    }
}
