//! Specs of the shipped workflows, transition by transition and refusal by refusal, and
//! data-driven checks of workflow documents (the shipped files, and broken mutations of
//! `community-issue.json` with the diagnostic code and JSON pointer each must produce).

use crate::support::*;
use chrono::Duration;
use convene_engine::catalog::{Catalog, embedded};
use convene_engine::issue::Refusal;
use convene_engine::workflow::{Diagnostic, Severity, is_publishable, validate_definition};
use serde_json::{Value, json};

/// Event types of the steps a refusal offers instead.
fn offered(r: &Refusal) -> Vec<&str> {
    r.allowed().iter().map(|s| s.event_type.as_str()).collect()
}

fn is_domain_rule(r: &Refusal, expected: &str) -> bool {
    matches!(r, Refusal::DomainRule { code, .. } if *code == expected)
}

fn invalid_at(r: &Refusal, pointer: &str) -> bool {
    matches!(r, Refusal::InvalidPayload { errors, .. } if errors.iter().any(|e| e.pointer == pointer))
}

// =============================================================================================
// community-issue: raised
// =============================================================================================

mod community_issue_raised {
    use super::*;

    #[test]
    fn a_new_issue_starts_raised_at_community_level_with_a_seven_day_assessment_deadline() {
        Spec::community_issue().then_state("raised").then_record(|s| {
            assert_eq!(s.workflow.id, "community-issue");
            assert_eq!(s.workflow.version, 1);
            assert_eq!(s.escalation_level, "community");
            assert_eq!(s.community, COMMUNITY);
            assert_eq!(s.category, "stairwell");
            assert_eq!(s.households_affected, 36);
            assert_eq!(s.version, 0);
            assert!(!s.is_final);
            assert_eq!(s.due_at, Some(s.raised_at + Duration::days(7)));
            assert!(!s.overdue_at(s.raised_at + Duration::days(7)));
            assert!(s.overdue_at(s.raised_at + Duration::days(7) + Duration::seconds(1)));
        });
    }

    #[test]
    fn raised_issue_is_assessed_when_a_social_worker_records_a_needs_assessment() {
        Spec::community_issue()
            .when("NeedAssessed", payload::need_assessed(), "social_worker")
            .then_state("assessed")
            .then_record(|s| {
                let a = s.record.assessment.as_ref().expect("the assessment is on record");
                assert_eq!(a.priority, "high");
                assert_eq!(a.method, "door_to_door");
                assert_eq!(a.households_visited, 30);
                assert_eq!(a.recommended_steps, ["micro_pact", "micro_team"]);
                assert_eq!(s.due_at, Some(s.entered_state_at + Duration::days(14)));
                assert_eq!(s.version, 1);
            });
    }

    #[test]
    fn community_staff_may_assess_needs_too() {
        Spec::community_issue()
            .when("NeedAssessed", payload::need_assessed(), "community_staff")
            .then_state("assessed");
    }

    #[test]
    fn raised_issue_is_withdrawn_when_the_resident_withdraws_it() {
        Spec::community_issue()
            .when("IssueWithdrawn", payload::issue_withdrawn(), "resident")
            .then_state("withdrawn")
            .then_record(|s| {
                assert!(s.is_final);
                assert_eq!(s.due_at, None, "a final state has no deadline");
                let c = s.record.closure.as_ref().expect("closure on record");
                assert_eq!(c.kind, "withdrawn");
            });
    }

    #[test]
    fn raised_issue_cannot_be_deliberated_before_it_is_assessed_and_the_refusal_offers_what_can_be_done() {
        Spec::community_issue().when("Deliberated", payload::deliberated("m-1"), "convener").then_refused(|r| {
            let Refusal::NotInState { event_type, state, state_title, allowed } = r else { return false };
            assert_eq!(event_type, "Deliberated");
            assert_eq!(state, "raised");
            assert_eq!(state_title.zh, "已提出（民事民提）");
            assert!(!allowed.is_empty());
            assert_eq!(offered(r), ["Escalated", "IssueWithdrawn", "NeedAssessed"]);
            let assess = allowed.iter().find(|o| o.event_type == "NeedAssessed").expect("NeedAssessed offered");
            assert_eq!(assess.roles, ["social_worker", "community_staff"]);
            assert!(!assess.guarded);
            let escalate = allowed.iter().find(|o| o.event_type == "Escalated").expect("Escalated offered");
            assert!(escalate.guarded, "escalation depends on a guard");
            true
        });
    }
}

// =============================================================================================
// community-issue: assessed
// =============================================================================================

mod community_issue_assessed {
    use super::*;

    #[test]
    fn assessed_issue_goes_on_the_agenda_when_a_convener_places_it() {
        Spec::community_issue()
            .given(&to_assessed())
            .when("PlacedOnAgenda", payload::placed_on_agenda("m-2026-03"), "convener")
            .then_state("on_agenda")
            .then_record(|s| {
                assert_eq!(s.meetings.len(), 1);
                assert_eq!(s.meetings[0].meeting_id, "m-2026-03");
                assert_eq!(s.meetings[0].via, "PlacedOnAgenda");
                assert_eq!(s.due_at, None, "on_agenda has no deadline");
            });
    }

    #[test]
    fn assessed_issue_may_be_withdrawn_by_community_staff() {
        Spec::community_issue()
            .given(&to_assessed())
            .when("IssueWithdrawn", payload::issue_withdrawn(), "community_staff")
            .then_state("withdrawn");
    }

    #[test]
    fn assessed_issue_is_closed_directly_when_it_is_a_duplicate_out_of_scope_or_merged() {
        for reason in ["duplicate", "out_of_scope", "merged"] {
            Spec::community_issue()
                .given(&to_assessed())
                .when("IssueClosed", payload::issue_closed(reason), "convener")
                .then_state("closed")
                .then_record(|s| {
                    assert!(s.is_final);
                    let c = s.record.closure.as_ref().expect("closure on record");
                    assert_eq!((c.kind, &c.reason), ("closed", &json!(reason)));
                });
        }
    }

    #[test]
    fn assessed_issue_cannot_be_closed_as_resolved_before_anything_was_done() {
        Spec::community_issue()
            .given(&to_assessed())
            .when("IssueClosed", payload::issue_closed("resolved"), "convener")
            .then_refused(|r| {
                matches!(r, Refusal::GuardFailed { event_type, guards, .. }
                    if event_type == "IssueClosed" && guards.len() == 1)
                    && offered(r).contains(&"PlacedOnAgenda")
            })
            .then_record(|s| assert_eq!((s.state.as_str(), s.record.closure.is_none()), ("assessed", true)));
    }

