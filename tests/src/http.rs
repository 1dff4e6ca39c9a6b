//! In-process HTTP specs (actix_web::test, no socket): every route and every error status.

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::{App, test};
use convene_api::http::{AppState, configure};
use convene_engine::store::{SqliteOptions, SqliteStore};
use convene_engine::{Engine, EventStore};
use serde_json::{Value, json};
use std::sync::Arc;

pub(crate) struct Fixture {
    _dir: tempfile::TempDir,
    pub(crate) engine: Arc<Engine>,
}

pub(crate) async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn EventStore> = Arc::new(SqliteStore::open(SqliteOptions::in_dir(dir.path())).unwrap());
    let engine = Arc::new(Engine::open(store).await.unwrap());
    engine.bootstrap_workflows().await.unwrap();
    Fixture { _dir: dir, engine }
}

macro_rules! app {
    ($f:expr) => {
        test::init_service(App::new().configure(configure(AppState::insecure_dev($f.engine.clone())))).await
    };
}

pub(crate) async fn json_of(resp: ServiceResponse) -> Value {
    let bytes = test::read_body(resp).await;
    serde_json::from_slice(&bytes).unwrap_or(Value::Null)
}

pub(crate) fn raise_body() -> Value {
    json!({
        "workflow_id": "community-issue",
        "actor": {"id": "r-1", "name": "王秀英", "role": "resident"},
        "community": "wuhan/wuchang/zhongnan-street/dongting-community",
        "title": {"zh-CN": "楼道堆物", "en": "Stairwell clutter"},
        "category": "stairwell",
        "households_affected": 24,
        "raised_by": {"name": "王秀英", "society": "community"}
    })
}

pub(crate) fn assessed() -> Value {
    json!({"type": "NeedAssessed", "actor": {"id": "sw-1", "role": "social_worker"}, "data": {
        "assessor": {"name": "李娜", "society": "social_worker"}, "method": "door_to_door",
        "findings": {"zh-CN": "住户愿意清理"}, "priority": "high"}})
}

fn placed() -> Value {
    json!({"type": "PlacedOnAgenda", "actor": {"id": "c-1", "role": "convener"},
        "data": {"meeting_id": "m-1", "meeting_kind": "consultation_day"}})
}

pub(crate) fn post(uri: &str, body: &Value) -> test::TestRequest {
    test::TestRequest::post().uri(uri).set_json(body)
}

fn is_problem(resp: &ServiceResponse, status: StatusCode) {
    assert_eq!(resp.status(), status);
    assert_eq!(resp.headers().get("content-type").unwrap(), "application/problem+json");
}

pub(crate) async fn raise<S>(app: &S) -> String
where
    S: Service<actix_http::Request, Response = ServiceResponse, Error = actix_web::Error>,
{
    let resp = test::call_service(app, post("/v1/issues", &raise_body()).to_request()).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    json_of(resp).await["issue"]["id"].as_str().unwrap().to_string()
}

#[actix_web::test]
async fn health_readiness_and_openapi_answer() {
    let f = fixture().await;
    let app = app!(f);
    let r = test::call_service(&app, test::TestRequest::get().uri("/healthz").to_request()).await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = test::call_service(&app, test::TestRequest::get().uri("/readyz").to_request()).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(json_of(r).await["backend"], "sqlite");
    let r = test::call_service(&app, test::TestRequest::get().uri("/openapi.json").to_request()).await;
    let doc = json_of(r).await;
    assert_eq!(doc["openapi"], "3.1.0");
    for path in [
        "/v1/issues",
        "/v1/issues/{id}",
        "/v1/issues/{id}/steps",
        "/v1/issues/{id}/events",
        "/v1/workflows",
        "/v1/workflows/{id}",
        "/v1/events",
        "/v1/events/live",
    ] {
        assert!(doc["paths"][path].is_object(), "openapi lacks {path}");
    }
}

#[actix_web::test]
async fn unknown_route_is_a_problem_404() {
    let f = fixture().await;
    let app = app!(f);
    let r = test::call_service(&app, test::TestRequest::get().uri("/v1/nope").to_request()).await;
    is_problem(&r, StatusCode::NOT_FOUND);
}

