//! `GET /metrics`: what an operator's Prometheus sees of one instance.

use crate::http::{assessed, fixture, json_of, post, raise};
use actix_web::http::StatusCode;
use actix_web::middleware::from_fn;
use actix_web::{App, test};
use convene_api::http::metrics::{CONTENT_TYPE, observe};
use convene_api::http::{AppState, configure};
use std::collections::HashMap;

/// The samples of an OpenMetrics text: `name{labels}` → value.
fn samples(text: &str) -> HashMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| l.rsplit_once(' '))
        .map(|(k, v)| (k.to_string(), v.parse().expect("a sample value")))
        .collect()
}

macro_rules! metered_app {
    ($state:expr) => {
        test::init_service(App::new().wrap(from_fn(observe)).configure(configure($state))).await
    };
}

async fn scrape<S>(app: &S) -> String
where
    S: actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse,
            Error = actix_web::Error,
        >,
{
    let resp = test::call_service(app, test::TestRequest::get().uri("/metrics").to_request()).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers().get("content-type").unwrap(), CONTENT_TYPE);
    String::from_utf8(test::read_body(resp).await.to_vec()).unwrap()
}

#[actix_web::test]
async fn given_requests_and_issues_when_scraped_then_counts_are_by_route_pattern_status_and_state() {
    let f = fixture().await;
    let app = metered_app!(AppState::insecure_dev(f.engine.clone()));
    // Given two issues, one of them assessed; a refused step (409); a 404 on an issue route
    // and one on no route at all.
    let a = raise(&app).await;
    let b = raise(&app).await;
    let ok = test::call_service(&app, post(&format!("/v1/issues/{a}/steps"), &assessed()).to_request()).await;
    assert_eq!(ok.status(), StatusCode::CREATED, "{}", json_of(ok).await);
    let again = test::call_service(&app, post(&format!("/v1/issues/{a}/steps"), &assessed()).to_request()).await;
    assert_eq!(again.status(), StatusCode::CONFLICT);
    let missing = test::call_service(&app, test::TestRequest::get().uri("/v1/issues/nope").to_request()).await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let nowhere = test::call_service(&app, test::TestRequest::get().uri("/no/such/path").to_request()).await;
    assert_eq!(nowhere.status(), StatusCode::NOT_FOUND);

    // When Prometheus scrapes.
    let text = scrape(&app).await;
    let s = samples(&text);

    // Then requests are counted by the route's pattern, never by an issue's id.
    let req = |m: &str, route: &str, status: u16| {
        s.get(&format!("convene_http_requests_total{{method=\"{m}\",route=\"{route}\",status=\"{status}\"}}")).copied()
    };
    assert_eq!(req("POST", "/v1/issues", 201), Some(2.0), "{text}");
    assert_eq!(req("POST", "/v1/issues/{id}/steps", 201), Some(1.0));
    assert_eq!(req("POST", "/v1/issues/{id}/steps", 409), Some(1.0));
    assert_eq!(req("GET", "/v1/issues/{id}", 404), Some(1.0));
    assert_eq!(req("GET", "unmatched", 404), Some(1.0));
    assert!(!text.contains(&a) && !text.contains(&b) && !text.contains("nope"), "no id or raw path in the labels");
    assert_eq!(s.get("convene_http_request_duration_seconds_count{method=\"POST\",route=\"/v1/issues\"}"), Some(&2.0));
    // Issues by workflow and state, as the index folds them.
    assert_eq!(s.get("convene_issues{workflow=\"community-issue\",state=\"raised\"}"), Some(&1.0), "{text}");
    assert_eq!(s.get("convene_issues{workflow=\"community-issue\",state=\"assessed\"}"), Some(&1.0));
    assert_eq!(s.get("convene_issues_overdue"), Some(&0.0));
    // The store as this process sees it.
    let head = *f.engine.store().head().borrow() as f64;
    assert!(head > 0.0);
    assert_eq!(s.get("convene_store_head_position"), Some(&head));
    let (commits, appends) = f.engine.store().commit_counts().unwrap();
    assert_eq!(s.get("convene_store_commits_total"), Some(&(commits as f64)));
    assert_eq!(s.get("convene_store_appends_total"), Some(&(appends as f64)));
    assert!(appends >= 3, "the raises and the step were appended");
    // The disk holding the embedded log: what is left of it, and its size.
    let available = s.get("convene_store_disk_available_bytes").copied().unwrap_or_else(|| panic!("{text}"));
    let size = s.get("convene_store_disk_size_bytes").copied().unwrap_or_default();
    assert!(available > 0.0 && available <= size, "available {available} of {size}");
    assert_eq!(s.get("convene_build_info{version=\"0.1.0\",backend=\"sqlite\"}"), Some(&1.0));
    assert_eq!(s.get("convene_leader"), Some(&0.0), "a server nobody made leader says so");
    if cfg!(target_os = "linux") {
        assert!(s.get("process_resident_memory_bytes").is_some_and(|v| *v > 0.0), "{text}");
        assert!(s.get("process_open_fds").is_some_and(|v| *v > 0.0));
    }
    assert!(text.ends_with("# EOF\n"));
}

