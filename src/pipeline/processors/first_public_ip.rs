//! `first_public_ip` (Sluice extension): picks the client address out of a
//! proxy chain such as `X-Forwarded-For`, replacing the painless script in
//! Filebeat's nginx pipeline. The first address that is not private wins;
//! if every address is private, the first address is used.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::value::Value;
use serde::Deserialize;

use crate::document::Document;
use crate::pipeline::field_path::{FieldPath, type_name};
use crate::pipeline::processor::{ExecContext, Flow, ProcessError, Processor, parse_config};
use crate::pipeline::processors::ip_text::parse_ip;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    field: String,
    /// Defaults to `field`, replacing the list with the chosen address.
    #[serde(default)]
    target_field: Option<String>,
    #[serde(default)]
    ignore_missing: bool,
}

struct FirstPublicIp {
    field: FieldPath,
    target: FieldPath,
    ignore_missing: bool,
}

pub fn build(config: &serde_json::Value) -> Result<Box<dyn Processor>, String> {
    let c: Config = parse_config(config)?;
    let field = FieldPath::parse(&c.field)?;
    let target = match &c.target_field {
        Some(t) => FieldPath::parse(t)?,
        None => field.clone(),
    };
    Ok(Box::new(FirstPublicIp {
        field,
        target,
        ignore_missing: c.ignore_missing,
    }))
}

/// Entries of one list string: nginx writes `a, b, c`; Filebeat's split
/// pattern (`"?,?\s+`) also allows plain spaces and stray quotes.
fn entries(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| c == ',' || c == '"' || c.is_whitespace())
        .filter(|e| !e.is_empty())
}

/// The chosen entry: the first public IP, else the first IP, else (when no
/// entry is an IP at all, e.g. only hostnames) the first entry.
fn choose<'a>(all: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let mut first_entry = None;
    let mut first_ip = None;
    for entry in all {
        first_entry.get_or_insert(entry);
        let Some(ip) = parse_ip(entry) else {
            continue;
        };
        if is_public(ip) {
            return Some(entry);
        }
        first_ip.get_or_insert(entry);
    }
    first_ip.or(first_entry)
}

/// Not private, loopback, link-local, unspecified, broadcast or carrier-grade
/// NAT. Filebeat's script only knew 10/8, 172.16/12, 192.168/16 and 127/8;
/// the others can never be a client's public address either.
fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, _, _] = ip.octets();
    let shared_cgnat = a == 100 && (64..128).contains(&b); // RFC 6598, 100.64.0.0/10
    !(ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || shared_cgnat)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    let unique_local = first & 0xfe00 == 0xfc00; // fc00::/7
    let link_local = first & 0xffc0 == 0xfe80; // fe80::/10
    let site_local = first & 0xffc0 == 0xfec0; // fec0::/10, deprecated but still Java's "site local"
    !(ip.is_loopback() || ip.is_unspecified() || unique_local || link_local || site_local)
}

