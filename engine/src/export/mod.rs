//! Exports for auditors: the whole log as JSONL (every envelope and payload, in global order,
//! exactly the stored bytes of each payload; verifiable on its own with
//! `convene audit verify --file`; personal values stay sealed), and as CSV (one row per
//! event, for people: personal values revealed while their person's key exists, erased after).
//!
//! Pure formatting of events; reading the store is the caller's page loop ([`export`]).

use crate::event::RecordedEvent;
use crate::privacy::PersonKeys;
use crate::store::{EventStore, StoreError};
use std::io::Write;

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Jsonl,
    Csv,
}

impl Format {
    pub fn parse(s: &str) -> Option<Format> {
        match s {
            "jsonl" | "ndjson" => Some(Format::Jsonl),
            "csv" => Some(Format::Csv),
            _ => None,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Jsonl => "application/x-ndjson; charset=utf-8",
            Format::Csv => "text/csv; charset=utf-8",
        }
    }
}

/// Header row of the CSV export.
pub const CSV_HEADER: &str = "position,stream,version,type,schema_version,recorded_at,actor_id,actor_role,actor_name,actor_community,correlation_id,causation_id,data,prev_hash,hash\n";

/// One JSONL line (with its newline). The payload is embedded as stored.
pub fn jsonl_line(e: &RecordedEvent, out: &mut Vec<u8>) {
    // Serializing a RecordedEvent cannot fail: every field is a string, number or stored JSON.
    let _ = serde_json::to_writer(&mut *out, e);
    out.push(b'\n');
}

/// RFC 4180 field: quoted when it holds a comma, quote, CR or LF; quotes doubled. Fields that
/// a spreadsheet would read as a formula are prefixed with `'` (CSV injection).
fn csv_field(s: &str, out: &mut Vec<u8>) {
    let formula = s.starts_with(['=', '+', '-', '@', '\t', '\r']);
    let quote = formula || s.contains([',', '"', '\r', '\n']);
    if quote {
        out.push(b'"');
    }
    if formula {
        out.push(b'\'');
    }
    for b in s.bytes() {
        if b == b'"' {
            out.push(b'"');
        }
        out.push(b);
    }
    if quote {
        out.push(b'"');
    }
}

/// One CSV row (with its newline): the stored payload.
pub fn csv_row(e: &RecordedEvent, out: &mut Vec<u8>) {
    csv_row_with(e, e.data.get(), out)
}

/// One CSV row with `data` in the payload column (the payload with its personal values
/// revealed, or shown as erased).
pub fn csv_row_with(e: &RecordedEvent, data: &str, out: &mut Vec<u8>) {
    let opt = |u: Option<uuid::Uuid>| u.map(|u| u.to_string()).unwrap_or_default();
    let fields = [
        e.position.to_string(),
        e.stream.clone(),
        e.version.to_string(),
        e.event_type.clone(),
        e.schema_version.to_string(),
        e.recorded_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        e.actor.id.clone(),
        e.actor.role.clone(),
        e.actor.name.clone().unwrap_or_default(),
        e.actor.community.clone().unwrap_or_default(),
        opt(e.correlation_id),
        opt(e.causation_id),
        data.to_string(),
        e.prev_hash.clone(),
        e.hash.clone(),
    ];
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        csv_field(f, out);
    }
    out.push(b'\n');
}

/// Writes one page of events. CSV with a keyring shows payloads with their personal values
/// revealed (or erased): it is read by people, in spreadsheets. JSONL always carries the
/// stored bytes, sealed, so the hashes verify.
async fn write_page(
    events: &[RecordedEvent],
    format: Format,
    keys: Option<&PersonKeys>,
    buf: &mut Vec<u8>,
) -> Result<(), ExportError> {
    match (format, keys) {
        (Format::Jsonl, _) => events.iter().for_each(|e| jsonl_line(e, buf)),
        (Format::Csv, None) => events.iter().for_each(|e| csv_row(e, buf)),
        (Format::Csv, Some(keys)) => {
            let mut values: Vec<serde_json::Value> = events.iter().map(RecordedEvent::data_value).collect();
            let persons: std::collections::BTreeSet<String> =
                values.iter().flat_map(crate::privacy::persons_in).collect();
            let held = if persons.is_empty() { Default::default() } else { keys.keys_of(persons).await? };
            for (e, v) in events.iter().zip(values.iter_mut()) {
                if e.data.get().contains("\"$pii\"") {
                    crate::privacy::reveal(v, &mut |p: &str| held.get(p).copied());
                    csv_row_with(e, crate::event::canonical_json(v).get(), buf);
                } else {
                    csv_row(e, buf);
                }
            }
        }
    }
    Ok(())
}

/// Writes the events of `store` (all, or one stream's when `stream` is given) in global order.
/// With `keys`, CSV payloads are revealed (see `write_page`).
pub async fn export(
    store: &dyn EventStore,
    stream: Option<&str>,
    format: Format,
    keys: Option<&PersonKeys>,
    mut out: impl Write,
) -> Result<u64, ExportError> {
    let mut n = 0u64;
    let mut buf = Vec::with_capacity(64 * 1024);
    if format == Format::Csv {
        buf.extend_from_slice(CSV_HEADER.as_bytes());
    }
    match stream {
        Some(s) => {
            let events = crate::store::read_stream_all(store, s).await?;
            write_page(&events, format, keys, &mut buf).await?;
            n += events.len() as u64;
        }
        None => {
            let mut after = 0;
            loop {
                let page = store.read_all(after, 4096).await?;
                let Some(last) = page.last() else { break };
                after = last.position;
                write_page(&page, format, keys, &mut buf).await?;
                n += page.len() as u64;
                out.write_all(&buf)?;
                buf.clear();
            }
        }
    }
    out.write_all(&buf)?;
    out.flush()?;
    Ok(n)
}

/// Why an export stopped (the output is incomplete; the caller deletes it).
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot write the export: {0}")]
    Io(#[from] std::io::Error),
    #[error("keyring: {0}")]
    Keys(#[from] crate::secrets::SecretsError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_and_defuses_formulas() {
        let mut out = Vec::new();
        csv_field("a,\"b\"", &mut out);
        out.push(b'|');
        csv_field("=HYPERLINK(1)", &mut out);
        out.push(b'|');
        csv_field("plain", &mut out);
        assert_eq!(String::from_utf8(out).unwrap(), "\"a,\"\"b\"\"\"|\"'=HYPERLINK(1)\"|plain");
    }
}
