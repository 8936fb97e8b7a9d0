//! Index names from patterns like `logs-nginx-%{+yyyy.MM.dd}`, using the
//! document's own `@timestamp` in a configured timezone, so one day in
//! Asia/Shanghai is one index, and a late record lands in the index of the
//! day it happened, not the day it was consumed.
//!
//! `%{+…}` takes a date format (yyyy, yy, MM, M, dd, d, HH, H, literal
//! punctuation); `%{field.path}` takes a field's value (lowercased, with
//! characters Elasticsearch forbids in index names replaced by `_`).

use crate::value::Value;
use chrono::{DateTime, Datelike, FixedOffset, TimeZone, Timelike, Utc};
use chrono_tz::Tz;

use crate::document::Document;
use crate::pipeline::field_path::FieldPath;

#[derive(Debug, Clone, PartialEq)]
enum DatePart {
    Year4,
    Year2,
    Month2,
    Month,
    Day2,
    Day,
    Hour2,
    Hour,
    Literal(String),
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Literal(String),
    Date(Vec<DatePart>),
    Field(FieldPath),
}

/// A compiled index name pattern.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexPattern {
    parts: Vec<Part>,
    source: String,
}

/// Why a document has no index name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IndexNameError {
    /// `@timestamp` is absent.
    #[error("document has no @timestamp")]
    MissingTimestamp,
    /// `@timestamp` is not a date.
    #[error("document @timestamp {0} is not an ISO 8601 date or epoch milliseconds")]
    BadTimestamp(String),
    /// A `%{field}` in the pattern is absent.
    #[error("index pattern field `{0}` is missing or not a scalar")]
    MissingField(String),
}

const FORBIDDEN: &[char] = &['\\', '/', '*', '?', '"', '<', '>', '|', ' ', ',', '#', ':'];

impl IndexPattern {
    /// Compiles a pattern, rejecting names Elasticsearch would refuse.
    pub fn compile(src: &str) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut rest = src;
        while let Some(start) = rest.find("%{") {
            if start > 0 {
                parts.push(Part::Literal(rest[..start].to_owned()));
            }
            let after = &rest[start + 2..];
            let end = after
                .find('}')
                .ok_or_else(|| format!("index pattern `{src}` has an unterminated `%{{`"))?;
            let inner = &after[..end];
            if let Some(fmt) = inner.strip_prefix('+') {
                parts.push(Part::Date(
                    compile_date(fmt).map_err(|e| format!("index pattern `{src}`: {e}"))?,
                ));
            } else {
                let field = inner.trim_start_matches('[').trim_end_matches(']').replace("][", ".");
                parts.push(Part::Field(
                    FieldPath::parse(&field).map_err(|e| format!("index pattern `{src}`: {e}"))?,
                ));
            }
            rest = &after[end + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Literal(rest.to_owned()));
        }
        if parts.is_empty() {
            return Err("index pattern is empty".to_owned());
        }
        for p in &parts {
            if let Part::Literal(l) = p
                && l.chars().any(|c| c.is_uppercase() || FORBIDDEN.contains(&c))
            {
                return Err(format!(
                    "index pattern `{src}`: index names must be lowercase and cannot contain {}",
                    FORBIDDEN.iter().map(|c| format!("`{c}`")).collect::<Vec<_>>().join(" ")
                ));
            }
        }
        if let Some(Part::Literal(first)) = parts.first()
            && first.starts_with(['-', '_', '+', '.'])
        {
            return Err(format!(
                "index pattern `{src}`: an index name cannot start with `-`, `_`, `+` or `.`"
            ));
        }
        Ok(IndexPattern {
            parts,
            source: src.to_owned(),
        })
    }

    /// True if the name depends on the document's date.
    pub fn uses_date(&self) -> bool {
        self.parts.iter().any(|p| matches!(p, Part::Date(_)))
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Renders the index name for a document whose timestamp is `ts`.
    pub fn render(&self, doc: &Document, ts: Option<DateTime<FixedOffset>>, tz: Tz) -> Result<String, IndexNameError> {
        let mut out = String::with_capacity(self.source.len() + 8);
        let local = ts.map(|t| t.with_timezone(&tz));
        for part in &self.parts {
            match part {
                Part::Literal(l) => out.push_str(l),
                Part::Date(items) => {
                    let Some(t) = &local else {
                        return Err(IndexNameError::MissingTimestamp);
                    };
                    for item in items {
                        push_date(&mut out, item, t);
                    }
                }
                Part::Field(path) => {
                    let v = match path.get(doc) {
                        Some(Value::String(s)) if !s.is_empty() => s.to_string(),
                        Some(Value::Number(n)) => n.to_string(),
                        Some(Value::Bool(b)) => b.to_string(),
                        _ => return Err(IndexNameError::MissingField(path.to_string())),
                    };
                    for c in v.chars() {
                        if FORBIDDEN.contains(&c) {
                            out.push('_');
                        } else {
                            out.extend(c.to_lowercase());
                        }
                    }
                }
            }
        }
        Ok(out)
    }
}

fn compile_date(fmt: &str) -> Result<Vec<DatePart>, String> {
    let mut out = Vec::new();
    let chars: Vec<char> = fmt.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let mut n = 1;
        while i + n < chars.len() && chars[i + n] == c {
            n += 1;
        }
        let part = match (c, n) {
            ('y', 4) => DatePart::Year4,
            ('y', 2) => DatePart::Year2,
            ('M', 2) => DatePart::Month2,
            ('M', 1) => DatePart::Month,
            ('d', 2) => DatePart::Day2,
            ('d', 1) => DatePart::Day,
            ('H', 2) => DatePart::Hour2,
            ('H', 1) => DatePart::Hour,
            (c, _) if c.is_ascii_alphabetic() => {
                return Err(format!(
                    "date format `{fmt}`: `{}` is not supported in index names (use yyyy, yy, MM, M, dd, d, HH, H)",
                    c.to_string().repeat(n)
                ));
            }
            (c, n) => DatePart::Literal(c.to_string().repeat(n)),
        };
        out.push(part);
        i += n;
    }
    if out.is_empty() {
        return Err("empty date format in `%{+}`".to_owned());
    }
    Ok(out)
}

