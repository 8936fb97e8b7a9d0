//! Writing a document as compact JSON: byte for byte what
//! `serde_json::to_writer` writes for the same [`Value`], without going
//! through serde.
//!
//! This is the `_source` of every bulk request, so it is on the hot path:
//! serde_json checks a string one byte at a time against its escape table,
//! and a log document is mostly strings (the nginx access document has
//! about 900 bytes of them). Here a string is checked eight bytes at a
//! time, and a run without anything to escape is copied in one go.

use super::{Map, Number, Value, tag_of, to_word, whole_key_in_tag};

impl Value {
    /// Appends this value as compact JSON (what `serde_json::to_writer`
    /// writes: objects in insertion order, no spaces, the same escapes).
    pub fn write_json(&self, out: &mut Vec<u8>) {
        write_value(self, out);
    }
}

impl Map {
    /// Appends this object as compact JSON; see [`Value::write_json`].
    pub fn write_json(&self, out: &mut Vec<u8>) {
        write_map(self, out);
    }
}

fn write_value(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => write_number(n, out),
        Value::String(s) => write_str(s, out),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(item, out);
            }
            out.push(b']');
        }
        Value::Object(m) => write_map(m, out),
    }
}

fn write_map(map: &Map, out: &mut Vec<u8>) {
    if let Some(json) = map.frozen_json() {
        out.extend_from_slice(json);
        return;
    }
    // The byte before each key: `{` for the first, `,` after.
    let mut lead = b'{';
    for slot in &map.entries {
        // A string value's opening quote goes out with the key's colon.
        match &slot.value {
            Value::String(s) => {
                write_key(lead, slot.tag, slot.key.as_str(), b"\":\"", out);
                write_contents(s.as_bytes(), out);
                out.push(b'"');
            }
            value => {
                write_key(lead, slot.tag, slot.key.as_str(), b"\":", out);
                write_value(value, out);
            }
        }
        lead = b',';
    }
    if lead == b'{' {
        out.extend_from_slice(b"{}");
    } else {
        out.push(b'}');
    }
}

/// A key with what surrounds it: `lead` (`{` or `,`), the quoted key and
/// `tail` (the colon, and a string value's opening quote). A key of up to
/// seven bytes is all in its tag (its bytes, then zeros, then the length
/// in the top byte): one word is checked and copied, and the zeros written
/// past the key are cut off again.
#[inline(always)]
fn write_key(lead: u8, tag: u64, key: &str, tail: &[u8], out: &mut Vec<u8>) {
    debug_assert_eq!(tag, tag_of(key), "a slot's tag is its key's");
    out.extend_from_slice(&[lead, b'"']);
    match whole_key_in_tag(tag) {
        // The zero bytes past the key read as control characters; only the
        // key's own bytes count (a false hit only ever lands above a real
        // one, so the mask keeps the answer exact).
        Some((word, len)) if escape_hits(word) & HIGH_BITS & ((1u64 << (8 * len)) - 1) == 0 => {
            let end = out.len() + len;
            out.extend_from_slice(&word.to_le_bytes());
            out.truncate(end);
        }
        _ => write_contents(key.as_bytes(), out),
    }
    out.extend_from_slice(tail);
}

/// As serde_json: integers with `itoa`, floats with `zmij`'s shortest
/// round-tripping form (`1e+300`) (a `Number` is never NaN or infinite, but such a
/// float would be `null`, as serde_json writes it).
fn write_number(n: &Number, out: &mut Vec<u8>) {
    if let Some(u) = n.as_u64() {
        out.extend_from_slice(itoa::Buffer::new().format(u).as_bytes());
    } else if let Some(i) = n.as_i64() {
        out.extend_from_slice(itoa::Buffer::new().format(i).as_bytes());
    } else {
        match n.as_f64() {
            Some(f) if f.is_finite() => out.extend_from_slice(zmij::Buffer::new().format_finite(f).as_bytes()),
            _ => out.extend_from_slice(b"null"),
        }
    }
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH_BITS: u64 = 0x8080_8080_8080_8080;

/// True if any of the eight bytes of `w` needs escaping: below 0x20, `"`
/// or `\`. Each test is the classic "has a byte less than n" (`n` = 0x20,
/// or 1 after XOR with the byte looked for); borrows only ever add false
/// hits above a real one, so the answer for the word is exact.
#[inline(always)]
fn word_needs_escape(w: u64) -> bool {
    escape_hits(w) & HIGH_BITS != 0
}

/// The high bit of each byte of `w` that needs escaping (and possibly of
/// bytes above such a byte); see [`word_needs_escape`].
#[inline(always)]
fn escape_hits(w: u64) -> u64 {
    let control = w.wrapping_sub(ONES * 0x20) & !w;
    let q = w ^ (ONES * u64::from(b'"'));
    let quote = q.wrapping_sub(ONES) & !q;
    let b = w ^ (ONES * u64::from(b'\\'));
    let backslash = b.wrapping_sub(ONES) & !b;
    control | quote | backslash
}

/// What serde_json writes for a byte: 0 for nothing to escape, `u` for
/// `\u00XX`, else the letter after the backslash.
const ESCAPE: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut b = 0;
    while b < 0x20 {
        table[b] = b'u';
        b += 1;
    }
    table[0x08] = b'b';
    table[0x09] = b't';
    table[0x0a] = b'n';
    table[0x0c] = b'f';
    table[0x0d] = b'r';
    table[b'"' as usize] = b'"';
    table[b'\\' as usize] = b'\\';
    table
};

