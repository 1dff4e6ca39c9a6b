//! `convene privacy erase <person-id>`: crypto-shredding. Deletes the person's key from the
//! keyring that goes with the store (`secrets.db` in the data directory, or the PostgreSQL
//! database of a PostgreSQL log, shared by every instance); every personal value sealed for
//! them (names, phones, addresses anywhere in the log) reads as erased from then on, while the
//! log keeps its bytes, so chains verify and states replay. Running servers see it at their
//! next read.

use clap::Subcommand;
use convene_engine::privacy::PersonKeys;
use serde_json::json;
use std::process::ExitCode;

#[derive(Debug, Subcommand)]
pub enum PrivacyCommand {
    /// Make a person's personal data unreadable everywhere (irreversible).
    Erase {
        /// The person id (`person_id` of the raiser, participant, party or assignee).
        person: String,
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(target: &super::StoreTarget, cmd: PrivacyCommand) -> anyhow::Result<ExitCode> {
    let keys = PersonKeys::new(target.secrets().await?);
    match cmd {
        PrivacyCommand::Erase { person, json } => {
            let erased = keys.erase(&person).await?;
            if json {
                super::print_json(&json!({"person": person, "erased": erased}));
            } else if erased {
                println!(
                    "已删除 {person} 的个人信息密钥：其姓名、电话、地址从此不可读 / erased the key of {person}: their names, phones and addresses are unreadable from now on"
                );
            } else {
                eprintln!(
                    "没有 {person} 的密钥（从未记录或已删除）/ no key for {person} (never recorded, or erased already)"
                );
            }
            Ok(if erased { ExitCode::SUCCESS } else { ExitCode::from(1) })
        }
    }
}
