//! The REST API under `/v1`, plus `/healthz`, `/readyz`, `/metrics` and `/openapi.json`.
//!
//! Conventions: JSON in and out; errors are problem+json; `ETag` is the stream version and
//! `If-Match` is checked on steps; `Idempotency-Key` makes a command safe to retry; lists are
//! cursor-paginated; `/v1/events/live` is Server-Sent Events.

mod audit;
pub mod auth;
pub mod cors;
mod event_types;
mod events;
mod export;
mod issues;
mod meetings;
pub mod metrics;
mod metrics_process;
mod no_route;
mod ops;
pub mod problem;
mod stats;
mod timelines;
mod workflows;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::error::{JsonPayloadError, QueryPayloadError};
use actix_web::middleware::Next;
use actix_web::web;
use convene_engine::Engine;
use convene_engine::audit::AuditKeys;
use problem::Problem;
use std::sync::Arc;
use std::time::Instant;

pub use ops::ApiDoc;

/// Largest request body accepted (bigger → 413).
pub const MAX_BODY: usize = 256 * 1024;

/// Shared state of the server.
#[derive(Clone)]
pub struct AppState {
    pub engine: Arc<Engine>,
    /// Flips to true when the server starts stopping; live streams end on it so a graceful
    /// shutdown does not wait on idle SSE clients.
    pub shutdown: tokio::sync::watch::Receiver<bool>,
    /// Whether this process holds the leader lease (runs the background work) right now.
    pub leader: tokio::sync::watch::Receiver<bool>,
    /// What the background work has done in this process.
    pub background: Arc<convene_engine::background::BackgroundStatus>,
    /// Tokens, `--insecure-dev`, rate limits.
    pub auth: Arc<auth::Auth>,
    /// The server's checkpoint signing key (None: checkpoints cannot be signed here).
    pub audit_keys: Option<AuditKeys>,
    /// What `/metrics` shows.
    pub metrics: Arc<metrics::Metrics>,
}

impl AppState {
    /// State for a server that is never asked to stop (tests), authenticated by `auth`.
    pub fn new(engine: Arc<Engine>, auth: auth::Auth) -> Self {
        let (tx, shutdown) = tokio::sync::watch::channel(false);
        // The sender must outlive the receivers or `changed()` fires at once.
        std::mem::forget(tx);
        let (_, leader) = tokio::sync::watch::channel(false);
        let metrics = Arc::new(metrics::Metrics::new(engine.store().as_ref()));
        AppState {
            engine,
            shutdown,
            leader,
            background: Default::default(),
            auth: Arc::new(auth),
            audit_keys: None,
            metrics,
        }
    }

    /// `--insecure-dev` without tokens: every request acts as the actor its body names (tests
    /// of the domain rules, and the README walkthrough).
    pub fn insecure_dev(engine: Arc<Engine>) -> Self {
        Self::new(engine, auth::Auth::insecure_dev(None, auth::RateConfig { per_second: 1e9, burst: 1e9 }))
    }

    pub fn with_audit_keys(mut self, keys: AuditKeys) -> Self {
        self.audit_keys = Some(keys);
        self
    }
}

/// A GET route that also answers HEAD (RFC 9110 §9.3.2: the same headers, no body — actix
/// leaves the body out of a HEAD response), as load balancers and link checkers expect.
fn get() -> actix_web::Route {
    web::route().guard(actix_web::guard::Any(actix_web::guard::Get()).or(actix_web::guard::Head()))
}

/// Registers every route and the extractor error handlers on an actix app.
pub fn configure(state: AppState) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg: &mut web::ServiceConfig| {
        cfg.app_data(web::Data::new(state))
            .app_data(web::JsonConfig::default().limit(MAX_BODY).error_handler(|e, _req| json_error(e).into()))
            .app_data(web::PayloadConfig::default().limit(MAX_BODY))
            .app_data(web::QueryConfig::default().error_handler(|e, req| query_error(e, req).into()))
            .app_data(web::PathConfig::default().error_handler(|e, _req| Problem::bad_request(e.to_string()).into()))
            .route("/healthz", get().to(ops::healthz))
            .route("/readyz", get().to(ops::readyz))
            .route("/openapi.json", get().to(ops::openapi))
            .route("/metrics", get().to(metrics::metrics))
            .service(
                web::scope("/v1")
                    .wrap(actix_web::middleware::from_fn(auth::gate))
                    .route("/workflows", get().to(workflows::list))
                    .route("/workflows", web::post().to(workflows::publish))
                    .route("/workflows/{id}", get().to(workflows::get))
                    .route("/event-types", get().to(event_types::list))
                    .route("/event-types/{type}", get().to(event_types::schema))
                    .route("/issues", web::post().to(issues::raise))
                    .route("/issues", get().to(issues::list))
                    .route("/issues/{id}", get().to(issues::get))
                    .route("/issues/{id}/steps", web::post().to(issues::step))
                    .route("/issues/{id}/events", get().to(issues::events))
                    .route("/issues/{id}/timeline", get().to(timelines::issue))
                    .route("/meetings", web::post().to(meetings::schedule))
                    .route("/meetings", get().to(meetings::list))
                    .route("/meetings/{id}", get().to(meetings::get))
                    .route("/meetings/{id}/steps", web::post().to(meetings::step))
                    .route("/meetings/{id}/events", get().to(meetings::events))
                    .route("/meetings/{id}/agenda/suggest", web::post().to(meetings::suggest))
                    .route("/meetings/{id}/minutes", get().to(meetings::minutes))
                    .route("/meetings/{id}/timeline", get().to(timelines::meeting))
                    .route("/action-items", get().to(meetings::action_items))
                    .route("/stats", get().to(stats::stats))
                    .route("/events", get().to(events::list))
                    .route("/events/live", get().to(events::live))
                    .route("/audit/verify", get().to(audit::verify))
                    .route("/audit/checkpoints", web::post().to(audit::checkpoint))
                    .route("/audit/checkpoints/latest", get().to(audit::latest))
                    .route("/audit/public-key", get().to(audit::public_key))
                    .route("/export", get().to(export::export)),
            )
            .default_service(web::to(no_route::no_route));
    }
}

