//! Two `convene serve` processes on one PostgreSQL database (one schema), clients spread over
//! both, and the leader SIGKILLed mid-run:
//! - no acknowledged step is lost or doubled, every stream is gap-free and its chain intact,
//!   global positions are gap-free;
//! - If-Match behaves as on one instance: a client alternating between the instances never
//!   sees a stale 412 (each instance catches up from the shared log before deciding), and two
//!   clients racing with the same If-Match through different instances get exactly one 201 and
//!   one 412;
//! - exactly one instance holds the leader lease (runs the background work) at any time, and
//!   the survivor takes it over within seconds of the leader's death, its chain auditor then
//!   covering the whole log;
//! - tokens and per-person keys are shared through the database: a person sealed through one
//!   instance is revealed through another with a data directory of its own, and an erasure
//!   made with that one's configuration holds for both.
//!
//! Skipped (with a note) unless `CONVENE_TEST_DATABASE_URL` is set; see `pg.rs`.

use crate::durability::{Server, agent, free_port, start_serve};
use crate::pg;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Starts an instance on the shared log. Tokens and per-person keys are in the database; the
/// instances of the lease test share the `--data` directory for the checkpoint signing key (one
/// key for every leader's checkpoints), the privacy test gives each its own.
fn start(database_url: &str, data: &Path) -> Server {
    start_serve(data, free_port(), &[("CONVENE_DATABASE_URL", database_url), ("CONVENE_DB_POOL_SIZE", "4")])
}

fn readyz(base: &str) -> Option<Value> {
    let mut r = agent().get(&format!("{base}/readyz")).call().ok()?;
    r.body_mut().read_json().ok()
}

fn is_leader(base: &str) -> Option<bool> {
    readyz(base).and_then(|v| v["leader"].as_bool())
}

fn raise_body(n: usize) -> Value {
    json!({
        "workflow_id": "community-issue",
        "actor": {"id": format!("r-{n}"), "role": "resident"},
        "community": "wuhan/wuchang/zhongnan-street/dongting-community",
        "title": {"zh-CN": format!("议题 {n}"), "en": format!("Issue {n}")},
        "category": "other",
        "households_affected": n % 1000,
        "raised_by": {"name": "居民"}
    })
}

/// Assess, then put on agenda again and again (each step allowed after the one before).
fn step_body(i: usize) -> Value {
    match i {
        0 => json!({"type": "NeedAssessed", "actor": {"id": "sw", "role": "social_worker"}, "data": {
            "assessor": {"name": "李娜"}, "method": "survey", "findings": {"zh-CN": "需要协商"}, "priority": "medium"}}),
        _ => json!({"type": "PlacedOnAgenda", "actor": {"id": "c", "role": "convener"},
            "data": {"meeting_id": format!("m{i}"), "meeting_kind": "joint_meeting"}}),
    }
}

/// Issue id → version → event id of every acknowledged event.
type Acked = Arc<Mutex<HashMap<String, BTreeMap<u64, String>>>>;

/// Sends a request to the instances in turn starting at `turn`, moving on from one that does
/// not answer (the killed leader). The same Idempotency-Key makes a resend after a lost reply
/// the same command.
fn send(bases: &[String], turn: usize, path: &str, body: &Value, headers: &[(&str, String)]) -> (u16, Value) {
    let agent = agent();
    for attempt in 0..(bases.len() * 20) {
        let base = &bases[(turn + attempt) % bases.len()];
        let mut req = agent.post(&format!("{base}{path}"));
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        match req.send_json(body) {
            Ok(mut r) if r.status().as_u16() < 500 => {
                let status = r.status().as_u16();
                return (status, r.body_mut().read_json().unwrap_or(Value::Null));
            }
            _ => std::thread::sleep(Duration::from_millis(50)),
        }
    }
    panic!("no instance answered {path}");
}

