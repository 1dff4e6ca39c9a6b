//! The deliberation record: what the five micro steps and the meetings produced, folded from
//! payloads. The payload views here read only the fields the record keeps; the full payload
//! stays in the log.

use super::payload_view::PayloadView;
use super::state::{Counts, MeetingRef};
use crate::privacy::PersonalText;
use crate::text::LocalizedText;
use crate::workflow::Name;
use chrono::{DateTime, Utc};
use compact_str::CompactString;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A person or body acting for one of the societies. A person's name is personal data and
/// is stored sealed (see `privacy`); a body (`kind: body`) keeps its name plain.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Party {
    /// person (absent: a person too) | body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<CompactString>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person_id: Option<CompactString>,
    pub name: PersonalText,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub society: Option<CompactString>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organisation: Option<CompactString>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<CompactString>,
}

/// A person whose name, phone and address are personal data (sealed per person when the
/// engine has a keyring; see `privacy`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Resident {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person_id: Option<CompactString>,
    pub name: PersonalText,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<PersonalText>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<PersonalText>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub society: Option<CompactString>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organisation: Option<CompactString>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<CompactString>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
pub struct Votes {
    #[serde(rename = "for")]
    pub yes: u64,
    pub against: u64,
    pub abstain: u64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Assessment {
    pub assessor: Party,
    pub method: CompactString,
    pub priority: CompactString,
    pub findings: LocalizedText,
    pub households_visited: u64,
    pub recommended_steps: Vec<CompactString>,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Wish {
    pub wish_id: CompactString,
    pub wish: LocalizedText,
    /// collected | claimed | fulfilled
    pub status: &'static str,
    pub estimated_cost_fen: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub claimed_by: Option<Party>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fulfilled_by: Option<Party>,
    pub value_fen: u64,
    pub volunteer_hours: f64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Pact {
    pub pact_id: CompactString,
    pub title: LocalizedText,
    pub clauses: usize,
    /// drafted | publicized | adopted
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub publicity_until: Option<CompactString>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub effective_from: Option<CompactString>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub votes: Option<Votes>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Team {
    pub team_id: CompactString,
    pub name: LocalizedText,
    pub leader: Party,
    pub members_count: u64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Project {
    pub project_id: CompactString,
    pub title: LocalizedText,
    pub undertaken_by: Party,
    pub budget_fen: u64,
    pub funding_source: CompactString,
    pub percent: u64,
    pub spent_fen: u64,
    /// undertaken | completed
    pub status: &'static str,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Pledge {
    pub pledge_id: CompactString,
    /// Sealed when the donor is an individual.
    pub donor: PersonalText,
    pub kind: CompactString,
    pub amount_fen: u64,
    pub volunteer_hours: f64,
    pub delivered_fen: u64,
    pub delivered_hours: f64,
    /// pledged | delivered
    pub status: &'static str,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Resolution {
    pub meeting_id: CompactString,
    pub motion_id: CompactString,
    pub passed: bool,
    pub votes: Votes,
    pub rule: CompactString,
    pub decided_steps: Vec<CompactString>,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Evaluation {
    pub evaluator: Party,
    pub satisfaction: u64,
    pub outcome: CompactString,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Escalation {
    pub from_level: CompactString,
    pub to_level: CompactString,
    pub reason: LocalizedText,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Closure {
    /// closed | withdrawn
    pub kind: &'static str,
    pub reason: Value,
    /// Withdrawals (schema v2): how the matter ended; `not_recorded` for one withdrawn under v1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<CompactString>,
    pub at: DateTime<Utc>,
}

/// Everything the deliberation produced.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct DeliberationRecord {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assessment: Option<Assessment>,
    pub wishes: Vec<Wish>,
    pub pacts: Vec<Pact>,
    pub teams: Vec<Team>,
    pub projects: Vec<Project>,
    pub charity: Vec<Pledge>,
    pub resolutions: Vec<Resolution>,
    pub evaluations: Vec<Evaluation>,
    pub escalations: Vec<Escalation>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub closure: Option<Closure>,
    /// Money totals in fen, and volunteer hours.
    pub budget_fen: u64,
    pub spent_fen: u64,
    pub pledged_fen: u64,
    pub delivered_fen: u64,
    pub volunteer_hours: f64,
}

/// Pushes without Vec's first allocation of four slots: most issues have one or two pacts,
/// teams, projects, …, and the three empty slots were a third of a replayed issue's memory.
/// Past four entries, growth is Vec's usual doubling.
pub(super) fn push_compact<T>(v: &mut Vec<T>, item: T) {
    if v.len() < 4 && v.len() == v.capacity() {
        v.reserve_exact(1);
    }
    v.push(item);
}

/// Folds one payload's view into the record. A payload that did not parse (validation
/// prevents it) changes nothing but what its event type alone implies: the log is the truth,
/// the record a view.
// The fold touches several disjoint parts of IssueState; passing them separately keeps the
// borrow of `state` split without a wrapper type used nowhere else.
#[allow(clippy::too_many_arguments)]
pub(super) fn apply_view(
    record: &mut DeliberationRecord,
    counts: &mut Counts,
    meetings: &mut Vec<MeetingRef>,
    escalation_level: &mut String,
    event_type: Name,
    view: PayloadView,
    version: u64,
    at: DateTime<Utc>,
) {
    // Each arm records the meeting a step came from.
    let mut met = |m: Option<CompactString>| {
        if let Some(meeting_id) = m {
            push_compact(meetings, MeetingRef { meeting_id, via: event_type, version });
        }
    };
    if event_type == "Deliberated" {
        counts.deliberations += 1;
    }
    use PayloadView as V;
    match view {
        V::Assessed { assessor, method, priority, findings, households_visited, recommended_steps } => {
            record.assessment =
                Some(Assessment { assessor, method, priority, findings, households_visited, recommended_steps, at });
        }
        V::WishCollected { wish_id, wish, estimated_cost_fen } => {
            counts.wishes += 1;
            push_compact(
                &mut record.wishes,
                Wish {
                    wish_id,
                    wish,
                    status: "collected",
                    estimated_cost_fen,
                    claimed_by: None,
                    fulfilled_by: None,
                    value_fen: 0,
                    volunteer_hours: 0.0,
                },
            );
        }
        V::WishClaimed { wish_id, claimed_by } => {
            if let Some(w) = record.wishes.iter_mut().find(|w| w.wish_id == wish_id) {
                w.status = "claimed";
                w.claimed_by = Some(claimed_by);
                counts.wishes_claimed += 1;
            }
        }
        V::WishFulfilled { wish_id, fulfilled_by, value_fen, volunteer_hours } => {
            if let Some(w) = record.wishes.iter_mut().find(|w| w.wish_id == wish_id) {
                w.status = "fulfilled";
                w.fulfilled_by = Some(fulfilled_by);
                w.value_fen = value_fen;
                w.volunteer_hours = volunteer_hours;
                record.volunteer_hours += volunteer_hours;
                counts.wishes_fulfilled += 1;
                counts.micro_steps_done += 1;
            }
        }
        V::PactDrafted { pact_id, title, clauses } => {
            counts.pacts += 1;
            push_compact(
                &mut record.pacts,
                Pact {
                    pact_id,
                    title,
                    clauses: usize::try_from(clauses).unwrap_or(usize::MAX),
                    status: "drafted",
                    publicity_until: None,
                    effective_from: None,
                    votes: None,
                },
            );
        }
        V::PactPublicized { pact_id, until } => {
            if let Some(x) = record.pacts.iter_mut().find(|x| x.pact_id == pact_id) {
                x.status = "publicized";
                x.publicity_until = Some(until);
                counts.pacts_publicized += 1;
            }
        }
        V::PactAdopted { pact_id, effective_from, votes, meeting_id } => {
            met(meeting_id);
            if let Some(x) = record.pacts.iter_mut().find(|x| x.pact_id == pact_id) {
                x.status = "adopted";
                x.effective_from = Some(effective_from);
                x.votes = votes;
                counts.pacts_adopted += 1;
                counts.micro_steps_done += 1;
            }
        }
        V::TeamFormed { team_id, name, leader, members_count, meeting_id } => {
            met(meeting_id);
            counts.teams += 1;
            counts.micro_steps_done += 1;
            push_compact(&mut record.teams, Team { team_id, name, leader, members_count });
        }
        V::ProjectUndertaken { project_id, title, undertaken_by, budget_fen, funding_source } => {
            counts.projects += 1;
            record.budget_fen += budget_fen;
            push_compact(
                &mut record.projects,
                Project {
                    project_id,
                    title,
                    undertaken_by,
                    budget_fen,
                    funding_source,
                    percent: 0,
                    spent_fen: 0,
                    status: "undertaken",
                },
            );
        }
        V::ProjectProgress { project_id, percent, spent_fen } => {
            if let Some(x) = record.projects.iter_mut().find(|x| x.project_id == project_id) {
                if let Some(s) = spent_fen {
                    record.spent_fen = record.spent_fen - x.spent_fen + s;
                    x.spent_fen = s;
                }
                if event_type == "MicroProjectCompleted" {
                    x.status = "completed";
                    x.percent = 100;
                    counts.projects_completed += 1;
                    counts.micro_steps_done += 1;
                } else if let Some(pc) = percent {
                    x.percent = pc;
                }
            }
        }
        V::CharityPledged { pledge_id, donor, kind, amount_fen, volunteer_hours } => {
            counts.pledges += 1;
            record.pledged_fen += amount_fen;
            push_compact(
                &mut record.charity,
                Pledge {
                    pledge_id,
                    donor,
                    kind,
                    amount_fen,
                    volunteer_hours,
                    delivered_fen: 0,
                    delivered_hours: 0.0,
                    status: "pledged",
                },
            );
        }
        V::CharityDelivered { pledge_id, amount_fen, volunteer_hours } => {
            if let Some(x) = record.charity.iter_mut().find(|x| x.pledge_id == pledge_id) {
                x.status = "delivered";
                x.delivered_fen += amount_fen;
                x.delivered_hours += volunteer_hours;
                record.delivered_fen += amount_fen;
                record.volunteer_hours += volunteer_hours;
                counts.pledges_delivered += 1;
                counts.micro_steps_done += 1;
            }
        }
        V::Meeting { meeting_id } => met(meeting_id),
        V::Resolution { meeting_id, motion_id, votes, rule, decided_steps } => {
            met(Some(meeting_id.clone()));
            let passed = event_type == "ResolutionPassed";
            if passed {
                counts.resolutions_passed += 1;
            } else {
                counts.resolutions_rejected += 1;
            }
            push_compact(
                &mut record.resolutions,
                Resolution { meeting_id, motion_id, passed, votes, rule, decided_steps, at },
            );
        }
        V::Evaluated { evaluator, satisfaction, outcome } => {
            counts.evaluations += 1;
            push_compact(&mut record.evaluations, Evaluation { evaluator, satisfaction, outcome, at });
        }
        V::Escalated { from_level, to_level, reason } => {
            escalation_level.clear();
            escalation_level.push_str(&to_level);
            push_compact(&mut record.escalations, Escalation { from_level, to_level, reason, at });
        }
        V::Closure { reason, outcome } => {
            record.closure = Some(Closure {
                kind: if event_type == "IssueClosed" { "closed" } else { "withdrawn" },
                reason,
                outcome,
                at,
            });
        }
        // The opening is read when the state starts, not folded into the record.
        V::Raised(_) | V::Unread => {}
    }
}
