//! The deliberation record: what the five micro steps and the meetings produced, folded from
//! payloads. The payload views here read only the fields the record keeps; the full payload
//! stays in the log.

use super::state::{Counts, MeetingRef};
use crate::privacy::PersonalText;
use crate::text::LocalizedText;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A person or body acting for one of the societies. A person's name is personal data and
/// is stored sealed (see `privacy`); a body (`kind: body`) keeps its name plain.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Party {
    /// person (absent: a person too) | body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person_id: Option<String>,
    pub name: PersonalText,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub society: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organisation: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
}

/// A person whose name, phone and address are personal data (sealed per person when the
/// engine has a keyring; see `privacy`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Resident {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person_id: Option<String>,
    pub name: PersonalText,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<PersonalText>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<PersonalText>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub society: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organisation: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
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
    pub method: String,
    pub priority: String,
    pub findings: LocalizedText,
    pub households_visited: u64,
    pub recommended_steps: Vec<String>,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Wish {
    pub wish_id: String,
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
    pub pact_id: String,
    pub title: LocalizedText,
    pub clauses: usize,
    /// drafted | publicized | adopted
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub publicity_until: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub effective_from: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub votes: Option<Votes>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Team {
    pub team_id: String,
    pub name: LocalizedText,
    pub leader: Party,
    pub members_count: u64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Project {
    pub project_id: String,
    pub title: LocalizedText,
    pub undertaken_by: Party,
    pub budget_fen: u64,
    pub funding_source: String,
    pub percent: u64,
    pub spent_fen: u64,
    /// undertaken | completed
    pub status: &'static str,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Pledge {
    pub pledge_id: String,
    /// Sealed when the donor is an individual.
    pub donor: PersonalText,
    pub kind: String,
    pub amount_fen: u64,
    pub volunteer_hours: f64,
    pub delivered_fen: u64,
    pub delivered_hours: f64,
    /// pledged | delivered
    pub status: &'static str,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Resolution {
    pub meeting_id: String,
    pub motion_id: String,
    pub passed: bool,
    pub votes: Votes,
    pub rule: String,
    pub decided_steps: Vec<String>,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Evaluation {
    pub evaluator: Party,
    pub satisfaction: u64,
    pub outcome: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Escalation {
    pub from_level: String,
    pub to_level: String,
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
    pub outcome: Option<String>,
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

// Payload views: only what the record keeps. Unknown fields are skipped by serde.

/// The length of a JSON array, counted without keeping its elements.
struct Count(usize);

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Count;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an array")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Count, A::Error> {
                let mut n = 0;
                while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {
                    n += 1;
                }
                Ok(Count(n))
            }
        }
        d.deserialize_seq(V)
    }
}
#[derive(Deserialize)]
struct MeetingOnly {
    #[serde(default)]
    meeting_id: Option<String>,
}

/// Folds one payload into the record. Malformed payloads (which validation prevents) are
/// ignored field by field rather than failing replay: the log is the truth, the record a view.
// The fold touches several disjoint parts of IssueState; passing them separately keeps the
// borrow of `state` split without a wrapper type used nowhere else.
#[allow(clippy::too_many_arguments)]
pub(super) fn apply_payload(
    record: &mut DeliberationRecord,
    counts: &mut Counts,
    meetings: &mut Vec<MeetingRef>,
    escalation_level: &mut String,
    event_type: &str,
    data: &str,
    version: u64,
    at: DateTime<Utc>,
) {
    fn parse<'d, T: Deserialize<'d>>(data: &'d str) -> Option<T> {
        serde_json::from_str(data).ok()
    }
    // Each arm records the meeting a step came from out of the parse it already does.
    let mut met = |m: Option<String>| {
        if let Some(meeting_id) = m {
            push_compact(meetings, MeetingRef { meeting_id, via: event_type.to_string(), version });
        }
    };
    match event_type {
        "NeedAssessed" => {
            #[derive(Deserialize)]
            struct P {
                assessor: Party,
                method: String,
                priority: String,
                findings: LocalizedText,
                #[serde(default)]
                households_visited: u64,
                #[serde(default)]
                recommended_steps: Vec<String>,
            }
            if let Some(p) = parse::<P>(data) {
                record.assessment = Some(Assessment {
                    assessor: p.assessor,
                    method: p.method,
                    priority: p.priority,
                    findings: p.findings,
                    households_visited: p.households_visited,
                    recommended_steps: p.recommended_steps,
                    at,
                });
            }
        }
        "MicroWishCollected" => {
            #[derive(Deserialize)]
            struct P {
                wish_id: String,
                wish: LocalizedText,
                #[serde(default)]
                estimated_cost_fen: u64,
            }
            if let Some(p) = parse::<P>(data) {
                counts.wishes += 1;
                push_compact(
                    &mut record.wishes,
                    Wish {
                        wish_id: p.wish_id,
                        wish: p.wish,
                        status: "collected",
                        estimated_cost_fen: p.estimated_cost_fen,
                        claimed_by: None,
                        fulfilled_by: None,
                        value_fen: 0,
                        volunteer_hours: 0.0,
                    },
                );
            }
        }
        "MicroWishClaimed" => {
            #[derive(Deserialize)]
            struct P<'a> {
                #[serde(borrow)]
                wish_id: std::borrow::Cow<'a, str>,
                claimed_by: Party,
            }
            if let Some(p) = parse::<P>(data)
                && let Some(w) = record.wishes.iter_mut().find(|w| w.wish_id == *p.wish_id)
            {
                w.status = "claimed";
                w.claimed_by = Some(p.claimed_by);
                counts.wishes_claimed += 1;
            }
        }
        "MicroWishFulfilled" => {
            #[derive(Deserialize)]
            struct P<'a> {
                #[serde(borrow)]
                wish_id: std::borrow::Cow<'a, str>,
                fulfilled_by: Party,
                #[serde(default)]
                value_fen: u64,
                #[serde(default)]
                volunteer_hours: f64,
            }
            if let Some(p) = parse::<P>(data)
                && let Some(w) = record.wishes.iter_mut().find(|w| w.wish_id == *p.wish_id)
            {
                w.status = "fulfilled";
                w.fulfilled_by = Some(p.fulfilled_by);
                w.value_fen = p.value_fen;
                w.volunteer_hours = p.volunteer_hours;
                record.volunteer_hours += p.volunteer_hours;
                counts.wishes_fulfilled += 1;
                counts.micro_steps_done += 1;
            }
        }
        "MicroPactDrafted" => {
            #[derive(Deserialize)]
            struct P {
                pact_id: String,
                title: LocalizedText,
                clauses: Count,
            }
            if let Some(p) = parse::<P>(data) {
                counts.pacts += 1;
                push_compact(
                    &mut record.pacts,
                    Pact {
                        pact_id: p.pact_id,
                        title: p.title,
                        clauses: p.clauses.0,
                        status: "drafted",
                        publicity_until: None,
                        effective_from: None,
                        votes: None,
                    },
                );
            }
        }
        "MicroPactPublicized" => {
            #[derive(Deserialize)]
            struct P<'a> {
                #[serde(borrow)]
                pact_id: std::borrow::Cow<'a, str>,
                until: String,
            }
            if let Some(p) = parse::<P>(data)
                && let Some(x) = record.pacts.iter_mut().find(|x| x.pact_id == *p.pact_id)
            {
                x.status = "publicized";
                x.publicity_until = Some(p.until);
                counts.pacts_publicized += 1;
            }
        }
        "MicroPactAdopted" => {
            #[derive(Deserialize)]
            struct P<'a> {
                #[serde(borrow)]
                pact_id: std::borrow::Cow<'a, str>,
                effective_from: String,
                #[serde(default)]
                votes: Option<Votes>,
                #[serde(default)]
                meeting_id: Option<String>,
            }
            let p = parse::<P>(data);
            met(p.as_ref().and_then(|p| p.meeting_id.clone()));
            if let Some(p) = p
                && let Some(x) = record.pacts.iter_mut().find(|x| x.pact_id == *p.pact_id)
            {
                x.status = "adopted";
                x.effective_from = Some(p.effective_from);
                x.votes = p.votes;
                counts.pacts_adopted += 1;
                counts.micro_steps_done += 1;
            }
        }
        "MicroTeamFormed" => {
            #[derive(Deserialize)]
            struct P {
                team_id: String,
                name: LocalizedText,
                leader: Party,
                members_count: u64,
                #[serde(default)]
                meeting_id: Option<String>,
            }
            if let Some(p) = parse::<P>(data) {
                met(p.meeting_id.clone());
                counts.teams += 1;
                counts.micro_steps_done += 1;
                push_compact(
                    &mut record.teams,
                    Team { team_id: p.team_id, name: p.name, leader: p.leader, members_count: p.members_count },
                );
            }
        }
        "MicroProjectUndertaken" => {
            #[derive(Deserialize)]
            struct P {
                project_id: String,
                title: LocalizedText,
                undertaken_by: Party,
                budget_fen: u64,
                funding_source: String,
            }
            if let Some(p) = parse::<P>(data) {
                counts.projects += 1;
                record.budget_fen += p.budget_fen;
                push_compact(
                    &mut record.projects,
                    Project {
                        project_id: p.project_id,
                        title: p.title,
                        undertaken_by: p.undertaken_by,
                        budget_fen: p.budget_fen,
                        funding_source: p.funding_source,
                        percent: 0,
                        spent_fen: 0,
                        status: "undertaken",
                    },
                );
            }
        }
        "MicroProjectProgressReported" | "MicroProjectCompleted" => {
            #[derive(Deserialize)]
            struct P<'a> {
                #[serde(borrow)]
                project_id: std::borrow::Cow<'a, str>,
                #[serde(default)]
                percent: Option<u64>,
                #[serde(default)]
                spent_fen: Option<u64>,
            }
            if let Some(p) = parse::<P>(data)
                && let Some(x) = record.projects.iter_mut().find(|x| x.project_id == *p.project_id)
            {
                if let Some(s) = p.spent_fen {
                    record.spent_fen = record.spent_fen - x.spent_fen + s;
                    x.spent_fen = s;
                }
                if event_type == "MicroProjectCompleted" {
                    x.status = "completed";
                    x.percent = 100;
                    counts.projects_completed += 1;
                    counts.micro_steps_done += 1;
                } else if let Some(pc) = p.percent {
                    x.percent = pc;
                }
            }
        }
        "MicroCharityPledged" => {
            #[derive(Deserialize)]
            struct Donor {
                name: PersonalText,
            }
            #[derive(Deserialize)]
            struct P {
                pledge_id: String,
                donor: Donor,
                kind: String,
                #[serde(default)]
                amount_fen: u64,
                #[serde(default)]
                volunteer_hours: f64,
            }
            if let Some(p) = parse::<P>(data) {
                counts.pledges += 1;
                record.pledged_fen += p.amount_fen;
                push_compact(
                    &mut record.charity,
                    Pledge {
                        pledge_id: p.pledge_id,
                        donor: p.donor.name,
                        kind: p.kind,
                        amount_fen: p.amount_fen,
                        volunteer_hours: p.volunteer_hours,
                        delivered_fen: 0,
                        delivered_hours: 0.0,
                        status: "pledged",
                    },
                );
            }
        }
        "MicroCharityDelivered" => {
            #[derive(Deserialize)]
            struct P<'a> {
                #[serde(borrow)]
                pledge_id: std::borrow::Cow<'a, str>,
                #[serde(default)]
                amount_fen: u64,
                #[serde(default)]
                volunteer_hours: f64,
            }
            if let Some(p) = parse::<P>(data)
                && let Some(x) = record.charity.iter_mut().find(|x| x.pledge_id == *p.pledge_id)
            {
                x.status = "delivered";
                x.delivered_fen += p.amount_fen;
                x.delivered_hours += p.volunteer_hours;
                record.delivered_fen += p.amount_fen;
                record.volunteer_hours += p.volunteer_hours;
                counts.pledges_delivered += 1;
                counts.micro_steps_done += 1;
            }
        }
        "PlacedOnAgenda" | "Deliberated" => {
            if event_type == "Deliberated" {
                counts.deliberations += 1;
            }
            met(parse::<MeetingOnly>(data).and_then(|m| m.meeting_id));
        }
        "ResolutionPassed" | "ResolutionRejected" => {
            #[derive(Deserialize)]
            struct P {
                meeting_id: String,
                motion_id: String,
                votes: Votes,
                rule: String,
                #[serde(default)]
                decided_steps: Vec<String>,
            }
            if let Some(p) = parse::<P>(data) {
                met(Some(p.meeting_id.clone()));
                let passed = event_type == "ResolutionPassed";
                if passed {
                    counts.resolutions_passed += 1;
                } else {
                    counts.resolutions_rejected += 1;
                }
                push_compact(
                    &mut record.resolutions,
                    Resolution {
                        meeting_id: p.meeting_id,
                        motion_id: p.motion_id,
                        passed,
                        votes: p.votes,
                        rule: p.rule,
                        decided_steps: p.decided_steps,
                        at,
                    },
                );
            }
        }
        "Evaluated" => {
            #[derive(Deserialize)]
            struct P {
                evaluator: Party,
                satisfaction: u64,
                outcome: String,
            }
            if let Some(p) = parse::<P>(data) {
                counts.evaluations += 1;
                push_compact(
                    &mut record.evaluations,
                    Evaluation { evaluator: p.evaluator, satisfaction: p.satisfaction, outcome: p.outcome, at },
                );
            }
        }
        "Escalated" => {
            #[derive(Deserialize)]
            struct P {
                from_level: String,
                to_level: String,
                reason: LocalizedText,
            }
            if let Some(p) = parse::<P>(data) {
                *escalation_level = p.to_level.clone();
                push_compact(
                    &mut record.escalations,
                    Escalation { from_level: p.from_level, to_level: p.to_level, reason: p.reason, at },
                );
            }
        }
        "IssueClosed" | "IssueWithdrawn" => {
            // Only the two fields the record keeps; a payload that does not parse (validation
            // prevents it) still closes the record, with neither.
            #[derive(Deserialize, Default)]
            struct P {
                #[serde(default)]
                reason: Value,
                #[serde(default)]
                outcome: Option<Value>,
            }
            let p = parse::<P>(data).unwrap_or_default();
            record.closure = Some(Closure {
                kind: if event_type == "IssueClosed" { "closed" } else { "withdrawn" },
                reason: p.reason,
                outcome: p.outcome.as_ref().and_then(Value::as_str).map(str::to_string),
                at,
            });
        }
        _ => {}
    }
}
