//! An event type's schema as one self-contained document, for clients that build their forms
//! from it (a mini-program offering the steps an issue allows now).
//!
//! The shipped schemas refer to shared definitions in `common.json` (`../common.json#/$defs/
//! Party`); a client given one file could not resolve that. The bundle copies every shared
//! definition the schema needs — and those they need in turn — under its own `$defs`, and
//! points the references there. Nothing else changes, so the bundle accepts and refuses
//! exactly what the engine's validator does (`tests::bundles_validate_as_the_catalog_does`).
//! Pure: no IO.

use serde_json::{Map, Value};
use std::collections::BTreeSet;

/// How event schemas refer to the shared definitions.
const COMMON_DEFS: &str = "../common.json#/$defs/";
/// How the shared definitions refer to each other, and how the bundle refers to them all.
const LOCAL_DEFS: &str = "#/$defs/";

/// `schema` with the definitions of `common` it uses copied in under `$defs`.
pub fn bundle(schema: &Value, common: &Value) -> Value {
    let mut out = schema.clone();
    let mut wanted = Vec::new();
    rewrite_refs(&mut out, &mut wanted);
    let mut defs = Map::new();
    let mut seen = BTreeSet::new();
    while let Some(name) = wanted.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        let Some(def) = common.pointer(&format!("/$defs/{name}")) else { continue };
        let mut def = def.clone();
        rewrite_refs(&mut def, &mut wanted);
        defs.insert(name, def);
    }
    if !defs.is_empty()
        && let Some(obj) = out.as_object_mut()
    {
        obj.insert("$defs".into(), Value::Object(defs));
    }
    out
}

/// Points every shared-definition reference in `v` at `#/$defs/…` and collects the names.
fn rewrite_refs(v: &mut Value, wanted: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get_mut("$ref") {
                let name = r.strip_prefix(COMMON_DEFS).or_else(|| r.strip_prefix(LOCAL_DEFS)).map(str::to_string);
                if let Some(name) = name {
                    *r = format!("{LOCAL_DEFS}{name}");
                    wanted.push(name);
                }
            }
            map.values_mut().for_each(|x| rewrite_refs(x, wanted));
        }
        Value::Array(items) => items.iter_mut().for_each(|x| rewrite_refs(x, wanted)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Catalog;
    use serde_json::json;

    fn refs(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                if let Some(Value::String(r)) = m.get("$ref") {
                    out.push(r.clone());
                }
                m.values().for_each(|x| refs(x, out));
            }
            Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
            _ => {}
        }
    }

    #[test]
    fn every_reference_of_every_bundle_resolves_inside_it() {
        let c = Catalog::shipped();
        for t in c.types() {
            let b = c.bundled_schema(&t.name).unwrap();
            let mut found = Vec::new();
            refs(&b, &mut found);
            for r in found {
                let name = r.strip_prefix(LOCAL_DEFS).unwrap_or_else(|| panic!("{}: reference {r} left", t.name));
                assert!(b["$defs"].get(name).is_some(), "{}: {r} is not bundled", t.name);
            }
        }
    }

    #[test]
    fn bundles_validate_as_the_catalog_does() {
        let c = Catalog::shipped();
        let cases = [
            ("Evaluated", json!({"evaluator": {"name": "王阿姨"}, "satisfaction": 5, "outcome": "resolved"}), true),
            ("Evaluated", json!({"evaluator": {"name": "王阿姨"}, "outcome": "resolved"}), false),
            (
                "Evaluated",
                json!({"evaluator": {"name": "王阿姨", "society": "no-such"}, "satisfaction": 5, "outcome": "resolved"}),
                false,
            ),
            (
                "MicroPactDrafted",
                json!({"pact_id": "p1", "title": {"zh-CN": "停车公约", "en": "Parking pact"},
                       "clauses": [{"zh-CN": "夜间不占消防通道"}],
                       "drafted_by": [{"kind": "body", "name": "居委会", "society": "community"}]}),
                true,
            ),
            ("MicroPactDrafted", json!({"pact_id": "p1", "title": {"zh-CN": "停车公约"}, "clauses": []}), false),
            (
                "MicroCharityPledged",
                json!({"pledge_id": "c1", "donor": {"name": "李"}, "kind": "money", "amount_fen": -1}),
                false,
            ),
        ];
        for (ty, payload, ok) in cases {
            assert_eq!(c.validate(ty, &payload).is_ok(), ok, "catalog, {ty}: {payload}");
            let bundled = c.bundled_schema(ty).unwrap();
            let v = jsonschema::options()
                .with_draft(jsonschema::Draft::Draft202012)
                .should_validate_formats(true)
                .build(&bundled)
                .unwrap_or_else(|e| panic!("{ty}: the bundle does not compile on its own: {e}"));
            assert_eq!(v.is_valid(&payload), ok, "bundle, {ty}: {payload}");
        }
    }

    #[test]
    fn a_schema_without_shared_references_is_left_as_it_was() {
        let s = json!({"type": "object", "properties": {"n": {"type": "integer"}}});
        assert_eq!(bundle(&s, &json!({"$defs": {"Unused": {}}})), s);
    }
}
