//! `output_format` compiled into a list of writers that append digits and
//! names straight into one pre-sized `String`: no format-string
//! interpretation and one allocation per record. Names are English, as ES
//! prints with `Locale.ROOT`; optional sections are always printed.

use super::civil::{Civil, Instant};
use super::locale::{DAYS_EN, MONTHS_EN};
use super::pattern::{Element, Field, OffsetStyle, Spec};
use super::zone::Zone;

#[derive(Debug)]
enum Item {
    Literal(Box<str>),
    /// A number zero-padded to `width` digits.
    Number {
        field: Field,
        width: u8,
    },
    /// The first `digits` digits of the nanoseconds (truncated, not rounded).
    Fraction(u8),
    MonthText {
        full: bool,
    },
    DayText {
        full: bool,
    },
    AmPm,
    Offset(OffsetStyle),
    ZoneId,
    ZoneName,
}

/// A compiled output format.
#[derive(Debug)]
pub struct Printer {
    items: Vec<Item>,
    /// Typical output length, to allocate once.
    capacity: usize,
    /// Set when the format has the shape of nearly every output format,
    /// the default included; it is then printed without a per-item
    /// dispatch, which costs more than the digits themselves.
    iso: Option<IsoShape>,
}

/// `yyyy-MM-dd'T'HH:mm:ss`, then optionally `.` and 1–9 `S`, then
/// optionally one offset.
#[derive(Debug, Clone, Copy)]
struct IsoShape {
    fraction: u8,
    offset: Option<OffsetStyle>,
}

fn iso_shape(items: &[Item]) -> Option<IsoShape> {
    let [
        Item::Number {
            field: Field::YearOfEra | Field::Year,
            width: 4,
        },
        Item::Literal(a),
        Item::Number {
            field: Field::Month,
            width: 2,
        },
        Item::Literal(b),
        Item::Number {
            field: Field::Day,
            width: 2,
        },
        Item::Literal(t),
        Item::Number {
            field: Field::Hour,
            width: 2,
        },
        Item::Literal(c),
        Item::Number {
            field: Field::Minute,
            width: 2,
        },
        Item::Literal(d),
        Item::Number {
            field: Field::Second,
            width: 2,
        },
        rest @ ..,
    ] = items
    else {
        return None;
    };
    if [&**a, &**b, &**t, &**c, &**d] != ["-", "-", "T", ":", ":"] {
        return None;
    }
    let (fraction, rest) = match rest {
        [Item::Literal(dot), Item::Fraction(n), rest @ ..] if &**dot == "." => (*n, rest),
        _ => (0, rest),
    };
    let offset = match rest {
        [] => None,
        [Item::Offset(style)] => Some(*style),
        _ => return None,
    };
    Some(IsoShape { fraction, offset })
}

fn ascii_digit(v: u32) -> u8 {
    b'0' + (v % 10) as u8
}

/// Prints an [`IsoShape`] format; `None` for years it cannot print.
fn format_iso(shape: IsoShape, c: &Civil, offset: i32) -> Option<String> {
    let year = u32::try_from(c.year).ok().filter(|y| *y <= 9999)?;
    let mut buf = *b"0000-00-00T00:00:00.000000000";
    buf[0] = ascii_digit(year / 1000);
    buf[1] = ascii_digit(year / 100);
    buf[2] = ascii_digit(year / 10);
    buf[3] = ascii_digit(year);
    buf[5] = ascii_digit(c.month / 10);
    buf[6] = ascii_digit(c.month);
    buf[8] = ascii_digit(c.day / 10);
    buf[9] = ascii_digit(c.day);
    buf[11] = ascii_digit(c.hour / 10);
    buf[12] = ascii_digit(c.hour);
    buf[14] = ascii_digit(c.minute / 10);
    buf[15] = ascii_digit(c.minute);
    buf[17] = ascii_digit(c.second / 10);
    buf[18] = ascii_digit(c.second);
    let len = if shape.fraction == 0 {
        19
    } else {
        let n = usize::from(shape.fraction.min(9));
        let mut v = scaled_fraction(c.nanos, shape.fraction);
        for slot in buf.iter_mut().skip(20).take(n).rev() {
            *slot = ascii_digit(v);
            v /= 10;
        }
        20 + n
    };
    let mut out = String::with_capacity(len + 6);
    out.push_str(std::str::from_utf8(buf.get(..len)?).ok()?);
    if let Some(style) = shape.offset {
        push_offset(&mut out, offset, style);
    }
    Some(out)
}

