//! Leases for the PostgreSQL store: a session-level advisory lock (`pg_try_advisory_lock`) held
//! on a connection opened for that lease alone. The lock lives exactly as long as the session:
//! when the holder process dies the kernel closes its socket, the server ends the session and
//! frees the lock, and the next `try_acquire` of another process succeeds. The key is derived
//! from the store's schema and the lease name, so stores in different schemas do not collide.

use super::{Lease, LeaseError, LeaseProvider};
use crate::store::postgres::{Connector, describe_pg_error};
use crate::store::{PostgresOptions, StoreError};
use async_trait::async_trait;
use sha2::{Digest, Sha256};
use std::time::Duration;
use tokio_postgres::Client;

/// A holder that cannot confirm its session within this long treats the lease as lost.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

pub struct PgLeases {
    connector: Connector,
    namespace: String,
    /// The connection a waiting process tries with, kept between tries (it becomes the lease's
    /// session when a try succeeds).
    spare: tokio::sync::Mutex<Option<Client>>,
}

impl PgLeases {
    /// Leases on the database (and schema) of `options`.
    pub fn new(options: &PostgresOptions) -> PgLeases {
        let namespace = options.schema.clone().unwrap_or_else(|| "public".into());
        PgLeases { connector: Connector::for_options(options), namespace, spare: tokio::sync::Mutex::new(None) }
    }

    /// The advisory-lock key of a lease.
    fn key(&self, name: &str) -> i64 {
        let d = Sha256::digest(format!("convene-lease\0{}\0{name}", self.namespace).as_bytes());
        i64::from_be_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]])
    }
}

struct PgLease {
    client: Client,
}

#[async_trait]
impl Lease for PgLease {
    async fn still_held(&mut self) -> bool {
        if self.client.is_closed() {
            return false;
        }
        matches!(tokio::time::timeout(CHECK_TIMEOUT, self.client.simple_query("SELECT 1")).await, Ok(Ok(_)))
    }
}

#[async_trait]
impl LeaseProvider for PgLeases {
    async fn try_acquire(&self, name: &str) -> Result<Option<Box<dyn Lease>>, LeaseError> {
        let unavailable = |e: StoreError| LeaseError::Unavailable(e.to_string());
        let mut spare = self.spare.lock().await;
        let client = match spare.take() {
            Some(c) if !c.is_closed() => c,
            _ => self.connector.connect("lease").await.map_err(unavailable)?,
        };
        let got: bool = client
            .query_one("SELECT pg_try_advisory_lock($1)", &[&self.key(name)])
            .await
            .map_err(|e| LeaseError::Unavailable(describe_pg_error(&e)))?
            .get(0);
        if got {
            Ok(Some(Box::new(PgLease { client })))
        } else {
            // Holding nothing; kept for the next try.
            *spare = Some(client);
            Ok(None)
        }
    }

    fn kind(&self) -> &'static str {
        "postgres"
    }
}
