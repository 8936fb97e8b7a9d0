//! Rule filters as Elasticsearch query DSL (and as the equivalent Lucene
//! query string for Kibana links), the search bodies rules send, and the
//! parsing of their answers. Only `bool`/`term`/`terms`/`exists`/`range`/
//! `query_string`, `terms` + `top_hits` and fixed-interval `date_histogram`
//! are used: all of it is the same in Elasticsearch 7/8 and OpenSearch.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::clock::Millis;
use super::config::{ConditionConfig, RangeConfig};
use super::window::Window;

/// Group key for documents without the `group_by` field. A `terms`
/// aggregation's `missing` bucket, so a burst from a service that does not
/// set `service.name` still counts.
pub const MISSING_GROUP: &str = "(none)";

/// What a rule queries.
#[derive(Debug, Clone)]
pub struct QuerySpec {
    /// Index pattern.
    pub index: String,
    /// Event time field.
    pub timestamp_field: String,
    /// Conditions (all must hold).
    pub filter: Vec<ConditionConfig>,
    /// Keyword field to group by.
    pub group_by: Option<String>,
    /// Terms aggregation size.
    pub max_groups: usize,
}

/// One group's result of a frequency query.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupCount {
    /// Group key (empty without `group_by`).
    pub key: String,
    /// Documents in the window.
    pub count: u64,
    /// Earliest documents (`_source`), up to the sample size.
    pub samples: Vec<Value>,
}

impl QuerySpec {
    /// The `bool` query for `window` (and one group, for display).
    pub fn query(&self, window: Window, group: Option<&str>) -> Value {
        let mut filter = Vec::new();
        let mut must_not = Vec::new();
        for c in &self.filter {
            let clause = condition_dsl(c);
            let negate = c.not != (c.exists == Some(false));
            if negate {
                must_not.push(clause);
            } else {
                filter.push(clause);
            }
        }
        if let (Some(field), Some(g)) = (&self.group_by, group) {
            if g == MISSING_GROUP {
                must_not.push(json!({"exists": {"field": field}}));
            } else {
                filter.push(json!({"term": {field.as_str(): g}}));
            }
        }
        filter.push(json!({"range": {self.timestamp_field.as_str(): {
            "gte": window.start, "lt": window.end, "format": "epoch_millis"
        }}}));
        let mut b = Map::new();
        b.insert("filter".into(), Value::Array(filter));
        if !must_not.is_empty() {
            b.insert("must_not".into(), Value::Array(must_not));
        }
        json!({ "bool": b })
    }

    /// Search body counting documents in `window`, with samples; grouped by
    /// `group_by` if set.
    pub fn frequency_body(&self, window: Window, samples: usize) -> Value {
        let sort = json!([{ self.timestamp_field.as_str(): {"order": "asc"} }]);
        match &self.group_by {
            None => json!({
                "size": samples,
                "track_total_hits": true,
                "query": self.query(window, None),
                "sort": sort,
            }),
            Some(field) => {
                let mut terms = json!({"terms": {
                    "field": field, "size": self.max_groups, "missing": MISSING_GROUP
                }});
                if samples > 0 {
                    terms["aggs"] = json!({"samples": {"top_hits": {"size": samples, "sort": sort}}});
                }
                json!({
                    "size": 0,
                    "query": self.query(window, None),
                    "aggs": {"groups": terms},
                })
            }
        }
    }

    /// Search body with per-interval counts over `range` (which is aligned
    /// to `interval`), grouped if `group_by` is set.
    pub fn histogram_body(&self, range: Window, interval: Millis) -> Value {
        let histogram = json!({"date_histogram": {
            "field": self.timestamp_field,
            "fixed_interval": format!("{interval}ms"),
            "min_doc_count": 0,
            "extended_bounds": {"min": range.start, "max": range.end - interval},
        }});
        let aggs = match &self.group_by {
            None => json!({"buckets": histogram}),
            Some(field) => json!({"groups": {
                "terms": {"field": field, "size": self.max_groups, "missing": MISSING_GROUP},
                "aggs": {"buckets": histogram},
            }}),
        };
        json!({"size": 0, "query": self.query(range, None), "aggs": aggs})
    }

