//! Secrets kept outside the immutable log, where they can be really deleted: the per-person
//! keys that seal personal data (`privacy`) and the API token hashes (`auth`).
//!
//! [`Secrets`] is the small trait both use. Two backends implement it:
//! - the vault (`<data>/secrets.db`, [`crate::vault`]) beside an embedded (or KurrentDB) log;
//! - PostgreSQL tables (`convene_person_keys`, `convene_tokens`) in the same schema as a
//!   PostgreSQL log ([`crate::store::PgSecrets`]), created by the store's migrations — so any
//!   number of `convene serve` instances on one database share keys and tokens without
//!   sharing a data directory, and an erasure or a revocation made through one instance holds
//!   for all of them at their next read.
//!
//! [`open`] picks the backend that goes with a store URL.

use crate::store::{PgSecrets, StoreUrl};
use crate::vault::{Vault, VaultError};
use async_trait::async_trait;
use std::path::Path;
use std::sync::Arc;

/// Why a secret could not be read, stored or erased (the command fails; nothing half-done).
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error(transparent)]
    Vault(#[from] VaultError),
    #[error("secrets in PostgreSQL: {0}")]
    Postgres(String),
    /// The PostgreSQL database of the secrets cannot be reached or set up (the message says
    /// why: unreachable, TLS refused, migrations).
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("stored key of {0} is malformed")]
    Malformed(String),
}

impl SecretsError {
    /// Did this fail because the disk is full (`secrets.db` could not grow, or the
    /// PostgreSQL server's disk is full)? Then nothing was stored, and retrying after the
    /// operator frees space succeeds, as with [`StoreError::StorageFull`](crate::store::StoreError).
    pub fn is_storage_full(&self) -> bool {
        match self {
            SecretsError::Vault(VaultError::Db(rusqlite::Error::SqliteFailure(f, _))) => {
                f.code == rusqlite::ErrorCode::DiskFull
            }
            SecretsError::Store(crate::store::StoreError::StorageFull(_)) => true,
            _ => false,
        }
    }

    /// Did this fail because the database of the secrets cannot be reached right now (see
    /// [`StoreError::Unavailable`](crate::store::StoreError::Unavailable))? Then the same
    /// request succeeds once it answers again.
    pub fn is_unavailable(&self) -> bool {
        match self {
            SecretsError::Vault(VaultError::Db(rusqlite::Error::SqliteFailure(f, _))) => {
                matches!(f.code, rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
            }
            SecretsError::Store(e) => e.is_unavailable(),
            _ => false,
        }
    }
}

impl From<rusqlite::Error> for SecretsError {
    fn from(e: rusqlite::Error) -> Self {
        SecretsError::Vault(VaultError::Db(e))
    }
}

/// One API token as stored: the SHA-256 of its secret, never the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRow {
    pub id: String,
    pub hash: [u8; 32],
    pub role: String,
    pub scope: String,
    pub name: Option<String>,
    pub created_at: String,
    pub revoked_at: Option<String>,
}

/// Where per-person keys and token hashes are kept. Every method is one short statement (or
/// transaction) against the backend; nothing is cached here.
#[async_trait]
pub trait Secrets: Send + Sync {
    /// Where the secrets are (for messages; no password).
    fn describe(&self) -> String;

    /// The person's key: the one stored, else `fresh`, stored now (two processes racing
    /// agree on whichever was stored first).
    async fn key_or_insert(&self, person: &str, fresh: &[u8; 32]) -> Result<Vec<u8>, SecretsError>;

    /// The stored keys of these persons (the erased and the unknown are simply absent).
    async fn keys(&self, persons: &[String]) -> Result<Vec<(String, Vec<u8>)>, SecretsError>;

    /// Deletes the person's key so that no copy of it can be recovered from the backend's
    /// files; false if there was none.
    async fn erase_key(&self, person: &str) -> Result<bool, SecretsError>;

    /// Every stored key (to copy the keyring with `convene migrate`).
    async fn all_keys(&self) -> Result<Vec<(String, Vec<u8>)>, SecretsError>;

