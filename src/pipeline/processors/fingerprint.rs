//! `fingerprint`: a hash of selected fields, byte-identical to the ES
//! `fingerprint` processor so that an `_id` derived from it matches what
//! Elasticsearch would compute and replays of the same record collide.
//!
//! ES feeds the hasher the salt, then walks the values of the fields in
//! sorted field-name order: arrays element by element, objects entry by
//! entry in sorted key order (each key preceded by a 0 byte), and every
//! scalar as a 0 byte followed by its type-specific encoding. Field names
//! themselves are not hashed. The digest is written as standard base64.

use std::cmp::Ordering;

use crate::value::{Key, Value};
use base64::Engine as _;
use serde::Deserialize;
use sha2::Digest as _;

use crate::document::Document;
use crate::pipeline::field_path::FieldPath;
use crate::pipeline::processor::{ExecContext, Flow, OneOrMany, ProcessError, Processor, parse_config};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    fields: OneOrMany<String>,
    #[serde(default = "default_target_field")]
    target_field: String,
    #[serde(default)]
    salt: String,
    #[serde(default = "default_method")]
    method: String,
    #[serde(default)]
    ignore_missing: bool,
}

// ES defaults (FingerprintProcessor.Factory).
fn default_target_field() -> String {
    "fingerprint".to_owned()
}

fn default_method() -> String {
    "SHA-1".to_owned()
}

/// ES's `SUPPORTED_DIGESTS`, matched case-sensitively as ES does.
const METHODS: [&str; 5] = ["MD5", "SHA-1", "SHA-256", "SHA-512", "MurmurHash3"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    Md5,
    Sha1,
    Sha256,
    Sha512,
    Murmur3,
}

/// The running hash of one record.
enum Hasher {
    Md5(md5::Md5),
    Sha1(sha1::Sha1),
    Sha256(sha2::Sha256),
    Sha512(sha2::Sha512),
    Murmur3(Murmur3),
}

impl Hasher {
    fn new(method: Method) -> Self {
        match method {
            Method::Md5 => Hasher::Md5(md5::Md5::new()),
            Method::Sha1 => Hasher::Sha1(sha1::Sha1::new()),
            Method::Sha256 => Hasher::Sha256(sha2::Sha256::new()),
            Method::Sha512 => Hasher::Sha512(sha2::Sha512::new()),
            Method::Murmur3 => Hasher::Murmur3(Murmur3::default()),
        }
    }

    fn update(&mut self, bytes: &[u8]) {
        match self {
            Hasher::Md5(h) => h.update(bytes),
            Hasher::Sha1(h) => h.update(bytes),
            Hasher::Sha256(h) => h.update(bytes),
            Hasher::Sha512(h) => h.update(bytes),
            Hasher::Murmur3(h) => h.update(bytes),
        }
    }

    fn finish_base64(self) -> String {
        let b64 = &base64::engine::general_purpose::STANDARD;
        match self {
            Hasher::Md5(h) => b64.encode(h.finalize()),
            Hasher::Sha1(h) => b64.encode(h.finalize()),
            Hasher::Sha256(h) => b64.encode(h.finalize()),
            Hasher::Sha512(h) => b64.encode(h.finalize()),
            Hasher::Murmur3(h) => b64.encode(h.finish()),
        }
    }
}

struct Fingerprint {
    /// Sorted as Java sorts strings, because that order decides the bytes.
    fields: Vec<FieldPath>,
    target: FieldPath,
    salt: Vec<u8>,
    method: Method,
    ignore_missing: bool,
}

pub fn build(config: &serde_json::Value) -> Result<Box<dyn Processor>, String> {
    let c: Config = parse_config(config)?;
    let mut names = c.fields.into_vec();
    if names.is_empty() {
        return Err("`fields` must list at least one field".to_owned());
    }
    names.sort_by(|a, b| java_cmp(a, b));
    let method = match c.method.as_str() {
        "MD5" => Method::Md5,
        "SHA-1" => Method::Sha1,
        "SHA-256" => Method::Sha256,
        "SHA-512" => Method::Sha512,
        "MurmurHash3" => Method::Murmur3,
        other => {
            return Err(format!(
                "`method` is `{other}`; accepted (case-sensitive): {}",
                METHODS.join(", ")
            ));
        }
    };
    Ok(Box::new(Fingerprint {
        fields: names.iter().map(|n| FieldPath::parse(n)).collect::<Result<_, _>>()?,
        target: FieldPath::parse(&c.target_field)?,
        // ES ignores a salt made only of whitespace (`Strings.hasText`).
        salt: if c.salt.chars().all(java_is_whitespace) {
            Vec::new()
        } else {
            c.salt.into_bytes()
        },
        method,
        ignore_missing: c.ignore_missing,
    }))
}

