//! Authentication, authorization and per-token rate limiting for everything under `/v1`.
//!
//! `Authorization: Bearer <token>` resolves to a [`Principal`] (role + scope) through the
//! token store; the actor of every event written is built from it and any actor in the body is
//! ignored. Without a token a request is refused with 401, unless the server runs with
//! `--insecure-dev`, where a request without a token acts as the actor its body names (the
//! README walkthrough and the demo) — the server says so loudly at start.

use super::AppState;
use super::issues::ActorBody;
use super::problem::Problem;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage, HttpRequest, ResponseError, web};
use convene_engine::Actor;
use convene_engine::auth::{Denied, Principal, TokenStore};
use std::collections::HashMap;
use std::future::{Ready, ready};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Largest total size of request headers accepted (bigger → 431).
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// How requests are authenticated.
pub struct Auth {
    tokens: Option<Arc<TokenStore>>,
    insecure_dev: bool,
    limiter: RateLimit,
}

impl Auth {
    /// Tokens required on every `/v1` route.
    pub fn tokens(tokens: Arc<TokenStore>, rate: RateConfig) -> Auth {
        Auth { tokens: Some(tokens), insecure_dev: false, limiter: RateLimit::new(rate) }
    }

    /// `--insecure-dev`: tokens are honoured when sent (if a store is given); requests
    /// without one act as the actor their body names.
    pub fn insecure_dev(tokens: Option<Arc<TokenStore>>, rate: RateConfig) -> Auth {
        Auth { tokens, insecure_dev: true, limiter: RateLimit::new(rate) }
    }

    pub fn is_insecure_dev(&self) -> bool {
        self.insecure_dev
    }
}

/// Requests per second per token, and the burst allowed.
#[derive(Debug, Clone, Copy)]
pub struct RateConfig {
    pub per_second: f64,
    pub burst: f64,
}

impl Default for RateConfig {
    fn default() -> Self {
        RateConfig { per_second: 50.0, burst: 200.0 }
    }
}

/// A token bucket per caller. Small and exact; a map entry per token that made a request.
struct RateLimit {
    config: RateConfig,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl RateLimit {
    fn new(config: RateConfig) -> Self {
        RateLimit { config, buckets: Mutex::new(HashMap::new()) }
    }

    /// Takes one request from `key`'s bucket; `Err(seconds)` until the next one is allowed.
    fn take(&self, key: &str) -> Result<(), u64> {
        let Ok(mut b) = self.buckets.lock() else { return Ok(()) };
        let now = Instant::now();
        let (level, at) = b.entry(key.to_string()).or_insert((self.config.burst, now));
        *level = (*level + now.duration_since(*at).as_secs_f64() * self.config.per_second).min(self.config.burst);
        *at = now;
        if *level >= 1.0 {
            *level -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - *level) / self.config.per_second).ceil().max(1.0) as u64)
        }
    }
}

/// Who is calling: a token's principal, or (only with `--insecure-dev`) nobody in particular.
#[derive(Debug, Clone)]
pub enum Caller {
    Token(Principal),
    Dev,
}

fn denied(d: Denied) -> Problem {
    Problem::new(StatusCode::FORBIDDEN, "forbidden", "无权访问 / Forbidden", d.message())
}

pub fn unauthorized(detail: &str) -> Problem {
    Problem::new(StatusCode::UNAUTHORIZED, "unauthorized", "需要有效的令牌 / A valid token is required", detail)
}

impl Caller {
    /// The actor to record: the token's, never the body's (the body's only without a token in
    /// `--insecure-dev`).
    pub fn actor(&self, body: Option<ActorBody>) -> Result<Actor, Problem> {
        match self {
            Caller::Token(p) => Ok(p.actor()),
            Caller::Dev => body.map(Actor::from).ok_or_else(|| {
                Problem::unprocessable("缺少 actor（开发模式无令牌时必填）/ actor is required without a token")
            }),
        }
    }

    pub fn principal(&self) -> Option<&Principal> {
        match self {
            Caller::Token(p) => Some(p),
            Caller::Dev => None,
        }
    }

    fn check(&self, f: impl FnOnce(&Principal) -> Result<(), Denied>) -> Result<(), Problem> {
        match self {
            Caller::Token(p) => f(p).map_err(denied),
            Caller::Dev => Ok(()),
        }
    }

    pub fn may_write(&self) -> Result<(), Problem> {
        self.check(|p| p.may_write())
    }

    pub fn may_administer(&self, what: &'static str) -> Result<(), Problem> {
        self.check(|p| p.may_administer(what))
    }

