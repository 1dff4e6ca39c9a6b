//! Deciding whether a step may be recorded now: state, role, payload schema, domain rules and
//! guard, in that order. Pure: the caller appends only if this says yes.

use super::state::{IssueState, StepContext};
use crate::catalog::{Catalog, FieldError};
use crate::event::Actor;
use crate::text::LocalizedText;
use crate::vocab;
use crate::workflow::{CompiledWorkflow, StepOption, TransitionChoice};
use serde::Serialize;
use serde_json::Value;

/// A step someone wants to record on an issue.
#[derive(Debug, Clone)]
pub struct Step<'a> {
    pub event_type: &'a str,
    pub data: &'a Value,
    pub actor: &'a Actor,
}

/// Why a step is refused. Each refusal carries the steps allowed now, so the client can offer
/// them instead.
#[derive(Debug, Clone, PartialEq, Serialize, thiserror::Error)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Refusal {
    /// The event type is not part of the vocabulary (HTTP 422).
    #[error("unknown step type {event_type}")]
    UnknownStep { event_type: String, allowed: Vec<StepOption> },
    /// The workflow has no such step in the current state (HTTP 409).
    #[error("step {event_type} is not allowed in state {state}")]
    NotInState { event_type: String, state: String, state_title: LocalizedText, allowed: Vec<StepOption> },
    /// The actor's role may not record this step (HTTP 403).
    #[error("role {role} may not record {event_type}")]
    WrongRole { event_type: String, role: String, roles: Vec<String>, allowed: Vec<StepOption> },
    /// The actor acts for another community (HTTP 403).
    #[error("actor acts for {actor_community}, not for {issue_community}")]
    OutOfCommunity { actor_community: String, issue_community: String, allowed: Vec<StepOption> },
    /// The payload does not match the event's schema (HTTP 422).
    #[error("payload of {event_type} is invalid")]
    InvalidPayload { event_type: String, errors: Vec<FieldError>, allowed: Vec<StepOption> },
    /// A rule of the domain the engine enforces for every workflow (HTTP 409).
    #[error("{message}")]
    DomainRule { code: &'static str, message: String, allowed: Vec<StepOption> },
    /// Every guard of the step failed (HTTP 409).
    #[error("the conditions for {event_type} do not hold")]
    GuardFailed { event_type: String, guards: Vec<Value>, allowed: Vec<StepOption> },
}

impl Refusal {
    pub fn allowed(&self) -> &[StepOption] {
        match self {
            Refusal::UnknownStep { allowed, .. }
            | Refusal::NotInState { allowed, .. }
            | Refusal::WrongRole { allowed, .. }
            | Refusal::OutOfCommunity { allowed, .. }
            | Refusal::InvalidPayload { allowed, .. }
            | Refusal::DomainRule { allowed, .. }
            | Refusal::GuardFailed { allowed, .. } => allowed,
        }
    }

    /// A zh-CN / English sentence for people.
    pub fn message(&self) -> LocalizedText {
        let (zh, en) = match self {
            Refusal::UnknownStep { event_type, .. } => {
                (format!("未知的步骤类型 {event_type}"), format!("unknown step type {event_type}"))
            }
            Refusal::NotInState { event_type, state, state_title, .. } => (
                format!("议题当前处于“{}”状态，不能记录 {event_type}", state_title.zh),
                format!("the issue is in state {state}; {event_type} cannot be recorded now"),
            ),
            Refusal::WrongRole { event_type, role, roles, .. } => (
                format!("角色 {role} 无权记录 {event_type}（可记录的角色：{}）", roles.join("、")),
                format!("role {role} may not record {event_type} (allowed: {})", roles.join(", ")),
            ),
            Refusal::OutOfCommunity { actor_community, issue_community, .. } => (
                format!("操作人属于 {actor_community}，不能处理 {issue_community} 的议题"),
                format!("actor acts for {actor_community}, not for {issue_community}"),
            ),
            Refusal::InvalidPayload { event_type, errors, .. } => (
                format!(
                    "{event_type} 的内容不符合规范：{}",
                    errors.iter().map(|e| e.pointer.as_str()).collect::<Vec<_>>().join("、")
                ),
                format!(
                    "{event_type} payload is invalid at {}",
                    errors.iter().map(|e| e.pointer.as_str()).collect::<Vec<_>>().join(", ")
                ),
            ),
            Refusal::DomainRule { message, .. } => {
                return LocalizedText { zh: message.clone(), en: None };
            }
            Refusal::GuardFailed { event_type, .. } => {
                (format!("记录 {event_type} 的条件不满足"), format!("the conditions for {event_type} do not hold"))
            }
        };
        LocalizedText { zh, en: Some(en) }
    }
}

