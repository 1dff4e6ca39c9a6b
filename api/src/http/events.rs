//! `/v1/events`: the global log, paged and live (Server-Sent Events).

use super::AppState;
use super::auth::Caller;
use super::metrics::LiveClient;
use super::problem::Problem;
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, web};
use convene_engine::store::Subscription;
use serde::Deserialize;
use serde_json::json;
use std::time::Duration;

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    after: Option<u64>,
    limit: Option<usize>,
    reveal: Option<bool>,
}

/// `?reveal=true` on the event routes.
#[derive(Debug, Default, Deserialize)]
pub struct RevealQuery {
    pub reveal: Option<bool>,
}

/// Events as answered: the stored envelopes and payload bytes (sealed personal values; what
/// the hashes cover), or with `reveal` the payloads with personal values opened while the
/// person's key exists and `已删除 / erased` after (each marked `"revealed": true`).
pub(super) async fn shown(
    engine: &convene_engine::Engine,
    events: &[convene_engine::RecordedEvent],
    reveal: bool,
) -> Result<Vec<serde_json::Value>, Problem> {
    let mut out = Vec::with_capacity(events.len());
    for e in events {
        out.push(if reveal { engine.revealed_event(e).await? } else { serde_json::to_value(e).unwrap_or_default() });
    }
    Ok(out)
}

/// Events with global position after `after`, in commit order.
#[utoipa::path(get, path = "/v1/events", params(("after" = Option<u64>, Query, description = "global position, default 0"), ("limit" = Option<usize>, Query, description = "1..1000, default 100"),
        ("reveal" = Option<bool>, Query, description = "true: personal values revealed (or 已删除 / erased); default: stored, sealed bytes")),
    responses((status = 200, description = "{items, next_after}")))]
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse, Problem> {
    caller.may_read_all()?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(Problem::bad_request("limit 须在 1..1000 之间 / limit must be 1..1000"));
    }
    let after = q.after.unwrap_or(0);
    let items = state.engine.store().read_all(after, limit).await.map_err(convene_engine::EngineError::from)?;
    let next_after = items.last().map(|e| e.position).unwrap_or(after);
    let items = shown(&state.engine, &items, q.reveal.unwrap_or(false)).await?;
    Ok(HttpResponse::Ok().json(json!({"items": items, "next_after": next_after})))
}

#[derive(Debug, Deserialize)]
pub struct LiveQuery {
    after: Option<u64>,
    reveal: Option<bool>,
}

/// Live feed: catch up from `Last-Event-ID` (or `?after=`), then every new event as it
/// commits. Each SSE message has `id` = global position, `event` = type, `data` = the event
/// (stored bytes, sealed; with `?reveal=true` personal values revealed or shown as erased).
#[utoipa::path(get, path = "/v1/events/live", params(("Last-Event-ID" = Option<String>, Header), ("after" = Option<u64>, Query), ("reveal" = Option<bool>, Query)),
    responses((status = 200, description = "text/event-stream")))]
pub async fn live(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    q: web::Query<LiveQuery>,
) -> Result<HttpResponse, Problem> {
    caller.may_read_all()?;
    let after = match req.headers().get("Last-Event-ID") {
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .ok_or_else(|| Problem::bad_request("Last-Event-ID 须为全局位置 / must be a global position"))?,
        None => q.after.unwrap_or(0),
    };
    let sub = state.engine.subscribe(after);
    let shutdown = state.shutdown.clone();
    let reveal = q.reveal.unwrap_or(false);
    let engine = state.engine.clone();
    // Counted in `convene_live_clients` for as long as the body (which owns it) lives.
    let client = state.metrics.live_client();
    let stream = futures_util::stream::unfold(
        (sub, shutdown, engine, client),
        move |(mut sub, mut shutdown, engine, client): (
            Subscription,
            _,
            std::sync::Arc<convene_engine::Engine>,
            LiveClient,
        )| async move {
            if *shutdown.borrow() {
                return None;
            }
            // Subscription::next is cancel-safe (it only advances after handing out an event),
            // so racing it against the keep-alive timer and shutdown loses nothing.
            tokio::select! {
                _ = shutdown.changed() => None,
                next = sub.next_shared() => match next {
                    Ok(e) => {
                        let data = if reveal {
                            match engine.revealed_event(&e).await {
                                Ok(v) => v.to_string(),
                                // The keyring failed: end the stream (the client reconnects
                                // from Last-Event-ID) rather than send a payload unrevealed.
                                Err(err) => {
                                    tracing::error!(error = %err, "cannot reveal an event for the live feed");
                                    return None;
                                }
                            }
                        } else {
                            serde_json::to_string(&e).unwrap_or_default()
                        };
                        let msg = format!("id: {}\nevent: {}\ndata: {}\n\n", e.position, e.event_type, data);
                        client.sent();
                        Some((Ok::<_, actix_web::Error>(Bytes::from(msg)), (sub, shutdown, engine, client)))
                    }
                    Err(_) => None,
                },
                _ = tokio::time::sleep(Duration::from_secs(15)) => Some((Ok(Bytes::from_static(b": keep-alive\n\n")), (sub, shutdown, engine, client))),
            }
        },
    );
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("Cache-Control", "no-cache"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(stream))
}
