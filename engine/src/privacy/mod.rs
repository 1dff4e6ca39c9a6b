//! Personal data (PIPL): residents' names, phone numbers and addresses never enter the
//! immutable log in plain text. Fields the event schemas declare personal
//! (`x-convene.personal`, each marked `x-personal` in `common.json#/$defs/Resident`) are sealed
//! before the append with a key of that person's own ([`seal`]); reads open them while the
//! key exists and show [`ERASED`] once it is gone ([`reveal`]). Erasing a person deletes the
//! key from the vault (`secrets.db`, `secure_delete`, vacuumed): the log keeps its bytes, so
//! every chain still verifies and every state still replays — with the field shown as erased.
//!
//! `sealed.rs` and `walk.rs` are pure (the nonce is an argument); `keys.rs` is the IO edge.

mod keys;
mod sealed;
mod walk;

pub use keys::{KeyError, PersonKeys};
pub use sealed::{KEY_LEN, NONCE_LEN, open, seal};
pub use walk::{PersonalGroup, assign_person_ids, personal_groups, reveal, seal_payload};

use serde::{Deserialize, Serialize};

/// What a read shows for a personal value whose person was erased.
pub const ERASED: &str = "已删除 / erased";

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
}
