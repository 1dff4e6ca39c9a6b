//! Personal data (PIPL): the names, phone numbers and addresses of natural persons never enter
//! the immutable log in plain text. Fields the event schemas declare personal
//! (`x-convene.personal`: residents raising issues, meeting participants and voters, speakers,
//! persons acting as a `Party` — assessors, volunteers claiming or fulfilling a wish, team
//! leaders, conveners, chairs, proposers, evaluators —, individual donors, persons assigned an
//! action item) are sealed before the append with a key of that person's own ([`seal`]);
//! reads open them while the key exists and show [`ERASED`] once it is gone ([`reveal`],
//! [`Names`]). Erasing a person deletes the key from the store's secrets (the vault
//! `secrets.db`, or PostgreSQL tables beside a PostgreSQL log): the log keeps its bytes, so
//! every chain still verifies and every state still replays — with the field shown as erased.
//!
//! `sealed.rs` and `walk.rs` are pure (the nonce is an argument); `keys.rs` is the IO edge.

mod keys;
mod sealed;
mod walk;

pub use keys::{KeyError, PersonKeys};
pub use sealed::{KEY_LEN, NONCE_LEN, open, seal};
pub use walk::{Names, PersonalGroup, assign_person_ids, personal_groups, persons_in, reveal, seal_payload};

use serde::{Deserialize, Serialize};

/// What a read shows for a personal value whose person was erased.
pub const ERASED: &str = "已删除 / erased";

/// What a rendered text shows for a sealed value when the engine has no keyring to open it.
pub const SEALED: &str = "已加密 / sealed";

/// A personal value as stored: plain (an engine without a keyring, or older events) or sealed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PersonalText {
    Plain(String),
    Sealed {
        #[serde(rename = "$pii")]
        person: String,
        ct: String,
    },
}

impl PersonalText {
    /// The plain text, if it is not sealed.
    pub fn plain(&self) -> Option<&str> {
        match self {
            PersonalText::Plain(s) => Some(s),
            PersonalText::Sealed { .. } => None,
        }
    }

    /// The person it is sealed for, if it is sealed.
    pub fn person(&self) -> Option<&str> {
        match self {
            PersonalText::Plain(_) => None,
            PersonalText::Sealed { person, .. } => Some(person),
        }
    }
}

impl Default for PersonalText {
    fn default() -> Self {
        PersonalText::Plain(String::new())
    }
}

impl From<&str> for PersonalText {
    fn from(s: &str) -> Self {
        PersonalText::Plain(s.to_string())
    }
}
