//! oslo.messaging (rabbit driver) wire compatibility for Tricircle's RPC:
//! the API casts jobs to topic `xjob`, the job daemon consumes them.
//!
//! * [`TransportUrl`]: `transport_url` parsing (several hosts, vhost, TLS).
//! * [`message`]: the 2.0 envelope and `_context_*` encoding.
//! * [`Publisher`]: lazy, reconnecting, bounded-time casts with publisher
//!   confirms on the topic exchange `<control_exchange>`.
//! * [`consume`]: the RPC server side: declares what the rabbit driver
//!   declares for topic/server, acks then hands messages over a channel,
//!   reconnects across hosts, stops on a cancellation token.

use std::time::Duration;

mod connection;
mod consumer;
pub mod message;
mod publisher;
mod transport_url;

pub use consumer::{consume, topology, Declaration, DeclarationKind, FANOUT_QUEUE_EXPIRES_MS};
pub use message::{redact_context, Incoming};
pub use publisher::Publisher;
pub use tokio_util::sync::CancellationToken;
pub use transport_url::{BrokerHost, TransportUrl, DEFAULT_PORT};

/// Tricircle's xjob topic (`tricircle.common.topics.TOPIC_XJOB`).
pub const TOPIC_XJOB: &str = "xjob";
/// The target version the reference's XJobAPI client sends.
pub const XJOB_VERSION: &str = "1.0";
/// oslo.messaging's default `control_exchange`.
pub const DEFAULT_CONTROL_EXCHANGE: &str = "openstack";

#[derive(Debug, thiserror::Error)]
pub enum RpcError {
    #[error("invalid transport_url: {0}")]
    InvalidUrl(String),
    #[error("message broker unavailable: {0}")]
    Unavailable(String),
    #[error("cast not confirmed by the broker within {0:?}")]
    Timeout(Duration),
    #[error("the broker refused the message (nack)")]
    Nacked,
    #[error("AMQP error: {0}")]
    Amqp(#[from] lapin::Error),
    #[error("cannot encode message: {0}")]
    Encode(String),
    #[error("malformed message: {0}")]
    Decode(String),
    #[error("invalid argument: {0}")]
    Invalid(String),
}

/// Connection settings shared by [`Publisher`] and [`consume`].
#[derive(Clone, Debug)]
pub struct RpcConfig {
    pub transport_url: TransportUrl,
    /// `[DEFAULT] control_exchange` (default `openstack`).
    pub control_exchange: String,
    /// `[oslo_messaging_rabbit] amqp_durable_queues`.
    pub durable: bool,
    /// The longest a cast may take (connecting included) before it fails.
    pub cast_timeout: Duration,
}

impl RpcConfig {
    /// Defaults: exchange `openstack`, non-durable, 5 s per cast.
    pub fn new(transport_url: TransportUrl) -> Self {
        Self {
            transport_url,
            control_exchange: DEFAULT_CONTROL_EXCHANGE.to_string(),
            durable: false,
            cast_timeout: Duration::from_secs(5),
        }
    }
}
