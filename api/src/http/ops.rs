//! Health, readiness and the OpenAPI document.

use super::AppState;
use super::problem::Problem;
use actix_web::ResponseError;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde_json::json;
use std::sync::atomic::Ordering;
use utoipa::OpenApi;

/// The OpenAPI 3.1 document, generated from the handlers' annotations.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "convene",
        description = "五社联动社区协商引擎 / Event-sourced coordination engine for five-society linkage community governance",
        version = env!("CARGO_PKG_VERSION")
    ),
    paths(
        super::workflows::list, super::workflows::get, super::workflows::publish,
        super::event_types::list, super::event_types::schema,
        super::issues::raise, super::issues::list, super::stats::stats, super::issues::get, super::issues::step, super::issues::events,
        super::meetings::schedule, super::meetings::list, super::meetings::get, super::meetings::step,
        super::meetings::events, super::meetings::suggest, super::meetings::minutes, super::meetings::action_items,
        super::events::list, super::events::live, super::audit::verify, super::audit::checkpoint,
        super::audit::latest, super::audit::public_key, super::export::export, super::timelines::issue, super::timelines::meeting,
        healthz, readyz, super::metrics::metrics
    ),
    components(schemas(
        super::issues::RaiseRequest, super::issues::StepRequest, super::issues::ActorBody,
        super::meetings::ScheduleRequest, super::meetings::MeetingStepRequest, super::meetings::SuggestRequest,
        super::problem::ProblemDoc
    ))
)]
pub struct ApiDoc;

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", responses((status = 200, description = "alive")))]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// Readiness: the store answers reads.
#[utoipa::path(get, path = "/readyz", responses((status = 200, description = "ready"), (status = 503, description = "store unavailable")))]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let store = state.engine.store();
    match store.read_all(0, 1).await {
        Ok(_) => {
            let bg = &state.background;
            HttpResponse::Ok().json(json!({
                "status": "ready",
                "backend": store.backend(),
                "head_position": *store.head().borrow(),
                "leader": *state.leader.borrow(),
                "background": {
                    "leader_terms": bg.terms.load(Ordering::Relaxed),
                    "audited_position": bg.audited_position.load(Ordering::Relaxed),
                    "broken_chains": bg.broken_chains.load(Ordering::Relaxed),
                },
            }))
        }
        // A load balancer takes this instance out of rotation until the database answers again.
        Err(e) => {
            let mut p = Problem::new(StatusCode::SERVICE_UNAVAILABLE, "not-ready", "未就绪 / Not ready", e.to_string());
            if e.is_unavailable() {
                p = p.with("retry_after", super::problem::STORE_RETRY_AFTER_SECS);
            }
            p.error_response()
        }
    }
}

pub async fn openapi() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}
