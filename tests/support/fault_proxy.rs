//! An HTTP reverse proxy put between the service under test and
//! Elasticsearch (osmem), injecting the failures a real cluster and its load
//! balancer produce: request-level 429/5xx, item-level rejections inside a
//! `_bulk` response, connection resets, closes and stalls.
//!
//! The proxy runs on its own thread and runtime, so it keeps serving while a
//! test blocks, whatever runtime flavour the test uses. A test controls it
//! through the [`FaultProxy`] handle: [`FaultProxy::set_plan`] installs an
//! ordered list of [`Step`]s; each request is handled by the first step that
//! matches it and still has budget, or passed through if none does.
//!
//! Item-level rejections are faithful: rejected items are removed from the
//! request before it is forwarded (so they are really not indexed), and fake
//! error items are spliced back into the upstream response at their original
//! positions, so the response items line up with the request.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};

/// Which requests a step applies to.
#[derive(Clone, Debug)]
pub enum Scope {
    Any,
    /// `POST`/`PUT` to `/_bulk` or `/<index>/_bulk`.
    Bulk,
    /// Requests whose path contains this string.
    PathContains(String),
}

/// How long a step stays active.
#[derive(Clone, Debug)]
pub enum Budget {
    /// The next N matching requests.
    Requests(u64),
    /// Matching requests for this long, counted from the first one it handles.
    For(Duration),
    Forever,
}

/// What happens after a stall.
#[derive(Clone, Debug)]
pub enum AfterStall {
    /// Forward upstream. If the client timed out meanwhile, the request is
    /// still executed upstream, just as Elasticsearch keeps indexing a bulk
    /// whose client went away: the case that creates duplicates on retry.
    Forward,
    /// Close the connection without a response.
    Close,
}

/// Which items of a `_bulk` request to reject (0-based item positions).
#[derive(Clone, Debug)]
pub enum ItemSelect {
    First(usize),
    /// This fraction of the items, spread evenly and deterministically.
    Fraction(f64),
    Positions(Vec<usize>),
    /// Items whose action line carries one of these `_id`s.
    Ids(Vec<String>),
    All,
}

/// The error a rejected bulk item carries.
#[derive(Clone, Debug)]
pub struct ItemError {
    pub status: u16,
    pub error_type: String,
    pub reason: String,
}

impl ItemError {
    /// What a saturated write thread pool answers per item.
    pub fn rejected() -> ItemError {
        ItemError {
            status: 429,
            error_type: "es_rejected_execution_exception".into(),
            reason: "rejected execution of primary operation [shard_detail=[logs][0][node-1]] on \
                     EsThreadPoolExecutor[name = node-1/write, queue capacity = 10000, active threads = 8, \
                     queued tasks = 10000, completed tasks = 123456]"
                .into(),
        }
    }

    /// A primary shard that is not (yet) allocated.
    pub fn unavailable_shards() -> ItemError {
        ItemError {
            status: 503,
            error_type: "unavailable_shards_exception".into(),
            reason: "[logs][0] primary shard is not active Timeout: [1m]".into(),
        }
    }

    /// A document that can never be indexed as is.
    pub fn mapper_parsing() -> ItemError {
        ItemError {
            status: 400,
            error_type: "mapper_parsing_exception".into(),
            reason: "failed to parse field [status] of type [long] in document".into(),
        }
    }
}

#[derive(Clone, Debug)]
pub enum Fault {
    PassThrough,
    /// Answer with this status and a realistic body (ES JSON for 429/503,
    /// a load balancer's HTML page for 502/504) without contacting upstream.
    Status(u16),
    /// Forward a `_bulk` request without the selected items and report them
    /// as failed with `error`.
    RejectItems {
        select: ItemSelect,
        error: ItemError,
    },
    /// Abort the connection with a TCP RST after reading the request.
    Reset,
    /// Close the connection (FIN) without a response after reading the request.
    Close,
    /// Hold the request, then forward it or close.
    Stall {
        duration: Duration,
        then: AfterStall,
    },
}

/// One entry of a [`Plan`]: a fault, the requests it applies to and how long.
#[derive(Clone, Debug)]
pub struct Step {
    pub fault: Fault,
    pub scope: Scope,
    pub budget: Budget,
}

