//! Verification of a log: per-stream hash chains, gap-free positions, non-decreasing recorded
//! times, and the checkpoint series against every signed checkpoint. Pure: fed events in
//! global order, it returns a report; reading the store or a file is the caller's business.

use super::checkpoint::{CHECKPOINT_EVENT, CHECKPOINT_STREAM, Checkpoint};
use super::series::SeriesHead;
use crate::event::{GENESIS_HASH, RecordedEvent, canonical_json};
use chrono::{DateTime, Utc};
use ed25519_dalek::VerifyingKey;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// One finding, located by stream, version and position as far as the evidence allows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Break {
    /// `altered`, `not_canonical`, `broken_link`, `version_gap`, `position_gap`,
    /// `time_reversed`, `checkpoint_mismatch`, `checkpoint_signature`, `truncated`,
    /// `unreadable`.
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position: Option<u64>,
    /// zh-CN / English.
    pub message: String,
}

/// The result of a verification.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub ok: bool,
    pub events: u64,
    pub streams: usize,
    /// The last global position read.
    pub head_position: u64,
    /// Series head at `head_position` (hex).
    pub series_head: String,
    /// Signed checkpoints found and checked.
    pub checkpoints: usize,
    /// The highest position a valid signed checkpoint covers (0: none).
    pub signed_through: u64,
    /// Events after `signed_through`, not counting checkpoint events themselves: covered by
    /// their stream chains only until the next checkpoint.
    pub unsigned_tail: u64,
    /// The earliest problem in global order.
    pub first_break: Option<Break>,
    pub breaks: Vec<Break>,
}

/// Incremental verifier. Feed every event in global order, then [`Verifier::finish`].
pub struct Verifier {
    key: Option<VerifyingKey>,
    /// Claimed series heads by position (from checkpoints in the log and from outside).
    claims: BTreeMap<u64, Vec<(Checkpoint, &'static str)>>,
    streams: HashMap<String, (u64, String)>,
    series: SeriesHead,
    last_time: Option<(DateTime<Utc>, u64, String, u64)>,
    events: u64,
    checkpoints: usize,
    signed_through: u64,
    tail: u64,
    breaks: Vec<Break>,
}

fn brk(
    kind: &'static str,
    stream: Option<&str>,
    version: Option<u64>,
    position: Option<u64>,
    zh: String,
    en: String,
) -> Break {
    Break { kind, stream: stream.map(str::to_string), version, position, message: format!("{zh} / {en}") }
}

impl Verifier {
    /// `key`: the public key checkpoints must be signed with (None: checkpoint signatures are
    /// not checked, only their heads). `log_checkpoints`: every `AuditCheckpoint` payload of
    /// the log, read beforehand; `anchor`: a checkpoint kept outside the log (the server's
    /// anchor file or the one an auditor holds), which is how a truncated tail is found.
    pub fn new(key: Option<VerifyingKey>, log_checkpoints: Vec<Checkpoint>, anchor: Option<Checkpoint>) -> Verifier {
        let mut v = Verifier {
            key,
            claims: BTreeMap::new(),
            streams: HashMap::new(),
            series: SeriesHead::default(),
            last_time: None,
            events: 0,
            checkpoints: 0,
            signed_through: 0,
            tail: 0,
            breaks: Vec::new(),
        };
        for (cp, source) in log_checkpoints.into_iter().map(|c| (c, "log")).chain(anchor.map(|c| (c, "anchor"))) {
            if let Some(k) = &v.key
                && let Err(e) = cp.verify(k)
            {
                v.breaks.push(brk(
                    "checkpoint_signature",
                    Some(&cp.stream),
                    Some(cp.version),
                    Some(cp.position),
                    format!("检查点（{source}）签名无效：{e}"),
                    format!("checkpoint ({source}) does not verify: {e}"),
                ));
                continue;
            }
            v.claims.entry(cp.position).or_default().push((cp, source));
        }
        v
    }

    /// Takes one event, in global order.
    pub fn feed(&mut self, e: &RecordedEvent) {
        self.events += 1;
        let s = Some(e.stream.as_str());
        let expected_position = self.series.position + 1;
        if e.position != expected_position {
            let (zh, en) = if e.position > expected_position {
                (
                    format!("全局位置 {expected_position}..{} 缺失（事件被删除）", e.position - 1),
                    format!("global positions {expected_position}..{} are missing (deleted)", e.position - 1),
                )
            } else {
                (
                    format!("全局位置 {} 出现在 {expected_position} 之后（插入或重排）", e.position),
                    format!("global position {} follows {} (inserted or reordered)", e.position, expected_position - 1),
                )
            };
            self.breaks.push(brk("position_gap", s, Some(e.version), Some(expected_position), zh, en));
        }
        if let Some((t, p, st, ver)) = &self.last_time
            && e.recorded_at < *t
        {
            self.breaks.push(brk(
                "time_reversed",
                Some(st),
                Some(*ver),
                Some(*p),
                format!("位置 {p} 的记录时间晚于其后的位置 {}（顺序被改动）", e.position),
                format!("position {p} was recorded after the next position {} (order changed)", e.position),
            ));
        }
        self.last_time = Some((e.recorded_at, e.position, e.stream.clone(), e.version));
        self.check_chain(e);
        let hash: [u8; 32] = hex::decode(&e.hash).ok().and_then(|b| b.try_into().ok()).unwrap_or([0u8; 32]);
        self.series = self.series.next(e.position, &e.stream, e.version, &hash);
        if let Some(claims) = self.claims.remove(&e.position) {
            for (cp, source) in claims {
                self.check_claim(&cp, source, e);
            }
        }
        if e.stream == CHECKPOINT_STREAM && e.event_type == CHECKPOINT_EVENT {
            self.checkpoints += 1;
        } else if e.position > self.signed_through {
            self.tail += 1;
        }
    }

