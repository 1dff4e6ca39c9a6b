//! Authorization matrix: every route × every role × in scope / out of scope, each status
//! asserted; no `/v1` route answers without a valid token; the actor is the token's, never
//! the body's.

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::{App, test};
use convene_api::http::auth::{Auth, RateConfig};
use convene_api::http::{AppState, configure};
use convene_engine::audit::AuditKeys;
use convene_engine::auth::TokenStore;
use convene_engine::service::{RaiseIssue, ScheduleMeeting};
use convene_engine::store::{SqliteOptions, SqliteStore};
use convene_engine::vault::Vault;
use convene_engine::{Actor, Engine, EventStore};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;

/// The community every fixture lives in, its street, and a district far away.
const COMMUNITY: &str = "wuhan/wuchang/zhongnan-street/dongting-community";
const STREET: &str = "wuhan/wuchang/zhongnan-street";
const ELSEWHERE: &str = "wuhan/hanyang/yuehu-street";

/// Roles of the matrix, with the scope that covers the fixtures ("in") and one that does not.
const ROLES: &[(&str, &str, &str)] = &[
    ("admin", "*", "wuhan/hanyang"),
    ("convener", STREET, ELSEWHERE),
    ("social_worker", COMMUNITY, ELSEWHERE),
    ("organisation", COMMUNITY, ELSEWHERE),
    ("volunteer", COMMUNITY, ELSEWHERE),
    ("resident", COMMUNITY, ELSEWHERE),
    ("auditor", "*", "wuhan/hanyang"),
];

struct World {
    _dir: tempfile::TempDir,
    engine: Arc<Engine>,
    tokens: Arc<TokenStore>,
    keys: AuditKeys,
    /// (role, in_scope) → token secret.
    secrets: HashMap<(String, bool), String>,
    issue: String,
    meeting: String,
}

fn raise_data() -> Value {
    json!({"community": COMMUNITY, "title": {"zh-CN": "楼道堆物", "en": "Stairwell clutter"}, "category": "stairwell",
        "households_affected": 12, "raised_by": {"name": "王秀英", "society": "community"}})
}

fn schedule_data() -> Value {
    json!({"kind": "consultation_day", "community": COMMUNITY, "title": {"zh-CN": "协商日"},
        "scheduled_for": "2026-12-05T11:00:00Z", "venue": {"zh-CN": "议事厅"}, "convener": {"name": "张书记"}})
}

async fn new_issue(engine: &Engine) -> String {
    let mut resident = Actor::new("r-1", "resident");
    resident.community = Some(COMMUNITY.into());
    let cmd = RaiseIssue {
        workflow_id: "community-issue".into(),
        workflow_version: None,
        data: raise_data(),
        actor: resident,
        idempotency_key: None,
    };
    engine.raise(cmd).await.unwrap().issue.id
}

async fn new_meeting(engine: &Engine, id: &str) -> String {
    let cmd = ScheduleMeeting {
        meeting_id: Some(id.into()),
        data: schedule_data(),
        actor: Actor::new("c-1", "convener"),
        idempotency_key: None,
    };
    engine.schedule_meeting(cmd).await.unwrap().meeting.id
}

async fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn EventStore> = Arc::new(SqliteStore::open(SqliteOptions::in_dir(dir.path())).unwrap());
    let engine = Arc::new(Engine::open(store).await.unwrap());
    engine.bootstrap_workflows().await.unwrap();
    let tokens = Arc::new(TokenStore::new(Vault::open_in(dir.path()).unwrap()));
    let mut secrets = HashMap::new();
    for (role, inside, outside) in ROLES {
        for (scope, in_scope) in [(inside, true), (outside, false)] {
            let (_, s) = tokens.create(role, scope, Some(&format!("{role} {scope}"))).await.unwrap();
            secrets.insert((role.to_string(), in_scope), s);
        }
    }
    let keys = AuditKeys::load_or_create(dir.path()).unwrap();
    let issue = new_issue(&engine).await;
    let meeting = new_meeting(&engine, "dongting-matrix").await;
    convene_engine::audit::checkpoint(engine.store().as_ref(), &keys).await.unwrap();
    World { _dir: dir, engine, tokens, keys, secrets, issue, meeting }
}

