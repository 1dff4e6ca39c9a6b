//! Where the personal values of a payload are, and the walks that seal and reveal them. Pure:
//! keys come from a lookup the caller passes, nonces from a source the caller passes.

use super::sealed::{KEY_LEN, NONCE_LEN, open, seal};
use super::{ERASED, PersonalText, SEALED};
use serde_json::{Map, Value};
use std::collections::{BTreeSet, HashMap};

/// Where one person's personal data sits in a payload: `at` is a JSON pointer in which `*`
/// stands for every element of an array. The value found there is either an object whose
/// `fields` are that person's personal values (its `person_id` names the person) or a bare
/// personal text (a name without an id: sealed under an id the engine derives). An object whose
/// `kind` is one of `except_kind` is not a natural person (a body, a company) and stays plain.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub struct PersonalGroup {
    pub at: String,
    pub fields: Vec<String>,
    #[serde(default)]
    pub except_kind: Vec<String>,
}

impl PersonalGroup {
    pub fn new(at: impl Into<String>, fields: &[&str]) -> PersonalGroup {
        PersonalGroup { at: at.into(), fields: fields.iter().map(|f| f.to_string()).collect(), except_kind: vec![] }
    }

    /// The same group in a payload nested at `prefix` (a decided step inside a motion).
    pub fn under(&self, prefix: &str) -> PersonalGroup {
        PersonalGroup { at: format!("{prefix}{}", self.at), ..self.clone() }
    }
}

/// The personal groups an event schema declares (`x-convene.personal`).
pub fn personal_groups(schema: &Value) -> Vec<PersonalGroup> {
    serde_json::from_value(schema["x-convene"]["personal"].clone()).unwrap_or_default()
}

/// The concrete pointers of the values `at` names in `v` (every array element for `*`).
fn locate(v: &Value, at: &str) -> Vec<String> {
    fn go(v: &Value, rest: &[&str], prefix: String, out: &mut Vec<String>) {
        let Some((head, tail)) = rest.split_first() else {
            out.push(prefix);
            return;
        };
        match (v, *head) {
            (Value::Array(xs), "*") => {
                for (i, x) in xs.iter().enumerate() {
                    go(x, tail, format!("{prefix}/{i}"), out);
                }
            }
            (Value::Object(o), key) => {
                if let Some(x) = o.get(key) {
                    go(x, tail, format!("{prefix}/{key}"), out);
                }
            }
            (Value::Array(xs), i) => {
                if let Some(x) = i.parse::<usize>().ok().and_then(|i| xs.get(i)) {
                    go(x, tail, format!("{prefix}/{i}"), out);
                }
            }
            _ => {}
        }
    }
    let tokens: Vec<&str> = if at.is_empty() { vec![] } else { at.trim_start_matches('/').split('/').collect() };
    let mut out = Vec::new();
    go(v, &tokens, String::new(), &mut out);
    out
}

fn is_person(obj: &Map<String, Value>, g: &PersonalGroup) -> bool {
    !obj.get("kind").and_then(Value::as_str).is_some_and(|k| g.except_kind.iter().any(|x| x == k))
}

fn has_plain(obj: &Map<String, Value>, g: &PersonalGroup) -> bool {
    g.fields.iter().any(|f| obj.get(f).is_some_and(Value::is_string))
}

/// Gives every personal object that holds plain personal values and no `person_id` the id
/// `new_id(pointer)` (deterministic per event when the caller derives it from the event id,
/// so a retried command seals for the same person). Returns the persons whose keys sealing
/// will need: those of the objects, and `new_id(pointer)` for every bare plain text.
pub fn assign_person_ids(
    payload: &mut Value,
    groups: &[PersonalGroup],
    new_id: impl Fn(&str) -> String,
) -> Vec<String> {
    let mut persons = Vec::new();
    for g in groups {
        for at in locate(payload, &g.at) {
            match payload.pointer_mut(&at) {
                Some(Value::Object(obj)) => {
                    if !is_person(obj, g) || !has_plain(obj, g) {
                        continue;
                    }
                    let id = match obj.get("person_id").and_then(Value::as_str) {
                        Some(id) => id.to_string(),
                        None => {
                            let id = new_id(&at);
                            obj.insert("person_id".into(), Value::String(id.clone()));
                            id
                        }
                    };
                    persons.push(id);
                }
                Some(Value::String(_)) => persons.push(new_id(&at)),
                _ => {}
            }
        }
    }
    persons
}

/// Seals every plain personal value (after [`assign_person_ids`], with the same `new_id`)
/// with its person's key.
pub fn seal_payload<E>(
    payload: &mut Value,
    groups: &[PersonalGroup],
    new_id: impl Fn(&str) -> String,
    mut key_of: impl FnMut(&str) -> Result<[u8; KEY_LEN], E>,
    mut nonce: impl FnMut() -> [u8; NONCE_LEN],
) -> Result<(), E> {
    for g in groups {
        for at in locate(payload, &g.at) {
            match payload.pointer_mut(&at) {
                Some(Value::Object(obj)) => {
                    if !is_person(obj, g) {
                        continue;
                    }
                    let Some(person) = obj.get("person_id").and_then(Value::as_str).map(str::to_string) else {
                        continue;
                    };
                    for f in &g.fields {
                        if let Some(Value::String(plain)) = obj.get(f) {
                            let key = key_of(&person)?;
                            let sealed = seal(&key, &person, plain, &nonce());
                            obj.insert(f.clone(), sealed);
                        }
                    }
                }
                Some(v @ Value::String(_)) => {
                    let person = new_id(&at);
                    let key = key_of(&person)?;
                    let plain = v.as_str().unwrap_or_default().to_string();
                    *v = seal(&key, &person, &plain, &nonce());
                }
                _ => {}
            }
        }
    }
    Ok(())
}

