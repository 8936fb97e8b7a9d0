//! Silences and maintenance windows: while one matches, notifications of the
//! rules (and groups) it names are not sent. Rules keep being evaluated, so a
//! condition still true when the silence ends is notified then, and one that
//! cleared during it is resolved quietly. Silences are checked against the
//! wall clock at sending time, not the window's event time.

use chrono::{Datelike, Duration as ChronoDuration, Timelike};

use super::clock::Millis;
use super::config::{DailyWindow, SilenceConfig};

/// The configured silences.
#[derive(Debug, Clone, Default)]
pub struct Silences(Vec<SilenceConfig>);

impl Silences {
    /// Wraps validated silences.
    pub fn new(list: Vec<SilenceConfig>) -> Self {
        Silences(list)
    }

    /// The name of a silence covering `rule`/`group` at `now`, if any.
    pub fn active(&self, rule: &str, group: &str, now: Millis) -> Option<&str> {
        let t = chrono::DateTime::from_timestamp_millis(now)?;
        self.0
            .iter()
            .find(|s| {
                (s.rules.is_empty() || s.rules.iter().any(|r| r == rule))
                    && (s.groups.is_empty() || s.groups.iter().any(|g| g == group))
                    && match (&s.start, &s.end, &s.daily) {
                        (Some(start), Some(end), _) => *start <= t && t < *end,
                        (_, _, Some(d)) => in_daily(d, t),
                        _ => false,
                    }
            })
            .map(|s| s.name.as_str())
    }
}

fn in_daily(d: &DailyWindow, t: chrono::DateTime<chrono::Utc>) -> bool {
    let tod = t.time().with_nanosecond(0).unwrap_or(t.time());
    let day_ok = |day: chrono::Weekday| d.weekdays.is_empty() || d.weekdays.contains(&day);
    if d.start < d.end {
        d.start <= tod && tod < d.end && day_ok(t.weekday())
    } else {
        // Crosses midnight: the part after midnight belongs to the window
        // that started the day before.
        (tod >= d.start && day_ok(t.weekday())) || (tod < d.end && day_ok((t - ChronoDuration::days(1)).weekday()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn silences(yaml: &str) -> Silences {
        Silences::new(serde_yaml::from_str(yaml).unwrap())
    }

    fn at(s: &str) -> Millis {
        chrono::DateTime::parse_from_rfc3339(s).unwrap().timestamp_millis()
    }

    #[test]
    fn one_off_window_is_half_open() {
        let s = silences("[{name: upgrade, rules: [a], start: '2024-03-01T10:00:00Z', end: '2024-03-01T11:00:00Z'}]");
        assert_eq!(s.active("a", "", at("2024-03-01T10:00:00Z")), Some("upgrade"));
        assert_eq!(s.active("a", "", at("2024-03-01T11:00:00Z")), None);
        assert_eq!(s.active("b", "", at("2024-03-01T10:30:00Z")), None);
    }

    #[test]
    fn groups_narrow_a_silence() {
        let s = silences("[{name: m, groups: [checkout], start: '2024-03-01T10:00:00Z', end: '2024-03-01T11:00:00Z'}]");
        assert_eq!(s.active("any", "checkout", at("2024-03-01T10:30:00Z")), Some("m"));
        assert_eq!(s.active("any", "api", at("2024-03-01T10:30:00Z")), None);
    }

    #[test]
    fn daily_window_across_midnight_respects_the_start_day() {
        // Fridays 23:00 → Saturday 01:00. 2024-03-01 is a Friday.
        let s = silences("[{name: backup, daily: {start: '23:00:00', end: '01:00:00', weekdays: [fri]}}]");
        assert_eq!(s.active("r", "", at("2024-03-01T23:30:00Z")), Some("backup"));
        assert_eq!(s.active("r", "", at("2024-03-02T00:30:00Z")), Some("backup"));
        assert_eq!(s.active("r", "", at("2024-03-02T01:00:00Z")), None);
        assert_eq!(
            s.active("r", "", at("2024-03-01T00:30:00Z")),
            None,
            "Thursday night is not covered"
        );
    }

    #[test]
    fn daily_window_every_day() {
        let s = silences("[{name: m, daily: {start: '02:00', end: '03:00'}}]");
        assert_eq!(s.active("r", "", at("2024-03-05T02:59:59Z")), Some("m"));
        assert_eq!(s.active("r", "", at("2024-03-05T03:00:00Z")), None);
    }
}
