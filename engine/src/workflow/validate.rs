//! Validation of workflow documents: shape (JSON Schema) then meaning, each problem a
//! [`Diagnostic`] with a JSON pointer and a stable code.

use super::definition::{Definition, TransitionSpec};
use super::{Guard, OPENING_EVENT, parse_duration};
use crate::catalog::Catalog;
use crate::text::LocalizedText;
use crate::vocab;
use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// One problem in a workflow document.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Diagnostic {
    pub severity: Severity,
    /// Stable code: `schema`, `initial_unknown`, `unknown_target`, `unknown_event_type`,
    /// `opening_event_as_transition`, `bad_guard`, `final_has_transitions`, `no_final_state`,
    /// `unreachable_state`, `dead_end_state`, `unknown_role`, `missing_roles`,
    /// `unknown_meeting_kind`, `bad_duration`, `shadowed_alternative`, `guard_reads_personal_data`.
    pub code: &'static str,
    /// JSON pointer into the document.
    pub path: String,
    pub message: LocalizedText,
}

fn diag(severity: Severity, code: &'static str, path: String, zh: String, en: String) -> Diagnostic {
    Diagnostic { severity, code, path, message: LocalizedText { zh, en: Some(en) } }
}

fn err(code: &'static str, path: String, zh: String, en: String) -> Diagnostic {
    diag(Severity::Error, code, path, zh, en)
}

/// JSON pointer escaping of one segment.
fn seg(s: &str) -> String {
    s.replace('~', "~0").replace('/', "~1")
}

/// Is the payload field at `path` (or something inside it) a person's personal value under
/// `groups` (an event schema's `x-convene.personal`)? A group's `*` stands for any array index.
/// Reading a group's object whole counts too: it holds the personal values.
fn is_personal(groups: &[crate::privacy::PersonalGroup], path: &[String]) -> bool {
    groups.iter().any(|g| {
        let at: Vec<&str> = g.at.split('/').filter(|s| !s.is_empty()).collect();
        let under =
            |prefix: &[&str]| path.len() >= prefix.len() && prefix.iter().zip(path).all(|(p, s)| *p == "*" || p == s);
        (!at.is_empty() && path.len() == at.len() && under(&at))
            || g.fields.iter().any(|f| under(&at.iter().copied().chain([f.as_str()]).collect::<Vec<_>>()))
    })
}

/// Validates a workflow document. An empty result or only warnings means it can be published.
pub fn validate_definition(doc: &Value, catalog: &Catalog) -> Vec<Diagnostic> {
    let mut out: Vec<Diagnostic> = match catalog.validate_workflow_shape(doc) {
        Ok(()) => Vec::new(),
        Err(errors) => errors
            .into_iter()
            .map(|e| {
                err(
                    "schema",
                    e.pointer,
                    format!("不符合工作流模式：{}", e.message),
                    format!("does not match the workflow schema: {}", e.message),
                )
            })
            .collect(),
    };
    // Report the meaning problems too whenever the document still parses, so an author sees
    // everything at once; a path the schema already flagged is not reported twice.
    match serde_json::from_value::<Definition>(doc.clone()) {
        Ok(def) => {
            let flagged: BTreeSet<String> = out.iter().map(|d| d.path.clone()).collect();
            out.extend(semantic(&def, catalog).into_iter().filter(|d| !flagged.contains(&d.path)));
        }
        Err(e) if out.is_empty() => {
            out.push(err("schema", String::new(), format!("无法解析：{e}"), format!("cannot parse: {e}")));
        }
        Err(_) => {}
    }
    out
}