/// A client: raises issues and steps them with If-Match, each request to the other instance.
fn client(c: usize, bases: Vec<String>, acked: Acked, stop: Arc<AtomicBool>) -> usize {
    let mut stale = 0;
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        let key = format!("c{c}-raise-{n}");
        let (status, body) = send(&bases, n, "/v1/issues", &raise_body(c * 10_000 + n), &[("Idempotency-Key", key)]);
        assert_eq!(status, 201, "raise: {body}");
        let id = body["issue"]["id"].as_str().unwrap().to_string();
        acked.lock().unwrap().entry(id.clone()).or_default().insert(0, body["event"]["id"].as_str().unwrap().into());
        let mut version = 0u64;
        for i in 0..8 {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            let headers = [("If-Match", format!("\"{version}\"")), ("Idempotency-Key", format!("c{c}-{id}-{i}"))];
            let (status, b) = send(&bases, n + i + 1, &format!("/v1/issues/{id}/steps"), &step_body(i), &headers);
            if status == 412 {
                stale += 1;
                break;
            }
            assert_eq!(status, 201, "step {i} of {id}: {b}");
            version = b["event"]["version"].as_u64().unwrap();
            acked
                .lock()
                .unwrap()
                .entry(id.clone())
                .or_default()
                .insert(version, b["event"]["id"].as_str().unwrap().into());
        }
        n += 1;
    }
    stale
}

/// Two clients race the same step with the same If-Match, one through each instance.
fn race(bases: &[String], round: usize) -> (u16, u16) {
    let (status, body) = send(bases, 0, "/v1/issues", &raise_body(900_000 + round), &[]);
    assert_eq!(status, 201, "{body}");
    let id = body["issue"]["id"].as_str().unwrap().to_string();
    let barrier = Arc::new(std::sync::Barrier::new(2));
    let threads: Vec<_> = (0..2)
        .map(|k| {
            let (base, id, barrier) = (bases[k].clone(), id.clone(), barrier.clone());
            std::thread::spawn(move || {
                let req = agent().post(&format!("{base}/v1/issues/{id}/steps")).header("If-Match", "\"0\"");
                barrier.wait();
                req.send_json(step_body(0)).unwrap().status().as_u16()
            })
        })
        .collect();
    let mut s: Vec<u16> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    s.sort();
    (s[0], s[1])
}

