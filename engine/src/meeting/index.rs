//! The meeting index: every meeting's current state and every action item with whether an
//! event on its issue has completed it. Pure: fed events in global order, never reads the
//! store, so it can be dropped and rebuilt from position 0.

use super::replay;
use super::state::{ActionItem, MeetingState};
use crate::event::RecordedEvent;
use crate::vocab::{codes_within, communities_above, community_within, narrower_than_a_walk};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// The issue event that completed an action item.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Done {
    #[serde(rename = "type")]
    pub event_type: String,
    pub event_id: uuid::Uuid,
    pub at: DateTime<Utc>,
}

/// An action item as the follow-up lists see it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ActionItemRecord {
    #[serde(flatten)]
    pub item: ActionItem,
    pub meeting_kind: String,
    /// Community of the meeting that assigned it.
    pub meeting_community: String,
    /// Community of its issue (known once the issue's IssueRaised was seen).
    pub issue_community: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub done: Option<Done>,
}

/// Today in China Standard Time, where due dates are read.
pub fn cst_date(t: DateTime<Utc>) -> NaiveDate {
    let tz = crate::text::china_standard_time();
    t.with_timezone(&tz).date_naive()
}

impl ActionItemRecord {
    /// Past its due date (the due day itself still counts as on time) and not done.
    pub fn overdue_at(&self, now: DateTime<Utc>) -> bool {
        self.done.is_none() && cst_date(now) > self.item.due
    }
}

/// Filters of the meeting list.
#[derive(Debug, Clone, Default)]
pub struct MeetingFilter {
    /// A community code: that community, the communities below it, and (for a street-wide
    /// meeting) the street above it.
    pub community: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub kind: Option<String>,
}

#[derive(Default)]
pub struct MeetingIndex {
    position: u64,
    meetings: HashMap<String, MeetingState>,
    /// (scheduled_for, meeting id) → meeting id: list order.
    by_time: BTreeMap<(DateTime<Utc>, String), ()>,
    /// Community code → its meetings' list keys. A community's list and figures then touch its
    /// own meetings and its street's, not the city's (a meeting's code and time never change).
    by_community: BTreeMap<String, BTreeSet<(DateTime<Utc>, String)>>,
    items: Vec<ActionItemRecord>,
    /// (meeting id, action item id) → index in `items`.
    item_at: HashMap<(String, String), usize>,
    /// Community code → indexes in `items` of the action items whose issue or meeting is there
    /// (ascending: the order assigned).
    items_by_community: BTreeMap<String, Vec<usize>>,
    /// Issue id → indexes of its action items not done yet.
    open_by_issue: HashMap<String, Vec<usize>>,
    issue_community: HashMap<String, String>,
    problems: Vec<(u64, String)>,
}

impl MeetingIndex {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn position(&self) -> u64 {
        self.position
    }

    /// Folds one event (in global order; older ones are ignored).
    pub fn apply(&mut self, e: &RecordedEvent) {
        if e.position <= self.position {
            return;
        }
        self.position = e.position;
        if let Some(issue_id) = crate::issue::id_of(&e.stream) {
            self.apply_issue_event(issue_id, e);
            return;
        }
        let Some(id) = super::id_of(&e.stream) else { return };
        if e.version == 0 {
            match replay::start(e) {
                Ok(m) => {
                    self.by_time.insert((m.scheduled_for, m.id.clone()), ());
                    self.by_community.entry(m.community.clone()).or_default().insert((m.scheduled_for, m.id.clone()));
                    self.meetings.insert(id.to_string(), m);
                }
                Err(err) => self.problems.push((e.position, err.to_string())),
            }
            return;
        }
        let Some(m) = self.meetings.get_mut(id) else { return };
        replay::apply(m, e);
        if e.event_type == "ActionItemAssigned"
            && let Some(item) = m.action_items.iter().find(|a| a.assigned_position == e.position).cloned()
        {
            let rec = ActionItemRecord {
                issue_community: self.issue_community.get(&item.issue_id).cloned().unwrap_or_default(),
                meeting_kind: m.kind.clone(),
                meeting_community: m.community.clone(),
                done: None,
                item,
            };
            let key = (rec.item.meeting_id.clone(), rec.item.action_item_id.clone());
            let i = self.items.len();
            self.open_by_issue.entry(rec.item.issue_id.clone()).or_default().push(i);
            self.items_by_community.entry(rec.meeting_community.clone()).or_default().push(i);
            if rec.issue_community != rec.meeting_community {
                self.items_by_community.entry(rec.issue_community.clone()).or_default().push(i);
            }
            self.items.push(rec);
            self.item_at.insert(key, i);
        }
    }

