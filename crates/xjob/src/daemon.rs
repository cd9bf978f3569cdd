//! xjob as its binaries run it: the service the configuration describes,
//! fed by the AMQP consumer (or, with no broker configured, the poll of the
//! jobs table), until SIGTERM or SIGINT. Shared by
//! `tricircle-xjob` and the fault-test harness, so the tests exercise the
//! production wiring.

use tokio::sync::mpsc;
use tricircle_config::Config;
use tricircle_jobs::events::NeutronEvent;
use tricircle_jobs::network::NetworkContext;
use tricircle_jobs::reconcile::{self, ReconcileSettings};
use tricircle_jobs::{JobQueue, JobRequests, Registry};
use tricircle_rpc::CancellationToken;

use crate::events::NotificationSource;
use crate::metrics::{Metrics, Sources};
use crate::{bus, events, poll, termination_signal, Service, ServiceError};

/// Stock mode's event path: the regions to follow, and the context the
/// events' jobs (and the reconciliation sweep's, with `[xjob]
/// reconcile_interval` > 0) are mapped and recorded with.
pub struct Events {
    pub sources: Vec<NotificationSource>,
    /// The events of regions hosted by this very process (the demo's
    /// embedded cloud), handed over without a broker.
    pub local: Option<mpsc::UnboundedReceiver<NeutronEvent>>,
    pub net: NetworkContext,
}

/// How new jobs reach the service besides the periodic redo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intake {
    /// As the configuration says: the bus consumer when it names a broker
    /// (`tricircle_rpc::broker_configured`), else a poll of the jobs table.
    Configured,
    /// Neither: the periodic task only (the fault tests' harness).
    PeriodicOnly,
}

/// Run until a termination signal, then stop gracefully, serving the
/// requests of `queue` (whose sending side the handlers in `registry` may
/// hold), which `intake` fills.
pub async fn run(
    config: &Config,
    registry: Registry,
    queue: (JobQueue, JobRequests),
    intake: Intake,
    mut events: Option<Events>,
) -> Result<(), ServiceError> {
    // Installed first: a signal arriving during start-up is not lost.
    let stop = termination_signal()?;
    let service = Service::from_config(config, registry, queue)?;
    service.check_database().await?;
    serve_metrics(config, &service, events.as_ref())?;
    let consumer_stop = CancellationToken::new();
    let consumer = match intake {
        Intake::Configured if tricircle_rpc::broker_configured(config) => {
            let rpc = tricircle_rpc::config_from(config)?;
            tracing::info!(broker = %rpc.transport_url, "jobs arrive as casts over this message bus");
            Some(bus::attach(
                rpc,
                config.default.host.clone(),
                service.queue(),
                consumer_stop.clone(),
            ))
        }
        Intake::Configured => {
            tracing::info!(
                "no message bus configured ([DEFAULT] transport_url and [oslo_messaging_rabbit] \
                 rabbit_host(s) unset): NEW jobs are picked up from the database"
            );
            Some(tokio::spawn(poll::run(
                service.engine().db().clone(),
                service.queue(),
                consumer_stop.clone(),
            )))
        }
        Intake::PeriodicOnly => {
            tracing::info!("no job intake but the periodic task");
            None
        }
    };
    let mut listeners = match &events {
        Some(e) if !e.sources.is_empty() => {
            events::attach(e.sources.clone(), e.net.clone(), consumer_stop.clone())
        }
        _ => Default::default(),
    };
    if let Some(e) = &mut events {
        if let Some(rx) = e.local.take() {
            listeners.spawn(events::handle_local(
                rx,
                e.net.clone(),
                consumer_stop.clone(),
            ));
        }
    }
    // The sweep catches up what the listeners missed; it stops with them.
    if let (Some(e), Some(settings)) = (&events, ReconcileSettings::from_config(config)) {
        listeners.spawn(reconcile::run(
            e.net.clone(),
            settings,
            consumer_stop.clone(),
        ));
    }
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
    while listeners.join_next().await.is_some() {}
    result
}

/// `[xjob] metrics_port` > 0: Prometheus metrics on their own port.
fn serve_metrics(
    config: &Config,
    service: &Service,
    events: Option<&Events>,
) -> Result<(), ServiceError> {
    let o = &config.xjob;
    if o.metrics_port == 0 {
        return Ok(());
    }
    let addr = std::net::SocketAddr::new(o.metrics_bind_host, o.metrics_port);
    let metrics = Metrics::new();
    service.engine().observe(metrics.observer());
    let sources = Sources {
        engine: service.engine().clone(),
        queue: service.queue(),
        calls: events.map(|e| e.net.clients.call_stats().clone()),
    };
    crate::metrics::serve(addr, metrics, sources).map_err(|source| ServiceError::Metrics {
        addr: addr.to_string(),
        source,
    })
}