/// `String.compareTo`: lexicographic over UTF-16 code units. It differs
/// from byte (code point) order only when a supplementary character meets
/// one in U+E000..U+FFFF, so bytes decide unless both sides are there.
fn java_cmp(a: &str, b: &str) -> Ordering {
    let diff = a.bytes().zip(b.bytes()).position(|(x, y)| x != y);
    match diff {
        Some(i)
            if a.as_bytes().get(i).is_some_and(|&x| x >= 0xEE) && b.as_bytes().get(i).is_some_and(|&y| y >= 0xEE) =>
        {
            a.encode_utf16().cmp(b.encode_utf16())
        }
        _ => a.cmp(b),
    }
}

/// Java's `Character.isWhitespace`: Unicode space separators except the
/// no-break ones, plus the ASCII controls \t \n \v \f \r and \x1C-\x1F.
fn java_is_whitespace(c: char) -> bool {
    matches!(c, '\t'..='\r' | '\u{1C}'..='\u{1F}' | ' ' | '\u{1680}' | '\u{2028}' | '\u{2029}' | '\u{205F}' | '\u{3000}')
        || (('\u{2000}'..='\u{200A}').contains(&c) && c != '\u{2007}')
}

const DELIMITER: [u8; 1] = [0];

enum Item<'a> {
    Value(&'a Value),
    Entry(&'a str, &'a Value),
}

impl Fingerprint {
    /// Hashes the fields; `None` when every field was missing (ES then
    /// leaves the target unset).
    fn digest(&self, doc: &Document) -> Result<Option<String>, ProcessError> {
        let mut stack: Vec<Item<'_>> = Vec::with_capacity(self.fields.len());
        for field in self.fields.iter().rev() {
            match field.get(doc) {
                None | Some(Value::Null) if self.ignore_missing => {}
                None | Some(Value::Null) => {
                    return Err(ProcessError::new(format!(
                        "missing field `{field}` when calculating fingerprint"
                    )));
                }
                Some(v) => stack.push(Item::Value(v)),
            }
        }
        if stack.is_empty() {
            return Ok(None);
        }
        let mut hasher = Hasher::new(self.method);
        hasher.update(&self.salt);
        let mut entries: Vec<(&Key, &Value)> = Vec::new();
        while let Some(item) = stack.pop() {
            match item {
                Item::Value(Value::Array(items)) => stack.extend(items.iter().rev().map(Item::Value)),
                Item::Value(Value::Object(map)) => {
                    entries.clear();
                    entries.extend(map.iter());
                    entries.sort_by(|a, b| java_cmp(a.0, b.0));
                    stack.extend(entries.iter().rev().map(|(k, v)| Item::Entry(k.as_str(), v)));
                }
                Item::Entry(key, value) => {
                    hasher.update(&DELIMITER);
                    hasher.update(key.as_bytes());
                    stack.push(Item::Value(value));
                }
                Item::Value(scalar) => {
                    hasher.update(&DELIMITER);
                    feed_scalar(&mut hasher, scalar)?;
                }
            }
        }
        Ok(Some(hasher.finish_base64()))
    }
}

