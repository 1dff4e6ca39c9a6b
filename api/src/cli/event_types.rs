//! `convene event-types`: the steps a convener can record and what each payload needs — the
//! CLI side of `/v1/event-types`.

use clap::Args;
use convene_engine::catalog::{Catalog, EventType};
use serde_json::{Value, json};
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct EventTypesArgs {
    /// One event type: its fields (required or not, what each holds, which are personal data).
    pub r#type: Option<String>,
    /// Only the event types an issue under this workflow records (latest published version),
    /// with the roles that may record each.
    #[arg(long)]
    pub workflow: Option<String>,
    /// JSON: the list, or the type's JSON Schema with the shared definitions bundled in.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(target: &super::StoreTarget, args: EventTypesArgs) -> anyhow::Result<ExitCode> {
    let catalog = Catalog::shipped();
    if let Some(name) = &args.r#type {
        let Some(t) = catalog.get(name) else {
            eprintln!(
                "未知的事件类型 {name}；`convene event-types` 列出全部 / unknown event type {name}; `convene event-types` lists them all"
            );
            return Ok(ExitCode::from(2));
        };
        if args.json {
            let schema = catalog.bundled_schema(name).unwrap_or(Value::Null);
            println!("{}", serde_json::to_string_pretty(&schema)?);
        } else {
            print!("{}", fields(t, catalog.bundled_schema(name).as_ref().unwrap_or(&Value::Null)));
        }
        return Ok(ExitCode::SUCCESS);
    }
    let mut rows: Vec<(&EventType, Vec<String>)> = Vec::new();
    let mut pinned = None;
    match &args.workflow {
        None => rows.extend(catalog.types().map(|t| (t, Vec::new()))),
        Some(id) => {
            let engine = super::open_engine(target).await?;
            let workflows = engine.workflows().await?;
            let Some(wf) = workflows.iter().filter(|w| w.id() == id).max_by_key(|w| w.version()) else {
                eprintln!("工作流 {id} 未发布 / workflow {id} is not published");
                return Ok(ExitCode::from(2));
            };
            pinned = Some(json!({"id": wf.id(), "version": wf.version()}));
            for name in wf.event_types() {
                if let Some(t) = catalog.get(name) {
                    rows.push((t, wf.roles_for(name).to_vec()));
                }
            }
        }
    }
    if args.json {
        let items: Vec<Value> = rows
            .iter()
            .map(|(t, roles)| {
                let mut item = t.summary();
                if pinned.is_some() {
                    item["roles"] = json!(roles);
                }
                item
            })
            .collect();
        let mut out = json!({"items": items});
        if let Some(p) = pinned {
            out["workflow"] = p;
        }
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(p) = &pinned {
        println!("工作流 / workflow {} v{}", p["id"].as_str().unwrap_or(""), p["version"]);
    }
    let width = rows.iter().map(|(t, _)| t.name.len()).max().unwrap_or(0);
    let label_width =
        rows.iter().map(|(t, _)| unicode_width::UnicodeWidthStr::width(t.label.zh.as_str())).max().unwrap_or(0);
    for (t, roles) in &rows {
        let en = t.label.en.as_deref().unwrap_or("");
        let roles = if roles.is_empty() { String::new() } else { format!("  [{}]", roles.join(", ")) };
        println!("  {}  {}  {en}{roles}", super::pad(&t.name, width), super::pad(&t.label.zh, label_width));
    }
    println!("\n`convene event-types TYPE` 列出字段 / lists a type's fields");
    Ok(ExitCode::SUCCESS)
}

/// A type's fields as a convener reads them: name, required or not, what it holds.
fn fields(t: &EventType, schema: &Value) -> String {
    let mut out =
        format!("{} {} / {} (schema v{})\n", t.name, t.label.zh, t.label.en.as_deref().unwrap_or(""), t.schema_version);
    if let Some(d) = t.description() {
        out.push_str(&format!("{d}\n"));
    }
    let required: Vec<&str> =
        schema["required"].as_array().map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
    let Some(props) = schema["properties"].as_object() else { return out };
    let width = props.keys().map(String::len).max().unwrap_or(0);
    out.push('\n');
    for (name, p) in props {
        let need = if required.contains(&name.as_str()) { "必填 required" } else { "可选 optional" };
        let mut line = format!("  {}  {need}  {}", super::pad(name, width), shape(p, schema));
        if let Some(d) = p["description"].as_str() {
            line.push_str(&format!("  {d}"));
        }
        if t.personal.iter().any(|g| g.at == format!("/{name}") || g.at.starts_with(&format!("/{name}/"))) {
            line.push_str("  (含个人信息，由引擎加密 / holds personal data, sealed by the engine)");
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// What a property holds, briefly: a shared definition's name, the allowed values, a type.
fn shape(p: &Value, schema: &Value) -> String {
    if let Some(r) = p["$ref"].as_str() {
        let name = r.rsplit('/').next().unwrap_or(r);
        let def = schema.pointer(&format!("/$defs/{name}")).unwrap_or(&Value::Null);
        return match def["enum"].as_array() {
            Some(values) => {
                format!("{name}: {}", values.iter().filter_map(Value::as_str).collect::<Vec<_>>().join("|"))
            }
            None => format!("<{name}>"),
        };
    }
    if let Some(values) = p["enum"].as_array() {
        return values
            .iter()
            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
            .collect::<Vec<_>>()
            .join("|");
    }
    match p["type"].as_str() {
        Some("array") => format!("[{}]", shape(&p["items"], schema)),
        Some(t) => t.to_string(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_types_fields_say_which_are_required_what_they_hold_and_which_are_personal() {
        let c = Catalog::shipped();
        let t = c.get("MicroPactDrafted").unwrap();
        let text = fields(t, &c.bundled_schema("MicroPactDrafted").unwrap());
        assert!(text.starts_with("MicroPactDrafted 起草微公约 / Micro-pact drafted (schema v1)"), "{text}");
        let line = |f: &str| text.lines().find(|l| l.trim_start().starts_with(f)).unwrap_or_default().to_string();
        assert!(line("pact_id").contains("必填 required") && line("pact_id").contains("<Id>"), "{text}");
        assert!(line("clauses").contains("[<LocalizedText>]"), "{text}");
        assert!(line("drafted_by").contains("可选 optional") && line("drafted_by").contains("personal data"), "{text}");
        let evaluated = fields(c.get("Evaluated").unwrap(), &c.bundled_schema("Evaluated").unwrap());
        assert!(
            evaluated.lines().any(|l| l.trim_start().starts_with("satisfaction") && l.contains("必填")),
            "{evaluated}"
        );
    }
}
