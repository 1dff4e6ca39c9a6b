//! Per-person keys, kept in the [`Secrets`] of the store (the vault `secrets.db` beside an
//! embedded log; PostgreSQL tables beside a PostgreSQL log, shared by every instance).
//! Erasing a person deletes their key so that it cannot be recovered from the backend's files
//! (the vault zeroes the row and VACUUMs; PostgreSQL deletes the row and rewrites the table
//! with VACUUM FULL), so nothing it sealed can be read again. No key is cached in memory: an
//! erasure made by the CLI or another instance takes effect in a running server at its next
//! read.

use super::sealed::KEY_LEN;
use crate::secrets::{Secrets, SecretsError};
use crate::vault::random_bytes;
use std::collections::HashMap;
use std::sync::Arc;

/// Why a key could not be read, made or erased (the command fails; nothing is written).
pub type KeyError = SecretsError;

/// The keyring of personal data.
#[derive(Clone)]
pub struct PersonKeys {
    secrets: Arc<dyn Secrets>,
}

fn as_key(person: &str, bytes: Vec<u8>) -> Result<[u8; KEY_LEN], KeyError> {
    bytes.try_into().map_err(|_| SecretsError::Malformed(person.to_string()))
}

impl PersonKeys {
    /// The keyring in `secrets` (a [`crate::vault::Vault`], a [`crate::store::PgSecrets`], or
    /// an `Arc<dyn Secrets>`).
    pub fn new(secrets: impl Into<Arc<dyn Secrets>>) -> PersonKeys {
        PersonKeys { secrets: secrets.into() }
    }

    /// Where the keys (and the tokens beside them) are kept.
    pub fn secrets(&self) -> &Arc<dyn Secrets> {
        &self.secrets
    }

    /// The person's key, made on first use.
    pub async fn key_or_create(&self, person: &str) -> Result<[u8; KEY_LEN], KeyError> {
        let fresh = random_bytes()?;
        as_key(person, self.secrets.key_or_insert(person, &fresh).await?)
    }

    /// The person's key, if they have one (None: never sealed for, or erased).
    pub async fn get(&self, person: &str) -> Result<Option<[u8; KEY_LEN]>, KeyError> {
        Ok(self.keys_of([person.to_string()]).await?.remove(person))
    }

    /// The keys of these persons that exist (one lookup for all of them).
    pub async fn keys_of(
        &self,
        persons: impl IntoIterator<Item = String>,
    ) -> Result<HashMap<String, [u8; KEY_LEN]>, KeyError> {
        let persons: Vec<String> = persons.into_iter().collect();
        let mut out = HashMap::with_capacity(persons.len());
        for (p, bytes) in self.secrets.keys(&persons).await? {
            let k = as_key(&p, bytes)?;
            out.insert(p, k);
        }
        Ok(out)
    }

    /// Erases the person's key; false if there was none. Afterwards every value sealed for
    /// them reads as erased, everywhere.
    pub async fn erase(&self, person: &str) -> Result<bool, KeyError> {
        self.secrets.erase_key(person).await
    }

    /// How many persons have a key.
    pub async fn count(&self) -> Result<u64, KeyError> {
        Ok(self.secrets.all_keys().await?.len() as u64)
    }
}
