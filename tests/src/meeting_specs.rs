//! Meeting rules as specs: given a meeting's history, when a step, then the event the engine
//! computes or the refusal. Pure core first (quorum per kind, each voting rule at its
//! boundary, proxies, the frozen voting list, motions refused before anyone votes), then
//! through the engine on a real store (a carried motion moves its issue, a failed one does not,
//! and the process manager carries every resolution exactly once across a crash).

use crate::support::{self, COMMUNITY, Spec, payload};
use chrono::{DateTime, Duration, Utc};
use convene_engine::catalog::Catalog;
use convene_engine::event::GENESIS_HASH;
use convene_engine::issue::{IssueState, Votes};
use convene_engine::meeting::kind::{VotingBase, VotingRule};
use convene_engine::meeting::rules::decide_vote;
use convene_engine::meeting::{self, Decided, MeetingKind, MeetingRefusal, MeetingState, MeetingStep};
use convene_engine::workflow::CompiledWorkflow;
use convene_engine::{Actor, RecordedEvent};
use serde_json::{Value, json};
use std::sync::Arc;

pub const MEETING: &str = "spec-meeting";

/// Valid payloads of the meeting events (the catalog's fixture table falls back to these).
pub mod payloads {
    use super::*;

    pub fn fixture(event_type: &str) -> Option<Value> {
        Some(match event_type {
            "MeetingScheduled" => scheduled("consultation_day"),
            "ParticipantInvited" => rep("rr-1", "陈建国"),
            "AgendaItemAdded" => json!({"issue_id": "spec-0001", "order": 1, "title": {"zh-CN": "楼道堆物"},
                "proposer": {"name": "张书记", "society": "community"}}),
            "AgendaItemRemoved" => json!({"issue_id": "spec-0001"}),
            "AgendaItemDeliberated" => deliberated("spec-0001"),
            "MeetingOpened" => json!({"chair": {"name": "张书记", "society": "community"}}),
            "AttendanceRecorded" => present("rr-1"),
            "QuorumEstablished" => json!({"invited": 2, "present": 1, "represented": 1, "requirements": [],
                "voters": [{"person_id": "rr-1", "name": "陈建国"}]}),
            "MotionTabled" => {
                let mut m = motion("motion-1", "spec-0001", vec![]);
                m["rule"] = json!("majority");
                m["base"] = json!("cast");
                m
            }
            "VoteRecorded" => json!({"motion_id": "motion-1", "voter": "rr-1", "choice": "for"}),
            "MotionCarried" | "MotionFailed" => json!({"motion_id": "motion-1", "issue_id": "spec-0001",
                "votes": {"for": 3, "against": 1, "abstain": 0}, "eligible": 4, "rule": "majority", "base": "cast"}),
            "ActionItemAssigned" => action_item("ai-1", "spec-0001", "2026-04-30"),
            "MinutesPublished" => json!({"sha256": "0".repeat(64), "languages": ["zh-CN", "en"]}),
            "MeetingClosed" => json!({}),
            "MeetingCancelled" => json!({"reason": {"zh-CN": "暴雨", "en": "rainstorm"}}),
            _ => return None,
        })
    }

    pub fn scheduled(kind: &str) -> Value {
        json!({
            "kind": kind,
            "community": COMMUNITY,
            "title": {"zh-CN": "水果湖社区协商议事会", "en": "Shuiguohu community consultation"},
            "scheduled_for": "2026-03-15T01:30:00Z",
            "venue": {"zh-CN": "社区议事厅", "en": "the deliberation hall"},
            "convener": {"name": "张书记", "society": "community"}
        })
    }

    pub fn rep(id: &str, name: &str) -> Value {
        json!({"person_id": id, "name": name, "body": "resident", "resident_representative": true})
    }

    pub fn member(id: &str, name: &str, body: &str) -> Value {
        json!({"person_id": id, "name": name, "body": body})
    }

    pub fn present(id: &str) -> Value {
        json!({"person_id": id, "status": "present"})
    }

    pub fn absent(id: &str) -> Value {
        json!({"person_id": id, "status": "absent"})
    }

    pub fn proxy(id: &str, to: &str) -> Value {
        json!({"person_id": id, "status": "proxy", "proxy_to": to})
    }

    pub fn deliberated(issue: &str) -> Value {
        json!({"issue_id": issue, "summary": {"zh-CN": "居民同意订立公约", "en": "residents agree to a pact"}})
    }

    pub fn motion(id: &str, issue: &str, steps: Vec<Value>) -> Value {
        json!({"motion_id": id, "issue_id": issue, "text": {"zh-CN": "通过楼道公约", "en": "adopt the stairwell pact"},
            "proposer": {"name": "陈建国", "role": "resident_representative"}, "steps": steps})
    }

    pub fn action_item(id: &str, issue: &str, due: &str) -> Value {
        json!({"action_item_id": id, "issue_id": issue, "task": {"zh-CN": "一个月后回访", "en": "follow up in a month"},
            "assignee": {"name": "启航社工站", "body": "social_worker"}, "due": due})
    }
}

use payloads::*;

// ---------------------------------------------------------------------------------------------
// The harness: a meeting over the pure core
// ---------------------------------------------------------------------------------------------

fn convener() -> Actor {
    Actor::new("c-1", "convener").named("张书记")
}

/// A meeting spec: its events (fake store), the folded state, an optional issue it can act on.
struct MeetingSpec {
    kind: Arc<MeetingKind>,
    events: Vec<RecordedEvent>,
    state: MeetingState,
    issue: Option<(IssueState, Arc<CompiledWorkflow>)>,
    clock: DateTime<Utc>,
    outcome: Option<Result<Decided, MeetingRefusal>>,
}

