//! The RPC server side: what oslo.messaging's rabbit driver declares and
//! consumes for a target `(topic, server)`, with its ack-then-dispatch
//! semantics.

use std::collections::VecDeque;
use std::time::Duration;

use futures_util::stream::{select_all, StreamExt};
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Channel, Connection, ExchangeKind};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::connection::{backoff, connect_host, declare_exchange, is_precondition_failed};
use crate::message::{decode, redact_context, Incoming};
use crate::{RpcConfig, RpcError};

/// Times a consumer of this process lost its broker connection (or could
/// not open one) and tried again.
static RECONNECTS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// [`RECONNECTS`] so far, for the metrics.
pub fn reconnects() -> u64 {
    RECONNECTS.load(std::sync::atomic::Ordering::Relaxed)
}

/// `x-expires` of the per-server fanout queue: the driver's default
/// `rabbit_transient_queues_ttl` (1800 s).
pub const FANOUT_QUEUE_EXPIRES_MS: i32 = 1_800_000;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// The driver remembers this many `_unique_id`s to drop duplicates.
const DUP_CHECK_SIZE: usize = 16;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeclarationKind {
    Topic,
    Fanout,
}

/// One exchange + queue + binding the consumer declares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Declaration {
    pub exchange: String,
    pub kind: DeclarationKind,
    pub exchange_durable: bool,
    pub exchange_auto_delete: bool,
    pub queue: String,
    pub queue_durable: bool,
    pub queue_auto_delete: bool,
    /// `x-expires` in milliseconds, when set.
    pub queue_expires_ms: Option<i32>,
    pub routing_key: String,
}

/// What the rabbit driver declares for an RPC server on `topic` with
/// server name `server` (defaults: no HA/quorum queues, amqp_auto_delete
/// off): queues `<topic>` and `<topic>.<server>` on the topic exchange
/// `control_exchange` (durability per `amqp_durable_queues`), and a
/// transient queue `<topic>_fanout_<fanout_id>` on the auto-deleted fanout
/// exchange `<topic>_fanout`.
pub fn topology(cfg: &RpcConfig, topic: &str, server: &str, fanout_id: &str) -> Vec<Declaration> {
    let topic_decl = |key: String| Declaration {
        exchange: cfg.control_exchange.clone(),
        kind: DeclarationKind::Topic,
        exchange_durable: cfg.durable,
        exchange_auto_delete: false,
        queue: key.clone(),
        queue_durable: cfg.durable,
        queue_auto_delete: false,
        queue_expires_ms: None,
        routing_key: key,
    };
    vec![
        topic_decl(topic.to_string()),
        topic_decl(format!("{topic}.{server}")),
        Declaration {
            exchange: format!("{topic}_fanout"),
            kind: DeclarationKind::Fanout,
            exchange_durable: false,
            exchange_auto_delete: true,
            queue: format!("{topic}_fanout_{fanout_id}"),
            queue_durable: false,
            queue_auto_delete: false,
            queue_expires_ms: Some(FANOUT_QUEUE_EXPIRES_MS),
            routing_key: topic.to_string(),
        },
    ]
}

enum Ended {
    /// Shutdown requested or the receiver went away: stop for good.
    Stop,
    /// The connection or channel failed: reconnect.
    Lost(String),
}

/// What a consumer does with each delivery of its queues.
pub(crate) trait Handler {
    /// What the logs call this consumer (`RPC`, `notification`).
    const WHAT: &'static str;

    /// Handle one delivery; `false` stops the consumer for good (its
    /// receiver is gone).
    async fn handle(&mut self, delivery: Delivery, shutdown: &CancellationToken) -> bool;
}

/// Consumes RPC messages for `(topic, server)` until `shutdown` is
/// cancelled or `tx`'s receiver is dropped. Each message is acked on
/// receipt, then decoded and sent to `tx` (as the driver acks before
/// dispatch); malformed ones are logged and dropped. When the broker goes
/// away it reconnects with backoff, trying the URL's hosts in turn, and
/// declares everything again. Only invalid arguments make it return an
/// error.
pub async fn consume(
    cfg: RpcConfig,
    topic: &str,
    server: &str,
    tx: mpsc::Sender<Incoming>,
    shutdown: CancellationToken,
) -> Result<(), RpcError> {
    if topic.is_empty() || server.is_empty() {
        return Err(RpcError::Invalid(
            "topic and server must not be empty".into(),
        ));
    }
    let fanout_id = uuid::Uuid::new_v4().simple().to_string();
    let decls = topology(&cfg, topic, server, &fanout_id);
    let mut handler = RpcHandler {
        tx,
        seen: VecDeque::with_capacity(DUP_CHECK_SIZE),
    };
    let name = format!("tricircle-rpc-server:{topic}.{server}");
    run(&cfg, &decls, &name, &mut handler, &shutdown).await;
    Ok(())
}

