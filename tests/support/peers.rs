//! Real peer processes for end-to-end tests: `tansu` as the Kafka broker and
//! `osmem-server` as Elasticsearch. Each handle owns its process (in its own
//! process group) and a temporary directory; dropping the handle kills the
//! group, so peers never outlive a test, not even a panicking one. If the test
//! process itself is killed, a watchdog reading the child's stdin pipe takes
//! the peer down when the pipe closes.
//!
//! Peer behaviour that tests must allow for (tansu 0.6.0, osmem 0.1.6):
//! - tansu does not auto-create topics: producing to a missing topic times
//!   out (`MessageTimedOut`), subscribing waits. Create topics first.
//! - tansu's DescribeGroups fails (the broker drops the connection), so
//!   `fetch_group_list` errors with `BrokerTransportFailure`; OffsetFetch
//!   (`committed_offsets`) and OffsetCommit work.
//! - Joining a group alone takes ~10-400 ms; a second member joining makes
//!   a cooperative rebalance take ~3 s with `heartbeat.interval.ms` ≤ 1 s
//!   (6 s with the 3 s default). If two members leave at the same moment,
//!   the group can stay stuck (a new member gets no assignment for 400+ s)
//!   until yet another member joins: close members one at a time.
//! - osmem reports itself as OpenSearch 3.8.0 on `GET /` (but sends
//!   `X-Elastic-Product: Elasticsearch`), has no data streams (bulk into a
//!   name matching a `data_stream` template fails per item with 400
//!   `unsupported_operation_exception`), indexes ~3-4k docs/s, and makes
//!   documents visible to `_count` without a refresh.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use tempfile::TempDir;

const TANSU_INSTALL: &str = "cargo install tansu --locked --features libsql";
const OSMEM_INSTALL: &str = "pip install osmem-server";

/// How long a peer may take to answer its first request. Generous because
/// parallel tests on a 2-core machine start several peers at once.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);

/// A free TCP port on 127.0.0.1. The port is released before returning, so
/// another process may grab it first; callers retry on a bind failure.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0 to find a free port");
    listener.local_addr().expect("local_addr of a bound listener").port()
}

/// Finds an executable by name on PATH or in ~/.cargo/bin.
fn find_on_path(name: &str) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    if let Some(home) = std::env::var_os("HOME") {
        dirs.push(Path::new(&home).join(".cargo/bin"));
    }
    dirs.into_iter().map(|d| d.join(name)).find(|p| p.is_file())
}

fn tansu_binary() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(path) = std::env::var_os("TANSU_BIN") {
            return PathBuf::from(path);
        }
        find_on_path("tansu").unwrap_or_else(|| {
            panic!("the `tansu` Kafka broker is not installed (looked on PATH and in ~/.cargo/bin); install it with: {TANSU_INSTALL}")
        })
    })
}

fn osmem_binary() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(path) = std::env::var_os("OSMEM_SERVER_BIN") {
            return PathBuf::from(path);
        }
        let out = Command::new("python3")
            .args(["-c", "import osmem_server; print(osmem_server.resolve_binary())"])
            .output();
        match out {
            Ok(out) if out.status.success() => PathBuf::from(String::from_utf8_lossy(&out.stdout).trim().to_string()),
            Ok(out) => panic!(
                "osmem-server is not installed ({}); install it with: {OSMEM_INSTALL}",
                String::from_utf8_lossy(&out.stderr).trim()
            ),
            Err(e) => panic!("cannot run python3 to locate osmem-server ({e}); install it with: {OSMEM_INSTALL}"),
        }
    })
}