impl MeetingSpec {
    fn scheduled(kind: &str) -> MeetingSpec {
        let clock: DateTime<Utc> = "2026-03-10T01:00:00Z".parse().unwrap();
        let first = support::fake_event(
            &meeting::stream_of(MEETING),
            0,
            clock,
            "MeetingScheduled",
            &scheduled(kind),
            convener(),
            GENESIS_HASH,
        );
        let state = meeting::start(&first).unwrap();
        MeetingSpec {
            kind: meeting::kind(kind).unwrap_or_else(|| panic!("kind {kind} is shipped")),
            events: vec![first],
            state,
            issue: None,
            clock,
            outcome: None,
        }
    }

    /// The meeting may act on the spec issue (`spec-0001`) in the state `issue` leaves it.
    fn about(mut self, issue: Spec) -> MeetingSpec {
        let wf = Arc::new(issue.workflow().clone());
        self.issue = Some((issue.state().clone(), wf));
        self
    }

    fn decide(&self, step: &str, data: &Value) -> Result<Decided, MeetingRefusal> {
        let issue = self.issue.clone();
        let lookup = move |id: &str| issue.clone().filter(|(s, _)| s.id == id);
        let a = convener();
        meeting::decide(
            &self.kind,
            &self.state,
            &MeetingStep { step_type: step, data, actor: &a },
            &lookup,
            Catalog::shipped(),
        )
    }

    fn record(&mut self, d: &Decided) {
        self.clock += Duration::minutes(5);
        let prev = self.events.last().map(|e| e.hash.clone()).unwrap();
        let e = support::fake_event(
            &self.state.stream,
            self.events.len() as u64,
            self.clock,
            &d.event_type,
            &d.data,
            convener(),
            &prev,
        );
        meeting::apply(&mut self.state, &e);
        self.events.push(e);
    }

    #[track_caller]
    fn given(mut self, steps: &[(&str, Value)]) -> MeetingSpec {
        for (step, data) in steps {
            match self.decide(step, data) {
                Ok(d) => self.record(&d),
                Err(r) => panic!("given {step} was refused: {r:#?}"),
            }
        }
        self
    }

    /// Invites `n` resident representatives rr-1..rr-n and opens the meeting.
    fn with_reps_open(self, n: usize) -> MeetingSpec {
        let mut steps: Vec<(&str, Value)> =
            (1..=n).map(|i| ("ParticipantInvited", rep(&format!("rr-{i}"), &format!("代表{i}")))).collect();
        steps.push(("MeetingOpened", json!({})));
        self.given(&steps)
    }

    /// rr-1..rr-k present.
    fn present(self, range: std::ops::RangeInclusive<usize>) -> MeetingSpec {
        let steps: Vec<(&str, Value)> = range.map(|i| ("AttendanceRecorded", present(&format!("rr-{i}")))).collect();
        self.given(&steps)
    }

    fn when(mut self, step: &str, data: Value) -> MeetingSpec {
        let r = self.decide(step, &data);
        if let Ok(d) = &r {
            self.record(d);
        }
        self.outcome = Some(r);
        self
    }

    #[track_caller]
    fn then_event(self, event_type: &str) -> MeetingSpec {
        match &self.outcome {
            Some(Ok(d)) => assert_eq!(d.event_type, event_type, "{:#?}", d.data),
            Some(Err(r)) => panic!("expected {event_type}, got refusal {r:#?}"),
            None => panic!("no when"),
        }
        // Replay from scratch agrees with the incremental fold.
        assert_eq!(meeting::replay(&self.events).unwrap(), self.state);
        self
    }

    #[track_caller]
    fn then_refused(self, code: &str) -> MeetingSpec {
        match &self.outcome {
            Some(Err(r)) => {
                assert_eq!(r.code(), code, "{r:#?}");
                assert!(!r.message().zh.is_empty() && r.message().en.is_some());
            }
            Some(Ok(d)) => panic!("expected refusal {code}, but {} was decided: {:#?}", d.event_type, d.data),
            None => panic!("no when"),
        }
        self
    }

    fn data(&self) -> &Value {
        &self.outcome.as_ref().unwrap().as_ref().unwrap().data
    }

    fn refusal(&self) -> &MeetingRefusal {
        self.outcome.as_ref().unwrap().as_ref().unwrap_err()
    }
}

fn issue_deliberated() -> Spec {
    Spec::community_issue().given(&support::to_deliberated())
}

/// The pact drafted and publicised before the meeting votes on it.
fn issue_deliberated_with_pact() -> Spec {
    let mut steps = support::to_deliberated();
    steps.push(("MicroPactDrafted", payload::micro_pact_drafted("pact-1"), "resident_representative"));
    steps.push(("MicroPactPublicized", payload::micro_pact_publicized("pact-1"), "community_staff"));
    Spec::community_issue().given(&steps)
}

fn pact_step() -> Value {
    json!({"type": "MicroPactAdopted", "data": {"pact_id": "pact-1", "effective_from": "2026-04-01"}})
}

/// Consultation day with ten representatives, rr-1..rr-k present, the spec issue on the agenda
/// and deliberated.
fn consultation_with(k: usize, issue: Spec) -> MeetingSpec {
    MeetingSpec::scheduled("consultation_day")
        .about(issue)
        .given(&[("AgendaItemAdded", json!({"issue_id": "spec-0001", "proposer": {"name": "张书记"}}))])
        .with_reps_open(10)
        .present(1..=k)
}

// ---------------------------------------------------------------------------------------------
// Kinds are data
// ---------------------------------------------------------------------------------------------

mod kinds {
    use super::*;
    use convene_engine::catalog::embedded;
    use convene_engine::meeting::kind::compile_kind;

    #[test]
    fn every_shipped_meeting_kind_validates_and_names_states_of_its_workflows() {
        assert!(embedded::SHIPPED_MEETING_KINDS.len() >= 3);
        for (name, text) in embedded::SHIPPED_MEETING_KINDS {
            let doc: Value = serde_json::from_str(text).unwrap();
            let k = compile_kind(name, &doc).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(k.id, *name, "a kind file is named after its id");
            for (wf, states) in &k.actionable {
                let wf = support::compile(&support::shipped_doc(wf));
                for s in states {
                    assert!(wf.state_index(s).is_some(), "{name}: {s} is not a state of {}", wf.id());
                }
            }
        }
        for k in ["consultation_day", "joint_meeting", "tripartite"] {
            assert!(meeting::kind(k).is_some(), "{k} is shipped");
        }
    }

