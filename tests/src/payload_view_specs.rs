//! Payload views: a whole-log replay decodes what the record reads of each payload from the
//! byte form the store keeps beside it, and must build exactly the states a replay parsing
//! every payload builds — on a new store, on a data directory from before the column, beside
//! rows an older `convene` wrote without one; and a view altered behind the store's back must
//! fail verification. A replay's pages leave out the payloads whose views stand in for them,
//! and a view that cannot after all makes the replay fold that issue again from its stream.
//! Embedded store first, then PostgreSQL.

use crate::support::{fresh_sqlite, open_sqlite, shipped_doc, sqlite_db};
use convene_engine::catalog::Catalog;
use convene_engine::event::PageFields;
use convene_engine::issue::{PayloadView, VIEW_FORMAT};
use convene_engine::projection::IssueIndex;
use convene_engine::service::replay_log;
use convene_engine::text::LocalizedText;
use convene_engine::{Actor, EventStore, ExpectedVersion, NewEvent};
use serde_json::json;
use std::path::Path;
use std::sync::Arc;

/// The shipped workflows, the demo data set (matters in every state, micro-wishes, a
/// withdrawal, an escalation), and two bench lifecycles (every micro step). Returns the
/// number of issues.
async fn given_a_log(store: &Arc<dyn EventStore>) -> usize {
    let before = store.head().borrow().to_owned();
    assert_eq!(before, 0);
    let engine = convene_engine::Engine::open(store.clone()).await.expect("open");
    convene_engine::demo::load_demo(&engine).await.expect("demo");
    for n in 0..2u64 {
        for (v, (t, d, a)) in convene_engine::bench::lifecycle(n).into_iter().enumerate() {
            let expected = if v == 0 { ExpectedVersion::NoStream } else { ExpectedVersion::Exact(v as u64 - 1) };
            store.append(&format!("issue-bench-{n}"), expected, vec![NewEvent::new(t, &d, a)]).await.expect("append");
        }
    }
    let streams = store.list_streams("issue-").await.expect("issue streams");
    assert!(streams.len() > 10);
    streams.len()
}

/// Then a replay reading the views, and a verifying one (which checks each view against its
/// payload before folding it), give the same issues as a fold of the owned events, which
/// carry no view and so parse every payload; and every issue was replayed.
async fn then_a_fold_replays_as_a_parsing_replay(store: &Arc<dyn EventStore>, issues: usize) {
    let folded = replay_log(store.clone(), None, false, &|_| {}).await.expect("replay");
    let verified = replay_log(store.clone(), None, true, &|_| {}).await.expect("verified replay");
    assert!(verified.chains.expect("chains were checked").broken.is_empty());
    let mut parsed = IssueIndex::new();
    for e in store.read_all(0, 100_000).await.expect("read the log") {
        parsed.apply(&e.view(), Catalog::shipped());
    }
    let a = folded.index.issues().cloned().collect::<Vec<_>>();
    assert_eq!(a.len(), issues);
    assert!(a.iter().any(|s| !s.record.pacts.is_empty() && !s.record.charity.is_empty()), "micro steps replayed");
    assert!(a.iter().any(|s| s.record.closure.as_ref().is_some_and(|c| c.kind == "withdrawn")));
    assert_eq!(a, parsed.issues().cloned().collect::<Vec<_>>());
    assert_eq!(a, verified.index.issues().cloned().collect::<Vec<_>>());
    assert!(folded.index.problems().is_empty(), "{:?}", folded.index.problems());
}