fn sealed_parts(obj: &Map<String, Value>) -> Option<(&str, &str)> {
    if obj.len() != 2 {
        return None;
    }
    match (obj.get("$pii"), obj.get("ct")) {
        (Some(Value::String(person)), Some(Value::String(ct))) => Some((person, ct)),
        _ => None,
    }
}

/// Every person a sealed value anywhere in `v` belongs to.
pub fn persons_in(v: &Value) -> BTreeSet<String> {
    fn go(v: &Value, out: &mut BTreeSet<String>) {
        match v {
            Value::Object(obj) => match sealed_parts(obj) {
                Some((person, _)) => {
                    out.insert(person.to_string());
                }
                None => obj.values().for_each(|x| go(x, out)),
            },
            Value::Array(xs) => xs.iter().for_each(|x| go(x, out)),
            _ => {}
        }
    }
    let mut out = BTreeSet::new();
    go(v, &mut out);
    out
}

/// Replaces every sealed value anywhere in `v` by its plain text when `key_of` has the
/// person's key, and by [`ERASED`] when it has none. A value the key does not open (altered)
/// reads as erased too: it cannot be shown.
pub fn reveal(v: &mut Value, key_of: &mut impl FnMut(&str) -> Option<[u8; KEY_LEN]>) {
    match v {
        Value::Object(obj) => {
            if let Some((person, ct)) = sealed_parts(obj) {
                let plain = key_of(person).and_then(|k| open(&k, person, ct));
                *v = Value::String(plain.unwrap_or_else(|| ERASED.to_string()));
                return;
            }
            for x in obj.values_mut() {
                reveal(x, key_of);
            }
        }
        Value::Array(xs) => {
            for x in xs {
                reveal(x, key_of);
            }
        }
        _ => {}
    }
}

/// How personal values are written in a rendered text (minutes).
#[derive(Debug, Clone)]
enum Mode {
    /// Opened with the keys held; [`ERASED`] for a person without one.
    Reveal(HashMap<String, [u8; KEY_LEN]>),
    /// An engine without a keyring: [`SEALED`].
    NoKeyring,
    /// The stored sealed form itself (`⟦person:ciphertext⟧`): what the digest of published
    /// minutes covers, so the digest neither changes when a person is erased nor can be used
    /// to test guesses of an erased name.
    SealedForm,
}

/// Shows personal values in a rendered text. Pure: the keys are looked up beforehand.
#[derive(Debug, Clone)]
pub struct Names {
    mode: Mode,
}

impl Names {
    /// Opens what `keys` (person → key) can open; everything else reads as erased.
    pub fn revealing(keys: HashMap<String, [u8; KEY_LEN]>) -> Names {
        Names { mode: Mode::Reveal(keys) }
    }

    pub fn without_keyring() -> Names {
        Names { mode: Mode::NoKeyring }
    }

    pub fn sealed_form() -> Names {
        Names { mode: Mode::SealedForm }
    }

    /// The text to show for `p`.
    pub fn show(&self, p: &PersonalText) -> String {
        match p {
            PersonalText::Plain(s) => s.clone(),
            PersonalText::Sealed { person, ct } => match &self.mode {
                Mode::Reveal(keys) => {
                    keys.get(person).and_then(|k| open(k, person, ct)).unwrap_or_else(|| ERASED.to_string())
                }
                Mode::NoKeyring => SEALED.to_string(),
                Mode::SealedForm => format!("⟦{person}:{ct}⟧"),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn stars_reach_every_element_and_bare_texts_are_sealed_in_place() {
        let groups = vec![PersonalGroup::new("/speakers/*", &["name"]), PersonalGroup::new("", &["name"])];
        let mut v = json!({"person_id": "p-9", "name": "甲", "speakers": ["乙", {"person_id": "p-1", "name": "丙"}, {"person_id": "p-2"}]});
        let persons = assign_person_ids(&mut v, &groups, |at| format!("d{}", at.replace('/', "-")));
        assert_eq!(persons, ["d-speakers-0", "p-1", "p-9"]);
        seal_payload::<()>(
            &mut v,
            &groups,
            |at| format!("d{}", at.replace('/', "-")),
            |_| Ok([3; KEY_LEN]),
            || [1; NONCE_LEN],
        )
        .unwrap();
        assert_eq!(v["speakers"][0]["$pii"], "d-speakers-0");
        assert_eq!(v["speakers"][1]["name"]["$pii"], "p-1");
        assert_eq!(v["speakers"][2], json!({"person_id": "p-2"}), "nothing to seal");
        assert_eq!(v["name"]["$pii"], "p-9");
        assert_eq!(persons_in(&v).into_iter().collect::<Vec<_>>(), ["d-speakers-0", "p-1", "p-9"]);
        let mut shown = v.clone();
        reveal(&mut shown, &mut |p| (p != "p-1").then_some([3; KEY_LEN]));
        assert_eq!(shown["speakers"], json!(["乙", {"person_id": "p-1", "name": ERASED}, {"person_id": "p-2"}]));
    }

    #[test]
    fn a_declared_body_stays_plain() {
        let g = PersonalGroup { except_kind: vec!["body".into()], ..PersonalGroup::new("/by", &["name"]) };
        let mut v = json!({"by": {"kind": "body", "name": "东亭社区居委会"}});
        assert!(assign_person_ids(&mut v, std::slice::from_ref(&g), |_| "x".into()).is_empty());
        seal_payload::<()>(&mut v, &[g], |_| "x".into(), |_| Ok([3; KEY_LEN]), || [1; NONCE_LEN]).unwrap();
        assert_eq!(v, json!({"by": {"kind": "body", "name": "东亭社区居委会"}}));
    }
}
