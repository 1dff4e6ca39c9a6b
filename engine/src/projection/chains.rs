//! Incremental hash-chain verification over the global log (pure: fed events in order).

use crate::event::{ChainError, EventRef};
use std::collections::HashMap;

/// Tracks each stream's last (version, hash) and checks every next event links to it and
/// matches its own content.
#[derive(Default)]
pub struct ChainTracker {
    heads: HashMap<String, (u64, [u8; 32])>,
    pub verified: u64,
    pub broken: Vec<ChainError>,
}

impl ChainTracker {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn streams(&self) -> usize {
        self.heads.len()
    }

    /// Takes in a tracker fed a disjoint set of streams.
    pub fn merge(&mut self, other: ChainTracker) {
        self.heads.extend(other.heads);
        self.verified += other.verified;
        self.broken.extend(other.broken);
    }

    pub fn check(&mut self, e: &EventRef<'_>) {
        let (expected_version, expected_prev) = match self.heads.get(e.stream) {
            Some((v, h)) => (v + 1, *h),
            None => (0, [0u8; 32]),
        };
        if e.version != expected_version {
            self.broken.push(ChainError::VersionGap {
                stream: e.stream.to_string(),
                expected: expected_version,
                found: e.version,
            });
        } else if e.prev_hash != expected_prev {
            self.broken.push(ChainError::BrokenLink { stream: e.stream.to_string(), version: e.version });
        } else if e.computed_hash() != e.hash {
            self.broken.push(ChainError::Altered { stream: e.stream.to_string(), version: e.version });
        }
        self.verified += 1;
        match self.heads.get_mut(e.stream) {
            Some(head) => *head = (e.version, e.hash),
            None => {
                self.heads.insert(e.stream.to_string(), (e.version, e.hash));
            }
        }
    }
}