fn push_date(out: &mut String, item: &DatePart, t: &DateTime<Tz>) {
    use std::fmt::Write;
    // Writing into a String cannot fail.
    let _ = match item {
        DatePart::Year4 => write!(out, "{:04}", t.year()),
        DatePart::Year2 => write!(out, "{:02}", t.year().rem_euclid(100)),
        DatePart::Month2 => write!(out, "{:02}", t.month()),
        DatePart::Month => write!(out, "{}", t.month()),
        DatePart::Day2 => write!(out, "{:02}", t.day()),
        DatePart::Day => write!(out, "{}", t.day()),
        DatePart::Hour2 => write!(out, "{:02}", t.hour()),
        DatePart::Hour => write!(out, "{}", t.hour()),
        DatePart::Literal(l) => {
            out.push_str(l);
            Ok(())
        }
    };
}

/// Reads a document's `@timestamp`: an ISO 8601 / RFC 3339 string (as the
/// date processor writes it) or epoch milliseconds.
pub fn document_timestamp(doc: &Document) -> Result<DateTime<FixedOffset>, IndexNameError> {
    match doc.source.get("@timestamp") {
        None | Some(Value::Null) => Err(IndexNameError::MissingTimestamp),
        Some(Value::String(s)) => parse_timestamp(s).ok_or_else(|| IndexNameError::BadTimestamp(format!("\"{s}\""))),
        Some(Value::Number(n)) => n
            .as_i64()
            .and_then(|ms| Utc.timestamp_millis_opt(ms).single())
            .map(|t| t.fixed_offset())
            .ok_or_else(|| IndexNameError::BadTimestamp(n.to_string())),
        Some(other) => Err(IndexNameError::BadTimestamp(other.to_string())),
    }
}

fn parse_timestamp(s: &str) -> Option<DateTime<FixedOffset>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t);
    }
    // Date-only or zone-less forms are taken as UTC, as Elasticsearch's
    // strict_date_optional_time does.
    if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return d.and_hms_opt(0, 0, 0).map(|n| Utc.from_utc_datetime(&n).fixed_offset());
    }
    chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
        .ok()
        .map(|n| Utc.from_utc_datetime(&n).fixed_offset())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc(v: serde_json::Value) -> Document {
        match v {
            serde_json::Value::Object(m) => Document::from_source(m),
            _ => Document::default(),
        }
    }

    #[test]
    fn daily_index_in_utc_and_shanghai() {
        let p = IndexPattern::compile("logs-nginx-%{+yyyy.MM.dd}").unwrap();
        // 2024-03-01T20:30Z is already March 2nd in Beijing.
        let d = doc(json!({"@timestamp": "2024-03-01T20:30:00.000Z"}));
        let ts = document_timestamp(&d).unwrap();
        assert_eq!(p.render(&d, Some(ts), Tz::UTC).unwrap(), "logs-nginx-2024.03.01");
        assert_eq!(
            p.render(&d, Some(ts), "Asia/Shanghai".parse().unwrap()).unwrap(),
            "logs-nginx-2024.03.02"
        );
        let d = doc(json!({"@timestamp": "2016-10-25T14:49:34.000-02:00"}));
        let ts = document_timestamp(&d).unwrap();
        assert_eq!(p.render(&d, Some(ts), Tz::UTC).unwrap(), "logs-nginx-2016.10.25");
    }

    #[test]
    fn epoch_millis_and_bad_timestamps() {
        let d = doc(json!({"@timestamp": 1_700_000_000_000_i64}));
        assert_eq!(
            document_timestamp(&d).unwrap().to_rfc3339(),
            "2023-11-14T22:13:20+00:00"
        );
        assert_eq!(
            document_timestamp(&doc(json!({}))).unwrap_err(),
            IndexNameError::MissingTimestamp
        );
        assert!(matches!(
            document_timestamp(&doc(json!({"@timestamp": "yesterday"}))),
            Err(IndexNameError::BadTimestamp(_))
        ));
        let p = IndexPattern::compile("x-%{+yyyy}").unwrap();
        assert_eq!(
            p.render(&doc(json!({})), None, Tz::UTC).unwrap_err(),
            IndexNameError::MissingTimestamp
        );
    }

    #[test]
    fn field_parts_are_sanitised() {
        let p = IndexPattern::compile("logs-%{service.name}-%{+yyyy.MM}").unwrap();
        let d = doc(json!({"service": {"name": "Pay Ments/API"}, "@timestamp": "2024-01-05T00:00:00Z"}));
        let ts = document_timestamp(&d).ok();
        assert_eq!(p.render(&d, ts, Tz::UTC).unwrap(), "logs-pay_ments_api-2024.01");
        assert_eq!(
            p.render(&doc(json!({})), ts, Tz::UTC).unwrap_err(),
            IndexNameError::MissingField("service.name".into())
        );
        assert!(!IndexPattern::compile("static").unwrap().uses_date());
    }

    #[test]
    fn bad_patterns_are_rejected() {
        assert!(IndexPattern::compile("Logs").is_err());
        assert!(IndexPattern::compile("logs-%{+yyyy.ww}").is_err());
        assert!(IndexPattern::compile("logs-%{+yyyy").is_err());
        assert!(IndexPattern::compile("_x").is_err());
        assert!(IndexPattern::compile("").is_err());
    }
}
