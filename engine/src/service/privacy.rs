//! The engine's side of personal data: seal the personal fields of every payload it appends
//! (commands, computed meeting events, the process manager's issue events) before the append,
//! and reveal them (or show them as erased) when something is read. The keyring is the store's
//! secrets (the vault in the data directory, or PostgreSQL tables beside a PostgreSQL log); an
//! engine without one (tests, embedding) appends personal fields as given.
//!
//! The envelope's actor is an account, not a person's name: the engine records the token id,
//! role and community, never the actor's name ([`account`]); display names come from the token
//! table at read time ([`Engine::name_actors`]).

use super::{Engine, EngineError, ID_NAMESPACE};
use crate::RecordedEvent;
use crate::event::{Actor, canonical_json};
use crate::privacy::{self, Names, PersonKeys, PersonalGroup};
use crate::timeline::Timeline;
use serde_json::Value;
use std::collections::HashMap;
use uuid::Uuid;

/// The person id the engine gives a personal group without one: derived from the event id,
/// so a retried command (same event id) seals for the same person.
fn derived_person_id(event_id: Uuid, pointer: &str) -> String {
    format!("p-{}", Uuid::new_v5(&ID_NAMESPACE, format!("person:{event_id}:{pointer}").as_bytes()))
}

/// The actor as the log records it: the account (id, role, community), never a name — a
/// token can name a resident, and the log cannot forget. The engine's own actor keeps its
/// fixed label.
pub(crate) fn account(actor: &Actor) -> Actor {
    if *actor == Actor::system() { actor.clone() } else { Actor { name: None, ..actor.clone() } }
}

impl Engine {
    /// Seals personal fields from now on with keys from `keys`, and shows actors by the names
    /// of the tokens kept beside them. Set once, before serving; false if a keyring was set
    /// already.
    pub fn set_person_keys(&self, keys: PersonKeys) -> bool {
        self.person_keys.set(keys).is_ok()
    }

    pub fn person_keys(&self) -> Option<&PersonKeys> {
        self.person_keys.get()
    }

    /// The personal groups of a payload of `event_type`: the type's own, and for a motion the
    /// groups of each decided step's type inside `/steps/<i>/data` (the issue events the motion
    /// will record carry the values sealed here).
    fn personal_groups_of(&self, event_type: &str, data: &Value) -> Vec<PersonalGroup> {
        let mut groups = self.catalog.get(event_type).map(|t| t.personal.clone()).unwrap_or_default();
        if event_type == "MotionTabled"
            && let Some(steps) = data["steps"].as_array()
        {
            for (i, s) in steps.iter().enumerate() {
                if let Some(t) = s["type"].as_str().and_then(|t| self.catalog.get(t)) {
                    groups.extend(t.personal.iter().map(|g| g.under(&format!("/steps/{i}/data"))));
                }
            }
        }
        groups
    }

    /// Gives the personal groups of `data` their person ids and, with a keyring, seals their
    /// plain personal values. Called after the payload was validated and the step decided.
    pub(super) async fn seal_personal(
        &self,
        event_type: &str,
        event_id: Uuid,
        data: &mut Value,
    ) -> Result<(), EngineError> {
        let groups = self.personal_groups_of(event_type, data);
        if groups.is_empty() {
            return Ok(());
        }
        let new_id = |p: &str| derived_person_id(event_id, p);
        let persons = privacy::assign_person_ids(data, &groups, new_id);
        let Some(keys) = self.person_keys.get() else { return Ok(()) };
        let mut held = HashMap::new();
        for p in persons {
            if let std::collections::hash_map::Entry::Vacant(slot) = held.entry(p) {
                let k = keys.key_or_create(slot.key()).await?;
                slot.insert(k);
            }
        }
        let mut nonce_error = None;
        privacy::seal_payload(
            data,
            &groups,
            new_id,
            |person| {
                held.get(person).copied().ok_or_else(|| EngineError::InvalidRequest(format!("no key for {person}")))
            },
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
    pub(super) async fn same_payload(&self, stored: &RecordedEvent, data: &Value) -> Result<bool, EngineError> {
        if stored.data.get() == canonical_json(data).get() {
            return Ok(true);
        }
        let mut plain = data.clone();
        let groups = self.personal_groups_of(&stored.event_type, data);
        privacy::assign_person_ids(&mut plain, &groups, |p| derived_person_id(stored.id, p));
        let mut revealed = stored.data_value();
        self.reveal(&mut revealed).await?;
        Ok(revealed == plain)
    }

    /// Opens every sealed personal value in `v` whose person still has a key, and shows the
    /// others as erased (`privacy::ERASED`). Without a keyring sealed values stay sealed.
    pub async fn reveal(&self, v: &mut Value) -> Result<(), EngineError> {
        let Some(keys) = self.person_keys.get() else { return Ok(()) };
        let persons = privacy::persons_in(v);
        if persons.is_empty() {
            return Ok(());
        }
        let held = keys.keys_of(persons).await?;
        privacy::reveal(v, &mut |person: &str| held.get(person).copied());
        Ok(())
    }

    /// `x` as JSON with its personal values revealed.
    pub async fn revealed<T: serde::Serialize>(&self, x: &T) -> Result<Value, EngineError> {
        let mut v = serde_json::to_value(x).map_err(|e| EngineError::InvalidRequest(e.to_string()))?;
        self.reveal(&mut v).await?;
        Ok(v)
    }

    /// An event with its payload revealed (for reads that ask for it: the hash then covers
    /// the stored bytes, not the ones shown).
    pub async fn revealed_event(&self, e: &RecordedEvent) -> Result<Value, EngineError> {
        let mut v = serde_json::to_value(e).map_err(|e| EngineError::InvalidRequest(e.to_string()))?;
        if let Some(data) = v.get_mut("data") {
            self.reveal(data).await?;
        }
        v["revealed"] = Value::Bool(true);
        Ok(v)
    }

    /// How to show the personal values of `x` in a rendered text (minutes): opened while the
    /// person's key exists, erased after; sealed without a keyring. One lookup for all.
    pub async fn names_for<T: serde::Serialize>(&self, x: &T) -> Result<Names, EngineError> {
        let Some(keys) = self.person_keys.get() else { return Ok(Names::without_keyring()) };
        let v = serde_json::to_value(x).map_err(|e| EngineError::InvalidRequest(e.to_string()))?;
        Ok(Names::revealing(keys.keys_of(privacy::persons_in(&v)).await?))
    }

    /// Names of the token holders by token id (empty without a keyring or tokens).
    pub async fn actor_names(&self) -> Result<HashMap<String, String>, EngineError> {
        let Some(keys) = self.person_keys.get() else { return Ok(HashMap::new()) };
        let rows = keys.secrets().tokens().await?;
        Ok(rows.into_iter().filter_map(|t| Some((t.id, t.name?))).collect())
    }

    /// Gives the timeline's actors the names of their tokens (the log keeps only the account).
    /// An actor recorded with a name (an older log) keeps it.
    pub async fn name_actors(&self, tl: &mut Timeline) -> Result<(), EngineError> {
        if tl.steps.iter().all(|s| s.actor.name.is_some()) {
            return Ok(());
        }
        let names = self.actor_names().await?;
        for s in &mut tl.steps {
            if s.actor.name.is_none() {
                s.actor.name = names.get(&s.actor.id).cloned();
            }
        }
        Ok(())
    }
}
