//! `convene token create|list|revoke`, and how `serve` authenticates (tokens or
//! `--insecure-dev`).

use crate::http::auth::{Auth, RateConfig};
use clap::{Args, Subcommand};
use convene_engine::auth::{self, TokenStore};
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create an API token (printed once; only its hash is stored).
    Create {
        /// admin, convener, community_staff, social_worker, organisation (social_organisation),
        /// volunteer, resident, resident_representative, charity, party_member,
        /// property_company, owners_committee, street_officer, district_officer, auditor.
        #[arg(long)]
        role: String,
        /// A community, street or district code (covers everything below it), or `*`.
        #[arg(long)]
        scope: String,
        /// Who holds it: shown as the actor's name on what it records (timelines), read from
        /// the token table at read time — the event log keeps only the token id.
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// List tokens (never their secrets).
    List {
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token by id.
    Revoke { id: String },
}

/// How `serve` guards its API.
#[derive(Debug, Args)]
pub struct SecurityArgs {
    /// Serve without requiring tokens: a request without one acts as the actor its body names.
    /// For local development and the demo only.
    #[arg(long)]
    pub insecure_dev: bool,
    /// Requests per second allowed per token (burst: four times as many).
    #[arg(long, env = "CONVENE_RATE_LIMIT", default_value_t = 50.0)]
    pub rate_limit: f64,
    /// Seconds between signed checkpoints while the log grows (0: only on demand).
    #[arg(long, env = "CONVENE_CHECKPOINT_EVERY", default_value_t = 300)]
    pub checkpoint_every: u64,
    /// Browser origins allowed to call the API (CORS), e.g. https://weilinli.example.cn;
    /// repeat or separate with commas; `*` for any. Default: none (no CORS headers).
    #[arg(long = "cors-origin", env = "CONVENE_CORS_ORIGINS", value_delimiter = ',', value_parser = crate::http::cors::parse_origin)]
    pub cors_origins: Vec<String>,
}

/// The token table that goes with the store (PostgreSQL tables beside a PostgreSQL log, shared
/// by every instance; `secrets.db` in the data directory otherwise).
pub async fn open_tokens(target: &super::StoreTarget) -> anyhow::Result<Arc<TokenStore>> {
    Ok(Arc::new(TokenStore::new(target.secrets().await?)))
}

/// The authentication a server starts with, over the tokens in `secrets`; refuses to start
/// without any token unless `--insecure-dev`.
pub async fn server_auth(
    secrets: Arc<dyn convene_engine::secrets::Secrets>,
    args: &SecurityArgs,
) -> anyhow::Result<Auth> {
    let tokens = Arc::new(TokenStore::new(secrets));
    let rate = RateConfig { per_second: args.rate_limit.max(0.1), burst: (args.rate_limit * 4.0).max(1.0) };
    if args.insecure_dev {
        let banner = "!!! 不安全的开发模式：无令牌的请求以请求体中声明的身份写入 / INSECURE DEV MODE: requests \
                      without a token act as whoever their body names. Never expose this server. !!!";
        tracing::warn!("{banner}");
        eprintln!("{banner}");
        return Ok(Auth::insecure_dev(Some(tokens), rate));
    }
    let active = tokens.active().await?;
    if active == 0 {
        anyhow::bail!(
            "没有可用的 API 令牌，拒绝启动；先运行 `convene token create --role admin --scope '*'`，或仅在本地开发时加 --insecure-dev / \
             no API token exists, refusing to start: create one with `convene token create --role admin --scope '*'`, \
             or pass --insecure-dev for local development only"
        );
    }
    tracing::info!(tokens = active, kept_in = %tokens.describe(), "API tokens required");
    Ok(Auth::tokens(tokens, rate))
}

pub async fn run(target: &super::StoreTarget, cmd: TokenCommand) -> anyhow::Result<ExitCode> {
    let tokens = open_tokens(target).await?;
    match cmd {
        TokenCommand::Create { role, scope, name, json } => {
            let (info, secret) = match tokens.create(&role, &scope, name.as_deref()).await {
                Ok(x) => x,
                Err(e @ (auth::tokens::TokenError::UnknownRole(_) | auth::tokens::TokenError::InvalidScope(_))) => {
                    eprintln!("拒绝 / refused: {e} (角色 / roles: {})", auth::token_roles().join(", "));
                    return Ok(ExitCode::from(1));
                }
                Err(e) => return Err(e.into()),
            };
            if json {
                super::print_json(&serde_json::json!({"token": secret, "info": info}));
            } else {
                println!("令牌已创建，只显示这一次 / token created, shown only this once:\n{secret}");
                println!("id {}  角色 / role {}  范围 / scope {}", info.id, info.role, info.scope);
            }
        }
        TokenCommand::List { json } => {
            let list = tokens.list().await?;
            if json {
                super::print_json(&list);
            } else {
                for t in list {
                    let status = if t.revoked_at.is_some() { "已吊销 / revoked" } else { "有效 / active" };
                    println!("{}  {}  {}  {}  {}", t.id, t.role, t.scope, t.name.unwrap_or_default(), status);
                }
            }
        }
        TokenCommand::Revoke { id } => match tokens.revoke(&id).await {
            Ok(()) => println!("已吊销 / revoked {id}"),
            Err(auth::tokens::TokenError::NotFound(_)) => {
                eprintln!("没有有效的令牌 {id} / no active token {id}");
                return Ok(ExitCode::from(1));
            }
            Err(e) => return Err(e.into()),
        },
    }
    Ok(ExitCode::SUCCESS)
}
