//! The embedded store's fold envelopes (see [`crate::event::FoldEnvelope`]): the `envelope`
//! column, a column derived from the hashed ones (`sqlite_derived.rs`).
//!
//! Every row this version writes carries its envelope. A row can still lack one: it was
//! written before the column existed (filled in when the store opens), or by an older
//! `convene` beside this one (a fold reads such a row's columns instead; the next open fills
//! it in).

use super::StoreError;
use super::sqlite_derived::Derived;
use crate::event::FoldEnvelope;
use rusqlite::Connection;
use uuid::Uuid;

const ENVELOPE: Derived = Derived {
    column: "envelope",
    from: "id, version, type, schema_version, recorded_at, actor_id, actor_role, actor_name, actor_community",
    filling: "填写折叠信封 / filling in fold envelopes of older rows",
    make: envelope_of_row,
};

/// Adds the column and its index if the database predates them, then fills in every row
/// without an envelope. Idempotent; an interrupted fill resumes at the next open.
pub(super) fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    ENVELOPE.add_column(conn)?;
    ENVELOPE.fill_in(conn)
}

/// The envelope of a row read as `position, <ENVELOPE.from>`.
fn envelope_of_row(r: &rusqlite::Row<'_>, blob: &mut Vec<u8>) -> Result<(), StoreError> {
    let position: i64 = r.get(0)?;
    let id: Vec<u8> = r.get(1)?;
    let id = Uuid::from_slice(&id)
        .map_err(|_| StoreError::Backend(format!("corrupt id at position {position} in the events table")))?;
    let actor = crate::event::Actor { id: r.get(6)?, role: r.get(7)?, name: r.get(8)?, community: r.get(9)? };
    let event_type: String = r.get(3)?;
    FoldEnvelope::of(&id, r.get::<_, i64>(2)? as u64, &event_type, r.get::<_, i64>(4)? as u32, r.get(5)?, &actor)
        .encode(blob);
    Ok(())
}