    /// The filter as a Lucene query string (what Kibana's Discover gets).
    pub fn lucene(&self, group: Option<&str>) -> String {
        let mut parts: Vec<String> = self.filter.iter().map(condition_lucene).collect();
        if let (Some(field), Some(g)) = (&self.group_by, group) {
            if g == MISSING_GROUP {
                parts.push(format!("NOT _exists_:{}", escape_field(field)));
            } else {
                parts.push(format!("{}:{}", escape_field(field), quote(g)));
            }
        }
        if parts.is_empty() {
            "*".to_owned()
        } else {
            parts.join(" AND ")
        }
    }
}

fn condition_dsl(c: &ConditionConfig) -> Value {
    let field = c.field.as_deref().unwrap_or_default();
    if let Some(v) = &c.equals {
        json!({"term": {field: v}})
    } else if let Some(vs) = &c.any_of {
        json!({"terms": {field: vs}})
    } else if c.exists.is_some() {
        json!({"exists": {"field": field}})
    } else if let Some(r) = &c.range {
        json!({"range": {field: range_dsl(r)}})
    } else {
        json!({"query_string": {"query": c.query.as_deref().unwrap_or("*")}})
    }
}

fn range_dsl(r: &RangeConfig) -> Value {
    let mut m = Map::new();
    for (k, v) in [("gte", &r.gte), ("gt", &r.gt), ("lte", &r.lte), ("lt", &r.lt)] {
        if let Some(v) = v {
            m.insert(k.into(), v.clone());
        }
    }
    Value::Object(m)
}

fn condition_lucene(c: &ConditionConfig) -> String {
    let field = escape_field(c.field.as_deref().unwrap_or_default());
    let positive = if let Some(v) = &c.equals {
        format!("{field}:{}", lucene_value(v))
    } else if let Some(vs) = &c.any_of {
        let vs: Vec<String> = vs.iter().map(lucene_value).collect();
        format!("{field}:({})", vs.join(" OR "))
    } else if c.exists.is_some() {
        format!("_exists_:{field}")
    } else if let Some(r) = &c.range {
        let (open, low) = match (&r.gte, &r.gt) {
            (Some(v), _) => ('[', lucene_value(v)),
            (None, Some(v)) => ('{', lucene_value(v)),
            _ => ('[', "*".to_owned()),
        };
        let (close, high) = match (&r.lte, &r.lt) {
            (Some(v), _) => (']', lucene_value(v)),
            (None, Some(v)) => ('}', lucene_value(v)),
            _ => (']', "*".to_owned()),
        };
        format!("{field}:{open}{low} TO {high}{close}")
    } else {
        format!("({})", c.query.as_deref().unwrap_or("*"))
    };
    if c.not != (c.exists == Some(false)) {
        format!("NOT {positive}")
    } else {
        positive
    }
}

fn lucene_value(v: &Value) -> String {
    match v {
        Value::String(s) => quote(s),
        other => other.to_string(),
    }
}

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

