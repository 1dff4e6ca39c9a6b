//! The head watch across processes: LISTEN on the store's channel.
//!
//! Every append transaction ends with `pg_notify(channel, last_position)`. PostgreSQL delivers a
//! notification only after its transaction committed, and in commit order, so a position heard
//! here is durable and every position below it is visible: exactly what the head watch
//! promises to subscriptions. Appends of this process move the head directly after their
//! commit; this task adds the appends of other processes (another `convene serve`, a CLI
//! command). If the listening connection breaks it reconnects and re-reads the head, and a
//! slow poll of `convene_log` backs it up, so a lost notification delays a subscriber by at
//! most [`POLL`], never loses an event (subscriptions read "after the last delivered").

use super::Connector;
use futures_util::StreamExt;
use std::sync::Weak;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio_postgres::AsyncMessage;

/// Safety-net poll of the head (and how often the task checks that its store still exists).
const POLL: Duration = Duration::from_secs(2);

/// Raises the head to `position` if that is higher.
pub(super) fn bump(head: &watch::Sender<u64>, position: u64) {
    head.send_if_modified(|h| {
        let moved = position > *h;
        if moved {
            *h = position;
        }
        moved
    });
}

/// Follows the store's channel until the store is dropped.
pub(super) async fn listen(connector: Connector, channel: String, head: Weak<watch::Sender<u64>>) {
    let mut backoff = Duration::from_millis(100);
    loop {
        match follow(&connector, &channel, &head).await {
            Ok(()) => return,
            Err(e) => {
                if head.upgrade().is_none() {
                    return;
                }
                tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "postgres LISTEN connection lost; reconnecting");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// One listening connection's life. `Ok` when the store is gone, `Err` when the connection is.
async fn follow(connector: &Connector, channel: &str, head: &Weak<watch::Sender<u64>>) -> Result<(), String> {
    let (client, mut connection) = connector.connect_raw("listener").await.map_err(|e| e.to_string())?;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let driver = tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(m) = messages.next().await {
            match m {
                Ok(AsyncMessage::Notification(n)) => {
                    if tx.send(n.payload().parse::<u64>().ok()).is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::debug!(error = %e, "postgres listener connection ended");
                    return;
                }
            }
        }
    });
    let result = async {
        client.batch_execute(&format!("LISTEN {}", quote_ident(channel))).await.map_err(|e| e.to_string())?;
        let mut poll = tokio::time::interval(POLL);
        loop {
            // Read the head after LISTEN is in place, so nothing committed in between is missed.
            let Some(h) = head.upgrade() else { return Ok(()) };
            let row = client
                .query_one("SELECT position FROM convene_log WHERE id = 1", &[])
                .await
                .map_err(|e| e.to_string())?;
            bump(&h, row.get::<_, i64>(0) as u64);
            drop(h);
            loop {
                tokio::select! {
                    n = rx.recv() => match n {
                        Some(Some(p)) => match head.upgrade() {
                            Some(h) => bump(&h, p),
                            None => return Ok(()),
                        },
                        Some(None) => {}
                        None => return Err("notification stream ended".to_string()),
                    },
                    _ = poll.tick() => break,
                }
            }
        }
    }
    .await;
    driver.abort();
    result
}

/// A double-quoted SQL identifier.
pub(super) fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}
