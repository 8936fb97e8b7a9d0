//! A fake Elasticsearch that acknowledges every `_bulk` item at once: the ES
//! side of throughput benchmarks, so that they measure Sluice rather than the
//! cluster. It streams each request body (gunzipping on the fly), parses only
//! the action lines and answers a valid per-item response; source lines are
//! skipped without being parsed. Once per second it prints docs/s to stderr.
//!
//! ```text
//! cargo run --release --example bulk_sink -- --addr 127.0.0.1:9299
//! ```
//!
//! Besides `_bulk` it answers what a client does at startup: `GET /`, index
//! templates (`PUT`/`GET`/`HEAD`/`DELETE _index_template/<name>`, same for
//! `_component_template`), `HEAD`/`PUT /<index>`, `_refresh` and
//! `_cluster/health`.

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::Parser;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

#[derive(Parser, Debug)]
#[command(about = "Instantly-acking fake Elasticsearch _bulk endpoint for benchmarks")]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:9299")]
    addr: SocketAddr,
    /// Delay before answering each bulk request, to model a cluster's latency.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Worker threads (default: tokio's choice, one per core).
    #[arg(long)]
    threads: Option<usize>,
    /// Once this many documents were acknowledged, hold every bulk request
    /// for `--stall-secs` (once): an Elasticsearch stall, for measuring
    /// memory under backpressure.
    #[arg(long)]
    stall_after_docs: Option<u64>,
    /// Length of that stall.
    #[arg(long, default_value_t = 60)]
    stall_secs: u64,
}

/// Totals since start; the reporter prints their per-second deltas.
#[derive(Default)]
struct Counters {
    requests: AtomicU64,
    docs: AtomicU64,
    /// Request bytes as received (compressed if gzip).
    wire_bytes: AtomicU64,
    /// Request bytes after decompression.
    raw_bytes: AtomicU64,
    seq_no: AtomicU64,
    auto_ids: AtomicU64,
}

struct State {
    counters: Counters,
    templates: Mutex<HashMap<String, Value>>,
    latency: Duration,
    stall_after_docs: Option<u64>,
    stall: Duration,
    /// When the one stall ends, once it has started.
    stall_until: Mutex<Option<Instant>>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = args.threads {
        builder.worker_threads(n);
    }
    let rt = builder.enable_all().build()?;
    rt.block_on(serve(args))
}

async fn serve(args: Args) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(args.addr).await?;
    eprintln!("bulk_sink: listening on http://{}", listener.local_addr()?);
    let state = Arc::new(State {
        counters: Counters::default(),
        templates: Mutex::new(HashMap::new()),
        latency: Duration::from_millis(args.latency_ms),
        stall_after_docs: args.stall_after_docs,
        stall: Duration::from_secs(args.stall_secs),
        stall_until: Mutex::new(None),
    });
    tokio::spawn(report(state.clone()));
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let state = state.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| handle(req, state.clone()));
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// Prints one line per second while there is traffic, and one when it stops.
async fn report(state: Arc<State>) {
    let c = &state.counters;
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    ticker.tick().await;
    let (mut docs, mut wire, mut raw, mut reqs) = (0u64, 0u64, 0u64, 0u64);
    let mut last = Instant::now();
    let mut idle_reported = true;
    loop {
        ticker.tick().await;
        let now = Instant::now();
        let secs = now.duration_since(last).as_secs_f64();
        last = now;
        let (d, w, r, q) = (
            c.docs.load(Ordering::Relaxed),
            c.wire_bytes.load(Ordering::Relaxed),
            c.raw_bytes.load(Ordering::Relaxed),
            c.requests.load(Ordering::Relaxed),
        );
        if d == docs && q == reqs {
            if !idle_reported {
                eprintln!("bulk_sink: idle, total {d} docs in {q} requests");
                idle_reported = true;
            }
            continue;
        }
        idle_reported = false;
        let mb = |bytes: u64| bytes as f64 / secs / 1e6;
        eprintln!(
            "bulk_sink: {:>9.0} docs/s  {:>7.1} MB/s raw  {:>7.1} MB/s wire  {:>6.0} req/s  total {d} docs",
            (d - docs) as f64 / secs,
            mb(r - raw),
            mb(w - wire),
            (q - reqs) as f64 / secs,
        );
        (docs, wire, raw, reqs) = (d, w, r, q);
    }
}

type Resp = Response<Full<Bytes>>;

