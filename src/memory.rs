//! Allocator settings for the long-running commands (`sluice run`,
//! `sluice alert`).
//!
//! glibc's malloc gives each thread that finds the current arena busy an
//! arena of its own, up to eight per core. A consumer thread, pipeline
//! workers and the tokio pool allocating and freeing records in turn
//! spread their garbage over all of them, and each arena keeps its freed
//! pages. Measured with `scripts/bench.sh` (200k records, nginx pipeline):
//! peak RSS 200 MB with glibc's default, 168 MB with two arenas; after a
//! 60 s Elasticsearch stall, 239 MB against 160 MB. Throughput did not
//! change measurably.
//!
//! Freed memory inside an arena also stays resident until something at
//! the arena's top is freed. Compiling the pipelines leaves about 20 MB of
//! such garbage (the uap-core regex set is parsed and translated before it
//! is compiled), and a drained Elasticsearch stall leaves more, so a
//! background thread hands free pages back with `malloc_trim` every
//! [`TRIM_INTERVAL`]. A trim takes 0.1–12 ms; it holds one arena's lock at
//! a time.

use std::time::Duration;

/// How many arenas Sluice asks glibc for, unless `MALLOC_ARENA_MAX` is set.
pub const DEFAULT_ARENAS: i32 = 2;

/// The arena limit to apply: none when the user set `MALLOC_ARENA_MAX`
/// (glibc has already read it, and it wins), [`DEFAULT_ARENAS`] otherwise.
pub fn arena_limit(env: Option<&std::ffi::OsStr>) -> Option<i32> {
    match env {
        Some(_) => None,
        None => Some(DEFAULT_ARENAS),
    }
}

/// Applies [`arena_limit`] for this process. Call it before the runtime
/// starts its threads. A no-op where the allocator is not glibc's.
pub fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if let Some(n) = arena_limit(std::env::var_os("MALLOC_ARENA_MAX").as_deref()) {
        // SAFETY: mallopt only changes a malloc tunable; M_ARENA_MAX takes
        // effect for arenas created from now on and is safe at any time.
        let ok = unsafe { libc::mallopt(libc::M_ARENA_MAX, n) };
        if ok != 1 {
            tracing::warn!(arenas = n, "could not limit glibc malloc arenas (mallopt failed)");
        }
    }
}

/// How often free memory is handed back to the kernel.
pub const TRIM_INTERVAL: Duration = Duration::from_secs(10);

/// After a [`trim_soon`], how long until the follow-up trim.
const FOLLOW_UP: Duration = Duration::from_secs(2);

/// Set by [`trim_soon`]: the trimmer owes a follow-up trim.
static REQUESTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// The trimmer thread, once started (`None` if it could not be).
static TRIMMER: std::sync::OnceLock<Option<std::thread::Thread>> = std::sync::OnceLock::new();

/// Starts the thread that calls `malloc_trim` every [`TRIM_INTERVAL`] and
/// whenever [`trim_soon`] asks, first right away (start-up has just
/// compiled the pipelines: the caller's cue). Once per process; a no-op
/// where the allocator is not glibc's.
pub fn spawn_trimmer() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    TRIMMER.get_or_init(|| {
        let spawned = std::thread::Builder::new()
            .name("sluice-malloc-trim".to_owned())
            .spawn(|| {
                loop {
                    // SAFETY: malloc_trim only returns free pages to the
                    // kernel; it takes the allocator's own locks.
                    let released = unsafe { libc::malloc_trim(0) };
                    tracing::trace!(released = released == 1, "malloc_trim");
                    // A pause frees more in the next moments (librdkafka
                    // drops its prefetched records), hence a second trim.
                    let next = if REQUESTED.swap(false, std::sync::atomic::Ordering::AcqRel) {
                        FOLLOW_UP
                    } else {
                        TRIM_INTERVAL
                    };
                    std::thread::park_timeout(next);
                }
            });
        match spawned {
            Ok(handle) => Some(handle.thread().clone()),
            Err(e) => {
                tracing::warn!("cannot start the malloc_trim thread: {e}");
                None
            }
        }
    });
}

/// Asks the trimmer to hand free memory back now rather than at its next
/// tick. The consumer calls it when it pauses for backpressure, so a
/// stalled Sluice sits at its trimmed size, and when it resumes: half the
/// in-flight documents were just acknowledged and freed, and their pages
/// go back before the next fetch's documents arrive. Never blocks.
pub fn trim_soon() {
    if let Some(Some(t)) = TRIMMER.get() {
        REQUESTED.store(true, std::sync::atomic::Ordering::Release);
        t.unpark();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_users_malloc_arena_max_wins() {
        assert_eq!(arena_limit(Some(std::ffi::OsStr::new("8"))), None);
        assert_eq!(arena_limit(None), Some(DEFAULT_ARENAS));
    }

    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn one_trimmer_thread_per_process_and_asking_never_blocks() {
        let trimmers = || {
            std::fs::read_dir("/proc/self/task")
                .expect("procfs")
                .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
                // Thread names are cut to 15 bytes.
                .filter(|name| name.trim() == "sluice-malloc-t")
                .count()
        };
        spawn_trimmer();
        spawn_trimmer();
        for _ in 0..100 {
            trim_soon();
        }
        // The new thread names itself once it runs.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while trimmers() == 0 && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert_eq!(trimmers(), 1);
        assert!(matches!(TRIMMER.get(), Some(Some(_))));
    }
}