    /// Stores a token unless one with its id exists; false if it did.
    async fn insert_token(&self, t: &TokenRow) -> Result<bool, SecretsError>;

    /// Marks a token revoked at `at`; false if there is no active token with this id.
    async fn revoke_token(&self, id: &str, at: &str) -> Result<bool, SecretsError>;

    /// Every token, revoked ones included, in creation order.
    async fn tokens(&self) -> Result<Vec<TokenRow>, SecretsError>;
}

impl From<Vault> for Arc<dyn Secrets> {
    fn from(v: Vault) -> Self {
        Arc::new(v)
    }
}

impl From<PgSecrets> for Arc<dyn Secrets> {
    fn from(p: PgSecrets) -> Self {
        Arc::new(p)
    }
}

/// The secrets that go with a store: PostgreSQL tables in the log's schema for a PostgreSQL
/// log, the vault in the data directory `data` otherwise. A PostgreSQL log whose data
/// directory still holds a `secrets.db` from before (tokens and keys were kept there) gets them
/// moved in once ([`adopt_vault`]).
pub async fn open(url: &StoreUrl, data: &Path) -> Result<Arc<dyn Secrets>, SecretsError> {
    match url {
        StoreUrl::Postgres(o) => {
            let pg = PgSecrets::open(o).await?;
            adopt_vault(data, &pg).await?;
            Ok(Arc::new(pg))
        }
        StoreUrl::Sqlite(_) | StoreUrl::KurrentDb(_) => Ok(Arc::new(Vault::open_in(data)?)),
    }
}

/// Moves the keys and tokens of `<data>/secrets.db` into `to` (a PostgreSQL log's secrets), then
/// erases them from the file, so the database holds the only copy and an erasure there is
/// complete. Leaves a directory that is an embedded store's (its `secrets.db` belongs to that
/// log; `convene migrate` copies those) and anything that conflicts (reported) alone. Every step
/// is idempotent: instances starting together on a shared directory move the same rows.
pub async fn adopt_vault(data: &Path, to: &dyn Secrets) -> Result<Copied, SecretsError> {
    let file = data.join("secrets.db");
    if !file.exists() || data.join("convene.db").exists() {
        return Ok(Copied::default());
    }
    let vault = Vault::open_in(data)?;
    let copied = copy(&vault, to).await?;
    if copied.keys + copied.tokens == 0 && vault.all_keys().await?.is_empty() && vault.tokens().await?.is_empty() {
        return Ok(copied);
    }
    if !copied.conflicts.is_empty() {
        tracing::warn!(file = %file.display(), persons = ?copied.conflicts,
            "secrets.db holds other keys than PostgreSQL for these persons; left in the file");
        return Ok(copied);
    }
    vault.with(|c| c.execute_batch("DELETE FROM person_keys; DELETE FROM tokens;"))?;
    vault.with(|c| c.execute_batch("VACUUM"))?;
    tracing::info!(file = %file.display(), to = %to.describe(), keys = copied.keys, tokens = copied.tokens,
        "moved the person keys and tokens of the data directory into PostgreSQL");
    Ok(copied)
}

/// What [`copy`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Copied {
    pub keys: usize,
    pub tokens: usize,
    /// Persons whose key at the target differs from the source's (left as they are).
    pub conflicts: Vec<String>,
}

/// Copies every person key and token from `from` to `to`, keeping what `to` has already (a
/// resumed or repeated copy changes nothing). `convene migrate` runs it with the log, so the
/// copied log's sealed values stay readable on the target.
pub async fn copy(from: &dyn Secrets, to: &dyn Secrets) -> Result<Copied, SecretsError> {
    let mut out = Copied::default();
    for (person, key) in from.all_keys().await? {
        let fresh: [u8; 32] = key.as_slice().try_into().map_err(|_| SecretsError::Malformed(person.clone()))?;
        let stored = to.key_or_insert(&person, &fresh).await?;
        if stored == key {
            out.keys += 1;
        } else {
            out.conflicts.push(person);
        }
    }
    for t in from.tokens().await? {
        if to.insert_token(&t).await? {
            out.tokens += 1;
        }
    }
    Ok(out)
}
