//! xjob's parts as its configuration describes them: the job queue, the
//! handlers and the networking context they share. Used by
//! `tricircle-xjob` and by `tricircle-demo`, which runs the same service on
//! its embedded cloud.

use tricircle_config::Config;
use tricircle_jobs::network::NetworkContext;
use tricircle_jobs::{handlers, JobQueue, JobRequests, Registry};

use crate::fail;

pub struct Parts {
    pub registry: Registry,
    pub queue: (JobQueue, JobRequests),
    pub net: NetworkContext,
}

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

/// Build the parts (on a database `tricircle_db::ready::wait_ready` saw
/// ready); exits with one line when something cannot be used.
pub fn parts(config: &Config) -> Parts {
    let (queue, requests) = JobQueue::new(tricircle_jobs::queue::DEFAULT_CAPACITY);
    let mut registry = Registry::new();
    // Without its clients xjob would take jobs it cannot run: refuse to
    // start instead of telling systemd it is ready.
    let net = network_context(config, &queue)
        .unwrap_or_else(|e| fail(&format!("the [client] options cannot be used: {e}")));
    handlers::register_all(&mut registry, &net).unwrap_or_else(|e| fail(&e.to_string()));
    Parts {
        registry,
        queue: (queue, requests),
        net,
    }
}
