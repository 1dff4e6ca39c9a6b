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

/// China Standard Time (UTC+8): how people in the communities read times (stored in UTC).
pub fn china_standard_time() -> chrono::FixedOffset {
    chrono::FixedOffset::east_opt(8 * 3600).expect("cannot fail: +08:00 is within chrono's ±24 h")
}
