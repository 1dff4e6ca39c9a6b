//! A page of the log decoded into one buffer: every text field of every event lives in one
//! `String`, the fixed-size fields in one `Vec`. Two allocations per page instead of about a
//! dozen per event, which is what whole-log replay spent most of its reading time on.

use super::{ActorRef, EventRef, FoldEnvelope, RecordedEvent};
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// Where one text field sits in the page's buffer.
#[derive(Debug, Clone, Copy)]
pub struct Span {
    start: u32,
    end: u32,
}

/// The fields of one event as a store decoded them, but its [`RowLinks`]; text fields are
/// spans of the page buffer.
#[derive(Debug, Clone, Copy)]
pub struct PageRow {
    pub position: u64,
    pub version: u64,
    pub recorded_at: DateTime<Utc>,
    pub schema_version: u32,
    pub id: Uuid,
    pub stream: Span,
    pub event_type: Span,
    pub actor_id: Span,
    pub actor_role: Span,
    pub actor_name: Option<Span>,
    pub actor_community: Option<Span>,
    pub data: Span,
    /// The payload's view in byte form (`crate::issue::PayloadView`), a span of the page's
    /// byte buffer; empty when the store has none.
    pub payload_view: Span,
    /// The payload was left out ([`PageFields::Views`]): `data` is empty.
    pub payload_omitted: bool,
}

/// A row's hashes and correlation and causation ids: what only verifying readers and exports
/// fill (98 bytes an event). A page keeps them beside its rows ([`EventPageBuilder::push_linked`]),
/// and only if some row has them: a narrow replay page's rows stay at 128 bytes, instead of
/// carrying zeros the readers wrote and the fold workers read past.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RowLinks {
    pub correlation_id: Option<Uuid>,
    pub causation_id: Option<Uuid>,
    pub prev_hash: [u8; 32],
    pub hash: [u8; 32],
}

/// Which envelope fields a page carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageFields {
    /// Everything (chain verification, exports).
    All,
    /// What folds read: hashes read as zero and correlation/causation ids as absent. Stores
    /// read the envelope fields from their packed copy ([`FoldEnvelope`]), so a row is five
    /// columns: position, stream, envelope, payload and its view.
    Fold,
    /// What a whole-log replay of issues reads (and scans that look at envelopes only, such
    /// as the meetings' process manager): [`PageFields::Fold`], but a store may leave
    /// out the payload (`payload_omitted`) of an event with a stored view, since the fold
    /// reads the view, and of an event in neither an issue nor a workflow stream, which the
    /// replay does not fold. The payload of a workflow document, and of an issue event with no
    /// view or with one an upcaster has outdated, is always there. Copying and checking the
    /// payloads a replay never reads was a tenth of its time.
    Views,
}

impl PageFields {
    /// About how many bytes of text and of payload views an event of such a page holds, so a
    /// page's buffers are sized once. A whole-log replay's buffers are the first memory it
    /// touches, and memory touched for the first time costs the kernel's zeroing: a narrow
    /// page holds about 75 bytes of text per event, a full one about 600.
    pub fn bytes_per_event(self) -> (usize, usize) {
        match self {
            PageFields::All => (640, 96),
            PageFields::Fold => (384, 96),
            PageFields::Views => (96, 96),
        }
    }
}

/// The columns of a page in the order every store decodes them, as named in both the SQLite
/// and the PostgreSQL `events` tables: what folds need first ([`FOLD_COLUMNS`]), then the rest.
pub const PAGE_COLUMNS: &str = "position, id, stream, version, type, schema_version, recorded_at, actor_id, \
    actor_role, actor_name, actor_community, data, correlation_id, causation_id, prev_hash, hash";
/// The first twelve of [`PAGE_COLUMNS`]: what a fold needs, read as columns for a row that has
/// no packed envelope (written by an older `convene`).
pub const FOLD_COLUMNS: &str = "position, id, stream, version, type, schema_version, recorded_at, actor_id, \
    actor_role, actor_name, actor_community, data";
