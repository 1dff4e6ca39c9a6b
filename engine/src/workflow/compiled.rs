//! The form replay runs on: states and event types indexed, guards compiled, `on_any` merged.

use super::definition::Definition;
use super::validate::{Diagnostic, is_publishable, validate_definition};
use super::{Bump, DataValue, Guard, GuardContext, IsoDuration, Name, Reads, parse_duration};
use crate::catalog::Catalog;
use crate::event::canonical_json;
use crate::text::LocalizedText;
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::HashMap;

/// Maps looked up once or more per replayed event: a fast hasher (keys are the workflow's own
/// state and event names, not attacker-chosen).
type FastMap<K, V> = HashMap<K, V, foldhash::fast::FixedState>;

#[derive(Debug, Clone)]
struct Transition {
    target: Option<usize>,
    guard: Option<Guard>,
}

/// The alternatives of one step in one state, in order, and what their guards can read
/// together (the context is built once per step, for all of them).
#[derive(Debug, Clone)]
struct Alternatives {
    list: Vec<Transition>,
    reads: Reads,
}

#[derive(Debug, Clone)]
struct State {
    name: Name,
    title: LocalizedText,
    is_final: bool,
    actionable_by: Vec<String>,
    deadline: Option<IsoDuration>,
    deadline_text: Option<String>,
    /// Own transitions merged with `on_any` (for non-final states).
    on: FastMap<String, Alternatives>,
}

/// A validated, indexed workflow definition version.
#[derive(Debug, Clone)]
pub struct CompiledWorkflow {
    pub definition: Definition,
    /// The definition document as published (canonical JSON).
    pub document: Value,
    /// SHA-256 of the canonical document: identifies this exact content.
    pub content_hash: String,
    states: Vec<State>,
    index: FastMap<String, usize>,
    initial: usize,
    /// Every event type the workflow names, shared by the histories replay builds.
    event_names: FastMap<String, Name>,
}

/// Which way an event goes from a state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransitionChoice {
    /// Move to (or stay in, when equal) this state index.
    To(usize),
    /// The state has no transition for this event type.
    NotInState,
    /// Every alternative's guard failed (messages explain evaluation errors, if any).
    GuardFailed(Vec<Value>),
}

/// A step that may be recorded in a state, for clients and refusals.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StepOption {
    #[serde(rename = "type")]
    pub event_type: String,
    pub label: LocalizedText,
    pub roles: Vec<String>,
    /// True if taking it depends on a guard over the payload and the issue.
    pub guarded: bool,
}

impl CompiledWorkflow {
    /// Validates and compiles a document. Errors are the diagnostics.
    pub fn compile(doc: &Value, catalog: &Catalog) -> Result<CompiledWorkflow, Vec<Diagnostic>> {
        Self::compile_reporting(doc, catalog).map(|(wf, _warnings)| wf)
    }

