//! Durability: SIGKILL a real `convene serve` while clients append over HTTP, restart it, and
//! find every acknowledged event present, every stream gap-free, every hash chain intact.

use convene_engine::RecordedEvent;
use convene_engine::event::verify_chain;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The `convene` binary of this build (cargo builds it for `cargo test --workspace`).
pub fn convene_bin() -> PathBuf {
    // `cargo test` builds the tests crate but not another package's binary, so a binary left
    // from an earlier build could be stale: build it once per test run (a no-op when fresh).
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let exe = std::env::current_exe().expect("test binary path");
            let dir = exe.parent().and_then(Path::parent).expect("target dir");
            let mut cargo = Command::new(env!("CARGO"));
            cargo.args(["build", "-p", "convene-api", "--bin", "convene"]);
            // `cargo test` gives this process the package's variables (CARGO_PKG_NAME, …).
            // Build scripts that watch them (ring's does) would see them change between this
            // build and the next `cargo test`, and rebuild ring, rustls and all above them
            // each time (~35 s here); the build runs as if from a plain shell instead.
            for (name, _) in std::env::vars_os() {
                let name = name.to_string_lossy();
                if [
                    "CARGO_PKG_",
                    "CARGO_MANIFEST_",
                    "CARGO_CRATE_",
                    "CARGO_BIN_",
                    "CARGO_PRIMARY_PACKAGE",
                    "CARGO_TARGET_TMPDIR",
                ]
                .iter()
                .any(|p| name.starts_with(p))
                {
                    cargo.env_remove(name.as_ref());
                }
            }
            let status = cargo.status().expect("run cargo build");
            assert!(status.success(), "building the convene binary failed");
            dir.join(format!("convene{}", std::env::consts::EXE_SUFFIX))
        })
        .clone()
}

pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A `convene serve` child process, killed and reaped however the test ends.
pub(crate) struct Server {
    pub child: Child,
    pub base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(data: &Path, port: u16) -> Server {
    start_serve(data, port, &[])
}

/// Starts `convene --data DATA serve --insecure-dev` on `port` with `env` and waits until it
/// is ready. Load tests of durability and of several instances, not of the per-token rate
/// limit (tested in auth_matrix), so the limit is lifted.
pub(crate) fn start_serve(data: &Path, port: u16, env: &[(&str, &str)]) -> Server {
    start_serve_by(Command::new(convene_bin()), data, port, env)
}

/// [`start_serve`] through `command`, which runs the `convene` binary with the arguments
/// appended (e.g. a shell that sets limits first).
pub(crate) fn start_serve_by(mut command: Command, data: &Path, port: u16, env: &[(&str, &str)]) -> Server {
    let mut child = command
        .arg("--data")
        .arg(data)
        .args(["serve", "--insecure-dev", "--bind", &format!("127.0.0.1:{port}")])
        .env("RUST_LOG", std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()))
        .env("CONVENE_RATE_LIMIT", "1000000")
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        // CONVENE_TEST_SERVER_LOG=1 shows the servers' logs (with --nocapture and RUST_LOG).
        .stderr(if std::env::var_os("CONVENE_TEST_SERVER_LOG").is_some() { Stdio::inherit() } else { Stdio::null() })
        .spawn()
        .expect("start convene serve");
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if ureq::get(&format!("{base}/readyz")).call().is_ok() {
            return Server { child, base };
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("convene serve exited before it was ready: {status}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("convene serve did not become ready");
}

pub(crate) fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(5)))
        .build()
        .into()
}

fn raise_body(n: usize) -> Value {
    json!({
        "workflow_id": "community-issue",
        "actor": {"id": format!("r-{n}"), "role": "resident"},
        "community": "wuhan/wuchang/zhongnan-street/dongting-community",
        "title": {"zh-CN": format!("议题 {n}")},
        "category": "other",
        "households_affected": n,
        "raised_by": {"name": "居民"}
    })
}

