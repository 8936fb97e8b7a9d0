//! Signals: the first SIGTERM or SIGINT asks for a graceful stop; a second
//! one exits immediately.

use tracing::{info, warn};

/// Exit code for an immediate exit on a second signal (128 + SIGINT).
pub const EXIT_FORCED: i32 = 130;

/// Resolves on the first SIGTERM/SIGINT, and arranges for a second one to
/// exit the process at once.
pub async fn signal() {
    wait_one().await;
    info!("shutdown requested; finishing in-flight work (send the signal again to exit now)");
    tokio::spawn(async {
        wait_one().await;
        warn!("second signal: exiting immediately without a final commit");
        std::process::exit(EXIT_FORCED);
    });
}

async fn wait_one() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
