//! Integration, conformance and end-to-end tests of convene, written to read as specs:
//! given these events, when this step, then this state or this refusal.
//!
//! - `support`: the given/when/then harness, payload fixtures, fresh stores and engines;
//! - `workflow_specs`: every transition and refusal of the shipped workflows, and the
//!   diagnostics of broken workflow definitions;
//! - `store_conformance`: the promises of `EventStore`, run against every backend;
//! - `fold_envelope_specs`: packed fold envelopes equal the hashed columns (new stores, older
//!   data directories, rows of an older writer, a forged copy), embedded and PostgreSQL;
//! - `payload_view_specs`: a replay reading the stored payload views (and a verifying one,
//!   which checks them first) builds the states a fold parsing every payload builds (new stores, older data directories, rows of an older
//!   writer, another view format); a forged view fails verification; embedded and PostgreSQL;
//! - `replay_segment_specs`: the embedded store's packed runs of the log read as their rows
//!   (packed as writers commit, across a restart, at open for older logs, by an import); an
//!   altered segment fails verification;
//! - `engine_specs`: commands through `Engine` on a real store (time travel, pinning,
//!   idempotency, optimistic concurrency);
//! - `http`: every route and error status, in process (no socket);
//! - `metrics_http`: `/metrics` counts requests by route pattern and status, issues by
//!   workflow and state, live clients, and shows the store's head and commit counters;
//! - `http_hardening`: `WWW-Authenticate: Bearer` on every 401, CORS off by default and on
//!   for configured origins only;
//! - `backup`: `convene backup` while a server takes steps: a verified prefix of the log with
//!   its secrets and audit key that serves as restored; refusals leave nothing behind;
//! - `durability`: SIGKILL and SIGTERM of a real server during appends; a server whose file
//!   system refuses the WAL zero-fill still starts;
//! - `disk_full`: a server whose disk fills up refuses writes with 507, writes nothing half,
//!   and takes writes again once space is freed (a small tmpfs; needs root, else skipped);
//! - `cross_process`: commits by another process on the same data directory reach this
//!   process's head and live subscribers;
//! - `cli`: the `convene` binary: output, JSON and exit codes;
//! - `meeting_http`: a whole consultation day over REST (square-dance noise) with its minutes;
//! - `auth_matrix`: every route × role × scope, tokens, the actor from the token, limits;
//! - `audit_specs`: verification, signed checkpoints, tamper tests per backend, offline
//!   verification of an exported trail;
//! - `meeting_specs`: meeting rules (quorum, voting, proxies, motions through the issue's
//!   workflow) and the process manager's exactly-once delivery across a crash.
//! - `time_travel_specs`: issues and meetings as of a version or a time (engine and REST), an
//!   issue through its pinned workflow version after a newer one is published;
//! - `timeline_specs`: human timelines of an issue or meeting (every field, both languages,
//!   both formats, escaping), over the engine, REST and the CLI;
//! - `upcast_specs`: a raised event schema (IssueWithdrawn v2), the declared upcaster, a v1
//!   log replayed through it, never rewritten, still verifying, on every backend;
//! - `privacy_specs`: personal data sealed per person; after `privacy erase` no erased value
//!   anywhere (API, exports, bytes of every file, stored rows), chains verify, states replay;
//! - `pg`: where the PostgreSQL test database is (`CONVENE_TEST_DATABASE_URL`) and the skip rule;
//! - `postgres_cluster`: two `convene serve` on one PostgreSQL log, leader killed;
//! - `pg_outage`: `convene serve` through a proxy that cuts the database connection: short
//!   outages waited out, a lost COMMIT reply answered once, long ones answered 503 and
//!   recorded once on retry (`tcp_proxy`: the breakable proxy);
//! - `migrate`: copying a log between stores, interrupted and resumed;
//! - `pg_pages`: PostgreSQL pages of the log read while writers append;
//! - `pg_tls`: TLS to PostgreSQL (`sslmode`, `sslrootcert`): every connection encrypted under
//!   `require`, the certificate checks of `verify-ca` / `verify-full` and their refusals, a
//!   server without TLS, `convene serve` over TLS, no connection around the connector.
#![forbid(unsafe_code)]

#[cfg(test)]
mod audit_specs;
#[cfg(test)]
mod auth_matrix;
#[cfg(test)]
mod backup;
#[cfg(test)]
mod cli;
#[cfg(test)]
mod cross_process;
#[cfg(test)]
mod disk_full;
#[cfg(test)]
mod durability;
#[cfg(test)]
mod engine_specs;
#[cfg(test)]
mod fold_envelope_specs;
#[cfg(test)]
mod http;
#[cfg(test)]
mod http_hardening;
#[cfg(test)]
mod meeting_http;
#[cfg(test)]
mod meeting_specs;
#[cfg(test)]
mod metrics_http;
#[cfg(test)]
mod migrate;
#[cfg(test)]
mod payload_view_specs;
#[cfg(test)]
mod pg;
#[cfg(test)]
mod pg_outage;
#[cfg(test)]
mod pg_pages;
#[cfg(test)]
mod pg_tls;
#[cfg(test)]
mod postgres_cluster;
#[cfg(test)]
mod privacy_specs;
#[cfg(test)]
mod replay_segment_specs;
#[cfg(test)]
mod store_conformance;
#[cfg(test)]
mod support;
#[cfg(test)]
mod tcp_proxy;
#[cfg(test)]
mod time_travel_specs;
#[cfg(test)]
mod timeline_specs;
#[cfg(test)]
mod upcast_specs;
#[cfg(test)]
mod workflow_specs;
