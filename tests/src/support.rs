//! The harness the specs are written in.
//!
//! [`Spec`] is a given/when/then over the pure core: it builds [`RecordedEvent`]s in memory
//! (fake positions, consecutive versions, a clock that moves an hour per event, real hash
//! links), folds them with `issue::start`/`issue::apply`, and asks `issue::decide` about the
//! step under test, exactly as the engine does before it appends. No store, no IO.
//!
//! ```text
//! Spec::community_issue()
//!     .given(&[("NeedAssessed", payload::need_assessed(), "social_worker")])
//!     .when("PlacedOnAgenda", payload::placed_on_agenda("m-1"), "convener")
//!     .then_state("on_agenda");
//! ```
//!
//! [`payload`] has a valid payload for every event type, so a spec only spells out the
//! field it is about. The rest opens fresh stores and engines in temporary directories.

use chrono::{DateTime, Duration, Utc};
use convene_engine::catalog::{Catalog, embedded};
use convene_engine::event::{GENESIS_HASH, HashInput, canonical_json, chain_hash};
use convene_engine::issue::{self, IssueState, Refusal, Step};
use convene_engine::service::{RaiseIssue, RecordStep};
use convene_engine::store::{SqliteOptions, SqliteStore};
use convene_engine::workflow::CompiledWorkflow;
use convene_engine::{Actor, Engine, EventStore, RecordedEvent};
use serde_json::{Value, json};
use std::path::Path;
use std::sync::Arc;
use tempfile::TempDir;
use uuid::Uuid;

/// Community every spec issue belongs to.
pub const COMMUNITY: &str = "wuhan/wuchang/zhongnan-street/shuiguohu-community";
/// The street above [`COMMUNITY`].
pub const STREET: &str = "wuhan/wuchang/zhongnan-street";

/// One step of a history: event type, payload, role of whoever recorded it.
pub type Given = (&'static str, Value, &'static str);

// ---------------------------------------------------------------------------------------------
// Workflow documents
// ---------------------------------------------------------------------------------------------

/// A workflow document shipped in `workflows/` (by file stem), as the engine embeds it.
pub fn shipped_doc(name: &str) -> Value {
    let (_, text) = embedded::SHIPPED_WORKFLOWS
        .iter()
        .find(|(n, _)| *n == name)
        .unwrap_or_else(|| panic!("no shipped workflow named {name}"));
    serde_json::from_str(text).unwrap_or_else(|e| panic!("shipped workflow {name} is not JSON: {e}"))
}

/// Compiles a workflow document against the shipped catalog, panicking with the diagnostics.
pub fn compile(doc: &Value) -> CompiledWorkflow {
    CompiledWorkflow::compile(doc, Catalog::shipped()).unwrap_or_else(|d| panic!("workflow does not compile: {d:#?}"))
}

// ---------------------------------------------------------------------------------------------
// Actors
// ---------------------------------------------------------------------------------------------

/// Someone acting in `role`, without a community scope.
pub fn actor(role: &str) -> Actor {
    Actor::new(format!("{role}-01"), role).named(format!("测试{role}"))
}

/// Someone acting in `role` for the community (or street, district) `community`.
pub fn actor_in(role: &str, community: &str) -> Actor {
    let mut a = actor(role);
    a.community = Some(community.to_string());
    a
}

// ---------------------------------------------------------------------------------------------
// Spec: given / when / then over the pure core
// ---------------------------------------------------------------------------------------------

/// What the step under test did.
#[derive(Debug, Clone)]
enum Outcome {
    Recorded { from: String },
    Refused(Refusal),
}

/// A given/when/then specification of one issue under one workflow.
pub struct Spec {
    wf: CompiledWorkflow,
    events: Vec<RecordedEvent>,
    state: IssueState,
    clock: DateTime<Utc>,
    outcome: Option<(String, Outcome)>,
}

impl Spec {
    /// An issue just raised under the shipped `community-issue` workflow.
    pub fn community_issue() -> Spec {
        Spec::raised_under(shipped_doc("community-issue"))
    }

