//! `uri_parts`: splits a URI (absolute, or a relative reference such as an
//! nginx request path `/assets/x.png?q=1`) into ECS `url.*` fields, as the
//! ES `uri_parts` processor.
//!
//! ES uses `java.net.URI`, which keeps components as written (no host
//! lower-casing, no default-port removal, no dot-segment resolution) and
//! percent-decodes path, query, fragment and user info. The `url` crate
//! normalises all of that and cannot parse relative references, so the
//! RFC 3986 split is done here by hand with the same output as Java.

use std::borrow::Cow;

use crate::value::{Map, Value};
use serde::Deserialize;

use crate::document::Document;
use crate::pipeline::field_path::{FieldPath, type_name};
use crate::pipeline::processor::{ExecContext, Flow, ProcessError, Processor, parse_config};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    field: String,
    #[serde(default = "default_target_field")]
    target_field: String,
    #[serde(default = "default_keep_original")]
    keep_original: bool,
    #[serde(default)]
    remove_if_successful: bool,
    #[serde(default)]
    ignore_missing: bool,
}

// ES defaults (UriPartsProcessor.Factory).
fn default_target_field() -> String {
    "url".to_owned()
}

fn default_keep_original() -> bool {
    true
}

struct UriParts {
    field: FieldPath,
    target: FieldPath,
    keep_original: bool,
    remove_if_successful: bool,
    ignore_missing: bool,
}

pub fn build(config: &serde_json::Value) -> Result<Box<dyn Processor>, String> {
    let c: Config = parse_config(config)?;
    Ok(Box::new(UriParts {
        field: FieldPath::parse(&c.field)?,
        target: FieldPath::parse(&c.target_field)?,
        keep_original: c.keep_original,
        remove_if_successful: c.remove_if_successful,
        ignore_missing: c.ignore_missing,
    }))
}

/// The components of a URI reference, borrowed from the input, not decoded.
#[derive(Debug, Default, PartialEq)]
struct Parts<'a> {
    scheme: Option<&'a str>,
    user_info: Option<&'a str>,
    host: Option<&'a str>,
    port: Option<i64>,
    path: Option<&'a str>,
    query: Option<&'a str>,
    fragment: Option<&'a str>,
}

fn valid_scheme(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

/// Splits per RFC 3986 appendix B, with Java's reading of the corner
/// cases: `scheme:` followed by something other than `/` is opaque (no
/// path or query, as `mailto:a@b`); an authority whose port is not a number
/// is kept as an unparsed "registry" authority (no host, port or user info).
fn split(s: &str) -> Result<Parts<'_>, String> {
    let mut parts = Parts::default();
    let (rest, fragment) = match s.split_once('#') {
        Some((r, f)) => (r, Some(f)),
        None => (s, None),
    };
    parts.fragment = fragment;

    let mut rest = rest;
    if let Some(i) = rest.find([':', '/', '?'])
        && rest.as_bytes().get(i) == Some(&b':')
    {
        let scheme = rest.get(..i).unwrap_or("");
        if !valid_scheme(scheme) {
            return Err(if scheme.is_empty() {
                "missing scheme name before `:`".to_owned()
            } else {
                format!("invalid scheme name `{scheme}`")
            });
        }
        parts.scheme = Some(scheme);
        rest = rest.get(i + 1..).unwrap_or("");
        if !rest.starts_with('/') {
            return Ok(parts);
        }
    }

    if let Some(after) = rest.strip_prefix("//") {
        let end = after.find(['/', '?']).unwrap_or(after.len());
        let authority = after.get(..end).unwrap_or("");
        rest = after.get(end..).unwrap_or("");
        split_authority(authority, &mut parts);
    }
    let (path, query) = match rest.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (rest, None),
    };
    parts.path = Some(path);
    parts.query = query;
    Ok(parts)
}

