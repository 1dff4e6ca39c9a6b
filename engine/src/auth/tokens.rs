//! API tokens, kept in the store's secrets (the vault `secrets.db`, or PostgreSQL tables beside
//! a PostgreSQL log, shared by every instance), never in the event log.
//!
//! A token is 256 random bits (`cnv_` + 64 hex digits), shown once at creation. Only its
//! SHA-256 is stored: a fast hash is enough because the secret is random, not a password.
//! Resolution compares the presented token's hash with every stored hash in constant time
//! (`subtle`) and without stopping at a match, so timing reveals neither which token matched
//! nor how much of a hash agreed.

use super::Principal;
use crate::secrets::{Secrets, SecretsError, TokenRow};
use crate::vault::random_bytes;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq;

/// How long a server trusts its cached copy of the token table: a token created or revoked by
/// `convene token` in another process (or through another instance) takes effect within
/// this time.
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

impl From<TokenRow> for TokenInfo {
    fn from(t: TokenRow) -> Self {
        TokenInfo {
            id: t.id,
            role: t.role,
            scope: t.scope,
            name: t.name,
            created_at: t.created_at,
            revoked_at: t.revoked_at,
        }
    }
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
    #[error("token id {0} exists already; create the token again")]
    IdTaken(String),
    #[error(transparent)]
    Secrets(#[from] SecretsError),
    #[error("poisoned lock on the token cache")]
    Poisoned,
}

impl From<crate::vault::VaultError> for TokenError {
    fn from(e: crate::vault::VaultError) -> Self {
        TokenError::Secrets(e.into())
    }
}

struct Cache {
    loaded: Option<Instant>,
    /// Active tokens: hash and principal.
    entries: Vec<([u8; 32], Principal)>,
    /// Every token's holder name by id (revoked ones too): display names of actors.
    names: HashMap<String, String>,
}

/// The token table and a short-lived in-memory copy of it for request authentication.
pub struct TokenStore {
    secrets: Arc<dyn Secrets>,
    cache: RwLock<Cache>,
}

fn hash(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

impl TokenStore {
    /// The tokens in `secrets` (a [`crate::vault::Vault`], a [`crate::store::PgSecrets`], or
    /// an `Arc<dyn Secrets>`).
    pub fn new(secrets: impl Into<Arc<dyn Secrets>>) -> TokenStore {
        TokenStore {
            secrets: secrets.into(),
            cache: RwLock::new(Cache { loaded: None, entries: Vec::new(), names: HashMap::new() }),
        }
    }

    /// Where the tokens are kept.
    pub fn describe(&self) -> String {
        self.secrets.describe()
    }

    /// Creates a token; returns its description and the secret (shown once, stored nowhere).
    pub async fn create(&self, role: &str, scope: &str, name: Option<&str>) -> Result<(TokenInfo, String), TokenError> {
        let role = super::normalize_role(role).ok_or_else(|| TokenError::UnknownRole(role.to_string()))?;
        let scope = scope.trim_end_matches('/');
        if !super::valid_scope(scope) {
            return Err(TokenError::InvalidScope(scope.to_string()));
        }
        let secret = format!("{PREFIX}{}", hex::encode(random_bytes()?));
        let row = TokenRow {
            id: format!("tok-{}", &hex::encode(random_bytes()?)[..12]),
            hash: hash(&secret),
            role: role.to_string(),
            scope: scope.to_string(),
            name: name.map(str::to_string),
            created_at: now(),
            revoked_at: None,
        };
        if !self.secrets.insert_token(&row).await? {
            // 48 random bits collided with a stored id: vanishingly rare, and nothing written.
            return Err(TokenError::IdTaken(row.id));
        }
        self.invalidate();
        Ok((row.into(), secret))
    }

    /// Revokes a token: it stops working (within `RELOAD_AFTER` in other processes).
    pub async fn revoke(&self, id: &str) -> Result<(), TokenError> {
        let revoked = self.secrets.revoke_token(id, &now()).await?;
        self.invalidate();
        if revoked { Ok(()) } else { Err(TokenError::NotFound(id.to_string())) }
    }

    pub async fn list(&self) -> Result<Vec<TokenInfo>, TokenError> {
        Ok(self.secrets.tokens().await?.into_iter().map(TokenInfo::from).collect())
    }

    /// How many tokens can be used now.
    pub async fn active(&self) -> Result<usize, TokenError> {
        Ok(self.list().await?.iter().filter(|t| t.revoked_at.is_none()).count())
    }

    fn invalidate(&self) {
        if let Ok(mut c) = self.cache.write() {
            c.loaded = None;
        }
    }

    async fn fresh_cache(&self) -> Result<(), TokenError> {
        let stale =
            self.cache.read().map_err(|_| TokenError::Poisoned)?.loaded.is_none_or(|t| t.elapsed() > RELOAD_AFTER);
        if !stale {
            return Ok(());
        }
        let rows = self.secrets.tokens().await?;
        let names = rows.iter().filter_map(|t| Some((t.id.clone(), t.name.clone()?))).collect();
        let entries = rows
            .into_iter()
            .filter(|t| t.revoked_at.is_none())
            .map(|t| (t.hash, Principal { id: t.id, name: t.name, role: t.role, scope: t.scope }))
            .collect();
        let mut c = self.cache.write().map_err(|_| TokenError::Poisoned)?;
        *c = Cache { loaded: Some(Instant::now()), entries, names };
        Ok(())
    }

    /// The principal a presented token stands for, or None.
    pub async fn resolve(&self, presented: &str) -> Result<Option<Principal>, TokenError> {
        self.fresh_cache().await?;
        let h = hash(presented);
        let cache = self.cache.read().map_err(|_| TokenError::Poisoned)?;
        let mut found: Option<&Principal> = None;
        // Every entry is compared; the match is remembered without an early exit.
        for (stored, p) in &cache.entries {
            if bool::from(stored.ct_eq(&h)) {
                found = Some(p);
            }
        }
        Ok(found.cloned())
    }

    /// The holder names of tokens by id (revoked tokens too: they name the actors of what
    /// they recorded). The event log keeps only the token id; names are shown from here.
    pub async fn holder_names(&self) -> Result<HashMap<String, String>, TokenError> {
        self.fresh_cache().await?;
        Ok(self.cache.read().map_err(|_| TokenError::Poisoned)?.names.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vault::Vault;

    #[tokio::test]
    async fn tokens_resolve_by_secret_only_and_stop_when_revoked() {
        let dir = std::env::temp_dir().join(format!("convene-tokens-{}", uuid::Uuid::now_v7()));
        let store = TokenStore::new(Vault::open_in(&dir).unwrap());
        let (info, secret) = store.create("organisation", "wuhan/x", Some("社工站")).await.unwrap();
        assert_eq!(info.role, "social_organisation");
        assert!(secret.starts_with(PREFIX) && secret.len() == 68);
        let p = store.resolve(&secret).await.unwrap().unwrap();
        assert_eq!((p.id.as_str(), p.scope.as_str()), (info.id.as_str(), "wuhan/x"));
        assert!(store.resolve(&info.id).await.unwrap().is_none());
        assert!(store.resolve(&format!("{secret}0")).await.unwrap().is_none());
        let stored = std::fs::read(dir.join("secrets.db")).unwrap();
        assert!(!stored.windows(secret.len()).any(|w| w == secret.as_bytes()), "the secret itself is not stored");
        store.revoke(&info.id).await.unwrap();
        assert!(store.resolve(&secret).await.unwrap().is_none());
        assert_eq!(store.holder_names().await.unwrap().get(&info.id).map(String::as_str), Some("社工站"));
        assert!(matches!(store.create("system", "*", None).await, Err(TokenError::UnknownRole(_))));
        assert!(matches!(store.create("resident", "a//b", None).await, Err(TokenError::InvalidScope(_))));
        let _ = std::fs::remove_dir_all(dir);
    }
}
