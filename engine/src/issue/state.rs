//! What an issue looks like after replay.

use super::record::{DeliberationRecord, Resident};
use crate::event::Actor;
use crate::text::LocalizedText;
use crate::workflow::{Bump, DataValue, GuardContext, Reads};
use chrono::{DateTime, Utc};
use serde::Serialize;

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct WorkflowRef {
    pub id: String,
    pub version: u32,
}

/// One recorded step as the workflow saw it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TransitionRecord {
    pub version: u64,
    pub position: u64,
    pub event_id: uuid::Uuid,
    // State and event names are shared with the compiled workflow: a history of thousands
    // of entries holds pointers, not copies.
    #[serde(rename = "type")]
    pub event_type: std::sync::Arc<str>,
    pub from: Option<std::sync::Arc<str>>,
    pub to: std::sync::Arc<str>,
    pub at: DateTime<Utc>,
    /// Shared between the history entries of the same person (see `replay::Actors`).
    pub actor: std::sync::Arc<Actor>,
}

/// A meeting the issue went through.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct MeetingRef {
    pub meeting_id: String,
    /// Which event referred to it (PlacedOnAgenda, Deliberated, ResolutionPassed, …).
    pub via: String,
    pub version: u64,
}

/// An event in the log that the pinned workflow would not have allowed (e.g. written by an
/// older engine or by hand). Replay never drops it; it reports it so an auditor sees it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Anomaly {
    pub version: u64,
    #[serde(rename = "type")]
    pub event_type: String,
    pub state: String,
    pub reason: String,
}

/// Counters that guards can read as `issue.counts.*`.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Counts {
    pub wishes: u32,
    pub wishes_claimed: u32,
    pub wishes_fulfilled: u32,
    pub pacts: u32,
    pub pacts_publicized: u32,
    pub pacts_adopted: u32,
    pub teams: u32,
    pub projects: u32,
    pub projects_completed: u32,
    pub pledges: u32,
    pub pledges_delivered: u32,
    pub resolutions_passed: u32,
    pub resolutions_rejected: u32,
    pub deliberations: u32,
    pub evaluations: u32,
    /// Completed micro steps: fulfilled wishes, adopted pacts, formed teams, completed
    /// projects, delivered pledges.
    pub micro_steps_done: u32,
}

/// The state of one issue, folded from its events.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct IssueState {
    pub id: String,
    pub stream: String,
    pub workflow: WorkflowRef,
    pub community: String,
    pub title: LocalizedText,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<LocalizedText>,
    pub category: String,
    pub households_affected: u64,
    pub raised_by: Resident,
    pub raised_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Current state name.
    pub state: String,
    #[serde(skip)]
    pub state_index: usize,
    pub state_title: LocalizedText,
    #[serde(rename = "final")]
    pub is_final: bool,
    pub entered_state_at: DateTime<Utc>,
    /// When the state's deadline (if any) passes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub due_at: Option<DateTime<Utc>>,
    /// Stream version of the last event folded (the ETag).
    pub version: u64,
    /// Global position of the last event folded.
    pub position: u64,
    /// community | street | district.
    pub escalation_level: String,
    pub counts: Counts,
    pub record: DeliberationRecord,
    pub meetings: Vec<MeetingRef>,
    pub history: Vec<TransitionRecord>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub anomalies: Vec<Anomaly>,
}

impl IssueState {
    /// Is the deadline past at `now`?
    pub fn overdue_at(&self, now: DateTime<Utc>) -> bool {
        !self.is_final && self.due_at.is_some_and(|d| d < now)
    }
}

/// The guard context of one step on this issue: `{"event": {type, data, actor}, "issue": …}`,
/// built straight into the evaluator's arena.
pub struct StepContext<'s> {
    pub issue: &'s IssueState,
    pub event_type: &'s str,
    /// The payload as JSON text.
    pub data: &'s str,
    pub actor: crate::event::ActorRef<'s>,
}

