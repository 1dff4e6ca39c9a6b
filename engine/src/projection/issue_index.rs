//! The issue index: every published workflow version and the current state of every issue,
//! for lists, dashboards and commands.

use crate::catalog::Catalog;
use crate::event::EventRef;
use crate::issue::{self, IssueState};
use crate::vocab::{codes_within, community_within, narrower_than_a_walk};
use crate::workflow::CompiledWorkflow;
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

/// Filters of an issue list.
#[derive(Debug, Clone, Default)]
pub struct IssueFilter {
    /// A community code; matches that community and every community below it.
    pub community: Option<String>,
    pub state: Option<String>,
    pub workflow: Option<String>,
    pub category: Option<String>,
    /// Only issues past their current state's deadline at this time (the caller's clock: the
    /// index itself reads none).
    pub overdue_at: Option<DateTime<Utc>>,
    /// Only issues raised at or after this time.
    pub raised_from: Option<DateTime<Utc>>,
    /// Only issues raised before this time.
    pub raised_before: Option<DateTime<Utc>>,
}

impl IssueFilter {
    pub fn matches(&self, s: &IssueState) -> bool {
        self.community.as_deref().is_none_or(|c| community_within(&s.community, c)) && self.matches_besides_community(s)
    }

    /// Every condition but the community's (which the index may have settled already).
    fn matches_besides_community(&self, s: &IssueState) -> bool {
        self.state.as_deref().is_none_or(|x| s.state == x)
            && self.workflow.as_deref().is_none_or(|x| s.workflow.id == x)
            && self.category.as_deref().is_none_or(|x| s.category == x)
            && self.overdue_at.is_none_or(|t| s.overdue_at(t))
            && self.raised_from.is_none_or(|t| s.raised_at >= t)
            && self.raised_before.is_none_or(|t| s.raised_at < t)
    }
}

/// One page of a list, newest first, with the cursor of the next page.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// What the index refused to fold (a stream that is not a well-formed issue, a workflow
/// document that no longer compiles). Kept so operators see it; never silently dropped.
#[derive(Debug, Clone)]
pub struct IndexProblem {
    pub position: u64,
    pub stream: String,
    pub message: String,
}

#[derive(Default)]
pub struct IssueIndex {
    position: u64,
    workflows: BTreeMap<(String, u32), Arc<CompiledWorkflow>>,
    /// Each issue with the workflow version it is pinned to (kept beside it so folding an
    /// event needs no workflow lookup).
    /// Boxed: an issue state is over a kilobyte, and merging the partial indexes of a parallel
    /// replay then moves pointers, not states.
    issues: HashMap<String, Box<(IssueState, Arc<CompiledWorkflow>)>, foldhash::quality::RandomState>,
    /// Position of each issue's IssueRaised → issue id (list order).
    order: BTreeMap<u64, String>,
    /// Community code → the IssueRaised positions of its issues. A community's list and
    /// figures then touch its own issues only: a city holds hundreds of thousands, a
    /// community's dashboard wants its few hundred (the code of an issue never changes).
    communities: BTreeMap<String, BTreeSet<u64>>,
    problems: Vec<IndexProblem>,
    actors: issue::Actors,
    /// Issues whose fold met an event whose payload a replay's page left out and needed it
    /// (`crate::event::PageFields::Views`): their later events are passed over, and the
    /// replay folds them again from their streams ([`IssueIndex::refold`]).
    left_out: BTreeSet<String>,
}

impl IssueIndex {
    pub fn new() -> Self {
        Self::default()
    }

    /// Global position of the last event folded.
    pub fn position(&self) -> u64 {
        self.position
    }

    /// Folds one event (events must come in global order; older ones are ignored).
    pub fn apply(&mut self, e: &EventRef<'_>, catalog: &Catalog) {
        if e.position <= self.position {
            return;
        }
        self.position = e.position;
        if e.stream.starts_with("workflow-") && e.event_type == "WorkflowPublished" {
            let data: serde_json::Value = serde_json::from_str(e.data).unwrap_or_default();
            let doc = data.get("definition").cloned().unwrap_or_default();
            match CompiledWorkflow::compile(&doc, catalog) {
                Ok(wf) => {
                    self.workflows.insert((wf.id().to_string(), wf.version()), Arc::new(wf));
                }
                Err(d) => self.problem(e, format!("published workflow does not compile: {d:?}")),
            }
            return;
        }
        let Some(id) = issue::id_of(e.stream) else { return };
        if self.left_out.contains(id) {
            return;
        }
        self.fold_issue_event(id, e);
    }

