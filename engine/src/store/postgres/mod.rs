//! The PostgreSQL store: one database (and schema) shared by any number of `convene` processes.
//!
//! - `schema.rs`: migrations at start (refinery, under an advisory lock);
//! - `writer.rs`: this process's appends, group-committed by one task on one connection;
//! - `insert.rs`: a batch of rows in one `INSERT … SELECT FROM unnest(…)`;
//! - `reads.rs`: row decoding, and pages of the log from `COPY … (FORMAT binary)`; reads run
//!   on a deadpool connection pool;
//! - `notify.rs`: LISTEN/NOTIFY moves the head watch when another process commits;
//! - `import.rs`: appending a log copied from another store, hashes and times kept;
//! - `secrets.rs`: per-person keys and API token hashes in the same schema ([`PgSecrets`]),
//!   shared by every instance;
//! - `tls.rs`: `sslmode` / `sslrootcert` over rustls; every connection is made by
//!   `Connector`, with the TLS of the URL.
//!
//! **Why positions are safe for readers.** A reader that has seen position P must never later
//! find a committed event below P. A sequence (`bigserial`) does not give that: numbers are
//! taken at insert time but become visible at commit time, so 11 can be visible while 10 is
//! still in flight. Marten's async daemon answers with a high-water mark that waits for gaps and
//! skips them after a timeout — its issue tracker records years of events skipped when the
//! timeout guessed wrong (JasperFx/marten#1629, #2189, #4964, #4977). Emmett and Eventuous
//! record each row's `xid8` and read only below `pg_snapshot_xmin(pg_current_snapshot())`, which
//! keeps writers parallel but leaves positions with gaps and holds every reader back behind the
//! oldest open transaction. convene promises gap-free positions (the conformance suite checks
//! it), so it serialises instead: every append transaction first locks the one `convene_log`
//! row, takes its positions from that row and updates it before COMMIT. PostgreSQL makes a
//! transaction visible before it releases its locks, so the next writer can only take
//! positions after the previous ones are visible: at any instant the visible positions are
//! exactly 1..=k. The cost — one committer at a time per database — is paid back by batching:
//! each process's writer task commits every queued append in one transaction, so one WAL
//! flush carries tens of appends (measured in BENCHMARKS.md). The same row carries the last
//! recorded time, so recorded times never go back across processes either.
//!
//! Durability: the store relies on `synchronous_commit = on` (the default), under which the
//! commit record is flushed before the transaction becomes visible or is acknowledged.

mod derived;
mod envelope;
mod import;
mod insert;
mod notify;
mod outage;
mod reads;
mod schema;
mod secrets;
mod tls;
mod views;
mod writer;

pub use secrets::PgSecrets;
pub use tls::{RootCerts, SslMode, TlsOptions, Verification};

use super::{AppendOutcome, Direction, EventStore, ExpectedVersion, StoreError, validate_append};
use crate::event::{EventPage, EventPageBuilder, NewEvent, PageFields, RecordedEvent};
use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use futures_util::TryStreamExt;
use reads::{COLUMNS, CopyPageDecoder, Layout, row_to_event};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio_postgres::tls::MakeTlsConnect;
use tokio_postgres::{Client, Config, Socket};
use tokio_postgres_rustls::MakeRustlsConnect;
use uuid::Uuid;

/// Largest number of events in one append.
/// Appends that may wait for the writer before `append` itself waits (back-pressure).
const QUEUE: usize = 16_384;

/// A PostgreSQL error as the operator needs to read it (the server's message, detail and hint
/// when there is one, not only "db error").
pub(crate) fn pg_error(e: tokio_postgres::Error) -> StoreError {
    match e.as_db_error() {
        // 53100 disk_full: the server could not extend a file.
        Some(db) if *db.code() == tokio_postgres::error::SqlState::DISK_FULL => {
            StoreError::StorageFull(describe_pg_error(&e))
        }
        _ if is_connection_lost(&e) => StoreError::unavailable(describe_pg_error(&e)),
        _ => StoreError::Backend(describe_pg_error(&e)),
    }
}

