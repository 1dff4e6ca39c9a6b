//! Catch-up-then-live subscription over any [`EventStore`].
//!
//! Correctness rests on the store's promise that global positions are gap-free and published
//! (through `head`) only after they are durable: the subscription reads pages after the last
//! position it delivered, and when it has caught up it waits for the head to move. A reader
//! never skips (it asks for "after last") and never repeats (it only moves forward). Events the
//! store still holds in memory (its [`super::Tail`]) are taken from there: the same positions,
//! without reading them back.

use super::{EventStore, StoreError};
use crate::event::RecordedEvent;
use std::collections::VecDeque;
use std::sync::Arc;
use tokio::sync::watch;

const PAGE: usize = 1024;

pub struct Subscription {
    store: Arc<dyn EventStore>,
    after: u64,
    buffer: VecDeque<Arc<RecordedEvent>>,
    head: watch::Receiver<u64>,
}

impl Subscription {
    pub fn new(store: Arc<dyn EventStore>, after: u64) -> Self {
        let head = store.head();
        Self { store, after, buffer: VecDeque::new(), head }
    }

    /// Position of the last event delivered (the start position before any).
    pub fn position(&self) -> u64 {
        self.after
    }

    /// The next event; waits for one if caught up. Errors if the store closes.
    pub async fn next(&mut self) -> Result<RecordedEvent, StoreError> {
        self.next_shared().await.map(Arc::unwrap_or_clone)
    }

    /// [`Subscription::next`], shared with the store's in-memory tail instead of copied.
    pub async fn next_shared(&mut self) -> Result<Arc<RecordedEvent>, StoreError> {
        loop {
            if let Some(e) = self.buffer.pop_front() {
                self.after = e.position;
                return Ok(e);
            }
            // Mark the current head as seen *before* reading, so a commit that lands between
            // the read and the wait still wakes us.
            let head = *self.head.borrow_and_update();
            if head > self.after {
                if let Some(recent) = self.store.recent_after(self.after, PAGE) {
                    self.buffer.extend(recent);
                } else {
                    let page = self.store.read_all(self.after, PAGE).await?;
                    self.buffer.extend(page.into_iter().map(Arc::new));
                }
                if !self.buffer.is_empty() {
                    continue;
                }
            }
            if self.head.changed().await.is_err() {
                return Err(StoreError::Closed);
            }
        }
    }
}