    /// Folds one event of issue `id` (whose stream has been folded up to the event before).
    fn fold_issue_event(&mut self, id: &str, e: &EventRef<'_>) {
        if e.version == 0 {
            // The opening is read once: for the workflow it pins, then to start the state.
            let opening = match issue::Opening::read(e) {
                Ok(o) => o,
                Err(issue::ReplayError::PayloadLeftOut(_)) => {
                    self.left_out.insert(id.to_string());
                    return;
                }
                Err(err) => return self.problem(e, err.to_string()),
            };
            let (id_of_wf, version) = opening.pin();
            let Some(wf) = self.workflows.get(&(id_of_wf.to_string(), version)).cloned() else {
                return self.problem(e, format!("workflow {id_of_wf} v{version} is not published"));
            };
            match issue::start_opened(&wf, e, opening, &mut self.actors) {
                Ok(s) => {
                    self.order.insert(e.position, id.to_string());
                    // The code is copied once per community, not once per issue.
                    match self.communities.get_mut(s.community.as_str()) {
                        Some(raised) => {
                            raised.insert(e.position);
                        }
                        None => {
                            self.communities.insert(s.community.clone(), BTreeSet::from([e.position]));
                        }
                    }
                    self.issues.insert(id.to_string(), Box::new((s, wf)));
                }
                Err(err) => self.problem(e, err.to_string()),
            }
        } else if let Some(entry) = self.issues.get_mut(id) {
            let (s, wf) = &mut **entry;
            if issue::try_apply_with(s, wf, e, &mut self.actors).is_err() {
                self.left_out.insert(id.to_string());
            }
        }
    }

    /// The issues to fold again with their payloads (see [`IssueIndex::refold`]), by id.
    pub fn left_out(&self) -> impl Iterator<Item = &str> {
        self.left_out.iter().map(String::as_str)
    }

