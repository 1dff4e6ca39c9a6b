//! Localized user-facing text: zh-CN first, English beside it.

use serde::{Deserialize, Serialize};

/// A text in Simplified Chinese (always present) and optionally English.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct LocalizedText {
    #[serde(rename = "zh-CN")]
    pub zh: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub en: Option<String>,
}

impl LocalizedText {
    pub fn new(zh: impl Into<String>, en: impl Into<String>) -> Self {
        Self { zh: zh.into(), en: Some(en.into()) }
    }

    /// "中文 / English", the form used in CLI output and error details.
    pub fn both(&self) -> String {
        match &self.en {
            Some(en) if !en.is_empty() => format!("{} / {}", self.zh, en),
            _ => self.zh.clone(),
        }
    }
}

/// A bound of a period as people give it: a bare date is a day in China Standard Time, taken
/// from its start, or, as the period's `end`, through its end (the next day's start); else an
/// RFC 3339 time as it is.
pub fn period_bound(s: &str, end: bool) -> Result<chrono::DateTime<chrono::Utc>, String> {
    if let Ok(d) = s.parse::<chrono::NaiveDate>() {
        let day = if end { d.succ_opt().ok_or("date out of range")? } else { d };
        return day
            .and_hms_opt(0, 0, 0)
            .and_then(|t| t.and_local_timezone(china_standard_time()).single())
            .map(|t| t.to_utc())
            .ok_or_else(|| "date out of range".into());
    }
    chrono::DateTime::parse_from_rfc3339(s).map(|t| t.to_utc()).map_err(|e| e.to_string())
}

/// China Standard Time (UTC+8): how people in the communities read times (stored in UTC).
pub fn china_standard_time() -> chrono::FixedOffset {
    chrono::FixedOffset::east_opt(8 * 3600).expect("cannot fail: +08:00 is within chrono's ±24 h")
}

#[cfg(test)]
mod period_tests {
    use super::period_bound;

    #[test]
    fn a_date_is_a_day_in_china_standard_time_and_an_end_date_includes_its_day() {
        assert_eq!(period_bound("2026-11-23", false).unwrap().to_rfc3339(), "2026-11-22T16:00:00+00:00");
        assert_eq!(period_bound("2026-11-23", true).unwrap().to_rfc3339(), "2026-11-23T16:00:00+00:00");
        assert_eq!(period_bound("2026-11-23T10:00:00+08:00", true).unwrap().to_rfc3339(), "2026-11-23T02:00:00+00:00");
        assert!(period_bound("yesterday", false).is_err());
    }
}
