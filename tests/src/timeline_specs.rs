//! Human timelines as specs: given an issue's or a meeting's events, the timeline shows each
//! step with when (China Standard Time and the stored UTC), who in what role, and which state
//! to which, in zh-CN and English, as Markdown and HTML, escaped for each; over REST and the
//! CLI authorised like reading the issue or meeting, and as of a version or time.

use crate::support::{self, COMMUNITY, Spec, fake_event, payload, to_deliberated};
use actix_web::App;
use actix_web::test as web;
use chrono::{DateTime, Duration, Utc};
use convene_api::http::{AppState, configure};
use convene_engine::Actor;
use convene_engine::catalog::Catalog;
use convene_engine::event::GENESIS_HASH;
use convene_engine::meeting::minutes::{Format, Lang};
use convene_engine::service::AsOf;
use convene_engine::timeline::{self, Subject, Timeline};
use serde_json::json;
use std::sync::Arc;

fn issue_timeline(spec: &Spec) -> Timeline {
    timeline::of_issue(spec.workflow(), spec.events(), Catalog::shipped()).expect("the spec's events make a timeline")
}

/// The spec clock starts at 2026-03-02T01:00:00Z (09:00 in China) and moves one hour a step.
fn assessed_spec() -> Spec {
    Spec::community_issue().given(&support::to_assessed())
}

#[test]
fn every_step_of_an_issue_carries_when_who_in_what_role_and_which_state_to_which() {
    let spec = assessed_spec();
    let tl = issue_timeline(&spec);
    assert_eq!(tl.subject, Subject::Issue);
    assert_eq!((tl.id.as_str(), tl.stream.as_str()), ("spec-0001", "issue-spec-0001"));
    assert_eq!(tl.community, COMMUNITY);
    assert_eq!(tl.definition, "community-issue v1");
    assert_eq!(tl.title, spec.state().title);
    assert_eq!(tl.steps.len(), spec.events().len());
    for (step, e) in tl.steps.iter().zip(spec.events()) {
        assert_eq!((step.version, step.position, step.at), (e.version, e.position, e.recorded_at));
        assert_eq!(step.event_type, e.event_type);
        assert_eq!(step.actor, e.actor);
    }
    let [raised, assessed] = &tl.steps[..] else { panic!("two steps: {:?}", tl.steps) };
    assert_eq!((raised.step.zh.as_str(), raised.role.zh.as_str()), ("民事民提·提出议题", "居民"));
    assert!(raised.from.is_none(), "the opening step comes from nowhere");
    assert_eq!((raised.to.name.as_str(), raised.to.title.zh.as_str()), ("raised", "已提出（民事民提）"));
    assert_eq!(assessed.step.zh, "需求评估");
    assert_eq!(assessed.step.en.as_deref(), Some("Needs assessed"));
    assert_eq!((assessed.role.zh.as_str(), assessed.role.en.as_deref()), ("社会工作者", Some("social worker")));
    assert_eq!(assessed.from.as_ref().map(|f| f.name.as_str()), Some("raised"));
    assert_eq!((assessed.to.name.as_str(), assessed.to.title.en.as_deref()), ("assessed", Some("Needs assessed")));
}

#[test]
fn the_markdown_timeline_shows_china_standard_time_beside_the_stored_utc_in_each_language() {
    let tl = issue_timeline(&assessed_spec());
    let zh = timeline::render(&tl, Lang::Zh, Format::Markdown);
    assert!(zh.starts_with("# "), "{zh}");
    assert!(zh.contains("— 议题时间线"), "{zh}");
    assert!(zh.contains("| 版本 | 时间（北京时间） | UTC（存储值） | 步骤 | 记录人 | 角色 | 状态变化 |"), "{zh}");
    assert!(
        zh.contains("| 1 | 2026-03-02 10:00:00 | 2026-03-02T02:00:00.000000Z | 需求评估 (NeedAssessed) | 测试social\\_worker (social\\_worker-01) | 社会工作者 / social worker | 已提出（民事民提） → 已完成需求评估 |"),
        "{zh}"
    );
    assert!(
        zh.contains("| 0 | 2026-03-02 09:00:00 | 2026-03-02T01:00:00.000000Z | 民事民提·提出议题 (IssueRaised)"),
        "{zh}"
    );
    assert!(zh.contains("（开始） → 已提出（民事民提）"), "{zh}");
    assert!(zh.contains("工作流：community-issue v1"), "{zh}");

    let en = timeline::render(&tl, Lang::En, Format::Markdown);
    assert!(en.contains("— Timeline of the issue"), "{en}");
    assert!(en.contains("| Version | Time (China Standard Time) | UTC (stored) | Step | Recorded by | Role | State |"));
    assert!(
        en.contains("| 1 | 2026-03-02 10:00:00 | 2026-03-02T02:00:00.000000Z | Needs assessed (NeedAssessed) | 测试social\\_worker (social\\_worker-01) | 社会工作者 / social worker | Raised by residents → Needs assessed |"),
        "{en}"
    );
    assert!(en.contains("(start) → Raised by residents"), "{en}");
}