#[actix_web::test]
async fn a_known_path_asked_with_a_method_it_does_not_take_is_405_naming_the_methods_it_does() {
    let f = fixture().await;
    let app = app!(f);
    // Given the API's paths, when one is asked with a method it does not take,
    // then 405 problem+json with an Allow header, and nothing is written.
    let head = *f.engine.store().head().borrow();
    for (method, uri, allow) in [
        (actix_web::http::Method::DELETE, "/v1/issues", "GET, HEAD, POST"),
        (actix_web::http::Method::PUT, "/v1/issues/some-id", "GET, HEAD"),
        (actix_web::http::Method::GET, "/v1/issues/some-id/steps", "POST"),
        (actix_web::http::Method::POST, "/healthz", "GET, HEAD"),
        (actix_web::http::Method::PATCH, "/openapi.json", "GET, HEAD"),
    ] {
        let r =
            test::call_service(&app, test::TestRequest::default().method(method.clone()).uri(uri).to_request()).await;
        is_problem(&r, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(r.headers().get("allow").unwrap(), allow, "{method} {uri}");
        let body = json_of(r).await;
        assert_eq!(body["allow"], json!(allow.split(", ").collect::<Vec<_>>()));
        assert!(body["detail"].as_str().unwrap().contains(method.as_str()), "{body}");
    }
    assert_eq!(*f.engine.store().head().borrow(), head, "a refused method wrote nothing");
}

#[actix_web::test]
async fn head_answers_wherever_get_does() {
    let f = fixture().await;
    let app = app!(f);
    for uri in ["/healthz", "/readyz", "/metrics", "/openapi.json", "/v1/issues", "/v1/workflows"] {
        let r = test::call_service(
            &app,
            test::TestRequest::default().method(actix_web::http::Method::HEAD).uri(uri).to_request(),
        )
        .await;
        assert_eq!(r.status(), StatusCode::OK, "HEAD {uri}");
    }
}

#[actix_web::test]
async fn every_method_the_openapi_document_names_reaches_a_handler() {
    let f = fixture().await;
    let app = app!(f);
    let doc = json_of(test::call_service(&app, test::TestRequest::get().uri("/openapi.json").to_request()).await).await;
    let mut asked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in ["get", "post", "put", "patch", "delete"] {
            if item.get(method).is_none() || path.ends_with("/live") || path.ends_with("/export") {
                // The streams answer fine but never end; they are covered by their own specs.
                continue;
            }
            let uri = path.replace("{id}", "no-such-id");
            let m = actix_web::http::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let r = test::call_service(
                &app,
                test::TestRequest::default().method(m).uri(&uri).set_json(json!({})).to_request(),
            )
            .await;
            let status = r.status();
            let body = json_of(r).await;
            let detail = body["detail"].as_str().unwrap_or_default();
            assert!(
                status != StatusCode::METHOD_NOT_ALLOWED && !detail.contains("no route"),
                "{method} {uri} did not reach a handler: {status} {body}"
            );
            asked += 1;
        }
    }
    assert!(asked >= 20, "only {asked} documented methods");
}

#[actix_web::test]
async fn workflows_are_listed_read_and_published_with_diagnostics() {
    let f = fixture().await;
    let app = app!(f);
    let r = test::call_service(&app, test::TestRequest::get().uri("/v1/workflows").to_request()).await;
    let items = json_of(r).await["items"].as_array().unwrap().len();
    assert_eq!(items, 2);
    let r = test::call_service(&app, test::TestRequest::get().uri("/v1/workflows/community-issue").to_request()).await;
    let body = json_of(r).await;
    assert_eq!(body["versions"][0]["definition"]["initial"], "raised");
    let r = test::call_service(&app, test::TestRequest::get().uri("/v1/workflows/nope").to_request()).await;
    is_problem(&r, StatusCode::NOT_FOUND);

    // Same v1 again: nothing new.
    let mut doc = body["versions"][0]["definition"].clone();
    let r = test::call_service(&app, post("/v1/workflows", &doc).to_request()).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(json_of(r).await["created"], false);
    // v3 before v2: a gap.
    doc["version"] = json!(3);
    let r = test::call_service(&app, post("/v1/workflows", &doc).to_request()).await;
    is_problem(&r, StatusCode::CONFLICT);
    // An unreachable state: 422 with a coded diagnostic and its path.
    doc["version"] = json!(2);
    doc["states"]["orphan"] = json!({"title": {"zh-CN": "孤立"}, "final": true});
    let r = test::call_service(&app, post("/v1/workflows", &doc).to_request()).await;
    is_problem(&r, StatusCode::UNPROCESSABLE_ENTITY);
    let p = json_of(r).await;
    let d = &p["diagnostics"][0];
    assert_eq!(d["code"], "unreachable_state");
    assert_eq!(d["path"], "/states/orphan");
    // A valid v2 is published.
    doc["states"].as_object_mut().unwrap().remove("orphan");
    let r = test::call_service(&app, post("/v1/workflows", &doc).to_request()).await;
    assert_eq!(r.status(), StatusCode::CREATED);
}

