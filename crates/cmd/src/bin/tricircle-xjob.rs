//! `tricircle-xjob --config-file xjob.conf`: the job daemon.

use std::sync::Arc;

use clap::Parser;
use tricircle_cmd::{fail, init_logging, load_config, log_warnings, ConfigArgs};
use tricircle_config::Config;
use tricircle_jobs::network::{cast_of, NetworkContext};
use tricircle_jobs::{handlers, Registry};
use tricircle_xjob::daemon::CastSlot;
use tricircle_xjob::Cast;

/// The networking handlers' context: its own small database pool, clients
/// from `[client]`, and a waker casting recorded jobs to this daemon.
fn network_context(config: &Config, casts: CastSlot) -> Result<NetworkContext, String> {
    let url = config.database_url().map_err(|e| e.to_string())?;
    let db = tricircle_db::Db::connect(url.expose(), &tricircle_db::PoolOptions::default())
        .map_err(|e| e.to_string())?;
    let net = NetworkContext::from_config(config, db).map_err(|e| e.to_string())?;
    Ok(net.with_waker(Arc::new(move |job, request| {
        let (Some(tx), Some((method, payload))) = (casts.get(), cast_of(job)) else {
            return;
        };
        let cast = Cast {
            method: method.to_owned(),
            payload,
            context: request.clone(),
        };
        // A full queue is fine: the periodic redo runs NEW jobs too.
        let _ = tx.try_send(cast);
    })))
}

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
    // Jobs the handlers record are cast to this very daemon once it runs.
    let casts = CastSlot::default();
    let mut registry = Registry::new();
    match network_context(&config, casts.clone()) {
        Ok(net) => {
            handlers::register_all(&mut registry, &net).unwrap_or_else(|e| fail(&e.to_string()))
        }
        Err(e) => tracing::warn!("networking jobs are not served: {e}"),
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| fail(&format!("cannot start the runtime: {e}")));
    let result = rt.block_on(tricircle_xjob::daemon::run(
        &config,
        registry,
        true,
        Some(&casts),
    ));
    if let Err(e) = result {
        tracing::error!("{e}");
        drop(_guard);
        fail(&e.to_string());
    }
}