    fn apply_issue_event(&mut self, issue_id: &str, e: &RecordedEvent) {
        if e.version == 0 {
            if let Some(c) = e.data_value()["community"].as_str() {
                self.issue_community.insert(issue_id.to_string(), c.to_string());
            }
            return;
        }
        let Some(open) = self.open_by_issue.get_mut(issue_id) else { return };
        let items = &mut self.items;
        open.retain(|&i| {
            let rec = &mut items[i];
            if rec.item.assigned_position < e.position && rec.item.done_when.iter().any(|t| t == &e.event_type) {
                rec.done = Some(Done { event_type: e.event_type.clone(), event_id: e.id, at: e.recorded_at });
                false
            } else {
                true
            }
        });
    }

    pub fn meeting(&self, id: &str) -> Option<&MeetingState> {
        self.meetings.get(id)
    }

    /// Meetings matching the filter, by scheduled time.
    pub fn list(&self, f: &MeetingFilter) -> Vec<&MeetingState> {
        let keep = |(t, id): &&(DateTime<Utc>, String)| {
            (f.from.is_none_or(|from| *t >= from) && f.to.is_none_or(|to| *t <= to)).then(|| self.meetings.get(id))?
        };
        let matches = |m: &&MeetingState| {
            f.kind.as_deref().is_none_or(|k| m.kind == k)
                && f.community
                    .as_deref()
                    .is_none_or(|c| community_within(&m.community, c) || community_within(c, &m.community))
        };
        match f.community.as_deref().and_then(|c| self.narrow(c)) {
            Some(keys) => keys.into_iter().filter_map(|k| keep(&k)).filter(matches).collect(),
            None => self.by_time.keys().filter_map(|k| keep(&k)).filter(matches).collect(),
        }
    }

    /// The list keys of the meetings in `community`'s tree and of the communities above it, in
    /// list order, when they are under a quarter of all meetings (a broader tree is cheaper to
    /// find by walking every meeting).
    fn narrow<'a>(&'a self, community: &'a str) -> Option<Vec<&'a (DateTime<Utc>, String)>> {
        let scope = community.trim_end_matches('/');
        if scope.is_empty() {
            return None;
        }
        let above = communities_above(scope).filter_map(|c| self.by_community.get(c));
        let trees: Vec<&BTreeSet<_>> = codes_within(&self.by_community, scope).chain(above).collect();
        if !narrower_than_a_walk(trees.iter().map(|t| t.len()).sum(), self.meetings.len()) {
            return None;
        }
        let mut keys: Vec<_> = trees.into_iter().flatten().collect();
        keys.sort_unstable();
        Some(keys)
    }

    /// Every action item, in the order assigned.
    pub fn action_items(&self) -> &[ActionItemRecord] {
        &self.items
    }

    /// The action items whose issue or meeting lies in `community` or below it (all without
    /// one), in the order assigned.
    pub fn action_items_within(&self, community: Option<&str>) -> Vec<&ActionItemRecord> {
        let Some(scope) = community.map(|c| c.trim_end_matches('/')).filter(|c| !c.is_empty()) else {
            return self.items.iter().collect();
        };
        let within = |a: &&ActionItemRecord| {
            community_within(&a.issue_community, scope) || community_within(&a.meeting_community, scope)
        };
        let lists: Vec<&Vec<usize>> = codes_within(&self.items_by_community, scope).collect();
        if !narrower_than_a_walk(lists.iter().map(|l| l.len()).sum(), self.items.len()) {
            return self.items.iter().filter(within).collect();
        }
        // An item of a meeting and an issue both in the tree is listed under both codes.
        let mut at: Vec<usize> = lists.into_iter().flatten().copied().collect();
        at.sort_unstable();
        at.dedup();
        at.into_iter().filter_map(|i| self.items.get(i)).filter(within).collect()
    }

    /// The most recent meeting of `kind` whose community is `community`, held (opened)
    /// before `before`, other than `except`.
    pub fn last_meeting(
        &self,
        kind: &str,
        community: &str,
        except: &str,
        before: DateTime<Utc>,
    ) -> Option<&MeetingState> {
        self.by_time
            .keys()
            .rev()
            .filter(|(t, _)| *t < before)
            .filter_map(|(_, id)| self.meetings.get(id))
            .find(|m| m.id != except && m.kind == kind && m.community == community && m.opened_at.is_some())
    }