/// Did this fail because the connection to the server is gone or the server is not taking
/// connections (a restart, a failover, a network cut) — a passing condition, not a fault of
/// the statement?
pub(crate) fn is_connection_lost(e: &tokio_postgres::Error) -> bool {
    if let Some(db) = e.as_db_error() {
        let code = db.code().code();
        // Class 08 connection_exception; 57P01 admin_shutdown (a fast shutdown or a
        // pg_terminate_backend), 57P02 crash_shutdown, 57P03 cannot_connect_now (starting up,
        // recovering, a standby being promoted); 53300 too_many_connections.
        return code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03" | "53300");
    }
    if e.is_closed() {
        return true;
    }
    // Refused, reset, broken pipe, timed out: the socket's own error, somewhere in the chain.
    let mut src = std::error::Error::source(e);
    while let Some(inner) = src {
        if inner.is::<std::io::Error>() {
            return true;
        }
        src = inner.source();
    }
    false
}

pub(crate) fn describe_pg_error(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => {
            let mut s = format!("PostgreSQL {}: {}", db.code().code(), db.message());
            if let Some(d) = db.detail() {
                s.push_str(&format!(" ({d})"));
            }
            if let Some(h) = db.hint() {
                s.push_str(&format!(" hint: {h}"));
            }
            s
        }
        None => {
            let mut s = e.to_string();
            let mut src = std::error::Error::source(e);
            while let Some(inner) = src {
                s.push_str(&format!(": {inner}"));
                src = inner.source();
            }
            s
        }
    }
}

/// How long an append waits for the database by default: a restart of a local server takes a
/// second or two, a managed server's failover usually under ten.
pub const DEFAULT_OUTAGE_WAIT: Duration = Duration::from_secs(10);

/// How long one round of work (a read, a group commit) may wait for the database's answer
/// before its connection is taken for lost: a database that vanished without closing the
/// connection (a network partition, a fail-over whose old primary is gone) answers nothing.
/// Far above any healthy batch (milliseconds), well below the OS's TCP timeouts (minutes).
pub const DEFAULT_ANSWER_TIMEOUT: Duration = Duration::from_secs(30);

/// How to open the PostgreSQL store.
#[derive(Clone)]
pub struct PostgresOptions {
    /// Connection settings (host, port, user, password, database, …).
    pub config: Config,
    /// The schema that holds convene's tables, created if missing. `None`: the connection's
    /// default search path (normally `public`).
    pub schema: Option<String>,
    /// Connections in the read pool (the writer and the listener have one each besides).
    pub pool_size: usize,
    /// How long a connection attempt may take before the store reports the database unreachable.
    pub connect_timeout: Duration,
    /// How long a read or an append waits for a lost connection to the database to come back
    /// (a restart, a fail-over) before it is answered [`StoreError::Unavailable`]. Meanwhile
    /// reads are tried again and the writer writes its batch again, which is safe because
    /// every append is idempotent by its event ids (see `outage.rs`); zero answers at once.
    pub outage_wait: Duration,
    /// How long a read or a group commit waits for the database to answer before its
    /// connection is taken for lost (and the work tried again within `outage_wait`). Also the
    /// connections' `tcp_user_timeout`, unless the URL sets one.
    pub answer_timeout: Duration,
    /// TLS: `sslmode` and `sslrootcert` of the URL (default `prefer`, see `tls.rs`).
    pub tls: TlsOptions,
}

impl std::fmt::Debug for PostgresOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the password.
        f.debug_struct("PostgresOptions")
            .field("target", &describe_target(&self.config))
            .field("schema", &self.schema)
            .field("pool_size", &self.pool_size)
            .field("sslmode", &self.tls.mode().as_str())
            .finish()
    }
}

impl PostgresOptions {
    /// Where the store is (`user@host:port/db (schema s)`), without the password: what
    /// messages and the CLI show.
    pub fn target(&self) -> String {
        let mut target = describe_target(&self.config);
        if let Some(s) = &self.schema {
            target.push_str(&format!(" (schema {s})"));
        }
        target
    }