    /// Folds issue `id` again from the start: `events` is its stream, with payloads, up to
    /// where the index has folded the log. Replaces what the index had of it.
    pub fn refold<'e>(&mut self, id: &str, events: impl IntoIterator<Item = EventRef<'e>>) {
        self.left_out.remove(id);
        self.issues.remove(id);
        for e in events {
            self.fold_issue_event(id, &e);
        }
    }

    fn problem(&mut self, e: &EventRef<'_>, message: String) {
        tracing::warn!(stream = %e.stream, position = e.position, %message, "index skipped an event");
        self.problems.push(IndexProblem { position: e.position, stream: e.stream.to_string(), message });
    }

    pub fn problems(&self) -> &[IndexProblem] {
        &self.problems
    }

    pub fn workflow(&self, id: &str, version: u32) -> Option<Arc<CompiledWorkflow>> {
        self.workflows.get(&(id.to_string(), version)).cloned()
    }

    /// Takes in an index folded from a disjoint set of issue streams of the same log (whole-log
    /// replay folds partitions of the streams in parallel). Workflows are the same in both.
    pub fn merge(&mut self, other: IssueIndex) {
        self.position = self.position.max(other.position);
        for (k, w) in other.workflows {
            self.workflows.entry(k).or_insert(w);
        }
        self.issues.reserve(other.issues.len());
        self.issues.extend(other.issues);
        self.order.extend(other.order);
        for (community, mut raised) in other.communities {
            self.communities.entry(community).or_default().append(&mut raised);
        }
        self.problems.extend(other.problems);
        self.problems.sort_by_key(|p| p.position);
        self.left_out.extend(other.left_out);
    }

    /// The highest published version of a workflow.
    pub fn latest_workflow(&self, id: &str) -> Option<Arc<CompiledWorkflow>> {
        self.workflows.range((id.to_string(), 0)..=(id.to_string(), u32::MAX)).next_back().map(|(_, w)| w.clone())
    }

    /// Every published version, by id then version.
    pub fn workflows(&self) -> impl Iterator<Item = &Arc<CompiledWorkflow>> {
        self.workflows.values()
    }

    /// An issue with the workflow version it is pinned to.
    pub fn issue_with_workflow(&self, id: &str) -> Option<(&IssueState, &Arc<CompiledWorkflow>)> {
        self.issues.get(id).map(|e| (&e.0, &e.1))
    }

    pub fn issue(&self, id: &str) -> Option<&IssueState> {
        self.issues.get(id).map(|e| &e.0)
    }

    pub fn issue_count(&self) -> usize {
        self.issues.len()
    }

    pub fn issues(&self) -> impl Iterator<Item = &IssueState> {
        self.order.values().rev().filter_map(|id| self.issues.get(id).map(|e| &e.0))
    }

    /// A page of issues matching `filter`, newest first. The cursor is the position of the
    /// last item's IssueRaised, so pages stay stable while new issues arrive.
    pub fn list(&self, filter: &IssueFilter, cursor: Option<u64>, limit: usize) -> Page<IssueState> {
        let upper = cursor.unwrap_or(u64::MAX);
        let mut items = Vec::new();
        let mut last = None;
        let mut more = false;
        let reach = self.reach(filter.community.as_deref());
        for (pos, s) in self.candidates(reach, upper) {
            if !(reach.holds(s) && filter.matches_besides_community(s)) {
                continue;
            }
            if items.len() == limit {
                more = true;
                break;
            }
            items.push(s.clone());
            last = Some(pos);
        }
        Page { items, next_cursor: if more { last.map(|p| p.to_string()) } else { None } }
    }

    /// The issues raised before position `upper`, newest first, with the position each was
    /// raised at: a [`Reach::Tree`]'s own through the community index, else every issue (the
    /// caller keeps those its reach [`holds`](Reach::holds)).
    fn candidates<'a>(&'a self, reach: Reach<'_>, upper: u64) -> Box<dyn Iterator<Item = (u64, &'a IssueState)> + 'a> {
        let issue = move |pos: u64, id: &String| self.issues.get(id).map(|e| (pos, &e.0));
        match reach {
            Reach::All | Reach::Walk(_) => {
                Box::new(self.order.range(..upper).rev().filter_map(move |(pos, id)| issue(*pos, id)))
            }
            Reach::Tree(scope) => {
                let mut raised: Vec<u64> =
                    codes_within(&self.communities, scope).flat_map(|r| r.range(..upper).copied()).collect();
                raised.sort_unstable_by(|a, b| b.cmp(a));
                Box::new(raised.into_iter().filter_map(move |pos| issue(pos, self.order.get(&pos)?)))
            }
        }
    }

    /// How the issues of a community scope are best found, decided once per list or figure
    /// from how many issues the scope's tree holds.
    fn reach<'c>(&self, community: Option<&'c str>) -> Reach<'c> {
        let Some(scope) = community.map(|c| c.trim_end_matches('/')).filter(|c| !c.is_empty()) else {
            return Reach::All;
        };
        let held: usize = codes_within(&self.communities, scope).map(BTreeSet::len).sum();
        if held == self.issues.len() {
            Reach::All
        } else if narrower_than_a_walk(held, self.issues.len()) {
            Reach::Tree(scope)
        } else {
            Reach::Walk(scope)
        }
    }

    /// Every issue in `community` or a community below it (a community's through the community
    /// index; a tree holding much of the log by walking it), newest first.
    pub fn issues_within<'a>(&'a self, community: &'a str) -> impl Iterator<Item = &'a IssueState> + 'a {
        let reach = self.reach(Some(community));
        self.candidates(reach, u64::MAX).map(|(_, s)| s).filter(move |s| reach.holds(s))
    }

    /// Issues by workflow and state, and how many are overdue at `now`: [`super::state_counts`]
    /// over every issue.
    pub fn state_counts(&self, now: DateTime<Utc>) -> (Vec<super::StateCount>, u64) {
        super::state_counts(self.issues.values().map(|e| &e.0), now)
    }

    /// Dashboard figures of the issues `filter` keeps, judging "overdue" at `now`.
    pub fn stats(&self, filter: &IssueFilter, now: DateTime<Utc>) -> super::Stats {
        let reach = self.reach(filter.community.as_deref());
        let keep = |s: &&IssueState| reach.holds(s) && filter.matches_besides_community(s);
        match reach {
            Reach::Tree(_) => super::stats(self.candidates(reach, u64::MAX).map(|(_, s)| s).filter(keep), now),
            // Order does not matter to figures: the map's own order is the cheapest walk.
            Reach::All | Reach::Walk(_) => super::stats(self.issues.values().map(|e| &e.0).filter(keep), now),
        }
    }
}

/// How a community scope's issues are found (see [`IssueIndex::reach`]).
#[derive(Clone, Copy)]
enum Reach<'c> {
    /// Every issue is in scope (no scope, or one holding the whole index, as a city's own
    /// dashboard): no issue's code need be compared.
    All,
    /// A tree holding much of the index: every issue is walked and its code compared.
    Walk(&'c str),
    /// A smaller tree (a community's, a street's): only its issues, through the community index.
    Tree(&'c str),
}

impl Reach<'_> {
    /// Is `s` in scope, of the issues this reach hands out?
    fn holds(&self, s: &IssueState) -> bool {
        match self {
            Reach::All | Reach::Tree(_) => true,
            Reach::Walk(scope) => community_within(&s.community, scope),
        }
    }
}