/// [`PAGE_COLUMNS`] one by one (for errors naming a corrupt column).
pub const PAGE_COLUMN_NAMES: [&str; 16] = [
    "position",
    "id",
    "stream",
    "version",
    "type",
    "schema_version",
    "recorded_at",
    "actor_id",
    "actor_role",
    "actor_name",
    "actor_community",
    "data",
    "correlation_id",
    "causation_id",
    "prev_hash",
    "hash",
];

/// Events per page of a whole-log replay. The embedded store packs the log in runs of this
/// many events (its replay segments), so each page of a replay is one of them.
pub const REPLAY_PAGE: usize = 2_048;

/// Events in global order, decoded into one buffer.
#[derive(Debug, Default)]
pub struct EventPage {
    text: String,
    /// Binary fields (payload views), not UTF-8.
    blobs: Vec<u8>,
    rows: Vec<PageRow>,
    /// Empty, or one entry per row (see [`RowLinks`]).
    links: Vec<RowLinks>,
}

/// Buffers of dropped pages, reused by the next builder: a replay allocates a page's ~1.5 MB
/// once instead of once per page, and fresh memory was a visible cost (the kernel zeroes it).
static POOL: std::sync::Mutex<Vec<Buffers>> = std::sync::Mutex::new(Vec::new());
/// A page's text, binary fields, rows and their links.
type Buffers = (Vec<u8>, Vec<u8>, Vec<PageRow>, Vec<RowLinks>);
/// Enough for every page in flight in a replay (two per reader and per fold worker queue).
const POOLED: usize = 16;

impl Drop for EventPage {
    fn drop(&mut self) {
        let mut text = std::mem::take(&mut self.text).into_bytes();
        let mut blobs = std::mem::take(&mut self.blobs);
        let mut rows = std::mem::take(&mut self.rows);
        let mut links = std::mem::take(&mut self.links);
        if text.capacity() == 0 {
            return;
        }
        text.clear();
        blobs.clear();
        rows.clear();
        links.clear();
        if let Ok(mut pool) = POOL.lock()
            && pool.len() < POOLED
        {
            pool.push((text, blobs, rows, links));
        }
    }
}

/// Why a page could not be built: a text column that is not UTF-8, or a page over 4 GiB.
#[derive(Debug, Clone, thiserror::Error)]
#[error("corrupt page of the log: {0}")]
pub struct PageError(String);

/// Builds an [`EventPage`] row by row.
pub struct EventPageBuilder {
    bytes: Vec<u8>,
    blobs: Vec<u8>,
    rows: Vec<PageRow>,
    links: Vec<RowLinks>,
}

impl EventPageBuilder {
    pub fn with_capacity(rows: usize, bytes: usize) -> Self {
        Self::with_capacities(rows, bytes, 0)
    }

    /// A builder for a page of `rows` events of `fields` (see [`PageFields::bytes_per_event`]).
    pub fn for_page(rows: usize, fields: PageFields) -> Self {
        let (text, blobs) = fields.bytes_per_event();
        Self::with_capacities(rows, rows * text, rows * blobs)
    }

    fn with_capacities(rows: usize, bytes: usize, blob_bytes: usize) -> Self {
        let pooled = POOL.lock().ok().and_then(|mut p| p.pop());
        let (mut b, mut blobs, mut r, links) = pooled.unwrap_or_default();
        b.reserve(bytes);
        blobs.reserve(blob_bytes);
        r.reserve(rows);
        Self { bytes: b, blobs, rows: r, links }
    }

    /// Copies one binary field into the page's byte buffer (not checked as text).
    pub fn blob(&mut self, b: &[u8]) -> Span {
        let start = self.blobs.len();
        self.blobs.extend_from_slice(b);
        Span { start: start as u32, end: self.blobs.len() as u32 }
    }

