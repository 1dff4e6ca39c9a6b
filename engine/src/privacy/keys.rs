//! Per-person keys in the vault (`secrets.db` beside the log, whichever store holds the log).
//! Erasing a person deletes their key; `secure_delete` zeroes the row's bytes and a VACUUM
//! rewrites the file, so neither the key nor anything it sealed can be recovered from the data
//! directory afterwards. No key is cached in memory: an erasure made by the CLI takes effect
//! in a running server at its next read.

use super::sealed::KEY_LEN;
use crate::vault::{Vault, VaultError, random_bytes};
use rusqlite::OptionalExtension;

/// Why a key could not be read, made or erased (the command fails; nothing is written).
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(transparent)]
    Vault(#[from] VaultError),
    #[error("stored key of {0} is malformed")]
    Malformed(String),
}

/// The keyring of personal data.
#[derive(Clone)]
pub struct PersonKeys {
    vault: Vault,
}

fn as_key(person: &str, bytes: Vec<u8>) -> Result<[u8; KEY_LEN], KeyError> {
    bytes.try_into().map_err(|_| KeyError::Malformed(person.to_string()))
}

impl PersonKeys {
    pub fn new(vault: Vault) -> PersonKeys {
        PersonKeys { vault }
    }

    /// The person's key, made on first use.
    pub fn key_or_create(&self, person: &str) -> Result<[u8; KEY_LEN], KeyError> {
        let fresh = random_bytes()?;
        let now = chrono::Utc::now().to_rfc3339();
        let bytes = self.vault.with(|c| {
            c.execute(
                "INSERT OR IGNORE INTO person_keys (person_id, key, created_at) VALUES (?1, ?2, ?3)",
                rusqlite::params![person, fresh.as_slice(), now],
            )?;
            c.query_row("SELECT key FROM person_keys WHERE person_id = ?1", [person], |r| r.get::<_, Vec<u8>>(0))
        })?;
        as_key(person, bytes)
    }

    /// The person's key, if they have one (None: never sealed for, or erased).
    pub fn get(&self, person: &str) -> Result<Option<[u8; KEY_LEN]>, KeyError> {
        let bytes = self.vault.with(|c| {
            c.query_row("SELECT key FROM person_keys WHERE person_id = ?1", [person], |r| r.get::<_, Vec<u8>>(0))
                .optional()
        })?;
        bytes.map(|b| as_key(person, b)).transpose()
    }

    /// Erases the person's key; false if there was none. Afterwards every value sealed for
    /// them reads as erased, everywhere.
    pub fn erase(&self, person: &str) -> Result<bool, KeyError> {
        let deleted = self.vault.with(|c| c.execute("DELETE FROM person_keys WHERE person_id = ?1", [person]))?;
        // secure_delete has zeroed the row; VACUUM also rewrites the file without free pages.
        self.vault.with(|c| c.execute_batch("VACUUM"))?;
        Ok(deleted > 0)
    }

    /// How many persons have a key.
    pub fn count(&self) -> Result<u64, KeyError> {
        Ok(self.vault.with(|c| c.query_row("SELECT count(*) FROM person_keys", [], |r| r.get::<_, i64>(0)))? as u64)
    }
}
