//! The `convene` binary as people and scripts use it: output, JSON, exit codes.

use crate::durability::convene_bin;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("repo root").to_path_buf()
}

fn convene(data: &Path, args: &[&str]) -> Output {
    Command::new(convene_bin())
        .arg("--data")
        .arg(data)
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run convene")
}

fn json(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&o.stdout)))
}

#[test]
fn workflow_validate_prints_each_problem_with_path_and_code_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let broken = repo().join("examples/broken-workflow.json");
    let o = convene(dir.path(), &["workflow", "validate", broken.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let out = String::from_utf8_lossy(&o.stdout);
    for line in [
        "error[unknown_event_type] /states/raised/on/NeedAssesed",
        "error[unknown_role] /roles/NeedAssessed/2",
        "error[unreachable_state] /states/orphan",
        "error[dead_end_state] /states/orphan",
        "error[schema] /states/assessed/deadline/after",
    ] {
        assert!(out.contains(line), "missing {line:?} in:\n{out}");
    }

    let shipped: Vec<String> = ["community-issue", "micro-wish"]
        .iter()
        .map(|w| repo().join(format!("workflows/{w}.json")).display().to_string())
        .collect();
    let mut args = vec!["workflow", "validate"];
    args.extend(shipped.iter().map(String::as_str));
    assert_eq!(convene(dir.path(), &args).status.code(), Some(0));

    let o = convene(dir.path(), &["workflow", "validate", "/no/such/workflow.json"]);
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn demo_loads_once_and_replay_verifies_every_chain() {
    let dir = tempfile::tempdir().unwrap();
    let first = json(&convene(dir.path(), &["demo", "--json"]));
    assert!(first["issues"].as_u64().unwrap() >= 12);
    assert!(first["events_written"].as_u64().unwrap() > 0);
    let again = json(&convene(dir.path(), &["demo", "--json"]));
    assert_eq!(again["events_written"], 0, "loading twice writes nothing new");
    assert_eq!(again["events_already_present"], first["events_written"]);

    let o = convene(dir.path(), &["replay", "--json"]);
    assert_eq!(o.status.code(), Some(0));
    let r = json(&o);
    assert_eq!(r["chains_ok"], true);
    assert!(r["problems"].as_array().unwrap().is_empty());
    assert!(r["by_state"].as_object().unwrap().len() >= 8, "{}", r["by_state"]);

    // Not verified is not intact: an auditor must not read "intact" off a replay that skipped it.
    let unverified = json(&convene(dir.path(), &["replay", "--no-verify", "--json"]));
    assert_eq!(unverified["chains_ok"], Value::Null);
    assert_eq!(unverified["issues"], r["issues"]);
    let o = convene(dir.path(), &["replay", "--no-verify"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("not verified") && !out.contains("intact"), "{out}");

    let before = json(&convene(dir.path(), &["replay", "--until", "2000-01-01T00:00:00Z", "--json"]));
    assert_eq!(before["events"], 0);

    // A convener lists the matters: all, one community's in one state, the overdue ones.
    let all = json(&convene(dir.path(), &["issue", "list", "--json"]));
    assert_eq!(all["items"].as_array().unwrap().len() as u64, first["issues"].as_u64().unwrap());
    let dongting = "wuhan/wuchang/zhongnan-street/dongting-community";
    let acting = json(&convene(dir.path(), &["issue", "list", "--community", dongting, "--state", "acting", "--json"]));
    let acting = acting["items"].as_array().unwrap();
    assert!(!acting.is_empty());
    assert!(acting.iter().all(|i| i["state"] == "acting" && i["community"] == dongting), "{acting:?}");
    let overdue = json(&convene(dir.path(), &["issue", "list", "--overdue", "--json"]));
    assert!(overdue["items"].as_array().unwrap().is_empty(), "a demo loaded just now has nothing overdue");
    let two = json(&convene(dir.path(), &["issue", "list", "--limit", "2", "--json"]));
    assert_eq!((two["items"].as_array().unwrap().len(), &two["more"]), (2, &Value::Bool(true)));
    let o = convene(dir.path(), &["issue", "list", "--state", "acting"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("个议题 / ") && out.contains("acting"), "{out}");
    assert_eq!(convene(dir.path(), &["issue", "list", "--limit", "0"]).status.code(), Some(2));

    // The figures of a report to residents: the same matters, counted by state.
    let stats = json(&convene(dir.path(), &["issue", "stats", "--json"]));
    assert_eq!(stats["issues"]["total"], first["issues"]);
    let by_state: u64 = stats["by_state"].as_array().unwrap().iter().map(|s| s["count"].as_u64().unwrap()).sum();
    assert_eq!(by_state, first["issues"].as_u64().unwrap());
    assert_eq!(stats["as_of_position"], r["position"]);
    let o = convene(dir.path(), &["issue", "stats", "--community", dongting]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success() && out.contains("五微 / the five micro steps") && out.contains("¥"), "{out}");
    let then = json(&convene(dir.path(), &["issue", "stats", "--at", "2000-01-01", "--json"]));
    assert_eq!(
        (&then["issues"]["total"], &then["as_of_position"]),
        (&json!(0), &json!(0)),
        "nothing was raised in 2000"
    );
    let later = json(&convene(dir.path(), &["issue", "stats", "--at", "2100-01-01T00:00:00Z", "--json"]));
    for k in ["total", "open", "closed", "withdrawn", "households_affected"] {
        assert_eq!(later["issues"][k], stats["issues"][k], "replayed through today: the same {k}");
    }
    assert_eq!(later["micro"], stats["micro"]);
    let overdue = |v: &Value| v["issues"]["overdue"].as_u64().unwrap();
    assert!(overdue(&later) > overdue(&stats), "judged in 2100, the matters with a deadline are past it");
    let o = convene(dir.path(), &["issue", "stats", "--from", "2026-12-01", "--to", "2026-11-01"]);
    assert_eq!(o.status.code(), Some(1), "an empty period is refused");
}

#[test]
fn issue_commands_raise_step_refuse_and_time_travel() {
    let dir = tempfile::tempdir().unwrap();
    let raise = r#"{"community": "wuhan/wuchang/x-street/y-community", "title": {"zh-CN": "楼道堆物"},
        "category": "stairwell", "households_affected": 12, "raised_by": {"name": "王秀英"}}"#;
    let o = convene(
        dir.path(),
        &["issue", "raise", "--actor-id", "r1", "--role", "resident", "--payload", raise, "--json"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let id = json(&o)["issue"]["id"].as_str().unwrap().to_string();

    // Not allowed now: exit 1, the reason and the steps allowed instead.
    let placed = r#"{"meeting_id": "m1", "meeting_kind": "consultation_day"}"#;
    let o = convene(
        dir.path(),
        &["issue", "step", &id, "PlacedOnAgenda", "--actor-id", "c1", "--role", "convener", "--payload", placed],
    );
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("PlacedOnAgenda") && err.contains("NeedAssessed"), "{err}");

    // A payload its schema refuses: exit 1, each field at fault, and where to read the fields.
    let o = convene(
        dir.path(),
        &["issue", "step", &id, "NeedAssessed", "--actor-id", "s1", "--role", "social_worker", "--payload", "{}"],
    );
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("/assessor") && err.contains("convene event-types NeedAssessed"), "{err}");

    let assessed =
        r#"{"assessor": {"name": "李娜"}, "method": "survey", "findings": {"zh-CN": "需要协商"}, "priority": "high"}"#;
    let o = convene(
        dir.path(),
        &[
            "issue",
            "step",
            &id,
            "NeedAssessed",
            "--actor-id",
            "s1",
            "--role",
            "social_worker",
            "--payload",
            assessed,
            "--if-match",
            "0",
            "--json",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(json(&o)["issue"]["state"], "assessed");

    let stale = convene(
        dir.path(),
        &[
            "issue",
            "step",
            &id,
            "PlacedOnAgenda",
            "--actor-id",
            "c1",
            "--role",
            "convener",
            "--payload",
            placed,
            "--if-match",
            "0",
        ],
    );
    assert_eq!(stale.status.code(), Some(1), "a stale --if-match is refused");

    let then = json(&convene(dir.path(), &["issue", "show", &id, "--version", "0", "--json"]));
    assert_eq!(then["state"], "raised");
    let now = json(&convene(dir.path(), &["issue", "show", &id, "--json"]));
    assert_eq!(now["state"], "assessed");

    // The human timeline: zh-CN Markdown by default, English HTML to a file, cut at a version.
    let o = convene(dir.path(), &["timeline", "issue", &id]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let md = String::from_utf8_lossy(&o.stdout);
    assert!(md.contains("已提出（民事民提） → 已完成需求评估") && md.contains("社会工作者 / social worker"), "{md}");
    let file = dir.path().join("timeline.html");
    let o = convene(
        dir.path(),
        &["timeline", "issue", &id, "--lang", "en", "--format", "html", "-o", file.to_str().unwrap()],
    );
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let html = std::fs::read_to_string(&file).unwrap();
    assert!(html.contains("<td>Raised by residents → Needs assessed</td>"), "{html}");
    let v0 = json(&convene(dir.path(), &["timeline", "issue", &id, "--version", "0", "--format", "json"]));
    assert_eq!(v0["steps"].as_array().map(Vec::len), Some(1));
    let o = convene(dir.path(), &["timeline", "meeting", "no-such-meeting"]);
    assert_eq!(o.status.code(), Some(1), "an unknown meeting is refused with 1");
    assert!(String::from_utf8_lossy(&o.stderr).contains("错误 / error"));
}

#[test]
fn bench_json_reports_the_keys_the_issue_names() {
    let o = Command::new(convene_bin()).args(["bench", "--events", "300", "--json"]).output().expect("run bench");
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let r = json(&o);
    for key in [
        "append_single_per_s",
        "append_concurrent_per_s",
        "replay_per_s",
        "read_per_s",
        "host_json_mb_per_s",
        "host_sync_per_s",
    ] {
        assert!(r[key].as_f64().unwrap() > 0.0, "{key}: {}", r[key]);
    }
    assert!(r["events"].as_u64().unwrap() >= 300);
    assert_eq!(r["replay_anomalies"], 0);
    assert_eq!(r["broken_chains"], 0);
}

#[test]
fn serve_refuses_to_start_without_a_token_and_audit_commands_verify_sign_export_and_fail_with_1() {
    let dir = tempfile::tempdir().unwrap();
    let o = convene(dir.path(), &["serve", "--bind", "127.0.0.1:0"]);
    assert_eq!(o.status.code(), Some(2), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--insecure-dev"));
    assert_eq!(convene(dir.path(), &["serve", "--demo", "--bind", "127.0.0.1:0"]).status.code(), Some(2));

    assert_eq!(convene(dir.path(), &["demo"]).status.code(), Some(0));
    let o = convene(dir.path(), &["token", "create", "--role", "auditor", "--scope", "*", "--json"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(json(&o)["token"].as_str().unwrap().starts_with("cnv_"));
    assert_eq!(convene(dir.path(), &["token", "create", "--role", "system", "--scope", "*"]).status.code(), Some(1));

    let trail = dir.path().join("trail.jsonl");
    let o = convene(dir.path(), &["export", "--sign", "-o", trail.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let o = convene(dir.path(), &["audit", "verify", "--json"]);
    assert_eq!((o.status.code(), json(&o)["ok"].as_bool()), (Some(0), Some(true)));
    let key = dir.path().join("audit/signing.pub");
    let offline = [
        "audit",
        "verify",
        "--file",
        trail.to_str().unwrap(),
        "--public-key",
        key.to_str().unwrap(),
        "--require-signed",
    ];
    assert_eq!(convene(dir.path(), &offline).status.code(), Some(0));
    let mut bytes = std::fs::read(&trail).unwrap();
    let i = bytes.len() / 2;
    bytes[i] ^= 0x01;
    std::fs::write(&trail, bytes).unwrap();
    assert_eq!(convene(dir.path(), &offline).status.code(), Some(1));
}

#[test]
fn privacy_erase_makes_a_residents_name_and_phone_unreadable_and_exits_1_for_an_unknown_person() {
    let dir = tempfile::tempdir().unwrap();
    let raise = r#"{"community": "wuhan/wuchang/x-street/y-community", "title": {"zh-CN": "楼道堆物"},
        "category": "stairwell", "households_affected": 12, "raised_by": {"name": "诸葛春燕", "phone": "13700002222"}}"#;
    let o = convene(
        dir.path(),
        &["issue", "raise", "--actor-id", "r1", "--role", "resident", "--payload", raise, "--json"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let raised = json(&o);
    let id = raised["issue"]["id"].as_str().unwrap().to_string();
    assert_eq!(raised["issue"]["raised_by"]["name"], "诸葛春燕", "shown while the key exists");
    assert!(raised["event"]["data"]["raised_by"]["name"]["$pii"].is_string(), "stored sealed: {raised}");
    let person = raised["issue"]["raised_by"]["person_id"].as_str().unwrap().to_string();

    let o = convene(dir.path(), &["privacy", "erase", &person]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("已删除"));
    let shown = json(&convene(dir.path(), &["issue", "show", &id, "--json"]));
    assert_eq!(
        (shown["raised_by"]["name"].as_str(), shown["raised_by"]["phone"].as_str()),
        (Some("已删除 / erased"), Some("已删除 / erased"))
    );
    assert_eq!(convene(dir.path(), &["privacy", "erase", &person]).status.code(), Some(1), "nothing left to erase");
    assert_eq!(convene(dir.path(), &["replay"]).status.code(), Some(0), "the log still replays and verifies");
    assert_eq!(convene(dir.path(), &["audit", "verify"]).status.code(), Some(0));
    for entry in std::fs::read_dir(dir.path()).unwrap().flatten().filter(|e| e.path().is_file()) {
        let bytes = std::fs::read(entry.path()).unwrap();
        for needle in ["诸葛春燕".as_bytes(), b"13700002222"] {
            assert!(!bytes.windows(needle.len()).any(|w| w == needle), "found in {}", entry.path().display());
        }
    }
}

#[test]
fn serve_refuses_a_malformed_cors_origin_before_starting() {
    let dir = tempfile::tempdir().unwrap();
    let o = convene(dir.path(), &["serve", "--insecure-dev", "--cors-origin", "weilinli.example.cn/app"]);
    assert_eq!(o.status.code(), Some(2), "a usage error");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("--cors-origin") && err.contains("http"), "{err}");
}

#[test]
fn event_types_list_a_workflows_steps_and_a_steps_fields_and_refuse_unknown_names_with_2() {
    let dir = tempfile::tempdir().unwrap();

    // One workflow's steps, with the roles that may record each.
    let o = convene(dir.path(), &["event-types", "--workflow", "community-issue", "--json"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v = json(&o);
    assert_eq!(v["workflow"]["id"], "community-issue");
    let assessed = v["items"].as_array().unwrap().iter().find(|t| t["type"] == "NeedAssessed").unwrap();
    assert_eq!(assessed["label"]["zh-CN"].as_str().map(|s| !s.is_empty()), Some(true));
    assert!(assessed["roles"].as_array().unwrap().contains(&json!("social_worker")), "{assessed}");

    // A step's fields, for a convener writing its payload.
    let o = convene(dir.path(), &["event-types", "MicroPactDrafted"]);
    assert!(o.status.success());
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("起草微公约") && text.contains("pact_id") && text.contains("必填 required"), "{text}");

    // Its schema as a script or a form builder takes it: self-contained.
    let o = convene(dir.path(), &["event-types", "MicroPactDrafted", "--json"]);
    let schema = json(&o);
    assert!(schema["$defs"]["LocalizedText"].is_object() && !schema.to_string().contains("common.json"));

    // Unknown names: exit 2 and a message naming what to run instead.
    let o = convene(dir.path(), &["event-types", "NoSuchStep"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("convene event-types"));
    let o = convene(dir.path(), &["event-types", "--workflow", "no-such-workflow"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn output_piped_into_a_reader_that_stops_early_ends_quietly() {
    let dir = tempfile::tempdir().unwrap();
    // `true` exits without reading, long before `convene` has started, so its first write
    // meets a closed pipe.
    let o = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "'{}' --data '{}' event-types | true; echo \"${{PIPESTATUS[0]}}\"",
            convene_bin().display(),
            dir.path().display()
        ))
        .output()
        .expect("run bash");
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!stderr.contains("panicked") && !stderr.contains("Broken pipe"), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "141", "the shell's status for SIGPIPE");
}