fn wait_for(what: &str, limit: Duration, mut ok: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !ok() {
        assert!(start.elapsed() < limit, "{what} did not happen within {limit:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    start.elapsed()
}

#[test]
fn two_instances_share_one_log_and_the_survivor_takes_the_lease_when_the_leader_is_killed() {
    let Some(url) = pg::url() else { return };
    let schema = pg::unique_schema("cluster");
    let db = pg::url_with_schema(&url, &schema);
    let data = tempfile::tempdir().expect("temporary directory");
    let mut servers = vec![Some(start(&db, data.path())), Some(start(&db, data.path()))];
    let bases: Vec<String> = servers.iter().map(|s| s.as_ref().unwrap().base.clone()).collect();

    // Exactly one leader.
    wait_for("a leader", Duration::from_secs(10), || bases.iter().filter(|b| is_leader(b) == Some(true)).count() == 1);
    std::thread::sleep(Duration::from_millis(1500));
    let leaders: Vec<usize> = (0..2).filter(|&i| is_leader(&bases[i]) == Some(true)).collect();
    assert_eq!(leaders.len(), 1, "exactly one instance holds the lease");
    let leader = leaders[0];
    let survivor = 1 - leader;

    // If-Match races across the instances: exactly one wins each.
    for round in 0..10 {
        assert_eq!(race(&bases, round), (201, 412), "round {round}: one 201 and one 412");
    }

    // Eight clients alternate between the instances.
    let acked: Acked = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..8)
        .map(|c| {
            let (bases, acked, stop) = (bases.clone(), acked.clone(), stop.clone());
            std::thread::spawn(move || client(c, bases, acked, stop))
        })
        .collect();
    let count = |a: &Acked| a.lock().unwrap().values().map(|m| m.len()).sum::<usize>();
    wait_for("300 acknowledged events", Duration::from_secs(60), || count(&acked) >= 300);

    // SIGKILL the leader mid-run; the clients carry on through the survivor.
    let mut killed = servers[leader].take().unwrap();
    killed.child.kill().unwrap();
    killed.child.wait().unwrap();
    let before_kill = count(&acked);
    let takeover = wait_for("the survivor taking the lease", Duration::from_secs(10), || {
        is_leader(&bases[survivor]) == Some(true)
    });
    eprintln!("leader lease taken over {takeover:?} after the kill");
    wait_for("200 more acknowledged events", Duration::from_secs(60), || count(&acked) >= before_kill + 200);
    stop.store(true, Ordering::Relaxed);
    let stale: usize = clients.into_iter().map(|c| c.join().unwrap()).sum();
    assert_eq!(stale, 0, "a client alternating between instances never gets a stale 412");

    // The survivor's background work (the chain auditor) covers the whole log, chains intact.
    let head = readyz(&bases[survivor]).unwrap()["head_position"].as_u64().unwrap();
    wait_for("the auditor to reach the head", Duration::from_secs(20), || {
        readyz(&bases[survivor]).unwrap()["background"]["audited_position"].as_u64() >= Some(head)
    });
    assert_eq!(readyz(&bases[survivor]).unwrap()["background"]["broken_chains"], 0);

    // The log itself, read directly.
    pg::verify_log(&url, &schema, &acked.lock().unwrap());
    drop(servers);
}

/// Two store instances on one schema (two writers that only the database serialises), 16
/// concurrent writers across them, a reader polling the log and a subscriber on each instance:
/// no reader ever finds a committed event below a position it has seen (each page starts right
/// after the last position read, gap-free), and each subscriber — woken by NOTIFY for the other
/// instance's commits — delivers every event once, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn readers_never_find_an_event_below_a_position_they_have_seen_with_two_writers_on_one_database() {
    use convene_engine::store::SubscribeExt;
    use convene_engine::{Actor, ExpectedVersion, NewEvent};
    const PER_WRITER: u64 = 60;
    let Some(url) = pg::url() else { return };
    let schema = pg::unique_schema("readers");
    let a = pg::open(&url, &schema).await;
    let b = pg::open(&url, &schema).await;
    let total = 16 * PER_WRITER;
    let subs: Vec<_> = [&a, &b]
        .into_iter()
        .map(|s| {
            let mut sub = s.subscribe(0);
            tokio::spawn(async move {
                let mut got = Vec::new();
                while (got.len() as u64) < total {
                    let e = tokio::time::timeout(Duration::from_secs(30), sub.next())
                        .await
                        .expect("the subscriber keeps up")
                        .expect("subscription");
                    got.push(e.position);
                }
                got
            })
        })
        .collect();
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let (store, done) = (a.clone(), done.clone());
        tokio::spawn(async move {
            let mut after = 0u64;
            let mut pages = 0;
            while after < total {
                // Read whether the writers were done *before* the read: an empty page then
                // means nothing more is coming (its snapshot was taken after every commit),
                // whereas a read begun before the last commits may well come back empty.
                let finished = done.load(Ordering::SeqCst);
                let page = store.read_all(after, 50).await.expect("read");
                for e in &page {
                    assert_eq!(e.position, after + 1, "a reader at {after} found {} next", e.position);
                    after = e.position;
                }
                pages += 1;
                if page.is_empty() && finished {
                    break;
                }
            }
            (after, pages)
        })
    };
    let writers: Vec<_> = (0..16u64)
        .map(|w| {
            let store = if w % 2 == 0 { a.clone() } else { b.clone() };
            tokio::spawn(async move {
                for i in 0..PER_WRITER {
                    let e = NewEvent::new("Tested", &json!({"w": w, "i": i}), Actor::new("t", "system"));
                    let expected = if i == 0 { ExpectedVersion::NoStream } else { ExpectedVersion::Exact(i - 1) };
                    store.append(&format!("test-w{w}"), expected, vec![e]).await.expect("append");
                }
            })
        })
        .collect();
    for w in writers {
        w.await.expect("writer");
    }
    done.store(true, Ordering::SeqCst);
    let (read, pages) = reader.await.expect("reader");
    assert_eq!(read, total, "the reader saw the whole log ({pages} pages)");
    for s in subs {
        assert_eq!(s.await.expect("subscriber"), (1..=total).collect::<Vec<_>>());
    }
    a.close().await;
    b.close().await;
}

