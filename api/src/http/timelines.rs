//! `GET /v1/issues/{id}/timeline` and `GET /v1/meetings/{id}/timeline`: every step with when,
//! who in what role, and which state to which; zh-CN or English, Markdown, HTML or JSON.
//! Authorised like reading that issue or meeting.

use super::AppState;
use super::auth::Caller;
use super::issues::{etag, may_read_issue};
use super::meetings::may_read_meeting;
use super::problem::Problem;
use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use convene_engine::meeting::minutes::{Format, Lang};
use convene_engine::service::AsOf;
use convene_engine::timeline::{self, Timeline};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
pub struct TimelineQuery {
    lang: Option<String>,
    format: Option<String>,
    at: Option<String>,
    version: Option<u64>,
}

enum Out {
    Text(Format, &'static str),
    Json,
}

fn parse(q: &TimelineQuery) -> Result<(Lang, Out, Option<AsOf>), Problem> {
    let lang = Lang::parse(q.lang.as_deref().unwrap_or("zh-CN"))
        .ok_or_else(|| Problem::bad_request("lang 须为 zh-CN 或 en / lang must be zh-CN or en"))?;
    let out = match q.format.as_deref().unwrap_or("md") {
        "md" | "markdown" => Out::Text(Format::Markdown, "text/markdown; charset=utf-8"),
        "html" => Out::Text(Format::Html, "text/html; charset=utf-8"),
        "json" => Out::Json,
        _ => return Err(Problem::bad_request("format 须为 md、html 或 json / format must be md, html or json")),
    };
    let as_of = match (&q.at, q.version) {
        (Some(_), Some(_)) => return Err(Problem::bad_request("at 与 version 只能给一个 / give either at or version")),
        (Some(at), None) => {
            let t = DateTime::parse_from_rfc3339(at)
                .map_err(|e| Problem::bad_request(format!("at 须为 RFC 3339 时间 / at must be RFC 3339: {e}")))?;
            Some(AsOf::Time(t.with_timezone(&Utc)))
        }
        (None, Some(v)) => Some(AsOf::Version(v)),
        (None, None) => None,
    };
    Ok((lang, out, as_of))
}

fn respond(tl: &Timeline, lang: Lang, out: Out) -> HttpResponse {
    let version = tl.steps.last().map(|s| s.version).unwrap_or(0);
    let mut r = HttpResponse::Ok();
    r.insert_header(etag(version));
    match out {
        Out::Text(format, ctype) => r.content_type(ctype).body(timeline::render(tl, lang, format)),
        Out::Json => r.json(tl),
    }
}

/// The timeline of an issue (`?at=` / `?version=` for the steps up to then).
#[utoipa::path(get, path = "/v1/issues/{id}/timeline",
    params(("id" = String, Path), ("lang" = Option<String>, Query, description = "zh-CN (default) or en"),
        ("format" = Option<String>, Query, description = "md (default), html or json"),
        ("at" = Option<String>, Query, description = "RFC 3339 time"), ("version" = Option<u64>, Query)),
    responses((status = 200, description = "the timeline; ETag = the last version shown"), (status = 404, description = "not found", body = super::problem::ProblemDoc)))]
pub async fn issue(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    q: web::Query<TimelineQuery>,
) -> Result<HttpResponse, Problem> {
    may_read_issue(&state, &caller, &id).await?;
    let (lang, out, as_of) = parse(&q)?;
    let tl = state.engine.issue_timeline(&id, as_of).await?;
    Ok(respond(&tl, lang, out))
}

/// The timeline of a meeting (`?at=` / `?version=` for the steps up to then).
#[utoipa::path(get, path = "/v1/meetings/{id}/timeline",
    params(("id" = String, Path), ("lang" = Option<String>, Query, description = "zh-CN (default) or en"),
        ("format" = Option<String>, Query, description = "md (default), html or json"),
        ("at" = Option<String>, Query, description = "RFC 3339 time"), ("version" = Option<u64>, Query)),
    responses((status = 200, description = "the timeline; ETag = the last version shown"), (status = 404, description = "not found", body = super::problem::ProblemDoc)))]
pub async fn meeting(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    q: web::Query<TimelineQuery>,
) -> Result<HttpResponse, Problem> {
    may_read_meeting(&state, &caller, &id).await?;
    let (lang, out, as_of) = parse(&q)?;
    let tl = state.engine.meeting_timeline(&id, as_of).await?;
    Ok(respond(&tl, lang, out))
}
