//! A Java pattern compiled into a flat list of matchers, run left to
//! right over the bytes of the value with no backtracking except at
//! optional sections. Nothing about the pattern is looked at again per
//! record.
//!
//! Numbers use java.time's adjacent-value rule: a field directly followed
//! by other numeric fields leaves them their minimum widths, so
//! `yyyyMMddHHmmss` reads `20161207100507`.

use super::civil::{MAX_YEAR, MIN_YEAR};
use super::error::{Expected, ParseError};
use super::fields::Fields;
use super::locale::Locale;
use super::pattern::{Element, Field, Spec};
use super::zone::{Zone, parse_offset, parse_zone};

/// Widest number read for a field with no fixed width. java.time allows
/// 19 digits; 10 already overflows every range and keeps `i64` safe.
const MAX_VARIABLE_WIDTH: u8 = 10;

#[derive(Debug)]
enum Item {
    /// Matched exactly, except that ASCII letters ignore case.
    Literal(Box<str>),
    /// A one-byte literal that is ASCII punctuation or a digit.
    Byte(u8),
    /// `min..=max` digits, leaving `reserve` digits for the numeric fields
    /// that follow without a separator. `sep` is the one-byte literal that
    /// follows, folded in: most patterns alternate numbers and separators,
    /// and each item costs an unpredictable dispatch.
    Number {
        field: Field,
        min: u8,
        max: u8,
        reserve: u8,
        sep: Option<u8>,
    },
    Fraction {
        count: u8,
        min: u8,
        max: u8,
        reserve: u8,
    },
    /// `dot`: an abbreviation may carry its trailing dot (`Dez.`), unless
    /// the pattern itself has a `.` next.
    MonthText {
        dot: bool,
    },
    DayText {
        dot: bool,
    },
    AmPm,
    Offset,
    Zone,
    Optional(Vec<Item>),
}

/// A compiled pattern parser.
#[derive(Debug)]
pub struct Parser {
    items: Vec<Item>,
}

impl Parser {
    pub fn new(elements: &[Element]) -> Parser {
        Parser { items: items(elements) }
    }

    /// Reads the whole of `input`; text left over is an error.
    pub fn parse<'p>(&'p self, input: &str, locale: &Locale) -> Result<Fields, ParseError<'p>> {
        let mut fields = Fields::default();
        let mut pos = 0;
        parse_items(&self.items, input, &mut pos, &mut fields, locale)?;
        if pos != input.len() {
            return Err(ParseError::Trailing { pos });
        }
        Ok(fields)
    }
}

fn widths(field: Field, count: usize) -> (u8, u8) {
    // Patterns are at most a few dozen letters, but clamp anyway.
    let c = u8::try_from(count).unwrap_or(u8::MAX);
    match (field, count) {
        (Field::Year2, _) => (2, 2),
        (Field::YearOfEra | Field::Year, 1..=3) => (c, MAX_VARIABLE_WIDTH),
        (Field::YearOfEra | Field::Year, _) => (c, c),
        (Field::DayOfYear, 2) => (2, 3),
        (_, 1) => (1, MAX_VARIABLE_WIDTH),
        _ => (c, c),
    }
}

