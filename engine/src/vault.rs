//! The secrets file: a small SQLite database beside the event log (`secrets.db`, mode 0600)
//! for what must never enter the immutable log and must be really deletable: API token
//! hashes and per-person keys (`privacy`). The [`crate::secrets::Secrets`] of an embedded (or
//! KurrentDB) log; a PostgreSQL log keeps them in its own database instead.
//!
//! `secure_delete` makes SQLite overwrite deleted content with zeros, and the rollback journal
//! (not WAL) leaves no second copy behind once a transaction ends, so a deleted row cannot be
//! found by a byte search of the data directory afterwards.

use crate::secrets::SecretsError;
use rusqlite::{Connection, OptionalExtension};
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

fn token_row(r: &rusqlite::Row<'_>) -> Result<crate::secrets::TokenRow, rusqlite::Error> {
    let h: Vec<u8> = r.get(1)?;
    let mut hash = [0u8; 32];
    if h.len() == 32 {
        hash.copy_from_slice(&h);
    }
    Ok(crate::secrets::TokenRow {
        id: r.get(0)?,
        hash,
        role: r.get(2)?,
        scope: r.get(3)?,
        name: r.get(4)?,
        created_at: r.get(5)?,
        revoked_at: r.get(6)?,
    })
}

/// The vault as the secrets of an embedded (or KurrentDB) log. Each call is one short
/// statement on the local file.
#[async_trait::async_trait]
impl crate::secrets::Secrets for Vault {
    fn describe(&self) -> String {
        self.path.display().to_string()
    }

    async fn key_or_insert(&self, person: &str, fresh: &[u8; 32]) -> Result<Vec<u8>, SecretsError> {
        let now = chrono::Utc::now().to_rfc3339();
        Ok(self.with(|c| {
            c.execute(
                "INSERT OR IGNORE INTO person_keys (person_id, key, created_at) VALUES (?1, ?2, ?3)",
                rusqlite::params![person, fresh.as_slice(), now],
            )?;
            c.query_row("SELECT key FROM person_keys WHERE person_id = ?1", [person], |r| r.get::<_, Vec<u8>>(0))
        })?)
    }

    async fn keys(&self, persons: &[String]) -> Result<Vec<(String, Vec<u8>)>, SecretsError> {
        Ok(self.with(|c| {
            let mut st = c.prepare_cached("SELECT key FROM person_keys WHERE person_id = ?1")?;
            let mut out = Vec::with_capacity(persons.len());
            for p in persons {
                if let Some(k) = st.query_row([p], |r| r.get::<_, Vec<u8>>(0)).optional()? {
                    out.push((p.clone(), k));
                }
            }
            Ok(out)
        })?)
    }

    async fn erase_key(&self, person: &str) -> Result<bool, SecretsError> {
        let deleted = self.with(|c| c.execute("DELETE FROM person_keys WHERE person_id = ?1", [person]))?;
        // secure_delete has zeroed the row; VACUUM also rewrites the file without free pages.
        self.with(|c| c.execute_batch("VACUUM"))?;
        Ok(deleted > 0)
    }

    async fn all_keys(&self) -> Result<Vec<(String, Vec<u8>)>, SecretsError> {
        Ok(self.with(|c| {
            let mut st = c.prepare("SELECT person_id, key FROM person_keys ORDER BY person_id")?;
            let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect()
        })?)
    }

    async fn insert_token(&self, t: &crate::secrets::TokenRow) -> Result<bool, SecretsError> {
        let n = self.with(|c| {
            c.execute(
                "INSERT OR IGNORE INTO tokens (id, hash, role, scope, name, created_at, revoked_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                rusqlite::params![t.id, t.hash.as_slice(), t.role, t.scope, t.name, t.created_at, t.revoked_at],
            )
        })?;
        Ok(n > 0)
    }

    async fn revoke_token(&self, id: &str, at: &str) -> Result<bool, SecretsError> {
        let n = self.with(|c| {
            c.execute(
                "UPDATE tokens SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
                rusqlite::params![id, at],
            )
        })?;
        Ok(n > 0)
    }

    async fn tokens(&self) -> Result<Vec<crate::secrets::TokenRow>, SecretsError> {
        Ok(self.with(|c| {
            let mut st = c.prepare(
                "SELECT id, hash, role, scope, name, created_at, revoked_at FROM tokens ORDER BY created_at, id",
            )?;
            let rows = st.query_map([], token_row)?;
            rows.collect()
        })?)
    }
}
