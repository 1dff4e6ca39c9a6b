//! The embedded store's payload views (see [`crate::issue::PayloadView`]): the `payload_view`
//! column, its migration onto data directories written before it existed, and the rows
//! without one.
//!
//! Every row this version appends carries its view (empty for a type the record does not
//! read). A row can still lack one (NULL): it was written before the column existed, or by an
//! older `convene` beside this one, or its view was written in another [`VIEW_FORMAT`]. A fold
//! parses such a row's payload instead, so nothing reads differently; the store fills the
//! views in when it opens, so later replays are fast again. A partial index over the rows
//! without one keeps finding them cheap: it is empty in normal operation.

use super::StoreError;
use crate::issue::{PayloadView, VIEW_FORMAT};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

/// Rows filled in per transaction (bounds the time the write lock is held).
const FILL_BATCH: usize = 10_000;

/// The `meta` key holding the [`VIEW_FORMAT`] of the views in the table.
const FORMAT_KEY: &str = "payload_view_format";

/// Adds the column and its index if the database predates them, forgets views of another
/// format, then fills in every row without one. Idempotent; an interrupted fill resumes at
/// the next open.
pub(super) fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let has_column: bool =
        conn.query_row("SELECT COUNT(*) > 0 FROM pragma_table_info('events') WHERE name = 'payload_view'", [], |r| {
            r.get(0)
        })?;
    if !has_column {
        // ADD COLUMN only edits the schema: old rows read the column as NULL.
        conn.execute_batch("ALTER TABLE events ADD COLUMN payload_view BLOB")?;
    }
    conn.execute_batch(
        "CREATE INDEX IF NOT EXISTS events_without_payload_view ON events (position) WHERE payload_view IS NULL",
    )?;
    let format = VIEW_FORMAT.to_string();
    let stored: Option<String> =
        conn.query_row("SELECT value FROM meta WHERE key = ?1", [FORMAT_KEY], |r| r.get(0)).optional()?;
    if stored.as_deref() != Some(format.as_str()) {
        // Views of another format are never misread (each starts with its format byte), but
        // none of them would be used: forget them so the fill below writes this format's.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        if stored.is_some() {
            let n = tx.execute("UPDATE events SET payload_view = NULL WHERE payload_view IS NOT NULL", [])?;
            tracing::info!(rows = n, from = stored, to = %format, "载荷视图格式变更 / payload view format changed");
        }
        tx.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)", params![FORMAT_KEY, format])?;
        tx.commit()?;
    }
    // Looked up first without the write lock: every open (a CLI command beside a running
    // server too) asks, and the answer is almost always no.
    let any_missing: bool =
        conn.query_row("SELECT EXISTS (SELECT 1 FROM events WHERE payload_view IS NULL)", [], |r| r.get(0))?;
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
        tracing::info!(filled, "填写载荷视图 / filling in payload views of older rows");
    }
    Ok(())
}

/// Fills in up to [`FILL_BATCH`] rows in one transaction; returns how many.
fn fill_batch(conn: &mut Connection) -> Result<usize, StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut n = 0;
    {
        let mut rows_q = tx.prepare(
            "SELECT position, type, schema_version, data FROM events WHERE payload_view IS NULL ORDER BY position \
             LIMIT ?1",
        )?;
        let mut update = tx.prepare("UPDATE events SET payload_view = ?1 WHERE position = ?2")?;
        let mut rows = rows_q.query([FILL_BATCH as i64])?;
        let mut view = Vec::with_capacity(256);
        while let Some(r) = rows.next()? {
            let position: i64 = r.get(0)?;
            let event_type: String = r.get(1)?;
            let data: String = r.get(3)?;
            PayloadView::stored_form(&event_type, r.get::<_, i64>(2)? as u32, &data, &mut view);
            update.execute(params![view, position])?;
            n += 1;
        }
    }
    tx.commit()?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(conn: &Connection) {
        conn.execute_batch(
            "CREATE TABLE events (position INTEGER PRIMARY KEY, type TEXT, schema_version INTEGER, data TEXT);
             CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;",
        )
        .unwrap();
    }

    fn views(conn: &Connection) -> Vec<Option<Vec<u8>>> {
        let mut st = conn.prepare("SELECT payload_view FROM events ORDER BY position").unwrap();
        st.query_map([], |r| r.get(0)).unwrap().collect::<Result<_, _>>().unwrap()
    }

    #[test]
    fn rows_from_before_the_column_get_their_views_and_a_changed_format_is_written_again() {
        // Given a table from before the column, with a payload the record reads and one it
        // does not.
        let mut conn = Connection::open_in_memory().unwrap();
        table(&conn);
        let wish = r#"{"wish":{"zh-CN":"修好路灯"},"wish_id":"w-1"}"#;
        conn.execute("INSERT INTO events VALUES (1, 'MicroWishCollected', 1, ?1)", [wish]).unwrap();
        conn.execute("INSERT INTO events VALUES (2, 'MeetingScheduled', 1, '{}')", []).unwrap();
        // When the store migrates it
        migrate(&mut conn).unwrap();
        // then each row has the view a store appending it would have written.
        let mut expected = Vec::new();
        PayloadView::stored_form("MicroWishCollected", 1, wish, &mut expected);
        assert_eq!(expected[0], VIEW_FORMAT);
        assert_eq!(views(&conn), vec![Some(expected.clone()), Some(Vec::new())]);
        // Given views of another format, when it opens again, they are written afresh.
        conn.execute("UPDATE events SET payload_view = X'00'", []).unwrap();
        conn.execute("UPDATE meta SET value = '0' WHERE key = ?1", [FORMAT_KEY]).unwrap();
        migrate(&mut conn).unwrap();
        assert_eq!(views(&conn), vec![Some(expected), Some(Vec::new())]);
        // And a second open with nothing missing changes nothing.
        migrate(&mut conn).unwrap();
        assert_eq!(views(&conn).len(), 2);
    }
}
