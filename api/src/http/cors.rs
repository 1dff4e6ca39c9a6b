//! CORS: off unless origins are configured (`convene serve --cors-origin https://…`). Off
//! means no CORS headers at all, so browsers refuse other origins' scripts. On, the listed
//! origins may call the API with a bearer token (no cookies are used, so credentials stay off).

use actix_cors::Cors;
use actix_web::http::header;
use actix_web::middleware::Condition;

/// An origin as browsers send it: `scheme://host[:port]`, nothing after; or `*` for any.
pub fn parse_origin(s: &str) -> Result<String, String> {
    let s = s.trim();
    if s == "*" {
        return Ok(s.to_string());
    }
    let rest = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
        .ok_or_else(|| format!("来源须以 http:// 或 https:// 开头 / an origin starts with http:// or https://: {s}"))?;
    let valid =
        !rest.is_empty() && rest.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
    if !valid {
        return Err(format!("来源只含协议、主机和端口 / an origin is scheme://host[:port] only: {s}"));
    }
    Ok(s.to_string())
}

/// The CORS middleware for `origins` (already checked with [`parse_origin`]); does nothing
/// when the list is empty.
pub fn cors(origins: &[String]) -> Condition<Cors> {
    let mut c = Cors::default()
        .allowed_methods(["GET", "POST"])
        .allowed_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::IF_MATCH,
            header::HeaderName::from_static("idempotency-key"),
        ])
        .expose_headers([
            header::ETAG,
            header::LOCATION,
            header::RETRY_AFTER,
            header::WWW_AUTHENTICATE,
            header::HeaderName::from_static("idempotent-replayed"),
        ])
        .max_age(600);
    for o in origins {
        c = if o == "*" { c.allow_any_origin().send_wildcard() } else { c.allowed_origin(o) };
    }
    Condition::new(!origins.is_empty(), c)
}