    /// Parses `postgres://user:password@host:port/database?…` (libpq's URL form, as tokio-postgres
    /// reads it) plus convene's own `schema=NAME`, and the TLS parameters tokio-postgres does
    /// not know: `sslmode` (all of libpq's but `allow`; default `prefer`) and `sslrootcert`
    /// (a PEM file, or `system`). See `tls.rs`.
    pub fn from_url(url: &str) -> Result<PostgresOptions, StoreError> {
        let (base, query) = match url.split_once('?') {
            Some((b, q)) => (b, q),
            None => (url, ""),
        };
        let mut schema = None;
        let mut sslmode = None;
        let mut sslrootcert = None;
        let mut kept = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some(("schema", v)) if !v.is_empty() => schema = Some(v.to_string()),
                Some(("sslmode", v)) => sslmode = Some(SslMode::parse(&tls::percent_decode(v))?),
                Some(("sslrootcert", v)) => {
                    let v = tls::percent_decode(v);
                    sslrootcert = match v.as_str() {
                        "" => None,
                        "system" => Some(RootCerts::System),
                        path => Some(RootCerts::File(path.into())),
                    }
                }
                Some((k @ ("sslcert" | "sslkey" | "sslpassword" | "sslcrl" | "sslcrldir"), _)) => {
                    return Err(StoreError::Invalid(format!(
                        "{k} 尚不支持（客户端证书、吊销列表）：请用密码认证（SCRAM） / {k} is not supported yet \
                         (client certificates, revocation lists): authenticate with a password (SCRAM)"
                    )));
                }
                _ => kept.push(pair),
            }
        }
        let libpq = if kept.is_empty() { base.to_string() } else { format!("{base}?{}", kept.join("&")) };
        let config = Config::from_str(&libpq)
            .map_err(|e| StoreError::Invalid(format!("not a PostgreSQL URL ({}): {e}", redact(url))))?;
        if let Some(s) = &schema {
            validate_schema_name(s)?;
        }
        let tls = match sslmode {
            Some(mode) => TlsOptions::new(mode, sslrootcert)?.explicit(),
            None => TlsOptions::new(SslMode::Prefer, sslrootcert)?,
        };
        Ok(PostgresOptions {
            config,
            schema,
            pool_size: 16,
            connect_timeout: Duration::from_secs(10),
            outage_wait: DEFAULT_OUTAGE_WAIT,
            answer_timeout: DEFAULT_ANSWER_TIMEOUT,
            tls,
        })
    }

    /// One connection with the store's settings — TLS, timeouts, search path — for work
    /// outside a store (dropping a benchmark's schema). Its protocol runs on a spawned task.
    pub async fn connect(&self) -> Result<Client, StoreError> {
        Connector::new(self).connect("admin").await
    }

    pub fn with_schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = Some(schema.into());
        self
    }

    pub fn with_pool_size(mut self, n: usize) -> Self {
        self.pool_size = n.max(1);
        self
    }

    pub fn with_outage_wait(mut self, wait: Duration) -> Self {
        self.outage_wait = wait;
        self
    }

    pub fn with_answer_timeout(mut self, timeout: Duration) -> Self {
        self.answer_timeout = timeout.max(Duration::from_millis(100));
        self
    }
}

fn validate_schema_name(s: &str) -> Result<(), StoreError> {
    let ok = !s.is_empty()
        && s.len() <= 63
        && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !s.starts_with(|c: char| c.is_ascii_digit());
    if ok { Ok(()) } else { Err(StoreError::Invalid(format!("bad schema name {s:?}: use [a-z_][a-z0-9_]*"))) }
}

/// A URL with its password replaced, for messages and logs.
pub fn redact(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://")
        && let Some((userinfo, host)) = rest.split_once('@')
        && let Some((user, _)) = userinfo.split_once(':')
    {
        return format!("{scheme}://{user}:***@{host}");
    }
    url.to_string()
}

/// `user@host:port/database` of a config, for messages.
fn describe_target(c: &Config) -> String {
    let host = c
        .get_hosts()
        .first()
        .map(|h| match h {
            tokio_postgres::config::Host::Tcp(s) => s.clone(),
            #[cfg(unix)]
            tokio_postgres::config::Host::Unix(p) => p.display().to_string(),
        })
        .unwrap_or_else(|| "localhost".into());
    let port = c.get_ports().first().copied().unwrap_or(5432);
    format!("{}@{host}:{port}/{}", c.get_user().unwrap_or("?"), c.get_dbname().unwrap_or("?"))
}

