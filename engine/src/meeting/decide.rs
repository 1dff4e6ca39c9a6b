//! Deciding a meeting step: status → role → payload → meeting rules → (for agenda items and
//! motions) the issue's own workflow. Computed events (quorum, motion outcome, minutes) are
//! produced here from the meeting's record, never taken from the client. Pure.

use super::agenda::agenda_area;
use super::effects::{dry_run, resolution_events};
use super::kind::{MeetingKind, VotingBase, VotingRule};
use super::minutes::{self, Format, Lang};
use super::refusal::{MeetingRefusal, MeetingStepOption};
use super::rules::{assess_quorum, decide_vote};
use super::state::{MeetingState, MeetingStatus, Motion, MotionStatus};
use crate::catalog::Catalog;
use crate::event::Actor;
use crate::issue::{IssueState, Votes};
use crate::text::LocalizedText;
use crate::vocab;
use crate::workflow::CompiledWorkflow;
use serde_json::{Value, json};
use std::sync::Arc;

/// A step someone wants to record on a meeting: an event type, or one of the commands the
/// engine turns into a computed event (EstablishQuorum, CloseVote, PublishMinutes).
#[derive(Debug, Clone)]
pub struct MeetingStep<'a> {
    pub step_type: &'a str,
    pub data: &'a Value,
    pub actor: &'a Actor,
}

/// The event to append.
#[derive(Debug, Clone, PartialEq)]
pub struct Decided {
    pub event_type: String,
    pub data: Value,
}

/// Looks an issue up with the workflow it is pinned to.
pub type IssueLookup<'a> = &'a dyn Fn(&str) -> Option<(IssueState, Arc<CompiledWorkflow>)>;

/// Every step type with its label, and the status it may be taken in.
/// Step type, zh-CN label, English label, the computed event it records, statuses allowed in.
type StepRow = (&'static str, &'static str, &'static str, Option<&'static str>, &'static [MeetingStatus]);

const STEPS: &[StepRow] = {
    use MeetingStatus::*;
    &[
        ("ParticipantInvited", "邀请参会人", "invite a participant", None, &[Scheduled, InSession]),
        ("AgendaItemAdded", "列入议程", "add an agenda item", None, &[Scheduled, InSession]),
        ("AgendaItemRemoved", "移出议程", "remove an agenda item", None, &[Scheduled, InSession]),
        ("MeetingOpened", "宣布开会", "open the meeting", None, &[Scheduled]),
        ("MeetingCancelled", "取消会议", "cancel the meeting", None, &[Scheduled]),
        ("AttendanceRecorded", "登记出席", "record attendance", None, &[InSession]),
        ("EstablishQuorum", "确认法定人数", "establish quorum", Some("QuorumEstablished"), &[InSession]),
        ("AgendaItemDeliberated", "记录协商", "record a deliberation", None, &[InSession]),
        ("MotionTabled", "提出动议", "table a motion", None, &[InSession]),
        ("VoteRecorded", "记录表决", "record a vote", None, &[InSession]),
        ("CloseVote", "结束表决并计票", "close the vote and count", Some("MotionCarried | MotionFailed"), &[InSession]),
        ("ActionItemAssigned", "分派行动事项", "assign an action item", None, &[InSession]),
        ("MeetingClosed", "宣布散会", "close the meeting", None, &[InSession]),
        ("PublishMinutes", "发布会议纪要", "publish the minutes", Some("MinutesPublished"), &[Closed]),
    ]
};

/// Events only the engine writes, and the command that produces each.
const COMPUTED: &[(&str, &str)] = &[
    ("QuorumEstablished", "EstablishQuorum"),
    ("MotionCarried", "CloseVote"),
    ("MotionFailed", "CloseVote"),
    ("MinutesPublished", "PublishMinutes"),
    ("MeetingScheduled", "POST /v1/meetings"),
];

/// The steps that may be recorded on the meeting now.
pub fn steps_now(m: &MeetingState) -> Vec<MeetingStepOption> {
    STEPS
        .iter()
        .filter(|(_, _, _, _, st)| st.contains(&m.status))
        .filter(|(t, ..)| *t != "PublishMinutes" || m.minutes.is_none())
        .map(|(t, zh, en, rec, _)| MeetingStepOption {
            step_type: t.to_string(),
            label: LocalizedText::new(*zh, *en),
            records: rec.map(str::to_string),
        })
        .collect()
}

/// The motion a vote or a close acts on: it must exist and still be open.
fn tabled_motion<'m>(m: &'m MeetingState, motion_id: &str) -> Result<&'m Motion, MeetingRefusal> {
    let Some(motion) = m.motion(motion_id) else {
        return Err(rule("unknown_motion", format!("动议 {motion_id} 不存在"), format!("no motion {motion_id}"), m));
    };
    if motion.status != MotionStatus::Tabled {
        return Err(rule(
            "motion_decided",
            format!("动议 {motion_id} 已表决完毕"),
            format!("motion {motion_id} is already decided"),
            m,
        ));
    }
    Ok(motion)
}