fn escape_field(f: &str) -> String {
    let mut out = String::with_capacity(f.len());
    for ch in f.chars() {
        if "+-=&|><!(){}[]^\"~*?:\\/ ".contains(ch) {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}

/// Reads a frequency answer. Ungrouped: one entry with key `""`.
pub fn parse_frequency(resp: &Value, grouped: bool) -> Result<Vec<GroupCount>, String> {
    if grouped {
        let buckets = resp
            .pointer("/aggregations/groups/buckets")
            .and_then(Value::as_array)
            .ok_or("answer has no aggregations.groups.buckets")?;
        buckets
            .iter()
            .map(|b| {
                Ok(GroupCount {
                    key: bucket_key(b)?,
                    count: b
                        .get("doc_count")
                        .and_then(Value::as_u64)
                        .ok_or("bucket without doc_count")?,
                    samples: sources(b.pointer("/samples/hits/hits")),
                })
            })
            .collect()
    } else {
        let total = resp.pointer("/hits/total");
        let count = match total {
            // ES 7+: {"value": n, "relation": "eq"}; track_total_hits makes it exact.
            Some(Value::Object(o)) => o.get("value").and_then(Value::as_u64),
            // ES 6 and `rest_total_hits_as_int`.
            Some(v) => v.as_u64(),
            None => None,
        }
        .ok_or("answer has no hits.total")?;
        Ok(vec![GroupCount {
            key: String::new(),
            count,
            samples: sources(resp.pointer("/hits/hits")),
        }])
    }
}

/// Reads a histogram answer: group → window end → count. Ungrouped answers
/// have the single group `""`.
pub fn parse_histogram(
    resp: &Value,
    grouped: bool,
    interval: Millis,
) -> Result<BTreeMap<String, BTreeMap<Millis, u64>>, String> {
    let mut out = BTreeMap::new();
    let series = |v: Option<&Value>| -> Result<BTreeMap<Millis, u64>, String> {
        let buckets = v
            .and_then(Value::as_array)
            .ok_or("answer has no date_histogram buckets")?;
        let mut m = BTreeMap::new();
        for b in buckets {
            let key = b
                .get("key")
                .and_then(Value::as_i64)
                .ok_or("histogram bucket without a numeric key")?;
            let count = b
                .get("doc_count")
                .and_then(Value::as_u64)
                .ok_or("bucket without doc_count")?;
            // A bucket keyed k covers [k, k + interval): its window ends at k + interval.
            m.insert(key + interval, count);
        }
        Ok(m)
    };
    if grouped {
        let groups = resp
            .pointer("/aggregations/groups/buckets")
            .and_then(Value::as_array)
            .ok_or("answer has no aggregations.groups.buckets")?;
        for g in groups {
            out.insert(bucket_key(g)?, series(g.pointer("/buckets/buckets"))?);
        }
    } else {
        out.insert(String::new(), series(resp.pointer("/aggregations/buckets/buckets"))?);
    }
    Ok(out)
}

fn bucket_key(b: &Value) -> Result<String, String> {
    match b.get("key") {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Null) | None => Err("bucket without key".to_owned()),
        // Numbers and booleans: ES also sends key_as_string for some types.
        Some(other) => Ok(b
            .get("key_as_string")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .unwrap_or_else(|| other.to_string())),
    }
}

/// `_source` of every hit of a search answer.
pub fn hit_sources(resp: &Value) -> Vec<Value> {
    sources(resp.pointer("/hits/hits"))
}

fn sources(hits: Option<&Value>) -> Vec<Value> {
    hits.and_then(Value::as_array)
        .map(|hits| hits.iter().filter_map(|h| h.get("_source").cloned()).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(filter: &str, group_by: Option<&str>) -> QuerySpec {
        QuerySpec {
            index: "logs-app-*".into(),
            timestamp_field: "@timestamp".into(),
            filter: serde_yaml::from_str(filter).unwrap(),
            group_by: group_by.map(str::to_owned),
            max_groups: 50,
        }
    }

    const W: Window = Window {
        start: 1_000,
        end: 61_000,
    };

    #[test]
    fn every_condition_kind_becomes_dsl() {
        let s = spec(
            r#"
- {field: log.level, equals: error}
- {field: service.name, in: [api, checkout]}
- {field: error.stack_trace, exists: true}
- {field: trace.id, exists: false}
- {field: http.response.status_code, range: {gte: 500, lt: 600}}
- {query: 'message:"connection refused"'}
- {field: log.logger, equals: health, not: true}
"#,
            None,
        );
        assert_eq!(
            s.query(W, None),
            json!({"bool": {
                "filter": [
                    {"term": {"log.level": "error"}},
                    {"terms": {"service.name": ["api", "checkout"]}},
                    {"exists": {"field": "error.stack_trace"}},
                    {"range": {"http.response.status_code": {"gte": 500, "lt": 600}}},
                    {"query_string": {"query": "message:\"connection refused\""}},
                    {"range": {"@timestamp": {"gte": 1000, "lt": 61000, "format": "epoch_millis"}}},
                ],
                "must_not": [
                    {"exists": {"field": "trace.id"}},
                    {"term": {"log.logger": "health"}},
                ],
            }})
        );
        assert_eq!(
            s.lucene(None),
            r#"log.level:"error" AND service.name:("api" OR "checkout") AND _exists_:error.stack_trace AND NOT _exists_:trace.id AND http.response.status_code:[500 TO 600} AND (message:"connection refused") AND NOT log.logger:"health""#
        );
    }

    #[test]
    fn group_narrows_query_and_link() {
        let s = spec("[{field: log.level, equals: error}]", Some("service.name"));
        let q = s.query(W, Some("api"));
        assert_eq!(q["bool"]["filter"][1], json!({"term": {"service.name": "api"}}));
        assert_eq!(s.lucene(Some("a\"b")), r#"log.level:"error" AND service.name:"a\"b""#);
        assert_eq!(
            s.lucene(Some(MISSING_GROUP)),
            r#"log.level:"error" AND NOT _exists_:service.name"#
        );
        assert_eq!(spec("[]", None).lucene(None), "*");
    }

    #[test]
    fn frequency_bodies() {
        let s = spec("[]", None);
        let b = s.frequency_body(W, 3);
        assert_eq!(b["size"], 3);
        assert_eq!(b["track_total_hits"], true);
        assert_eq!(b["sort"], json!([{"@timestamp": {"order": "asc"}}]));
        let g = spec("[]", Some("service.name")).frequency_body(W, 2);
        assert_eq!(g["size"], 0);
        assert_eq!(
            g["aggs"]["groups"]["terms"],
            json!({"field": "service.name", "size": 50, "missing": "(none)"})
        );
        assert_eq!(g["aggs"]["groups"]["aggs"]["samples"]["top_hits"]["size"], 2);
        let g0 = spec("[]", Some("service.name")).frequency_body(W, 0);
        assert!(g0["aggs"]["groups"].get("aggs").is_none());
    }

    #[test]
    fn histogram_body_covers_the_range_with_empty_buckets() {
        let b = spec("[]", None).histogram_body(Window { start: 0, end: 3_000 }, 1_000);
        assert_eq!(
            b["aggs"]["buckets"]["date_histogram"],
            json!({"field": "@timestamp", "fixed_interval": "1000ms", "min_doc_count": 0,
                   "extended_bounds": {"min": 0, "max": 2000}})
        );
    }

    #[test]
    fn parses_answers() {
        let ungrouped = json!({"hits": {"total": {"value": 7, "relation": "eq"}, "hits": [{"_source": {"a": 1}}]}});
        assert_eq!(
            parse_frequency(&ungrouped, false).unwrap(),
            vec![GroupCount {
                key: String::new(),
                count: 7,
                samples: vec![json!({"a": 1})]
            }]
        );
        let grouped = json!({"aggregations": {"groups": {"buckets": [
            {"key": "api", "doc_count": 4, "samples": {"hits": {"hits": [{"_source": {"b": 2}}]}}},
            {"key": 500, "key_as_string": "500", "doc_count": 1},
        ]}}});
        let g = parse_frequency(&grouped, true).unwrap();
        assert_eq!((g[0].key.as_str(), g[0].count, g[0].samples.len()), ("api", 4, 1));
        assert_eq!((g[1].key.as_str(), g[1].count), ("500", 1));
        assert!(parse_frequency(&json!({}), false).is_err());

        let hist = json!({"aggregations": {"buckets": {"buckets": [
            {"key": 0, "doc_count": 1}, {"key": 1000, "doc_count": 0}
        ]}}});
        let h = parse_histogram(&hist, false, 1_000).unwrap();
        assert_eq!(h[""], BTreeMap::from([(1_000, 1), (2_000, 0)]));
    }
}
