//! Replay segments of the embedded store: a whole-log replay reads each complete run of 2,048
//! events packed in one row, and must see exactly what the rows say — runs packed as writers
//! commit them (concurrently, across a restart), runs of a log from before segments (packed when
//! it opens), runs copied in by an import; and an altered segment never passes verification.

use crate::support::{fresh_sqlite, open_sqlite, sqlite_db};
use chrono::{DateTime, Utc};
use convene_engine::event::{ActorRef, EventPage, PageFields, REPLAY_PAGE};
use convene_engine::service::replay_log;
use convene_engine::{EventStore, ExpectedVersion, NewEvent};
use std::path::Path;
use std::sync::Arc;
use uuid::Uuid;

const RUN: u64 = REPLAY_PAGE as u64;

type Seen<'a> = (Uuid, &'a str, u64, u64, &'a str, u32, DateTime<Utc>, ActorRef<'a>, &'a [u8]);

/// What a replay reads of each event of a page (its payload left out, its view kept).
fn seen(page: &EventPage) -> Vec<Seen<'_>> {
    page.iter()
        .map(|e| {
            (
                e.id,
                e.stream,
                e.version,
                e.position,
                e.event_type,
                e.schema_version,
                e.recorded_at,
                e.actor,
                e.payload_view,
            )
        })
        .collect()
}

/// The shipped workflows and `issues` whole lifecycles, appended by eight concurrent writers
/// (so runs complete inside group commits of many appends). Returns the log's head.
async fn given_a_log(store: &Arc<dyn EventStore>, issues: u64, from: u64) -> u64 {
    if from == 0 {
        let engine = convene_engine::Engine::open(store.clone()).await.expect("open");
        engine.bootstrap_workflows().await.expect("bootstrap");
    }
    let writers: Vec<_> = (0..8u64)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                for n in (from..from + issues).filter(|n| n % 8 == w) {
                    for (v, (t, d, a)) in convene_engine::bench::lifecycle(n).into_iter().enumerate() {
                        let expected =
                            if v == 0 { ExpectedVersion::NoStream } else { ExpectedVersion::Exact(v as u64 - 1) };
                        let e = NewEvent::new(t, &d, a);
                        store.append(&format!("issue-{n:05}"), expected, vec![e]).await.expect("append");
                    }
                }
            })
        })
        .collect();
    for w in writers {
        w.await.expect("writer");
    }
    *store.head().borrow()
}

fn segments(dir: &Path) -> Vec<i64> {
    let conn = sqlite_db(dir);
    let mut st = conn.prepare("SELECT first FROM segments ORDER BY first").expect("segments table");
    st.query_map([], |r| r.get(0)).expect("query").collect::<Result<_, _>>().expect("rows")
}

/// Every segment's body, in order.
fn bodies(dir: &Path) -> String {
    sqlite_db(dir)
        .query_row("SELECT group_concat(hex(body), '') FROM (SELECT body FROM segments ORDER BY first)", [], |r| {
            r.get(0)
        })
        .expect("bodies")
}

/// Then there is one segment per complete run, and a replay's pages — a run at a time, and
/// across runs and the unpacked tail — say what the rows say; a whole-log replay builds the
/// states a verifying one (which reads rows only) builds.
async fn then_replay_pages_are_the_rows(dir: &Path, store: &Arc<dyn EventStore>, head: u64) {
    let runs = head / RUN;
    assert!(runs >= 2, "the log spans {head} events");
    assert_eq!(segments(dir), (0..runs as i64).map(|k| k * RUN as i64 + 1).collect::<Vec<_>>());
    for after in (0..=runs).map(|k| k * RUN) {
        let fast = store.read_all_page(after, REPLAY_PAGE, PageFields::Views).await.expect("replay page");
        let rows = store.read_all_page(after, REPLAY_PAGE, PageFields::All).await.expect("verifying page");
        assert_eq!(fast.len(), rows.len());
        assert_eq!(seen(&fast), seen(&rows), "the run after {after}");
    }
    let fast = store.read_all_page(0, head as usize + 10, PageFields::Views).await.expect("one page of all");
    let rows = store.read_all_page(0, head as usize + 10, PageFields::Fold).await.expect("rows");
    assert_eq!(fast.len() as u64, head);
    assert_eq!(seen(&fast), seen(&rows));
    // Workflow documents keep their payloads, since a fold reads them whole.
    assert!(fast.iter().filter(|e| e.stream.starts_with("workflow-")).all(|e| !e.payload_omitted));
    let folded = replay_log(store.clone(), None, false, &|_| {}).await.expect("replay");
    let verified = replay_log(store.clone(), None, true, &|_| {}).await.expect("verified replay");
    assert_eq!(folded.events, head);
    assert!(verified.chains.expect("checked").broken.is_empty());
    let issues = folded.index.issues().cloned().collect::<Vec<_>>();
    assert_eq!(issues, verified.index.issues().cloned().collect::<Vec<_>>());
    assert!(issues.iter().all(|s| s.is_final && s.anomalies.is_empty()));
}

