//! Minutes generated from the meeting's events (never typed separately): attendance and
//! quorum, each agenda item with its deliberation, the motion, the counts and the outcome,
//! and the action items with owners and due dates. zh-CN and English, Markdown and HTML,
//! rendered from one block model so both formats always say the same. Pure.

use super::kind::{MeetingKind, VotingRule};
use super::rules::body_text;
use super::state::{Attendance, MeetingState, MeetingStatus, MotionStatus, Speaker};
use crate::catalog::Catalog;
use crate::privacy::Names;
use crate::text::LocalizedText;
use chrono::{DateTime, Utc};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Zh,
    En,
}

impl Lang {
    pub fn parse(s: &str) -> Option<Lang> {
        match s {
            "zh-CN" | "zh" => Some(Lang::Zh),
            "en" => Some(Lang::En),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Markdown,
    Html,
}

enum Block {
    H1(String),
    H2(String),
    H3(String),
    Para(String),
    Bullets(Vec<String>),
    Table(Vec<String>, Vec<Vec<String>>),
}

fn t(l: Lang, text: &LocalizedText) -> String {
    match l {
        Lang::Zh => text.zh.clone(),
        Lang::En => text.en.clone().filter(|e| !e.is_empty()).unwrap_or_else(|| text.zh.clone()),
    }
}

fn pick(l: Lang, zh: impl Into<String>, en: impl Into<String>) -> String {
    match l {
        Lang::Zh => zh.into(),
        Lang::En => en.into(),
    }
}

/// A time as people read it: China Standard Time.
fn cst(at: DateTime<Utc>) -> String {
    let tz = crate::text::china_standard_time();
    at.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string() + " (UTC+8)"
}

fn blocks(m: &MeetingState, kind: &MeetingKind, l: Lang, names: &Names) -> Vec<Block> {
    let name = |p: &crate::privacy::PersonalText| names.show(p);
    let catalog = Catalog::shipped();
    let mut out = Vec::new();
    out.push(Block::H1(format!("{} — {}", t(l, &m.title), pick(l, "会议纪要", "Minutes"))));
    let mut facts = vec![
        format!("{}：{}", pick(l, "会议类型", "Kind"), t(l, &kind.title)),
        format!("{}：{}", pick(l, "社区", "Community"), m.community),
        format!("{}：{}", pick(l, "时间", "Scheduled for"), cst(m.scheduled_for)),
        format!("{}：{}", pick(l, "地点", "Venue"), t(l, &m.venue)),
        format!("{}：{}", pick(l, "召集人", "Convener"), name(&m.convener.name)),
    ];
    if l == Lang::En {
        for f in facts.iter_mut() {
            *f = f.replacen('：', ": ", 1);
        }
    }
    let sep = pick(l, "：", ": ");
    if let Some(c) = &m.chair {
        facts.push(format!("{}{sep}{}", pick(l, "主持人", "Chair"), name(&c.name)));
    }
    if let Some(o) = m.opened_at {
        facts.push(format!("{}{sep}{}", pick(l, "开会", "Opened"), cst(o)));
    }
    if let Some(c) = m.closed_at {
        facts.push(format!("{}{sep}{}", pick(l, "散会", "Closed"), cst(c)));
    }
    facts.push(format!("{}{sep}{}", pick(l, "状态", "Status"), t(l, &m.status.label())));
    out.push(Block::Bullets(facts));
    if m.status == MeetingStatus::Cancelled {
        let reason = m.cancelled.as_ref().map(|r| t(l, r)).unwrap_or_default();
        out.push(Block::Para(format!("{}{sep}{reason}", pick(l, "会议已取消", "The meeting was cancelled"))));
        return out;
    }

    // Attendance
    out.push(Block::H2(pick(l, "出席情况", "Attendance")));
    let present = m.participants.iter().filter(|p| p.attendance == Some(Attendance::Present)).count();
    let proxies = m.participants.iter().filter(|p| matches!(p.attendance, Some(Attendance::Proxy { .. }))).count();
    let absent = m.participants.len() - present - proxies;
    out.push(Block::Para(pick(
        l,
        format!("应到 {} 人，实到 {present} 人，委托 {proxies} 人，缺席 {absent} 人。", m.participants.len()),
        format!("{} invited, {present} present, {proxies} by proxy, {absent} absent.", m.participants.len()),
    )));
    let rows = m
        .participants
        .iter()
        .map(|p| {
            let status = match &p.attendance {
                Some(Attendance::Present) => pick(l, "出席", "present"),
                Some(Attendance::Absent) | None => pick(l, "缺席", "absent"),
                Some(Attendance::Proxy { proxy_to }) => {
                    let to = m.participant(proxy_to).map(|h| name(&h.name)).unwrap_or_else(|| proxy_to.clone());
                    pick(l, format!("委托 {to}"), format!("proxy to {to}"))
                }
            };
            let mut body = t(l, &body_text(&p.body));
            if p.resident_representative {
                body = format!("{body}{}", pick(l, "（居民代表）", " (resident representative)"));
            }
            vec![name(&p.name), body, status]
        })
        .collect();
    out.push(Block::Table(
        vec![pick(l, "姓名", "Name"), pick(l, "代表", "Represents"), pick(l, "出席", "Attendance")],
        rows,
    ));

    // Quorum
    out.push(Block::H2(pick(l, "法定人数", "Quorum")));
    match &m.quorum {
        None => out.push(Block::Para(pick(l, "未确认法定人数。", "Quorum was not established."))),
        Some(q) => {
            let mut lines: Vec<String> = q
                .requirements
                .iter()
                .map(|r| {
                    format!(
                        "{} — {} {}/{}",
                        t(l, &r.description),
                        if r.met { pick(l, "已满足", "met") } else { pick(l, "未满足", "not met") },
                        r.have,
                        r.needed
                    )
                })
                .collect();
            let names: Vec<String> = q
                .voters
                .iter()
                .map(|v| match &v.cast_by {
                    None => name(&v.name),
                    Some(h) => {
                        let h = m.participant(h).map(|p| name(&p.name)).unwrap_or_else(|| h.clone());
                        let v = name(&v.name);
                        pick(l, format!("{v}（由{h}代为表决）"), format!("{v} (vote cast by {h})"))
                    }
                })
                .collect();
            lines.push(pick(
                l,
                format!("{} 确认法定人数，有表决权 {} 人：{}", cst(q.at), q.voters.len(), names.join("、")),
                format!("Established at {}; {} voting members: {}", cst(q.at), q.voters.len(), names.join(", ")),
            ));
            out.push(Block::Bullets(lines));
        }
    }

    // Agenda
    out.push(Block::H2(pick(l, "议程", "Agenda")));
    if m.agenda.is_empty() {
        out.push(Block::Para(pick(l, "无议题。", "No items.")));
    }
    for (i, a) in m.agenda.iter().enumerate() {
        out.push(Block::H3(format!("{}. {} ({})", i + 1, t(l, &a.title), a.issue_id)));
        let mut lines = vec![format!("{}{sep}{}", pick(l, "提议人", "Proposed by"), name(&a.proposer.name))];
        if let Some(f) = &a.follow_up_of {
            lines.push(format!("{}{sep}{f}", pick(l, "跟进行动事项", "Follows up action item")));
        }
        for d in &a.deliberations {
            let mut s = format!("{}{sep}{}", pick(l, "协商情况", "Deliberation"), t(l, &d.summary));
            if !d.speakers.is_empty() {
                let speakers: Vec<String> = d
                    .speakers
                    .iter()
                    .map(|x| match x {
                        Speaker::Name(n) | Speaker::Person { name: Some(n), .. } => name(n),
                        Speaker::Person { person_id, name: None } => {
                            m.participant(person_id).map(|p| name(&p.name)).unwrap_or_else(|| person_id.clone())
                        }
                    })
                    .collect();
                s += &pick(
                    l,
                    format!("（发言：{}）", speakers.join("、")),
                    format!(" (speakers: {})", speakers.join(", ")),
                );
            }
            lines.push(s);
        }
        out.push(Block::Bullets(lines));
        for mo in m.motions.iter().filter(|x| x.issue_id == a.issue_id) {
            let rule = match mo.rule.as_str() {
                "two_thirds" => VotingRule::TwoThirds,
                "consensus" => VotingRule::Consensus,
                _ => VotingRule::Majority,
            };
            let steps: Vec<String> = mo
                .steps
                .iter()
                .map(|s| catalog.get(&s.event_type).map(|e| t(l, &e.label)).unwrap_or_else(|| s.event_type.clone()))
                .collect();
            let mut lines = vec![
                format!("{} {}{sep}{}", pick(l, "动议", "Motion"), mo.motion_id, t(l, &mo.text)),
                format!("{}{sep}{}", pick(l, "动议人", "Moved by"), name(&mo.proposer.name)),
            ];
            if !steps.is_empty() {
                lines.push(format!(
                    "{}{sep}{}",
                    pick(l, "决定采取的步骤", "Steps decided"),
                    steps.join(&pick(l, "、", ", "))
                ));
            }
            let v = &mo.votes;
            let eligible = mo.eligible.map(|e| e.to_string()).unwrap_or_else(|| "—".into());
            lines.push(pick(
                l,
                format!(
                    "表决：赞成 {}，反对 {}，弃权 {}（有表决权 {eligible} 人；规则：{}）",
                    v.yes,
                    v.against,
                    v.abstain,
                    rule.label().zh
                ),
                format!(
                    "Vote: {} for, {} against, {} abstaining ({eligible} voting members; rule: {})",
                    v.yes,
                    v.against,
                    v.abstain,
                    rule.label().en.unwrap_or_default()
                ),
            ));
            let outcome = match mo.status {
                MotionStatus::Carried => pick(l, "通过", "carried"),
                MotionStatus::Failed => pick(l, "未通过", "failed"),
                MotionStatus::Tabled => pick(l, "表决中", "being voted on"),
            };
            let why = mo.explanation.as_ref().map(|e| format!(" — {}", t(l, e))).unwrap_or_default();
            lines.push(format!("{}{sep}{outcome}{why}", pick(l, "结果", "Outcome")));
            out.push(Block::Bullets(lines));
        }
    }

    // Action items
    out.push(Block::H2(pick(l, "行动事项", "Action items")));
    if m.action_items.is_empty() {
        out.push(Block::Para(pick(l, "无。", "None.")));
    } else {
        let rows = m
            .action_items
            .iter()
            .map(|a| {
                let issue = m.agenda_item(&a.issue_id).map(|x| t(l, &x.title)).unwrap_or_else(|| a.issue_id.clone());
                let who = format!("{}（{}）", name(&a.assignee.name), t(l, &body_text(&a.assignee.body)));
                let who = if l == Lang::En { who.replace('（', " (").replace('）', ")") } else { who };
                vec![a.action_item_id.clone(), t(l, &a.task), issue, who, a.due.format("%Y-%m-%d").to_string()]
            })
            .collect();
        out.push(Block::Table(
            vec![
                pick(l, "编号", "Id"),
                pick(l, "事项", "Task"),
                pick(l, "议题", "Issue"),
                pick(l, "负责方", "Owner"),
                pick(l, "完成期限", "Due"),
            ],
            rows,
        ));
    }
    out.push(Block::Para(pick(
        l,
        "本纪要由 convene 根据会议的事件记录自动生成，未经人工录入。",
        "Generated by convene from the meeting's recorded events; nothing in it was typed separately.",
    )));
    out
}

fn md_cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// SHA-256 (hex) of rendered minutes: what MinutesPublished records — of the zh-CN Markdown
/// with personal values in their sealed form ([`Names::sealed_form`]), so anyone can check the
/// minutes against it (`?sealed=true` renders that form) while the digest neither changes
/// when a person is erased nor lets anyone test guesses of an erased name against it.
pub fn digest(text: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// Renders the minutes of `m`, personal values shown by `names` (revealed or erased, or in
/// their sealed form for the digest).
pub fn render(m: &MeetingState, kind: &MeetingKind, lang: Lang, format: Format, names: &Names) -> String {
    let blocks = blocks(m, kind, lang, names);
    let mut s = String::new();
    match format {
        Format::Markdown => {
            for b in blocks {
                match b {
                    Block::H1(x) => s += &format!("# {x}\n\n"),
                    Block::H2(x) => s += &format!("## {x}\n\n"),
                    Block::H3(x) => s += &format!("### {x}\n\n"),
                    Block::Para(x) => s += &format!("{x}\n\n"),
                    Block::Bullets(xs) => {
                        for x in xs {
                            s += &format!("- {x}\n");
                        }
                        s += "\n";
                    }
                    Block::Table(head, rows) => {
                        s += &format!("| {} |\n", head.iter().map(|h| md_cell(h)).collect::<Vec<_>>().join(" | "));
                        s += &format!("|{}\n", "---|".repeat(head.len()));
                        for r in rows {
                            s += &format!("| {} |\n", r.iter().map(|c| md_cell(c)).collect::<Vec<_>>().join(" | "));
                        }
                        s += "\n";
                    }
                }
            }
        }
        Format::Html => {
            let lang_attr = if lang == Lang::Zh { "zh-CN" } else { "en" };
            s += &format!("<!DOCTYPE html>\n<html lang=\"{lang_attr}\">\n<head><meta charset=\"utf-8\"><title>");
            s += &html_escape(&t(lang, &m.title));
            s += "</title></head>\n<body>\n";
            for b in blocks {
                match b {
                    Block::H1(x) => s += &format!("<h1>{}</h1>\n", html_escape(&x)),
                    Block::H2(x) => s += &format!("<h2>{}</h2>\n", html_escape(&x)),
                    Block::H3(x) => s += &format!("<h3>{}</h3>\n", html_escape(&x)),
                    Block::Para(x) => s += &format!("<p>{}</p>\n", html_escape(&x)),
                    Block::Bullets(xs) => {
                        s += "<ul>\n";
                        for x in xs {
                            s += &format!("<li>{}</li>\n", html_escape(&x));
                        }
                        s += "</ul>\n";
                    }
                    Block::Table(head, rows) => {
                        s += "<table>\n<thead><tr>";
                        for h in head {
                            s += &format!("<th>{}</th>", html_escape(&h));
                        }
                        s += "</tr></thead>\n<tbody>\n";
                        for r in rows {
                            s += "<tr>";
                            for c in r {
                                s += &format!("<td>{}</td>", html_escape(&c));
                            }
                            s += "</tr>\n";
                        }
                        s += "</tbody>\n</table>\n";
                    }
                }
            }
            s += "</body>\n</html>\n";
        }
    }
    s
}
