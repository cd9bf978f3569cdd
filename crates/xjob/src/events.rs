//! Stock mode's event path: listen to each region's Neutron notifications
//! and record the jobs they ask for (`tricircle_jobs::events`), then
//! acknowledge. A notification whose jobs cannot be recorded (the database
//! is away) is given back to the broker, which delivers it again. A
//! process hosting the regions itself (the demo) hands them over on a
//! channel instead ([`handle_local`]).

use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tracing::Instrument;
use tricircle_jobs::events::{jobs_for, reach_of, record, NeutronEvent};
use tricircle_jobs::network::NetworkContext;
use tricircle_rpc::notification::{listen, notification_topology, Delivery, DEFAULT_PRIORITIES};
use tricircle_rpc::{CancellationToken, RpcConfig, TransportUrl};

/// Neutron's `control_exchange`: the exchange its notifications go to.
pub const NEUTRON_EXCHANGE: &str = "neutron";
/// Pause before a notification that could not be handled is given back,
/// so a database that is away is not asked in a tight loop.
const REQUEUE_PAUSE: Duration = Duration::from_secs(1);

/// Where one region's Neutron publishes its notifications.
#[derive(Debug, Clone)]
pub struct NotificationSource {
    pub region: String,
    pub rpc: RpcConfig,
    /// `[oslo_messaging_notifications] topics` of that Neutron.
    pub topics: Vec<String>,
    /// The listener pool every xjob process shares.
    pub pool: String,
}

/// The regions the configuration says to follow (`[xjob]
/// notification_regions`, stock mode only), each from its
/// `[notifications_<region>]` section.
pub fn sources_from_config(
    config: &tricircle_config::Config,
) -> Result<Vec<NotificationSource>, tricircle_rpc::RpcError> {
    if !config.xjob.stock_neutron {
        if !config.notifications.is_empty() {
            tracing::warn!(
                "[xjob] notification_regions is ignored without [xjob] stock_neutron = true \
                 (the Tricircle plugins cast the jobs)"
            );
        }
        return Ok(Vec::new());
    }
    config
        .notifications
        .iter()
        .map(|(region, o)| {
            let section = tricircle_config::NotificationOptions::section_of(region);
            let url = o
                .transport_url
                .as_ref()
                .map(|u| u.expose().to_owned())
                .unwrap_or_default();
            let url = TransportUrl::parse(&url).map_err(|e| {
                tricircle_rpc::RpcError::InvalidUrl(format!("[{section}] transport_url: {e}"))
            })?;
            let mut rpc = RpcConfig::new(url);
            rpc.control_exchange = NEUTRON_EXCHANGE.to_owned();
            Ok(NotificationSource {
                region: region.clone(),
                rpc,
                topics: o.topics.clone(),
                pool: o.pool.clone(),
            })
        })
        .collect()
}

/// Listen to every source until `stop` is cancelled.
pub fn attach(
    sources: Vec<NotificationSource>,
    net: NetworkContext,
    stop: CancellationToken,
) -> JoinSet<()> {
    let mut tasks = JoinSet::new();
    for source in sources {
        let (tx, rx) = mpsc::channel::<Delivery>(16);
        let decls = notification_topology(
            &source.rpc,
            NEUTRON_EXCHANGE,
            &source.topics,
            DEFAULT_PRIORITIES,
            Some(&source.pool),
        );
        let name = format!("{}:{}", source.region, source.pool);
        tracing::info!(
            region = %source.region,
            broker = %source.rpc.transport_url,
            topics = ?source.topics,
            pool = %source.pool,
            "following the region's Neutron notifications"
        );
        tasks.spawn({
            let (rpc, stop) = (source.rpc.clone(), stop.clone());
            async move {
                if let Err(e) = listen(rpc, decls, &name, tx, stop).await {
                    tracing::error!(error = %e, "notification listener stopped");
                }
            }
        });
        tasks.spawn(handle_all(source.region, rx, net.clone()));
    }
    tasks
}

async fn handle_all(region: String, mut rx: mpsc::Receiver<Delivery>, net: NetworkContext) {
    while let Some(d) = rx.recv().await {
        let n = &d.notification;
        let event = NeutronEvent {
            region: region.clone(),
            event_type: n.event_type.clone(),
            payload: n.payload.clone(),
            context: n.context.clone(),
        };
        let span = event_span(&event);
        match handle(&net, &event).instrument(span.clone()).await {
            Ok(()) => {
                if let Err(e) = d.ack().await {
                    // The broker delivers it again; its jobs are recorded
                    // twice, which runs them once more and changes nothing.
                    span.in_scope(|| tracing::warn!(error = %e, "cannot acknowledge"));
                }
            }
            Err(e) => {
                span.in_scope(|| tracing::warn!(error = %e, "event not handled; given back"));
                tokio::time::sleep(REQUEUE_PAUSE).await;
                if let Err(e) = d.requeue().await {
                    span.in_scope(|| tracing::warn!(error = %e, "cannot give the event back"));
                }
            }
        }
    }
}

/// Handle the events a process hosting the regions' Neutron hands over
/// directly (the demo's embedded cloud) until the sender goes or `stop` is
/// cancelled. An event whose jobs cannot be recorded is tried again after
/// a pause, as a broker would deliver it again.
pub async fn handle_local(
    mut rx: mpsc::UnboundedReceiver<NeutronEvent>,
    net: NetworkContext,
    stop: CancellationToken,
) {
    tracing::info!("following the regions' Neutron notifications in-process");
    loop {
        let event = tokio::select! {
            _ = stop.cancelled() => return,
            e = rx.recv() => match e {
                Some(e) => e,
                None => return,
            },
        };
        let span = event_span(&event);
        while let Err(e) = handle(&net, &event).instrument(span.clone()).await {
            span.in_scope(|| tracing::warn!(error = %e, "event not handled; trying again"));
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(REQUEUE_PAUSE) => {}
            }
        }
    }
}

fn event_span(event: &NeutronEvent) -> tracing::Span {
    let request_id = tricircle_rpc::request_id(&event.context).to_owned();
    tracing::info_span!(
        "event",
        region = %event.region,
        event_type = %event.event_type,
        request_id = %request_id
    )
}

/// Record the jobs `event` asks for.
async fn handle(
    net: &NetworkContext,
    event: &NeutronEvent,
) -> tricircle_jobs::network::NetResult<()> {
    let asks = jobs_for(net, event).await?;
    if !asks.is_empty() {
        tracing::info!(
            jobs = ?asks.iter().map(|a| format!("{} {}", a.job_type, a.resource_id)).collect::<Vec<_>>(),
            "recording jobs"
        );
    }
    record(net, asks, reach_of(event), &event.context).await
}
