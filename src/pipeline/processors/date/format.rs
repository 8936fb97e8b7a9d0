//! One entry of the `formats` option, compiled: `ISO8601`, `UNIX`,
//! `UNIX_MS`, `TAI64N`, one of ES's built-in format names, or a Java
//! pattern. `a||b` is split into two formats, as ES does.

use super::civil::Instant;
use super::error::ParseError;
use super::locale::Locale;
use super::parser::Parser;
use super::pattern;
use super::special;
use super::zone::Zone;

#[derive(Debug)]
enum Kind {
    Iso8601,
    Unix,
    UnixMs,
    Tai64n,
    Pattern(Parser),
}

/// A compiled format.
#[derive(Debug)]
pub struct Format {
    /// As written, for error messages.
    pub name: String,
    kind: Kind,
}

/// ES built-in names we map onto the formats above or onto patterns.
/// The `strict_` variants share the entry of their lenient twin.
fn builtin(name: &str) -> Option<Result<Kind, &'static str>> {
    let pattern = |p: &'static str| Err(p);
    let base = name.strip_prefix("strict_").unwrap_or(name);
    Some(match base {
        "iso8601" | "date_optional_time" | "date_optional_time_nanos" | "date_time" | "date_time_no_millis" => {
            Ok(Kind::Iso8601)
        }
        "epoch_millis" => Ok(Kind::UnixMs),
        "epoch_second" => Ok(Kind::Unix),
        "date" | "year_month_day" => pattern("yyyy-MM-dd"),
        "year_month" => pattern("yyyy-MM"),
        "year" => pattern("yyyy"),
        "date_hour" => pattern("yyyy-MM-dd'T'HH"),
        "date_hour_minute" => pattern("yyyy-MM-dd'T'HH:mm"),
        "date_hour_minute_second" => pattern("yyyy-MM-dd'T'HH:mm:ss"),
        "date_hour_minute_second_millis" | "date_hour_minute_second_fraction" => pattern("yyyy-MM-dd'T'HH:mm:ss.SSS"),
        "basic_date" => pattern("yyyyMMdd"),
        "basic_date_time" => pattern("yyyyMMdd'T'HHmmss.SSSZ"),
        "basic_date_time_no_millis" => pattern("yyyyMMdd'T'HHmmssZ"),
        _ => return None,
    })
}

/// ES built-in names we do not implement; named so the error says so
/// instead of complaining about pattern letters.
const UNSUPPORTED_BUILTINS: &[&str] = &[
    "basic_ordinal_date",
    "basic_ordinal_date_time",
    "basic_ordinal_date_time_no_millis",
    "basic_time",
    "basic_time_no_millis",
    "basic_t_time",
    "basic_t_time_no_millis",
    "basic_week_date",
    "basic_week_date_time",
    "basic_week_date_time_no_millis",
    "hour",
    "hour_minute",
    "hour_minute_second",
    "hour_minute_second_fraction",
    "hour_minute_second_millis",
    "ordinal_date",
    "ordinal_date_time",
    "ordinal_date_time_no_millis",
    "time",
    "time_no_millis",
    "t_time",
    "t_time_no_millis",
    "week_date",
    "week_date_time",
    "week_date_time_no_millis",
    "weekyear",
    "weekyear_week",
    "weekyear_week_day",
];

impl Format {
    /// Compiles one `formats` entry, which may hold several formats
    /// separated by `||`.
    pub fn compile(spec: &str) -> Result<Vec<Format>, String> {
        spec.split("||").map(Format::compile_one).collect()
    }

