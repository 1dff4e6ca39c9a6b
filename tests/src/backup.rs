//! `convene backup`: a consistent, verified copy of a data directory while the server takes
//! steps; refusals that leave everything as it was.

use crate::durability::{Acked, agent, convene_bin, free_port, spawn_clients, start_serve, wait_for_acks};
use convene_engine::RecordedEvent;
use serde_json::Value;
use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

fn convene(data: &Path, args: &[&str]) -> Output {
    Command::new(convene_bin()).arg("--data").arg(data).args(args).env("RUST_LOG", "warn").output().unwrap()
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// The whole log of a running server over REST, in position order.
fn live_log(base: &str) -> Vec<RecordedEvent> {
    let (agent, mut out, mut after) = (agent(), Vec::new(), 0u64);
    loop {
        let mut r = agent.get(&format!("{base}/v1/events?after={after}&limit=1000")).call().unwrap();
        let page: Vec<RecordedEvent> =
            serde_json::from_value(r.body_mut().read_json::<Value>().unwrap()["items"].clone()).unwrap();
        let Some(last) = page.last() else { return out };
        after = last.position;
        out.extend(page);
    }
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn given_a_server_taking_steps_when_backed_up_then_the_copy_is_a_verified_prefix_of_its_log_that_serves() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = start_serve(&data, free_port(), &[]);
    assert!(convene(&data, &["token", "create", "--role", "auditor", "--scope", "*"]).status.success());
    assert!(convene(&data, &["audit", "checkpoint"]).status.success());
    let acked: Acked = Arc::new(Mutex::new(HashMap::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let clients = spawn_clients(&server.base, &acked, &stop);
    wait_for_acks(&acked, 300);
    let before = acked.lock().unwrap().clone();

    // When: a backup, while eight clients go on appending.
    let target = tmp.path().join("backups/2026-11-23");
    let out = convene(&data, &["backup", "--to", target.to_str().unwrap(), "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let during = acked.lock().unwrap().values().map(|m| m.len()).sum::<usize>();
    wait_for_acks(&acked, during + 50);
    stop.store(true, Ordering::Relaxed);
    clients.into_iter().for_each(|c| c.join().unwrap());

    // Then: the copy verified itself, holds the secrets and the audit key, owner-only.
    assert_eq!(report["chains_ok"], true, "{report}");
    for f in ["convene.db", "secrets.db", "audit/signing.key", "audit/signing.pub", "audit/anchor.json"] {
        assert!(report["files"].as_array().unwrap().iter().any(|x| x == f), "{f} missing from {report}");
    }
    assert_eq!(report["tokens"], 1);
    assert_eq!(
        std::fs::read(target.join("audit/signing.key")).unwrap(),
        std::fs::read(data.join("audit/signing.key")).unwrap()
    );
    #[cfg(unix)]
    {
        assert_eq!(mode(&target), 0o700);
        assert_eq!(mode(&target.join("audit")), 0o700);
        assert_eq!(mode(&target.join("secrets.db")), 0o600);
        assert_eq!(mode(&target.join("audit/signing.key")), 0o600);
    }
    let leftovers: Vec<_> = std::fs::read_dir(tmp.path().join("backups")).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(leftovers, vec![target.clone()], "no staging directory is left behind");

    // The copy is the live log up to one position: the same events, hashes and order, none
    // after it, and every step acknowledged before the backup began is in it.
    let position = report["position"].as_u64().unwrap();
    let live = live_log(&server.base);
    assert!(live.len() as u64 > position, "the server kept appending during and after the backup");
    let store = crate::support::open_sqlite(&target);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let copy = rt.block_on(store.read_all(0, 1_000_000)).unwrap();
    rt.block_on(store.close());
    assert_eq!(copy.len() as u64, position);
    assert_eq!(copy[..], live[..position as usize], "the copy is a prefix of the live log");
    let in_copy: HashMap<String, (String, u64)> =
        copy.iter().map(|e| (e.id.to_string(), (e.stream.clone(), e.version))).collect();
    for (issue, versions) in &before {
        for (v, id) in versions {
            assert_eq!(in_copy.get(id), Some(&(format!("issue-{issue}"), *v)), "acked {issue} v{v} missing");
        }
    }

    // Restoring is serving from it; an auditor verifies it like any data directory.
    let verify = convene(&target, &["audit", "verify"]);
    assert!(verify.status.success(), "{}", text(&verify));
    drop(server);
    let restored = start_serve(&target, free_port(), &[]);
    let (issue, _) = before.iter().next().unwrap();
    let r = agent().get(&format!("{}/v1/issues/{issue}", restored.base)).call().unwrap();
    assert_eq!(r.status(), 200);
}

#[test]
fn a_target_that_is_not_empty_a_directory_without_a_store_and_a_postgres_log_are_refused_with_exit_2_and_no_verify_says_so()
 {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    assert!(convene(&data, &["demo"]).status.success());
    let target = tmp.path().join("kept");
    std::fs::create_dir_all(&target).unwrap();
    std::fs::write(target.join("notes.txt"), "mine").unwrap();

    let out = convene(&data, &["backup", "--to", target.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("never overwritten"), "{}", text(&out));
    assert_eq!(std::fs::read_dir(&target).unwrap().count(), 1);
    assert_eq!(std::fs::read_to_string(target.join("notes.txt")).unwrap(), "mine");

    let out = convene(&tmp.path().join("empty"), &["backup", "--to", tmp.path().join("b").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("no embedded event store"), "{}", text(&out));

    // Refused before any connection is tried: no server is needed here.
    let out = convene(
        &data,
        &[
            "--database-url",
            "postgres://convene@127.0.0.1:1/none",
            "backup",
            "--to",
            tmp.path().join("c").to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("pg_basebackup") && text(&out).contains("convene migrate"), "{}", text(&out));
    assert!(!tmp.path().join("b").exists() && !tmp.path().join("c").exists());

    // Without verification the copy is put in place all the same, and says it was not checked.
    let quick = tmp.path().join("quick");
    let out = convene(&data, &["backup", "--to", quick.to_str().unwrap(), "--no-verify", "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["chains_ok"], Value::Null, "not checked is not intact");
    assert!(convene(&quick, &["audit", "verify"]).status.success());
}

#[test]
fn a_backup_the_file_system_refuses_midway_leaves_no_directory_behind() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    assert!(convene(&data, &["demo"]).status.success());
    let parent = tmp.path().join("backups");
    std::fs::create_dir_all(&parent).unwrap();
    let target = parent.join("b");
    // Files may grow to ~50 KB only (512-byte blocks; SIGXFSZ ignored so writes fail with
    // EFBIG): the demo log is larger, so the copy fails part-way through.
    assert!(std::fs::metadata(data.join("convene.db")).unwrap().len() > 100 * 512);
    let out = Command::new("sh")
        .arg("-c")
        .arg("trap '' XFSZ; ulimit -f 100 && exec \"$0\" \"$@\"")
        .arg(convene_bin())
        .arg("--data")
        .arg(&data)
        .args(["backup", "--to", target.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("no backup made"), "{}", text(&out));
    assert_eq!(std::fs::read_dir(&parent).unwrap().count(), 0, "neither the target nor a staging directory");
    assert!(convene(&data, &["audit", "verify"]).status.success(), "the source is untouched");
}