impl Printer {
    pub fn new(elements: &[Element]) -> Printer {
        let mut items = Vec::new();
        flatten(elements, &mut items);
        let capacity = items
            .iter()
            .map(|i| match i {
                Item::Literal(l) => l.len(),
                Item::Number { width, .. } => usize::from(*width).max(4),
                Item::Fraction(d) => usize::from(*d),
                Item::MonthText { .. } | Item::DayText { .. } => 9,
                Item::AmPm => 2,
                Item::Offset(_) => 9,
                Item::ZoneId | Item::ZoneName => 16,
            })
            .sum();
        let iso = iso_shape(&items);
        Printer { items, capacity, iso }
    }

    /// Formats `instant` as a local time in `zone`.
    pub fn format(&self, instant: Instant, zone: &Zone) -> String {
        let offset = zone.offset_at_utc(instant.secs);
        let c = Civil::from_local_secs(instant.secs + i64::from(offset), instant.nanos);
        if let Some(shape) = self.iso
            && let Some(out) = format_iso(shape, &c, offset)
        {
            return out;
        }
        let mut out = String::with_capacity(self.capacity);
        for item in &self.items {
            match item {
                Item::Literal(l) => out.push_str(l),
                Item::Number { field, width } => {
                    let value = match field {
                        Field::YearOfEra | Field::Year => c.year,
                        Field::Year2 => c.year.rem_euclid(100),
                        Field::Month => i64::from(c.month),
                        Field::Day => i64::from(c.day),
                        Field::DayOfYear => i64::from(c.day_of_year()),
                        Field::Hour => i64::from(c.hour),
                        Field::ClockHour => i64::from(if c.hour == 0 { 24 } else { c.hour }),
                        Field::Hour12 => i64::from(c.hour % 12),
                        Field::ClockHour12 => i64::from(if c.hour.is_multiple_of(12) { 12 } else { c.hour % 12 }),
                        Field::Minute => i64::from(c.minute),
                        Field::Second => i64::from(c.second),
                    };
                    push_number(&mut out, value, *width);
                }
                Item::Fraction(digits) => push_fraction(&mut out, c.nanos, *digits),
                Item::MonthText { full } => {
                    let name = MONTHS_EN
                        .get((c.month as usize).wrapping_sub(1))
                        .copied()
                        .unwrap_or_default();
                    out.push_str(if *full { name } else { name.get(..3).unwrap_or(name) });
                }
                Item::DayText { full } => {
                    let name = DAYS_EN
                        .get((c.day_of_week() as usize).wrapping_sub(1))
                        .copied()
                        .unwrap_or_default();
                    out.push_str(if *full { name } else { name.get(..3).unwrap_or(name) });
                }
                Item::AmPm => out.push_str(if c.hour < 12 { "AM" } else { "PM" }),
                Item::Offset(style) => push_offset(&mut out, offset, *style),
                Item::ZoneId => zone.write_id(&mut out),
                Item::ZoneName => zone.write_abbreviation(&mut out, instant.secs),
            }
        }
        out
    }
}

fn flatten(elements: &[Element], out: &mut Vec<Item>) {
    for e in elements {
        let item = match e {
            Element::Optional(inner) => {
                flatten(inner, out);
                continue;
            }
            Element::Literal(l) => Item::Literal(l.as_str().into()),
            Element::Field(spec) => match *spec {
                Spec::Number { field, count } => Item::Number {
                    field,
                    width: if field == Field::Year2 {
                        2
                    } else {
                        u8::try_from(count).unwrap_or(u8::MAX)
                    },
                },
                Spec::Fraction(d) => Item::Fraction(u8::try_from(d).unwrap_or(9)),
                Spec::MonthText { full } => Item::MonthText { full },
                Spec::DayText { full } => Item::DayText { full },
                Spec::AmPm => Item::AmPm,
                Spec::Offset(style) => Item::Offset(style),
                Spec::ZoneId => Item::ZoneId,
                Spec::ZoneName => Item::ZoneName,
            },
        };
        out.push(item);
    }
}

fn push_digit(out: &mut String, d: u32) {
    out.push(char::from(b'0' + (d % 10) as u8));
}

fn push2(out: &mut String, v: u32) {
    push_digit(out, v / 10);
    push_digit(out, v);
}

