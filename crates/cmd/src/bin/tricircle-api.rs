//! `tricircle-api --config-file api.conf`: the admin REST API.

use clap::Parser;
use tricircle_cmd::{fail, init_logging, load_config, log_warnings, ConfigArgs};

#[derive(Parser)]
#[command(version, about = "Tricircle admin API")]
struct Args {
    #[command(flatten)]
    config: ConfigArgs,
}

fn main() {
    let args = Args::parse();
    let (config, warnings) = load_config(&args.config);
    let _guard = init_logging(&config, "tricircle-api");
    log_warnings(&warnings);
    let result = actix_web::rt::System::new().block_on(tricircle_api::server::run(config));
    if let Err(e) = result {
        tracing::error!("{e}");
        fail(&e.to_string());
    }
}
