//! Reads a Java `DateTimeFormatter` pattern (`dd/MMM/yyyy:HH:mm:ss Z`)
//! into elements shared by the compiled parser and printer. The letters
//! follow java.time, as ES uses since 7.0, except `Z`/`ZZ`/`ZZZ`, which
//! follow Joda (as Logstash does): `+0100`, `+01:00`, zone id.
//!
//! Every mistake is a load-time error naming the letter and what to write
//! instead, including the classic `YYYY` (week-based year) for `yyyy`.

/// A numeric date-time field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// `y`: year of era, 1–9999.
    YearOfEra,
    /// `u`: proleptic year, 0–9999.
    Year,
    /// `yy`/`uu`: two digits meaning 2000–2099, as java.time reads them.
    Year2,
    /// `M`, `MM`.
    Month,
    /// `d`, `dd`.
    Day,
    /// `D`: day of year.
    DayOfYear,
    /// `H`: 0–23.
    Hour,
    /// `k`: 1–24, 24 meaning midnight.
    ClockHour,
    /// `K`: 0–11, with `a`.
    Hour12,
    /// `h`: 1–12, with `a`.
    ClockHour12,
    /// `m`.
    Minute,
    /// `s`.
    Second,
}

impl Field {
    /// The name used in error messages.
    pub fn name(self) -> &'static str {
        match self {
            Field::YearOfEra | Field::Year | Field::Year2 => "year",
            Field::Month => "month",
            Field::Day => "day",
            Field::DayOfYear => "day of year",
            Field::Hour | Field::ClockHour | Field::Hour12 | Field::ClockHour12 => "hour",
            Field::Minute => "minute",
            Field::Second => "second",
        }
    }
}

/// How an offset is printed (parsing accepts every form).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffsetStyle {
    /// `+01:00` rather than `+0100`.
    pub colon: bool,
    /// Print minutes even when zero (`+0100` rather than `+01`).
    pub minutes: bool,
    /// Print seconds when not zero.
    pub seconds: bool,
    /// Print a zero offset as `Z`.
    pub zero_z: bool,
    /// `GMT+01:00`, and `GMT` for zero.
    pub gmt: bool,
}

/// One pattern letter run, resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spec {
    /// A number; `count` is the number of letters (it sets the width).
    Number { field: Field, count: usize },
    /// `S`…: fraction of second with `count` digits when printed.
    Fraction(usize),
    /// `MMM` (short) or `MMMM` (full).
    MonthText { full: bool },
    /// `EEE` (short) or `EEEE` (full); parsed and ignored.
    DayText { full: bool },
    /// `a`.
    AmPm,
    /// `X`, `x`, `Z`, `ZZ`, `ZZZZ`, `ZZZZZ`.
    Offset(OffsetStyle),
    /// `ZZZ`, `VV`, `zzzz`: the zone id.
    ZoneId,
    /// `z`: the zone abbreviation.
    ZoneName,
}

/// A piece of a pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Element {
    Literal(String),
    Field(Spec),
    /// `[…]`: parsed if present, always printed.
    Optional(Vec<Element>),
}

const fn offset(colon: bool, minutes: bool, seconds: bool, zero_z: bool) -> Spec {
    Spec::Offset(OffsetStyle {
        colon,
        minutes,
        seconds,
        zero_z,
        gmt: false,
    })
}

fn too_many(letter: char, count: usize, max: &str) -> String {
    format!("too many pattern letters `{}`: {max}", letter.to_string().repeat(count))
}

