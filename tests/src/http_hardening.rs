//! HTTP hardening: every 401 names the Bearer scheme (RFC 6750), CORS is off unless origins
//! are configured and then answers only those origins, and origins are checked at start.

use actix_web::App;
use actix_web::test as web;
use convene_api::http::auth::{Auth, RateConfig};
use convene_api::http::cors::{cors, parse_origin};
use convene_api::http::{AppState, configure};
use convene_engine::auth::TokenStore;
use convene_engine::vault::Vault;
use std::sync::Arc;

const ALLOWED: &str = "https://weilinli.example.cn";

struct World {
    _dir: tempfile::TempDir,
    state: AppState,
    secret: String,
}

async fn world() -> World {
    let (dir, engine) = crate::support::fresh_engine().await;
    let tokens = Arc::new(TokenStore::new(Vault::open_in(dir.path()).unwrap()));
    let (_, secret) = tokens.create("admin", "*", Some("hardening")).await.unwrap();
    let auth = Auth::tokens(tokens, RateConfig { per_second: 1e6, burst: 1e6 });
    World { _dir: dir, state: AppState::new(Arc::new(engine), auth), secret }
}

#[actix_web::test]
async fn every_401_names_the_bearer_scheme() {
    let w = world().await;
    let app = web::init_service(App::new().configure(configure(w.state.clone()))).await;
    for (uri, authorization) in [
        ("/v1/issues", None),
        ("/v1/workflows", Some("Bearer cnv_0000000000000000000000000000000000000000000000000000000000000000")),
        ("/v1/export", Some("Basic dXNlcjpwdw==")),
        ("/v1/meetings/x/timeline", None),
    ] {
        let mut req = web::TestRequest::get().uri(uri);
        if let Some(a) = authorization {
            req = req.insert_header(("Authorization", a));
        }
        let r = web::call_service(&app, req.to_request()).await;
        assert_eq!(r.status(), 401, "{uri} {authorization:?}");
        assert_eq!(r.headers().get("www-authenticate").unwrap(), "Bearer realm=\"convene\"", "{uri}");
        assert_eq!(r.headers().get("content-type").unwrap(), "application/problem+json");
    }
    let ok =
        web::TestRequest::get().uri("/v1/workflows").insert_header(("Authorization", format!("Bearer {}", w.secret)));
    let r = web::call_service(&app, ok.to_request()).await;
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("www-authenticate").is_none(), "only a 401 asks for credentials");
}

#[actix_web::test]
async fn cors_is_off_by_default_no_header_for_any_origin() {
    let w = world().await;
    let app = web::init_service(App::new().wrap(cors(&[])).configure(configure(w.state.clone()))).await;
    let req = web::TestRequest::get()
        .uri("/v1/workflows")
        .insert_header(("Origin", ALLOWED))
        .insert_header(("Authorization", format!("Bearer {}", w.secret)));
    let r = web::call_service(&app, req.to_request()).await;
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("access-control-allow-origin").is_none());
    let preflight = web::TestRequest::default()
        .method(actix_web::http::Method::OPTIONS)
        .uri("/v1/issues")
        .insert_header(("Origin", ALLOWED))
        .insert_header(("Access-Control-Request-Method", "POST"));
    let r = web::call_service(&app, preflight.to_request()).await;
    assert!(r.headers().get("access-control-allow-origin").is_none(), "no preflight answer: {:?}", r.headers());
}

#[actix_web::test]
async fn cors_on_answers_the_configured_origins_only() {
    let w = world().await;
    let origins = vec![parse_origin(ALLOWED).unwrap()];
    let app = web::init_service(App::new().wrap(cors(&origins)).configure(configure(w.state.clone()))).await;

    // A preflight needs no token: it is answered before the /v1 gate.
    let preflight = |origin: &str| {
        web::TestRequest::default()
            .method(actix_web::http::Method::OPTIONS)
            .uri("/v1/issues")
            .insert_header(("Origin", origin))
            .insert_header(("Access-Control-Request-Method", "POST"))
            .insert_header(("Access-Control-Request-Headers", "authorization, content-type, idempotency-key"))
            .to_request()
    };
    let r = web::call_service(&app, preflight(ALLOWED)).await;
    assert_eq!(r.status(), 200, "{:?}", r.headers());
    assert_eq!(r.headers().get("access-control-allow-origin").unwrap(), ALLOWED);
    let allowed = r.headers().get("access-control-allow-headers").unwrap().to_str().unwrap().to_ascii_lowercase();
    for h in ["authorization", "content-type", "idempotency-key"] {
        assert!(allowed.contains(h), "{allowed}");
    }
    let r = web::call_service(&app, preflight("https://evil.example")).await;
    assert!(r.headers().get("access-control-allow-origin").is_none(), "another origin is not answered");

    // An actual request: the origin is echoed and the ETag is readable by the page.
    let req = web::TestRequest::get()
        .uri("/v1/workflows/community-issue")
        .insert_header(("Origin", ALLOWED))
        .insert_header(("Authorization", format!("Bearer {}", w.secret)));
    let r = web::call_service(&app, req.to_request()).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers().get("access-control-allow-origin").unwrap(), ALLOWED);
    let exposed = r.headers().get("access-control-expose-headers").unwrap().to_str().unwrap().to_ascii_lowercase();
    assert!(exposed.contains("etag") && exposed.contains("www-authenticate"), "{exposed}");
    // Without a token it is still a 401 (CORS does not open the API), readable by the page.
    let req = web::TestRequest::get().uri("/v1/issues").insert_header(("Origin", ALLOWED));
    let r = web::call_service(&app, req.to_request()).await;
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers().get("access-control-allow-origin").unwrap(), ALLOWED);
}

#[test]
fn origins_are_checked_when_the_server_starts() {
    assert_eq!(parse_origin(" https://a.example.cn:8443 ").unwrap(), "https://a.example.cn:8443");
    assert_eq!(parse_origin("*").unwrap(), "*");
    for bad in
        ["a.example.cn", "https://a.example.cn/", "https://a.example.cn/path", "ftp://a", "https://", "http://a b"]
    {
        assert!(parse_origin(bad).is_err(), "{bad}");
    }
}
