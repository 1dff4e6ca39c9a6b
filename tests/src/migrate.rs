//! `convene migrate`: a whole log copied between stores keeps ids, versions, positions, times
//! and hashes; an interrupted copy resumes; the target refuses events that do not chain; a
//! target holding another log is refused.
//!
//! The 100,000-event embedded → PostgreSQL run needs `CONVENE_TEST_DATABASE_URL` (skipped with
//! a note otherwise); the embedded → KurrentDB run needs `--features kurrentdb` and
//! `CONVENE_TEST_KURRENTDB_URL`, as the KurrentDB conformance suite does (skipped otherwise);
//! the embedded → embedded cases always run.

use crate::durability::convene_bin;
use crate::pg;
use crate::support::open_sqlite;
use convene_engine::event::verify_chain;
use convene_engine::migrate::{MigrateError, compare_logs, copy_log};
use convene_engine::store::read_stream_all;
use convene_engine::{EventStore, ExpectedVersion, NewEvent, RecordedEvent, StoreError};
use serde_json::Value;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Writes about `events` realistic events (16-step issue lifecycles) into `store`.
async fn fill(store: &Arc<dyn EventStore>, events: u64) {
    let per_issue = convene_engine::bench::lifecycle(0).len() as u64;
    let issues = events.div_ceil(per_issue);
    let mut tasks = Vec::new();
    for w in 0..8u64 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for n in (w..issues).step_by(8) {
                let evs: Vec<NewEvent> =
                    convene_engine::bench::lifecycle(n).into_iter().map(|(t, d, a)| NewEvent::new(t, &d, a)).collect();
                // Two appends per issue, so chains span commits.
                let (a, b) = evs.split_at(5);
                let stream = format!("issue-{}", uuid::Uuid::now_v7());
                store.append(&stream, ExpectedVersion::NoStream, a.to_vec()).await.expect("append");
                store.append(&stream, ExpectedVersion::Exact(4), b.to_vec()).await.expect("append");
            }
        }));
    }
    for t in tasks {
        t.await.expect("writer");
    }
}

async fn whole_log(store: &dyn EventStore) -> Vec<RecordedEvent> {
    let mut out = Vec::new();
    loop {
        let page = store.read_all(out.last().map_or(0, |e: &RecordedEvent| e.position), 10_000).await.expect("read");
        if page.is_empty() {
            return out;
        }
        out.extend(page);
    }
}

