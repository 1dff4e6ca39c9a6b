//! Time travel everywhere: an issue and a meeting shown as they were at a stream version or a
//! time, through the engine and over REST. An issue replays through the workflow version it
//! is pinned to (the definition in force when it was raised), whatever was published since.
//! Meeting kinds are not versioned data in the log (they ship with the binary) and meeting
//! replay does not read them, so a meeting's past state depends on its events alone.

use crate::meeting_specs::payloads::{rep, scheduled};
use crate::support::{self, payload, shipped_doc};
use actix_web::App;
use actix_web::test as web;
use convene_api::http::{AppState, configure};
use convene_engine::meeting::MeetingStatus;
use convene_engine::service::{AsOf, MeetingCommand, ScheduleMeeting};
use convene_engine::{Actor, Engine, EngineError};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

fn convener() -> Actor {
    Actor::new("c-1", "convener").named("张书记")
}

async fn meeting_step(engine: &Engine, id: &str, step_type: &str, data: Value) -> convene_engine::RecordedEvent {
    tokio::time::sleep(Duration::from_millis(3)).await;
    engine
        .meeting_step(MeetingCommand {
            meeting_id: id.into(),
            step_type: step_type.into(),
            data,
            actor: convener(),
            expected_version: None,
            idempotency_key: None,
        })
        .await
        .unwrap_or_else(|e| panic!("{step_type}: {e}"))
        .event
}

/// A meeting scheduled (v0), a representative invited (v1), opened (v2), closed (v3); the
/// recorded time of each.
async fn held_meeting(engine: &Engine, id: &str) -> Vec<chrono::DateTime<chrono::Utc>> {
    let scheduled = engine
        .schedule_meeting(ScheduleMeeting {
            meeting_id: Some(id.into()),
            data: scheduled("consultation_day"),
            actor: convener(),
            idempotency_key: None,
        })
        .await
        .expect("schedule");
    let mut times = vec![scheduled.event.recorded_at];
    times.push(meeting_step(engine, id, "ParticipantInvited", rep("rr-1", "陈建国")).await.recorded_at);
    times.push(meeting_step(engine, id, "MeetingOpened", json!({})).await.recorded_at);
    times.push(meeting_step(engine, id, "MeetingClosed", json!({})).await.recorded_at);
    assert!(times.windows(2).all(|w| w[0] < w[1]), "distinct times: {times:?}");
    times
}

const STATUSES: [(MeetingStatus, usize); 4] = [
    (MeetingStatus::Scheduled, 0),
    (MeetingStatus::Scheduled, 1),
    (MeetingStatus::InSession, 1),
    (MeetingStatus::Closed, 1),
];

#[tokio::test]
async fn a_meeting_is_shown_as_it_was_at_each_version_and_at_each_time() {
    let (_dir, engine) = support::fresh_engine().await;
    let times = held_meeting(&engine, "tt-meeting").await;
    for (v, (status, invited)) in STATUSES.iter().enumerate() {
        let m = engine.meeting_as_of("tt-meeting", AsOf::Version(v as u64)).await.expect("as of version");
        assert_eq!((m.status, m.participants.len(), m.version), (*status, *invited, v as u64), "version {v}");
        let at = engine.meeting_as_of("tt-meeting", AsOf::Time(times[v])).await.expect("as of time");
        assert_eq!((at.status, at.version), (*status, v as u64), "at the time of version {v}");
        if v > 0 {
            let before = times[v] - chrono::Duration::microseconds(1);
            let b = engine.meeting_as_of("tt-meeting", AsOf::Time(before)).await.expect("just before");
            assert_eq!(b.version, v as u64 - 1, "just before version {v}");
        }
    }
    let err = engine
        .meeting_as_of("tt-meeting", AsOf::Time(times[0] - chrono::Duration::seconds(1)))
        .await
        .expect_err("before it was scheduled");
    assert!(matches!(err, EngineError::NotYetRaised(_)), "{err:?}");
    assert_eq!(
        engine.meeting_as_of("tt-meeting", AsOf::Version(99)).await.expect("future version"),
        engine.meeting("tt-meeting").await.expect("now")
    );
}

