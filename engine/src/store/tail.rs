//! The log's most recent events, kept in memory by the process that wrote them, so live
//! subscribers following the head take them from here instead of reading them back.
//!
//! Invariant: the entries are committed (durable) events with consecutive global positions.
//! A writer pushes a batch after its commit and before it publishes the new head, so a
//! subscriber woken by the head finds the batch here. A push that does not continue the last
//! entry (another process appended in between, or a commit failed) starts the tail afresh.
//! A subscriber takes entries only when the tail holds the very next position it needs, so it
//! never skips or repeats one; anything older is read from the store as before.

use crate::event::RecordedEvent;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

/// Events kept at most (a subscriber further behind reads the store).
pub const TAIL_EVENTS: usize = 4_096;
/// Payload bytes kept at most: large payloads (up to 256 KiB each) must not pin a gigabyte.
pub const TAIL_BYTES: usize = 16 << 20;

#[derive(Default)]
pub struct Tail {
    inner: Mutex<Held>,
}

#[derive(Default)]
struct Held {
    events: VecDeque<Arc<RecordedEvent>>,
    /// Payload bytes of `events`.
    bytes: usize,
}

fn size(e: &RecordedEvent) -> usize {
    e.data.get().len()
}

impl Tail {
    /// Adds committed events, in position order.
    pub fn push(&self, batch: Vec<RecordedEvent>) {
        let Some(first) = batch.first() else { return };
        let Ok(mut held) = self.inner.lock() else { return };
        if held.events.back().is_some_and(|e| e.position + 1 != first.position) {
            held.events.clear();
            held.bytes = 0;
        }
        for e in batch {
            held.bytes += size(&e);
            held.events.push_back(Arc::new(e));
        }
        // Oldest first out; what stays is still consecutive.
        while held.events.len() > TAIL_EVENTS || held.bytes > TAIL_BYTES {
            let Some(e) = held.events.pop_front() else { break };
            held.bytes -= size(&e);
        }
    }

    /// Up to `max` events from position `after + 1` on, if the tail holds that position.
    pub fn after(&self, after: u64, max: usize) -> Option<Vec<Arc<RecordedEvent>>> {
        let held = self.inner.lock().ok()?;
        let events = &held.events;
        let first = events.front()?.position;
        if after + 1 < first || after >= events.back()?.position {
            return None;
        }
        let skip = (after + 1 - first) as usize;
        Some(events.iter().skip(skip).take(max).cloned().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Actor, NewEvent};

    fn at(position: u64) -> RecordedEvent {
        NewEvent::new("Noted", &serde_json::json!({ "n": position }), Actor::system()).into_recorded(
            "test-tail".into(),
            position - 1,
            position,
            chrono::Utc::now(),
            &[0; 32],
            &[0; 32],
        )
    }

    fn positions(v: Option<Vec<Arc<RecordedEvent>>>) -> Option<Vec<u64>> {
        v.map(|v| v.iter().map(|e| e.position).collect())
    }

    #[test]
    fn a_subscriber_gets_the_next_positions_only_when_the_tail_holds_them() {
        let tail = Tail::default();
        assert_eq!(positions(tail.after(0, 10)), None, "empty");
        tail.push((5..=9).map(at).collect());
        assert_eq!(positions(tail.after(4, 10)), Some(vec![5, 6, 7, 8, 9]));
        assert_eq!(positions(tail.after(6, 2)), Some(vec![7, 8]));
        assert_eq!(positions(tail.after(3, 10)), None, "position 4 is not held: read the store");
        assert_eq!(positions(tail.after(9, 10)), None, "caught up");
    }

    #[test]
    fn a_batch_that_does_not_continue_the_tail_starts_it_afresh() {
        let tail = Tail::default();
        tail.push((1..=3).map(at).collect());
        tail.push((7..=8).map(at).collect());
        assert_eq!(positions(tail.after(3, 10)), None, "4..=6 were written elsewhere: never skipped");
        assert_eq!(positions(tail.after(6, 10)), Some(vec![7, 8]));
    }

    #[test]
    fn large_payloads_are_kept_only_up_to_the_byte_budget() {
        let tail = Tail::default();
        let big = |position: u64| {
            let mut e = at(position);
            e.data = crate::event::Payload::trusted(format!("\"{}\"", "x".repeat(256 << 10)));
            e
        };
        tail.push((1..=100).map(big).collect());
        let kept = TAIL_BYTES / ((256 << 10) + 2);
        assert_eq!(positions(tail.after(100 - kept as u64, 1)), Some(vec![101 - kept as u64]));
        assert_eq!(positions(tail.after(100 - kept as u64 - 1, 1)), None, "older ones were let go");
    }

    #[test]
    fn the_tail_keeps_only_the_latest_events() {
        let tail = Tail::default();
        let n = TAIL_EVENTS as u64 + 10;
        tail.push((1..=n).map(at).collect());
        assert_eq!(positions(tail.after(5, 1)), None);
        assert_eq!(positions(tail.after(10, 1)), Some(vec![11]));
    }
}