/// Steps that keep an issue busy: assess, then deliberate-and-reschedule repeatedly.
fn step_body(i: usize) -> Value {
    match i {
        0 => json!({"type": "NeedAssessed", "actor": {"id": "sw", "role": "social_worker"}, "data": {
            "assessor": {"name": "李娜"}, "method": "survey", "findings": {"zh-CN": "需要协商"}, "priority": "medium"}}),
        1 => {
            json!({"type": "PlacedOnAgenda", "actor": {"id": "c", "role": "convener"}, "data": {"meeting_id": "m1", "meeting_kind": "consultation_day"}})
        }
        _ => {
            json!({"type": "PlacedOnAgenda", "actor": {"id": "c", "role": "convener"}, "data": {"meeting_id": format!("m{i}"), "meeting_kind": "joint_meeting"}})
        }
    }
}

/// Acknowledged events: issue id → (version → event id).
pub(crate) type Acked = Arc<Mutex<HashMap<String, BTreeMap<u64, String>>>>;

/// Eight HTTP clients raising issues and recording steps until `stop`, remembering every
/// acknowledged event.
pub(crate) fn spawn_clients(base: &str, acked: &Acked, stop: &Arc<AtomicBool>) -> Vec<std::thread::JoinHandle<()>> {
    let base = base.to_string();
    (0..8)
        .map(|c| {
            let (acked, stop, base) = (acked.clone(), stop.clone(), base.clone());
            std::thread::spawn(move || {
                let agent = agent();
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    let Ok(mut r) = agent.post(&format!("{base}/v1/issues")).send_json(raise_body(c * 10_000 + n))
                    else {
                        return;
                    };
                    n += 1;
                    if r.status() != 201 {
                        continue;
                    }
                    let Ok(body) = r.body_mut().read_json::<Value>() else { return };
                    let id = body["issue"]["id"].as_str().unwrap().to_string();
                    acked
                        .lock()
                        .unwrap()
                        .entry(id.clone())
                        .or_default()
                        .insert(0, body["event"]["id"].as_str().unwrap().into());
                    for i in 0..20 {
                        if stop.load(Ordering::Relaxed) {
                            return;
                        }
                        let Ok(mut r) = agent.post(&format!("{base}/v1/issues/{id}/steps")).send_json(step_body(i))
                        else {
                            return;
                        };
                        if r.status() != 201 {
                            continue;
                        }
                        let Ok(b) = r.body_mut().read_json::<Value>() else { return };
                        let v = b["event"]["version"].as_u64().unwrap();
                        acked
                            .lock()
                            .unwrap()
                            .entry(id.clone())
                            .or_default()
                            .insert(v, b["event"]["id"].as_str().unwrap().into());
                    }
                }
            })
        })
        .collect()
}

pub(crate) fn wait_for_acks(acked: &Acked, at_least: usize) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while acked.lock().unwrap().values().map(|m| m.len()).sum::<usize>() < at_least && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Restarts on the same data directory and checks every acknowledged event is there, at its
/// version, every chain verifies and global positions are gap-free.
fn verify_after_restart(dir: &Path, acked: &HashMap<String, BTreeMap<u64, String>>) {
    let total: usize = acked.values().map(|m| m.len()).sum();
    // Restart on the same data directory.
    let server = start(dir, free_port());
    let agent = agent();
    for (id, versions) in acked {
        let mut r = agent.get(&format!("{}/v1/issues/{id}/events", server.base)).call().unwrap();
        assert_eq!(r.status(), 200, "issue {id} lost");
        let body: Value = r.body_mut().read_json().unwrap();
        let events: Vec<RecordedEvent> = serde_json::from_value(body["items"].clone()).unwrap();
        verify_chain(&events).unwrap_or_else(|e| panic!("chain of {id} broken: {e}"));
        for (v, event_id) in versions {
            let e = events.get(*v as usize).unwrap_or_else(|| panic!("acknowledged {id} v{v} lost"));
            assert_eq!(&e.id.to_string(), event_id, "{id} v{v} is a different event");
        }
    }
    // The whole log: positions gap-free from 1.
    let mut after = 0u64;
    loop {
        let mut r = agent.get(&format!("{}/v1/events?after={after}&limit=1000", server.base)).call().unwrap();
        let body: Value = r.body_mut().read_json().unwrap();
        let items = body["items"].as_array().unwrap();
        if items.is_empty() {
            break;
        }
        for e in items {
            after += 1;
            assert_eq!(e["position"].as_u64().unwrap(), after, "gap in global positions");
        }
    }
    assert!(after as usize >= total);
}

