//! Notices commits made by another process on the same data directory — a `convene issue
//! step` or `convene demo` beside a running server — and moves this store's head to them, so
//! live subscribers (`/v1/events/live`, the background work) deliver them within moments
//! instead of only when this process next appends.
//!
//! Every [`INTERVAL`] it asks its own connection for `PRAGMA data_version` (a read of the
//! WAL's shared memory, no I/O), which changes whenever any other connection has committed;
//! only then does it read the last position. Such commits were durable before they became
//! visible (`synchronous=FULL` in every process), so a head that covers them keeps the promise
//! that a subscriber never sees an event that could still be lost. The writer moves the head
//! for this process's own commits; both only ever move it forward.

use super::StoreError;
use super::sqlite::{last_event, open_conn};
use rusqlite::Connection;
use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;
use tokio::sync::watch;

/// How often the database is asked whether another process committed.
pub(super) const INTERVAL: Duration = Duration::from_millis(200);

/// The running watcher; stopped (and joined) by [`Watcher::stop`], or ending by itself when
/// dropped.
pub(super) struct Watcher {
    stop: mpsc::Sender<()>,
    handle: JoinHandle<()>,
}

/// Moves `head` forward to `position` (never back: the writer and the watcher both move it).
pub(super) fn advance(head: &watch::Sender<u64>, position: u64) {
    head.send_if_modified(|h| {
        let later = position > *h;
        if later {
            *h = position;
        }
        later
    });
}

impl Watcher {
    pub(super) fn spawn(path: &Path, head: Arc<watch::Sender<u64>>) -> Result<Watcher, StoreError> {
        let conn = open_conn(path, true)?;
        conn.pragma_update(None, "query_only", "1")?;
        let (stop, stopped) = mpsc::channel::<()>();
        let handle = std::thread::Builder::new()
            .name("convene-sqlite-watch".into())
            .spawn(move || watch_commits(&conn, &head, &stopped))
            .map_err(|e| StoreError::Backend(format!("cannot start the commit watcher: {e}")))?;
        Ok(Watcher { stop, handle })
    }

    pub(super) fn stop(self) {
        drop(self.stop);
        let _ = self.handle.join();
    }
}

fn watch_commits(conn: &Connection, head: &watch::Sender<u64>, stopped: &mpsc::Receiver<()>) {
    let mut seen: Option<i64> = None;
    // Until the store closes (the sender is dropped): a message or a hang-up ends the loop.
    while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(INTERVAL) {
        match changed_last_position(conn, &mut seen) {
            Ok(Some(last)) => advance(head, last),
            Ok(None) => {}
            // A busy or briefly unreadable database is asked again next time.
            Err(e) => tracing::debug!(error = %e, "commit watcher could not read the database"),
        }
    }
}

/// The last position, if the database changed since the last call (`seen` keeps the
/// connection's last `data_version`).
fn changed_last_position(conn: &Connection, seen: &mut Option<i64>) -> Result<Option<u64>, StoreError> {
    let version: i64 = conn.prepare_cached("PRAGMA data_version")?.query_row([], |r| r.get(0))?;
    if *seen == Some(version) {
        return Ok(None);
    }
    *seen = Some(version);
    Ok(Some(last_event(conn)?.0 as u64))
}