#[actix_web::test]
async fn raising_an_issue_answers_201_with_etag_and_location() {
    let f = fixture().await;
    let app = app!(f);
    let r = test::call_service(&app, post("/v1/issues", &raise_body()).to_request()).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(r.headers().get("etag").unwrap(), "\"0\"");
    let loc = r.headers().get("location").unwrap().to_str().unwrap().to_string();
    let body = json_of(r).await;
    assert_eq!(body["issue"]["state"], "raised");
    assert_eq!(loc, format!("/v1/issues/{}", body["issue"]["id"].as_str().unwrap()));
}

#[actix_web::test]
async fn raising_refuses_bad_input_with_the_right_status() {
    let f = fixture().await;
    let app = app!(f);
    let mut missing = raise_body();
    missing.as_object_mut().unwrap().remove("title");
    let r = test::call_service(&app, post("/v1/issues", &missing).to_request()).await;
    is_problem(&r, StatusCode::UNPROCESSABLE_ENTITY);
    let p = json_of(r).await;
    assert!(p["errors"].as_array().unwrap().iter().any(|e| e["pointer"] == "/title"), "{p}");
    // There is no issue yet, so no steps are offered as allowed now.
    assert!(p.get("allowed_steps").is_none(), "{p}");

    let mut role = raise_body();
    role["actor"]["role"] = json!("charity");
    let r = test::call_service(&app, post("/v1/issues", &role).to_request()).await;
    is_problem(&r, StatusCode::FORBIDDEN);

    let mut wf = raise_body();
    wf["workflow_id"] = json!("no-such-workflow");
    let r = test::call_service(&app, post("/v1/issues", &wf).to_request()).await;
    is_problem(&r, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        json_of(r).await["detail"],
        "工作流 no-such-workflow 未发布 / workflow no-such-workflow is not published"
    );

    let r = test::call_service(
        &app,
        test::TestRequest::post()
            .uri("/v1/issues")
            .insert_header(("content-type", "application/json"))
            .set_payload("{bad")
            .to_request(),
    )
    .await;
    is_problem(&r, StatusCode::BAD_REQUEST);

    let r = test::call_service(
        &app,
        test::TestRequest::post()
            .uri("/v1/issues")
            .insert_header(("content-type", "text/plain"))
            .set_payload("{}")
            .to_request(),
    )
    .await;
    is_problem(&r, StatusCode::UNSUPPORTED_MEDIA_TYPE);

    let mut big = raise_body();
    big["location"] = json!("x".repeat(300 * 1024));
    let r = test::call_service(&app, post("/v1/issues", &big).to_request()).await;
    is_problem(&r, StatusCode::PAYLOAD_TOO_LARGE);

    // None of the refused requests wrote anything.
    let r = test::call_service(&app, test::TestRequest::get().uri("/v1/issues").to_request()).await;
    assert_eq!(json_of(r).await["items"].as_array().unwrap().len(), 0);
}

#[actix_web::test]
async fn a_step_moves_the_issue_and_refusals_say_why_and_what_is_allowed() {
    let f = fixture().await;
    let app = app!(f);
    let id = raise(&app).await;
    let steps = format!("/v1/issues/{id}/steps");

    // Not allowed in `raised`: 409 listing the allowed steps.
    let r = test::call_service(&app, post(&steps, &placed()).to_request()).await;
    is_problem(&r, StatusCode::CONFLICT);
    let p = json_of(r).await;
    let allowed: Vec<&str> =
        p["allowed_steps"].as_array().unwrap().iter().map(|s| s["type"].as_str().unwrap()).collect();
    assert!(allowed.contains(&"NeedAssessed"), "{allowed:?}");

    // Wrong role: 403.
    let mut wrong = assessed();
    wrong["actor"]["role"] = json!("volunteer");
    let r = test::call_service(&app, post(&steps, &wrong).to_request()).await;
    is_problem(&r, StatusCode::FORBIDDEN);

    // Schema-invalid: 422 naming the field.
    let mut invalid = assessed();
    invalid["data"]["priority"] = json!("whenever");
    let r = test::call_service(&app, post(&steps, &invalid).to_request()).await;
    is_problem(&r, StatusCode::UNPROCESSABLE_ENTITY);
    let p = json_of(r).await;
    assert_eq!(p["errors"][0]["pointer"], "/priority");

    // Allowed: 201, ETag moves to 1.
    let r = test::call_service(&app, post(&steps, &assessed()).to_request()).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(r.headers().get("etag").unwrap(), "\"1\"");
    assert_eq!(json_of(r).await["issue"]["state"], "assessed");

    // Nothing refused was written: the stream has exactly two events.
    let r =
        test::call_service(&app, test::TestRequest::get().uri(&format!("/v1/issues/{id}/events")).to_request()).await;
    assert_eq!(json_of(r).await["items"].as_array().unwrap().len(), 2);
}