impl GuardContext for StepContext<'_> {
    fn build<'a>(&'a self, arena: &'a Bump, reads: &Reads) -> DataValue<'a> {
        let obj = |fields: &[(&'a str, DataValue<'a>)]| DataValue::Object(arena.alloc_slice_clone(fields));
        let n = |x: u64| DataValue::from_i64(i64::try_from(x).unwrap_or(i64::MAX));
        let text = DataValue::String;
        let i = self.issue;
        let rank = crate::vocab::level_rank(&i.escalation_level).unwrap_or(0) as u64;
        let counts = if reads.counts {
            let c = &i.counts;
            obj(&[
                ("wishes", n(c.wishes.into())),
                ("wishes_claimed", n(c.wishes_claimed.into())),
                ("wishes_fulfilled", n(c.wishes_fulfilled.into())),
                ("pacts", n(c.pacts.into())),
                ("pacts_publicized", n(c.pacts_publicized.into())),
                ("pacts_adopted", n(c.pacts_adopted.into())),
                ("teams", n(c.teams.into())),
                ("projects", n(c.projects.into())),
                ("projects_completed", n(c.projects_completed.into())),
                ("pledges", n(c.pledges.into())),
                ("pledges_delivered", n(c.pledges_delivered.into())),
                ("resolutions_passed", n(c.resolutions_passed.into())),
                ("resolutions_rejected", n(c.resolutions_rejected.into())),
                ("deliberations", n(c.deliberations.into())),
                ("evaluations", n(c.evaluations.into())),
                ("micro_steps_done", n(c.micro_steps_done.into())),
            ])
        } else {
            DataValue::Null
        };
        let issue = [
            ("id", text(&i.id)),
            ("state", text(&i.state)),
            ("community", text(&i.community)),
            ("category", text(&i.category)),
            ("households_affected", n(i.households_affected)),
            ("escalation_level", text(&i.escalation_level)),
            ("escalation_rank", n(rank)),
            ("version", n(i.version)),
            ("counts", counts),
        ];
        // Counts not built are absent rather than null (no guard of the step reads them).
        let issue = if reads.counts { &issue[..] } else { &issue[..issue.len() - 1] };
        let a = self.actor;
        let mut actor = vec![("id", text(a.id)), ("role", text(a.role))];
        if let Some(name) = a.name {
            actor.push(("name", text(name)));
        }
        if let Some(community) = a.community {
            actor.push(("community", text(community)));
        }
        // A payload that does not parse (validation prevents it) reads as null: guards on it fail.
        let data =
            if reads.data { DataValue::from_str(self.data, arena).unwrap_or(DataValue::Null) } else { DataValue::Null };
        let event = obj(&[("type", text(self.event_type)), ("data", data), ("actor", obj(&actor))]);
        obj(&[("event", event), ("issue", obj(issue))])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{Catalog, embedded};
    use crate::event::NewEvent;
    use crate::workflow::{CompiledWorkflow, Guard};
    use serde_json::{Value, json};

    /// An issue part-way through the bench's lifecycle, folded by the real replay.
    fn issue_after(steps: usize) -> IssueState {
        let (_, text) = embedded::SHIPPED_WORKFLOWS.iter().find(|(n, _)| n.contains("community-issue")).unwrap();
        let wf = CompiledWorkflow::compile(&serde_json::from_str(text).unwrap(), Catalog::shipped()).unwrap();
        let recorded: Vec<_> = crate::bench::lifecycle(7)
            .into_iter()
            .take(steps)
            .enumerate()
            .map(|(v, (t, d, a))| {
                NewEvent::new(t, &d, a).into_recorded(
                    "issue-x".into(),
                    v as u64,
                    v as u64 + 1,
                    Utc::now(),
                    &[0; 32],
                    &[0; 32],
                )
            })
            .collect();
        crate::issue::replay::replay(&wf, &recorded).unwrap()
    }

    #[test]
    fn a_guard_decides_the_same_on_the_partial_context_as_on_the_whole_one() {
        // Given rules reading payload fields, counts, issue fields and the actor, and
        // payloads with those fields present, absent, nested, repeated or malformed,
        let rules = [
            json!({"or": [{"<=": [{"var": "event.data.budget_fen"}, 5000000]}, {"!=": [{"var": "issue.escalation_level"}, "community"]}]}),
            json!({"and": [{">": [{"var": "issue.counts.micro_steps_done"}, 0]}, {">=": [{"var": "event.data.satisfaction"}, 3]}]}),
            json!({"in": [{"var": "event.data.reason"}, ["duplicate", "out_of_scope", "merged"]]}),
            json!({"==": [{"var": "event.data.votes.for"}, 31]}),
            json!({"==": [{"val": ["event", "data", "kind"]}, "money"]}),
            json!({"!": [{"missing": ["event.data.pledge_id", "event.data.amount_fen"]}]}),
            json!({"==": [{"var": "event.actor.role"}, "charity"]}),
            json!({">": [{"var": "issue.households_affected"}, 100]}),
            json!({"some": [{"var": "event.data.clauses"}, {"==": [{"var": "en"}, "Volume under 60 dB"]}]}),
            json!({"==": [{"var": "event.data"}, null]}),
        ];
        let payloads = [
            json!({"budget_fen": 300000, "funding_source": "micro_venture", "title": {"zh-CN": "耳机", "en": "Headsets"}}),
            json!({"budget_fen": 9000000}),
            json!({"satisfaction": 4, "outcome": "resolved", "evaluator": {"name": "赵代表"}}),
            json!({"satisfaction": 2}),
            json!({"reason": "duplicate"}),
            json!({"votes": {"for": 31, "against": 4}, "pact_id": "p-1"}),
            json!({"kind": "money", "pledge_id": "pl-1", "amount_fen": 50000}),
            json!({"clauses": [{"zh-CN": "音量", "en": "Volume under 60 dB"}]}),
            json!({}),
            json!([1, 2]),
        ];
        let raw = [r#"{"budget_fen": 1, "budget_fen": 9000000}"#.to_string(), r#"{"budget_fen": 1"#.to_string()];
        let texts: Vec<String> = payloads.iter().map(Value::to_string).chain(raw).collect();
        for steps in [2, 9, 14] {
            let issue = issue_after(steps);
            for rule in &rules {
                let g = Guard::compile(rule).unwrap();
                for data in &texts {
                    let ctx = StepContext {
                        issue: &issue,
                        event_type: "MicroProjectUndertaken",
                        data,
                        actor: crate::event::ActorRef { id: "ch1", name: None, role: "charity", community: None },
                    };
                    // when the guard is evaluated on the context built for what it reads,
                    let (a, b) = (Bump::new(), Bump::new());
                    let partial = ctx.build(&a, g.reads());
                    let whole = ctx.build(&b, &Reads::ALL);
                    // then it decides exactly as on the whole context.
                    assert_eq!(
                        g.holds_in(&partial, &a),
                        g.holds_in(&whole, &b),
                        "rule {rule} on {data} after {steps} steps"
                    );
                }
            }
        }
    }
}
