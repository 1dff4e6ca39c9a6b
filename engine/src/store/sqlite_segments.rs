//! The embedded store's replay segments: each run of [`SEGMENT`] consecutive events of the log,
//! packed as a whole-log replay reads them (stream, fold envelope, payload view), in one row of
//! the `segments` table.
//!
//! Why: a replay read every event as a row of the wide `events` table, and SQLite's work per
//! row (finding the cell, decoding the record, copying each column out) was about half of a
//! replay's CPU, some 450 ns an event on the 2-core reference machine. A segment is one blob
//! for 2,048 events, split at memory speed.
//!
//! What they are: derived from the hashed columns, like the `envelope` and `payload_view`
//! columns they copy, and written in the same transaction as the event that completes them.
//! Events never change, so neither does a segment. A missing segment is never wrong, only
//! slower: a replay reads the rows of any run without one (a log written by an older `convene`,
//! rows whose derived columns are not filled in yet), and the store packs those runs when it
//! next opens. A verifying replay reads the rows, and checks every segment against them.
//!
//! A segment's body: [`LAYOUT`], the event count (u32), then per event, in position order, its
//! stream name, envelope and view, each as a u32 length and its bytes (little-endian).

use super::StoreError;
use crate::event::{FoldEnvelope, REPLAY_PAGE};
use crate::issue::VIEW_FORMAT;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use std::collections::HashSet;

/// The table, created with the store's schema (before the derived columns' migrations, which
/// drop segments whose copies they rewrite) and by [`migrate`].
pub(super) const SCHEMA: &str =
    "CREATE TABLE IF NOT EXISTS segments (first INTEGER PRIMARY KEY, format INTEGER NOT NULL, body BLOB NOT NULL);";

/// Events per segment: one page of a whole-log replay.
pub(super) const SEGMENT: u64 = REPLAY_PAGE as u64;
/// The body layout this version writes.
const LAYOUT: u8 = 1;
/// Segments packed per transaction when catching up at open (a few MB written per commit).
const PACK_BATCH: usize = 16;

/// The `format` column: the body layout and the formats of the envelopes and views it copies.
/// Segments of any other format are dropped when the store opens, and packed again.
fn format() -> i64 {
    (LAYOUT as i64) << 16 | (FoldEnvelope::FORMAT as i64) << 8 | VIEW_FORMAT as i64
}

/// Adds the table if the database predates it, drops segments of another format, then packs
/// every complete run without a segment. Idempotent; an interrupted run resumes at the next
/// open. Runs after the derived columns are filled in (a run with a row lacking them is not
/// packed).
pub(super) fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    conn.execute_batch(SCHEMA)?;
    // Asked first without the write lock: every open asks, and the answer is almost always no.
    let stale: bool =
        conn.query_row("SELECT EXISTS (SELECT 1 FROM segments WHERE format != ?1)", [format()], |r| r.get(0))?;
    if stale {
        let n = conn.execute("DELETE FROM segments WHERE format != ?1", [format()])?;
        tracing::info!(segments = n, "回放段格式变更 / replay segments of another format dropped");
    }
    catch_up(conn)?;
    Ok(())
}

/// Packs every complete run of the log that has no segment yet; returns how many it packed.
pub(super) fn catch_up(conn: &mut Connection) -> Result<usize, StoreError> {
    let last: i64 = conn.query_row("SELECT COALESCE(MAX(position), 0) FROM events", [], |r| r.get(0))?;
    let complete = last.max(0) as u64 / SEGMENT;
    let packed: HashSet<u64> = {
        let mut st = conn.prepare("SELECT first FROM segments")?;
        st.query_map([], |r| r.get::<_, i64>(0))?.map(|f| f.map(|f| f as u64)).collect::<Result<_, _>>()?
    };
    let missing: Vec<u64> = (0..complete).map(|k| k * SEGMENT + 1).filter(|f| !packed.contains(f)).collect();
    let mut done = 0;
    for firsts in missing.chunks(PACK_BATCH) {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        for &first in firsts {
            done += usize::from(pack(&tx, first)?);
        }
        tx.commit()?;
        tracing::info!(packed = done, missing = missing.len(), "打包回放段 / packing replay segments");
    }
    Ok(done)
}