fn rule(code: &'static str, zh: String, en: String, allowed: &[StepOption]) -> Refusal {
    Refusal::DomainRule { code, message: format!("{zh} / {en}"), allowed: allowed.to_vec() }
}

/// May this actor record `event_type` on an issue of `community`? The role must be one the
/// workflow names for the step; someone acting for a street covers its communities, a
/// community's staff only theirs (`None`: no community to check yet). Shared by `decide` and
/// by raising an issue.
pub fn check_actor(
    wf: &CompiledWorkflow,
    event_type: &str,
    actor: &Actor,
    community: Option<&str>,
    allowed: &[StepOption],
) -> Result<(), Refusal> {
    let roles = wf.roles_for(event_type);
    if !roles.iter().any(|r| r == &actor.role) {
        return Err(Refusal::WrongRole {
            event_type: event_type.to_string(),
            role: actor.role.clone(),
            roles: roles.to_vec(),
            allowed: allowed.to_vec(),
        });
    }
    match &actor.community {
        Some(c) if community.is_some_and(|ic| !vocab::community_within(ic, c)) => Err(Refusal::OutOfCommunity {
            actor_community: c.clone(),
            issue_community: community.unwrap_or_default().to_string(),
            allowed: allowed.to_vec(),
        }),
        _ => Ok(()),
    }
}

/// Decides a step against the issue's current state. Returns the target state index.
pub fn decide(wf: &CompiledWorkflow, state: &IssueState, step: &Step<'_>, catalog: &Catalog) -> Result<usize, Refusal> {
    let allowed = wf.steps_in(state.state_index, catalog);
    let et = step.event_type;
    if !catalog.contains(et) {
        return Err(Refusal::UnknownStep { event_type: et.to_string(), allowed });
    }
    if !wf.has_transition(state.state_index, et) {
        return Err(Refusal::NotInState {
            event_type: et.to_string(),
            state: state.state.clone(),
            state_title: state.state_title.clone(),
            allowed,
        });
    }
    check_actor(wf, et, step.actor, Some(&state.community), &allowed)?;
    if let Err(errors) = catalog.validate(et, step.data) {
        return Err(Refusal::InvalidPayload { event_type: et.to_string(), errors, allowed });
    }
    domain_rules(state, et, step.data, &allowed)?;
    let data_json = step.data.to_string();
    let ctx = StepContext::new(state, et, &data_json, step.actor.into());
    match wf.choose(state.state_index, et, &ctx) {
        TransitionChoice::To(t) => Ok(t),
        TransitionChoice::GuardFailed(guards) => {
            Err(Refusal::GuardFailed { event_type: et.to_string(), guards, allowed })
        }
        TransitionChoice::NotInState => Err(Refusal::NotInState {
            event_type: et.to_string(),
            state: state.state.clone(),
            state_title: state.state_title.clone(),
            allowed,
        }),
    }
}