fn json_error(e: JsonPayloadError) -> Problem {
    match e {
        JsonPayloadError::OverflowKnownLength { .. } | JsonPayloadError::Overflow { .. } => Problem::new(
            actix_web::http::StatusCode::PAYLOAD_TOO_LARGE,
            "too-large",
            "请求体过大 / Request body too large",
            format!("请求体不得超过 {} KiB / the body must not exceed {} KiB", MAX_BODY / 1024, MAX_BODY / 1024),
        ),
        JsonPayloadError::ContentType => Problem::new(
            actix_web::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "content-type",
            "需要 JSON / JSON required",
            "Content-Type 必须是 application/json / Content-Type must be application/json",
        ),
        JsonPayloadError::Deserialize(e) if e.is_data() => {
            Problem::unprocessable(format!("JSON 内容不符合要求 / JSON does not match the request shape: {e}"))
        }
        other => Problem::bad_request(format!("JSON 格式错误 / malformed JSON: {other}")),
    }
}

/// The query parameters this API takes as numbers (non-negative integers) and as booleans.
/// Only used to name the culprit of a query error; one missing here still gets the
/// deserializer's message.
const NUMBER_PARAMETERS: [&str; 3] = ["after", "limit", "version"];
const BOOLEAN_PARAMETERS: [&str; 3] = ["reveal", "sealed", "overdue"];

/// A query string that does not fit the route's parameters. The deserializer's message does
/// not say which parameter was wrong, so the parameters of the kind it failed on whose value
/// is not of that kind are named.
fn query_error(e: QueryPayloadError, req: &actix_web::HttpRequest) -> Problem {
    let message = e.to_string();
    let number = ["invalid digit", "cannot parse integer", "number too large", "number too small"]
        .iter()
        .any(|m| message.contains(m));
    let boolean = message.contains("`true` or `false`");
    let pairs =
        web::Query::<Vec<(String, String)>>::from_query(req.query_string()).map(|q| q.into_inner()).unwrap_or_default();
    let bad = |names: &[&str], fits: fn(&str) -> bool| -> Vec<String> {
        pairs.iter().filter(|(k, v)| names.contains(&k.as_str()) && !fits(v)).map(|(k, v)| format!("{k}={v}")).collect()
    };
    let (culprits, kind) = if number {
        (bad(&NUMBER_PARAMETERS, |v| v.parse::<u64>().is_ok()), ("须为非负整数", "must be a non-negative integer"))
    } else if boolean {
        (bad(&BOOLEAN_PARAMETERS, |v| v == "true" || v == "false"), ("须为 true 或 false", "must be true or false"))
    } else {
        (Vec::new(), ("", ""))
    };
    if culprits.is_empty() {
        return Problem::bad_request(format!("查询参数错误 / bad query parameters: {e}"));
    }
    let named = culprits.join(", ");
    Problem::bad_request(format!("查询参数 {named} {} / query parameter {named} {}", kind.0, kind.1))
        .with("parameters", culprits)
}

/// Request log through tracing: method, path, status, latency.
pub async fn log_requests(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let start = Instant::now();
    let method = req.method().to_string();
    let path = req.path().to_string();
    let res = next.call(req).await;
    let ms = start.elapsed().as_secs_f64() * 1000.0;
    match &res {
        Ok(r) => tracing::info!(%method, %path, status = r.status().as_u16(), ms, "request"),
        Err(e) => tracing::warn!(%method, %path, error = %e, ms, "request failed"),
    }
    res
}
