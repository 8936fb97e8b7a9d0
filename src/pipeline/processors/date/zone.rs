//! Time zones: the processor's `timezone` option, offsets and zone names
//! found in the text, and the conversions between local and UTC seconds.
//!
//! Fixed offsets (the common case: UTC, or an offset written in the log
//! line) are plain integer arithmetic; only IANA zones go through
//! chrono-tz's transition tables.

use std::fmt::Write as _;
use std::str::FromStr;

use chrono::{DateTime, LocalResult, Offset, TimeZone};
use chrono_tz::{OffsetName, Tz};

use super::civil::SECS_PER_DAY;

/// The largest offset java.time accepts, ±18:00.
const MAX_OFFSET_SECS: i32 = 18 * 3600;

/// A time zone to interpret local times in and to print in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Zone {
    Utc,
    /// Seconds east of UTC, never 0 (that is `Utc`).
    Fixed(i32),
    Named(Tz),
}

/// IANA ids that are UTC under another name; mapped to `Zone::Utc` so they
/// take the arithmetic fast path.
const UTC_IDS: &[&str] = &[
    "UTC",
    "Etc/UTC",
    "GMT",
    "Etc/GMT",
    "UCT",
    "Etc/UCT",
    "Universal",
    "Etc/Universal",
    "Zulu",
    "Etc/Zulu",
    "GMT0",
    "Etc/GMT0",
    "GMT+0",
    "Etc/GMT+0",
    "GMT-0",
    "Etc/GMT-0",
    "Greenwich",
    "Etc/Greenwich",
];

/// Zone abbreviations accepted by the `z` pattern letter (and in zone ids
/// found in text), with the fixed offset they stand for. java.time maps an
/// abbreviation such as `PST` to a region and then applies that region's
/// daylight saving time, so `PST` in July becomes -07:00; a log line that
/// says PST means -08:00, so we use the abbreviation's own offset.
const ABBREVIATIONS: &[(&str, i32)] = &[
    ("UTC", 0),
    ("GMT", 0),
    ("UT", 0),
    ("Z", 0),
    ("WET", 0),
    ("WEST", 3600),
    ("BST", 3600),
    ("IST", 19_800),
    ("CET", 3600),
    ("CEST", 7200),
    ("MET", 3600),
    ("MEST", 7200),
    ("EET", 7200),
    ("EEST", 10_800),
    ("MSK", 10_800),
    ("AST", -14_400),
    ("ADT", -10_800),
    ("EST", -18_000),
    ("EDT", -14_400),
    ("CST", -21_600),
    ("CDT", -18_000),
    ("MST", -25_200),
    ("MDT", -21_600),
    ("PST", -28_800),
    ("PDT", -25_200),
    ("AKST", -32_400),
    ("AKDT", -28_800),
    ("HST", -36_000),
    ("NST", -12_600),
    ("NDT", -9_000),
    ("JST", 32_400),
    ("KST", 32_400),
    ("HKT", 28_800),
    ("SGT", 28_800),
    ("AWST", 28_800),
    ("ACST", 34_200),
    ("ACDT", 37_800),
    ("AEST", 36_000),
    ("AEDT", 39_600),
    ("NZST", 43_200),
    ("NZDT", 46_800),
];

impl Zone {
    /// A fixed offset in seconds east of UTC.
    pub fn fixed(secs: i32) -> Zone {
        if secs == 0 { Zone::Utc } else { Zone::Fixed(secs) }
    }

    fn named(tz: Tz) -> Zone {
        if UTC_IDS.contains(&tz.name()) {
            Zone::Utc
        } else {
            Zone::Named(tz)
        }
    }

    /// Parses the `timezone` option the way java.time's `ZoneId.of` reads
    /// it: `UTC`, `Z`, offsets (`+01:00`, `-0200`, `+1`, `UTC+01:00`) and
    /// IANA ids (`Europe/Berlin`; matched case-insensitively as a fallback).
    pub fn parse(raw: &str) -> Result<Zone, String> {
        let s = raw.trim();
        if s.is_empty() {
            return Err("time zone is empty".to_owned());
        }
        if let Some((offset, n)) = parse_offset(s.as_bytes())
            && n == s.len()
        {
            return Ok(Zone::fixed(offset));
        }
        if let Ok(tz) = Tz::from_str(s) {
            return Ok(Zone::named(tz));
        }
        if let Some(tz) = chrono_tz::TZ_VARIANTS
            .iter()
            .find(|tz| tz.name().eq_ignore_ascii_case(s))
        {
            return Ok(Zone::named(*tz));
        }
        Err(format!(
            "unknown time zone `{raw}`: use an IANA name such as `Europe/Berlin`, an offset such as `+01:00`, or `UTC`"
        ))
    }

