//! `GET /v1/export`: the log for auditors, as JSONL (verifiable with
//! `convene audit verify --file`) or CSV.

use super::AppState;
use super::auth::Caller;
use super::problem::Problem;
use actix_web::{HttpResponse, web};
use convene_engine::export::{self, ExportError, Format};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
pub struct ExportQuery {
    format: Option<String>,
    stream: Option<String>,
}

/// Every event (or one stream's) in global order: `format=jsonl` (default) or `csv`. The whole
/// log needs an auditor or admin with the `*` scope; one issue's or meeting's stream, a scope
/// covering its community.
#[utoipa::path(get, path = "/v1/export", params(("format" = Option<String>, Query, description = "jsonl (default) or csv"), ("stream" = Option<String>, Query)),
    responses((status = 200, description = "application/x-ndjson or text/csv"), (status = 403, description = "scope", body = super::problem::ProblemDoc)))]
pub async fn export(
    state: web::Data<AppState>,
    caller: Caller,
    q: web::Query<ExportQuery>,
) -> Result<HttpResponse, Problem> {
    let format = Format::parse(q.format.as_deref().unwrap_or("jsonl"))
        .ok_or_else(|| Problem::bad_request("format 须为 jsonl 或 csv / format must be jsonl or csv"))?;
    match &q.stream {
        Some(s) => match super::audit::stream_community(&state, s).await? {
            Some(c) => caller.may_read(&c)?,
            None => caller.may_audit_all()?,
        },
        None => caller.may_audit_all()?,
    }
    let mut out = Vec::new();
    // CSV is read by people: personal values revealed (erased ones shown as erased); JSONL
    // carries the stored, sealed bytes, so it verifies.
    let keys = if format == Format::Csv { state.engine.person_keys() } else { None };
    export::export(state.engine.store().as_ref(), q.stream.as_deref(), format, keys, &mut out).await.map_err(|e| {
        match e {
            ExportError::Store(s) => Problem::from(convene_engine::EngineError::Store(s)),
            ExportError::Io(e) => Problem::from(convene_engine::EngineError::InvalidRequest(e.to_string())),
            ExportError::Keys(k) => Problem::from(convene_engine::EngineError::Keys(k)),
        }
    })?;
    let name = match format {
        Format::Jsonl => "convene-export.jsonl",
        Format::Csv => "convene-export.csv",
    };
    Ok(HttpResponse::Ok()
        .content_type(format.content_type())
        .insert_header(("Content-Disposition", format!("attachment; filename=\"{name}\"")))
        .body(out))
}
