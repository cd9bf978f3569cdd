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
//! * [`notification`]: the notification listener side (a region's Neutron
//!   notifications, pooled, acknowledged by the receiver once acted on).

use std::time::Duration;

mod connection;
mod consumer;
pub mod message;
pub mod notification;
mod publisher;
pub mod testing;
mod transport_url;

pub use consumer::{
    consume, reconnects, topology, Declaration, DeclarationKind, FANOUT_QUEUE_EXPIRES_MS,
};
pub use message::{redact_context, request_id, Incoming};
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

/// Whether the configuration names a message bus: `[DEFAULT] transport_url`,
/// or a legacy `[oslo_messaging_rabbit] rabbit_host`/`rabbit_hosts` set in a
/// file. Without one, the API and xjob share jobs through the database
/// only (the API writes NEW rows, xjob polls for them) instead of
/// oslo.messaging falling back to a broker on localhost. Both binaries ask
/// this, so they agree.
pub fn broker_configured(config: &tricircle_config::Config) -> bool {
    config.default.transport_url.is_some() || config.rabbit_hosts_set
}

/// The message bus the configuration names, as oslo.messaging reads it:
/// `[DEFAULT] transport_url`, or, when that is unset, the deprecated
/// `[oslo_messaging_rabbit] rabbit_hosts`/`rabbit_userid`/`rabbit_password`/
/// `rabbit_virtual_host` options (whose defaults point at guest@localhost).
pub fn config_from(config: &tricircle_config::Config) -> Result<RpcConfig, RpcError> {
    let rabbit = &config.rabbit;
    let mut url = match &config.default.transport_url {
        Some(url) => TransportUrl::parse(url.expose()).map_err(|e| match e {
            RpcError::InvalidUrl(why) => {
                RpcError::InvalidUrl(format!("[DEFAULT] transport_url: {why}"))
            }
            other => other,
        })?,
        None => {
            let hosts = rabbit
                .rabbit_hosts
                .iter()
                .map(|hp| {
                    let (host, port) = match hp.rsplit_once(':') {
                        Some((h, p)) => (
                            h,
                            p.parse().map_err(|_| {
                                RpcError::InvalidUrl(format!(
                                    "[oslo_messaging_rabbit] rabbit_hosts: bad port in {hp:?}"
                                ))
                            })?,
                        ),
                        None => (hp.as_str(), rabbit.rabbit_port),
                    };
                    Ok(BrokerHost::new(
                        host,
                        port,
                        &rabbit.rabbit_userid,
                        rabbit.rabbit_password.expose(),
                    ))
                })
                .collect::<Result<Vec<_>, RpcError>>()?;
            TransportUrl {
                hosts,
                virtual_host: rabbit.rabbit_virtual_host.clone(),
                tls: false,
            }
        }
    };
    url.tls |= rabbit.ssl;
    let mut cfg = RpcConfig::new(url);
    cfg.control_exchange = config.default.control_exchange.clone();
    cfg.durable = rabbit.amqp_durable_queues;
    Ok(cfg)
}
