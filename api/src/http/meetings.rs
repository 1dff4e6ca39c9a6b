//! `/v1/meetings` and `/v1/action-items`: schedule, list, read (with time travel), record
//! steps (same conventions as issue steps: If-Match, Idempotency-Key, 409 with the allowed
//! steps, 422 naming the field), the agenda builder, the generated minutes, and the follow-up
//! list of action items.

use super::AppState;
use super::auth::Caller;
use super::issues::{ActorBody, etag, idempotency_key, if_match};
use super::problem::Problem;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, NaiveDate, Utc};
use convene_engine::meeting::MeetingFilter;
use convene_engine::meeting::minutes::{Format, Lang};
use convene_engine::service::{AsOf, MeetingCommand, MeetingOutcome, ScheduleMeeting, meeting_json};
use convene_engine::{Actor, EngineError};
use serde::Deserialize;
use serde_json::{Map, Value, json};

/// Schedule a meeting: the MeetingScheduled payload fields plus the actor.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ScheduleRequest {
    /// A readable id, e.g. `dongting-2026-05-consultation-day`; default: a new UUID (or one
    /// derived from the Idempotency-Key).
    pub meeting_id: Option<String>,
    /// Ignored with a token (the token is the actor).
    pub actor: Option<ActorBody>,
    /// kind, community, title, scheduled_for (RFC 3339), venue, convener
    /// (see schemas/events/MeetingScheduled.json).
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub data: Map<String, Value>,
}

/// Record one step on a meeting.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct MeetingStepRequest {
    /// An event type (ParticipantInvited, AgendaItemAdded, AgendaItemRemoved, MeetingOpened,
    /// AttendanceRecorded, AgendaItemDeliberated, MotionTabled, VoteRecorded,
    /// ActionItemAssigned, MeetingClosed, MeetingCancelled) or a command the engine turns into
    /// a computed event (EstablishQuorum → QuorumEstablished, CloseVote → MotionCarried /
    /// MotionFailed, PublishMinutes → MinutesPublished).
    #[serde(rename = "type")]
    pub step_type: String,
    #[serde(default = "empty_object")]
    #[schema(value_type = Object)]
    pub data: Value,
    /// Ignored with a token (the token is the actor).
    pub actor: Option<ActorBody>,
}

fn empty_object() -> Value {
    json!({})
}

/// Ask for an agenda proposal; with `accept`, add it to the agenda as proposed.
#[derive(Debug, Deserialize, Default, utoipa::ToSchema)]
pub struct SuggestRequest {
    /// Add every proposed item (and follow-up) to the agenda, in the proposed order.
    #[serde(default)]
    pub accept: bool,
    /// Who accepts (required with accept).
    pub actor: Option<ActorBody>,
    /// Judge deadlines as of this day (China Standard Time); default today.
    pub today: Option<NaiveDate>,
}

fn now_or(today: Option<NaiveDate>) -> DateTime<Utc> {
    // Noon in China on that day: unambiguously "that day" in UTC+8.
    today.and_then(|d| d.and_hms_opt(4, 0, 0)).map(|t| t.and_utc()).unwrap_or_else(Utc::now)
}

async fn outcome_response(
    engine: &convene_engine::Engine,
    o: MeetingOutcome,
    applied: &[(String, bool)],
) -> Result<HttpResponse, Problem> {
    let mut meeting = meeting_json(&o.meeting, applied);
    engine.reveal(&mut meeting).await?;
    let mut r = HttpResponse::Created();
    r.insert_header(etag(o.meeting.version));
    r.insert_header((header::LOCATION, format!("/v1/meetings/{}", o.meeting.id)));
    if o.replayed {
        r.insert_header(("Idempotent-Replayed", "true"));
    }
    Ok(r.json(json!({"event": o.event, "meeting": meeting})))
}

/// Schedule a meeting (MeetingScheduled).
#[utoipa::path(post, path = "/v1/meetings", request_body = ScheduleRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "same key, same meeting")),
    responses((status = 201, description = "{event, meeting}"), (status = 422, description = "invalid; names the field", body = super::problem::ProblemDoc),
        (status = 403, description = "role may not convene this kind", body = super::problem::ProblemDoc), (status = 409, description = "id taken", body = super::problem::ProblemDoc)))]
