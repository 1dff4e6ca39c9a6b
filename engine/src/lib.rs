//! convene engine: the pure core (workflow replay, projections) and the event stores.
//!
//! Bird's-eye view: every deliberation step of a community matter is an immutable,
//! schema-validated, hash-chained [`event::RecordedEvent`] in an [`store::EventStore`].
//! Workflow definitions ([`workflow`]) are data; [`issue::replay`] folds an issue's events
//! through its pinned definition into an [`issue::IssueState`] without any IO. The
//! [`service::Engine`] is the thin imperative shell that turns commands into appends.
//!
//! This crate does no HTTP; the `convene` binary in `api/` does.
#![forbid(unsafe_code)]

pub mod audit;
pub mod auth;
pub mod background;
pub mod backup;
pub mod bench;
pub mod catalog;
pub mod demo;
pub mod demo_meetings;
pub mod event;
pub mod export;
pub mod issue;
pub mod lease;
pub mod meeting;
pub mod migrate;
pub mod privacy;
pub mod projection;
pub mod secrets;
pub mod service;
pub mod store;
pub mod text;
pub mod timeline;
pub mod vault;
pub mod vocab;
pub mod workflow;

pub use event::{Actor, NewEvent, RecordedEvent};
pub use service::{Engine, EngineError};
pub use store::{EventStore, ExpectedVersion, StoreError};
