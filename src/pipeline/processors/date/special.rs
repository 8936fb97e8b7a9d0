//! The four formats ES names in capitals: `ISO8601`, `UNIX`, `UNIX_MS`
//! and `TAI64N`. Each is a hand-written scanner.

use super::civil::Instant;
use super::error::{Expected, ParseError};
use super::fields::Fields;
use super::parser::nanos;
use super::zone::parse_zone;

fn two_digits(b: &[u8], pos: usize) -> Option<u32> {
    match (b.get(pos), b.get(pos + 1)) {
        (Some(x @ b'0'..=b'9'), Some(y @ b'0'..=b'9')) => Some(u32::from(x - b'0') * 10 + u32::from(y - b'0')),
        _ => None,
    }
}

fn number<'a>(b: &[u8], pos: &mut usize, field: &'static str, lo: u32, hi: u32) -> Result<u32, ParseError<'a>> {
    let v = two_digits(b, *pos).ok_or(ParseError::Expected {
        pos: *pos,
        what: Expected::Digits(field),
    })?;
    if !(lo..=hi).contains(&v) {
        return Err(ParseError::Range {
            field,
            value: i64::from(v),
        });
    }
    *pos += 2;
    Ok(v)
}

fn literal<'a>(b: &[u8], pos: &mut usize, accepted: &[u8], what: &'static str) -> Result<(), ParseError<'a>> {
    match b.get(*pos) {
        Some(c) if accepted.contains(c) => {
            *pos += 1;
            Ok(())
        }
        _ => Err(ParseError::Expected {
            pos: *pos,
            what: Expected::Literal(what),
        }),
    }
}

/// ES's `iso8601` parser: `yyyy[-MM[-dd[('T'|' ')HH[:mm[:ss[(.|,)S…]]][zone]]]]`
/// where the fraction has 1 to 9 digits and the zone is `Z`, `+01`,
/// `+0100`, `+01:00`, `UTC`, `GMT+01:00` or an IANA id.
pub fn iso8601(input: &str) -> Result<Fields, ParseError<'static>> {
    let b = input.as_bytes();
    let mut pos = 0;
    let mut f = Fields::default();
    let year = b
        .get(..4)
        .filter(|d| d.iter().all(u8::is_ascii_digit))
        .ok_or(ParseError::Expected {
            pos: 0,
            what: Expected::Digits("year"),
        })?;
    f.year = Some(year.iter().fold(0, |acc, d| acc * 10 + i64::from(d - b'0')));
    pos += 4;
    if pos < b.len() {
        literal(b, &mut pos, b"-", "-")?;
        f.month = Some(number(b, &mut pos, "month", 1, 12)?);
    }
    if pos < b.len() {
        literal(b, &mut pos, b"-", "-")?;
        f.day = Some(number(b, &mut pos, "day", 1, 31)?);
    }
    if pos < b.len() {
        literal(b, &mut pos, b"Tt ", "T")?;
        f.hour = Some(number(b, &mut pos, "hour", 0, 23)?);
        if b.get(pos) == Some(&b':') {
            pos += 1;
            f.minute = Some(number(b, &mut pos, "minute", 0, 59)?);
            if b.get(pos) == Some(&b':') {
                pos += 1;
                f.second = Some(number(b, &mut pos, "second", 0, 59)?);
                if let Some(b'.' | b',') = b.get(pos) {
                    pos += 1;
                    let digits = b.iter().skip(pos).take(9).take_while(|c| c.is_ascii_digit()).count();
                    if digits == 0 {
                        return Err(ParseError::Expected {
                            pos,
                            what: Expected::Digits("fraction"),
                        });
                    }
                    f.nanos = nanos(b.get(pos..pos + digits).unwrap_or_default());
                    pos += digits;
                }
            }
        }
        if pos < b.len() {
            let rest = input.get(pos..).unwrap_or_default();
            let (zone, n) = parse_zone(rest).ok_or(ParseError::Expected {
                pos,
                what: Expected::Zone,
            })?;
            f.zone = Some(zone);
            pos += n;
        }
    }
    if pos != b.len() {
        return Err(ParseError::Trailing { pos });
    }
    Ok(f)
}

