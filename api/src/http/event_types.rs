//! `/v1/event-types`: the event vocabulary, for clients that build their step forms from it.
//!
//! An issue's `allowed_steps` names the event types a caller may record now; this is where a
//! mini-program finds what each one needs: its label in zh-CN and English, which fields hold
//! personal data (sealed by the engine), the roles a workflow lets record it, and its JSON
//! Schema as one self-contained document.

use super::AppState;
use super::problem::Problem;
use actix_web::{HttpResponse, web};
use convene_engine::catalog::EventType;
use convene_engine::workflow::CompiledWorkflow;
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    workflow: Option<String>,
}

fn summary(t: &EventType, wf: Option<&CompiledWorkflow>) -> Value {
    let mut item = t.summary();
    item["schema"] = json!(format!("/v1/event-types/{}", t.name));
    if let Some(wf) = wf {
        item["roles"] = json!(wf.roles_for(&t.name));
    }
    item
}

/// The event types the engine knows (label, schema version, personal fields, schema link).
/// With `workflow`, only those an issue under that workflow's latest version records, each
/// with the roles that may record it.
#[utoipa::path(get, path = "/v1/event-types",
    params(("workflow" = Option<String>, Query, description = "a published workflow id: only its event types, with their roles")),
    responses((status = 200, description = "{items: [{type, schema_version, label, description, personal, schema, roles?}], workflow?}"),
        (status = 404, description = "workflow not published", body = super::problem::ProblemDoc)))]
pub async fn list(state: web::Data<AppState>, q: web::Query<ListQuery>) -> Result<HttpResponse, Problem> {
    let catalog = state.engine.catalog();
    let Some(id) = q.into_inner().workflow else {
        let items: Vec<Value> = catalog.types().map(|t| summary(t, None)).collect();
        return Ok(HttpResponse::Ok().json(json!({"items": items})));
    };
    let workflows = state.engine.workflows().await?;
    let latest = workflows
        .iter()
        .filter(|w| w.id() == id)
        .max_by_key(|w| w.version())
        .ok_or_else(|| Problem::not_found(format!("工作流 {id} 未发布 / workflow {id} is not published")))?;
    let items: Vec<Value> = latest
        .event_types()
        .into_iter()
        .filter_map(|name| catalog.get(name))
        .map(|t| summary(t, Some(latest)))
        .collect();
    Ok(HttpResponse::Ok().json(json!({
        "workflow": {"id": latest.id(), "version": latest.version()},
        "items": items,
    })))
}

/// One event type's JSON Schema (draft 2020-12) as a self-contained document: the shared
/// definitions it uses are bundled under `$defs`.
#[utoipa::path(get, path = "/v1/event-types/{type}", params(("type" = String, Path, description = "e.g. MicroPactDrafted")),
    responses((status = 200, description = "the JSON Schema", content_type = "application/schema+json"),
        (status = 404, description = "unknown event type", body = super::problem::ProblemDoc)))]
pub async fn schema(state: web::Data<AppState>, name: web::Path<String>) -> Result<HttpResponse, Problem> {
    let catalog = state.engine.catalog();
    let schema = catalog.bundled_schema(&name).ok_or_else(|| {
        Problem::not_found(format!(
            "未知的事件类型 {name}，可用类型见 /v1/event-types / unknown event type {name}; the known ones are listed at /v1/event-types"
        ))
    })?;
    Ok(HttpResponse::Ok()
        .content_type("application/schema+json")
        // The vocabulary changes only with a new build of the server.
        .insert_header(("Cache-Control", "public, max-age=300"))
        .json(schema))
}
