//! Time as an injected dependency, so deadlines and time travel are testable.

use chrono::{DateTime, Utc};

/// Source of "now" (always UTC; people see China Standard Time at the edges).
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}
