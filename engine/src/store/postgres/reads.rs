//! Reading events back: the column lists, one row into a [`RecordedEvent`], and rows into a
//! page of the log ([`CopyPageDecoder`]).

use crate::event::{
    Actor, EventPageBuilder, FOLD_COLUMNS, FoldEnvelope, PAGE_COLUMN_NAMES, PAGE_COLUMNS, PageFields, PageRow, Payload,
    RecordedEvent, RowLinks, hex,
};
use crate::issue::PayloadView;
use crate::store::{StoreError, corrupt_event};
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

/// Microseconds from the Unix epoch to PostgreSQL's (2000-01-01T00:00:00Z).
const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;

/// Signature, flags and header-extension length of `COPY … (FORMAT binary)`.
const COPY_SIGNATURE: &[u8; 11] = b"PGCOPY\n\xff\r\n\0";

/// The most fields a page's tuple has ([`Layout::Verified`]).
const COLS: usize = 18;

/// What a page's `COPY` selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Layout {
    /// `position, stream, envelope, data, payload_view`: what a fold reads (its envelope
    /// fields packed, and its payload's view).
    Packed,
    /// [`FOLD_COLUMNS`]: for a page with a row that has no envelope (an older writer's).
    FoldColumns,
    /// [`PAGE_COLUMNS`], the envelope and the payload view, checked against them (chain
    /// verification).
    Verified,
    /// [`Layout::Packed`] without the payload, for a replay ([`PageFields::Views`]): the few
    /// payloads it reads are fetched after the page by position ([`CopyPageDecoder::wanted`]).
    Views,
}

impl Layout {
    /// The layout a page of `fields` is first read in.
    pub(super) fn of(fields: PageFields) -> Layout {
        match fields {
            PageFields::All => Layout::Verified,
            PageFields::Fold => Layout::Packed,
            PageFields::Views => Layout::Views,
        }
    }

    pub(super) fn select(self) -> String {
        match self {
            Layout::Packed => "position, stream, envelope, data, payload_view".into(),
            Layout::Views => "position, stream, envelope, NULL::text, payload_view".into(),
            Layout::FoldColumns => FOLD_COLUMNS.into(),
            Layout::Verified => format!("{PAGE_COLUMNS}, envelope, payload_view"),
        }
    }

    fn count(self) -> usize {
        match self {
            Layout::Packed | Layout::Views => 5,
            Layout::FoldColumns => 12,
            Layout::Verified => 18,
        }
    }
}

/// Decodes the stream of a `COPY (SELECT {Layout::select} …) TO STDOUT (FORMAT binary)` into a
/// page, without a `Row` per event: tuples are parsed where they lie in the received chunks
/// (PostgreSQL sends one tuple per message; a tuple split across messages is joined in a small
/// carry buffer first).
pub(super) struct CopyPageDecoder {
    layout: Layout,
    header: bool,
    done: bool,
    /// A packed row without an envelope was met: the page is to be read as columns instead.
    unpacked: bool,
    carry: Vec<u8>,
    /// [`Layout::Views`]: (row, position) of each row whose payload the replay reads.
    wanted: Vec<(usize, i64)>,
}

impl CopyPageDecoder {
    pub(super) fn new(layout: Layout) -> Self {
        CopyPageDecoder { layout, header: false, done: false, unpacked: false, carry: Vec::new(), wanted: Vec::new() }
    }

    /// Did a row lack its envelope? (Then the page is incomplete: read it as [`Layout::FoldColumns`].)
    pub(super) fn unpacked(&self) -> bool {
        self.unpacked
    }

    /// Feeds one chunk of the copy stream.
    pub(super) fn feed(&mut self, chunk: &[u8], page: &mut EventPageBuilder) -> Result<(), StoreError> {
        if self.carry.is_empty() {
            let used = self.parse(chunk, page)?;
            self.carry.extend_from_slice(&chunk[used..]);
        } else {
            let mut buf = std::mem::take(&mut self.carry);
            buf.extend_from_slice(chunk);
            let used = self.parse(&buf, page)?;
            buf.drain(..used);
            self.carry = buf;
        }
        Ok(())
    }