/// A pipe that is not preceded by a backslash separates cells.
fn cells(line: &str) -> usize {
    let b = line.as_bytes();
    (0..b.len()).filter(|&i| b[i] == b'|' && (i == 0 || b[i - 1] != b'\\')).count() - 1
}

#[test]
fn names_from_the_log_are_escaped_in_html_and_markdown() {
    let hostile = Actor::new("sw-9", "social_worker").named("<img src=x onerror=alert('1')>|*李娜*&co");
    let spec =
        Spec::community_issue().when_as("NeedAssessed", payload::need_assessed(), hostile).then_state("assessed");
    let tl = issue_timeline(&spec);

    let html = timeline::render(&tl, Lang::Zh, Format::Html);
    assert!(!html.contains("<img"), "{html}");
    assert!(html.contains("&lt;img src=x onerror=alert(&#39;1&#39;)&gt;|*李娜*&amp;co (sw-9)"), "{html}");
    assert!(html.starts_with("<!DOCTYPE html>\n<html lang=\"zh-CN\">"), "{html}");
    assert!(html.contains("<td><time datetime=\"2026-03-02T02:00:00.000000Z\">2026-03-02 10:00:00</time></td><td>2026-03-02T02:00:00.000000Z</td>"), "{html}");
    assert!(html.contains("<td>社会工作者 / social worker</td><td>已提出（民事民提） → 已完成需求评估</td>"), "{html}");
    assert_eq!(html.matches("<tr>").count(), 1 + tl.steps.len(), "a header row and a row per step");
    assert!(timeline::render(&tl, Lang::En, Format::Html).starts_with("<!DOCTYPE html>\n<html lang=\"en\">"));

    let md = timeline::render(&tl, Lang::Zh, Format::Markdown);
    assert!(md.contains("\\<img src=x onerror=alert('1')\\>\\|\\*李娜\\*\\&co (sw-9)"), "{md}");
    let rows: Vec<&str> = md.lines().filter(|l| l.starts_with('|')).collect();
    assert_eq!(rows.len(), 2 + tl.steps.len(), "header, rule and a row per step: {md}");
    for row in rows {
        assert_eq!(cells(row), 7, "the name must not add a column: {row}");
    }
}

#[test]
fn a_step_the_workflow_did_not_allow_shows_the_state_unchanged() {
    // MicroPactAdopted straight after raising: kept in the log, reported by replay as an anomaly.
    let spec = Spec::community_issue().given_unchecked(&[(
        "MicroPactAdopted",
        payload::micro_pact_adopted("p-1"),
        "convener",
    )]);
    let tl = issue_timeline(&spec);
    let last = tl.steps.last().expect("a step");
    assert_eq!(last.event_type, "MicroPactAdopted");
    assert_eq!((last.from.as_ref().map(|f| f.name.as_str()), last.to.name.as_str()), (Some("raised"), "raised"));
    assert_eq!((last.role.zh.as_str(), last.role.en.as_deref()), ("召集人", Some("convener")));
}

fn meeting_events() -> Vec<convene_engine::RecordedEvent> {
    let start: DateTime<Utc> = "2026-03-15T01:30:00Z".parse().expect("literal");
    let convener = Actor::new("c-1", "convener").named("张书记");
    let steps = [
        ("MeetingScheduled", crate::meeting_specs::payloads::scheduled("consultation_day")),
        ("ParticipantInvited", crate::meeting_specs::payloads::rep("rr-1", "陈建国")),
        ("MeetingOpened", json!({"chair": {"name": "张书记", "society": "community"}})),
        ("MeetingClosed", json!({})),
    ];
    let mut events: Vec<convene_engine::RecordedEvent> = Vec::new();
    for (i, (t, data)) in steps.iter().enumerate() {
        let prev = events.last().map(|e| e.hash.clone()).unwrap_or_else(|| GENESIS_HASH.to_string());
        let at = start + Duration::minutes(30 * i as i64);
        events.push(fake_event("meeting-spec-meeting", i as u64, at, t, data, convener.clone(), &prev));
    }
    events
}

