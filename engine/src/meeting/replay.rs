//! Pure replay of a meeting stream: `events -> MeetingState`. No IO, no clock; the same fold
//! serves commands, time travel, the meeting index and the minutes.

use super::state::*;
use crate::event::RecordedEvent;
use crate::issue::{Party, Votes};
use crate::text::LocalizedText;
use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;
use serde::de::DeserializeOwned;

/// Why a stream cannot be replayed as a meeting.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MeetingReplayError {
    #[error("stream is empty")]
    Empty,
    #[error("first event of {stream} is {found}, not MeetingScheduled")]
    NotAMeeting { stream: String, found: String },
    #[error("MeetingScheduled payload of {stream} is malformed: {message}")]
    Malformed { stream: String, message: String },
}

#[derive(Deserialize)]
struct Scheduled {
    kind: String,
    community: String,
    title: LocalizedText,
    scheduled_for: DateTime<Utc>,
    venue: LocalizedText,
    convener: Party,
}

/// Starts a meeting from its MeetingScheduled event.
pub fn start(first: &RecordedEvent) -> Result<MeetingState, MeetingReplayError> {
    if first.event_type != "MeetingScheduled" {
        return Err(MeetingReplayError::NotAMeeting { stream: first.stream.clone(), found: first.event_type.clone() });
    }
    let data = crate::catalog::upcast(&first.event_type, first.schema_version, first.data.get());
    let s: Scheduled = serde_json::from_str(&data)
        .map_err(|e| MeetingReplayError::Malformed { stream: first.stream.clone(), message: e.to_string() })?;
    Ok(MeetingState {
        id: super::id_of(&first.stream).unwrap_or(&first.stream).to_string(),
        stream: first.stream.clone(),
        kind: s.kind,
        community: s.community,
        title: s.title,
        scheduled_for: s.scheduled_for,
        venue: s.venue,
        convener: s.convener,
        status: MeetingStatus::Scheduled,
        status_title: MeetingStatus::Scheduled.label(),
        chair: None,
        opened_at: None,
        closed_at: None,
        cancelled: None,
        participants: Vec::new(),
        agenda: Vec::new(),
        quorum: None,
        motions: Vec::new(),
        action_items: Vec::new(),
        minutes: None,
        version: first.version,
        position: first.position,
        updated_at: first.recorded_at,
        created_by: first.actor.clone(),
    })
}

/// The payload in the current schema's shape (older versions through their upcasters).
fn parse<T: DeserializeOwned>(e: &RecordedEvent) -> Option<T> {
    serde_json::from_str(&crate::catalog::upcast(&e.event_type, e.schema_version, e.data.get())).ok()
}

fn set_status(m: &mut MeetingState, s: MeetingStatus) {
    m.status = s;
    m.status_title = s.label();
}

/// Tally of per-voter ballots.
pub fn tally(ballots: &[Ballot]) -> Votes {
    let mut v = Votes::default();
    for b in ballots {
        match b.choice.as_str() {
            "for" => v.yes += 1,
            "against" => v.against += 1,
            _ => v.abstain += 1,
        }
    }
    v
}