    #[test]
    fn a_broken_kind_is_refused_naming_the_field() {
        let mut doc: Value = serde_json::from_str(embedded::SHIPPED_MEETING_KINDS[0].1).unwrap();
        doc["voting"]["rule"] = json!("loudest_voice");
        let err = compile_kind("broken", &doc).unwrap_err();
        assert!(err.problems.iter().any(|(p, _)| p == "/voting/rule"), "{err:?}");
        let mut doc: Value = serde_json::from_str(embedded::SHIPPED_MEETING_KINDS[0].1).unwrap();
        doc["quorum"]["requirements"] =
            json!([{"type": "share_of_invited", "who": {"resident_representative": true}, "at_least": [3, 2]}]);
        let err = compile_kind("broken", &doc).unwrap_err();
        assert!(err.problems.iter().any(|(p, _)| p == "/quorum/requirements/0/at_least"), "{err:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Quorum, per kind
// ---------------------------------------------------------------------------------------------

mod quorum {
    use super::*;

    #[test]
    fn consultation_day_quorum_is_reached_with_exactly_half_of_the_invited_representatives() {
        let s = consultation_with(5, issue_deliberated())
            .when("EstablishQuorum", json!({}))
            .then_event("QuorumEstablished");
        assert_eq!(s.data()["present"], 5);
        assert_eq!(s.data()["voters"].as_array().unwrap().len(), 5);
        assert_eq!(s.state.quorum.as_ref().unwrap().voters.len(), 5);
    }

    #[test]
    fn consultation_day_quorum_is_not_reached_one_short_of_half() {
        let s = consultation_with(4, issue_deliberated())
            .when("EstablishQuorum", json!({}))
            .then_refused("quorum_not_reached");
        let MeetingRefusal::QuorumNotReached { requirements, .. } = s.refusal() else { panic!() };
        assert_eq!((requirements[0].have, requirements[0].needed, requirements[0].met), (4, 5, false));
        assert!(s.state.quorum.is_none(), "nothing was recorded");
    }

    #[test]
    fn a_proxy_counts_towards_a_consultation_days_quorum_and_its_vote_is_cast_by_the_holder() {
        let s = consultation_with(4, issue_deliberated())
            .given(&[("AttendanceRecorded", proxy("rr-5", "rr-1"))])
            .when("EstablishQuorum", json!({}))
            .then_event("QuorumEstablished");
        let q = s.state.quorum.as_ref().unwrap();
        assert_eq!((q.present, q.represented, q.voters.len()), (4, 5, 5));
        let v = q.voters.iter().find(|v| v.person_id == "rr-5").unwrap();
        assert_eq!(v.cast_by.as_deref(), Some("rr-1"));
    }

    #[test]
    fn a_proxy_to_someone_absent_represents_nobody() {
        consultation_with(4, issue_deliberated())
            .given(&[("AttendanceRecorded", absent("rr-9")), ("AttendanceRecorded", proxy("rr-5", "rr-9"))])
            .when("EstablishQuorum", json!({}))
            .then_refused("quorum_not_reached");
    }

    fn joint(bodies: &[&str]) -> MeetingSpec {
        let all = ["community", "social_worker", "social_organisation", "volunteer", "charity"];
        let mut steps: Vec<(&str, Value)> =
            all.iter().map(|b| ("ParticipantInvited", member(&format!("p-{b}"), &format!("{b}代表"), b))).collect();
        steps.push(("MeetingOpened", json!({})));
        for b in bodies {
            steps.push(("AttendanceRecorded", present(&format!("p-{b}"))));
        }
        MeetingSpec::scheduled("joint_meeting").given(&steps)
    }

    #[test]
    fn a_joint_meeting_needs_a_representative_of_each_of_the_five_societies() {
        joint(&["community", "social_worker", "social_organisation", "volunteer", "charity"])
            .when("EstablishQuorum", json!({}))
            .then_event("QuorumEstablished");
        let s = joint(&["community", "social_worker", "social_organisation", "volunteer"])
            .when("EstablishQuorum", json!({}))
            .then_refused("quorum_not_reached");
        let MeetingRefusal::QuorumNotReached { requirements, .. } = s.refusal() else { panic!() };
        let missing: Vec<&str> = requirements.iter().filter(|r| !r.met).map(|r| r.code.as_str()).collect();
        assert_eq!(missing, ["body_present:charity"]);
        assert!(s.refusal().message().zh.contains("社区公益慈善资源"), "{}", s.refusal().message().zh);
    }

    fn tripartite(present_bodies: &[&str]) -> MeetingSpec {
        let all = ["residents_committee", "owners_committee", "property_company"];
        let mut steps: Vec<(&str, Value)> =
            all.iter().map(|b| ("ParticipantInvited", member(&format!("p-{b}"), b, b))).collect();
        steps.push(("MeetingOpened", json!({})));
        for b in present_bodies {
            steps.push(("AttendanceRecorded", present(&format!("p-{b}"))));
        }
        MeetingSpec::scheduled("tripartite").given(&steps)
    }

    #[test]
    fn a_tripartite_meeting_needs_the_residents_committee_the_owners_committee_and_the_property_company() {
        tripartite(&["residents_committee", "owners_committee", "property_company"])
            .when("EstablishQuorum", json!({}))
            .then_event("QuorumEstablished");
        tripartite(&["residents_committee", "owners_committee"])
            .when("EstablishQuorum", json!({}))
            .then_refused("quorum_not_reached");
    }

    fn reps_meeting(present_n: usize, proxies: usize) -> MeetingSpec {
        let mut s = MeetingSpec::scheduled("resident_representatives").with_reps_open(9).present(1..=present_n);
        for i in 0..proxies {
            s = s.given(&[("AttendanceRecorded", proxy(&format!("rr-{}", 9 - i), "rr-1"))]);
        }
        s
    }

    #[test]
    fn a_resident_representatives_meeting_needs_exactly_two_thirds_and_proxies_do_not_count_there() {
        reps_meeting(6, 0).when("EstablishQuorum", json!({})).then_event("QuorumEstablished");
        reps_meeting(5, 0).when("EstablishQuorum", json!({})).then_refused("quorum_not_reached");
        reps_meeting(5, 2).when("EstablishQuorum", json!({})).then_refused("quorum_not_reached");
    }

    #[test]
    fn attendance_of_someone_not_invited_is_refused() {
        MeetingSpec::scheduled("consultation_day")
            .with_reps_open(2)
            .when("AttendanceRecorded", present("stranger"))
            .then_refused("unknown_participant");
    }
}

// ---------------------------------------------------------------------------------------------
// Voting rules at their boundaries
// ---------------------------------------------------------------------------------------------

mod voting {
    use super::*;

    fn v(yes: u64, against: u64, abstain: u64) -> Votes {
        Votes { yes, against, abstain }
    }

    #[test]
    fn majority_of_votes_cast_exactly_half_fails_one_more_carries() {
        assert!(!decide_vote(VotingRule::Majority, VotingBase::Cast, &v(10, 10, 0), 30).carried);
        assert!(!decide_vote(VotingRule::Majority, VotingBase::Cast, &v(10, 9, 1), 30).carried, "abstentions are cast");
        assert!(decide_vote(VotingRule::Majority, VotingBase::Cast, &v(11, 10, 0), 30).carried);
        assert!(!decide_vote(VotingRule::Majority, VotingBase::Cast, &v(0, 0, 0), 30).carried, "no votes: fails");
    }

    #[test]
    fn two_thirds_exactly_two_thirds_carries_one_less_fails() {
        assert!(decide_vote(VotingRule::TwoThirds, VotingBase::Cast, &v(20, 10, 0), 40).carried);
        assert!(!decide_vote(VotingRule::TwoThirds, VotingBase::Cast, &v(19, 10, 0), 40).carried);
        assert!(!decide_vote(VotingRule::TwoThirds, VotingBase::Cast, &v(20, 9, 2), 40).carried);
        assert!(decide_vote(VotingRule::TwoThirds, VotingBase::Cast, &v(2, 1, 0), 3).carried);
    }

    #[test]
    fn consensus_one_objection_fails_abstentions_do_not_object() {
        assert!(decide_vote(VotingRule::Consensus, VotingBase::Cast, &v(8, 0, 3), 11).carried);
        let one = decide_vote(VotingRule::Consensus, VotingBase::Cast, &v(10, 1, 0), 11);
        assert!(!one.carried);
        assert!(one.explanation.zh.contains("反对"), "{:?}", one.explanation);
        assert!(!decide_vote(VotingRule::Consensus, VotingBase::Cast, &v(0, 0, 5), 5).carried);
    }

    #[test]
    fn a_base_of_all_voting_members_counts_those_who_did_not_vote() {
        assert!(!decide_vote(VotingRule::Majority, VotingBase::VotingMembers, &v(5, 0, 0), 10).carried);
        assert!(decide_vote(VotingRule::Majority, VotingBase::VotingMembers, &v(6, 0, 0), 11).carried);
        assert!(decide_vote(VotingRule::Majority, VotingBase::Cast, &v(5, 0, 0), 10).carried);
    }

    /// A consultation day with 10 representatives present and quorum, the pact motion tabled.
    fn voting_on_pact(k: usize) -> MeetingSpec {
        consultation_with(k, issue_deliberated_with_pact()).given(&[
            ("EstablishQuorum", json!({})),
            ("MotionTabled", motion("motion-1", "spec-0001", vec![pact_step()])),
        ])
    }

    #[test]
    fn exactly_half_of_a_show_of_hands_fails_the_motion_through_the_meeting() {
        let s = voting_on_pact(10)
            .given(&[(
                "VoteRecorded",
                json!({"motion_id": "motion-1", "counts": {"for": 5, "against": 5, "abstain": 0}}),
            )])
            .when("CloseVote", json!({"motion_id": "motion-1"}))
            .then_event("MotionFailed");
        assert_eq!(s.data()["votes"], json!({"for": 5, "against": 5, "abstain": 0}));
        assert_eq!(s.data()["eligible"], 10);
        assert_eq!(s.state.motions[0].status, meeting::MotionStatus::Failed);
    }

    #[test]
    fn one_more_than_half_carries_it() {
        voting_on_pact(10)
            .given(&[(
                "VoteRecorded",
                json!({"motion_id": "motion-1", "counts": {"for": 6, "against": 4, "abstain": 0}}),
            )])
            .when("CloseVote", json!({"motion_id": "motion-1"}))
            .then_event("MotionCarried");
    }

    #[test]
    fn counts_larger_than_the_voting_list_are_refused() {
        voting_on_pact(6)
            .when("VoteRecorded", json!({"motion_id": "motion-1", "counts": {"for": 5, "against": 2, "abstain": 0}}))
            .then_refused("too_many_votes");
    }

    #[test]
    fn a_motion_outcome_is_never_entered_by_hand() {
        voting_on_pact(6).when("MotionCarried", json!({"motion_id": "motion-1"})).then_refused("computed_by_engine");
        consultation_with(6, issue_deliberated())
            .when("QuorumEstablished", json!({}))
            .then_refused("computed_by_engine");
    }

    #[test]
    fn a_consensus_motion_fails_on_one_objection_through_a_tripartite_meeting() {
        let all = ["residents_committee", "owners_committee", "property_company"];
        let mut steps: Vec<(&str, Value)> =
            vec![("AgendaItemAdded", json!({"issue_id": "spec-0001", "proposer": {"name": "物业王经理"}}))];
        steps.extend(all.iter().map(|b| ("ParticipantInvited", member(&format!("p-{b}"), b, b))));
        steps.push(("MeetingOpened", json!({})));
        steps.extend(all.iter().map(|b| ("AttendanceRecorded", present(&format!("p-{b}")))));
        steps.push(("EstablishQuorum", json!({})));
        steps.push(("MotionTabled", motion("motion-1", "spec-0001", vec![])));
        let base = MeetingSpec::scheduled("tripartite").about(issue_deliberated()).given(&steps);
        let vote = |who: &str, c: &str| ("VoteRecorded", json!({"motion_id": "motion-1", "voter": who, "choice": c}));
        let s = base
            .given(&[
                vote("p-residents_committee", "for"),
                vote("p-owners_committee", "for"),
                vote("p-property_company", "against"),
            ])
            .when("CloseVote", json!({"motion_id": "motion-1"}))
            .then_event("MotionFailed");
        assert_eq!(s.data()["rule"], "consensus");
        assert_eq!(s.data()["votes"], json!({"for": 2, "against": 1, "abstain": 0}));
    }
}

// ---------------------------------------------------------------------------------------------
// Who may vote, and when
// ---------------------------------------------------------------------------------------------

mod votes {
    use super::*;

    #[test]
    fn a_vote_before_quorum_is_refused() {
        consultation_with(8, issue_deliberated())
            .given(&[("MotionTabled", motion("motion-1", "spec-0001", vec![]))])
            .when("VoteRecorded", json!({"motion_id": "motion-1", "voter": "rr-1", "choice": "for"}))
            .then_refused("no_quorum");
    }

    #[test]
    fn a_proxy_holder_casts_the_absent_representatives_vote() {
        let s = consultation_with(5, issue_deliberated())
            .given(&[
                ("AttendanceRecorded", proxy("rr-6", "rr-2")),
                ("EstablishQuorum", json!({})),
                ("MotionTabled", motion("motion-1", "spec-0001", vec![])),
            ])
            .when("VoteRecorded", json!({"motion_id": "motion-1", "voter": "rr-6", "choice": "against"}))
            .then_event("VoteRecorded");
        assert_eq!(s.data()["cast_by"], "rr-2", "the engine names who cast it");
        assert_eq!(s.state.motions[0].votes.against, 1);
    }

    #[test]
    fn an_absent_representative_without_a_proxy_cannot_vote_nor_can_anyone_vote_twice() {
        let s = consultation_with(5, issue_deliberated()).given(&[
            ("EstablishQuorum", json!({})),
            ("MotionTabled", motion("motion-1", "spec-0001", vec![])),
            ("VoteRecorded", json!({"motion_id": "motion-1", "voter": "rr-1", "choice": "for"})),
        ]);
        let s = s
            .when("VoteRecorded", json!({"motion_id": "motion-1", "voter": "rr-7", "choice": "for"}))
            .then_refused("not_a_voter");
        s.when("VoteRecorded", json!({"motion_id": "motion-1", "voter": "rr-1", "choice": "against"}))
            .then_refused("already_voted");
    }

    #[test]
    fn a_later_arrival_does_not_change_a_vote_in_progress() {
        let s = consultation_with(5, issue_deliberated()).given(&[
            ("EstablishQuorum", json!({})),
            ("MotionTabled", motion("motion-1", "spec-0001", vec![])),
            ("VoteRecorded", json!({"motion_id": "motion-1", "voter": "rr-1", "choice": "for"})),
            ("AttendanceRecorded", present("rr-6")),
        ]);
        let s = s
            .when("VoteRecorded", json!({"motion_id": "motion-1", "voter": "rr-6", "choice": "for"}))
            .then_refused("not_a_voter");
        let s = s.when("EstablishQuorum", json!({})).then_refused("vote_in_progress");
        // Once the motion is decided, a new snapshot takes the late arrival in for the next one.
        let s = s
            .given(&[("CloseVote", json!({"motion_id": "motion-1"}))])
            .when("EstablishQuorum", json!({}))
            .then_event("QuorumEstablished");
        assert_eq!(s.state.quorum.as_ref().unwrap().voters.len(), 6);
        assert_eq!(s.state.motions[0].eligible, Some(5), "the decided motion keeps the list it was voted under");
    }

    #[test]
    fn a_meeting_does_not_close_while_a_motion_is_open() {
        consultation_with(5, issue_deliberated())
            .given(&[("EstablishQuorum", json!({})), ("MotionTabled", motion("motion-1", "spec-0001", vec![]))])
            .when("MeetingClosed", json!({}))
            .then_refused("motion_open");
    }

    #[test]
    fn only_the_kinds_recording_roles_may_record_steps() {
        let s = MeetingSpec::scheduled("consultation_day");
        let issue = s.issue.clone();
        let lookup = move |id: &str| issue.clone().filter(|(x, _)| x.id == id);
        let resident = Actor::new("r-1", "resident");
        let r = meeting::decide(
            &s.kind,
            &s.state,
            &MeetingStep { step_type: "MeetingOpened", data: &json!({}), actor: &resident },
            &lookup,
            Catalog::shipped(),
        )
        .unwrap_err();
        assert_eq!(r.code(), "wrong_role");
    }
}

// ---------------------------------------------------------------------------------------------
// Motions go through the issue's workflow when they are tabled
// ---------------------------------------------------------------------------------------------

mod motions {
    use super::*;

    #[test]
    fn an_issue_whose_state_is_not_actionable_for_the_kind_cannot_go_on_the_agenda() {
        let s = MeetingSpec::scheduled("consultation_day")
            .about(Spec::community_issue())
            .when("AgendaItemAdded", json!({"issue_id": "spec-0001", "proposer": {"name": "张书记"}}))
            .then_refused("not_actionable");
        assert!(s.refusal().message().zh.contains("已提出"), "{}", s.refusal().message().zh);
        // A consultation day does not follow up issues being acted on; a joint meeting does.
        let acting = || Spec::community_issue().given(&support::to_acting());
        MeetingSpec::scheduled("consultation_day")
            .about(acting())
            .when("AgendaItemAdded", json!({"issue_id": "spec-0001", "proposer": {"name": "张书记"}}))
            .then_refused("not_actionable");
        let s = MeetingSpec::scheduled("joint_meeting")
            .about(acting())
            .when("AgendaItemAdded", json!({"issue_id": "spec-0001", "proposer": {"name": "街道王主任"}}))
            .then_event("AgendaItemAdded");
        assert_eq!(s.data()["issue_state"], "acting", "the engine records the state it saw");
        assert_eq!(s.data()["order"], 1);
    }

    #[test]
    fn a_motion_on_an_issue_whose_state_does_not_allow_a_resolution_is_refused_when_tabled() {
        // On the agenda but not yet deliberated: the workflow takes no ResolutionPassed there.
        let on_agenda = Spec::community_issue().given(&support::to_on_agenda());
        let s = consultation_with(6, on_agenda)
            .given(&[("EstablishQuorum", json!({}))])
            .when("MotionTabled", motion("motion-1", "spec-0001", vec![]))
            .then_refused("issue_refuses");
        let MeetingRefusal::Issue { refusal, .. } = s.refusal() else { panic!() };
        assert!(refusal.allowed().iter().any(|o| o.event_type == "Deliberated"), "{refusal:#?}");
        assert!(s.state.motions.is_empty(), "nothing tabled, nobody voted");
    }

    #[test]
    fn a_motion_deciding_a_step_the_issue_would_refuse_is_refused_when_tabled() {
        // Adopting a pact that was never drafted breaks the pact's order (drafted → publicised →
        // adopted): refused before anyone votes.
        consultation_with(6, issue_deliberated())
            .given(&[("EstablishQuorum", json!({}))])
            .when("MotionTabled", motion("motion-1", "spec-0001", vec![pact_step()]))
            .then_refused("issue_refuses");
        // With the pact drafted and publicised it is accepted, with the kind's rule filled in.
        let s = consultation_with(6, issue_deliberated_with_pact())
            .given(&[("EstablishQuorum", json!({}))])
            .when("MotionTabled", motion("motion-1", "spec-0001", vec![pact_step()]))
            .then_event("MotionTabled");
        assert_eq!((s.data()["rule"].as_str(), s.data()["base"].as_str()), (Some("majority"), Some("cast")));
    }

    #[test]
    fn a_motion_with_a_malformed_step_payload_is_refused_naming_the_field() {
        let bad = json!({"type": "MicroTeamFormed", "data": {"team_id": "t-1"}});
        let s = consultation_with(6, issue_deliberated())
            .given(&[("EstablishQuorum", json!({}))])
            .when("MotionTabled", motion("motion-1", "spec-0001", vec![bad]))
            .then_refused("issue_refuses");
        let MeetingRefusal::Issue { refusal, .. } = s.refusal() else { panic!() };
        let convene_engine::issue::Refusal::InvalidPayload { errors, .. } = refusal.as_ref() else {
            panic!("{refusal:#?}")
        };
        assert!(errors.iter().any(|e| e.pointer == "/name"), "{errors:#?}");
    }

    #[test]
    fn the_resolution_of_a_carried_motion_moves_its_issue_and_a_failed_ones_does_not() {
        use convene_engine::meeting::effects::{dry_run, effect_of};
        let run = |counts: Value| {
            let s = consultation_with(10, issue_deliberated_with_pact()).given(&[
                ("EstablishQuorum", json!({})),
                ("MotionTabled", motion("motion-1", "spec-0001", vec![pact_step()])),
                ("VoteRecorded", json!({"motion_id": "motion-1", "counts": counts})),
                ("CloseVote", json!({"motion_id": "motion-1"})),
            ]);
            let last = s.events.last().unwrap().clone();
            let effect = effect_of(&s.state, &last, Catalog::shipped()).expect("an outcome has an effect");
            let (issue, wf) = s.issue.clone().unwrap();
            let after = dry_run(&wf, &issue, &effect.events, &Actor::system(), Catalog::shipped()).unwrap();
            (effect, after)
        };
        let (effect, after) = run(json!({"for": 7, "against": 2, "abstain": 1}));
        let types: Vec<&str> = effect.events.iter().map(|(_, t, _)| t.as_str()).collect();
        assert_eq!(types, ["ResolutionPassed", "MicroPactAdopted"]);
        assert_eq!(effect.events[0].2["decided_steps"], json!(["micro_pact"]));
        assert_eq!(effect.events[1].2["meeting_id"], MEETING, "the engine names the meeting");
        assert_eq!(effect.events[1].2["votes"], json!({"for": 7, "against": 2, "abstain": 1}));
        assert_eq!(after.state, "acting");
        assert_eq!(after.record.pacts[0].status, "adopted");
        let (effect, after) = run(json!({"for": 3, "against": 6, "abstain": 1}));
        assert_eq!(effect.events.iter().map(|(_, t, _)| t.as_str()).collect::<Vec<_>>(), ["ResolutionRejected"]);
        assert_eq!(after.state, "assessed", "a rejected motion sends the issue back to be re-planned");
        assert!(after.record.pacts.iter().all(|p| p.status == "publicized"), "the pact is not adopted");
    }

    #[test]
    fn resolution_event_ids_depend_only_on_meeting_motion_and_index() {
        use convene_engine::meeting::effects::resolution_event_id;
        assert_eq!(resolution_event_id("m", "x", 0), resolution_event_id("m", "x", 0));
        assert_ne!(resolution_event_id("m", "x", 0), resolution_event_id("m", "x", 1));
        assert_ne!(resolution_event_id("m", "x", 0), resolution_event_id("m2", "x", 0));
    }
}

// ---------------------------------------------------------------------------------------------
// Through the engine on a real store: the process manager
// ---------------------------------------------------------------------------------------------

mod through_the_engine {
    use super::*;
    use convene_engine::Engine;
    use convene_engine::service::{MeetingCommand, ScheduleMeeting};

    pub async fn schedule(engine: &Engine, id: &str, kind: &str) {
        engine
            .schedule_meeting(ScheduleMeeting {
                meeting_id: Some(id.into()),
                data: scheduled(kind),
                actor: convener(),
                idempotency_key: None,
            })
            .await
            .unwrap_or_else(|e| panic!("schedule {id}: {e}"));
    }

    pub async fn step(
        engine: &Engine,
        meeting: &str,
        step_type: &str,
        data: Value,
    ) -> convene_engine::service::MeetingOutcome {
        engine
            .meeting_step(MeetingCommand {
                meeting_id: meeting.into(),
                step_type: step_type.into(),
                data,
                actor: convener(),
                expected_version: None,
                idempotency_key: None,
            })
            .await
            .unwrap_or_else(|e| panic!("{step_type} on {meeting}: {e}"))
    }

    /// An issue raised and assessed, with a pact drafted and publicised; then a consultation day
    /// that takes it up, deliberates, establishes quorum with 10 representatives and tables
    /// the pact motion. Returns the issue id.
    pub async fn up_to_the_vote(engine: &Engine) -> String {
        let raised = engine.raise(support::raise_community_issue()).await.unwrap();
        let issue = raised.issue.id.clone();
        support::record_all(engine, &issue, &support::to_assessed()).await;
        schedule(engine, MEETING, "consultation_day").await;
        step(engine, MEETING, "AgendaItemAdded", json!({"issue_id": issue, "proposer": {"name": "张书记"}})).await;
        for i in 1..=10 {
            step(engine, MEETING, "ParticipantInvited", rep(&format!("rr-{i}"), &format!("代表{i}"))).await;
        }
        step(engine, MEETING, "MeetingOpened", json!({})).await;
        for i in 1..=10 {
            step(engine, MEETING, "AttendanceRecorded", present(&format!("rr-{i}"))).await;
        }
        step(engine, MEETING, "AgendaItemDeliberated", deliberated(&issue)).await;
        support::record_all(
            engine,
            &issue,
            &[
                ("MicroPactDrafted", payload::micro_pact_drafted("pact-1"), "resident_representative"),
                ("MicroPactPublicized", payload::micro_pact_publicized("pact-1"), "community_staff"),
            ],
        )
        .await;
        step(engine, MEETING, "EstablishQuorum", json!({})).await;
        step(engine, MEETING, "MotionTabled", motion("motion-1", &issue, vec![pact_step()])).await;
        issue
    }

    fn count(events: &[RecordedEvent], t: &str) -> usize {
        events.iter().filter(|e| e.event_type == t).count()
    }

    #[tokio::test]
    async fn agenda_and_deliberation_reach_the_issue_and_a_carried_motion_moves_it() {
        let (_dir, engine) = support::fresh_engine().await;
        let issue = up_to_the_vote(&engine).await;
        assert_eq!(engine.current(&issue).await.unwrap().state, "deliberated", "PlacedOnAgenda, Deliberated carried");
        step(
            &engine,
            MEETING,
            "VoteRecorded",
            json!({"motion_id": "motion-1", "counts": {"for": 7, "against": 2, "abstain": 1}}),
        )
        .await;
        let closed = step(&engine, MEETING, "CloseVote", json!({"motion_id": "motion-1"})).await;
        assert_eq!(closed.event.event_type, "MotionCarried");
        let s = engine.current(&issue).await.unwrap();
        assert_eq!(s.state, "acting");
        assert_eq!(s.record.pacts[0].status, "adopted");
        let r = &s.record.resolutions[0];
        assert_eq!((r.meeting_id.as_str(), r.motion_id.as_str(), r.passed), (MEETING, "motion-1", true));
        let events = engine.issue_events(&issue).await.unwrap();
        let passed = events.iter().find(|e| e.event_type == "ResolutionPassed").unwrap();
        assert_eq!(passed.actor.role, "system");
        assert_eq!(passed.causation_id, Some(closed.event.id), "the issue event points at the meeting's");
        // Closing the vote again is refused; nothing more reaches the issue.
        let again = engine
            .meeting_step(MeetingCommand {
                meeting_id: MEETING.into(),
                step_type: "CloseVote".into(),
                data: json!({"motion_id": "motion-1"}),
                actor: convener(),
                expected_version: None,
                idempotency_key: None,
            })
            .await
            .unwrap_err();
        assert!(again.to_string().contains("motion-1"), "{again}");
        assert_eq!(count(&engine.issue_events(&issue).await.unwrap(), "ResolutionPassed"), 1);
    }

    #[tokio::test]
    async fn a_failed_motion_appends_resolution_rejected_and_does_not_adopt_the_pact() {
        let (_dir, engine) = support::fresh_engine().await;
        let issue = up_to_the_vote(&engine).await;
        step(
            &engine,
            MEETING,
            "VoteRecorded",
            json!({"motion_id": "motion-1", "counts": {"for": 5, "against": 5, "abstain": 0}}),
        )
        .await;
        let closed = step(&engine, MEETING, "CloseVote", json!({"motion_id": "motion-1"})).await;
        assert_eq!(closed.event.event_type, "MotionFailed");
        let s = engine.current(&issue).await.unwrap();
        assert_eq!(s.state, "assessed");
        assert_eq!(s.record.pacts[0].status, "publicized");
        let events = engine.issue_events(&issue).await.unwrap();
        assert_eq!((count(&events, "ResolutionRejected"), count(&events, "ResolutionPassed")), (1, 0));
    }

    #[tokio::test]
    async fn killed_between_the_meeting_event_and_the_issue_event_every_resolution_reaches_its_issue_exactly_once() {
        let dir = tempfile::tempdir().unwrap();
        let issue;
        {
            let engine = Engine::open(support::open_sqlite(dir.path())).await.unwrap();
            engine.bootstrap_workflows().await.unwrap();
            issue = up_to_the_vote(&engine).await;
            // From here the process "dies" after each meeting event: the process manager never
            // runs in this process.
            engine.set_process_manager_inline(false);
            step(
                &engine,
                MEETING,
                "VoteRecorded",
                json!({"motion_id": "motion-1", "counts": {"for": 8, "against": 1, "abstain": 1}}),
            )
            .await;
            step(&engine, MEETING, "CloseVote", json!({"motion_id": "motion-1"})).await;
            assert_eq!(engine.current(&issue).await.unwrap().state, "deliberated", "the crash left the issue behind");
            engine.store().close().await;
        }
        // Restart on the same store: opening runs the process manager over the whole log.
        let engine = Engine::open(support::open_sqlite(dir.path())).await.unwrap();
        let s = engine.current(&issue).await.unwrap();
        assert_eq!(s.state, "acting");
        assert_eq!(s.record.pacts[0].status, "adopted");
        // Running it again, and in yet another process over the same log, appends nothing.
        assert_eq!(engine.run_process_manager().await.unwrap(), 0);
        engine.store().close().await;
        let engine = Engine::open(support::open_sqlite(dir.path())).await.unwrap();
        assert_eq!(engine.run_process_manager().await.unwrap(), 0);
        let events = engine.issue_events(&issue).await.unwrap();
        for t in ["PlacedOnAgenda", "Deliberated", "ResolutionPassed", "MicroPactAdopted"] {
            assert_eq!(count(&events, t), 1, "{t} exactly once");
        }
        convene_engine::event::verify_chain(&events).expect("the issue's chain verifies");
        assert!(engine.process_manager_problems().is_empty());
    }

    #[tokio::test]
    async fn a_resolution_the_issue_no_longer_accepts_is_reported_not_forced() {
        let (_dir, engine) = support::fresh_engine().await;
        let issue = up_to_the_vote(&engine).await;
        step(
            &engine,
            MEETING,
            "VoteRecorded",
            json!({"motion_id": "motion-1", "counts": {"for": 9, "against": 0, "abstain": 0}}),
        )
        .await;
        // The matter is withdrawn while the vote is being counted.
        support::record_all(&engine, &issue, &[("IssueWithdrawn", payload::issue_withdrawn(), "resident")]).await;
        step(&engine, MEETING, "CloseVote", json!({"motion_id": "motion-1"})).await;
        assert_eq!(engine.current(&issue).await.unwrap().state, "withdrawn");
        let problems = engine.process_manager_problems();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("MotionCarried"), "{problems:?}");
        let m = engine.meeting(MEETING).await.unwrap();
        assert_eq!(engine.resolutions_applied(&m).await.unwrap(), vec![("motion-1".to_string(), false)]);
    }
}

// ---------------------------------------------------------------------------------------------
// The real binary aborted right after the meeting's event, then restarted
// ---------------------------------------------------------------------------------------------

mod real_binary {
    use super::through_the_engine::{step, up_to_the_vote};
    use super::*;
    use convene_engine::Engine;
    use std::process::Command;

    #[tokio::test]
    async fn the_convene_binary_aborted_after_motion_carried_is_written_carries_the_resolution_once_on_restart() {
        let dir = tempfile::tempdir().unwrap();
        let issue = {
            let engine = Engine::open(support::open_sqlite(dir.path())).await.unwrap();
            engine.bootstrap_workflows().await.unwrap();
            let issue = up_to_the_vote(&engine).await;
            step(
                &engine,
                MEETING,
                "VoteRecorded",
                json!({"motion_id": "motion-1", "counts": {"for": 8, "against": 1, "abstain": 1}}),
            )
            .await;
            engine.store().close().await;
            issue
        };
        let convene = |args: &[&str], failpoint: Option<&str>| {
            let mut c = Command::new(crate::durability::convene_bin());
            c.arg("--data").arg(dir.path()).args(args).env("RUST_LOG", "warn");
            match failpoint {
                Some(f) => c.env(convene_engine::service::FAILPOINT_ENV, f),
                None => c.env_remove(convene_engine::service::FAILPOINT_ENV),
            };
            c.output().expect("run convene")
        };
        let o = convene(
            &[
                "meeting",
                "step",
                MEETING,
                "CloseVote",
                "--actor-id",
                "c-1",
                "--role",
                "convener",
                "--payload",
                r#"{"motion_id": "motion-1"}"#,
            ],
            Some("after-meeting-event:MotionCarried"),
        );
        assert!(!o.status.success() && o.status.code().is_none(), "the process died by a signal: {o:?}");
        assert!(String::from_utf8_lossy(&o.stderr).contains("fail point"), "{}", String::from_utf8_lossy(&o.stderr));
        {
            // The meeting event is durable; the issue has not moved. (Replaying read-only: the
            // process manager is switched off before anything could run it.)
            let store = support::open_sqlite(dir.path());
            let events =
                convene_engine::store::read_stream_all(store.as_ref(), &meeting::stream_of(MEETING)).await.unwrap();
            assert_eq!(events.last().unwrap().event_type, "MotionCarried");
            let issue_events =
                convene_engine::store::read_stream_all(store.as_ref(), &convene_engine::issue::stream_of(&issue))
                    .await
                    .unwrap();
            assert!(issue_events.iter().all(|e| e.event_type != "ResolutionPassed"));
            store.close().await;
        }
        // Restart: any command opens the engine, whose process manager carries the outcome.
        let o = convene(&["issue", "show", &issue, "--json"], None);
        assert!(o.status.success(), "{o:?}");
        let shown: Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(shown["state"], "acting");
        assert_eq!(shown["record"]["pacts"][0]["status"], "adopted");
        // And again: nothing more.
        let o = convene(&["meeting", "show", MEETING, "--json"], None);
        let m: Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(m["motions"][0]["applied_to_issue"], true);
        let engine = Engine::open(support::open_sqlite(dir.path())).await.unwrap();
        let events = engine.issue_events(&issue).await.unwrap();
        for t in ["ResolutionPassed", "MicroPactAdopted"] {
            assert_eq!(events.iter().filter(|e| e.event_type == t).count(), 1, "{t} exactly once");
        }
    }
}
