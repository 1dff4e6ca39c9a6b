//! The fold envelope: the envelope fields a fold reads (id, version, type, schema version,
//! recorded time, actor), packed into one blob that a store keeps beside its columns.
//!
//! Why: a whole-log replay spends about a third of its instructions in the store handing over
//! column values one by one. Reading `position, stream, envelope, data` instead of the
//! fold's twelve columns halves SQLite's work per row (measured in BENCHMARKS.md, session 5).
//!
//! The blob is a copy; the columns stay the record that the hash chain covers. A reader that
//! verifies chains therefore reads the columns, and checks that the blob says the same
//! ([`FoldEnvelope::check_stored`]), so a replay never shows anything the chain does not cover.
//!
//! Layout (little-endian): `1` (format), id (16 bytes), version (u64), schema version (u32),
//! recorded time (i64, µs since the epoch), then five texts — type, actor id, actor role, actor
//! name, actor community — each a u32 length and its bytes, the length `u32::MAX` for an
//! absent (optional) text.

use uuid::Uuid;

/// The format byte this version writes and reads.
const FORMAT: u8 = 1;
/// The length that marks an absent text.
const ABSENT: u32 = u32::MAX;
/// Bytes before the texts.
const FIXED: usize = 1 + 16 + 8 + 4 + 8;

/// The envelope fields a fold reads. Texts are bytes: a page checks UTF-8 once for all of its
/// rows, and encoding takes `str::as_bytes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FoldEnvelope<'a> {
    pub id: Uuid,
    pub version: u64,
    pub schema_version: u32,
    /// Microseconds since the Unix epoch, as the stores keep it.
    pub recorded_us: i64,
    pub event_type: &'a [u8],
    pub actor_id: &'a [u8],
    pub actor_role: &'a [u8],
    pub actor_name: Option<&'a [u8]>,
    pub actor_community: Option<&'a [u8]>,
}

/// Why a blob is not a fold envelope.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    #[error("fold envelope of unknown format {0}")]
    Format(u8),
    #[error("fold envelope cut short")]
    Short,
    #[error("fold envelope has {0} bytes after its last field")]
    Trailing(usize),
    #[error("fold envelope lacks its {0}")]
    Missing(&'static str),
    #[error("其折叠信封与受哈希链保护的列不符 / its fold envelope differs from the columns its hash covers")]
    Differs,
}

