//! Another process on the same data directory: a `convene` command run beside a server
//! appends to the log the server has open. Its events must reach the server's head and its
//! live subscribers (`/v1/events/live`, the background work) without waiting for the server
//! to append something itself.

use crate::durability::convene_bin;
use convene_engine::EventStore;
use convene_engine::store::{SqliteOptions, SqliteStore, SubscribeExt};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

#[tokio::test]
async fn a_commit_by_another_process_reaches_this_processs_head_and_live_subscribers() {
    // Given a store open on a data directory, with a live subscriber at its head,
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn EventStore> = Arc::new(SqliteStore::open(SqliteOptions::in_dir(dir.path())).unwrap());
    let from = *store.head().borrow();
    let mut live = store.subscribe(from);

    // when another process raises an issue in the same directory (publishing the shipped
    // workflows first, as any first command does),
    let raise = r#"{"community": "wuhan/wuchang/x-street/y-community", "title": {"zh-CN": "路灯坏了", "en": "Broken street light"},
        "category": "safety", "households_affected": 12, "raised_by": {"name": "刘芳"}}"#;
    let o = Command::new(convene_bin())
        .arg("--data")
        .arg(dir.path())
        .args(["issue", "raise", "--actor-id", "r-9", "--role", "resident", "--payload", raise, "--json"])
        .output()
        .expect("run convene");
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));

    // then, with nothing appended here, the subscriber delivers every one of its events in
    // order, ending with the IssueRaised,
    let mut expected = from + 1;
    let raised = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let e = live.next_shared().await.expect("subscription");
            assert_eq!(e.position, expected, "in order, no gap, no duplicate");
            expected += 1;
            if e.event_type == "IssueRaised" {
                return e;
            }
        }
    })
    .await
    .expect("the other process's events reach the live subscriber within seconds");
    assert!(raised.stream.starts_with("issue-"));
    // and the head covers them.
    assert!(*store.head().borrow() >= raised.position);
    store.close().await;
}