    /// Offset east of UTC, in seconds, at the UTC instant `secs`.
    pub fn offset_at_utc(&self, secs: i64) -> i32 {
        match self {
            Zone::Utc => 0,
            Zone::Fixed(o) => *o,
            Zone::Named(tz) => DateTime::from_timestamp(secs, 0).map_or(0, |dt| {
                tz.offset_from_utc_datetime(&dt.naive_utc()).fix().local_minus_utc()
            }),
        }
    }

    /// UTC seconds of a local wall-clock time (in seconds since the local
    /// epoch). Like java.time: in an overlap (clocks going back) the earlier
    /// instant wins; in a gap (clocks going forward) the time is moved
    /// forward by the length of the gap.
    pub fn local_to_utc(&self, local: i64) -> i64 {
        let tz = match self {
            Zone::Utc => return local,
            Zone::Fixed(o) => return local - i64::from(*o),
            Zone::Named(tz) => tz,
        };
        let Some(naive) = DateTime::from_timestamp(local, 0).map(|d| d.naive_utc()) else {
            return local;
        };
        let offset = match tz.offset_from_local_datetime(&naive) {
            LocalResult::Single(o) => o.fix().local_minus_utc(),
            LocalResult::Ambiguous(a, b) => a.fix().local_minus_utc().max(b.fix().local_minus_utc()),
            // The offset in force before the gap: a day earlier is before it.
            LocalResult::None => self.offset_at_utc(local - SECS_PER_DAY),
        };
        local - i64::from(offset)
    }

    /// Writes the zone id (`Europe/Berlin`, `+01:00`, `UTC`).
    pub fn write_id(&self, out: &mut String) {
        match self {
            Zone::Utc => out.push_str("UTC"),
            Zone::Fixed(o) => write_offset_colon(out, *o),
            Zone::Named(tz) => out.push_str(tz.name()),
        }
    }

    /// Writes the zone abbreviation in force at `utc_secs` (`CET`, `CEST`),
    /// or the offset when the zone has none.
    pub fn write_abbreviation(&self, out: &mut String, utc_secs: i64) {
        match self {
            Zone::Utc => out.push_str("UTC"),
            Zone::Fixed(o) => write_offset_colon(out, *o),
            Zone::Named(tz) => {
                let Some(dt) = DateTime::from_timestamp(utc_secs, 0) else {
                    return;
                };
                let offset = tz.offset_from_utc_datetime(&dt.naive_utc());
                match offset.abbreviation() {
                    // tzdata writes numeric abbreviations such as `+03` for
                    // zones without a customary one; print those as offsets.
                    Some(a) if a.bytes().all(|b| b.is_ascii_alphabetic()) => out.push_str(a),
                    _ => write_offset_colon(out, offset.fix().local_minus_utc()),
                }
            }
        }
    }
}

/// `+01:00`, with seconds only when present.
fn write_offset_colon(out: &mut String, secs: i32) {
    let sign = if secs < 0 { '-' } else { '+' };
    let a = secs.unsigned_abs();
    let _ = write!(out, "{sign}{:02}:{:02}", a / 3600, a / 60 % 60);
    if !a.is_multiple_of(60) {
        let _ = write!(out, ":{:02}", a % 60);
    }
}

fn starts_with_ci(b: &[u8], prefix: &str) -> bool {
    b.get(..prefix.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(prefix.as_bytes()))
}

fn two_digits(b: &[u8], i: usize) -> Option<i32> {
    match (b.get(i), b.get(i + 1)) {
        (Some(x @ b'0'..=b'9'), Some(y @ b'0'..=b'9')) => Some(i32::from(x - b'0') * 10 + i32::from(y - b'0')),
        _ => None,
    }
}

