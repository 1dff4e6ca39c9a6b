//! Opening a store by URL (`--database-url`, `CONVENE_DATABASE_URL`, `convene migrate`).
//!
//! | form | backend |
//! |---|---|
//! | `postgres://user:pw@host:5432/db[?schema=NAME&sslmode=verify-full&sslrootcert=/ca.pem&…]`, `postgresql://…` | PostgreSQL (TLS: `postgres/tls.rs`) |
//! | `sqlite:///absolute/dir`, `sqlite://relative/dir`, or a plain directory path | embedded SQLite (`<dir>/convene.db`) |
//! | `kurrentdb://host:2113?tls=false`, `esdb://…` | KurrentDB (built with `--features kurrentdb`) |

use super::{EventStore, PostgresOptions, PostgresStore, SqliteOptions, SqliteStore, StoreError};
use std::path::PathBuf;
use std::sync::Arc;

/// Settings that apply to whichever backend the URL names.
#[derive(Debug, Clone, Default)]
pub struct OpenOptions {
    /// Read-pool connections (PostgreSQL). `None`: the backend's default.
    pub pool_size: Option<usize>,
    /// How long an append waits for a lost database connection to come back (PostgreSQL).
    /// `None`: the backend's default.
    pub outage_wait: Option<std::time::Duration>,
    /// How long a read or a group commit waits for the database's answer before taking its
    /// connection for lost (PostgreSQL). `None`: the backend's default.
    pub answer_timeout: Option<std::time::Duration>,
    /// The process runs for long (the server): the embedded store zero-fills its write-ahead
    /// log at open ([`SqliteOptions::preallocate_wal`]). Other backends ignore it.
    pub long_lived: bool,
}

/// A parsed store URL.
#[derive(Debug, Clone)]
pub enum StoreUrl {
    /// The embedded store in this directory.
    Sqlite(PathBuf),
    Postgres(Box<PostgresOptions>),
    /// A KurrentDB connection string (`esdb://` / `kurrentdb://` / `…+discover://`).
    KurrentDb(String),
}

impl StoreUrl {
    /// The URL with the outage wait and answer timeout of `options` (PostgreSQL; the others
    /// ignore them), for what opens from the URL alone as well as the store: its secrets.
    pub fn with_patience_of(self, options: &OpenOptions) -> StoreUrl {
        let StoreUrl::Postgres(o) = self else { return self };
        let mut o = *o;
        if let Some(w) = options.outage_wait {
            o = o.with_outage_wait(w);
        }
        if let Some(t) = options.answer_timeout {
            o = o.with_answer_timeout(t);
        }
        StoreUrl::Postgres(Box::new(o))
    }

    pub fn parse(url: &str) -> Result<StoreUrl, StoreError> {
        let lower = url.to_ascii_lowercase();
        if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
            return Ok(StoreUrl::Postgres(Box::new(PostgresOptions::from_url(url)?)));
        }
        if let Some(rest) = url.strip_prefix("sqlite://") {
            if rest.is_empty() {
                return Err(StoreError::Invalid("sqlite:// needs a directory, e.g. sqlite:///var/lib/convene".into()));
            }
            return Ok(StoreUrl::Sqlite(PathBuf::from(rest)));
        }
        if ["kurrentdb://", "kurrentdb+discover://", "esdb://", "esdb+discover://"].iter().any(|p| lower.starts_with(p))
        {
            return Ok(StoreUrl::KurrentDb(url.to_string()));
        }
        if let Some((scheme, _)) = url.split_once("://") {
            return Err(StoreError::Invalid(format!(
                "unknown store URL scheme {scheme:?}: use postgres://, sqlite://, kurrentdb:// or esdb://, or a directory path"
            )));
        }
        if url.is_empty() {
            return Err(StoreError::Invalid("empty store URL".into()));
        }
        Ok(StoreUrl::Sqlite(PathBuf::from(url)))
    }

    /// The URL for messages and logs (no password).
    pub fn describe(&self) -> String {
        match self {
            StoreUrl::Sqlite(p) => format!("sqlite://{}", p.display()),
            StoreUrl::Postgres(o) => format!("PostgreSQL {}", o.target()),
            StoreUrl::KurrentDb(u) => super::postgres::redact(u),
        }
    }
}

/// Opens the store a URL names (creating an embedded store's directory, migrating a
/// PostgreSQL schema).
pub async fn open(url: &str, options: &OpenOptions) -> Result<Arc<dyn EventStore>, StoreError> {
    open_parsed(StoreUrl::parse(url)?, options).await
}

/// [`open`] for a URL parsed already.
pub async fn open_parsed(url: StoreUrl, options: &OpenOptions) -> Result<Arc<dyn EventStore>, StoreError> {
    match url.with_patience_of(options) {
        StoreUrl::Sqlite(dir) => {
            let sqlite = SqliteOptions { preallocate_wal: options.long_lived, ..SqliteOptions::in_dir(&dir) };
            Ok(Arc::new(SqliteStore::open(sqlite)?))
        }
        StoreUrl::Postgres(o) => {
            let mut o = *o;
            if let Some(n) = options.pool_size {
                o = o.with_pool_size(n);
            }
            Ok(Arc::new(PostgresStore::open(o).await?))
        }
        #[cfg(feature = "kurrentdb")]
        StoreUrl::KurrentDb(u) => Ok(Arc::new(super::kurrentdb::KurrentStore::open(&u).await?)),
        #[cfg(not(feature = "kurrentdb"))]
        StoreUrl::KurrentDb(_) => Err(StoreError::Invalid(
            "this convene was built without the KurrentDB backend: rebuild with `--features convene-engine/kurrentdb`"
                .into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::StoreUrl;

    #[test]
    fn a_store_is_described_for_people_without_its_password() {
        let url = StoreUrl::parse("postgres://convene:s3cret@db.example:5433/city?schema=wuhan&sslmode=disable");
        let described = url.map(|u| u.describe()).unwrap_or_default();
        assert_eq!(described, "PostgreSQL convene@db.example:5433/city (schema wuhan)");
        let dir = StoreUrl::parse("/var/lib/convene").map(|u| u.describe()).unwrap_or_default();
        assert_eq!(dir, "sqlite:///var/lib/convene");
    }
}
