//! RFC 9457 problem details (`application/problem+json`) for every error the API returns.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use convene_engine::EngineError;
use convene_engine::issue::Refusal;
use convene_engine::meeting::MeetingRefusal;
use convene_engine::store::StoreError;
use serde::Serialize;
use serde_json::{Map, Value};

/// A problem response. `title` and `detail` are "中文 / English".
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Extension members (allowed_steps, errors, diagnostics, current_version, …).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Problem {
    pub fn new(status: StatusCode, slug: &str, title: &str, detail: impl Into<String>) -> Self {
        Problem {
            kind: format!("https://convene.invalid/problems/{slug}"),
            title: title.to_string(),
            status: status.as_u16(),
            detail: detail.into(),
            extra: Map::new(),
        }
    }

    pub fn with(mut self, key: &str, value: impl Serialize) -> Self {
        self.extra.insert(key.to_string(), serde_json::to_value(value).unwrap_or(Value::Null));
        self
    }

    pub fn bad_request(detail: impl Into<String>) -> Self {
        Problem::new(StatusCode::BAD_REQUEST, "bad-request", "请求格式错误 / Bad request", detail)
    }

    /// 507: the disk (of the log, the secrets, or the database server) is full. The operator
    /// has to free space; the client only has to retry later, and nothing was written.
    pub fn storage_full(cause: &str) -> Self {
        tracing::error!(error = %cause, "the storage is full; writes fail until disk space is freed");
        Problem::new(
            StatusCode::INSUFFICIENT_STORAGE,
            "storage-full",
            "存储空间已满 / Storage full",
            "服务器存储空间已满，本次操作未写入任何内容；请稍后重试，并请管理员腾出磁盘空间 / the server's storage is \
             full and nothing of this request was written; retry later (an operator has to free disk space)",
        )
    }

    /// 503: the database cannot be reached right now (restarting, failing over, the network
    /// to it down) and the writer's own retries ran out. Honest about what happened: when the
    /// connection broke during a COMMIT the append may have been written, and the client's
    /// way out is the same either way: send the same request with the same `Idempotency-Key`,
    /// which records it exactly once.
    pub fn store_unavailable(outcome_unknown: bool, cause: &str) -> Self {
        tracing::warn!(error = %cause, outcome_unknown, "the database is unavailable; answered 503");
        let detail = if outcome_unknown {
            "与数据库的连接在提交时中断，本次写入可能已保存；请稍后用相同的 Idempotency-Key 重发同一请求，只会记录一次 / \
             the connection to the database broke while committing, so this may have been written; retry the same \
             request with the same Idempotency-Key later and it is recorded exactly once"
        } else {
            "数据库暂时无法连接，本次操作未写入任何内容；请稍后重试（写入请带 Idempotency-Key） / the database cannot be \
             reached right now and nothing of this request was written; retry later (send writes with an \
             Idempotency-Key)"
        };
        Problem::new(StatusCode::SERVICE_UNAVAILABLE, "store-unavailable", "存储暂不可用 / Storage unavailable", detail)
            .with("outcome_unknown", outcome_unknown)
            .with("retry_after", STORE_RETRY_AFTER_SECS)
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Problem::new(StatusCode::NOT_FOUND, "not-found", "未找到 / Not found", detail)
    }

    pub fn unprocessable(detail: impl Into<String>) -> Self {
        Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", "内容不符合规范 / Invalid content", detail)
    }
}

/// Seconds a client is told to wait before retrying after a 503 `store-unavailable`: a
/// PostgreSQL restart or a fail-over takes a few seconds, and the writer has already waited
/// `--db-outage-wait` before answering.
pub(crate) const STORE_RETRY_AFTER_SECS: u64 = 2;

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status, self.title, self.detail)
    }
}

impl ResponseError for Problem {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        let mut r = HttpResponse::build(self.status_code());
        if self.status == 401 {
            // RFC 6750 §3: a 401 names the scheme the client should use.
            r.insert_header((actix_web::http::header::WWW_AUTHENTICATE, "Bearer realm=\"convene\""));
        }
        if self.status == 405 {
            // RFC 9110 §15.5.6: a 405 lists the methods the resource takes.
            let allow: Vec<&str> = self
                .extra
                .get("allow")
                .and_then(Value::as_array)
                .map_or_else(Vec::new, |a| a.iter().filter_map(Value::as_str).collect());
            r.insert_header((actix_web::http::header::ALLOW, allow.join(", ")));
        }
        if let Some(secs) = self.extra.get("retry_after").and_then(Value::as_u64) {
            // RFC 9110 §10.2.3: when a 503 is worth retrying.
            r.insert_header((actix_web::http::header::RETRY_AFTER, secs.to_string()));
        }
        r.content_type("application/problem+json").json(self)
    }
}

