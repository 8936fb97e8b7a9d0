//! `sluice run --config sluice.yaml`.

use std::path::PathBuf;
use std::process::ExitCode;

use super::EXIT_INVALID;
use crate::app::{self, RunOptions};
use crate::config::Config;
use crate::logging::{self, LogFormat};
use clap::Args;

#[derive(Args, Debug)]
pub struct RunArgs {
    /// The service config file.
    #[arg(long, env = "SLUICE_CONFIG", default_value = "sluice.yaml")]
    config: PathBuf,
    /// GeoIP database directory (overrides pipelines.geoip_dir).
    #[arg(long, env = "SLUICE_GEOIP_DIR")]
    geoip_dir: Option<PathBuf>,
    /// uap-core regexes.yaml (overrides pipelines.user_agent_regexes).
    #[arg(long, env = "SLUICE_USER_AGENT_REGEXES")]
    user_agent_regexes: Option<PathBuf>,
}

pub fn run(args: RunArgs, cli_format: LogFormat, level_given: bool) -> ExitCode {
    let config = match Config::load(&args.config) {
        Ok(c) => c,
        Err(e) => {
            logging::init(cli_format, None);
            eprintln!("error: {e:#}");
            return ExitCode::from(EXIT_INVALID);
        }
    };
    let opts = RunOptions {
        geoip_dir: args.geoip_dir,
        user_agent_regexes: args.user_agent_regexes,
        metrics_bound: None,
    };
    let format = config.log.format;
    super::run_service(
        cli_format,
        level_given,
        format,
        app::run(config, opts, crate::shutdown::signal()),
    )
}
