//! `/v1/workflows`: published definitions, and publishing a new version.

use super::AppState;
use super::auth::Caller;
use super::problem::Problem;
use actix_web::{HttpRequest, HttpResponse, web};
use convene_engine::Actor;
use convene_engine::workflow::CompiledWorkflow;
use serde_json::{Value, json};

fn summary(w: &CompiledWorkflow) -> Value {
    json!({
        "id": w.id(),
        "version": w.version(),
        "title": w.definition.title,
        "initial": w.definition.initial,
        "states": w.definition.states.keys().collect::<Vec<_>>(),
        "content_hash": w.content_hash,
    })
}

/// Every published workflow version (summaries).
#[utoipa::path(get, path = "/v1/workflows", responses((status = 200, description = "{items}")))]
pub async fn list(state: web::Data<AppState>) -> Result<HttpResponse, Problem> {
    let items: Vec<Value> = state.engine.workflows().await?.iter().map(|w| summary(w)).collect();
    Ok(HttpResponse::Ok().json(json!({"items": items})))
}

/// All versions of one workflow, with their full definitions.
#[utoipa::path(get, path = "/v1/workflows/{id}", params(("id" = String, Path)),
    responses((status = 200, description = "{id, versions}"), (status = 404, description = "not published", body = super::problem::ProblemDoc)))]
pub async fn get(state: web::Data<AppState>, id: web::Path<String>) -> Result<HttpResponse, Problem> {
    let versions: Vec<Value> = state
        .engine
        .workflows()
        .await?
        .iter()
        .filter(|w| w.id() == id.as_str())
        .map(|w| json!({"version": w.version(), "content_hash": w.content_hash, "definition": w.document}))
        .collect();
    if versions.is_empty() {
        return Err(Problem::not_found(format!("工作流 {id} 未发布 / workflow {id} is not published")));
    }
    Ok(HttpResponse::Ok().json(json!({"id": id.as_str(), "versions": versions})))
}

/// Publish a workflow definition version (the body is the definition document); admins only.
/// The actor is the token's (only without a token under `--insecure-dev`: the `X-Actor-Id` /
/// `X-Actor-Role` headers, default an anonymous convener).
#[utoipa::path(post, path = "/v1/workflows", request_body(content = Object, description = "workflow definition (schemas/workflow.schema.json)"),
    responses((status = 201, description = "published"), (status = 200, description = "this exact version was already published"),
        (status = 422, description = "invalid; diagnostics with path and code", body = super::problem::ProblemDoc), (status = 409, description = "version conflict", body = super::problem::ProblemDoc)))]
pub async fn publish(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    body: web::Json<Value>,
) -> Result<HttpResponse, Problem> {
    caller.may_administer("publish workflows")?;
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    let actor = match caller.principal() {
        Some(p) => p.actor(),
        None => Actor::new(
            header("X-Actor-Id").unwrap_or_else(|| "anonymous".into()),
            header("X-Actor-Role").unwrap_or_else(|| "convener".into()),
        ),
    };
    let p = state.engine.publish_workflow(&body, &actor).await?;
    let mut r = if p.created { HttpResponse::Created() } else { HttpResponse::Ok() };
    Ok(r.json(json!({"workflow": summary(&p.workflow), "created": p.created, "diagnostics": p.diagnostics})))
}
