//! Reading events back: the column list, and one row into a [`RecordedEvent`].

use crate::event::{Actor, Payload, RecordedEvent, hex};
use crate::store::StoreError;
use chrono::{DateTime, Utc};
use tokio_postgres::Row;
use uuid::Uuid;

/// The columns every read selects, in the order [`row_to_event`] decodes them.
pub(super) const COLUMNS: &str = "position, id, stream, version, type, schema_version, recorded_at, actor_id, \
    actor_role, actor_name, actor_community, correlation_id, causation_id, data, prev_hash, hash";

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(format!("corrupt {what} in convene_events: {e}"))
}

/// Decodes one row of [`COLUMNS`].
pub(super) fn row_to_event(r: &Row) -> Result<RecordedEvent, StoreError> {
    let position: i64 = r.try_get(0).map_err(|e| corrupt("position", e))?;
    let version: i64 = r.try_get(3).map_err(|e| corrupt("version", e))?;
    let schema_version: i32 = r.try_get(5).map_err(|e| corrupt("schema_version", e))?;
    let prev: &[u8] = r.try_get(14).map_err(|e| corrupt("prev_hash", e))?;
    let hash: &[u8] = r.try_get(15).map_err(|e| corrupt("hash", e))?;
    Ok(RecordedEvent {
        position: position as u64,
        id: r.try_get::<_, Uuid>(1).map_err(|e| corrupt("id", e))?,
        stream: r.try_get(2).map_err(|e| corrupt("stream", e))?,
        version: version as u64,
        event_type: r.try_get(4).map_err(|e| corrupt("type", e))?,
        schema_version: schema_version as u32,
        recorded_at: r.try_get::<_, DateTime<Utc>>(6).map_err(|e| corrupt("recorded_at", e))?,
        actor: Actor {
            id: r.try_get(7).map_err(|e| corrupt("actor_id", e))?,
            role: r.try_get(8).map_err(|e| corrupt("actor_role", e))?,
            name: r.try_get(9).map_err(|e| corrupt("actor_name", e))?,
            community: r.try_get(10).map_err(|e| corrupt("actor_community", e))?,
        },
        correlation_id: r.try_get(11).map_err(|e| corrupt("correlation_id", e))?,
        causation_id: r.try_get(12).map_err(|e| corrupt("causation_id", e))?,
        data: Payload::trusted(r.try_get(13).map_err(|e| corrupt("data", e))?),
        prev_hash: hex::encode(prev),
        hash: hex::encode(hash),
    })
}