/// Packs the run starting at `first` from its rows, in the caller's transaction. False, and
/// nothing written, if the run is not complete or a row lacks its envelope or view.
pub(super) fn pack(conn: &Connection, first: u64) -> Result<bool, StoreError> {
    let mut st = conn.prepare_cached(
        "SELECT position, stream, envelope, payload_view FROM events WHERE position >= ?1 AND position < ?2 \
         ORDER BY position",
    )?;
    let mut rows = st.query(params![first as i64, (first + SEGMENT) as i64])?;
    let mut body = Vec::with_capacity(SEGMENT as usize * 224);
    body.push(LAYOUT);
    body.extend_from_slice(&(SEGMENT as u32).to_le_bytes());
    let mut next = first;
    while let Some(r) = rows.next()? {
        let position: i64 = r.get(0)?;
        let (ValueRef::Text(stream), ValueRef::Blob(envelope), ValueRef::Blob(view)) =
            (r.get_ref(1)?, r.get_ref(2)?, r.get_ref(3)?)
        else {
            return Ok(false);
        };
        if position as u64 != next {
            return Ok(false);
        }
        for field in [stream, envelope, view] {
            body.extend_from_slice(&(field.len() as u32).to_le_bytes());
            body.extend_from_slice(field);
        }
        next += 1;
    }
    if next != first + SEGMENT {
        return Ok(false);
    }
    conn.prepare_cached("INSERT OR REPLACE INTO segments (first, format, body) VALUES (?1, ?2, ?3)")?
        .execute(params![first as i64, format(), body])?;
    Ok(true)
}

/// Packs segments as the writer commits their events, from the fields it has just written,
/// instead of reading a run's rows back when it completes (a quarter of a millisecond per
/// thousand events, on the writer thread every append waits for).
///
/// Holds the body of the run being written, from its first event on. After a restart, a
/// failed commit or a commit by another process, it waits for the next run to begin; the run
/// it missed is packed from its rows ([`pack`]) when it completes.
#[derive(Debug, Default)]
pub(super) struct Packer {
    /// Position of the body's first event; the body holds `count` events from there.
    first: u64,
    count: u64,
    body: Vec<u8>,
}

impl Packer {
    /// Adds the event just written at `position`. When it completes the run, writes the
    /// segment in the caller's transaction and returns the run's first position.
    pub(super) fn push(
        &mut self,
        tx: &Connection,
        position: u64,
        stream: &[u8],
        envelope: &[u8],
        view: &[u8],
    ) -> Result<Option<u64>, StoreError> {
        if self.count == 0 || position != self.first + self.count {
            // Not the next event of the run being packed: start over if a run begins here.
            self.clear();
            if !(position - 1).is_multiple_of(SEGMENT) {
                return Ok(None);
            }
            self.first = position;
            self.body.reserve(SEGMENT as usize * 224);
            self.body.push(LAYOUT);
            self.body.extend_from_slice(&(SEGMENT as u32).to_le_bytes());
        }
        for field in [stream, envelope, view] {
            self.body.extend_from_slice(&(field.len() as u32).to_le_bytes());
            self.body.extend_from_slice(field);
        }
        self.count += 1;
        if self.count < SEGMENT {
            return Ok(None);
        }
        let first = self.first;
        tx.prepare_cached("INSERT OR REPLACE INTO segments (first, format, body) VALUES (?1, ?2, ?3)")?
            .execute(params![first as i64, format(), self.body])?;
        self.clear();
        Ok(Some(first))
    }

    /// Forgets the run being packed (its events were not committed, or not by this writer
    /// alone).
    pub(super) fn clear(&mut self) {
        self.count = 0;
        self.body.clear();
    }
}

/// The body of the segment starting at `first`, if there is one of this format.
pub(super) fn load(conn: &Connection, first: u64) -> Result<Option<Vec<u8>>, StoreError> {
    let mut st = conn.prepare_cached("SELECT body FROM segments WHERE first = ?1 AND format = ?2")?;
    Ok(st.query_row(params![first as i64, format()], |r| r.get::<_, Vec<u8>>(0)).optional()?)
}

/// One event of a segment: its stream name, packed envelope and payload view, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Entry<'a> {
    pub stream: &'a [u8],
    pub envelope: &'a [u8],
    pub view: &'a [u8],
}