async fn handle(req: Request<Incoming>, state: Arc<State>) -> Result<Resp, hyper::Error> {
    let path = req.uri().path().to_string();
    let segments: Vec<&str> = path.trim_matches('/').split('/').filter(|s| !s.is_empty()).collect();
    let method = req.method().clone();
    let resp = match (&method, segments.as_slice()) {
        (&Method::POST | &Method::PUT, ["_bulk"]) => bulk(req, None, &state).await?,
        (&Method::POST | &Method::PUT, [index, "_bulk"]) => {
            let index = index.to_string();
            bulk(req, Some(index), &state).await?
        }
        (&Method::GET | &Method::HEAD, []) => json_response(StatusCode::OK, &info()),
        (_, [kind @ ("_index_template" | "_component_template"), name]) => {
            let key = format!("{kind}/{name}");
            let plural = if *kind == "_index_template" {
                "index_templates"
            } else {
                "component_templates"
            };
            let body_key = if *kind == "_index_template" {
                "index_template"
            } else {
                "component_template"
            };
            match method {
                Method::PUT | Method::POST => {
                    let body = req.into_body().collect().await?.to_bytes();
                    let value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    lock(&state.templates).insert(key, value);
                    ack()
                }
                Method::DELETE => {
                    lock(&state.templates).remove(&key);
                    ack()
                }
                _ => match lock(&state.templates).get(&key) {
                    Some(t) => json_response(StatusCode::OK, &json!({plural: [{"name": name, body_key: t}]})),
                    None => not_found("resource_not_found_exception", &format!("{kind} [{name}] missing")),
                },
            }
        }
        (_, ["_cluster", "health", ..]) => json_response(
            StatusCode::OK,
            &json!({"cluster_name": "bulk-sink", "status": "green", "timed_out": false, "number_of_nodes": 1,
                    "number_of_data_nodes": 1, "active_primary_shards": 1, "active_shards": 1}),
        ),
        (_, ["_refresh"] | [_, "_refresh"]) => json_response(
            StatusCode::OK,
            &json!({"_shards": {"total": 1, "successful": 1, "failed": 0}}),
        ),
        (&Method::HEAD, [_index]) => json_response(StatusCode::OK, &json!({})),
        (&Method::PUT, [index]) => json_response(
            StatusCode::OK,
            &json!({"acknowledged": true, "shards_acknowledged": true, "index": index}),
        ),
        (&Method::GET, _) => json_response(StatusCode::OK, &json!({})),
        _ => ack(),
    };
    Ok(resp)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn info() -> Value {
    json!({
        "name": "bulk-sink",
        "cluster_name": "bulk-sink",
        "cluster_uuid": "YmFrZS1zaW5rLWNsdXN0ZXI",
        "version": {
            "number": "8.15.0",
            "build_flavor": "default",
            "build_type": "docker",
            "build_hash": "1a77947f34deddb41af25e6f0ddb8e830159c179",
            "build_date": "2024-08-05T10:05:34.233336849Z",
            "build_snapshot": false,
            "lucene_version": "9.11.1",
            "minimum_wire_compatibility_version": "7.17.0",
            "minimum_index_compatibility_version": "7.0.0"
        },
        "tagline": "You Know, for Search"
    })
}

fn ack() -> Resp {
    json_response(StatusCode::OK, &json!({"acknowledged": true}))
}

fn not_found(error_type: &str, reason: &str) -> Resp {
    json_response(
        StatusCode::NOT_FOUND,
        &json!({"error": {"root_cause": [{"type": error_type, "reason": reason}], "type": error_type, "reason": reason},
                "status": 404}),
    )
}

fn json_response(status: StatusCode, body: &Value) -> Resp {
    bytes_response(status, Bytes::from(serde_json::to_vec(body).unwrap_or_default()))
}

fn bytes_response(status: StatusCode, body: Bytes) -> Resp {
    let mut resp = Response::new(Full::new(body));
    *resp.status_mut() = status;
    let headers = resp.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    // Elasticsearch 8 clients refuse servers that do not claim to be one.
    headers.insert("x-elastic-product", HeaderValue::from_static("Elasticsearch"));
    resp
}

async fn bulk(req: Request<Incoming>, default_index: Option<String>, state: &State) -> Result<Resp, hyper::Error> {
    let c = &state.counters;
    c.requests.fetch_add(1, Ordering::Relaxed);
    let gzip = req
        .headers()
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("gzip"));
    let mut scanner = BulkScanner::new(default_index, c);
    let mut body = req.into_body();
    let mut wire = 0u64;
    if gzip {
        let mut decoder = flate2::write::MultiGzDecoder::new(scanner);
        let mut failed = false;
        while let Some(frame) = body.frame().await {
            if let Ok(data) = frame?.into_data() {
                wire += data.len() as u64;
                failed |= !failed && decoder.write_all(&data).is_err();
            }
        }
        scanner = match decoder.finish() {
            Ok(s) if !failed => s,
            _ => {
                return Ok(error_400("parse_exception", "request body is not valid gzip"));
            }
        };
    } else {
        while let Some(frame) = body.frame().await {
            if let Ok(data) = frame?.into_data() {
                wire += data.len() as u64;
                scanner.feed(&data);
            }
        }
    }
    c.wire_bytes.fetch_add(wire, Ordering::Relaxed);
    let outcome = scanner.finish();
    if let Some(after) = state.stall_after_docs {
        let until = {
            let mut until = state.stall_until.lock().unwrap_or_else(|p| p.into_inner());
            if until.is_none() && state.counters.docs.load(Ordering::Relaxed) >= after {
                eprintln!("bulk_sink: stalling every bulk request for {:?}", state.stall);
                *until = Some(Instant::now() + state.stall);
            }
            *until
        };
        if let Some(u) = until {
            let now = Instant::now();
            if u > now {
                tokio::time::sleep(u - now).await;
            }
        }
    }
    if !state.latency.is_zero() {
        tokio::time::sleep(state.latency).await;
    }
    match outcome {
        Ok((items, response)) => {
            c.docs.fetch_add(items, Ordering::Relaxed);
            Ok(bytes_response(StatusCode::OK, Bytes::from(response)))
        }
        Err(reason) => Ok(error_400("x_content_parse_exception", &reason)),
    }
}