/// The TLS stream of a connection (rustls); tokio-postgres keeps the plain socket beside it
/// when none was negotiated.
pub(crate) type PgStream = <MakeRustlsConnect as MakeTlsConnect<Socket>>::Stream;

/// Opens every connection the product makes to PostgreSQL, with the store's settings (TLS,
/// search path, timeouts, application name): the pool, the writer, the listener, the lease,
/// the secrets, schema setup. Nothing else calls `tokio_postgres::connect`.
#[derive(Clone)]
pub(crate) struct Connector {
    config: Config,
    target: String,
    /// The first host of the URL (what a certificate is checked against), for messages.
    host: String,
    tls: TlsOptions,
    make_tls: MakeRustlsConnect,
}

impl Connector {
    /// A connector with the store's settings (for leases on the same database).
    pub(crate) fn for_options(options: &PostgresOptions) -> Connector {
        Connector::new(options)
    }

    fn new(options: &PostgresOptions) -> Connector {
        let mut config = options.config.clone();
        config.connect_timeout(options.connect_timeout);
        // A server that vanished without closing the connection is noticed in seconds, not
        // after the OS's defaults (two idle hours; minutes of retransmission). The URL's own
        // `keepalives_idle` / `tcp_user_timeout` win (tokio-postgres's default idle is 2 h).
        if config.get_keepalives_idle() == Duration::from_secs(2 * 60 * 60) {
            config.keepalives_idle(Duration::from_secs(15));
            config.keepalives_interval(Duration::from_secs(5));
            config.keepalives_retries(3);
        }
        if config.get_tcp_user_timeout().is_none() {
            config.tcp_user_timeout(options.answer_timeout);
        }
        if config.get_application_name().is_none() {
            config.application_name("convene");
        }
        let mut o = config.get_options().map(|o| format!("{o} ")).unwrap_or_default();
        if let Some(schema) = &options.schema {
            o.push_str(&format!("-c search_path={schema} "));
        }
        // Every statement convene runs is a lookup or a range by an index (positions, ids,
        // stream versions). Prepared statements are planned once: a plan made while the log was
        // empty (or before autovacuum first analysed it) would otherwise keep scanning the
        // whole table for each batch's id check, slowing appends tenfold as the log grew, until
        // an ANALYZE happened to replace the plan.
        o.push_str("-c enable_seqscan=off");
        config.options(o);
        // No TLS over a Unix socket, whatever the mode (as libpq): the server offers none there.
        #[cfg(unix)]
        let only_sockets = config.get_hosts().iter().all(|h| matches!(h, tokio_postgres::config::Host::Unix(_)))
            && !config.get_hosts().is_empty();
        #[cfg(not(unix))]
        let only_sockets = false;
        config.ssl_mode(match options.tls.mode() {
            _ if only_sockets => tokio_postgres::config::SslMode::Disable,
            SslMode::Disable => tokio_postgres::config::SslMode::Disable,
            SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => tokio_postgres::config::SslMode::Require,
        });
        let make_tls = MakeRustlsConnect::new((**options.tls.client_config()).clone());
        let target = options.target();
        let host = first_host(&config);
        Connector { config, target, host, tls: options.tls.clone(), make_tls }
    }

    /// The error of a failed connection attempt: the TLS failure explained when it is one.
    fn unreachable(&self, e: &tokio_postgres::Error) -> StoreError {
        match tls::explain(e, &self.tls, &self.target, &self.host) {
            Some(message) => StoreError::Tls(message),
            None => {
                let message = format!("cannot connect to PostgreSQL at {}: {}", self.target, describe_pg_error(e));
                if is_connection_lost(e) { StoreError::unavailable(message) } else { StoreError::Backend(message) }
            }
        }
    }

    /// The error of a pool that could not hand out a connection.
    pub(crate) fn pool_error(&self, e: deadpool_postgres::PoolError) -> StoreError {
        match e {
            deadpool_postgres::PoolError::Backend(e) => self.unreachable(&e),
            // No connection within the timeout: every one busy, or the server slow to accept.
            deadpool_postgres::PoolError::Timeout(t) => {
                StoreError::unavailable(format!("PostgreSQL pool ({}): timed out ({t:?})", self.target))
            }
            deadpool_postgres::PoolError::Closed => StoreError::Closed,
            other => StoreError::Backend(format!("PostgreSQL pool ({}): {other}", self.target)),
        }
    }