    pub fn may_read(&self, community: &str) -> Result<(), Problem> {
        self.check(|p| p.may_read(community))
    }

    pub fn may_read_all(&self) -> Result<(), Problem> {
        self.check(|p| p.may_read_all())
    }

    pub fn may_audit_all(&self) -> Result<(), Problem> {
        self.check(|p| p.may_audit_all())
    }

    /// Auditors and admins whose scope covers `community`.
    pub fn may_audit(&self, community: &str) -> Result<(), Problem> {
        self.check(|p| {
            if !matches!(p.role.as_str(), "auditor" | "admin") {
                return Err(Denied::Role { role: p.role.clone(), what: "audit" });
            }
            p.may_read(community)
        })
    }

    /// The community filter a list may use: the one asked for if the scope covers it, the
    /// scope itself when none is asked for.
    pub fn list_scope(&self, asked: Option<String>) -> Result<Option<String>, Problem> {
        match (self, asked) {
            (Caller::Token(p), Some(c)) => p.may_read(&c).map(|_| Some(c)).map_err(denied),
            (Caller::Token(p), None) => Ok((!p.is_global()).then(|| p.scope.clone())),
            (Caller::Dev, asked) => Ok(asked),
        }
    }
}

impl FromRequest for Caller {
    type Error = Problem;
    type Future = Ready<Result<Caller, Problem>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(req.extensions().get::<Caller>().cloned().ok_or_else(|| unauthorized("no credentials")))
    }
}

/// The gate in front of `/v1`: header size, token, rate limit.
pub async fn gate(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let refuse = |req: ServiceRequest, p: Problem| Ok(req.into_response(p.error_response()));
    let header_bytes: usize = req.headers().iter().map(|(k, v)| k.as_str().len() + v.len() + 4).sum();
    if header_bytes > MAX_HEADER_BYTES {
        return refuse(
            req,
            Problem::new(
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "headers-too-large",
                "请求头过大 / Request headers too large",
                format!(
                    "请求头合计不得超过 {MAX_HEADER_BYTES} 字节 / headers must not exceed {MAX_HEADER_BYTES} bytes"
                ),
            ),
        );
    }
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return refuse(req, unauthorized("server misconfigured"));
    };
    let auth = &state.auth;
    let presented = match req.headers().get(actix_web::http::header::AUTHORIZATION) {
        None => None,
        Some(v) => match v.to_str().ok().and_then(|s| s.strip_prefix("Bearer ")).map(str::trim) {
            Some(t) if !t.is_empty() && t.len() <= 200 => Some(t.to_string()),
            _ => {
                return refuse(
                    req,
                    unauthorized("Authorization 须为 Bearer 令牌 / Authorization must be a Bearer token"),
                );
            }
        },
    };
    let caller = match (presented, &auth.tokens) {
        (Some(t), Some(store)) => match store.resolve(&t).await {
            Ok(Some(p)) => Caller::Token(p),
            Ok(None) => return refuse(req, unauthorized("令牌无效或已吊销 / the token is unknown or revoked")),
            Err(convene_engine::auth::tokens::TokenError::Secrets(e)) if e.is_unavailable() => {
                return refuse(req, Problem::store_unavailable(false, &e.to_string()));
            }
            Err(e) => {
                tracing::error!(error = %e, "token store unavailable");
                return refuse(
                    req,
                    Problem::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "unavailable",
                        "暂不可用 / Unavailable",
                        "retry later",
                    ),
                );
            }
        },
        (Some(_), None) => return refuse(req, unauthorized("此服务器未配置令牌 / this server has no tokens")),
        (None, _) if auth.insecure_dev => Caller::Dev,
        (None, _) => {
            return refuse(req, unauthorized("缺少 Authorization: Bearer 令牌 / missing Authorization: Bearer token"));
        }
    };
    let key = match &caller {
        Caller::Token(p) => p.id.clone(),
        Caller::Dev => "insecure-dev".to_string(),
    };
    if let Err(wait) = auth.limiter.take(&key) {
        let mut res = Problem::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate-limited",
            "请求过于频繁 / Too many requests",
            format!("请 {wait} 秒后重试 / retry in {wait} s"),
        )
        .error_response();
        if let Ok(v) = actix_web::http::header::HeaderValue::from_str(&wait.to_string()) {
            res.headers_mut().insert(actix_web::http::header::RETRY_AFTER, v);
        }
        return Ok(req.into_response(res));
    }
    req.extensions_mut().insert(caller);
    Ok(next.call(req).await?.map_into_boxed_body())
}
