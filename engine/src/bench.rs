//! The workload behind `convene bench`: realistic issue lifecycles appended to a fresh store
//! by one writer and by 64 concurrent writers, then the whole log replayed into issue states.
//!
//! Every event is one the community-issue workflow accepts (a unit test pushes a lifecycle
//! through `Engine::step`), so the replay figure is the real fold, transitions and record
//! included — not a read of opaque rows.

use crate::event::{Actor, NewEvent};
use crate::service::{Engine, EngineError, read_log, replay_log};
use crate::store::{EventStore, ExpectedVersion, SqliteOptions, SqliteStore, SubscribeExt};
use serde::Serialize;
use serde_json::{Value, json};
use std::io::{Seek, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;
use uuid::Uuid;

/// Concurrent writers in the concurrent phase.
pub const WRITERS: usize = 64;

#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    /// The store benchmarked (`sqlite`, `postgres`, …).
    pub backend: String,
    /// Events in the log at the end (both append phases).
    pub events: u64,
    pub issues: u64,
    pub append_single_events: u64,
    /// Durable appends per second, one writer, one event per append.
    pub append_single_per_s: f64,
    pub append_concurrent_events: u64,
    pub append_concurrent_writers: usize,
    /// Durable appends per second, 64 writers on distinct issues, one event per append.
    pub append_concurrent_per_s: f64,
    /// Appends carried per durable transaction in the concurrent phase (group commit at work).
    pub appends_per_commit: f64,
    /// A live subscription running through the concurrent phase: events it delivered per
    /// second, from the phase's start until it had delivered the phase's last event.
    pub subscriber_per_s: f64,
    /// How long after the last concurrent append was acknowledged the subscriber had delivered
    /// it (ms): near 0 means it kept up.
    pub subscriber_lag_ms: f64,
    /// Events the subscriber delivered out of order or twice, or skipped (must be 0).
    pub subscriber_gaps: u64,
    /// Full replay of the log into issue states (read + fold through the workflow), events/s.
    pub replay_per_s: f64,
    /// The same replay, also recomputing and checking every hash chain, events/s.
    pub replay_verify_per_s: f64,
    /// The whole log read the way a replay reads it, folding nothing, events/s: the store's
    /// share of a replay, and a ceiling no replay on this machine can pass.
    pub read_per_s: f64,
    /// CPU time this process spent per event in the concurrent phase (µs, all threads: writer,
    /// clients, subscriber), where the platform tells (Linux). Unlike the rates, it barely
    /// moves when other work shares the machine, so it is what to compare between builds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub append_concurrent_cpu_us: Option<f64>,
    /// CPU time per event of the replay (µs, all threads), where the platform tells.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replay_cpu_us: Option<f64>,
    /// How fast this machine ran a fixed piece of single-threaded work just before the replay:
    /// parsing the bench's own payloads into `serde_json::Value`, MB/s. Shared virtual
    /// machines drift (the same build's replay rate has moved by a third between sessions on
    /// the same kind of machine), so rates from different runs compare only alongside it.
    pub host_json_mb_per_s: f64,
    /// How many durable writes per second the disk under the bench's directory took just
    /// before the appends: 16 KiB rewritten in place and synced (`fdatasync`), over and over.
    /// A durable append waits for one such sync, so this is one writer's ceiling. `None` if
    /// the probe could not write there.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_sync_per_s: Option<f64>,
    /// Replay problems (must be 0: every event was allowed by the workflow).
    pub replay_anomalies: u64,
    pub broken_chains: u64,
}

