//! `date`: parses a date in `field` with the first of `formats` that
//! matches and writes it to `target_field` (default `@timestamp`) as text
//! in `output_format`, in the processor's `timezone`, as the ES `date`
//! processor does. Formats and the output format are compiled once here;
//! per record there is no pattern interpretation, and only the output
//! string is allocated. A text this thread has just parsed (the same second
//! as the line before) is not parsed again (`recent`).
//!
//! The submodules: `pattern` reads Java patterns, `parser` and `printer`
//! run them, `special` holds ISO8601/UNIX/UNIX_MS/TAI64N, `fields` turns
//! parsed fields into an instant, `zone` and `locale` hold the zone and
//! name data, `civil` the calendar arithmetic, `recent` the last few
//! results per thread.

mod civil;
mod error;
mod fields;
mod format;
mod locale;
mod parser;
mod pattern;
mod printer;
mod recent;
mod special;
mod zone;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::RwLock;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::value::Value;
use serde::Deserialize;

use self::format::Format;
use self::locale::Locale;
use self::printer::Printer;
use self::zone::Zone;
use crate::document::Document;
use crate::pipeline::field_path::FieldPath;
use crate::pipeline::processor::{ExecContext, Flow, ProcessError, Processor, parse_config};
use crate::pipeline::template::Template;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    field: String,
    #[serde(default = "default_target_field")]
    target_field: String,
    /// Checked by hand for clearer errors than serde's.
    formats: Value,
    #[serde(default)]
    timezone: Option<String>,
    #[serde(default)]
    locale: Option<String>,
    #[serde(default = "default_output_format")]
    output_format: String,
    /// Sluice extension: ES's `date` has no `ignore_missing`.
    #[serde(default)]
    ignore_missing: bool,
}

// ES default.
fn default_target_field() -> String {
    "@timestamp".to_owned()
}

// ES default: ISO 8601 with milliseconds and `Z` for UTC.
fn default_output_format() -> String {
    "yyyy-MM-dd'T'HH:mm:ss.SSSXXX".to_owned()
}

/// Distinct rendered `timezone`/`locale` values remembered per processor;
/// past this, values are parsed each time rather than growing memory on
/// hostile input.
const TEMPLATE_CACHE_LIMIT: usize = 1024;

/// Longest part of an unparseable value quoted in the error message.
const QUOTED_VALUE_LIMIT: usize = 200;

/// An option that may be a `{{field}}` template.
enum Setting<T: 'static> {
    Fixed(T),
    Template {
        option: &'static str,
        source: String,
        template: Template,
        parse: fn(&str) -> Result<T, String>,
        /// Rendered value → parse result, errors included, so a bad value
        /// seen on every record is not re-parsed every time.
        cache: RwLock<HashMap<String, Result<T, String>>>,
    },
}

impl<T: Copy + 'static> Setting<T> {
    fn compile(
        option: &'static str,
        raw: Option<&str>,
        default: T,
        parse: fn(&str) -> Result<T, String>,
    ) -> Result<Self, String> {
        let Some(raw) = raw else {
            return Ok(Setting::Fixed(default));
        };
        let template = Template::parse(raw).map_err(|e| format!("`{option}`: {e}"))?;
        if template.is_literal() {
            return parse(raw).map(Setting::Fixed).map_err(|e| format!("`{option}`: {e}"));
        }
        Ok(Setting::Template {
            option,
            source: raw.to_owned(),
            template,
            parse,
            cache: RwLock::new(HashMap::new()),
        })
    }

    fn resolve(&self, doc: &Document) -> Result<T, ProcessError> {
        match self {
            Setting::Fixed(v) => Ok(*v),
            Setting::Template {
                option,
                source,
                template,
                parse,
                cache,
            } => {
                let rendered = template.render(doc);
                let cached = cache.read().ok().and_then(|map| map.get(&rendered).cloned());
                let result = match cached {
                    Some(r) => r,
                    None => {
                        let r = parse(&rendered);
                        if let Ok(mut map) = cache.write()
                            && map.len() < TEMPLATE_CACHE_LIMIT
                        {
                            map.insert(rendered.clone(), r.clone());
                        }
                        r
                    }
                };
                result.map_err(|e| ProcessError::new(format!("`{option}` template `{source}` gave `{rendered}`: {e}")))
            }
        }
    }
}

