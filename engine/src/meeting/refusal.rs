//! Why a meeting step is refused. Each refusal carries the steps allowed now.

use super::state::RequirementCheck;
use crate::catalog::FieldError;
use crate::issue::Refusal;
use crate::text::LocalizedText;
use serde::Serialize;

/// A step that may be recorded on a meeting now.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct MeetingStepOption {
    #[serde(rename = "type")]
    pub step_type: String,
    pub label: LocalizedText,
    /// For commands the engine turns into a computed event: that event's type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub records: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, thiserror::Error)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MeetingRefusal {
    /// Not a meeting step at all (HTTP 422).
    #[error("unknown meeting step {step_type}")]
    UnknownStep { step_type: String, allowed: Vec<MeetingStepOption> },
    /// An event the engine computes (quorum, motion outcome, minutes); send the command
    /// instead (HTTP 422).
    #[error("{step_type} is computed by the engine; send {use_instead}")]
    Computed { step_type: String, use_instead: String, allowed: Vec<MeetingStepOption> },
    /// The meeting's status does not allow this step (HTTP 409).
    #[error("{step_type} is not allowed while the meeting is {status}")]
    NotInStatus { step_type: String, status: String, allowed: Vec<MeetingStepOption> },
    /// The actor's role may not record meeting steps of this kind (HTTP 403).
    #[error("role {role} may not record steps of this meeting")]
    WrongRole { step_type: String, role: String, roles: Vec<String>, allowed: Vec<MeetingStepOption> },
    /// The actor acts for another community (HTTP 403).
    #[error("actor acts for {actor_community}, not for {meeting_community}")]
    OutOfCommunity { actor_community: String, meeting_community: String, allowed: Vec<MeetingStepOption> },
    /// The payload does not match its schema (HTTP 422, names the field).
    #[error("payload of {step_type} is invalid")]
    InvalidPayload { step_type: String, errors: Vec<FieldError>, allowed: Vec<MeetingStepOption> },
    /// A meeting rule (HTTP 409, or 422 for a reference to something that does not exist).
    #[error("{}", message.both())]
    Rule { code: &'static str, message: LocalizedText, allowed: Vec<MeetingStepOption> },
    /// The attendance does not meet the kind's quorum (HTTP 409, with each requirement).
    #[error("quorum not reached")]
    QuorumNotReached { requirements: Vec<RequirementCheck>, allowed: Vec<MeetingStepOption> },
    /// The issue's workflow would not accept what the step implies (HTTP 409): e.g. a motion
    /// on an issue whose state does not allow a resolution, refused when tabled.
    #[error("issue {issue_id} refuses it: {refusal}")]
    Issue { issue_id: String, refusal: Box<Refusal>, allowed: Vec<MeetingStepOption> },
}

impl MeetingRefusal {
    pub fn allowed(&self) -> &[MeetingStepOption] {
        match self {
            MeetingRefusal::UnknownStep { allowed, .. }
            | MeetingRefusal::Computed { allowed, .. }
            | MeetingRefusal::NotInStatus { allowed, .. }
            | MeetingRefusal::WrongRole { allowed, .. }
            | MeetingRefusal::OutOfCommunity { allowed, .. }
            | MeetingRefusal::InvalidPayload { allowed, .. }
            | MeetingRefusal::Rule { allowed, .. }
            | MeetingRefusal::QuorumNotReached { allowed, .. }
            | MeetingRefusal::Issue { allowed, .. } => allowed,
        }
    }

    /// The stable code of a rule refusal (`no_quorum`, `not_actionable`, …), for clients.
    pub fn code(&self) -> &'static str {
        match self {
            MeetingRefusal::UnknownStep { .. } => "unknown_step",
            MeetingRefusal::Computed { .. } => "computed_by_engine",
            MeetingRefusal::NotInStatus { .. } => "not_in_status",
            MeetingRefusal::WrongRole { .. } => "wrong_role",
            MeetingRefusal::OutOfCommunity { .. } => "out_of_community",
            MeetingRefusal::InvalidPayload { .. } => "invalid_payload",
            MeetingRefusal::Rule { code, .. } => code,
            MeetingRefusal::QuorumNotReached { .. } => "quorum_not_reached",
            MeetingRefusal::Issue { .. } => "issue_refuses",
        }
    }

    /// A zh-CN / English sentence for people.
    pub fn message(&self) -> LocalizedText {
        match self {
            MeetingRefusal::UnknownStep { step_type, .. } => {
                LocalizedText::new(format!("未知的会议步骤 {step_type}"), format!("unknown meeting step {step_type}"))
            }
            MeetingRefusal::Computed { step_type, use_instead, .. } => LocalizedText::new(
                format!("{step_type} 由引擎根据会议记录计算得出，不能直接录入；请发送 {use_instead}"),
                format!("{step_type} is computed by the engine and never entered by hand; send {use_instead}"),
            ),
            MeetingRefusal::NotInStatus { step_type, status, .. } => LocalizedText::new(
                format!("会议当前状态为 {status}，不能记录 {step_type}"),
                format!("{step_type} is not allowed while the meeting is {status}"),
            ),
            MeetingRefusal::WrongRole { role, roles, .. } => LocalizedText::new(
                format!("角色 {role} 无权记录本会议的步骤（可记录的角色：{}）", roles.join("、")),
                format!("role {role} may not record this meeting's steps (allowed: {})", roles.join(", ")),
            ),
            MeetingRefusal::OutOfCommunity { actor_community, meeting_community, .. } => LocalizedText::new(
                format!("操作人属于 {actor_community}，不能处理 {meeting_community} 的会议"),
                format!("actor acts for {actor_community}, not for {meeting_community}"),
            ),
            MeetingRefusal::InvalidPayload { step_type, errors, .. } => {
                let at = errors.iter().map(|e| e.pointer.as_str()).collect::<Vec<_>>();
                LocalizedText::new(
                    format!("{step_type} 的内容不符合规范：{}", at.join("、")),
                    format!("{step_type} payload is invalid at {}", at.join(", ")),
                )
            }
            MeetingRefusal::Rule { message, .. } => message.clone(),
            MeetingRefusal::QuorumNotReached { requirements, .. } => {
                let missing: Vec<&RequirementCheck> = requirements.iter().filter(|r| !r.met).collect();
                LocalizedText::new(
                    format!(
                        "未达到法定人数：{}",
                        missing
                            .iter()
                            .map(|r| format!("{}（现 {}）", r.description.zh, r.have))
                            .collect::<Vec<_>>()
                            .join("；")
                    ),
                    format!(
                        "quorum not reached: {}",
                        missing
                            .iter()
                            .map(|r| format!("{} (have {})", r.description.en.as_deref().unwrap_or_default(), r.have))
                            .collect::<Vec<_>>()
                            .join("; ")
                    ),
                )
            }
            MeetingRefusal::Issue { issue_id, refusal, .. } => {
                let m = refusal.message();
                LocalizedText::new(
                    format!("议题 {issue_id} 不接受：{}", m.zh),
                    format!("issue {issue_id} refuses it: {}", m.en.unwrap_or(m.zh)),
                )
            }
        }
    }
}
