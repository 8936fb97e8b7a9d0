//! Bulk request bodies: NDJSON action and source lines, built with
//! serde_json (never string formatting, so any index name, id or field is
//! escaped correctly), optionally gzip-compressed.

use std::io::Write;
use std::sync::Arc;

use crate::value::Map;
use bytes::Bytes;
use serde::Serialize;

use crate::config::OpType;
use crate::offsets::RecordId;

/// One document ready to be sent, with what is needed to acknowledge or
/// dead-letter its record afterwards.
#[derive(Debug, Clone)]
pub struct IndexItem {
    /// The record to acknowledge; `None` for documents that have no record
    /// of their own (failure-index documents).
    pub record: Option<RecordId>,
    /// Action line and source line, each ending in `\n`.
    pub lines: Bytes,
    /// The original record, for the dead-letter queue if ES rejects it.
    pub original: Option<crate::dead_letter::Original>,
    /// Target index, for metrics.
    pub index: Arc<str>,
    /// The pipeline that produced it.
    pub pipeline: Arc<str>,
}

#[derive(Serialize)]
struct Meta<'a> {
    #[serde(rename = "_index")]
    index: &'a str,
    #[serde(rename = "_id", skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    routing: Option<&'a str>,
}

#[derive(Serialize)]
enum Action<'a> {
    #[serde(rename = "index")]
    Index(Meta<'a>),
    #[serde(rename = "create")]
    Create(Meta<'a>),
}

/// Encodes the two NDJSON lines for one document.
pub fn encode(
    op: OpType,
    index: &str,
    id: Option<&str>,
    routing: Option<&str>,
    source: &Map,
) -> Result<Vec<u8>, serde_json::Error> {
    let meta = Meta { index, id, routing };
    let action = match op {
        OpType::Index => Action::Index(meta),
        OpType::Create => Action::Create(meta),
    };
    let mut out = Vec::with_capacity(256);
    serde_json::to_writer(&mut out, &action)?;
    out.push(b'\n');
    source.write_json(&mut out);
    out.push(b'\n');
    Ok(out)
}

/// A bulk body: the concatenated lines, and how it goes on the wire.
pub struct Body {
    /// Bytes to send.
    pub bytes: Bytes,
    /// Uncompressed size.
    pub raw_len: usize,
    /// True if `bytes` is gzip.
    pub gzip: bool,
}

/// Concatenates items into a body, compressing with gzip level 1: most of
/// the size win of higher levels at a fraction of the CPU, which is what
/// matters on the indexing hot path.
pub fn build_body<'a>(items: impl Iterator<Item = &'a IndexItem>, gzip: bool) -> std::io::Result<Body> {
    let mut raw = Vec::new();
    for item in items {
        raw.extend_from_slice(&item.lines);
    }
    let raw_len = raw.len();
    if !gzip {
        return Ok(Body {
            bytes: Bytes::from(raw),
            raw_len,
            gzip: false,
        });
    }
    let mut enc = flate2::write::GzEncoder::new(Vec::with_capacity(raw_len / 4), flate2::Compression::fast());
    enc.write_all(&raw)?;
    Ok(Body {
        bytes: Bytes::from(enc.finish()?),
        raw_len,
        gzip: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    #[test]
    fn action_lines_escape_everything() {
        let src = json!({"message": "a\"b\nc"});
        let Value::Object(m) = src else { unreachable!() };
        let m = Map::from(m);
        let out = encode(OpType::Create, "logs-x", Some("t\"1-0-5"), None, &m).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.split_terminator('\n').collect();
        assert_eq!(lines.len(), 2);
        let action: Value = serde_json::from_str(lines[0]).unwrap();
        assert_eq!(action, json!({"create": {"_index": "logs-x", "_id": "t\"1-0-5"}}));
        let source: Value = serde_json::from_str(lines[1]).unwrap();
        assert_eq!(source["message"], json!("a\"b\nc"));
    }

    #[test]
    fn no_id_means_no_id_key() {
        let out = encode(OpType::Index, "i", None, Some("r"), &Map::new()).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"index\":{\"_index\":\"i\",\"routing\":\"r\"}}\n{}\n"
        );
    }

    #[test]
    fn gzip_body_round_trips() {
        use std::io::Read;
        let item = IndexItem {
            record: None,
            lines: Bytes::from_static(b"{\"index\":{\"_index\":\"i\"}}\n{}\n"),
            original: None,
            index: Arc::from("i"),
            pipeline: Arc::from("p"),
        };
        let body = build_body([&item, &item].into_iter(), true).unwrap();
        assert!(body.gzip);
        let mut dec = flate2::read::GzDecoder::new(&body.bytes[..]);
        let mut s = String::new();
        dec.read_to_string(&mut s).unwrap();
        assert_eq!(s.len(), body.raw_len);
        assert_eq!(s.lines().count(), 4);
    }
}