#[actix_web::test]
async fn a_meeting_over_rest_by_version_and_by_time() {
    let (_dir, engine) = support::fresh_engine().await;
    let engine = Arc::new(engine);
    let times = held_meeting(&engine, "tt-meeting").await;
    let app = web::init_service(App::new().configure(configure(AppState::insecure_dev(engine.clone())))).await;
    let get = |q: String| web::TestRequest::get().uri(&format!("/v1/meetings/tt-meeting{q}")).to_request();
    for (v, (status, _)) in STATUSES.iter().enumerate() {
        let r = web::call_service(&app, get(format!("?version={v}"))).await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers().get("etag").unwrap().to_str().unwrap(), format!("\"{v}\""));
        let m: Value = serde_json::from_slice(&web::read_body(r).await).unwrap();
        assert_eq!(m["status"], status.as_str(), "version {v}");
        let at = times[v].to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        let m: Value = web::call_and_read_body_json(&app, get(format!("?at={at}"))).await;
        assert_eq!((m["status"].as_str(), m["version"].as_u64()), (Some(status.as_str()), Some(v as u64)), "at {at}");
    }
    assert_eq!(web::call_service(&app, get("?version=9".into())).await.status(), 404);
    assert_eq!(web::call_service(&app, get("?version=1&at=2026-01-01T00:00:00Z".into())).await.status(), 400);
}

fn community_issue_v2() -> Value {
    let mut doc = shipped_doc("community-issue");
    doc["version"] = json!(2);
    doc["states"]["assessed"]["title"] = json!({"zh-CN": "已评估（第二版）", "en": "Assessed (v2)"});
    doc
}

#[actix_web::test]
async fn an_issue_as_of_a_time_after_a_new_workflow_version_still_replays_through_its_pinned_version() {
    let (_dir, engine) = support::fresh_engine().await;
    let engine = Arc::new(engine);
    let old = engine.raise(support::raise_community_issue()).await.expect("raise under v1").issue.id;
    support::record_all(&engine, &old, &support::to_assessed()).await;
    tokio::time::sleep(Duration::from_millis(3)).await;
    engine.publish_workflow(&community_issue_v2(), &support::actor("community_staff")).await.expect("publish v2");
    let new = engine.raise(support::raise_community_issue()).await.expect("raise under v2").issue.id;
    engine.step(support::step(&new, "NeedAssessed", payload::need_assessed(), "social_worker")).await.expect("step");
    let after_v2 = chrono::Utc::now();

    // By time, after v2 was in force: the old issue is still shown through v1, the new through v2.
    let o = engine.issue_as_of(&old, AsOf::Time(after_v2)).await.expect("old as of time");
    assert_eq!((o.workflow.version, o.state.as_str(), o.state_title.zh.as_str()), (1, "assessed", "已完成需求评估"));
    let n = engine.issue_as_of(&new, AsOf::Time(after_v2)).await.expect("new as of time");
    assert_eq!((n.workflow.version, n.state_title.zh.as_str()), (2, "已评估（第二版）"));
    // By version: the same rule.
    let n0 = engine.issue_as_of(&new, AsOf::Version(0)).await.expect("new as of version 0");
    assert_eq!((n0.workflow.version, n0.state.as_str()), (2, "raised"));

    let app = web::init_service(App::new().configure(configure(AppState::insecure_dev(engine.clone())))).await;
    let at = after_v2.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    for (id, title) in [(&old, "已完成需求评估"), (&new, "已评估（第二版）")] {
        let uri = format!("/v1/issues/{id}?at={at}");
        let s: Value = web::call_and_read_body_json(&app, web::TestRequest::get().uri(&uri).to_request()).await;
        assert_eq!(s["state_title"]["zh-CN"], title, "{uri}");
        let uri = format!("/v1/issues/{id}?version=1");
        let s: Value = web::call_and_read_body_json(&app, web::TestRequest::get().uri(&uri).to_request()).await;
        assert_eq!(s["state_title"]["zh-CN"], title, "{uri}");
    }
}
