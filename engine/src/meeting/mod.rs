//! Meetings (consultation days, joint meetings, tripartite meetings) that act on issues.
//!
//! Pure core: kinds as data ([`kind`](mod@kind)), the state folded from a meeting stream ([`replay`](mod@replay)),
//! the rules (quorum, voting; [`rules`]), the decision whether a step may be recorded and
//! which event it produces ([`decide`](mod@decide)), what a meeting event implies for an issue
//! ([`effects`]), the agenda builder ([`agenda`]), the minutes ([`minutes`]) and the index
//! ([`index`]). No IO here; `service::meetings` appends and runs the process manager.

pub mod agenda;
pub mod decide;
pub mod effects;
pub mod index;
pub mod kind;
pub mod minutes;
mod refusal;
pub mod replay;
pub mod rules;
mod state;
mod stats;

pub use decide::{Decided, MeetingStep, decide, steps_now};
pub use index::{ActionItemRecord, MeetingFilter, MeetingIndex};
pub use kind::{MeetingKind, kind, shipped_kinds};
pub use refusal::{MeetingRefusal, MeetingStepOption};
pub use replay::{MeetingReplayError, apply, replay, start};
pub use state::*;
pub use stats::{ActionItemTotals, MeetingKindCount, MeetingStats};

/// Stream name of a meeting.
pub fn stream_of(meeting_id: &str) -> String {
    format!("meeting-{meeting_id}")
}

/// Meeting id of a stream name, if it is a meeting stream.
pub fn id_of(stream: &str) -> Option<&str> {
    stream.strip_prefix("meeting-")
}
