//! `/v1/events`: the global log, paged and live (Server-Sent Events).

use super::AppState;
use super::auth::Caller;
use super::metrics::LiveClient;
use super::problem::{Problem, STORE_RETRY_AFTER_SECS};
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, web};
use convene_engine::Engine;
use convene_engine::RecordedEvent;
use convene_engine::store::Subscription;
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;
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
    let feed = Feed {
        sub: state.engine.subscribe(after),
        shutdown: state.shutdown.clone(),
        engine: state.engine.clone(),
        reveal: q.reveal.unwrap_or(false),
        // Counted in `convene_live_clients` for as long as the body (which owns it) lives.
        client: state.metrics.live_client(),
        unrevealed: None,
        started: false,
        backoff: Duration::ZERO,
    };
    let stream = futures_util::stream::unfold(feed, |mut feed| async move {
        let chunk = feed.next_chunk().await?;
        Some((Ok::<_, actix_web::Error>(chunk), feed))
    });
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("Cache-Control", "no-cache"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(stream))
}

/// How long an SSE client waits before reconnecting after the stream ends (the `retry:` field
/// sent first): the same pause a 503 asks for.
const RECONNECT_MS: u64 = STORE_RETRY_AFTER_SECS * 1000;
/// A comment sent when nothing else was for this long, so proxies keep the stream open.
const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// The longest pause between tries while the database is away.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// One client's live feed: its subscription and what it is waiting to send.
struct Feed {
    sub: Subscription,
    shutdown: tokio::sync::watch::Receiver<bool>,
    engine: Arc<Engine>,
    reveal: bool,
    client: LiveClient,
    /// An event taken from the subscription whose personal values could not be revealed yet
    /// (the keyring's database was away): sent before anything after it.
    unrevealed: Option<Arc<RecordedEvent>>,
    started: bool,
    /// The pause before the next try while the database is away (zero while it answers).
    backoff: Duration,
}

impl Feed {
    /// The next bytes of the stream; `None` ends it (shutdown, or an error no wait mends).
    ///
    /// A database outage does not end the stream: the subscription keeps its position, so
    /// the feed tells the client in an SSE comment and tries again, with a growing pause, until
    /// the database is back. Ending it instead would send every dashboard of a city back to
    /// reconnect at once, each with a catch-up read, just as the database returns.
    async fn next_chunk(&mut self) -> Option<Bytes> {
        if !self.started {
            self.started = true;
            return Some(Bytes::from(format!("retry: {RECONNECT_MS}\n\n")));
        }
        if *self.shutdown.borrow() {
            return None;
        }
        if !self.backoff.is_zero() {
            // Paused after an outage; shutdown still ends the stream at once.
            tokio::select! {
                _ = self.shutdown.changed() => return None,
                _ = tokio::time::sleep(self.backoff) => {}
            }
        }
        let event = match self.unrevealed.take() {
            Some(e) => e,
            // Subscription::next is cancel-safe (it only advances after handing out an
            // event), so racing it against the keep-alive timer and shutdown loses nothing.
            None => tokio::select! {
                _ = self.shutdown.changed() => return None,
                next = self.sub.next_shared() => match next {
                    Ok(e) => e,
                    Err(e) if e.is_unavailable() => return Some(self.outage(&e)),
                    Err(e) => {
                        tracing::error!(error = %e, position = self.sub.position(), "the live feed ends: the log cannot be read");
                        return None;
                    }
                },
                _ = tokio::time::sleep(KEEP_ALIVE) => {
                    // Waiting for new events without an error: the database answers again,
                    // so the next wait starts at once.
                    self.backoff = Duration::ZERO;
                    return Some(Bytes::from_static(b": keep-alive\n\n"));
                }
            },
        };
        let data = if self.reveal {
            match self.engine.revealed_event(&event).await {
                Ok(v) => v.to_string(),
                Err(e) if e.is_unavailable() => {
                    self.unrevealed = Some(event);
                    return Some(self.outage(&e));
                }
                // The keyring failed for good: end the stream (the client reconnects from
                // Last-Event-ID) rather than send a payload unrevealed.
                Err(e) => {
                    tracing::error!(error = %e, position = event.position, "the live feed ends: an event cannot be revealed");
                    return None;
                }
            }
        } else {
            serde_json::to_string(&event).unwrap_or_default()
        };
        if !self.backoff.is_zero() {
            tracing::info!(position = event.position, "the live feed goes on: the database is back");
            self.backoff = Duration::ZERO;
        }
        self.client.sent();
        Some(Bytes::from(format!("id: {}\nevent: {}\ndata: {}\n\n", event.position, event.event_type, data)))
    }

    /// Notes an outage, lengthens the pause before the next try, and says so to the client.
    fn outage(&mut self, e: &dyn std::fmt::Display) -> Bytes {
        if self.backoff.is_zero() {
            tracing::warn!(error = %e, position = self.sub.position(), "the live feed waits: the database cannot be reached");
        }
        self.backoff = (self.backoff * 2).clamp(Duration::from_secs(1), MAX_BACKOFF);
        Bytes::from_static(
            ": 存储暂不可用，恢复后继续 / storage unavailable, the feed resumes when it is back\n\n".as_bytes(),
        )
    }
}
