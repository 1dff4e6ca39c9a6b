//! A real `convene serve` on PostgreSQL through a proxy that breaks the database connection,
//! as a restart, a fail-over or a network cut would:
//! - an outage shorter than `--db-outage-wait`: every request is answered 201 (reads and the
//!   writer wait it out on new connections), none is answered 5xx;
//! - a COMMIT that lands but whose reply is lost: the writer writes the batch again, finds its
//!   event ids stored, and answers 201 once — the step is stored once;
//! - an outage longer than the wait: 503 problem+json `store-unavailable` with `Retry-After`,
//!   `/readyz` 503, and once the database is back the same request with the same
//!   `Idempotency-Key` is recorded exactly once;
//! - the database gone right after a COMMIT landed: 503 that says it may have been written
//!   (`outcome_unknown`), and the keyed resend is answered as the original, stored once;
//! - a database that answers nothing and closes nothing (a partition): 503 within the
//!   answer timeout and the wait rather than a hang, and once it answers again the keyed
//!   resend is recorded once;
//! - a live feed (`/v1/events/live`) opened while the database is away stays open, says so in
//!   an SSE comment, and once the database is back delivers the log from where it was asked,
//!   with no gap and no repeat;
//! - afterwards the log read directly: positions gap-free, every event stored once, every
//!   stream's chain intact, every acknowledged event present.
//!
//! Skipped (with a note) unless `CONVENE_TEST_DATABASE_URL` is set; see `pg.rs`.

use crate::durability::{Acked, Server, agent, free_port, start_serve};
use crate::pg;
use crate::tcp_proxy::TcpProxy;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Seconds the server waits out a lost connection here: long enough for the short outage,
/// short enough that the long one is answered 503 well within the client's 5 s timeout.
const OUTAGE_WAIT: &str = "3";

/// The database's address, and the test URL pointed at the proxy on `port` instead (without
/// TLS, so the proxy can see the COMMITs).
fn through_proxy(url: &str, port: u16) -> (SocketAddr, String) {
    let config: tokio_postgres::Config = url.parse().expect("CONVENE_TEST_DATABASE_URL parses");
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
        _ => "127.0.0.1".to_string(),
    };
    let db_port = config.get_ports().first().copied().unwrap_or(5432);
    let upstream = (host.as_str(), db_port).to_socket_addrs().expect("resolve the database host").next().unwrap();
    let user = config.get_user().unwrap_or("postgres");
    let password = config.get_password().map(|p| format!(":{}", String::from_utf8_lossy(p))).unwrap_or_default();
    let db = config.get_dbname().unwrap_or(user);
    (upstream, format!("postgres://{user}{password}@127.0.0.1:{port}/{db}?sslmode=disable"))
}

fn raise_body(title: &str) -> Value {
    json!({
        "workflow_id": "community-issue",
        "actor": {"id": "r-1", "role": "resident"},
        "community": "wuhan/wuchang/zhongnan-street/dongting-community",
        "title": {"zh-CN": title},
        "category": "other",
        "households_affected": 3,
        "raised_by": {"name": "居民"}
    })
}

fn agenda_body(i: usize) -> Value {
    json!({"type": "PlacedOnAgenda", "actor": {"id": "c", "role": "convener"},
        "data": {"meeting_id": format!("m{i}"), "meeting_kind": "joint_meeting"}})
}

fn assess_body() -> Value {
    json!({"type": "NeedAssessed", "actor": {"id": "sw", "role": "social_worker"}, "data": {
        "assessor": {"name": "李娜"}, "method": "survey", "findings": {"zh-CN": "需要协商"}, "priority": "medium"}})
}

/// One POST with an Idempotency-Key: status, headers of interest and body.
fn post(base: &str, path: &str, key: &str, body: &Value) -> (u16, Option<String>, Value) {
    match agent().post(&format!("{base}{path}")).header("Idempotency-Key", key).send_json(body) {
        Ok(mut r) => {
            let status = r.status().as_u16();
            let retry_after = r.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_string);
            let content_type = r.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
            let mut body = r.body_mut().read_json::<Value>().unwrap_or(Value::Null);
            if status >= 400 {
                body["_content_type"] = json!(content_type);
            }
            (status, retry_after, body)
        }
        Err(e) => panic!("POST {path}: no answer ({e})"),
    }
}

fn ack(acked: &Acked, body: &Value) {
    let id = body["issue"]["id"].as_str().unwrap().to_string();
    let version = body["event"]["version"].as_u64().unwrap();
    let event = body["event"]["id"].as_str().unwrap().to_string();
    let mut acked = acked.lock().unwrap();
    let prior = acked.entry(id).or_default().insert(version, event.clone());
    assert!(prior.is_none_or(|p| p == event), "one version acknowledged as two events");
}

