//! Casts: fire-and-forget messages on the control exchange.

use std::sync::Arc;
use std::time::{Duration, Instant};

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::{BasicProperties, Channel, Connection, ExchangeKind};
use serde_json::{Map, Value};
use tokio::sync::Mutex;

use crate::connection::{backoff, connect_host, declare_exchange};
use crate::message::{cast_message, encode_envelope, new_unique_id};
use crate::notification::{notification_message, Notification};
use crate::{RpcConfig, RpcError, XJOB_VERSION};

/// After repeated failures, casts fail at once for at most this long
/// before the next connection attempt.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

struct Link {
    conn: Connection,
    channel: Channel,
}

impl Link {
    fn usable(&self) -> bool {
        self.conn.status().connected() && self.channel.status().connected()
    }
}

#[derive(Default)]
struct State {
    link: Option<Link>,
    failures: u32,
    retry_at: Option<Instant>,
    next_host: usize,
}

struct Inner {
    cfg: RpcConfig,
    state: Mutex<State>,
}

/// Publishes casts. Cheap to clone; clones share one connection, opened on
/// first use and reopened (next host first) after a failure.
#[derive(Clone)]
pub struct Publisher {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher")
            .field("transport_url", &self.inner.cfg.transport_url)
            .field("control_exchange", &self.inner.cfg.control_exchange)
            .finish()
    }
}

impl Publisher {
    /// No I/O happens until the first cast.
    pub fn new(cfg: RpcConfig) -> Self {
        Self {
            inner: Arc::new(Inner {
                cfg,
                state: Mutex::new(State::default()),
            }),
        }
    }

    /// Casts `method(**args)` to `topic` (`xjob`, or `xjob.<host>` for one
    /// server) with the request context `ctx`, as oslo.messaging's
    /// `RPCClient.cast` with target version 1.0 does. Returns once the
    /// broker confirmed the message, or fails within `cast_timeout`.
    pub async fn cast(
        &self,
        topic: &str,
        ctx: &Map<String, Value>,
        method: &str,
        args: Value,
    ) -> Result<(), RpcError> {
        if topic.is_empty() || method.is_empty() {
            return Err(RpcError::Invalid(
                "topic and method must not be empty".into(),
            ));
        }
        if !(args.is_object() || args.is_null()) {
            return Err(RpcError::Invalid("args must be a JSON object".into()));
        }
        let unique_id = new_unique_id();
        let body = encode_envelope(&cast_message(
            ctx,
            method,
            args,
            Some(XJOB_VERSION),
            &unique_id,
        ))?;
        self.send(topic, &body, method).await
    }

    /// Publishes `notification` on `<topic>.<priority>` (lower case) of the
    /// exchange, as oslo.messaging's `messagingv2` notifier driver does (a
    /// region's Neutron, or the embedded cloud of `scripts/run`).
    pub async fn notify(&self, topic: &str, notification: &Notification) -> Result<(), RpcError> {
        let priority = notification.priority.to_ascii_lowercase();
        let body = encode_envelope(&notification_message(notification))?;
        self.send(
            &format!("{topic}.{priority}"),
            &body,
            &notification.event_type,
        )
        .await
    }

    /// Publish `body` on `routing_key` within `cast_timeout`; `what` names
    /// it in the logs.
    async fn send(&self, routing_key: &str, body: &[u8], what: &str) -> Result<(), RpcError> {
        let timeout = self.inner.cfg.cast_timeout;
        match tokio::time::timeout(timeout, self.publish(routing_key, body)).await {
            Ok(Ok(())) => {
                tracing::debug!(routing_key, what, "message sent");
                Ok(())
            }
            Ok(Err(e)) => {
                tracing::warn!(routing_key, what, error = %e, "sending failed");
                Err(e)
            }
            Err(_) => {
                // The connection may be dead without lapin noticing yet.
                self.broken().await;
                tracing::warn!(routing_key, what, "sending timed out");
                Err(RpcError::Timeout(timeout))
            }
        }
    }

    async fn broken(&self) {
        let mut st = self.inner.state.lock().await;
        if let Some(link) = st.link.take() {
            let _ = link.conn.close(200, "reconnecting".into()).await;
        }
        st.next_host += 1;
    }

    async fn publish(&self, topic: &str, body: &[u8]) -> Result<(), RpcError> {
        let channel = self.channel().await?;
        let props = BasicProperties::default()
            .with_content_type("application/json".into())
            .with_content_encoding("utf-8".into())
            .with_delivery_mode(2)
            .with_priority(0);
        let exchange = self.inner.cfg.control_exchange.as_str();
        let sent = async {
            channel
                .basic_publish(
                    exchange.into(),
                    topic.into(),
                    BasicPublishOptions::default(),
                    body,
                    props,
                )
                .await?
                .await
        }
        .await;
        match sent {
            Ok(c) if c.is_nack() => Err(RpcError::Nacked),
            Ok(_) => Ok(()),
            Err(e) => {
                self.broken().await;
                Err(e.into())
            }
        }
    }

    /// The current channel, connecting first when needed.
    async fn channel(&self) -> Result<Channel, RpcError> {
        let cfg = &self.inner.cfg;
        let mut st = self.inner.state.lock().await;
        if let Some(link) = &st.link {
            if link.usable() {
                return Ok(link.channel.clone());
            }
            st.link = None;
            st.next_host += 1;
        }
        if let Some(at) = st.retry_at {
            if Instant::now() < at {
                return Err(RpcError::Unavailable(
                    "broker unreachable at the last attempt; retrying shortly".into(),
                ));
            }
        }
        let hosts = cfg.transport_url.hosts.len();
        let mut last_err = None;
        for i in 0..hosts {
            let index = (st.next_host + i) % hosts;
            match self.open(index).await {
                Ok(link) => {
                    let channel = link.channel.clone();
                    st.link = Some(link);
                    st.next_host = index;
                    st.failures = 0;
                    st.retry_at = None;
                    return Ok(channel);
                }
                Err(e) => last_err = Some(e),
            }
        }
        st.retry_at = Some(Instant::now() + backoff(st.failures, MAX_BACKOFF));
        st.failures = st.failures.saturating_add(1);
        Err(last_err.unwrap_or_else(|| RpcError::Unavailable("no broker host".into())))
    }

    async fn open(&self, index: usize) -> Result<Link, RpcError> {
        let cfg = &self.inner.cfg;
        let conn = connect_host(
            &cfg.transport_url,
            index,
            cfg.cast_timeout,
            "tricircle-rpc-publisher",
        )
        .await?;
        let channel = conn.create_channel().await?;
        // The topic exchange, declared as the rabbit driver's topic_send does.
        let channel = declare_exchange(
            &conn,
            channel,
            &cfg.control_exchange,
            ExchangeKind::Topic,
            cfg.durable,
            false,
        )
        .await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        tracing::info!(host = %cfg.transport_url.hosts[index], "publisher connected");
        Ok(Link { conn, channel })
    }
}
