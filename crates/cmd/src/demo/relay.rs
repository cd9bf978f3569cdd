//! The regions' notifications over a real broker, as each region's Neutron
//! publishes them with `[oslo_messaging_notifications] driver =
//! messagingv2`: on the topic exchange `neutron`, routing key
//! `<topic>.info`. One task per region keeps its order; a notification the
//! broker does not take (it is away) is tried again until it does, as
//! oslo.messaging's notifier retries.

use std::time::Duration;

use tokio::sync::mpsc::UnboundedReceiver;
use tricircle_fakecloud::FakeNotification;
use tricircle_rpc::notification::Notification;
use tricircle_rpc::{Publisher, RpcConfig, TransportUrl};

/// Neutron's `control_exchange`.
const EXCHANGE: &str = "neutron";
/// Pause before publishing again after the broker refused.
const RETRY: Duration = Duration::from_millis(250);

/// The topic region `region`'s notifications go to when several regions
/// share one broker (the chaos suite's): `notifications_<region>`, so each
/// region's stream reaches xjob as that region's.
pub fn topic_of(region: &str) -> String {
    format!("notifications_{region}")
}

/// A publisher on `url` (`rabbit://...`) for Neutron's exchange.
pub fn publisher(url: &str) -> Result<Publisher, tricircle_rpc::RpcError> {
    let mut cfg = RpcConfig::new(TransportUrl::parse(url)?);
    cfg.control_exchange = EXCHANGE.to_owned();
    Ok(Publisher::new(cfg))
}

/// Publish what `region`'s Neutron publishes, in order, until its sender
/// goes.
pub async fn relay(
    region: String,
    mut published: UnboundedReceiver<FakeNotification>,
    publisher: Publisher,
) {
    let topic = topic_of(&region);
    let publisher_id = format!("network.fake-{region}");
    while let Some(n) = published.recv().await {
        let notification = Notification {
            event_type: n.event_type,
            publisher_id: publisher_id.clone(),
            priority: "INFO".to_owned(),
            payload: n.payload,
            message_id: None,
            timestamp: Some(
                chrono::Utc::now()
                    .naive_utc()
                    .format("%Y-%m-%d %H:%M:%S%.6f")
                    .to_string(),
            ),
            context: n.context,
        };
        let mut failures = 0u32;
        while let Err(e) = publisher.notify(&topic, &notification).await {
            if failures == 0 {
                tracing::warn!(%region, event_type = %notification.event_type, error = %e,
                    "the broker does not take the notification; trying again");
            }
            failures += 1;
            tokio::time::sleep(RETRY).await;
        }
        if failures > 0 {
            tracing::info!(%region, event_type = %notification.event_type, failures,
                "notification published after the broker came back");
        }
    }
}
