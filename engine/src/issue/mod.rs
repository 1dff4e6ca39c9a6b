//! Issues (community matters): their state, the pure replay that builds it, and the decision
//! whether a step may be recorded now.

mod decide;
mod payload_view;
mod record;
mod replay;
mod state;
mod view_codec;

pub use decide::{Refusal, Step, check_actor, decide};
pub use payload_view::{PayloadView, VIEW_FORMAT};
pub use record::{
    Assessment, Closure, DeliberationRecord, Escalation, Evaluation, Pact, Party, Pledge, Project, Resident,
    Resolution, Team, Votes, Wish,
};
pub use replay::{
    Actors, Opening, PayloadLeftOut, ReplayError, apply, apply_with, pinned_workflow, replay, start, start_opened,
    start_with, try_apply_with,
};
pub use state::{Anomaly, Counts, IssueState, MeetingRef, StepContext, TransitionRecord, WorkflowRef};

/// What every issue stream's name starts with.
pub const ISSUE_STREAM_PREFIX: &str = "issue-";

/// Stream name of an issue.
pub fn stream_of(issue_id: &str) -> String {
    format!("{ISSUE_STREAM_PREFIX}{issue_id}")
}

/// Issue id of a stream name, if it is an issue stream.
pub fn id_of(stream: &str) -> Option<&str> {
    stream.strip_prefix(ISSUE_STREAM_PREFIX)
}