    /// Copies one text field into the buffer. UTF-8 is checked once for the whole page in
    /// [`EventPageBuilder::finish`].
    pub fn text(&mut self, s: &[u8]) -> Span {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(s);
        // Offsets past u32::MAX are caught in `finish` (the buffer length is checked there).
        Span { start: start as u32, end: self.bytes.len() as u32 }
    }

    /// Rows pushed so far.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Gives row `row`, pushed without its payload, the payload `data` (fetched after the
    /// page); false if there is no such row.
    pub fn fill_payload(&mut self, row: usize, data: &[u8]) -> bool {
        let span = self.text(data);
        match self.rows.get_mut(row) {
            Some(r) => {
                r.data = span;
                r.payload_omitted = false;
                true
            }
            None => false,
        }
    }

    /// Pushes a row without links (they read as zeros and `None`).
    pub fn push(&mut self, row: PageRow) {
        if !self.links.is_empty() {
            self.links.push(RowLinks::default());
        }
        self.rows.push(row);
    }

    /// Pushes a row with its links; the rows pushed before without any read as zeros.
    pub fn push_linked(&mut self, row: PageRow, links: RowLinks) {
        self.links.resize(self.rows.len(), RowLinks::default());
        self.links.push(links);
        self.rows.push(row);
    }

    /// A fold's row from its position, stream, packed envelope, payload (`None`: left out)
    /// and payload view (pushed without links: hashes zero, correlation and causation
    /// absent); `None` if the
    /// envelope's time is out of range.
    pub fn packed_row(
        &mut self,
        position: u64,
        stream: &[u8],
        e: &FoldEnvelope<'_>,
        data: Option<&[u8]>,
        view: &[u8],
    ) -> Option<PageRow> {
        Some(PageRow {
            position,
            version: e.version,
            recorded_at: DateTime::<Utc>::from_timestamp_micros(e.recorded_us)?,
            schema_version: e.schema_version,
            id: e.id,
            stream: self.text(stream),
            event_type: self.text(e.event_type),
            actor_id: self.text(e.actor_id),
            actor_role: self.text(e.actor_role),
            actor_name: e.actor_name.map(|b| self.text(b)),
            actor_community: e.actor_community.map(|b| self.text(b)),
            data: self.text(data.unwrap_or_default()),
            payload_view: self.blob(view),
            payload_omitted: data.is_none(),
        })
    }

    /// The fold envelope a row read from the columns amounts to (to check a stored one against).
    pub fn envelope_of(&self, row: &PageRow) -> FoldEnvelope<'_> {
        let b = |s: Span| self.bytes.get(s.start as usize..s.end as usize).unwrap_or_default();
        FoldEnvelope {
            id: row.id,
            version: row.version,
            schema_version: row.schema_version,
            recorded_us: row.recorded_at.timestamp_micros(),
            event_type: b(row.event_type),
            actor_id: b(row.actor_id),
            actor_role: b(row.actor_role),
            actor_name: row.actor_name.map(b),
            actor_community: row.actor_community.map(b),
        }
    }

    /// Checks a stored payload view against the row's payload (see
    /// [`crate::issue::PayloadView::agrees`]) and, when it agrees, gives it to the row: a
    /// verifying replay then folds the view it has just checked instead of parsing the payload
    /// a second time.
    pub fn check_payload_view(&mut self, row: &mut PageRow, stored: &[u8]) -> Result<(), &'static str> {
        let b = |s: Span| self.bytes.get(s.start as usize..s.end as usize).unwrap_or_default();
        let text = |s: Span| std::str::from_utf8(b(s)).map_err(|_| "text that is not UTF-8");
        let (event_type, data) = (text(row.event_type)?, text(row.data)?);
        if !crate::issue::PayloadView::agrees(event_type, row.schema_version, data, stored) {
            return Err("a payload view that differs from its payload");
        }
        row.payload_view = self.blob(stored);
        Ok(())
    }

    pub fn finish(self) -> Result<EventPage, PageError> {
        if self.bytes.len() > u32::MAX as usize || self.blobs.len() > u32::MAX as usize {
            return Err(PageError("page buffer over 4 GiB".into()));
        }
        // One validation of the whole buffer, then each field's ends must be character
        // boundaries (a field cut inside a character could otherwise hide in valid text).
        let text = String::from_utf8(self.bytes).map_err(|e| PageError(format!("text is not UTF-8: {e}")))?;
        let ok = |s: &Span| text.is_char_boundary(s.start as usize) && text.is_char_boundary(s.end as usize);
        for r in &self.rows {
            let all = [r.stream, r.event_type, r.actor_id, r.actor_role, r.data];
            if !all.iter().chain(r.actor_name.iter()).chain(r.actor_community.iter()).all(ok) {
                return Err(PageError(format!("text of position {} is not UTF-8", r.position)));
            }
        }
        Ok(EventPage { text, blobs: self.blobs, rows: self.rows, links: self.links })
    }
}