    #[test]
    fn only_a_convener_or_community_staff_may_place_an_issue_on_the_agenda() {
        Spec::community_issue()
            .given(&to_assessed())
            .when("PlacedOnAgenda", payload::placed_on_agenda("m-1"), "resident")
            .then_refused(|r| {
                matches!(r, Refusal::WrongRole { event_type, role, roles, allowed }
                    if event_type == "PlacedOnAgenda"
                        && role == "resident"
                        && roles == &["convener", "community_staff"]
                        && !allowed.is_empty())
            });
    }
}

// =============================================================================================
// community-issue: on_agenda
// =============================================================================================

mod community_issue_on_agenda {
    use super::*;

    #[test]
    fn issue_on_the_agenda_is_deliberated_when_the_convener_records_the_deliberation() {
        Spec::community_issue()
            .given(&to_on_agenda())
            .when("Deliberated", payload::deliberated("m-2026-03"), "convener")
            .then_state("deliberated")
            .then_record(|s| {
                assert_eq!(s.counts.deliberations, 1);
                assert_eq!(s.meetings.iter().filter(|m| m.via == "Deliberated").count(), 1);
            });
    }

    #[test]
    fn issue_on_the_agenda_stays_there_when_placed_on_another_meeting() {
        Spec::community_issue()
            .given(&to_on_agenda())
            .when("PlacedOnAgenda", payload::placed_on_agenda("m-2026-04"), "community_staff")
            .then_state("on_agenda")
            .then_record(|s| {
                let ids: Vec<&str> = s.meetings.iter().map(|m| m.meeting_id.as_str()).collect();
                assert_eq!(ids, ["m-2026-03", "m-2026-04"]);
                let last = s.history.last().expect("history");
                assert_eq!((last.from.as_deref(), &*last.to), (Some("on_agenda"), "on_agenda"));
            });
    }

    #[test]
    fn issue_on_the_agenda_may_be_withdrawn() {
        Spec::community_issue()
            .given(&to_on_agenda())
            .when("IssueWithdrawn", payload::issue_withdrawn(), "resident")
            .then_state("withdrawn");
    }

    #[test]
    fn only_a_convener_records_a_deliberation() {
        Spec::community_issue()
            .given(&to_on_agenda())
            .when("Deliberated", payload::deliberated("m-1"), "community_staff")
            .then_refused(|r| matches!(r, Refusal::WrongRole { roles, .. } if roles == &["convener"]));
    }
}

// =============================================================================================
// community-issue: deliberated
// =============================================================================================

mod community_issue_deliberated {
    use super::*;

    #[test]
    fn deliberated_issue_moves_to_acting_when_the_resolution_passes() {
        Spec::community_issue()
            .given(&to_deliberated())
            .when("ResolutionPassed", payload::resolution_passed("m-2026-03", "motion-1"), "convener")
            .then_state("acting")
            .then_record(|s| {
                assert_eq!(s.counts.resolutions_passed, 1);
                let res = &s.record.resolutions[0];
                assert!(res.passed);
                assert_eq!((res.votes.yes, res.votes.against, res.votes.abstain), (20, 2, 2));
                assert_eq!(res.decided_steps, ["micro_pact", "micro_team"]);
                assert_eq!(s.due_at, Some(s.entered_state_at + Duration::days(60)));
            });
    }

    #[test]
    fn the_system_may_record_the_resolution_a_meeting_passed() {
        Spec::community_issue()
            .given(&to_deliberated())
            .when("ResolutionPassed", payload::resolution_passed("m-2026-03", "motion-1"), "system")
            .then_state("acting");
    }

    #[test]
    fn deliberated_issue_returns_to_assessed_when_the_resolution_is_rejected() {
        Spec::community_issue()
            .given(&to_deliberated())
            .when("ResolutionRejected", payload::resolution_rejected("m-2026-03", "motion-1"), "convener")
            .then_state("assessed")
            .then_record(|s| {
                assert_eq!(s.counts.resolutions_rejected, 1);
                assert!(!s.record.resolutions[0].passed);
                assert_eq!(s.due_at, Some(s.entered_state_at + Duration::days(14)), "the assessed deadline restarts");
            });
    }

    #[test]
    fn deliberated_issue_may_be_deliberated_again() {
        Spec::community_issue()
            .given(&to_deliberated())
            .when("Deliberated", payload::deliberated("m-2026-04"), "convener")
            .then_state("deliberated")
            .then_record(|s| assert_eq!(s.counts.deliberations, 2));
    }

    #[test]
    fn deliberated_issue_may_be_withdrawn() {
        Spec::community_issue()
            .given(&to_deliberated())
            .when("IssueWithdrawn", payload::issue_withdrawn(), "convener")
            .then_state("withdrawn");
    }
}

// =============================================================================================
// community-issue: acting (the five micro steps)
// =============================================================================================

mod community_issue_acting {
    use super::*;

    #[test]
    fn a_micro_wish_is_collected_claimed_and_fulfilled_while_the_issue_stays_acting() {
        Spec::community_issue()
            .given(&to_acting())
            .when("MicroWishCollected", payload::micro_wish_collected("wish-1"), "volunteer")
            .then_state("acting")
            .when("MicroWishClaimed", payload::micro_wish_claimed("wish-1"), "property_company")
            .then_state("acting")
            .when("MicroWishFulfilled", payload::micro_wish_fulfilled("wish-1"), "volunteer")
            .then_state("acting")
            .then_record(|s| {
                let w = &s.record.wishes[0];
                assert_eq!(w.status, "fulfilled");
                assert_eq!(w.value_fen, 15_000);
                assert_eq!(w.claimed_by.as_ref().map(|p| p.name.plain()), Some(Some("蓝天志愿队")));
                assert_eq!((s.counts.wishes, s.counts.wishes_claimed, s.counts.wishes_fulfilled), (1, 1, 1));
                assert_eq!(s.counts.micro_steps_done, 1);
                assert!((s.record.volunteer_hours - 3.5).abs() < 1e-9);
            });
    }

    #[test]
    fn a_micro_pact_is_drafted_publicized_and_adopted_while_the_issue_stays_acting() {
        Spec::community_issue()
            .given(&to_acting())
            .when("MicroPactDrafted", payload::micro_pact_drafted("pact-1"), "resident_representative")
            .then_state("acting")
            .then_record(|s| assert_eq!(s.counts.micro_steps_done, 0, "a draft is not a completed step"))
            .when("MicroPactPublicized", payload::micro_pact_publicized("pact-1"), "community_staff")
            .then_state("acting")
            .when("MicroPactAdopted", payload::micro_pact_adopted("pact-1"), "convener")
            .then_state("acting")
            .then_record(|s| {
                let p = &s.record.pacts[0];
                assert_eq!((p.status, p.clauses), ("adopted", 2));
                assert_eq!(p.publicity_until.as_deref(), Some("2026-03-27"));
                assert_eq!(p.effective_from.as_deref(), Some("2026-04-01"));
                assert_eq!((s.counts.pacts, s.counts.pacts_publicized, s.counts.pacts_adopted), (1, 1, 1));
                assert_eq!(s.counts.micro_steps_done, 1);
                assert!(s.meetings.iter().any(|m| m.via == "MicroPactAdopted" && m.meeting_id == "m-2026-04"));
            });
    }