    /// Like [`CompiledWorkflow::compile`], also returning the warnings of a publishable document.
    pub fn compile_reporting(
        doc: &Value,
        catalog: &Catalog,
    ) -> Result<(CompiledWorkflow, Vec<Diagnostic>), Vec<Diagnostic>> {
        let diags = validate_definition(doc, catalog);
        if !is_publishable(&diags) {
            return Err(diags);
        }
        // cannot fail after validation: the shape check passed and the same deserializer ran.
        let definition: Definition = serde_json::from_value(doc.clone()).map_err(|e| {
            vec![Diagnostic {
                severity: super::Severity::Error,
                code: "schema",
                path: String::new(),
                message: LocalizedText { zh: e.to_string(), en: Some(e.to_string()) },
            }]
        })?;
        let canonical = canonical_json(doc);
        let content_hash = hex::encode(Sha256::digest(canonical.get().as_bytes()));
        let index: FastMap<String, usize> = definition.states.keys().enumerate().map(|(i, n)| (n.clone(), i)).collect();
        let compile_spec = |spec: &super::TransitionSpec| -> Alternatives {
            let list: Vec<Transition> = spec
                .alternatives()
                .into_iter()
                .map(|alt| Transition {
                    target: alt.target.as_ref().and_then(|t| index.get(t).copied()),
                    // cannot fail: validate_definition compiled every guard already.
                    guard: alt.guard.as_ref().and_then(|g| Guard::compile(g).ok()),
                })
                .collect();
            let mut reads = Reads::default();
            list.iter().filter_map(|t| t.guard.as_ref()).for_each(|g| reads.union(g.reads()));
            Alternatives { list, reads }
        };
        let states = definition
            .states
            .iter()
            .map(|(name, st)| {
                let mut on: FastMap<String, Alternatives> = FastMap::default();
                if !st.r#final {
                    for (ev, spec) in &definition.on_any {
                        on.insert(ev.clone(), compile_spec(spec));
                    }
                    for (ev, spec) in &st.on {
                        on.insert(ev.clone(), compile_spec(spec));
                    }
                }
                State {
                    name: Name::new(name),
                    title: st.title.clone(),
                    is_final: st.r#final,
                    actionable_by: st.actionable_by.clone(),
                    deadline: st.deadline.as_ref().and_then(|d| parse_duration(&d.after)),
                    deadline_text: st.deadline.as_ref().map(|d| d.after.clone()),
                    on,
                }
            })
            .collect();
        let initial = index.get(&definition.initial).copied().unwrap_or(0);
        let event_names = definition
            .states
            .values()
            .flat_map(|st| st.on.keys())
            .chain(definition.on_any.keys())
            .chain(definition.roles.keys())
            .map(|e| (e.clone(), Name::new(e)))
            .collect();
        Ok((
            CompiledWorkflow { definition, document: doc.clone(), content_hash, states, index, initial, event_names },
            diags,
        ))
    }

    pub fn id(&self) -> &str {
        &self.definition.id
    }

    pub fn version(&self) -> u32 {
        self.definition.version
    }

    pub fn initial(&self) -> usize {
        self.initial
    }

    pub fn state_index(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }

    pub fn state_name(&self, i: usize) -> &str {
        &self.states[i].name
    }

    /// The state's name, interned (for histories).
    pub fn state_name_interned(&self, i: usize) -> Name {
        self.states[i].name
    }

    /// Every event type an issue under this workflow records: the opening event, then each
    /// type a state or `on_any` reacts to, in name order.
    pub fn event_types(&self) -> Vec<&str> {
        let mut types: Vec<&str> = self.event_names.keys().map(String::as_str).collect();
        types.push(super::OPENING_EVENT);
        types.sort_unstable();
        types.dedup();
        types
    }

    /// An event type's name, interned (looked up in the workflow's own names first: the
    /// process-wide table is locked only for a type the workflow does not name).
    pub fn event_name(&self, event_type: &str) -> Name {
        self.event_names.get(event_type).copied().unwrap_or_else(|| Name::new(event_type))
    }

    pub fn state_title(&self, i: usize) -> &LocalizedText {
        &self.states[i].title
    }

    pub fn is_final(&self, i: usize) -> bool {
        self.states[i].is_final
    }

    pub fn actionable_by(&self, i: usize) -> &[String] {
        &self.states[i].actionable_by
    }

    pub fn deadline(&self, i: usize) -> Option<(&IsoDuration, &str)> {
        let s = &self.states[i];
        s.deadline.as_ref().zip(s.deadline_text.as_deref())
    }

    /// Roles that may record `event_type` under this workflow.
    pub fn roles_for(&self, event_type: &str) -> &[String] {
        self.definition.roles.get(event_type).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Does the state have any transition for this event type (guards aside)?
    pub fn has_transition(&self, state: usize, event_type: &str) -> bool {
        self.states[state].on.contains_key(event_type)
    }

    /// Chooses the transition for an event. The guard context is only built when a guard
    /// has to be evaluated (replay of unguarded steps stays cheap), once per event, and only
    /// with what the step's guards can read (the payload and the counts on demand).
    pub fn choose(&self, state: usize, event_type: &str, context: &dyn GuardContext) -> TransitionChoice {
        let Some(alts) = self.states[state].on.get(event_type) else {
            return TransitionChoice::NotInState;
        };
        let arena = Bump::new();
        let mut ctx: Option<DataValue<'_>> = None;
        let mut failed = Vec::new();
        for t in &alts.list {
            let holds = match &t.guard {
                None => true,
                Some(g) => {
                    let c = ctx.get_or_insert_with(|| context.build(&arena, &alts.reads));
                    match g.holds_in(c, &arena) {
                        Ok(b) => {
                            if !b {
                                failed.push(g.rule().clone());
                            }
                            b
                        }
                        Err(e) => {
                            failed.push(serde_json::json!({"rule": g.rule(), "error": e}));
                            false
                        }
                    }
                }
            };
            if holds {
                return TransitionChoice::To(t.target.unwrap_or(state));
            }
        }
        TransitionChoice::GuardFailed(failed)
    }

    /// The steps that may be recorded in a state (sorted by event type).
    pub fn steps_in(&self, state: usize, catalog: &Catalog) -> Vec<StepOption> {
        let mut v: Vec<StepOption> = self.states[state]
            .on
            .iter()
            .map(|(ev, alts)| StepOption {
                event_type: ev.clone(),
                label: catalog
                    .get(ev)
                    .map(|t| t.label.clone())
                    .unwrap_or_else(|| LocalizedText { zh: ev.clone(), en: Some(ev.clone()) }),
                roles: self.roles_for(ev).to_vec(),
                guarded: alts.list.iter().all(|t| t.guard.is_some()),
            })
            .collect();
        v.sort_by(|a, b| a.event_type.cmp(&b.event_type));
        v
    }
}