/// `convene` run against the shared database with `data` as its data directory.
fn cli(db: &str, data: &Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(crate::durability::convene_bin())
        .arg("--data")
        .arg(data)
        .arg("--database-url")
        .arg(db)
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run convene")
}

fn get_with(base: &str, path: &str, token: &str) -> (u16, Value) {
    let mut r =
        agent().get(&format!("{base}{path}")).header("Authorization", &format!("Bearer {token}")).call().unwrap();
    let status = r.status().as_u16();
    (status, r.body_mut().read_json().unwrap_or(Value::Null))
}

#[test]
fn a_person_sealed_through_one_instance_is_revealed_through_another_and_erased_through_it_for_both() {
    let Some(url) = pg::url() else { return };
    let db = pg::url_with_schema(&url, &pg::unique_schema("keys"));
    let (a_data, b_data) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    const COMMUNITY: &str = "wuhan/wuchang/zhongnan-street/dongting-community";
    const NAME: &str = "欧阳秀兰";

    // Given a token made with instance A's configuration, and two instances with data
    // directories of their own on one database.
    let o = cli(
        &db,
        a_data.path(),
        &["token", "create", "--role", "resident", "--scope", COMMUNITY, "--name", "东亭居民账号", "--json"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let token = serde_json::from_slice::<Value>(&o.stdout).unwrap()["token"].as_str().unwrap().to_string();
    let (a, b) = (start(&db, a_data.path()), start(&db, b_data.path()));

    // When a resident raises an issue through A, naming themselves.
    let body = json!({"workflow_id": "community-issue", "community": COMMUNITY, "title": {"zh-CN": "楼道堆物"},
        "category": "stairwell", "households_affected": 12,
        "raised_by": {"person_id": "p-cluster-1", "name": NAME, "phone": "13912345678"}});
    let mut r = agent()
        .post(&format!("{}/v1/issues", a.base))
        .header("Authorization", &format!("Bearer {token}"))
        .send_json(&body)
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let raised: Value = r.body_mut().read_json().unwrap();
    let id = raised["issue"]["id"].as_str().unwrap().to_string();
    assert!(raised["event"]["data"]["raised_by"]["name"]["$pii"].is_string(), "stored sealed");
    assert_eq!(raised["event"]["actor"]["name"], Value::Null, "the log records the token id, not its holder");

    // Then B, with another data directory, accepts the token and reveals the name: the token
    // hash and the person's key are in the database, not in A's directory.
    let (s, shown) = get_with(&b.base, &format!("/v1/issues/{id}"), &token);
    assert_eq!((s, shown["raised_by"]["name"].as_str()), (200, Some(NAME)), "{shown}");
    assert_eq!(get_with(&b.base, &format!("/v1/issues/{id}"), "cnv_not-a-token").0, 401);
    let (_, tl) = get_with(&b.base, &format!("/v1/issues/{id}/timeline?format=json"), &token);
    assert_eq!(tl["steps"][0]["actor"]["name"], "东亭居民账号", "the holder's name is read from the token table");

    // When the person is erased with B's configuration, A shows them erased at its next read.
    let o = cli(&db, b_data.path(), &["privacy", "erase", "p-cluster-1"]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let (_, after) = get_with(&a.base, &format!("/v1/issues/{id}"), &token);
    assert_eq!(
        (after["raised_by"]["name"].as_str(), after["raised_by"]["phone"].as_str()),
        (Some("已删除 / erased"), Some("已删除 / erased"))
    );
    let (_, after_b) = get_with(&b.base, &format!("/v1/issues/{id}"), &token);
    assert_eq!(after_b["raised_by"]["name"], "已删除 / erased");
    // Neither instance keeps a keyring of its own.
    for d in [a_data.path(), b_data.path()] {
        assert!(!d.join("secrets.db").exists(), "{}: no secrets file beside a PostgreSQL log", d.display());
    }
}
