//! The notification listener side of oslo.messaging's rabbit driver: what
//! `get_notification_listener(transport, targets, endpoints, pool=...)`
//! declares and consumes, so xjob hears the notifications a region's
//! Neutron publishes (`[oslo_messaging_notifications] driver =
//! messagingv2`).
//!
//! Unlike an RPC cast, a notification is acknowledged by its receiver,
//! after it acted on it ([`Delivery::ack`]), as the driver's notification
//! listener acks after dispatch: a listener that dies in between gets the
//! notification again.

use std::fmt;

use lapin::options::{BasicAckOptions, BasicNackOptions};
use lapin::Acker;
use serde_json::{Map, Value};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::consumer::{run, Handler};
use crate::message::{redact_context, take_context, unwrap_envelope, CONTEXT_PREFIX};
use crate::{Declaration, DeclarationKind, RpcConfig, RpcError};

/// The priorities Neutron's API layer publishes at (`notifier.info`).
pub const DEFAULT_PRIORITIES: &[&str] = &["info"];

/// One notification as the publisher sent it.
#[derive(Clone, PartialEq)]
pub struct Notification {
    /// `network.create.end`, `router.interface.create`...
    pub event_type: String,
    /// `network.<host>` for Neutron.
    pub publisher_id: String,
    /// `INFO`, `ERROR`...
    pub priority: String,
    pub payload: Value,
    pub message_id: Option<String>,
    pub timestamp: Option<String>,
    /// The request context of the call that caused it (`_context_*` keys
    /// without the prefix). Holds `auth_token`: log it only through
    /// [`redact_context`].
    pub context: Map<String, Value>,
}

impl fmt::Debug for Notification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Notification")
            .field("event_type", &self.event_type)
            .field("publisher_id", &self.publisher_id)
            .field("priority", &self.priority)
            .field("payload", &self.payload)
            .field("message_id", &self.message_id)
            .field("timestamp", &self.timestamp)
            .field("context", &redact_context(&self.context))
            .finish()
    }
}

fn string(msg: &mut Map<String, Value>, key: &str) -> Option<String> {
    match msg.remove(key) {
        Some(Value::String(s)) => Some(s),
        _ => None,
    }
}

/// The message of `n` before the envelope, as the notifier driver builds
/// it: the notification's fields plus the context as `_context_*` keys.
pub fn notification_message(n: &Notification) -> Map<String, Value> {
    let mut msg = Map::new();
    let id = n
        .message_id
        .clone()
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    msg.insert("message_id".into(), Value::String(id));
    msg.insert("publisher_id".into(), Value::String(n.publisher_id.clone()));
    msg.insert("event_type".into(), Value::String(n.event_type.clone()));
    msg.insert("priority".into(), Value::String(n.priority.clone()));
    msg.insert("payload".into(), n.payload.clone());
    if let Some(ts) = &n.timestamp {
        msg.insert("timestamp".into(), Value::String(ts.clone()));
    }
    for (k, v) in &n.context {
        msg.insert(format!("{CONTEXT_PREFIX}{k}"), v.clone());
    }
    msg
}

/// Decodes a notification body (the 2.0 envelope of the messagingv2
/// driver, or a bare message from the older `messaging` driver). Error
/// messages never include the body (it carries the auth token).
pub fn decode_notification(body: &[u8]) -> Result<Notification, RpcError> {
    let mut msg = unwrap_envelope(body)?;
    let event_type = string(&mut msg, "event_type")
        .filter(|e| !e.is_empty())
        .ok_or_else(|| RpcError::Decode("no event_type".into()))?;
    let payload = msg.remove("payload").unwrap_or(Value::Null);
    Ok(Notification {
        event_type,
        publisher_id: string(&mut msg, "publisher_id").unwrap_or_default(),
        priority: string(&mut msg, "priority").unwrap_or_default(),
        payload,
        message_id: string(&mut msg, "message_id"),
        timestamp: string(&mut msg, "timestamp"),
        context: take_context(msg),
    })
}

