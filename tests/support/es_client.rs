//! A small Elasticsearch REST client for checking what a test indexed:
//! refresh, count, search, `_cat/indices`, get by id, and raw bulk. Panics
//! with the response body on unexpected statuses, since it only serves tests.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::Value;

#[derive(Clone)]
pub struct EsClient {
    base: String,
    http: reqwest::Client,
}

/// A raw HTTP answer, for tests that look at statuses themselves.
#[derive(Debug)]
pub struct EsResponse {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
}

impl EsResponse {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "response ({}) is not JSON ({e}): {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

impl EsClient {
    pub fn new(base_url: &str) -> EsClient {
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("build reqwest client");
        EsClient {
            base: base_url.trim_end_matches('/').to_string(),
            http,
        }
    }

    pub fn url(&self) -> &str {
        &self.base
    }

    /// Sends a request and returns whatever came back; `Err` only for
    /// transport failures (refused, reset, timeout).
    pub async fn try_request(
        &self,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        body: Option<Vec<u8>>,
        extra_headers: &[(&str, &str)],
    ) -> Result<EsResponse, reqwest::Error> {
        let mut req = self.http.request(method, format!("{}{}", self.base, path));
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        for (name, value) in extra_headers {
            req = req.header(*name, *value);
        }
        if let Some(body) = body {
            req = req.body(body);
        }
        let resp = req.send().await?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp.bytes().await?.to_vec();
        Ok(EsResponse { status, headers, body })
    }

    /// A JSON request expected to succeed (2xx); returns the parsed body.
    pub async fn request_json(&self, method: Method, path: &str, body: Option<&Value>) -> Value {
        let bytes = body.map(|b| serde_json::to_vec(b).expect("serialize request body"));
        let content_type = bytes.as_ref().map(|_| "application/json");
        let resp = self
            .try_request(method.clone(), path, content_type, bytes, &[])
            .await
            .unwrap_or_else(|e| panic!("{method} {}{path}: {e}", self.base));
        if !resp.status.is_success() {
            panic!("{method} {}{path} answered {}: {}", self.base, resp.status, resp.text());
        }
        if resp.body.is_empty() { Value::Null } else { resp.json() }
    }

    /// Makes everything indexed so far visible to count and search.
    pub async fn refresh(&self, index_pattern: &str) {
        self.request_json(Method::POST, &format!("/{index_pattern}/_refresh"), None)
            .await;
    }

    pub async fn refresh_all(&self) {
        self.request_json(Method::POST, "/_refresh", None).await;
    }

    /// Number of documents matching the pattern (0 if no index matches).
    pub async fn count(&self, index_pattern: &str) -> u64 {
        let resp = self
            .try_request(Method::GET, &format!("/{index_pattern}/_count"), None, None, &[])
            .await
            .unwrap_or_else(|e| panic!("count {index_pattern}: {e}"));
        if resp.status == StatusCode::NOT_FOUND {
            return 0;
        }
        if !resp.status.is_success() {
            panic!("count {index_pattern} answered {}: {}", resp.status, resp.text());
        }
        resp.json()["count"]
            .as_u64()
            .unwrap_or_else(|| panic!("no count in {}", resp.text()))
    }

    /// Runs a search body (`{"query": …, "aggs": …, "size": …}`).
    pub async fn search(&self, index: &str, body: &Value) -> Value {
        self.request_json(Method::POST, &format!("/{index}/_search"), Some(body))
            .await
    }

    /// `_source` of every hit of a search, for assertions on documents.
    pub async fn search_sources(&self, index: &str, body: &Value) -> Vec<Value> {
        let result = self.search(index, body).await;
        result["hits"]["hits"]
            .as_array()
            .map(|hits| hits.iter().map(|h| h["_source"].clone()).collect())
            .unwrap_or_default()
    }

    /// `_cat/indices` as JSON rows (`index`, `docs.count`, `health`, …).
    pub async fn cat_indices(&self) -> Vec<Value> {
        match self.request_json(Method::GET, "/_cat/indices?format=json", None).await {
            Value::Array(rows) => rows,
            other => panic!("_cat/indices returned {other}"),
        }
    }

    /// Index names, sorted.
    pub async fn index_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .cat_indices()
            .await
            .iter()
            .filter_map(|r| r["index"].as_str().map(str::to_string))
            .collect();
        names.sort();
        names
    }

    /// The `_source` of a document, or `None` if it does not exist.
    pub async fn get_doc(&self, index: &str, id: &str) -> Option<Value> {
        let path = format!(
            "/{index}/_doc/{}",
            percent_encoding::utf8_percent_encode(id, percent_encoding::NON_ALPHANUMERIC)
        );
        let resp = self
            .try_request(Method::GET, &path, None, None, &[])
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        match resp.status {
            StatusCode::NOT_FOUND => None,
            s if s.is_success() => {
                let v = resp.json();
                if v["found"] == Value::Bool(false) {
                    None
                } else {
                    Some(v["_source"].clone())
                }
            }
            s => panic!("GET {path} answered {s}: {}", resp.text()),
        }
    }

    /// The `_source` of the document with this `_id` in any index matching
    /// `pattern` (GET by id needs a concrete index; this searches).
    pub async fn find_by_id(&self, pattern: &str, id: &str) -> Option<Value> {
        let body = serde_json::json!({"query": {"ids": {"values": [id]}}, "size": 2});
        let hits = self.search(pattern, &body).await;
        let hits = hits["hits"]["hits"].as_array().cloned().unwrap_or_default();
        assert!(hits.len() <= 1, "id {id} appears {} times in {pattern}", hits.len());
        hits.first().map(|h| h["_source"].clone())
    }

    /// Sends an NDJSON bulk body; returns the transport result so a test can
    /// retry on 429/5xx or resets.
    pub async fn bulk(&self, ndjson: Vec<u8>, gzip: bool) -> Result<EsResponse, reqwest::Error> {
        if gzip {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            std::io::Write::write_all(&mut enc, &ndjson).expect("gzip into memory");
            let body = enc.finish().expect("gzip into memory");
            self.try_request(
                Method::POST,
                "/_bulk",
                Some("application/x-ndjson"),
                Some(body),
                &[("content-encoding", "gzip")],
            )
            .await
        } else {
            self.try_request(Method::POST, "/_bulk", Some("application/x-ndjson"), Some(ndjson), &[])
                .await
        }
    }

    pub async fn put_index_template(&self, name: &str, body: &Value) {
        self.request_json(Method::PUT, &format!("/_index_template/{name}"), Some(body))
            .await;
    }

    pub async fn delete_index(&self, index: &str) {
        let _ = self
            .try_request(Method::DELETE, &format!("/{index}"), None, None, &[])
            .await;
    }
}

/// Builds an NDJSON bulk body of `index` actions from `(id, source)` pairs.
pub fn bulk_index_body<'a>(index: &str, docs: impl IntoIterator<Item = (&'a str, &'a Value)>) -> Vec<u8> {
    let mut out = Vec::new();
    for (id, source) in docs {
        let action = serde_json::json!({"index": {"_index": index, "_id": id}});
        serde_json::to_writer(&mut out, &action).expect("serialize action");
        out.push(b'\n');
        serde_json::to_writer(&mut out, source).expect("serialize source");
        out.push(b'\n');
    }
    out
}