/// A client raising an issue and placing it on agendas until `stop`; returns every status
/// other than 201 it was answered.
fn client(c: usize, base: String, acked: Acked, stop: Arc<AtomicBool>) -> Vec<(u16, Value)> {
    let mut odd = Vec::new();
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        let (status, _, body) =
            post(&base, "/v1/issues", &format!("c{c}-{n}"), &raise_body(&format!("客户端 {c} 议题 {n}")));
        if status != 201 {
            odd.push((status, body));
            break;
        }
        ack(&acked, &body);
        let id = body["issue"]["id"].as_str().unwrap().to_string();
        for i in 0..6 {
            let step = if i == 0 { assess_body() } else { agenda_body(i) };
            let (status, _, body) = post(&base, &format!("/v1/issues/{id}/steps"), &format!("c{c}-{n}-{i}"), &step);
            if status != 201 {
                odd.push((status, body));
                return odd;
            }
            ack(&acked, &body);
        }
        n += 1;
    }
    odd
}

fn readyz_status(base: &str) -> u16 {
    agent().get(&format!("{base}/readyz")).call().map(|r| r.status().as_u16()).unwrap_or(0)
}

/// A `convene serve` on a fresh schema, its database connections through a breakable proxy.
struct Rig {
    url: String,
    schema: String,
    proxy: TcpProxy,
    server: Server,
}

/// The rig, or `None` when the PostgreSQL tests are skipped; `env` for the server.
fn rig(tag: &str, env: &[(&str, &str)]) -> Option<Rig> {
    let url = pg::url()?;
    let proxy = TcpProxy::start(through_proxy(&url, 0).0);
    let (_, proxied) = through_proxy(&url, proxy.port);
    let schema = pg::unique_schema(tag);
    let dir = tempfile::tempdir().unwrap();
    let database_url = pg::url_with_schema(&proxied, &schema);
    let mut all = vec![("CONVENE_DATABASE_URL", database_url.as_str()), ("CONVENE_DB_POOL_SIZE", "4")];
    all.extend_from_slice(env);
    let server = start_serve(dir.path(), free_port(), &all);
    // The data directory holds only the checkpoint key; the server keeps its files open.
    std::mem::forget(dir);
    Some(Rig { url, schema, proxy, server })
}

