//! The pure core without IO: folding events into issue states, and deciding a step.
//! Low-noise figures for the replay work (`convene bench` measures the store too).
//!
//! Run: `cargo bench -p convene-engine --bench fold`

use chrono::{Duration, Utc};
use convene_engine::catalog::Catalog;
use convene_engine::event::{
    EventPage, GENESIS_HASH, Payload, RecordedEvent, canonical_json, chain_hash, event_hash_input,
};
use convene_engine::issue::{PayloadView, Step, decide, replay};
use convene_engine::projection::{IssueFilter, IssueIndex};
use convene_engine::workflow::CompiledWorkflow;
use convene_engine::{Actor, NewEvent};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::{Value, json};

// The allocator the `convene` binary runs on: a fold's figures depend on it.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The events of `issues` bench lifecycles, as a store would return them, after the
/// workflow-published event (position 1).
fn log(issues: u64) -> (Vec<RecordedEvent>, Value) {
    log_in(issues, None)
}

/// [`log`], the issues spread over `communities` communities of a city's tree (13 districts,
/// 90 streets) when given, else over the bench lifecycle's 15.
fn log_in(issues: u64, communities: Option<u64>) -> (Vec<RecordedEvent>, Value) {
    let doc: Value = convene_engine::catalog::embedded::SHIPPED_WORKFLOWS
        .iter()
        .find(|(n, _)| *n == "community-issue")
        .map(|(_, t)| serde_json::from_str(t).unwrap())
        .unwrap();
    let mut out = Vec::new();
    let t0 = Utc::now();
    let mut position = 0;
    let mut record = |stream: &str, version: u64, prev: &str, e: NewEvent| -> RecordedEvent {
        position += 1;
        let at = t0 + Duration::milliseconds(position as i64);
        let hash = chain_hash(&event_hash_input(&e, stream, version, at, prev));
        RecordedEvent {
            id: e.id,
            stream: stream.into(),
            version,
            position,
            event_type: e.event_type.clone(),
            schema_version: 1,
            recorded_at: at,
            actor: e.actor.clone(),
            correlation_id: None,
            causation_id: None,
            data: Payload::from(canonical_json(&serde_json::from_str::<Value>(e.data().get()).unwrap())),
            prev_hash: prev.into(),
            hash,
        }
    };
    let wf = record(
        "workflow-community-issue",
        0,
        GENESIS_HASH,
        NewEvent::new("WorkflowPublished", &json!({"definition": doc}), Actor::system()),
    );
    out.push(wf);
    for n in 0..issues {
        let stream = format!("issue-{n:08}");
        let mut prev = GENESIS_HASH.to_string();
        for (v, (t, mut d, a)) in convene_engine::bench::lifecycle(n).into_iter().enumerate() {
            if let (0, Some(k)) = (v, communities) {
                let c = n % k;
                d["community"] = json!(city_community(c));
            }
            let e = record(&stream, v as u64, &prev, NewEvent::new(t, &d, a));
            prev = e.hash.clone();
            out.push(e);
        }
    }
    (out, doc)
}

fn fold(c: &mut Criterion) {
    let (events, doc) = log(1_000);
    let catalog = Catalog::shipped();
    let mut g = c.benchmark_group("fold");
    g.throughput(Throughput::Elements(events.len() as u64));
    // As whole-log replay reads them: one page, events as views.
    let page = EventPage::from_recorded(&events);
    g.bench_function("issue_index_16k_events", |b| {
        b.iter(|| {
            let mut idx = IssueIndex::new();
            for e in page.iter() {
                idx.apply(&e, catalog);
            }
            idx.issue_count()
        })
    });
    // The same page with each payload's view in byte form, as the stores keep them.
    let views: Vec<Vec<u8>> = events
        .iter()
        .map(|e| {
            let mut v = Vec::new();
            PayloadView::stored_form(&e.event_type, e.schema_version, e.data.get(), &mut v);
            v
        })
        .collect();
    let viewed = EventPage::from_recorded_with_views(&events, |i| &views[i]);
    g.bench_function("issue_index_16k_events_stored_views", |b| {
        b.iter(|| {
            let mut idx = IssueIndex::new();
            for e in viewed.iter() {
                idx.apply(&e, catalog);
            }
            idx.issue_count()
        })
    });
    let wf = CompiledWorkflow::compile(&doc, catalog).unwrap();
    let one: Vec<RecordedEvent> = events.iter().filter(|e| e.stream == "issue-00000000").cloned().collect();
    g.throughput(Throughput::Elements(one.len() as u64));
    g.bench_function("replay_one_issue", |b| b.iter(|| replay(&wf, &one).unwrap().version));
    g.finish();

    let state = replay(&wf, &one[..9]).unwrap(); // acting, after the pact was adopted
    let data = json!({"evaluator": {"name": "赵代表"}, "satisfaction": 4, "outcome": "resolved"});
    let actor = Actor::new("rr1", "resident_representative");
    c.bench_function("decide_guarded_step", |b| {
        b.iter(|| decide(&wf, &state, &Step { event_type: "Evaluated", data: &data, actor: &actor }, catalog).unwrap())
    });
}