pub async fn schedule(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    body: web::Json<ScheduleRequest>,
) -> Result<HttpResponse, Problem> {
    caller.may_write()?;
    let body = body.into_inner();
    let cmd = ScheduleMeeting {
        meeting_id: body.meeting_id,
        data: Value::Object(body.data),
        actor: caller.actor(body.actor)?,
        idempotency_key: idempotency_key(&req)?,
    };
    outcome_response(&state.engine, state.engine.schedule_meeting(cmd).await?, &[]).await
}

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    community: Option<String>,
    from: Option<String>,
    to: Option<String>,
    kind: Option<String>,
}

pub(super) fn time(name: &str, s: &Option<String>) -> Result<Option<DateTime<Utc>>, Problem> {
    match s.as_deref() {
        None | Some("") => Ok(None),
        Some(s) => convene_engine::text::period_bound(s, name == "to").map(Some).map_err(|e| {
            Problem::bad_request(format!("{name} 须为日期或 RFC 3339 时间 / {name} must be a date or RFC 3339: {e}"))
        }),
    }
}

/// Meetings by scheduled time; `community` matches that community, those below it and the
/// street-wide meetings above it; `from`/`to` are dates (CST) or RFC 3339 times.
#[utoipa::path(get, path = "/v1/meetings",
    params(("community" = Option<String>, Query), ("from" = Option<String>, Query), ("to" = Option<String>, Query), ("kind" = Option<String>, Query)),
    responses((status = 200, description = "{items}")))]
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse, Problem> {
    let q = q.into_inner();
    let scoped = caller.principal().is_some_and(|p| !p.is_global());
    let filter = MeetingFilter {
        community: caller.list_scope(q.community.clone())?,
        from: time("from", &q.from)?,
        to: time("to", &q.to)?,
        kind: q.kind,
    };
    let items: Vec<Value> = state
        .engine
        .list_meetings(&filter)
        .await?
        .iter()
        // The filter also lists street-wide meetings above a community; a scoped token sees
        // only meetings inside its scope.
        .filter(|m| !scoped || caller.may_read(&m.community).is_ok())
        .map(|m| {
            json!({"id": m.id, "kind": m.kind, "community": m.community, "title": m.title, "scheduled_for": m.scheduled_for,
                "venue": m.venue, "status": m.status, "agenda_items": m.agenda.len(), "motions": m.motions.len(),
                "action_items": m.action_items.len(), "minutes_published": m.minutes.is_some(), "version": m.version})
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({"items": items})))
}

#[derive(Debug, Deserialize)]
pub struct GetQuery {
    at: Option<String>,
    version: Option<u64>,
}

fn as_of(q: &GetQuery) -> Result<Option<AsOf>, Problem> {
    match (&q.at, q.version) {
        (Some(_), Some(_)) => Err(Problem::bad_request("at 与 version 只能给一个 / give either at or version")),
        (Some(at), None) => {
            let t = DateTime::parse_from_rfc3339(at)
                .map_err(|e| Problem::bad_request(format!("at 须为 RFC 3339 时间 / at must be RFC 3339: {e}")))?;
            Ok(Some(AsOf::Time(t.with_timezone(&Utc))))
        }
        (None, Some(v)) => Ok(Some(AsOf::Version(v))),
        (None, None) => Ok(None),
    }
}

/// A meeting's state (ETag = version); `?at=` or `?version=` for the meeting as it was then.
#[utoipa::path(get, path = "/v1/meetings/{id}",
    params(("id" = String, Path), ("at" = Option<String>, Query, description = "RFC 3339 time"), ("version" = Option<u64>, Query)),
    responses((status = 200, description = "meeting state with allowed_steps; ETag = version"), (status = 404, description = "not found", body = super::problem::ProblemDoc)))]
pub async fn get(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    q: web::Query<GetQuery>,
) -> Result<HttpResponse, Problem> {
    may_read_meeting(&state, &caller, &id).await?;
    let m = match as_of(&q)? {
        Some(a) => {
            let m = state.engine.meeting_as_of(&id, a).await?;
            if let AsOf::Version(v) = a
                && m.version != v
            {
                return Err(Problem::not_found(format!("会议没有版本 {v} / meeting has no version {v}")));
            }
            m
        }
        None => state.engine.meeting(&id).await?,
    };
    let applied = state.engine.resolutions_applied(&m).await?;
    let mut body = meeting_json(&m, &applied);
    state.engine.reveal(&mut body).await?;
    Ok(HttpResponse::Ok().insert_header(etag(m.version)).json(body))
}

