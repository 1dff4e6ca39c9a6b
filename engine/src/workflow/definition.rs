//! The document form of a workflow definition (`workflows/*.json`,
//! `schemas/workflow.schema.json`).

use crate::text::LocalizedText;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Definition {
    #[serde(rename = "$schema", default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    pub id: String,
    pub version: u32,
    pub title: LocalizedText,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<LocalizedText>,
    pub initial: String,
    pub states: BTreeMap<String, StateDef>,
    /// Transitions available in every non-final state; a state's own `on` wins.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub on_any: BTreeMap<String, TransitionSpec>,
    /// Event type → roles that may record it.
    #[serde(default)]
    pub roles: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StateDef {
    pub title: LocalizedText,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<LocalizedText>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub r#final: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub actionable_by: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<Deadline>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub on: BTreeMap<String, TransitionSpec>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Deadline {
    /// ISO 8601 duration after entering the state, e.g. `P14D`.
    pub after: String,
}

/// `"target"` | `{target?, guard?, title?}` | `[{…}, …]` (first alternative whose guard holds).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum TransitionSpec {
    Target(String),
    One(TransitionDef),
    Many(Vec<TransitionDef>),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct TransitionDef {
    /// Absent: stay in the current state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// A JSONLogic rule over `{event, issue}`; absent: always holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guard: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<LocalizedText>,
}

impl Definition {
    /// Every guard rule, with the event type of its step: states' own steps and `on_any`.
    pub fn guards(&self) -> impl Iterator<Item = (&str, &Value)> {
        let specs = self.states.values().flat_map(|s| s.on.iter()).chain(self.on_any.iter());
        specs.flat_map(|(ev, spec)| spec.guards().map(move |g| (ev.as_str(), g)))
    }
}

impl TransitionSpec {
    /// The guard rules of the alternatives, in order.
    fn guards(&self) -> impl Iterator<Item = &Value> {
        let defs: &[TransitionDef] = match self {
            TransitionSpec::Target(_) => &[],
            TransitionSpec::One(d) => std::slice::from_ref(d),
            TransitionSpec::Many(v) => v,
        };
        defs.iter().filter_map(|d| d.guard.as_ref())
    }

    /// The alternatives in order.
    pub fn alternatives(&self) -> Vec<TransitionDef> {
        match self {
            TransitionSpec::Target(t) => {
                vec![TransitionDef { target: Some(t.clone()), ..Default::default() }]
            }
            TransitionSpec::One(d) => vec![d.clone()],
            TransitionSpec::Many(v) => v.clone(),
        }
    }
}
