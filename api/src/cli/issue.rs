//! `convene issue raise|list|show|step`.

use clap::{Args, Subcommand};
use convene_engine::service::{AsOf, RaiseIssue, RecordStep, StepOutcome};
use convene_engine::{Actor, EngineError, issue::IssueState};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct ActorArgs {
    /// Who acts: an account id (not a name; names are personal data and never enter the log).
    #[arg(long)]
    pub actor_id: String,
    /// In which role (resident, convener, social_worker, …).
    #[arg(long)]
    pub role: String,
    /// Community code the actor acts for.
    #[arg(long)]
    pub actor_community: Option<String>,
}

impl From<ActorArgs> for Actor {
    fn from(a: ActorArgs) -> Actor {
        // No name: the log records accounts, never a person's name (see `privacy`).
        Actor { id: a.actor_id, name: None, role: a.role, community: a.actor_community }
    }
}

#[derive(Debug, Subcommand)]
pub enum IssueCommand {
    /// Raise an issue; the IssueRaised payload comes from --payload, --file or stdin.
    Raise {
        #[arg(long, default_value = "community-issue")]
        workflow: String,
        #[arg(long)]
        workflow_version: Option<u32>,
        #[command(flatten)]
        actor: ActorArgs,
        #[command(flatten)]
        input: CommandInput,
    },
    /// List issues, newest first: a community code also matches the communities below it;
    /// --overdue keeps the open ones past their current step's deadline (超期).
    List {
        #[arg(long)]
        community: Option<String>,
        /// A state of the workflow, e.g. assessed.
        #[arg(long)]
        state: Option<String>,
        #[arg(long)]
        workflow: Option<String>,
        #[arg(long)]
        category: Option<String>,
        #[arg(long)]
        overdue: bool,
        /// At most this many (1..=10000).
        #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u16).range(1..=10000))]
        limit: u16,
        #[arg(long)]
        json: bool,
    },
    /// Dashboard figures: matters by state, category and community, what the five micro steps
    /// produced (money, hours), resolutions, satisfaction, days to close.
    Stats(super::issue_stats::StatsArgs),
    /// Show an issue (now, or --at a time / --version N).
    Show {
        id: String,
        #[arg(long)]
        at: Option<String>,
        #[arg(long)]
        version: Option<u64>,
        #[arg(long)]
        json: bool,
    },
    /// Record a step; the payload comes from --payload, --file or stdin.
    Step {
        id: String,
        /// Event type, e.g. NeedAssessed.
        #[arg(name = "TYPE")]
        event_type: String,
        #[command(flatten)]
        actor: ActorArgs,
        /// The version you saw (fails if the issue moved on).
        #[arg(long)]
        if_match: Option<u64>,
        #[command(flatten)]
        input: CommandInput,
    },
}

/// What a command carries besides the actor: its payload, a retry key, the output form.
#[derive(Debug, Args)]
pub struct CommandInput {
    /// The payload as JSON text (else --file, else standard input).
    #[arg(long)]
    pub payload: Option<String>,
    /// A file holding the payload JSON.
    #[arg(long)]
    pub file: Option<PathBuf>,
    /// Makes a retry of the same command harmless (same key, same result, one event).
    #[arg(long)]
    pub idempotency_key: Option<String>,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

pub(super) fn payload(inline: Option<String>, file: Option<PathBuf>) -> anyhow::Result<Value> {
    let text = match (inline, file) {
        (Some(s), _) => s,
        (None, Some(f)) => {
            std::fs::read_to_string(&f).map_err(|e| anyhow::anyhow!("无法读取 / cannot read {}: {e}", f.display()))?
        }
        (None, None) => std::io::read_to_string(std::io::stdin())?,
    };
    serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("载荷不是合法 JSON / payload is not valid JSON: {e}"))
}

fn print_issue(s: &IssueState) {
    println!("议题 / issue {}  [{} v{}]", s.id, s.workflow.id, s.workflow.version);
    println!("  标题 / title:      {}", s.title.both());
    println!("  社区 / community:  {}", s.community);
    println!("  状态 / state:      {} ({})", s.state_title.both(), s.state);
    println!("  版本 / version:    {}", s.version);
    println!("  层级 / level:      {}", s.escalation_level);
    if let Some(d) = s.due_at {
        println!("  期限 / due:        {}", super::cst(d));
    }
    println!("  经过 / history:");
    for t in &s.history {
        println!(
            "    v{:<3} {}  {:<28} {} → {}  ({} {})",
            t.version,
            super::cst(t.at),
            t.event_type,
            t.from.as_deref().unwrap_or("·"),
            t.to,
            t.actor.role,
            t.actor.name.as_deref().unwrap_or(&t.actor.id)
        );
    }
}