/// Declare `decls` and hand their deliveries to `handler` until `shutdown`
/// is cancelled or the handler stops; reconnect with backoff across the
/// URL's hosts whenever the broker goes away.
pub(crate) async fn run<H: Handler>(
    cfg: &RpcConfig,
    decls: &[Declaration],
    conn_name: &str,
    handler: &mut H,
    shutdown: &CancellationToken,
) {
    let hosts = cfg.transport_url.hosts.len();
    let mut host = 0usize;
    let mut attempt = 0u32;
    loop {
        let connected = tokio::select! {
            _ = shutdown.cancelled() => return,
            r = connect_host(&cfg.transport_url, host, CONNECT_TIMEOUT, conn_name) => r,
        };
        let reason = match connected {
            Ok(conn) => {
                let ended = session(cfg, &conn, decls, handler, shutdown, &mut attempt).await;
                let _ = tokio::time::timeout(Duration::from_secs(2), conn.close(200, "bye".into()))
                    .await;
                match ended {
                    Ended::Stop => return,
                    Ended::Lost(why) => why,
                }
            }
            Err(e) => e.to_string(),
        };
        let delay = backoff(attempt, MAX_BACKOFF);
        attempt = attempt.saturating_add(1);
        host = (host + 1) % hosts;
        RECONNECTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tracing::warn!(
            consumer = conn_name,
            reason,
            next_host = %cfg.transport_url.hosts[host],
            retry_in_ms = delay.as_millis() as u64,
            "{} consumer disconnected; reconnecting",
            H::WHAT
        );
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(delay) => {}
        }
    }
}

async fn declare_queue(
    conn: &Connection,
    channel: Channel,
    d: &Declaration,
) -> Result<Channel, RpcError> {
    let mut args = FieldTable::default();
    if let Some(ms) = d.queue_expires_ms {
        args.insert("x-expires".into(), AMQPValue::LongInt(ms));
    }
    let opts = |durable| QueueDeclareOptions {
        durable,
        auto_delete: d.queue_auto_delete,
        ..QueueDeclareOptions::default()
    };
    match channel
        .queue_declare(d.queue.as_str().into(), opts(d.queue_durable), args.clone())
        .await
    {
        Ok(_) => Ok(channel),
        // As the driver: an existing queue of other durability makes it
        // fall back to a non-durable declaration.
        Err(e) if d.queue_durable && is_precondition_failed(&e) => {
            tracing::warn!(queue = %d.queue, "queue exists with other durability; declaring it non-durable");
            let channel = conn.create_channel().await?;
            channel
                .queue_declare(d.queue.as_str().into(), opts(false), args)
                .await?;
            Ok(channel)
        }
        Err(e) => Err(e.into()),
    }
}

