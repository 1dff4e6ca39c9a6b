//! Reading events back: the column lists, one row into a [`RecordedEvent`], and rows into a
//! page of the log ([`decode_page_row`]).

use crate::event::{Actor, EventPageBuilder, PageFields, PageRow, Payload, RecordedEvent, hex};
use crate::store::StoreError;
use chrono::{DateTime, Utc};
use tokio_postgres::Row;
use tokio_postgres::types::{FromSql, Type};
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

/// Page columns: what folds read first, then the rest (see [`PageFields`]).
pub(super) const PAGE_COLUMNS: &str = "position, id, stream, version, type, schema_version, recorded_at, actor_id, \
    actor_role, actor_name, actor_community, data, correlation_id, causation_id, prev_hash, hash";
pub(super) const FOLD_COLUMNS: &str = "position, id, stream, version, type, schema_version, recorded_at, actor_id, \
    actor_role, actor_name, actor_community, data";
const PAGE_COLUMN_NAMES: [&str; 16] = [
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

/// The bytes of one column in the binary result format, whatever its type: pages copy text
/// straight into their buffer (UTF-8 is checked once per page, not once per field as `&str`
/// would) and decode the fixed-size types themselves.
struct Raw<'a>(Option<&'a [u8]>);

impl<'a> FromSql<'a> for Raw<'a> {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Raw(Some(raw)))
    }

    fn from_sql_null(_: &Type) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Raw(None))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

/// Microseconds from the Unix epoch to PostgreSQL's (2000-01-01T00:00:00Z).
const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;

/// Decodes one row of [`PAGE_COLUMNS`] (or its prefix [`FOLD_COLUMNS`]) into `page`.
pub(super) fn decode_page_row(r: &Row, page: &mut EventPageBuilder, fields: PageFields) -> Result<PageRow, StoreError> {
    let bad = |i: usize| StoreError::Backend(format!("corrupt {} in convene_events", PAGE_COLUMN_NAMES[i]));
    let bytes = |i: usize| -> Result<Option<&[u8]>, StoreError> {
        r.try_get::<_, Raw<'_>>(i).map(|raw| raw.0).map_err(|e| corrupt(PAGE_COLUMN_NAMES[i], e))
    };
    let required = |i: usize| bytes(i)?.ok_or_else(|| bad(i));
    let int8 = |i: usize| -> Result<i64, StoreError> {
        Ok(i64::from_be_bytes(required(i)?.try_into().map_err(|_| bad(i))?))
    };
    let int4 = |i: usize| -> Result<i32, StoreError> {
        Ok(i32::from_be_bytes(required(i)?.try_into().map_err(|_| bad(i))?))
    };
    let uuid = |i: usize| -> Result<Option<Uuid>, StoreError> {
        bytes(i)?.map(|b| Uuid::from_slice(b).map_err(|_| bad(i))).transpose()
    };
    let hash = |i: usize| -> Result<[u8; 32], StoreError> { required(i)?.try_into().map_err(|_| bad(i)) };
    let all = fields == PageFields::All;
    let recorded_at = int8(6)?
        .checked_add(PG_EPOCH_MICROS)
        .and_then(DateTime::<Utc>::from_timestamp_micros)
        .ok_or_else(|| bad(6))?;
    Ok(PageRow {
        position: int8(0)? as u64,
        id: uuid(1)?.ok_or_else(|| bad(1))?,
        stream: page.text(required(2)?),
        version: int8(3)? as u64,
        event_type: page.text(required(4)?),
        schema_version: int4(5)? as u32,
        recorded_at,
        actor_id: page.text(required(7)?),
        actor_role: page.text(required(8)?),
        actor_name: bytes(9)?.map(|b| page.text(b)),
        actor_community: bytes(10)?.map(|b| page.text(b)),
        data: page.text(required(11)?),
        correlation_id: if all { uuid(12)? } else { None },
        causation_id: if all { uuid(13)? } else { None },
        prev_hash: if all { hash(14)? } else { [0; 32] },
        hash: if all { hash(15)? } else { [0; 32] },
    })
}
