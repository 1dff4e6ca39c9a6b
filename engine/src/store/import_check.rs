//! The checks every backend's `import` makes before it writes an event (`convene migrate`):
//! the event continues the log (the next position, recorded no earlier than the log's last
//! event) and its stream (the next version, `prev_hash` equal to the stream head's hash), and
//! carries the hash its content computes to. Pure: the caller reads the heads.

use super::{StoreError, validate_stream_name};
use crate::event::{GENESIS_HASH, RecordedEvent};
use chrono::{DateTime, Utc};
use std::collections::HashMap;

/// The refusal of `e`, naming its position, stream and version.
pub(crate) fn refused(e: &RecordedEvent, why: impl std::fmt::Display) -> StoreError {
    StoreError::Invalid(format!("import refused at position {} ({} v{}): {why}", e.position, e.stream, e.version))
}

/// Checks that `e` continues a log whose last position is `position` and last recorded time
/// `last_time`, and a stream whose last (version, hash) is `head` (`None`: a new stream).
pub(crate) fn check_next(
    e: &RecordedEvent,
    position: u64,
    last_time: Option<DateTime<Utc>>,
    head: Option<(u64, &str)>,
) -> Result<(), StoreError> {
    if e.position != position + 1 {
        return Err(refused(e, format_args!("the log is at position {position}; expected {}", position + 1)));
    }
    validate_stream_name(&e.stream)?;
    let (expected_version, expected_prev) = match head {
        Some((v, h)) => (v + 1, h),
        None => (0, GENESIS_HASH),
    };
    if e.version != expected_version {
        return Err(refused(e, format_args!("the stream is at version {}", expected_version as i64 - 1)));
    }
    if e.prev_hash != expected_prev {
        return Err(refused(e, "prev_hash does not link to the stream's last event"));
    }
    if e.computed_hash() != e.hash {
        return Err(refused(e, "content does not match its hash"));
    }
    if last_time.is_some_and(|t| e.recorded_at < t) {
        return Err(refused(e, "recorded before the log's last event"));
    }
    Ok(())
}

/// Checks a whole page against the log's last position and time and the heads of its streams
/// (`heads`: every existing stream the page touches; absent = new), moving the heads along.
pub(crate) fn check_page(
    events: &[RecordedEvent],
    mut position: u64,
    mut last_time: Option<DateTime<Utc>>,
    heads: &mut HashMap<String, (u64, String)>,
) -> Result<(), StoreError> {
    for e in events {
        check_next(e, position, last_time, heads.get(&e.stream).map(|(v, h)| (*v, h.as_str())))?;
        heads.insert(e.stream.clone(), (e.version, e.hash.clone()));
        position = e.position;
        last_time = Some(e.recorded_at);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Actor, Payload};
    use uuid::Uuid;

    /// A chained log: streams `a`, `b`, `a`, `a`, `b`, one second apart.
    fn log() -> Vec<RecordedEvent> {
        let t0 = DateTime::<Utc>::from_timestamp(1_700_000_000, 0).expect("cannot fail: a valid timestamp");
        let mut heads: HashMap<&str, (u64, String)> = HashMap::new();
        let mut out = Vec::new();
        for (i, stream) in ["a", "b", "a", "a", "b"].into_iter().enumerate() {
            let (version, prev_hash) =
                heads.get(stream).map_or((0, GENESIS_HASH.to_string()), |(v, h)| (v + 1, h.clone()));
            let mut e = RecordedEvent {
                id: Uuid::now_v7(),
                stream: stream.into(),
                version,
                position: i as u64 + 1,
                event_type: "IssueRaised".into(),
                schema_version: 1,
                recorded_at: t0 + chrono::Duration::seconds(i as i64),
                actor: Actor { id: "r1".into(), role: "resident".into(), name: None, community: None },
                correlation_id: None,
                causation_id: None,
                data: Payload::trusted(format!("{{\"n\":{i}}}")),
                prev_hash,
                hash: String::new(),
            };
            e.hash = e.computed_hash();
            heads.insert(stream, (version, e.hash.clone()));
            out.push(e);
        }
        out
    }

    fn check(events: &[RecordedEvent]) -> Result<(), StoreError> {
        check_page(events, 0, None, &mut HashMap::new())
    }

    fn refusal(r: Result<(), StoreError>) -> String {
        match r {
            Err(StoreError::Invalid(m)) => m,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn a_chained_log_passes_and_moves_the_heads() {
        let log = log();
        let mut heads = HashMap::new();
        check_page(&log, 0, None, &mut heads).expect("a chained log");
        assert_eq!(heads["a"], (2, log[3].hash.clone()));
        assert_eq!(heads["b"], (1, log[4].hash.clone()));
        // The rest continues from those heads.
        check_page(
            &log[3..],
            3,
            Some(log[2].recorded_at),
            &mut HashMap::from([
                ("a".to_string(), (1, log[2].hash.clone())),
                ("b".to_string(), (0, log[1].hash.clone())),
            ]),
        )
        .expect("a continued log");
    }

    #[test]
    fn each_break_is_refused_naming_position_stream_and_version() {
        let log = log();
        let m = refusal(check(&log[1..]));
        assert!(m.contains("position 2 (b v0)") && m.contains("expected 1"), "{m}");
        let mut gap = log.clone();
        gap.remove(2);
        assert!(refusal(check(&gap)).contains("position 4 (a v2)"));
        // A new stream must start at version 0; an existing one continues its head.
        let m = refusal(check_page(&log[2..3], 2, None, &mut HashMap::new()));
        assert!(m.contains("position 3 (a v1)") && m.contains("the stream is at version -1"), "{m}");
        let mut relinked = log.clone();
        relinked[2].prev_hash = relinked[1].hash.clone();
        assert!(refusal(check(&relinked)).contains("prev_hash does not link"));
        let mut altered = log.clone();
        altered[3].actor.role = "tampered".into();
        assert!(refusal(check(&altered)).contains("position 4 (a v2): content does not match its hash"));
        let m = refusal(check_page(&log[..1], 0, Some(log[1].recorded_at), &mut HashMap::new()));
        assert!(m.contains("recorded before the log's last event"), "{m}");
        let mut bad_name = log[..1].to_vec();
        bad_name[0].stream = "a b".into();
        assert!(refusal(check(&bad_name)).contains("bad stream name"));
    }
}