    pub fn problems(&self) -> &[(u64, String)] {
        &self.problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Actor;
    use crate::event::NewEvent;
    use serde_json::{Value, json};

    /// Feeds events into an index in log order, each its stream's next version.
    #[derive(Default)]
    struct Log {
        index: MeetingIndex,
        versions: HashMap<String, u64>,
        position: u64,
    }

    impl Log {
        fn add(&mut self, stream: &str, event_type: &str, data: Value) {
            self.position += 1;
            let version = self.versions.entry(stream.to_string()).or_default();
            let at = DateTime::<Utc>::from_timestamp(1_770_000_000 + self.position as i64 * 60, 0).unwrap();
            let e = NewEvent::new(event_type, &data, Actor::system()).into_recorded(
                stream.to_string(),
                *version,
                self.position,
                at,
                &[0; 32],
                &[0; 32],
            );
            *version += 1;
            self.index.apply(&e);
        }

        fn meeting(&mut self, id: &str, community: &str, day: u32) {
            self.add(
                &super::super::stream_of(id),
                "MeetingScheduled",
                json!({"kind": "joint_meeting", "community": community, "title": {"zh-CN": "联席会议"},
                    "scheduled_for": format!("2026-03-{day:02}T01:30:00Z"), "venue": {"zh-CN": "议事厅"},
                    "convener": {"name": "张书记", "society": "community"}}),
            );
        }
    }

    fn ids(list: Vec<&MeetingState>) -> Vec<&str> {
        list.into_iter().map(|m| m.id.as_str()).collect()
    }

    #[test]
    fn a_community_finds_its_meetings_and_its_streets_and_the_action_items_of_its_tree_only() {
        // Given meetings in c1, in c10 (a like code), at the street above both, in a sibling
        // street with a like code, and twenty elsewhere in the city (so a street is a small
        // part of the index and the city all of it).
        let mut log = Log::default();
        for k in 0..20 {
            log.meeting(&format!("f{k}"), &format!("wuhan/hongshan/f/c{k}"), 1);
        }
        log.meeting("m-c1", "wuhan/wuchang/a/c1", 9);
        log.meeting("m-c10", "wuhan/wuchang/a/c10", 3);
        log.meeting("m-street", "wuhan/wuchang/a", 5);
        log.meeting("m-a2", "wuhan/wuchang/a2/c1", 4);
        // An issue in c10 gets an action item from the street's meeting.
        log.add("issue-i10", "IssueRaised", json!({"community": "wuhan/wuchang/a/c10"}));
        log.add(
            &super::super::stream_of("m-street"),
            "ActionItemAssigned",
            json!({"action_item_id": "ai-1", "issue_id": "i10", "task": {"zh-CN": "回访"},
                "assignee": {"name": "社工站", "body": "social_worker"}, "due": "2026-04-30"}),
        );

        // And ten action items elsewhere, so the street's one is a small part of them.
        for k in 0..10 {
            log.add(&format!("issue-h{k}"), "IssueRaised", json!({"community": format!("wuhan/hongshan/f/c{k}")}));
            log.add(
                &super::super::stream_of(&format!("f{k}")),
                "ActionItemAssigned",
                json!({"action_item_id": format!("ai-h{k}"), "issue_id": format!("h{k}"), "task": {"zh-CN": "回访"},
                    "assignee": {"name": "社工站", "body": "social_worker"}, "due": "2026-04-30"}),
            );
        }

        // When lists are asked for a scope: then its tree's meetings and those above it, by time.
        let list =
            |scope: &str| ids(log.index.list(&MeetingFilter { community: Some(scope.into()), ..Default::default() }));
        assert_eq!(list("wuhan/wuchang/a/c1"), ["m-street", "m-c1"]);
        assert_eq!(list("wuhan/wuchang/a/c10/"), ["m-c10", "m-street"]);
        assert_eq!(list("wuhan/wuchang/a"), ["m-c10", "m-street", "m-c1"]);
        assert_eq!(list("wuhan/wuchang"), ["m-c10", "m-a2", "m-street", "m-c1"]);
        assert_eq!(list("wuhan").len(), 24);
        assert_eq!(list("wuhan/hongshan/f/c7"), ["f7"]);
        // Each agrees with a walk of every meeting.
        for scope in ["wuhan/wuchang/a/c1", "wuhan/wuchang/a", "wuhan/wuchang/a/c", "wuhan/hongshan", "wuhan"] {
            let walked: Vec<&str> = log
                .index
                .by_time
                .keys()
                .filter_map(|(_, id)| log.index.meetings.get(id))
                .filter(|m| community_within(&m.community, scope) || community_within(scope, &m.community))
                .map(|m| m.id.as_str())
                .collect();
            assert_eq!(list(scope), walked, "{scope}");
        }

        // The street's action item belongs to its issue's community and its meeting's, and is
        // counted once in a tree holding both.
        let items = |scope: &str| {
            log.index
                .action_items_within(Some(scope))
                .iter()
                .map(|a| a.item.action_item_id.as_str())
                .collect::<Vec<_>>()
        };
        assert_eq!(items("wuhan/wuchang/a/c10"), ["ai-1"]);
        assert_eq!(items("wuhan/wuchang/a"), ["ai-1"]);
        assert_eq!(items("wuhan/wuchang/a/c1"), Vec::<&str>::new());
        assert_eq!(items("wuhan/hongshan/f/c3"), ["ai-h3"]);
        assert_eq!(items("wuhan/hongshan").len(), 10);
        assert_eq!(items("wuhan").len(), 11);
        assert_eq!(log.index.action_items_within(None).len(), 11);
    }
}
