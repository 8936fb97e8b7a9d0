//! Command-line interface: argument parsing here, one module per command.
//! `main` only calls [`main`].

mod alert;
mod generate;
mod pipeline_test;
mod run;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::logging::{self, LogFormat};
use crate::pipeline::{CompileOptions, PipelineSet};

/// Exit code when records or test cases failed.
pub const EXIT_FAILURES: u8 = 1;
/// Exit code when configuration or pipelines are invalid.
pub const EXIT_INVALID: u8 = 2;

#[derive(Parser, Debug)]
#[command(
    name = "sluice",
    version,
    about = "Kafka → pipelines → Elasticsearch, committing offsets only after Elasticsearch acknowledges"
)]
struct Cli {
    /// Log format.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "SLUICE_LOG_FORMAT")]
    log_format: LogFormat,
    /// Log filter, e.g. `info` or `sluice=debug,rdkafka=warn` (default: SLUICE_LOG or info).
    #[arg(long, global = true)]
    log_level: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the indexing service: Kafka → pipelines → Elasticsearch.
    Run(run::RunArgs),
    /// Validate the service config (and its pipelines, templates, secrets)
    /// or pipeline files, without connecting anywhere, and exit.
    Check(CheckArgs),
    /// Work with pipelines.
    #[command(subcommand)]
    Pipeline(PipelineCommand),
    /// Write realistic sample logs to Kafka or a file.
    Generate(generate::GenerateArgs),
    /// Evaluate alert rules against the indexed logs and send notifications.
    Alert(alert::AlertArgs),
}

#[derive(Subcommand, Debug)]
enum PipelineCommand {
    /// Run records through a pipeline, or run its embedded test cases.
    Test(pipeline_test::TestArgs),
}

/// Options that affect how pipelines compile.
#[derive(Args, Debug, Clone, Default)]
pub struct PipelineOptions {
    /// Directory holding GeoIP databases named by `geoip.database_file`.
    #[arg(long, env = "SLUICE_GEOIP_DIR")]
    pub geoip_dir: Option<PathBuf>,
    /// A uap-core regexes.yaml replacing the embedded one.
    #[arg(long, env = "SLUICE_USER_AGENT_REGEXES")]
    pub user_agent_regexes: Option<PathBuf>,
}

impl PipelineOptions {
    /// The compile options these flags describe.
    pub fn compile_options(&self) -> CompileOptions {
        CompileOptions {
            geoip_dir: self.geoip_dir.clone(),
            user_agent_regexes: self.user_agent_regexes.clone(),
            user_agent_cache_size: 0,
        }
    }
}

#[derive(Args, Debug)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["config", "pipeline"])))]
struct CheckArgs {
    /// The service config file (sluice.yaml).
    #[arg(long, env = "SLUICE_CONFIG")]
    config: Option<PathBuf>,
    /// A pipeline file or a directory of pipeline files.
    #[arg(long)]
    pipeline: Vec<PathBuf>,
    /// Print the effective config (after environment overrides, secrets
    /// redacted).
    #[arg(long, requires = "config")]
    print_config: bool,
    #[command(flatten)]
    options: PipelineOptions,
}

/// Parses arguments, runs the command and maps the outcome to an exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // `run` may take its log format from the config file; it initialises
    // logging itself once the config is read.
    if !matches!(cli.command, Command::Run(_) | Command::Alert(_)) {
        logging::init(cli.log_format, cli.log_level.as_deref());
    } else if let Some(level) = &cli.log_level {
        logging::init(cli.log_format, Some(level));
    }
    match cli.command {
        Command::Run(args) => run::run(args, cli.log_format, cli.log_level.is_some()),
        Command::Check(args) => check(&args),
        Command::Pipeline(PipelineCommand::Test(args)) => pipeline_test::run(&args),
        Command::Generate(args) => generate::run(args),
        Command::Alert(args) => alert::run(args, cli.log_format, cli.log_level.is_some()),
    }
}

/// Loads pipelines from files and directories as one set per argument.
pub(crate) fn load_sets(
    paths: &[PathBuf],
    options: &CompileOptions,
) -> Result<Vec<(PipelineSet, Vec<String>)>, String> {
    let mut out = Vec::new();
    for path in paths {
        if path.is_dir() {
            let set = PipelineSet::load_dir(path, options).map_err(|e| e.to_string())?;
            let names = set.names().into_iter().map(str::to_owned).collect();
            out.push((set, names));
        } else {
            let (set, main) = PipelineSet::load_one(path, options).map_err(|e| e.to_string())?;
            out.push((set, vec![main]));
        }
    }
    Ok(out)
}

fn check(args: &CheckArgs) -> ExitCode {
    if let Some(path) = &args.config {
        return check_config(path, args);
    }
    match load_sets(&args.pipeline, &args.options.compile_options()) {
        Ok(sets) => {
            for (set, names) in sets {
                println!("ok: {} (pipeline set version {})", names.join(", "), set.version());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(EXIT_INVALID)
        }
    }
}

fn check_config(path: &std::path::Path, args: &CheckArgs) -> ExitCode {
    let config = match crate::config::Config::load(path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(EXIT_INVALID);
        }
    };
    if args.print_config {
        match serde_yaml::to_string(&config) {
            Ok(text) => print!("{text}"),
            Err(e) => {
                eprintln!("error: cannot print config: {e}");
                return ExitCode::from(EXIT_INVALID);
            }
        }
    }
    let opts = crate::app::RunOptions {
        geoip_dir: args.options.geoip_dir.clone(),
        user_agent_regexes: args.options.user_agent_regexes.clone(),
        metrics_bound: None,
    };
    match crate::app::check(&config, &opts) {
        Ok((set, _, templates)) => {
            eprintln!(
                "ok: {} routes, pipelines [{}] (version {}), {} index templates, topics [{}]",
                config.routes.len(),
                set.names().join(", "),
                set.version(),
                templates.len(),
                config.topics().join(", ")
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {}: {e:#}", path.display());
            ExitCode::from(EXIT_INVALID)
        }
    }
}

/// Blocks on a long-running command (`run`, `alert`) after the start they
/// share: logging in the config's format unless the command line chose one,
/// then the async runtime. An error is logged and printed.
fn run_service<F>(cli_format: LogFormat, level_given: bool, config_format: LogFormat, service: F) -> ExitCode
where
    F: std::future::Future<Output = anyhow::Result<()>>,
{
    crate::memory::limit_malloc_arenas();
    if !level_given {
        // The command line wins; otherwise the config's format.
        let format = if cli_format == LogFormat::Text {
            config_format
        } else {
            cli_format
        };
        logging::init(format, None);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(service) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