    /// The rows of a [`Layout::Views`] page whose payloads are to be fetched, with their
    /// positions ([`crate::issue::PayloadView::read_by_replay`]).
    pub(super) fn wanted(&self) -> &[(usize, i64)] {
        &self.wanted
    }

    /// Checks the stream ended with the trailer and nothing after it.
    pub(super) fn finish(self) -> Result<(), StoreError> {
        if self.done && self.carry.is_empty() {
            Ok(())
        } else {
            Err(StoreError::Backend("truncated COPY stream from convene_events".into()))
        }
    }

    /// Parses every complete tuple of `buf`; returns how many bytes it used.
    fn parse(&mut self, buf: &[u8], page: &mut EventPageBuilder) -> Result<usize, StoreError> {
        let bad = || StoreError::Backend("malformed COPY stream from convene_events".into());
        let mut at = 0;
        if !self.header {
            // signature (11) + flags (4) + extension length (4) + extension
            if buf.len() < 19 {
                return Ok(0);
            }
            if &buf[..11] != COPY_SIGNATURE {
                return Err(bad());
            }
            let ext = u32::from_be_bytes(buf[15..19].try_into().map_err(|_| bad())?) as usize;
            if buf.len() < 19 + ext {
                return Ok(0);
            }
            at = 19 + ext;
            self.header = true;
        }
        let expected = self.layout.count();
        let mut cols: [Option<&[u8]>; COLS] = [None; COLS];
        'tuples: while at + 2 <= buf.len() {
            if self.done {
                return Err(bad());
            }
            let n = i16::from_be_bytes([buf[at], buf[at + 1]]);
            if n == -1 {
                self.done = true;
                at += 2;
                continue;
            }
            if n as usize != expected {
                return Err(bad());
            }
            let mut p = at + 2;
            for c in cols.iter_mut().take(expected) {
                let Some(len) = buf.get(p..p + 4) else { break 'tuples };
                let len = i32::from_be_bytes(len.try_into().map_err(|_| bad())?);
                p += 4;
                if len < 0 {
                    *c = None;
                } else {
                    let Some(v) = buf.get(p..p + len as usize) else { break 'tuples };
                    *c = Some(v);
                    p += len as usize;
                }
            }
            match self.layout {
                Layout::Packed | Layout::Views => match packed_row(&cols, page, self.layout == Layout::Views)? {
                    Some((row, wanted)) => {
                        if wanted {
                            self.wanted.push((page.len(), row.position as i64));
                        }
                        page.push(row);
                    }
                    None => self.unpacked = true,
                },
                Layout::FoldColumns => {
                    let (row, _) = page_row(&cols, page, PageFields::Fold)?;
                    page.push(row);
                }
                Layout::Verified => {
                    let (mut row, links) = page_row(&cols, page, PageFields::All)?;
                    check_envelope(&cols, &row, page)?;
                    check_payload_view(&cols, &mut row, page)?;
                    page.push_linked(row, links.unwrap_or_default());
                }
            }
            at = p;
        }
        Ok(at)
    }
}

/// A [`Layout::Packed`] or [`Layout::Views`] (`views`) tuple into a page row, and whether the
/// replay reads the payload a views tuple left out; `None` if it has no envelope.
fn packed_row(
    cols: &[Option<&[u8]>; COLS],
    page: &mut EventPageBuilder,
    views: bool,
) -> Result<Option<(PageRow, bool)>, StoreError> {
    let bad = |what: &str| StoreError::Backend(format!("corrupt {what} in convene_events"));
    let position =
        cols[0].and_then(|b| b.try_into().ok()).map(i64::from_be_bytes).ok_or_else(|| bad("position"))? as u64;
    let Some(blob) = cols[2] else { return Ok(None) };
    let envelope = FoldEnvelope::decode(blob).map_err(|e| corrupt_event(position, e))?;
    let stream = cols[1].ok_or_else(|| bad("stream"))?;
    // A row without a view yet (an older writer's) is folded from its payload.
    let view = cols[4].unwrap_or_default();
    let data = if views { None } else { Some(cols[3].ok_or_else(|| bad("data"))?) };
    let wanted = views && PayloadView::read_by_replay(stream, envelope.event_type, envelope.schema_version, view);
    let row = page.packed_row(position, stream, &envelope, data, view);
    row.map(|r| Some((r, wanted))).ok_or_else(|| corrupt_event(position, "recorded_at"))
}

/// Checks a [`Layout::Verified`] tuple's envelope (its 17th field) against its columns.
fn check_envelope(cols: &[Option<&[u8]>; COLS], row: &PageRow, page: &EventPageBuilder) -> Result<(), StoreError> {
    // Written by an older `convene`: folds read its columns, nothing to compare.
    let Some(stored) = cols[16] else { return Ok(()) };
    page.envelope_of(row).check_stored(stored).map_err(|e| corrupt_event(row.position, e))
}

/// Checks a [`Layout::Verified`] tuple's payload view (its 18th field) against its payload.
fn check_payload_view(
    cols: &[Option<&[u8]>; COLS],
    row: &mut PageRow,
    page: &mut EventPageBuilder,
) -> Result<(), StoreError> {
    let Some(stored) = cols[17] else { return Ok(()) };
    page.check_payload_view(row, stored).map_err(|e| corrupt_event(row.position, e))
}

/// One tuple's columns (binary format, [`PAGE_COLUMNS`] order) into a page row; its links only for
/// [`PageFields::All`].
fn page_row(
    cols: &[Option<&[u8]>; COLS],
    page: &mut EventPageBuilder,
    fields: PageFields,
) -> Result<(PageRow, Option<RowLinks>), StoreError> {
    let bad = |i: usize| StoreError::Backend(format!("corrupt {} in convene_events", PAGE_COLUMN_NAMES[i]));
    let required = |i: usize| cols[i].ok_or_else(|| bad(i));
    let int8 =
        |i: usize| -> Result<i64, StoreError> { Ok(i64::from_be_bytes(required(i)?.try_into().map_err(|_| bad(i))?)) };
    let int4 =
        |i: usize| -> Result<i32, StoreError> { Ok(i32::from_be_bytes(required(i)?.try_into().map_err(|_| bad(i))?)) };
    let uuid = |i: usize| -> Result<Option<Uuid>, StoreError> {
        cols[i].map(|b| Uuid::from_slice(b).map_err(|_| bad(i))).transpose()
    };
    let hash = |i: usize| -> Result<[u8; 32], StoreError> { required(i)?.try_into().map_err(|_| bad(i)) };
    let links = if fields == PageFields::All {
        Some(RowLinks { correlation_id: uuid(12)?, causation_id: uuid(13)?, prev_hash: hash(14)?, hash: hash(15)? })
    } else {
        None
    };
    let recorded_at =
        int8(6)?.checked_add(PG_EPOCH_MICROS).and_then(DateTime::<Utc>::from_timestamp_micros).ok_or_else(|| bad(6))?;
    let row = PageRow {
        position: int8(0)? as u64,
        id: uuid(1)?.ok_or_else(|| bad(1))?,
        stream: page.text(required(2)?),
        version: int8(3)? as u64,
        event_type: page.text(required(4)?),
        schema_version: int4(5)? as u32,
        recorded_at,
        actor_id: page.text(required(7)?),
        actor_role: page.text(required(8)?),
        actor_name: cols[9].map(|b| page.text(b)),
        actor_community: cols[10].map(|b| page.text(b)),
        data: page.text(required(11)?),
        payload_view: page.blob(&[]),
        payload_omitted: false,
    };
    Ok((row, links))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The payload view of a NeedAssessed payload the record cannot read (these tuples').
    const UNREAD_VIEW: [u8; 2] = [crate::issue::VIEW_FORMAT, 0];

    /// The envelope of tuple `p` of [`stream`], or a forged one.
    fn envelope_of(p: u64, actor_name: Option<&str>) -> Vec<u8> {
        let actor = Actor {
            id: "社工-1".into(),
            role: "social_worker".into(),
            name: actor_name.map(str::to_string),
            community: None,
        };
        let at = 1_767_225_600_000_000i64 + p as i64 * 1_000_000;
        let mut e = Vec::new();
        FoldEnvelope::of(&Uuid::from_u128(p as u128), p / 3, "NeedAssessed", 1, at, &actor).encode(&mut e);
        e
    }

    /// A binary COPY stream of `n` tuples in `layout`; `envelope(p)` gives tuple p's envelope.
    fn stream_with(n: u64, layout: Layout, envelope: impl Fn(u64) -> Option<Vec<u8>>) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(COPY_SIGNATURE);
        b.extend_from_slice(&0u32.to_be_bytes());
        b.extend_from_slice(&4u32.to_be_bytes());
        b.extend_from_slice(b"ext!");
        for p in 1..=n {
            b.extend_from_slice(&(layout.count() as i16).to_be_bytes());
            let mut field = |v: Option<&[u8]>| match v {
                Some(v) => {
                    b.extend_from_slice(&(v.len() as i32).to_be_bytes());
                    b.extend_from_slice(v);
                }
                None => b.extend_from_slice(&(-1i32).to_be_bytes()),
            };
            let id = Uuid::from_u128(p as u128);
            // 2026-01-01T00:00:00Z + p seconds, as microseconds since 2000-01-01.
            let at = 1_767_225_600_000_000i64 + p as i64 * 1_000_000 - PG_EPOCH_MICROS;
            let data = format!("{{\"n\":{p},\"说明\":\"广场舞 ✓\"}}");
            let envelope = envelope(p);
            field(Some(&(p as i64).to_be_bytes()));
            if layout == Layout::Packed {
                field(Some(format!("issue-{}", p % 3).as_bytes()));
                field(envelope.as_deref());
                field(Some(data.as_bytes()));
                field(Some(&UNREAD_VIEW));
                continue;
            }
            field(Some(id.as_bytes()));
            field(Some(format!("issue-{}", p % 3).as_bytes()));
            field(Some(&(p as i64 / 3).to_be_bytes()));
            field(Some(b"NeedAssessed"));
            field(Some(&1i32.to_be_bytes()));
            field(Some(&at.to_be_bytes()));
            field(Some("社工-1".as_bytes()));
            field(Some(b"social_worker"));
            field((p % 2 == 0).then_some("王秀英".as_bytes()));
            field(None);
            field(Some(data.as_bytes()));
            if layout == Layout::Verified {
                field(Some(id.as_bytes()));
                field(None);
                field(Some(&[p as u8; 32]));
                field(Some(&[p as u8 + 1; 32]));
                field(envelope.as_deref());
                field(Some(&UNREAD_VIEW));
            }
        }
        b.extend_from_slice(&(-1i16).to_be_bytes());
        b
    }

    fn stream(n: u64, layout: Layout) -> Vec<u8> {
        stream_with(n, layout, |p| Some(envelope_of(p, (p % 2 == 0).then_some("王秀英"))))
    }

    fn decoder(chunks: &[&[u8]], layout: Layout) -> Result<(crate::event::EventPage, bool), StoreError> {
        let mut page = EventPageBuilder::with_capacity(8, 1024);
        let mut d = CopyPageDecoder::new(layout);
        for c in chunks {
            d.feed(c, &mut page)?;
        }
        let unpacked = d.unpacked();
        d.finish()?;
        Ok((page.finish().map_err(|e| StoreError::Backend(e.to_string()))?, unpacked))
    }

    fn decode(chunks: &[&[u8]], layout: Layout) -> Result<crate::event::EventPage, StoreError> {
        decoder(chunks, layout).map(|(page, _)| page)
    }

    #[test]
    fn a_copy_stream_decodes_the_same_however_it_is_cut_into_chunks() {
        for layout in [Layout::Packed, Layout::FoldColumns, Layout::Verified] {
            let s = stream(5, layout);
            let whole = decode(&[&s], layout).expect("whole stream");
            assert_eq!(whole.len(), 5);
            let e = whole.get(3).expect("fourth event");
            assert_eq!((e.position, e.version, e.stream, e.event_type), (4, 1, "issue-1", "NeedAssessed"));
            assert_eq!(e.id, Uuid::from_u128(4));
            assert_eq!(e.recorded_at.to_rfc3339(), "2026-01-01T00:00:04+00:00");
            assert_eq!(
                (e.actor.id, e.actor.role, e.actor.name, e.actor.community),
                ("社工-1", "social_worker", Some("王秀英"), None)
            );
            assert_eq!(e.data, "{\"n\":4,\"说明\":\"广场舞 ✓\"}");
            // A verified row's view is checked against its payload, then kept for the fold.
            let view: &[u8] = if layout == Layout::FoldColumns { &[] } else { &UNREAD_VIEW };
            assert_eq!(e.payload_view, view);
            if layout == Layout::Verified {
                assert_eq!((e.correlation_id, e.causation_id), (Some(Uuid::from_u128(4)), None));
                assert_eq!((e.prev_hash, e.hash), ([4; 32], [5; 32]));
            } else {
                assert_eq!((e.correlation_id, e.hash), (None, [0; 32]));
            }
            let expected: Vec<_> = whole.iter().map(|e| e.to_recorded()).collect();
            for cut in 0..=s.len() {
                let page = decode(&[&s[..cut], &s[cut..]], layout).expect("two chunks");
                assert_eq!(page.iter().map(|e| e.to_recorded()).collect::<Vec<_>>(), expected, "cut at {cut}");
            }
            let bytes: Vec<&[u8]> = s.chunks(1).collect();
            let page = decode(&bytes, layout).expect("one byte at a time");
            assert_eq!(page.iter().map(|e| e.to_recorded()).collect::<Vec<_>>(), expected);
        }
    }

    #[test]
    fn a_packed_row_without_an_envelope_marks_the_page_for_reading_as_columns() {
        let s = stream_with(4, Layout::Packed, |p| (p != 3).then(|| envelope_of(p, (p % 2 == 0).then_some("王秀英"))));
        let (page, unpacked) = decoder(&[&s], Layout::Packed).expect("decodes");
        assert!(unpacked);
        assert_eq!(page.len(), 3, "the row without one is not made up");
        let (_, unpacked) = decoder(&[&stream(4, Layout::Packed)], Layout::Packed).expect("decodes");
        assert!(!unpacked);
    }

    #[test]
    fn a_verified_row_whose_envelope_differs_from_its_columns_is_refused() {
        // Tuple 2's envelope names another actor than its columns.
        let s = stream_with(3, Layout::Verified, |p| {
            Some(envelope_of(p, if p == 2 { Some("冒名者") } else { (p % 2 == 0).then_some("王秀英") }))
        });
        let err = decode(&[&s], Layout::Verified).expect_err("refused").to_string();
        assert!(err.contains("position 2") && err.contains("envelope"), "{err}");
        // Without an envelope (an older writer's row) there is nothing to compare.
        let s =
            stream_with(3, Layout::Verified, |p| (p != 2).then(|| envelope_of(p, (p % 2 == 0).then_some("王秀英"))));
        assert_eq!(decode(&[&s], Layout::Verified).expect("decodes").len(), 3);
    }

    #[test]
    fn a_truncated_or_malformed_copy_stream_is_an_error_not_a_short_page() {
        let s = stream(3, Layout::FoldColumns);
        for cut in 0..s.len() {
            assert!(decode(&[&s[..cut]], Layout::FoldColumns).is_err(), "stream cut at {cut} accepted");
        }
        let mut bad = s.clone();
        bad[0] = b'X';
        assert!(decode(&[&bad], Layout::FoldColumns).is_err(), "bad signature");
        // Fold columns read as the full set: the field count does not match.
        assert!(decode(&[&s], Layout::Verified).is_err(), "wrong field count");
        let mut extra = s.clone();
        extra.extend_from_slice(&12i16.to_be_bytes());
        assert!(decode(&[&extra], Layout::FoldColumns).is_err(), "data after the trailer");
        let mut short_id = stream(1, Layout::FoldColumns);
        // The id field (after the header, field count and position) claims 15 bytes, not 16.
        let at = 19 + 4 + 2 + 4 + 8;
        short_id[at..at + 4].copy_from_slice(&15i32.to_be_bytes());
        assert!(decode(&[&short_id], Layout::FoldColumns).is_err(), "a 15-byte uuid");
        // A packed envelope cut short.
        let s = stream_with(1, Layout::Packed, |p| Some(envelope_of(p, None)[..20].to_vec()));
        assert!(decode(&[&s], Layout::Packed).is_err(), "a cut envelope");
    }
}