fn semantic(def: &Definition, catalog: &Catalog) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let states = &def.states;
    if !states.contains_key(&def.initial) {
        out.push(err(
            "initial_unknown",
            "/initial".into(),
            format!("初始状态 {} 未定义", def.initial),
            format!("initial state {:?} is not defined", def.initial),
        ));
    }

    // Every (path, event type, spec) of the document, with the state it leaves from
    // (None = on_any).
    let mut transitions: Vec<(String, Option<&str>, &str, &TransitionSpec)> = Vec::new();
    for (name, st) in states {
        for (ev, spec) in &st.on {
            transitions.push((format!("/states/{}/on/{}", seg(name), seg(ev)), Some(name), ev, spec));
        }
        if st.r#final && !st.on.is_empty() {
            out.push(err(
                "final_has_transitions",
                format!("/states/{}/on", seg(name)),
                format!("终止状态 {name} 不应再有流转"),
                format!("final state {name:?} must not have transitions"),
            ));
        }
        for (i, k) in st.actionable_by.iter().enumerate() {
            if !vocab::is_meeting_kind(k) {
                out.push(err(
                    "unknown_meeting_kind",
                    format!("/states/{}/actionable_by/{i}", seg(name)),
                    format!("未知的会议类型 {k}"),
                    format!("unknown meeting kind {k:?}"),
                ));
            }
        }
        if let Some(d) = &st.deadline
            && parse_duration(&d.after).is_none()
        {
            out.push(err(
                "bad_duration",
                format!("/states/{}/deadline/after", seg(name)),
                format!("期限 {} 不是 ISO 8601 时长（如 P7D）", d.after),
                format!("deadline {:?} is not an ISO 8601 duration such as P7D", d.after),
            ));
        }
    }
    for (ev, spec) in &def.on_any {
        transitions.push((format!("/on_any/{}", seg(ev)), None, ev, spec));
    }

    let mut used_events = BTreeSet::new();
    for (path, _from, ev, spec) in &transitions {
        used_events.insert(ev.to_string());
        if *ev == OPENING_EVENT {
            out.push(err(
                "opening_event_as_transition",
                path.clone(),
                format!("{OPENING_EVENT} 是创建议题的事件，不能作为流转"),
                format!("{OPENING_EVENT} opens an issue; it cannot be a transition"),
            ));
        } else if !catalog.contains(ev) {
            out.push(err(
                "unknown_event_type",
                path.clone(),
                format!("未知的事件类型 {ev}"),
                format!("unknown event type {ev:?}"),
            ));
        }
        let alts = spec.alternatives();
        let many = matches!(spec, TransitionSpec::Many(_));
        for (i, alt) in alts.iter().enumerate() {
            let p = if many { format!("{path}/{i}") } else { path.clone() };
            if let Some(t) = &alt.target
                && !states.contains_key(t)
            {
                let tp = if matches!(spec, TransitionSpec::Target(_)) { p.clone() } else { format!("{p}/target") };
                out.push(err(
                    "unknown_target",
                    tp,
                    format!("目标状态 {t} 未定义"),
                    format!("target state {t:?} is not defined"),
                ));
            }
            if let Some(g) = &alt.guard {
                match Guard::compile(g) {
                    Err(e) => out.push(err(
                        "bad_guard",
                        format!("{p}/guard"),
                        format!("守卫条件无效：{e}"),
                        format!("guard is not valid JSONLogic: {e}"),
                    )),
                    Ok(guard) => {
                        let personal = catalog.get(ev).map(|t| t.personal.as_slice()).unwrap_or_default();
                        for field in guard.payload_values_read().iter().filter(|f| is_personal(personal, f)) {
                            let name = format!("event.data.{}", field.join("."));
                            out.push(err(
                                "guard_reads_personal_data",
                                format!("{p}/guard"),
                                format!(
                                    "守卫条件读取个人信息 {name}：它在判定时是明文、在日志中按人加密，\
                                     重放时守卫会比较密文而得出不同结论；只需判断是否填写时请用 missing"
                                ),
                                format!(
                                    "the guard reads personal data, {name}: it is plain when the step is decided \
                                     but sealed per person in the log, so a replay would compare ciphertext and \
                                     decide otherwise; to test whether it was given, use missing"
                                ),
                            ));
                        }
                    }
                }
            } else if i + 1 < alts.len() {
                out.push(diag(
                    Severity::Warning,
                    "shadowed_alternative",
                    p.clone(),
                    "无条件的分支之后的分支永远不会被选中".into(),
                    "alternatives after an unguarded one are never chosen".into(),
                ));
            }
        }
    }

    // Roles.
    for (ev, roles) in &def.roles {
        if ev != OPENING_EVENT && !catalog.contains(ev) {
            out.push(err(
                "unknown_event_type",
                format!("/roles/{}", seg(ev)),
                format!("未知的事件类型 {ev}"),
                format!("unknown event type {ev:?}"),
            ));
        }
        for (i, r) in roles.iter().enumerate() {
            if !vocab::is_role(r) {
                out.push(err(
                    "unknown_role",
                    format!("/roles/{}/{i}", seg(ev)),
                    format!("未知的角色 {r}"),
                    format!("unknown role {r:?}"),
                ));
            }
        }
    }
    for ev in used_events.iter().map(String::as_str).chain([OPENING_EVENT]) {
        if !def.roles.contains_key(ev) {
            out.push(err(
                "missing_roles",
                "/roles".into(),
                format!("未规定谁可以记录 {ev}"),
                format!("no roles say who may record {ev}"),
            ));
        }
    }

    // Graph: reachability from the initial state, and a path to a final state from each.
    let finals: BTreeSet<&str> = states.iter().filter(|(_, s)| s.r#final).map(|(n, _)| n.as_str()).collect();
    if finals.is_empty() {
        out.push(err(
            "no_final_state",
            "/states".into(),
            "没有终止状态：议题永远无法办结".into(),
            "no final state: an issue could never finish".into(),
        ));
    }
    let mut edges: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (name, st) in states {
        let e = edges.entry(name.as_str()).or_default();
        if st.r#final {
            continue;
        }
        let own = st.on.iter();
        let any = def.on_any.iter().filter(|(ev, _)| !st.on.contains_key(*ev));
        for (_, spec) in own.chain(any) {
            if let TransitionSpec::Target(t) = spec {
                if let Some((k, _)) = states.get_key_value(t) {
                    e.insert(k.as_str());
                }
            } else {
                for alt in spec.alternatives() {
                    if let Some(t) = &alt.target
                        && let Some((k, _)) = states.get_key_value(t)
                    {
                        e.insert(k.as_str());
                    }
                }
            }
        }
    }
    if let Some((init, _)) = states.get_key_value(&def.initial) {
        let mut seen = BTreeSet::from([init.as_str()]);
        let mut queue = VecDeque::from([init.as_str()]);
        while let Some(s) = queue.pop_front() {
            for t in edges.get(s).into_iter().flatten() {
                if seen.insert(t) {
                    queue.push_back(t);
                }
            }
        }
        for name in states.keys() {
            if !seen.contains(name.as_str()) {
                out.push(err(
                    "unreachable_state",
                    format!("/states/{}", seg(name)),
                    format!("状态 {name} 从初始状态不可达"),
                    format!("state {name:?} cannot be reached from the initial state"),
                ));
            }
        }
    }
    if !finals.is_empty() {
        // Reverse reachability from the final states.
        let mut can_finish: BTreeSet<&str> = finals.clone();
        loop {
            let before = can_finish.len();
            for (s, ts) in &edges {
                if ts.iter().any(|t| can_finish.contains(t)) {
                    can_finish.insert(s);
                }
            }
            if can_finish.len() == before {
                break;
            }
        }
        for name in states.keys() {
            if !can_finish.contains(name.as_str()) {
                out.push(err(
                    "dead_end_state",
                    format!("/states/{}", seg(name)),
                    format!("状态 {name} 无法到达任何终止状态（死胡同）"),
                    format!("no final state can be reached from {name:?} (dead end)"),
                ));
            }
        }
    }
    out
}

