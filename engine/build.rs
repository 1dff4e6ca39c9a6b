//! Embeds `schemas/` and `workflows/` into the engine so the `convene` binary is one
//! self-contained file (no path lookups at run time, same bytes in tests and production).

use std::fmt::Write as _;
use std::path::Path;

fn list(dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display()));
    for entry in entries.flatten() {
        let p = entry.path();
        if p.extension().and_then(|e| e.to_str()) == Some("json") {
            let stem = p.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_string();
            out.push((stem, p.canonicalize().unwrap_or(p).display().to_string()));
        }
    }
    out.sort();
    out
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let schemas = root.join("schemas");
    let events = schemas.join("events");
    let workflows = root.join("workflows");
    let meeting_kinds = workflows.join("meeting-kinds");
    println!("cargo:rerun-if-changed={}", schemas.display());
    println!("cargo:rerun-if-changed={}", events.display());
    println!("cargo:rerun-if-changed={}", workflows.display());
    println!("cargo:rerun-if-changed={}", meeting_kinds.display());
    let mut code = String::new();
    let mut table = |name: &str, items: &[(String, String)]| {
        writeln!(code, "pub static {name}: &[(&str, &str)] = &[").unwrap();
        for (stem, path) in items {
            println!("cargo:rerun-if-changed={path}");
            writeln!(code, "    ({stem:?}, include_str!({path:?})),").unwrap();
        }
        writeln!(code, "];").unwrap();
    };
    table("EVENT_SCHEMAS", &list(&events));
    table("SHIPPED_WORKFLOWS", &list(&workflows));
    table("SHIPPED_MEETING_KINDS", &list(&meeting_kinds));
    for (name, file) in [
        ("COMMON_SCHEMA", "common.json"),
        ("WORKFLOW_SCHEMA", "workflow.schema.json"),
        ("MEETING_KIND_SCHEMA", "meeting-kind.schema.json"),
    ] {
        let p = schemas.join(file).canonicalize().expect("schema file exists");
        println!("cargo:rerun-if-changed={}", p.display());
        writeln!(code, "pub static {name}: &str = include_str!({:?});", p.display().to_string()).unwrap();
    }
    let out = Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR set by cargo")).join("embedded.rs");
    std::fs::write(out, code).expect("write embedded.rs");
}
