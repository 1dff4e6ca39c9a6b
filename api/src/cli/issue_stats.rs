//! `convene issue stats`: the dashboard figures of `/v1/stats`, printed for a convener or a
//! progress report (进展公开), or as JSON.

use clap::Args;
use convene_engine::Engine;
use convene_engine::projection::{IssueFilter, Stats};
use convene_engine::service::replay_log;
use convene_engine::text::period_bound;
use serde_json::json;
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct StatsArgs {
    /// A community code; the communities below it count too.
    #[arg(long)]
    pub community: Option<String>,
    #[arg(long)]
    pub workflow: Option<String>,
    #[arg(long)]
    pub category: Option<String>,
    /// Raised on or after: a date (China Standard Time) or an RFC 3339 time.
    #[arg(long)]
    pub from: Option<String>,
    /// Raised before the end of this date, or before this RFC 3339 time.
    #[arg(long)]
    pub to: Option<String>,
    /// The figures as they stood at this time (RFC 3339, or the end of a date in China
    /// Standard Time), for a report as of a quarter's end: the log is replayed up to it.
    #[arg(long)]
    pub at: Option<String>,
    #[arg(long)]
    pub json: bool,
}

fn bound(name: &str, s: Option<&str>, end: bool) -> anyhow::Result<Option<chrono::DateTime<chrono::Utc>>> {
    s.map(|s| period_bound(s, end))
        .transpose()
        .map_err(|e| anyhow::anyhow!("--{name} 须为日期或 RFC 3339 时间 / must be a date or RFC 3339: {e}"))
}

pub async fn run(engine: &Engine, args: StatsArgs) -> anyhow::Result<ExitCode> {
    let from = bound("from", args.from.as_deref(), false)?;
    let to = bound("to", args.to.as_deref(), true)?;
    if let (Some(f), Some(t)) = (from, to)
        && f >= t
    {
        eprintln!("--from 须早于 --to / --from must be before --to");
        return Ok(ExitCode::from(1));
    }
    let filter = IssueFilter {
        community: args.community.clone(),
        workflow: args.workflow.clone(),
        category: args.category.clone(),
        raised_from: from,
        raised_before: to,
        ..Default::default()
    };
    let (s, position, now) = match bound("at", args.at.as_deref(), true)? {
        None => {
            let now = chrono::Utc::now();
            let (s, position) = engine.issue_stats(&filter, now).await?;
            (s, position, now)
        }
        // Only the events recorded by then are folded, and "overdue" is judged then.
        Some(at) => {
            let r = replay_log(engine.store().clone(), Some(at), false, &|_| {}).await?;
            (r.index.stats(&filter, at), r.position, at)
        }
    };
    if args.json {
        let mut v = serde_json::to_value(&s)?;
        v["as_of_position"] = json!(position);
        v["as_of"] = json!(now);
        super::print_json(&v);
    } else {
        print(&args, &s, position, now);
    }
    Ok(ExitCode::SUCCESS)
}

fn yuan(fen: u64) -> String {
    format!("¥{}.{:02}", fen / 100, fen % 100)
}

fn print(args: &StatsArgs, s: &Stats, position: u64, now: chrono::DateTime<chrono::Utc>) {
    let scope = args.community.as_deref().unwrap_or("全部 / all");
    println!("统计 / figures: {scope}  (截至 as of {}, 位置 position {position})", super::cst(now));
    let t = &s.issues;
    println!(
        "议题 matters {}：进行中 open {}，办结 closed {}，撤回 withdrawn {}，超期 overdue {}，曾上报 escalated {}；涉及 {} 户 households",
        t.total, t.open, t.closed, t.withdrawn, t.overdue, t.escalated, t.households_affected
    );
    if s.by_state.is_empty() {
        return;
    }
    println!("\n按状态 / by state");
    for c in &s.by_state {
        let state = format!("{} ({})", c.title.both(), c.state);
        println!("  {:<16} {} {:>6}", c.workflow, super::pad(&state, 72), c.count);
    }
    println!("\n按类别 / by category");
    for c in &s.by_category {
        println!("  {} {:>6}  (进行中 open {})", super::pad(&c.title.both(), 40), c.count, c.open);
    }
    let m = &s.micro;
    println!("\n五微 / the five micro steps");
    println!(
        "  微心愿 wishes      收集 collected {}，认领 claimed {}，实现 fulfilled {}（{}）",
        m.wishes_collected,
        m.wishes_claimed,
        m.wishes_fulfilled,
        yuan(m.wishes_value_fen)
    );
    println!("  微公约 pacts       起草 drafted {}，通过 adopted {}", m.pacts_drafted, m.pacts_adopted);
    println!("  微团队 teams       组建 formed {}，成员 members {}", m.teams_formed, m.team_members);
    println!(
        "  微项目 projects    实施 undertaken {}，完成 completed {}，预算 budget {}，支出 spent {}",
        m.projects_undertaken,
        m.projects_completed,
        yuan(m.project_budget_fen),
        yuan(m.project_spent_fen)
    );
    println!(
        "  微公益 charity     认捐 pledges {}（{}），兑现 delivered {}（{}）",
        m.charity_pledges,
        yuan(m.charity_pledged_fen),
        m.charity_delivered,
        yuan(m.charity_delivered_fen)
    );
    println!("  志愿服务 volunteer hours {:.1}", m.volunteer_hours);
    let r = &s.resolutions;
    println!("\n协商 deliberations {}，决议通过 passed {}，否决 rejected {}", r.deliberations, r.passed, r.rejected);
    if let Some(mean) = s.evaluations.mean_satisfaction {
        println!("评议 evaluations {}，平均满意度 mean satisfaction {mean:.2} / 5", s.evaluations.count);
    }
    if let Some(d) = &s.days_to_close {
        println!(
            "办结用时 days to close：中位数 median {:.1}，90% 在 {:.1} 天内 (p90)，共 {} 件",
            d.median_days, d.p90_days, d.count
        );
    }
}