impl EventPage {
    /// Frees the buffers kept for reuse (after a whole-log replay, so a server does not keep
    /// them for the rest of its life).
    pub fn release_pooled_buffers() {
        if let Ok(mut pool) = POOL.lock() {
            pool.clear();
        }
    }

    /// A page of owned events (for stores without a page decoder of their own).
    pub fn from_recorded(events: &[RecordedEvent]) -> EventPage {
        Self::from_recorded_with_views(events, |_| &[])
    }

    /// [`EventPage::from_recorded`], each event with the payload view `view_of` gives it.
    pub fn from_recorded_with_views<'v>(events: &[RecordedEvent], view_of: impl Fn(usize) -> &'v [u8]) -> EventPage {
        let mut b =
            EventPageBuilder::with_capacity(events.len(), events.iter().map(|e| e.data.get().len() + 128).sum());
        for (i, e) in events.iter().enumerate() {
            let mut v = e.view();
            v.payload_view = view_of(i);
            let row = PageRow {
                position: v.position,
                version: v.version,
                recorded_at: v.recorded_at,
                schema_version: v.schema_version,
                id: v.id,
                stream: b.text(v.stream.as_bytes()),
                event_type: b.text(v.event_type.as_bytes()),
                actor_id: b.text(v.actor.id.as_bytes()),
                actor_role: b.text(v.actor.role.as_bytes()),
                actor_name: v.actor.name.map(|n| b.text(n.as_bytes())),
                actor_community: v.actor.community.map(|c| b.text(c.as_bytes())),
                data: b.text(v.data.as_bytes()),
                payload_view: b.blob(v.payload_view),
                payload_omitted: false,
            };
            let links = RowLinks {
                correlation_id: v.correlation_id,
                causation_id: v.causation_id,
                prev_hash: v.prev_hash,
                hash: v.hash,
            };
            b.push_linked(row, links);
        }
        // cannot fail: every field came from a valid &str.
        b.finish().unwrap_or_default()
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Position of the last event, if any.
    pub fn last_position(&self) -> Option<u64> {
        self.rows.last().map(|r| r.position)
    }

    /// Stream of row `i`, without building the whole view.
    pub fn stream_at(&self, i: usize) -> Option<&str> {
        self.rows.get(i).map(|r| self.s(r.stream))
    }

    /// Position of row `i`.
    pub fn position_at(&self, i: usize) -> Option<u64> {
        self.rows.get(i).map(|r| r.position)
    }

    /// Recorded time of row `i`.
    pub fn recorded_at_at(&self, i: usize) -> Option<DateTime<Utc>> {
        self.rows.get(i).map(|r| r.recorded_at)
    }

    fn s(&self, span: Span) -> &str {
        // Spans were checked to be character boundaries inside the buffer in `finish`.
        &self.text[span.start as usize..span.end as usize]
    }

    pub fn get(&self, i: usize) -> Option<EventRef<'_>> {
        let r = self.rows.get(i)?;
        let l = self.links.get(i).copied().unwrap_or_default();
        Some(EventRef {
            id: r.id,
            stream: self.s(r.stream),
            version: r.version,
            position: r.position,
            event_type: self.s(r.event_type),
            schema_version: r.schema_version,
            recorded_at: r.recorded_at,
            actor: ActorRef {
                id: self.s(r.actor_id),
                name: r.actor_name.map(|s| self.s(s)),
                role: self.s(r.actor_role),
                community: r.actor_community.map(|s| self.s(s)),
            },
            correlation_id: l.correlation_id,
            causation_id: l.causation_id,
            data: self.s(r.data),
            payload_view: self
                .blobs
                .get(r.payload_view.start as usize..r.payload_view.end as usize)
                .unwrap_or_default(),
            prev_hash: l.prev_hash,
            hash: l.hash,
            payload_omitted: r.payload_omitted,
        })
    }

    pub fn iter(&self) -> impl Iterator<Item = EventRef<'_>> {
        (0..self.rows.len()).filter_map(|i| self.get(i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_field_cut_inside_a_character_is_refused_even_if_the_buffer_is_valid() {
        let mut b = EventPageBuilder::with_capacity(1, 64);
        let zhong = "中".as_bytes();
        let stream = b.text(&zhong[..1]);
        let event_type = b.text(&zhong[1..]);
        let cut = PageRow { stream, event_type, ..row(&mut b, 1) };
        b.push(cut);
        assert!(b.finish().is_err());
    }

    fn row(b: &mut EventPageBuilder, position: u64) -> PageRow {
        let stream = b.text(b"issue-a");
        let e = b.text(b"");
        PageRow {
            position,
            version: position - 1,
            recorded_at: DateTime::<Utc>::UNIX_EPOCH,
            schema_version: 1,
            id: Uuid::from_u128(position.into()),
            stream,
            event_type: e,
            actor_id: e,
            actor_role: e,
            actor_name: None,
            actor_community: None,
            data: e,
            payload_view: e,
            payload_omitted: false,
        }
    }

    #[test]
    fn hashes_and_links_read_back_as_pushed_whether_or_not_a_page_has_any() {
        // Given a page whose rows carry no hashes (a narrow page): they read as zeros.
        let mut b = EventPageBuilder::with_capacity(2, 64);
        let r = row(&mut b, 1);
        b.push(r);
        let page = b.finish().unwrap();
        let e = page.get(0).unwrap();
        assert_eq!((e.hash, e.prev_hash, e.correlation_id), ([0; 32], [0; 32], None));

        // Given a page whose second row is the first with links: each row reads its own.
        let links = |prev: u8, hash: u8, correlation_id| RowLinks {
            correlation_id,
            causation_id: None,
            prev_hash: [prev; 32],
            hash: [hash; 32],
        };
        let mut b = EventPageBuilder::with_capacity(4, 64);
        let first = row(&mut b, 1);
        b.push(first);
        let second = row(&mut b, 2);
        b.push_linked(second, links(2, 9, Some(Uuid::from_u128(7))));
        let third = row(&mut b, 3);
        b.push_linked(third, links(3, 8, None));
        let fourth = row(&mut b, 4);
        b.push(fourth);
        let page = b.finish().unwrap();
        let got: Vec<_> = page.iter().map(|e| (e.position, e.hash, e.prev_hash, e.correlation_id)).collect();
        assert_eq!(
            got,
            vec![
                (1, [0; 32], [0; 32], None),
                (2, [9; 32], [2; 32], Some(Uuid::from_u128(7))),
                (3, [8; 32], [3; 32], None),
                (4, [0; 32], [0; 32], None),
            ]
        );
    }
}
