//! `/v1/stats`: the figures a district dashboard or a progress report to residents shows.

use super::AppState;
use super::auth::Caller;
use super::meetings::time;
use super::problem::Problem;
use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use convene_engine::meeting::{MeetingFilter, MeetingStats};
use convene_engine::projection::{IssueFilter, Stats};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

#[derive(Debug, Deserialize)]
pub struct StatsQuery {
    community: Option<String>,
    workflow: Option<String>,
    category: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

/// Figures over the issues kept: totals (open, closed, withdrawn, overdue, escalated,
/// households), counts by state, category and community, what the five micro steps produced
/// (wishes, pacts, teams, projects and charity, money in fen, volunteer hours), resolutions,
/// mean satisfaction, and median / 90th-percentile days from raised to closed; meetings by
/// kind and status and their action items (total, done, overdue). `from` / `to` keep issues
/// raised and meetings scheduled in that period (a date is a day in China Standard Time, `to`
/// inclusive).
#[utoipa::path(get, path = "/v1/stats",
    params(("community" = Option<String>, Query, description = "a community code; the communities below it count too (default: the caller's scope)"), ("workflow" = Option<String>, Query), ("category" = Option<String>, Query), ("from" = Option<String>, Query, description = "raised on or after: a date or RFC 3339"), ("to" = Option<String>, Query, description = "raised before the end of this date, or before this RFC 3339 time")),
    responses((status = 200, description = "{as_of_position, as_of, filters, issues, by_state, by_category, by_community, micro, resolutions, evaluations, days_to_close, meetings: {by_kind, action_items}}"), (status = 400, description = "bad filter", body = super::problem::ProblemDoc), (status = 403, description = "community outside the caller's scope", body = super::problem::ProblemDoc)))]
pub async fn stats(
    state: web::Data<AppState>,
    caller: Caller,
    q: web::Query<StatsQuery>,
) -> Result<HttpResponse, Problem> {
    let q = q.into_inner();
    let community = caller.list_scope(q.community)?;
    let (from, to) = (time("from", &q.from)?, time("to", &q.to)?);
    if let (Some(f), Some(t)) = (from, to)
        && f >= t
    {
        return Err(Problem::bad_request("from 须早于 to / from must be before to"));
    }
    let filter = IssueFilter {
        community: community.clone(),
        workflow: q.workflow.clone(),
        category: q.category.clone(),
        raised_from: from,
        raised_before: to,
        ..Default::default()
    };
    let now = Utc::now();
    let (stats, position) = state.engine.issue_stats(&filter, now).await?;
    let meetings = MeetingFilter { community: community.clone(), from, to, kind: None };
    let meetings = state.engine.meeting_stats(&meetings, now).await?;
    Ok(HttpResponse::Ok().json(Body {
        as_of_position: position,
        as_of: now,
        filters: json!({"community": community, "workflow": q.workflow, "category": q.category, "raised_from": from, "raised_before": to}),
        stats: &stats,
        meetings,
    }))
}

/// The figures, with what they are as of and which issues they cover.
#[derive(Serialize)]
struct Body<'a> {
    /// The last event the figures include.
    as_of_position: u64,
    /// The time "overdue" was judged at.
    as_of: DateTime<Utc>,
    filters: Value,
    #[serde(flatten)]
    stats: &'a Stats,
    meetings: MeetingStats,
}