/// Both logs hold the same events in the same order, and every chain of the target verifies.
async fn assert_identical(from: &dyn EventStore, to: &dyn EventStore, expected: usize) {
    let (a, b) = (whole_log(from).await, whole_log(to).await);
    assert_eq!(a.len(), expected);
    assert_eq!(b.len(), a.len(), "same number of events");
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x, y, "position {}: ids, versions, times, payload bytes and hashes are kept", x.position);
    }
    let mut streams: Vec<&str> = b.iter().map(|e| e.stream.as_str()).collect();
    streams.sort_unstable();
    streams.dedup();
    for s in streams {
        verify_chain(&read_stream_all(to, s).await.expect("read")).unwrap_or_else(|e| panic!("{s}: {e}"));
    }
    let report = compare_logs(from, to, &|_| {}).await.expect("compare");
    assert!(report.ok(), "{report:?}");
    assert_eq!(report.events as usize, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_copy_between_embedded_stores_resumes_and_ends_identical() {
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let from = open_sqlite(d1.path());
    fill(&from, 2_000).await;
    let total = whole_log(from.as_ref()).await.len();
    let to = open_sqlite(d2.path());
    // An earlier run that stopped after 700 events.
    let prefix: Vec<RecordedEvent> = whole_log(from.as_ref()).await.into_iter().take(700).collect();
    assert_eq!(to.import(prefix).await.expect("import a prefix"), 700);
    to.close().await;
    let to = open_sqlite(d2.path());
    let report = copy_log(from.as_ref(), to.as_ref(), 300, &|_, _| {}).await.expect("copy");
    assert_eq!((report.resumed_at, report.copied), (700, total as u64 - 700));
    assert_identical(from.as_ref(), to.as_ref(), total).await;
    // Running it again copies nothing.
    let again = copy_log(from.as_ref(), to.as_ref(), 300, &|_, _| {}).await.expect("copy");
    assert_eq!(again.copied, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_target_refuses_events_that_do_not_chain_and_a_target_with_another_log() {
    let (d1, d2, d3) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let from = open_sqlite(d1.path());
    fill(&from, 100).await;
    let log = whole_log(from.as_ref()).await;
    let to = open_sqlite(d2.path());
    let mut targets: Vec<Arc<dyn EventStore>> = vec![to];
    let pg_schema = pg::url().map(|u| (u, pg::unique_schema("refuse")));
    if let Some((url, schema)) = &pg_schema {
        targets.push(pg::open(url, schema).await);
    }
    #[cfg(feature = "kurrentdb")]
    let kurrent_dir = tempfile::tempdir().unwrap();
    #[cfg(feature = "kurrentdb")]
    if std::env::var("CONVENE_TEST_KURRENTDB_URL").is_ok() {
        use crate::store_conformance::StoreFactory;
        targets.push(crate::store_conformance::Kurrent.open(kurrent_dir.path()));
    }
    for to in &targets {
        let refuse = |events: Vec<RecordedEvent>, why: &'static str| {
            let to = to.clone();
            async move {
                let r = to.import(events).await;
                assert!(matches!(r, Err(StoreError::Invalid(_))), "{}: {why}: {r:?}", to.backend());
                assert_eq!(*to.head().borrow(), 0, "{why}: nothing was written");
            }
        };
        let mut altered = log[..3].to_vec();
        altered[2].actor.role = "tampered".into();
        refuse(altered, "altered content").await;
        let mut relinked = log[..3].to_vec();
        relinked[1].prev_hash = relinked[0].prev_hash.clone();
        refuse(relinked, "broken link").await;
        refuse(log[1..4].to_vec(), "does not start at the next position").await;
        let mut skipped = log[..5].to_vec();
        skipped.remove(2);
        refuse(skipped, "a gap in positions").await;
    }
    // A target holding another log is refused by migrate.
    let other = open_sqlite(d3.path());
    other.append("issue-other", ExpectedVersion::NoStream, log[..1].iter().map(as_new).collect()).await.unwrap();
    let r = copy_log(from.as_ref(), other.as_ref(), 50, &|_, _| {}).await;
    assert!(matches!(r, Err(MigrateError::Diverged(_))), "{r:?}");
}

/// Embedded → KurrentDB: a copy that an earlier run left after 700 events resumes and ends
/// identical (ids, versions, positions, times, payload bytes, hashes), and the migrated log
/// takes appends after it.
#[cfg(feature = "kurrentdb")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_copy_from_embedded_to_kurrentdb_resumes_and_ends_identical() {
    use crate::store_conformance::{Kurrent, StoreFactory};
    if std::env::var("CONVENE_TEST_KURRENTDB_URL").is_err() {
        return;
    }
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let from = open_sqlite(d1.path());
    fill(&from, 3_000).await;
    let log = whole_log(from.as_ref()).await;
    let total = log.len();
    let to = Kurrent.open(d2.path());
    // An earlier run that stopped after 700 events; the store is reopened (its index rebuilt
    // from $all) before the copy resumes.
    assert_eq!(to.import(log[..700].to_vec()).await.expect("import a prefix"), 700);
    // The same page again is refused: the log has moved on.
    assert!(matches!(to.import(log[..700].to_vec()).await, Err(StoreError::Invalid(_))));
    to.close().await;
    let to = Kurrent.open(d2.path());
    assert_eq!(*to.head().borrow(), 700);
    let report = copy_log(from.as_ref(), to.as_ref(), 300, &|_, _| {}).await.expect("copy");
    assert_eq!((report.resumed_at, report.copied), (700, total as u64 - 700));
    assert_identical(from.as_ref(), to.as_ref(), total).await;
    let again = copy_log(from.as_ref(), to.as_ref(), 300, &|_, _| {}).await.expect("copy");
    assert_eq!(again.copied, 0);
    let next = to.append("issue-after-migration", ExpectedVersion::NoStream, vec![as_new(&log[0])]).await;
    assert_eq!(next.expect("append after migration").first_position, total as u64 + 1);
    to.close().await;
}

fn as_new(e: &RecordedEvent) -> NewEvent {
    NewEvent::new(e.event_type.clone(), &e.data_value(), e.actor.clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_100k_event_log_moves_from_embedded_to_postgres_through_an_interruption() {
    let Some(url) = pg::url() else { return };
    const EVENTS: u64 = 100_000;
    let dir = tempfile::tempdir().unwrap();
    let from = open_sqlite(dir.path());
    fill(&from, EVENTS).await;
    let total = *from.head().borrow();
    assert!(total >= EVENTS);
    from.close().await;
    drop(from);

    let schema = pg::unique_schema("migrate");
    let target_url = pg::url_with_schema(&url, &schema);
    let source_url = format!("sqlite://{}", dir.path().display());
    let migrate = |batch: &str| {
        let mut c = Command::new(convene_bin());
        c.args(["migrate", "--from", &source_url, "--to", &target_url, "--batch", batch, "--json"])
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null());
        c
    };

    // First run: SIGKILLed once part of the log is across. The target is opened (its schema
    // made) before the run starts, and the run copies in small batches (a thousand commits), so
    // even a test thread the rest of the suite starves for seconds catches it in the middle.
    let target = pg::open(&url, &schema).await;
    let mut child = migrate("100").stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("start convene migrate");
    let deadline = Instant::now() + Duration::from_secs(120);
    while *target.head().borrow() < 1_000 {
        assert!(Instant::now() < deadline, "the first run copied too little in time");
        assert!(child.try_wait().unwrap().is_none(), "the first run ended before it could be interrupted");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let interrupted_at = *target.head().borrow();
    assert!(interrupted_at < total, "the kill came before the end ({interrupted_at} of {total})");

    // Second run: resumes after what the first one committed, and checks the result.
    let out = migrate("2000").output().expect("run convene migrate");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    assert_eq!(report["ok"], true, "{report}");
    let resumed_at = report["copy"]["resumed_at"].as_u64().unwrap();
    assert!(resumed_at >= interrupted_at && resumed_at < total, "resumed at {resumed_at}, killed at {interrupted_at}");
    assert_eq!(report["copy"]["copied"].as_u64().unwrap(), total - resumed_at);
    assert_eq!(report["check"]["events"].as_u64().unwrap(), total);

    // Independently: identical sequences, verified chains.
    let from = open_sqlite(dir.path());
    assert_identical(from.as_ref(), target.as_ref(), total as usize).await;
    // And the migrated log is a working store: appends continue its chains and positions.
    let next = target
        .append("issue-after-migration", ExpectedVersion::NoStream, vec![as_new(&whole_log(from.as_ref()).await[0])])
        .await;
    assert_eq!(next.expect("append after migration").first_position, total + 1);
    target.close().await;
}

/// `convene` with `args`, output checked for success.
fn convene_ok(args: &[&str]) -> Value {
    let o = Command::new(convene_bin()).args(args).env("RUST_LOG", "warn").output().expect("run convene");
    assert_eq!(o.status.code(), Some(0), "{args:?}: {}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap_or(Value::Null)
}

#[test]
fn the_person_keys_and_tokens_move_with_the_log_so_sealed_names_stay_readable_on_postgres() {
    let Some(url) = pg::url() else { return };
    let (src, elsewhere) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let src_dir = src.path().to_str().unwrap();
    let db = pg::url_with_schema(&url, &pg::unique_schema("migkeys"));
    // Given an embedded log with a sealed name and a token.
    let raise = r#"{"community": "wuhan/wuchang/x-street/y-community", "title": {"zh-CN": "楼道堆物"},
        "category": "stairwell", "households_affected": 12, "raised_by": {"name": "诸葛春燕"}}"#;
    let raised = convene_ok(&[
        "--data",
        src_dir,
        "issue",
        "raise",
        "--actor-id",
        "r1",
        "--role",
        "resident",
        "--payload",
        raise,
        "--json",
    ]);
    let id = raised["issue"]["id"].as_str().unwrap().to_string();
    convene_ok(&["--data", src_dir, "token", "create", "--role", "auditor", "--scope", "*", "--json"]);
    // When the log moves to PostgreSQL.
    let report = convene_ok(&["--data", src_dir, "migrate", "--from", src_dir, "--to", &db, "--json"]);
    assert_eq!((report["ok"].as_bool(), report["secrets"]["keys"].as_u64()), (Some(true), Some(1)), "{report}");
    // Then an instance on PostgreSQL with a data directory of its own reads the name and knows
    // the token.
    let elsewhere = elsewhere.path().to_str().unwrap();
    let shown = convene_ok(&["--data", elsewhere, "--database-url", &db, "issue", "show", &id, "--json"]);
    assert_eq!(shown["raised_by"]["name"], "诸葛春燕");
    let tokens = convene_ok(&["--data", elsewhere, "--database-url", &db, "token", "list", "--json"]);
    assert_eq!(tokens.as_array().map(Vec::len), Some(1));
    // Copying again changes nothing.
    let again = convene_ok(&["--data", src_dir, "migrate", "--from", src_dir, "--to", &db, "--json"]);
    assert_eq!((again["secrets"]["tokens"].as_u64(), again["ok"].as_bool()), (Some(0), Some(true)), "{again}");
}
