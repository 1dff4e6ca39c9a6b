//! The event envelope: what every deliberation step looks like once it is in the log.

mod envelope;
mod hash;
pub mod hex;
mod page;
mod payload;
mod view;

pub use envelope::{EnvelopeError, FoldEnvelope};
pub use page::{
    EventPage, EventPageBuilder, FOLD_COLUMNS, PAGE_COLUMN_NAMES, PAGE_COLUMNS, PageError, PageFields, PageRow,
    REPLAY_PAGE, RowLinks, Span,
};
pub use payload::Payload;
pub use view::{ActorRef, EventRef};

pub use hash::{
    ChainError, GENESIS_HASH, HashInput, canonical_json, chain_hash, chain_hash_bytes, event_hash_input, verify_chain,
};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use uuid::Uuid;

/// Who recorded a step, in which role, for which community.
///
/// Roles are checked against the workflow's `roles` table; the community code says where the
/// actor acts (`wuhan/wuchang/x-street` covers every community below that street).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub role: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub community: Option<String>,
}

impl Actor {
    pub fn new(id: impl Into<String>, role: impl Into<String>) -> Self {
        Self { id: id.into(), name: None, role: role.into(), community: None }
    }

    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// The engine itself (process managers, bootstrap of shipped workflows).
    pub fn system() -> Self {
        Self::new("convene", "system").named("系统 / system")
    }
}

/// An event about to be appended. Its payload is already in canonical form (sorted keys,
/// no insignificant whitespace), which is what the hash chain covers.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub id: Uuid,
    pub event_type: String,
    pub schema_version: u32,
    pub actor: Actor,
    pub correlation_id: Option<Uuid>,
    pub causation_id: Option<Uuid>,
    data: Box<RawValue>,
    /// What the record reads of the payload, in the byte form the stores keep beside it
    /// (`crate::issue::PayloadView`): made here, from the JSON value, once per event.
    payload_view: Vec<u8>,
}

impl NewEvent {
    /// Builds an event from a JSON payload, canonicalizing it once here so every store
    /// hashes and stores exactly the same bytes.
    pub fn new(event_type: impl Into<String>, data: &serde_json::Value, actor: Actor) -> Self {
        let event_type = event_type.into();
        let mut payload_view = Vec::new();
        crate::issue::PayloadView::stored_form_of_value(&event_type, 1, data, &mut payload_view);
        Self {
            id: Uuid::now_v7(),
            event_type,
            schema_version: 1,
            actor,
            correlation_id: None,
            causation_id: None,
            data: canonical_json(data),
            payload_view,
        }
    }

    pub fn with_id(mut self, id: Uuid) -> Self {
        self.id = id;
        self
    }

    pub fn with_schema_version(mut self, v: u32) -> Self {
        if v != self.schema_version {
            self.schema_version = v;
            // Whether an upcaster applies depends on the version.
            let view = &mut self.payload_view;
            crate::issue::PayloadView::stored_form(&self.event_type, v, self.data.get(), view);
        }
        self
    }

    pub fn correlated(mut self, correlation: Option<Uuid>, causation: Option<Uuid>) -> Self {
        self.correlation_id = correlation;
        self.causation_id = causation;
        self
    }

    pub fn data(&self) -> &RawValue {
        &self.data
    }

    /// The payload's view in byte form (empty for a type the record does not read).
    pub fn payload_view(&self) -> &[u8] {
        &self.payload_view
    }

    /// The event as the store recorded it (the writer's copy for its in-memory tail: the
    /// text is moved, not copied).
    pub(crate) fn into_recorded(
        self,
        stream: String,
        version: u64,
        position: u64,
        recorded_at: DateTime<Utc>,
        prev_hash: &[u8; 32],
        hash: &[u8; 32],
    ) -> RecordedEvent {
        RecordedEvent {
            id: self.id,
            stream,
            version,
            position,
            event_type: self.event_type,
            schema_version: self.schema_version,
            recorded_at,
            actor: self.actor,
            correlation_id: self.correlation_id,
            causation_id: self.causation_id,
            data: Payload::trusted(Box::<str>::from(self.data).into_string()),
            prev_hash: hex::encode(prev_hash),
            hash: hex::encode(hash),
        }
    }
}

/// An event as stored: envelope plus payload plus its link in the stream's hash chain.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RecordedEvent {
    pub id: Uuid,
    pub stream: String,
    /// 0-based, gap-free within the stream.
    pub version: u64,
    /// 1-based, gap-free across the whole log, in commit order.
    pub position: u64,
    #[serde(rename = "type")]
    pub event_type: String,
    pub schema_version: u32,
    pub recorded_at: DateTime<Utc>,
    pub actor: Actor,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub causation_id: Option<Uuid>,
    pub data: Payload,
    /// Hash of the previous event in this stream (64 zeros for version 0), hex.
    pub prev_hash: String,
    /// SHA-256 over this event's canonical bytes (see [`chain_hash`]), hex.
    pub hash: String,
}

impl PartialEq for RecordedEvent {
    fn eq(&self, o: &Self) -> bool {
        self.id == o.id
            && self.stream == o.stream
            && self.version == o.version
            && self.position == o.position
            && self.event_type == o.event_type
            && self.schema_version == o.schema_version
            && self.recorded_at == o.recorded_at
            && self.actor == o.actor
            && self.correlation_id == o.correlation_id
            && self.causation_id == o.causation_id
            && self.data.get() == o.data.get()
            && self.prev_hash == o.prev_hash
            && self.hash == o.hash
    }
}

impl RecordedEvent {
    /// The payload as a JSON value (allocates; replay uses typed views instead).
    pub fn data_value(&self) -> serde_json::Value {
        // cannot fail: the payload was produced by serde_json from a Value and stored verbatim.
        serde_json::from_str(self.data.get()).unwrap_or(serde_json::Value::Null)
    }
}
