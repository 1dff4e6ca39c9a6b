//! Pure replay: `(definition, events) -> IssueState`. No IO, no clock, deterministic; the same
//! fold serves live commands, time travel and audit.

pub use super::payload_view::Opening;
use super::payload_view::PayloadView;
use super::record::{DeliberationRecord, apply_view, push_compact};
use super::state::{Anomaly, Counts, IssueState, StepContext, TransitionRecord, WorkflowRef};
use crate::catalog::upcast;
use crate::event::{Actor, ActorRef, EventRef, RecordedEvent};
use crate::workflow::{CompiledWorkflow, OPENING_EVENT, TransitionChoice};
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::Arc;

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
    /// The fold needs the payload of an event whose payload was left out of its page.
    #[error(transparent)]
    PayloadLeftOut(#[from] PayloadLeftOut),
}

/// A fold needed the payload of an event that a replay's page left out
/// (`crate::event::PageFields::Views`): its view was unusable, or a guard read a field the
/// view does not hold. Nothing was folded; the event must be folded again with its payload.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("the payload of {stream} version {version} was left out of the page, and its fold needs it")]
pub struct PayloadLeftOut {
    pub stream: String,
    pub version: u64,
}

impl PayloadLeftOut {
    fn of(e: &EventRef<'_>) -> PayloadLeftOut {
        PayloadLeftOut { stream: e.stream.to_string(), version: e.version }
    }
}

/// The workflow an IssueRaised payload pins, without folding anything.
pub fn pinned_workflow(first: &EventRef<'_>) -> Result<WorkflowRef, ReplayError> {
    let o = Opening::read(first)?;
    Ok(WorkflowRef { id: o.workflow_id, version: o.workflow_version })
}

impl Opening {
    /// Reads the first event of an issue stream (upcast to the current schema).
    pub fn read(first: &EventRef<'_>) -> Result<Opening, ReplayError> {
        if first.event_type != OPENING_EVENT {
            return Err(ReplayError::NotAnIssue {
                stream: first.stream.to_string(),
                found: first.event_type.to_string(),
            });
        }
        if let Some(PayloadView::Raised(o)) =
            PayloadView::stored(first.event_type, first.schema_version, first.payload_view)
        {
            return Ok(o);
        }
        if first.payload_omitted {
            return Err(PayloadLeftOut::of(first).into());
        }
        let data = upcast(first.event_type, first.schema_version, first.data);
        serde_json::from_str(&data)
            .map_err(|e| ReplayError::MalformedOpening { stream: first.stream.to_string(), message: e.to_string() })
    }

    /// The workflow version the issue is pinned to.
    pub fn pin(&self) -> (&str, u32) {
        (&self.workflow_id, self.workflow_version)
    }
}

/// Starts an issue from its IssueRaised event.
pub fn start(wf: &CompiledWorkflow, first: &EventRef<'_>) -> Result<IssueState, ReplayError> {
    start_with(wf, first, &mut Actors::default())
}

/// [`start`], sharing actor values through `actors`.
pub fn start_with(wf: &CompiledWorkflow, first: &EventRef<'_>, actors: &mut Actors) -> Result<IssueState, ReplayError> {
    start_opened(wf, first, Opening::read(first)?, actors)
}

/// [`start_with`] from an opening already read (a replay reads it once to find the workflow).
pub fn start_opened(
    wf: &CompiledWorkflow,
    first: &EventRef<'_>,
    o: Opening,
    actors: &mut Actors,
) -> Result<IssueState, ReplayError> {
    if o.workflow_id != wf.id() || o.workflow_version != wf.version() {
        return Err(ReplayError::WrongWorkflow {
            stream: first.stream.to_string(),
            id: o.workflow_id,
            version: o.workflow_version,
            given: format!("{} v{}", wf.id(), wf.version()),
        });
    }
    let s = wf.initial();
    let due_at = wf.deadline(s).and_then(|(d, _)| d.add_to(first.recorded_at));
    Ok(IssueState {
        id: super::id_of(first.stream).unwrap_or(first.stream).to_string(),
        stream: first.stream.to_string(),
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
            event_type: wf.event_name(first.event_type),
            from: None,
            to: wf.state_name_interned(s),
            at: first.recorded_at,
            actor: actors.get(first.actor),
        }],
        anomalies: Vec::new(),
    })
}

/// Folds one more event into the state.
pub fn apply(state: &mut IssueState, wf: &CompiledWorkflow, e: &EventRef<'_>) {
    apply_with(state, wf, e, &mut Actors::default())
}

