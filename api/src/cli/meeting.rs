//! `convene meeting schedule|list|show|step|suggest|minutes|action-items`.

use super::issue::{ActorArgs, CommandInput, payload};
use clap::Subcommand;
use convene_engine::meeting::minutes::{Format, Lang};
use convene_engine::meeting::{MeetingFilter, MeetingRefusal, MeetingState};
use convene_engine::privacy::Names;
use convene_engine::service::{AsOf, MeetingCommand, MeetingOutcome, ScheduleMeeting, meeting_json};
use convene_engine::{Engine, EngineError};
use serde_json::json;
use std::process::ExitCode;

#[derive(Debug, Subcommand)]
pub enum MeetingCommandArgs {
    /// Schedule a meeting; the MeetingScheduled payload (kind, community, title, scheduled_for,
    /// venue, convener) comes from --payload, --file or stdin.
    Schedule {
        /// A readable meeting id (default: a new one).
        #[arg(long)]
        id: Option<String>,
        #[command(flatten)]
        actor: ActorArgs,
        #[command(flatten)]
        input: CommandInput,
    },
    /// List meetings (of a community and its street), by scheduled time.
    List {
        #[arg(long)]
        community: Option<String>,
        /// From this time (RFC 3339).
        #[arg(long)]
        from: Option<String>,
        /// Until this time (RFC 3339).
        #[arg(long)]
        to: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Show a meeting (now, or --version N).
    Show {
        id: String,
        #[arg(long)]
        version: Option<u64>,
        #[arg(long)]
        json: bool,
    },
    /// Record a step (an event type, or EstablishQuorum, CloseVote, PublishMinutes); the
    /// payload comes from --payload, --file or stdin.
    Step {
        id: String,
        #[arg(name = "TYPE")]
        step_type: String,
        #[command(flatten)]
        actor: ActorArgs,
        #[arg(long)]
        if_match: Option<u64>,
        #[command(flatten)]
        input: CommandInput,
    },
    /// Propose an agenda (overdue first, then households affected, then age) and follow-ups.
    Suggest {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Print the minutes generated from the meeting's events.
    Minutes {
        id: String,
        /// zh-CN or en.
        #[arg(long, default_value = "zh-CN")]
        lang: String,
        /// md or html.
        #[arg(long, default_value = "md")]
        format: String,
    },
    /// Action items (of a community), or only the overdue ones.
    ActionItems {
        #[arg(long)]
        community: Option<String>,
        #[arg(long)]
        overdue: bool,
        #[arg(long)]
        json: bool,
    },
}

fn print_meeting(m: &MeetingState, names: &Names) {
    println!("会议 / meeting {}  [{}]", m.id, m.kind);
    println!("  标题 / title:      {}", m.title.both());
    println!("  社区 / community:  {}", m.community);
    println!("  时间 / time:       {}", super::cst(m.scheduled_for));
    println!("  地点 / venue:      {}", m.venue.both());
    println!("  状态 / status:     {} ({})", m.status_title.both(), m.status.as_str());
    println!("  版本 / version:    {}", m.version);
    println!("  参会 / invited:    {}", m.participants.len());
    if let Some(q) = &m.quorum {
        println!("  表决权 / voters:   {}", q.voters.len());
    }
    for a in &m.agenda {
        println!("  议程 {:>2} / item:   {} ({})", a.order, a.title.both(), a.issue_id);
    }
    for mo in &m.motions {
        println!(
            "  动议 / motion {}: {:?}  赞成/for {} 反对/against {} 弃权/abstain {}",
            mo.motion_id, mo.status, mo.votes.yes, mo.votes.against, mo.votes.abstain
        );
    }
    for a in &m.action_items {
        let who = names.show(&a.assignee.name);
        println!("  行动 / action {}: {} → {who} (due {})", a.action_item_id, a.task.both(), a.due);
    }
}

/// Prints what a command wrote, personal values revealed (or shown as erased).
async fn report(engine: &Engine, o: &MeetingOutcome, json: bool) -> anyhow::Result<()> {
    if json {
        let mut meeting = meeting_json(&o.meeting, &[]);
        engine.reveal(&mut meeting).await?;
        super::print_json(&json!({"event": o.event, "meeting": meeting, "replayed": o.replayed}));
    } else {
        if o.replayed {
            println!("（重试：未写入新事件 / retry: nothing new written）");
        }
        println!("已记录 / recorded: {} (v{})", o.event.event_type, o.event.version);
        print_meeting(&o.meeting, &engine.names_for(&o.meeting).await?);
    }
    Ok(())
}

/// Refusals are the user's input being refused: exit 1 with the reason and what is allowed.
fn refused(e: EngineError) -> anyhow::Result<ExitCode> {
    match e {
        EngineError::MeetingRefused(r) => {
            eprintln!("拒绝 / refused [{}]: {}", r.code(), r.message().both());
            match r.as_ref() {
                MeetingRefusal::InvalidPayload { errors, .. } => {
                    for e in errors {
                        eprintln!("  {}: {}", e.pointer, e.message);
                    }
                }
                MeetingRefusal::QuorumNotReached { requirements, .. } => {
                    for q in requirements {
                        eprintln!(
                            "  {} {}/{} {}",
                            if q.met { "✓" } else { "✗" },
                            q.have,
                            q.needed,
                            q.description.both()
                        );
                    }
                }
                _ => {}
            }
            if !r.allowed().is_empty() {
                eprintln!("当前可记录的步骤 / steps allowed now:");
                for s in r.allowed() {
                    eprintln!("  {:<24} {}", s.step_type, s.label.both());
                }
            }
            Ok(ExitCode::from(1))
        }
        e @ (EngineError::PreconditionFailed { .. }
        | EngineError::NotFound(_)
        | EngineError::NotYetRaised(_)
        | EngineError::IdempotencyKeyReused
        | EngineError::InvalidRequest(_)) => {
            eprintln!("错误 / error: {e}");
            Ok(ExitCode::from(1))
        }
        e => Err(e.into()),
    }
}

fn time(s: Option<String>) -> anyhow::Result<Option<chrono::DateTime<chrono::Utc>>> {
    s.map(|t| {
        chrono::DateTime::parse_from_rfc3339(&t)
            .map(|t| t.with_timezone(&chrono::Utc))
            .map_err(|e| anyhow::anyhow!("时间须为 RFC 3339 / time must be RFC 3339: {e}"))
    })
    .transpose()
}

pub async fn run(target: &super::StoreTarget, cmd: MeetingCommandArgs) -> anyhow::Result<ExitCode> {
    let engine = super::open_engine(target).await?;
    let now = chrono::Utc::now();
    let result = match cmd {
        MeetingCommandArgs::Schedule { id, actor, input } => {
            let CommandInput { payload: p, file, idempotency_key, json } = input;
            let cmd = ScheduleMeeting { meeting_id: id, data: payload(p, file)?, actor: actor.into(), idempotency_key };
            match engine.schedule_meeting(cmd).await {
                Ok(o) => {
                    report(&engine, &o, json).await?;
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => refused(e),
            }
        }
        MeetingCommandArgs::List { community, from, to, json } => {
            let filter = MeetingFilter { community, from: time(from)?, to: time(to)?, kind: None };
            let items = engine.list_meetings(&filter).await?;
            if json {
                super::print_json(&items);
            } else {
                for m in &items {
                    println!(
                        "{}  {:<16} {:<10} {}  {}",
                        super::cst(m.scheduled_for),
                        m.kind,
                        m.status.as_str(),
                        m.id,
                        m.title.both()
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        MeetingCommandArgs::Show { id, version, json } => {
            let r = match version {
                Some(v) => engine.meeting_as_of(&id, AsOf::Version(v)).await,
                None => engine.meeting(&id).await,
            };
            match r {
                Ok(m) => {
                    if json {
                        let applied = engine.resolutions_applied(&m).await?;
                        let mut v = meeting_json(&m, &applied);
                        engine.reveal(&mut v).await?;
                        super::print_json(&v);
                    } else {
                        print_meeting(&m, &engine.names_for(&m).await?);
                    }
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => refused(e),
            }
        }
        MeetingCommandArgs::Step { id, step_type, actor, if_match, input } => {
            let CommandInput { payload: p, file, idempotency_key, json } = input;
            let data = if p.is_none() && file.is_none() && step_type_needs_no_payload(&step_type) {
                json!({})
            } else {
                payload(p, file)?
            };
            let cmd = MeetingCommand {
                meeting_id: id,
                step_type,
                data,
                actor: actor.into(),
                expected_version: if_match,
                idempotency_key,
            };
            match engine.meeting_step(cmd).await {
                Ok(o) => {
                    report(&engine, &o, json).await?;
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => refused(e),
            }
        }
        MeetingCommandArgs::Suggest { id, json } => match engine.suggest_agenda(&id, now).await {
            Ok(s) => {
                let names = engine.names_for(&s).await?;
                if json {
                    super::print_json(&engine.revealed(&s).await?);
                } else {
                    println!("{}", s.rule.both());
                    for i in &s.items {
                        println!(
                            "  {:>2}. {}{} ({}, {} 户/households, {})",
                            i.order,
                            if i.overdue { "[超期/overdue] " } else { "" },
                            i.title.both(),
                            i.state,
                            i.households_affected,
                            i.issue_id
                        );
                    }
                    for f in &s.follow_ups {
                        println!(
                            "  跟进 / follow up {}: {} → {} (due {}, {})",
                            f.item.item.action_item_id,
                            f.item.item.task.both(),
                            names.show(&f.item.item.assignee.name),
                            f.item.item.due,
                            f.reason
                        );
                    }
                }
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => refused(e),
        },
        MeetingCommandArgs::Minutes { id, lang, format } => {
            let lang =
                Lang::parse(&lang).ok_or_else(|| anyhow::anyhow!("--lang 须为 zh-CN 或 en / must be zh-CN or en"))?;
            let format = match format.as_str() {
                "md" | "markdown" => Format::Markdown,
                "html" => Format::Html,
                _ => anyhow::bail!("--format 须为 md 或 html / must be md or html"),
            };
            match engine.minutes(&id, None, lang, format, false).await {
                Ok((_, text)) => {
                    print!("{text}");
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => refused(e),
            }
        }
        MeetingCommandArgs::ActionItems { community, overdue, json } => {
            let items = engine.action_items(community.as_deref(), overdue, now).await?;
            let names = engine.names_for(&items.iter().map(|(a, _)| a).collect::<Vec<_>>()).await?;
            if json {
                let v: Vec<_> = items
                    .iter()
                    .map(|(a, o)| {
                        let mut v = serde_json::to_value(a).unwrap_or_default();
                        v["overdue"] = json!(o);
                        v
                    })
                    .collect();
                super::print_json(&engine.revealed(&v).await?);
            } else {
                for (a, o) in &items {
                    let status = match (&a.done, o) {
                        (Some(d), _) => format!("done ({})", d.event_type),
                        (None, true) => "超期 / overdue".into(),
                        (None, false) => "open".into(),
                    };
                    println!(
                        "{}/{}  {}  → {}  due {}  [{}]",
                        a.item.meeting_id,
                        a.item.action_item_id,
                        a.item.task.both(),
                        names.show(&a.item.assignee.name),
                        a.item.due,
                        status
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    };
    engine.store().close().await;
    engine.leave_index_to_exit();
    result
}

/// Commands that are complete without a payload (so the CLI does not wait on stdin).
fn step_type_needs_no_payload(t: &str) -> bool {
    matches!(t, "EstablishQuorum" | "PublishMinutes" | "MeetingOpened" | "MeetingClosed")
}
