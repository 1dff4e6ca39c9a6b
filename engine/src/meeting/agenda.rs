//! The agenda builder: which issues a meeting should take up, in which order, and which
//! action items of earlier meetings to follow up. Pure.
//!
//! Order (documented for conveners, and the same in the API): overdue issues first (their
//! state's deadline has passed), then more households affected, then older issues (raised
//! earlier), then issue id so equal matters always come in the same order.

use super::index::ActionItemRecord;
use super::kind::{AgendaScope, MeetingKind};
use super::state::MeetingState;
use crate::issue::IssueState;
use crate::text::LocalizedText;
use chrono::{DateTime, Utc};
use serde::Serialize;

/// The area whose issues a meeting takes up: its community, or for a street-wide kind the
/// sub-district (a community code `city/district/street/community` minus its last segment;
/// a meeting held for the street itself keeps its code).
pub fn agenda_area(kind: &MeetingKind, community: &str) -> String {
    match kind.agenda_scope {
        AgendaScope::Community => community.to_string(),
        AgendaScope::Street => {
            let segs: Vec<&str> = community.split('/').collect();
            if segs.len() >= 4 { segs[..segs.len() - 1].join("/") } else { community.to_string() }
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SuggestedItem {
    /// Position on the proposed agenda (1 = first).
    pub order: u64,
    pub issue_id: String,
    pub title: LocalizedText,
    pub community: String,
    pub state: String,
    pub state_title: LocalizedText,
    pub overdue: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub due_at: Option<DateTime<Utc>>,
    pub households_affected: u64,
    pub raised_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FollowUp {
    #[serde(flatten)]
    pub item: ActionItemRecord,
    pub overdue: bool,
    /// Why it is proposed: `last_meeting` (unfinished from the last meeting) or `overdue`.
    pub reason: &'static str,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AgendaSuggestion {
    pub meeting_id: String,
    pub area: String,
    pub rule: LocalizedText,
    pub items: Vec<SuggestedItem>,
    pub follow_ups: Vec<FollowUp>,
}

pub fn ordering_rule() -> LocalizedText {
    LocalizedText::new(
        "排序规则：超期议题优先，其次按受影响户数从多到少，再按提出时间从早到晚",
        "order: overdue first, then more households affected, then raised earlier",
    )
}

/// Proposes an agenda for `meeting`. `issues` yields every issue of the meeting's area (at
/// least) with its workflow id; `action_items` every open action item of the area (at least;
/// others are skipped here); `last_meeting` is the most recent earlier meeting of the same
/// kind in the same area.
pub fn suggest<'a>(
    kind: &MeetingKind,
    meeting: &MeetingState,
    issues: impl Iterator<Item = (&'a IssueState, &'a str)>,
    action_items: &[ActionItemRecord],
    last_meeting: Option<&str>,
    now: DateTime<Utc>,
) -> AgendaSuggestion {
    let area = agenda_area(kind, &meeting.community);
    let mut items: Vec<SuggestedItem> = issues
        .filter(|(s, wf)| {
            !s.is_final
                && crate::vocab::community_within(&s.community, &area)
                && kind.is_actionable(wf, &s.state)
                && meeting.agenda_item(&s.id).is_none()
        })
        .map(|(s, _)| SuggestedItem {
            order: 0,
            issue_id: s.id.clone(),
            title: s.title.clone(),
            community: s.community.clone(),
            state: s.state.clone(),
            state_title: s.state_title.clone(),
            overdue: s.overdue_at(now),
            due_at: s.due_at,
            households_affected: s.households_affected,
            raised_at: s.raised_at,
        })
        .collect();
    items.sort_by(|a, b| {
        b.overdue
            .cmp(&a.overdue)
            .then(b.households_affected.cmp(&a.households_affected))
            .then(a.raised_at.cmp(&b.raised_at))
            .then(a.issue_id.cmp(&b.issue_id))
    });
    let start = meeting.agenda.iter().map(|a| a.order).max().unwrap_or(0);
    for (i, it) in items.iter_mut().enumerate() {
        it.order = start + 1 + i as u64;
    }
    let mut follow_ups: Vec<FollowUp> = action_items
        .iter()
        .filter(|a| a.done.is_none() && a.item.meeting_id != meeting.id)
        .filter(|a| crate::vocab::community_within(&a.issue_community, &area))
        .filter_map(|a| {
            let overdue = a.overdue_at(now);
            if overdue {
                Some(FollowUp { item: a.clone(), overdue, reason: "overdue" })
            } else if Some(a.item.meeting_id.as_str()) == last_meeting {
                Some(FollowUp { item: a.clone(), overdue, reason: "last_meeting" })
            } else {
                None
            }
        })
        .collect();
    follow_ups.sort_by(|a, b| b.overdue.cmp(&a.overdue).then(a.item.item.due.cmp(&b.item.item.due)));
    AgendaSuggestion { meeting_id: meeting.id.clone(), area, rule: ordering_rule(), items, follow_ups }
}
