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
        Printer { items, capacity }
    }

    /// Formats `instant` as a local time in `zone`.
    pub fn format(&self, instant: Instant, zone: &Zone) -> String {
        let offset = zone.offset_at_utc(instant.secs);
        let c = Civil::from_local_secs(instant.secs + i64::from(offset), instant.nanos);
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
                Item::Fraction(digits) => {
                    let mut divisor = 100_000_000;
                    for _ in 0..*digits {
                        push_digit(&mut out, c.nanos / divisor % 10);
                        divisor /= 10;
                    }
                }
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
    if (0..100).contains(&value) && width <= 2 {
        // The hot case: months, days and times.
        if width == 2 || value >= 10 {
            push_digit(out, (value / 10) as u32);
        }
        push_digit(out, value as u32);
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
