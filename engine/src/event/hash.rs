//! Canonical bytes and the per-stream hash chain.
//!
//! Canonical form: JSON with object keys sorted (serde_json's default map is a BTreeMap) and
//! no insignificant whitespace. An event's hash is SHA-256 over the canonical JSON of the
//! envelope fields that do not depend on the backend (global position is deliberately left
//! out so a log can be migrated between stores and its chains still verify).

use super::{ActorRef, EventRef, RecordedEvent};
use chrono::{DateTime, Utc};
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

use uuid::Uuid;

/// `prev_hash` of every stream's first event.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Re-serializes a JSON value in canonical form.
pub fn canonical_json(value: &serde_json::Value) -> Box<RawValue> {
    // cannot fail: serializing a serde_json::Value to a string is infallible, and the
    // result is valid JSON by construction.
    let text = serde_json::to_string(value).expect("cannot fail: Value serializes");
    RawValue::from_string(text).expect("cannot fail: serde_json output is JSON")
}

/// The fields of an event that its hash covers.
pub struct HashInput<'a> {
    pub id: Uuid,
    pub stream: &'a str,
    pub version: u64,
    pub event_type: &'a str,
    pub schema_version: u32,
    pub recorded_at: DateTime<Utc>,
    pub actor: ActorRef<'a>,
    pub correlation_id: Option<Uuid>,
    pub causation_id: Option<Uuid>,
    pub data: &'a str,
    pub prev_hash: &'a str,
}

/// SHA-256 (hex) over the canonical bytes of an event.
///
/// Written by hand rather than through `serde_json::to_string` of a struct so the key order is
/// visibly sorted here, and the payload (already canonical) is embedded without a re-parse.
pub fn chain_hash(e: &HashInput<'_>) -> String {
    super::hex::encode(&chain_hash_bytes(e))
}

/// The actor in canonical form: keys sorted, absent optional fields left out (exactly what
/// `canonical_json` of its serialization gives, without the intermediate map).
#[derive(serde::Serialize)]
struct CanonicalActor<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    community: Option<&'a str>,
    id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    role: &'a str,
}