impl Step {
    fn new(fault: Fault, scope: Scope) -> Step {
        Step {
            fault,
            scope,
            budget: Budget::Forever,
        }
    }

    pub fn pass_through() -> Step {
        Step::new(Fault::PassThrough, Scope::Any)
    }

    pub fn status(code: u16) -> Step {
        Step::new(Fault::Status(code), Scope::Any)
    }

    /// Item-level 429 `es_rejected_execution_exception`; only `_bulk` requests.
    pub fn reject_items(select: ItemSelect) -> Step {
        Step::new(
            Fault::RejectItems {
                select,
                error: ItemError::rejected(),
            },
            Scope::Bulk,
        )
    }

    pub fn reset() -> Step {
        Step::new(Fault::Reset, Scope::Any)
    }

    pub fn close() -> Step {
        Step::new(Fault::Close, Scope::Any)
    }

    pub fn stall(duration: Duration) -> Step {
        Step::new(
            Fault::Stall {
                duration,
                then: AfterStall::Forward,
            },
            Scope::Any,
        )
    }

    pub fn stall_then_close(duration: Duration) -> Step {
        Step::new(
            Fault::Stall {
                duration,
                then: AfterStall::Close,
            },
            Scope::Any,
        )
    }

    /// Replaces the error of a `reject_items` step.
    pub fn item_error(mut self, error: ItemError) -> Step {
        if let Fault::RejectItems { error: e, .. } = &mut self.fault {
            *e = error;
        } else {
            panic!("item_error() only applies to reject_items() steps");
        }
        self
    }

    pub fn times(mut self, n: u64) -> Step {
        self.budget = Budget::Requests(n);
        self
    }

    pub fn for_duration(mut self, d: Duration) -> Step {
        self.budget = Budget::For(d);
        self
    }

    pub fn forever(mut self) -> Step {
        self.budget = Budget::Forever;
        self
    }

    pub fn on_bulk(mut self) -> Step {
        self.scope = Scope::Bulk;
        self
    }

    pub fn on_path(mut self, fragment: &str) -> Step {
        self.scope = Scope::PathContains(fragment.to_string());
        self
    }
}

/// An ordered list of steps. An empty plan passes everything through.
#[derive(Clone, Debug, Default)]
pub struct Plan {
    steps: Vec<Step>,
}

impl Plan {
    pub fn new() -> Plan {
        Plan::default()
    }

    pub fn pass_through() -> Plan {
        Plan::default()
    }

    pub fn then(mut self, step: Step) -> Plan {
        self.steps.push(step);
        self
    }
}

/// What the proxy has seen and done since it started (or since `reset_stats`).
#[derive(Clone, Debug, Default)]
pub struct Stats {
    /// Requests per URL path (without query string), faulted or not.
    pub requests: BTreeMap<String, u64>,
    pub bulk_requests: u64,
    /// Items in all `_bulk` requests received.
    pub bulk_items_received: u64,
    /// Items sent upstream (received minus rejected, for forwarded requests).
    pub bulk_items_forwarded: u64,
    pub status_faults: u64,
    /// Bulk requests in which at least one item was rejected.
    pub item_faults: u64,
    pub items_rejected: u64,
    pub resets: u64,
    pub closes: u64,
    pub stalls: u64,
}

impl Stats {
    /// Requests whose path ends with `suffix`, e.g. `"/_bulk"`.
    pub fn requests_ending_with(&self, suffix: &str) -> u64 {
        self.requests
            .iter()
            .filter(|(p, _)| p.ends_with(suffix))
            .map(|(_, n)| n)
            .sum()
    }

    pub fn faults_injected(&self) -> u64 {
        self.status_faults + self.item_faults + self.resets + self.closes + self.stalls
    }
}

struct StepState {
    step: Step,
    used: u64,
    started: Option<Instant>,
}

struct Inner {
    steps: Vec<StepState>,
    stats: Stats,
}