    /// An issue just raised under the shipped `micro-wish` workflow.
    pub fn micro_wish() -> Spec {
        Spec::raised_under(shipped_doc("micro-wish"))
    }

    /// An issue just raised under any workflow document.
    pub fn raised_under(doc: Value) -> Spec {
        let wf = compile(&doc);
        let clock: DateTime<Utc> = "2026-03-02T01:00:00Z".parse().expect("literal timestamp");
        let data = payload::issue_raised(wf.id(), wf.version());
        let first = fake_event(
            &issue::stream_of("spec-0001"),
            0,
            clock,
            "IssueRaised",
            &data,
            actor_in("resident", COMMUNITY),
            GENESIS_HASH,
        );
        let state = issue::start(&wf, &first.view()).unwrap_or_else(|e| panic!("cannot start the spec issue: {e}"));
        Spec { wf, events: vec![first], state, clock, outcome: None }
    }

    /// History: each step must be allowed when it is recorded (a spec's past is a legal
    /// past); a refused given is a broken spec and panics with the refusal.
    #[track_caller]
    pub fn given(mut self, steps: &[Given]) -> Spec {
        for (event_type, data, role) in steps {
            let a = actor(role);
            let step = Step { event_type, data, actor: &a };
            if let Err(r) = issue::decide(&self.wf, &self.state, &step, Catalog::shipped()) {
                panic!("given {event_type} by {role} in state {} was refused: {r:#?}", self.state.state);
            }
            self.record(event_type, data, a);
        }
        self
    }

    /// History written without asking the workflow (as an older engine or a hand edit
    /// might have): replay must still fold it.
    pub fn given_unchecked(mut self, steps: &[Given]) -> Spec {
        for (event_type, data, role) in steps {
            self.record(event_type, data, actor(role));
        }
        self
    }

    /// Lets time pass before the next event.
    pub fn wait(mut self, d: Duration) -> Spec {
        self.clock += d;
        self
    }

    /// The step under test, recorded by someone in `role` without a community scope.
    pub fn when(self, event_type: &str, data: Value, role: &str) -> Spec {
        self.when_as(event_type, data, actor(role))
    }

    /// The step under test, recorded by `actor`. Allowed: appended and folded. Refused:
    /// nothing is appended.
    pub fn when_as(mut self, event_type: &str, data: Value, actor: Actor) -> Spec {
        let step = Step { event_type, data: &data, actor: &actor };
        let outcome = match issue::decide(&self.wf, &self.state, &step, Catalog::shipped()) {
            Ok(_) => {
                let from = self.state.state.clone();
                self.record(event_type, &data, actor);
                Outcome::Recorded { from }
            }
            Err(r) => Outcome::Refused(r),
        };
        self.outcome = Some((event_type.to_string(), outcome));
        self
    }

    /// The step was recorded and the issue is now in `state`.
    #[track_caller]
    pub fn then_state(self, state: &str) -> Spec {
        match &self.outcome {
            Some((et, Outcome::Recorded { from })) => {
                assert_eq!(
                    self.state.state, state,
                    "{et} from {from} should lead to {state}, but the issue is in {}",
                    self.state.state
                );
                assert!(self.state.anomalies.is_empty(), "an allowed step left anomalies: {:?}", self.state.anomalies);
            }
            Some((et, Outcome::Refused(r))) => panic!("expected {et} to lead to {state}, but it was refused: {r:#?}"),
            None => assert_eq!(self.state.state, state, "the given history should leave the issue in {state}"),
        }
        self.check_replay_agrees();
        self
    }

    /// The step was refused (so nothing was appended) and the refusal matches.
    #[track_caller]
    pub fn then_refused(self, matches: impl FnOnce(&Refusal) -> bool) -> Spec {
        match &self.outcome {
            Some((et, Outcome::Refused(r))) => {
                assert!(matches(r), "{et} was refused, but not as expected: {r:#?}");
            }
            Some((et, Outcome::Recorded { from })) => {
                panic!("expected {et} to be refused in {from}, but it was recorded (now {})", self.state.state)
            }
            None => panic!("then_refused needs a when"),
        }
        self
    }