#[inline]
fn write_str(s: &str, out: &mut Vec<u8>) {
    let bytes = s.as_bytes();
    out.push(b'"');
    write_contents(bytes, out);
    out.push(b'"');
}

/// A string's bytes between its quotes: copied in one go when nothing
/// needs escaping.
#[inline(always)]
fn write_contents(bytes: &[u8], out: &mut Vec<u8>) {
    if needs_escape(bytes) {
        write_escaped(bytes, out);
    } else {
        out.extend_from_slice(bytes);
    }
}

/// True if any byte of `bytes` needs escaping. Keys and most values are
/// short and clean, so this looks at whole words without stopping early:
/// the last (or only) word overlaps the one before, and a string of 4 to
/// 7 bytes is read as two overlapping halves.
#[inline(always)]
fn needs_escape(bytes: &[u8]) -> bool {
    let len = bytes.len();
    if len >= 8 {
        let mut hit = false;
        let mut words = bytes.chunks_exact(8);
        for word in &mut words {
            hit |= word_needs_escape(u64::from_le_bytes(to_word(word)));
        }
        if let Some(last) = bytes.last_chunk::<8>() {
            hit |= word_needs_escape(u64::from_le_bytes(*last));
        }
        hit
    } else if len >= 4 {
        let (Some(first), Some(last)) = (bytes.first_chunk::<4>(), bytes.last_chunk::<4>()) else {
            return true;
        };
        word_needs_escape(u64::from(u32::from_le_bytes(*first)) | u64::from(u32::from_le_bytes(*last)) << 32)
    } else {
        bytes.iter().any(|&b| ESCAPE[usize::from(b)] != 0)
    }
}

/// The contents of a string that has something to escape. Each word's
/// lowest hit is a byte to escape (false hits only ever land above a real
/// one), so the scan jumps straight to it.
fn write_escaped(bytes: &[u8], out: &mut Vec<u8>) {
    // `start..i` is the run already checked and not yet copied.
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        let at = match bytes[i..].first_chunk::<8>() {
            Some(word) => {
                let hits = escape_hits(u64::from_le_bytes(*word)) & HIGH_BITS;
                if hits == 0 {
                    i += 8;
                    continue;
                }
                i + (hits.trailing_zeros() / 8) as usize
            }
            None => match bytes[i..].iter().position(|&b| ESCAPE[usize::from(b)] != 0) {
                Some(p) => i + p,
                None => break,
            },
        };
        out.extend_from_slice(&bytes[start..at]);
        write_escape(bytes[at], out);
        i = at + 1;
        start = i;
    }
    out.extend_from_slice(&bytes[start..]);
}

#[cold]
fn write_escape(byte: u8, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    match ESCAPE[usize::from(byte)] {
        b'u' => out.extend_from_slice(&[
            b'\\',
            b'u',
            b'0',
            b'0',
            HEX[usize::from(byte >> 4)],
            HEX[usize::from(byte & 0xf)],
        ]),
        letter => out.extend_from_slice(&[b'\\', letter]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn written(v: &Value) -> String {
        let mut out = Vec::new();
        v.write_json(&mut out);
        String::from_utf8(out).expect("UTF-8 out")
    }

    #[test]
    fn writes_what_serde_json_writes() {
        let j = json!({
            "s": "tab\there \"quoted\" back\\slash \u{1} \u{1f} \u{7f} é \u{2028} line\nend\r\u{8}\u{c}",
            "n": [0, -1, u64::MAX, i64::MIN, 1.5, -3.5009985989294843e-103, 1e300],
            "o": {"": null, "t": true, "f": false, "e": {}, "a": []}
        });
        let v = Value::from(j.clone());
        assert_eq!(written(&v), serde_json::to_string(&j).unwrap());
    }

    #[test]
    fn escapes_at_every_position_of_a_word() {
        for len in 0..40 {
            for at in 0..len {
                for special in ['"', '\\', '\n', '\u{0}', '\u{1f}'] {
                    let s: String = (0..len).map(|i| if i == at { special } else { 'a' }).collect();
                    let v = Value::from(s.clone());
                    assert_eq!(written(&v), serde_json::to_string(&s).unwrap(), "{s:?}");
                    // And as a key (up to seven bytes, written from its tag).
                    let j = json!({ s.clone(): 1, "k": {s.clone(): s.clone()} });
                    assert_eq!(
                        written(&Value::from(j.clone())),
                        serde_json::to_string(&j).unwrap(),
                        "{s:?}"
                    );
                }
            }
        }
    }

    proptest! {
        #[test]
        fn any_string_is_written_as_serde_json_writes_it(s in any::<String>()) {
            prop_assert_eq!(written(&Value::from(s.clone())), serde_json::to_string(&s).unwrap());
        }

        #[test]
        fn any_keys_are_written_as_serde_json_writes_them(
            keys in proptest::collection::vec("[a-z\"\\\\\u{0}-\u{1f}\u{e9}\u{20ac}]{0,12}", 0..6)
        ) {
            let j: serde_json::Map<String, serde_json::Value> =
                keys.iter().map(|k| (k.clone(), json!(k))).collect();
            let j = serde_json::Value::Object(j);
            prop_assert_eq!(written(&Value::from(j.clone())), serde_json::to_string(&j).unwrap());
        }

        #[test]
        fn mostly_plain_strings_too(s in "[a-z \"\\\\\u{0}-\u{1f}\u{e9}\u{20ac}]{0,70}") {
            prop_assert_eq!(written(&Value::from(s.clone())), serde_json::to_string(&s).unwrap());
        }
    }
}