#[test]
fn sigkill_during_appends_loses_no_acknowledged_event() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = start(dir.path(), free_port());
    let acked: Acked = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let clients = spawn_clients(&server.base, &acked, &stop);
    wait_for_acks(&acked, 300);
    // Kill mid-flight (SIGKILL: no shutdown code runs).
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    let total: usize = acked.values().map(|m| m.len()).sum();
    assert!(total >= 300, "clients got only {total} acknowledgements before the kill");
    verify_after_restart(dir.path(), &acked);
}

#[test]
fn sigterm_during_appends_stops_cleanly_and_keeps_every_acknowledged_event() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = start(dir.path(), free_port());
    let acked: Acked = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let clients = spawn_clients(&server.base, &acked, &stop);
    wait_for_acks(&acked, 200);
    // An open live feed must not hold the shutdown up.
    let live = agent().get(&format!("{}/v1/events/live", server.base)).call().unwrap();
    assert_eq!(live.status(), 200);
    let status = Command::new("kill").args(["-TERM", &server.child.id().to_string()]).status().unwrap();
    assert!(status.success());
    // Under actix's 10 s shutdown timeout: a live stream holding the stop up would fail this.
    let deadline = Instant::now() + Duration::from_secs(5);
    let exit = loop {
        if let Some(s) = server.child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "convene serve did not stop within 5 s of SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(exit.success(), "a clean stop exits 0, got {exit:?}");
    drop(live);
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    verify_after_restart(dir.path(), &acked);
    // The WAL was folded back on the clean stop; the database file holds everything.
    assert!(dir.path().join("convene.db").exists());
}

/// The WAL is zero-filled ahead of the writer at start (`sqlite_wal.rs`); a file system that
/// refuses (here: a file-size limit far below the ~49 MB, as a nearly full disk would) must
/// cost only that speed-up, never the server.
#[test]
fn a_server_that_cannot_preallocate_its_log_still_starts_and_keeps_what_it_acknowledges() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    // A limit of ~8 MB (POSIX `ulimit -f` counts 512-byte blocks; bash counts KiB), with
    // SIGXFSZ ignored so an over-long write fails with EFBIG instead of killing the process.
    let mut sh = Command::new("sh");
    sh.arg("-c").arg("trap '' XFSZ; ulimit -f 16000 && exec \"$0\" \"$@\"").arg(convene_bin());
    let server = start_serve_by(sh, dir.path(), port, &[]);
    let agent = agent();
    let mut resp = agent.post(&format!("{}/v1/issues", server.base)).send_json(raise_body(1)).unwrap();
    assert_eq!(resp.status(), 201, "{}", resp.body_mut().read_to_string().unwrap());
    let wal = std::fs::metadata(dir.path().join("convene.db-wal")).unwrap().len();
    assert!(wal < 16_000 * 1024, "the limit held the WAL down ({wal} bytes), yet the server serves");
    drop(server);
    let store = crate::support::open_sqlite(dir.path());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let events = rt.block_on(store.read_all(0, 1_000)).unwrap();
    assert!(events.iter().any(|e| e.event_type == "IssueRaised"), "the acknowledged raise is in the log");
}