    /// Checks the state after the step (or the history) with arbitrary assertions.
    pub fn then_record(self, check: impl FnOnce(&IssueState)) -> Spec {
        check(&self.state);
        self.check_replay_agrees();
        self
    }

    /// The folded state.
    pub fn state(&self) -> &IssueState {
        &self.state
    }

    /// The events folded so far (IssueRaised first).
    pub fn events(&self) -> &[RecordedEvent] {
        &self.events
    }

    /// The workflow the spec runs under.
    pub fn workflow(&self) -> &CompiledWorkflow {
        &self.wf
    }

    /// Replay from scratch must agree with the incremental fold: the fold is the same pure
    /// function whichever way it is driven.
    #[track_caller]
    fn check_replay_agrees(&self) {
        let replayed = issue::replay(&self.wf, &self.events).expect("the spec's events replay");
        assert_eq!(replayed, self.state, "replay from scratch differs from the incremental fold");
    }

    fn record(&mut self, event_type: &str, data: &Value, actor: Actor) {
        let version = self.events.len() as u64;
        self.clock += Duration::hours(1);
        let prev = self.events.last().map(|e| e.hash.clone()).unwrap_or_else(|| GENESIS_HASH.to_string());
        let e = fake_event(&self.state.stream, version, self.clock, event_type, data, actor, &prev);
        issue::apply(&mut self.state, &self.wf, &e.view());
        self.events.push(e);
    }
}

/// An event as a store would have recorded it: consecutive version, a fake global position,
/// and a real link in the stream's hash chain.
pub fn fake_event(
    stream: &str,
    version: u64,
    at: DateTime<Utc>,
    event_type: &str,
    data: &Value,
    actor: Actor,
    prev_hash: &str,
) -> RecordedEvent {
    let id = Uuid::now_v7();
    let data = canonical_json(data);
    let hash = chain_hash(&HashInput {
        id,
        stream,
        version,
        event_type,
        schema_version: 1,
        recorded_at: at,
        actor: (&actor).into(),
        correlation_id: None,
        causation_id: None,
        data: data.get(),
        prev_hash,
    });
    RecordedEvent {
        id,
        stream: stream.to_string(),
        version,
        position: 1_000 + version * 7,
        event_type: event_type.to_string(),
        schema_version: 1,
        recorded_at: at,
        actor,
        correlation_id: None,
        causation_id: None,
        data: data.into(),
        prev_hash: prev_hash.to_string(),
        hash,
    }
}

// ---------------------------------------------------------------------------------------------
// Histories
// ---------------------------------------------------------------------------------------------

/// community-issue from raised to assessed.
pub fn to_assessed() -> Vec<Given> {
    vec![("NeedAssessed", payload::need_assessed(), "social_worker")]
}

/// community-issue from raised to on_agenda.
pub fn to_on_agenda() -> Vec<Given> {
    let mut v = to_assessed();
    v.push(("PlacedOnAgenda", payload::placed_on_agenda("m-2026-03"), "convener"));
    v
}

/// community-issue from raised to deliberated.
pub fn to_deliberated() -> Vec<Given> {
    let mut v = to_on_agenda();
    v.push(("Deliberated", payload::deliberated("m-2026-03"), "convener"));
    v
}

/// community-issue from raised to acting (no micro step done yet).
pub fn to_acting() -> Vec<Given> {
    let mut v = to_deliberated();
    v.push(("ResolutionPassed", payload::resolution_passed("m-2026-03", "motion-1"), "convener"));
    v
}

/// community-issue from raised to acting with one micro step done (a micro-team formed).
pub fn to_acting_with_a_step_done() -> Vec<Given> {
    let mut v = to_acting();
    v.push(("MicroTeamFormed", payload::micro_team_formed("team-1"), "convener"));
    v
}