#[test]
fn a_database_outage_is_ridden_out_or_answered_503_and_nothing_is_lost_or_doubled() {
    let Some(Rig { url, schema, proxy, server }) = rig("outage", &[("CONVENE_DB_OUTAGE_WAIT", OUTAGE_WAIT)]) else {
        return;
    };
    let base = server.base.clone();
    let acked: Acked = Arc::default();

    // A short outage under load: every connection cut, new ones refused for one second.
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..4)
        .map(|c| {
            let (base, acked, stop) = (base.clone(), acked.clone(), stop.clone());
            std::thread::spawn(move || client(c, base, acked, stop))
        })
        .collect();
    std::thread::sleep(Duration::from_millis(700));
    let before = acked.lock().unwrap().values().map(BTreeMap::len).sum::<usize>();
    proxy.refuse(true);
    proxy.cut_all();
    std::thread::sleep(Duration::from_secs(1));
    proxy.refuse(false);
    std::thread::sleep(Duration::from_millis(1500));
    stop.store(true, Ordering::Relaxed);
    let odd: Vec<_> = clients.into_iter().flat_map(|c| c.join().unwrap()).collect();
    assert!(odd.is_empty(), "a 1 s outage is waited out, every request answered 201: {odd:?}");
    let after = acked.lock().unwrap().values().map(BTreeMap::len).sum::<usize>();
    assert!(before > 0 && after > before, "appends went on before ({before}) and after ({after}) the outage");

    // A COMMIT lands but its reply is lost, three times: each step is answered 201 and stored once.
    let (status, _, body) = post(&base, "/v1/issues", "lost-reply", &raise_body("提交回复丢失 / lost COMMIT reply"));
    assert_eq!(status, 201, "{body}");
    ack(&acked, &body);
    let id = body["issue"]["id"].as_str().unwrap().to_string();
    let (status, _, body) = post(&base, &format!("/v1/issues/{id}/steps"), "lost-reply-0", &assess_body());
    assert_eq!(status, 201, "{body}");
    ack(&acked, &body);
    for i in 1..=3 {
        proxy.lose_next_commit_reply();
        let (status, _, body) =
            post(&base, &format!("/v1/issues/{id}/steps"), &format!("lost-reply-{i}"), &agenda_body(i));
        assert_eq!(status, 201, "a COMMIT whose reply was lost is answered once it is known to have landed: {body}");
        assert_eq!(body["event"]["version"], i as u64 + 1, "{body}");
        ack(&acked, &body);
        assert_eq!(proxy.lost_commits(), i, "the proxy swallowed the reply of COMMIT {i}");
    }

    // An outage longer than the wait: 503 store-unavailable with Retry-After, not ready.
    proxy.refuse(true);
    proxy.cut_all();
    let started = Instant::now();
    let (status, retry_after, body) =
        post(&base, "/v1/issues", "during-outage", &raise_body("停机期间 / during the outage"));
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["_content_type"], "application/problem+json");
    assert!(body["type"].as_str().unwrap().ends_with("/store-unavailable"), "{body}");
    assert!(body["title"].as_str().unwrap().contains("存储暂不可用"), "{body}");
    assert_eq!(retry_after.as_deref(), Some("2"), "a 503 says when to retry");
    assert!(started.elapsed() >= Duration::from_secs(2), "the server waited the outage out first");
    let (status, _, body) = post(&base, &format!("/v1/issues/{id}/steps"), "during-outage-step", &agenda_body(9));
    assert_eq!(status, 503, "{body}");
    assert_eq!(readyz_status(&base), 503, "not ready while the database is away");

    // Back: the same requests with the same keys are recorded, once.
    proxy.refuse(false);
    wait_ready(&base);
    for _ in 0..2 {
        let (status, _, body) = post(&base, "/v1/issues", "during-outage", &raise_body("停机期间 / during the outage"));
        assert_eq!(status, 201, "{body}");
        ack(&acked, &body);
        let (status, _, body) = post(&base, &format!("/v1/issues/{id}/steps"), "during-outage-step", &agenda_body(9));
        assert_eq!(status, 201, "{body}");
        ack(&acked, &body);
    }

    // The database goes away right after a COMMIT landed, before its reply: the writer cannot
    // find out, so the 503 says it may have been written; the keyed resend finds it and
    // answers as the original (Idempotent-Replayed), and it is stored once.
    proxy.lose_next_commit_reply_then_refuse();
    let (status, _, body) = post(&base, &format!("/v1/issues/{id}/steps"), "landed-unheard", &agenda_body(10));
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["outcome_unknown"], true, "a COMMIT cut off is not reported as nothing written: {body}");
    assert!(body["detail"].as_str().unwrap().contains("may have been written"), "{body}");
    proxy.refuse(false);
    wait_ready(&base);
    let r = agent()
        .post(&format!("{base}/v1/issues/{id}/steps"))
        .header("Idempotency-Key", "landed-unheard")
        .send_json(agenda_body(10))
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    assert_eq!(r.headers().get("Idempotent-Replayed").and_then(|v| v.to_str().ok()), Some("true"));
    let body: Value = r.into_body().read_json().unwrap();
    ack(&acked, &body);

    // What the operator sees: the outages ridden out and the requests given up.
    let metrics = agent().get(&format!("{base}/metrics")).call().unwrap().into_body().read_to_string().unwrap();
    let value = |name: &str| -> f64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok()))
            .unwrap_or_else(|| panic!("{name} not on /metrics"))
    };
    assert!(value("convene_store_connection_retries_total") > 0.0, "the short outage was ridden out by retrying");
    assert!(value("convene_store_unavailable_total") >= 3.0, "the 503s above were counted");
    drop(server);

    let acked = acked.lock().unwrap();
    assert_eq!(
        pg::verify_log(&url, &schema, &acked),
        acked.len(),
        "every raised issue was acknowledged: none raised twice"
    );
}