#[actix_web::test]
async fn each_allowed_step_has_a_form_schema_that_accepts_and_refuses_what_the_engine_does() {
    let f = fixture().await;
    let app = app!(f);
    let id = raise(&app).await;
    let get = |uri: String| test::TestRequest::get().uri(&uri).to_request();

    // Given a raised issue, each step it allows now has a self-contained schema.
    let issue = json_of(test::call_service(&app, get(format!("/v1/issues/{id}"))).await).await;
    let allowed: Vec<String> =
        issue["allowed_steps"].as_array().unwrap().iter().map(|s| s["type"].as_str().unwrap().to_string()).collect();
    assert!(allowed.contains(&"NeedAssessed".to_string()), "{allowed:?}");
    for ty in &allowed {
        let r = test::call_service(&app, get(format!("/v1/event-types/{ty}"))).await;
        assert_eq!(r.status(), StatusCode::OK, "{ty}");
        assert_eq!(r.headers().get("content-type").unwrap(), "application/schema+json");
        let schema = json_of(r).await;
        assert!(!schema.to_string().contains("common.json"), "{ty}: a reference outside the document is left");
        jsonschema::draft202012::new(&schema).unwrap_or_else(|e| panic!("{ty}: {e}"));
    }

    // A form built from NeedAssessed's schema accepts what the engine accepts and refuses what
    // it refuses, naming the same field.
    let schema = json_of(test::call_service(&app, get("/v1/event-types/NeedAssessed".into())).await).await;
    let form = jsonschema::options().should_validate_formats(true).build(&schema).unwrap();
    let mut invalid = assessed();
    invalid["data"]["priority"] = json!("whenever");
    assert!(!form.is_valid(&invalid["data"]));
    let r = test::call_service(&app, post(&format!("/v1/issues/{id}/steps"), &invalid).to_request()).await;
    is_problem(&r, StatusCode::UNPROCESSABLE_ENTITY);
    let p = json_of(r).await;
    assert_eq!(p["errors"][0]["pointer"], "/priority");
    assert_eq!(p["schema"], "/v1/event-types/NeedAssessed", "the refusal links the form's schema");
    assert!(form.is_valid(&assessed()["data"]));
    let r = test::call_service(&app, post(&format!("/v1/issues/{id}/steps"), &assessed()).to_request()).await;
    assert_eq!(r.status(), StatusCode::CREATED);

    // The whole vocabulary: labelled, with personal fields and a link to each schema.
    let all = json_of(test::call_service(&app, get("/v1/event-types".into())).await).await;
    let items = all["items"].as_array().unwrap();
    assert!(items.len() >= 22, "{}", items.len());
    let drafted = items.iter().find(|t| t["type"] == "MicroPactDrafted").unwrap();
    assert_eq!(drafted["label"]["zh-CN"], "起草微公约");
    assert_eq!(drafted["schema"], "/v1/event-types/MicroPactDrafted");
    assert_eq!(drafted["personal"][0]["at"], "/drafted_by/*");
    assert!(items.iter().any(|t| t["type"] == "MeetingScheduled"));

    // One workflow's vocabulary: what its issues record, and who may record it.
    let wf = json_of(test::call_service(&app, get("/v1/event-types?workflow=community-issue".into())).await).await;
    assert_eq!(wf["workflow"]["id"], "community-issue");
    let types: Vec<&str> = wf["items"].as_array().unwrap().iter().map(|t| t["type"].as_str().unwrap()).collect();
    assert!(types.contains(&"IssueRaised") && types.contains(&"MicroPactDrafted"), "{types:?}");
    assert!(!types.contains(&"MeetingScheduled"), "{types:?}");
    let assessed_roles = wf["items"].as_array().unwrap().iter().find(|t| t["type"] == "NeedAssessed").unwrap();
    assert!(assessed_roles["roles"].as_array().unwrap().contains(&json!("social_worker")), "{assessed_roles}");

    // Unknown names are 404 problems that say where the known ones are.
    let r = test::call_service(&app, get("/v1/event-types/NoSuchStep".into())).await;
    is_problem(&r, StatusCode::NOT_FOUND);
    assert!(json_of(r).await["detail"].as_str().unwrap().contains("/v1/event-types"));
    let r = test::call_service(&app, get("/v1/event-types?workflow=no-such-workflow".into())).await;
    is_problem(&r, StatusCode::NOT_FOUND);
}

