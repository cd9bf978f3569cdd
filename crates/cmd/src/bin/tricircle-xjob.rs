//! `tricircle-xjob --config-file xjob.conf`: the job daemon.

use tricircle_cmd::{fail, start_daemon};
use tricircle_config::Config;
use tricircle_jobs::network::NetworkContext;
use tricircle_jobs::{handlers, JobQueue, Registry};
use tricircle_xjob::daemon::Events;
use tricircle_xjob::events;

/// The networking handlers' context: its own small database pool, clients
/// from `[client]`, and the service's queue for the jobs they record.
fn network_context(config: &Config, queue: &JobQueue) -> Result<NetworkContext, String> {
    let url = config.database_url().map_err(|e| e.to_string())?;
    let db = tricircle_db::Db::connect(url.expose(), &tricircle_db::PoolOptions::default())
        .map_err(|e| e.to_string())?;
    let net = NetworkContext::from_config(config, db).map_err(|e| e.to_string())?;
    // A region that does not answer must not hold the worker slots.
    Ok(net.with_queue(queue.clone()).with_region_gate())
}

fn main() {
    let (config, logging) = start_daemon("Tricircle job daemon", "tricircle-xjob");
    tricircle_db::ready::wait_ready(&config).unwrap_or_else(|e| fail(&e.to_string()));
    let (queue, requests) = JobQueue::new(tricircle_jobs::queue::DEFAULT_CAPACITY);
    let mut registry = Registry::new();
    let sources = events::sources_from_config(&config).unwrap_or_else(|e| fail(&e.to_string()));
    // Without its clients xjob would take jobs it cannot run: refuse to
    // start instead of telling systemd it is ready.
    let net = network_context(&config, &queue)
        .unwrap_or_else(|e| fail(&format!("the [client] options cannot be used: {e}")));
    handlers::register_all(&mut registry, &net).unwrap_or_else(|e| fail(&e.to_string()));
    let events = Some(Events { sources, net });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| fail(&format!("cannot start the runtime: {e}")));
    let reload = rt
        .block_on(async { logging.reload_on_hangup() })
        .unwrap_or_else(|e| fail(&format!("cannot install the SIGHUP handler: {e}")));
    rt.spawn(reload);
    let result = rt.block_on(tricircle_xjob::daemon::run(
        &config,
        registry,
        (queue, requests),
        true,
        events,
    ));
    if let Err(e) = result {
        tracing::error!("{e}");
        fail(&e.to_string());
    }
}
