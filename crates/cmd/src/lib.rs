//! What every Tricircle binary does before its real work: parse
//! command line (oslo.config's and oslo.log's options), load the
//! configuration, set up logging.

pub mod args;
#[cfg(feature = "demo")]
pub mod demo;
pub mod logging;
pub mod samples;
pub mod status;
pub mod xjob;

use tricircle_config::Config;

pub use args::ConfigArgs;
pub use logging::Logging;

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

/// The name this binary was started as (`--version` and `--help` show it).
fn program_name() -> &'static str {
    let name = std::env::args_os()
        .next()
        .and_then(|a| {
            std::path::Path::new(&a)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "tricircle".to_owned());
    // Once per process; clap keeps borrowed names.
    Box::leak(name.into_boxed_str())
}

/// Parse the command line of a binary described by `about` (clap's derive
/// takes `about` as a literal, and the binaries share their argument types);
/// `--version` names the binary.
pub fn parse_args<P: clap::Parser>(about: &'static str) -> P {
    let name = program_name();
    let matches = P::command()
        .name(name)
        .bin_name(name)
        .about(about)
        .get_matches();
    P::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}

/// A daemon's start: parse its command line, then [`start`].
pub fn start_daemon(about: &'static str, program: &str) -> (Config, Logging) {
    let args: DaemonArgs = parse_args(about);
    start(&args.config, program)
}

/// Load the configuration (the command line's logging flags on top), set up
/// logging as `program` and log what the loader warned about. Keep the
/// [`Logging`] alive: it flushes on drop.
pub fn start(args: &ConfigArgs, program: &str) -> (Config, Logging) {
    let (config, warnings) = load_config(args, program);
    let logging = logging::init(&config, program)
        .unwrap_or_else(|e| fail(&e))
        .with_source(args.clone(), program);
    tracing::info!(program, version = env!("CARGO_PKG_VERSION"), "starting");
    log_warnings(&warnings);
    (config, logging)
}

/// Load the configuration or exit with one clear line (status 1).
pub fn load_config(args: &ConfigArgs, program: &str) -> (Config, Vec<String>) {
    args.load(program).unwrap_or_else(|e| fail(&e))
}

/// Exit with one clear line (status 1), after what was logged before.
pub fn fail(message: &str) -> ! {
    logging::flush();
    eprintln!("ERROR: {message}");
    std::process::exit(1)
}

/// Log what the configuration loader warned about (unknown options...).
pub fn log_warnings(warnings: &[String]) {
    for w in warnings {
        tracing::warn!("{w}");
    }
}