/// (rows without a view, rows with a non-empty one)
fn view_counts(dir: &Path) -> (i64, i64) {
    sqlite_db(dir)
        .query_row(
            "SELECT COUNT(*) FILTER (WHERE payload_view IS NULL), COUNT(*) FILTER (WHERE length(payload_view) > 0) \
             FROM events",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("count")
}

/// A MicroPactDrafted view naming another title than its payload: what someone altering the
/// stored form would write.
fn forged_pact_view() -> Vec<u8> {
    let mut out = Vec::new();
    PayloadView::PactDrafted {
        pact_id: "forged".into(),
        title: LocalizedText::new("伪造的公约", "a forged pact"),
        clauses: 1,
    }
    .encode(&mut out);
    out
}

/// Then a fold shows the forged title, and a verifying replay refuses the log naming the row.
async fn then_only_verification_catches_the_forgery(store: &Arc<dyn EventStore>, position: i64) {
    let folded = replay_log(store.clone(), None, false, &|_| {}).await.expect("a fold reads the view");
    assert!(folded.index.issues().any(|s| s.record.pacts.iter().any(|p| p.title.zh == "伪造的公约")));
    let err = match replay_log(store.clone(), None, true, &|_| {}).await {
        Ok(_) => panic!("verification must refuse a view that differs from its payload"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains(&format!("position {position}")) && err.contains("payload view"), "{err}");
}

/// Given a new store, when the engine and the bench append, then every row has its view (the
/// record's types a non-empty one), and a fold replays as a parsing replay.
#[tokio::test]
async fn a_new_store_writes_every_view_and_a_fold_replays_as_a_parsing_replay() {
    let (dir, store) = fresh_sqlite();
    let issues = given_a_log(&store).await;
    let (missing, written) = view_counts(dir.path());
    assert_eq!(missing, 0);
    assert!(written > 50, "{written}");
    then_a_fold_replays_as_a_parsing_replay(&store, issues).await;
    store.close().await;
}

/// Given a data directory from before the column, when the store opens, then every row gets
/// its view; given rows an older `convene` wrote without one or in another format, a fold
/// parses their payloads, and the next open writes their views.
#[tokio::test]
async fn older_rows_are_folded_from_their_payloads_and_get_their_views_when_the_store_opens() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let issues = {
        let store = open_sqlite(dir.path());
        let n = given_a_log(&store).await;
        store.close().await;
        n
    };
    sqlite_db(dir.path())
        .execute_batch(
            "DROP INDEX events_without_payload_view; ALTER TABLE events DROP COLUMN payload_view; \
             DELETE FROM meta WHERE key = 'payload_view_format';",
        )
        .expect("make it an older data directory");
    let store = open_sqlite(dir.path());
    assert_eq!(view_counts(dir.path()).0, 0);
    then_a_fold_replays_as_a_parsing_replay(&store, issues).await;

    let conn = sqlite_db(dir.path());
    let cleared = conn.execute("UPDATE events SET payload_view = NULL WHERE position % 3 = 0", []).expect("clear");
    let other = conn
        .execute(
            "UPDATE events SET payload_view = CAST(X'ff' || substr(payload_view, 2) AS BLOB) \
             WHERE position % 3 = 1 AND length(payload_view) > 0",
            [],
        )
        .expect("another format");
    assert!(cleared > 10 && other > 10);
    then_a_fold_replays_as_a_parsing_replay(&store, issues).await;
    store.close().await;
    drop(store);

    let store = open_sqlite(dir.path());
    assert_eq!(view_counts(dir.path()).0, 0, "rows without a view are filled in");
    // Views of another format stay until the format changes (never used, never misread).
    let stale: i64 = conn
        .query_row("SELECT COUNT(*) FROM events WHERE substr(payload_view, 1, 1) = X'ff'", [], |r| r.get(0))
        .expect("count");
    assert_eq!(stale, other as i64);
    then_a_fold_replays_as_a_parsing_replay(&store, issues).await;
    store.close().await;
    assert_ne!(VIEW_FORMAT, 0xff);
}

/// Given a view altered outside convene (the hashed payload untouched), when the log is read to
/// verify it, then the read fails naming the event — a fold would otherwise show a record no
/// hash vouches for.
#[tokio::test]
async fn a_view_that_differs_from_its_payload_fails_verification() {
    let (dir, store) = fresh_sqlite();
    given_a_log(&store).await;
    let conn = sqlite_db(dir.path());
    let position: i64 = conn
        .query_row("SELECT MIN(position) FROM events WHERE type = 'MicroPactDrafted'", [], |r| r.get(0))
        .expect("a drafted pact");
    conn.execute(
        "UPDATE events SET payload_view = ?1 WHERE position = ?2",
        rusqlite::params![forged_pact_view(), position],
    )
    .expect("alter the view");
    then_only_verification_catches_the_forgery(&store, position).await;
    store.close().await;
}

/// Truncates the stored view of the first event of `event_type` (its format byte and tag
/// intact: the store cannot tell before decoding it); returns the event's position.
fn truncate_view(dir: &Path, event_type: &str) -> i64 {
    let conn = sqlite_db(dir);
    let position: i64 = conn
        .query_row("SELECT MIN(position) FROM events WHERE type = ?1", [event_type], |r| r.get(0))
        .expect("an event of the type");
    conn.execute("UPDATE events SET payload_view = substr(payload_view, 1, 3) WHERE position = ?1", [position])
        .expect("truncate the view");
    position
}

/// Then a replay's page carries every row with the fields of a fold's page, and the payload
/// exactly where the replay reads it: workflow documents and the issue event at `cleared`
/// (without a view) keep theirs; issue events whose views stand in for them, and events of
/// other streams, leave theirs out.
async fn then_a_replays_page_leaves_out_what_views_stand_in_for(store: &Arc<dyn EventStore>, cleared: u64) {
    let views = store.read_all_page(0, 100_000, PageFields::Views).await.expect("a replay's page");
    let fold = store.read_all_page(0, 100_000, PageFields::Fold).await.expect("a fold's page");
    assert_eq!(views.len(), fold.len());
    let (mut kept, mut left_out, mut other_streams) = (0, 0, 0);
    for (v, f) in views.iter().zip(fold.iter()) {
        assert_eq!(
            (v.position, v.id, v.stream, v.version, v.event_type),
            (f.position, f.id, f.stream, f.version, f.event_type)
        );
        assert_eq!((v.recorded_at, v.actor, v.payload_view), (f.recorded_at, f.actor, f.payload_view));
        let read = v.stream.starts_with("workflow-") || (v.stream.starts_with("issue-") && v.payload_view.is_empty());
        if read {
            assert!(!v.payload_omitted && v.data == f.data, "{} keeps its payload", v.position);
            kept += 1;
        } else {
            assert!(v.payload_omitted && v.data.is_empty(), "{} leaves its payload out", v.position);
            left_out += 1;
            other_streams += usize::from(!v.stream.starts_with("issue-"));
        }
        assert_eq!(v.position == cleared, v.stream.starts_with("issue-") && read);
    }
    assert!(kept >= 3 && left_out > 50 && other_streams > 0, "{kept} {left_out} {other_streams}");
}

/// The statement that clears the view of the first NeedAssessed event, giving its position.
const CLEAR_ONE_VIEW: &str = "UPDATE {events} SET payload_view = NULL WHERE position = \
     (SELECT MIN(position) FROM {events} WHERE type = 'NeedAssessed') RETURNING position";

/// Given a log with workflow documents, issues and meetings, and an issue event whose view was
/// cleared, when a replay reads its pages, then they leave out the payloads views stand in for.
#[tokio::test]
async fn a_replays_pages_leave_out_the_payloads_that_views_stand_in_for() {
    let (dir, store) = fresh_sqlite();
    given_a_log(&store).await;
    let cleared: i64 = sqlite_db(dir.path())
        .query_row(&CLEAR_ONE_VIEW.replace("{events}", "events"), [], |r| r.get(0))
        .expect("clear one view");
    then_a_replays_page_leaves_out_what_views_stand_in_for(&store, cleared as u64).await;
    store.close().await;
}

/// Given an issue event whose stored view no longer decodes, when the log is replayed, then
/// that one issue is folded again from its stream with its payloads, and every state is what
/// a replay parsing every payload builds.
#[tokio::test]
async fn a_view_that_does_not_decode_makes_the_replay_fold_that_issue_again() {
    let (dir, store) = fresh_sqlite();
    let issues = given_a_log(&store).await;
    truncate_view(dir.path(), "MicroProjectUndertaken");
    let replay = replay_log(store.clone(), None, false, &|_| {}).await.expect("replay");
    assert_eq!(replay.refolded, 1);
    then_a_fold_replays_as_a_parsing_replay(&store, issues).await;
    store.close().await;
}

/// Given a published workflow whose guard reads a payload field that no view holds, when the
/// log is replayed, then the pages keep every payload (no issue needs folding again, even
/// beside a view that does not decode), and every state is a parsing replay's.
#[tokio::test]
async fn a_guard_reading_more_than_the_views_hold_keeps_the_payloads_in_the_pages() {
    let (dir, store) = fresh_sqlite();
    let issues = given_a_log(&store).await;
    let mut doc = shipped_doc("community-issue");
    doc["version"] = json!(2);
    doc["states"]["assessed"]["on"]["IssueClosed"]["guard"] = json!({"!!": [{"var": "event.data.summary"}]});
    let engine = convene_engine::Engine::open(store.clone()).await.expect("open");
    engine.publish_workflow(&doc, &Actor::system()).await.expect("publish v2");
    truncate_view(dir.path(), "MicroProjectUndertaken");
    let replay = replay_log(store.clone(), None, false, &|_| {}).await.expect("replay");
    assert_eq!(replay.refolded, 0);
    then_a_fold_replays_as_a_parsing_replay(&store, issues).await;
    store.close().await;
}

/// The same promises on PostgreSQL: every row written with its view and folds replaying as
/// parsing replays; rows without one (an older writer's) parsed, and filled in at the next
/// start; a forged view refused by a verifying read; a replay's pages without the payloads
/// views stand in for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres_views_are_written_filled_in_and_checked() {
    let Some(url) = crate::pg::url() else { return };
    let schema = crate::pg::unique_schema("views");
    let store = crate::pg::open(&url, &schema).await;
    let issues = given_a_log(&store).await;
    let sql = crate::pg::sql_in(&url, &schema).await;
    let without = "SELECT count(*) FROM convene_events WHERE payload_view IS NULL";
    assert_eq!(sql.query_one(without, &[]).await.expect("count").get::<_, i64>(0), 0);
    then_a_fold_replays_as_a_parsing_replay(&store, issues).await;

    let cleared =
        sql.execute("UPDATE convene_events SET payload_view = NULL WHERE position % 3 = 0", &[]).await.expect("clear");
    assert!(cleared > 10);
    then_a_fold_replays_as_a_parsing_replay(&store, issues).await;
    store.close().await;
    drop(store);
    let store = crate::pg::open(&url, &schema).await;
    assert_eq!(sql.query_one(without, &[]).await.expect("count").get::<_, i64>(0), 0, "filled in at start");
    then_a_fold_replays_as_a_parsing_replay(&store, issues).await;

    let position: i64 = sql
        .query_one("SELECT MIN(position) FROM convene_events WHERE type = 'MicroPactDrafted'", &[])
        .await
        .expect("a drafted pact")
        .get(0);
    sql.execute("UPDATE convene_events SET payload_view = $1 WHERE position = $2", &[&forged_pact_view(), &position])
        .await
        .expect("alter the view");
    then_only_verification_catches_the_forgery(&store, position).await;

    // A replay's pages leave out the payloads views stand in for on PostgreSQL too.
    let cleared: i64 =
        sql.query_one(&CLEAR_ONE_VIEW.replace("{events}", "convene_events"), &[]).await.expect("clear one view").get(0);
    then_a_replays_page_leaves_out_what_views_stand_in_for(&store, cleared as u64).await;
    store.close().await;
}