fn error_400(error_type: &str, reason: &str) -> Resp {
    json_response(
        StatusCode::BAD_REQUEST,
        &json!({"error": {"root_cause": [{"type": error_type, "reason": reason}], "type": error_type, "reason": reason},
                "status": 400}),
    )
}

/// `{"index": {"_index": "...", "_id": "..."}}`; other metadata is ignored.
#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum ActionLine<'a> {
    Index(#[serde(borrow)] Meta<'a>),
    Create(#[serde(borrow)] Meta<'a>),
    Update(#[serde(borrow)] Meta<'a>),
    Delete(#[serde(borrow)] Meta<'a>),
}

#[derive(Deserialize)]
struct Meta<'a> {
    #[serde(rename = "_index", borrow, default)]
    index: Option<Cow<'a, str>>,
    #[serde(rename = "_id", borrow, default)]
    id: Option<Cow<'a, str>>,
}

#[derive(Serialize)]
struct Shards {
    total: u32,
    successful: u32,
    failed: u32,
}

#[derive(Serialize)]
struct ItemOk<'a> {
    _index: &'a str,
    _id: &'a str,
    _version: u64,
    result: &'static str,
    _shards: Shards,
    _seq_no: u64,
    _primary_term: u64,
    status: u16,
}

#[derive(Serialize)]
struct ItemErr<'a> {
    _index: &'a str,
    _id: &'a str,
    status: u16,
    error: ItemErrBody<'a>,
}

#[derive(Serialize)]
struct ItemErrBody<'a> {
    r#type: &'static str,
    reason: &'a str,
}

/// Consumes a bulk body chunk by chunk and builds the response as it goes.
/// Action lines are parsed (buffered only when split across chunks); source
/// lines are skipped by searching for their newline.
struct BulkScanner<'c> {
    default_index: Option<String>,
    counters: &'c Counters,
    /// Bytes of an action line split across chunks.
    partial: Vec<u8>,
    /// Inside a source line, skipping to its newline.
    skipping_source: bool,
    items: u64,
    errors: bool,
    /// Response items so far, comma-separated.
    out: Vec<u8>,
    /// First malformed action line; the whole request fails, as in ES.
    failure: Option<String>,
    raw_bytes: u64,
}

impl<'c> BulkScanner<'c> {
    fn new(default_index: Option<String>, counters: &'c Counters) -> Self {
        BulkScanner {
            default_index,
            counters,
            partial: Vec::new(),
            skipping_source: false,
            items: 0,
            errors: false,
            out: Vec::with_capacity(64 * 1024),
            failure: None,
            raw_bytes: 0,
        }
    }

