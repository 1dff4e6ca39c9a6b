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
/// Serialized untagged (a string, or `{"$pii", "ct"}`); deserialized by hand (below), since
/// serde's untagged enums buffer every value before trying each shape, and names are read
/// by every replayed step that names a party.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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

impl<'de> Deserialize<'de> for PersonalText {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = PersonalText;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string or a sealed value {\"$pii\": …, \"ct\": …}")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<PersonalText, E> {
                Ok(PersonalText::Plain(v.to_string()))
            }
            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<PersonalText, E> {
                Ok(PersonalText::Plain(v))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<PersonalText, A::Error> {
                use serde::de::Error;
                let (mut person, mut ct) = (None, None);
                while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    match &*key {
                        "$pii" if person.is_none() => person = Some(map.next_value::<String>()?),
                        "ct" if ct.is_none() => ct = Some(map.next_value::<String>()?),
                        "$pii" | "ct" => return Err(A::Error::custom(format!("duplicate field `{key}`"))),
                        // As the derived form did: other fields are ignored (schemas refuse
                        // them before an append; a read of the log stays lenient).
                        _ => {
                            map.next_value::<serde::de::IgnoredAny>()?;
                        }
                    }
                }
                match (person, ct) {
                    (Some(person), Some(ct)) => Ok(PersonalText::Sealed { person, ct }),
                    (None, _) => Err(A::Error::missing_field("$pii")),
                    (_, None) => Err(A::Error::missing_field("ct")),
                }
            }
        }
        d.deserialize_any(V)
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

#[cfg(test)]
mod personal_text_tests {
    use super::PersonalText;

    #[test]
    fn a_personal_value_reads_plain_or_sealed_and_writes_back_the_same_json() {
        for json in [r#""王秀英""#, r#"{"$pii":"p-1","ct":"AAAA"}"#] {
            let v: PersonalText = serde_json::from_str(json).unwrap();
            assert_eq!(serde_json::to_string(&v).unwrap(), json);
        }
        let sealed: PersonalText = serde_json::from_str(r#"{"ct":"AAAA","$pii":"p-1","x":1}"#).unwrap();
        assert_eq!(sealed.person(), Some("p-1"));
        for bad in [r#"{"$pii":"p-1"}"#, r#"{"ct":"AAAA"}"#, "12", r#"{"$pii":"a","$pii":"b","ct":"c"}"#] {
            assert!(serde_json::from_str::<PersonalText>(bad).is_err(), "{bad}");
        }
    }
}
