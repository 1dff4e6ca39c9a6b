//! Interned state and event names.
//!
//! Every entry of every issue's history names an event type and two states. Held as
//! `Arc<str>`, the three names were 48 of a history entry's 104 bytes, and each entry cost three
//! reference-count increments; a history of a 200,000-event log held 21 MB. A [`Name`] is one
//! pointer to a string kept for the life of the process, copied without counting.
//!
//! The set of names is small and grows only with distinct names: the states and event types of
//! the workflows compiled in the process, and the event types the log holds. Nothing is
//! interned per event.

use serde::{Serialize, Serializer};
use std::collections::HashMap;
use std::fmt;
use std::sync::{LazyLock, Mutex};

/// A state or event type name, interned: 8 bytes, `Copy`.
#[derive(Clone, Copy)]
pub struct Name(&'static String);

static NAMES: LazyLock<Mutex<HashMap<&'static str, Name>>> = LazyLock::new(|| Mutex::new(HashMap::new()));

impl Name {
    /// The interned name equal to `s` (interned now if it is new).
    pub fn new(s: &str) -> Name {
        // A poisoned lock still holds a consistent map: entries are inserted whole.
        let mut names = NAMES.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(&n) = names.get(s) {
            return n;
        }
        // A thin pointer (to a `String`) keeps a `Name` at one word.
        let leaked: &'static String = Box::leak(Box::new(s.to_string()));
        let n = Name(leaked);
        names.insert(leaked.as_str(), n);
        n
    }

    pub fn as_str(self) -> &'static str {
        self.0
    }
}

impl std::ops::Deref for Name {
    type Target = str;
    fn deref(&self) -> &str {
        self.0
    }
}

impl AsRef<str> for Name {
    fn as_ref(&self) -> &str {
        self.0
    }
}

impl PartialEq for Name {
    fn eq(&self, other: &Name) -> bool {
        // Equal names are one interned string; the content check is for clarity, not needed.
        std::ptr::eq(self.0, other.0) || self.0 == other.0
    }
}

impl Eq for Name {}

impl PartialEq<str> for Name {
    fn eq(&self, other: &str) -> bool {
        **self.0 == *other
    }
}

impl PartialEq<&str> for Name {
    fn eq(&self, other: &&str) -> bool {
        **self.0 == **other
    }
}

impl std::hash::Hash for Name {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state)
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Name {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::Name;

    #[test]
    fn equal_names_are_one_interned_string() {
        let a = Name::new("assessed");
        let b = Name::new(&String::from("assessed"));
        assert!(std::ptr::eq(a.as_str(), b.as_str()));
        assert_eq!(a, b);
        assert_eq!(a, "assessed");
        assert_ne!(a, Name::new("closed"));
        assert_eq!(std::mem::size_of::<Option<Name>>(), 8);
        assert_eq!(serde_json::to_string(&a).unwrap(), "\"assessed\"");
        assert_eq!(format!("{a} {a:?}"), "assessed \"assessed\"");
    }
}