/// CPU seconds this process has used (user + system, all threads), on Linux; `None` elsewhere.
/// Read from `/proc/self/stat` (clock ticks, usually 10 ms): fine for phases of seconds.
fn process_cpu_s() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses and may contain spaces.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// The host's speed at fold-like work right now: the lifecycle's payloads parsed into
/// `serde_json::Value` on one thread for ~300 ms, MB/s. The code it runs is serde_json's,
/// which only changes with Cargo.lock, so it tells the machine's drift apart from ours.
fn host_json_mb_per_s() -> f64 {
    let texts: Vec<String> = lifecycle(0).into_iter().map(|(_, d, _)| d.to_string()).collect();
    let bytes: usize = texts.iter().map(String::len).sum();
    let start = Instant::now();
    let mut rounds = 0u64;
    while start.elapsed() < std::time::Duration::from_millis(300) {
        for t in &texts {
            // black_box: the parse must happen even though its result is dropped.
            let _ = std::hint::black_box(serde_json::from_str::<Value>(std::hint::black_box(t)));
        }
        rounds += 1;
    }
    rounds as f64 * bytes as f64 / start.elapsed().as_secs_f64() / 1e6
}

/// The disk's durable-write rate in `dir` right now: 16 KiB rewritten in place and synced,
/// over and over for ~300 ms, per second. In place, as SQLite rewrites its WAL once a
/// checkpoint has let it restart, so a sync has only data to flush. See
/// [`BenchReport::host_sync_per_s`].
fn host_sync_per_s(dir: &Path) -> Option<f64> {
    let path = dir.join(format!(".convene-sync-probe-{}", Uuid::now_v7()));
    let probe = || -> std::io::Result<f64> {
        let mut f = std::fs::OpenOptions::new().create_new(true).write(true).open(&path)?;
        let block = vec![0x5a_u8; 16 * 1024];
        f.write_all(&block)?;
        f.sync_all()?;
        let start = Instant::now();
        let mut syncs = 0u64;
        while start.elapsed() < std::time::Duration::from_millis(300) {
            f.rewind()?;
            f.write_all(&block)?;
            f.sync_data()?;
            syncs += 1;
        }
        Ok(syncs as f64 / start.elapsed().as_secs_f64())
    };
    let rate = probe();
    let _ = std::fs::remove_file(&path);
    rate.ok()
}

/// µs of CPU per event between two readings of [`process_cpu_s`].
fn cpu_us_per_event(before: Option<f64>, after: Option<f64>, events: u64) -> Option<f64> {
    Some((after? - before?) * 1e6 / events.max(1) as f64)
}

fn party(name: &str, society: &str) -> Value {
    json!({"name": name, "society": society})
}

fn text(zh: &str, en: &str) -> Value {
    json!({"zh-CN": zh, "en": en})
}

