//! ISO 8601 durations for state deadlines (`P7D`, `P1M`, `PT12H`).
//!
//! Written here rather than taken from a crate: the grammar is a dozen lines, and we need
//! calendar-aware months/years added to a UTC instant, which the small duration crates
//! model as fixed seconds.

use chrono::{DateTime, Duration, Months, Utc};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IsoDuration {
    pub years: u32,
    pub months: u32,
    pub weeks: u32,
    pub days: u32,
    pub hours: u32,
    pub minutes: u32,
    pub seconds: u32,
}

/// Parses `PnYnMnWnDTnHnMnS` (each part optional, at least one present).
pub fn parse_duration(s: &str) -> Option<IsoDuration> {
    let rest = s.strip_prefix('P')?;
    let (date, time) = match rest.split_once('T') {
        Some((d, t)) if !t.is_empty() => (d, Some(t)),
        Some(_) => return None,
        None => (rest, None),
    };
    let mut d = IsoDuration::default();
    let mut any = false;
    let mut parse_part = |part: &str, units: &[char], time: bool| -> Option<()> {
        let mut num = String::new();
        let mut last_unit = 0usize;
        for c in part.chars() {
            if c.is_ascii_digit() {
                num.push(c);
                continue;
            }
            let idx = units.iter().position(|u| *u == c)?;
            if num.is_empty() || idx < last_unit {
                return None;
            }
            last_unit = idx + 1;
            let n: u32 = num.parse().ok()?;
            num.clear();
            any = true;
            match (time, c) {
                (false, 'Y') => d.years = n,
                (false, 'M') => d.months = n,
                (false, 'W') => d.weeks = n,
                (false, 'D') => d.days = n,
                (true, 'H') => d.hours = n,
                (true, 'M') => d.minutes = n,
                (true, 'S') => d.seconds = n,
                _ => return None,
            }
        }
        if num.is_empty() { Some(()) } else { None }
    };
    parse_part(date, &['Y', 'M', 'W', 'D'], false)?;
    if let Some(t) = time {
        parse_part(t, &['H', 'M', 'S'], true)?;
    }
    any.then_some(d)
}

impl IsoDuration {
    /// `start + self`, with calendar months and years.
    pub fn add_to(&self, start: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let months = self.years.checked_mul(12)?.checked_add(self.months)?;
        let t = start.checked_add_months(Months::new(months))?;
        let secs = i64::from(self.weeks) * 7 * 86_400
            + i64::from(self.days) * 86_400
            + i64::from(self.hours) * 3_600
            + i64::from(self.minutes) * 60
            + i64::from(self.seconds);
        t.checked_add_signed(Duration::seconds(secs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_usual_forms() {
        assert_eq!(parse_duration("P7D").map(|d| d.days), Some(7));
        assert_eq!(parse_duration("PT12H").map(|d| d.hours), Some(12));
        let d = parse_duration("P1Y2M3W4DT5H6M7S").unwrap();
        assert_eq!((d.years, d.months, d.weeks, d.days, d.hours, d.minutes, d.seconds), (1, 2, 3, 4, 5, 6, 7));
    }

    #[test]
    fn rejects_malformed() {
        for s in ["", "P", "7D", "P1DT", "PD", "P1H", "P1D2Y", "PT1D", "P-1D"] {
            assert_eq!(parse_duration(s), None, "{s}");
        }
    }

    #[test]
    fn months_are_calendar_months() {
        let start: DateTime<Utc> = "2026-01-31T00:00:00Z".parse().unwrap();
        let end = parse_duration("P1M").unwrap().add_to(start).unwrap();
        assert_eq!(end.to_rfc3339(), "2026-02-28T00:00:00+00:00");
    }
}