/// Record a step on a meeting (If-Match, Idempotency-Key).
#[utoipa::path(post, path = "/v1/meetings/{id}/steps", request_body = MeetingStepRequest,
    params(("id" = String, Path), ("If-Match" = Option<String>, Header, description = "the version you saw"), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, description = "{event, meeting}"), (status = 409, description = "not allowed now (status, quorum, rule, or the issue's workflow); lists allowed_steps", body = super::problem::ProblemDoc),
        (status = 403, description = "role may not record it", body = super::problem::ProblemDoc), (status = 412, description = "stale If-Match", body = super::problem::ProblemDoc),
        (status = 422, description = "payload invalid (names the field), or an event only the engine computes", body = super::problem::ProblemDoc)))]
pub async fn step(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    id: web::Path<String>,
    body: web::Json<MeetingStepRequest>,
) -> Result<HttpResponse, Problem> {
    caller.may_write()?;
    let body = body.into_inner();
    let cmd = MeetingCommand {
        meeting_id: id.into_inner(),
        step_type: body.step_type,
        data: body.data,
        actor: caller.actor(body.actor)?,
        expected_version: if_match(&req)?,
        idempotency_key: idempotency_key(&req)?,
    };
    let o = state.engine.meeting_step(cmd).await?;
    let applied = state.engine.resolutions_applied(&o.meeting).await?;
    outcome_response(&state.engine, o, &applied).await
}

/// The meeting's stream: every event with version, position, hashes.
#[utoipa::path(get, path = "/v1/meetings/{id}/events", params(("id" = String, Path), ("reveal" = Option<bool>, Query, description = "true: personal values revealed (or 已删除 / erased); default: stored, sealed bytes")),
    responses((status = 200, description = "{items}"), (status = 404, description = "not found", body = super::problem::ProblemDoc)))]
pub async fn events(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    q: web::Query<super::events::RevealQuery>,
) -> Result<HttpResponse, Problem> {
    may_read_meeting(&state, &caller, &id).await?;
    let events = state.engine.meeting_events(&id).await?;
    let version = events.last().map(|e| e.version).unwrap_or(0);
    let items = super::events::shown(&state.engine, &events, q.reveal.unwrap_or(false)).await?;
    Ok(HttpResponse::Ok().insert_header(etag(version)).json(json!({"items": items})))
}

/// Propose an agenda: the issues of the meeting's community (a joint meeting: its
/// sub-district) whose state is actionable for its kind, overdue first, then more households
/// affected, then older; plus unfinished action items of the last meeting and every overdue
/// one as follow-ups. Nothing is written unless `accept` is true.
#[utoipa::path(post, path = "/v1/meetings/{id}/agenda/suggest", request_body = SuggestRequest, params(("id" = String, Path)),
    responses((status = 200, description = "{meeting_id, area, rule, items, follow_ups, added?}"), (status = 404, description = "not found", body = super::problem::ProblemDoc)))]
pub async fn suggest(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    body: Option<web::Json<SuggestRequest>>,
) -> Result<HttpResponse, Problem> {
    may_read_meeting(&state, &caller, &id).await?;
    let body = body.map(|b| b.into_inner()).unwrap_or_default();
    let now = now_or(body.today);
    let suggestion = state.engine.suggest_agenda(&id, now).await?;
    let mut out = serde_json::to_value(&suggestion).unwrap_or_default();
    state.engine.reveal(&mut out).await?;
    if body.accept {
        caller.may_write()?;
        let actor: Actor = caller.actor(body.actor)?;
        // The token's holder (a person unless said otherwise: the engine seals the name).
        let holder = caller.principal().and_then(|p| p.name.clone()).or_else(|| actor.name.clone());
        let proposer = json!({"name": holder.unwrap_or_else(|| actor.id.clone())});
        let mut added = Vec::new();
        let mut adds: Vec<Value> = suggestion
            .items
            .iter()
            .map(|i| json!({"issue_id": i.issue_id, "order": i.order, "proposer": proposer}))
            .collect();
        let next = suggestion.items.iter().map(|i| i.order).max().unwrap_or(0);
        let mut seen: Vec<String> = suggestion.items.iter().map(|i| i.issue_id.clone()).collect();
        for (n, f) in suggestion.follow_ups.iter().enumerate() {
            if seen.contains(&f.item.item.issue_id) {
                continue;
            }
            seen.push(f.item.item.issue_id.clone());
            adds.push(json!({"issue_id": f.item.item.issue_id, "order": next + 1 + n as u64, "proposer": proposer,
                "follow_up_of": f.item.item.action_item_id}));
        }
        for data in adds {
            let cmd = MeetingCommand {
                meeting_id: id.to_string(),
                step_type: "AgendaItemAdded".into(),
                data: data.clone(),
                actor: actor.clone(),
                expected_version: None,
                idempotency_key: None,
            };
            match state.engine.meeting_step(cmd).await {
                Ok(o) => added.push(o.event),
                // Already there, or its issue moved on meanwhile: the convener edits by hand.
                Err(EngineError::MeetingRefused(r)) if matches!(r.code(), "already_on_agenda" | "not_actionable") => {}
                Err(e) => return Err(e.into()),
            }
        }
        out["added"] = serde_json::to_value(added).unwrap_or_default();
    }
    Ok(HttpResponse::Ok().json(out))
}