fn items(elements: &[Element]) -> Vec<Item> {
    let mut items: Vec<Item> = elements
        .iter()
        .map(|e| match e {
            Element::Literal(l) => Item::Literal(l.as_str().into()),
            Element::Optional(inner) => Item::Optional(items(inner)),
            Element::Field(spec) => match *spec {
                Spec::Number { field, count } => {
                    let (min, max) = widths(field, count);
                    Item::Number {
                        field,
                        min,
                        max,
                        reserve: 0,
                        sep: None,
                    }
                }
                // Alone, a fraction takes 1 to 9 digits whatever its width,
                // as Joda's did; `ss.SSS` then also reads `.5` and `.123456`.
                Spec::Fraction(count) => Item::Fraction {
                    count: u8::try_from(count).unwrap_or(9),
                    min: 1,
                    max: 9,
                    reserve: 0,
                },
                Spec::MonthText { .. } => Item::MonthText { dot: true },
                Spec::DayText { .. } => Item::DayText { dot: true },
                Spec::AmPm => Item::AmPm,
                Spec::Offset(_) => Item::Offset,
                Spec::ZoneId | Spec::ZoneName => Item::Zone,
            },
        })
        .collect();

    // A fraction followed by digits has exactly its written width.
    let numeric_next: Vec<bool> = (0..items.len())
        .map(|i| matches!(items.get(i + 1), Some(Item::Number { .. } | Item::Fraction { .. })))
        .collect();
    let dot_next: Vec<bool> = (0..items.len())
        .map(|i| matches!(items.get(i + 1), Some(Item::Literal(l)) if l.starts_with('.')))
        .collect();
    for (i, item) in items.iter_mut().enumerate() {
        let numeric_next = numeric_next.get(i).copied().unwrap_or(false);
        let dot_next = dot_next.get(i).copied().unwrap_or(false);
        match item {
            Item::Fraction { count, min, max, .. } if numeric_next => {
                *min = *count;
                *max = *count;
            }
            Item::MonthText { dot } | Item::DayText { dot } => *dot = !dot_next,
            _ => {}
        }
    }

    let mut following: u8 = 0;
    for item in items.iter_mut().rev() {
        match item {
            Item::Number { min, reserve, .. } | Item::Fraction { min, reserve, .. } => {
                *reserve = following;
                following = following.saturating_add(*min);
            }
            _ => following = 0,
        }
    }

    let mut fused = Vec::with_capacity(items.len());
    let mut rest = items.into_iter().peekable();
    while let Some(item) = rest.next() {
        fused.push(match item {
            Item::Number {
                field,
                min,
                max,
                reserve,
                sep: None,
            } => {
                let sep = rest.peek().and_then(single_byte);
                if sep.is_some() {
                    rest.next();
                }
                Item::Number {
                    field,
                    min,
                    max,
                    reserve,
                    sep,
                }
            }
            other => single_byte(&other).map_or(other, Item::Byte),
        });
    }
    fused
}

/// Printable ASCII, so that a one-byte literal can be named in errors
/// without keeping its text.
const PRINTABLE: &str =
    " !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~";

fn printable(b: u8) -> &'static str {
    let i = usize::from(b.wrapping_sub(b' '));
    PRINTABLE.get(i..i + 1).unwrap_or("?")
}

/// The byte of a one-byte literal that is matched exactly: printable
/// ASCII other than letters (which match in either case).
fn single_byte(item: &Item) -> Option<u8> {
    match item {
        Item::Literal(l) => match l.as_bytes() {
            [b] if (b' '..=b'~').contains(b) && !b.is_ascii_alphabetic() => Some(*b),
            _ => None,
        },
        _ => None,
    }
}

fn parse_items<'p>(
    items: &'p [Item],
    input: &str,
    pos: &mut usize,
    f: &mut Fields,
    locale: &Locale,
) -> Result<(), ParseError<'p>> {
    let bytes = input.as_bytes();
    for item in items {
        let at = *pos;
        let rest = bytes.get(at..).unwrap_or_default();
        // Every item consumes whole characters, so `at` is a char boundary.
        let rest_str = || input.get(at..).unwrap_or_default();
        let expected = |what| ParseError::Expected { pos: at, what };
        match item {
            Item::Byte(b) => {
                if rest.first() != Some(b) {
                    return Err(expected(Expected::Literal(printable(*b))));
                }
                *pos += 1;
            }
            Item::Literal(l) => match rest.get(..l.len()) {
                Some(got) if got.eq_ignore_ascii_case(l.as_bytes()) => *pos += l.len(),
                _ => return Err(expected(Expected::Literal(l))),
            },
            Item::Number {
                field,
                min,
                max,
                reserve,
                sep,
            } => {
                let (value, n) = digits(rest, *min, *max, *reserve).ok_or(expected(Expected::Digits(field.name())))?;
                set_number(f, *field, value)?;
                *pos += n;
                if let Some(sep) = sep {
                    if rest.get(n) != Some(sep) {
                        return Err(ParseError::Expected {
                            pos: *pos,
                            what: Expected::Literal(printable(*sep)),
                        });
                    }
                    *pos += 1;
                }
            }
            Item::Fraction { min, max, reserve, .. } => {
                let (_, n) = digits(rest, *min, *max, *reserve).ok_or(expected(Expected::Digits("fraction")))?;
                f.nanos = nanos(rest.get(..n).unwrap_or_default());
                *pos += n;
            }
            Item::MonthText { dot } => {
                let (month, n) = locale
                    .match_month(rest_str())
                    .ok_or(expected(Expected::Text("month")))?;
                f.month = Some(month);
                *pos += n + usize::from(*dot && rest.get(n) == Some(&b'.'));
            }
            Item::DayText { dot } => {
                // The day of week is redundant with the date; java.time
                // would cross-check it, we follow Joda and ignore it.
                let (_, n) = locale.match_day(rest_str()).ok_or(expected(Expected::Text("day")))?;
                *pos += n + usize::from(*dot && rest.get(n) == Some(&b'.'));
            }
            Item::AmPm => {
                let (pm, n) = locale
                    .match_am_pm(rest_str())
                    .ok_or(expected(Expected::Text("AM/PM")))?;
                f.pm = Some(pm);
                *pos += n;
            }
            Item::Offset => {
                let (offset, n) = parse_offset(rest).ok_or(expected(Expected::Offset))?;
                f.zone = Some(Zone::fixed(offset));
                *pos += n;
            }
            Item::Zone => {
                let (zone, n) = parse_zone(rest_str()).ok_or(expected(Expected::Zone))?;
                f.zone = Some(zone);
                *pos += n;
            }
            Item::Optional(inner) => {
                let saved = *f;
                if parse_items(inner, input, pos, f, locale).is_err() {
                    *pos = at;
                    *f = saved;
                }
            }
        }
    }
    Ok(())
}