/// The code of community `c` of a city: 16 communities to a street, streets spread over 13
/// districts (1,430 communities make 90 streets).
fn city_community(c: u64) -> String {
    let street = c / 16;
    format!("wuhan/d{:02}/s{street:02}/c{c:04}", street % 13)
}

/// What a community's and a street's dashboards ask of a city's index: their own figures and
/// the first page of their matters, among 30,000 issues in Wuhan's 1,430 communities.
fn dashboard(c: &mut Criterion) {
    let (events, _) = log_in(30_000, Some(1_430));
    let catalog = Catalog::shipped();
    let mut idx = IssueIndex::new();
    for e in EventPage::from_recorded(&events).iter() {
        idx.apply(&e, catalog);
    }
    let now = Utc::now();
    let within = |scope: String| IssueFilter { community: Some(scope), ..Default::default() };
    let community = within(city_community(700));
    let street = within(city_community(700).rsplit_once('/').unwrap().0.to_string());
    let city = within("wuhan".into());
    // Each scope holds what a real one would (no figure of an empty scope is measured).
    let total = |f: &IssueFilter| idx.stats(f, now).issues.total;
    assert_eq!((total(&community), total(&street), total(&city)), (21, 336, 30_000));
    let mut g = c.benchmark_group("dashboard_30k_issues_1430_communities");
    g.bench_function("stats_one_community", |b| b.iter(|| total(&community)));
    g.bench_function("stats_one_street", |b| b.iter(|| total(&street)));
    g.bench_function("stats_whole_city", |b| b.iter(|| total(&city)));
    g.bench_function("state_counts_whole_city", |b| b.iter(|| idx.state_counts(now).1));
    g.bench_function("list_one_community_first_page", |b| b.iter(|| idx.list(&community, None, 50).items.len()));
    g.bench_function("list_whole_city_first_page", |b| b.iter(|| idx.list(&city, None, 50).items.len()));
    g.finish();
}

/// The meeting side of the same dashboards: 14,300 meetings (ten per community) and as many
/// action items, each on an issue of its meeting's community.
fn meeting_dashboard(c: &mut Criterion) {
    use convene_engine::meeting::{MeetingFilter, MeetingIndex};
    let mut idx = MeetingIndex::new();
    let mut position = 0;
    let t0 = Utc::now();
    let mut add = |stream: String, version: u64, event_type: &str, data: Value| {
        position += 1;
        let e = NewEvent::new(event_type, &data, Actor::system());
        idx.apply(&RecordedEvent {
            id: e.id,
            stream,
            version,
            position,
            event_type: event_type.into(),
            schema_version: 1,
            recorded_at: t0 + Duration::milliseconds(position as i64),
            actor: e.actor.clone(),
            correlation_id: None,
            causation_id: None,
            data: Payload::from(canonical_json(&data)),
            prev_hash: GENESIS_HASH.into(),
            hash: GENESIS_HASH.into(),
        });
    };
    for n in 0..14_300u64 {
        let community = city_community(n % 1_430);
        add(format!("issue-{n:08}"), 0, "IssueRaised", json!({"community": community}));
        add(
            format!("meeting-m{n}"),
            0,
            "MeetingScheduled",
            json!({"kind": "consultation_day", "community": community, "title": {"zh-CN": "协商议事会"},
                "scheduled_for": (t0 + Duration::days((n / 1_430) as i64 * 30)).to_rfc3339(),
                "venue": {"zh-CN": "议事厅"}, "convener": {"name": "张书记", "society": "community"}}),
        );
        add(
            format!("meeting-m{n}"),
            1,
            "ActionItemAssigned",
            json!({"action_item_id": format!("ai-{n}"), "issue_id": format!("{n:08}"), "task": {"zh-CN": "回访"},
                "assignee": {"name": "社工站", "body": "social_worker"}, "due": "2026-04-30"}),
        );
    }
    let now = Utc::now();
    let community = MeetingFilter { community: Some(city_community(700)), ..Default::default() };
    assert_eq!((idx.list(&community).len(), idx.stats(&community, now).action_items.total), (10, 10));
    let mut g = c.benchmark_group("dashboard_14k_meetings_1430_communities");
    g.bench_function("meeting_stats_one_community", |b| b.iter(|| idx.stats(&community, now).action_items.total));
    g.bench_function("meeting_list_one_community", |b| b.iter(|| idx.list(&community).len()));
    g.finish();
}

criterion_group!(benches, fold, dashboard, meeting_dashboard);
criterion_main!(benches);