    /// Checks one event against its stream's chain only.
    pub fn check_chain(&mut self, e: &RecordedEvent) {
        let s = Some(e.stream.as_str());
        let (expected_version, prev) = match self.streams.get(&e.stream) {
            Some((v, h)) => (v + 1, h.as_str()),
            None => (0, GENESIS_HASH),
        };
        let p = Some(e.position);
        if e.version != expected_version {
            self.breaks.push(brk(
                "version_gap",
                s,
                Some(expected_version),
                p,
                format!("流 {} 在位置 {} 应为版本 {expected_version}，实为 {}", e.stream, e.position, e.version),
                format!(
                    "stream {} expected version {expected_version} at position {}, found {}",
                    e.stream, e.position, e.version
                ),
            ));
        } else if e.prev_hash != prev {
            self.breaks.push(brk(
                "broken_link",
                s,
                Some(e.version),
                p,
                format!("流 {} 版本 {} 未链接到前一事件", e.stream, e.version),
                format!("stream {} version {} does not link to the previous event", e.stream, e.version),
            ));
        }
        let canonical = serde_json::from_str::<serde_json::Value>(e.data.get())
            .map(|v| canonical_json(&v).get() == e.data.get())
            .unwrap_or(false);
        if !canonical {
            self.breaks.push(brk(
                "not_canonical",
                s,
                Some(e.version),
                p,
                format!("流 {} 版本 {} 的内容不是规范 JSON（被改动）", e.stream, e.version),
                format!("stream {} version {}: payload is not canonical JSON (altered)", e.stream, e.version),
            ));
        } else if e.computed_hash() != e.hash {
            self.breaks.push(brk(
                "altered",
                s,
                Some(e.version),
                p,
                format!("流 {} 版本 {}（位置 {}）的内容与其哈希不符（被篡改）", e.stream, e.version, e.position),
                format!(
                    "stream {} version {} (position {}): content does not match its hash (altered)",
                    e.stream, e.version, e.position
                ),
            ));
        }
        self.streams.insert(e.stream.clone(), (e.version, e.hash.clone()));
    }

    fn check_claim(&mut self, cp: &Checkpoint, source: &'static str, e: &RecordedEvent) {
        if cp.head == self.series.head_hex() && cp.stream == e.stream && cp.version == e.version {
            if self.key.is_some() && cp.position > self.signed_through {
                self.signed_through = cp.position;
                self.tail = 0;
            }
            return;
        }
        self.breaks.push(brk(
            "checkpoint_mismatch",
            Some(&cp.stream),
            Some(cp.version),
            Some(cp.position),
            format!(
                "签名检查点（{source}，{}）与位置 {} 之前的日志不符：事件被删除、插入或重排",
                cp.signed_at, cp.position
            ),
            format!(
                "signed checkpoint ({source}, {}) does not match the log up to position {}: events were deleted, inserted or reordered",
                cp.signed_at, cp.position
            ),
        ));
    }

    /// Reports a line or record that could not be read at all (files).
    pub fn unreadable(&mut self, line: u64, why: String) {
        self.breaks.push(brk(
            "unreadable",
            None,
            None,
            None,
            format!("第 {line} 行无法读取：{why}"),
            format!("line {line} cannot be read: {why}"),
        ));
    }

    pub fn series(&self) -> SeriesHead {
        self.series
    }

    pub fn is_clean(&self) -> bool {
        self.breaks.is_empty()
    }

    /// Checkpoints beyond the end of the log mean its tail was cut off.
    pub fn finish(mut self) -> Report {
        let last = self.series.position;
        let pending: Vec<(Checkpoint, &'static str)> =
            std::mem::take(&mut self.claims).into_values().flatten().collect();
        for (cp, source) in pending {
            self.breaks.push(brk(
                "truncated",
                Some(&cp.stream),
                Some(cp.version),
                Some(last + 1),
                format!(
                    "日志止于位置 {last}，但签名检查点（{source}）覆盖到位置 {}（流 {} 版本 {}）：尾部被截断",
                    cp.position, cp.stream, cp.version
                ),
                format!(
                    "the log ends at position {last} but a signed checkpoint ({source}) covers position {} (stream {} version {}): the tail was cut off",
                    cp.position, cp.stream, cp.version
                ),
            ));
        }
        let first_break = self.breaks.iter().min_by_key(|b| b.position.unwrap_or(u64::MAX)).cloned();
        Report {
            ok: self.breaks.is_empty(),
            events: self.events,
            streams: self.streams.len(),
            head_position: last,
            series_head: self.series.head_hex(),
            checkpoints: self.checkpoints,
            signed_through: self.signed_through,
            unsigned_tail: self.tail,
            first_break,
            breaks: self.breaks,
        }
    }
}