/// What the rabbit driver declares for a notification listener on the
/// topic exchange `exchange` (Neutron's `control_exchange`, `neutron`): for
/// every topic and priority a binding with routing key
/// `<topic>.<priority>`, to the queue `pool` when a pool is given (the
/// listeners of one pool share it, each notification goes to one of them)
/// and to the queue `<topic>.<priority>` otherwise (shared with every other
/// pool-less listener).
pub fn notification_topology(
    cfg: &RpcConfig,
    exchange: &str,
    topics: &[String],
    priorities: &[&str],
    pool: Option<&str>,
) -> Vec<Declaration> {
    topics
        .iter()
        .flat_map(|topic| priorities.iter().map(move |p| format!("{topic}.{p}")))
        .map(|key| Declaration {
            exchange: exchange.to_owned(),
            kind: DeclarationKind::Topic,
            exchange_durable: cfg.durable,
            exchange_auto_delete: false,
            queue: pool.map_or_else(|| key.clone(), str::to_owned),
            queue_durable: cfg.durable,
            queue_auto_delete: false,
            queue_expires_ms: None,
            routing_key: key,
        })
        .collect()
}

/// A received notification, to be acknowledged once acted on.
pub struct Delivery {
    pub notification: Notification,
    acker: Acker,
}

impl fmt::Debug for Delivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Delivery")
            .field("notification", &self.notification)
            .finish_non_exhaustive()
    }
}

impl Delivery {
    /// Done with it: the broker forgets it.
    pub async fn ack(self) -> Result<(), RpcError> {
        self.acker.ack(BasicAckOptions::default()).await?;
        Ok(())
    }

    /// Not handled: the broker delivers it again (to this or another
    /// listener of the pool).
    pub async fn requeue(self) -> Result<(), RpcError> {
        self.acker
            .nack(BasicNackOptions {
                requeue: true,
                ..BasicNackOptions::default()
            })
            .await?;
        Ok(())
    }
}

struct NotificationHandler {
    tx: mpsc::Sender<Delivery>,
}

impl Handler for NotificationHandler {
    const WHAT: &'static str = "notification";

    async fn handle(
        &mut self,
        delivery: lapin::message::Delivery,
        shutdown: &CancellationToken,
    ) -> bool {
        let notification = match decode_notification(&delivery.data) {
            Ok(n) => n,
            Err(e) => {
                // Nobody can ever use it: acknowledge, or it comes back.
                tracing::warn!(
                    routing_key = %delivery.routing_key,
                    error = %e,
                    "discarding malformed notification"
                );
                if let Err(e) = delivery.acker.ack(BasicAckOptions::default()).await {
                    tracing::warn!(error = %e, "cannot acknowledge a malformed notification");
                }
                return true;
            }
        };
        tracing::debug!(
            event_type = %notification.event_type,
            publisher_id = %notification.publisher_id,
            "notification received"
        );
        let d = Delivery {
            notification,
            acker: delivery.acker,
        };
        tokio::select! {
            _ = shutdown.cancelled() => false,
            sent = self.tx.send(d) => {
                if sent.is_err() {
                    tracing::info!("notification receiver dropped; listener stopping");
                }
                sent.is_ok()
            }
        }
    }
}

