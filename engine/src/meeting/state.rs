//! What a meeting looks like after replay of its stream.

use crate::event::Actor;
use crate::issue::{Party, Votes};
use crate::privacy::PersonalText;
use crate::text::LocalizedText;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// scheduled → in_session → closed; scheduled → cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MeetingStatus {
    Scheduled,
    InSession,
    Closed,
    Cancelled,
}

impl MeetingStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            MeetingStatus::Scheduled => "scheduled",
            MeetingStatus::InSession => "in_session",
            MeetingStatus::Closed => "closed",
            MeetingStatus::Cancelled => "cancelled",
        }
    }

    pub fn label(self) -> LocalizedText {
        match self {
            MeetingStatus::Scheduled => LocalizedText::new("已安排", "scheduled"),
            MeetingStatus::InSession => LocalizedText::new("进行中", "in session"),
            MeetingStatus::Closed => LocalizedText::new("已结束", "closed"),
            MeetingStatus::Cancelled => LocalizedText::new("已取消", "cancelled"),
        }
    }
}

/// present 出席 | absent 缺席 | proxy 委托.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Attendance {
    Present,
    Absent,
    Proxy { proxy_to: String },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Participant {
    pub person_id: String,
    /// Sealed with the person's key (plain only in logs written before sealing).
    pub name: PersonalText,
    pub body: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub organisation: Option<String>,
    pub resident_representative: bool,
    /// None until attendance is recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attendance: Option<Attendance>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AgendaItem {
    pub issue_id: String,
    pub order: u64,
    pub title: LocalizedText,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issue_state: Option<String>,
    pub proposer: Party,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub follow_up_of: Option<String>,
    /// Deliberation summaries, in order.
    pub deliberations: Vec<Deliberation>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Deliberation {
    pub summary: LocalizedText,
    pub speakers: Vec<Speaker>,
    pub at: DateTime<Utc>,
}

/// Who spoke in a deliberation: a participant (or other person) by id with their sealed name,
/// or a bare name (sealed under an id the engine derived).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Speaker {
    Person {
        person_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<PersonalText>,
    },
    Name(PersonalText),
}

/// One voting member of a quorum snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Voter {
    pub person_id: String,
    /// Copied from the invitation as stored (sealed).
    pub name: PersonalText,
    /// The present participant who casts this vote by proxy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cast_by: Option<String>,
}

/// One requirement as checked when quorum was established.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequirementCheck {
    pub code: String,
    pub met: bool,
    pub have: u64,
    pub needed: u64,
    pub description: LocalizedText,
}

/// The frozen snapshot taken by QuorumEstablished.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quorum {
    pub invited: u64,
    pub present: u64,
    pub represented: u64,
    pub requirements: Vec<RequirementCheck>,
    pub voters: Vec<Voter>,
    /// Stream version of the QuorumEstablished event.
    #[serde(default)]
    pub version: u64,
    #[serde(default = "epoch")]
    pub at: DateTime<Utc>,
}

fn epoch() -> DateTime<Utc> {
    DateTime::<Utc>::UNIX_EPOCH
}

/// A step a motion decides, recorded on its issue if it carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecidedStep {
    #[serde(rename = "type")]
    pub event_type: String,
    pub data: Value,
}

/// tabled → carried | failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MotionStatus {
    Tabled,
    Carried,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Motion {
    pub motion_id: String,
    pub issue_id: String,
    pub text: LocalizedText,
    pub proposer: Party,
    pub steps: Vec<DecidedStep>,
    pub rule: String,
    pub base: String,
    pub status: MotionStatus,
    /// Per-voter votes (voter id → choice, cast by).
    pub ballots: Vec<Ballot>,
    /// Counts of a show of hands, if the vote was taken that way.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub show_of_hands: Option<Votes>,
    /// The tally (ballots or show of hands).
    pub votes: Votes,
    /// Voting members in the snapshot the vote was taken under.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eligible: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub explanation: Option<LocalizedText>,
    /// Stream version of MotionTabled (motion ids and derived event ids rest on it).
    pub tabled_version: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decided_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ballot {
    pub voter: String,
    pub choice: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cast_by: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assignee {
    /// person (absent: a person too) | body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person_id: Option<String>,
    /// Sealed unless the assignee is a body.
    pub name: PersonalText,
    pub body: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organisation: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team_id: Option<String>,
}

/// Issue events that complete an action item unless it names its own.
pub const DEFAULT_DONE_WHEN: &[&str] = &["Evaluated", "IssueClosed", "IssueWithdrawn"];

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActionItem {
    pub action_item_id: String,
    pub meeting_id: String,
    pub issue_id: String,
    pub task: LocalizedText,
    pub assignee: Assignee,
    pub due: NaiveDate,
    pub done_when: Vec<String>,
    pub assigned_at: DateTime<Utc>,
    /// Global position of ActionItemAssigned: only later issue events complete it.
    pub assigned_position: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MinutesRef {
    pub sha256: String,
    pub languages: Vec<String>,
    pub at: DateTime<Utc>,
}

/// The state of one meeting, folded from its events.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MeetingState {
    pub id: String,
    pub stream: String,
    pub kind: String,
    pub community: String,
    pub title: LocalizedText,
    pub scheduled_for: DateTime<Utc>,
    pub venue: LocalizedText,
    pub convener: Party,
    pub status: MeetingStatus,
    pub status_title: LocalizedText,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chair: Option<Party>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub opened_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub closed_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cancelled: Option<LocalizedText>,
    pub participants: Vec<Participant>,
    /// Ordered by `order`, then by when added.
    pub agenda: Vec<AgendaItem>,
    /// The snapshot in force (the latest QuorumEstablished).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quorum: Option<Quorum>,
    pub motions: Vec<Motion>,
    pub action_items: Vec<ActionItem>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub minutes: Option<MinutesRef>,
    /// Stream version of the last event folded (the ETag).
    pub version: u64,
    pub position: u64,
    pub updated_at: DateTime<Utc>,
    pub created_by: Actor,
}

impl MeetingState {
    pub fn participant(&self, person_id: &str) -> Option<&Participant> {
        self.participants.iter().find(|p| p.person_id == person_id)
    }

    pub fn motion(&self, motion_id: &str) -> Option<&Motion> {
        self.motions.iter().find(|m| m.motion_id == motion_id)
    }

    /// The motion being voted on, if any (at most one at a time).
    pub fn open_motion(&self) -> Option<&Motion> {
        self.motions.iter().find(|m| m.status == MotionStatus::Tabled)
    }

    pub fn agenda_item(&self, issue_id: &str) -> Option<&AgendaItem> {
        self.agenda.iter().find(|a| a.issue_id == issue_id)
    }
}
