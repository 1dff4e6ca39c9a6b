//! What a meeting event implies for an issue, and the dry run of it through the issue's
//! workflow. Pure: the process manager (`service::meetings`) does the appending.
//!
//! - AgendaItemAdded → PlacedOnAgenda (when the issue's state allows it; informational);
//! - AgendaItemDeliberated → Deliberated (likewise);
//! - MotionCarried → ResolutionPassed, then each step the motion decided;
//! - MotionFailed → ResolutionRejected.
//!
//! Event ids are derived with UUID v5 from the meeting, the motion (or the meeting event) and
//! the index within the effect, so replaying the process manager never appends twice.

use super::state::{MeetingState, Motion};
use crate::catalog::Catalog;
use crate::event::{Actor, RecordedEvent, canonical_json};
use crate::issue::{self, IssueState, Refusal, Step, Votes};
use crate::text::LocalizedText;
use crate::workflow::CompiledWorkflow;
use serde_json::{Value, json};
use uuid::Uuid;

/// Namespace of the ids of events the process manager appends to issue streams.
pub const EFFECT_NAMESPACE: Uuid = Uuid::from_u128(0x9b1e_52c4_7d3a_4f08_8e61_3c2d_a7f0_11e3);

/// Events to append to one issue stream because of one meeting event.
#[derive(Debug, Clone, PartialEq)]
pub struct IssueEffect {
    pub issue_id: String,
    /// `(id, type, payload)`, appended together (all or nothing).
    pub events: Vec<(Uuid, String, Value)>,
    pub actor: Actor,
    /// Resolutions must reach their issue; agenda/deliberation notes are dropped when the
    /// issue's state no longer takes them.
    pub required: bool,
}

/// The micro step an issue event type belongs to.
pub fn micro_step_of(event_type: &str) -> Option<&'static str> {
    [
        ("MicroWish", "micro_wish"),
        ("MicroPact", "micro_pact"),
        ("MicroTeam", "micro_team"),
        ("MicroProject", "micro_project"),
        ("MicroCharity", "micro_charity"),
    ]
    .iter()
    .find(|(p, _)| event_type.starts_with(p))
    .map(|(_, s)| *s)
}

/// A decided step's payload as it is recorded: with the meeting (and the votes, where the
/// event's schema has room for them).
fn step_payload(step_type: &str, data: &Value, meeting_id: &str, votes: &Votes, catalog: &Catalog) -> Value {
    let mut d = data.clone();
    let props = catalog.get(step_type).map(|t| &t.schema["properties"]);
    if let (Some(obj), Some(props)) = (d.as_object_mut(), props) {
        if props.get("meeting_id").is_some() {
            obj.insert("meeting_id".into(), json!(meeting_id));
        }
        if props.get("votes").is_some() {
            obj.insert("votes".into(), serde_json::to_value(votes).unwrap_or(Value::Null));
        }
    }
    d
}

/// The id of the `n`th event of a motion's resolution.
pub fn resolution_event_id(meeting_id: &str, motion_id: &str, n: usize) -> Uuid {
    Uuid::new_v5(&EFFECT_NAMESPACE, format!("resolution:{meeting_id}:{motion_id}:{n}").as_bytes())
}

