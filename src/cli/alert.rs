//! `sluice alert --config alerts.yaml [--check]`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use super::EXIT_INVALID;
use crate::alert::clock::SystemClock;
use crate::alert::config::AlertConfig;
use crate::alert::runner::{self, RunOptions};
use crate::logging::LogFormat;
use clap::Args;

#[derive(Args, Debug)]
pub struct AlertArgs {
    /// The alerting config file.
    #[arg(long, env = "SLUICE_ALERT_CONFIG", default_value = "alerts.yaml")]
    config: PathBuf,
    /// Validate the config (rules, receivers, secrets) and exit.
    #[arg(long)]
    check: bool,
}

pub fn run(args: AlertArgs, cli_format: LogFormat, level_given: bool) -> ExitCode {
    let config = match AlertConfig::load(&args.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(EXIT_INVALID);
        }
    };
    if args.check {
        // Building the receivers resolves every secret file.
        return match crate::alert::notify::dispatch::build_senders(&config) {
            Ok(senders) => {
                eprintln!(
                    "ok: {} rules [{}], {} receivers [{}]",
                    config.rules.len(),
                    config
                        .rules
                        .iter()
                        .map(|r| r.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                    senders.len(),
                    senders.keys().cloned().collect::<Vec<_>>().join(", ")
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {}: {e}", args.config.display());
                ExitCode::from(EXIT_INVALID)
            }
        };
    }
    let format = config.log.format;
    super::run_service(
        cli_format,
        level_given,
        format,
        runner::run(
            config,
            Arc::new(SystemClock),
            RunOptions::default(),
            crate::shutdown::signal(),
        ),
    )
}
