//! `/v1/events`: the global log, paged and live (Server-Sent Events).

use super::AppState;
use super::auth::Caller;
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
}

/// Events with global position after `after`, in commit order.
#[utoipa::path(get, path = "/v1/events", params(("after" = Option<u64>, Query, description = "global position, default 0"), ("limit" = Option<usize>, Query, description = "1..1000, default 100")),
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
    Ok(HttpResponse::Ok().json(json!({"items": items, "next_after": next_after})))
}

#[derive(Debug, Deserialize)]
pub struct LiveQuery {
    after: Option<u64>,
}

/// Live feed: catch up from `Last-Event-ID` (or `?after=`), then every new event as it
/// commits. Each SSE message has `id` = global position, `event` = type, `data` = the event.
#[utoipa::path(get, path = "/v1/events/live", params(("Last-Event-ID" = Option<String>, Header), ("after" = Option<u64>, Query)),
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
    let stream = futures_util::stream::unfold(
        (sub, shutdown),
        |(mut sub, mut shutdown): (Subscription, _)| async move {
            if *shutdown.borrow() {
                return None;
            }
            // Subscription::next is cancel-safe (it only advances after handing out an event),
            // so racing it against the keep-alive timer and shutdown loses nothing.
            tokio::select! {
                _ = shutdown.changed() => None,
                next = sub.next() => match next {
                    Ok(e) => {
                        let data = serde_json::to_string(&e).unwrap_or_default();
                        let msg = format!("id: {}\nevent: {}\ndata: {}\n\n", e.position, e.event_type, data);
                        Some((Ok::<_, actix_web::Error>(Bytes::from(msg)), (sub, shutdown)))
                    }
                    Err(_) => None,
                },
                _ = tokio::time::sleep(Duration::from_secs(15)) => Some((Ok(Bytes::from_static(b": keep-alive\n\n")), (sub, shutdown))),
            }
        },
    );
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("Cache-Control", "no-cache"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(stream))
}
