//! Per-person keys and API token hashes in the PostgreSQL database of the log (tables
//! `convene_person_keys` and `convene_tokens` in the same schema, created by the migrations),
//! so every instance on the database shares them without sharing a data directory.
//!
//! **Erasure leaves no recoverable key bytes in the table's files.** A `DELETE` only marks the
//! row dead: its bytes stay in the heap page until the space is reused, and a plain `VACUUM`
//! only makes the space reusable — it does not overwrite it. `VACUUM FULL` writes a new copy
//! of the table (and its indexes) holding only the live rows and unlinks the old files, so the
//! deleted key is in none of the table's files afterwards. The table is small (32 bytes of key
//! per person), so the rewrite is quick; it holds an exclusive lock on that table only while
//! it runs (reads of keys wait for it, appends to the log do not). What PostgreSQL keeps
//! outside the table is the operator's to manage: WAL segments (recycled after checkpoints;
//! an archive or a base backup keeps them as long as it is retained) and the blocks the old
//! file occupied on disk until the file system reuses them.

use super::outage::{Patience, ride_out};
use super::{Connector, PostgresOptions, describe_pg_error, pg_error, prepare_schema};
use crate::secrets::{Secrets, SecretsError, TokenRow};
use crate::store::StoreError;
use async_trait::async_trait;
use deadpool_postgres::Pool;

fn pg(e: tokio_postgres::Error) -> SecretsError {
    // A lost connection or a full disk keeps its kind, so the API answers 503 or 507 (retry)
    // rather than 500; anything else is described as PostgreSQL said it.
    let described = describe_pg_error(&e);
    match pg_error(e) {
        e @ (StoreError::Unavailable { .. } | StoreError::StorageFull(_)) => SecretsError::Store(e),
        _ => SecretsError::Postgres(described),
    }
}

/// The secrets of a PostgreSQL log. Cheap to clone (a small pool of its own).
#[derive(Clone)]
pub struct PgSecrets {
    pool: Pool,
    connector: Connector,
    patience: Patience,
}

impl PgSecrets {
    /// Connects to the database (and schema) of `options`, creating and migrating the schema
    /// if needed (the same migrations as the store's).
    pub async fn open(options: &PostgresOptions) -> Result<PgSecrets, SecretsError> {
        let connector: Connector = prepare_schema(options).await?;
        let pool = connector.pool(2, options.connect_timeout)?;
        Ok(PgSecrets { pool, connector, patience: Patience::of(options) })
    }

    /// A pooled connection, waiting out an outage as the store does.
    async fn client(&self) -> Result<deadpool_postgres::Client, SecretsError> {
        ride_out(self.patience, "secrets connection", || self.client_once()).await
    }

    async fn client_once(&self) -> Result<deadpool_postgres::Client, SecretsError> {
        self.pool.get().await.map_err(|e| SecretsError::Store(self.connector.pool_error(e)))
    }

    /// Runs `op` on a connection, again on a new one if the connection is lost, for up to
    /// the outage wait. Only for work whose second run answers as the first would have
    /// (reads, and `key_or_insert`); a token inserted or revoked twice would answer "taken".
    async fn retrying<T, F, Fut>(&self, what: &str, op: F) -> Result<T, SecretsError>
    where
        F: Fn(deadpool_postgres::Client) -> Fut,
        Fut: std::future::Future<Output = Result<T, SecretsError>>,
    {
        ride_out(self.patience, what, || async { op(self.client_once().await?).await }).await
    }
}

fn token_row(r: &tokio_postgres::Row) -> TokenRow {
    let h: Vec<u8> = r.get(1);
    let mut hash = [0u8; 32];
    if h.len() == 32 {
        hash.copy_from_slice(&h);
    }
    TokenRow {
        id: r.get(0),
        hash,
        role: r.get(2),
        scope: r.get(3),
        name: r.get(4),
        created_at: r.get(5),
        revoked_at: r.get(6),
    }
}

#[async_trait]
impl Secrets for PgSecrets {
    fn describe(&self) -> String {
        format!("PostgreSQL {}", self.connector.target())
    }

    async fn key_or_insert(&self, person: &str, fresh: &[u8; 32]) -> Result<Vec<u8>, SecretsError> {
        // Safe to run twice: the second insert finds the first one's key and returns it.
        self.retrying("person key", |c| async move {
            // One statement: the insert when absent, else the stored key (a racing insert by
            // another instance is seen by the SELECT after the conflict).
            c.execute(
                "INSERT INTO convene_person_keys (person_id, key) VALUES ($1, $2) ON CONFLICT (person_id) DO NOTHING",
                &[&person, &fresh.as_slice()],
            )
            .await
            .map_err(pg)?;
            let row = c
                .query_opt("SELECT key FROM convene_person_keys WHERE person_id = $1", &[&person])
                .await
                .map_err(pg)?;
            // An erasure between the two statements: the key made now is gone too.
            row.map(|r| r.get(0))
                .ok_or_else(|| SecretsError::Postgres(format!("the key of {person} was erased just now")))
        })
        .await
    }

    async fn keys(&self, persons: &[String]) -> Result<Vec<(String, Vec<u8>)>, SecretsError> {
        if persons.is_empty() {
            return Ok(vec![]);
        }
        self.retrying("person keys", |c| async move {
            let rows = c
                .query("SELECT person_id, key FROM convene_person_keys WHERE person_id = ANY($1)", &[&persons])
                .await
                .map_err(pg)?;
            Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
        })
        .await
    }

    async fn erase_key(&self, person: &str) -> Result<bool, SecretsError> {
        let c = self.client().await?;
        let n = c.execute("DELETE FROM convene_person_keys WHERE person_id = $1", &[&person]).await.map_err(pg)?;
        // See the module comment: DELETE leaves the row's bytes in the page and VACUUM would
        // only mark them reusable; VACUUM FULL rewrites the table without them. (It cannot
        // run in a transaction block, hence its own statement.)
        c.batch_execute("VACUUM FULL convene_person_keys").await.map_err(pg)?;
        Ok(n > 0)
    }

    async fn all_keys(&self) -> Result<Vec<(String, Vec<u8>)>, SecretsError> {
        self.retrying("person keys", |c| async move {
            let rows =
                c.query("SELECT person_id, key FROM convene_person_keys ORDER BY person_id", &[]).await.map_err(pg)?;
            Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
        })
        .await
    }

    async fn insert_token(&self, t: &TokenRow) -> Result<bool, SecretsError> {
        let c = self.client().await?;
        let n = c
            .execute(
                "INSERT INTO convene_tokens (id, hash, role, scope, name, created_at, revoked_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING",
                &[&t.id, &t.hash.as_slice(), &t.role, &t.scope, &t.name, &t.created_at, &t.revoked_at],
            )
            .await
            .map_err(pg)?;
        Ok(n > 0)
    }

    async fn revoke_token(&self, id: &str, at: &str) -> Result<bool, SecretsError> {
        let c = self.client().await?;
        let n = c
            .execute("UPDATE convene_tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL", &[&id, &at])
            .await
            .map_err(pg)?;
        Ok(n > 0)
    }

    async fn tokens(&self) -> Result<Vec<TokenRow>, SecretsError> {
        self.retrying("tokens", |c| async move {
            let rows = c
                .query(
                    "SELECT id, hash, role, scope, name, created_at, revoked_at FROM convene_tokens \
                     ORDER BY created_at, id",
                    &[],
                )
                .await
                .map_err(pg)?;
            Ok(rows.iter().map(token_row).collect())
        })
        .await
    }
}
