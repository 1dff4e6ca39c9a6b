//! What an issue looks like after replay.

use super::PayloadView;
use super::record::{DeliberationRecord, Resident};
use crate::event::Actor;
use crate::text::LocalizedText;
use crate::workflow::{Bump, DataValue, GuardContext, Name, PayloadReads, Reads};
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
    // State and event names are interned (see `Name`): a history of thousands of entries holds
    // one word per name.
    #[serde(rename = "type")]
    pub event_type: Name,
    pub from: Option<Name>,
    pub to: Name,
    pub at: DateTime<Utc>,
    /// Shared between the history entries of the same person (see `replay::Actors`).
    pub actor: std::sync::Arc<Actor>,
}

/// A meeting the issue went through.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct MeetingRef {
    pub meeting_id: compact_str::CompactString,
    /// Which event referred to it (PlacedOnAgenda, Deliberated, ResolutionPassed, …).
    pub via: Name,
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
    /// The payload as JSON text (empty if it was left out of a replay's page).
    pub data: &'s str,
    pub actor: crate::event::ActorRef<'s>,
    /// The payload's stored view, if usable: guards that read only fields it holds exactly
    /// are answered from it, without parsing the payload.
    pub view: Option<&'s PayloadView>,
    /// Whether the payload was left out of the page (`data` is empty then).
    pub payload_omitted: bool,
    /// Set when a guard needed the payload and it had been left out: the outcome of the step
    /// is then unknown, and the event must be folded again with its payload.
    pub payload_needed: std::cell::Cell<bool>,
}

impl<'s> StepContext<'s> {
    /// The context of an event with its payload (no view needed).
    pub fn new(issue: &'s IssueState, event_type: &'s str, data: &'s str, actor: crate::event::ActorRef<'s>) -> Self {
        StepContext {
            issue,
            event_type,
            data,
            actor,
            view: None,
            payload_omitted: false,
            payload_needed: std::cell::Cell::new(false),
        }
    }
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
        let data = match &reads.data {
            PayloadReads::Nothing => DataValue::Null,
            PayloadReads::Fields(fields) if let Some(data) = self.view.and_then(|v| v.guard_payload(fields, arena)) => {
                data
            }
            _ if self.payload_omitted => {
                self.payload_needed.set(true);
                DataValue::Null
            }
            // A payload that does not parse (validation prevents it) reads as null: guards on
            // it fail.
            _ => DataValue::from_str(self.data, arena).unwrap_or(DataValue::Null),
        };
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
                    let actor = crate::event::ActorRef { id: "ch1", name: None, role: "charity", community: None };
                    let ctx = StepContext::new(&issue, "MicroProjectUndertaken", data, actor);
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

    #[test]
    fn a_guard_answered_from_the_view_decides_exactly_as_over_the_payload() {
        let issue = issue_after(9);
        let actor = crate::event::ActorRef { id: "c1", name: None, role: "convener", community: None };
        // Given events of the shipped guards' types with payloads in and out of each guard's
        // range, and payloads whose view cannot answer (a reason that is an object, an integer
        // above i64::MAX, a required field missing so that no view is made),
        let cases: [(&str, Value); 10] = [
            ("IssueClosed", json!({"reason": "duplicate", "summary": {"zh-CN": "重复"}})),
            ("IssueClosed", json!({"reason": "resolved", "summary": {"zh-CN": "已解决"}})),
            ("IssueWithdrawn", json!({"reason": {"zh-CN": "撤回", "en": "Withdrawn"}, "outcome": "other"})),
            (
                "MicroProjectUndertaken",
                json!({"project_id": "p1", "title": {"zh-CN": "耳机"}, "undertaken_by": {"name": "社工"}, "budget_fen": 5_000_000, "funding_source": "micro_venture"}),
            ),
            (
                "MicroProjectUndertaken",
                json!({"project_id": "p1", "title": {"zh-CN": "耳机"}, "undertaken_by": {"name": "社工"}, "budget_fen": 5_000_001, "funding_source": "micro_venture"}),
            ),
            (
                "MicroProjectUndertaken",
                json!({"project_id": "p1", "title": {"zh-CN": "耳机"}, "undertaken_by": {"name": "社工"}, "budget_fen": u64::MAX, "funding_source": "x"}),
            ),
            ("Evaluated", json!({"evaluator": {"name": "赵代表"}, "satisfaction": 3, "outcome": "resolved"})),
            ("Evaluated", json!({"evaluator": {"name": "赵代表"}, "satisfaction": 2, "outcome": "unresolved"})),
            ("Evaluated", json!({"satisfaction": 5, "outcome": "resolved"})),
            ("NeedAssessed", json!({"method": "visit", "priority": "high"})),
        ];
        let rules = [
            json!({"in": [{"var": "event.data.reason"}, ["duplicate", "out_of_scope", "merged"]]}),
            json!({"or": [{"<=": [{"var": "event.data.budget_fen"}, 5000000]}, {"!=": [{"var": "issue.escalation_level"}, "community"]}]}),
            json!({">=": [{"var": "event.data.satisfaction"}, 3]}),
            json!({"and": [{"==": [{"var": "event.data.outcome"}, "resolved"]}, {"==": [{"var": "event.data.project_id"}, "p1"]}]}),
            json!({"==": [{"var": ["event.data.priority", "none"]}, "high"]}),
            json!({"==": [{"var": "event.data.reason.en"}, "Withdrawn"]}),
        ];
        for (event_type, payload) in &cases {
            let data = payload.to_string();
            let view = PayloadView::parse(event_type, &data);
            for rule in &rules {
                let g = Guard::compile(rule).unwrap();
                let over_payload =
                    StepContext { view: Some(&view), ..StepContext::new(&issue, event_type, &data, actor) };
                let from_view = StepContext {
                    view: Some(&view),
                    payload_omitted: true,
                    ..StepContext::new(&issue, event_type, "", actor)
                };
                let (a, b) = (Bump::new(), Bump::new());
                let plain = StepContext::new(&issue, event_type, &data, actor);
                let whole = plain.build(&a, &Reads::ALL);
                let with_payload = over_payload.build(&b, g.reads());
                let truth = g.holds_in(&whole, &a);
                // when the guard is evaluated with the payload beside the view,
                assert_eq!(g.holds_in(&with_payload, &b), truth, "{rule} on {event_type} {data}");
                // and with only the view, then it decides the same, or (when the view does
                // not hold a field exactly) it asks for the payload instead of guessing.
                let c = Bump::new();
                let only_view = from_view.build(&c, g.reads());
                if from_view.payload_needed.get() {
                    let Some(PayloadReads::Fields(fields)) = Some(&g.reads().data) else {
                        panic!("only named fields are answered from a view: {rule}")
                    };
                    assert!(
                        fields.iter().any(|f| view.guard_value(f).is_none()),
                        "{rule} on {event_type} {data}: the view held every field yet the payload was asked for"
                    );
                } else {
                    assert_eq!(g.holds_in(&only_view, &c), truth, "{rule} on {event_type} {data}, from the view");
                }
            }
        }
        // A field the view lists as answered is answered for a payload that has it.
        for (event_type, payload) in &cases {
            let view = PayloadView::parse(event_type, &payload.to_string());
            for field in payload.as_object().unwrap().keys() {
                if PayloadView::answers(event_type, field) && view != PayloadView::Unread {
                    let out_of_range = (field == "budget_fen" && payload[field] == json!(u64::MAX))
                        || (field == "reason" && !payload[field].is_string());
                    assert_eq!(view.guard_value(field).is_some(), !out_of_range, "{event_type}.{field}");
                }
            }
        }
    }
}