#[derive(Debug, Deserialize)]
pub struct MinutesQuery {
    lang: Option<String>,
    format: Option<String>,
    at: Option<String>,
    version: Option<u64>,
    sealed: Option<bool>,
}

/// The minutes, generated from the meeting's events: `lang=zh-CN|en`, `format=md|html`.
/// Names are revealed while their person's key exists (已删除 / erased after); `sealed=true`
/// writes them in their sealed form instead: the text whose SHA-256 MinutesPublished records.
#[utoipa::path(get, path = "/v1/meetings/{id}/minutes",
    params(("id" = String, Path), ("lang" = Option<String>, Query, description = "zh-CN (default) or en"), ("format" = Option<String>, Query, description = "md (default) or html"),
        ("at" = Option<String>, Query), ("version" = Option<u64>, Query),
        ("sealed" = Option<bool>, Query, description = "personal values in their sealed form (what the published digest covers)")),
    responses((status = 200, description = "text/markdown or text/html"), (status = 400, description = "bad lang or format", body = super::problem::ProblemDoc), (status = 404, description = "not found", body = super::problem::ProblemDoc)))]
pub async fn minutes(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    q: web::Query<MinutesQuery>,
) -> Result<HttpResponse, Problem> {
    may_read_meeting(&state, &caller, &id).await?;
    let q = q.into_inner();
    let lang = Lang::parse(q.lang.as_deref().unwrap_or("zh-CN"))
        .ok_or_else(|| Problem::bad_request("lang 须为 zh-CN 或 en / lang must be zh-CN or en"))?;
    let (format, ctype) = match q.format.as_deref().unwrap_or("md") {
        "md" | "markdown" => (Format::Markdown, "text/markdown; charset=utf-8"),
        "html" => (Format::Html, "text/html; charset=utf-8"),
        _ => return Err(Problem::bad_request("format 须为 md 或 html / format must be md or html")),
    };
    let at = as_of(&GetQuery { at: q.at, version: q.version })?;
    let (m, text) = state.engine.minutes(&id, at, lang, format, q.sealed.unwrap_or(false)).await?;
    let mut r = HttpResponse::Ok();
    r.content_type(ctype).insert_header(etag(m.version));
    if let Some(p) = &m.minutes {
        r.insert_header(("Minutes-Published-Sha256", p.sha256.clone()));
    }
    Ok(r.body(text))
}

#[derive(Debug, Deserialize)]
pub struct ActionItemsQuery {
    community: Option<String>,
    overdue: Option<bool>,
    today: Option<NaiveDate>,
}

/// Action items with owners and due dates; `overdue=true` for those past their due date
/// (China Standard Time) that no event on their issue has completed yet.
#[utoipa::path(get, path = "/v1/action-items",
    params(("community" = Option<String>, Query), ("overdue" = Option<bool>, Query), ("today" = Option<String>, Query, description = "judge as of this date (CST); default today")),
    responses((status = 200, description = "{items}")))]
pub async fn action_items(
    state: web::Data<AppState>,
    caller: Caller,
    q: web::Query<ActionItemsQuery>,
) -> Result<HttpResponse, Problem> {
    let mut q = q.into_inner();
    q.community = caller.list_scope(q.community)?;
    let now = now_or(q.today);
    let items: Vec<Value> = state
        .engine
        .action_items(q.community.as_deref(), q.overdue.unwrap_or(false), now)
        .await?
        .into_iter()
        .map(|(a, overdue)| {
            let mut v = serde_json::to_value(a).unwrap_or_default();
            v["overdue"] = json!(overdue);
            v
        })
        .collect();
    let mut body = json!({"items": items});
    state.engine.reveal(&mut body).await?;
    Ok(HttpResponse::Ok().json(body))
}

/// Reads of one meeting need a scope covering its community (403 otherwise; 404 if unknown).
pub(super) async fn may_read_meeting(state: &AppState, caller: &Caller, id: &str) -> Result<(), Problem> {
    if caller.principal().is_none() {
        return Ok(());
    }
    let m = state.engine.meeting(id).await?;
    caller.may_read(&m.community)
}