/// The bytes ES's `toBytes` produces for the Java object Jackson would have
/// parsed this JSON value into: `Integer` (4 bytes LE) when it fits, else
/// `Long` (8 bytes LE), `Double` (8 bytes LE), UTF-8 strings, 1/2 for
/// true/false, nothing for null.
fn feed_scalar(hasher: &mut Hasher, v: &Value) -> Result<(), ProcessError> {
    match v {
        Value::String(s) => hasher.update(s.as_bytes()),
        Value::Bool(true) => hasher.update(&[1]),
        Value::Bool(false) => hasher.update(&[2]),
        Value::Null => {}
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                match i32::try_from(i) {
                    Ok(small) => hasher.update(&small.to_le_bytes()),
                    Err(_) => hasher.update(&i.to_le_bytes()),
                }
            } else if n.is_u64() {
                // Above i64::MAX Jackson yields a BigInteger, which ES refuses.
                return Err(ProcessError::new(format!(
                    "cannot fingerprint {n}: integers above 9223372036854775807 are not supported (as in Elasticsearch)"
                )));
            } else if let Some(f) = n.as_f64() {
                hasher.update(&f.to_le_bytes());
            }
        }
        Value::Array(_) | Value::Object(_) => {}
    }
    Ok(())
}

impl Processor for Fingerprint {
    fn process(&self, doc: &mut Document, _: &mut ExecContext<'_>) -> Result<Flow, ProcessError> {
        if let Some(fp) = self.digest(doc)? {
            self.target.set(doc, Value::from(fp))?;
        }
        Ok(Flow::Continue)
    }
}

/// Streaming MurmurHash3 x64 128-bit with seed 0, as ES's `Murmur3Hasher`;
/// the digest is h1 then h2, each big-endian.
#[derive(Default)]
struct Murmur3 {
    h1: u64,
    h2: u64,
    buf: [u8; 16],
    buffered: usize,
    total: u64,
}

const C1: u64 = 0x87c3_7b91_1142_53d5;
const C2: u64 = 0x4cf5_ad43_2745_937f;

fn fmix64(mut k: u64) -> u64 {
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    k ^= k >> 33;
    k
}

fn mix_k1(k1: u64) -> u64 {
    k1.wrapping_mul(C1).rotate_left(31).wrapping_mul(C2)
}

fn mix_k2(k2: u64) -> u64 {
    k2.wrapping_mul(C2).rotate_left(33).wrapping_mul(C1)
}

impl Murmur3 {
    fn block(&mut self, block: &[u8; 16]) {
        let mut lo = [0u8; 8];
        let mut hi = [0u8; 8];
        lo.copy_from_slice(&block[..8]);
        hi.copy_from_slice(&block[8..]);
        let (k1, k2) = (u64::from_le_bytes(lo), u64::from_le_bytes(hi));
        self.h1 ^= mix_k1(k1);
        self.h1 = self
            .h1
            .rotate_left(27)
            .wrapping_add(self.h2)
            .wrapping_mul(5)
            .wrapping_add(0x52dc_e729);
        self.h2 ^= mix_k2(k2);
        self.h2 = self
            .h2
            .rotate_left(31)
            .wrapping_add(self.h1)
            .wrapping_mul(5)
            .wrapping_add(0x3849_5ab5);
    }

    fn update(&mut self, mut bytes: &[u8]) {
        self.total += bytes.len() as u64;
        if self.buffered > 0 {
            let take = (16 - self.buffered).min(bytes.len());
            let (head, rest) = bytes.split_at(take);
            self.buf[self.buffered..self.buffered + take].copy_from_slice(head);
            self.buffered += take;
            bytes = rest;
            if self.buffered < 16 {
                return;
            }
            let full = self.buf;
            self.block(&full);
            self.buffered = 0;
        }
        let mut chunks = bytes.chunks_exact(16);
        for chunk in &mut chunks {
            let mut block = [0u8; 16];
            block.copy_from_slice(chunk);
            self.block(&block);
        }
        let rest = chunks.remainder();
        self.buf[..rest.len()].copy_from_slice(rest);
        self.buffered = rest.len();
    }

