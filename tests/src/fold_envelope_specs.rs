//! Fold envelopes: a fold reads the envelope fields packed in one column, and must see exactly
//! what the hashed columns say — on a new store, on a data directory from before the column
//! existed, beside rows an older `convene` wrote without one, and never silently when someone
//! altered the packed copy. Embedded store first, then PostgreSQL.

use crate::support::{fresh_sqlite, open_sqlite, sqlite_db};
use chrono::{DateTime, Utc};
use convene_engine::event::{EventPage, FoldEnvelope, PageFields};
use convene_engine::service::replay_log;
use convene_engine::{Actor, EventStore, ExpectedVersion, NewEvent};
use serde_json::json;
use std::path::Path;
use std::sync::Arc;
use uuid::Uuid;

type FoldView = (Uuid, String, u64, u64, String, u32, DateTime<Utc>, Actor, String);

/// What a fold reads of each event of a page.
fn fold_view(page: &EventPage) -> Vec<FoldView> {
    page.iter()
        .map(|e| {
            let r = e.to_recorded();
            (
                r.id,
                r.stream,
                r.version,
                r.position,
                r.event_type,
                r.schema_version,
                r.recorded_at,
                r.actor,
                e.data.into(),
            )
        })
        .collect()
}

/// The shipped workflows, three issues' whole lifecycles, and steps by actors with and without
/// name and community.
async fn given_a_log(store: &Arc<dyn EventStore>) -> u64 {
    let engine = convene_engine::Engine::open(store.clone()).await.expect("open");
    engine.bootstrap_workflows().await.expect("bootstrap");
    for n in 0..3u64 {
        for (v, (t, d, a)) in convene_engine::bench::lifecycle(n).into_iter().enumerate() {
            let expected = if v == 0 { ExpectedVersion::NoStream } else { ExpectedVersion::Exact(v as u64 - 1) };
            store.append(&format!("issue-{n:04}"), expected, vec![NewEvent::new(t, &d, a)]).await.expect("append");
        }
    }
    let bare = Actor::new("居民-7", "resident");
    let named =
        Actor { name: Some("王阿姨 Auntie Wang".into()), community: None, ..Actor::new("居民-8", "resident") };
    for (i, a) in [bare, named].into_iter().enumerate() {
        let e = NewEvent::new("Note", &json!({"text": format!("第{i}条 note {i}")}), a);
        store.append("notes-1", ExpectedVersion::Any, vec![e]).await.expect("append");
    }
    store.head().borrow().to_owned()
}

fn rows_without_envelope(dir: &Path) -> i64 {
    sqlite_db(dir).query_row("SELECT COUNT(*) FROM events WHERE envelope IS NULL", [], |r| r.get(0)).expect("count")
}

/// Then a fold's page says what a verifying page (every hashed column) says.
async fn then_fold_pages_match_the_columns(store: &Arc<dyn EventStore>, events: u64) {
    let all = store.read_all_page(0, 1_000, PageFields::All).await.expect("verifying page");
    let fold = store.read_all_page(0, 1_000, PageFields::Fold).await.expect("fold page");
    assert_eq!(fold.len() as u64, events);
    assert_eq!(fold_view(&fold), fold_view(&all));
}

/// Then a whole-log replay from the pages a fold reads gives the same three issues as one
/// that verifies (and so reads every column).
async fn then_a_fold_replays_as_a_verified_replay(store: &Arc<dyn EventStore>) {
    let folded = replay_log(store.clone(), None, false, &|_| {}).await.expect("replay");
    let verified = replay_log(store.clone(), None, true, &|_| {}).await.expect("verified replay");
    let issues = folded.index.issues().cloned().collect::<Vec<_>>();
    assert_eq!(issues.len(), 3);
    assert_eq!(issues, verified.index.issues().cloned().collect::<Vec<_>>());
}

/// The envelope `blob` with another actor name: what someone altering the copy would write.
fn forged(blob: &[u8]) -> Vec<u8> {
    let env = FoldEnvelope::decode(blob).expect("a well-formed envelope");
    let mut out = Vec::new();
    FoldEnvelope { actor_name: Some("冒名者 impostor".as_bytes()), ..env }.encode(&mut out);
    out
}

/// Then a fold shows the forged actor of position 5, and a verifying read refuses the page
/// naming that position.
async fn then_only_verification_catches_the_forgery(store: &Arc<dyn EventStore>) {
    let fold = store.read_all_page(4, 1, PageFields::Fold).await.expect("a fold reads the envelope");
    assert_eq!(fold.get(0).and_then(|e| e.actor.name), Some("冒名者 impostor"));
    let err = store.read_all_page(0, 100, PageFields::All).await.expect_err("verification must refuse");
    assert!(err.to_string().contains("position 5") && err.to_string().contains("envelope"), "{err}");
}