fn wait_ready(base: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while readyz_status(base) != 200 {
        assert!(Instant::now() < deadline, "ready again once the database is back");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_silent_database_is_given_up_on_within_the_answer_timeout_and_nothing_is_lost_or_doubled() {
    let env = [("CONVENE_DB_OUTAGE_WAIT", "2"), ("CONVENE_DB_ANSWER_TIMEOUT", "1")];
    let Some(Rig { url, schema, proxy, server }) = rig("silent", &env) else { return };
    let base = server.base.clone();
    let acked: Acked = Arc::default();
    let (status, _, body) = post(&base, "/v1/issues", "s-raise", &raise_body("沉默的数据库 / a silent database"));
    assert_eq!(status, 201, "{body}");
    ack(&acked, &body);
    let id = body["issue"]["id"].as_str().unwrap().to_string();
    let steps = format!("/v1/issues/{id}/steps");
    let (status, _, body) = post(&base, &steps, "s-0", &assess_body());
    assert_eq!(status, 201, "{body}");
    ack(&acked, &body);

    // Partitioned: nothing answers and nothing is closed. Without an answer timeout the
    // request would hang until the OS gave up on the connection (minutes).
    proxy.freeze(true);
    let started = Instant::now();
    let (status, retry_after, body) = post(&base, &steps, "s-1", &agenda_body(1));
    assert_eq!(status, 503, "{body}");
    assert!(body["type"].as_str().unwrap().ends_with("/store-unavailable"), "{body}");
    assert_eq!(retry_after.as_deref(), Some("2"));
    assert!(started.elapsed() < Duration::from_secs(5), "given up within the wait, not hung");
    assert_eq!(readyz_status(&base), 503, "not ready while the database is silent");

    // Healed: whatever was held is delivered (a held COMMIT may land now); the keyed resend
    // is recorded once either way.
    proxy.freeze(false);
    wait_ready(&base);
    for _ in 0..2 {
        let (status, _, body) = post(&base, &steps, "s-1", &agenda_body(1));
        assert_eq!(status, 201, "{body}");
        assert_eq!(body["event"]["version"], 2, "{body}");
        ack(&acked, &body);
    }
    let (status, _, body) = post(&base, &steps, "s-2", &agenda_body(2));
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["event"]["version"], 3, "{body}");
    ack(&acked, &body);
    drop(server);
    let acked = acked.lock().unwrap();
    assert_eq!(
        pg::verify_log(&url, &schema, &acked),
        acked.len(),
        "every raised issue was acknowledged: none raised twice"
    );
}

#[test]
fn a_live_feed_waits_out_a_database_outage_and_resumes_with_no_gap_and_no_repeat() {
    use std::io::BufRead;
    let Some(Rig { proxy, server, .. }) = rig("live", &[("CONVENE_DB_OUTAGE_WAIT", "1")]) else { return };
    let base = server.base.clone();
    let (status, _, body) = post(&base, "/v1/issues", "l-raise", &raise_body("实时推送 / the live feed"));
    assert_eq!(status, 201, "{body}");
    let id = body["issue"]["id"].as_str().unwrap().to_string();
    let steps = format!("/v1/issues/{id}/steps");
    let (status, _, body) = post(&base, &steps, "l-0", &assess_body());
    assert_eq!(status, 201, "{body}");

    // The database goes away; a dashboard opens the feed from the start of the log.
    proxy.refuse(true);
    proxy.cut_all();
    let (lines_tx, lines) = std::sync::mpsc::channel::<String>();
    let url = format!("{base}/v1/events/live?after=0");
    let reader = std::thread::spawn(move || {
        let sse: ureq::Agent =
            ureq::Agent::config_builder().timeout_global(Some(Duration::from_secs(40))).build().into();
        let r = sse.get(&url).call().expect("the live feed answers while the database is away");
        assert_eq!(r.status().as_u16(), 200);
        for line in std::io::BufReader::new(r.into_body().into_reader()).lines() {
            let Ok(line) = line else { break };
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let next_line = |within: Duration| lines.recv_timeout(within).expect("the live feed is still open");
    assert_eq!(
        next_line(Duration::from_secs(5)),
        "retry: 2000",
        "the feed first says how long to wait before reconnecting"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let line = next_line(deadline.saturating_duration_since(Instant::now()));
        assert!(!line.starts_with("id: "), "nothing can be delivered while the database is away: {line}");
        if line.starts_with(':') && line.contains("storage unavailable") {
            break;
        }
    }
    // Past several outage waits: the feed is still open and still waiting.
    std::thread::sleep(Duration::from_secs(3));

    // Back: a step recorded after the outage; the feed delivers the whole log up to it.
    proxy.refuse(false);
    wait_ready(&base);
    let (status, _, body) = post(&base, &steps, "l-1", &agenda_body(1));
    assert_eq!(status, 201, "{body}");
    let last = body["event"]["position"].as_u64().expect("the step's global position");
    let mut ids = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while ids.last() != Some(&last) {
        let line = next_line(deadline.saturating_duration_since(Instant::now()));
        if let Some(id) = line.strip_prefix("id: ") {
            ids.push(id.parse::<u64>().unwrap());
        }
    }
    assert_eq!(ids, (1..=last).collect::<Vec<_>>(), "every position once, in order, from the start");
    drop(lines);
    drop(server);
    let _ = reader.join();
}
