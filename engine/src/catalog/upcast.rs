//! Upcasters: how an event written under an older schema version reads under the current one.
//!
//! An event type's schema version can be raised (`x-convene.schema_version` in its schema);
//! events already in the log keep their stored bytes and their `schema_version` forever (the
//! hash chain covers them), and every fold reads them through [`upcast`], which applies the
//! declared upcasters one version at a time until none is declared for the version reached.
//! One upcaster per (event type, from version); each is a pure function of the payload, and
//! `upcast_specs` checks that every one turns its version's fixture into a payload the current
//! schema accepts. Pure: no IO, no clock.

use crate::event::canonical_json;
use serde_json::{Map, Value};
use std::borrow::Cow;

/// One declared step `from` → `from + 1` of an event type's payload.
pub struct Upcaster {
    pub event_type: &'static str,
    pub from: u32,
    /// What changed, for people reading the registry.
    pub change: &'static str,
    pub apply: fn(&mut Map<String, Value>),
}

/// Every upcaster, the whole registry.
pub const UPCASTERS: &[Upcaster] = &[Upcaster {
    event_type: "IssueWithdrawn",
    from: 1,
    change: "v2 requires `outcome`; version 1 did not ask, so it reads as `not_recorded`",
    apply: |p| {
        p.entry("outcome").or_insert_with(|| Value::String("not_recorded".into()));
    },
}];

fn find(event_type: &str, version: u32) -> Option<&'static Upcaster> {
    UPCASTERS.iter().find(|u| u.from == version && u.event_type == event_type)
}

/// The payload of an event stored at `schema_version`, shaped as the current schema version
/// (canonical JSON). Borrowed, without parsing, when no upcaster applies: every event written
/// at its type's current version.
pub fn upcast<'a>(event_type: &str, schema_version: u32, data: &'a str) -> Cow<'a, str> {
    let Some(mut step) = find(event_type, schema_version) else {
        return Cow::Borrowed(data);
    };
    let Ok(Value::Object(mut payload)) = serde_json::from_str::<Value>(data) else {
        // Not an object: nothing an upcaster could fill in; the fold decides what to make of it.
        return Cow::Borrowed(data);
    };
    loop {
        (step.apply)(&mut payload);
        match find(event_type, step.from + 1) {
            Some(next) => step = next,
            None => break,
        }
    }
    Cow::Owned(canonical_json(&Value::Object(payload)).get().to_string())
}

/// The schema version an upcast payload of `event_type` stored at `schema_version` ends at.
pub fn upcast_version(event_type: &str, schema_version: u32) -> u32 {
    let mut v = schema_version;
    while find(event_type, v).is_some() {
        v += 1;
    }
    v
}