/// A decimal number scaled by 10^9 (so `1.5` is 1_500_000_000), exact for
/// plain decimals; exponent forms (`1.4e9`) go through `f64`. Surrounding
/// whitespace is ignored, as Java's `Double.parseDouble` does.
fn scaled_decimal(input: &str) -> Option<i128> {
    let s = input.trim();
    let b = s.as_bytes();
    if b.iter().any(|c| matches!(c, b'e' | b'E')) {
        let v: f64 = s.parse().ok()?;
        // The cast saturates; anything that large fails the range check.
        return v.is_finite().then(|| (v * 1e9).round() as i128);
    }
    let (negative, digits) = match b.first() {
        Some(b'-') => (true, b.get(1..)?),
        Some(b'+') => (false, b.get(1..)?),
        _ => (false, b),
    };
    let (int, frac) = match digits.iter().position(|&c| c == b'.') {
        Some(dot) => (digits.get(..dot)?, digits.get(dot + 1..)?),
        None => (digits, &[][..]),
    };
    let all_digits = |d: &[u8]| d.iter().all(u8::is_ascii_digit);
    // 30 integer digits exceed every accepted instant and fit in an i128.
    if (int.is_empty() && frac.is_empty()) || !all_digits(int) || !all_digits(frac) || int.len() > 30 {
        return None;
    }
    let whole = int.iter().fold(0i128, |acc, d| acc * 10 + i128::from(d - b'0'));
    let scaled = whole * 1_000_000_000 + i128::from(nanos(frac));
    Some(if negative { -scaled } else { scaled })
}

/// `UNIX`: seconds since the epoch, possibly fractional. ES truncates to
/// milliseconds (through a `double`); we keep up to nanoseconds, exactly.
pub fn unix(input: &str) -> Result<Instant, ParseError<'static>> {
    let n = scaled_decimal(input).ok_or(ParseError::NotANumber("a number of seconds"))?;
    Instant::from_nanos(n).ok_or(ParseError::OutOfRange)
}

/// `UNIX_MS`: milliseconds since the epoch; a fraction is kept too.
pub fn unix_ms(input: &str) -> Result<Instant, ParseError<'static>> {
    let n = scaled_decimal(input).ok_or(ParseError::NotANumber("a number of milliseconds"))?;
    Instant::from_nanos(n.div_euclid(1_000)).ok_or(ParseError::OutOfRange)
}