    /// A connection whose protocol is driven by a spawned task.
    pub(crate) async fn connect(&self, role: &'static str) -> Result<Client, StoreError> {
        let (client, connection) = self.connect_raw(role).await?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::warn!(role, error = %e, "postgres connection closed with an error");
            }
        });
        Ok(client)
    }

    /// A connection whose protocol the caller drives (to receive notifications).
    pub(crate) async fn connect_raw(
        &self,
        _role: &'static str,
    ) -> Result<(Client, tokio_postgres::Connection<Socket, PgStream>), StoreError> {
        self.config.connect(self.make_tls.clone()).await.map_err(|e| self.unreachable(&e))
    }

    /// A pool of up to `size` connections made like [`Connector::connect`]'s.
    pub(crate) fn pool(&self, size: usize, connect_timeout: Duration) -> Result<Pool, StoreError> {
        let manager = Manager::from_config(
            self.config.clone(),
            self.make_tls.clone(),
            ManagerConfig { recycling_method: RecyclingMethod::Fast },
        );
        Pool::builder(manager)
            .max_size(size.max(1))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(Duration::from_secs(30)))
            .create_timeout(Some(connect_timeout))
            .build()
            .map_err(|e| StoreError::Backend(format!("cannot build the connection pool: {e}")))
    }

    pub(crate) fn target(&self) -> &str {
        &self.target
    }

    /// Says how the connection `client` is protected (TLS version and what was verified, or
    /// plain), and warns when a connection to another machine is not encrypted.
    pub(crate) async fn report_tls(&self, client: &Client) {
        let row = client
            .query_opt("SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()", &[])
            .await
            .ok()
            .flatten();
        let (ssl, version) = match &row {
            Some(r) => (r.get::<_, bool>(0), r.get::<_, Option<String>>(1)),
            None => (false, None),
        };
        let verified = match self.tls.verification() {
            Verification::None => "certificate not verified",
            Verification::Chain => "certificate chain verified",
            Verification::ChainAndHost => "certificate chain and host name verified",
        };
        if ssl {
            tracing::info!(
                target = %self.target,
                sslmode = self.tls.mode().as_str(),
                tls = version.as_deref().unwrap_or("?"),
                verified,
                "postgres connections use TLS"
            );
        } else if self.is_local() {
            tracing::info!(target = %self.target, sslmode = self.tls.mode().as_str(), "postgres connections are not encrypted (local server)");
        } else {
            tracing::warn!(
                target = %self.target,
                sslmode = self.tls.mode().as_str(),
                "PostgreSQL 连接未加密：人员密钥与令牌哈希以明文经过网络；请在服务器上启用 TLS 并使用 sslmode=verify-full / \
                 the connections to PostgreSQL are not encrypted: person keys and token hashes cross the network in the \
                 clear; enable TLS on the server and use sslmode=verify-full"
            );
        }
    }

    /// Whether every host is this machine (a Unix socket or a loopback address).
    fn is_local(&self) -> bool {
        self.config.get_hosts().iter().all(|h| match h {
            tokio_postgres::config::Host::Tcp(name) => {
                name == "localhost" || name.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
            }
            #[cfg(unix)]
            tokio_postgres::config::Host::Unix(_) => true,
        })
    }
}

fn first_host(c: &Config) -> String {
    match c.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(s)) => s.clone(),
        #[cfg(unix)]
        Some(tokio_postgres::config::Host::Unix(p)) => p.display().to_string(),
        None => "localhost".into(),
    }
}

