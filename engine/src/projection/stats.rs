//! Figures for a district dashboard or a progress report to residents (进展公开): how many
//! matters, where they stand, and what the five micro steps produced, in money and hours.
//!
//! Pure: computed from issue states, with the time "overdue" is judged at given by the
//! caller. Money stays integer fen; volunteer hours are the only fractional figures.

use crate::issue::IssueState;
use crate::text::LocalizedText;
use crate::vocab::{CATEGORIES, label};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::HashMap;

/// Every figure for the issues a filter keeps.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Stats {
    pub issues: IssueTotals,
    /// By workflow and state: per workflow the open states, then the final ones, each in the
    /// compiled workflow's order of states.
    pub by_state: Vec<StateCount>,
    /// By kind of problem, most frequent first.
    pub by_category: Vec<CategoryCount>,
    /// By the community each issue was raised in, in code order.
    pub by_community: Vec<CommunityCount>,
    pub micro: MicroTotals,
    pub resolutions: Resolutions,
    pub evaluations: Evaluations,
    /// Days from raised to closed (withdrawn matters left out); absent when none closed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub days_to_close: Option<Spread>,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct IssueTotals {
    pub total: u64,
    /// Not in a final state.
    pub open: u64,
    pub closed: u64,
    pub withdrawn: u64,
    /// Open and past the current state's deadline.
    pub overdue: u64,
    /// Escalated beyond the community (to the street or the district) at some point.
    pub escalated: u64,
    pub households_affected: u64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StateCount {
    pub workflow: String,
    pub state: String,
    pub title: LocalizedText,
    pub is_final: bool,
    pub count: u64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CategoryCount {
    pub category: String,
    pub title: LocalizedText,
    pub count: u64,
    pub open: u64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CommunityCount {
    pub community: String,
    pub total: u64,
    pub open: u64,
    pub closed: u64,
}

/// What the five micro steps (五微) produced.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct MicroTotals {
    pub wishes_collected: u64,
    pub wishes_claimed: u64,
    pub wishes_fulfilled: u64,
    /// The fulfilled wishes' value.
    pub wishes_value_fen: u64,
    pub pacts_drafted: u64,
    pub pacts_adopted: u64,
    pub teams_formed: u64,
    pub team_members: u64,
    pub projects_undertaken: u64,
    pub projects_completed: u64,
    pub project_budget_fen: u64,
    pub project_spent_fen: u64,
    pub charity_pledges: u64,
    pub charity_delivered: u64,
    pub charity_pledged_fen: u64,
    pub charity_delivered_fen: u64,
    /// Hours given by volunteers: fulfilled wishes and delivered pledges of time.
    pub volunteer_hours: f64,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Resolutions {
    pub deliberations: u64,
    pub passed: u64,
    pub rejected: u64,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Evaluations {
    pub count: u64,
    /// Mean satisfaction (1–5) over every evaluation; absent when there is none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mean_satisfaction: Option<f64>,
}

/// Median and 90th percentile (nearest rank) of a set of durations, in days.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Spread {
    pub count: u64,
    pub median_days: f64,
    pub p90_days: f64,
}

/// Adds up `issues`, judging "overdue" at `now`.
///
/// A city's dashboard adds up hundreds of thousands of issues under the index's read lock, so
/// the groups are gathered in hash maps (one hash of a community code per issue, where a
/// sorted map compared it with a dozen others sharing its city and district prefix) and put
/// in their order once at the end.
pub fn stats<'a>(issues: impl IntoIterator<Item = &'a IssueState>, now: DateTime<Utc>) -> Stats {
    let mut out = Stats::default();
    let mut states: Groups<(&str, bool, usize), (&IssueState, u64)> = Groups::default();
    let mut categories: Groups<&str, (u64, u64)> = Groups::default();
    let mut communities: Groups<&str, (u64, u64, u64)> = Groups::default();
    let (mut satisfaction, mut to_close) = (0u64, Vec::new());
    for s in issues {
        let t = &mut out.issues;
        t.total += 1;
        t.households_affected += s.households_affected;
        let open = !s.is_final;
        let closure = s.record.closure.as_ref().map(|c| c.kind);
        let closed = closure == Some("closed");
        t.open += u64::from(open);
        t.closed += u64::from(closed);
        t.withdrawn += u64::from(closure == Some("withdrawn"));
        t.overdue += u64::from(s.overdue_at(now));
        t.escalated += u64::from(!s.record.escalations.is_empty());

        states.entry((&s.workflow.id, s.is_final, s.state_index)).or_insert((s, 0)).1 += 1;
        let c = categories.entry(&s.category).or_default();
        c.0 += 1;
        c.1 += u64::from(open);
        let c = communities.entry(&s.community).or_default();
        c.0 += 1;
        c.1 += u64::from(open);
        c.2 += u64::from(closed);

        let (n, r, m) = (&s.counts, &s.record, &mut out.micro);
        m.wishes_collected += u64::from(n.wishes);
        m.wishes_claimed += u64::from(n.wishes_claimed);
        m.wishes_fulfilled += u64::from(n.wishes_fulfilled);
        m.wishes_value_fen += r.wishes.iter().map(|w| w.value_fen).sum::<u64>();
        m.pacts_drafted += u64::from(n.pacts);
        m.pacts_adopted += u64::from(n.pacts_adopted);
        m.teams_formed += u64::from(n.teams);
        m.team_members += r.teams.iter().map(|t| t.members_count).sum::<u64>();
        m.projects_undertaken += u64::from(n.projects);
        m.projects_completed += u64::from(n.projects_completed);
        m.project_budget_fen += r.budget_fen;
        m.project_spent_fen += r.spent_fen;
        m.charity_pledges += u64::from(n.pledges);
        m.charity_delivered += u64::from(n.pledges_delivered);
        m.charity_pledged_fen += r.pledged_fen;
        m.charity_delivered_fen += r.delivered_fen;
        m.volunteer_hours += r.volunteer_hours;
        out.resolutions.deliberations += u64::from(n.deliberations);
        out.resolutions.passed += u64::from(n.resolutions_passed);
        out.resolutions.rejected += u64::from(n.resolutions_rejected);
        out.evaluations.count += r.evaluations.len() as u64;
        satisfaction += r.evaluations.iter().map(|e| e.satisfaction).sum::<u64>();
        if let Some(c) = r.closure.as_ref().filter(|c| c.kind == "closed") {
            to_close.push((c.at - s.raised_at).num_seconds().max(0) as f64 / 86_400.0);
        }
    }
    out.by_state = by_state(states);
    out.by_category = sorted(categories)
        .into_iter()
        .map(|(k, (count, open))| CategoryCount { category: k.to_string(), title: label(CATEGORIES, k), count, open })
        .collect();
    // Most frequent first; the sort is stable, so ties stay in key order.
    out.by_category.sort_by_key(|c| std::cmp::Reverse(c.count));
    out.by_community = sorted(communities)
        .into_iter()
        .map(|(k, (total, open, closed))| CommunityCount { community: k.to_string(), total, open, closed })
        .collect();
    if out.evaluations.count > 0 {
        out.evaluations.mean_satisfaction = Some(satisfaction as f64 / out.evaluations.count as f64);
    }
    out.days_to_close = spread(to_close);
    out
}

/// Figures gathered by key while walking the issues; put in key order at the end.
type Groups<K, V> = HashMap<K, V, foldhash::fast::FixedState>;

fn sorted<K: Ord, V>(groups: Groups<K, V>) -> Vec<(K, V)> {
    let mut v: Vec<_> = groups.into_iter().collect();
    v.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    v
}

/// The state groups in the order of [`Stats::by_state`] (workflow, open before final, the
/// compiled workflow's order), named from one issue of each.
fn by_state(states: Groups<(&str, bool, usize), (&IssueState, u64)>) -> Vec<StateCount> {
    sorted(states)
        .into_iter()
        .map(|(_, (s, count))| StateCount {
            workflow: s.workflow.id.clone(),
            state: s.state.clone(),
            title: s.state_title.clone(),
            is_final: s.is_final,
            count,
        })
        .collect()
}

/// How many of `issues` are in each state (in the order of [`Stats::by_state`]), and how many
/// open ones are past their deadline at `now`: what `/metrics` shows on every scrape, without
/// the dashboard's other figures, which cost many times more per issue (every scrape walks a
/// city's whole index under its read lock).
pub fn state_counts<'a>(
    issues: impl IntoIterator<Item = &'a IssueState>,
    now: DateTime<Utc>,
) -> (Vec<StateCount>, u64) {
    let mut states: Groups<(&str, bool, usize), (&IssueState, u64)> = Groups::default();
    let mut overdue = 0;
    for s in issues {
        overdue += u64::from(s.overdue_at(now));
        states.entry((&s.workflow.id, s.is_final, s.state_index)).or_insert((s, 0)).1 += 1;
    }
    (by_state(states), overdue)
}

