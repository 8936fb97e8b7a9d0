//! Hot reload of the pipeline set. Triggers: file events in the pipelines
//! and GeoIP directories (debounced), SIGHUP, and an optional period. A
//! change is compiled and validated first (every pipeline, every route's
//! pipeline exists); only a valid set is swapped in, atomically. Records
//! already in a worker finish on the set they started with, because each
//! record holds its own reference to the set. An invalid change keeps the
//! running set, logs every error with file, processor and reason, and
//! counts a failed reload.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc;
use tracing::{error, info, warn};

use crate::metrics::Metrics;
use crate::pipeline::{CompileOptions, PipelineSet};
use crate::routing::Router;

/// Quiet time after the last file event before reloading: editors and
/// `kubectl` ConfigMap updates write several files in a burst.
const DEBOUNCE: Duration = Duration::from_millis(500);

/// Reloads the live pipeline set.
pub struct Reloader {
    /// Pipeline directory.
    pub dir: PathBuf,
    /// Compile settings (GeoIP directory, user-agent regexes).
    pub options: CompileOptions,
    /// Routes, to check that every routed pipeline still exists.
    pub router: Arc<Router>,
    /// The live set.
    pub pipelines: Arc<ArcSwap<PipelineSet>>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
}

/// What a reload did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A new set is live.
    Swapped {
        /// Its version.
        version: String,
    },
    /// Nothing changed.
    Unchanged,
    /// The new files are invalid; the running set stays.
    Rejected(String),
}

impl Reloader {
    /// Compiles the directory and swaps the result in if it is valid and
    /// different. Blocking (compiling takes a moment); call from a blocking
    /// context.
    pub fn reload(&self, trigger: &str) -> Outcome {
        let loaded = PipelineSet::load_dir(&self.dir, &self.options)
            .map_err(|e| e.to_string())
            .and_then(|set| self.router.check_pipelines(&set).map(|()| set));
        let set = match loaded {
            Ok(set) => set,
            Err(e) => {
                self.metrics.reloads.with_label_values(&["failure"]).inc();
                error!(trigger, error = %e, "pipeline reload rejected; the running pipelines stay in place");
                return Outcome::Rejected(e);
            }
        };
        let current = self.pipelines.load();
        if set.version() == current.version() {
            info!(trigger, version = set.version(), "pipelines unchanged");
            return Outcome::Unchanged;
        }
        let version = set.version().to_owned();
        let old = current.version().to_owned();
        publish(&self.metrics, &set, Some(&old));
        self.pipelines.store(Arc::new(set));
        self.metrics.reloads.with_label_values(&["success"]).inc();
        info!(trigger, from = %old, to = %version, "pipelines reloaded");
        Outcome::Swapped { version }
    }

    /// Runs until the task is dropped: watches, listens for SIGHUP, and
    /// ticks `interval` (if non-zero).
    pub async fn run(self, watch: bool, interval: Duration) {
        let this = Arc::new(self);
        let (tx, mut events) = mpsc::unbounded_channel::<()>();
        // Kept alive for as long as this task runs.
        let _watcher = if watch { this.watch(tx) } else { None };
        let mut hangup = hangup_stream();
        let mut ticker =
            (!interval.is_zero()).then(|| tokio::time::interval_at(tokio::time::Instant::now() + interval, interval));
        loop {
            let trigger = tokio::select! {
                Some(()) = events.recv() => {
                    // Debounce: wait for a quiet moment.
                    while let Ok(Some(())) = tokio::time::timeout(DEBOUNCE, events.recv()).await {}
                    "file change"
                }
                _ = recv_hangup(&mut hangup) => "SIGHUP",
                _ = tick(&mut ticker) => "interval",
            };
            let this = Arc::clone(&this);
            let _ = tokio::task::spawn_blocking(move || this.reload(trigger)).await;
        }
    }

    fn watch(&self, tx: mpsc::UnboundedSender<()>) -> Option<notify::RecommendedWatcher> {
        let mut watcher = match notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
            if let Ok(ev) = res
                && !ev.kind.is_access()
            {
                let _ = tx.send(());
            }
        }) {
            Ok(w) => w,
            Err(e) => {
                warn!(error = %e, "cannot watch pipeline files; reload with SIGHUP or pipelines.reload_interval");
                return None;
            }
        };
        let mut dirs = vec![self.dir.clone()];
        dirs.extend(self.options.geoip_dir.clone());
        for d in dirs {
            match watcher.watch(&d, RecursiveMode::NonRecursive) {
                Ok(()) => info!(dir = %d.display(), "watching for changes"),
                Err(e) => warn!(dir = %d.display(), error = %e, "cannot watch directory"),
            }
        }
        Some(watcher)
    }
}

