//! `/v1/issues`: raise, list, read (with time travel), record steps, read the stream.

use super::AppState;
use super::auth::Caller;
use super::problem::Problem;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use convene_engine::Actor;
use convene_engine::projection::IssueFilter;
use convene_engine::service::{AsOf, RaiseIssue, RecordStep, StepOutcome};
use serde::Deserialize;
use serde_json::{Map, Value, json};

/// Who is acting: ignored when the request carries a token (the actor is the token's); only a
/// server started with `--insecure-dev` takes it from a request without a token.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ActorBody {
    /// Stable id of the person or account.
    pub id: String,
    /// Accepted for compatibility and not recorded: the log keeps the account (id, role,
    /// community), never a person's name.
    pub name: Option<String>,
    /// Role, e.g. resident, convener, social_worker, social_organisation, volunteer, charity.
    pub role: String,
    /// Community code the actor acts for; covers the communities below it.
    pub community: Option<String>,
}

impl From<ActorBody> for Actor {
    fn from(a: ActorBody) -> Actor {
        Actor { id: a.id, name: a.name, role: a.role, community: a.community }
    }
}

/// Raise an issue: the IssueRaised payload fields plus the workflow and the actor.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct RaiseRequest {
    /// Workflow id, e.g. `community-issue` (default) or `micro-wish`.
    #[serde(default = "default_workflow")]
    pub workflow_id: String,
    /// Pin a specific published version; default: the latest.
    pub workflow_version: Option<u32>,
    pub actor: Option<ActorBody>,
    /// community, title, description, category, households_affected, raised_by, channel,
    /// location, tags (see schemas/events/IssueRaised.json).
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub data: Map<String, Value>,
}

fn default_workflow() -> String {
    "community-issue".into()
}

/// Record one step on an issue.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct StepRequest {
    /// Event type, e.g. NeedAssessed, MicroPactAdopted.
    #[serde(rename = "type")]
    pub event_type: String,
    /// The payload (see schemas/events/<type>.json).
    #[schema(value_type = Object)]
    pub data: Value,
    pub actor: Option<ActorBody>,
}

pub(super) fn idempotency_key(req: &HttpRequest) -> Result<Option<String>, Problem> {
    match req.headers().get("Idempotency-Key") {
        None => Ok(None),
        Some(v) => {
            let s = v.to_str().map_err(|_| Problem::bad_request("Idempotency-Key 必须是 ASCII / must be ASCII"))?;
            if s.is_empty() || s.len() > 200 {
                return Err(Problem::bad_request("Idempotency-Key 长度须为 1..200 / must be 1..200 characters"));
            }
            Ok(Some(s.to_string()))
        }
    }
}

/// Parses `If-Match: "3"` (also `W/"3"` and a bare `3`). `*` means any version.
pub(super) fn if_match(req: &HttpRequest) -> Result<Option<u64>, Problem> {
    let Some(v) = req.headers().get(header::IF_MATCH) else { return Ok(None) };
    let s = v.to_str().map_err(|_| Problem::bad_request("If-Match 格式错误 / malformed If-Match"))?.trim();
    if s == "*" {
        return Ok(None);
    }
    let s = s.trim_start_matches("W/").trim_matches('"');
    s.parse::<u64>().map(Some).map_err(|_| {
        Problem::bad_request(format!(
            "If-Match 应为版本号，如 \"3\" / If-Match must be a version such as \"3\", got {s:?}"
        ))
    })
}

pub(super) fn etag(version: u64) -> (header::HeaderName, String) {
    (header::ETAG, format!("\"{version}\""))
}

async fn outcome_response(engine: &convene_engine::Engine, o: StepOutcome) -> Result<HttpResponse, Problem> {
    let issue = engine.revealed(&o.issue).await?;
    let mut r = HttpResponse::Created();
    r.insert_header(etag(o.issue.version));
    r.insert_header((header::LOCATION, format!("/v1/issues/{}", o.issue.id)));
    if o.replayed {
        r.insert_header(("Idempotent-Replayed", "true"));
    }
    Ok(r.json(json!({"event": o.event, "issue": issue})))
}