struct Shared {
    upstream: String,
    inner: Mutex<Inner>,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave Inner inconsistent in a
        // way that matters to a test; keep serving.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Picks the fault for a request and charges it to the step's budget.
    fn decide(&self, path: &str, is_bulk: bool) -> Fault {
        let mut inner = self.lock();
        let now = Instant::now();
        let Inner { steps, stats } = &mut *inner;
        *stats.requests.entry(path.to_string()).or_default() += 1;
        if is_bulk {
            stats.bulk_requests += 1;
        }
        for st in steps.iter_mut() {
            let in_scope = match &st.step.scope {
                Scope::Any => true,
                Scope::Bulk => is_bulk,
                Scope::PathContains(f) => path.contains(f.as_str()),
            };
            let applicable = !matches!(st.step.fault, Fault::RejectItems { .. }) || is_bulk;
            let live = match st.step.budget {
                Budget::Requests(n) => st.used < n,
                Budget::For(d) => st.started.is_none_or(|s| now.duration_since(s) < d),
                Budget::Forever => true,
            };
            if !(in_scope && applicable && live) {
                continue;
            }
            st.used += 1;
            st.started.get_or_insert(now);
            match &st.step.fault {
                Fault::PassThrough | Fault::RejectItems { .. } => {}
                Fault::Status(_) => stats.status_faults += 1,
                Fault::Reset => stats.resets += 1,
                Fault::Close => stats.closes += 1,
                Fault::Stall { .. } => stats.stalls += 1,
            }
            return st.step.fault.clone();
        }
        Fault::PassThrough
    }
}