#[actix_web::test]
async fn a_guard_that_fails_is_a_409_naming_the_guard() {
    let f = fixture().await;
    let app = app!(f);
    let id = raise(&app).await;
    let steps = format!("/v1/issues/{id}/steps");
    let r = test::call_service(&app, post(&steps, &assessed()).to_request()).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    // Closing from `assessed` needs reason duplicate/out_of_scope/merged.
    let close = json!({"type": "IssueClosed", "actor": {"id": "c-1", "role": "convener"},
        "data": {"reason": "resolved", "summary": {"zh-CN": "已解决"}}});
    let r = test::call_service(&app, post(&steps, &close).to_request()).await;
    is_problem(&r, StatusCode::CONFLICT);
    let p = json_of(r).await;
    assert!(p["type"].as_str().unwrap().ends_with("guard-failed"));
    assert!(!p["guards"].as_array().unwrap().is_empty());
}

#[actix_web::test]
async fn if_match_and_idempotency_key_make_steps_safe_to_retry() {
    let f = fixture().await;
    let app = app!(f);
    let id = raise(&app).await;
    let steps = format!("/v1/issues/{id}/steps");

    // Stale If-Match: 412 with the current version.
    let r = test::call_service(&app, post(&steps, &assessed()).insert_header(("If-Match", "\"7\"")).to_request()).await;
    is_problem(&r, StatusCode::PRECONDITION_FAILED);
    assert_eq!(json_of(r).await["current_version"], 0);
    // Malformed If-Match: 400.
    let r = test::call_service(&app, post(&steps, &assessed()).insert_header(("If-Match", "abc")).to_request()).await;
    is_problem(&r, StatusCode::BAD_REQUEST);

    // Same Idempotency-Key twice: same response, one event.
    let req =
        || post(&steps, &assessed()).insert_header(("If-Match", "\"0\"")).insert_header(("Idempotency-Key", "k-1"));
    let r1 = test::call_service(&app, req().to_request()).await;
    assert_eq!(r1.status(), StatusCode::CREATED);
    let b1 = json_of(r1).await;
    let r2 = test::call_service(&app, req().to_request()).await;
    assert_eq!(r2.status(), StatusCode::CREATED);
    assert_eq!(r2.headers().get("Idempotent-Replayed").unwrap(), "true");
    let b2 = json_of(r2).await;
    assert_eq!(b1["event"], b2["event"]);
    assert_eq!(b1["issue"]["version"], b2["issue"]["version"]);
    let r =
        test::call_service(&app, test::TestRequest::get().uri(&format!("/v1/issues/{id}/events")).to_request()).await;
    assert_eq!(json_of(r).await["items"].as_array().unwrap().len(), 2);

    // The key reused for a different step: 422.
    let r =
        test::call_service(&app, post(&steps, &placed()).insert_header(("Idempotency-Key", "k-1")).to_request()).await;
    is_problem(&r, StatusCode::UNPROCESSABLE_ENTITY);
}

