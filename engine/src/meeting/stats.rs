//! Meeting figures for a dashboard (oversight: "regular meetings", follow-up of what was
//! decided): meetings by kind and status, and the action items they assigned. Pure.

use super::MeetingStatus;
use super::index::{MeetingFilter, MeetingIndex};
use crate::text::LocalizedText;
use crate::vocab::{MEETING_KINDS, label};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct MeetingStats {
    /// Meetings scheduled in the filter's period, by kind and status.
    pub by_kind: Vec<MeetingKindCount>,
    /// Action items of those communities (whatever their meeting's date).
    pub action_items: ActionItemTotals,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct MeetingKindCount {
    pub kind: String,
    pub title: LocalizedText,
    pub scheduled: u64,
    pub in_session: u64,
    pub closed: u64,
    pub cancelled: u64,
}

impl MeetingKindCount {
    /// The four counts with the status each is of.
    pub fn by_status(&self) -> [(MeetingStatus, u64); 4] {
        [
            (MeetingStatus::Scheduled, self.scheduled),
            (MeetingStatus::InSession, self.in_session),
            (MeetingStatus::Closed, self.closed),
            (MeetingStatus::Cancelled, self.cancelled),
        ]
    }
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct ActionItemTotals {
    pub total: u64,
    pub done: u64,
    /// Not done and past the due day (China Standard Time) at the time asked.
    pub overdue: u64,
}

impl MeetingIndex {
    /// Figures of the meetings `filter` keeps, and of the action items of its community,
    /// judging "overdue" at `now`.
    pub fn stats(&self, filter: &MeetingFilter, now: DateTime<Utc>) -> MeetingStats {
        let mut kinds: BTreeMap<&str, MeetingKindCount> = BTreeMap::new();
        for m in self.list(filter) {
            let c = kinds.entry(&m.kind).or_insert_with(|| MeetingKindCount {
                kind: m.kind.clone(),
                title: label(MEETING_KINDS, &m.kind),
                scheduled: 0,
                in_session: 0,
                closed: 0,
                cancelled: 0,
            });
            match m.status {
                MeetingStatus::Scheduled => c.scheduled += 1,
                MeetingStatus::InSession => c.in_session += 1,
                MeetingStatus::Closed => c.closed += 1,
                MeetingStatus::Cancelled => c.cancelled += 1,
            }
        }
        let mut items = ActionItemTotals::default();
        for a in self.action_items_within(filter.community.as_deref()) {
            items.total += 1;
            items.done += u64::from(a.done.is_some());
            items.overdue += u64::from(a.overdue_at(now));
        }
        MeetingStats { by_kind: kinds.into_values().collect(), action_items: items }
    }
}
