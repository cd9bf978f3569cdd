//! What every Tricircle binary does before its real work: parse
//! `--config-file` arguments, load the configuration, set up logging.

pub mod samples;
pub mod status;
pub mod xjob;

use std::path::PathBuf;

use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::EnvFilter;
use tricircle_config::Config;

/// The oslo.config command-line options every binary accepts.
#[derive(clap::Args, Debug, Clone)]
pub struct ConfigArgs {
    /// Configuration file; may be repeated, later files override earlier ones.
    #[arg(long = "config-file", value_name = "PATH")]
    pub config_files: Vec<PathBuf>,
    /// Directory whose `*.conf` files are loaded (sorted) after --config-file.
    #[arg(long = "config-dir", value_name = "DIR")]
    pub config_dirs: Vec<PathBuf>,
}

impl ConfigArgs {
    /// All files to load, in order.
    pub fn files(&self) -> Result<Vec<PathBuf>, String> {
        let mut files = self.config_files.clone();
        for dir in &self.config_dirs {
            let entries = std::fs::read_dir(dir)
                .map_err(|e| format!("cannot read --config-dir {}: {e}", dir.display()))?;
            let mut confs: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "conf"))
                .collect();
            confs.sort();
            files.extend(confs);
        }
        Ok(files)
    }
}

/// A tool's command line: the configuration options and a subcommand.
#[derive(clap::Parser, Debug)]
// `about` is set by [`parse_args`]: the docs here are not the tool's help.
#[command(version, about = None, long_about = None)]
pub struct ToolArgs<C: clap::Subcommand> {
    #[command(flatten)]
    pub config: ConfigArgs,
    #[command(subcommand)]
    pub command: C,
}

/// A daemon's command line: the configuration options only.
#[derive(clap::Parser)]
#[command(version, about = None, long_about = None)]
struct DaemonArgs {
    #[command(flatten)]
    config: ConfigArgs,
}

/// Parse the command line of a binary described by `about` (clap's derive
/// takes `about` as a literal, and the binaries share their argument types).
pub fn parse_args<P: clap::Parser>(about: &'static str) -> P {
    let matches = P::command().about(about).get_matches();
    P::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}

/// A daemon's start: parse its command line, then [`start`].
pub fn start_daemon(about: &'static str, program: &str) -> (Config, WorkerGuard) {
    let args: DaemonArgs = parse_args(about);
    start(&args.config, program)
}

/// Load the configuration, set up logging as `program` and log what the
/// loader warned about. Keep the guard alive: it flushes on drop.
pub fn start(args: &ConfigArgs, program: &str) -> (Config, WorkerGuard) {
    let (config, warnings) = load_config(args);
    let guard = init_logging(&config, program);
    log_warnings(&warnings);
    (config, guard)
}

/// Load the configuration or exit with one clear line (status 1).
pub fn load_config(args: &ConfigArgs) -> (Config, Vec<String>) {
    let files = args.files().unwrap_or_else(|e| fail(&e));
    Config::load(&files).unwrap_or_else(|e| fail(&format!("configuration error: {e}")))
}

pub fn fail(message: &str) -> ! {
    eprintln!("ERROR: {message}");
    std::process::exit(1)
}

/// Logging as oslo.log is configured: `debug` raises the level, `log_file`
/// (under `log_dir`) redirects from standard error. `RUST_LOG` overrides the
/// level for troubleshooting. Keep the guard alive: it flushes on drop.
pub fn init_logging(config: &Config, program: &str) -> WorkerGuard {
    let level = if config.default.debug {
        "debug"
    } else {
        "info"
    };
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(format!("{level},h2=info,hyper=info,rustls=info")));
    let log_path = match (&config.default.log_dir, &config.default.log_file) {
        (Some(dir), Some(file)) => Some(PathBuf::from(dir).join(file)),
        (None, Some(file)) => Some(PathBuf::from(file)),
        (Some(dir), None) => Some(PathBuf::from(dir).join(format!("{program}.log"))),
        (None, None) => None,
    };
    let (writer, guard) = match log_path {
        Some(path) => {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .unwrap_or_else(|e| fail(&format!("cannot open log file {}: {e}", path.display())));
            tracing_appender::non_blocking(file)
        }
        None => tracing_appender::non_blocking(std::io::stderr()),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(false);
    if config.default.use_json {
        builder.json().init();
    } else {
        builder.init();
    }
    guard
}

/// Log what the configuration loader warned about (unknown options...).
pub fn log_warnings(warnings: &[String]) {
    for w in warnings {
        tracing::warn!("{w}");
    }
}