/// The issue events of a decided (or, for the dry run at tabling, hypothetical) outcome.
pub fn resolution_events(
    meeting_id: &str,
    motion: &Motion,
    carried: bool,
    votes: &Votes,
    explanation: Option<&LocalizedText>,
    catalog: &Catalog,
) -> Vec<(Uuid, String, Value)> {
    let mut out = Vec::new();
    if carried {
        let mut decided: Vec<&str> = motion.steps.iter().filter_map(|s| micro_step_of(&s.event_type)).collect();
        decided.dedup();
        out.push((
            "ResolutionPassed".to_string(),
            json!({
                "meeting_id": meeting_id,
                "motion_id": motion.motion_id,
                "votes": votes,
                "rule": motion.rule,
                "resolution": motion.text,
                "decided_steps": decided,
            }),
        ));
        for s in &motion.steps {
            out.push((s.event_type.clone(), step_payload(&s.event_type, &s.data, meeting_id, votes, catalog)));
        }
    } else {
        let mut d =
            json!({"meeting_id": meeting_id, "motion_id": motion.motion_id, "votes": votes, "rule": motion.rule});
        if let Some(e) = explanation {
            d["reason"] = serde_json::to_value(e).unwrap_or(Value::Null);
        }
        out.push(("ResolutionRejected".to_string(), d));
    }
    out.into_iter()
        .enumerate()
        .map(|(n, (t, d))| (resolution_event_id(meeting_id, &motion.motion_id, n), t, d))
        .collect()
}

/// The effect of one meeting event (already folded into `meeting`), if it has one.
pub fn effect_of(meeting: &MeetingState, e: &RecordedEvent, catalog: &Catalog) -> Option<IssueEffect> {
    let data = e.data_value();
    let issue_id = data["issue_id"].as_str()?.to_string();
    let derived = |n: usize| Uuid::new_v5(&EFFECT_NAMESPACE, format!("meeting-event:{}:{n}", e.id).as_bytes());
    match e.event_type.as_str() {
        "AgendaItemAdded" => {
            let mut d = json!({
                "meeting_id": meeting.id,
                "meeting_kind": meeting.kind,
                "scheduled_for": meeting.scheduled_for.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            });
            if data["proposer"].is_object() {
                d["proposer"] = data["proposer"].clone();
            }
            Some(IssueEffect {
                issue_id,
                events: vec![(derived(0), "PlacedOnAgenda".into(), d)],
                actor: e.actor.clone(),
                required: false,
            })
        }
        "AgendaItemDeliberated" => {
            let present =
                meeting.participants.iter().filter(|p| p.attendance == Some(super::state::Attendance::Present)).count();
            Some(IssueEffect {
                issue_id,
                events: vec![(
                    derived(0),
                    "Deliberated".into(),
                    json!({"meeting_id": meeting.id, "summary": data["summary"], "participants": present}),
                )],
                actor: e.actor.clone(),
                required: false,
            })
        }
        "MotionCarried" | "MotionFailed" => {
            let motion = meeting.motion(data["motion_id"].as_str()?)?;
            let votes: Votes = serde_json::from_value(data["votes"].clone()).ok()?;
            let explanation: Option<LocalizedText> = serde_json::from_value(data["explanation"].clone()).ok();
            let carried = e.event_type == "MotionCarried";
            Some(IssueEffect {
                issue_id,
                events: resolution_events(&meeting.id, motion, carried, &votes, explanation.as_ref(), catalog),
                actor: Actor::system(),
                required: true,
            })
        }
        _ => None,
    }
}

/// Decides each event in turn against the issue as the previous ones leave it, as the
/// workflow would if they were recorded one by one. Returns the issue after all of them.
pub fn dry_run(
    wf: &CompiledWorkflow,
    issue: &IssueState,
    events: &[(Uuid, String, Value)],
    actor: &Actor,
    catalog: &Catalog,
) -> Result<IssueState, Refusal> {
    let mut s = issue.clone();
    for (id, t, d) in events {
        issue::decide(wf, &s, &Step { event_type: t, data: d, actor }, catalog)?;
        let synthetic = RecordedEvent {
            id: *id,
            stream: s.stream.clone(),
            version: s.version + 1,
            position: s.position + 1,
            event_type: t.clone(),
            schema_version: 1,
            recorded_at: s.updated_at,
            actor: actor.clone(),
            correlation_id: None,
            causation_id: None,
            data: canonical_json(d).into(),
            prev_hash: String::new(),
            hash: String::new(),
        };
        issue::apply(&mut s, wf, &synthetic.view());
    }
    Ok(s)
}
