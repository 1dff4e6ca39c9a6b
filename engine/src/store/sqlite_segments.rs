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
//! A segment's body ([`LAYOUT`] 2): the layout byte; the event count; a table of the run's
//! distinct short texts (stream names, event types, actor fields), each as a length and its
//! bytes; then per event, in position order: its stream, by its index in the table; its id
//! (16 bytes); version; schema version; recorded time, as the change from the event before;
//! its type, actor id and role by index, its actor name and community by index + 1 (0: none);
//! its view as a length and its bytes. Numbers are LEB128 varints (the time zigzagged). A run's
//! texts repeat (its ~130 issues, a dozen event types and roles), so a body is ~90 bytes an
//! event where the three copied columns are ~200: the writer writes less, a replay reads less.

use super::StoreError;
use crate::event::{FoldEnvelope, REPLAY_PAGE};
use crate::issue::VIEW_FORMAT;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use std::collections::{HashMap, HashSet};
use uuid::Uuid;

/// The table, created with the store's schema, before the derived columns' migrations (which
/// drop segments whose copies they rewrite) and [`migrate`].
pub(super) const SCHEMA: &str =
    "CREATE TABLE IF NOT EXISTS segments (first INTEGER PRIMARY KEY, format INTEGER NOT NULL, body BLOB NOT NULL);";

/// Events per segment: one page of a whole-log replay.
pub(super) const SEGMENT: u64 = REPLAY_PAGE as u64;
/// The body layout this version writes.
const LAYOUT: u8 = 2;
/// Segments packed per transaction when catching up at open (a few MB written per commit).
const PACK_BATCH: usize = 16;

/// The `format` column: the body layout and the format of the views it copies. Segments of
/// any other format are dropped when the store opens, and packed again.
fn format() -> i64 {
    (LAYOUT as i64) << 8 | VIEW_FORMAT as i64
}

/// Drops segments of another format, then packs
/// every complete run without a segment. Idempotent; an interrupted run resumes at the next
/// open. Runs after the derived columns are filled in (a run with a row lacking them is not
/// packed).
pub(super) fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
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
    let mut body = Body::default();
    for firsts in missing.chunks(PACK_BATCH) {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        for &first in firsts {
            done += usize::from(pack_with(&tx, first, &mut body)?);
        }
        tx.commit()?;
        tracing::info!(packed = done, missing = missing.len(), "打包回放段 / packing replay segments");
    }
    Ok(done)
}

/// Packs the run starting at `first` from its rows, in the caller's transaction. False, and
/// nothing written, if the run is not complete or a row lacks its envelope or view.
fn pack(conn: &Connection, first: u64) -> Result<bool, StoreError> {
    pack_with(conn, first, &mut Body::default())
}

fn pack_with(conn: &Connection, first: u64, body: &mut Body) -> Result<bool, StoreError> {
    let mut st = conn.prepare_cached(
        "SELECT position, stream, envelope, payload_view FROM events WHERE position >= ?1 AND position < ?2 \
         ORDER BY position",
    )?;
    let mut rows = st.query(params![first as i64, (first + SEGMENT) as i64])?;
    body.clear();
    let mut next = first;
    while let Some(r) = rows.next()? {
        let position: i64 = r.get(0)?;
        let (ValueRef::Text(stream), ValueRef::Blob(envelope), ValueRef::Blob(view)) =
            (r.get_ref(1)?, r.get_ref(2)?, r.get_ref(3)?)
        else {
            return Ok(false);
        };
        let Ok(envelope) = FoldEnvelope::decode(envelope) else { return Ok(false) };
        if position as u64 != next {
            return Ok(false);
        }
        body.push(stream, &envelope, view);
        next += 1;
    }
    if next != first + SEGMENT {
        return Ok(false);
    }
    body.store(conn, first)?;
    Ok(true)
}

/// A body being built, event by event.
#[derive(Debug, Default)]
struct Body {
    /// Each distinct text so far → its index in the table.
    index: HashMap<Vec<u8>, u32, foldhash::fast::FixedState>,
    /// The table: each text as a length and its bytes, in index order.
    texts: Vec<u8>,
    events: Vec<u8>,
    count: u64,
    last_us: i64,
    /// The finished body (kept to reuse its allocation).
    out: Vec<u8>,
}

