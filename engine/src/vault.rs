//! The secrets file: a small SQLite database beside the event log (`secrets.db`, mode 0600)
//! for what must never enter the immutable log and must be really deletable: API token
//! hashes and per-person keys (`privacy`).
//!
//! `secure_delete` makes SQLite overwrite deleted content with zeros, and the rollback journal
//! (not WAL) leaves no second copy behind once a transaction ends, so a deleted row cannot be
//! found by a byte search of the data directory afterwards.

use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Why the secrets file could not be used (the caller reports it and stops; nothing half-done).
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("secrets file {path}: {message}")]
    Open { path: PathBuf, message: String },
    #[error("secrets database error: {0}")]
    Db(#[from] rusqlite::Error),
    #[error("poisoned lock on the secrets database")]
    Poisoned,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS tokens (
    id         TEXT PRIMARY KEY,
    hash       BLOB NOT NULL UNIQUE,
    role       TEXT NOT NULL,
    scope      TEXT NOT NULL,
    name       TEXT,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);
CREATE TABLE IF NOT EXISTS person_keys (
    person_id  TEXT PRIMARY KEY,
    key        BLOB NOT NULL,
    created_at TEXT NOT NULL
);
";

/// A shared connection to `secrets.db`. Cheap to clone.
#[derive(Clone)]
pub struct Vault {
    conn: Arc<Mutex<Connection>>,
    path: PathBuf,
}

impl Vault {
    /// Opens (or creates) `<dir>/secrets.db` with owner-only permissions.
    pub fn open_in(dir: &Path) -> Result<Vault, VaultError> {
        let path = dir.join("secrets.db");
        let err = |m: String| VaultError::Open { path: path.clone(), message: m };
        std::fs::create_dir_all(dir).map_err(|e| err(e.to_string()))?;
        let conn = Connection::open(&path).map_err(|e| err(e.to_string()))?;
        restrict_permissions(&path).map_err(|e| err(e.to_string()))?;
        conn.pragma_update(None, "journal_mode", "DELETE")?;
        conn.pragma_update(None, "secure_delete", "ON")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch(SCHEMA)?;
        Ok(Vault { conn: Arc::new(Mutex::new(conn)), path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` on the connection (short statements only: callers hold the lock).
    pub fn with<T>(&self, f: impl FnOnce(&Connection) -> Result<T, rusqlite::Error>) -> Result<T, VaultError> {
        let conn = self.conn.lock().map_err(|_| VaultError::Poisoned)?;
        Ok(f(&conn)?)
    }
}

/// Owner read/write only (0600) on Unix; elsewhere the platform's defaults apply.
pub fn restrict_permissions(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// 32 bytes from the operating system's CSPRNG.
pub fn random_bytes() -> Result<[u8; 32], VaultError> {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b)
        .map_err(|e| VaultError::Open { path: PathBuf::from("<os random>"), message: e.to_string() })?;
    Ok(b)
}