/// The last `lines` lines of a log file, for panic messages.
fn log_tail(path: &Path, lines: usize) -> String {
    let mut text = String::new();
    if let Ok(mut f) = File::open(path) {
        let _ = f.read_to_string(&mut text);
    }
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Kills a whole process group and reaps its leader.
fn kill_group(child: &mut Child) {
    // The child was spawned with process_group(0), so its pid is its pgid.
    // Signal the group only while the leader is unreaped: until then neither
    // id can have been reused by an unrelated process.
    if let Ok(None) = child.try_wait() {
        let pgid = child.id() as libc::pid_t;
        // SAFETY: kill(2) with a negative pid only sends a signal to that group.
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Runs "$@" in the background and kills it with SIGKILL as soon as the
/// wrapper's stdin reaches EOF, i.e. when the test process goes away without
/// running destructors. The wrapper exits with the peer's status, so a peer
/// that dies at startup is noticed through `try_wait`.
const WATCHDOG: &str = r#"exec 3<&0; "$@" </dev/null & c=$!; { read _ <&3; kill -9 $c 2>/dev/null; } & wait $c"#;

/// A running tansu broker with its data in a temporary sqlite database.
pub struct Kafka {
    port: u16,
    /// Unique per broker, so readiness checks can tell our broker from
    /// another process that grabbed the port first.
    cluster_id: String,
    /// `None` after `kill()`.
    child: Option<Child>,
    log: PathBuf,
    // Dropped after the process is killed (field order), removing the database.
    dir: TempDir,
}

impl Kafka {
    /// Starts a broker on a free port and waits until it answers a metadata
    /// request. Panics with the broker's log tail if it never comes up.
    pub fn start() -> Kafka {
        let dir = tempfile::Builder::new()
            .prefix("sluice-kafka-")
            .tempdir()
            .expect("create temp dir for tansu");
        let log = dir.path().join("tansu.log");
        let mut last_failure = String::new();
        // Retries cover the window between free_port() releasing a port and
        // tansu binding it, in which a parallel test may take it.
        for _ in 0..5 {
            let port = free_port();
            let cluster_id = format!("sluice-test-{}-{port}", std::process::id());
            match spawn_broker(dir.path(), &log, port, &cluster_id) {
                Ok(child) => {
                    return Kafka {
                        port,
                        cluster_id,
                        child: Some(child),
                        log,
                        dir,
                    };
                }
                Err(BrokerFailure {
                    message,
                    port_taken: true,
                }) => last_failure = message,
                Err(BrokerFailure {
                    message,
                    port_taken: false,
                }) => {
                    panic!("tansu broker did not come up on 127.0.0.1:{port}: {message}")
                }
            }
        }
        panic!("tansu broker could not bind a free port in 5 attempts: {last_failure}");
    }

    /// Kills the broker with SIGKILL, as in a crash; its data stays for
    /// `restart()`. Clients see connection refused until then.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            kill_group(&mut child);
        }
    }

    /// Starts the broker again on the same port with the same data (topics,
    /// records and committed offsets survive); kills it first if it runs.
    pub fn restart(&mut self) {
        self.kill();
        match spawn_broker(self.dir.path(), &self.log, self.port, &self.cluster_id) {
            Ok(child) => self.child = Some(child),
            Err(BrokerFailure { message, .. }) => {
                panic!("tansu broker did not come back on 127.0.0.1:{}: {message}", self.port)
            }
        }
    }

    /// Process id of the broker's process group leader (the watchdog shell),
    /// `None` after `kill()`.
    pub fn pgid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// `host:port` for `bootstrap.servers`.
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The broker's temporary directory (database and log).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The broker's combined stdout/stderr so far.
    pub fn log_tail(&self, lines: usize) -> String {
        log_tail(&self.log, lines)
    }

    /// Creates a topic and waits until its metadata lists every partition with
    /// a leader, so producing right after this does not race the creation.
    pub fn create_topic(&self, name: &str, partitions: i32) {
        let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
            .set("bootstrap.servers", self.bootstrap())
            .create()
            .expect("create admin client");
        let topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
        let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
        // Admin futures are completed by librdkafka's own thread, so blocking
        // on them needs no runtime and works from sync and async tests alike.
        match futures::executor::block_on(admin.create_topics([&topic], &options)) {
            Ok(results) => {
                if let Some(Err((_, code))) = results.into_iter().next() {
                    panic!("creating topic {name} with {partitions} partitions failed: {code}");
                }
            }
            Err(e) => panic!("creating topic {name} with {partitions} partitions failed: {e}"),
        }
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", self.bootstrap())
            .create()
            .expect("create metadata client");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(md) = consumer.fetch_metadata(Some(name), Duration::from_secs(2)) {
                let ready = md.topics().iter().any(|t| {
                    t.name() == name
                        && t.error().is_none()
                        && t.partitions().len() == partitions as usize
                        && t.partitions().iter().all(|p| p.leader() >= 0)
                });
                if ready {
                    return;
                }
            }
            if Instant::now() >= deadline {
                panic!("topic {name} created but its {partitions} partitions never showed up in metadata");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Kafka {
    fn drop(&mut self) {
        self.kill();
    }
}

struct BrokerFailure {
    message: String,
    /// Another process holds the port: retry elsewhere.
    port_taken: bool,
}

/// Spawns tansu on `port` with its database in `dir` and waits until it is
/// ready. On failure the process is already killed.
fn spawn_broker(dir: &Path, log: &Path, port: u16, cluster_id: &str) -> Result<Child, BrokerFailure> {
    let bin = tansu_binary();
    let url = format!("tcp://127.0.0.1:{port}");
    let log_file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .expect("open tansu log file");
    let log_start = std::fs::metadata(log).map(|m| m.len()).unwrap_or(0);
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(WATCHDOG)
        .arg("sh")
        .arg(bin)
        .arg("broker")
        .args([
            "--listener-url",
            &url,
            "--advertised-listener-url",
            &url,
            "--cluster-id",
            cluster_id,
        ])
        // tansu resolves sqlite://PATH relative to its working directory, even
        // when PATH starts with a slash, so the path is relative to `dir`.
        .args(["--storage-engine", "sqlite://tansu.db"])
        .current_dir(dir)
        .env("RUST_LOG", std::env::var("TANSU_LOG").unwrap_or_else(|_| "warn".into()))
        .stdin(Stdio::piped())
        .stdout(log_file.try_clone().expect("clone log file handle"))
        .stderr(log_file)
        .process_group(0)
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {}: {e}", bin.display()));
    match wait_kafka_ready(&mut child, port, cluster_id) {
        Ok(()) => Ok(child),
        Err(failure) => {
            kill_group(&mut child);
            let mut text = String::new();
            if let Ok(mut f) = File::open(log) {
                let _ = f.read_to_string(&mut text);
            }
            let this_run = text.get(log_start as usize..).unwrap_or(&text);
            // tansu logs AddrInUse and then exits with status 0.
            let port_taken = failure.contains("another broker")
                || this_run.contains("AddrInUse")
                || this_run.contains("Address already in use");
            Err(BrokerFailure {
                message: format!("{failure}\n--- tansu log tail ---\n{}", log_tail(log, 40)),
                port_taken,
            })
        }
    }
}

/// Waits until the broker on `port` answers a metadata request and reports
/// our cluster id.
fn wait_kafka_ready(child: &mut Child, port: u16, cluster_id: &str) -> Result<(), String> {
    let deadline = Instant::now() + STARTUP_TIMEOUT;
    // Cheap TCP probing first: librdkafka would log connection errors.
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("tansu exited at startup with {status}"));
        }
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "port {port} not accepting connections after {STARTUP_TIMEOUT:?}"
            ));
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", format!("127.0.0.1:{port}"))
        .create()
        .map_err(|e| format!("create metadata client: {e}"))?;
    loop {
        match consumer.fetch_metadata(None, Duration::from_secs(2)) {
            Ok(md) if !md.brokers().is_empty() => {
                let seen = consumer.client().fetch_cluster_id(Duration::from_secs(2));
                if seen.as_deref() == Some(cluster_id) {
                    return Ok(());
                }
                if let Some(other) = seen {
                    return Err(format!("port {port} is served by another broker (cluster id {other})"));
                }
            }
            Ok(_) => {}
            Err(e) if Instant::now() >= deadline => {
                return Err(format!("no metadata response after {STARTUP_TIMEOUT:?}: {e}"));
            }
            Err(_) => {}
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("tansu exited at startup with {status}"));
        }
        if Instant::now() >= deadline {
            return Err(format!("broker on port {port} not ready after {STARTUP_TIMEOUT:?}"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A running osmem-server (in-memory, Elasticsearch/OpenSearch REST API).
pub struct Elastic {
    url: String,
    child: Child,
    log: PathBuf,
    dir: TempDir,
}

impl Elastic {
    /// Starts osmem-server and waits until `GET /` answers 200.
    ///
    /// osmem binds port 0 itself and reports the address on stdout, which is
    /// race-free, unlike probing for a free port and handing it over.
    pub fn start() -> Elastic {
        let bin = osmem_binary();
        let dir = tempfile::Builder::new()
            .prefix("sluice-es-")
            .tempdir()
            .expect("create temp dir for osmem");
        let log = dir.path().join("osmem.log");
        let log_file = File::create(&log).expect("create osmem log file");
        let mut child = Command::new(bin)
            // Its own stdin watch and -parent-pid both take it down if the test
            // process dies without running destructors.
            .args(["-addr", "127.0.0.1:0", "-parent-pid", &std::process::id().to_string()])
            .current_dir(dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log_file)
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}; install it with: {OSMEM_INSTALL}", bin.display()));

        // The first stdout line is {"url": "...", "pid": ..., ...}; read it on a
        // thread so a silent server cannot hang the test, and keep draining
        // stdout into the log afterwards so the server never blocks on a pipe.
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        let drain_log = log.clone();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut first = String::new();
            let _ = reader.read_line(&mut first);
            let _ = tx.send(first);
            if let Ok(mut f) = std::fs::OpenOptions::new().append(true).open(&drain_log) {
                let _ = std::io::copy(&mut reader, &mut f);
            }
        });
        let mut es = Elastic {
            url: String::new(),
            child,
            log,
            dir,
        };
        let first = match rx.recv_timeout(STARTUP_TIMEOUT) {
            Ok(line) => line,
            Err(_) => panic!(
                "osmem-server printed no address within {STARTUP_TIMEOUT:?}\n--- osmem log tail ---\n{}",
                es.log_tail(40)
            ),
        };
        let url = serde_json::from_str::<serde_json::Value>(&first)
            .ok()
            .and_then(|v| v.get("url").and_then(|u| u.as_str()).map(str::to_string))
            .unwrap_or_else(|| {
                panic!(
                    "osmem-server did not report its address (first stdout line: {first:?})\n--- osmem log tail ---\n{}",
                    es.log_tail(40)
                )
            });
        es.url = url.trim_end_matches('/').to_string();
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            if let Ok(Some(status)) = es.child.try_wait() {
                panic!(
                    "osmem-server exited at startup with {status}\n--- osmem log tail ---\n{}",
                    es.log_tail(40)
                );
            }
            if http_get_status(&es.url, "/") == Some(200) {
                return es;
            }
            if Instant::now() >= deadline {
                panic!(
                    "osmem-server at {} never answered GET / with 200\n--- osmem log tail ---\n{}",
                    es.url,
                    es.log_tail(40)
                );
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// Base URL without a trailing slash, e.g. `http://127.0.0.1:41234`.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log_tail(&self, lines: usize) -> String {
        log_tail(&self.log, lines)
    }
}

impl Drop for Elastic {
    fn drop(&mut self) {
        kill_group(&mut self.child);
    }
}

/// Minimal blocking `GET` returning the status code, so readiness checks
/// need no async runtime.
fn http_get_status(base: &str, path: &str) -> Option<u16> {
    let hostport = base.strip_prefix("http://")?;
    let mut stream = TcpStream::connect(hostport).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {hostport}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut head = [0u8; 16];
    stream.read_exact(&mut head[..12]).ok()?;
    // "HTTP/1.1 200"
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}
