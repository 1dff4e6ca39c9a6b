//! The embedded store's payload views (see [`crate::issue::PayloadView`]): the `payload_view`
//! column, a column derived from the hashed ones (`sqlite_derived.rs`), and its format.
//!
//! Every row this version appends carries its view (empty for a type the record does not
//! read). A row can still lack one (NULL): it was written before the column existed, or by an
//! older `convene` beside this one, or its view was written in another [`VIEW_FORMAT`]. A fold
//! parses such a row's payload instead, so nothing reads differently; the store fills the
//! views in when it opens, so later replays are fast again.

use super::StoreError;
use super::sqlite_derived::Derived;
use crate::issue::{PayloadView, VIEW_FORMAT};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

const VIEWS: Derived = Derived {
    column: "payload_view",
    from: "type, schema_version, data",
    filling: "填写载荷视图 / filling in payload views of older rows",
    make: view_of_row,
};

/// The `meta` key holding the [`VIEW_FORMAT`] of the views in the table.
const FORMAT_KEY: &str = "payload_view_format";

/// Adds the column and its index if the database predates them, forgets views of another
/// format, then fills in every row without one. Idempotent; an interrupted fill resumes at
/// the next open.
pub(super) fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    VIEWS.add_column(conn)?;
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
        // The replay segments copy the views: they are packed again from the new ones.
        tx.execute("DELETE FROM segments", [])?;
        tx.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)", params![FORMAT_KEY, format])?;
        tx.commit()?;
    }
    VIEWS.fill_in(conn)
}

/// The view of a row read as `position, <VIEWS.from>`.
fn view_of_row(r: &rusqlite::Row<'_>, view: &mut Vec<u8>) -> Result<(), StoreError> {
    let event_type: String = r.get(1)?;
    let data: String = r.get(3)?;
    PayloadView::stored_form(&event_type, r.get::<_, i64>(2)? as u32, &data, view);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(conn: &Connection) {
        conn.execute_batch(
            "CREATE TABLE events (position INTEGER PRIMARY KEY, type TEXT, schema_version INTEGER, data TEXT);
             CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
             CREATE TABLE segments (first INTEGER PRIMARY KEY, format INTEGER NOT NULL, body BLOB NOT NULL);",
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
        conn.execute("INSERT INTO segments VALUES (1, 0, X'00')", []).unwrap();
        migrate(&mut conn).unwrap();
        assert_eq!(views(&conn), vec![Some(expected), Some(Vec::new())]);
        let segments: i64 = conn.query_row("SELECT COUNT(*) FROM segments", [], |r| r.get(0)).unwrap();
        assert_eq!(segments, 0, "segments copying the old views are dropped, to be packed again");
        // And a second open with nothing missing changes nothing.
        migrate(&mut conn).unwrap();
        assert_eq!(views(&conn).len(), 2);
    }
}