    fn compile_one(spec: &str) -> Result<Format, String> {
        let kind = match spec.trim() {
            s if s.eq_ignore_ascii_case("ISO8601") => Kind::Iso8601,
            s if s.eq_ignore_ascii_case("UNIX") => Kind::Unix,
            s if s.eq_ignore_ascii_case("UNIX_MS") => Kind::UnixMs,
            s if s.eq_ignore_ascii_case("TAI64N") => Kind::Tai64n,
            s => match builtin(s) {
                Some(Ok(kind)) => kind,
                Some(Err(p)) => Kind::Pattern(Parser::new(&pattern::compile(p)?)),
                None if UNSUPPORTED_BUILTINS.contains(&s.strip_prefix("strict_").unwrap_or(s)) => {
                    return Err(format!(
                        "the built-in ES date format `{s}` is not supported; write it as a pattern such as `yyyy-MM-dd'T'HH:mm:ss.SSSZ`"
                    ));
                }
                None => Kind::Pattern(Parser::new(
                    &pattern::compile(spec).map_err(|e| format!("invalid date format `{spec}`: {e}"))?,
                )),
            },
        };
        Ok(Format {
            name: spec.to_owned(),
            kind,
        })
    }

    /// Parses `input`. `zone` applies when the text names none and is
    /// ignored by the epoch formats; `now` is asked for only when a
    /// pattern has no year.
    pub fn parse<'f>(
        &'f self,
        input: &str,
        zone: &Zone,
        locale: &Locale,
        now: &mut dyn FnMut() -> i64,
    ) -> Result<Instant, ParseError<'f>> {
        if input.is_empty() {
            return Err(ParseError::Empty);
        }
        match &self.kind {
            Kind::Iso8601 => special::iso8601(input)?.resolve(zone, now),
            Kind::Unix => special::unix(input),
            Kind::UnixMs => special::unix_ms(input),
            Kind::Tai64n => special::tai64n(input),
            Kind::Pattern(p) => Ok(p.parse(input, locale)?.resolve(zone, now)?),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(spec: &str, input: &str) -> Result<Instant, String> {
        let formats = Format::compile(spec)?;
        let mut last = String::new();
        for f in &formats {
            match f.parse(input, &Zone::Utc, Locale::english(), &mut || 0) {
                Ok(i) => return Ok(i),
                Err(e) => last = e.to_string(),
            }
        }
        Err(last)
    }

    #[test]
    fn compiles_special_and_builtin_names() {
        let names = |spec: &str| -> Vec<String> {
            Format::compile(spec)
                .unwrap()
                .into_iter()
                .map(|f| format!("{:?}", f.kind))
                .collect()
        };
        assert_eq!(names("ISO8601"), ["Iso8601"]);
        assert_eq!(names("unix_ms"), ["UnixMs"]);
        assert_eq!(names("TAI64N||UNIX"), ["Tai64n", "Unix"]);
        assert_eq!(names("strict_date_optional_time||epoch_millis"), ["Iso8601", "UnixMs"]);
        assert_eq!(
            parse("basic_date_time", "20161207T110507.123+0100").map(|i| i.secs),
            Ok(1_481_105_107)
        );
        assert_eq!(parse("strict_date", "2016-12-07").map(|i| i.secs), Ok(1_481_068_800));
        assert_eq!(parse("epoch_second", "1481105107").map(|i| i.secs), Ok(1_481_105_107));
        assert_eq!(
            parse("yyyy-MM-dd||UNIX", "1481105107").map(|i| i.secs),
            Ok(1_481_105_107)
        );
    }

    #[test]
    fn rejects_bad_formats() {
        let err = |spec: &str| Format::compile(spec).unwrap_err();
        assert!(err("week_date").contains("built-in ES date format `week_date` is not supported"));
        assert!(err("strict_hour_minute").contains("not supported"));
        assert!(err("YYYY-MM-dd").contains("invalid date format `YYYY-MM-dd`: pattern letter `Y`"));
        assert!(err("yyyy||").contains("empty"));
        assert!(err("").contains("empty"));
    }

    #[test]
    fn empty_input_is_an_error() {
        assert_eq!(parse("ISO8601", ""), Err("the value is empty".to_owned()));
        assert_eq!(parse("UNIX", ""), Err("the value is empty".to_owned()));
    }
}
