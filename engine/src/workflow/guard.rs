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
    /// What of the context the rule can read (the rest need not be built for it).
    reads: Reads,
}

/// What of the `{event, issue}` context a guard can read, found from the rule itself.
///
/// Replay builds only that part: the payload is parsed only for a guard that can read it,
/// and the sixteen counts only for one that reads them. Every guess errs towards reading
/// more: a path computed at run time, the whole context, or the item-relative paths inside
/// an iterating operator (`map`, `filter`, …) read everything. `event.type`, `event.actor`
/// and the issue's own fields other than `counts` are always built (they are cheap).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reads {
    /// `issue.counts` (or the whole `issue`): build the counts.
    pub counts: bool,
    /// What of `event.data`.
    pub data: PayloadReads,
}

/// What a rule reads of the payload (`event.data`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum PayloadReads {
    /// Nothing.
    #[default]
    Nothing,
    /// Only the values of these top-level fields (`event.data.<field>…`), sorted: a replay
    /// may then build the payload from its stored view, where the view holds them exactly.
    Fields(Vec<String>),
    /// The whole payload, whether a field is there at all (`missing`), or a path the rule
    /// does not name: only the payload itself answers.
    Whole,
}

impl PayloadReads {
    fn union(&mut self, other: &PayloadReads) {
        match (&mut *self, other) {
            (_, PayloadReads::Nothing) | (PayloadReads::Whole, _) => {}
            (PayloadReads::Fields(mine), PayloadReads::Fields(theirs)) => {
                mine.extend(theirs.iter().cloned());
                mine.sort();
                mine.dedup();
            }
            (me, other) => *me = other.clone(),
        }
    }
}

impl Reads {
    /// Everything that is built only on demand.
    pub const ALL: Reads = Reads { counts: true, data: PayloadReads::Whole };

    /// Reads of either.
    pub fn union(&mut self, other: &Reads) {
        self.counts |= other.counts;
        self.data.union(&other.data);
    }

    /// Does it read everything (the whole context could be read)?
    pub fn everything(&self) -> bool {
        *self == Reads::ALL
    }

    /// Does it read the payload at all?
    pub fn reads_data(&self) -> bool {
        self.data != PayloadReads::Nothing
    }

    /// A read of the value (`presence` false) or only of the presence of a path from the root
    /// of the context, segment by segment.
    fn path(&mut self, segments: &[&str], presence: bool) {
        match segments {
            ["event", "data", field, ..] if !presence => {
                self.data.union(&PayloadReads::Fields(vec![field.to_string()]))
            }
            ["event", "data", ..] => self.data = PayloadReads::Whole,
            ["event", _, ..] => {}
            ["issue"] | ["issue", "counts", ..] => self.counts = true,
            ["issue", _, ..] => {}
            // The root, `event` whole, or a root that does not exist (null either way).
            _ => *self = Reads::ALL,
        }
    }

    /// What `rule` can read (without compiling it).
    pub fn of(rule: &Value) -> Reads {
        let mut reads = Reads::default();
        walk(rule, &mut |seen| match seen {
            Seen::Value(path) => reads.path(&path, false),
            Seen::Presence(path) => reads.path(&path, true),
            Seen::Unnamed => reads = Reads::ALL,
        });
        reads
    }
}