/// Publishes a set's version and GeoIP database ages as metrics.
pub fn publish(metrics: &Metrics, set: &PipelineSet, previous: Option<&str>) {
    if let Some(old) = previous {
        let _ = metrics.pipeline_set_info.remove_label_values(&[old]);
    }
    metrics.pipeline_set_info.with_label_values(&[set.version()]).set(1);
    metrics.last_reload.set(chrono::Utc::now().timestamp());
    metrics.geoip_database_age.reset();
    let now = chrono::Utc::now().timestamp();
    for db in set.geoip_databases() {
        let built = i64::try_from(db.build_epoch).unwrap_or(i64::MAX);
        metrics
            .geoip_database_age
            .with_label_values(&[db.file.as_str()])
            .set((now - built).max(0));
    }
}

#[cfg(unix)]
type Hangup = Option<tokio::signal::unix::Signal>;
#[cfg(not(unix))]
type Hangup = Option<()>;

#[cfg(unix)]
fn hangup_stream() -> Hangup {
    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok()
}
#[cfg(not(unix))]
fn hangup_stream() -> Hangup {
    None
}

#[cfg(unix)]
async fn recv_hangup(h: &mut Hangup) {
    match h {
        Some(s) => {
            s.recv().await;
        }
        None => std::future::pending().await,
    }
}
#[cfg(not(unix))]
async fn recv_hangup(_: &mut Hangup) {
    std::future::pending().await
}

async fn tick(t: &mut Option<tokio::time::Interval>) {
    match t {
        Some(t) => {
            t.tick().await;
        }
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup(dir: &std::path::Path) -> Reloader {
        std::fs::write(dir.join("p.yaml"), "processors:\n  - set: { field: v, value: 1 }\n").unwrap();
        let options = CompileOptions::default();
        let set = PipelineSet::load_dir(dir, &options).unwrap();
        let pipelines = Arc::new(ArcSwap::from_pointee(set));
        let routes: Vec<crate::config::RouteConfig> =
            serde_yaml::from_str("- { topic: t, pipeline: p, index: i }").unwrap();
        Reloader {
            dir: dir.to_path_buf(),
            options,
            router: Arc::new(Router::new(&routes).unwrap()),
            metrics: Metrics::new(Arc::clone(&pipelines)),
            pipelines,
        }
    }

    fn run_v(r: &Reloader) -> serde_json::Value {
        match r
            .pipelines
            .load()
            .run("p", crate::document::Document::from_message("x"))
        {
            crate::pipeline::Processed::Document(d) => d.source["v"].to_json(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn valid_changes_swap_invalid_ones_keep_the_running_set() {
        let dir = tempfile::tempdir().unwrap();
        let r = setup(dir.path());
        assert_eq!(r.reload("test"), Outcome::Unchanged);

        std::fs::write(
            dir.path().join("p.yaml"),
            "processors:\n  - set: { field: v, value: 2 }\n",
        )
        .unwrap();
        assert!(matches!(r.reload("test"), Outcome::Swapped { .. }));
        assert_eq!(run_v(&r), serde_json::json!(2));

        // A broken file: rejected with file and processor, old set stays.
        std::fs::write(dir.path().join("p.yaml"), "processors:\n  - set: { field: v }\n").unwrap();
        match r.reload("test") {
            Outcome::Rejected(e) => assert!(e.contains("p.yaml") && e.contains("processors[0] (set)"), "{e}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(run_v(&r), serde_json::json!(2));

        // A routed pipeline disappearing is rejected too.
        std::fs::remove_file(dir.path().join("p.yaml")).unwrap();
        std::fs::write(dir.path().join("other.yaml"), "processors: []\n").unwrap();
        assert!(matches!(r.reload("test"), Outcome::Rejected(e) if e.contains("`p` does not exist")));
        let text = r.metrics.render();
        assert!(
            text.contains("sluice_pipeline_reloads_total{result=\"failure\"} 2"),
            "{text}"
        );
        assert!(text.contains("sluice_pipeline_reloads_total{result=\"success\"} 1"));
    }

    #[test]
    fn a_record_in_flight_keeps_its_version() {
        let dir = tempfile::tempdir().unwrap();
        let r = setup(dir.path());
        let in_flight = r.pipelines.load_full();
        std::fs::write(
            dir.path().join("p.yaml"),
            "processors:\n  - set: { field: v, value: 3 }\n",
        )
        .unwrap();
        assert!(matches!(r.reload("test"), Outcome::Swapped { .. }));
        match in_flight.run("p", crate::document::Document::from_message("x")) {
            crate::pipeline::Processed::Document(d) => assert_eq!(d.source["v"], serde_json::json!(1)),
            other => panic!("{other:?}"),
        }
        assert_eq!(run_v(&r), serde_json::json!(3));
    }
}