    #[test]
    fn a_micro_team_formed_counts_as_a_micro_step_done() {
        Spec::community_issue()
            .given(&to_acting())
            .when("MicroTeamFormed", payload::micro_team_formed("team-1"), "social_worker")
            .then_state("acting")
            .then_record(|s| {
                assert_eq!(s.record.teams[0].members_count, 8);
                assert_eq!((s.counts.teams, s.counts.micro_steps_done), (1, 1));
            });
    }

    #[test]
    fn a_micro_project_is_undertaken_reported_on_and_completed_with_its_money_on_record() {
        Spec::community_issue()
            .given(&to_acting())
            .when("MicroProjectUndertaken", payload::micro_project_undertaken("proj-1", 800_000), "social_organisation")
            .then_state("acting")
            .when(
                "MicroProjectProgressReported",
                payload::micro_project_progress_reported("proj-1", 50, 300_000),
                "social_worker",
            )
            .then_state("acting")
            .then_record(|s| {
                assert_eq!((s.record.projects[0].percent, s.record.spent_fen), (50, 300_000));
                assert_eq!(s.counts.micro_steps_done, 0);
            })
            .when("MicroProjectCompleted", payload::micro_project_completed("proj-1", 780_000), "social_organisation")
            .then_state("acting")
            .then_record(|s| {
                let p = &s.record.projects[0];
                assert_eq!((p.status, p.percent, p.spent_fen), ("completed", 100, 780_000));
                assert_eq!((s.record.budget_fen, s.record.spent_fen), (800_000, 780_000));
                assert_eq!((s.counts.projects, s.counts.projects_completed, s.counts.micro_steps_done), (1, 1, 1));
            });
    }

    #[test]
    fn micro_charity_is_pledged_and_delivered_while_the_issue_stays_acting() {
        Spec::community_issue()
            .given(&to_acting())
            .when("MicroCharityPledged", payload::micro_charity_pledged("pledge-1", 500_000), "charity")
            .then_state("acting")
            .when("MicroCharityDelivered", payload::micro_charity_delivered("pledge-1", 450_000), "community_staff")
            .then_state("acting")
            .then_record(|s| {
                assert_eq!((s.record.pledged_fen, s.record.delivered_fen), (500_000, 450_000));
                assert_eq!(s.record.charity[0].status, "delivered");
                assert_eq!((s.counts.pledges, s.counts.pledges_delivered, s.counts.micro_steps_done), (1, 1, 1));
            });
    }

    #[test]
    fn a_follow_up_meeting_may_put_an_acting_issue_on_its_agenda_deliberate_and_decide_without_leaving_acting() {
        Spec::community_issue()
            .given(&to_acting())
            .when("PlacedOnAgenda", payload::placed_on_agenda("m-2026-05"), "convener")
            .then_state("acting")
            .when("Deliberated", payload::deliberated("m-2026-05"), "convener")
            .then_state("acting")
            .when("ResolutionPassed", payload::resolution_passed("m-2026-05", "motion-2"), "system")
            .then_state("acting")
            .when("ResolutionRejected", payload::resolution_rejected("m-2026-05", "motion-3"), "convener")
            .then_state("acting")
            .then_record(|s| {
                assert_eq!((s.counts.resolutions_passed, s.counts.resolutions_rejected), (2, 1));
                assert_eq!(s.counts.deliberations, 2);
            });
    }

    #[test]
    fn acting_issue_is_evaluated_when_a_micro_step_is_done_and_residents_rate_it_three_or_more() {
        for satisfaction in [3, 5] {
            Spec::community_issue()
                .given(&to_acting_with_a_step_done())
                .when("Evaluated", payload::evaluated(satisfaction), "resident_representative")
                .then_state("evaluated")
                .then_record(|s| {
                    assert_eq!(s.record.evaluations[0].satisfaction, satisfaction);
                    assert_eq!(s.due_at, None);
                });
        }
    }

    #[test]
    fn acting_issue_stays_acting_for_another_round_when_satisfaction_is_below_three() {
        for satisfaction in [1, 2] {
            Spec::community_issue()
                .given(&to_acting_with_a_step_done())
                .when("Evaluated", payload::evaluated(satisfaction), "resident")
                .then_state("acting")
                .then_record(|s| assert_eq!(s.counts.evaluations, 1));
        }
    }

    #[test]
    fn acting_issue_cannot_be_evaluated_before_any_micro_step_is_done() {
        Spec::community_issue().given(&to_acting()).when("Evaluated", payload::evaluated(5), "resident").then_refused(
            |r| {
                matches!(r, Refusal::GuardFailed { event_type, guards, .. }
                    if event_type == "Evaluated" && guards.len() == 2)
                    && offered(r).contains(&"MicroTeamFormed")
            },
        );
    }

    #[test]
    fn a_project_up_to_fifty_thousand_yuan_stays_in_the_community() {
        Spec::community_issue()
            .given(&to_acting())
            .when("MicroProjectUndertaken", payload::micro_project_undertaken("proj-1", 5_000_000), "social_worker")
            .then_state("acting");
    }

    #[test]
    fn a_project_over_fifty_thousand_yuan_is_refused_at_community_level() {
        Spec::community_issue()
            .given(&to_acting())
            .when("MicroProjectUndertaken", payload::micro_project_undertaken("proj-1", 5_000_001), "social_worker")
            .then_refused(
                |r| matches!(r, Refusal::GuardFailed { event_type, .. } if event_type == "MicroProjectUndertaken"),
            )
            .then_record(|s| assert!(s.record.projects.is_empty()));
    }

    #[test]
    fn a_project_over_fifty_thousand_yuan_is_allowed_once_the_matter_is_escalated_to_the_street() {
        Spec::community_issue()
            .given(&to_acting())
            .given(&[("Escalated", payload::escalated("community", "street"), "convener")])
            .when("MicroProjectUndertaken", payload::micro_project_undertaken("proj-1", 12_000_000), "social_worker")
            .then_state("acting")
            .then_record(|s| assert_eq!((s.escalation_level.as_str(), s.record.budget_fen), ("street", 12_000_000)));
    }

    #[test]
    fn acting_issue_cannot_be_withdrawn_once_residents_decided_on_it() {
        Spec::community_issue()
            .given(&to_acting())
            .when("IssueWithdrawn", payload::issue_withdrawn(), "resident")
            .then_refused(|r| {
                let o = offered(r);
                matches!(r, Refusal::NotInState { state, .. } if state == "acting")
                    && !o.contains(&"IssueWithdrawn")
                    && o.contains(&"Evaluated")
                    && o.contains(&"MicroProjectUndertaken")
                    && o.contains(&"Escalated")
            });
    }
}

// =============================================================================================
// community-issue: evaluated and the final states
// =============================================================================================