/// Handle to a running proxy; dropping it stops the proxy and closes all of
/// its connections.
pub struct FaultProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl FaultProxy {
    /// Starts a proxy on a free port forwarding to `upstream`
    /// (e.g. `http://127.0.0.1:9200`), passing everything through.
    pub fn start(upstream: &str) -> FaultProxy {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind fault proxy listener");
        listener.set_nonblocking(true).expect("set proxy listener non-blocking");
        let addr = listener.local_addr().expect("proxy listener address");
        let shared = Arc::new(Shared {
            upstream: upstream.trim_end_matches('/').to_string(),
            inner: Mutex::new(Inner {
                steps: Vec::new(),
                stats: Stats::default(),
            }),
        });
        let (tx, rx) = tokio::sync::oneshot::channel();
        let thread_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name(format!("fault-proxy-{}", addr.port()))
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .expect("build fault proxy runtime");
                rt.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(listener).expect("register proxy listener");
                    let client = reqwest::Client::builder()
                        .no_proxy()
                        .build()
                        .expect("build proxy upstream client");
                    tokio::select! {
                        _ = rx => {}
                        _ = accept_loop(listener, thread_shared, client) => {}
                    }
                });
                // Dropping the runtime cancels every connection task.
                rt.shutdown_background();
            })
            .expect("spawn fault proxy thread");
        FaultProxy {
            addr,
            shared,
            shutdown: Some(tx),
            thread: Some(thread),
        }
    }

    /// Base URL of the proxy, without a trailing slash.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Replaces the plan; budgets of the new steps start fresh.
    pub fn set_plan(&self, plan: Plan) {
        let mut inner = self.shared.lock();
        inner.steps = plan
            .steps
            .into_iter()
            .map(|step| StepState {
                step,
                used: 0,
                started: None,
            })
            .collect();
    }

    pub fn stats(&self) -> Stats {
        self.shared.lock().stats.clone()
    }

    pub fn reset_stats(&self) {
        self.shared.lock().stats = Stats::default();
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn accept_loop(listener: tokio::net::TcpListener, shared: Arc<Shared>, client: reqwest::Client) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            // Out of file descriptors or similar: back off instead of spinning.
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        // A second descriptor for the same socket lets a handler set
        // SO_LINGER=0 while hyper owns the stream, so that closing it sends RST.
        let Ok(fd) = stream.as_fd().try_clone_to_owned() else {
            continue;
        };
        let fd = Arc::new(fd);
        let shared = shared.clone();
        let client = client.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                // Detached, so a request keeps going upstream when its client
                // disconnects mid-stall, as a real server keeps executing it.
                let work = tokio::spawn(handle(req, shared.clone(), client.clone(), fd.clone()));
                async move { work.await.unwrap_or(Err(Abort("proxy handler panicked"))) }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// Returned by the service to make hyper drop the connection without a response.
#[derive(Debug)]
struct Abort(&'static str);

impl std::fmt::Display for Abort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for Abort {}

type ProxyResult = Result<Response<Full<Bytes>>, Abort>;

async fn handle(req: Request<Incoming>, shared: Arc<Shared>, client: reqwest::Client, fd: Arc<OwnedFd>) -> ProxyResult {
    let (parts, body) = req.into_parts();
    // Read the whole request first, as a server does before answering 429.
    let Ok(body) = body.collect().await.map(|b| b.to_bytes()) else {
        return Err(Abort("client went away while sending the request"));
    };
    let path = parts.uri.path().to_string();
    let is_bulk =
        (parts.method == Method::POST || parts.method == Method::PUT) && (path == "/_bulk" || path.ends_with("/_bulk"));
    let forward = Forward {
        shared: &shared,
        client: &client,
        parts: &parts,
    };
    match shared.decide(&path, is_bulk) {
        Fault::PassThrough => {
            if is_bulk {
                count_bulk_items(&shared, &parts.headers, &body, true);
            }
            forward.send(body).await
        }
        Fault::Status(code) => {
            if is_bulk {
                count_bulk_items(&shared, &parts.headers, &body, false);
            }
            Ok(error_response(code))
        }
        Fault::Reset => {
            let _ = socket2::SockRef::from(&*fd).set_linger(Some(Duration::ZERO));
            Err(Abort("injected reset"))
        }
        Fault::Close => Err(Abort("injected close")),
        Fault::Stall { duration, then } => {
            tokio::time::sleep(duration).await;
            match then {
                AfterStall::Close => Err(Abort("injected close after stall")),
                AfterStall::Forward => {
                    if is_bulk {
                        count_bulk_items(&shared, &parts.headers, &body, true);
                    }
                    forward.send(body).await
                }
            }
        }
        Fault::RejectItems { select, error } => reject_items(&forward, &body, &select, &error).await,
    }
}

struct Forward<'a> {
    shared: &'a Shared,
    client: &'a reqwest::Client,
    parts: &'a hyper::http::request::Parts,
}

impl Forward<'_> {
    async fn send(&self, body: Bytes) -> ProxyResult {
        let path_and_query = self.parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
        let (status, headers, body) = self.send_raw(path_and_query, body).await?;
        let mut resp = Response::new(Full::new(body));
        *resp.status_mut() = status;
        *resp.headers_mut() = headers;
        Ok(resp)
    }

    /// Forwards the request with `body` and returns the upstream response.
    /// An unreachable upstream becomes a 502, as from a real load balancer.
    async fn send_raw(&self, path_and_query: &str, body: Bytes) -> Result<(StatusCode, HeaderMap, Bytes), Abort> {
        let url = format!("{}{}", self.shared.upstream, path_and_query);
        let mut headers = self.parts.headers.clone();
        strip_hop_by_hop(&mut headers);
        headers.remove(header::HOST);
        headers.remove(header::CONTENT_LENGTH);
        let sent = self
            .client
            .request(self.parts.method.clone(), url)
            .headers(headers)
            .body(body)
            .send()
            .await;
        let resp = match sent {
            Ok(resp) => resp,
            Err(_) => {
                let resp = error_response(502);
                let (parts, body) = resp.into_parts();
                let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                return Ok((parts.status, parts.headers, body));
            }
        };
        let status = resp.status();
        let mut headers = resp.headers().clone();
        strip_hop_by_hop(&mut headers);
        headers.remove(header::CONTENT_LENGTH);
        let body = resp
            .bytes()
            .await
            .map_err(|_| Abort("upstream went away while sending the response"))?;
        Ok((status, headers, body))
    }
}

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    for name in [
        header::CONNECTION,
        header::TRANSFER_ENCODING,
        header::TE,
        header::TRAILER,
        header::UPGRADE,
        header::PROXY_AUTHORIZATION,
        header::PROXY_AUTHENTICATE,
        HeaderName::from_static("keep-alive"),
    ] {
        headers.remove(name);
    }
}

