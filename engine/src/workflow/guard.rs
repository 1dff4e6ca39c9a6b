//! Guards: JSONLogic rules evaluated deterministically over `{event, issue}`.
//!
//! JSONLogic (through datalogic-rs) rather than a home-made language: it is data (so it lives
//! in the workflow JSON), side-effect free, has no clock or randomness, and has implementations
//! in the languages REST clients use, so a dashboard can explain a guard the same way.

use serde_json::Value;
use std::sync::{Arc, OnceLock};

fn engine() -> &'static datalogic_rs::Engine {
    static ENGINE: OnceLock<datalogic_rs::Engine> = OnceLock::new();
    ENGINE.get_or_init(datalogic_rs::Engine::new)
}

pub use datalogic_rs::DataValue;
pub use datalogic_rs::bumpalo::Bump;

/// A compiled guard.
#[derive(Clone)]
pub struct Guard {
    rule: Value,
    logic: Arc<datalogic_rs::Logic>,
    /// Whether the rule can read `event.data` (then the payload is parsed for it).
    reads_event_data: bool,
}

/// Builds the `{event, issue}` context a guard is evaluated over, directly in the
/// evaluator's arena (no JSON text in between).
pub trait GuardContext {
    /// `with_data`: include `event.data` (parsing the payload); otherwise it reads as null.
    fn build<'a>(&'a self, arena: &'a Bump, with_data: bool) -> DataValue<'a>;
}

impl std::fmt::Debug for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Guard({})", self.rule)
    }
}

impl Guard {
    /// Compiles a rule; an unknown operator or malformed rule is an error message.
    pub fn compile(rule: &Value) -> Result<Guard, String> {
        if !rule.is_object() {
            return Err("a guard must be a JSONLogic object such as {\">=\": [...]}".into());
        }
        check_operators(rule)?;
        let logic = engine().compile(rule).map_err(|e| e.to_string())?;
        Ok(Guard { rule: rule.clone(), logic: Arc::new(logic), reads_event_data: reads_event_data(rule) })
    }

    pub fn reads_event_data(&self) -> bool {
        self.reads_event_data
    }

    pub fn rule(&self) -> &Value {
        &self.rule
    }

    /// Does the guard hold for this context? An evaluation error counts as "does not hold"
    /// (and is reported as such), never as a pass.
    pub fn holds(&self, context: &Value) -> Result<bool, String> {
        let arena = Bump::new();
        let v = engine().evaluate(&self.logic, context, &arena).map_err(|e| e.to_string())?;
        Ok(engine().truthy(v))
    }
}

impl Guard {
    /// Like [`Guard::holds`], over a context built in `arena`.
    pub fn holds_in<'a>(&'a self, context: &'a DataValue<'a>, arena: &'a Bump) -> Result<bool, String> {
        let v = engine().evaluate(&self.logic, context, arena).map_err(|e| e.to_string())?;
        Ok(engine().truthy(v))
    }
}

/// Can the rule read `event.data`? True for any `var` whose path is `event…` or empty (the
/// whole context), and for any path computed at run time (it could be anything).
fn reads_event_data(rule: &Value) -> bool {
    match rule {
        Value::Object(map) => map.iter().any(|(op, arg)| {
            let var_path = |p: &Value| match p {
                Value::String(s) => s.is_empty() || s == "event" || s.starts_with("event.data"),
                Value::Null => true,
                Value::Array(a) => a.first().is_none_or(|p| !p.is_string() || reads(p)),
                _ => true,
            };
            fn reads(p: &Value) -> bool {
                p.as_str().is_some_and(|s| s.is_empty() || s == "event" || s.starts_with("event.data"))
            }
            (op == "var" && var_path(arg)) || reads_event_data(arg)
        }),
        Value::Array(items) => items.iter().any(reads_event_data),
        _ => false,
    }
}

/// JSONLogic treats an unknown `{"op": …}` as a literal; in a guard that is always a typo, so
/// every object must be exactly one built-in operator.
fn check_operators(rule: &Value) -> Result<(), String> {
    match rule {
        Value::Object(map) => {
            let mut keys = map.keys();
            let (Some(op), None) = (keys.next(), keys.next()) else {
                return Err("each object in a guard must be one operator, e.g. {\"==\": [a, b]}".into());
            };
            if !engine().builtin_operator_names().any(|n| n == op) {
                return Err(format!("unknown operator {op:?}"));
            }
            map.values().try_for_each(check_operators)
        }
        Value::Array(items) => items.iter().try_for_each(check_operators),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn evaluates_over_event_and_issue() {
        let g = Guard::compile(&json!({"and": [
            {">": [{"var": "issue.counts.micro_steps_done"}, 0]},
            {">=": [{"var": "event.data.satisfaction"}, 3]}
        ]}))
        .unwrap();
        let ctx = |done: u64, s: u64| json!({"issue": {"counts": {"micro_steps_done": done}}, "event": {"data": {"satisfaction": s}}});
        assert!(g.holds(&ctx(1, 3)).unwrap());
        assert!(!g.holds(&ctx(1, 2)).unwrap());
        assert!(!g.holds(&ctx(0, 5)).unwrap());
    }

    #[test]
    fn knows_which_rules_read_the_payload() {
        let reads = |r: Value| Guard::compile(&r).unwrap().reads_event_data();
        assert!(reads(json!({">": [{"var": "event.data.budget_fen"}, 0]})));
        assert!(reads(json!({">": [{"var": ["event.data.x", 0]}, 0]})));
        assert!(reads(json!({"!": [{"var": ""}]})));
        assert!(reads(json!({"!": [{"var": {"cat": ["event", ".data"]}}]})));
        assert!(!reads(json!({"!=": [{"var": "issue.escalation_level"}, "district"]})));
        assert!(!reads(json!({"==": [{"var": "event.actor.role"}, "convener"]})));
    }

    #[test]
    fn unknown_operator_is_refused() {
        assert!(Guard::compile(&json!({"frobnicate": [1]})).is_err());
        assert!(Guard::compile(&json!(true)).is_err());
    }
}