/// [`apply`], sharing actor values through `actors`. For an event with its payload.
pub fn apply_with(state: &mut IssueState, wf: &CompiledWorkflow, e: &EventRef<'_>, actors: &mut Actors) {
    // Cannot fail: only an event whose payload was left out of a replay's page can.
    let _ = try_apply_with(state, wf, e, actors);
}

/// [`apply_with`] for an event whose payload may have been left out of the page: if the fold
/// needs it after all, the state is left as it was.
pub fn try_apply_with(
    state: &mut IssueState,
    wf: &CompiledWorkflow,
    e: &EventRef<'_>,
    actors: &mut Actors,
) -> Result<(), PayloadLeftOut> {
    let from = state.state_index;
    let stored = PayloadView::stored(e.event_type, e.schema_version, e.payload_view);
    if stored.is_none() && e.payload_omitted {
        return Err(PayloadLeftOut::of(e));
    }
    // An event stored under an older schema version is read in the current shape; the stored
    // bytes (which the chain covers) are never changed.
    let data = upcast(e.event_type, e.schema_version, e.data);
    let ctx = StepContext {
        view: stored.as_ref(),
        payload_omitted: e.payload_omitted,
        ..StepContext::new(state, e.event_type, &data, e.actor)
    };
    let choice = wf.choose(from, e.event_type, &ctx);
    if ctx.payload_needed.get() {
        return Err(PayloadLeftOut::of(e));
    }
    let to = match choice {
        TransitionChoice::To(t) => t,
        TransitionChoice::NotInState | TransitionChoice::GuardFailed(_) => {
            push_compact(
                &mut state.anomalies,
                Anomaly {
                    version: e.version,
                    event_type: e.event_type.to_string(),
                    state: state.state.clone(),
                    reason: match choice {
                        TransitionChoice::NotInState => "no transition for this step in this state".into(),
                        _ => "every guard of this step failed".into(),
                    },
                },
            );
            from
        }
    };
    let view = stored.unwrap_or_else(|| PayloadView::parse(e.event_type, &data));
    let event_name = wf.event_name(e.event_type);
    apply_view(
        &mut state.record,
        &mut state.counts,
        &mut state.meetings,
        &mut state.escalation_level,
        event_name,
        view,
        e.version,
        e.recorded_at,
    );
    if to != from {
        state.state_index = to;
        // In place: the old strings' buffers usually fit the new names.
        state.state.clear();
        state.state.push_str(wf.state_name(to));
        state.state_title.zh.clone_from(&wf.state_title(to).zh);
        state.state_title.en.clone_from(&wf.state_title(to).en);
        state.is_final = wf.is_final(to);
        state.entered_state_at = e.recorded_at;
        state.due_at = wf.deadline(to).and_then(|(d, _)| d.add_to(e.recorded_at));
    }
    state.history.push(TransitionRecord {
        version: e.version,
        position: e.position,
        event_id: e.id,
        event_type: event_name,
        from: Some(wf.state_name_interned(from)),
        to: wf.state_name_interned(to),
        at: e.recorded_at,
        actor: actors.get(e.actor),
    });
    state.version = e.version;
    state.position = e.position;
    state.updated_at = e.recorded_at;
    Ok(())
}

/// Replays a whole stream (version order) into its state.
pub fn replay(wf: &CompiledWorkflow, events: &[RecordedEvent]) -> Result<IssueState, ReplayError> {
    let (first, rest) = events.split_first().ok_or(ReplayError::Empty)?;
    let mut actors = Actors::default();
    let mut s = start_with(wf, &first.view(), &mut actors)?;
    for e in rest {
        apply_with(&mut s, wf, &e.view(), &mut actors);
    }
    Ok(s)
}

/// Shares one `Arc<Actor>` between every history entry of the same person: the same few
/// conveners and social workers record most steps, and a history of copies was a large part
/// of a replayed log's memory.
#[derive(Default)]
pub struct Actors {
    by_hash: HashMap<u64, Vec<Arc<Actor>>, foldhash::fast::FixedState>,
    len: usize,
}

/// Distinct actors kept before the table starts afresh (bounds memory; entries already in
/// histories stay valid).
const MAX_ACTORS: usize = 100_000;

impl Actors {
    pub fn get(&mut self, a: ActorRef<'_>) -> Arc<Actor> {
        let key = foldhash::fast::FixedState::default().hash_one(a);
        let bucket = self.by_hash.entry(key).or_default();
        if let Some(found) = bucket.iter().find(|x| a.is(x)) {
            return found.clone();
        }
        let new = Arc::new(a.to_actor());
        bucket.push(new.clone());
        self.len += 1;
        if self.len > MAX_ACTORS {
            self.by_hash.clear();
            self.len = 0;
        }
        new
    }
}