fn split_authority<'a>(authority: &'a str, parts: &mut Parts<'a>) {
    let (user_info, host_port) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, authority),
    };
    let (host, port) = if host_port.starts_with('[') {
        match host_port.find(']') {
            Some(i) => (host_port.get(..=i).unwrap_or(""), host_port.get(i + 1..).unwrap_or("")),
            None => return,
        }
    } else {
        match host_port.rfind(':') {
            Some(i) => (host_port.get(..i).unwrap_or(""), host_port.get(i..).unwrap_or("")),
            None => (host_port, ""),
        }
    };
    let port = match port.strip_prefix(':') {
        None if port.is_empty() => None,
        Some("") => None,
        Some(digits) if digits.bytes().all(|b| b.is_ascii_digit()) => match digits.parse::<i32>() {
            Ok(p) => Some(i64::from(p)),
            Err(_) => return,
        },
        // Not a server authority (Java then reports no host at all).
        _ => return,
    };
    parts.user_info = user_info;
    parts.host = (!host.is_empty()).then_some(host);
    parts.port = port;
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Percent-decodes like `java.net.URI` (invalid UTF-8 becomes U+FFFD; `+`
/// stays `+`). A malformed escape leaves the component as written.
fn decode(s: &str) -> Cow<'_, str> {
    if !s.contains('%') {
        return Cow::Borrowed(s);
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            match (
                bytes.get(i + 1).copied().and_then(hex_value),
                bytes.get(i + 2).copied().and_then(hex_value),
            ) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 3;
                    continue;
                }
                _ => return Cow::Borrowed(s),
            }
        }
        out.push(b);
        i += 1;
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

/// ES takes the extension from the last path segment only, without the dot.
fn extension(path: &str) -> Option<&str> {
    let last_segment = path.get(path.rfind('/')?..)?;
    let dot = last_segment.rfind('.')?;
    last_segment.get(dot + 1..)
}

fn uri_parts(s: &str) -> Result<Map, String> {
    let p = split(s)?;
    let mut out = Map::new();
    if let Some(host) = p.host {
        out.insert("domain", Value::from(host));
    }
    if let Some(f) = p.fragment {
        out.insert("fragment", Value::from(&*decode(f)));
    }
    if let Some(path) = p.path {
        let path = decode(path);
        if let Some(ext) = extension(&path) {
            out.insert("extension", Value::from(ext));
        }
        out.insert("path", Value::from(&*path));
    }
    if let Some(port) = p.port {
        out.insert("port", Value::from(port));
    }
    if let Some(q) = p.query {
        out.insert("query", Value::from(&*decode(q)));
    }
    if let Some(scheme) = p.scheme {
        out.insert("scheme", Value::from(scheme));
    }
    if let Some(user_info) = p.user_info {
        let user_info = decode(user_info);
        if let Some((user, password)) = user_info.split_once(':') {
            out.insert("username", Value::from(user));
            out.insert("password", Value::from(password));
        }
        out.insert("user_info", Value::from(&*user_info));
    }
    Ok(out)
}