/// One read a rule makes of its context, as the rule itself names it.
enum Seen<'r> {
    /// The value at this path from the root (`var`, `val`).
    Value(Vec<&'r str>),
    /// Only whether something is at this path (`missing`, `missing_some`).
    Presence(Vec<&'r str>),
    /// A read the rule does not name: a computed path, or the paths relative to each item of
    /// an iterating operator (`map`, `filter`, …).
    Unnamed,
}

/// A `var` path: dot-separated, empty for the whole context.
fn dotted(path: &str) -> Vec<&str> {
    if path.is_empty() { Vec::new() } else { path.split('.').collect() }
}

/// Calls `seen` with every read of `rule`.
fn walk<'r, F: FnMut(Seen<'r>)>(rule: &'r Value, seen: &mut F) {
    let Value::Object(map) = rule else {
        if let Value::Array(items) = rule {
            items.iter().for_each(|i| walk(i, seen));
        }
        return;
    };
    let strings = |a: &'r [Value]| a.iter().all(Value::is_string).then(|| a.iter().filter_map(Value::as_str));
    for (op, arg) in map {
        match (op.as_str(), arg) {
            ("var", Value::String(p)) => seen(Seen::Value(dotted(p))),
            ("var", Value::Array(a)) => {
                match a.first() {
                    Some(Value::String(p)) => seen(Seen::Value(dotted(p))),
                    _ => seen(Seen::Unnamed),
                }
                // The default value is an expression too.
                a.iter().skip(1).for_each(|d| walk(d, seen));
            }
            ("val", Value::String(key)) => seen(Seen::Value(vec![key.as_str()])),
            ("val", Value::Array(a)) if strings(a).is_some() => {
                seen(Seen::Value(strings(a).into_iter().flatten().collect()))
            }
            ("missing", Value::String(p)) => seen(Seen::Presence(dotted(p))),
            ("missing", Value::Array(a)) if strings(a).is_some() => {
                strings(a).into_iter().flatten().for_each(|p| seen(Seen::Presence(dotted(p))))
            }
            ("missing_some", Value::Array(a))
                if a.len() == 2 && a[1].as_array().is_some_and(|ps| ps.iter().all(Value::is_string)) =>
            {
                walk(&a[0], seen);
                a[1].as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .for_each(|p| seen(Seen::Presence(dotted(p))));
            }
            ("var" | "val" | "missing" | "missing_some", _) => seen(Seen::Unnamed),
            ("filter" | "map" | "reduce" | "all" | "some" | "none" | "sort" | "group_by", Value::Array(a)) => {
                // The first argument is read from the context; the others from each item.
                if let Some(first) = a.first() {
                    walk(first, seen);
                }
                if a.iter().skip(1).any(reads_context) {
                    seen(Seen::Unnamed);
                }
            }
            (_, arg) => walk(arg, seen),
        }
    }
}

/// Does an expression read the context at all?
fn reads_context(rule: &Value) -> bool {
    match rule {
        Value::Object(map) => map
            .iter()
            .any(|(op, arg)| matches!(op.as_str(), "var" | "val" | "missing" | "missing_some") || reads_context(arg)),
        Value::Array(items) => items.iter().any(reads_context),
        _ => false,
    }
}