#[actix_web::test]
async fn a_state_no_issue_is_in_any_more_leaves_the_scrape() {
    let f = fixture().await;
    let app = metered_app!(AppState::insecure_dev(f.engine.clone()));
    let a = raise(&app).await;
    assert!(scrape(&app).await.contains("state=\"raised\"} 1"));
    let ok = test::call_service(&app, post(&format!("/v1/issues/{a}/steps"), &assessed()).to_request()).await;
    assert_eq!(ok.status(), StatusCode::CREATED);
    let text = scrape(&app).await;
    assert!(!text.contains("state=\"raised\""), "{text}");
    assert!(text.contains("state=\"assessed\"} 1"), "{text}");
}

#[actix_web::test]
async fn a_live_client_is_counted_while_its_stream_is_open() {
    let f = fixture().await;
    let app = metered_app!(AppState::insecure_dev(f.engine.clone()));
    raise(&app).await;
    let live = test::call_service(&app, test::TestRequest::get().uri("/v1/events/live").to_request()).await;
    assert_eq!(live.status(), StatusCode::OK);
    let mut body = live.into_body();
    // The stream sends its reconnect pause, then the raised event (catch-up from the start).
    let mut sent = String::new();
    while !sent.contains("IssueRaised") {
        let chunk = futures_util::future::poll_fn(|cx| {
            actix_web::body::MessageBody::poll_next(std::pin::Pin::new(&mut body), cx)
        })
        .await
        .expect("an event")
        .unwrap();
        sent.push_str(&String::from_utf8_lossy(&chunk));
    }
    let s = samples(&scrape(&app).await);
    assert_eq!(s.get("convene_live_clients"), Some(&1.0));
    assert!(s["convene_live_events_sent_total"] >= 1.0);
    // The client goes away.
    drop(body);
    let s = samples(&scrape(&app).await);
    assert_eq!(s.get("convene_live_clients"), Some(&0.0));
}

#[actix_web::test]
async fn meetings_are_counted_by_kind_and_status() {
    let f = fixture().await;
    let app = metered_app!(AppState::insecure_dev(f.engine.clone()));
    let community = "wuhan/wuchang/zhongnan-street/dongting-community";
    let meeting = serde_json::json!({
        "meeting_id": "dongting-consultation", "kind": "consultation_day", "community": community,
        "actor": {"id": "c-1", "name": "张书记", "role": "convener", "community": community},
        "title": {"zh-CN": "协商民主日", "en": "Consultation day"}, "scheduled_for": "2026-05-20T11:00:00Z",
        "venue": {"zh-CN": "社区议事厅", "en": "the deliberation hall"},
        "convener": {"name": "张书记", "society": "community"}
    });
    let r = test::call_service(&app, post("/v1/meetings", &meeting).to_request()).await;
    assert_eq!(r.status(), StatusCode::CREATED, "{}", json_of(r).await);
    let s = samples(&scrape(&app).await);
    assert_eq!(s.get("convene_meetings{kind=\"consultation_day\",status=\"scheduled\"}"), Some(&1.0));
    assert_eq!(s.get("convene_action_items_overdue"), Some(&0.0));
    assert_eq!(s.get("convene_process_manager_problems"), Some(&0.0));
}

#[actix_web::test]
async fn the_example_alert_rules_name_only_metrics_the_server_exports() {
    let f = fixture().await;
    let app = metered_app!(AppState::insecure_dev(f.engine.clone()));
    // One request of each outcome the rules look at, so the request families have samples.
    raise(&app).await;
    let text = scrape(&app).await;
    let exported: std::collections::HashSet<&str> =
        text.lines().filter(|l| !l.starts_with('#')).filter_map(|l| l.split(['{', ' ']).next()).collect();
    let rules = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/prometheus-alerts.yml"))
        .expect("examples/prometheus-alerts.yml");
    let named: std::collections::BTreeSet<&str> = rules
        .lines()
        .filter(|l| l.trim_start().starts_with("expr:") || l.starts_with("          "))
        .flat_map(|l| l.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')))
        .filter(|w| w.starts_with("convene_") || w.starts_with("process_"))
        .collect();
    assert!(named.len() >= 8, "the rules name metrics: {named:?}");
    let missing: Vec<_> = named.iter().filter(|m| !exported.contains(**m)).collect();
    assert!(missing.is_empty(), "named by the rules but not exported: {missing:?}");
}