/// Raise a new issue (民事民提).
#[utoipa::path(post, path = "/v1/issues", request_body = RaiseRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "same key, same issue")),
    responses((status = 201, description = "raised: {event, issue}"), (status = 422, description = "invalid", body = super::problem::ProblemDoc), (status = 403, description = "role may not raise")))]
pub async fn raise(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    body: web::Json<RaiseRequest>,
) -> Result<HttpResponse, Problem> {
    caller.may_write()?;
    let body = body.into_inner();
    let cmd = RaiseIssue {
        workflow_id: body.workflow_id,
        workflow_version: body.workflow_version,
        data: Value::Object(body.data),
        actor: caller.actor(body.actor)?,
        idempotency_key: idempotency_key(&req)?,
    };
    // A refused raise leaves no issue, so its refusal lists no steps (the engine gives none);
    // the member is left out rather than sent empty, which for a step means "nothing is
    // allowed in this state".
    let outcome = state.engine.raise(cmd).await.map_err(|e| {
        let mut p = Problem::from(e);
        p.extra.remove("allowed_steps");
        p
    })?;
    outcome_response(&state.engine, outcome).await
}

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    community: Option<String>,
    state: Option<String>,
    workflow: Option<String>,
    category: Option<String>,
    overdue: Option<bool>,
    from: Option<String>,
    to: Option<String>,
    cursor: Option<String>,
    limit: Option<usize>,
}

/// List issues, newest first (a community code matches the communities below it;
/// `overdue=true` keeps the open ones past their current state's deadline; `from` / `to` keep
/// those raised in a period).
#[utoipa::path(get, path = "/v1/issues",
    params(("community" = Option<String>, Query), ("state" = Option<String>, Query), ("workflow" = Option<String>, Query), ("category" = Option<String>, Query), ("overdue" = Option<bool>, Query, description = "true: only open issues past their current state's deadline"), ("from" = Option<String>, Query, description = "raised on or after: a date (China Standard Time) or RFC 3339"), ("to" = Option<String>, Query, description = "raised before the end of this date, or before this RFC 3339 time"), ("cursor" = Option<String>, Query), ("limit" = Option<usize>, Query, description = "1..500, default 50")),
    responses((status = 200, description = "{items, next_cursor}")))]
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse, Problem> {
    let mut q = q.into_inner();
    q.community = caller.list_scope(q.community)?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(Problem::bad_request("limit 须在 1..500 之间 / limit must be 1..500"));
    }
    let cursor = match q.cursor.as_deref() {
        None | Some("") => None,
        Some(c) => Some(c.parse::<u64>().map_err(|_| Problem::bad_request("cursor 无效 / invalid cursor"))?),
    };
    let filter = IssueFilter {
        community: q.community,
        state: q.state,
        workflow: q.workflow,
        category: q.category,
        overdue_at: q.overdue.unwrap_or(false).then(chrono::Utc::now),
        raised_from: super::meetings::time("from", &q.from)?,
        raised_before: super::meetings::time("to", &q.to)?,
    };
    let page = state.engine.list_issues(&filter, cursor, limit).await?;
    let items = state.engine.revealed(&page.items).await?;
    Ok(HttpResponse::Ok().json(json!({"items": items, "next_cursor": page.next_cursor})))
}

#[derive(Debug, Deserialize)]
pub struct GetQuery {
    at: Option<String>,
    version: Option<u64>,
}

/// An issue's state; `?at=<RFC 3339>` or `?version=N` for the state as it was then.
#[utoipa::path(get, path = "/v1/issues/{id}",
    params(("id" = String, Path), ("at" = Option<String>, Query, description = "RFC 3339 time"), ("version" = Option<u64>, Query)),
    responses((status = 200, description = "issue state; ETag = version"), (status = 404, description = "not found", body = super::problem::ProblemDoc)))]