/// Listens for the notifications `decls` bind (see
/// [`notification_topology`]) until `shutdown` is cancelled or `tx`'s
/// receiver is dropped, reconnecting across the URL's hosts when the
/// broker goes away. Malformed notifications are logged and acknowledged.
/// A delivery not acknowledged when its connection is lost comes again.
pub async fn listen(
    cfg: RpcConfig,
    decls: Vec<Declaration>,
    name: &str,
    tx: mpsc::Sender<Delivery>,
    shutdown: CancellationToken,
) -> Result<(), RpcError> {
    if decls.is_empty() {
        return Err(RpcError::Invalid("nothing to listen to".into()));
    }
    let mut handler = NotificationHandler { tx };
    let conn_name = format!("tricircle-notification-listener:{name}");
    run(&cfg, &decls, &conn_name, &mut handler, &shutdown).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::encode_envelope;
    use crate::TransportUrl;
    use serde_json::json;

    fn body(msg: Value) -> Vec<u8> {
        encode_envelope(msg.as_object().unwrap()).unwrap()
    }

    #[test]
    fn decodes_what_neutron_publishes() {
        let n = decode_notification(&body(json!({
            "message_id": "m1",
            "publisher_id": "network.host1",
            "event_type": "router.interface.create",
            "priority": "INFO",
            "payload": {"router_interface": {"id": "r1", "network_id": "n1"}},
            "timestamp": "2026-12-02 09:00:00.000000",
            "_context_project_id": "p1",
            "_context_auth_token": "tok-SECRET",
            "_unique_id": "u1",
        })))
        .unwrap();
        assert_eq!(n.event_type, "router.interface.create");
        assert_eq!(n.publisher_id, "network.host1");
        assert_eq!(n.priority, "INFO");
        assert_eq!(n.payload["router_interface"]["id"], "r1");
        assert_eq!(n.message_id.as_deref(), Some("m1"));
        assert_eq!(n.context["project_id"], "p1");
        assert!(!n.context.contains_key("unique_id"));
        let shown = format!("{n:?}");
        assert!(!shown.contains("tok-SECRET"), "{shown}");
    }

    #[test]
    fn what_we_publish_decodes_to_itself() {
        let n = Notification {
            event_type: "router.interface.create".into(),
            publisher_id: "network.fake".into(),
            priority: "INFO".into(),
            payload: json!({"router_interface": {"id": "r"}}),
            message_id: Some("m".into()),
            timestamp: Some("2026-12-02 10:00:00.000000".into()),
            context: json!({"project_id": "p"}).as_object().unwrap().clone(),
        };
        let body = encode_envelope(&notification_message(&n)).unwrap();
        assert_eq!(decode_notification(&body).unwrap(), n);
    }

    #[test]
    fn bare_messages_decode_and_bad_ones_say_why() {
        let bare = serde_json::to_vec(&json!({"event_type": "port.delete.end",
            "payload": {"port_id": "x"}}))
        .unwrap();
        let n = decode_notification(&bare).unwrap();
        assert_eq!(n.payload["port_id"], "x");
        assert_eq!(n.publisher_id, "");
        for (b, why) in [
            (b"nope".to_vec(), "not JSON"),
            (body(json!({"payload": {}})), "no event_type"),
            (body(json!({"event_type": ""})), "no event_type"),
        ] {
            let e = decode_notification(&b).unwrap_err().to_string();
            assert!(e.contains(why), "{e}");
        }
    }

    #[test]
    fn topology_matches_the_rabbit_driver() {
        let cfg = RpcConfig::new(TransportUrl::parse("rabbit://u:p@h/").unwrap());
        let topics = vec!["notifications".to_owned(), "tricircle".to_owned()];
        let pooled = notification_topology(
            &cfg,
            "neutron",
            &topics,
            &["info", "error"],
            Some("tricircle-xjob"),
        );
        let keys: Vec<_> = pooled.iter().map(|d| d.routing_key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "notifications.info",
                "notifications.error",
                "tricircle.info",
                "tricircle.error"
            ]
        );
        for d in &pooled {
            assert_eq!(d.queue, "tricircle-xjob");
            assert_eq!(d.exchange, "neutron");
            assert_eq!(d.kind, DeclarationKind::Topic);
            assert_eq!(
                (d.exchange_durable, d.queue_durable, d.queue_auto_delete),
                (false, false, false)
            );
            assert_eq!(d.queue_expires_ms, None);
        }
        let lone = notification_topology(&cfg, "neutron", &topics[..1], &["info"], None);
        assert_eq!(lone[0].queue, "notifications.info");
    }
}
