//! 广场舞扰民 — a square-dance noise complaint from raised to closed, through the engine.
//!
//! Run: `cargo run -p convene-engine --example square_dance`
//!
//! It opens a fresh embedded store in a temporary directory, raises the matter, records each
//! deliberation step (assessment, consultation day, the pact adopted 31/4/2, a mediation
//! micro-team, evaluation, closing), shows a refused step, travels back to version 2, and
//! verifies the stream's hash chain.

use convene_engine::event::verify_chain;
use convene_engine::service::{AsOf, RaiseIssue, RecordStep};
use convene_engine::store::{SqliteOptions, SqliteStore};
use convene_engine::{Actor, Engine, EngineError, EventStore};
use serde_json::{Value, json};
use std::sync::Arc;

fn step(issue: &str, t: &str, data: Value, id: &str, role: &str) -> RecordStep {
    RecordStep {
        issue_id: issue.into(),
        event_type: t.into(),
        data,
        actor: Actor::new(id, role),
        expected_version: None,
        idempotency_key: None,
        correlation_id: None,
        causation_id: None,
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("convene-example-{}", uuid::Uuid::now_v7()));
    let store: Arc<dyn EventStore> = Arc::new(SqliteStore::open(SqliteOptions::in_dir(&dir))?);
    let engine = Engine::open(store.clone()).await?;
    engine.bootstrap_workflows().await?;

    let raised = engine
        .raise(RaiseIssue {
            workflow_id: "community-issue".into(),
            workflow_version: None,
            data: json!({
                "community": "wuhan/wuchang/zhongnan-street/dongting-community",
                "title": {"zh-CN": "广场舞音量过大影响休息", "en": "Square-dance music too loud at night"},
                "category": "noise", "households_affected": 86,
                "raised_by": {"name": "王秀英", "society": "community"}, "channel": "mini_program"
            }),
            actor: Actor::new("r-1", "resident").named("王秀英"),
            idempotency_key: None,
        })
        .await?;
    let id = raised.issue.id.clone();
    println!("raised {id}: {}", raised.issue.state_title.both());

    let meeting = "dongting-2026-11-consultation-day";
    let steps = [
        step(
            &id,
            "NeedAssessed",
            json!({"assessor": {"name": "李娜", "society": "social_worker"}, "method": "door_to_door", "households_visited": 40,
            "findings": {"zh-CN": "多数住户支持限定时段和音量", "en": "Most support limited hours and volume"}, "priority": "high", "recommended_steps": ["micro_pact", "micro_team"]}),
            "sw-1",
            "social_worker",
        ),
        step(
            &id,
            "PlacedOnAgenda",
            json!({"meeting_id": meeting, "meeting_kind": "consultation_day"}),
            "c-1",
            "convener",
        ),
        step(
            &id,
            "Deliberated",
            json!({"meeting_id": meeting, "summary": {"zh-CN": "舞蹈队与住户协商时段", "en": "Dancers and residents agree on hours"}, "participants": 37}),
            "c-1",
            "convener",
        ),
        step(
            &id,
            "ResolutionPassed",
            json!({"meeting_id": meeting, "motion_id": "m-1", "votes": {"for": 31, "against": 4, "abstain": 2}, "rule": "majority",
            "resolution": {"zh-CN": "制定广场舞微公约，组建调解微团队", "en": "Adopt a pact; form a mediation team"}, "decided_steps": ["micro_pact", "micro_team"]}),
            "c-1",
            "convener",
        ),
        step(
            &id,
            "MicroPactDrafted",
            json!({"pact_id": "dance-pact", "title": {"zh-CN": "广场舞文明公约", "en": "Square-dance pact"},
            "clauses": [{"zh-CN": "每晚 19:00—21:00", "en": "19:00-21:00 only"}, {"zh-CN": "音量不超过 60 分贝", "en": "Under 60 dB"}]}),
            "rr-1",
            "resident_representative",
        ),
        step(
            &id,
            "MicroPactPublicized",
            json!({"pact_id": "dance-pact", "channels": ["notice_board", "wechat_group"], "from": "2026-11-23", "until": "2026-11-30"}),
            "cs-1",
            "community_staff",
        ),
        step(
            &id,
            "MicroPactAdopted",
            json!({"pact_id": "dance-pact", "meeting_id": meeting, "votes": {"for": 31, "against": 4, "abstain": 2}, "effective_from": "2026-12-01"}),
            "c-1",
            "convener",
        ),
        step(
            &id,
            "MicroTeamFormed",
            json!({"team_id": "mediators", "name": {"zh-CN": "邻里调解微团队", "en": "Neighbourhood mediators"},
            "purpose": {"zh-CN": "劝导并调解噪音纠纷"}, "leader": {"name": "张建国", "society": "volunteer"}, "members_count": 6}),
            "c-1",
            "convener",
        ),
        step(
            &id,
            "Evaluated",
            json!({"evaluator": {"name": "赵敏"}, "satisfaction": 4, "households_surveyed": 30, "outcome": "resolved"}),
            "rr-1",
            "resident_representative",
        ),
    ];
    for s in steps {
        let t = s.event_type.clone();
        let o = engine.step(s).await?;
        println!("v{:<2} {:<22} → {}", o.event.version, t, o.issue.state_title.both());
    }

    // A step the workflow does not allow now is refused, with what is allowed instead.
    match engine.step(step(&id, "NeedAssessed", json!({}), "sw-1", "social_worker")).await {
        Err(EngineError::Refused(r)) => {
            println!("refused: {}", r.message().both());
            for a in r.allowed() {
                println!("  allowed: {} ({})", a.event_type, a.label.both());
            }
        }
        other => println!("unexpected: {other:?}"),
    }

    let o = engine
        .step(step(
            &id,
            "IssueClosed",
            json!({"reason": "resolved", "summary": {"zh-CN": "噪音问题已解决", "en": "Solved"}}),
            "c-1",
            "convener",
        ))
        .await?;
    println!(
        "closed: {} (pact {}, {} team)",
        o.issue.state_title.both(),
        o.issue.record.pacts[0].status,
        o.issue.record.teams.len()
    );

    let then = engine.issue_as_of(&id, AsOf::Version(2)).await?;
    println!("as of version 2 it was: {}", then.state_title.both());

    let events = engine.issue_events(&id).await?;
    verify_chain(&events)?;
    println!("hash chain of {} events verified; last hash {}", events.len(), events[events.len() - 1].hash);

    store.close().await;
    std::fs::remove_dir_all(dir)?;
    Ok(())
}
