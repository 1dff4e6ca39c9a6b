//! The event vocabulary: every event type's JSON Schema, schema version and localized label.
//!
//! Schemas are embedded at build time from `schemas/` (see `build.rs`) and compiled once.
//! Payloads are validated here before any append.

mod bundle;
mod upcast;

pub use bundle::bundle;
pub use upcast::{UPCASTERS, Upcaster, upcast, upcast_version};

use crate::text::LocalizedText;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::OnceLock;

/// The files embedded from `schemas/` and `workflows/`.
pub mod embedded {
    include!(concat!(env!("OUT_DIR"), "/embedded.rs"));
}

const COMMON_URI: &str = "https://convene.invalid/schemas/common.json";

/// One problem with a payload, pointing at the field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// JSON pointer to the offending field (for a missing field: where it should be).
    pub pointer: String,
    pub message: String,
}

/// A known event type.
pub struct EventType {
    pub name: String,
    pub schema_version: u32,
    pub label: LocalizedText,
    pub schema: Value,
    /// Objects of the payload holding one person's personal data (`x-convene.personal`).
    pub personal: Vec<crate::privacy::PersonalGroup>,
    validator: jsonschema::Validator,
}

impl EventType {
    /// What the event records, from its schema's `description` (English).
    pub fn description(&self) -> Option<&str> {
        self.schema.get("description").and_then(Value::as_str)
    }

    /// What a client lists about the type: name, schema version, labels, description, and
    /// which objects of its payload hold personal data.
    pub fn summary(&self) -> Value {
        serde_json::json!({
            "type": self.name,
            "schema_version": self.schema_version,
            "label": self.label,
            "description": self.description(),
            "personal": self.personal,
        })
    }
}

/// All event types the engine knows.
pub struct Catalog {
    types: BTreeMap<String, EventType>,
    workflow_validator: jsonschema::Validator,
    /// `schemas/common.json`: the definitions the event schemas share.
    common: Value,
}

/// Why the embedded schemas could not be loaded (a build defect, reported at start).
#[derive(Debug, thiserror::Error)]
#[error("schema {name} is invalid: {message}")]
pub struct CatalogError {
    pub name: String,
    pub message: String,
}

fn options_with_common() -> Result<jsonschema::ValidationOptions<'static>, CatalogError> {
    let common: Value = serde_json::from_str(embedded::COMMON_SCHEMA)
        .map_err(|e| CatalogError { name: "common".into(), message: e.to_string() })?;
    let registry = jsonschema::Registry::new()
        .add(COMMON_URI, common)
        .and_then(|b| b.prepare())
        .map_err(|e| CatalogError { name: "common".into(), message: e.to_string() })?;
    // The registry is leaked once per process: validators borrow it while being built and the
    // catalog lives for the whole process anyway.
    let registry: &'static jsonschema::Registry<'static> = Box::leak(Box::new(registry));
    Ok(jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .should_validate_formats(true)
        .with_registry(registry))
}

