//! An event's payload as stored: canonical JSON text.
//!
//! Kept as text rather than `Box<RawValue>` because building a `RawValue` re-parses the JSON
//! to validate it, which was the largest cost of reading the log. Text read back from a store
//! is trusted (it was canonical JSON when written, and `verify_chain` re-parses and checks it);
//! text from outside goes through [`Payload::parse`].

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;

#[derive(Clone, PartialEq, Eq)]
pub struct Payload(Box<str>);

impl Payload {
    /// Validates that `text` is JSON.
    pub fn parse(text: impl Into<String>) -> Result<Payload, serde_json::Error> {
        let raw = RawValue::from_string(text.into())?;
        Ok(Payload(raw.get().into()))
    }

    /// Payload text a store wrote itself (canonical JSON when it was appended).
    pub(crate) fn trusted(text: String) -> Payload {
        Payload(text.into_boxed_str())
    }

    /// The JSON text.
    pub fn get(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Payload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for Payload {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // Embedded as JSON, not as a string. Borrowed, so nothing is copied.
        let raw: &RawValue = serde_json::from_str(&self.0).map_err(serde::ser::Error::custom)?;
        raw.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Payload {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Payload, D::Error> {
        let raw = Box::<RawValue>::deserialize(d)?;
        Ok(Payload(raw.get().into()))
    }
}

impl From<Box<RawValue>> for Payload {
    fn from(raw: Box<RawValue>) -> Payload {
        Payload(raw.get().into())
    }
}