/// The steps of one realistic community-issue lifecycle (square-dance noise, 广场舞扰民).
pub fn lifecycle(n: u64) -> Vec<(&'static str, Value, Actor)> {
    let community = format!("wuhan/wuchang/zhongnan-street/c{:03}", n % 15);
    let meeting = format!("m-{}", n / 10);
    let a = |id: &str, role: &str| Actor::new(id, role);
    vec![
        (
            "IssueRaised",
            json!({
                "community": community, "workflow_id": "community-issue", "workflow_version": 1,
                "title": text("广场舞音量过大影响休息", "Square-dance music too loud at night"),
                "description": text("晚间九点后仍有音乐，影响老人和学生休息。", "Music after 9 pm keeps elderly and students awake."),
                "category": "noise", "households_affected": 40 + n % 200,
                "raised_by": party("王秀英", "community"), "channel": "mini_program", "location": "3 栋北侧广场",
            }),
            a("r1", "resident"),
        ),
        (
            "NeedAssessed",
            json!({
                "assessor": party("李社工", "social_worker"), "method": "door_to_door", "households_visited": 36,
                "findings": text("多数住户支持限定时段和音量。", "Most households support limited hours and volume."),
                "priority": "high", "recommended_steps": ["micro_pact", "micro_team"],
            }),
            a("sw1", "social_worker"),
        ),
        (
            "PlacedOnAgenda",
            json!({"meeting_id": meeting, "meeting_kind": "consultation_day", "scheduled_for": "2026-11-20T01:30:00Z"}),
            a("c1", "convener"),
        ),
        (
            "Deliberated",
            json!({"meeting_id": meeting, "summary": text("居民代表与舞蹈队协商时段。", "Representatives and the dance team agreed on hours."), "participants": 37}),
            a("c1", "convener"),
        ),
        (
            "ResolutionPassed",
            json!({"meeting_id": meeting, "motion_id": format!("mo-{n}"), "votes": {"for": 31, "against": 4, "abstain": 2}, "rule": "majority",
            "resolution": text("制定广场舞微公约并组建调解微团队。", "Draft a square-dance pact and form a mediation team."), "decided_steps": ["micro_pact", "micro_team"]}),
            a("c1", "convener"),
        ),
        (
            "MicroPactDrafted",
            json!({"pact_id": format!("p-{n}"), "title": text("广场舞文明公约", "Square-dance pact"),
            "clauses": [text("每晚 19:00—21:00 活动", "Dance 19:00-21:00 only"), text("音量不超过 60 分贝", "Volume under 60 dB")]}),
            a("rr1", "resident_representative"),
        ),
        (
            "MicroPactPublicized",
            json!({"pact_id": format!("p-{n}"), "channels": ["notice_board", "wechat_group"], "from": "2026-11-21", "until": "2026-11-28"}),
            a("cs1", "community_staff"),
        ),
        (
            "MicroPactAdopted",
            json!({"pact_id": format!("p-{n}"), "meeting_id": meeting, "votes": {"for": 31, "against": 4, "abstain": 2}, "effective_from": "2026-12-01"}),
            a("c1", "convener"),
        ),
        (
            "MicroTeamFormed",
            json!({"team_id": format!("t-{n}"), "name": text("邻里调解微团队", "Neighbourhood mediation team"),
            "purpose": text("劝导并调解噪音纠纷", "Mediate noise disputes"), "leader": party("张建国", "volunteer"), "members_count": 6, "society": "volunteer"}),
            a("c1", "convener"),
        ),
        (
            "MicroProjectUndertaken",
            json!({"project_id": format!("pr-{n}"), "title": text("静音耳机共享", "Silent-disco headsets"),
            "undertaken_by": party("江城社工服务中心", "social_organisation"), "budget_fen": 300_000, "funding_source": "micro_venture"}),
            a("so1", "social_organisation"),
        ),
        (
            "MicroProjectProgressReported",
            json!({"project_id": format!("pr-{n}"), "percent": 50, "summary": text("已采购 20 副耳机", "20 headsets bought"), "spent_fen": 150_000, "disclosed": true}),
            a("so1", "social_organisation"),
        ),
        (
            "MicroProjectCompleted",
            json!({"project_id": format!("pr-{n}"), "outcome": text("舞蹈队改用耳机", "The dance team now uses headsets"), "spent_fen": 290_000, "beneficiaries": 120}),
            a("so1", "social_organisation"),
        ),
        (
            "MicroCharityPledged",
            json!({"pledge_id": format!("pl-{n}"), "donor": {"name": "社区基金", "kind": "community_fund"}, "kind": "money", "amount_fen": 50_000}),
            a("ch1", "charity"),
        ),
        (
            "MicroCharityDelivered",
            json!({"pledge_id": format!("pl-{n}"), "amount_fen": 50_000, "delivered_to": text("舞蹈队", "the dance team")}),
            a("ch1", "charity"),
        ),
        (
            "Evaluated",
            json!({"evaluator": party("赵代表", "community"), "satisfaction": 4, "households_surveyed": 30, "outcome": "resolved"}),
            a("rr1", "resident_representative"),
        ),
        (
            "IssueClosed",
            json!({"reason": "resolved", "summary": text("噪音问题已解决", "The noise problem is solved")}),
            a("c1", "convener"),
        ),
    ]
}

fn events_for(n: u64) -> Vec<NewEvent> {
    lifecycle(n).into_iter().map(|(t, d, a)| NewEvent::new(t, &d, a)).collect()
}

/// Runs the benchmark on a fresh embedded store in `dir` with about `events` events in total.
pub async fn run(dir: &Path, events: u64, progress: &(dyn Fn(&str) + Sync)) -> Result<BenchReport, EngineError> {
    // Opened as the server opens it.
    let store: Arc<dyn EventStore> = Arc::new(SqliteStore::open(SqliteOptions::in_dir(dir).preallocating_wal())?);
    run_on(store, events, dir, progress).await
}