mod community_issue_evaluated_and_final {
    use super::*;

    #[test]
    fn evaluated_issue_is_closed_as_resolved_by_the_convener() {
        Spec::community_issue()
            .given(&to_evaluated())
            .when("IssueClosed", payload::issue_closed("resolved"), "convener")
            .then_state("closed")
            .then_record(|s| {
                assert!(s.is_final);
                assert_eq!(s.record.closure.as_ref().map(|c| c.reason.clone()), Some(json!("resolved")));
                let path: Vec<&str> = s.history.iter().map(|h| &*h.to).collect();
                assert_eq!(
                    path,
                    ["raised", "assessed", "on_agenda", "deliberated", "acting", "acting", "evaluated", "closed"]
                );
            });
    }

    #[test]
    fn evaluated_issue_offers_only_closing_and_escalation() {
        Spec::community_issue()
            .given(&to_evaluated())
            .when("IssueWithdrawn", payload::issue_withdrawn(), "resident")
            .then_refused(|r| offered(r) == ["Escalated", "IssueClosed"]);
    }

    #[test]
    fn closed_issue_accepts_no_further_step_and_offers_none() {
        for (event_type, data, role) in [
            ("NeedAssessed", payload::need_assessed(), "social_worker"),
            ("Escalated", payload::escalated("community", "street"), "convener"),
            ("IssueClosed", payload::issue_closed("resolved"), "convener"),
        ] {
            Spec::community_issue()
                .given(&to_evaluated())
                .given(&[("IssueClosed", payload::issue_closed("resolved"), "convener")])
                .when(event_type, data, role)
                .then_refused(|r| {
                    matches!(r, Refusal::NotInState { state, allowed, .. } if state == "closed" && allowed.is_empty())
                });
        }
    }

    #[test]
    fn withdrawn_issue_accepts_no_further_step() {
        Spec::community_issue()
            .given(&[("IssueWithdrawn", payload::issue_withdrawn(), "resident")])
            .when("NeedAssessed", payload::need_assessed(), "social_worker")
            .then_refused(|r| matches!(r, Refusal::NotInState { state, allowed, .. } if state == "withdrawn" && allowed.is_empty()));
    }
}

// =============================================================================================
// community-issue: escalation (on_any)
// =============================================================================================

mod community_issue_escalation {
    use super::*;

    #[test]
    fn a_matter_is_escalated_from_community_to_street_to_district_and_no_further() {
        Spec::community_issue()
            .when("Escalated", payload::escalated("community", "street"), "convener")
            .then_state("raised")
            .then_record(|s| assert_eq!(s.escalation_level, "street"))
            .when("Escalated", payload::escalated("street", "district"), "street_officer")
            .then_state("raised")
            .then_record(|s| {
                assert_eq!(s.escalation_level, "district");
                let levels: Vec<(&str, &str)> =
                    s.record.escalations.iter().map(|e| (e.from_level.as_str(), e.to_level.as_str())).collect();
                assert_eq!(levels, [("community", "street"), ("street", "district")]);
            })
            .when("Escalated", payload::escalated("district", "district"), "street_officer")
            .then_refused(|r| is_domain_rule(r, "escalation_order"))
            .then_record(|s| assert_eq!(s.escalation_level, "district"));
    }

    #[test]
    fn escalation_may_not_skip_a_level() {
        Spec::community_issue()
            .when("Escalated", payload::escalated("community", "district"), "convener")
            .then_refused(|r| is_domain_rule(r, "escalation_order") && offered(r).contains(&"Escalated"))
            .then_record(|s| assert_eq!(s.escalation_level, "community"));
    }

    #[test]
    fn escalation_starts_from_the_level_the_matter_is_at() {
        Spec::community_issue()
            .when("Escalated", payload::escalated("street", "district"), "street_officer")
            .then_refused(|r| is_domain_rule(r, "escalation_order"));
    }

    #[test]
    fn escalation_is_possible_in_every_state_that_is_not_final() {
        let histories: [(&str, Vec<Given>); 6] = [
            ("raised", vec![]),
            ("assessed", to_assessed()),
            ("on_agenda", to_on_agenda()),
            ("deliberated", to_deliberated()),
            ("acting", to_acting()),
            ("evaluated", to_evaluated()),
        ];
        for (state, history) in histories {
            Spec::community_issue()
                .given(&history)
                .when("Escalated", payload::escalated("community", "street"), "community_staff")
                .then_state(state)
                .then_record(|s| assert_eq!(s.escalation_level, "street", "in {state}"));
        }
    }

    #[test]
    fn residents_may_not_escalate() {
        Spec::community_issue()
            .when("Escalated", payload::escalated("community", "street"), "resident")
            .then_refused(|r| matches!(r, Refusal::WrongRole { role, .. } if role == "resident"));
    }
}

// =============================================================================================
// Refusals: each kind, and the order in which decide checks
// =============================================================================================

mod refusals {
    use super::*;

    #[test]
    fn an_unknown_step_type_is_refused_as_unknown() {
        Spec::community_issue()
            .when("Frobnicated", json!({}), "convener")
            .then_refused(|r| matches!(r, Refusal::UnknownStep { event_type, .. } if event_type == "Frobnicated"));
    }

    #[test]
    fn the_state_is_checked_before_the_role() {
        Spec::community_issue()
            .when("Deliberated", payload::deliberated("m-1"), "resident")
            .then_refused(|r| matches!(r, Refusal::NotInState { .. }));
    }

    #[test]
    fn the_role_is_checked_before_the_payload() {
        Spec::community_issue()
            .when("NeedAssessed", json!({"nonsense": true}), "resident")
            .then_refused(|r| matches!(r, Refusal::WrongRole { .. }));
    }

    #[test]
    fn a_satisfaction_out_of_range_is_refused_naming_the_field() {
        Spec::community_issue()
            .given(&to_acting_with_a_step_done())
            .when("Evaluated", payload::evaluated(7), "resident")
            .then_refused(|r| {
                invalid_at(r, "/satisfaction")
                    && matches!(r, Refusal::InvalidPayload { errors, .. } if errors.len() == 1)
                    && r.message().en.is_some_and(|m| m.contains("/satisfaction"))
            });
    }

    #[test]
    fn a_missing_satisfaction_is_refused_naming_where_it_belongs() {
        let mut data = payload::evaluated(4);
        data.as_object_mut().expect("object").remove("satisfaction");
        Spec::community_issue()
            .given(&to_acting_with_a_step_done())
            .when("Evaluated", data, "resident")
            .then_refused(|r| invalid_at(r, "/satisfaction"));
    }