    fn finish(self) -> [u8; 16] {
        let (mut h1, mut h2) = (self.h1, self.h2);
        let tail = &self.buf[..self.buffered];
        let (mut k1, mut k2) = (0u64, 0u64);
        for (i, &b) in tail.iter().enumerate() {
            if i < 8 {
                k1 |= u64::from(b) << (8 * i);
            } else {
                k2 |= u64::from(b) << (8 * (i - 8));
            }
        }
        if tail.len() > 8 {
            h2 ^= mix_k2(k2);
        }
        if !tail.is_empty() {
            h1 ^= mix_k1(k1);
        }
        h1 ^= self.total;
        h2 ^= self.total;
        h1 = h1.wrapping_add(h2);
        h2 = h2.wrapping_add(h1);
        h1 = fmix64(h1);
        h2 = fmix64(h2);
        h1 = h1.wrapping_add(h2);
        h2 = h2.wrapping_add(h1);
        let mut out = [0u8; 16];
        out[..8].copy_from_slice(&h1.to_be_bytes());
        out[8..].copy_from_slice(&h2.to_be_bytes());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::processors::test_util::{run, run_err};
    use serde_json::Value;
    use serde_json::json;

    fn fp(config: Value, source: Value) -> Value {
        run(build(&config).unwrap(), source)["fingerprint"].clone()
    }

    /// The expected values below are the ones asserted by Elasticsearch's
    /// own FingerprintProcessorTests.
    #[test]
    fn matches_elasticsearch_vectors_for_every_method() {
        let expected = [
            ("MD5", "b+3QyaPYdnUF1lb5IKE+1g=="),
            ("SHA-1", "SX/93t223OurJvgMUOCtSl9hcpg="),
            ("SHA-256", "zDQYTy34tBlmNedlDdn++N7NN+wBY15mCoPDINmUxXc="),
            (
                "SHA-512",
                "xNIpYyJzRmg5R0T44ZORC2tgh8N4tVtTFzD5AdBqxmdOuRUjibQQ64lgefkbuZFl8Hv9ze9U6PAmrlgJPcRPGA==",
            ),
            ("MurmurHash3", "yjfaOoy2UQ3EHZRAzFK9sw=="),
        ];
        for (method, want) in expected {
            let got = fp(
                json!({"fields": ["foo", "bar"], "method": method}),
                json!({"foo": "foo", "bar": "bar"}),
            );
            assert_eq!(got, json!(want), "{method}");
        }
    }

    #[test]
    fn matches_elasticsearch_vectors_for_salt_and_missing() {
        assert_eq!(
            fp(
                json!({"fields": ["foo", "bar"]}),
                json!({"foo": "fooValue", "bar": "barValue"})
            ),
            json!("IgxzmZVknx4+Og/eUpvIlqH9PdI=")
        );
        assert_eq!(
            fp(json!({"fields": ["foo"], "salt": "salt"}), json!({"foo": "foo"})),
            json!("rWTTCYvRPQAzKXydmKwyC+//dmM=")
        );
        let cfg = json!({"fields": ["foo", "bar", "baz"], "ignore_missing": true});
        assert_eq!(
            fp(cfg.clone(), json!({"foo": "foo"})),
            json!("WoyqQDn9vALAGmScjA9Z2yg7sos=")
        );
        assert_eq!(
            fp(cfg.clone(), json!({"foo": "foo", "bar": "foo"})),
            json!("vjq2RyU5UA8vzeM5gIbfrOGir7w=")
        );
        assert_eq!(
            fp(cfg, json!({"foo": "foo", "bar": "foo", "baz": "foo"})),
            json!("2Ozd89kaee2AnbrjU8zB6QGn9Wo=")
        );
    }

    /// Reference SHA-1 over the byte stream ES would feed.
    fn sha1_of(bytes: &[u8]) -> Value {
        json!(base64::engine::general_purpose::STANDARD.encode(sha1::Sha1::digest(bytes)))
    }

    #[test]
    fn byte_stream_for_nested_values_and_types() {
        // Fields sorted (a, b); objects by key; arrays in order.
        let source = json!({
            "b": {"y": [1, 5_000_000_000_i64, 1.5], "x": true},
            "a": [null, false, "s", {"k": "v"}],
        });
        let mut want: Vec<u8> = Vec::new();
        let mut push = |bytes: &[u8]| {
            want.push(0);
            want.extend_from_slice(bytes);
        };
        push(b""); // null
        push(&[2]); // false
        push(b"s");
        push(b"k");
        push(b"v");
        push(b"x");
        push(&[1]);
        push(b"y");
        push(&1i32.to_le_bytes());
        push(&5_000_000_000i64.to_le_bytes());
        push(&1.5f64.to_le_bytes());
        assert_eq!(fp(json!({"fields": ["b", "a"]}), source), sha1_of(&want));
    }

    #[test]
    fn field_order_and_empty_containers() {
        let a = fp(json!({"fields": ["x", "y"]}), json!({"x": "1", "y": "2"}));
        let b = fp(json!({"fields": ["y", "x"]}), json!({"x": "1", "y": "2"}));
        assert_eq!(a, b);
        // Empty arrays and objects feed nothing at all.
        assert_eq!(fp(json!({"fields": ["e"]}), json!({"e": []})), sha1_of(b""));
        assert_eq!(fp(json!({"fields": ["e"]}), json!({"e": {}})), sha1_of(b""));
    }

    #[test]
    fn java_string_order() {
        assert_eq!(java_cmp("a", "b"), Ordering::Less);
        assert_eq!(java_cmp("ab", "a"), Ordering::Greater);
        // U+FF21 sorts before U+1F600 by code point, but after it in UTF-16
        // (surrogates are 0xD800..0xDFFF).
        assert_eq!(java_cmp("\u{FF21}", "\u{1F600}"), Ordering::Greater);
        assert_eq!("\u{FF21}".cmp("\u{1F600}"), Ordering::Less);
        assert_eq!(java_cmp("x\u{E000}", "x\u{E001}"), Ordering::Less);
    }

    #[test]
    fn whitespace_salt_is_ignored() {
        let plain = fp(json!({"fields": ["f"]}), json!({"f": "v"}));
        assert_eq!(fp(json!({"fields": ["f"], "salt": " \t"}), json!({"f": "v"})), plain);
        assert_ne!(fp(json!({"fields": ["f"], "salt": "\u{a0}"}), json!({"f": "v"})), plain);
    }

    #[test]
    fn murmur3_streaming_matches_one_shot() {
        let data: Vec<u8> = (0..200u8).collect();
        let mut whole = Murmur3::default();
        whole.update(&data);
        let want = whole.finish();
        for split in [0, 1, 7, 15, 16, 17, 33, 199, 200] {
            let (a, b) = data.split_at(split);
            let mut h = Murmur3::default();
            h.update(a);
            h.update(&[]);
            h.update(b);
            assert_eq!(h.finish(), want, "split at {split}");
        }
        // Known MurmurHash3_x64_128("hello", seed 0) = cbd8a7b341bd9b02 5b1e906a48ae1d19.
        let mut h = Murmur3::default();
        h.update(b"hello");
        assert_eq!(hex::encode(h.finish()), "cbd8a7b341bd9b025b1e906a48ae1d19");
    }

    #[test]
    fn target_missing_and_errors() {
        let out = run(
            build(&json!({"fields": ["a"], "target_field": "_id_src.fp"})).unwrap(),
            json!({"a": 1}),
        );
        assert!(out["_id_src"]["fp"].is_string());
        let e = run_err(build(&json!({"fields": ["a", "b"]})).unwrap(), json!({"a": 1}));
        assert!(e.contains("missing field `b`"), "{e}");
        let e = run_err(build(&json!({"fields": ["a"]})).unwrap(), json!({"a": null}));
        assert!(e.contains("missing field `a`"), "{e}");
        let out = run(
            build(&json!({"fields": ["a"], "ignore_missing": true})).unwrap(),
            json!({}),
        );
        assert!(out.get("fingerprint").is_none());
        let e = run_err(build(&json!({"fields": ["a"]})).unwrap(), json!({"a": u64::MAX}));
        assert!(e.contains("not supported"), "{e}");
    }

    #[test]
    fn rejects_bad_options() {
        let e = build(&json!({"fields": []})).err().unwrap();
        assert!(e.contains("at least one"), "{e}");
        let e = build(&json!({"fields": ["a"], "method": "sha-1"})).err().unwrap();
        assert!(e.contains("MurmurHash3"), "{e}");
        assert!(build(&json!({"fields": ["a"], "method": "SHA-3"})).is_err());
        assert!(build(&json!({"field": "a"})).is_err());
        assert!(build(&json!({"fields": ["a..b"]})).is_err());
    }
}