async fn setup(
    conn: &Connection,
    decls: &[Declaration],
) -> Result<(Channel, Vec<lapin::Consumer>), RpcError> {
    let mut channel = conn.create_channel().await?;
    for d in decls {
        let kind = match d.kind {
            DeclarationKind::Topic => ExchangeKind::Topic,
            DeclarationKind::Fanout => ExchangeKind::Fanout,
        };
        channel = declare_exchange(
            conn,
            channel,
            &d.exchange,
            kind,
            d.exchange_durable,
            d.exchange_auto_delete,
        )
        .await?;
        channel = declare_queue(conn, channel, d).await?;
        channel
            .queue_bind(
                d.queue.as_str().into(),
                d.exchange.as_str().into(),
                d.routing_key.as_str().into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;
    }
    let mut consumers = Vec::new();
    for d in decls {
        let tag = format!("{}-{}", d.queue, uuid::Uuid::new_v4().simple());
        consumers.push(
            channel
                .basic_consume(
                    d.queue.as_str().into(),
                    tag.as_str().into(),
                    BasicConsumeOptions::default(),
                    FieldTable::default(),
                )
                .await?,
        );
    }
    Ok((channel, consumers))
}

async fn session<H: Handler>(
    cfg: &RpcConfig,
    conn: &Connection,
    decls: &[Declaration],
    handler: &mut H,
    shutdown: &CancellationToken,
    attempt: &mut u32,
) -> Ended {
    let (_channel, consumers) = tokio::select! {
        _ = shutdown.cancelled() => return Ended::Stop,
        r = setup(conn, decls) => match r {
            Ok(v) => v,
            Err(e) => return Ended::Lost(format!("declaring queues failed: {e}")),
        },
    };
    *attempt = 0;
    tracing::info!(
        exchanges = ?decls.iter().map(|d| d.exchange.as_str()).collect::<Vec<_>>(),
        queues = ?decls.iter().map(|d| d.queue.as_str()).collect::<Vec<_>>(),
        durable = cfg.durable,
        "{} consumer ready",
        H::WHAT
    );
    let mut deliveries = select_all(consumers);
    loop {
        let next = tokio::select! {
            _ = shutdown.cancelled() => return Ended::Stop,
            n = deliveries.next() => n,
        };
        let delivery = match next {
            Some(Ok(d)) => d,
            Some(Err(e)) => return Ended::Lost(e.to_string()),
            None => return Ended::Lost("consumer cancelled by the broker".into()),
        };
        if !handler.handle(delivery, shutdown).await {
            return Ended::Stop;
        }
    }
}

/// RPC semantics: ack, decode, drop duplicates, hand over.
struct RpcHandler {
    tx: mpsc::Sender<Incoming>,
    seen: VecDeque<String>,
}

impl Handler for RpcHandler {
    const WHAT: &'static str = "RPC";

    async fn handle(&mut self, delivery: Delivery, shutdown: &CancellationToken) -> bool {
        // Ack first, as the driver does: a message whose ack fails is not
        // dispatched (the broker will redeliver it).
        if let Err(e) = delivery.ack(BasicAckOptions::default()).await {
            tracing::warn!(error = %e, "discarding RPC message: acknowledge failed");
            return true;
        }
        let incoming = match decode(&delivery.data) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(
                    routing_key = %delivery.routing_key,
                    error = %e,
                    "discarding malformed RPC message"
                );
                return true;
            }
        };
        if let Some(id) = &incoming.unique_id {
            if self.seen.contains(id) {
                tracing::warn!(unique_id = %id, method = %incoming.method, "discarding duplicate RPC message");
                return true;
            }
            if self.seen.len() == DUP_CHECK_SIZE {
                self.seen.pop_front();
            }
            self.seen.push_back(id.clone());
        }
        tracing::debug!(
            method = %incoming.method,
            unique_id = ?incoming.unique_id,
            context = ?redact_context(&incoming.context),
            "RPC message received"
        );
        tokio::select! {
            _ = shutdown.cancelled() => false,
            sent = self.tx.send(incoming) => {
                if sent.is_err() {
                    tracing::info!("RPC message receiver dropped; consumer stopping");
                }
                sent.is_ok()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TransportUrl;

    #[test]
    fn topology_matches_the_rabbit_driver() {
        let mut cfg = RpcConfig::new(TransportUrl::parse("rabbit://u:p@h/").unwrap());
        for durable in [false, true] {
            cfg.durable = durable;
            let t = topology(&cfg, "xjob", "node1", "abc");
            assert_eq!(t.len(), 3);
            for (d, q) in t.iter().take(2).zip(["xjob", "xjob.node1"]) {
                assert_eq!(d.exchange, "openstack");
                assert_eq!(d.kind, DeclarationKind::Topic);
                assert_eq!(
                    (d.exchange_durable, d.exchange_auto_delete),
                    (durable, false)
                );
                assert_eq!((d.queue.as_str(), d.routing_key.as_str()), (q, q));
                assert_eq!((d.queue_durable, d.queue_auto_delete), (durable, false));
                assert_eq!(d.queue_expires_ms, None);
            }
            let f = &t[2];
            assert_eq!(f.exchange, "xjob_fanout");
            assert_eq!(f.kind, DeclarationKind::Fanout);
            assert_eq!((f.exchange_durable, f.exchange_auto_delete), (false, true));
            assert_eq!(f.queue, "xjob_fanout_abc");
            assert_eq!((f.queue_durable, f.queue_auto_delete), (false, false));
            assert_eq!(f.queue_expires_ms, Some(1_800_000));
            assert_eq!(f.routing_key, "xjob");
        }
    }
}
