//! Filling in the fold envelopes of rows written without one (see
//! [`crate::event::FoldEnvelope`] and migration V3): rows from before the column existed, or
//! rows an older `convene` wrote beside a newer one. A column derived from the hashed ones,
//! filled in at start (`derived.rs`).

use super::derived::Derived;
use super::pg_error;
use crate::event::{Actor, FoldEnvelope};
use crate::store::StoreError;
use chrono::{DateTime, Utc};
use uuid::Uuid;

pub(super) const ENVELOPE: Derived = Derived {
    column: "envelope",
    from: "id, version, type, schema_version, recorded_at, actor_id, actor_role, actor_name, actor_community",
    filling: "填写折叠信封 / filling in fold envelopes of older rows",
    make: envelope_of_row,
};

/// The envelope of a row read as `position, <ENVELOPE.from>`.
fn envelope_of_row(r: &tokio_postgres::Row, blob: &mut Vec<u8>) -> Result<(), StoreError> {
    let id: Uuid = r.try_get(1).map_err(pg_error)?;
    let version: i64 = r.try_get(2).map_err(pg_error)?;
    let event_type: &str = r.try_get(3).map_err(pg_error)?;
    let schema_version: i32 = r.try_get(4).map_err(pg_error)?;
    let recorded_at: DateTime<Utc> = r.try_get(5).map_err(pg_error)?;
    let actor = Actor {
        id: r.try_get(6).map_err(pg_error)?,
        role: r.try_get(7).map_err(pg_error)?,
        name: r.try_get(8).map_err(pg_error)?,
        community: r.try_get(9).map_err(pg_error)?,
    };
    FoldEnvelope::of(&id, version as u64, event_type, schema_version as u32, recorded_at.timestamp_micros(), &actor)
        .encode(blob);
    Ok(())
}
