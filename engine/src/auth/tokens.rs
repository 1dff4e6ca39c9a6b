//! API tokens, kept in the secrets file (`secrets.db`), never in the event log.
//!
//! A token is 256 random bits (`cnv_` + 64 hex digits), shown once at creation. Only its
//! SHA-256 is stored: a fast hash is enough because the secret is random, not a password.
//! Resolution compares the presented token's hash with every stored hash in constant time
//! (`subtle`) and without stopping at a match, so timing reveals neither which token matched
//! nor how much of a hash agreed.

use super::Principal;
use crate::vault::{Vault, VaultError, random_bytes};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::sync::RwLock;
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq;

/// How long a server trusts its cached copy of the token table: a token created or revoked by
/// `convene token` in another process takes effect within this time.
const RELOAD_AFTER: Duration = Duration::from_secs(2);

const PREFIX: &str = "cnv_";

/// A token as listed (never with its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenInfo {
    pub id: String,
    pub role: String,
    pub scope: String,
    pub name: Option<String>,
    pub created_at: String,
    pub revoked_at: Option<String>,
}

/// Why a token could not be created (the caller fixes the input).
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("unknown role {0:?}")]
    UnknownRole(String),
    #[error("invalid scope {0:?}: a community code such as wuhan/wuchang/zhongnan-street, or *")]
    InvalidScope(String),
    #[error("no token {0}")]
    NotFound(String),
    #[error(transparent)]
    Vault(#[from] VaultError),
}

struct Cache {
    loaded: Option<Instant>,
    entries: Vec<([u8; 32], Principal)>,
}

/// The token table and a short-lived in-memory copy of it for request authentication.
pub struct TokenStore {
    vault: Vault,
    cache: RwLock<Cache>,
}

fn hash(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

impl TokenStore {
    pub fn new(vault: Vault) -> TokenStore {
        TokenStore { vault, cache: RwLock::new(Cache { loaded: None, entries: Vec::new() }) }
    }

    /// Creates a token; returns its description and the secret (shown once, stored nowhere).
    pub fn create(&self, role: &str, scope: &str, name: Option<&str>) -> Result<(TokenInfo, String), TokenError> {
        let role = super::normalize_role(role).ok_or_else(|| TokenError::UnknownRole(role.to_string()))?;
        let scope = scope.trim_end_matches('/');
        if !super::valid_scope(scope) {
            return Err(TokenError::InvalidScope(scope.to_string()));
        }
        let secret = format!("{PREFIX}{}", hex::encode(random_bytes()?));
        let id = format!("tok-{}", &hex::encode(random_bytes()?)[..12]);
        let created_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        self.vault.with(|c| {
            c.execute(
                "INSERT INTO tokens (id, hash, role, scope, name, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                rusqlite::params![id, hash(&secret).as_slice(), role, scope, name, created_at],
            )
        })?;
        self.invalidate();
        let info = TokenInfo {
            id,
            role: role.to_string(),
            scope: scope.to_string(),
            name: name.map(str::to_string),
            created_at,
            revoked_at: None,
        };
        Ok((info, secret))
    }

    /// Revokes a token: it stops working (within [`RELOAD_AFTER`] in other processes).
    pub fn revoke(&self, id: &str) -> Result<(), TokenError> {
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let n = self.vault.with(|c| {
            c.execute(
                "UPDATE tokens SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
                rusqlite::params![id, now],
            )
        })?;
        self.invalidate();
        if n == 0 { Err(TokenError::NotFound(id.to_string())) } else { Ok(()) }
    }

    pub fn list(&self) -> Result<Vec<TokenInfo>, TokenError> {
        Ok(self.vault.with(|c| {
            let mut st =
                c.prepare("SELECT id, role, scope, name, created_at, revoked_at FROM tokens ORDER BY created_at, id")?;
            let rows = st.query_map([], |r| {
                Ok(TokenInfo {
                    id: r.get(0)?,
                    role: r.get(1)?,
                    scope: r.get(2)?,
                    name: r.get(3)?,
                    created_at: r.get(4)?,
                    revoked_at: r.get(5)?,
                })
            })?;
            rows.collect()
        })?)
    }

    /// How many tokens can be used now.
    pub fn active(&self) -> Result<usize, TokenError> {
        Ok(self.list()?.iter().filter(|t| t.revoked_at.is_none()).count())
    }

    fn invalidate(&self) {
        if let Ok(mut c) = self.cache.write() {
            c.loaded = None;
        }
    }

    fn reload(&self) -> Result<(), TokenError> {
        let entries = self.vault.with(|c| {
            let mut st = c.prepare("SELECT hash, id, name, role, scope FROM tokens WHERE revoked_at IS NULL")?;
            let rows = st.query_map([], |r| {
                let h: Vec<u8> = r.get(0)?;
                let mut hash = [0u8; 32];
                if h.len() == 32 {
                    hash.copy_from_slice(&h);
                }
                Ok((hash, Principal { id: r.get(1)?, name: r.get(2)?, role: r.get(3)?, scope: r.get(4)? }))
            })?;
            rows.collect::<Result<Vec<_>, _>>()
        })?;
        let mut c = self.cache.write().map_err(|_| VaultError::Poisoned)?;
        *c = Cache { loaded: Some(Instant::now()), entries };
        Ok(())
    }

    /// The principal a presented token stands for, or None.
    pub fn resolve(&self, presented: &str) -> Result<Option<Principal>, TokenError> {
        let stale =
            self.cache.read().map_err(|_| VaultError::Poisoned)?.loaded.is_none_or(|t| t.elapsed() > RELOAD_AFTER);
        if stale {
            self.reload()?;
        }
        let h = hash(presented);
        let cache = self.cache.read().map_err(|_| VaultError::Poisoned)?;
        let mut found: Option<&Principal> = None;
        // Every entry is compared; the match is remembered without an early exit.
        for (stored, p) in &cache.entries {
            if bool::from(stored.ct_eq(&h)) {
                found = Some(p);
            }
        }
        Ok(found.cloned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_resolve_by_secret_only_and_stop_when_revoked() {
        let dir = std::env::temp_dir().join(format!("convene-tokens-{}", uuid::Uuid::now_v7()));
        let store = TokenStore::new(Vault::open_in(&dir).unwrap());
        let (info, secret) = store.create("organisation", "wuhan/x", Some("社工站")).unwrap();
        assert_eq!(info.role, "social_organisation");
        assert!(secret.starts_with(PREFIX) && secret.len() == 68);
        let p = store.resolve(&secret).unwrap().unwrap();
        assert_eq!((p.id.as_str(), p.scope.as_str()), (info.id.as_str(), "wuhan/x"));
        assert!(store.resolve(&info.id).unwrap().is_none());
        assert!(store.resolve(&format!("{secret}0")).unwrap().is_none());
        let stored = std::fs::read(dir.join("secrets.db")).unwrap();
        assert!(!stored.windows(secret.len()).any(|w| w == secret.as_bytes()), "the secret itself is not stored");
        store.revoke(&info.id).unwrap();
        assert!(store.resolve(&secret).unwrap().is_none());
        assert!(matches!(store.create("system", "*", None), Err(TokenError::UnknownRole(_))));
        assert!(matches!(store.create("resident", "a//b", None), Err(TokenError::InvalidScope(_))));
        let _ = std::fs::remove_dir_all(dir);
    }
}
