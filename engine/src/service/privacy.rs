//! The engine's side of personal data: seal the personal fields of a command's payload before
//! it is appended, and reveal them (or show them as erased) when a state is read. The keyring
//! is the vault in the data directory; an engine without one (tests, embedding) appends
//! personal fields as given.

use super::{Engine, EngineError, ID_NAMESPACE};
use crate::RecordedEvent;
use crate::event::canonical_json;
use crate::privacy::{self, PersonKeys};
use serde_json::Value;
use uuid::Uuid;

/// The person id the engine gives a personal group without one: derived from the event id,
/// so a retried command (same event id) seals for the same person.
fn derived_person_id(event_id: Uuid, pointer: &str) -> String {
    format!("p-{}", Uuid::new_v5(&ID_NAMESPACE, format!("person:{event_id}:{pointer}").as_bytes()))
}

impl Engine {
    /// Seals personal fields from now on with keys from `keys`. Set once, before serving;
    /// false if a keyring was set already.
    pub fn set_person_keys(&self, keys: PersonKeys) -> bool {
        self.person_keys.set(keys).is_ok()
    }

    pub fn person_keys(&self) -> Option<&PersonKeys> {
        self.person_keys.get()
    }

    /// Gives the personal groups of `data` their person ids and, with a keyring, seals their
    /// plain personal values. Called after the payload was validated and the step decided.
    pub(super) fn seal_personal(&self, event_type: &str, event_id: Uuid, data: &mut Value) -> Result<(), EngineError> {
        let Some(t) = self.catalog.get(event_type) else { return Ok(()) };
        if t.personal.is_empty() {
            return Ok(());
        }
        privacy::assign_person_ids(data, &t.personal, |p| derived_person_id(event_id, p));
        let Some(keys) = self.person_keys.get() else { return Ok(()) };
        let mut nonce_error = None;
        privacy::seal_payload(
            data,
            &t.personal,
            |person| keys.key_or_create(person),
            || {
                let mut n = [0u8; privacy::NONCE_LEN];
                if let Err(e) = getrandom::fill(&mut n) {
                    nonce_error = Some(e);
                }
                n
            },
        )?;
        match nonce_error {
            Some(e) => Err(EngineError::InvalidRequest(format!("no randomness for a nonce: {e}"))),
            None => Ok(()),
        }
    }

    /// Is `stored` what the command with payload `data` would have written (a retry)?
    pub(super) fn same_payload(&self, stored: &RecordedEvent, data: &Value) -> Result<bool, EngineError> {
        if stored.data.get() == canonical_json(data).get() {
            return Ok(true);
        }
        let Some(t) = self.catalog.get(&stored.event_type) else { return Ok(false) };
        let mut plain = data.clone();
        privacy::assign_person_ids(&mut plain, &t.personal, |p| derived_person_id(stored.id, p));
        let mut revealed = stored.data_value();
        self.reveal(&mut revealed)?;
        Ok(revealed == plain)
    }

    /// Opens every sealed personal value in `v` whose person still has a key, and shows the
    /// others as erased (`privacy::ERASED`). Without a keyring sealed values stay sealed.
    pub fn reveal(&self, v: &mut Value) -> Result<(), EngineError> {
        let Some(keys) = self.person_keys.get() else { return Ok(()) };
        let mut failed = None;
        privacy::reveal(v, &mut |person: &str| match keys.get(person) {
            Ok(k) => k,
            Err(e) => {
                failed.get_or_insert(e);
                None
            }
        });
        match failed {
            Some(e) => Err(e.into()),
            None => Ok(()),
        }
    }

    /// `x` as JSON with its personal values revealed.
    pub fn revealed<T: serde::Serialize>(&self, x: &T) -> Result<Value, EngineError> {
        let mut v = serde_json::to_value(x).map_err(|e| EngineError::InvalidRequest(e.to_string()))?;
        self.reveal(&mut v)?;
        Ok(v)
    }
}