/// Folds one more event. Payloads were validated before they were appended; a malformed one
/// (written by hand) is skipped field by field rather than failing replay.
pub fn apply(m: &mut MeetingState, e: &RecordedEvent) {
    match e.event_type.as_str() {
        "ParticipantInvited" => {
            #[derive(Deserialize)]
            struct P {
                person_id: String,
                name: crate::privacy::PersonalText,
                body: String,
                role: Option<String>,
                organisation: Option<String>,
                #[serde(default)]
                resident_representative: bool,
            }
            if let Some(p) = parse::<P>(e) {
                let new = Participant {
                    person_id: p.person_id,
                    name: p.name,
                    body: p.body,
                    role: p.role,
                    organisation: p.organisation,
                    resident_representative: p.resident_representative,
                    attendance: None,
                };
                match m.participants.iter_mut().find(|x| x.person_id == new.person_id) {
                    Some(x) => *x = Participant { attendance: x.attendance.clone(), ..new },
                    None => m.participants.push(new),
                }
            }
        }
        "AgendaItemAdded" => {
            #[derive(Deserialize)]
            struct P {
                issue_id: String,
                order: u64,
                title: LocalizedText,
                issue_state: Option<String>,
                proposer: Party,
                follow_up_of: Option<String>,
            }
            if let Some(p) = parse::<P>(e) {
                m.agenda.retain(|a| a.issue_id != p.issue_id);
                m.agenda.push(AgendaItem {
                    issue_id: p.issue_id,
                    order: p.order,
                    title: p.title,
                    issue_state: p.issue_state,
                    proposer: p.proposer,
                    follow_up_of: p.follow_up_of,
                    deliberations: Vec::new(),
                });
                // Stable: equal orders keep the order they were added in.
                m.agenda.sort_by_key(|a| a.order);
            }
        }
        "AgendaItemRemoved" => {
            #[derive(Deserialize)]
            struct P {
                issue_id: String,
            }
            if let Some(p) = parse::<P>(e) {
                m.agenda.retain(|a| a.issue_id != p.issue_id);
            }
        }
        "MeetingOpened" => {
            #[derive(Deserialize)]
            struct P {
                chair: Option<Party>,
            }
            m.chair = parse::<P>(e).and_then(|p| p.chair);
            m.opened_at = Some(e.recorded_at);
            set_status(m, MeetingStatus::InSession);
        }
        "AttendanceRecorded" => {
            #[derive(Deserialize)]
            struct P {
                person_id: String,
                #[serde(flatten)]
                attendance: Attendance,
            }
            if let Some(p) = parse::<P>(e)
                && let Some(x) = m.participants.iter_mut().find(|x| x.person_id == p.person_id)
            {
                x.attendance = Some(p.attendance);
            }
        }
        "AgendaItemDeliberated" => {
            #[derive(Deserialize)]
            struct P {
                issue_id: String,
                summary: LocalizedText,
                #[serde(default)]
                speakers: Vec<Speaker>,
            }
            if let Some(p) = parse::<P>(e)
                && let Some(a) = m.agenda.iter_mut().find(|a| a.issue_id == p.issue_id)
            {
                a.deliberations.push(Deliberation { summary: p.summary, speakers: p.speakers, at: e.recorded_at });
            }
        }
        "QuorumEstablished" => {
            if let Some(mut q) = parse::<Quorum>(e) {
                q.version = e.version;
                q.at = e.recorded_at;
                m.quorum = Some(q);
            }
        }
        "MotionTabled" => {
            #[derive(Deserialize)]
            struct P {
                motion_id: String,
                issue_id: String,
                text: LocalizedText,
                proposer: Party,
                steps: Vec<DecidedStep>,
                rule: String,
                base: String,
            }
            if let Some(p) = parse::<P>(e) {
                m.motions.push(Motion {
                    motion_id: p.motion_id,
                    issue_id: p.issue_id,
                    text: p.text,
                    proposer: p.proposer,
                    steps: p.steps,
                    rule: p.rule,
                    base: p.base,
                    status: MotionStatus::Tabled,
                    ballots: Vec::new(),
                    show_of_hands: None,
                    votes: Votes::default(),
                    eligible: None,
                    explanation: None,
                    tabled_version: e.version,
                    decided_at: None,
                });
            }
        }
        "VoteRecorded" => {
            #[derive(Deserialize)]
            struct P {
                motion_id: String,
                voter: Option<String>,
                choice: Option<String>,
                cast_by: Option<String>,
                counts: Option<Votes>,
            }
            if let Some(p) = parse::<P>(e)
                && let Some(x) = m.motions.iter_mut().find(|x| x.motion_id == p.motion_id)
            {
                match (p.counts, p.voter, p.choice) {
                    (Some(c), _, _) => {
                        x.votes = c.clone();
                        x.show_of_hands = Some(c);
                    }
                    (None, Some(voter), Some(choice)) => {
                        x.ballots.retain(|b| b.voter != voter);
                        x.ballots.push(Ballot { voter, choice, cast_by: p.cast_by });
                        x.votes = tally(&x.ballots);
                    }
                    _ => {}
                }
            }
        }
        "MotionCarried" | "MotionFailed" => {
            #[derive(Deserialize)]
            struct P {
                motion_id: String,
                votes: Votes,
                eligible: u64,
                explanation: Option<LocalizedText>,
            }
            if let Some(p) = parse::<P>(e)
                && let Some(x) = m.motions.iter_mut().find(|x| x.motion_id == p.motion_id)
            {
                x.status = if e.event_type == "MotionCarried" { MotionStatus::Carried } else { MotionStatus::Failed };
                x.votes = p.votes;
                x.eligible = Some(p.eligible);
                x.explanation = p.explanation;
                x.decided_at = Some(e.recorded_at);
            }
        }
        "ActionItemAssigned" => {
            #[derive(Deserialize)]
            struct P {
                action_item_id: String,
                issue_id: String,
                task: LocalizedText,
                assignee: Assignee,
                due: NaiveDate,
                done_when: Option<Vec<String>>,
            }
            if let Some(p) = parse::<P>(e) {
                m.action_items.retain(|a| a.action_item_id != p.action_item_id);
                m.action_items.push(ActionItem {
                    action_item_id: p.action_item_id,
                    meeting_id: m.id.clone(),
                    issue_id: p.issue_id,
                    task: p.task,
                    assignee: p.assignee,
                    due: p.due,
                    done_when: p.done_when.unwrap_or_else(|| DEFAULT_DONE_WHEN.iter().map(|s| s.to_string()).collect()),
                    assigned_at: e.recorded_at,
                    assigned_position: e.position,
                });
            }
        }
        "MinutesPublished" => {
            #[derive(Deserialize)]
            struct P {
                sha256: String,
                languages: Vec<String>,
            }
            if let Some(p) = parse::<P>(e) {
                m.minutes = Some(MinutesRef { sha256: p.sha256, languages: p.languages, at: e.recorded_at });
            }
        }
        "MeetingClosed" => {
            m.closed_at = Some(e.recorded_at);
            set_status(m, MeetingStatus::Closed);
        }
        "MeetingCancelled" => {
            #[derive(Deserialize)]
            struct P {
                reason: LocalizedText,
            }
            m.cancelled = parse::<P>(e).map(|p| p.reason);
            set_status(m, MeetingStatus::Cancelled);
        }
        _ => {}
    }
    m.version = e.version;
    m.position = e.position;
    m.updated_at = e.recorded_at;
}

/// Replays a whole meeting stream (version order).
pub fn replay(events: &[RecordedEvent]) -> Result<MeetingState, MeetingReplayError> {
    let (first, rest) = events.split_first().ok_or(MeetingReplayError::Empty)?;
    let mut m = start(first)?;
    for e in rest {
        apply(&mut m, e);
    }
    Ok(m)
}