fn rule(code: &'static str, zh: impl Into<String>, en: impl Into<String>, m: &MeetingState) -> MeetingRefusal {
    MeetingRefusal::Rule { code, message: LocalizedText::new(zh, en), allowed: steps_now(m) }
}

fn validate(et: &str, data: &Value, catalog: &Catalog, m: &MeetingState) -> Result<(), MeetingRefusal> {
    catalog.validate(et, data).map_err(|errors| MeetingRefusal::InvalidPayload {
        step_type: et.to_string(),
        errors,
        allowed: steps_now(m),
    })
}

fn parse_rule(s: &str) -> VotingRule {
    match s {
        "two_thirds" => VotingRule::TwoThirds,
        "consensus" => VotingRule::Consensus,
        _ => VotingRule::Majority,
    }
}

fn parse_base(s: &str) -> VotingBase {
    if s == "voting_members" { VotingBase::VotingMembers } else { VotingBase::Cast }
}

/// Decides a step against the meeting's current state.
pub fn decide(
    kind: &MeetingKind,
    m: &MeetingState,
    step: &MeetingStep<'_>,
    issues: IssueLookup<'_>,
    catalog: &Catalog,
) -> Result<Decided, MeetingRefusal> {
    let st = step.step_type;
    let allowed = || steps_now(m);
    if let Some((_, instead)) = COMPUTED.iter().find(|(c, _)| *c == st) {
        return Err(MeetingRefusal::Computed {
            step_type: st.into(),
            use_instead: instead.to_string(),
            allowed: allowed(),
        });
    }
    let Some((_, _, _, _, statuses)) = STEPS.iter().find(|(t, ..)| *t == st) else {
        return Err(MeetingRefusal::UnknownStep { step_type: st.into(), allowed: allowed() });
    };
    if !statuses.contains(&m.status) {
        return Err(MeetingRefusal::NotInStatus {
            step_type: st.into(),
            status: m.status.as_str().into(),
            allowed: allowed(),
        });
    }
    if !kind.recorded_by.iter().any(|r| r == &step.actor.role) {
        return Err(MeetingRefusal::WrongRole {
            step_type: st.into(),
            role: step.actor.role.clone(),
            roles: kind.recorded_by.clone(),
            allowed: allowed(),
        });
    }
    if let Some(c) = &step.actor.community
        && !vocab::community_within(&m.community, c)
    {
        return Err(MeetingRefusal::OutOfCommunity {
            actor_community: c.clone(),
            meeting_community: m.community.clone(),
            allowed: allowed(),
        });
    }
    let data = step.data;
    if !data.is_object() {
        return Err(MeetingRefusal::InvalidPayload {
            step_type: st.into(),
            errors: vec![crate::catalog::FieldError { pointer: String::new(), message: "must be an object".into() }],
            allowed: allowed(),
        });
    }
    let s = |k: &str| data[k].as_str().unwrap_or_default().to_string();
    let plain = |et: &str| -> Result<Decided, MeetingRefusal> {
        validate(et, data, catalog, m)?;
        Ok(Decided { event_type: et.to_string(), data: data.clone() })
    };
    match st {
        "ParticipantInvited" | "MeetingOpened" | "MeetingCancelled" => plain(st),
        "AttendanceRecorded" => {
            validate(st, data, catalog, m)?;
            let person = s("person_id");
            if m.participant(&person).is_none() {
                return Err(rule(
                    "unknown_participant",
                    format!("{person} 未受邀参会"),
                    format!("{person} is not invited"),
                    m,
                ));
            }
            if data["status"] == "proxy" {
                let to = s("proxy_to");
                if to == person || m.participant(&to).is_none() {
                    return Err(rule(
                        "bad_proxy",
                        format!("委托对象 {to} 须为其他受邀参会人"),
                        format!("the proxy holder {to} must be another invited participant"),
                        m,
                    ));
                }
            } else if data.get("proxy_to").is_some() {
                return Err(rule(
                    "bad_proxy",
                    "只有委托时才能填写 proxy_to",
                    "proxy_to goes with status proxy only",
                    m,
                ));
            }
            plain(st)
        }
        "AgendaItemAdded" => {
            let issue_id = s("issue_id");
            if m.agenda_item(&issue_id).is_some() {
                return Err(rule(
                    "already_on_agenda",
                    format!("议题 {issue_id} 已在议程上"),
                    format!("issue {issue_id} is already on the agenda"),
                    m,
                ));
            }
            let Some((issue, wf)) = issues(&issue_id) else {
                return Err(rule(
                    "unknown_issue",
                    format!("议题 {issue_id} 不存在"),
                    format!("no issue {issue_id}"),
                    m,
                ));
            };
            let area = agenda_area(kind, &m.community);
            if !vocab::community_within(&issue.community, &area) {
                return Err(rule(
                    "out_of_scope",
                    format!("议题属于 {}，不在本会议范围 {area} 内", issue.community),
                    format!("the issue belongs to {}, outside this meeting's area {area}", issue.community),
                    m,
                ));
            }
            if !kind.is_actionable(wf.id(), &issue.state) {
                let states = kind.actionable.get(wf.id()).map(|v| v.join(", ")).unwrap_or_default();
                return Err(rule(
                    "not_actionable",
                    format!("议题处于“{}”状态，{}不能处理（可处理：{states}）", issue.state_title.zh, kind.title.zh),
                    format!(
                        "the issue is {}; a {} acts on issues in {states}",
                        issue.state,
                        kind.title.en.as_deref().unwrap_or(&kind.id)
                    ),
                    m,
                ));
            }
            let mut d = data.clone();
            if d.get("order").is_none() {
                d["order"] = json!(m.agenda.iter().map(|a| a.order).max().unwrap_or(0) + 1);
            }
            d["title"] = serde_json::to_value(&issue.title).unwrap_or(Value::Null);
            d["issue_state"] = json!(issue.state);
            validate(st, &d, catalog, m)?;
            Ok(Decided { event_type: st.into(), data: d })
        }
        "AgendaItemRemoved" => {
            validate(st, data, catalog, m)?;
            let issue_id = s("issue_id");
            if m.agenda_item(&issue_id).is_none() {
                return Err(rule(
                    "not_on_agenda",
                    format!("议题 {issue_id} 不在议程上"),
                    format!("issue {issue_id} is not on the agenda"),
                    m,
                ));
            }
            if m.motions.iter().any(|x| x.issue_id == issue_id) {
                return Err(rule(
                    "has_motions",
                    "已就该议题提出动议，不能移出议程",
                    "a motion on this issue has been tabled; it stays on the agenda",
                    m,
                ));
            }
            plain(st)
        }
        "AgendaItemDeliberated" => {
            validate(st, data, catalog, m)?;
            let issue_id = s("issue_id");
            if m.agenda_item(&issue_id).is_none() {
                return Err(rule(
                    "not_on_agenda",
                    format!("议题 {issue_id} 不在议程上"),
                    format!("issue {issue_id} is not on the agenda"),
                    m,
                ));
            }
            // A participant named by id speaks under the name of their invitation, copied as
            // stored (sealed with their key).
            let mut d = data.clone();
            if let Some(speakers) = d.get_mut("speakers").and_then(Value::as_array_mut) {
                for sp in speakers.iter_mut() {
                    if let Some(obj) = sp.as_object_mut()
                        && !obj.contains_key("name")
                        && let Some(p) = obj.get("person_id").and_then(Value::as_str).and_then(|id| m.participant(id))
                    {
                        obj.insert("name".into(), serde_json::to_value(&p.name).unwrap_or(Value::Null));
                    }
                }
            }
            validate(st, &d, catalog, m)?;
            Ok(Decided { event_type: st.into(), data: d })
        }
        "EstablishQuorum" => {
            if let Some(open) = m.open_motion()
                && (!open.ballots.is_empty() || open.show_of_hands.is_some())
            {
                return Err(rule(
                    "vote_in_progress",
                    format!("动议 {} 正在表决，表决名单不能变更", open.motion_id),
                    format!("motion {} is being voted on; the voting list cannot change now", open.motion_id),
                    m,
                ));
            }
            let q = assess_quorum(kind, &m.participants);
            if !q.reached() {
                return Err(MeetingRefusal::QuorumNotReached { requirements: q.requirements, allowed: allowed() });
            }
            let mut d = json!({
                "invited": q.invited,
                "present": q.present,
                "represented": q.represented,
                "requirements": q.requirements,
                "voters": q.voters,
            });
            if let Some(n) = data.get("note") {
                d["note"] = n.clone();
            }
            validate("QuorumEstablished", &d, catalog, m)?;
            Ok(Decided { event_type: "QuorumEstablished".into(), data: d })
        }
        "MotionTabled" => {
            let mut d = data.clone();
            d["rule"] = json!(kind.voting.rule.as_str());
            d["base"] = json!(kind.voting.base.as_str());
            validate(st, &d, catalog, m)?;
            let motion_id = s("motion_id");
            let issue_id = s("issue_id");
            if m.motion(&motion_id).is_some() {
                return Err(rule(
                    "duplicate_motion",
                    format!("动议 {motion_id} 已存在"),
                    format!("motion {motion_id} already exists"),
                    m,
                ));
            }
            if let Some(open) = m.open_motion() {
                return Err(rule(
                    "motion_open",
                    format!("动议 {} 尚未表决完毕", open.motion_id),
                    format!("motion {} has not been decided yet", open.motion_id),
                    m,
                ));
            }
            if m.agenda_item(&issue_id).is_none() {
                return Err(rule(
                    "not_on_agenda",
                    format!("议题 {issue_id} 不在议程上"),
                    format!("issue {issue_id} is not on the agenda"),
                    m,
                ));
            }
            let Some((issue, wf)) = issues(&issue_id) else {
                return Err(rule(
                    "unknown_issue",
                    format!("议题 {issue_id} 不存在"),
                    format!("no issue {issue_id}"),
                    m,
                ));
            };
            let steps = serde_json::from_value(d["steps"].clone()).unwrap_or_default();
            let motion = Motion {
                motion_id: motion_id.clone(),
                issue_id: issue_id.clone(),
                text: serde_json::from_value(d["text"].clone()).unwrap_or_default(),
                proposer: serde_json::from_value(d["proposer"].clone()).unwrap_or_default(),
                steps,
                rule: kind.voting.rule.as_str().into(),
                base: kind.voting.base.as_str().into(),
                status: MotionStatus::Tabled,
                ballots: vec![],
                show_of_hands: None,
                votes: Votes::default(),
                eligible: None,
                explanation: None,
                tabled_version: m.version + 1,
                decided_at: None,
            };
            // The resolution, were it carried now, must go through the issue's workflow.
            let planned = resolution_events(&m.id, &motion, true, &Votes::default(), None, catalog);
            dry_run(&wf, &issue, &planned, &Actor::system(), catalog).map_err(|refusal| MeetingRefusal::Issue {
                issue_id: issue_id.clone(),
                refusal: Box::new(refusal),
                allowed: allowed(),
            })?;
            Ok(Decided { event_type: st.into(), data: d })
        }
        "VoteRecorded" => {
            let mut d = data.clone();
            validate(st, &d, catalog, m)?;
            let Some(q) = &m.quorum else {
                return Err(rule(
                    "no_quorum",
                    "尚未确认法定人数，不能表决",
                    "quorum has not been established; no vote can be taken",
                    m,
                ));
            };
            let motion_id = s("motion_id");
            let motion = tabled_motion(m, &motion_id)?;
            let eligible = q.voters.len() as u64;
            if let Some(c) = d.get("counts") {
                let v: Votes = serde_json::from_value(c.clone()).unwrap_or_default();
                if !motion.ballots.is_empty() || motion.show_of_hands.is_some() {
                    return Err(rule("vote_mode", "该动议已记录表决", "votes on this motion are already recorded", m));
                }
                let total = v.yes + v.against + v.abstain;
                if total > eligible {
                    return Err(rule(
                        "too_many_votes",
                        format!("票数合计 {total} 超过有表决权人数 {eligible}"),
                        format!("{total} votes exceed the {eligible} voting members"),
                        m,
                    ));
                }
            } else {
                let voter = s("voter");
                if motion.show_of_hands.is_some() {
                    return Err(rule(
                        "vote_mode",
                        "该动议已以举手计数方式表决",
                        "this motion was voted by a show of hands",
                        m,
                    ));
                }
                let Some(v) = q.voters.iter().find(|v| v.person_id == voter) else {
                    return Err(rule(
                        "not_a_voter",
                        format!("{voter} 不在确认法定人数时的表决名单中"),
                        format!("{voter} is not in the voting list frozen when quorum was established"),
                        m,
                    ));
                };
                if motion.ballots.iter().any(|b| b.voter == voter) {
                    return Err(rule(
                        "already_voted",
                        format!("{voter} 已投票"),
                        format!("{voter} has already voted"),
                        m,
                    ));
                }
                if let Some(h) = &v.cast_by {
                    d["cast_by"] = json!(h);
                }
            }
            Ok(Decided { event_type: st.into(), data: d })
        }
        "CloseVote" => {
            let motion_id = s("motion_id");
            let motion = tabled_motion(m, &motion_id)?;
            let Some(q) = &m.quorum else {
                return Err(rule(
                    "no_quorum",
                    "尚未确认法定人数，不能计票",
                    "quorum has not been established; no vote can be counted",
                    m,
                ));
            };
            let eligible = q.voters.len() as u64;
            let outcome = decide_vote(parse_rule(&motion.rule), parse_base(&motion.base), &motion.votes, eligible);
            let d = json!({
                "motion_id": motion_id,
                "issue_id": motion.issue_id,
                "votes": motion.votes,
                "eligible": eligible,
                "rule": motion.rule,
                "base": motion.base,
                "explanation": outcome.explanation,
            });
            let et = if outcome.carried { "MotionCarried" } else { "MotionFailed" };
            validate(et, &d, catalog, m)?;
            Ok(Decided { event_type: et.into(), data: d })
        }
        "ActionItemAssigned" => {
            validate(st, data, catalog, m)?;
            let id = s("action_item_id");
            let issue_id = s("issue_id");
            if m.action_items.iter().any(|a| a.action_item_id == id) {
                return Err(rule(
                    "duplicate_action_item",
                    format!("行动事项 {id} 已存在"),
                    format!("action item {id} already exists"),
                    m,
                ));
            }
            if m.agenda_item(&issue_id).is_none() {
                return Err(rule(
                    "not_on_agenda",
                    format!("议题 {issue_id} 不在议程上"),
                    format!("issue {issue_id} is not on the agenda"),
                    m,
                ));
            }
            if let Some(types) = data["done_when"].as_array()
                && let Some(bad) = types.iter().filter_map(Value::as_str).find(|t| !catalog.contains(t))
            {
                return Err(rule(
                    "unknown_event_type",
                    format!("未知的事件类型 {bad}"),
                    format!("unknown event type {bad}"),
                    m,
                ));
            }
            plain(st)
        }
        "MeetingClosed" => {
            if let Some(open) = m.open_motion() {
                return Err(rule(
                    "motion_open",
                    format!("动议 {} 尚未表决完毕，不能散会", open.motion_id),
                    format!("motion {} has not been decided; the meeting cannot close", open.motion_id),
                    m,
                ));
            }
            plain(st)
        }
        "PublishMinutes" => {
            if m.minutes.is_some() {
                return Err(rule("already_published", "会议纪要已发布", "the minutes are already published", m));
            }
            // Personal values in their sealed form: see `minutes::digest`.
            let md = minutes::render(m, kind, Lang::Zh, Format::Markdown, &crate::privacy::Names::sealed_form());
            let d = json!({
                "sha256": minutes::digest(&md),
                "languages": ["zh-CN", "en"],
            });
            validate("MinutesPublished", &d, catalog, m)?;
            Ok(Decided { event_type: "MinutesPublished".into(), data: d })
        }
        _ => Err(MeetingRefusal::UnknownStep { step_type: st.into(), allowed: allowed() }),
    }
}