impl Processor for UriParts {
    fn process(&self, doc: &mut Document, _: &mut ExecContext<'_>) -> Result<Flow, ProcessError> {
        let (mut parts, original) = match self.field.get(doc) {
            None | Some(Value::Null) if self.ignore_missing => return Ok(Flow::Continue),
            None => return Err(ProcessError::new(format!("field `{}` doesn't exist", self.field))),
            Some(Value::String(s)) => (
                uri_parts(s).map_err(|e| ProcessError::new(format!("unable to parse URI in `{}`: {e}", self.field)))?,
                self.keep_original.then(|| s.clone()),
            ),
            Some(other) => {
                return Err(ProcessError::new(format!(
                    "field `{}` is a {}, expected a string",
                    self.field,
                    type_name(other)
                )));
            }
        };
        if let Some(o) = original {
            parts.insert("original", Value::String(o));
        }
        if self.remove_if_successful && self.target != self.field {
            self.field.remove(doc);
        }
        self.target.set(doc, Value::Object(parts))?;
        Ok(Flow::Continue)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::processors::test_util::{run, run_err};
    use serde_json::json;

    fn parts(s: &str) -> Value {
        Value::Object(uri_parts(s).unwrap())
    }

    #[test]
    fn absolute_url_like_es_docs() {
        assert_eq!(
            parts("http://myusername:mypassword@www.example.com:80/foo.gif?key1=val1&key2=val2#fragment"),
            json!({
                "domain": "www.example.com",
                "extension": "gif",
                "fragment": "fragment",
                "password": "mypassword",
                "path": "/foo.gif",
                "port": 80,
                "query": "key1=val1&key2=val2",
                "scheme": "http",
                "user_info": "myusername:mypassword",
                "username": "myusername"
            })
        );
    }

    #[test]
    fn relative_request_paths() {
        assert_eq!(
            parts("/assets/x.png?q=1"),
            json!({"path": "/assets/x.png", "query": "q=1", "extension": "png"})
        );
        assert_eq!(parts("/"), json!({"path": "/"}));
        assert_eq!(parts("/a.b/c"), json!({"path": "/a.b/c"}));
        assert_eq!(parts("/x."), json!({"path": "/x.", "extension": ""}));
        assert_eq!(parts("/api/v1/items?"), json!({"path": "/api/v1/items", "query": ""}));
        assert_eq!(parts("/p:with:colons"), json!({"path": "/p:with:colons"}));
        assert_eq!(parts("file.txt"), json!({"path": "file.txt"}));
        assert_eq!(parts(""), json!({"path": ""}));
    }

    #[test]
    fn components_are_decoded_but_not_normalised() {
        assert_eq!(
            parts("HTTPS://Example.COM:443/a%20b/../c?x=%2F+y#f%23"),
            json!({
                "scheme": "HTTPS", "domain": "Example.COM", "port": 443,
                "path": "/a b/../c", "query": "x=/+y", "fragment": "f#"
            })
        );
        // A malformed escape keeps the component as written.
        assert_eq!(parts("/x?q=100%"), json!({"path": "/x", "query": "q=100%"}));
        assert_eq!(parts("/%FF"), json!({"path": "/\u{FFFD}"}));
    }

    #[test]
    fn authorities() {
        assert_eq!(
            parts("http://[::1]:8080/x"),
            json!({"scheme": "http", "domain": "[::1]", "port": 8080, "path": "/x"})
        );
        assert_eq!(
            parts("//cdn.example.com/lib.js"),
            json!({"domain": "cdn.example.com", "path": "/lib.js", "extension": "js"})
        );
        assert_eq!(
            parts("http://host"),
            json!({"scheme": "http", "domain": "host", "path": ""})
        );
        assert_eq!(
            parts("http://host:/"),
            json!({"scheme": "http", "domain": "host", "path": "/"})
        );
        assert_eq!(parts("http://host:abc/p"), json!({"scheme": "http", "path": "/p"}));
        assert_eq!(
            parts("ftp://user@host/"),
            json!({"scheme": "ftp", "domain": "host", "path": "/", "user_info": "user"})
        );
        assert_eq!(
            parts("http://host?q"),
            json!({"scheme": "http", "domain": "host", "path": "", "query": "q"})
        );
    }

    #[test]
    fn opaque_uris() {
        assert_eq!(parts("mailto:a@example.com?subject=x"), json!({"scheme": "mailto"}));
        assert_eq!(parts("localhost:8080"), json!({"scheme": "localhost"}));
        assert_eq!(parts("urn:isbn:123#frag"), json!({"scheme": "urn", "fragment": "frag"}));
    }

    #[test]
    fn invalid_schemes_are_errors() {
        assert!(uri_parts(":foo").unwrap_err().contains("missing scheme"));
        assert!(uri_parts("1ab:cd").unwrap_err().contains("invalid scheme"));
        assert!(uri_parts("a b:c").unwrap_err().contains("invalid scheme"));
    }

    #[test]
    fn processor_options() {
        let p = build(&json!({"field": "url.original"})).unwrap();
        let out = run(p, json!({"url": {"original": "/x.png?q=1"}}));
        assert_eq!(
            out["url"],
            json!({"original": "/x.png?q=1", "path": "/x.png", "extension": "png", "query": "q=1"})
        );
        let p = build(
            &json!({"field": "u", "target_field": "parsed", "keep_original": false, "remove_if_successful": true}),
        )
        .unwrap();
        let out = run(p, json!({"u": "http://h/p"}));
        assert_eq!(out, json!({"parsed": {"scheme": "http", "domain": "h", "path": "/p"}}));
        let p = build(&json!({"field": "u", "remove_if_successful": true})).unwrap();
        let e = run_err(p, json!({"u": "1x:y"}));
        assert!(e.contains("unable to parse URI in `u`"), "{e}");
    }

    #[test]
    fn missing_and_wrong_types() {
        let p = build(&json!({"field": "u"})).unwrap();
        assert!(run_err(p, json!({})).contains("doesn't exist"));
        let p = build(&json!({"field": "u"})).unwrap();
        assert!(run_err(p, json!({"u": 1})).contains("number"));
        let p = build(&json!({"field": "u", "ignore_missing": true})).unwrap();
        assert_eq!(run(p, json!({})), json!({}));
    }

    #[test]
    fn rejects_bad_options() {
        assert!(build(&json!({})).is_err());
        assert!(build(&json!({"field": "u", "target_field": ""})).is_err());
        assert!(build(&json!({"field": "u", "keep_original": "yes"})).is_err());
    }
}
