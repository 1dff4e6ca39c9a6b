//! `convene privacy erase <person-id>`: crypto-shredding. Deletes the person's key from the
//! keyring in the data directory; every personal value sealed for them (names, phones,
//! addresses in the log, on any store) reads as erased from then on, while the log keeps its
//! bytes, so chains verify and states replay. A running server sees it at its next read.

use anyhow::Context;
use clap::Subcommand;
use convene_engine::privacy::PersonKeys;
use convene_engine::vault::Vault;
use serde_json::json;
use std::path::Path;
use std::process::ExitCode;

#[derive(Debug, Subcommand)]
pub enum PrivacyCommand {
    /// Make a person's personal data unreadable everywhere (irreversible).
    Erase {
        /// The person id (`raised_by.person_id` of their issues).
        person: String,
        #[arg(long)]
        json: bool,
    },
}

/// The keyring in `data` (created on first use).
pub fn open_keys(data: &Path) -> anyhow::Result<PersonKeys> {
    let vault = Vault::open_in(data).context("无法打开密钥库 / cannot open the secrets file")?;
    Ok(PersonKeys::new(vault))
}

pub async fn run(data: &Path, cmd: PrivacyCommand) -> anyhow::Result<ExitCode> {
    let keys = open_keys(data)?;
    match cmd {
        PrivacyCommand::Erase { person, json } => {
            let erased = keys.erase(&person)?;
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