impl Body {
    fn clear(&mut self) {
        self.index.clear();
        self.texts.clear();
        self.events.clear();
        self.count = 0;
        self.last_us = 0;
    }

    fn text(&mut self, t: &[u8]) -> u64 {
        if let Some(&i) = self.index.get(t) {
            return i as u64;
        }
        let i = self.index.len() as u32;
        self.index.insert(t.to_vec(), i);
        varint(&mut self.texts, t.len() as u64);
        self.texts.extend_from_slice(t);
        i as u64
    }

    fn push(&mut self, stream: &[u8], e: &FoldEnvelope<'_>, view: &[u8]) {
        let refs = [
            self.text(stream),
            self.text(e.event_type),
            self.text(e.actor_id),
            self.text(e.actor_role),
            e.actor_name.map_or(0, |t| self.text(t) + 1),
            e.actor_community.map_or(0, |t| self.text(t) + 1),
        ];
        let out = &mut self.events;
        varint(out, refs[0]);
        out.extend_from_slice(e.id.as_bytes());
        varint(out, e.version);
        varint(out, e.schema_version as u64);
        let delta = e.recorded_us.wrapping_sub(self.last_us);
        varint(out, ((delta << 1) ^ (delta >> 63)) as u64);
        self.last_us = e.recorded_us;
        for r in &refs[1..] {
            varint(out, *r);
        }
        varint(out, view.len() as u64);
        out.extend_from_slice(view);
        self.count += 1;
    }

    /// Writes the finished body as the segment starting at `first`.
    fn store(&mut self, conn: &Connection, first: u64) -> Result<(), StoreError> {
        self.out.clear();
        self.out.reserve(16 + self.texts.len() + self.events.len());
        self.out.push(LAYOUT);
        varint(&mut self.out, self.count);
        varint(&mut self.out, self.index.len() as u64);
        self.out.extend_from_slice(&self.texts);
        self.out.extend_from_slice(&self.events);
        conn.prepare_cached("INSERT OR REPLACE INTO segments (first, format, body) VALUES (?1, ?2, ?3)")?
            .execute(params![first as i64, format(), self.out])?;
        Ok(())
    }
}

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Packs segments as the writer commits their events, from the fields it has just written,
/// instead of reading a run's rows back when it completes (a quarter of a millisecond per
/// thousand events, on the writer thread every append waits for).
///
/// Holds the body of the run being written, from its first event on. After a restart, a
/// failed commit or a commit by another process, it waits for the next run to begin, and
/// packs the run it missed the start of from its rows ([`pack`]) when it completes.
#[derive(Debug, Default)]
pub(super) struct Packer {
    /// Position of the body's first event.
    first: u64,
    body: Body,
}

impl Packer {
    /// Adds the event just written at `position`, in the caller's transaction. When it ends a
    /// run, writes the run's segment: from what it was given if it saw the whole run, from
    /// the run's rows otherwise.
    pub(super) fn push(
        &mut self,
        tx: &Connection,
        position: u64,
        stream: &[u8],
        envelope: &FoldEnvelope<'_>,
        view: &[u8],
    ) -> Result<(), StoreError> {
        let follows = self.body.count > 0 && position == self.first + self.body.count;
        let starts = (position - 1).is_multiple_of(SEGMENT);
        if !follows {
            self.clear();
            self.first = position;
        }
        if follows || starts {
            self.body.push(stream, envelope, view);
        }
        if !position.is_multiple_of(SEGMENT) {
            return Ok(());
        }
        if self.body.count == SEGMENT {
            self.body.store(tx, self.first)?;
        } else {
            pack(tx, position + 1 - SEGMENT)?;
        }
        self.clear();
        Ok(())
    }

    /// Forgets the run being packed (its events were not committed, or not by this writer
    /// alone).
    pub(super) fn clear(&mut self) {
        self.body.clear();
    }
}