/// Given a new store, when events are appended, then each row carries its envelope and a
/// fold's page equals the columns.
#[tokio::test]
async fn a_new_store_writes_every_envelope_and_folds_see_the_columns() {
    let (dir, store) = fresh_sqlite();
    let events = given_a_log(&store).await;
    assert_eq!(rows_without_envelope(dir.path()), 0);
    then_fold_pages_match_the_columns(&store, events).await;
    store.close().await;
}

/// Given a data directory written before the envelope column existed, when the store opens,
/// then every row gets its envelope, folds match the columns, and every chain still verifies.
#[tokio::test]
async fn a_data_directory_from_before_the_column_gets_its_envelopes_when_it_opens() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let events = {
        let store = open_sqlite(dir.path());
        let n = given_a_log(&store).await;
        store.close().await;
        n
    };
    sqlite_db(dir.path())
        .execute_batch("DROP INDEX events_without_envelope; ALTER TABLE events DROP COLUMN envelope;")
        .expect("make it an older data directory");

    let store = open_sqlite(dir.path());
    assert_eq!(rows_without_envelope(dir.path()), 0);
    then_fold_pages_match_the_columns(&store, events).await;
    let r = replay_log(store.clone(), None, true, &|_| {}).await.expect("verified replay");
    let chains = r.chains.expect("chains were checked");
    assert!(chains.broken.is_empty(), "{:?}", chains.broken);
    assert_eq!(r.index.issue_count(), 3);
    store.close().await;
}

/// Given rows an older `convene` wrote beside this one (no envelope), when a fold reads them,
/// then it reads their columns; and the next open fills their envelopes in.
#[tokio::test]
async fn rows_written_without_an_envelope_are_folded_from_their_columns() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let store = open_sqlite(dir.path());
    let events = given_a_log(&store).await;
    let cleared =
        sqlite_db(dir.path()).execute("UPDATE events SET envelope = NULL WHERE position % 3 = 0", []).expect("clear");
    assert!(cleared > 10);
    then_fold_pages_match_the_columns(&store, events).await;
    then_a_fold_replays_as_a_verified_replay(&store).await;
    store.close().await;
    drop(store);

    let store = open_sqlite(dir.path());
    assert_eq!(rows_without_envelope(dir.path()), 0);
    then_fold_pages_match_the_columns(&store, events).await;
    store.close().await;
}

/// Given an envelope altered outside convene (the hashed columns untouched), when the log is
/// read to verify it, then the read fails naming the event — a fold would otherwise show an
/// actor no hash vouches for.
#[tokio::test]
async fn an_envelope_that_differs_from_its_columns_fails_verification() {
    let (dir, store) = fresh_sqlite();
    given_a_log(&store).await;
    let conn = sqlite_db(dir.path());
    let blob: Vec<u8> =
        conn.query_row("SELECT envelope FROM events WHERE position = 5", [], |r| r.get(0)).expect("envelope");
    conn.execute("UPDATE events SET envelope = ?1 WHERE position = 5", [&forged(&blob)]).expect("alter the envelope");

    then_only_verification_catches_the_forgery(&store).await;
    assert!(replay_log(store.clone(), None, true, &|_| {}).await.is_err());
    store.close().await;
}

/// The same promises on PostgreSQL: given a log, folds read envelopes equal to the columns;
/// given rows without one (an older writer's, or rows from before migration V3), folds read
/// their columns and the next start fills them in; given a forged envelope, a verifying read
/// refuses the page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres_folds_read_envelopes_that_equal_the_columns() {
    let Some(url) = crate::pg::url() else { return };
    let schema = crate::pg::unique_schema("envelope");
    let store = crate::pg::open(&url, &schema).await;
    let events = given_a_log(&store).await;
    then_fold_pages_match_the_columns(&store, events).await;

    let sql = crate::pg::sql_in(&url, &schema).await;
    let without = "SELECT count(*) FROM convene_events WHERE envelope IS NULL";
    assert_eq!(sql.query_one(without, &[]).await.expect("count").get::<_, i64>(0), 0);
    let cleared =
        sql.execute("UPDATE convene_events SET envelope = NULL WHERE position % 3 = 0", &[]).await.expect("clear");
    assert!(cleared > 10);
    then_fold_pages_match_the_columns(&store, events).await;
    then_a_fold_replays_as_a_verified_replay(&store).await;
    store.close().await;
    drop(store);

    let store = crate::pg::open(&url, &schema).await;
    assert_eq!(sql.query_one(without, &[]).await.expect("count").get::<_, i64>(0), 0, "filled in at start");
    then_fold_pages_match_the_columns(&store, events).await;

    let blob: Vec<u8> =
        sql.query_one("SELECT envelope FROM convene_events WHERE position = 5", &[]).await.expect("envelope").get(0);
    sql.execute("UPDATE convene_events SET envelope = $1 WHERE position = 5", &[&forged(&blob)]).await.expect("forge");
    then_only_verification_catches_the_forgery(&store).await;
    store.close().await;
}