#[test]
fn every_step_of_a_meeting_shows_its_status_before_and_after() {
    let events = meeting_events();
    let tl = timeline::of_meeting(&events, Catalog::shipped()).expect("timeline");
    assert_eq!((tl.subject, tl.id.as_str(), tl.community.as_str()), (Subject::Meeting, "spec-meeting", COMMUNITY));
    assert_eq!(tl.definition, "consultation_day (社区协商民主日 / consultation democracy day)");
    let moves: Vec<(Option<&str>, &str)> =
        tl.steps.iter().map(|s| (s.from.as_ref().map(|f| f.name.as_str()), s.to.name.as_str())).collect();
    assert_eq!(
        moves,
        [
            (None, "scheduled"),
            (Some("scheduled"), "scheduled"),
            (Some("scheduled"), "in_session"),
            (Some("in_session"), "closed")
        ]
    );
    for (s, e) in tl.steps.iter().zip(&events) {
        assert_eq!(
            (s.version, s.at, &s.actor, s.event_type.as_str()),
            (e.version, e.recorded_at, &e.actor, e.event_type.as_str())
        );
        assert_eq!(s.role.both(), "召集人 / convener");
    }
    let zh = timeline::render(&tl, Lang::Zh, Format::Markdown);
    assert!(zh.contains("— 会议时间线"), "{zh}");
    assert!(zh.contains("| 2 | 2026-03-15 10:30:00 | 2026-03-15T02:30:00.000000Z |"), "{zh}");
    assert!(zh.contains("| 召集人 / convener | 已安排 → 进行中 |"), "{zh}");
    let en = timeline::render(&tl, Lang::En, Format::Html);
    assert!(en.contains("<td>in session → closed</td>"), "{en}");
}

// ---------------------------------------------------------------------------------------------
// Through the engine, REST and the CLI
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn the_engine_builds_the_timeline_from_the_store_and_cuts_it_at_a_version_or_a_time() {
    let (_dir, engine) = support::fresh_engine().await;
    let raised = engine.raise(support::raise_community_issue()).await.expect("raise");
    let id = raised.issue.id.clone();
    support::record_all(&engine, &id, &to_deliberated()).await;
    let events = engine.issue_events(&id).await.expect("events");
    let tl = engine.issue_timeline(&id, None).await.expect("timeline");
    let states: Vec<&str> = tl.steps.iter().map(|s| s.to.name.as_str()).collect();
    assert_eq!(states, ["raised", "assessed", "on_agenda", "deliberated"]);
    assert_eq!(
        tl.steps.iter().map(|s| s.position).collect::<Vec<_>>(),
        events.iter().map(|e| e.position).collect::<Vec<_>>()
    );

    let v1 = engine.issue_timeline(&id, Some(AsOf::Version(1))).await.expect("as of version 1");
    assert_eq!(v1.steps.len(), 2);
    let t = events[2].recorded_at;
    let at = engine.issue_timeline(&id, Some(AsOf::Time(t))).await.expect("as of a time");
    assert_eq!(at.steps.last().map(|s| s.to.name.as_str()), Some("on_agenda"));
    assert!(engine.issue_timeline("no-such-issue", None).await.is_err());
}

#[actix_web::test]
async fn timelines_over_rest_in_each_language_and_format() {
    let (_dir, engine) = support::fresh_engine().await;
    let engine = Arc::new(engine);
    let raised = engine.raise(support::raise_community_issue()).await.expect("raise");
    let id = raised.issue.id.clone();
    support::record_all(&engine, &id, &support::to_assessed()).await;
    let app = web::init_service(App::new().configure(configure(AppState::insecure_dev(engine.clone())))).await;
    let get = |uri: String| web::TestRequest::get().uri(&uri).to_request();

    let r = web::call_service(&app, get(format!("/v1/issues/{id}/timeline"))).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers().get("content-type").unwrap(), "text/markdown; charset=utf-8");
    assert_eq!(r.headers().get("etag").unwrap(), "\"1\"");
    let md = String::from_utf8(web::read_body(r).await.to_vec()).unwrap();
    assert!(md.contains("已提出（民事民提） → 已完成需求评估"), "{md}");

    let r = web::call_service(&app, get(format!("/v1/issues/{id}/timeline?lang=en&format=html"))).await;
    assert_eq!(r.headers().get("content-type").unwrap(), "text/html; charset=utf-8");
    let html = String::from_utf8(web::read_body(r).await.to_vec()).unwrap();
    assert!(html.contains("<td>Raised by residents → Needs assessed</td>"), "{html}");

    let r = web::call_service(&app, get(format!("/v1/issues/{id}/timeline?format=json&version=0"))).await;
    let v: serde_json::Value = serde_json::from_slice(&web::read_body(r).await).unwrap();
    assert_eq!(v["steps"].as_array().map(Vec::len), Some(1));
    assert_eq!(v["steps"][0]["to"]["name"], "raised");
    assert_eq!(v["steps"][0]["role"]["zh-CN"], "居民");

    for (uri, status) in [
        (format!("/v1/issues/{id}/timeline?lang=fr"), 400),
        (format!("/v1/issues/{id}/timeline?format=pdf"), 400),
        (format!("/v1/issues/{id}/timeline?at=2000-01-01T00:00:00Z"), 404),
        ("/v1/issues/nope/timeline".to_string(), 404),
        ("/v1/meetings/nope/timeline".to_string(), 404),
    ] {
        let r = web::call_service(&app, get(uri.clone())).await;
        assert_eq!(r.status().as_u16(), status, "{uri}");
        assert_eq!(r.headers().get("content-type").unwrap(), "application/problem+json", "{uri}");
    }
}