/// The body of the segment starting at `first`, if there is one of this format.
pub(super) fn load(conn: &Connection, first: u64) -> Result<Option<Vec<u8>>, StoreError> {
    let mut st = conn.prepare_cached("SELECT body FROM segments WHERE first = ?1 AND format = ?2")?;
    Ok(st.query_row(params![first as i64, format()], |r| r.get::<_, Vec<u8>>(0)).optional()?)
}

/// One event of a segment: its stream name, envelope fields and payload view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Entry<'a> {
    pub stream: &'a [u8],
    pub envelope: FoldEnvelope<'a>,
    pub view: &'a [u8],
}

/// Reads a body's entries in order: [`Entries::next`] [`SEGMENT`] times, each `None` if the
/// body is cut short or refers past its table, then [`Entries::finished`].
pub(super) struct Entries<'a> {
    texts: Vec<&'a [u8]>,
    rest: &'a [u8],
    left: u64,
    last_us: i64,
}

/// The entries of a body; `None` if it is not a body of this layout and run length.
pub(super) fn entries(body: &[u8]) -> Option<Entries<'_>> {
    let (&layout, mut rest) = body.split_first()?;
    if layout != LAYOUT || read_varint(&mut rest)? != SEGMENT {
        return None;
    }
    let n = read_varint(&mut rest)?;
    // Each text takes a byte at least: a count past the body is not believed.
    let mut texts = Vec::with_capacity(n.min(rest.len() as u64) as usize);
    for _ in 0..n {
        let len = read_varint(&mut rest)?;
        let (t, after) = rest.split_at_checked(usize::try_from(len).ok()?)?;
        texts.push(t);
        rest = after;
    }
    Some(Entries { texts, rest, left: SEGMENT, last_us: 0 })
}

impl<'a> Entries<'a> {
    pub(super) fn next(&mut self) -> Option<Entry<'a>> {
        self.left = self.left.checked_sub(1)?;
        let rest = &mut self.rest;
        let text =
            |rest: &mut &'a [u8], texts: &[&'a [u8]]| texts.get(usize::try_from(read_varint(rest)?).ok()?).copied();
        let optional = |rest: &mut &'a [u8], texts: &[&'a [u8]]| match read_varint(rest)? {
            0 => Some(None),
            i => texts.get(usize::try_from(i - 1).ok()?).map(|t| Some(*t)),
        };
        let stream = text(rest, &self.texts)?;
        let (id, after) = rest.split_first_chunk::<16>()?;
        *rest = after;
        let version = read_varint(rest)?;
        let schema_version = u32::try_from(read_varint(rest)?).ok()?;
        let zigzag = read_varint(rest)?;
        let delta = (zigzag >> 1) as i64 ^ -((zigzag & 1) as i64);
        self.last_us = self.last_us.wrapping_add(delta);
        let envelope = FoldEnvelope {
            id: Uuid::from_bytes(*id),
            version,
            schema_version,
            recorded_us: self.last_us,
            event_type: text(rest, &self.texts)?,
            actor_id: text(rest, &self.texts)?,
            actor_role: text(rest, &self.texts)?,
            actor_name: optional(rest, &self.texts)?,
            actor_community: optional(rest, &self.texts)?,
        };
        let len = usize::try_from(read_varint(rest)?).ok()?;
        let (view, after) = rest.split_at_checked(len)?;
        *rest = after;
        Some(Entry { stream, envelope, view })
    }

    /// How many entries have been read.
    pub(super) fn read(&self) -> u64 {
        SEGMENT - self.left
    }

    /// Whether every entry was read and nothing follows them.
    pub(super) fn finished(&self) -> bool {
        self.left == 0 && self.rest.is_empty()
    }
}