/// One line per issue: id, state, due date (marked when overdue), community, title.
fn print_list(items: &[IssueState], more: bool, now: chrono::DateTime<chrono::Utc>) {
    if items.is_empty() {
        println!("（没有符合条件的议题 / no issue matches）");
        return;
    }
    for s in items {
        let due = match s.due_at {
            Some(d) if s.overdue_at(now) => format!("{} 超期/overdue", super::cst(d)),
            Some(d) => super::cst(d),
            None => "·".to_string(),
        };
        println!("{}  {:<14} {:<28} {}  {}", s.id, s.state, due, s.community, s.title.both());
    }
    println!("{} 个议题 / {} issues", items.len(), items.len());
    if more {
        println!("（还有更多，可加大 --limit / more match: use a larger --limit）");
    }
}

async fn report(engine: &convene_engine::Engine, o: &StepOutcome, json: bool) {
    if json {
        let issue = engine.revealed(&o.issue).await.unwrap_or_else(|e| json!({"error": e.to_string()}));
        super::print_json(&json!({"event": o.event, "issue": issue, "replayed": o.replayed}));
    } else {
        if o.replayed {
            println!("（重试：未写入新事件 / retry: nothing new written）");
        }
        print_issue(&o.issue);
    }
}

/// Refusals are the user's input being refused: exit 1 with the reason and what is allowed.
fn refused(e: EngineError) -> anyhow::Result<ExitCode> {
    match e {
        EngineError::Refused(r) => {
            eprintln!("拒绝 / refused: {}", r.message().both());
            if let convene_engine::issue::Refusal::InvalidPayload { event_type, errors, .. } = &r {
                for e in errors {
                    eprintln!("  {}: {}", e.pointer, e.message);
                }
                eprintln!("字段说明 / the fields it takes: convene event-types {event_type}");
            }
            if !r.allowed().is_empty() {
                eprintln!("当前可记录的步骤 / steps allowed now:");
            }
            for s in r.allowed() {
                eprintln!("  {:<30} {}  [{}]", s.event_type, s.label.both(), s.roles.join(", "));
            }
            Ok(ExitCode::from(1))
        }
        e @ (EngineError::PreconditionFailed { .. }
        | EngineError::NotFound(_)
        | EngineError::NotYetRaised(_)
        | EngineError::IdempotencyKeyReused
        | EngineError::UnknownWorkflow { .. }
        | EngineError::InvalidRequest(_)) => {
            eprintln!("错误 / error: {e}");
            Ok(ExitCode::from(1))
        }
        e => Err(e.into()),
    }
}

pub async fn run(target: &super::StoreTarget, cmd: IssueCommand) -> anyhow::Result<ExitCode> {
    let engine = super::open_engine(target).await?;
    let result = match cmd {
        IssueCommand::Raise { workflow, workflow_version, actor, input } => {
            let CommandInput { payload: p, file, idempotency_key, json } = input;
            let data = payload(p, file)?;
            let cmd =
                RaiseIssue { workflow_id: workflow, workflow_version, data, actor: actor.into(), idempotency_key };
            match engine.raise(cmd).await {
                Ok(o) => {
                    report(&engine, &o, json).await;
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => refused(e),
            }
        }
        IssueCommand::Stats(args) => super::issue_stats::run(&engine, args).await,
        IssueCommand::List { community, state, workflow, category, overdue, limit, json } => {
            let now = chrono::Utc::now();
            let filter = convene_engine::projection::IssueFilter {
                community,
                state,
                workflow,
                category,
                overdue_at: overdue.then_some(now),
                ..Default::default()
            };
            let page = engine.list_issues(&filter, None, usize::from(limit)).await?;
            if json {
                let items = engine.revealed(&page.items).await?;
                super::print_json(&json!({"items": items, "more": page.next_cursor.is_some()}));
            } else {
                print_list(&page.items, page.next_cursor.is_some(), now);
            }
            Ok(ExitCode::SUCCESS)
        }
        IssueCommand::Show { id, at, version, json } => {
            let r = match (at, version) {
                (Some(t), _) => {
                    let t = chrono::DateTime::parse_from_rfc3339(&t)
                        .map_err(|e| anyhow::anyhow!("--at 须为 RFC 3339 / must be RFC 3339: {e}"))?;
                    engine.issue_as_of(&id, AsOf::Time(t.into())).await
                }
                (None, Some(v)) => engine.issue_as_of(&id, AsOf::Version(v)).await,
                (None, None) => engine.current(&id).await,
            };
            match r {
                Ok(s) => {
                    if json {
                        super::print_json(&engine.revealed(&s).await?);
                    } else {
                        print_issue(&s);
                    }
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => refused(e),
            }
        }
        IssueCommand::Step { id, event_type, actor, if_match, input } => {
            let CommandInput { payload: p, file, idempotency_key, json } = input;
            let data = payload(p, file)?;
            let cmd = RecordStep {
                issue_id: id,
                event_type,
                data,
                actor: actor.into(),
                expected_version: if_match,
                idempotency_key,
                correlation_id: None,
                causation_id: None,
            };
            match engine.step(cmd).await {
                Ok(o) => {
                    report(&engine, &o, json).await;
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => refused(e),
            }
        }
    };
    engine.store().close().await;
    engine.leave_index_to_exit();
    result
}