/// Splits a body into its [`SEGMENT`] entries; `None` if it is not a whole body of this layout.
pub(super) fn entries(body: &[u8]) -> Option<Vec<Entry<'_>>> {
    let (&layout, rest) = body.split_first()?;
    let (count, mut rest) = rest.split_first_chunk::<4>()?;
    if layout != LAYOUT || u32::from_le_bytes(*count) as u64 != SEGMENT {
        return None;
    }
    let mut field = || -> Option<&[u8]> {
        let (len, after) = rest.split_first_chunk::<4>()?;
        let (f, after) = after.split_at_checked(u32::from_le_bytes(*len) as usize)?;
        rest = after;
        Some(f)
    };
    let mut out = Vec::with_capacity(SEGMENT as usize);
    for _ in 0..SEGMENT {
        out.push(Entry { stream: field()?, envelope: field()?, view: field()? });
    }
    rest.is_empty().then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(conn: &Connection) {
        conn.execute_batch(
            "CREATE TABLE events (position INTEGER PRIMARY KEY, stream TEXT, envelope BLOB, payload_view BLOB);",
        )
        .unwrap();
    }

    fn rows(conn: &Connection, from: u64, to: u64) {
        for p in from..=to {
            conn.execute(
                "INSERT INTO events VALUES (?1, ?2, ?3, ?4)",
                params![p as i64, format!("issue-{}", p % 7), vec![1u8, p as u8], vec![VIEW_FORMAT; (p % 3) as usize]],
            )
            .unwrap();
        }
    }

    fn firsts(conn: &Connection) -> Vec<i64> {
        let mut st = conn.prepare("SELECT first FROM segments ORDER BY first").unwrap();
        st.query_map([], |r| r.get(0)).unwrap().collect::<Result<_, _>>().unwrap()
    }

    #[test]
    fn complete_runs_are_packed_once_with_every_row_in_order_and_the_rest_is_left_to_the_rows() {
        // Given a log of two runs and a half, the second lacking one view
        let mut conn = Connection::open_in_memory().unwrap();
        table(&conn);
        rows(&conn, 1, 2 * SEGMENT + SEGMENT / 2);
        conn.execute("UPDATE events SET payload_view = NULL WHERE position = ?1", [SEGMENT as i64 + 5]).unwrap();
        // when the store migrates it
        migrate(&mut conn).unwrap();
        // then only the first run is packed, with each row's stream, envelope and view in order;
        assert_eq!(firsts(&conn), vec![1]);
        let body = load(&conn, 1).unwrap().unwrap();
        let e = entries(&body).unwrap();
        assert_eq!(e.len() as u64, SEGMENT);
        assert_eq!(e[0], Entry { stream: b"issue-1", envelope: &[1, 1], view: &[VIEW_FORMAT] });
        assert_eq!(e[SEGMENT as usize - 1].stream, format!("issue-{}", SEGMENT % 7).as_bytes());
        // once the view is filled in, the next open packs the second run, and only it.
        conn.execute("UPDATE events SET payload_view = X'' WHERE position = ?1", [SEGMENT as i64 + 5]).unwrap();
        assert_eq!(catch_up(&mut conn).unwrap(), 1);
        assert_eq!(firsts(&conn), vec![1, SEGMENT as i64 + 1]);
        assert_eq!(catch_up(&mut conn).unwrap(), 0);
        // A run with a hole is not packed either.
        conn.execute("DELETE FROM events WHERE position > ?1", [2 * SEGMENT as i64]).unwrap();
        rows(&conn, 2 * SEGMENT + 2, 3 * SEGMENT + 1);
        assert_eq!(catch_up(&mut conn).unwrap(), 0);
    }

    #[test]
    fn segments_of_another_format_are_dropped_and_packed_again() {
        let mut conn = Connection::open_in_memory().unwrap();
        table(&conn);
        rows(&conn, 1, SEGMENT);
        migrate(&mut conn).unwrap();
        let body = load(&conn, 1).unwrap().unwrap();
        conn.execute("UPDATE segments SET format = 0, body = X'00'", []).unwrap();
        assert_eq!(load(&conn, 1).unwrap(), None, "another format is not read");
        migrate(&mut conn).unwrap();
        assert_eq!(load(&conn, 1).unwrap(), Some(body));
    }

    #[test]
    fn a_body_that_is_cut_short_or_too_long_or_of_another_layout_is_no_segment() {
        let mut conn = Connection::open_in_memory().unwrap();
        table(&conn);
        rows(&conn, 1, SEGMENT);
        migrate(&mut conn).unwrap();
        let body = load(&conn, 1).unwrap().unwrap();
        assert!(entries(&body).is_some());
        assert!(entries(&body[..body.len() - 1]).is_none());
        assert!(entries(&[body.as_slice(), &[0]].concat()).is_none());
        let mut other = body.clone();
        other[0] = LAYOUT + 1;
        assert!(entries(&other).is_none());
        assert!(entries(&[]).is_none());
    }
}
