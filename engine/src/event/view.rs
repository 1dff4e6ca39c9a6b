//! Borrowed views of a recorded event: what folds (replay, projections, chain checks) read.
//!
//! A fold only looks at an event; it never keeps the envelope. Folding views rather than owned
//! `RecordedEvent`s lets a whole-log replay decode a page of rows into one buffer
//! ([`super::EventPage`]) instead of a dozen small allocations per event.

use super::{Actor, RecordedEvent, hex};
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// Who recorded a step, borrowed. Serializes exactly like [`Actor`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub struct ActorRef<'a> {
    pub id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<&'a str>,
    pub role: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub community: Option<&'a str>,
}

impl ActorRef<'_> {
    pub fn to_actor(&self) -> Actor {
        Actor {
            id: self.id.to_string(),
            name: self.name.map(str::to_string),
            role: self.role.to_string(),
            community: self.community.map(str::to_string),
        }
    }

    /// Is this the same actor as `a`?
    pub fn is(&self, a: &Actor) -> bool {
        self.id == a.id
            && self.role == a.role
            && self.name == a.name.as_deref()
            && self.community == a.community.as_deref()
    }
}

impl<'a> From<&'a Actor> for ActorRef<'a> {
    fn from(a: &'a Actor) -> Self {
        ActorRef { id: &a.id, name: a.name.as_deref(), role: &a.role, community: a.community.as_deref() }
    }
}

/// A recorded event, borrowed. Hashes are raw bytes (the stores keep them that way).
#[derive(Debug, Clone, Copy)]
pub struct EventRef<'a> {
    pub id: Uuid,
    pub stream: &'a str,
    pub version: u64,
    pub position: u64,
    pub event_type: &'a str,
    pub schema_version: u32,
    pub recorded_at: DateTime<Utc>,
    pub actor: ActorRef<'a>,
    pub correlation_id: Option<Uuid>,
    pub causation_id: Option<Uuid>,
    /// The payload: canonical JSON text.
    pub data: &'a str,
    /// What the record reads of the payload, in byte form (`crate::issue::PayloadView`), as a
    /// store keeps it beside the payload; empty when there is none (the fold parses `data`).
    pub payload_view: &'a [u8],
    pub prev_hash: [u8; 32],
    pub hash: [u8; 32],
    /// The store left the payload out of a replay's page (`crate::event::PageFields::Views`):
    /// `data` is empty, and a fold that needs it after all must read the event again.
    pub payload_omitted: bool,
}

impl EventRef<'_> {
    /// An owned copy (for callers that keep events, e.g. an SSE page). Not for an event
    /// whose payload was left out (its copy would have an empty payload).
    pub fn to_recorded(&self) -> RecordedEvent {
        RecordedEvent {
            id: self.id,
            stream: self.stream.to_string(),
            version: self.version,
            position: self.position,
            event_type: self.event_type.to_string(),
            schema_version: self.schema_version,
            recorded_at: self.recorded_at,
            actor: self.actor.to_actor(),
            correlation_id: self.correlation_id,
            causation_id: self.causation_id,
            data: super::Payload::trusted(self.data.to_string()),
            prev_hash: hex::encode(&self.prev_hash),
            hash: hex::encode(&self.hash),
        }
    }
}

impl RecordedEvent {
    /// This event as a view. A hash that is not 64 hex digits (only possible in a hand-edited
    /// log) reads as all `0xff`, which no real SHA-256 link equals, so a chain check flags it.
    pub fn view(&self) -> EventRef<'_> {
        EventRef {
            id: self.id,
            stream: &self.stream,
            version: self.version,
            position: self.position,
            event_type: &self.event_type,
            schema_version: self.schema_version,
            recorded_at: self.recorded_at,
            actor: ActorRef::from(&self.actor),
            correlation_id: self.correlation_id,
            causation_id: self.causation_id,
            data: self.data.get(),
            payload_view: &[],
            prev_hash: hex::decode32(&self.prev_hash).unwrap_or([0xff; 32]),
            hash: hex::decode32(&self.hash).unwrap_or([0xff; 32]),
            payload_omitted: false,
        }
    }
}
