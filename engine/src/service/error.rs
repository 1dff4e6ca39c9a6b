//! Errors of engine commands and queries. Each variant says how a caller handles it; the HTTP
//! layer maps them to problem+json statuses.

use crate::issue::{Refusal, ReplayError};
use crate::meeting::MeetingRefusal;
use crate::store::StoreError;
use crate::workflow::Diagnostic;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// No such issue/workflow/event (404).
    #[error("not found: {0}")]
    NotFound(String),
    /// The issue exists but had not been raised at the requested time (404 with a hint).
    #[error("issue {0} had not been raised yet at that time")]
    NotYetRaised(String),
    /// The step is not allowed now; the refusal says why and what is allowed (409/403/422).
    #[error("refused: {0}")]
    Refused(Refusal),
    /// A meeting step is not allowed now; the refusal says why and what is allowed
    /// (409/403/422).
    #[error("refused: {0}")]
    MeetingRefused(Box<MeetingRefusal>),
    /// If-Match named a version that is not the current one (412): re-read and decide again.
    #[error("precondition failed: expected version {expected}, current {current}")]
    PreconditionFailed { expected: u64, current: u64 },
    /// The idempotency key was used before for a different request (422): use a new key.
    #[error("idempotency key reused for a different request")]
    IdempotencyKeyReused,
    /// The workflow document is not publishable (422, with diagnostics).
    #[error("workflow definition has {} problem(s)", .0.len())]
    InvalidWorkflow(Vec<Diagnostic>),
    /// This version is already published with different content (409): bump the version.
    #[error("workflow {id} version {version} is already published with different content")]
    WorkflowVersionExists { id: String, version: u32 },
    /// Versions are published in order (409): publish `next`.
    #[error("workflow {id}: version {version} cannot be published; the next version is {next}")]
    WorkflowVersionGap { id: String, version: u32, next: u32 },
    /// The workflow (version) is not published (404 / 422 on raise).
    #[error("workflow {id}{} is not published", .version.map(|v| format!(" v{v}")).unwrap_or_default())]
    UnknownWorkflow { id: String, version: Option<u32> },
    /// The request itself is malformed (400/422).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// Too many concurrent writers on one issue (503, retry later).
    #[error("too much contention on this issue; retry")]
    TooMuchContention,
    /// A stream in the log cannot be replayed (500: the log needs an auditor's look).
    #[error("replay failed: {0}")]
    Replay(#[from] ReplayError),
    /// The store failed (503/500).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The keyring of personal data failed (500: the operator looks at `secrets.db` in the
    /// data directory, or at the PostgreSQL database of the log).
    #[error("keyring: {0}")]
    Keys(#[from] crate::privacy::KeyError),
    /// A lock was poisoned by a panic elsewhere (500).
    #[error("internal state poisoned by an earlier panic")]
    Poisoned,
}

impl EngineError {
    /// Is this a passing loss of the database (the log's or the keyring's), which the same
    /// request survives once the database is back?
    pub fn is_unavailable(&self) -> bool {
        match self {
            EngineError::Store(e) => e.is_unavailable(),
            EngineError::Keys(k) => k.is_unavailable(),
            _ => false,
        }
    }
}