/// `TAI64N`: `@` (optional), then 16 hex digits of TAI64 seconds and 8 of
/// nanoseconds. Like ES and Logstash, the leading digit (the 2^62 label
/// bit) is ignored and TAI is taken to be 10 s ahead of UTC (the 1972
/// offset; later leap seconds are not applied).
pub fn tai64n(input: &str) -> Result<Instant, ParseError<'static>> {
    const NOT: ParseError<'static> = ParseError::NotANumber("a TAI64N label (24 hex digits, optionally after `@`)");
    let label = input.strip_prefix('@').unwrap_or(input);
    if label.len() != 24 || !label.bytes().all(|c| c.is_ascii_hexdigit()) {
        return Err(NOT);
    }
    let secs = label
        .get(1..16)
        .and_then(|h| i64::from_str_radix(h, 16).ok())
        .ok_or(NOT)?;
    let nanos = label
        .get(16..)
        .and_then(|h| u32::from_str_radix(h, 16).ok())
        .ok_or(NOT)?;
    if nanos >= 1_000_000_000 {
        return Err(ParseError::Range {
            field: "nanosecond",
            value: i64::from(nanos),
        });
    }
    Instant::new(secs - 10, nanos).ok_or(ParseError::OutOfRange)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::processors::date::zone::Zone;

    fn iso(input: &str) -> Result<Instant, String> {
        let f = iso8601(input).map_err(|e| e.to_string())?;
        f.resolve(&Zone::Utc, &mut || 0).map_err(|e| e.to_string())
    }

    fn secs(input: &str) -> (i64, u32) {
        let i = iso(input).unwrap();
        (i.secs, i.nanos)
    }

    #[test]
    fn iso8601_forms() {
        let t = 1_481_105_107;
        assert_eq!(secs("2016-12-07T10:05:07Z"), (t, 0));
        assert_eq!(secs("2016-12-07T10:05:07.123Z"), (t, 123_000_000));
        assert_eq!(secs("2016-12-07T10:05:07,123456789Z"), (t, 123_456_789));
        assert_eq!(secs("2016-12-07T11:05:07+01:00"), (t, 0));
        assert_eq!(secs("2016-12-07T11:05:07+0100"), (t, 0));
        assert_eq!(secs("2016-12-07T11:05:07+01"), (t, 0));
        assert_eq!(secs("2016-12-07 10:05:07"), (t, 0));
        assert_eq!(secs("2016-12-07t10:05:07"), (t, 0));
        assert_eq!(secs("2016-12-07T10:05:07.5"), (t, 500_000_000));
        assert_eq!(
            secs("2016-12-07T11:05:07.000000001 Europe/Berlin".replace(' ', "").as_str()),
            (t, 1)
        );
        assert_eq!(secs("2016-12-07T10:05"), (t - 7, 0));
        assert_eq!(secs("2016-12-07T10"), (t - 307, 0));
        assert_eq!(secs("2016-12-07"), (t - 36_307, 0));
        assert_eq!(secs("2016-12"), (1_480_550_400, 0));
        assert_eq!(secs("2016"), (1_451_606_400, 0));
    }

    #[test]
    fn iso8601_errors() {
        for (input, want) in [
            ("", "digits of the year at position 0"),
            ("16-12-07", "digits of the year"),
            ("2016/12/07", "expected `-` at position 4"),
            ("2016-13-07", "month 13 is out of range"),
            ("2016-02-30", "2016-02-30 is not a valid date"),
            ("2016-12-07T24:00:00", "hour 24"),
            ("2016-12-07T10:05:60Z", "second 60"),
            ("2016-12-07X10:05:07", "expected `T` at position 10"),
            ("2016-12-07T10:05:07.Z", "fraction at position 20"),
            ("2016-12-07T10:05:07.1234567890Z", "time zone id"),
            ("2016-12-07T10:05:07+25:00", "time zone id"),
            ("2016-12-07T10:05:07Z junk", "unexpected text after position 20"),
            ("99999-12-07", "expected `-` at position 4"),
            ("2016-12-07T", "digits of the hour at position 11"),
            ("２０１６", "digits of the year"),
        ] {
            let e = iso(input).unwrap_err();
            assert!(e.contains(want), "{input}: {e}");
        }
    }

    #[test]
    fn unix_seconds() {
        let ok = |s: &str| unix(s).map(|i| (i.secs, i.nanos));
        assert_eq!(ok("1478181106"), Ok((1_478_181_106, 0)));
        assert_eq!(ok("1478181106.123"), Ok((1_478_181_106, 123_000_000)));
        assert_eq!(ok(" 1478181106.1234567891 "), Ok((1_478_181_106, 123_456_789)));
        assert_eq!(ok("-1.5"), Ok((-2, 500_000_000)));
        assert_eq!(ok("+0"), Ok((0, 0)));
        assert_eq!(ok(".5"), Ok((0, 500_000_000)));
        assert_eq!(ok("1.478181106E9"), Ok((1_478_181_106, 0)));
        assert_eq!(ok("253402300799"), Ok((253_402_300_799, 0)));
        assert_eq!(ok("253402300800"), Err(ParseError::OutOfRange));
        assert_eq!(ok("1e300"), Err(ParseError::OutOfRange));
        assert_eq!(ok(&"9".repeat(31)), Err(ParseError::NotANumber("a number of seconds")));
        for bad in ["", "-", ".", "abc", "12a", "1.2.3", "NaN", "inf", "1e", "--1", "0x10"] {
            assert!(unix(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn unix_milliseconds() {
        let ok = |s: &str| unix_ms(s).map(|i| (i.secs, i.nanos));
        assert_eq!(ok("1478181106123"), Ok((1_478_181_106, 123_000_000)));
        assert_eq!(ok("1478181106123.5"), Ok((1_478_181_106, 123_500_000)));
        assert_eq!(ok("-1"), Ok((-1, 999_000_000)));
        assert!(unix_ms("2016-12-07").is_err());
        assert_eq!(ok("99999999999999999"), Err(ParseError::OutOfRange));
    }

    #[test]
    fn tai64n_labels() {
        // The example from the ES and Logstash tests.
        let i = tai64n("4000000050d506482dbdf024").unwrap();
        assert_eq!((i.secs, i.nanos), (1_356_138_046, 767_422_500));
        assert_eq!(tai64n("@4000000050d506482dbdf024"), Ok(i));
        for bad in [
            "",
            "@",
            "4000000050d506482dbdf02",
            "4000000050d506482dbdf0245",
            "4000000050d50648zdbdf024",
        ] {
            assert!(tai64n(bad).is_err(), "{bad}");
        }
        assert!(
            tai64n("4000000050d50648ffffffff")
                .unwrap_err()
                .to_string()
                .contains("nanosecond")
        );
        assert_eq!(tai64n("4fffffffffffffff00000000"), Err(ParseError::OutOfRange));
        assert!(tai64n("@4000000050d506482dbdf0é").is_err());
    }
}