fn refusal(r: Refusal) -> Problem {
    let msg = r.message().both();
    let allowed = r.allowed().to_vec();
    let p = match &r {
        Refusal::UnknownStep { .. } => {
            Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "unknown-step", "未知的步骤 / Unknown step", msg)
        }
        Refusal::InvalidPayload { event_type, errors, .. } => {
            Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid-payload", "内容不符合规范 / Invalid payload", msg)
                .with("errors", errors)
                // Where a client finds the fields the step takes, to show them beside the errors.
                .with("schema", format!("/v1/event-types/{event_type}"))
        }
        Refusal::WrongRole { roles, .. } => {
            Problem::new(StatusCode::FORBIDDEN, "wrong-role", "角色无权记录此步骤 / Role may not record this step", msg)
                .with("roles", roles)
        }
        Refusal::OutOfCommunity { .. } => Problem::new(
            StatusCode::FORBIDDEN,
            "out-of-community",
            "不在本社区职责范围 / Outside the actor's community",
            msg,
        ),
        Refusal::NotInState { state, .. } => Problem::new(
            StatusCode::CONFLICT,
            "step-not-allowed",
            "当前状态不允许此步骤 / Step not allowed in the current state",
            msg,
        )
        .with("state", state),
        Refusal::DomainRule { code, .. } => {
            Problem::new(StatusCode::CONFLICT, "domain-rule", "不符合业务规则 / Domain rule violated", msg)
                .with("code", code)
        }
        Refusal::GuardFailed { guards, .. } => {
            Problem::new(StatusCode::CONFLICT, "guard-failed", "条件不满足 / Conditions not met", msg)
                .with("guards", guards)
        }
    };
    p.with("allowed_steps", allowed)
}

fn meeting_refusal(r: MeetingRefusal) -> Problem {
    let msg = r.message().both();
    let allowed = r.allowed().to_vec();
    let p = match &r {
        MeetingRefusal::UnknownStep { .. } => {
            Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "unknown-step", "未知的步骤 / Unknown step", msg)
        }
        MeetingRefusal::Computed { use_instead, .. } => Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "computed-by-engine",
            "由引擎计算，不能直接录入 / Computed by the engine",
            msg,
        )
        .with("use_instead", use_instead),
        MeetingRefusal::InvalidPayload { errors, .. } => {
            Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid-payload", "内容不符合规范 / Invalid payload", msg)
                .with("errors", errors)
        }
        MeetingRefusal::WrongRole { roles, .. } => {
            Problem::new(StatusCode::FORBIDDEN, "wrong-role", "角色无权记录此步骤 / Role may not record this step", msg)
                .with("roles", roles)
        }
        MeetingRefusal::OutOfCommunity { .. } => Problem::new(
            StatusCode::FORBIDDEN,
            "out-of-community",
            "不在本社区职责范围 / Outside the actor's community",
            msg,
        ),
        MeetingRefusal::NotInStatus { status, .. } => Problem::new(
            StatusCode::CONFLICT,
            "step-not-allowed",
            "会议当前状态不允许此步骤 / Step not allowed in the meeting's status",
            msg,
        )
        .with("status", status),
        MeetingRefusal::Rule { code, .. } => {
            let status = match *code {
                "unknown_issue" | "unknown_motion" | "unknown_participant" | "unknown_kind" | "unknown_event_type" => {
                    StatusCode::UNPROCESSABLE_ENTITY
                }
                _ => StatusCode::CONFLICT,
            };
            Problem::new(status, "meeting-rule", "不符合会议规则 / Meeting rule", msg).with("code", code)
        }
        MeetingRefusal::QuorumNotReached { requirements, .. } => {
            Problem::new(StatusCode::CONFLICT, "quorum-not-reached", "未达到法定人数 / Quorum not reached", msg)
                .with("code", "quorum_not_reached")
                .with("requirements", requirements)
        }
        MeetingRefusal::Issue { issue_id, refusal, .. } => Problem::new(
            StatusCode::CONFLICT,
            "issue-refuses",
            "议题的工作流不允许 / The issue's workflow does not allow it",
            msg,
        )
        .with("code", "issue_refuses")
        .with("issue_id", issue_id)
        .with("issue_refusal", refusal)
        .with("issue_allowed_steps", refusal.allowed()),
    };
    p.with("allowed_steps", allowed)
}

