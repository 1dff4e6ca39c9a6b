//! Who may do what: API tokens, the roles they carry, and the community scope they act in.
//!
//! A token names one role and one scope (a community code, a street code, a district code, or
//! `*` for the whole tree). The actor of every event written through the API is built from the
//! token ([`Principal::actor`]); the request body never names it. Which role may record which
//! step is declared by the workflow (`roles`) and the meeting kind (`recorded_by`); this module
//! only adds what holds for every route:
//!
//! - `auditor` reads and verifies, and never writes;
//! - `admin` publishes workflows and writes audit checkpoints; it records no deliberation step
//!   (no workflow lists it);
//! - reads of one issue or meeting need a scope that covers its community; reads of the whole
//!   log (events, export, verification of every stream) need the `*` scope.
//!
//! Pure: the token store (IO) is in [`tokens`].

pub mod tokens;

use crate::event::Actor;
use crate::vocab;
use serde::Serialize;

pub use tokens::{TokenInfo, TokenStore};

/// The scope that covers every community.
pub const ALL: &str = "*";

/// Roles a token may carry: every role of the vocabulary except `system` (the engine's own),
/// plus `admin`.
pub fn token_roles() -> Vec<&'static str> {
    let mut r: Vec<&'static str> = vec!["admin"];
    r.extend(vocab::ROLES.iter().map(|(k, _, _)| *k).filter(|k| *k != "system"));
    r
}

/// Accepts the short names people use (`organisation`) for the vocabulary's roles.
pub fn normalize_role(role: &str) -> Option<&'static str> {
    let role = match role {
        "organisation" | "organization" | "social_organization" => "social_organisation",
        other => other,
    };
    token_roles().into_iter().find(|r| *r == role)
}

/// A scope: `*` or a community code (`wuhan/wuchang/zhongnan-street`), segment by segment.
pub fn valid_scope(scope: &str) -> bool {
    scope == ALL
        || (!scope.is_empty()
            && scope.len() <= 200
            && scope
                .split('/')
                .all(|s| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))))
}

/// The authenticated caller of a request, resolved from its token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Principal {
    /// The token's id (not its secret): appears as the actor id of what it writes.
    pub id: String,
    pub name: Option<String>,
    pub role: String,
    pub scope: String,
}

/// Why a caller may not do something (HTTP 403).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    #[error("role {role} may only read")]
    ReadOnly { role: String },
    #[error("role {role} may not {what}")]
    Role { role: String, what: &'static str },
    #[error("scope {scope} does not cover {community}")]
    OutOfScope { scope: String, community: String },
    #[error("scope {scope} does not cover the whole log")]
    NotGlobal { scope: String },
}

impl Denied {
    /// zh-CN first, then English.
    pub fn message(&self) -> String {
        match self {
            Denied::ReadOnly { role } => format!("角色 {role} 只能查阅，不能写入 / role {role} may only read"),
            Denied::Role { role, what } => format!("角色 {role} 无权执行此操作 / role {role} may not {what}"),
            Denied::OutOfScope { scope, community } => {
                format!("令牌范围 {scope} 不包括 {community} / token scope {scope} does not cover {community}")
            }
            Denied::NotGlobal { scope } => format!(
                "需要全域（*）范围，令牌范围为 {scope} / the whole log needs the * scope; the token's scope is {scope}"
            ),
        }
    }
}

impl Principal {
    /// The actor recorded on the events this principal writes: the account (token id, role,
    /// community), no name — a token may name a resident, and the log cannot forget; the name
    /// is shown from the token table at read time. A `*` scope acts for every community, which
    /// the engine's checks read as "no community restriction".
    pub fn actor(&self) -> Actor {
        Actor {
            id: self.id.clone(),
            name: None,
            role: self.role.clone(),
            community: (self.scope != ALL).then(|| self.scope.clone()),
        }
    }

    pub fn is_global(&self) -> bool {
        self.scope == ALL
    }

    /// Does the scope cover this community code?
    pub fn covers(&self, community: &str) -> bool {
        self.is_global() || vocab::community_within(community, &self.scope)
    }

    /// May read something of `community`.
    pub fn may_read(&self, community: &str) -> Result<(), Denied> {
        if self.covers(community) {
            Ok(())
        } else {
            Err(Denied::OutOfScope { scope: self.scope.clone(), community: community.to_string() })
        }
    }

    /// May read the whole log (every community).
    pub fn may_read_all(&self) -> Result<(), Denied> {
        if self.is_global() { Ok(()) } else { Err(Denied::NotGlobal { scope: self.scope.clone() }) }
    }

    /// May write anything at all (the workflow or meeting kind then decides the step).
    pub fn may_write(&self) -> Result<(), Denied> {
        if self.role == "auditor" { Err(Denied::ReadOnly { role: self.role.clone() }) } else { Ok(()) }
    }

    /// May do what only an administrator does (publish workflows, write checkpoints).
    /// Administration is global: it needs the `*` scope too.
    pub fn may_administer(&self, what: &'static str) -> Result<(), Denied> {
        self.may_write()?;
        if self.role != "admin" {
            return Err(Denied::Role { role: self.role.clone(), what });
        }
        self.may_read_all()
    }

    /// May read the whole log for audit (events, export, verification): auditors and admins
    /// with the `*` scope.
    pub fn may_audit_all(&self) -> Result<(), Denied> {
        if !matches!(self.role.as_str(), "auditor" | "admin") {
            return Err(Denied::Role { role: self.role.clone(), what: "read the whole log" });
        }
        self.may_read_all()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(role: &str, scope: &str) -> Principal {
        Principal { id: "t".into(), name: None, role: role.into(), scope: scope.into() }
    }

    #[test]
    fn auditors_never_write_and_scopes_follow_the_tree() {
        assert!(p("auditor", ALL).may_write().is_err());
        assert!(p("auditor", ALL).may_administer("x").is_err());
        assert!(p("admin", ALL).may_administer("x").is_ok());
        assert!(p("convener", "wuhan/a").may_administer("x").is_err());
        assert!(p("convener", "wuhan/a").covers("wuhan/a/b"));
        assert!(!p("convener", "wuhan/a").covers("wuhan/ab"));
        assert!(p("auditor", "wuhan").may_audit_all().is_err());
        assert_eq!(p("resident", ALL).actor().community, None);
        assert_eq!(normalize_role("organisation"), Some("social_organisation"));
        assert_eq!(normalize_role("system"), None);
        assert!(valid_scope("wuhan/wuchang") && valid_scope("*") && !valid_scope("wuhan//x") && !valid_scope(""));
    }
}