    #[test]
    fn an_unknown_priority_and_a_malformed_date_are_refused_naming_their_fields() {
        let mut data = payload::need_assessed();
        data["priority"] = json!("whenever");
        Spec::community_issue()
            .when("NeedAssessed", data, "social_worker")
            .then_refused(|r| invalid_at(r, "/priority"));

        let mut data = payload::micro_pact_publicized("pact-1");
        data["until"] = json!("next week");
        Spec::community_issue()
            .given(&to_acting())
            .given(&[("MicroPactDrafted", payload::micro_pact_drafted("pact-1"), "convener")])
            .when("MicroPactPublicized", data, "convener")
            .then_refused(|r| invalid_at(r, "/until"));
    }

    #[test]
    fn a_nested_field_is_named_by_its_full_pointer() {
        let mut data = payload::need_assessed();
        data["assessor"]["society"] = json!("government");
        Spec::community_issue()
            .when("NeedAssessed", data, "social_worker")
            .then_refused(|r| invalid_at(r, "/assessor/society"));
    }

    #[test]
    fn an_actor_of_another_community_is_refused() {
        Spec::community_issue()
            .when_as("NeedAssessed", payload::need_assessed(), actor_in("social_worker", "wuhan/hongshan/other-street"))
            .then_refused(|r| {
                matches!(r, Refusal::OutOfCommunity { actor_community, issue_community, .. }
                    if actor_community == "wuhan/hongshan/other-street" && issue_community == COMMUNITY)
            });
    }

    #[test]
    fn an_actor_of_a_similarly_named_community_is_refused() {
        Spec::community_issue()
            .when_as("NeedAssessed", payload::need_assessed(), actor_in("social_worker", "wuhan/wuchang/zhongnan-str"))
            .then_refused(|r| matches!(r, Refusal::OutOfCommunity { .. }));
    }

    #[test]
    fn an_actor_of_the_street_above_acts_for_its_communities() {
        Spec::community_issue()
            .when_as("NeedAssessed", payload::need_assessed(), actor_in("social_worker", STREET))
            .then_state("assessed");
    }

    #[test]
    fn a_pact_cannot_be_adopted_before_it_is_publicized() {
        Spec::community_issue()
            .given(&to_acting())
            .given(&[("MicroPactDrafted", payload::micro_pact_drafted("pact-1"), "convener")])
            .when("MicroPactAdopted", payload::micro_pact_adopted("pact-1"), "convener")
            .then_refused(|r| is_domain_rule(r, "wrong_reference"))
            .then_record(|s| assert_eq!(s.record.pacts[0].status, "drafted"));
    }

    #[test]
    fn a_pact_cannot_be_publicized_before_it_is_drafted() {
        Spec::community_issue()
            .given(&to_acting())
            .when("MicroPactPublicized", payload::micro_pact_publicized("pact-9"), "convener")
            .then_refused(|r| is_domain_rule(r, "wrong_reference"));
    }

    #[test]
    fn a_pact_publicity_period_cannot_end_before_it_starts() {
        let mut data = payload::micro_pact_publicized("pact-1");
        data["from"] = json!("2026-03-27");
        data["until"] = json!("2026-03-20");
        Spec::community_issue()
            .given(&to_acting())
            .given(&[("MicroPactDrafted", payload::micro_pact_drafted("pact-1"), "convener")])
            .when("MicroPactPublicized", data, "convener")
            .then_refused(|r| is_domain_rule(r, "bad_period"));
    }

    #[test]
    fn a_wish_cannot_be_claimed_before_it_is_collected() {
        Spec::community_issue()
            .given(&to_acting())
            .when("MicroWishClaimed", payload::micro_wish_claimed("wish-1"), "volunteer")
            .then_refused(|r| {
                is_domain_rule(r, "wrong_reference")
                    && matches!(r, Refusal::DomainRule { message, .. } if message.contains("wish-1"))
            });
    }

    #[test]
    fn a_wish_cannot_be_fulfilled_before_it_is_claimed() {
        Spec::community_issue()
            .given(&to_acting())
            .given(&[("MicroWishCollected", payload::micro_wish_collected("wish-1"), "volunteer")])
            .when("MicroWishFulfilled", payload::micro_wish_fulfilled("wish-1"), "volunteer")
            .then_refused(|r| is_domain_rule(r, "wrong_reference"));
    }

    #[test]
    fn a_wish_id_cannot_be_collected_twice() {
        Spec::community_issue()
            .given(&to_acting())
            .given(&[("MicroWishCollected", payload::micro_wish_collected("wish-1"), "volunteer")])
            .when("MicroWishCollected", payload::micro_wish_collected("wish-1"), "volunteer")
            .then_refused(|r| is_domain_rule(r, "duplicate_id"));
    }

    #[test]
    fn a_team_id_cannot_be_formed_twice() {
        Spec::community_issue()
            .given(&to_acting_with_a_step_done())
            .when("MicroTeamFormed", payload::micro_team_formed("team-1"), "convener")
            .then_refused(|r| is_domain_rule(r, "duplicate_id"));
    }

    #[test]
    fn progress_cannot_be_reported_on_a_project_nobody_undertook() {
        Spec::community_issue()
            .given(&to_acting())
            .when(
                "MicroProjectProgressReported",
                payload::micro_project_progress_reported("proj-9", 10, 0),
                "social_worker",
            )
            .then_refused(|r| is_domain_rule(r, "wrong_reference"));
    }

    #[test]
    fn a_completed_project_cannot_be_completed_again() {
        Spec::community_issue()
            .given(&to_acting())
            .given(&[
                ("MicroProjectUndertaken", payload::micro_project_undertaken("proj-1", 10_000), "social_worker"),
                ("MicroProjectCompleted", payload::micro_project_completed("proj-1", 9_000), "social_worker"),
            ])
            .when("MicroProjectCompleted", payload::micro_project_completed("proj-1", 9_000), "social_worker")
            .then_refused(|r| is_domain_rule(r, "wrong_reference"));
    }

    #[test]
    fn a_project_cannot_end_before_it_starts() {
        let mut data = payload::micro_project_undertaken("proj-1", 10_000);
        data["end"] = json!("2026-03-01");
        Spec::community_issue()
            .given(&to_acting())
            .when("MicroProjectUndertaken", data, "social_worker")
            .then_refused(|r| is_domain_rule(r, "bad_period"));
    }

    #[test]
    fn a_money_pledge_needs_an_amount() {
        Spec::community_issue()
            .given(&to_acting())
            .when("MicroCharityPledged", payload::micro_charity_pledged("pledge-1", 0), "charity")
            .then_refused(|r| is_domain_rule(r, "missing_amount"));
    }

    #[test]
    fn a_pledge_is_delivered_once() {
        Spec::community_issue()
            .given(&to_acting())
            .given(&[
                ("MicroCharityPledged", payload::micro_charity_pledged("pledge-1", 500), "charity"),
                ("MicroCharityDelivered", payload::micro_charity_delivered("pledge-1", 500), "charity"),
            ])
            .when("MicroCharityDelivered", payload::micro_charity_delivered("pledge-1", 500), "charity")
            .then_refused(|r| is_domain_rule(r, "wrong_reference"));
    }