/// True when no diagnostic is an error.
pub fn is_publishable(diags: &[Diagnostic]) -> bool {
    diags.iter().all(|d| d.severity != Severity::Error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_with_shape_and_meaning_problems_reports_all_of_them_at_once() {
        let doc: Value = serde_json::from_str(include_str!("../../../examples/broken-workflow.json")).unwrap();
        let diags = validate_definition(&doc, Catalog::shipped());
        let found: BTreeSet<(&str, &str)> = diags.iter().map(|d| (d.code, d.path.as_str())).collect();
        for expected in [
            ("schema", "/states/assessed/deadline/after"),
            ("unknown_event_type", "/states/raised/on/NeedAssesed"),
            ("unknown_role", "/roles/NeedAssessed/2"),
            ("unreachable_state", "/states/orphan"),
            ("dead_end_state", "/states/orphan"),
        ] {
            assert!(found.contains(&expected), "missing {expected:?} in {found:?}");
        }
        // The bad duration is reported once (by the schema), not again as bad_duration.
        assert!(!diags.iter().any(|d| d.code == "bad_duration"));
        assert!(!is_publishable(&diags));
    }

    /// Given the shipped community workflow with one guard replaced, the diagnostics about
    /// personal data.
    fn personal_diagnostics(state: &str, event: &str, guard: Value) -> Vec<String> {
        let mut doc: Value = serde_json::from_str(include_str!("../../../workflows/community-issue.json")).unwrap();
        let on = &mut doc["states"][state]["on"][event];
        let slot = if on.is_array() { &mut on[0] } else { on };
        if slot.is_string() {
            *slot = serde_json::json!({"target": slot.clone()});
        }
        slot["guard"] = guard;
        validate_definition(&doc, Catalog::shipped())
            .into_iter()
            .filter(|d| d.code == "guard_reads_personal_data")
            .map(|d| format!("{} {}", d.path, d.message.en.unwrap_or_default()))
            .collect()
    }

    #[test]
    fn a_guard_that_reads_a_persons_sealed_value_is_refused_and_one_that_tests_presence_is_not() {
        use serde_json::json;
        let refused = [
            ("raised", "IssueWithdrawn", json!({"==": [{"var": "event.data.withdrawn_by.name"}, "王秀英"]})),
            ("acting", "MicroPactDrafted", json!({"!=": [{"var": "event.data.drafted_by.0.name"}, ""]})),
            ("acting", "MicroCharityPledged", json!({"==": [{"val": ["event", "data", "donor", "name"]}, "李"]})),
            ("acting", "MicroCharityPledged", json!({"==": [{"var": "event.data.donor"}, "李"]})),
            ("acting", "MicroCharityPledged", json!({"==": [{"var": ["event.data.donor.name.sealed", ""]}, "x"]})),
        ];
        for (state, event, guard) in refused {
            let found = personal_diagnostics(state, event, guard.clone());
            assert_eq!(found.len(), 1, "{event} {guard}: {found:?}");
            assert!(found[0].contains("/guard") && found[0].contains("use missing"), "{found:?}");
        }
        let allowed = [
            ("raised", "IssueWithdrawn", json!({"missing": ["event.data.withdrawn_by.name"]})),
            ("raised", "IssueWithdrawn", json!({"==": [{"var": "event.data.withdrawn_by.society"}, "community"]})),
            ("acting", "MicroCharityPledged", json!({">": [{"var": "event.data.amount_fen"}, 0]})),
            ("acting", "MicroCharityPledged", json!({"==": [{"var": "event.actor.name"}, "x"]})),
        ];
        for (state, event, guard) in allowed {
            assert_eq!(personal_diagnostics(state, event, guard.clone()), Vec::<String>::new(), "{event} {guard}");
        }
    }
}