fn is_gzip(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("gzip"))
}

fn gunzip(data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(data).read_to_end(&mut out).ok()?;
    Some(out)
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(data).expect("gzip into memory");
    enc.finish().expect("gzip into memory")
}

/// One item of a bulk request: the action line and, unless it is a delete,
/// the source line (both without the newline).
struct BulkItem<'a> {
    action: String,
    index: Option<String>,
    id: Option<String>,
    lines: Vec<&'a [u8]>,
}

/// Splits an NDJSON bulk body into items. `None` if an action line is not
/// a JSON object with a single action key, i.e. the body is not splittable.
fn parse_bulk(body: &[u8]) -> Option<Vec<BulkItem<'_>>> {
    let mut items = Vec::new();
    let mut lines = body.split(|&b| b == b'\n').filter(|l| !l.trim_ascii().is_empty());
    while let Some(line) = lines.next() {
        let Value::Object(map) = serde_json::from_slice::<Value>(line).ok()? else {
            return None;
        };
        let (action, meta) = map.into_iter().next()?;
        let mut item_lines = vec![line];
        if action != "delete" {
            item_lines.push(lines.next()?);
        }
        let field = |name: &str| meta.get(name).and_then(Value::as_str).map(str::to_string);
        items.push(BulkItem {
            index: field("_index"),
            id: field("_id"),
            action,
            lines: item_lines,
        });
    }
    Some(items)
}

fn count_bulk_items(shared: &Shared, headers: &HeaderMap, body: &[u8], forwarded: bool) {
    let decoded = if is_gzip(headers) {
        gunzip(body)
    } else {
        Some(body.to_vec())
    };
    let n = decoded
        .as_deref()
        .and_then(parse_bulk)
        .map_or(0, |items| items.len() as u64);
    let mut inner = shared.lock();
    inner.stats.bulk_items_received += n;
    if forwarded {
        inner.stats.bulk_items_forwarded += n;
    }
}

fn selected_positions(items: &[BulkItem<'_>], select: &ItemSelect) -> BTreeSet<usize> {
    let n = items.len();
    match select {
        ItemSelect::First(k) => (0..n.min(*k)).collect(),
        ItemSelect::All => (0..n).collect(),
        ItemSelect::Positions(p) => p.iter().copied().filter(|&i| i < n).collect(),
        ItemSelect::Ids(ids) => (0..n)
            .filter(|&i| items[i].id.as_ref().is_some_and(|id| ids.iter().any(|x| x == id)))
            .collect(),
        ItemSelect::Fraction(f) => {
            let f = f.clamp(0.0, 1.0);
            // Item i is picked when floor((i+1)·f) steps up: evenly spread,
            // exactly round-down(n·f) items, no randomness to flake on.
            (0..n)
                .filter(|&i| ((i + 1) as f64 * f).floor() > (i as f64 * f).floor())
                .collect()
        }
    }
}

/// Index named in the URL of `/<index>/_bulk`.
fn path_index(path: &str) -> Option<String> {
    let trimmed = path.trim_start_matches('/');
    let (index, rest) = trimmed.split_once('/')?;
    (rest == "_bulk" && !index.is_empty()).then(|| index.to_string())
}

fn fake_item(item: &BulkItem<'_>, default_index: Option<&str>, error: &ItemError) -> Value {
    let index = item.index.as_deref().or(default_index).unwrap_or("_unknown");
    // Elasticsearch assigns auto-generated ids on the coordinating node, so
    // even a rejected item reports one.
    let id = item.id.clone().unwrap_or_else(fake_id);
    let mut body = json!({
        "_index": index,
        "_id": id,
        "status": error.status,
        "error": {
            "type": error.error_type,
            "reason": error.reason,
        },
    });
    if error.status == 400 || error.status == 503 {
        body["error"]["index"] = json!(index);
        body["error"]["index_uuid"] = json!("aAsFqTI0Tc2W0LCWgPNrOA");
        body["error"]["shard"] = json!("0");
    }
    let mut item_obj = serde_json::Map::new();
    item_obj.insert(item.action.clone(), body);
    Value::Object(item_obj)
}

fn fake_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    (0..20)
        .map(|_| ALPHABET[rand::random_range(0..ALPHABET.len())] as char)
        .collect()
}