fn read_varint(rest: &mut &[u8]) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let (&b, after) = rest.split_first()?;
        *rest = after;
        v |= ((b & 0x7f) as u64).checked_shl(shift)?;
        if b < 0x80 {
            return Some(v);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Actor;

    /// The columns segments are packed from, and the segments table (as the store makes it).
    fn packed_table() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE events (position INTEGER PRIMARY KEY, stream TEXT, envelope BLOB, payload_view BLOB);",
        )
        .unwrap();
        conn.execute_batch(SCHEMA).unwrap();
        conn
    }

    /// A table of one run, migrated, and the run's body.
    fn one_run() -> (Connection, Vec<u8>) {
        let mut conn = packed_table();
        rows(&conn, 1, SEGMENT);
        migrate(&mut conn).unwrap();
        let body = load(&conn, 1).unwrap().unwrap();
        (conn, body)
    }

    fn stream(p: u64) -> String {
        format!("issue-{}", p % 7)
    }

    /// Actors with and without name and community; times that go back and jump.
    fn envelope(p: u64) -> Vec<u8> {
        let actor = Actor {
            name: p.is_multiple_of(2).then(|| format!("居民 {}", p % 5)),
            community: p.is_multiple_of(3).then(|| "wuhan/x".to_string()),
            ..Actor::new(format!("a{}", p % 11), "resident")
        };
        let us =
            if p.is_multiple_of(5) { 1_700_000_000_000_000 - p as i64 } else { 1_800_000_000_000_000 + p as i64 * 977 };
        let mut out = Vec::new();
        FoldEnvelope::of(
            &Uuid::from_u128(p as u128 * 7919),
            p / 7,
            "MicroWishCollected",
            1 + (p % 2) as u32,
            us,
            &actor,
        )
        .encode(&mut out);
        out
    }

    fn view(p: u64) -> Vec<u8> {
        vec![VIEW_FORMAT; (p % 300) as usize]
    }

    fn rows(conn: &Connection, from: u64, to: u64) {
        for p in from..=to {
            conn.execute(
                "INSERT INTO events VALUES (?1, ?2, ?3, ?4)",
                params![p as i64, stream(p), envelope(p), view(p)],
            )
            .unwrap();
        }
    }

    fn firsts(conn: &Connection) -> Vec<i64> {
        let mut st = conn.prepare("SELECT first FROM segments ORDER BY first").unwrap();
        st.query_map([], |r| r.get(0)).unwrap().collect::<Result<_, _>>().unwrap()
    }

    /// Then the segment starting at `first` reads back every row's stream, envelope and view.
    fn then_it_reads_as_its_rows(conn: &Connection, first: u64) {
        let body = load(conn, first).unwrap().unwrap();
        let mut e = entries(&body).unwrap();
        for p in first..first + SEGMENT {
            let (name, stored, v) = (stream(p), envelope(p), view(p));
            let expected =
                Entry { stream: name.as_bytes(), envelope: FoldEnvelope::decode(&stored).unwrap(), view: &v };
            assert_eq!(e.next(), Some(expected), "position {p}");
        }
        assert!(e.finished());
        assert_eq!(e.next(), None);
    }

    #[test]
    fn complete_runs_are_packed_once_with_every_row_in_order_and_the_rest_is_left_to_the_rows() {
        // Given a log of two runs and a half, the second lacking one view
        let mut conn = packed_table();
        rows(&conn, 1, 2 * SEGMENT + SEGMENT / 2);
        conn.execute("UPDATE events SET payload_view = NULL WHERE position = ?1", [SEGMENT as i64 + 5]).unwrap();
        // when the store migrates it
        migrate(&mut conn).unwrap();
        // then only the first run is packed, with each row's stream, envelope and view in order;
        assert_eq!(firsts(&conn), vec![1]);
        then_it_reads_as_its_rows(&conn, 1);
        // once the view is filled in, the next open packs the second run, and only it.
        conn.execute(
            "UPDATE events SET payload_view = ?2 WHERE position = ?1",
            params![SEGMENT as i64 + 5, view(SEGMENT + 5)],
        )
        .unwrap();
        assert_eq!(catch_up(&mut conn).unwrap(), 1);
        assert_eq!(firsts(&conn), vec![1, SEGMENT as i64 + 1]);
        then_it_reads_as_its_rows(&conn, SEGMENT + 1);
        assert_eq!(catch_up(&mut conn).unwrap(), 0);
        // A run with a hole is not packed, nor one with an envelope that does not decode.
        conn.execute("DELETE FROM events WHERE position > ?1", [2 * SEGMENT as i64]).unwrap();
        rows(&conn, 2 * SEGMENT + 2, 4 * SEGMENT);
        conn.execute("UPDATE events SET envelope = X'00' WHERE position = ?1", [3 * SEGMENT as i64 + 9]).unwrap();
        assert_eq!(catch_up(&mut conn).unwrap(), 0);
    }

    #[test]
    fn the_writer_packs_what_it_writes_as_the_rows_would_be_packed() {
        // Given rows of three runs, the second's segment as packed from its rows, and then the
        // rows of that run gone (so only what the writer hands over can pack it again)
        let conn = packed_table();
        rows(&conn, 1, 3 * SEGMENT);
        assert!(pack(&conn, SEGMENT + 1).unwrap());
        let from_rows = load(&conn, SEGMENT + 1).unwrap().unwrap();
        conn.execute_batch("DELETE FROM segments").unwrap();
        conn.execute("DELETE FROM events WHERE position > ?1 AND position <= ?2", [SEGMENT as i64, 2 * SEGMENT as i64])
            .unwrap();
        // when the writer's packer starts in the middle of the first run, and is interrupted
        // in the third (a commit by another writer in between)
        let mut packer = Packer::default();
        for p in 100..=3 * SEGMENT {
            if p == 2 * SEGMENT + 50 {
                packer.clear();
            }
            let stored = envelope(p);
            let e = FoldEnvelope::decode(&stored).unwrap();
            packer.push(&conn, p, stream(p).as_bytes(), &e, &view(p)).unwrap();
        }
        // then it packed the run it saw whole from what it was handed, byte for byte as from
        // its rows, and the two it did not see whole from their rows.
        assert_eq!(firsts(&conn), vec![1, SEGMENT as i64 + 1, 2 * SEGMENT as i64 + 1]);
        let by_writer = load(&conn, SEGMENT + 1).unwrap().unwrap();
        assert_eq!(by_writer, from_rows);
        for first in [1, SEGMENT + 1, 2 * SEGMENT + 1] {
            then_it_reads_as_its_rows(&conn, first);
        }
        // Beside its views, a body takes ~30 bytes an event (the columns it copies, ~120).
        let views: usize = (SEGMENT + 1..=2 * SEGMENT).map(|p| view(p).len()).sum();
        let overhead = (by_writer.len() - views) as f64 / SEGMENT as f64;
        assert!(overhead < 40.0, "{overhead} bytes an event");
    }

    #[test]
    fn segments_of_another_format_are_dropped_and_packed_again() {
        let (mut conn, body) = one_run();
        conn.execute("UPDATE segments SET format = 0, body = X'00'", []).unwrap();
        assert_eq!(load(&conn, 1).unwrap(), None, "another format is not read");
        migrate(&mut conn).unwrap();
        assert_eq!(load(&conn, 1).unwrap(), Some(body));
    }

    #[test]
    fn a_body_cut_short_or_too_long_or_of_another_layout_or_pointing_past_its_table_is_refused() {
        let (_conn, body) = one_run();
        let reads = |b: &[u8]| {
            let Some(mut e) = entries(b) else { return false };
            (0..SEGMENT).all(|_| e.next().is_some()) && e.finished()
        };
        assert!(reads(&body));
        assert!(!reads(&body[..body.len() - 1]));
        assert!(!reads(&[body.as_slice(), &[0]].concat()));
        let mut other = body.clone();
        other[0] = LAYOUT + 1;
        assert!(!reads(&other));
        assert!(!reads(&[]));
        // The first event's stream index (after the layout, count and table) made to point
        // past the table.
        let mut rest = &body[1..];
        read_varint(&mut rest).unwrap();
        let n = read_varint(&mut rest).unwrap();
        for _ in 0..n {
            let len = read_varint(&mut rest).unwrap() as usize;
            rest = &rest[len..];
        }
        let at = body.len() - rest.len();
        let mut past = body[..at].to_vec();
        varint(&mut past, n);
        past.extend_from_slice(&rest[1..]);
        assert!(!reads(&past));
    }
}