/// Creates the schema of `options` if it is missing and brings it up to date (migrations run
/// under an advisory lock, so instances starting together do it once). The store and its
/// secrets ([`PgSecrets`]) both start here.
pub(crate) async fn prepare_schema(options: &PostgresOptions) -> Result<Connector, StoreError> {
    if let Some(schema) = &options.schema {
        validate_schema_name(schema)?;
        let plain = Connector::new(&PostgresOptions { schema: None, ..options.clone() });
        let c = plain.connect("setup").await?;
        // Without the server's notice "schema … already exists, skipping", which every start
        // would otherwise log.
        c.batch_execute(&format!(
            "SET client_min_messages = warning; CREATE SCHEMA IF NOT EXISTS {}",
            notify::quote_ident(schema)
        ))
        .await
        .map_err(pg_error)?;
    }
    let connector = Connector::new(options);
    let mut setup = connector.connect("setup").await?;
    // Without the server's "… already exists, skipping" notices of refinery's history table.
    setup.batch_execute("SET client_min_messages = warning").await.map_err(pg_error)?;
    let applied = schema::migrate(&mut setup).await?;
    if !applied.is_empty() {
        tracing::info!(target = %connector.target, migrations = ?applied, "postgres schema migrated");
    }
    Ok(connector)
}

/// Group-commit counters, for operators and the benchmark.
#[derive(Debug, Default)]
pub(crate) struct CommitCounts {
    pub commits: AtomicU64,
    pub appends: AtomicU64,
}

struct Inner {
    pool: Pool,
    connector: Connector,
    sender: Mutex<Option<mpsc::Sender<writer::Request>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    listener: JoinHandle<()>,
    /// Taken on close: once the writer has stopped too, the watch ends and so do subscriptions.
    head_tx: Mutex<Option<Arc<watch::Sender<u64>>>>,
    head: watch::Receiver<u64>,
    counts: Arc<CommitCounts>,
    channel: String,
    /// How long reads wait out a lost connection, and for an answer.
    patience: outage::Patience,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.listener.abort();
    }
}

/// PostgreSQL event store. Cheap to clone; clones share one writer and one pool.
#[derive(Clone)]
pub struct PostgresStore {
    inner: Arc<Inner>,
}

impl PostgresStore {
    /// Connects, creates the schema if asked, runs the migrations, and starts the writer and
    /// the listener. Fails with a message naming the server when the database is unreachable.
    pub async fn open(options: PostgresOptions) -> Result<PostgresStore, StoreError> {
        let connector = prepare_schema(&options).await?;
        let setup = connector.connect("setup").await?;
        let row = setup
            .query_one("SELECT current_schema(), (SELECT position FROM convene_log WHERE id = 1)", &[])
            .await
            .map_err(pg_error)?;
        let schema_name: String = row.get(0);
        let position = row.get::<_, i64>(1) as u64;
        connector.report_tls(&setup).await;
        drop(setup);
        let channel = format!("convene_events:{schema_name}");
        let pool = connector.pool(options.pool_size, options.connect_timeout)?;

        let (head_tx, head) = watch::channel(position);
        let head_tx = Arc::new(head_tx);
        let counts = Arc::new(CommitCounts::default());
        let (tx, rx) = mpsc::channel(QUEUE);
        let patience = outage::Patience::of(&options);
        let w = writer::Writer::new(connector.clone(), head_tx.clone(), counts.clone(), channel.clone(), patience);
        let writer = tokio::spawn(w.run(rx));
        let listener = tokio::spawn(notify::listen(connector.clone(), channel.clone(), Arc::downgrade(&head_tx)));
        tracing::info!(target = %connector.target, position, pool = options.pool_size, "postgres event store open");
        Ok(PostgresStore {
            inner: Arc::new(Inner {
                pool,
                connector,
                sender: Mutex::new(Some(tx)),
                writer: Mutex::new(Some(writer)),
                listener,
                head_tx: Mutex::new(Some(head_tx)),
                head,
                counts,
                channel,
                patience,
            }),
        })
    }

    /// The rows `(after, until]` (at most `limit`) in `layout`; `None` if a packed row had no
    /// envelope. Read again from the start if the connection is lost part-way.
    async fn copy_page(
        &self,
        after: i64,
        until: i64,
        limit: i64,
        layout: Layout,
    ) -> Result<Option<EventPage>, StoreError> {
        outage::ride_out(self.inner.patience, "page read", || self.copy_page_once(after, until, limit, layout)).await
    }