impl World {
    fn state(&self) -> AppState {
        let auth = Auth::tokens(self.tokens.clone(), RateConfig { per_second: 1e6, burst: 1e6 });
        AppState::new(self.engine.clone(), auth).with_audit_keys(self.keys.clone())
    }
}

async fn send<S, B>(app: &S, req: test::TestRequest) -> (u16, Value)
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let resp = test::call_service(app, req.to_request()).await;
    let status = resp.status().as_u16();
    if resp.headers().get("content-type").is_some_and(|v| v.to_str().unwrap_or("").contains("event-stream")) {
        return (status, Value::Null);
    }
    let body = test::read_body(resp).await;
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

/// One route of the API: how to call it (fresh fixtures for writes) and what each cell expects.
struct Route {
    name: &'static str,
    expect: fn(role: &str, in_scope: bool) -> u16,
}

/// Reads anyone may make.
fn anyone(_: &str, _: bool) -> u16 {
    200
}
/// Reads of one community's issue or meeting: the scope decides.
fn in_scope_only(_: &str, in_scope: bool) -> u16 {
    if in_scope { 200 } else { 403 }
}
/// The whole log: a `*` scope.
fn global_only(role: &str, in_scope: bool) -> u16 {
    if in_scope && matches!(role, "admin" | "auditor") { 200 } else { 403 }
}

const ROUTES: &[Route] = &[
    Route { name: "GET /v1/workflows", expect: anyone },
    Route { name: "GET /v1/workflows/{id}", expect: anyone },
    Route { name: "GET /v1/event-types", expect: anyone },
    Route { name: "GET /v1/event-types/{type}", expect: anyone },
    Route { name: "POST /v1/workflows", expect: |r, i| if r == "admin" && i { 200 } else { 403 } },
    Route {
        name: "POST /v1/issues",
        expect: |r, i| {
            if i && matches!(r, "convener" | "social_worker" | "volunteer" | "resident") { 201 } else { 403 }
        },
    },
    Route { name: "GET /v1/issues", expect: anyone },
    Route { name: "GET /v1/issues/{id}", expect: in_scope_only },
    Route { name: "GET /v1/issues/{id}?version=0", expect: in_scope_only },
    Route { name: "GET /v1/issues/{id}/events", expect: in_scope_only },
    Route { name: "GET /v1/issues/{id}/timeline?lang=en&format=html", expect: in_scope_only },
    Route { name: "POST /v1/issues/{id}/steps", expect: |r, i| if i && r == "social_worker" { 201 } else { 403 } },
    Route { name: "POST /v1/meetings", expect: |r, i| if i && r == "convener" { 201 } else { 403 } },
    Route { name: "GET /v1/meetings", expect: anyone },
    Route { name: "GET /v1/meetings/{id}", expect: in_scope_only },
    Route { name: "GET /v1/meetings/{id}/events", expect: in_scope_only },
    Route { name: "GET /v1/meetings/{id}/minutes", expect: in_scope_only },
    Route { name: "GET /v1/meetings/{id}/timeline", expect: in_scope_only },
    Route { name: "POST /v1/meetings/{id}/steps", expect: |r, i| if i && r == "convener" { 201 } else { 403 } },
    Route { name: "POST /v1/meetings/{id}/agenda/suggest", expect: in_scope_only },
    Route { name: "GET /v1/action-items", expect: anyone },
    Route { name: "GET /v1/stats", expect: anyone },
    Route { name: "GET /v1/events", expect: global_only },
    Route { name: "GET /v1/events/live", expect: global_only },
    Route { name: "GET /v1/audit/verify", expect: global_only },
    Route { name: "GET /v1/audit/verify?stream=issue-{id}", expect: global_only },
    Route { name: "POST /v1/audit/checkpoints", expect: |r, i| if r == "admin" && i { 201 } else { 403 } },
    Route { name: "GET /v1/audit/checkpoints/latest", expect: global_only },
    Route { name: "GET /v1/audit/public-key", expect: anyone },
    Route { name: "GET /v1/export", expect: global_only },
    Route { name: "GET /v1/export?stream=issue-{id}&format=csv", expect: in_scope_only },
];