#[actix_web::test]
async fn an_issue_reads_now_at_a_version_and_at_a_time() {
    let f = fixture().await;
    let app = app!(f);
    let id = raise(&app).await;
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let between = chrono::Utc::now();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let r = test::call_service(&app, post(&format!("/v1/issues/{id}/steps"), &assessed()).to_request()).await;
    assert_eq!(r.status(), StatusCode::CREATED);

    let get = |q: String| test::TestRequest::get().uri(&format!("/v1/issues/{id}{q}")).to_request();
    let r = test::call_service(&app, get(String::new())).await;
    assert_eq!(r.headers().get("etag").unwrap(), "\"1\"");
    let now = json_of(r).await;
    assert_eq!(now["state"], "assessed");
    assert!(now["allowed_steps"].as_array().unwrap().iter().any(|s| s["type"] == "PlacedOnAgenda"));

    let r = test::call_service(&app, get("?version=0".into())).await;
    assert_eq!(r.headers().get("etag").unwrap(), "\"0\"");
    assert_eq!(json_of(r).await["state"], "raised");

    let at = between.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let r = test::call_service(&app, get(format!("?at={}", at.replace('+', "%2B")))).await;
    assert_eq!(json_of(r).await["state"], "raised");

    let r = test::call_service(&app, get("?version=9".into())).await;
    is_problem(&r, StatusCode::NOT_FOUND);
    let r = test::call_service(&app, get("?at=yesterday".into())).await;
    is_problem(&r, StatusCode::BAD_REQUEST);
    let r = test::call_service(&app, get("?at=2000-01-01T00:00:00Z".into())).await;
    is_problem(&r, StatusCode::NOT_FOUND);
    let r = test::call_service(&app, test::TestRequest::get().uri("/v1/issues/no-such-issue").to_request()).await;
    is_problem(&r, StatusCode::NOT_FOUND);
    let r =
        test::call_service(&app, test::TestRequest::get().uri("/v1/issues/no-such-issue/events").to_request()).await;
    is_problem(&r, StatusCode::NOT_FOUND);
}

#[actix_web::test]
async fn stats_count_the_matters_of_a_community_tree_and_refuse_bad_periods() {
    let f = fixture().await;
    let app = app!(f);
    let mut ids = Vec::new();
    for (c, households) in
        [("wuhan/wuchang/a-street/c1", 10), ("wuhan/wuchang/a-street/c2", 20), ("wuhan/jiangan/b-street/c3", 40)]
    {
        let mut b = raise_body();
        b["community"] = json!(c);
        b["households_affected"] = json!(households);
        let r = test::call_service(&app, post("/v1/issues", &b).to_request()).await;
        ids.push(json_of(r).await["issue"]["id"].as_str().unwrap().to_string());
    }
    let r = test::call_service(&app, post(&format!("/v1/issues/{}/steps", ids[0]), &assessed()).to_request()).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let stats = |q: &str| test::TestRequest::get().uri(&format!("/v1/stats{q}")).to_request();

    let r = test::call_service(&app, stats("?community=wuhan/wuchang")).await;
    assert_eq!(r.status(), StatusCode::OK);
    let b = json_of(r).await;
    assert_eq!(b["issues"]["total"], 2);
    assert_eq!(b["issues"]["open"], 2);
    assert_eq!(b["issues"]["households_affected"], 30);
    assert_eq!(b["filters"]["community"], "wuhan/wuchang");
    assert!(b["as_of_position"].as_u64().unwrap() > 0 && b["as_of"].is_string(), "{b}");
    let states: Vec<(&str, u64)> = b["by_state"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["state"].as_str().unwrap(), s["count"].as_u64().unwrap()))
        .collect();
    assert_eq!(states, [("assessed", 1), ("raised", 1)]);
    assert_eq!(b["by_community"].as_array().unwrap().len(), 2);
    assert!(b["micro"]["charity_pledged_fen"].is_u64() && b.get("days_to_close").is_none(), "{b}");

    // Raised between yesterday and tomorrow (days in China Standard Time): all three; raised
    // before 2020: none.
    let day = |d: i64| (chrono::Utc::now() + chrono::Duration::hours(8 + 24 * d)).format("%Y-%m-%d").to_string();
    let r = test::call_service(&app, stats(&format!("?from={}&to={}", day(-1), day(1)))).await;
    assert_eq!(json_of(r).await["issues"]["total"], 3);
    let r = test::call_service(&app, stats(&format!("?to={}", "2020-01-01"))).await;
    assert_eq!(json_of(r).await["issues"]["total"], 0);

    let r = test::call_service(&app, stats("?from=yesterday")).await;
    is_problem(&r, StatusCode::BAD_REQUEST);
    let r = test::call_service(&app, stats("?from=2026-11-23&to=2026-11-01")).await;
    is_problem(&r, StatusCode::BAD_REQUEST);
}