    async fn copy_page_once(
        &self,
        after: i64,
        until: i64,
        limit: i64,
        layout: Layout,
    ) -> Result<Option<EventPage>, StoreError> {
        // COPY in binary format rather than a prepared SELECT: the tuples are parsed in place
        // from the received chunks, with no `Row` (and its per-row allocations) per event,
        // which measured ~20% less reader CPU and less CPU in total (BENCHMARKS.md). COPY
        // takes no parameters; the three numbers are integers formatted here.
        let sql = format!(
            "COPY (SELECT {} FROM convene_events WHERE position > {after} AND position <= {until} \
             ORDER BY position LIMIT {limit}) TO STDOUT (FORMAT binary)",
            layout.select()
        );
        let client = self.client_once().await?;
        let stream = client.copy_out(sql.as_str()).await.map_err(pg_error)?;
        futures_util::pin_mut!(stream);
        // The buffers grow if a page needs more.
        let fields = match layout {
            Layout::Packed | Layout::FoldColumns => PageFields::Fold,
            Layout::Verified => PageFields::All,
            Layout::Views => PageFields::Views,
        };
        let mut page = EventPageBuilder::for_page(limit as usize, fields);
        let mut decoder = CopyPageDecoder::new(layout);
        while let Some(chunk) = stream.try_next().await.map_err(pg_error)? {
            decoder.feed(&chunk, &mut page)?;
        }
        let unpacked = decoder.unpacked();
        if !decoder.wanted().is_empty() {
            // The few payloads a replay's page reads (workflow documents, rows without a
            // usable view), in one round trip.
            let positions: Vec<i64> = decoder.wanted().iter().map(|&(_, p)| p).collect();
            let st = client
                .prepare_cached("SELECT position, data FROM convene_events WHERE position = ANY($1)")
                .await
                .map_err(pg_error)?;
            let rows = client.query(&st, &[&positions]).await.map_err(pg_error)?;
            let payloads: std::collections::HashMap<i64, &str> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
            for &(row, position) in decoder.wanted() {
                let data = payloads
                    .get(&position)
                    .ok_or_else(|| crate::store::corrupt_event(position as u64, "row vanished"))?;
                page.fill_payload(row, data.as_bytes());
            }
        }
        decoder.finish()?;
        let page = page.finish().map_err(|e| StoreError::Backend(e.to_string()))?;
        Ok((!unpacked).then_some(page))
    }

    /// Where the store is (`user@host:port/db (schema s)`), without the password.
    pub fn target(&self) -> &str {
        &self.inner.connector.target
    }

    /// A pooled connection, waiting out an outage (nothing is sent before it is had).
    async fn client(&self) -> Result<deadpool_postgres::Client, StoreError> {
        outage::ride_out(self.inner.patience, "connection", || self.client_once()).await
    }

    /// A pooled connection or the reason there is none, for work that rides out outages as a whole.
    async fn client_once(&self) -> Result<deadpool_postgres::Client, StoreError> {
        self.inner.pool.get().await.map_err(|e| self.inner.connector.pool_error(e))
    }

