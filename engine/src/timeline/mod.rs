//! Human timelines: every step of one issue or meeting with when, who in what role, and which
//! state it moved from and to. Built from the stream's events alone (the same pure folds as
//! replay), so a timeline is evidence of the log, never a separate record; [`render`] turns it
//! into zh-CN or English Markdown or HTML. No IO.

mod render;

pub use render::render;

use crate::catalog::Catalog;
use crate::event::{Actor, RecordedEvent};
use crate::issue::{self, ReplayError};
use crate::meeting::{self, MeetingReplayError, MeetingStatus};
use crate::text::LocalizedText;
use crate::workflow::CompiledWorkflow;
use chrono::{DateTime, Utc};
use serde::Serialize;

/// What the timeline is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Subject {
    Issue,
    Meeting,
}

/// A state (issue) or status (meeting) by its code and its label.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StateLabel {
    pub name: String,
    pub title: LocalizedText,
}

/// One step: one event of the stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TimelineStep {
    pub version: u64,
    pub position: u64,
    /// Recorded time as stored (UTC); renderings show China Standard Time beside it.
    pub at: DateTime<Utc>,
    #[serde(rename = "type")]
    pub event_type: String,
    /// The event type's label from the catalog (the type itself if unknown).
    pub step: LocalizedText,
    pub actor: Actor,
    /// The actor's role with its zh-CN and English label.
    pub role: LocalizedText,
    /// None for the opening event.
    pub from: Option<StateLabel>,
    pub to: StateLabel,
}

/// The timeline of one stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Timeline {
    pub subject: Subject,
    pub id: String,
    pub stream: String,
    pub title: LocalizedText,
    pub community: String,
    /// `community-issue v1` (the pinned workflow) or the meeting kind.
    pub definition: String,
    pub steps: Vec<TimelineStep>,
}

/// zh-CN and English label of a role code (the code itself for a role the vocabulary does
/// not know, so nothing recorded is hidden).
pub fn role_label(role: &str) -> LocalizedText {
    crate::vocab::label(crate::vocab::ROLES, role)
}

fn step_label(catalog: &Catalog, event_type: &str) -> LocalizedText {
    catalog
        .get(event_type)
        .map(|t| t.label.clone())
        .unwrap_or_else(|| LocalizedText { zh: event_type.into(), en: None })
}

/// The timeline of an issue: its events folded through `wf`, the workflow version the issue
/// is pinned to (the caller looks it up with [`issue::pinned_workflow`]). A step the workflow
/// did not allow (an anomaly of replay) appears with the state unchanged.
pub fn of_issue(wf: &CompiledWorkflow, events: &[RecordedEvent], catalog: &Catalog) -> Result<Timeline, ReplayError> {
    let state = issue::replay(wf, events)?;
    let label = |name: &str| StateLabel {
        name: name.to_string(),
        title: wf
            .state_index(name)
            .map(|i| wf.state_title(i).clone())
            .unwrap_or_else(|| LocalizedText { zh: name.to_string(), en: None }),
    };
    let steps = state
        .history
        .iter()
        .map(|h| TimelineStep {
            version: h.version,
            position: h.position,
            at: h.at,
            event_type: h.event_type.to_string(),
            step: step_label(catalog, &h.event_type),
            actor: (*h.actor).clone(),
            role: role_label(&h.actor.role),
            from: h.from.as_deref().map(label),
            to: label(&h.to),
        })
        .collect();
    Ok(Timeline {
        subject: Subject::Issue,
        id: state.id,
        stream: state.stream,
        title: state.title,
        community: state.community,
        definition: format!("{} v{}", state.workflow.id, state.workflow.version),
        steps,
    })
}

fn status_label(s: MeetingStatus) -> StateLabel {
    StateLabel { name: s.as_str().to_string(), title: s.label() }
}

/// The timeline of a meeting: its events folded one by one, each step with the meeting's
/// status before and after it.
pub fn of_meeting(events: &[RecordedEvent], catalog: &Catalog) -> Result<Timeline, MeetingReplayError> {
    let (first, rest) = events.split_first().ok_or(MeetingReplayError::Empty)?;
    let mut m = meeting::start(first)?;
    let step = |e: &RecordedEvent, from: Option<MeetingStatus>, to: MeetingStatus| TimelineStep {
        version: e.version,
        position: e.position,
        at: e.recorded_at,
        event_type: e.event_type.clone(),
        step: step_label(catalog, &e.event_type),
        actor: e.actor.clone(),
        role: role_label(&e.actor.role),
        from: from.map(status_label),
        to: status_label(to),
    };
    let mut steps = vec![step(first, None, m.status)];
    for e in rest {
        let before = m.status;
        meeting::apply(&mut m, e);
        steps.push(step(e, Some(before), m.status));
    }
    let kind = crate::vocab::MEETING_KINDS
        .iter()
        .find(|(k, _, _)| *k == m.kind)
        .map(|(k, zh, en)| format!("{k} ({zh} / {en})"))
        .unwrap_or_else(|| m.kind.clone());
    Ok(Timeline {
        subject: Subject::Meeting,
        id: m.id,
        stream: m.stream,
        title: m.title,
        community: m.community,
        definition: kind,
        steps,
    })
}