/// community-issue from raised to evaluated.
pub fn to_evaluated() -> Vec<Given> {
    let mut v = to_acting_with_a_step_done();
    v.push(("Evaluated", payload::evaluated(4), "resident"));
    v
}

/// micro-wish from raised to claimed, for wish `wish-1`.
pub fn wish_to_claimed() -> Vec<Given> {
    vec![
        ("MicroWishCollected", payload::micro_wish_collected("wish-1"), "social_worker"),
        ("MicroWishClaimed", payload::micro_wish_claimed("wish-1"), "volunteer"),
    ]
}

// ---------------------------------------------------------------------------------------------
// Payload fixtures: valid per schemas/events/*.json
// ---------------------------------------------------------------------------------------------

/// A valid payload for every event type. Each builder takes only what a spec varies.
pub mod payload {
    use super::COMMUNITY;
    use serde_json::{Value, json};

    fn text(zh: &str, en: &str) -> Value {
        json!({"zh-CN": zh, "en": en})
    }

    /// IssueRaised as stored (with the workflow it pins).
    pub fn issue_raised(workflow_id: &str, workflow_version: u32) -> Value {
        let mut v = raise_data();
        v["workflow_id"] = json!(workflow_id);
        v["workflow_version"] = json!(workflow_version);
        v
    }

    /// IssueRaised as a client sends it to `Engine::raise` (the engine adds the pin).
    pub fn raise_data() -> Value {
        json!({
            "community": COMMUNITY,
            "title": text("3号楼楼道堆放杂物", "Clutter in the stairwell of building 3"),
            "description": text("楼道堆满纸箱和旧家具，存在消防隐患。", "Boxes and old furniture block the stairwell."),
            "category": "stairwell",
            "households_affected": 36,
            "raised_by": {"name": "李阿姨", "society": "community", "role": "resident"},
            "channel": "door_to_door",
            "location": "3号楼2单元",
            "tags": ["消防", "楼道"]
        })
    }

    pub fn need_assessed() -> Value {
        json!({
            "assessor": {"name": "王社工", "society": "social_worker", "organisation": "武昌区启航社工服务中心"},
            "method": "door_to_door",
            "households_visited": 30,
            "findings": text("多数居民支持清理并制定楼道公约。", "Most residents support a clean-up and a stairwell pact."),
            "needs": [text("清理杂物", "clear the clutter")],
            "priority": "high",
            "recommended_steps": ["micro_pact", "micro_team"]
        })
    }

    pub fn placed_on_agenda(meeting_id: &str) -> Value {
        json!({
            "meeting_id": meeting_id,
            "meeting_kind": "consultation_day",
            "scheduled_for": "2026-03-15T01:30:00Z",
            "proposer": {"name": "张书记", "society": "community"}
        })
    }

    pub fn deliberated(meeting_id: &str) -> Value {
        json!({
            "meeting_id": meeting_id,
            "summary": text("居民、物业与社工协商清理方案。", "Residents, the property company and social workers discussed a clean-up."),
            "participants": 24,
            "options": [text("统一清理", "joint clean-up"), text("分户自理", "each household on its own")]
        })
    }

    pub fn resolution_passed(meeting_id: &str, motion_id: &str) -> Value {
        json!({
            "meeting_id": meeting_id,
            "motion_id": motion_id,
            "votes": {"for": 20, "against": 2, "abstain": 2},
            "rule": "majority",
            "resolution": text("周六统一清理，并起草楼道公约。", "Clean up on Saturday and draft a stairwell pact."),
            "decided_steps": ["micro_pact", "micro_team"]
        })
    }

    pub fn resolution_rejected(meeting_id: &str, motion_id: &str) -> Value {
        json!({
            "meeting_id": meeting_id,
            "motion_id": motion_id,
            "votes": {"for": 5, "against": 15, "abstain": 4},
            "rule": "majority",
            "reason": text("方案费用过高。", "The plan costs too much.")
        })
    }