/// Builds the request of a route; write routes get fresh fixtures so every cell starts alike.
async fn request(w: &World, route: &str, n: usize) -> test::TestRequest {
    let issue = &w.issue;
    let meeting = &w.meeting;
    let body_actor = json!({"id": "claimed", "role": "convener"});
    match route {
        "GET /v1/workflows" => test::TestRequest::get().uri("/v1/workflows"),
        "GET /v1/workflows/{id}" => test::TestRequest::get().uri("/v1/workflows/community-issue"),
        "GET /v1/event-types" => test::TestRequest::get().uri("/v1/event-types?workflow=community-issue"),
        "GET /v1/event-types/{type}" => test::TestRequest::get().uri("/v1/event-types/NeedAssessed"),
        "POST /v1/workflows" => {
            let doc: Value = serde_json::from_str(include_str!("../../workflows/micro-wish.json")).unwrap();
            test::TestRequest::post().uri("/v1/workflows").set_json(doc)
        }
        "POST /v1/issues" => {
            let mut b = raise_data();
            b["actor"] = body_actor;
            test::TestRequest::post().uri("/v1/issues").set_json(b)
        }
        "GET /v1/issues" => test::TestRequest::get().uri("/v1/issues"),
        "GET /v1/issues/{id}" => test::TestRequest::get().uri(&format!("/v1/issues/{issue}")),
        "GET /v1/issues/{id}?version=0" => test::TestRequest::get().uri(&format!("/v1/issues/{issue}?version=0")),
        "GET /v1/issues/{id}/events" => test::TestRequest::get().uri(&format!("/v1/issues/{issue}/events")),
        "GET /v1/issues/{id}/timeline?lang=en&format=html" => {
            test::TestRequest::get().uri(&format!("/v1/issues/{issue}/timeline?lang=en&format=html"))
        }
        "POST /v1/issues/{id}/steps" => {
            let fresh = new_issue(&w.engine).await;
            test::TestRequest::post().uri(&format!("/v1/issues/{fresh}/steps")).set_json(json!({
                "type": "NeedAssessed", "actor": {"id": "claimed", "role": "social_worker"},
                "data": {"assessor": {"name": "李娜", "society": "social_worker"}, "method": "door_to_door",
                    "findings": {"zh-CN": "住户愿意清理"}, "priority": "high"}}))
        }
        "POST /v1/meetings" => {
            let mut b = schedule_data();
            b["meeting_id"] = json!(format!("matrix-{n}"));
            b["actor"] = body_actor;
            test::TestRequest::post().uri("/v1/meetings").set_json(b)
        }
        "GET /v1/meetings" => test::TestRequest::get().uri("/v1/meetings"),
        "GET /v1/meetings/{id}" => test::TestRequest::get().uri(&format!("/v1/meetings/{meeting}")),
        "GET /v1/meetings/{id}/events" => test::TestRequest::get().uri(&format!("/v1/meetings/{meeting}/events")),
        "GET /v1/meetings/{id}/minutes" => test::TestRequest::get().uri(&format!("/v1/meetings/{meeting}/minutes")),
        "GET /v1/meetings/{id}/timeline" => test::TestRequest::get().uri(&format!("/v1/meetings/{meeting}/timeline")),
        "POST /v1/meetings/{id}/steps" => test::TestRequest::post().uri(&format!("/v1/meetings/{meeting}/steps")).set_json(
            json!({"type": "ParticipantInvited", "actor": body_actor,
                "data": {"person_id": format!("p-{n}"), "name": "代表", "body": "resident", "resident_representative": true}}),
        ),
        "POST /v1/meetings/{id}/agenda/suggest" => {
            test::TestRequest::post().uri(&format!("/v1/meetings/{meeting}/agenda/suggest")).set_json(json!({}))
        }
        "GET /v1/action-items" => test::TestRequest::get().uri("/v1/action-items"),
        "GET /v1/stats" => test::TestRequest::get().uri("/v1/stats"),
        "GET /v1/events" => test::TestRequest::get().uri("/v1/events"),
        "GET /v1/events/live" => test::TestRequest::get().uri("/v1/events/live"),
        "GET /v1/audit/verify" => test::TestRequest::get().uri("/v1/audit/verify"),
        "GET /v1/audit/verify?stream=issue-{id}" => {
            test::TestRequest::get().uri(&format!("/v1/audit/verify?stream=issue-{issue}"))
        }
        "POST /v1/audit/checkpoints" => test::TestRequest::post().uri("/v1/audit/checkpoints"),
        "GET /v1/audit/checkpoints/latest" => test::TestRequest::get().uri("/v1/audit/checkpoints/latest"),
        "GET /v1/audit/public-key" => test::TestRequest::get().uri("/v1/audit/public-key"),
        "GET /v1/export" => test::TestRequest::get().uri("/v1/export"),
        "GET /v1/export?stream=issue-{id}&format=csv" => {
            test::TestRequest::get().uri(&format!("/v1/export?stream=issue-{issue}&format=csv"))
        }
        other => panic!("no request for route {other}"),
    }
}

