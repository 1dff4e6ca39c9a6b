//! Timelines of one issue or meeting (now, or as of a version or time): the stream read from
//! the store, the pinned workflow looked up, then the pure `timeline` fold; actors are shown
//! by their tokens' names (the log records only the account).

use super::{AsOf, Engine, EngineError};
use crate::issue;
use crate::timeline::{self, Timeline};

fn cut(events: &mut Vec<crate::RecordedEvent>, as_of: Option<AsOf>) {
    match as_of {
        Some(AsOf::Version(v)) => events.retain(|e| e.version <= v),
        Some(AsOf::Time(t)) => events.retain(|e| e.recorded_at <= t),
        None => {}
    }
}

impl Engine {
    /// Every step of an issue through the workflow version it is pinned to.
    pub async fn issue_timeline(&self, issue_id: &str, as_of: Option<AsOf>) -> Result<Timeline, EngineError> {
        let mut events = self.issue_events(issue_id).await?;
        cut(&mut events, as_of);
        let first = events.first().ok_or_else(|| EngineError::NotYetRaised(issue_id.to_string()))?;
        let pin = issue::pinned_workflow(&first.view())?;
        let wf = self.workflow(&pin.id, pin.version).await?;
        let mut tl = timeline::of_issue(&wf, &events, self.catalog())?;
        self.name_actors(&mut tl).await?;
        Ok(tl)
    }

    /// Every step of a meeting with its status before and after.
    pub async fn meeting_timeline(&self, meeting_id: &str, as_of: Option<AsOf>) -> Result<Timeline, EngineError> {
        let mut events = self.meeting_events(meeting_id).await?;
        cut(&mut events, as_of);
        if events.is_empty() {
            return Err(EngineError::NotYetRaised(format!("meeting {meeting_id}")));
        }
        let mut tl =
            timeline::of_meeting(&events, self.catalog()).map_err(|e| EngineError::InvalidRequest(e.to_string()))?;
        self.name_actors(&mut tl).await?;
        Ok(tl)
    }
}