struct Date {
    field: FieldPath,
    target: FieldPath,
    formats: Vec<Format>,
    timezone: Setting<Zone>,
    locale: Setting<&'static Locale>,
    output: Printer,
    ignore_missing: bool,
    /// Current UTC seconds, for formats without a year; a plain function
    /// so tests can pin it.
    clock: fn() -> i64,
    /// This processor's key in the per-thread cache of recent dates; `None`
    /// when a result may depend on more than the text (a templated zone or
    /// locale).
    recent_id: Option<u64>,
}

fn system_clock() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

pub fn build(config: &serde_json::Value) -> Result<Box<dyn Processor>, String> {
    build_with_clock(config, system_clock)
}

fn build_with_clock(config: &serde_json::Value, clock: fn() -> i64) -> Result<Box<dyn Processor>, String> {
    Ok(Box::new(compile(config, clock)?))
}

fn compile(config: &serde_json::Value, clock: fn() -> i64) -> Result<Date, String> {
    let c: Config = parse_config(config)?;
    let specs: Vec<String> = match c.formats {
        Value::String(s) => vec![s.to_string()],
        Value::Array(items) => items
            .into_iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.to_string()),
                other => Err(format!("`formats` entries must be strings, got `{other}`")),
            })
            .collect::<Result<_, _>>()?,
        other => {
            return Err(format!(
                "`formats` must be a list such as [\"dd/MMM/yyyy:HH:mm:ss Z\", \"ISO8601\"], got `{other}`"
            ));
        }
    };
    if specs.is_empty() {
        return Err("`formats` is empty: list at least one format, e.g. ISO8601".to_owned());
    }
    let mut formats = Vec::new();
    for spec in &specs {
        formats.extend(Format::compile(spec).map_err(|e| format!("`formats`: {e}"))?);
    }
    let output = pattern::compile(output_pattern(&c.output_format))
        .map_err(|e| format!("`output_format` `{}`: {e}", c.output_format))?;
    let timezone = Setting::compile("timezone", c.timezone.as_deref(), Zone::Utc, Zone::parse)?;
    let locale = Setting::compile("locale", c.locale.as_deref(), Locale::english(), Locale::lookup)?;
    let recent_id = (matches!(timezone, Setting::Fixed(_)) && matches!(locale, Setting::Fixed(_))).then(recent::new_id);
    Ok(Date {
        field: FieldPath::parse(&c.field)?,
        target: FieldPath::parse(&c.target_field)?,
        formats,
        timezone,
        locale,
        output: Printer::new(&output),
        ignore_missing: c.ignore_missing,
        clock,
        recent_id,
    })
}

/// ES also accepts built-in names as `output_format`; these are the ones
/// that make sense for a string field.
fn output_pattern(name: &str) -> &str {
    match name.strip_prefix("strict_").unwrap_or(name) {
        "iso8601" | "date_optional_time" | "date_time" => "yyyy-MM-dd'T'HH:mm:ss.SSSXXX",
        "date_optional_time_nanos" => "yyyy-MM-dd'T'HH:mm:ss.SSSSSSSSSXXX",
        "date_time_no_millis" => "yyyy-MM-dd'T'HH:mm:ssXXX",
        "date" | "year_month_day" => "yyyy-MM-dd",
        "basic_date" => "yyyyMMdd",
        _ => name,
    }
}

/// The value for the error message, cut at a character boundary.
fn quoted(text: &str) -> String {
    if text.len() <= QUOTED_VALUE_LIMIT {
        return text.to_owned();
    }
    let mut end = QUOTED_VALUE_LIMIT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes)", text.get(..end).unwrap_or_default(), text.len())
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

impl Date {
    /// Re-runs every format to explain each failure. Only on the failure
    /// path, so the success path keeps no error state.
    fn failure(&self, text: &str, zone: &Zone, locale: &Locale) -> ProcessError {
        let mut msg = format!("unable to parse date [{}] in field `{}`: ", quoted(text), self.field);
        for (i, f) in self.formats.iter().enumerate() {
            if i > 0 {
                msg.push_str("; ");
            }
            let reason = match f.parse(text, zone, locale, &mut || (self.clock)()) {
                Err(e) => e.to_string(),
                Ok(_) => "matched".to_owned(),
            };
            let _ = write!(msg, "format [{}]: {reason}", f.name);
        }
        ProcessError::new(msg)
    }
}