/// Given a new store, when writers append a log of two and a half runs, then each complete
/// run is packed as its last event commits, and replays read what the rows say.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_are_packed_as_they_complete_and_replays_read_what_the_rows_say() {
    let (dir, store) = fresh_sqlite();
    let head = given_a_log(&store, 330, 0).await;
    then_replay_pages_are_the_rows(dir.path(), &store, head).await;
    store.close().await;
}

/// Given a log whose writer stopped in the middle of a run, when another writer (after a
/// restart) completes it, then the run is packed from its rows, and the next from the start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_completed_after_a_restart_is_packed_from_its_rows() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let store = open_sqlite(dir.path());
    let before = given_a_log(&store, 100, 0).await;
    assert!(before < RUN);
    store.close().await;
    drop(store);
    let store = open_sqlite(dir.path());
    let head = given_a_log(&store, 230, 100).await;
    then_replay_pages_are_the_rows(dir.path(), &store, head).await;
    store.close().await;
}

/// Given a data directory from before segments (or whose segments are of another format),
/// when the store opens, then it packs every complete run; and meanwhile a replay reads the
/// rows and sees the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_without_segments_is_read_from_its_rows_and_packed_when_it_opens() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let store = open_sqlite(dir.path());
    let head = given_a_log(&store, 330, 0).await;
    let before = bodies(dir.path());
    sqlite_db(dir.path()).execute_batch("DELETE FROM segments;").expect("lose the segments");
    let fast = store.read_all_page(0, head as usize, PageFields::Views).await.expect("rows instead");
    let rows = store.read_all_page(0, head as usize, PageFields::All).await.expect("verifying page");
    assert_eq!(seen(&fast), seen(&rows));
    store.close().await;
    drop(store);
    sqlite_db(dir.path()).execute_batch("DROP TABLE segments;").expect("make it an older data directory");

    let store = open_sqlite(dir.path());
    then_replay_pages_are_the_rows(dir.path(), &store, head).await;
    let after = bodies(dir.path());
    assert_eq!(after, before, "packed from the rows as the writer packed them");
    store.close().await;
}

/// Given a log copied into a new store by an import (`convene migrate`), then its runs are
/// packed by the end of the import, byte for byte as the original store packed them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_imported_log_is_packed_as_its_original() {
    let (from_dir, from) = fresh_sqlite();
    let head = given_a_log(&from, 330, 0).await;
    let events = from.read_all(0, head as usize).await.expect("the whole log");
    let (to_dir, to) = fresh_sqlite();
    assert_eq!(to.import(events).await.expect("import"), head);
    assert_eq!(bodies(to_dir.path()), bodies(from_dir.path()));
    then_replay_pages_are_the_rows(to_dir.path(), &to, head).await;
    from.close().await;
    to.close().await;
}

/// Given a segment altered outside convene (its rows untouched), when the log is read to verify
/// it, then the read fails naming the event; a replay that does not verify shows the altered
/// copy, as it would an altered envelope.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_segment_that_differs_from_its_rows_fails_verification() {
    let (dir, store) = fresh_sqlite();
    given_a_log(&store, 330, 0).await;
    let conn = sqlite_db(dir.path());
    let body: Vec<u8> = conn.query_row("SELECT body FROM segments WHERE first = 1", [], |r| r.get(0)).expect("body");
    // The first event's stream name, the first text of the body's table.
    let mut forged = body.clone();
    let at = forged.windows(9).position(|w| w == b"workflow-").expect("the first stream's name");
    forged[at] = b'W';
    conn.execute("UPDATE segments SET body = ?1 WHERE first = 1", [&forged]).expect("alter the segment");

    let fast = store.read_all_page(0, REPLAY_PAGE, PageFields::Views).await.expect("a replay reads the segment");
    assert!(fast.get(0).is_some_and(|e| e.stream.starts_with("Workflow-")));
    let err = store.read_all_page(0, REPLAY_PAGE, PageFields::All).await.expect_err("verification must refuse");
    assert!(err.to_string().contains("position 1") && err.to_string().contains("segment"), "{err}");
    assert!(replay_log(store.clone(), None, true, &|_| {}).await.is_err());

    // A body cut short is refused by every read, not half-read.
    conn.execute("UPDATE segments SET body = ?1 WHERE first = 1", [&body[..body.len() - 1]]).expect("cut it");
    let err = store.read_all_page(0, REPLAY_PAGE, PageFields::Views).await.expect_err("an unreadable segment");
    assert!(err.to_string().contains("segment"), "{err}");
    store.close().await;
}