    #[test]
    fn every_refusal_explains_itself_in_chinese_and_english() {
        let spec = Spec::community_issue().when("Deliberated", payload::deliberated("m-1"), "convener");
        spec.then_refused(|r| {
            let m = r.message();
            m.zh.contains("已提出") && m.en.as_deref().is_some_and(|en| en.contains("raised"))
        });
    }
}

// =============================================================================================
// micro-wish
// =============================================================================================

mod micro_wish {
    use super::*;

    #[test]
    fn a_registered_wish_is_collected_by_a_social_worker() {
        Spec::micro_wish()
            .then_state("raised")
            .when("MicroWishCollected", payload::micro_wish_collected("wish-1"), "social_worker")
            .then_state("collected")
            .then_record(|s| {
                assert_eq!(s.workflow.id, "micro-wish");
                assert_eq!(s.record.wishes[0].status, "collected");
                assert_eq!(s.due_at, Some(s.entered_state_at + Duration::days(14)));
            });
    }

    #[test]
    fn a_registered_wish_may_be_withdrawn() {
        Spec::micro_wish().when("IssueWithdrawn", payload::issue_withdrawn(), "resident").then_state("withdrawn");
    }

    #[test]
    fn a_collected_wish_is_claimed_by_a_volunteer() {
        Spec::micro_wish()
            .given(&[("MicroWishCollected", payload::micro_wish_collected("wish-1"), "social_worker")])
            .when("MicroWishClaimed", payload::micro_wish_claimed("wish-1"), "volunteer")
            .then_state("claimed")
            .then_record(|s| assert_eq!(s.due_at, Some(s.entered_state_at + Duration::days(30))));
    }

    #[test]
    fn a_collected_wish_may_be_withdrawn_by_community_staff() {
        Spec::micro_wish()
            .given(&[("MicroWishCollected", payload::micro_wish_collected("wish-1"), "social_worker")])
            .when("IssueWithdrawn", payload::issue_withdrawn(), "community_staff")
            .then_state("withdrawn");
    }

    #[test]
    fn a_wish_is_claimed_only_by_the_id_it_was_collected_under() {
        Spec::micro_wish()
            .given(&[("MicroWishCollected", payload::micro_wish_collected("wish-1"), "social_worker")])
            .when("MicroWishClaimed", payload::micro_wish_claimed("wish-2"), "volunteer")
            .then_refused(|r| is_domain_rule(r, "wrong_reference"));
    }

    #[test]
    fn a_claimed_wish_is_fulfilled() {
        Spec::micro_wish()
            .given(&wish_to_claimed())
            .when("MicroWishFulfilled", payload::micro_wish_fulfilled("wish-1"), "charity")
            .then_state("fulfilled")
            .then_record(|s| {
                assert_eq!(s.counts.micro_steps_done, 1);
                assert_eq!(s.record.wishes[0].status, "fulfilled");
            });
    }

    #[test]
    fn charity_is_pledged_and_delivered_for_a_claimed_wish_without_leaving_claimed() {
        Spec::micro_wish()
            .given(&wish_to_claimed())
            .when("MicroCharityPledged", payload::micro_charity_pledged("pledge-1", 20_000), "charity")
            .then_state("claimed")
            .when("MicroCharityDelivered", payload::micro_charity_delivered("pledge-1", 20_000), "volunteer")
            .then_state("claimed")
            .then_record(|s| assert_eq!(s.record.delivered_fen, 20_000));
    }

    #[test]
    fn a_claimed_wish_may_be_withdrawn() {
        Spec::micro_wish()
            .given(&wish_to_claimed())
            .when("IssueWithdrawn", payload::issue_withdrawn(), "resident")
            .then_state("withdrawn");
    }

    #[test]
    fn a_fulfilled_wish_is_acknowledged_after_a_follow_up_visit() {
        Spec::micro_wish()
            .given(&wish_to_claimed())
            .given(&[("MicroWishFulfilled", payload::micro_wish_fulfilled("wish-1"), "volunteer")])
            .when("Evaluated", payload::evaluated(5), "social_worker")
            .then_state("acknowledged")
            .then_record(|s| assert!(s.is_final));
    }

    #[test]
    fn a_wish_cannot_be_claimed_before_it_is_collected() {
        Spec::micro_wish().when("MicroWishClaimed", payload::micro_wish_claimed("wish-1"), "volunteer").then_refused(
            |r| {
                matches!(r, Refusal::NotInState { state, .. } if state == "raised")
                    && offered(r) == ["IssueWithdrawn", "MicroWishCollected"]
            },
        );
    }

    #[test]
    fn a_micro_wish_knows_no_escalation() {
        Spec::micro_wish()
            .when("Escalated", payload::escalated("community", "street"), "convener")
            .then_refused(|r| matches!(r, Refusal::NotInState { .. }));
    }

    #[test]
    fn a_convener_may_not_withdraw_a_wish_and_is_told_who_may() {
        Spec::micro_wish().when("IssueWithdrawn", payload::issue_withdrawn(), "convener").then_refused(
            |r| matches!(r, Refusal::WrongRole { roles, .. } if roles == &["resident", "community_staff"]),
        );
    }

    #[test]
    fn an_acknowledged_wish_accepts_no_further_step() {
        Spec::micro_wish()
            .given(&wish_to_claimed())
            .given(&[
                ("MicroWishFulfilled", payload::micro_wish_fulfilled("wish-1"), "volunteer"),
                ("Evaluated", payload::evaluated(5), "resident"),
            ])
            .when("Evaluated", payload::evaluated(5), "resident")
            .then_refused(|r| matches!(r, Refusal::NotInState { allowed, .. } if allowed.is_empty()));
    }
}

// =============================================================================================
// Replay: the pure fold
// =============================================================================================

mod replay {
    use super::*;
    use convene_engine::issue::{self, ReplayError};

    #[test]
    fn a_step_the_workflow_would_not_have_allowed_is_kept_as_an_anomaly_and_changes_no_state() {
        Spec::community_issue()
            .given_unchecked(&[("Deliberated", payload::deliberated("m-1"), "convener")])
            .then_record(|s| {
                assert_eq!(s.state, "raised");
                assert_eq!(s.anomalies.len(), 1);
                assert_eq!((s.anomalies[0].version, s.anomalies[0].event_type.as_str()), (1, "Deliberated"));
                assert_eq!(s.version, 1, "the anomalous event is still folded");
                assert_eq!(s.counts.deliberations, 1);
            })
            .when("NeedAssessed", payload::need_assessed(), "social_worker")
            .then_record(|s| assert_eq!(s.state, "assessed"));
    }