    fn feed(&mut self, mut data: &[u8]) {
        self.raw_bytes += data.len() as u64;
        while !data.is_empty() {
            let newline = memchr::memchr(b'\n', data);
            if self.skipping_source {
                match newline {
                    Some(i) => {
                        self.skipping_source = false;
                        data = &data[i + 1..];
                        continue;
                    }
                    None => return,
                }
            }
            match newline {
                Some(i) => {
                    if self.partial.is_empty() {
                        self.action_line(&data[..i]);
                    } else {
                        let mut line = std::mem::take(&mut self.partial);
                        line.extend_from_slice(&data[..i]);
                        self.action_line(&line);
                        line.clear();
                        self.partial = line;
                    }
                    data = &data[i + 1..];
                }
                None => {
                    self.partial.extend_from_slice(data);
                    return;
                }
            }
        }
    }

    fn action_line(&mut self, line: &[u8]) {
        if line.trim_ascii().is_empty() || self.failure.is_some() {
            return;
        }
        let action = match serde_json::from_slice::<ActionLine<'_>>(line) {
            Ok(a) => a,
            Err(e) => {
                self.failure = Some(format!(
                    "malformed action/metadata line [{}]: {e}: {}",
                    self.items + 1,
                    String::from_utf8_lossy(&line[..line.len().min(200)])
                ));
                return;
            }
        };
        let (name, meta, has_source, result, status) = match &action {
            ActionLine::Index(m) => ("index", m, true, "created", 201),
            ActionLine::Create(m) => ("create", m, true, "created", 201),
            ActionLine::Update(m) => ("update", m, true, "updated", 200),
            ActionLine::Delete(m) => ("delete", m, false, "deleted", 200),
        };
        self.skipping_source = has_source;
        if self.items > 0 {
            self.out.push(b',');
        }
        self.items += 1;
        let auto_id;
        let id = match &meta.id {
            Some(id) => id.as_ref(),
            None => {
                let n = self.counters.auto_ids.fetch_add(1, Ordering::Relaxed);
                auto_id = format!("sink{n:016x}");
                auto_id.as_str()
            }
        };
        // The action name is one of four literals, safe to write unescaped.
        self.out.extend_from_slice(b"{\"");
        self.out.extend_from_slice(name.as_bytes());
        self.out.extend_from_slice(b"\":");
        let written = match meta.index.as_deref().or(self.default_index.as_deref()) {
            Some(index) => serde_json::to_writer(
                &mut self.out,
                &ItemOk {
                    _index: index,
                    _id: id,
                    _version: 1,
                    result,
                    _shards: Shards {
                        total: 1,
                        successful: 1,
                        failed: 0,
                    },
                    _seq_no: self.counters.seq_no.fetch_add(1, Ordering::Relaxed),
                    _primary_term: 1,
                    status,
                },
            ),
            None => {
                self.errors = true;
                serde_json::to_writer(
                    &mut self.out,
                    &ItemErr {
                        _index: "",
                        _id: id,
                        status: 400,
                        error: ItemErrBody {
                            r#type: "action_request_validation_exception",
                            reason: "index is missing",
                        },
                    },
                )
            }
        };
        written.expect("serialize into a Vec cannot fail");
        self.out.push(b'}');
    }

    /// Returns the item count and the complete response body, or the reason
    /// the request as a whole is rejected.
    fn finish(mut self) -> Result<(u64, Vec<u8>), String> {
        // A last action line may lack its newline (a delete at the very end).
        if !self.partial.is_empty() && !self.skipping_source {
            let line = std::mem::take(&mut self.partial);
            self.action_line(&line);
        }
        self.counters.raw_bytes.fetch_add(self.raw_bytes, Ordering::Relaxed);
        if let Some(reason) = self.failure {
            return Err(reason);
        }
        let mut body = Vec::with_capacity(self.out.len() + 48);
        body.extend_from_slice(b"{\"took\":0,\"errors\":");
        body.extend_from_slice(if self.errors { b"true" } else { b"false" });
        body.extend_from_slice(b",\"items\":[");
        body.extend_from_slice(&self.out);
        body.extend_from_slice(b"]}");
        Ok((self.items, body))
    }
}

impl Write for BulkScanner<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.feed(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