impl Catalog {
    /// The catalog of the schemas shipped in `schemas/`, compiled once per process.
    pub fn shipped() -> &'static Catalog {
        static CATALOG: OnceLock<Catalog> = OnceLock::new();
        CATALOG.get_or_init(|| match Catalog::load() {
            Ok(c) => c,
            // cannot fail at run time: the schemas are embedded and `catalog_loads` in this
            // module's tests compiles them on every test run.
            Err(e) => panic!("embedded schemas do not compile: {e}"),
        })
    }

    fn load() -> Result<Catalog, CatalogError> {
        let options = options_with_common()?;
        let common: Value = serde_json::from_str(embedded::COMMON_SCHEMA)
            .map_err(|e| CatalogError { name: "common".into(), message: e.to_string() })?;
        let mut types = BTreeMap::new();
        for (name, text) in embedded::EVENT_SCHEMAS {
            let err = |m: String| CatalogError { name: (*name).to_string(), message: m };
            let schema: Value = serde_json::from_str(text).map_err(|e| err(e.to_string()))?;
            let validator = options.build(&schema).map_err(|e| err(e.to_string()))?;
            let meta = &schema["x-convene"];
            let schema_version = meta["schema_version"].as_u64().unwrap_or(1) as u32;
            let label: LocalizedText = serde_json::from_value(meta["label"].clone())
                .unwrap_or_else(|_| LocalizedText { zh: (*name).to_string(), en: None });
            types.insert(
                (*name).to_string(),
                EventType {
                    name: (*name).to_string(),
                    schema_version,
                    label,
                    personal: crate::privacy::personal_groups(&schema),
                    schema,
                    validator,
                },
            );
        }
        let wf: Value = serde_json::from_str(embedded::WORKFLOW_SCHEMA)
            .map_err(|e| CatalogError { name: "workflow".into(), message: e.to_string() })?;
        let workflow_validator = jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .build(&wf)
            .map_err(|e| CatalogError { name: "workflow".into(), message: e.to_string() })?;
        Ok(Catalog { types, workflow_validator, common })
    }

    pub fn get(&self, event_type: &str) -> Option<&EventType> {
        self.types.get(event_type)
    }

    pub fn contains(&self, event_type: &str) -> bool {
        self.types.contains_key(event_type)
    }

    pub fn types(&self) -> impl Iterator<Item = &EventType> {
        self.types.values()
    }

    /// An event type's JSON Schema as one self-contained document (see [`bundle`]).
    pub fn bundled_schema(&self, event_type: &str) -> Option<Value> {
        self.types.get(event_type).map(|t| bundle(&t.schema, &self.common))
    }

    /// Validates a payload against its event type's schema.
    pub fn validate(&self, event_type: &str, data: &Value) -> Result<(), Vec<FieldError>> {
        let Some(t) = self.types.get(event_type) else {
            return Err(vec![FieldError {
                pointer: "/type".into(),
                message: format!("未知的事件类型 / unknown event type {event_type:?}"),
            }]);
        };
        collect(&t.validator, data)
    }

    /// Validates a workflow definition's shape against `schemas/workflow.schema.json`.
    pub fn validate_workflow_shape(&self, doc: &Value) -> Result<(), Vec<FieldError>> {
        collect(&self.workflow_validator, doc)
    }
}

fn collect(v: &jsonschema::Validator, data: &Value) -> Result<(), Vec<FieldError>> {
    let errors: Vec<FieldError> = v
        .iter_errors(data)
        .map(|e| {
            let mut pointer = e.instance_path().to_string();
            if let jsonschema::error::ValidationErrorKind::Required { property } = e.kind()
                && let Some(p) = property.as_str()
            {
                pointer = format!("{pointer}/{p}");
            }
            FieldError { pointer, message: e.to_string() }
        })
        .collect();
    if errors.is_empty() { Ok(()) } else { Err(errors) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn catalog_loads_every_shipped_schema() {
        let c = Catalog::shipped();
        assert!(c.types().count() >= 22);
        assert!(c.contains("IssueRaised"));
        assert_eq!(c.get("MicroPactAdopted").map(|t| t.label.zh.is_empty()), Some(false));
    }

    #[test]
    fn missing_field_is_named_by_pointer() {
        let c = Catalog::shipped();
        let errs = c.validate("Evaluated", &json!({"evaluator": {"name": "王"}, "outcome": "resolved"})).unwrap_err();
        assert!(errs.iter().any(|e| e.pointer == "/satisfaction"), "{errs:?}");
    }

    #[test]
    fn formats_are_checked() {
        let c = Catalog::shipped();
        let bad = json!({"pact_id": "p1", "effective_from": "not-a-date"});
        let errs = c.validate("MicroPactAdopted", &bad).unwrap_err();
        assert!(errs.iter().any(|e| e.pointer == "/effective_from"), "{errs:?}");
    }
}