async fn reject_items(forward: &Forward<'_>, body: &Bytes, select: &ItemSelect, error: &ItemError) -> ProxyResult {
    let gzipped = is_gzip(&forward.parts.headers);
    let decoded = if gzipped { gunzip(body) } else { Some(body.to_vec()) };
    let Some(items) = decoded.as_deref().and_then(parse_bulk) else {
        // Not a well-formed bulk body: let upstream produce its own error.
        return forward.send(body.clone()).await;
    };
    let rejected = selected_positions(&items, select);
    let default_index = path_index(forward.parts.uri.path());
    {
        let mut inner = forward.shared.lock();
        inner.stats.bulk_items_received += items.len() as u64;
        inner.stats.bulk_items_forwarded += (items.len() - rejected.len()) as u64;
        inner.stats.items_rejected += rejected.len() as u64;
        inner.stats.item_faults += u64::from(!rejected.is_empty());
    }
    let fakes: BTreeMap<usize, Value> = rejected
        .iter()
        .map(|&i| (i, fake_item(&items[i], default_index.as_deref(), error)))
        .collect();

    // filter_path may drop successful items from the response, which would
    // make positions ambiguous: ask upstream for everything, splice, then
    // apply the client's filter here.
    let (path_and_query, filter_path) = split_filter_path(&forward.parts.uri);
    let filtered = |response: Value| match &filter_path {
        Some(filter) => {
            let patterns: Vec<Vec<&str>> = filter.split(',').map(|p| p.trim().split('.').collect()).collect();
            apply_filter_path(&response, &patterns).unwrap_or_else(|| json!({}))
        }
        None => response,
    };

    if rejected.len() == items.len() {
        let all: Vec<Value> = fakes.into_values().collect();
        return Ok(json_response(
            StatusCode::OK,
            &filtered(json!({"took": 0, "errors": true, "items": all})),
        ));
    }

    let mut kept = Vec::with_capacity(body.len());
    for (i, item) in items.iter().enumerate() {
        if rejected.contains(&i) {
            continue;
        }
        for line in &item.lines {
            kept.extend_from_slice(line);
            kept.push(b'\n');
        }
    }
    let kept = if gzipped { gzip(&kept) } else { kept };
    let (status, headers, resp_body) = forward.send_raw(&path_and_query, Bytes::from(kept)).await?;
    let resp_body = if is_gzip(&headers) {
        gunzip(&resp_body).map(Bytes::from)
    } else {
        Some(resp_body)
    };
    let parsed = resp_body
        .as_deref()
        .and_then(|b| serde_json::from_slice::<Value>(b).ok());
    let Some(mut upstream) = parsed.filter(|_| status == StatusCode::OK) else {
        // An upstream error is the response whatever we meant to splice in.
        let mut resp = Response::new(Full::new(resp_body.unwrap_or_default()));
        *resp.status_mut() = status;
        let mut headers = headers;
        headers.remove(header::CONTENT_ENCODING);
        *resp.headers_mut() = headers;
        return Ok(resp);
    };
    let upstream_items = match upstream.get_mut("items").map(Value::take) {
        Some(Value::Array(items)) => items,
        _ => Vec::new(),
    };
    let forwarded = items.len() - rejected.len();
    if upstream_items.len() != forwarded {
        return Ok(json_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            &json!({"error": format!(
                "fault proxy: upstream answered {} items for {forwarded} forwarded; cannot splice rejections",
                upstream_items.len()
            ), "status": 500}),
        ));
    }
    let mut upstream_items = upstream_items.into_iter();
    let mut fakes = fakes;
    let merged: Vec<Value> = (0..items.len())
        .map(|i| match fakes.remove(&i) {
            Some(fake) => fake,
            None => upstream_items.next().unwrap_or(Value::Null),
        })
        .collect();
    upstream["items"] = Value::Array(merged);
    upstream["errors"] = Value::Bool(true);
    Ok(json_response(StatusCode::OK, &filtered(upstream)))
}

