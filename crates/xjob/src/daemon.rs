//! xjob as its binaries run it: the service the configuration describes,
//! fed by the AMQP consumer, until SIGTERM or SIGINT. Shared by
//! `tricircle-xjob` and the fault-test harness, so the tests exercise the
//! production wiring.

use tricircle_config::Config;
use tricircle_jobs::{JobQueue, JobRequests, Registry};
use tricircle_rpc::CancellationToken;

use crate::{bus, termination_signal, Service, ServiceError};

/// Run until a termination signal, then stop gracefully, serving the
/// requests of `queue` (whose sending side the handlers in `registry` may
/// hold). With `attach_bus` false no broker is contacted and jobs run
/// through the periodic task only.
pub async fn run(
    config: &Config,
    registry: Registry,
    queue: (JobQueue, JobRequests),
    attach_bus: bool,
) -> Result<(), ServiceError> {
    // Installed first: a signal arriving during start-up is not lost.
    let stop = termination_signal()?;
    let service = Service::from_config(config, registry, queue)?;
    service.check_database().await?;
    let consumer_stop = CancellationToken::new();
    let consumer = if attach_bus {
        let rpc = tricircle_rpc::config_from(config)?;
        Some(bus::attach(
            rpc,
            config.default.host.clone(),
            service.queue(),
            consumer_stop.clone(),
        ))
    } else {
        None
    };
    let result = service
        .run(async {
            let name = stop.await;
            tracing::info!(signal = name, "stop requested");
            consumer_stop.cancel();
        })
        .await;
    consumer_stop.cancel();
    if let Some(consumer) = consumer {
        let _ = consumer.await;
    }
    result
}