impl Processor for FirstPublicIp {
    fn process(&self, doc: &mut Document, _: &mut ExecContext<'_>) -> Result<Flow, ProcessError> {
        let chosen = match self.field.get(doc) {
            None | Some(Value::Null) if self.ignore_missing => return Ok(Flow::Continue),
            None => return Err(ProcessError::new(format!("field `{}` doesn't exist", self.field))),
            Some(Value::Null) => return Err(ProcessError::new(format!("field `{}` is null", self.field))),
            Some(Value::String(text)) => choose(entries(text)),
            Some(Value::Array(items)) => {
                if let Some((i, bad)) = items.iter().enumerate().find(|(_, v)| !v.is_string()) {
                    return Err(ProcessError::new(format!(
                        "field `{}` must hold strings, found {} at index {i}",
                        self.field,
                        type_name(bad)
                    )));
                }
                choose(items.iter().filter_map(Value::as_str).flat_map(entries))
            }
            Some(other) => {
                return Err(ProcessError::new(format!(
                    "field `{}` must be a string or an array of strings, found {}",
                    self.field,
                    type_name(other)
                )));
            }
        };
        let Some(chosen) = chosen.map(str::to_owned) else {
            if self.ignore_missing {
                return Ok(Flow::Continue);
            }
            return Err(ProcessError::new(format!(
                "field `{}` contains no addresses",
                self.field
            )));
        };
        self.target.set(doc, Value::from(chosen))?;
        Ok(Flow::Continue)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::processors::test_util::{run, run_err};
    use serde_json::Value;
    use serde_json::json;

    fn pick(list: Value) -> Value {
        let p = build(&json!({"field": "list", "target_field": "source.address"})).unwrap();
        run(p, json!({"list": list}))["source"]["address"].clone()
    }

    #[test]
    fn filebeat_nginx_conformance() {
        assert_eq!(pick(json!("10.0.0.2, 10.0.0.1, 127.0.0.1")), json!("10.0.0.2"));
        assert_eq!(pick(json!("10.0.0.2, 10.0.0.1, 85.181.35.98")), json!("85.181.35.98"));
        assert_eq!(
            pick(json!("10.5.102.222, 199.96.1.1, 204.246.1.1, 10.2.1.185")),
            json!("199.96.1.1")
        );
        assert_eq!(
            pick(json!("2a03:0000:10ff:f00f:0000:0000:0:8000, 10.225.192.17, 10.2.2.121")),
            json!("2a03:0000:10ff:f00f:0000:0000:0:8000")
        );
    }

    #[test]
    fn arrays_work_like_strings() {
        assert_eq!(
            pick(json!(["10.0.0.2", " 10.0.0.1", "85.181.35.98 "])),
            json!("85.181.35.98")
        );
        assert_eq!(pick(json!(["10.0.0.2, 8.8.8.8"])), json!("8.8.8.8"));
        assert_eq!(pick(json!(["127.0.0.1"])), json!("127.0.0.1"));
    }

    #[test]
    fn private_ranges() {
        for private in [
            "10.1.1.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "127.0.0.1",
            "169.254.1.1",
            "100.64.0.1",
            "100.127.255.255",
            "0.0.0.0",
            "255.255.255.255",
            "::1",
            "::",
            "fe80::1",
            "fec0::1",
            "fc00::1",
            "fd12:3456::1",
            "::ffff:10.0.0.1",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in [
            "172.32.0.1",
            "100.128.0.1",
            "8.8.8.8",
            "2a03::1",
            "2001:4860::8888",
            "::ffff:8.8.8.8",
        ] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }

    #[test]
    fn separators_and_non_ip_entries() {
        assert_eq!(pick(json!("10.0.0.1 8.8.4.4")), json!("8.8.4.4"));
        assert_eq!(pick(json!("\"10.0.0.1\",  \"8.8.4.4\"")), json!("8.8.4.4"));
        // Hostnames are skipped when looking for a public address...
        assert_eq!(pick(json!("proxy.example.com, 10.0.0.1, 8.8.8.8")), json!("8.8.8.8"));
        // ...and when looking for the first address...
        assert_eq!(pick(json!("unknown, 10.0.0.1")), json!("10.0.0.1"));
        // ...but if nothing is an IP, the first entry is kept.
        assert_eq!(pick(json!("unknown, proxy.example.com")), json!("unknown"));
        assert_eq!(pick(json!("1.2.3.4:8080, 10.0.0.1")), json!("10.0.0.1"));
    }

    #[test]
    fn default_target_replaces_the_field() {
        let p = build(&json!({"field": "a.list"})).unwrap();
        assert_eq!(
            run(p, json!({"a": {"list": ["10.0.0.1", "9.9.9.9"]}})),
            json!({"a": {"list": "9.9.9.9"}})
        );
    }

    #[test]
    fn missing_empty_and_wrong_types() {
        let p = || build(&json!({"field": "list", "target_field": "t"})).unwrap();
        assert!(run_err(p(), json!({})).contains("doesn't exist"));
        assert!(run_err(p(), json!({"list": null})).contains("is null"));
        assert!(run_err(p(), json!({"list": " , "})).contains("no addresses"));
        assert!(run_err(p(), json!({"list": []})).contains("no addresses"));
        assert!(run_err(p(), json!({"list": 42})).contains("found number"));
        assert!(run_err(p(), json!({"list": ["1.1.1.1", 2]})).contains("index 1"));

        let q = || build(&json!({"field": "list", "target_field": "t", "ignore_missing": true})).unwrap();
        assert_eq!(run(q(), json!({})), json!({}));
        assert_eq!(run(q(), json!({"list": null})), json!({"list": null}));
        assert_eq!(run(q(), json!({"list": ""})), json!({"list": ""}));
        let huge = "10.0.0.1, ".repeat(100_000) + "8.8.8.8";
        assert_eq!(run(q(), json!({"list": huge}))["t"], json!("8.8.8.8"));
    }

    #[test]
    fn rejects_bad_options() {
        assert!(build(&json!({})).is_err());
        assert!(build(&json!({"field": ""})).is_err());
        assert!(build(&json!({"field": "a", "target_field": "b..c"})).is_err());
        let err = build(&json!({"field": "a", "separator": ","}))
            .err()
            .unwrap_or_default();
        assert!(err.contains("separator"), "{err}");
    }
}
