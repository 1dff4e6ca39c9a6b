//! Where the personal values of a payload are, and the walks that seal and reveal them. Pure:
//! keys come from a lookup the caller passes, nonces from a source the caller passes.

use super::ERASED;
use super::sealed::{KEY_LEN, NONCE_LEN, open, seal};
use serde_json::{Map, Value};

/// An object in a payload (by JSON pointer) whose fields `fields` are one person's personal
/// data; the object's `person_id` names the person.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct PersonalGroup {
    pub at: String,
    pub fields: Vec<String>,
}

/// The personal groups an event schema declares (`x-convene.personal`).
pub fn personal_groups(schema: &Value) -> Vec<PersonalGroup> {
    serde_json::from_value(schema["x-convene"]["personal"].clone()).unwrap_or_default()
}

fn has_plain(obj: &Map<String, Value>, g: &PersonalGroup) -> bool {
    g.fields.iter().any(|f| obj.get(f).is_some_and(Value::is_string))
}

/// Gives every personal group that holds plain personal values and no `person_id` the id
/// `new_id(pointer)` (deterministic per event when the caller derives it from the event id,
/// so a retried command seals for the same person). Returns the person ids of the groups.
pub fn assign_person_ids(
    payload: &mut Value,
    groups: &[PersonalGroup],
    new_id: impl Fn(&str) -> String,
) -> Vec<String> {
    let mut persons = Vec::new();
    for g in groups {
        let Some(Value::Object(obj)) = payload.pointer_mut(&g.at) else { continue };
        if !has_plain(obj, g) {
            continue;
        }
        let id = match obj.get("person_id").and_then(Value::as_str) {
            Some(id) => id.to_string(),
            None => {
                let id = new_id(&g.at);
                obj.insert("person_id".into(), Value::String(id.clone()));
                id
            }
        };
        persons.push(id);
    }
    persons
}

/// Seals every plain personal value (after [`assign_person_ids`]) with its person's key.
pub fn seal_payload<E>(
    payload: &mut Value,
    groups: &[PersonalGroup],
    mut key_of: impl FnMut(&str) -> Result<[u8; KEY_LEN], E>,
    mut nonce: impl FnMut() -> [u8; NONCE_LEN],
) -> Result<(), E> {
    for g in groups {
        let Some(Value::Object(obj)) = payload.pointer_mut(&g.at) else { continue };
        let Some(person) = obj.get("person_id").and_then(Value::as_str).map(str::to_string) else { continue };
        for f in &g.fields {
            if let Some(Value::String(plain)) = obj.get(f) {
                let key = key_of(&person)?;
                let sealed = seal(&key, &person, plain, &nonce());
                obj.insert(f.clone(), sealed);
            }
        }
    }
    Ok(())
}

/// Replaces every sealed value anywhere in `v` by its plain text when `key_of` has the
/// person's key, and by [`ERASED`] when it has none. A value the key does not open (altered)
/// reads as erased too: it cannot be shown.
pub fn reveal(v: &mut Value, key_of: &mut impl FnMut(&str) -> Option<[u8; KEY_LEN]>) {
    match v {
        Value::Object(obj) => {
            if obj.len() == 2
                && let (Some(Value::String(person)), Some(Value::String(ct))) = (obj.get("$pii"), obj.get("ct"))
            {
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