    pub fn micro_wish_collected(wish_id: &str) -> Value {
        json!({
            "wish_id": wish_id,
            "wish": text("希望有人帮忙修好轮椅", "Someone to repair my wheelchair"),
            "beneficiary": {"description": text("独居老人", "an elderly person living alone")},
            "estimated_cost_fen": 20_000,
            "collected_by": {"name": "小刘", "society": "volunteer"}
        })
    }

    pub fn micro_wish_claimed(wish_id: &str) -> Value {
        json!({
            "wish_id": wish_id,
            "claimed_by": {"name": "蓝天志愿队", "society": "volunteer"},
            "pledge": text("周末上门维修", "repair it at home at the weekend")
        })
    }

    pub fn micro_wish_fulfilled(wish_id: &str) -> Value {
        json!({
            "wish_id": wish_id,
            "fulfilled_by": {"name": "蓝天志愿队", "society": "volunteer"},
            "value_fen": 15_000,
            "volunteer_hours": 3.5
        })
    }

    pub fn micro_pact_drafted(pact_id: &str) -> Value {
        json!({
            "pact_id": pact_id,
            "title": text("3号楼楼道公约", "Stairwell pact of building 3"),
            "clauses": [text("楼道不堆放杂物", "keep the stairwell clear"), text("电动车不进楼", "no e-bikes indoors")],
            "drafted_by": [{"name": "居民代表老陈", "role": "resident_representative"}]
        })
    }

    pub fn micro_pact_publicized(pact_id: &str) -> Value {
        json!({
            "pact_id": pact_id,
            "channels": ["notice_board", "wechat_group"],
            "from": "2026-03-20",
            "until": "2026-03-27"
        })
    }

    pub fn micro_pact_adopted(pact_id: &str) -> Value {
        json!({
            "pact_id": pact_id,
            "meeting_id": "m-2026-04",
            "votes": {"for": 30, "against": 1, "abstain": 3},
            "effective_from": "2026-04-01"
        })
    }

    pub fn micro_team_formed(team_id: &str) -> Value {
        json!({
            "team_id": team_id,
            "name": text("楼道清洁队", "Stairwell clean-up team"),
            "purpose": text("每月清理一次楼道", "clear the stairwell monthly"),
            "leader": {"name": "老陈", "society": "volunteer"},
            "members_count": 8,
            "society": "volunteer",
            "meeting_id": "m-2026-03"
        })
    }

    pub fn micro_project_undertaken(project_id: &str, budget_fen: u64) -> Value {
        json!({
            "project_id": project_id,
            "title": text("楼道改造", "Stairwell renovation"),
            "undertaken_by": {"name": "启航社工", "society": "social_organisation"},
            "budget_fen": budget_fen,
            "funding_source": "community_fund",
            "start": "2026-04-01",
            "end": "2026-05-31",
            "goals": [text("加装照明", "install lighting")]
        })
    }

    pub fn micro_project_progress_reported(project_id: &str, percent: u64, spent_fen: u64) -> Value {
        json!({
            "project_id": project_id,
            "percent": percent,
            "summary": text("照明已加装一半", "half of the lights installed"),
            "spent_fen": spent_fen,
            "disclosed": true
        })
    }

    pub fn micro_project_completed(project_id: &str, spent_fen: u64) -> Value {
        json!({
            "project_id": project_id,
            "outcome": text("楼道照明全部加装", "all stairwell lights installed"),
            "spent_fen": spent_fen,
            "beneficiaries": 120
        })
    }

    pub fn micro_charity_pledged(pledge_id: &str, amount_fen: u64) -> Value {
        json!({
            "pledge_id": pledge_id,
            "donor": {"name": "楚天爱心企业"},
            "kind": "money",
            "amount_fen": amount_fen,
            "description": text("资助楼道改造", "funds for the stairwell")
        })
    }

    pub fn micro_charity_delivered(pledge_id: &str, amount_fen: u64) -> Value {
        json!({
            "pledge_id": pledge_id,
            "amount_fen": amount_fen,
            "delivered_to": text("社区基金", "the community fund")
        })
    }