/// The request's path and query without `filter_path`, and the decoded
/// `filter_path` if it was given. Exclusions (`-field`) are left in place:
/// the simple filter below does not implement them.
fn split_filter_path(uri: &hyper::Uri) -> (String, Option<String>) {
    let path = uri.path();
    let Some(query) = uri.query() else {
        return (path.to_string(), None);
    };
    let mut filter = None;
    let mut kept = Vec::new();
    for pair in query.split('&') {
        match pair.strip_prefix("filter_path=") {
            Some(value) => {
                let decoded = percent_encoding::percent_decode_str(value)
                    .decode_utf8_lossy()
                    .into_owned();
                if decoded.split(',').any(|p| p.trim().starts_with('-')) {
                    kept.push(pair);
                } else {
                    filter = Some(decoded);
                }
            }
            None => kept.push(pair),
        }
    }
    let path_and_query = if kept.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{}", kept.join("&"))
    };
    (path_and_query, filter)
}

/// Elasticsearch's `filter_path` inclusion semantics: dotted paths with `*`
/// for any key, arrays are transparent, and objects or arrays left empty are
/// dropped (so `items.*.error` drops successful items, as ES does).
fn apply_filter_path(value: &Value, patterns: &[Vec<&str>]) -> Option<Value> {
    if patterns.iter().any(|p| p.is_empty()) {
        return Some(value.clone());
    }
    match value {
        Value::Object(map) => {
            let mut out = serde_json::Map::new();
            for (key, child) in map {
                let rest: Vec<Vec<&str>> = patterns
                    .iter()
                    .filter(|p| p[0] == "*" || p[0] == key)
                    .map(|p| p[1..].to_vec())
                    .collect();
                if rest.is_empty() {
                    continue;
                }
                if let Some(filtered) = apply_filter_path(child, &rest) {
                    out.insert(key.clone(), filtered);
                }
            }
            (!out.is_empty()).then_some(Value::Object(out))
        }
        Value::Array(items) => {
            let out: Vec<Value> = items
                .iter()
                .filter_map(|item| apply_filter_path(item, patterns))
                .collect();
            (!out.is_empty()).then_some(Value::Array(out))
        }
        // A scalar where the pattern expects more path segments.
        _ => None,
    }
}

fn json_response(status: StatusCode, body: &Value) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(serde_json::to_vec(body).unwrap_or_default())));
    *resp.status_mut() = status;
    let headers = resp.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert("x-elastic-product", HeaderValue::from_static("Elasticsearch"));
    resp
}

/// A request-level error as the client would really see it: Elasticsearch's
/// JSON for statuses it produces itself, an nginx HTML page for gateway errors.
pub fn error_response(code: u16) -> Response<Full<Bytes>> {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let es_error = |error_type: &str, reason: &str| {
        json!({
            "error": {
                "root_cause": [{"type": error_type, "reason": reason}],
                "type": error_type,
                "reason": reason,
            },
            "status": code,
        })
    };
    match code {
        502 | 504 => {
            let text = status.canonical_reason().unwrap_or("Error");
            let html = format!(
                "<html>\r\n<head><title>{code} {text}</title></head>\r\n<body>\r\n<center><h1>{code} {text}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
            );
            let mut resp = Response::new(Full::new(Bytes::from(html)));
            *resp.status_mut() = status;
            resp.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
            resp
        }
        429 => json_response(
            status,
            &es_error(
                "es_rejected_execution_exception",
                "rejected execution of coordinating operation [coordinating_and_primary_bytes=1073741824, \
                 replica_bytes=0, all_bytes=1073741824, coordinating_operation_bytes=5242880, \
                 max_coordinating_and_primary_bytes=1073741824]",
            ),
        ),
        503 => json_response(
            status,
            &es_error(
                "cluster_block_exception",
                "blocked by: [SERVICE_UNAVAILABLE/2/no master];",
            ),
        ),
        401 => json_response(
            status,
            &es_error(
                "security_exception",
                "missing authentication credentials for REST request [/_bulk]",
            ),
        ),
        _ => json_response(
            status,
            &es_error("fault_injected_exception", "fault injected by the test proxy"),
        ),
    }
}
