//! Columns of the embedded store's `events` table made from the columns the hash chain covers:
//! the fold envelope (`sqlite_envelope.rs`) and the payload view (`sqlite_views.rs`). Each
//! row this version appends carries them; a row can still lack one (written before the
//! column existed, or by an older `convene` beside this one), and folds then read what the
//! value is made from instead. This is the one mechanism both use to add such a column to an
//! older data directory and to fill in the rows without one when the store opens. A partial
//! index over those rows keeps finding them cheap: it is empty in normal operation.

use super::StoreError;
use rusqlite::{Connection, TransactionBehavior, params};

/// Rows filled in per transaction (bounds the time the write lock is held).
const FILL_BATCH: usize = 10_000;

/// A derived column and how its value is made.
pub(super) struct Derived {
    /// The column (a BLOB); its partial index is `events_without_<column>`.
    pub column: &'static str,
    /// The columns its value is made from, read after `position`.
    pub from: &'static str,
    /// What the log says while filling in (zh-CN / English).
    pub filling: &'static str,
    /// Makes the value of a row read as `position, <from>` into the buffer (cleared first).
    pub make: fn(&rusqlite::Row<'_>, &mut Vec<u8>) -> Result<(), StoreError>,
}

impl Derived {
    /// Adds the column and its index if the database predates them. Idempotent.
    pub(super) fn add_column(&self, conn: &Connection) -> Result<(), StoreError> {
        let c = self.column;
        let has_column: bool =
            conn.query_row("SELECT COUNT(*) > 0 FROM pragma_table_info('events') WHERE name = ?1", [c], |r| r.get(0))?;
        if !has_column {
            // ADD COLUMN only edits the schema: old rows read the column as NULL.
            conn.execute_batch(&format!("ALTER TABLE events ADD COLUMN {c} BLOB"))?;
        }
        conn.execute_batch(&format!(
            "CREATE INDEX IF NOT EXISTS events_without_{c} ON events (position) WHERE {c} IS NULL"
        ))?;
        Ok(())
    }

    /// Fills in every row without a value. An interrupted fill resumes at the next open.
    pub(super) fn fill_in(&self, conn: &mut Connection) -> Result<(), StoreError> {
        // Looked up first without the write lock: every open (a CLI command beside a running
        // server too) asks, and the answer is almost always no.
        let any_missing: bool =
            conn.query_row(&format!("SELECT EXISTS (SELECT 1 FROM events WHERE {} IS NULL)", self.column), [], |r| {
                r.get(0)
            })?;
        if !any_missing {
            return Ok(());
        }
        let mut filled = 0u64;
        loop {
            let n = self.fill_batch(conn)?;
            if n == 0 {
                return Ok(());
            }
            filled += n as u64;
            tracing::info!(filled, column = self.column, "{}", self.filling);
        }
    }

    /// Fills in up to [`FILL_BATCH`] rows in one transaction; returns how many.
    fn fill_batch(&self, conn: &mut Connection) -> Result<usize, StoreError> {
        let c = self.column;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut n = 0;
        {
            let mut rows_q = tx.prepare(&format!(
                "SELECT position, {} FROM events WHERE {c} IS NULL ORDER BY position LIMIT ?1",
                self.from
            ))?;
            let mut update = tx.prepare(&format!("UPDATE events SET {c} = ?1 WHERE position = ?2"))?;
            let mut rows = rows_q.query([FILL_BATCH as i64])?;
            let mut value = Vec::with_capacity(256);
            while let Some(r) = rows.next()? {
                let position: i64 = r.get(0)?;
                value.clear();
                (self.make)(r, &mut value)?;
                update.execute(params![value, position])?;
                n += 1;
            }
        }
        tx.commit()?;
        Ok(n)
    }
}