#[actix_web::test]
async fn every_route_every_role_in_and_out_of_scope() {
    let w = world().await;
    let app = test::init_service(App::new().configure(configure(w.state()))).await;
    let mut failures = Vec::new();
    let mut n = 0;
    for route in ROUTES {
        // Without a token, and with a token nobody issued: 401 on every route.
        for auth in [None, Some("Bearer cnv_0000000000000000000000000000000000000000000000000000000000000000")] {
            let mut req = request(&w, route.name, n).await;
            n += 1;
            if let Some(a) = auth {
                req = req.insert_header(("Authorization", a));
            }
            let (status, _) = send(&app, req).await;
            if status != 401 {
                failures.push(format!("{} with {auth:?}: {status}, expected 401", route.name));
            }
        }
        for (role, _, _) in ROLES {
            for in_scope in [true, false] {
                let secret = &w.secrets[&(role.to_string(), in_scope)];
                let req = request(&w, route.name, n).await.insert_header(("Authorization", format!("Bearer {secret}")));
                n += 1;
                let (status, body) = send(&app, req).await;
                let expected = (route.expect)(role, in_scope);
                if status != expected {
                    failures.push(format!(
                        "{} as {role} ({}): {status}, expected {expected}: {body}",
                        route.name,
                        if in_scope { "in scope" } else { "out of scope" }
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{} cell(s) wrong:\n{}", failures.len(), failures.join("\n"));
}

#[actix_web::test]
async fn lists_show_only_what_the_scope_covers() {
    let w = world().await;
    let app = test::init_service(App::new().configure(configure(w.state()))).await;
    for (role, in_scope, sees) in [("resident", true, 1), ("resident", false, 0), ("auditor", true, 1)] {
        let secret = &w.secrets[&(role.to_string(), in_scope)];
        let auth = ("Authorization", format!("Bearer {secret}"));
        let (s, issues) = send(&app, test::TestRequest::get().uri("/v1/issues").insert_header(auth.clone())).await;
        assert_eq!((s, issues["items"].as_array().unwrap().len()), (200, sees), "{role} {in_scope}");
        let (s, meetings) = send(&app, test::TestRequest::get().uri("/v1/meetings").insert_header(auth.clone())).await;
        assert_eq!((s, meetings["items"].as_array().unwrap().len()), (200, sees), "{role} {in_scope}");
        let (s, stats) = send(&app, test::TestRequest::get().uri("/v1/stats").insert_header(auth.clone())).await;
        assert_eq!((s, stats["issues"]["total"].as_u64()), (200, Some(sees as u64)), "{role} {in_scope}");
        // Asking for a community outside the scope is refused, not silently emptied.
        for route in ["issues", "stats"] {
            let uri = format!("/v1/{route}?community={COMMUNITY}");
            let (s, _) = send(&app, test::TestRequest::get().uri(&uri).insert_header(auth.clone())).await;
            assert_eq!(s, if in_scope { 200 } else { 403 }, "{route}");
        }
    }
}

#[actix_web::test]
async fn the_actor_is_the_token_never_the_body() {
    let w = world().await;
    let app = test::init_service(App::new().configure(configure(w.state()))).await;
    let (info, secret) = w.tokens.create("resident", COMMUNITY, Some("王秀英")).await.unwrap();
    let mut body = raise_data();
    body["actor"] = json!({"id": "someone-else", "name": "冒名", "role": "convener", "community": "*"});
    let req = test::TestRequest::post()
        .uri("/v1/issues")
        .insert_header(("Authorization", format!("Bearer {secret}")))
        .set_json(body);
    let (s, out) = send(&app, req).await;
    assert_eq!(s, 201, "{out}");
    // The account, not the holder's name: a token may name a resident, and the log cannot
    // forget (the name stays in the token table, shown at read time).
    assert_eq!(out["event"]["actor"], json!({"id": info.id, "role": "resident", "community": COMMUNITY}));
    // A resident claiming to be a social worker in the body is still a resident.
    let issue = out["issue"]["id"].as_str().unwrap();
    let req = test::TestRequest::post()
        .uri(&format!("/v1/issues/{issue}/steps"))
        .insert_header(("Authorization", format!("Bearer {secret}")))
        .set_json(json!({"type": "NeedAssessed", "actor": {"id": "sw", "role": "social_worker"},
            "data": {"assessor": {"name": "李娜"}, "method": "door_to_door", "findings": {"zh-CN": "x"}, "priority": "high"}}));
    let (s, out) = send(&app, req).await;
    assert_eq!((s, out["type"].as_str()), (403, Some("https://convene.invalid/problems/wrong-role")), "{out}");
    // A revoked token stops working.
    w.tokens.revoke(&info.id).await.unwrap();
    let req = test::TestRequest::get().uri("/v1/issues").insert_header(("Authorization", format!("Bearer {secret}")));
    assert_eq!(send(&app, req).await.0, 401);
}

#[actix_web::test]
async fn health_metrics_and_openapi_stay_public_and_insecure_dev_takes_the_body_actor() {
    let w = world().await;
    let app = test::init_service(App::new().configure(configure(w.state()))).await;
    for uri in ["/healthz", "/readyz", "/metrics", "/openapi.json"] {
        assert_eq!(send(&app, test::TestRequest::get().uri(uri)).await.0, 200, "{uri}");
    }
    let dev = test::init_service(App::new().configure(configure(AppState::insecure_dev(w.engine.clone())))).await;
    let mut body = raise_data();
    body["actor"] = json!({"id": "r-9", "role": "resident"});
    let (s, out) = send(&dev, test::TestRequest::post().uri("/v1/issues").set_json(body)).await;
    assert_eq!((s, out["event"]["actor"]["id"].as_str()), (201, Some("r-9")));
    let (s, _) = send(&dev, test::TestRequest::post().uri("/v1/issues").set_json(raise_data())).await;
    assert_eq!(s, 422, "without a token even insecure-dev needs an actor");
}

#[actix_web::test]
async fn oversized_headers_and_bursts_are_refused() {
    let w = world().await;
    let secret = w.secrets[&("resident".to_string(), true)].clone();
    let auth = Auth::tokens(w.tokens.clone(), RateConfig { per_second: 0.5, burst: 3.0 });
    let app = test::init_service(App::new().configure(configure(AppState::new(w.engine.clone(), auth)))).await;
    let get =
        || test::TestRequest::get().uri("/v1/workflows").insert_header(("Authorization", format!("Bearer {secret}")));
    for _ in 0..3 {
        assert_eq!(send(&app, get()).await.0, 200);
    }
    let resp = test::call_service(&app, get().to_request()).await;
    assert_eq!(resp.status().as_u16(), 429);
    assert!(resp.headers().get("retry-after").is_some());
    let big = "x".repeat(20 * 1024);
    let (s, _) = send(&app, get().insert_header(("X-Padding", big))).await;
    assert_eq!(s, 431);
}