impl From<EngineError> for Problem {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::NotFound(what) => Problem::not_found(format!("未找到 / not found: {what}")),
            EngineError::NotYetRaised(id) => Problem::not_found(format!(
                "该时间点议题尚未提出 / issue {id} had not been raised at that time"
            )),
            EngineError::Refused(r) => refusal(r),
            EngineError::MeetingRefused(r) => meeting_refusal(*r),
            EngineError::PreconditionFailed { expected, current } => Problem::new(
                StatusCode::PRECONDITION_FAILED,
                "stale-version",
                "版本已过期 / Version is stale",
                format!("If-Match 为 {expected}，当前版本为 {current} / If-Match was {expected}, current version is {current}"),
            )
            .with("current_version", current),
            EngineError::IdempotencyKeyReused => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency-key-reused",
                "幂等键已用于其他请求 / Idempotency-Key reused",
                "同一 Idempotency-Key 已用于不同的请求 / this Idempotency-Key was used for a different request",
            ),
            EngineError::InvalidWorkflow(diagnostics) => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-workflow",
                "工作流定义有误 / Invalid workflow definition",
                format!("{} 个问题 / {} problem(s)", diagnostics.len(), diagnostics.len()),
            )
            .with("diagnostics", diagnostics),
            e @ (EngineError::WorkflowVersionExists { .. } | EngineError::WorkflowVersionGap { .. }) => {
                Problem::new(StatusCode::CONFLICT, "workflow-version", "工作流版本冲突 / Workflow version conflict", e.to_string())
            }
            EngineError::UnknownWorkflow { id, version } => {
                let v = version.map(|v| format!(" v{v}")).unwrap_or_default();
                Problem::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "unknown-workflow",
                    "工作流未发布 / Workflow not published",
                    format!("工作流 {id}{v} 未发布 / workflow {id}{v} is not published"),
                )
            }
            EngineError::InvalidRequest(m) => Problem::unprocessable(m),
            EngineError::TooMuchContention => Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "contention",
                "并发冲突过多，请重试 / Too much contention, retry",
                "too many concurrent writers on this issue",
            )
            .with("retry_after", 1),
            EngineError::Store(StoreError::Closed) => Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "shutting-down",
                "服务正在停止 / Server is shutting down",
                "the event store is closed",
            ),
            EngineError::Store(StoreError::StorageFull(m)) => Problem::storage_full(&m),
            EngineError::Keys(k) if k.is_storage_full() => Problem::storage_full(&k.to_string()),
            EngineError::Store(StoreError::Unavailable { message, outcome_unknown }) => {
                Problem::store_unavailable(outcome_unknown, &message)
            }
            EngineError::Keys(k) if k.is_unavailable() => Problem::store_unavailable(false, &k.to_string()),
            EngineError::Store(StoreError::IdempotencyMismatch(m)) => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency-key-reused",
                "幂等键已用于其他请求 / Idempotency-Key reused",
                m,
            ),
            other => {
                // The detail stays in the server log: responses never carry internal details.
                let reference = uuid::Uuid::now_v7();
                tracing::error!(error = %other, %reference, "internal error");
                Problem::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "服务器内部错误 / Internal error",
                    format!("详见服务器日志，编号 {reference} / see the server log, reference {reference}"),
                )
                .with("reference", reference.to_string())
            }
        }
    }
}

/// Shape of an `application/problem+json` body, for the OpenAPI document.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ProblemDoc {
    /// URI identifying the kind of problem.
    #[serde(rename = "type")]
    pub kind: String,
    /// "中文 / English" summary.
    pub title: String,
    pub status: u16,
    /// "中文 / English" explanation.
    pub detail: String,
    /// On refused steps: the steps allowed now (type, label, roles, guarded).
    pub allowed_steps: Option<Vec<Value>>,
    /// On invalid payloads: `{pointer, message}` per problem.
    pub errors: Option<Vec<Value>>,
    /// On an issue step's invalid payload: where its JSON Schema is (`/v1/event-types/{type}`).
    pub schema: Option<String>,
    /// On invalid workflows: `{severity, code, path, message}` per problem.
    pub diagnostics: Option<Vec<Value>>,
    /// On a 503 worth retrying: seconds to wait, as the `Retry-After` header says.
    pub retry_after: Option<u64>,
    /// On a 503 `store-unavailable`: true when the connection broke during the COMMIT, so the
    /// write may have landed (resend with the same `Idempotency-Key`: recorded once either way).
    pub outcome_unknown: Option<bool>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unavailable(outcome_unknown: bool) -> EngineError {
        EngineError::Store(StoreError::Unavailable { message: "connection refused".into(), outcome_unknown })
    }

    #[test]
    fn an_unreachable_database_is_a_503_that_says_when_to_retry() {
        let p = Problem::from(unavailable(false));
        assert_eq!(p.status, 503);
        assert!(p.kind.ends_with("/store-unavailable"));
        assert_eq!(p.extra["outcome_unknown"], false);
        assert!(p.detail.contains("未写入任何内容") && p.detail.contains("nothing of this request was written"));
        assert!(!p.detail.contains("connection refused"), "internal details stay in the log");
        let r = p.error_response();
        assert_eq!(r.headers().get(actix_web::http::header::RETRY_AFTER).unwrap(), "2");
    }

    #[test]
    fn a_commit_cut_off_midway_is_a_503_that_does_not_claim_nothing_was_written() {
        let p = Problem::from(unavailable(true));
        assert_eq!(p.status, 503);
        assert_eq!(p.extra["outcome_unknown"], true);
        assert!(p.detail.contains("可能已保存") && p.detail.contains("may have been written"));
        assert!(p.detail.contains("Idempotency-Key"));
    }

    #[test]
    fn other_problems_carry_no_retry_after() {
        let r = Problem::not_found("x").error_response();
        assert!(r.headers().get(actix_web::http::header::RETRY_AFTER).is_none());
    }
}