    #[test]
    fn a_guard_that_reads_the_payload_through_missing_decides_on_the_payload() {
        // Given a workflow that closes an assessed issue only when the closing step carries
        // the optional `note` (read through `missing`, not `var`),
        let mut doc = shipped_doc("community-issue");
        doc["states"]["assessed"]["on"]["IssueClosed"]["guard"] = json!({"!": [{"missing": ["event.data.note"]}]});
        let with_note = {
            let mut p = payload::issue_closed("duplicate");
            p["note"] = json!({"zh-CN": "与 2026-014 号议题重复", "en": "Same as issue 2026-014"});
            p
        };
        // when the step carries a note, then the issue closes (the payload is in the guard's
        // context), and when it carries none, then the guard fails.
        Spec::raised_under(doc.clone())
            .given(&to_assessed())
            .when("IssueClosed", with_note, "convener")
            .then_record(|s| assert_eq!(s.state, "closed"));
        Spec::raised_under(doc)
            .given(&to_assessed())
            .when("IssueClosed", payload::issue_closed("duplicate"), "convener")
            .then_refused(|r| matches!(r, Refusal::GuardFailed { event_type, .. } if event_type == "IssueClosed"));
    }

    #[test]
    fn a_step_whose_every_guard_fails_is_kept_as_an_anomaly() {
        Spec::community_issue()
            .given(&to_acting())
            .given_unchecked(&[("Evaluated", payload::evaluated(5), "resident")])
            .then_record(|s| {
                assert_eq!(s.state, "acting");
                assert_eq!(s.anomalies.len(), 1);
                assert!(s.anomalies[0].reason.contains("guard"), "{:?}", s.anomalies[0]);
            });
    }

    #[test]
    fn the_history_records_who_moved_the_issue_from_where_to_where_and_when() {
        let spec = Spec::community_issue().wait(Duration::days(3)).given(&to_assessed());
        let s = spec.state();
        let h = &s.history[1];
        assert_eq!((h.from.as_deref(), &*h.to, &*h.event_type), (Some("raised"), "assessed", "NeedAssessed"));
        assert_eq!(h.actor.role, "social_worker");
        assert_eq!(h.at - s.raised_at, Duration::days(3) + Duration::hours(1));
        assert!(s.overdue_at(s.raised_at + Duration::days(30)), "the 14-day assessed deadline passed");
    }

    #[test]
    fn replay_refuses_a_stream_that_does_not_open_with_issue_raised() {
        let spec = Spec::community_issue().given(&to_assessed());
        let err = issue::replay(spec.workflow(), &spec.events()[1..]).expect_err("not an issue");
        assert!(matches!(err, ReplayError::NotAnIssue { found, .. } if found == "NeedAssessed"));
        assert_eq!(issue::replay(spec.workflow(), &[]).expect_err("empty"), ReplayError::Empty);
    }

    #[test]
    fn replay_refuses_a_workflow_other_than_the_pinned_one() {
        let spec = Spec::community_issue();
        let other = compile(&shipped_doc("micro-wish"));
        let err = issue::replay(&other, spec.events()).expect_err("wrong workflow");
        assert!(matches!(err, ReplayError::WrongWorkflow { id, version: 1, .. } if id == "community-issue"));
    }
}

// =============================================================================================
// Workflow documents: the shipped files, and broken definitions
// =============================================================================================

mod definitions {
    use super::*;

    fn errors(diags: &[Diagnostic]) -> Vec<&Diagnostic> {
        diags.iter().filter(|d| d.severity == Severity::Error).collect()
    }

    #[test]
    fn every_shipped_workflow_validates_without_errors_and_compiles() {
        assert!(embedded::SHIPPED_WORKFLOWS.len() >= 2);
        for (name, text) in embedded::SHIPPED_WORKFLOWS {
            let doc: Value = serde_json::from_str(text).expect("JSON");
            let diags = validate_definition(&doc, Catalog::shipped());
            assert!(errors(&diags).is_empty(), "{name}: {diags:#?}");
            let wf = compile(&doc);
            assert_eq!(wf.id(), *name, "a workflow file is named after its id");
            assert!(wf.version() >= 1);
        }
    }

    #[test]
    fn both_workflows_the_product_relies_on_are_shipped() {
        let names: Vec<&str> = embedded::SHIPPED_WORKFLOWS.iter().map(|(n, _)| *n).collect();
        assert!(names.contains(&"community-issue") && names.contains(&"micro-wish"), "{names:?}");
    }

    #[test]
    fn every_step_a_shipped_workflow_offers_has_a_known_event_type_and_someone_who_may_record_it() {
        for (name, text) in embedded::SHIPPED_WORKFLOWS {
            let wf = compile(&serde_json::from_str(text).expect("JSON"));
            for i in 0..wf.definition.states.len() {
                let state = wf.state_name(i);
                for o in wf.steps_in(i, Catalog::shipped()) {
                    assert!(Catalog::shipped().contains(&o.event_type), "{name}/{state}: {}", o.event_type);
                    assert!(!o.roles.is_empty(), "{name}/{state}: nobody may record {}", o.event_type);
                    assert!(payload::fixture(&o.event_type).is_some(), "no fixture for {}", o.event_type);
                }
            }
        }
    }

    /// community-issue.json with one change applied.
    fn broken(change: impl FnOnce(&mut Value)) -> Value {
        let mut doc = shipped_doc("community-issue");
        change(&mut doc);
        doc
    }

    /// The document is refused with (at least) this error at this pointer.
    #[track_caller]
    fn assert_diagnosed(doc: &Value, code: &str, path: &str) {
        let diags = validate_definition(doc, Catalog::shipped());
        assert!(
            diags.iter().any(|d| d.severity == Severity::Error && d.code == code && d.path == path),
            "expected error {code} at {path:?}, got {:#?}",
            diags.iter().map(|d| (d.code, d.path.as_str())).collect::<Vec<_>>()
        );
        assert!(!is_publishable(&diags));
        let refused = convene_engine::workflow::CompiledWorkflow::compile(doc, Catalog::shipped())
            .expect_err("a document with errors does not compile");
        assert!(refused.iter().any(|d| d.code == code), "compile reports {code}");
        for d in &diags {
            assert!(!d.message.zh.is_empty() && d.message.en.is_some(), "{d:?} explains itself in both languages");
        }
    }

    #[test]
    fn the_unbroken_base_document_has_no_diagnostics_at_all() {
        let diags = validate_definition(&broken(|_| {}), Catalog::shipped());
        assert!(diags.is_empty(), "{diags:#?}");
    }

    macro_rules! broken_definition {
        ($($name:ident: $change:expr => $code:literal at $path:literal;)*) => {$(
            #[test]
            fn $name() {
                assert_diagnosed(&broken($change), $code, $path);
            }
        )*};
    }

