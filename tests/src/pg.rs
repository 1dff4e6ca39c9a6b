//! PostgreSQL for the tests: where it is, and what happens when it is not there.
//!
//! The tests that need a server read `CONVENE_TEST_DATABASE_URL` (e.g.
//! `postgres://convene:convene@127.0.0.1:5432/convene_test`; the role must be allowed to create
//! schemas). Each test works in a schema of its own, so they run in parallel without
//! interfering. Without the variable they are skipped — and say so on the terminal, once —
//! unless `CONVENE_REQUIRE_POSTGRES=1` (CI), which turns a skip into a failure.

use convene_engine::EventStore;
use convene_engine::event::verify_chain;
use convene_engine::store::{PostgresOptions, PostgresStore, read_stream_all};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write;
use std::sync::{Arc, Once};

pub const URL_VAR: &str = "CONVENE_TEST_DATABASE_URL";
pub const REQUIRE_VAR: &str = "CONVENE_REQUIRE_POSTGRES";

static SKIP_NOTICE: Once = Once::new();

/// The test database URL, or `None` (after telling the person at the terminal) when the
/// PostgreSQL tests are to be skipped. Panics when they are required but not configured.
pub fn url() -> Option<String> {
    match std::env::var(URL_VAR) {
        Ok(u) if !u.trim().is_empty() => Some(u),
        _ => {
            if std::env::var(REQUIRE_VAR).is_ok_and(|v| v == "1") {
                panic!("{REQUIRE_VAR}=1 but {URL_VAR} is not set: the PostgreSQL tests cannot be skipped here");
            }
            SKIP_NOTICE.call_once(|| {
                // Written to the terminal directly: libtest captures `eprintln!` of passing tests.
                let _ = writeln!(
                    std::io::stderr(),
                    "\nnote: PostgreSQL tests SKIPPED ({URL_VAR} is not set). To run them:\n  \
                     {URL_VAR}=postgres://convene:convene@127.0.0.1:5432/convene_test cargo test --workspace\n  \
                     (see README.md, \"PostgreSQL\"; CI sets {REQUIRE_VAR}=1 so a skip fails there)\n"
                );
            });
            None
        }
    }
}

/// A schema name for `tag` that no other test uses: `convene_t_<tag>_<random>`.
pub fn unique_schema(tag: &str) -> String {
    let tag: String = tag.chars().filter(|c| c.is_ascii_alphanumeric()).take(20).collect::<String>().to_lowercase();
    format!("convene_t_{tag}_{}", uuid::Uuid::now_v7().simple().to_string().get(20..).unwrap_or_default())
}

/// Options for the test database in `schema`.
pub fn options(url: &str, schema: &str) -> PostgresOptions {
    PostgresOptions::from_url(url)
        .expect("CONVENE_TEST_DATABASE_URL is a PostgreSQL URL")
        .with_schema(schema)
        .with_pool_size(4)
}

/// The test database URL with `schema` selected (for the `convene` binary).
pub fn url_with_schema(url: &str, schema: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}schema={schema}")
}

/// Opens the PostgreSQL store in `schema` (created and migrated if new).
pub async fn open(url: &str, schema: &str) -> Arc<dyn EventStore> {
    let store = PostgresStore::open(options(url, schema))
        .await
        .unwrap_or_else(|e| panic!("cannot open the PostgreSQL test store (schema {schema}): {e}"));
    Arc::new(store)
}

/// Reads the log of `schema` directly after a run that acknowledged `acked` (issue id →
/// version → event id): global positions gap-free, no event stored twice, every acknowledged
/// event present as acknowledged, every stored event of those issues acknowledged (none
/// doubled), every chain intact. Returns how many issues the log holds.
pub fn verify_log(url: &str, schema: &str, acked: &HashMap<String, BTreeMap<u64, String>>) -> usize {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let store = open(url, schema).await;
        let mut after = 0;
        let mut ids = HashSet::new();
        let mut raised = 0;
        loop {
            let page = store.read_all(after, 5000).await.unwrap();
            if page.is_empty() {
                break;
            }
            for e in &page {
                assert_eq!(e.position, after + 1, "global positions are gap-free");
                assert!(ids.insert(e.id), "event {} stored twice", e.id);
                raised += usize::from(e.event_type == "IssueRaised");
                after = e.position;
            }
        }
        for (id, versions) in acked {
            let events = read_stream_all(store.as_ref(), &format!("issue-{id}")).await.unwrap();
            verify_chain(&events).unwrap_or_else(|e| panic!("chain of {id}: {e}"));
            for (v, event_id) in versions {
                let e = events.get(*v as usize).unwrap_or_else(|| panic!("acknowledged {id} v{v} lost"));
                assert_eq!(&e.id.to_string(), event_id, "{id} v{v} is another event");
            }
            // No doubled step: a request cut off was resent with its key and answered as the
            // original, so every stored event was acknowledged.
            assert_eq!(events.len(), versions.len(), "{id}: every stored event is an acknowledged one");
        }
        store.close().await;
        raised
    })
}

/// A plain connection to the test database in `schema`, for altering rows behind the store's
/// back.
pub async fn sql_in(url: &str, schema: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls).await.expect("connect");
    tokio::spawn(conn);
    client.batch_execute(&format!("SET search_path TO {schema}")).await.expect("search path");
    client
}