fn is_id_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'/' | b'_' | b'-' | b'+')
}

/// Reads an offset at the start of `b`, leniently: `Z`, `+01`, `+1`,
/// `+0100`, `+01:00`, `+01:00:00`, each optionally prefixed with `GMT`,
/// `UTC` or `UT`, and a bare `GMT`/`UTC`/`UT`. Returns the offset in
/// seconds east and the bytes consumed.
pub fn parse_offset(b: &[u8]) -> Option<(i32, usize)> {
    let letter_follows = |i: usize| b.get(i).is_some_and(u8::is_ascii_alphanumeric);
    if b.first() == Some(&b'Z') {
        return (!letter_follows(1)).then_some((0, 1));
    }
    let mut i = if starts_with_ci(b, "GMT") || starts_with_ci(b, "UTC") {
        3
    } else if starts_with_ci(b, "UT") {
        2
    } else {
        0
    };
    let sign = match b.get(i) {
        Some(b'+') => 1,
        Some(b'-') => -1,
        _ if i > 0 && !letter_follows(i) => return Some((0, i)),
        _ => return None,
    };
    i += 1;
    let hours = if let Some(h) = two_digits(b, i) {
        i += 2;
        h
    } else {
        match b.get(i) {
            Some(d @ b'0'..=b'9') => {
                i += 1;
                i32::from(d - b'0')
            }
            _ => return None,
        }
    };
    let mut minutes = 0;
    let mut seconds = 0;
    if b.get(i) == Some(&b':') {
        if let Some(m) = two_digits(b, i + 1) {
            minutes = m;
            i += 3;
            if b.get(i) == Some(&b':')
                && let Some(s) = two_digits(b, i + 1)
            {
                seconds = s;
                i += 3;
            }
        }
    } else if let Some(m) = two_digits(b, i) {
        minutes = m;
        i += 2;
        if let Some(s) = two_digits(b, i) {
            seconds = s;
            i += 2;
        }
    }
    let total = hours * 3600 + minutes * 60 + seconds;
    if hours > 18 || minutes > 59 || seconds > 59 || total > MAX_OFFSET_SECS {
        return None;
    }
    Some((sign * total, i))
}