fn spread(mut days: Vec<f64>) -> Option<Spread> {
    if days.is_empty() {
        return None;
    }
    days.sort_by(f64::total_cmp);
    // Nearest rank: the smallest value with at least p of the values at or below it.
    let rank = |p: f64| days[((p * days.len() as f64).ceil() as usize).clamp(1, days.len()) - 1];
    Some(Spread { count: days.len() as u64, median_days: rank(0.5), p90_days: rank(0.9) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_median_and_p90() {
        let s = spread(vec![4.0, 1.0, 3.0, 2.0, 10.0]).unwrap();
        assert_eq!((s.count, s.median_days, s.p90_days), (5, 3.0, 10.0));
        let s = spread(vec![2.0]).unwrap();
        assert_eq!((s.median_days, s.p90_days), (2.0, 2.0));
        assert!(spread(vec![]).is_none());
    }

    #[test]
    fn every_category_of_the_raise_schema_has_a_label_and_no_other_is_listed() {
        let schema: serde_json::Value =
            serde_json::from_str(include_str!("../../../schemas/events/IssueRaised.json")).unwrap();
        let listed: Vec<&str> =
            schema["properties"]["category"]["enum"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
        let labelled: Vec<&str> = CATEGORIES.iter().map(|(k, _, _)| *k).collect();
        assert_eq!(listed, labelled);
    }
}