impl Processor for Date {
    fn process(&self, doc: &mut Document, _: &mut ExecContext<'_>) -> Result<Flow, ProcessError> {
        let value = match self.field.get(doc) {
            None | Some(Value::Null) if self.ignore_missing => return Ok(Flow::Continue),
            None => return Err(ProcessError::new(format!("field `{}` doesn't exist", self.field))),
            Some(v) => v,
        };
        let number;
        let text = match value {
            Value::String(s) => {
                if let Some(id) = self.recent_id
                    && let Some(formatted) = recent::get(id, s.as_str())
                {
                    self.target.set(doc, formatted)?;
                    return Ok(Flow::Continue);
                }
                s.as_str()
            }
            // ES parses `toString()` of the value; numbers matter for
            // UNIX and UNIX_MS.
            Value::Number(n) => {
                number = n.to_string();
                number.as_str()
            }
            other => {
                return Err(ProcessError::new(format!(
                    "field `{}` is {}, expected a date string or a number",
                    self.field,
                    type_name(other)
                )));
            }
        };
        let zone = self.timezone.resolve(doc)?;
        let locale = self.locale.resolve(doc)?;
        let mut now = None;
        let mut clock = || *now.get_or_insert_with(self.clock);
        let Some(instant) = self
            .formats
            .iter()
            .find_map(|f| f.parse(text, &zone, locale, &mut clock).ok())
        else {
            return Err(self.failure(text, &zone, locale));
        };
        let formatted = Value::from(self.output.format(instant, &zone));
        // A format without a year read the clock: that result is only
        // right until the year turns, so it is not kept.
        if let Some(id) = self.recent_id
            && now.is_none()
            && matches!(value, Value::String(_))
        {
            recent::put(id, text, &formatted);
        }
        self.target.set(doc, formatted)?;
        Ok(Flow::Continue)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::processors::test_util::{run, run_err, run_ref, try_run, try_run_ref};
    use proptest::prelude::*;
    use serde_json::Value;
    use serde_json::json;

    /// 2016-12-07T10:05:07Z.
    fn pinned_clock() -> i64 {
        1_481_105_107
    }

    fn date(config: Value) -> Box<dyn Processor> {
        match build_with_clock(&config, pinned_clock) {
            Ok(p) => p,
            Err(e) => panic!("build failed: {e}"),
        }
    }

    fn timestamp(config: Value, source: Value) -> Value {
        run(date(config), source)["@timestamp"].clone()
    }

    fn build_err(config: Value) -> String {
        match build(&config) {
            Ok(_) => panic!("expected a load-time error for {config}"),
            Err(e) => e,
        }
    }

    #[test]
    fn nginx_access_time_in_utc() {
        let config = json!({"field": "t", "formats": ["dd/MMM/yyyy:HH:mm:ss Z"]});
        assert_eq!(
            timestamp(config, json!({"t": "07/Dec/2016:11:05:07 +0100"})),
            json!("2016-12-07T10:05:07.000Z")
        );
    }

    #[test]
    fn nginx_error_time_with_fixed_offset_timezone() {
        let config = json!({"field": "t", "formats": ["yyyy/MM/dd HH:mm:ss"], "timezone": "-02:00"});
        assert_eq!(
            timestamp(config, json!({"t": "2016/10/25 14:49:34"})),
            json!("2016-10-25T14:49:34.000-02:00")
        );
    }

    #[test]
    fn java_application_log_time() {
        let config = json!({"field": "t", "formats": ["yyyy-MM-dd HH:mm:ss,SSS"], "timezone": "Europe/Berlin"});
        assert_eq!(
            timestamp(config, json!({"t": "2024-03-01 12:00:00,123"})),
            json!("2024-03-01T12:00:00.123+01:00")
        );
        let config = json!({"field": "t", "formats": ["yyyy-MM-dd HH:mm:ss,SSS"], "timezone": "Europe/Berlin"});
        assert_eq!(
            timestamp(config, json!({"t": "2024-07-01 12:00:00,123"})),
            json!("2024-07-01T12:00:00.123+02:00")
        );
    }

    #[test]
    fn zone_in_the_text_is_converted_to_the_processor_timezone() {
        let config = json!({"field": "t", "formats": ["ISO8601"], "timezone": "Asia/Shanghai"});
        assert_eq!(
            timestamp(config, json!({"t": "2016-12-07T10:05:07Z"})),
            json!("2016-12-07T18:05:07.000+08:00")
        );
    }

    #[test]
    fn first_matching_format_wins() {
        let config = json!({"field": "t", "formats": ["UNIX_MS", "ISO8601", "UNIX"]});
        let p = || date(config.clone());
        assert_eq!(
            run(p(), json!({"t": "1481105107123"}))["@timestamp"],
            json!("2016-12-07T10:05:07.123Z")
        );
        assert_eq!(
            run(p(), json!({"t": "2016-12-07T10:05:07.5+00:00"}))["@timestamp"],
            json!("2016-12-07T10:05:07.500Z")
        );
        // A JSON number goes through the same formats.
        assert_eq!(
            run(p(), json!({"t": 1_481_105_107_123_u64}))["@timestamp"],
            json!("2016-12-07T10:05:07.123Z")
        );
    }

    #[test]
    fn epoch_formats_accept_numbers_and_strings() {
        let unix = json!({"field": "t", "formats": ["UNIX"]});
        assert_eq!(
            timestamp(unix.clone(), json!({"t": 1_481_105_107})),
            json!("2016-12-07T10:05:07.000Z")
        );
        assert_eq!(
            timestamp(unix.clone(), json!({"t": 1_481_105_107.25})),
            json!("2016-12-07T10:05:07.250Z")
        );
        assert_eq!(
            timestamp(unix.clone(), json!({"t": "1481105107.999"})),
            json!("2016-12-07T10:05:07.999Z")
        );
        assert_eq!(timestamp(unix, json!({"t": -1})), json!("1969-12-31T23:59:59.000Z"));
        let tai = json!({"field": "t", "formats": ["TAI64N"]});
        assert_eq!(
            timestamp(tai, json!({"t": "@4000000050d506482dbdf024"})),
            json!("2012-12-22T01:00:46.767Z")
        );
    }

    #[test]
    fn defaults_and_target_field() {
        let p = date(json!({"field": "a.b", "target_field": "x.y", "formats": "ISO8601"}));
        let out = run(p, json!({"a": {"b": "2016-12-07"}}));
        assert_eq!(out["x"]["y"], json!("2016-12-07T00:00:00.000Z"));
        assert_eq!(out["a"]["b"], json!("2016-12-07"));
        assert!(out.get("@timestamp").is_none());
    }

    #[test]
    fn custom_output_format() {
        let config = json!({
            "field": "t",
            "formats": ["ISO8601"],
            "timezone": "Europe/Berlin",
            "output_format": "EEE, dd MMM yyyy HH:mm:ss z (ZZZ) a"
        });
        assert_eq!(
            timestamp(config, json!({"t": "2016-12-07T10:05:07Z"})),
            json!("Wed, 07 Dec 2016 11:05:07 CET (Europe/Berlin) AM")
        );
        let config = json!({"field": "t", "formats": ["ISO8601"], "output_format": "strict_date_optional_time_nanos"});
        assert_eq!(
            timestamp(config, json!({"t": "2016-12-07T10:05:07.123456789Z"})),
            json!("2016-12-07T10:05:07.123456789Z")
        );
        let config = json!({"field": "t", "formats": ["ISO8601"], "output_format": "yyyyMMdd"});
        assert_eq!(
            timestamp(config, json!({"t": "2016-12-07T10:05:07Z"})),
            json!("20161207")
        );
    }

    #[test]
    fn syslog_time_without_year() {
        let config = json!({"field": "t", "formats": ["MMM dd HH:mm:ss", "MMM  d HH:mm:ss"]});
        let p = || date(config.clone());
        // The clock is pinned to 2016-12-07T10:05:07Z.
        assert_eq!(
            run(p(), json!({"t": "Dec  7 10:00:00"}))["@timestamp"],
            json!("2016-12-07T10:00:00.000Z")
        );
        assert_eq!(
            run(p(), json!({"t": "Dec 25 10:00:00"}))["@timestamp"],
            json!("2015-12-25T10:00:00.000Z")
        );
        assert_eq!(
            run(p(), json!({"t": "Jan 01 00:00:00"}))["@timestamp"],
            json!("2016-01-01T00:00:00.000Z")
        );
    }

    #[test]
    fn timezone_template_is_resolved_per_document() {
        let config = json!({"field": "t", "formats": ["yyyy-MM-dd HH:mm"], "timezone": "{{tz}}"});
        let p = date(config);
        let mut outputs = Vec::new();
        for tz in ["Europe/Berlin", "+05:30", "UTC", "Europe/Berlin"] {
            let doc = run_ref(&*p, json!({"t": "2016-12-07 10:00", "tz": tz}));
            outputs.push(doc["@timestamp"].clone());
        }
        assert_eq!(
            outputs,
            [
                json!("2016-12-07T10:00:00.000+01:00"),
                json!("2016-12-07T10:00:00.000+05:30"),
                json!("2016-12-07T10:00:00.000Z"),
                json!("2016-12-07T10:00:00.000+01:00"),
            ]
        );
        let e = run_err(
            date(json!({"field": "t", "formats": ["ISO8601"], "timezone": "{{tz}}"})),
            json!({"t": "2016-12-07", "tz": "Mars/Olympus"}),
        );
        assert!(
            e.contains("`timezone` template `{{tz}}` gave `Mars/Olympus`: unknown time zone"),
            "{e}"
        );
        let e = run_err(
            date(json!({"field": "t", "formats": ["ISO8601"], "timezone": "{{tz}}"})),
            json!({"t": "2016-12-07"}),
        );
        assert!(e.contains("time zone is empty"), "{e}");
    }

    #[test]
    fn locales() {
        let cases = [
            ("de", "07. Dezember 2016", "dd. MMMM yyyy", "2016-12-07"),
            ("de_DE", "7 März 2016", "d MMM yyyy", "2016-03-07"),
            ("GERMANY", "Mi, 7 Dez. 2016", "EEE, d MMM yyyy", "2016-12-07"),
            ("fr", "7 févr. 2016", "d MMM yyyy", "2016-02-07"),
            ("FRENCH", "mercredi 7 décembre 2016", "EEEE d MMMM yyyy", "2016-12-07"),
            ("es", "7 de diciembre de 2016", "d 'de' MMMM 'de' yyyy", "2016-12-07"),
            ("it", "7 dic 2016 1:05 PM", "d MMM yyyy h:mm a", "2016-12-07"),
            ("pt-BR", "7 de dezembro de 2016", "d 'de' MMMM 'de' yyyy", "2016-12-07"),
            ("nl", "7 mrt 2016", "d MMM yyyy", "2016-03-07"),
            ("zh", "2016年12月7日 下午1:05", "yyyy年MMMd日 ah:mm", "2016-12-07"),
            ("ENGLISH", "7 DECEMBER 2016", "d MMMM yyyy", "2016-12-07"),
        ];
        for (locale, text, format, want) in cases {
            let config = json!({"field": "t", "formats": [format], "locale": locale, "output_format": "yyyy-MM-dd"});
            assert_eq!(timestamp(config, json!({"t": text})), json!(want), "{locale}");
        }
        let config = json!({"field": "t", "formats": ["yyyy年MMMd日 ah:mm"], "locale": "zh"});
        assert_eq!(
            timestamp(config, json!({"t": "2016年12月7日 下午1:05"})),
            json!("2016-12-07T13:05:00.000Z")
        );
        let config = json!({"field": "t", "formats": ["d MMM yyyy"], "locale": "{{lang}}", "output_format": "yyyy-MM"});
        let p = date(config);
        let out = run_ref(&*p, json!({"t": "7 Dez 2016", "lang": "de"}));
        assert_eq!(out["@timestamp"], json!("2016-12"));
        let out = run_ref(&*p, json!({"t": "7 Dec 2016", "lang": "en"}));
        assert_eq!(out["@timestamp"], json!("2016-12"));
        let e = run_err(p, json!({"t": "7 Dec 2016", "lang": "ja"}));
        assert!(
            e.contains("`locale` template `{{lang}}` gave `ja`: locale `ja` is not supported"),
            "{e}"
        );
    }

    #[test]
    fn failures_name_the_value_field_and_every_format() {
        let p = date(json!({"field": "t", "formats": ["dd/MMM/yyyy:HH:mm:ss Z", "ISO8601"]}));
        let e = run_err(p, json!({"t": "xyz"}));
        assert_eq!(
            e,
            "unable to parse date [xyz] in field `t`: format [dd/MMM/yyyy:HH:mm:ss Z]: expected digits of the day \
             at position 0; format [ISO8601]: expected digits of the year at position 0"
        );
        let p = date(json!({"field": "t", "formats": ["yyyy-MM-dd"]}));
        let e = run_err(p, json!({"t": "2015-02-29"}));
        assert!(
            e.ends_with("format [yyyy-MM-dd]: 2015-02-29 is not a valid date"),
            "{e}"
        );
        let p = date(json!({"field": "t", "formats": ["UNIX"]}));
        let e = run_err(p, json!({"t": "x".repeat(10_000)}));
        assert!(e.contains("… (10000 bytes)") && e.len() < 400, "{e}");
        let p = date(json!({"field": "t", "formats": ["UNIX"]}));
        assert!(run_err(p, json!({"t": ""})).contains("format [UNIX]: the value is empty"));
    }

    #[test]
    fn missing_null_and_wrong_types() {
        let config = json!({"field": "t", "formats": ["ISO8601"]});
        assert_eq!(run_err(date(config.clone()), json!({})), "field `t` doesn't exist");
        assert!(run_err(date(config.clone()), json!({"t": null})).contains("is null"));
        assert!(run_err(date(config.clone()), json!({"t": true})).contains("is a boolean"));
        assert!(run_err(date(config.clone()), json!({"t": ["2016-12-07"]})).contains("is an array"));
        assert!(run_err(date(config), json!({"t": {"a": 1}})).contains("is an object"));
        let config = json!({"field": "t", "formats": ["ISO8601"], "ignore_missing": true});
        assert_eq!(run(date(config.clone()), json!({})), json!({}));
        assert_eq!(run(date(config), json!({"t": null})), json!({"t": null}));
    }

    #[test]
    fn target_that_cannot_be_set_is_an_error() {
        let p = date(json!({"field": "t", "target_field": "t.x", "formats": ["ISO8601"]}));
        assert!(try_run(p, json!({"t": "2016-12-07"})).is_err());
    }

    #[test]
    fn rejects_bad_options_at_load_time() {
        let cases = [
            (json!({"formats": ["ISO8601"]}), "missing field `field`"),
            (json!({"field": "t"}), "missing field `formats`"),
            (json!({"field": "t", "formats": []}), "`formats` is empty"),
            (json!({"field": "t", "formats": 5}), "`formats` must be a list"),
            (json!({"field": "t", "formats": [5]}), "entries must be strings"),
            (json!({"field": "t", "formats": ["YYYY-MM-dd"]}), "week-based year"),
            (
                json!({"field": "t", "formats": ["yyyy-MM-dd Q"]}),
                "`Q` is not supported",
            ),
            (
                json!({"field": "t", "formats": ["yyyy-MM-dd J"]}),
                "unknown pattern letter `J`",
            ),
            (
                json!({"field": "t", "formats": ["ISO8601"], "timezone": "Mars/Olympus"}),
                "`timezone`: unknown time zone",
            ),
            (
                json!({"field": "t", "formats": ["ISO8601"], "timezone": "+25:00"}),
                "unknown time zone",
            ),
            (
                json!({"field": "t", "formats": ["ISO8601"], "timezone": "{{tz"}),
                "unterminated",
            ),
            (
                json!({"field": "t", "formats": ["ISO8601"], "locale": "ja"}),
                "`locale`: locale `ja` is not supported",
            ),
            (
                json!({"field": "t", "formats": ["ISO8601"], "locale": "??"}),
                "invalid locale",
            ),
            (
                json!({"field": "t", "formats": ["ISO8601"], "output_format": "yyyy-MM-dd HH:mm:ss.SSSSSSSSSS"}),
                "`output_format`",
            ),
            (
                json!({"field": "t", "formats": ["ISO8601"], "output_format": ""}),
                "empty",
            ),
            (json!({"field": "t", "formats": ["ISO8601"], "bogus": 1}), "bogus"),
            (json!({"field": "", "formats": ["ISO8601"]}), "empty"),
            (
                json!({"field": "t", "formats": ["ISO8601"], "timezone": 1}),
                "invalid type",
            ),
        ];
        for (config, want) in cases {
            let e = build_err(config.clone());
            assert!(e.contains(want), "{config}: {e}");
        }
    }

    #[test]
    fn survives_huge_and_odd_inputs() {
        let big = "9".repeat(1 << 20);
        for format in [
            "ISO8601",
            "UNIX",
            "UNIX_MS",
            "TAI64N",
            "dd/MMM/yyyy:HH:mm:ss Z",
            "y",
            "SSS",
        ] {
            let p = date(json!({"field": "t", "formats": [format]}));
            assert!(try_run(p, json!({"t": big})).is_err(), "{format}");
        }
        let p = date(json!({"field": "t", "formats": ["UNIX"]}));
        assert!(run_err(p, json!({"t": 1e300})).contains("outside years 0000-9999"));
        let p = date(json!({"field": "t", "formats": ["UNIX_MS"]}));
        assert!(run_err(p, json!({"t": u64::MAX})).contains("outside years"));
        let p = date(json!({"field": "t", "formats": ["yyyy-MM-dd HH:mm:ss"]}));
        assert!(run_err(p, json!({"t": "2016-12-31 23:59:60"})).contains("second 60 is out of range"));
    }

    /// The pinned clock's seconds, changed by `year_less_dates_are_not_cached`.
    static MOVING_NOW: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(1_481_105_107);

    fn moving_clock() -> i64 {
        MOVING_NOW.load(std::sync::atomic::Ordering::Relaxed)
    }

    #[test]
    fn year_less_dates_are_not_cached() {
        let p = compile(&json!({"field": "t", "formats": ["MMM dd HH:mm:ss"]}), moving_clock)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(p.recent_id.is_some());
        let stamp = |p: &Date| run_ref(p, json!({"t": "Dec 25 10:00:00"}))["@timestamp"].clone();
        // 2016-12-07: Dec 25 is still to come, so it was last year's.
        assert_eq!(stamp(&p), json!("2015-12-25T10:00:00.000Z"));
        // A year later the same text means 2016.
        MOVING_NOW.store(1_481_105_107 + 365 * 86_400, std::sync::atomic::Ordering::Relaxed);
        assert_eq!(stamp(&p), json!("2016-12-25T10:00:00.000Z"));
    }

    #[test]
    fn templated_zones_and_locales_are_not_cached() {
        let id = |config: Value| compile(&config, pinned_clock).map(|d| d.recent_id.is_some());
        assert_eq!(id(json!({"field": "t", "formats": ["ISO8601"]})), Ok(true));
        assert_eq!(
            id(json!({"field": "t", "formats": ["ISO8601"], "timezone": "Europe/Berlin", "locale": "de"})),
            Ok(true)
        );
        assert_eq!(
            id(json!({"field": "t", "formats": ["ISO8601"], "timezone": "{{tz}}"})),
            Ok(false)
        );
        assert_eq!(
            id(json!({"field": "t", "formats": ["ISO8601"], "locale": "{{lang}}"})),
            Ok(false)
        );
    }

    #[test]
    fn a_cached_date_is_set_like_a_parsed_one() {
        let p = date(json!({"field": "t", "formats": ["dd/MMM/yyyy:HH:mm:ss Z"], "target_field": "a.b"}));
        for _ in 0..3 {
            let doc = run_ref(&*p, json!({"t": "01/Mar/2024:12:00:00 +0800"}));
            assert_eq!(
                doc,
                json!({"t": "01/Mar/2024:12:00:00 +0800", "a": {"b": "2024-03-01T04:00:00.000Z"}})
            );
        }
        // A target that cannot be set fails on a hit too.
        let e = try_run_ref(&*p, json!({"t": "01/Mar/2024:12:00:00 +0800", "a": "text"})).map(|_| ());
        assert!(e.is_err_and(|e| e.contains("cannot set `a.b`")));
    }

    fn all_format_processor() -> Box<dyn Processor> {
        date(json!({
            "field": "t",
            "formats": [
                "dd/MMM/yyyy:HH:mm:ss Z", "yyyy/MM/dd HH:mm:ss", "MMM d HH:mm:ss", "EEE, d MMMM yy h:mm a z",
                "yyyyMMddHHmmssSSS", "uuuu-DDD'T'k[:mm[:ss[.SSSSSS]]]VV", "ISO8601", "UNIX", "UNIX_MS", "TAI64N"
            ],
            "timezone": "{{tz}}",
            "locale": "{{lang}}",
            "output_format": "yyyy-MM-dd'T'HH:mm:ss.SSSSSSSSSXXX EEEE MMMM z VV ZZZZ D a"
        }))
    }

    proptest! {
        #[test]
        fn arbitrary_strings_never_panic(t in any::<String>(), tz in any::<String>(), lang in "[a-z]{2}") {
            let _ = try_run(all_format_processor(), json!({"t": t, "tz": tz, "lang": lang}));
        }

        #[test]
        fn date_like_strings_never_panic(
            t in "[0-9A-Za-z/:. ,+\\-@éä月]{0,40}",
            tz in prop_oneof![Just("UTC"), Just("Europe/Berlin"), Just("-02:30"), Just("America/St_Johns")],
        ) {
            let _ = try_run(all_format_processor(), json!({"t": t, "tz": tz, "lang": "en"}));
        }

        #[test]
        fn arbitrary_patterns_never_panic(
            tokens in prop::collection::vec(
                prop_oneof![
                    prop::sample::select(vec![
                        "y", "yy", "yyyy", "u", "M", "MM", "MMM", "MMMM", "d", "dd", "D", "DDD", "H", "HH", "h", "k",
                        "K", "m", "mm", "s", "ss", "S", "SSS", "SSSSSSSSS", "a", "EEE", "EEEE", "Z", "ZZ", "ZZZ",
                        "ZZZZ", "X", "XXX", "xx", "z", "VV", "[", "]", "'", "''", "-", "/", ":", ".", " ", ",",
                    ]).prop_map(str::to_owned),
                    "[a-zA-Z]{1,3}|[^a-zA-Z]",
                ],
                0..12,
            ),
            input in "[0-9A-Za-z/:. ,+\\-]{0,30}",
        ) {
            let pattern = tokens.concat();
            let configs = [
                json!({"field": "t", "formats": [pattern.clone()], "output_format": pattern.clone()}),
                json!({"field": "t", "formats": [pattern.clone()]}),
            ];
            for p in configs.iter().filter_map(|c| build(c).ok()) {
                let _ = try_run(p, json!({"t": input}));
            }
        }

        /// The per-thread cache of recent dates changes no result: a run
        /// of texts with repeats (valid, invalid, several zones and two
        /// processors sharing the thread's entries) gives the same
        /// documents and errors as processors that parse every time.
        #[test]
        fn recent_dates_change_no_result(picks in prop::collection::vec((0usize..12, any::<bool>()), 1..60)) {
            const TEXTS: [&str; 12] = [
                "01/Mar/2024:12:00:00 +0000", "01/Mar/2024:12:00:00 +0800", "01/Mar/2024:12:00:01 +0000",
                "01/Mar/2024:12:00:00 -0330", "31/Dec/1999:23:59:59 +1400", "2024-03-01T12:00:00Z",
                "2024-03-01 12:00:00,123", "01/Mar/2024:25:00:00 +0000", "", "01/Mär/2024:12:00:00 +0000",
                "1709294400", "29/Feb/2023:00:00:00 +0000",
            ];
            let configs = [
                json!({"field": "t", "formats": ["dd/MMM/yyyy:H:m:s Z", "ISO8601"]}),
                json!({"field": "t", "formats": ["yyyy-MM-dd HH:mm:ss,SSS", "UNIX"], "timezone": "Europe/Berlin",
                       "output_format": "yyyy-MM-dd'T'HH:mm:ss.SSSSSSXXX"}),
            ];
            let build = |c: &Value, cached: bool| {
                compile(c, pinned_clock).map(|mut d| {
                    if !cached {
                        d.recent_id = None;
                    }
                    d
                }).unwrap_or_else(|e| panic!("{e}"))
            };
            let cached: Vec<Date> = configs.iter().map(|c| build(c, true)).collect();
            let plain: Vec<Date> = configs.iter().map(|c| build(c, false)).collect();
            let outcome = |p: &Date, text: &str| try_run_ref(p, json!({"t": text})).map(|(_, d)| d.source.to_json());

            for (text, second) in picks {
                let which = usize::from(second);
                prop_assert_eq!(outcome(&cached[which], TEXTS[text]), outcome(&plain[which], TEXTS[text]));
            }
        }

        #[test]
        fn numbers_never_panic(n in any::<f64>(), i in any::<i64>()) {
            let _ = try_run(all_format_processor(), json!({"t": n, "tz": "UTC", "lang": "en"}));
            let _ = try_run(all_format_processor(), json!({"t": i, "tz": "Asia/Kolkata", "lang": "en"}));
        }

        #[test]
        fn iso8601_round_trips(secs in civil::MIN_SECS + 86_400..civil::MAX_SECS - 86_400, nanos in 0u32..1_000_000_000) {
            let p = date(json!({
                "field": "t", "formats": ["ISO8601"], "timezone": "-02:30",
                "output_format": "strict_date_optional_time_nanos"
            }));
            let text = printer::Printer::new(&pattern::compile("uuuu-MM-dd'T'HH:mm:ss.SSSSSSSSSXXX").unwrap())
                .format(civil::Instant { secs, nanos }, &Zone::Fixed(3600));
            let out = run(p, json!({"t": text}));
            let back = special::iso8601(out["@timestamp"].as_str().unwrap_or_default())
                .and_then(|f| f.resolve(&Zone::Utc, &mut || 0))
                .map_err(|e| e.to_string());
            prop_assert_eq!(back, Ok(civil::Instant { secs, nanos }));
        }
    }
}