    broken_definition! {
        a_state_nothing_leads_to_is_unreachable:
            |d: &mut Value| d["states"]["orphan"] = json!({"title": zh("孤立"), "on": {"IssueClosed": "closed"}})
            => "unreachable_state" at "/states/orphan";
        a_transition_on_an_unknown_event_type_is_reported_where_it_is_used:
            |d: &mut Value| d["states"]["raised"]["on"]["Frobnicated"] = json!("assessed")
            => "unknown_event_type" at "/states/raised/on/Frobnicated";
        an_event_type_used_without_roles_is_reported_at_the_roles_table:
            |d: &mut Value| d["states"]["raised"]["on"]["Frobnicated"] = json!("assessed")
            => "missing_roles" at "/roles";
        roles_for_an_unknown_event_type_are_reported_at_their_entry:
            |d: &mut Value| d["roles"]["Frobnicated"] = json!(["convener"])
            => "unknown_event_type" at "/roles/Frobnicated";
        a_workflow_without_a_final_state_is_reported_at_the_states:
            |d: &mut Value| {
                for s in ["closed", "withdrawn"] {
                    d["states"][s].as_object_mut().expect("state").remove("final");
                }
            }
            => "no_final_state" at "/states";
        a_state_from_which_no_final_state_can_be_reached_is_a_dead_end:
            |d: &mut Value| {
                d["states"]["limbo"] = json!({"title": zh("搁置")});
                d["states"]["raised"]["on"]["Deliberated"] = json!("limbo");
            }
            => "dead_end_state" at "/states/limbo";
        an_unknown_role_is_reported_at_its_index:
            |d: &mut Value| d["roles"]["NeedAssessed"] = json!(["social_worker", "mayor"])
            => "unknown_role" at "/roles/NeedAssessed/1";
        a_guard_with_an_unknown_operator_is_a_bad_guard:
            |d: &mut Value| d["states"]["assessed"]["on"]["IssueClosed"]["guard"] = json!({"frobnicate": [1]})
            => "bad_guard" at "/states/assessed/on/IssueClosed/guard";
        a_bad_guard_among_alternatives_is_reported_at_its_index:
            |d: &mut Value| d["states"]["acting"]["on"]["Evaluated"][0]["guard"] = json!({"and": [{"frobnicate": [1]}]})
            => "bad_guard" at "/states/acting/on/Evaluated/0/guard";
        a_guard_that_reads_the_clock_is_a_bad_guard:
            |d: &mut Value| d["states"]["assessed"]["on"]["IssueClosed"]["guard"] = json!({"<": [{"var": "event.data.due"}, {"now": []}]})
            => "bad_guard" at "/states/assessed/on/IssueClosed/guard";
        a_bad_guard_in_on_any_is_reported_there:
            |d: &mut Value| d["on_any"]["Escalated"]["guard"] = json!({"==": [1, 1], "!=": [1, 2]})
            => "bad_guard" at "/on_any/Escalated/guard";
        a_deadline_that_is_no_real_duration_is_a_bad_duration:
            |d: &mut Value| d["states"]["raised"]["deadline"]["after"] = json!("P99999999999D")
            => "bad_duration" at "/states/raised/deadline/after";
        a_target_that_is_not_a_state_is_reported_at_the_transition:
            |d: &mut Value| d["states"]["on_agenda"]["on"]["IssueWithdrawn"] = json!("gone")
            => "unknown_target" at "/states/on_agenda/on/IssueWithdrawn";
        a_target_that_is_not_a_state_is_reported_at_its_target_field:
            |d: &mut Value| d["states"]["assessed"]["on"]["IssueClosed"]["target"] = json!("nowhere")
            => "unknown_target" at "/states/assessed/on/IssueClosed/target";
        a_target_among_alternatives_is_reported_at_its_index:
            |d: &mut Value| d["states"]["acting"]["on"]["Evaluated"][1]["target"] = json!("nowhere")
            => "unknown_target" at "/states/acting/on/Evaluated/1/target";
        an_initial_state_that_is_not_defined_is_reported:
            |d: &mut Value| d["initial"] = json!("nowhere")
            => "initial_unknown" at "/initial";
        a_step_without_roles_is_reported_at_the_roles_table:
            |d: &mut Value| { d["roles"].as_object_mut().expect("roles").remove("Deliberated"); }
            => "missing_roles" at "/roles";
        raising_an_issue_without_roles_is_reported_at_the_roles_table:
            |d: &mut Value| { d["roles"].as_object_mut().expect("roles").remove("IssueRaised"); }
            => "missing_roles" at "/roles";
        a_missing_title_is_a_schema_error_pointing_where_it_belongs:
            |d: &mut Value| { d.as_object_mut().expect("doc").remove("title"); }
            => "schema" at "/title";
        a_version_that_is_not_a_number_is_a_schema_error:
            |d: &mut Value| d["version"] = json!("one")
            => "schema" at "/version";
        a_transition_that_is_neither_name_nor_rule_is_a_schema_error:
            |d: &mut Value| d["states"]["raised"]["on"]["NeedAssessed"] = json!(42)
            => "schema" at "/states/raised/on/NeedAssessed";
        a_deadline_that_does_not_look_like_a_duration_is_a_schema_error:
            |d: &mut Value| d["states"]["raised"]["deadline"]["after"] = json!("seven days")
            => "schema" at "/states/raised/deadline/after";
        a_final_state_with_transitions_is_reported:
            |d: &mut Value| d["states"]["closed"]["on"] = json!({"IssueWithdrawn": "withdrawn"})
            => "final_has_transitions" at "/states/closed/on";
        issue_raised_as_a_transition_is_reported:
            |d: &mut Value| d["states"]["raised"]["on"]["IssueRaised"] = json!("assessed")
            => "opening_event_as_transition" at "/states/raised/on/IssueRaised";
    }

    #[test]
    fn an_alternative_after_an_unguarded_one_is_only_a_warning() {
        let doc = broken(|d| {
            d["states"]["acting"]["on"]["Evaluated"] = json!([{"target": "evaluated"}, {"guard": {"==": [1, 1]}}]);
        });
        let diags = validate_definition(&doc, Catalog::shipped());
        assert_eq!(diags.len(), 1, "{diags:#?}");
        assert_eq!(
            (diags[0].severity, diags[0].code, diags[0].path.as_str()),
            (Severity::Warning, "shadowed_alternative", "/states/acting/on/Evaluated/0")
        );
        assert!(is_publishable(&diags));
        compile(&doc);
    }

    #[test]
    fn a_broken_definition_reports_every_problem_not_just_the_first() {
        let doc = broken(|d| {
            d["roles"]["NeedAssessed"] = json!(["mayor"]);
            d["states"]["assessed"]["on"]["IssueClosed"]["guard"] = json!({"frobnicate": [1]});
            d["states"]["raised"]["deadline"]["after"] = json!("P99999999999D");
        });
        let diags = validate_definition(&doc, Catalog::shipped());
        let mut codes: Vec<&str> = errors(&diags).iter().map(|d| d.code).collect();
        codes.sort();
        assert_eq!(codes, ["bad_duration", "bad_guard", "unknown_role"]);
    }
}