pub async fn get(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    q: web::Query<GetQuery>,
) -> Result<HttpResponse, Problem> {
    let id = id.into_inner();
    may_read_issue(&state, &caller, &id).await?;
    let issue = match (&q.at, q.version) {
        (Some(_), Some(_)) => return Err(Problem::bad_request("at 与 version 只能给一个 / give either at or version")),
        (Some(at), None) => {
            let t: DateTime<Utc> = DateTime::parse_from_rfc3339(at)
                .map_err(|e| Problem::bad_request(format!("at 须为 RFC 3339 时间 / at must be RFC 3339: {e}")))?
                .with_timezone(&Utc);
            state.engine.issue_as_of(&id, AsOf::Time(t)).await?
        }
        (None, Some(v)) => {
            let s = state.engine.issue_as_of(&id, AsOf::Version(v)).await?;
            if s.version != v {
                return Err(Problem::not_found(format!("议题没有版本 {v} / issue has no version {v}")));
            }
            s
        }
        (None, None) => state.engine.current(&id).await?,
    };
    let wf = state.engine.workflow(&issue.workflow.id, issue.workflow.version).await?;
    let allowed = wf.steps_in(issue.state_index, state.engine.catalog());
    let mut body = state.engine.revealed(&issue).await?;
    body["allowed_steps"] = serde_json::to_value(allowed).unwrap_or_default();
    Ok(HttpResponse::Ok().insert_header(etag(issue.version)).json(body))
}

/// Record a step (If-Match, Idempotency-Key).
#[utoipa::path(post, path = "/v1/issues/{id}/steps", request_body = StepRequest,
    params(("id" = String, Path), ("If-Match" = Option<String>, Header, description = "the version you saw, e.g. \"3\""), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, description = "{event, issue}"), (status = 409, description = "not allowed now; lists allowed_steps", body = super::problem::ProblemDoc),
        (status = 403, description = "role may not record it", body = super::problem::ProblemDoc), (status = 412, description = "stale If-Match", body = super::problem::ProblemDoc),
        (status = 422, description = "payload invalid; names the field", body = super::problem::ProblemDoc)))]
pub async fn step(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    id: web::Path<String>,
    body: web::Json<StepRequest>,
) -> Result<HttpResponse, Problem> {
    caller.may_write()?;
    let body = body.into_inner();
    let cmd = RecordStep {
        issue_id: id.into_inner(),
        event_type: body.event_type,
        data: body.data,
        actor: caller.actor(body.actor)?,
        expected_version: if_match(&req)?,
        idempotency_key: idempotency_key(&req)?,
        correlation_id: None,
        causation_id: None,
    };
    outcome_response(&state.engine, state.engine.step(cmd).await?).await
}

/// The issue's stream: every event with version, position, hashes.
#[utoipa::path(get, path = "/v1/issues/{id}/events", params(("id" = String, Path), ("reveal" = Option<bool>, Query, description = "true: payloads with personal values revealed (or 已删除 / erased); default: the stored, sealed bytes the hashes cover")),
    responses((status = 200, description = "{items}"), (status = 404, description = "not found", body = super::problem::ProblemDoc)))]
pub async fn events(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    q: web::Query<super::events::RevealQuery>,
) -> Result<HttpResponse, Problem> {
    may_read_issue(&state, &caller, &id).await?;
    let events = state.engine.issue_events(&id).await?;
    let version = events.last().map(|e| e.version).unwrap_or(0);
    let items = super::events::shown(&state.engine, &events, q.reveal.unwrap_or(false)).await?;
    Ok(HttpResponse::Ok().insert_header(etag(version)).json(json!({"items": items})))
}

/// Reads of one issue need a scope covering its community (403 otherwise; 404 if unknown).
pub(super) async fn may_read_issue(state: &AppState, caller: &Caller, id: &str) -> Result<(), Problem> {
    if caller.principal().is_none() {
        return Ok(());
    }
    let issue = state.engine.current(id).await?;
    caller.may_read(&issue.community)
}