/// Runs the benchmark on an empty store of any backend; closes it at the end. The disk's
/// sync rate is probed in `sync_probe_dir` (where the log lives, for the embedded store).
pub async fn run_on(
    store: Arc<dyn EventStore>,
    events: u64,
    sync_probe_dir: &Path,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<BenchReport, EngineError> {
    let per_issue = lifecycle(0).len() as u64;
    if *store.head().borrow() != 0 {
        return Err(EngineError::InvalidRequest("the benchmark needs an empty store".into()));
    }
    let counts = || store.commit_counts().unwrap_or((0, 0));
    let engine = Engine::open(store.clone()).await?;
    engine.bootstrap_workflows().await?;

    let total_issues = events.div_ceil(per_issue).max(WRITERS as u64 * 2);
    let single_issues = (total_issues / 10).max(1);
    let concurrent_issues = total_issues - single_issues;

    progress("disk sync rate");
    let probe_dir = sync_probe_dir.to_path_buf();
    let host_sync_per_s = tokio::task::spawn_blocking(move || host_sync_per_s(&probe_dir)).await.ok().flatten();

    // Phase 1: one writer, one event per durable append.
    progress("append, 1 writer");
    let prepared: Vec<(String, Vec<NewEvent>)> =
        (0..single_issues).map(|n| (format!("issue-{}", Uuid::now_v7()), events_for(n))).collect();
    let start = Instant::now();
    let mut single_events = 0u64;
    for (stream, evs) in prepared {
        for (v, e) in evs.into_iter().enumerate() {
            let expected = if v == 0 { ExpectedVersion::NoStream } else { ExpectedVersion::Exact(v as u64 - 1) };
            store.append(&stream, expected, vec![e]).await?;
            single_events += 1;
        }
    }
    let single_s = start.elapsed().as_secs_f64();

    // Phase 2: 64 writers on distinct issues, one event per append, each waiting for its ack.
    progress("append, 64 writers");
    let mut work: Vec<Vec<(String, Vec<NewEvent>)>> = (0..WRITERS).map(|_| Vec::new()).collect();
    for k in 0..concurrent_issues {
        work[(k % WRITERS as u64) as usize].push((format!("issue-{}", Uuid::now_v7()), events_for(single_issues + k)));
    }
    let concurrent_events: u64 = work.iter().flatten().map(|(_, e)| e.len() as u64).sum();
    let (c0, a0) = counts();
    // A live subscriber follows the log through the phase, checking order as it goes.
    let from = *store.head().borrow();
    let target = from + concurrent_events;
    let mut sub = store.subscribe(from);
    let subscriber = tokio::spawn(async move {
        let mut expected = from + 1;
        let mut gaps = 0u64;
        while expected <= target {
            let e = sub.next_shared().await?;
            if e.position != expected {
                gaps += 1;
            }
            expected = e.position + 1;
        }
        Ok::<_, crate::StoreError>((Instant::now(), gaps))
    });
    let start = Instant::now();
    let cpu0 = process_cpu_s();
    let tasks: Vec<_> = work
        .into_iter()
        .map(|issues| {
            let store = store.clone();
            tokio::spawn(async move {
                for (stream, evs) in issues {
                    for (v, e) in evs.into_iter().enumerate() {
                        let expected =
                            if v == 0 { ExpectedVersion::NoStream } else { ExpectedVersion::Exact(v as u64 - 1) };
                        store.append(&stream, expected, vec![e]).await?;
                    }
                }
                Ok::<_, crate::StoreError>(())
            })
        })
        .collect();
    for t in tasks {
        t.await.map_err(|e| EngineError::InvalidRequest(format!("writer task failed: {e}")))??;
    }
    let acked = Instant::now();
    let cpu1 = process_cpu_s();
    let concurrent_s = (acked - start).as_secs_f64();
    let (commits, appends) = counts();
    let (caught_up, subscriber_gaps) =
        subscriber.await.map_err(|e| EngineError::InvalidRequest(format!("subscriber task failed: {e}")))??;
    let subscriber_s = (caught_up - start).as_secs_f64();
    let subscriber_lag_ms = caught_up.saturating_duration_since(acked).as_secs_f64() * 1000.0;

    // Phase 3: replay the whole log into issue states, then again verifying chains.
    progress("host speed");
    let host_json_mb_per_s = tokio::task::spawn_blocking(host_json_mb_per_s)
        .await
        .map_err(|e| EngineError::InvalidRequest(format!("host speed probe failed: {e}")))?;
    progress("replay");
    let start = Instant::now();
    let cpu2 = process_cpu_s();
    let r = replay_log(store.clone(), None, false, &|_| {}).await?;
    let replay_s = start.elapsed().as_secs_f64();
    let cpu3 = process_cpu_s();
    let anomalies: u64 =
        r.index.issues().map(|s| s.anomalies.len() as u64).sum::<u64>() + r.index.problems().len() as u64;
    let replayed = r.events;
    let issues = r.index.issue_count() as u64;
    drop(r);
    progress("replay + verify chains");
    let start = Instant::now();
    let v = replay_log(store.clone(), None, true, &|_| {}).await?;
    let verify_s = start.elapsed().as_secs_f64();
    let broken = v.chains.as_ref().map(|c| c.broken.len() as u64).unwrap_or(0);
    drop(v);
    progress("read the log, no fold");
    let start = Instant::now();
    let read = read_log(store.clone()).await?;
    let read_s = start.elapsed().as_secs_f64();
    store.close().await;

    Ok(BenchReport {
        backend: store.backend().to_string(),
        events: replayed,
        issues,
        append_single_events: single_events,
        append_single_per_s: single_events as f64 / single_s,
        append_concurrent_events: concurrent_events,
        append_concurrent_writers: WRITERS,
        append_concurrent_per_s: concurrent_events as f64 / concurrent_s,
        appends_per_commit: (appends - a0) as f64 / (commits - c0).max(1) as f64,
        subscriber_per_s: concurrent_events as f64 / subscriber_s,
        subscriber_lag_ms,
        subscriber_gaps,
        replay_per_s: replayed as f64 / replay_s,
        replay_verify_per_s: replayed as f64 / verify_s,
        read_per_s: read as f64 / read_s,
        append_concurrent_cpu_us: cpu_us_per_event(cpu0, cpu1, concurrent_events),
        replay_cpu_us: cpu_us_per_event(cpu2, cpu3, replayed),
        host_json_mb_per_s,
        host_sync_per_s,
        replay_anomalies: anomalies,
        broken_chains: broken,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::{RaiseIssue, RecordStep};

    #[tokio::test]
    async fn the_bench_lifecycle_is_accepted_by_the_community_issue_workflow() {
        let dir = std::env::temp_dir().join(format!("convene-bench-test-{}", Uuid::now_v7()));
        let store: Arc<dyn EventStore> = Arc::new(SqliteStore::open(SqliteOptions::in_dir(&dir)).unwrap());
        let engine = Engine::open(store.clone()).await.unwrap();
        engine.bootstrap_workflows().await.unwrap();
        let mut steps = lifecycle(7).into_iter();
        let (_, mut raised, actor) = steps.next().unwrap();
        let obj = raised.as_object_mut().unwrap();
        obj.remove("workflow_id");
        obj.remove("workflow_version");
        let o = engine
            .raise(RaiseIssue {
                workflow_id: "community-issue".into(),
                workflow_version: None,
                data: raised,
                actor,
                idempotency_key: None,
            })
            .await
            .unwrap();
        let id = o.issue.id.clone();
        for (t, data, actor) in steps {
            engine
                .step(RecordStep {
                    issue_id: id.clone(),
                    event_type: t.into(),
                    data,
                    actor,
                    expected_version: None,
                    idempotency_key: None,
                    correlation_id: None,
                    causation_id: None,
                })
                .await
                .unwrap_or_else(|e| panic!("{t} refused: {e:?}"));
        }
        let s = engine.current(&id).await.unwrap();
        assert_eq!(s.state, "closed");
        assert!(s.anomalies.is_empty());
        store.close().await;
        let _ = std::fs::remove_dir_all(dir);
    }
}
