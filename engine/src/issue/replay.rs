//! Pure replay: `(definition, events) -> IssueState`. No IO, no clock, deterministic; the same
//! fold serves live commands, time travel and audit.

use super::record::{DeliberationRecord, Party, apply_payload};
use super::state::{Anomaly, Counts, IssueState, TransitionRecord, WorkflowRef};
use crate::event::RecordedEvent;
use crate::text::LocalizedText;
use crate::workflow::{CompiledWorkflow, OPENING_EVENT, TransitionChoice};
use serde::Deserialize;

/// Why a stream cannot be replayed as an issue at all.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ReplayError {
    #[error("stream is empty")]
    Empty,
    #[error("first event of {stream} is {found}, not IssueRaised")]
    NotAnIssue { stream: String, found: String },
    #[error("IssueRaised payload of {stream} is malformed: {message}")]
    MalformedOpening { stream: String, message: String },
    #[error("issue {stream} is pinned to workflow {id} v{version}, but replay was given {given}")]
    WrongWorkflow { stream: String, id: String, version: u32, given: String },
}

#[derive(Deserialize)]
struct Opening {
    community: String,
    workflow_id: String,
    workflow_version: u32,
    title: LocalizedText,
    #[serde(default)]
    description: Option<LocalizedText>,
    category: String,
    households_affected: u64,
    raised_by: Party,
}

/// The workflow an IssueRaised payload pins, without folding anything.
pub fn pinned_workflow(first: &RecordedEvent) -> Result<WorkflowRef, ReplayError> {
    #[derive(Deserialize)]
    struct Pin {
        workflow_id: String,
        workflow_version: u32,
    }
    if first.event_type != OPENING_EVENT {
        return Err(ReplayError::NotAnIssue { stream: first.stream.clone(), found: first.event_type.clone() });
    }
    let p: Pin = serde_json::from_str(first.data.get())
        .map_err(|e| ReplayError::MalformedOpening { stream: first.stream.clone(), message: e.to_string() })?;
    Ok(WorkflowRef { id: p.workflow_id, version: p.workflow_version })
}

/// Starts an issue from its IssueRaised event.
pub fn start(wf: &CompiledWorkflow, first: &RecordedEvent) -> Result<IssueState, ReplayError> {
    if first.event_type != OPENING_EVENT {
        return Err(ReplayError::NotAnIssue { stream: first.stream.clone(), found: first.event_type.clone() });
    }
    let o: Opening = serde_json::from_str(first.data.get())
        .map_err(|e| ReplayError::MalformedOpening { stream: first.stream.clone(), message: e.to_string() })?;
    if o.workflow_id != wf.id() || o.workflow_version != wf.version() {
        return Err(ReplayError::WrongWorkflow {
            stream: first.stream.clone(),
            id: o.workflow_id,
            version: o.workflow_version,
            given: format!("{} v{}", wf.id(), wf.version()),
        });
    }
    let s = wf.initial();
    let due_at = wf.deadline(s).and_then(|(d, _)| d.add_to(first.recorded_at));
    Ok(IssueState {
        id: super::id_of(&first.stream).unwrap_or(&first.stream).to_string(),
        stream: first.stream.clone(),
        workflow: WorkflowRef { id: o.workflow_id, version: o.workflow_version },
        community: o.community,
        title: o.title,
        description: o.description,
        category: o.category,
        households_affected: o.households_affected,
        raised_by: o.raised_by,
        raised_at: first.recorded_at,
        updated_at: first.recorded_at,
        state: wf.state_name(s).to_string(),
        state_index: s,
        state_title: wf.state_title(s).clone(),
        is_final: wf.is_final(s),
        entered_state_at: first.recorded_at,
        due_at,
        version: first.version,
        position: first.position,
        escalation_level: "community".into(),
        counts: Counts::default(),
        record: DeliberationRecord::default(),
        meetings: Vec::new(),
        history: vec![TransitionRecord {
            version: first.version,
            position: first.position,
            event_id: first.id,
            event_type: wf.event_name(&first.event_type),
            from: None,
            to: wf.state_name_shared(s),
            at: first.recorded_at,
            actor: first.actor.clone(),
        }],
        anomalies: Vec::new(),
    })
}

/// Folds one more event into the state.
pub fn apply(state: &mut IssueState, wf: &CompiledWorkflow, e: &RecordedEvent) {
    let from = state.state_index;
    let choice = wf.choose(from, &e.event_type, &mut || state.guard_context(&e.event_type, e.data.get(), &e.actor));
    let to = match choice {
        TransitionChoice::To(t) => t,
        TransitionChoice::NotInState | TransitionChoice::GuardFailed(_) => {
            state.anomalies.push(Anomaly {
                version: e.version,
                event_type: e.event_type.clone(),
                state: state.state.clone(),
                reason: match choice {
                    TransitionChoice::NotInState => "no transition for this step in this state".into(),
                    _ => "every guard of this step failed".into(),
                },
            });
            from
        }
    };
    apply_payload(
        &mut state.record,
        &mut state.counts,
        &mut state.meetings,
        &mut state.escalation_level,
        &e.event_type,
        e.data.get(),
        e.version,
        e.recorded_at,
    );
    if to != from {
        state.state_index = to;
        state.state = wf.state_name(to).to_string();
        state.state_title = wf.state_title(to).clone();
        state.is_final = wf.is_final(to);
        state.entered_state_at = e.recorded_at;
        state.due_at = wf.deadline(to).and_then(|(d, _)| d.add_to(e.recorded_at));
    }
    state.history.push(TransitionRecord {
        version: e.version,
        position: e.position,
        event_id: e.id,
        event_type: wf.event_name(&e.event_type),
        from: Some(wf.state_name_shared(from)),
        to: wf.state_name_shared(to),
        at: e.recorded_at,
        actor: e.actor.clone(),
    });
    state.version = e.version;
    state.position = e.position;
    state.updated_at = e.recorded_at;
}

/// Replays a whole stream (version order) into its state.
pub fn replay(wf: &CompiledWorkflow, events: &[RecordedEvent]) -> Result<IssueState, ReplayError> {
    let (first, rest) = events.split_first().ok_or(ReplayError::Empty)?;
    let mut s = start(wf, first)?;
    for e in rest {
        apply(&mut s, wf, e);
    }
    Ok(s)
}