/// Reads a zone at the start of `s`: an offset (see [`parse_offset`]), an
/// abbreviation such as `CET` or `PST`, or an IANA id such as
/// `Europe/Berlin` (exact case, to keep the per-record cost bounded).
pub fn parse_zone(s: &str) -> Option<(Zone, usize)> {
    let b = s.as_bytes();
    if let Some((offset, n)) = parse_offset(b)
        && !b.get(n).is_some_and(|&c| is_id_byte(c))
    {
        return Some((Zone::fixed(offset), n));
    }
    let n = b.iter().position(|&c| !is_id_byte(c)).unwrap_or(b.len());
    let token = s.get(..n).filter(|t| !t.is_empty())?;
    if let Some((_, offset)) = ABBREVIATIONS.iter().find(|(a, _)| a.eq_ignore_ascii_case(token)) {
        return Some((Zone::fixed(*offset), n));
    }
    Tz::from_str(token).ok().map(|tz| (Zone::named(tz), n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_timezone_option() {
        assert_eq!(Zone::parse("UTC"), Ok(Zone::Utc));
        assert_eq!(Zone::parse("Z"), Ok(Zone::Utc));
        assert_eq!(Zone::parse("Etc/UTC"), Ok(Zone::Utc));
        assert_eq!(Zone::parse("+00:00"), Ok(Zone::Utc));
        assert_eq!(Zone::parse("+01:00"), Ok(Zone::Fixed(3600)));
        assert_eq!(Zone::parse("-02:00"), Ok(Zone::Fixed(-7200)));
        assert_eq!(Zone::parse("-0230"), Ok(Zone::Fixed(-9000)));
        assert_eq!(Zone::parse("+5"), Ok(Zone::Fixed(18_000)));
        assert_eq!(Zone::parse("UTC+01:00"), Ok(Zone::Fixed(3600)));
        assert_eq!(Zone::parse("GMT-3"), Ok(Zone::Fixed(-10_800)));
        assert_eq!(Zone::parse("Asia/Shanghai"), Ok(Zone::Named(Tz::Asia__Shanghai)));
        assert_eq!(Zone::parse(" Europe/Berlin "), Ok(Zone::Named(Tz::Europe__Berlin)));
        assert_eq!(Zone::parse("europe/berlin"), Ok(Zone::Named(Tz::Europe__Berlin)));
        for bad in ["", "Mars/Olympus", "+19:00", "+01:70", "01:00", "UTC+", "+01:00x"] {
            let e = Zone::parse(bad).unwrap_err();
            assert!(e.contains("time zone"), "{bad}: {e}");
        }
    }

    #[test]
    fn parses_offsets_in_text() {
        assert_eq!(parse_offset(b"Z"), Some((0, 1)));
        assert_eq!(parse_offset(b"Zulu"), None);
        assert_eq!(parse_offset(b"+0100]"), Some((3600, 5)));
        assert_eq!(parse_offset(b"+01:00"), Some((3600, 6)));
        assert_eq!(parse_offset(b"-05:30:15"), Some((-19_815, 9)));
        assert_eq!(parse_offset(b"+01 "), Some((3600, 3)));
        assert_eq!(parse_offset(b"GMT+02:00"), Some((7200, 9)));
        assert_eq!(parse_offset(b"UTC"), Some((0, 3)));
        assert_eq!(parse_offset(b"UTCX"), None);
        assert_eq!(parse_offset(b"+"), None);
        assert_eq!(parse_offset(b"+25:00"), None);
        assert_eq!(parse_offset(b"CET"), None);
        assert_eq!(parse_offset(b""), None);
    }

    #[test]
    fn parses_zones_in_text() {
        assert_eq!(parse_zone("CEST 2016"), Some((Zone::Fixed(7200), 4)));
        assert_eq!(parse_zone("pst"), Some((Zone::Fixed(-28_800), 3)));
        assert_eq!(parse_zone("Europe/Paris)"), Some((Zone::Named(Tz::Europe__Paris), 12)));
        assert_eq!(parse_zone("+01:00"), Some((Zone::Fixed(3600), 6)));
        assert_eq!(parse_zone("UTC"), Some((Zone::Utc, 3)));
        assert_eq!(parse_zone("Etc/GMT+1"), Some((Zone::Named(Tz::Etc__GMTPlus1), 9)));
        assert_eq!(parse_zone("Nowhere/Land"), None);
        assert_eq!(parse_zone(" CET"), None);
    }

    #[test]
    fn converts_local_times_across_dst() {
        let berlin = Zone::Named(Tz::Europe__Berlin);
        // 2016-07-01T12:00:00 local is 10:00Z (CEST, +02:00).
        let local = 1_467_374_400;
        assert_eq!(berlin.local_to_utc(local), local - 7200);
        assert_eq!(berlin.offset_at_utc(local - 7200), 7200);
        // 2016-10-30T02:30 happens twice; java.time picks the earlier (+02:00).
        let overlap = 1_477_794_600;
        assert_eq!(berlin.local_to_utc(overlap), overlap - 7200);
        // 2016-03-27T02:30 does not exist; it becomes 03:30 CEST = 01:30Z.
        let gap = 1_459_045_800;
        assert_eq!(berlin.local_to_utc(gap), gap - 3600);
        assert_eq!(Zone::Fixed(-7200).local_to_utc(0), 7200);
    }

    #[test]
    fn writes_ids_and_abbreviations() {
        let mut s = String::new();
        Zone::Named(Tz::Europe__Berlin).write_id(&mut s);
        s.push(' ');
        Zone::Named(Tz::Europe__Berlin).write_abbreviation(&mut s, 1_467_374_400);
        s.push(' ');
        Zone::Fixed(-9000).write_id(&mut s);
        s.push(' ');
        Zone::Utc.write_abbreviation(&mut s, 0);
        s.push(' ');
        // Asia/Dubai has no letter abbreviation in tzdata, only `+04`.
        Zone::Named(Tz::Asia__Dubai).write_abbreviation(&mut s, 0);
        assert_eq!(s, "Europe/Berlin CEST -02:30 UTC +04:00");
    }
}