fn push_number(out: &mut String, value: i64, width: u8) {
    if (0..10_000).contains(&value) && width <= 4 {
        // The hot case: years, months, days and times. Constant divisors
        // compile to multiplications.
        let v = value as u32;
        let digits = match v {
            1000.. => 4,
            100.. => 3,
            10.. => 2,
            _ => 1,
        };
        let n = width.max(digits);
        if n >= 4 {
            push_digit(out, v / 1000);
        }
        if n >= 3 {
            push_digit(out, v / 100);
        }
        if n >= 2 {
            push_digit(out, v / 10);
        }
        push_digit(out, v);
        return;
    }
    if value < 0 {
        out.push('-');
    }
    let mut n = value.unsigned_abs();
    let mut buf = [b'0'; 20];
    let mut len = 0;
    loop {
        if let Some(slot) = buf.get_mut(19 - len) {
            *slot = b'0' + (n % 10) as u8;
        }
        len += 1;
        n /= 10;
        if n == 0 || len == buf.len() {
            break;
        }
    }
    for _ in len..usize::from(width) {
        out.push('0');
    }
    for &b in buf.get(20 - len..).unwrap_or_default() {
        out.push(char::from(b));
    }
}

/// The first `digits` digits of the nanoseconds. The divisor is chosen by
/// a match so that every division is by a constant.
fn push_fraction(out: &mut String, nanos: u32, digits: u8) {
    let mut v = scaled_fraction(nanos, digits);
    let mut buf = [b'0'; 9];
    let n = usize::from(digits.min(9));
    for slot in buf.iter_mut().take(n).rev() {
        *slot = b'0' + (v % 10) as u8;
        v /= 10;
    }
    for &b in buf.iter().take(n) {
        out.push(char::from(b));
    }
}

/// The first `digits` digits of `nanos` as a number.
fn scaled_fraction(nanos: u32, digits: u8) -> u32 {
    match digits {
        1 => nanos / 100_000_000,
        2 => nanos / 10_000_000,
        3 => nanos / 1_000_000,
        4 => nanos / 100_000,
        5 => nanos / 10_000,
        6 => nanos / 1_000,
        7 => nanos / 100,
        8 => nanos / 10,
        _ => nanos,
    }
}