#[actix_web::test]
async fn issue_lists_filter_by_community_subtree_and_state_and_paginate() {
    let f = fixture().await;
    let app = app!(f);
    let mut ids = Vec::new();
    for c in ["wuhan/wuchang/a-street/c1", "wuhan/wuchang/a-street/c2", "wuhan/jiangan/b-street/c3"] {
        let mut b = raise_body();
        b["community"] = json!(c);
        let r = test::call_service(&app, post("/v1/issues", &b).to_request()).await;
        ids.push(json_of(r).await["issue"]["id"].as_str().unwrap().to_string());
    }
    let r = test::call_service(&app, post(&format!("/v1/issues/{}/steps", ids[0]), &assessed()).to_request()).await;
    assert_eq!(r.status(), StatusCode::CREATED);

    let list = |q: &str| test::TestRequest::get().uri(&format!("/v1/issues{q}")).to_request();
    let r = test::call_service(&app, list("?community=wuhan/wuchang")).await;
    assert_eq!(json_of(r).await["items"].as_array().unwrap().len(), 2);
    let r = test::call_service(&app, list("?community=wuhan/wuchang/a-street/c")).await;
    assert_eq!(json_of(r).await["items"].as_array().unwrap().len(), 0, "segment-aware prefix");
    let r = test::call_service(&app, list("?state=assessed")).await;
    let b = json_of(r).await;
    assert_eq!(b["items"].as_array().unwrap().len(), 1);
    assert_eq!(b["items"][0]["id"], ids[0].as_str());
    let r = test::call_service(&app, list("?workflow=micro-wish")).await;
    assert_eq!(json_of(r).await["items"].as_array().unwrap().len(), 0);
    // Nothing raised a moment ago is past a deadline yet (the engine spec moves the clock).
    let r = test::call_service(&app, list("?overdue=true")).await;
    assert_eq!(json_of(r).await["items"].as_array().unwrap().len(), 0);
    let r = test::call_service(&app, list("?overdue=false")).await;
    assert_eq!(json_of(r).await["items"].as_array().unwrap().len(), 3, "false filters nothing out");
    let r = test::call_service(&app, list("?overdue=soon")).await;
    is_problem(&r, StatusCode::BAD_REQUEST);
    assert_eq!(json_of(r).await["parameters"], json!(["overdue=soon"]));

    // Pages of two, newest first, then the rest.
    let r = test::call_service(&app, list("?limit=2")).await;
    let p1 = json_of(r).await;
    assert_eq!(p1["items"][0]["id"], ids[2].as_str());
    let cursor = p1["next_cursor"].as_str().unwrap().to_string();
    let r = test::call_service(&app, list(&format!("?limit=2&cursor={cursor}"))).await;
    let p2 = json_of(r).await;
    assert_eq!(p2["items"].as_array().unwrap().len(), 1);
    assert_eq!(p2["items"][0]["id"], ids[0].as_str());
    assert!(p2["next_cursor"].is_null());

    let r = test::call_service(&app, list("?limit=0")).await;
    is_problem(&r, StatusCode::BAD_REQUEST);
    let r = test::call_service(&app, list("?cursor=zzz")).await;
    is_problem(&r, StatusCode::BAD_REQUEST);
    let r = test::call_service(&app, list("?limit=ten")).await;
    is_problem(&r, StatusCode::BAD_REQUEST);
    // The problem names the parameter that is not a number, and only that one.
    let body = json_of(r).await;
    assert_eq!(body["parameters"], json!(["limit=ten"]), "{body}");
    assert!(body["detail"].as_str().unwrap().contains("limit=ten"), "{body}");
    let r = test::call_service(&app, list("?community=wuhan&state=raised&limit=ten")).await;
    assert_eq!(json_of(r).await["parameters"], json!(["limit=ten"]), "text parameters are not blamed");
    let r = test::call_service(&app, test::TestRequest::get().uri("/v1/events?after=-1&limit=5").to_request()).await;
    is_problem(&r, StatusCode::BAD_REQUEST);
    assert_eq!(json_of(r).await["parameters"], json!(["after=-1"]));
    let r = test::call_service(&app, test::TestRequest::get().uri("/v1/events?reveal=yes").to_request()).await;
    is_problem(&r, StatusCode::BAD_REQUEST);
    let body = json_of(r).await;
    assert_eq!(body["parameters"], json!(["reveal=yes"]), "{body}");
    assert!(body["detail"].as_str().unwrap().contains("true or false"), "{body}");
}