/// Maps `count` repetitions of `letter` to what they mean.
fn spec(letter: char, count: usize) -> Result<Spec, String> {
    let number = |field| Ok(Spec::Number { field, count });
    let upto2 = |field| {
        if count <= 2 {
            Ok(Spec::Number { field, count })
        } else {
            Err(too_many(letter, count, "use 1 or 2"))
        }
    };
    match letter {
        'y' | 'u' if count == 2 => number(Field::Year2),
        'y' => number(Field::YearOfEra),
        'u' => number(Field::Year),
        'M' | 'L' => match count {
            1 | 2 => number(Field::Month),
            3 => Ok(Spec::MonthText { full: false }),
            4 => Ok(Spec::MonthText { full: true }),
            5 => Err(format!(
                "narrow month names (`{letter}{letter}{letter}{letter}{letter}`) are not supported"
            )),
            _ => Err(too_many(letter, count, "use 1 to 4")),
        },
        'd' => upto2(Field::Day),
        'D' if count <= 3 => number(Field::DayOfYear),
        'D' => Err(too_many(letter, count, "use 1 to 3")),
        'H' => upto2(Field::Hour),
        'k' => upto2(Field::ClockHour),
        'K' => upto2(Field::Hour12),
        'h' => upto2(Field::ClockHour12),
        'm' => upto2(Field::Minute),
        's' => upto2(Field::Second),
        'S' if count <= 9 => Ok(Spec::Fraction(count)),
        'S' => Err(too_many(letter, count, "fractions have at most 9 digits (nanoseconds)")),
        'a' if count == 1 => Ok(Spec::AmPm),
        'a' => Err(too_many(letter, count, "use `a`")),
        'E' => match count {
            1..=3 => Ok(Spec::DayText { full: false }),
            4 => Ok(Spec::DayText { full: true }),
            5 => Err("narrow day names (`EEEEE`) are not supported".to_owned()),
            _ => Err(too_many(letter, count, "use 1 to 4")),
        },
        'X' | 'x' => {
            let zero_z = letter == 'X';
            match count {
                1 => Ok(offset(false, false, false, zero_z)),
                2 => Ok(offset(false, true, false, zero_z)),
                3 => Ok(offset(true, true, false, zero_z)),
                4 => Ok(offset(false, true, true, zero_z)),
                5 => Ok(offset(true, true, true, zero_z)),
                _ => Err(too_many(letter, count, "use 1 to 5")),
            }
        }
        'Z' => match count {
            1 => Ok(offset(false, true, false, false)),
            2 => Ok(offset(true, true, false, false)),
            3 => Ok(Spec::ZoneId),
            4 => Ok(Spec::Offset(OffsetStyle {
                colon: true,
                minutes: true,
                seconds: true,
                zero_z: false,
                gmt: true,
            })),
            5 => Ok(offset(true, true, true, true)),
            _ => Err(too_many(letter, count, "use 1 to 5")),
        },
        'z' => match count {
            1..=3 => Ok(Spec::ZoneName),
            4 => Ok(Spec::ZoneId),
            _ => Err(too_many(letter, count, "use 1 to 4")),
        },
        'V' if count == 2 => Ok(Spec::ZoneId),
        'V' => Err("pattern letter `V` must be written `VV` (zone id)".to_owned()),
        'Y' => Err(format!(
            "pattern letter `Y` is the week-based year, which is almost never wanted; use `{}` for the year",
            "y".repeat(count)
        )),
        'G' | 'Q' | 'q' | 'w' | 'W' | 'e' | 'c' | 'F' | 'B' | 'g' | 'n' | 'N' | 'A' | 'v' | 'O' | 'p' => Err(format!(
            "pattern letter `{letter}` is not supported by Sluice's date processor"
        )),
        other => Err(format!("unknown pattern letter `{other}`")),
    }
}

/// Deepest `[[…]]` nesting accepted.
const MAX_NESTING: usize = 8;

/// Compiles a pattern into elements. Quotes, `''`, optional sections and
/// java.time's reserved characters follow `DateTimeFormatterBuilder`.
pub fn compile(pattern: &str) -> Result<Vec<Element>, String> {
    if pattern.trim().is_empty() {
        return Err("date pattern is empty".to_owned());
    }
    let chars: Vec<char> = pattern.chars().collect();
    // Sections still open; the last one receives elements.
    let mut stack: Vec<Vec<Element>> = vec![Vec::new()];
    let push_literal = |stack: &mut Vec<Vec<Element>>, s: &str| {
        if let Some(section) = stack.last_mut() {
            if let Some(Element::Literal(prev)) = section.last_mut() {
                prev.push_str(s);
            } else {
                section.push(Element::Literal(s.to_owned()));
            }
        }
    };
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        if c.is_ascii_alphabetic() {
            let start = i;
            while chars.get(i) == Some(&c) {
                i += 1;
            }
            let s = spec(c, i - start).map_err(|e| format!("{e} (in pattern `{pattern}`)"))?;
            if let Some(section) = stack.last_mut() {
                section.push(Element::Field(s));
            }
            continue;
        }
        i += 1;
        match c {
            '\'' => {
                if chars.get(i) == Some(&'\'') {
                    push_literal(&mut stack, "'");
                    i += 1;
                    continue;
                }
                let mut lit = String::new();
                loop {
                    match chars.get(i) {
                        None => return Err(format!("unterminated quote in pattern `{pattern}`")),
                        Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                            lit.push('\'');
                            i += 2;
                        }
                        Some('\'') => {
                            i += 1;
                            break;
                        }
                        Some(&other) => {
                            lit.push(other);
                            i += 1;
                        }
                    }
                }
                push_literal(&mut stack, &lit);
            }
            '[' => {
                // Parsing recurses into sections; keep a hostile config
                // from exhausting the stack.
                if stack.len() > MAX_NESTING {
                    return Err(format!(
                        "optional sections nested more than {MAX_NESTING} deep in pattern `{pattern}`"
                    ));
                }
                stack.push(Vec::new());
            }
            ']' => {
                if stack.len() < 2 {
                    return Err(format!("`]` without a matching `[` in pattern `{pattern}`"));
                }
                close_section(&mut stack);
            }
            '{' | '}' | '#' => {
                return Err(format!(
                    "character `{c}` is reserved in date patterns; quote it: '{c}' (in pattern `{pattern}`)"
                ));
            }
            other => push_literal(&mut stack, other.encode_utf8(&mut [0; 4])),
        }
    }
    // java.time closes sections left open at the end.
    while stack.len() > 1 {
        close_section(&mut stack);
    }
    let elements = stack.pop().unwrap_or_default();
    if !elements.iter().any(has_field) {
        return Err(format!("pattern `{pattern}` has no date or time letters"));
    }
    Ok(elements)
}

