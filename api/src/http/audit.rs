//! `/v1/audit`: verification of the whole log or one stream, signed checkpoints, the public key.

use super::AppState;
use super::auth::Caller;
use super::problem::Problem;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use convene_engine::audit::{self, AuditError};
use serde::Deserialize;
use serde_json::json;

#[derive(Debug, Deserialize)]
pub struct VerifyQuery {
    stream: Option<String>,
}

fn audit_problem(e: AuditError) -> Problem {
    match e {
        AuditError::Store(s) => convene_engine::EngineError::Store(s).into(),
        AuditError::Broken(n) => Problem::new(
            StatusCode::CONFLICT,
            "log-broken",
            "日志未通过校验，不签名 / The log does not verify; nothing signed",
            format!("{n} 个问题，请先运行 GET /v1/audit/verify / {n} problem(s): run GET /v1/audit/verify"),
        ),
        AuditError::Empty => {
            Problem::new(StatusCode::CONFLICT, "log-empty", "日志为空 / The log is empty", "nothing to sign")
        }
        AuditError::File { .. } => {
            tracing::error!(error = %e, "audit key or anchor file");
            Problem::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "服务器内部错误 / Internal error",
                "see the server log",
            )
        }
    }
}

/// The community a stream belongs to (None: it belongs to no community; only `*` scopes).
pub(super) async fn stream_community(state: &AppState, stream: &str) -> Result<Option<String>, Problem> {
    if let Some(id) = stream.strip_prefix("issue-") {
        return Ok(Some(state.engine.current(id).await?.community));
    }
    if let Some(id) = stream.strip_prefix("meeting-") {
        return Ok(Some(state.engine.meeting(id).await?.community));
    }
    Ok(None)
}

/// Verify every hash chain, the global positions and times, and the checkpoint series against
/// every signed checkpoint (and the anchor kept outside the database); `?stream=S` verifies one
/// stream's chain. `ok: false` and `first_break` (stream, version, position) on any break.
#[utoipa::path(get, path = "/v1/audit/verify", params(("stream" = Option<String>, Query)),
    responses((status = 200, description = "{ok, events, streams, head_position, signed_through, unsigned_tail, first_break, breaks}"),
        (status = 401, description = "no token", body = super::problem::ProblemDoc), (status = 403, description = "not an auditor or admin of this scope", body = super::problem::ProblemDoc)))]
pub async fn verify(
    state: web::Data<AppState>,
    caller: Caller,
    q: web::Query<VerifyQuery>,
) -> Result<HttpResponse, Problem> {
    let store = state.engine.store().as_ref();
    let report = match &q.stream {
        Some(stream) => {
            match stream_community(&state, stream).await? {
                Some(c) => caller.may_audit(&c)?,
                None => caller.may_audit_all()?,
            }
            audit::verify_stream(store, stream).await.map_err(audit_problem)?
        }
        None => {
            caller.may_audit_all()?;
            let (key, anchor) = match &state.audit_keys {
                Some(k) => (Some(k.verifying_key()), k.anchor().map_err(audit_problem)?),
                None => (None, None),
            };
            audit::verify_store(store, key, anchor).await.map_err(audit_problem)?
        }
    };
    Ok(HttpResponse::Ok().json(report))
}

/// Sign a checkpoint at the head of the log (admins; the server also does this periodically).
#[utoipa::path(post, path = "/v1/audit/checkpoints",
    responses((status = 201, description = "the signed checkpoint"), (status = 409, description = "the log does not verify", body = super::problem::ProblemDoc),
        (status = 403, description = "admins only", body = super::problem::ProblemDoc)))]
pub async fn checkpoint(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, Problem> {
    caller.may_administer("sign checkpoints")?;
    let keys = state.audit_keys.as_ref().ok_or_else(no_key)?;
    let (cp, _) = audit::checkpoint(state.engine.store().as_ref(), keys).await.map_err(audit_problem)?;
    Ok(HttpResponse::Created().json(cp))
}

fn no_key() -> Problem {
    Problem::new(
        StatusCode::NOT_FOUND,
        "no-signing-key",
        "未配置签名密钥 / No signing key",
        "this server signs no checkpoints",
    )
}

/// The latest signed checkpoint (the anchor), for an auditor to keep.
#[utoipa::path(get, path = "/v1/audit/checkpoints/latest",
    responses((status = 200, description = "checkpoint"), (status = 404, description = "none yet", body = super::problem::ProblemDoc)))]
pub async fn latest(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, Problem> {
    caller.may_read_all()?;
    let keys = state.audit_keys.as_ref().ok_or_else(no_key)?;
    match keys.anchor().map_err(audit_problem)? {
        Some(cp) => Ok(HttpResponse::Ok().json(cp)),
        None => Err(Problem::not_found("尚无检查点 / no checkpoint yet")),
    }
}

/// The Ed25519 public key checkpoints are signed with (64 hex digits).
#[utoipa::path(get, path = "/v1/audit/public-key", responses((status = 200, description = "{public_key}")))]
pub async fn public_key(state: web::Data<AppState>, _caller: Caller) -> Result<HttpResponse, Problem> {
    let keys = state.audit_keys.as_ref().ok_or_else(no_key)?;
    Ok(HttpResponse::Ok().json(json!({"algorithm": "Ed25519", "public_key": keys.public_hex()})))
}