/// Rules every workflow inherits: referential integrity of the micro steps, the order of a
/// pact's life (drafted → publicised → adopted), escalation one level at a time.
fn domain_rules(s: &IssueState, et: &str, data: &Value, allowed: &[StepOption]) -> Result<(), Refusal> {
    let id = |key: &str| data[key].as_str().unwrap_or_default().to_string();
    let (wish, pact, project, pledge) = (id("wish_id"), id("pact_id"), id("project_id"), id("pledge_id"));
    let r = &s.record;
    let wish_status = r.wishes.iter().find(|w| w.wish_id == wish).map(|w| w.status);
    let pact_status = r.pacts.iter().find(|p| p.pact_id == pact).map(|p| p.status);
    let project_status = r.projects.iter().find(|p| p.project_id == project).map(|p| p.status);
    let pledge_status = r.charity.iter().find(|p| p.pledge_id == pledge).map(|p| p.status);
    let dup = |what_zh: &str, what_en: &str, id: &str| {
        rule("duplicate_id", format!("{what_zh} {id} 已存在"), format!("{what_en} {id} already exists"), allowed)
    };
    let missing = |what_zh: &str, what_en: &str, id: &str, need: &str| {
        rule(
            "wrong_reference",
            format!("{what_zh} {id} 不存在或不处于“{need}”状态"),
            format!("{what_en} {id} does not exist or is not {need}"),
            allowed,
        )
    };
    match et {
        "MicroWishCollected" if wish_status.is_some() => Err(dup("微心愿", "micro-wish", &wish)),
        "MicroWishClaimed" if wish_status != Some("collected") => {
            Err(missing("微心愿", "micro-wish", &wish, "collected"))
        }
        "MicroWishFulfilled" if wish_status != Some("claimed") => {
            Err(missing("微心愿", "micro-wish", &wish, "claimed"))
        }
        "MicroPactDrafted" if pact_status.is_some() => Err(dup("微公约", "micro-pact", &pact)),
        "MicroPactPublicized" if pact_status != Some("drafted") => {
            Err(missing("微公约", "micro-pact", &pact, "drafted"))
        }
        "MicroPactPublicized" if data["until"].as_str() < data["from"].as_str() => Err(rule(
            "bad_period",
            "公示结束日期早于开始日期".into(),
            "publicity period ends before it starts".into(),
            allowed,
        )),
        "MicroPactAdopted" if pact_status != Some("publicized") => {
            Err(missing("微公约", "micro-pact", &pact, "publicized"))
        }
        "MicroTeamFormed" if r.teams.iter().any(|t| Some(t.team_id.as_str()) == data["team_id"].as_str()) => {
            Err(dup("微团队", "micro-team", data["team_id"].as_str().unwrap_or_default()))
        }
        "MicroProjectUndertaken" if project_status.is_some() => Err(dup("微项目", "micro-project", &project)),
        "MicroProjectUndertaken"
            if data["end"].is_string()
                && data["start"].is_string()
                && data["end"].as_str() < data["start"].as_str() =>
        {
            Err(rule("bad_period", "项目结束日期早于开始日期".into(), "project ends before it starts".into(), allowed))
        }
        "MicroProjectProgressReported" | "MicroProjectCompleted" if project_status != Some("undertaken") => {
            Err(missing("微项目", "micro-project", &project, "undertaken"))
        }
        "MicroCharityPledged" if pledge_status.is_some() => Err(dup("微公益认捐", "pledge", &pledge)),
        "MicroCharityPledged" if data["kind"] == "money" && data["amount_fen"].as_u64().unwrap_or(0) == 0 => Err(rule(
            "missing_amount",
            "资金认捐须注明金额（分）".into(),
            "a money pledge needs amount_fen".into(),
            allowed,
        )),
        "MicroCharityDelivered" if pledge_status != Some("pledged") => {
            Err(missing("微公益认捐", "pledge", &pledge, "pledged"))
        }
        "Escalated" => {
            let from = data["from_level"].as_str().unwrap_or_default();
            let to = data["to_level"].as_str().unwrap_or_default();
            let cur = vocab::level_rank(&s.escalation_level).unwrap_or(0);
            if from != s.escalation_level || vocab::level_rank(to) != Some(cur + 1) {
                Err(rule(
                    "escalation_order",
                    format!("只能从当前层级（{}）上报到上一级", s.escalation_level),
                    format!("escalation goes one level up from the current level ({})", s.escalation_level),
                    allowed,
                ))
            } else {
                Ok(())
            }
        }
        _ => Ok(()),
    }
}