#[actix_web::test]
async fn the_issue_stream_and_the_global_log_show_versions_positions_and_hashes() {
    let f = fixture().await;
    let app = app!(f);
    let id = raise(&app).await;
    let r = test::call_service(&app, post(&format!("/v1/issues/{id}/steps"), &assessed()).to_request()).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let r =
        test::call_service(&app, test::TestRequest::get().uri(&format!("/v1/issues/{id}/events")).to_request()).await;
    let items = json_of(r).await["items"].clone();
    let events: Vec<convene_engine::RecordedEvent> = serde_json::from_value(items).unwrap();
    assert_eq!(events.iter().map(|e| e.version).collect::<Vec<_>>(), vec![0, 1]);
    convene_engine::event::verify_chain(&events).unwrap();

    let r = test::call_service(&app, test::TestRequest::get().uri("/v1/events?after=0&limit=1000").to_request()).await;
    let all = json_of(r).await;
    let positions: Vec<u64> =
        all["items"].as_array().unwrap().iter().map(|e| e["position"].as_u64().unwrap()).collect();
    assert_eq!(positions, (1..=positions.len() as u64).collect::<Vec<_>>());
    let last = positions.len() as u64;
    let r =
        test::call_service(&app, test::TestRequest::get().uri(&format!("/v1/events?after={}", last - 1)).to_request())
            .await;
    assert_eq!(json_of(r).await["items"].as_array().unwrap().len(), 1);
    let r = test::call_service(&app, test::TestRequest::get().uri("/v1/events?limit=0").to_request()).await;
    is_problem(&r, StatusCode::BAD_REQUEST);
}

/// Reads SSE chunks until `n` events arrived (or a timeout fails the test).
async fn read_sse(body: impl MessageBody + Unpin, n: usize) -> Vec<(u64, String)> {
    let mut body = std::pin::pin!(body);
    let mut text = String::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let got: Vec<(u64, String)> = text
            .split("\n\n")
            .filter_map(|m| {
                let id = m.lines().find_map(|l| l.strip_prefix("id: "))?.parse().ok()?;
                let ev = m.lines().find_map(|l| l.strip_prefix("event: "))?.to_string();
                m.lines().any(|l| l.starts_with("data: ")).then_some((id, ev))
            })
            .collect();
        if got.len() >= n {
            return got;
        }
        let chunk = next_chunk(&mut body, deadline).await.expect("SSE stream ended early");
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
}

/// The next chunk of a streamed body (`None` once it ends or fails); the test fails if none
/// comes by `deadline`.
async fn next_chunk<B: MessageBody>(
    body: &mut std::pin::Pin<&mut B>,
    deadline: tokio::time::Instant,
) -> Option<actix_web::web::Bytes> {
    tokio::time::timeout_at(deadline, futures_util::future::poll_fn(|cx| body.as_mut().poll_next(cx)))
        .await
        .expect("the stream sends in time")
        .and_then(Result::ok)
}

#[actix_web::test]
async fn a_live_feed_first_tells_the_client_how_long_to_wait_before_reconnecting() {
    let f = fixture().await;
    let app = app!(f);
    let r = test::call_service(&app, test::TestRequest::get().uri("/v1/events/live").to_request()).await;
    assert_eq!(r.status(), StatusCode::OK);
    let mut body = std::pin::pin!(r.into_body());
    let at_once = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    let first = next_chunk(&mut body, at_once).await.expect("the feed is open");
    assert_eq!(&first[..], b"retry: 2000\n\n", "the same pause a 503's Retry-After asks for");
}

#[actix_web::test]
async fn live_events_catch_up_from_last_event_id_then_follow() {
    let f = fixture().await;
    let app = app!(f);
    let id = raise(&app).await;
    let head = *f.engine.store().head().borrow();
    let r = test::call_service(
        &app,
        test::TestRequest::get()
            .uri("/v1/events/live")
            .insert_header(("Last-Event-ID", (head - 1).to_string()))
            .to_request(),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers().get("content-type").unwrap(), "text/event-stream");
    let engine = f.engine.clone();
    let id2 = id.clone();
    let writer = tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let cmd = convene_engine::service::RecordStep {
            issue_id: id2,
            event_type: "NeedAssessed".into(),
            data: assessed()["data"].clone(),
            actor: convene_engine::Actor::new("sw-1", "social_worker"),
            expected_version: None,
            idempotency_key: None,
            correlation_id: None,
            causation_id: None,
        };
        engine.step(cmd).await.unwrap();
    });
    let got = read_sse(r.into_body(), 2).await;
    writer.await.unwrap();
    assert_eq!(got[0], (head, "IssueRaised".to_string()));
    assert_eq!(got[1], (head + 1, "NeedAssessed".to_string()));

    let r = test::call_service(
        &app,
        test::TestRequest::get().uri("/v1/events/live").insert_header(("Last-Event-ID", "abc")).to_request(),
    )
    .await;
    is_problem(&r, StatusCode::BAD_REQUEST);
}