/// [`chain_hash`] as raw bytes (what the stores keep).
pub fn chain_hash_bytes(e: &HashInput<'_>) -> [u8; 32] {
    use std::io::Write;
    thread_local! {
        // The canonical bytes are assembled in one reused buffer and hashed once: the writer
        // hashes every event it appends, and small allocations were a visible part of that.
        static BUF: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    let actor = CanonicalActor { community: e.actor.community, id: e.actor.id, name: e.actor.name, role: e.actor.role };
    let mut uuid_text = [0u8; uuid::fmt::Hyphenated::LENGTH];
    BUF.with_borrow_mut(|b| {
        b.clear();
        // Writes into a Vec cannot fail; serde_json only fails on maps with non-string keys.
        let opt = |b: &mut Vec<u8>, u: Option<Uuid>, buf: &mut [u8; 36]| match u {
            Some(u) => {
                b.push(b'"');
                b.extend_from_slice(u.hyphenated().encode_lower(buf).as_bytes());
                b.push(b'"');
            }
            None => b.extend_from_slice(b"null"),
        };
        // Keys in lexicographic order: actor, causation_id, correlation_id, data, id,
        // prev_hash, recorded_at, schema_version, stream, type, version.
        b.extend_from_slice(b"{\"actor\":");
        let _ = serde_json::to_writer(&mut *b, &actor);
        b.extend_from_slice(b",\"causation_id\":");
        opt(b, e.causation_id, &mut uuid_text);
        b.extend_from_slice(b",\"correlation_id\":");
        opt(b, e.correlation_id, &mut uuid_text);
        b.extend_from_slice(b",\"data\":");
        b.extend_from_slice(e.data.as_bytes());
        b.extend_from_slice(b",\"id\":\"");
        b.extend_from_slice(e.id.hyphenated().encode_lower(&mut uuid_text).as_bytes());
        b.extend_from_slice(b"\",\"prev_hash\":\"");
        b.extend_from_slice(e.prev_hash.as_bytes());
        b.extend_from_slice(b"\",\"recorded_at\":\"");
        push_recorded_at(b, e.recorded_at);
        b.extend_from_slice(b"\",\"schema_version\":");
        let _ = write!(b, "{}", e.schema_version);
        b.extend_from_slice(b",\"stream\":");
        let _ = serde_json::to_writer(&mut *b, e.stream);
        b.extend_from_slice(b",\"type\":");
        let _ = serde_json::to_writer(&mut *b, e.event_type);
        b.extend_from_slice(b",\"version\":");
        let _ = write!(b, "{}", e.version);
        b.push(b'}');
        Sha256::digest(b.as_slice()).into()
    })
}

/// Appends `at` as `YYYY-MM-DDTHH:MM:SS.ffffffZ`, the canonical form of `recorded_at` (what
/// chrono's `%Y-%m-%dT%H:%M:%S%.6fZ` prints). Digits are written directly: every append and
/// every verification formats one, and chrono's format-string interpreter was ~6,500
/// instructions of the writer's work per event. Years outside 0..=9999 (never from the
/// clock, but representable) go through chrono, so the bytes are the same for every time.
fn push_recorded_at(b: &mut Vec<u8>, at: DateTime<Utc>) {
    use chrono::{Datelike, Timelike};
    use std::io::Write;
    let (year, t) = (at.year(), at.time());
    if !(0..=9999).contains(&year) || t.nanosecond() >= 1_000_000_000 {
        // Out of the fixed-width range, or a leap second: chrono's rendering is the reference.
        let _ = write!(b, "{}", at.format("%Y-%m-%dT%H:%M:%S%.6fZ"));
        return;
    }
    let mut out = *b"0000-00-00T00:00:00.000000Z";
    let mut put = |at: usize, width: usize, mut v: u32| {
        for i in (at..at + width).rev() {
            out[i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(0, 4, year as u32);
    put(5, 2, at.month());
    put(8, 2, at.day());
    put(11, 2, t.hour());
    put(14, 2, t.minute());
    put(17, 2, t.second());
    put(20, 6, t.nanosecond() / 1_000);
    b.extend_from_slice(&out);
}

impl RecordedEvent {
    fn hash_input(&self) -> HashInput<'_> {
        HashInput {
            id: self.id,
            stream: &self.stream,
            version: self.version,
            event_type: &self.event_type,
            schema_version: self.schema_version,
            recorded_at: self.recorded_at,
            actor: ActorRef::from(&self.actor),
            correlation_id: self.correlation_id,
            causation_id: self.causation_id,
            data: self.data.get(),
            prev_hash: &self.prev_hash,
        }
    }

    /// Recomputes this event's hash from its content.
    pub fn computed_hash(&self) -> String {
        chain_hash(&self.hash_input())
    }
}

impl EventRef<'_> {
    /// Recomputes this event's hash from its content (raw bytes).
    pub fn computed_hash(&self) -> [u8; 32] {
        let mut prev = [0u8; 64];
        let prev = super::hex::encode_into(&self.prev_hash, &mut prev);
        chain_hash_bytes(&HashInput {
            id: self.id,
            stream: self.stream,
            version: self.version,
            event_type: self.event_type,
            schema_version: self.schema_version,
            recorded_at: self.recorded_at,
            actor: self.actor,
            correlation_id: self.correlation_id,
            causation_id: self.causation_id,
            data: self.data,
            prev_hash: prev,
        })
    }
}

/// Why a stream's chain does not verify.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ChainError {
    #[error("stream {stream}: expected version {expected}, found {found} (gap or reorder)")]
    VersionGap { stream: String, expected: u64, found: u64 },
    #[error("stream {stream} version {version}: prev_hash does not link to the previous event")]
    BrokenLink { stream: String, version: u64 },
    #[error("stream {stream} version {version}: content does not match its hash (altered)")]
    Altered { stream: String, version: u64 },
    #[error("stream {stream} version {version}: payload is not in canonical form")]
    NotCanonical { stream: String, version: u64 },
}

/// Verifies one stream's events (in version order, starting at version 0): versions
/// gap-free, every link intact, every hash matching its content.
pub fn verify_chain(events: &[RecordedEvent]) -> Result<(), ChainError> {
    let mut prev = GENESIS_HASH.to_string();
    for (i, e) in events.iter().enumerate() {
        if e.version != i as u64 {
            return Err(ChainError::VersionGap { stream: e.stream.clone(), expected: i as u64, found: e.version });
        }
        if e.prev_hash != prev {
            return Err(ChainError::BrokenLink { stream: e.stream.clone(), version: e.version });
        }
        let reparsed: serde_json::Value = serde_json::from_str(e.data.get())
            .map_err(|_| ChainError::NotCanonical { stream: e.stream.clone(), version: e.version })?;
        if canonical_json(&reparsed).get() != e.data.get() {
            return Err(ChainError::NotCanonical { stream: e.stream.clone(), version: e.version });
        }
        if e.computed_hash() != e.hash {
            return Err(ChainError::Altered { stream: e.stream.clone(), version: e.version });
        }
        prev = e.hash.clone();
    }
    Ok(())
}

/// The hash input of an event about to be stored at `stream`/`version`.
pub fn event_hash_input<'a>(
    e: &'a super::NewEvent,
    stream: &'a str,
    version: u64,
    recorded_at: DateTime<Utc>,
    prev_hash: &'a str,
) -> HashInput<'a> {
    HashInput {
        id: e.id,
        stream,
        version,
        event_type: &e.event_type,
        schema_version: e.schema_version,
        recorded_at,
        actor: ActorRef::from(&e.actor),
        correlation_id: e.correlation_id,
        causation_id: e.causation_id,
        data: e.data().get(),
        prev_hash,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_at_is_written_exactly_as_chrono_formats_it() {
        let mut micros: i64 = -62_000_000_000_000_000; // before year 0: chrono's rendering
        let mut n = 0u64;
        while micros < 260_000_000_000_000_000 {
            let at = DateTime::<Utc>::from_timestamp_micros(micros).unwrap();
            let mut b = Vec::new();
            push_recorded_at(&mut b, at);
            assert_eq!(String::from_utf8(b).unwrap(), at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(), "{micros}");
            // A stride that visits every field's digits (and the leap-year days) over the range.
            n = n.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            micros += 1_000_003_333_337 + (n >> 40) as i64;
        }
    }
    use crate::event::Actor;
    use chrono::SecondsFormat;

    #[test]
    fn the_hash_covers_exactly_the_documented_canonical_bytes() {
        let actor = Actor { id: "u1".into(), name: Some("王秀英".into()), role: "resident".into(), community: None };
        let id = Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0001);
        let at = DateTime::<Utc>::from_timestamp_micros(1_764_000_000_123_456).unwrap();
        let input = HashInput {
            id,
            stream: "issue-\"x\"",
            version: 3,
            event_type: "NeedAssessed",
            schema_version: 1,
            recorded_at: at,
            actor: ActorRef::from(&actor),
            correlation_id: Some(id),
            causation_id: None,
            data: "{\"a\":1}",
            prev_hash: GENESIS_HASH,
        };
        let expected = format!(
            "{{\"actor\":{{\"id\":\"u1\",\"name\":\"王秀英\",\"role\":\"resident\"}},\"causation_id\":null,\"correlation_id\":\"{id}\",\"data\":{{\"a\":1}},\"id\":\"{id}\",\"prev_hash\":\"{GENESIS_HASH}\",\"recorded_at\":\"{}\",\"schema_version\":1,\"stream\":\"issue-\\\"x\\\"\",\"type\":\"NeedAssessed\",\"version\":3}}",
            at.to_rfc3339_opts(SecondsFormat::Micros, true)
        );
        assert_eq!(chain_hash(&input), hex::encode(Sha256::digest(expected.as_bytes())));
    }

    #[test]
    fn canonical_actor_matches_canonical_json_of_the_actor() {
        for a in [
            Actor::new("u1", "resident"),
            Actor {
                id: "u2".into(),
                name: Some("王秀英".into()),
                role: "convener".into(),
                community: Some("wuhan/x".into()),
            },
        ] {
            let direct = serde_json::to_string(&CanonicalActor {
                community: a.community.as_deref(),
                id: &a.id,
                name: a.name.as_deref(),
                role: &a.role,
            })
            .unwrap();
            assert_eq!(direct, canonical_json(&serde_json::to_value(&a).unwrap()).get());
        }
    }
}