fn push_offset(out: &mut String, offset: i32, style: OffsetStyle) {
    if offset == 0 && style.zero_z {
        out.push('Z');
        return;
    }
    if style.gmt {
        out.push_str("GMT");
        if offset == 0 {
            return;
        }
    }
    out.push(if offset < 0 { '-' } else { '+' });
    let a = offset.unsigned_abs();
    let (h, m, s) = (a / 3600, a / 60 % 60, a % 60);
    push2(out, h);
    let show_seconds = style.seconds && s != 0;
    if style.minutes || m != 0 || show_seconds {
        if style.colon {
            out.push(':');
        }
        push2(out, m);
    }
    if show_seconds {
        if style.colon {
            out.push(':');
        }
        push2(out, s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::processors::date::pattern::compile;
    use chrono_tz::Tz;

    /// 2016-12-07T10:05:07.123456789Z, a Wednesday.
    const T: Instant = Instant {
        secs: 1_481_105_107,
        nanos: 123_456_789,
    };

    fn fmt(p: &str, instant: Instant, zone: Zone) -> String {
        Printer::new(&compile(p).unwrap()).format(instant, &zone)
    }

    #[test]
    fn prints_the_default_format() {
        let p = "yyyy-MM-dd'T'HH:mm:ss.SSSXXX";
        assert_eq!(fmt(p, T, Zone::Utc), "2016-12-07T10:05:07.123Z");
        assert_eq!(fmt(p, T, Zone::Fixed(-7200)), "2016-12-07T08:05:07.123-02:00");
        assert_eq!(
            fmt(p, T, Zone::Named(Tz::Asia__Shanghai)),
            "2016-12-07T18:05:07.123+08:00"
        );
        assert_eq!(fmt(p, T, Zone::Fixed(19_800)), "2016-12-07T15:35:07.123+05:30");
        let epoch = Instant { secs: 0, nanos: 0 };
        assert_eq!(fmt(p, epoch, Zone::Fixed(-3600)), "1969-12-31T23:00:00.000-01:00");
    }

    #[test]
    fn fast_path_matches_general_path() {
        for p in [
            "yyyy-MM-dd'T'HH:mm:ss.SSSXXX",
            "yyyy-MM-dd'T'HH:mm:ss",
            "uuuu-MM-dd'T'HH:mm:ss.SSSSSSSSSZ",
            "yyyy-MM-dd'T'HH:mm:ss.Sxx",
            "yyyy-MM-dd'T'HH:mm:ssZZ",
        ] {
            let printer = Printer::new(&compile(p).unwrap());
            assert!(printer.iso.is_some(), "{p}");
            let slow = Printer {
                iso: None,
                ..Printer::new(&compile(p).unwrap())
            };
            for zone in [Zone::Utc, Zone::Fixed(-9000), Zone::Named(Tz::America__New_York)] {
                for secs in [0, T.secs, -62_135_596_800, 253_402_300_799, 951_782_400] {
                    let i = Instant { secs, nanos: T.nanos };
                    assert_eq!(printer.format(i, &zone), slow.format(i, &zone), "{p} {secs} {zone:?}");
                }
            }
        }
        for p in [
            "yyyy-MM-dd HH:mm:ss",
            "yyyy-MM-dd'T'HH:mm:ss.SSSXXX'!'",
            "yy-MM-dd'T'HH:mm:ss",
        ] {
            assert!(Printer::new(&compile(p).unwrap()).iso.is_none(), "{p}");
        }
        // A year the fast path cannot print falls back.
        let first = Instant {
            secs: crate::pipeline::processors::date::civil::MIN_SECS,
            nanos: 0,
        };
        assert_eq!(
            fmt("yyyy-MM-dd'T'HH:mm:ssXXX", first, Zone::Fixed(-3600)),
            "-0001-12-31T23:00:00-01:00"
        );
    }

    #[test]
    fn prints_every_field() {
        let cases = [
            ("y yy yyy yyyy yyyyy uuuu", "2016 16 2016 2016 02016 2016"),
            ("M MM MMM MMMM d dd D DD DDD", "12 12 Dec December 7 07 342 342 342"),
            ("E EEE EEEE", "Wed Wed Wednesday"),
            ("H HH k K h hh a", "10 10 10 10 10 10 AM"),
            ("m mm s ss", "5 05 7 07"),
            ("S SS SSS SSSSSS SSSSSSSSS", "1 12 123 123456 123456789"),
            ("'at' HH 'o''clock' [mm]", "at 10 o'clock 05"),
        ];
        for (p, want) in cases {
            assert_eq!(fmt(p, T, Zone::Utc), want, "{p}");
        }
        let midnight = Instant {
            secs: 1_481_068_800,
            nanos: 0,
        };
        assert_eq!(fmt("H k K h a", midnight, Zone::Utc), "0 24 0 12 AM");
        let afternoon = Instant {
            secs: 1_481_068_800 + 13 * 3600,
            nanos: 0,
        };
        assert_eq!(fmt("H k K h a", afternoon, Zone::Utc), "13 13 1 1 PM");
    }

    #[test]
    fn prints_offsets_and_zones() {
        let one = Zone::Fixed(3600);
        let half = Zone::Fixed(-9000);
        let cases = [
            ("X", Zone::Utc, "Z"),
            ("X", one, "+01"),
            ("X", half, "-0230"),
            ("XX", one, "+0100"),
            ("XXX", one, "+01:00"),
            ("XXXXX", Zone::Fixed(3661), "+01:01:01"),
            ("XXXX", Zone::Fixed(3661), "+010101"),
            ("x", Zone::Utc, "+00"),
            ("xx", Zone::Utc, "+0000"),
            ("xxx", Zone::Utc, "+00:00"),
            ("Z", Zone::Utc, "+0000"),
            ("Z", one, "+0100"),
            ("ZZ", one, "+01:00"),
            ("ZZZ", Zone::Named(Tz::Europe__Berlin), "Europe/Berlin"),
            ("ZZZZ", one, "GMT+01:00"),
            ("ZZZZ", Zone::Utc, "GMT"),
            ("ZZZZZ", Zone::Utc, "Z"),
            ("VV", half, "-02:30"),
            ("z", Zone::Named(Tz::Europe__Berlin), "CET"),
            ("z", Zone::Utc, "UTC"),
        ];
        for (p, zone, want) in cases {
            assert_eq!(fmt(p, T, zone), want, "{p} {zone:?}");
        }
    }

    #[test]
    fn prints_extreme_years() {
        let first = Instant {
            secs: crate::pipeline::processors::date::civil::MIN_SECS,
            nanos: 0,
        };
        assert_eq!(fmt("yyyy-MM-dd", first, Zone::Utc), "0000-01-01");
        assert_eq!(fmt("yyyy-MM-dd", first, Zone::Fixed(-3600)), "-0001-12-31");
        let last = Instant {
            secs: crate::pipeline::processors::date::civil::MAX_SECS,
            nanos: 999_999_999,
        };
        assert_eq!(
            fmt("yyyy-MM-dd HH:mm:ss.SSS", last, Zone::Fixed(3600)),
            "10000-01-01 00:59:59.999"
        );
    }
}