    pub fn evaluated(satisfaction: u64) -> Value {
        json!({
            "evaluator": {"name": "居民代表老陈", "role": "resident_representative"},
            "satisfaction": satisfaction,
            "households_surveyed": 30,
            "outcome": "resolved",
            "comments": text("楼道干净了", "the stairwell is clear now")
        })
    }

    pub fn escalated(from_level: &str, to_level: &str) -> Value {
        json!({
            "from_level": from_level,
            "to_level": to_level,
            "reason": text("超出社区能力范围", "beyond what the community can do"),
            "to_body": "中南路街道办事处"
        })
    }

    pub fn issue_closed(reason: &str) -> Value {
        json!({
            "reason": reason,
            "summary": text("议题办结", "matter closed")
        })
    }

    pub fn issue_withdrawn() -> Value {
        json!({
            "reason": text("问题已自行解决", "the problem resolved itself"),
            "outcome": "settled_by_residents",
            "withdrawn_by": {"name": "李阿姨", "role": "resident"}
        })
    }

    pub fn workflow_published(definition: Value) -> Value {
        json!({"definition": definition})
    }

    /// The default fixture of an event type (None for a type without one).
    pub fn fixture(event_type: &str) -> Option<Value> {
        Some(match event_type {
            "IssueRaised" => issue_raised("community-issue", 1),
            "NeedAssessed" => need_assessed(),
            "PlacedOnAgenda" => placed_on_agenda("m-1"),
            "Deliberated" => deliberated("m-1"),
            "ResolutionPassed" => resolution_passed("m-1", "motion-1"),
            "ResolutionRejected" => resolution_rejected("m-1", "motion-1"),
            "MicroWishCollected" => micro_wish_collected("wish-1"),
            "MicroWishClaimed" => micro_wish_claimed("wish-1"),
            "MicroWishFulfilled" => micro_wish_fulfilled("wish-1"),
            "MicroPactDrafted" => micro_pact_drafted("pact-1"),
            "MicroPactPublicized" => micro_pact_publicized("pact-1"),
            "MicroPactAdopted" => micro_pact_adopted("pact-1"),
            "MicroTeamFormed" => micro_team_formed("team-1"),
            "MicroProjectUndertaken" => micro_project_undertaken("proj-1", 800_000),
            "MicroProjectProgressReported" => micro_project_progress_reported("proj-1", 50, 300_000),
            "MicroProjectCompleted" => micro_project_completed("proj-1", 780_000),
            "MicroCharityPledged" => micro_charity_pledged("pledge-1", 500_000),
            "MicroCharityDelivered" => micro_charity_delivered("pledge-1", 500_000),
            "Evaluated" => evaluated(4),
            "Escalated" => escalated("community", "street"),
            "IssueClosed" => issue_closed("resolved"),
            "IssueWithdrawn" => issue_withdrawn(),
            "WorkflowPublished" => workflow_published(super::shipped_doc("micro-wish")),
            "AuditCheckpoint" => json!({"position": 12, "head": "ab".repeat(32), "stream": "issue-x", "version": 3,
                "signed_at": "2026-11-22T15:22:18.123456Z", "public_key": "cd".repeat(32), "signature": "ef".repeat(64)}),
            _ => return crate::meeting_specs::payloads::fixture(event_type),
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Stores and engines in temporary directories
// ---------------------------------------------------------------------------------------------

/// Opens (or reopens) the embedded store kept in `dir`.
pub fn open_sqlite(dir: &Path) -> Arc<dyn EventStore> {
    let store = SqliteStore::open(SqliteOptions::in_dir(dir))
        .unwrap_or_else(|e| panic!("cannot open sqlite store in {}: {e}", dir.display()));
    Arc::new(store)
}

/// A plain connection to the embedded store's database in `dir`, for reading or altering rows
/// behind the store's back.
pub fn sqlite_db(dir: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(dir.join("convene.db")).expect("open the database")
}

/// A fresh embedded store in its own temporary directory (kept alive by the returned dir).
pub fn fresh_sqlite() -> (TempDir, Arc<dyn EventStore>) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let store = open_sqlite(dir.path());
    (dir, store)
}

/// A fresh engine over a fresh embedded store, with the shipped workflows published.
pub async fn fresh_engine() -> (TempDir, Engine) {
    let (dir, store) = fresh_sqlite();
    let engine = Engine::open(store).await.expect("engine opens");
    engine.bootstrap_workflows().await.expect("shipped workflows publish");
    (dir, engine)
}

/// An engine over `store` (kept in `dir`), with the shipped workflows published.
pub async fn fresh_engine_in(_dir: &Path, store: Arc<dyn EventStore>) -> Engine {
    let engine = Engine::open(store).await.expect("engine opens");
    engine.bootstrap_workflows().await.expect("shipped workflows publish");
    engine
}

/// A command raising a community-issue (latest version) as a resident of [`COMMUNITY`].
pub fn raise_community_issue() -> RaiseIssue {
    RaiseIssue {
        workflow_id: "community-issue".into(),
        workflow_version: None,
        data: payload::raise_data(),
        actor: actor_in("resident", COMMUNITY),
        idempotency_key: None,
    }
}

/// A command recording one step on an issue by someone in `role`.
pub fn step(issue_id: &str, event_type: &str, data: Value, role: &str) -> RecordStep {
    RecordStep {
        issue_id: issue_id.to_string(),
        event_type: event_type.to_string(),
        data,
        actor: actor(role),
        expected_version: None,
        idempotency_key: None,
        correlation_id: None,
        causation_id: None,
    }
}

/// Records a history through the engine, panicking on any refusal.
pub async fn record_all(engine: &Engine, issue_id: &str, steps: &[Given]) {
    for (event_type, data, role) in steps {
        if let Err(e) = engine.step(step(issue_id, event_type, data.clone(), role)).await {
            panic!("step {event_type} by {role} failed: {e}");
        }
    }
}

/// A text for specs that need one: `{"zh-CN": zh}`.
pub fn zh(text: &str) -> Value {
    json!({"zh-CN": text})
}

mod fixture_specs {
    use super::*;
    use convene_engine::event::verify_chain;

    #[test]
    fn every_event_type_in_the_catalog_has_a_fixture_that_its_schema_accepts() {
        let catalog = Catalog::shipped();
        let mut checked = 0;
        for t in catalog.types() {
            let data = payload::fixture(&t.name).unwrap_or_else(|| panic!("no fixture for {}", t.name));
            if let Err(errors) = catalog.validate(&t.name, &data) {
                panic!("fixture of {} is invalid: {errors:#?}", t.name);
            }
            checked += 1;
        }
        assert!(checked >= 22, "only {checked} event types checked");
    }

    #[test]
    fn a_spec_history_is_a_valid_hash_chain_with_consecutive_versions() {
        let spec = Spec::community_issue().given(&to_acting());
        verify_chain(spec.events()).expect("the harness links its events like a store does");
        assert_eq!(spec.state().version, 4);
        assert_eq!(spec.events().len(), 5);
    }

    #[test]
    #[should_panic(expected = "was refused")]
    fn a_given_step_that_the_workflow_refuses_breaks_the_spec() {
        let _ = Spec::community_issue().given(&[("Deliberated", payload::deliberated("m-1"), "convener")]);
    }

    #[test]
    #[should_panic(expected = "but it was refused")]
    fn then_state_fails_when_the_step_was_refused() {
        let _ = Spec::community_issue()
            .when("Deliberated", payload::deliberated("m-1"), "convener")
            .then_state("deliberated");
    }

    #[test]
    #[should_panic(expected = "but it was recorded")]
    fn then_refused_fails_when_the_step_was_recorded() {
        let _ = Spec::community_issue()
            .when("NeedAssessed", payload::need_assessed(), "social_worker")
            .then_refused(|_| true);
    }
}