    /// A read, tried again on a new connection if the one it ran on was lost.
    async fn query(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Vec<tokio_postgres::Row>, StoreError> {
        outage::ride_out(self.inner.patience, "read", || async {
            let client = self.client_once().await?;
            let st = client.prepare_cached(sql).await.map_err(pg_error)?;
            client.query(&st, params).await.map_err(pg_error)
        })
        .await
    }
}

/// PostgreSQL `text` cannot hold NUL; refuse it here so one bad append cannot fail a batch.
fn check_text(stream: &str, events: &[NewEvent]) -> Result<(), StoreError> {
    for e in events {
        let a = &e.actor;
        let fields = [
            e.event_type.as_str(),
            &a.id,
            &a.role,
            a.name.as_deref().unwrap_or(""),
            a.community.as_deref().unwrap_or(""),
        ];
        if fields.iter().any(|f| f.contains('\0')) {
            return Err(StoreError::Invalid(format!(
                "event {} for {stream} has a NUL character in its envelope",
                e.id
            )));
        }
    }
    Ok(())
}

#[async_trait]
impl EventStore for PostgresStore {
    async fn append(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<AppendOutcome, StoreError> {
        validate_append(stream, &events)?;
        check_text(stream, &events)?;
        let (reply, rx) = oneshot::channel();
        let req = writer::Request { stream: stream.to_string(), expected, events, reply };
        let sender = {
            let guard = self.inner.sender.lock().map_err(|_| poisoned())?;
            guard.as_ref().ok_or(StoreError::Closed)?.clone()
        };
        sender.send(req).await.map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    async fn read_stream(
        &self,
        stream: &str,
        from: u64,
        direction: Direction,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let from = from.min(i64::MAX as u64) as i64;
        let limit = limit.min(1_000_000) as i64;
        let sql = match direction {
            Direction::Forward => format!(
                "SELECT {COLUMNS} FROM convene_events WHERE stream = $1 AND version >= $2 ORDER BY version ASC LIMIT $3"
            ),
            Direction::Backward => format!(
                "SELECT {COLUMNS} FROM convene_events WHERE stream = $1 AND version <= $2 ORDER BY version DESC LIMIT $3"
            ),
        };
        let rows = self.query(&sql, &[&stream, &from, &limit]).await?;
        rows.iter().map(row_to_event).collect()
    }

    async fn read_all(&self, after: u64, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        let after = after.min(i64::MAX as u64) as i64;
        let limit = limit.min(1_000_000) as i64;
        let sql = format!("SELECT {COLUMNS} FROM convene_events WHERE position > $1 ORDER BY position ASC LIMIT $2");
        let rows = self.query(&sql, &[&after, &limit]).await?;
        rows.iter().map(row_to_event).collect()
    }

    async fn read_all_page(&self, after: u64, limit: usize, fields: PageFields) -> Result<EventPage, StoreError> {
        let after = after.min(i64::MAX as u64) as i64;
        let limit = limit.min(1_000_000) as i64;
        // Positions are gap-free (see the module comment), so the page is exactly the range
        // (after, after + limit]: an index range scan, whichever reader asks for which page.
        let until = after.saturating_add(limit);
        let layout = Layout::of(fields);
        match self.copy_page(after, until, limit, layout).await? {
            Some(page) => Ok(page),
            // A row an older `convene` wrote without its envelope: this page as columns.
            None => self
                .copy_page(after, until, limit, Layout::FoldColumns)
                .await?
                .ok_or_else(|| StoreError::Backend("a page read as columns came back incomplete".into())),
        }
    }

    async fn stream_version(&self, stream: &str) -> Result<Option<u64>, StoreError> {
        let rows = self.query("SELECT max(version) FROM convene_events WHERE stream = $1", &[&stream]).await?;
        Ok(rows.first().and_then(|r| r.get::<_, Option<i64>>(0)).map(|v| v as u64))
    }

    async fn read_event(&self, id: Uuid) -> Result<Option<RecordedEvent>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM convene_events WHERE id = $1");
        let rows = self.query(&sql, &[&id]).await?;
        rows.first().map(row_to_event).transpose()
    }

    async fn list_streams(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let rows = self
            .query(
                "SELECT stream FROM convene_events WHERE version = 0 AND starts_with(stream, $1) ORDER BY position",
                &[&prefix],
            )
            .await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    fn head(&self) -> watch::Receiver<u64> {
        self.inner.head.clone()
    }

    async fn close(&self) {
        // Dropping the sender lets the writer commit what is queued and stop.
        if let Ok(mut s) = self.inner.sender.lock() {
            s.take();
        }
        let handle = self.inner.writer.lock().ok().and_then(|mut h| h.take());
        if let Some(h) = handle {
            let _ = h.await;
        }
        self.inner.listener.abort();
        self.inner.pool.close();
        // With the writer stopped, this was the last sender: subscriptions end with `Closed`.
        if let Ok(mut h) = self.inner.head_tx.lock() {
            h.take();
        }
    }

    fn backend(&self) -> &'static str {
        "postgres"
    }

    fn commit_counts(&self) -> Option<(u64, u64)> {
        let c = &self.inner.counts;
        Some((c.commits.load(Ordering::Relaxed), c.appends.load(Ordering::Relaxed)))
    }

    async fn import(&self, events: Vec<RecordedEvent>) -> Result<u64, StoreError> {
        let mut client = self.client().await?;
        let last = import::import(&mut client, &events, &self.inner.channel).await?;
        if let Some(h) = self.inner.head_tx.lock().map_err(|_| poisoned())?.as_ref() {
            notify::bump(h, last);
        }
        Ok(last)
    }
}

fn poisoned() -> StoreError {
    StoreError::Backend("a store lock was poisoned by a panic".into())
}
