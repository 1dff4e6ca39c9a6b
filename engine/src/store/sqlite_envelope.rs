//! The embedded store's fold envelopes (see [`crate::event::FoldEnvelope`]): the `envelope`
//! column, its migration onto data directories written before it existed, and the rows
//! written without one.
//!
//! Every row this version writes carries its envelope. A row can still lack one: it was
//! written before the column existed (filled in when the store opens, below), or by an older
//! `convene` beside this one (a fold reads such a row's columns instead; the next open fills
//! it in). A partial index over the rows without one keeps finding them cheap: it is empty in
//! normal operation.

use super::StoreError;
use crate::event::FoldEnvelope;
use rusqlite::{Connection, TransactionBehavior, params};
use uuid::Uuid;

/// Rows filled in per transaction while migrating (bounds the time the write lock is held).
const FILL_BATCH: usize = 10_000;

/// Adds the column and its index if the database predates them, then fills in every row
/// without an envelope. Idempotent; an interrupted fill resumes at the next open.
pub(super) fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let has_column: bool =
        conn.query_row("SELECT COUNT(*) > 0 FROM pragma_table_info('events') WHERE name = 'envelope'", [], |r| {
            r.get(0)
        })?;
    if !has_column {
        // ADD COLUMN only edits the schema: old rows read the column as NULL.
        conn.execute_batch("ALTER TABLE events ADD COLUMN envelope BLOB")?;
    }
    conn.execute_batch(
        "CREATE INDEX IF NOT EXISTS events_without_envelope ON events (position) WHERE envelope IS NULL",
    )?;
    // Looked up first without the write lock: every open (a CLI command beside a running
    // server too) asks, and the answer is almost always no.
    let any_missing: bool =
        conn.query_row("SELECT EXISTS (SELECT 1 FROM events WHERE envelope IS NULL)", [], |r| r.get(0))?;
    if !any_missing {
        return Ok(());
    }
    let mut filled = 0u64;
    loop {
        let n = fill_batch(conn)?;
        if n == 0 {
            break;
        }
        filled += n as u64;
        tracing::info!(filled, "填写折叠信封 / filling in fold envelopes of older rows");
    }
    Ok(())
}

/// Fills in up to [`FILL_BATCH`] rows in one transaction; returns how many.
fn fill_batch(conn: &mut Connection) -> Result<usize, StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut n = 0;
    {
        let mut rows_q = tx.prepare(
            "SELECT position, id, version, type, schema_version, recorded_at, actor_id, actor_role, actor_name, \
             actor_community FROM events WHERE envelope IS NULL ORDER BY position LIMIT ?1",
        )?;
        let mut update = tx.prepare("UPDATE events SET envelope = ?1 WHERE position = ?2")?;
        let mut rows = rows_q.query([FILL_BATCH as i64])?;
        let mut blob = Vec::with_capacity(256);
        while let Some(r) = rows.next()? {
            let position: i64 = r.get(0)?;
            let id: Vec<u8> = r.get(1)?;
            let id = Uuid::from_slice(&id)
                .map_err(|_| StoreError::Backend(format!("corrupt id at position {position} in the events table")))?;
            let actor = crate::event::Actor { id: r.get(6)?, role: r.get(7)?, name: r.get(8)?, community: r.get(9)? };
            let event_type: String = r.get(3)?;
            let env = FoldEnvelope::of(
                &id,
                r.get::<_, i64>(2)? as u64,
                &event_type,
                r.get::<_, i64>(4)? as u32,
                r.get(5)?,
                &actor,
            );
            blob.clear();
            env.encode(&mut blob);
            update.execute(params![blob, position])?;
            n += 1;
        }
    }
    tx.commit()?;
    Ok(n)
}
