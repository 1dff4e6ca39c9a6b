//! The meeting index: every meeting's current state and every action item with whether an
//! event on its issue has completed it. Pure: fed events in global order, never reads the
//! store, so it can be dropped and rebuilt from position 0.

use super::replay;
use super::state::{ActionItem, MeetingState};
use crate::event::RecordedEvent;
use crate::vocab::community_within;
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

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
    items: Vec<ActionItemRecord>,
    /// (meeting id, action item id) → index in `items`.
    item_at: HashMap<(String, String), usize>,
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
        self.by_time
            .keys()
            .filter(|(t, _)| f.from.is_none_or(|from| *t >= from) && f.to.is_none_or(|to| *t <= to))
            .filter_map(|(_, id)| self.meetings.get(id))
            .filter(|m| f.kind.as_deref().is_none_or(|k| m.kind == k))
            .filter(|m| {
                f.community
                    .as_deref()
                    .is_none_or(|c| community_within(&m.community, c) || community_within(c, &m.community))
            })
            .collect()
    }

    /// Every action item, in the order assigned.
    pub fn action_items(&self) -> &[ActionItemRecord] {
        &self.items
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