impl<'a> FoldEnvelope<'a> {
    /// The envelope of an event, from the values its columns hold.
    pub fn of(
        id: &Uuid,
        version: u64,
        event_type: &'a str,
        schema_version: u32,
        recorded_us: i64,
        actor: &'a crate::event::Actor,
    ) -> FoldEnvelope<'a> {
        FoldEnvelope {
            id: *id,
            version,
            schema_version,
            recorded_us,
            event_type: event_type.as_bytes(),
            actor_id: actor.id.as_bytes(),
            actor_role: actor.role.as_bytes(),
            actor_name: actor.name.as_deref().map(str::as_bytes),
            actor_community: actor.community.as_deref().map(str::as_bytes),
        }
    }

    /// Appends the packed envelope to `out` (which the caller clears and reuses).
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.reserve(FIXED + 20 + self.text_len());
        out.push(FORMAT);
        out.extend_from_slice(self.id.as_bytes());
        out.extend_from_slice(&self.version.to_le_bytes());
        out.extend_from_slice(&self.schema_version.to_le_bytes());
        out.extend_from_slice(&self.recorded_us.to_le_bytes());
        for text in
            [Some(self.event_type), Some(self.actor_id), Some(self.actor_role), self.actor_name, self.actor_community]
        {
            match text {
                // Texts over 4 GiB cannot reach a store (payload and field limits are far
                // lower); clamping keeps the encoder total without a silent wrap.
                Some(t) => {
                    let n = u32::try_from(t.len()).unwrap_or(ABSENT - 1).min(ABSENT - 1);
                    out.extend_from_slice(&n.to_le_bytes());
                    out.extend_from_slice(&t[..n as usize]);
                }
                None => out.extend_from_slice(&ABSENT.to_le_bytes()),
            }
        }
    }

    /// Checks a stored envelope against this one (read from the hashed columns): a fold reads
    /// the stored copy, so a replay could otherwise show what no hash vouches for.
    pub fn check_stored(&self, blob: &[u8]) -> Result<(), EnvelopeError> {
        if FoldEnvelope::decode(blob)? == *self { Ok(()) } else { Err(EnvelopeError::Differs) }
    }

    fn text_len(&self) -> usize {
        self.event_type.len()
            + self.actor_id.len()
            + self.actor_role.len()
            + self.actor_name.map_or(0, <[u8]>::len)
            + self.actor_community.map_or(0, <[u8]>::len)
    }

    /// Reads a packed envelope; every length is checked against the blob.
    pub fn decode(blob: &'a [u8]) -> Result<FoldEnvelope<'a>, EnvelopeError> {
        let (&format, _) = blob.split_first().ok_or(EnvelopeError::Short)?;
        if format != FORMAT {
            return Err(EnvelopeError::Format(format));
        }
        let fixed = blob.get(..FIXED).ok_or(EnvelopeError::Short)?;
        let le8 = |at: usize| -> [u8; 8] { fixed[at..at + 8].try_into().unwrap_or_default() };
        let id = Uuid::from_slice(&fixed[1..17]).map_err(|_| EnvelopeError::Short)?;
        let version = u64::from_le_bytes(le8(17));
        let schema_version = u32::from_le_bytes(fixed[25..29].try_into().unwrap_or_default());
        let recorded_us = i64::from_le_bytes(le8(29));
        let mut rest = &blob[FIXED..];
        let mut text = || -> Result<Option<&'a [u8]>, EnvelopeError> {
            let (len, after) = rest.split_first_chunk::<4>().ok_or(EnvelopeError::Short)?;
            let len = u32::from_le_bytes(*len);
            if len == ABSENT {
                rest = after;
                return Ok(None);
            }
            let (t, after) = after.split_at_checked(len as usize).ok_or(EnvelopeError::Short)?;
            rest = after;
            Ok(Some(t))
        };
        let event_type = text()?.ok_or(EnvelopeError::Missing("type"))?;
        let actor_id = text()?.ok_or(EnvelopeError::Missing("actor id"))?;
        let actor_role = text()?.ok_or(EnvelopeError::Missing("actor role"))?;
        let actor_name = text()?;
        let actor_community = text()?;
        if !rest.is_empty() {
            return Err(EnvelopeError::Trailing(rest.len()));
        }
        Ok(FoldEnvelope {
            id,
            version,
            schema_version,
            recorded_us,
            event_type,
            actor_id,
            actor_role,
            actor_name,
            actor_community,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> FoldEnvelope<'static> {
        FoldEnvelope {
            id: Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef),
            version: 7,
            schema_version: 2,
            recorded_us: 1_795_000_000_123_456,
            event_type: b"MicroPactAdopted",
            actor_id: "社工-01".as_bytes(),
            actor_role: b"social_worker",
            actor_name: None,
            actor_community: Some(b"wuhan/wuchang/x-street/y-community"),
        }
    }

    #[test]
    fn an_envelope_reads_back_as_written() {
        let mut buf = Vec::new();
        sample().encode(&mut buf);
        assert_eq!(FoldEnvelope::decode(&buf), Ok(sample()));
        let empty = FoldEnvelope { actor_id: b"", actor_name: Some(b""), actor_community: None, ..sample() };
        buf.clear();
        empty.encode(&mut buf);
        assert_eq!(FoldEnvelope::decode(&buf), Ok(empty));
    }

    #[test]
    fn a_damaged_envelope_is_refused_not_misread() {
        let mut buf = Vec::new();
        sample().encode(&mut buf);
        for cut in 0..buf.len() {
            assert!(FoldEnvelope::decode(&buf[..cut]).is_err(), "cut at {cut} accepted");
        }
        let mut longer = buf.clone();
        longer.push(0);
        assert_eq!(FoldEnvelope::decode(&longer), Err(EnvelopeError::Trailing(1)));
        let mut other_format = buf.clone();
        other_format[0] = 9;
        assert_eq!(FoldEnvelope::decode(&other_format), Err(EnvelopeError::Format(9)));
        // The type's length says absent: a required text.
        let mut no_type = buf[..FIXED].to_vec();
        no_type.extend_from_slice(&ABSENT.to_le_bytes());
        assert_eq!(FoldEnvelope::decode(&no_type), Err(EnvelopeError::Missing("type")));
    }
}
