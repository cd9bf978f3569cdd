//! `tricircle-xjob --config-file xjob.conf`: the job daemon.

use clap::Parser;
use tricircle_cmd::{fail, init_logging, load_config, log_warnings, ConfigArgs};
use tricircle_jobs::{handlers, Registry};

#[derive(Parser)]
#[command(version, about = "Tricircle job daemon")]
struct Args {
    #[command(flatten)]
    config: ConfigArgs,
}

fn main() {
    let args = Args::parse();
    let (config, warnings) = load_config(&args.config);
    let _guard = init_logging(&config, "tricircle-xjob");
    log_warnings(&warnings);
    let mut registry = Registry::new();
    handlers::register_all(&mut registry).unwrap_or_else(|e| fail(&e.to_string()));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| fail(&format!("cannot start the runtime: {e}")));
    let result = rt.block_on(tricircle_xjob::daemon::run(&config, registry, true));
    if let Err(e) = result {
        tracing::error!("{e}");
        drop(_guard);
        fail(&e.to_string());
    }
}
