//! A [`Timeline`] as people read it: zh-CN or English, Markdown or HTML. Times in China
//! Standard Time with the stored UTC value beside them; role labels zh-CN first with English;
//! everything that came from a payload or an actor is escaped for the target format. Pure.

use super::{Subject, Timeline, TimelineStep};
use crate::meeting::minutes::{Format, Lang};
use crate::text::LocalizedText;
use chrono::{DateTime, SecondsFormat, Utc};

fn t(l: Lang, text: &LocalizedText) -> String {
    match l {
        Lang::Zh => text.zh.clone(),
        Lang::En => text.en.clone().filter(|e| !e.is_empty()).unwrap_or_else(|| text.zh.clone()),
    }
}

fn pick(l: Lang, zh: &str, en: &str) -> String {
    match l {
        Lang::Zh => zh.into(),
        Lang::En => en.into(),
    }
}

/// China Standard Time, to the second.
pub(crate) fn cst(at: DateTime<Utc>) -> String {
    let tz = crate::text::china_standard_time();
    at.with_timezone(&tz).format("%Y-%m-%d %H:%M:%S").to_string()
}

/// The stored value, exactly (microseconds, `Z`).
fn utc(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// The cells of one row, unescaped.
fn row(l: Lang, s: &TimelineStep) -> [String; 7] {
    let who = match &s.actor.name {
        Some(n) if !n.is_empty() => format!("{n} ({})", s.actor.id),
        _ => s.actor.id.clone(),
    };
    let from = s.from.as_ref().map(|f| t(l, &f.title)).unwrap_or_else(|| pick(l, "（开始）", "(start)"));
    [
        s.version.to_string(),
        cst(s.at),
        utc(s.at),
        format!("{} ({})", t(l, &s.step), s.event_type),
        who,
        // zh-CN first with English, in both languages: roles are named in Chinese on site.
        s.role.both(),
        format!("{from} → {}", t(l, &s.to.title)),
    ]
}

fn header(l: Lang) -> [String; 7] {
    [
        pick(l, "版本", "Version"),
        pick(l, "时间（北京时间）", "Time (China Standard Time)"),
        pick(l, "UTC（存储值）", "UTC (stored)"),
        pick(l, "步骤", "Step"),
        pick(l, "记录人", "Recorded by"),
        pick(l, "角色", "Role"),
        pick(l, "状态变化", "State"),
    ]
}

fn heading(tl: &Timeline, l: Lang) -> String {
    let what = match tl.subject {
        Subject::Issue => pick(l, "议题时间线", "Timeline of the issue"),
        Subject::Meeting => pick(l, "会议时间线", "Timeline of the meeting"),
    };
    format!("{} — {what}", t(l, &tl.title))
}

fn facts(tl: &Timeline, l: Lang) -> Vec<String> {
    let sep = pick(l, "：", ": ");
    let def = match tl.subject {
        Subject::Issue => pick(l, "工作流", "Workflow"),
        Subject::Meeting => pick(l, "会议类型", "Kind"),
    };
    vec![
        format!("{}{sep}{}", pick(l, "编号", "Id"), tl.id),
        format!("{}{sep}{}", pick(l, "社区", "Community"), tl.community),
        format!("{def}{sep}{}", tl.definition),
        format!("{}{sep}{}", pick(l, "步骤数", "Steps"), tl.steps.len()),
        pick(
            l,
            "时间为北京时间（UTC+8），旁列为日志中存储的 UTC 值。",
            "Times are China Standard Time (UTC+8); the UTC value stored in the log is shown beside them.",
        ),
    ]
}

/// Markdown: backslash-escapes every character that could start markup (CommonMark allows it
/// before any ASCII punctuation), so a name like `<b>` or `*x*` shows as typed.
fn md(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '#' | '!' | '&' => {
                out.push('\\');
                out.push(c);
            }
            '\r' | '\n' => out.push(' '),
            _ => out.push(c),
        }
    }
    out
}

fn html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// Renders `tl` in `lang` as `format`.
pub fn render(tl: &Timeline, lang: Lang, format: Format) -> String {
    let mut s = String::new();
    match format {
        Format::Markdown => {
            s += &format!("# {}\n\n", md(&heading(tl, lang)));
            for f in facts(tl, lang) {
                s += &format!("- {}\n", md(&f));
            }
            s += "\n";
            let head = header(lang);
            let rule = "---|".repeat(head.len());
            s += &format!("| {} |\n|{rule}\n", head.map(|h| md(&h)).join(" | "));
            for step in &tl.steps {
                s += &format!("| {} |\n", row(lang, step).map(|c| md(&c)).join(" | "));
            }
        }
        Format::Html => {
            let lang_attr = if lang == Lang::Zh { "zh-CN" } else { "en" };
            s += &format!("<!DOCTYPE html>\n<html lang=\"{lang_attr}\">\n<head><meta charset=\"utf-8\"><title>");
            s += &html(&heading(tl, lang));
            s += "</title></head>\n<body>\n";
            s += &format!("<h1>{}</h1>\n<ul>\n", html(&heading(tl, lang)));
            for f in facts(tl, lang) {
                s += &format!("<li>{}</li>\n", html(&f));
            }
            s += "</ul>\n<table>\n<thead><tr>";
            for h in header(lang) {
                s += &format!("<th>{}</th>", html(&h));
            }
            s += "</tr></thead>\n<tbody>\n";
            for step in &tl.steps {
                let [version, cst, utc, rest @ ..] = row(lang, step);
                s += &format!(
                    "<tr><td>{}</td><td><time datetime=\"{}\">{}</time></td><td>{}</td>",
                    html(&version),
                    html(&utc),
                    html(&cst),
                    html(&utc)
                );
                for c in rest {
                    s += &format!("<td>{}</td>", html(&c));
                }
                s += "</tr>\n";
            }
            s += "</tbody>\n</table>\n</body>\n</html>\n";
        }
    }
    s
}