/// Reads between `min` and `max` digits, leaving `reserve` digits unread
/// when there are more. Returns the value and the digits read.
fn digits(b: &[u8], min: u8, max: u8, reserve: u8) -> Option<(i64, usize)> {
    let (min, max, reserve) = (usize::from(min), usize::from(max), usize::from(reserve));
    let n = if min == max {
        // Fixed width: the reserve cannot change how much is read; a
        // shortage shows up at the field that lacks digits.
        min
    } else {
        let available = b.iter().take(max + reserve).take_while(|c| c.is_ascii_digit()).count();
        available.saturating_sub(reserve).min(max)
    };
    if n < min {
        return None;
    }
    let mut value = 0i64;
    for d in b.get(..n)? {
        if !d.is_ascii_digit() {
            return None;
        }
        value = value * 10 + i64::from(d - b'0');
    }
    Some((value, n))
}

/// Nanoseconds of a fraction's digits (`5` → 500_000_000); at most the
/// first nine digits count.
pub fn nanos(digits: &[u8]) -> u32 {
    let mut value = 0u32;
    for i in 0..9 {
        let d = digits.get(i).map_or(0, |d| u32::from(d.wrapping_sub(b'0')) % 10);
        value = value * 10 + d;
    }
    value
}

fn set_number(f: &mut Fields, field: Field, v: i64) -> Result<(), ParseError<'static>> {
    let checked = |lo: i64, hi: i64| {
        if (lo..=hi).contains(&v) {
            // In range, so it fits.
            Ok(v as u32)
        } else {
            Err(ParseError::Range {
                field: field.name(),
                value: v,
            })
        }
    };
    match field {
        Field::YearOfEra => f.year = Some(i64::from(checked(1, MAX_YEAR)?)),
        Field::Year => f.year = Some(i64::from(checked(MIN_YEAR, MAX_YEAR)?)),
        // java.time reads two-digit years as 2000–2099.
        Field::Year2 => f.year = Some(2000 + i64::from(checked(0, 99)?)),
        Field::Month => f.month = Some(checked(1, 12)?),
        Field::Day => f.day = Some(checked(1, 31)?),
        Field::DayOfYear => f.day_of_year = Some(checked(1, 366)?),
        Field::Hour => f.hour = Some(checked(0, 23)?),
        Field::ClockHour => f.hour = Some(checked(1, 24)? % 24),
        Field::Hour12 => f.hour12 = Some(checked(0, 11)?),
        Field::ClockHour12 => f.hour12 = Some(checked(1, 12)? % 12),
        Field::Minute => f.minute = Some(checked(0, 59)?),
        // 60 is rejected: leap seconds are not representable, as in java.time.
        Field::Second => f.second = Some(checked(0, 59)?),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::processors::date::pattern::compile;

    fn parser(p: &str) -> Parser {
        Parser::new(&compile(p).unwrap())
    }

    fn parse(p: &str, input: &str) -> Result<Fields, String> {
        parser(p).parse(input, Locale::english()).map_err(|e| e.to_string())
    }

    type Ymdhms = (
        Option<i64>,
        Option<u32>,
        Option<u32>,
        Option<u32>,
        Option<u32>,
        Option<u32>,
    );

    fn ymdhms(f: &Fields) -> Ymdhms {
        (f.year, f.month, f.day, f.hour, f.minute, f.second)
    }

    #[test]
    fn parses_nginx_access_time() {
        let f = parse("dd/MMM/yyyy:HH:mm:ss Z", "07/Dec/2016:11:05:07 +0100").unwrap();
        assert_eq!(ymdhms(&f), (Some(2016), Some(12), Some(7), Some(11), Some(5), Some(7)));
        assert_eq!(f.zone, Some(Zone::Fixed(3600)));
        // Lenient offsets: with a colon, and `Z`.
        let f = parse("dd/MMM/yyyy:HH:mm:ss Z", "07/dec/2016:11:05:07 -05:30").unwrap();
        assert_eq!(f.zone, Some(Zone::Fixed(-19_800)));
        let f = parse("dd/MMM/yyyy:HH:mm:ss Z", "07/DEC/2016:11:05:07 Z").unwrap();
        assert_eq!(f.zone, Some(Zone::Utc));
    }

    #[test]
    fn parses_fractions() {
        let f = parse("yyyy-MM-dd HH:mm:ss,SSS", "2024-03-01 12:00:00,123").unwrap();
        assert_eq!(f.nanos, 123_000_000);
        let f = parse("yyyy-MM-dd HH:mm:ss.SSS", "2024-03-01 12:00:00.123456789").unwrap();
        assert_eq!(f.nanos, 123_456_789);
        let f = parse("HH:mm:ss.SSS", "12:00:00.5").unwrap();
        assert_eq!(f.nanos, 500_000_000);
        assert!(
            parse("HH:mm:ss.SSS", "12:00:00.1234567891")
                .unwrap_err()
                .contains("unexpected text")
        );
        assert!(parse("HH:mm:ss.SSS", "12:00:00.").unwrap_err().contains("fraction"));
        // Adjacent to a following number, the width is exact.
        let f = parse("HHmmssSSSyyyy", "1005071232016").unwrap();
        assert_eq!((f.nanos, f.year), (123_000_000, Some(2016)));
    }

    #[test]
    fn parses_adjacent_numbers() {
        let f = parse("yyyyMMddHHmmss", "20161207100507").unwrap();
        assert_eq!(ymdhms(&f), (Some(2016), Some(12), Some(7), Some(10), Some(5), Some(7)));
        assert!(parse("yyyyMMdd", "2016127").is_err());
        let f = parse("M/d/y H:m", "1/7/16 9:5").unwrap();
        assert_eq!(ymdhms(&f), (Some(16), Some(1), Some(7), Some(9), Some(5), None));
        let f = parse("yyMMdd", "161207").unwrap();
        assert_eq!(f.year, Some(2016));
        let f = parse("yyyy DDD", "2016 342").unwrap();
        assert_eq!(f.day_of_year, Some(342));
    }

    #[test]
    fn parses_text_fields() {
        let f = parse("EEE, dd MMM yyyy HH:mm:ss z", "Wed, 07 Dec 2016 11:05:07 CET").unwrap();
        assert_eq!((f.month, f.zone), (Some(12), Some(Zone::Fixed(3600))));
        let f = parse("EEEE, MMMM d, yyyy h:mm a", "Wednesday, December 7, 2016 1:05 pm").unwrap();
        assert_eq!((f.month, f.hour12, f.pm), (Some(12), Some(1), Some(true)));
        // Short and full names are both accepted, whatever the width.
        assert_eq!(parse("MMM", "September").unwrap().month, Some(9));
        assert_eq!(parse("MMMM", "Sep").unwrap().month, Some(9));
        let de = Locale::lookup("de").unwrap();
        let f = parser("dd. MMM yyyy").parse("07. Dez. 2016", de).unwrap();
        assert_eq!(f.month, Some(12));
        // The dot belongs to the pattern when the pattern has one next.
        let f = parser("dd.MMM.yyyy").parse("07.Dez.2016", de).unwrap();
        assert_eq!(f.month, Some(12));
        assert!(
            parse("dd MMM yyyy", "07 Dez 2016")
                .unwrap_err()
                .contains("month name at position 3")
        );
    }

    #[test]
    fn parses_zones_and_clock_hours() {
        let f = parse("yyyy-MM-dd HH:mm:ss ZZZ", "2016-12-07 11:05:07 Europe/Berlin").unwrap();
        assert_eq!(f.zone, Some(Zone::Named(chrono_tz::Tz::Europe__Berlin)));
        let f = parse("yyyy-MM-dd'T'HH:mm:ssXXX", "2016-12-07T11:05:07Z").unwrap();
        assert_eq!(f.zone, Some(Zone::Utc));
        assert_eq!(parse("k:mm", "24:00").unwrap().hour, Some(0));
        assert_eq!(parse("h:mm", "12:30").unwrap().hour12, Some(0));
        assert_eq!(parse("K:mm", "11:30").unwrap().hour12, Some(11));
    }

    #[test]
    fn optional_sections_restore_state() {
        let p = "yyyy-MM-dd'T'HH:mm[:ss][.SSS]";
        let f = parse(p, "2016-12-07T11:05").unwrap();
        assert_eq!((f.second, f.nanos), (None, 0));
        let f = parse(p, "2016-12-07T11:05:07.250").unwrap();
        assert_eq!((f.second, f.nanos), (Some(7), 250_000_000));
        // `:9` fails inside the section; the section is skipped and the
        // leftover text is reported.
        assert!(parse(p, "2016-12-07T11:05:9").unwrap_err().contains("position 16"));
    }

    #[test]
    fn reports_mismatches_and_ranges() {
        let p = "dd/MMM/yyyy:HH:mm:ss Z";
        let cases = [
            ("", "digits of the day at position 0"),
            ("07-Dec-2016:11:05:07 +0100", "expected `/` at position 2"),
            ("07/Dez/2016:11:05:07 +0100", "month name at position 3"),
            ("07/Dec/16:11:05:07 +0100", "digits of the year at position 7"),
            ("07/Dec/99999:11:05:07 +0100", "expected `:` at position 11"),
            ("07/Dec/2016:24:05:07 +0100", "hour 24 is out of range"),
            ("07/Dec/2016:11:60:07 +0100", "minute 60 is out of range"),
            ("07/Dec/2016:11:05:60 +0100", "second 60 is out of range"),
            ("32/Dec/2016:11:05:07 +0100", "day 32 is out of range"),
            ("07/Dec/2016:11:05:07 CET", "zone offset"),
            (
                "07/Dec/2016:11:05:07 +0100 trailing",
                "unexpected text after position 26",
            ),
            ("07/Dec/0000:11:05:07 +0100", "year 0 is out of range"),
        ];
        for (input, want) in cases {
            let e = parse(p, input).unwrap_err();
            assert!(e.contains(want), "{input}: {e}");
        }
        assert!(parse("MM", "13").unwrap_err().contains("month 13"));
    }

    #[test]
    fn fuses_one_byte_separators() {
        let p = parser("dd/MMM/yyyy:HH:mm:ss Z");
        assert_eq!(p.items.len(), 8, "{:?}", p.items);
        assert!(matches!(p.items[0], Item::Number { sep: Some(b'/'), .. }));
        assert!(matches!(p.items[1], Item::MonthText { dot: true }));
        assert!(matches!(p.items[2], Item::Byte(b'/')));
        assert!(matches!(parser("HH'h'mm").items[1], Item::Literal(_)));
        assert_eq!(printable(b' '), " ");
        assert_eq!(printable(b'~'), "~");
        assert_eq!(printable(b'/'), "/");
        assert_eq!(printable(0), "?");
        assert_eq!(printable(0xff), "?");
        assert!(parse("HH'h'mm", "10H05").is_ok());
    }

    #[test]
    fn never_slices_inside_a_character() {
        for input in ["07/Dé", "é", "07/Dec/2016:11:05:07 +01é", "０７/Dec/2016"] {
            assert!(parse("dd/MMM/yyyy:HH:mm:ss Z", input).is_err());
        }
    }
}