/// Builds the `{event, issue}` context a guard is evaluated over, directly in the
/// evaluator's arena (no JSON text in between).
pub trait GuardContext {
    /// Builds what `reads` names (and the always-built fields); the rest is absent.
    fn build<'a>(&'a self, arena: &'a Bump, reads: &Reads) -> DataValue<'a>;
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
        Ok(Guard { rule: rule.clone(), logic: Arc::new(logic), reads: Reads::of(rule) })
    }

    /// What of the context the rule can read.
    pub fn reads(&self) -> &Reads {
        &self.reads
    }

    /// The payload fields whose value the rule reads by name: `event.data.raised_by.phone` is
    /// `["raised_by", "phone"]`. Presence tests (`missing`) and unnamed reads are not listed.
    pub fn payload_values_read(&self) -> Vec<Vec<String>> {
        let mut out = Vec::new();
        walk(&self.rule, &mut |seen| {
            if let Seen::Value(path) = seen
                && let ["event", "data", rest @ ..] = path.as_slice()
            {
                out.push(rest.iter().map(|s| s.to_string()).collect());
            }
        });
        out
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
            if op == "now" {
                // A guard must give the same answer on every replay, years later too.
                return Err("operator \"now\" reads the clock: a guard must decide the same way on every replay \
                            (compare against a time in the payload or the issue instead)"
                    .into());
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
        let reads = |r: Value| Guard::compile(&r).unwrap().reads().reads_data();
        assert!(reads(json!({">": [{"var": "event.data.budget_fen"}, 0]})));
        assert!(reads(json!({">": [{"var": ["event.data.x", 0]}, 0]})));
        assert!(reads(json!({"!": [{"var": ""}]})));
        assert!(reads(json!({"!": [{"var": {"cat": ["event", ".data"]}}]})));
        assert!(!reads(json!({"!=": [{"var": "issue.escalation_level"}, "district"]})));
        assert!(!reads(json!({"==": [{"var": "event.actor.role"}, "convener"]})));
    }

    #[test]
    fn knows_which_parts_of_the_context_a_rule_reads() {
        let reads = |r: Value| Guard::compile(&r).unwrap().reads().clone();
        let fields = |f: &[&str]| Reads {
            data: PayloadReads::Fields(f.iter().map(|s| s.to_string()).collect()),
            ..Reads::default()
        };
        // Given payload fields read by value (var, its default too, val), then those fields
        // are read, each once, sorted.
        for (r, read) in [
            (json!({">": [{"var": "event.data.budget_fen"}, 0]}), &["budget_fen"][..]),
            (json!({">": [{"val": ["event", "data", "x"]}, 0]}), &["x"]),
            (json!({"var": ["issue.state", {"var": "event.data.d.e"}]}), &["d"]),
            (json!({"some": [{"var": "event.data.items"}, true]}), &["items"]),
            (json!({"or": [{"var": "event.data.z"}, {"var": "event.data.a"}, {"var": "event.data.z"}]}), &["a", "z"]),
        ] {
            assert_eq!(reads(r.clone()), fields(read), "{r}");
        }
        // Given a presence test or the whole payload, then only the payload answers.
        let whole = Reads { data: PayloadReads::Whole, ..Reads::default() };
        for r in [
            json!({"!": [{"missing": ["event.data.y"]}]}),
            json!({"!": [{"missing_some": [1, ["event.data.y", "event.data.z"]]}]}),
            json!({"!": [{"var": "event.data"}]}),
            json!({"and": [{"var": "event.data.x"}, {"!": [{"var": "event.data"}]}]}),
        ] {
            assert_eq!(reads(r.clone()), whole, "{r}");
        }
        // Issue fields other than counts, and the event's type and actor, are always built.
        assert_eq!(reads(json!({"==": [{"var": "event.actor.role"}, {"var": "issue.state"}]})), Reads::default());
        assert_eq!(
            reads(json!({">": [{"var": "issue.counts.wishes"}, 0]})),
            Reads { counts: true, ..Reads::default() }
        );
        assert!(reads(json!({"!": [{"var": "issue"}]})).counts);
        // Whatever cannot be known from the rule reads everything.
        for r in [
            json!({"!": [{"var": ""}]}),
            json!({"!": [{"var": "event"}]}),
            json!({"!": [{"var": {"cat": ["event", ".data"]}}]}),
            json!({"!": [{"val": [["x"], "y"]}]}),
            json!({"!": [{"missing": {"var": "event.data.list"}}]}),
            json!({"some": [{"var": "event.data.items"}, {">": [{"var": "amount"}, 5]}]}),
        ] {
            assert!(reads(r.clone()).everything(), "{r}");
        }
    }

    #[test]
    fn a_guard_that_reads_the_clock_is_refused() {
        let e = Guard::compile(&json!({"<": [{"var": "event.data.due"}, {"now": []}]})).unwrap_err();
        assert!(e.contains("now"), "{e}");
    }

    #[test]
    fn unknown_operator_is_refused() {
        assert!(Guard::compile(&json!({"frobnicate": [1]})).is_err());
        assert!(Guard::compile(&json!(true)).is_err());
    }
}