fn close_section(stack: &mut Vec<Vec<Element>>) {
    if let Some(section) = stack.pop()
        && let Some(parent) = stack.last_mut()
    {
        parent.push(Element::Optional(section));
    }
}

fn has_field(e: &Element) -> bool {
    match e {
        Element::Literal(_) => false,
        Element::Field(_) => true,
        Element::Optional(inner) => inner.iter().any(has_field),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lit(s: &str) -> Element {
        Element::Literal(s.to_owned())
    }

    fn num(field: Field, count: usize) -> Element {
        Element::Field(Spec::Number { field, count })
    }

    #[test]
    fn compiles_the_nginx_pattern() {
        let e = compile("dd/MMM/yyyy:HH:mm:ss Z").unwrap();
        assert_eq!(
            e,
            vec![
                num(Field::Day, 2),
                lit("/"),
                Element::Field(Spec::MonthText { full: false }),
                lit("/"),
                num(Field::YearOfEra, 4),
                lit(":"),
                num(Field::Hour, 2),
                lit(":"),
                num(Field::Minute, 2),
                lit(":"),
                num(Field::Second, 2),
                lit(" "),
                Element::Field(offset(false, true, false, false)),
            ]
        );
    }

    #[test]
    fn handles_quotes_and_optional_sections() {
        let e = compile("yyyy-MM-dd'T'HH[:mm[.SSS]]'o''clock'''").unwrap();
        assert_eq!(
            e,
            vec![
                num(Field::YearOfEra, 4),
                lit("-"),
                num(Field::Month, 2),
                lit("-"),
                num(Field::Day, 2),
                lit("T"),
                num(Field::Hour, 2),
                Element::Optional(vec![
                    lit(":"),
                    num(Field::Minute, 2),
                    Element::Optional(vec![lit("."), Element::Field(Spec::Fraction(3))]),
                ]),
                lit("o'clock'"),
            ]
        );
        assert_eq!(compile("HH''mm").unwrap()[1], lit("'"));
        // java.time closes an unclosed section at the end.
        assert_eq!(compile("HH[:mm").unwrap().len(), 2);
    }

    #[test]
    fn maps_letters() {
        let first = |p: &str| compile(p).unwrap().remove(0);
        assert_eq!(first("yy"), num(Field::Year2, 2));
        assert_eq!(first("uuuu"), num(Field::Year, 4));
        assert_eq!(first("MMMM"), Element::Field(Spec::MonthText { full: true }));
        assert_eq!(first("LLL"), Element::Field(Spec::MonthText { full: false }));
        assert_eq!(first("EEEE"), Element::Field(Spec::DayText { full: true }));
        assert_eq!(first("DDD"), num(Field::DayOfYear, 3));
        assert_eq!(first("k"), num(Field::ClockHour, 1));
        assert_eq!(first("SSSSSSSSS"), Element::Field(Spec::Fraction(9)));
        assert_eq!(first("XXX"), Element::Field(offset(true, true, false, true)));
        assert_eq!(first("xx"), Element::Field(offset(false, true, false, false)));
        assert_eq!(first("ZZ"), Element::Field(offset(true, true, false, false)));
        assert_eq!(first("ZZZ"), Element::Field(Spec::ZoneId));
        assert_eq!(first("VV"), Element::Field(Spec::ZoneId));
        assert_eq!(first("z"), Element::Field(Spec::ZoneName));
    }

    #[test]
    fn rejects_bad_patterns() {
        for (pattern, reason) in [
            ("", "empty"),
            ("   ", "empty"),
            ("YYYY-MM-dd", "week-based year"),
            ("yyyy-MM-dd HH:mm:ss.SSSSSSSSSS", "at most 9"),
            ("ddd", "too many pattern letters `ddd`"),
            ("HHH", "too many"),
            ("MMMMM", "narrow month"),
            ("yyyy-MM-dd 'T", "unterminated quote"),
            ("HH]", "without a matching"),
            ("HH{mm}", "reserved"),
            ("yyyy#", "reserved"),
            ("yyyy-MM-dd J", "unknown pattern letter `J`"),
            ("yyyy-ww", "not supported"),
            ("V", "VV"),
            ("aa", "too many"),
            ("EEEEEE", "too many"),
            ("'hello' - ", "no date or time letters"),
            ("HH[[[[[[[[[mm]]]]]]]]]", "nested more than 8 deep"),
        ] {
            let e = compile(pattern).unwrap_err();
            assert!(e.contains(reason), "{pattern}: {e}");
        }
    }
}
