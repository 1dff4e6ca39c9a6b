//! A full disk under a running server: `/metrics` shows the space going, every write is
//! refused with `507 Insufficient Storage` (not a 500), nothing of a refused request is
//! written, and once the operator frees space the same server takes writes again and the log
//! verifies.
//!
//! The data directory is a small tmpfs, which needs root to mount (CI runs as root); without
//! it the test says it was skipped and how to run it.

use crate::durability::{agent, convene_bin, free_port, start_serve};
use serde_json::{Value, json};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A tmpfs mounted for the test, unmounted however it ends.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(at).ok()?;
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .output()
            .is_ok_and(|o| o.status.success());
        ok.then(|| Tmpfs(at.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Writes zeros into `path` until the file system refuses: the disk is then full.
fn fill(path: &Path) {
    let mut f = File::create(path).expect("create the filler");
    let chunk = vec![0u8; 64 * 1024];
    while f.write_all(&chunk).is_ok() {}
    // A last partial chunk may leave a few bytes; fill those too.
    while f.write_all(&[0u8; 512]).is_ok() {}
    let _ = f.sync_all();
}

/// `convene_store_disk_available_bytes` as `/metrics` shows it now.
fn available(http: &ureq::Agent, base: &str) -> f64 {
    let text = http.get(&format!("{base}/metrics")).call().unwrap().body_mut().read_to_string().unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("convene_store_disk_available_bytes "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no free-space gauge in {text}"))
}

fn raise_body(n: usize) -> Value {
    json!({
        "workflow_id": "community-issue",
        "actor": {"id": "r-1", "role": "resident"},
        "community": "wuhan/wuchang/zhongnan-street/dongting-community",
        "title": {"zh-CN": format!("楼道堆物 {n}"), "en": format!("Stairwell clutter {n}")},
        "category": "stairwell",
        "households_affected": 24,
        "raised_by": {"person_id": "p-wang", "name": "王秀英"}
    })
}

fn assess() -> Value {
    json!({"type": "NeedAssessed", "actor": {"id": "sw-1", "role": "social_worker"}, "data": {
        "assessor": {"name": "李娜", "society": "social_worker"}, "method": "door_to_door",
        "findings": {"zh-CN": "住户愿意清理"}, "priority": "high"}})
}

#[test]
fn given_a_full_disk_writes_are_refused_with_507_and_nothing_half_written_then_taken_again_once_space_is_freed() {
    let dir = tempfile::tempdir().unwrap();
    let Some(fs) = Tmpfs::mount(&dir.path().join("fs"), "8m") else {
        eprintln!("disk_full: skipped (mounting a tmpfs needs root; run `cargo test` as root to include it)");
        return;
    };
    let filler = fs.0.join("filler");
    let data = fs.0.join("data");
    // The server zero-fills its write-ahead log at start as far as the disk allows (~49 MB
    // wanted): keep 2 MB aside and give them back once it runs.
    let reserve = fs.0.join("reserve");
    std::fs::write(&reserve, vec![0u8; 2 << 20]).unwrap();
    let port = free_port();
    let server = start_serve(&data, port, &[]);
    std::fs::remove_file(&reserve).unwrap();
    let http = agent();
    let issues = format!("{}/v1/issues", server.base);

    // Given a server with room: one matter raised, and the resident's key in the keyring.
    let r = http.post(&issues).send_json(raise_body(0)).unwrap();
    assert_eq!(r.status(), 201);
    let mut raised = 1;

    // When the disk fills up, raises go on only while the log's zero-filled space lasts, and
    // then every write is refused as storage-full.
    fill(&filler);
    let refused = loop {
        let r = http.post(&issues).send_json(raise_body(raised)).unwrap();
        if r.status() != 201 {
            break r;
        }
        raised += 1;
        assert!(raised < 20_000, "the disk never filled");
    };
    assert_eq!(refused.status(), 507, "a full disk is not an internal error");
    assert_eq!(refused.headers().get("content-type").unwrap(), "application/problem+json");
    let mut refused = refused;
    let p: Value = refused.body_mut().read_json().unwrap();
    assert!(p["type"].as_str().unwrap().ends_with("storage-full"), "{p}");
    assert!(p["title"].as_str().unwrap().contains("存储空间已满"), "{p}");

    // The operator's gauge saw it coming: nothing left on the disk holding the log.
    assert!(available(&http, &server.base) < 64.0 * 1024.0);

    // A resident new to the keyring needs a key stored in `secrets.db` first: refused the same
    // way, not as an internal error.
    let mut newcomer = raise_body(raised);
    newcomer["raised_by"]["person_id"] = json!("p-newcomer");
    let mut r = http.post(&issues).send_json(newcomer).unwrap();
    assert_eq!(r.status(), 507, "{}", r.body_mut().read_to_string().unwrap_or_default());

    // A step on an existing matter is refused the same way and leaves it as it was.
    let list: Value = http.get(&format!("{issues}?limit=1")).call().unwrap().body_mut().read_json().unwrap();
    let id = list["items"][0]["id"].as_str().unwrap().to_string();
    let mut r = http.post(&format!("{issues}/{id}/steps")).send_json(assess()).unwrap();
    assert_eq!(r.status(), 507, "{}", r.body_mut().read_to_string().unwrap_or_default());
    let issue: Value = http.get(&format!("{issues}/{id}")).call().unwrap().body_mut().read_json().unwrap();
    assert_eq!(issue["version"], 0);
    assert_eq!(issue["state"], "raised");

    // Then, once space is freed, the same server takes writes again.
    std::fs::remove_file(&filler).unwrap();
    assert!(available(&http, &server.base) > 1024.0 * 1024.0);
    let r = http.post(&issues).send_json(raise_body(raised)).unwrap();
    assert_eq!(r.status(), 201);
    raised += 1;
    let r = http.post(&format!("{issues}/{id}/steps")).send_json(assess()).unwrap();
    assert_eq!(r.status(), 201);

    // And the log holds exactly what was acknowledged, every chain intact.
    let status = Command::new("kill").args(["-TERM", &server.child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let mut server = server;
    let _ = server.child.wait();
    let out = Command::new(convene_bin()).arg("--data").arg(&data).args(["replay", "--json"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let replay: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(replay["chains_ok"], true, "{replay}");
    assert_eq!(replay["issues"], raised as u64, "{replay}");
    assert_eq!(replay["by_state"]["community-issue/assessed"], 1, "{replay}");
}
