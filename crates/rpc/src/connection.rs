//! Opening AMQP connections to the hosts of a transport URL.

use std::time::Duration;

use lapin::options::ExchangeDeclareOptions;
use lapin::types::FieldTable;
use lapin::uri::{AMQPAuthority, AMQPQueryString, AMQPScheme, AMQPUri, AMQPUserInfo};
use lapin::{Channel, Connection, ConnectionProperties, ExchangeKind};

use crate::{BrokerHost, RpcError, TransportUrl};

/// Heartbeat proposed to the broker (the rabbit driver's default threshold
/// of 60 s at two beats per period).
const HEARTBEAT_SECS: u16 = 30;

fn amqp_uri(url: &TransportUrl, host: &BrokerHost, timeout: Duration) -> AMQPUri {
    AMQPUri {
        scheme: if url.tls {
            AMQPScheme::AMQPS
        } else {
            AMQPScheme::AMQP
        },
        authority: AMQPAuthority {
            userinfo: AMQPUserInfo {
                username: host.username.clone(),
                password: host.password().to_string(),
            },
            host: host.host.clone(),
            port: host.port,
        },
        vhost: url.virtual_host.clone(),
        query: AMQPQueryString {
            heartbeat: Some(HEARTBEAT_SECS),
            connection_timeout: Some(timeout.as_millis().try_into().unwrap_or(u64::MAX)),
            ..AMQPQueryString::default()
        },
    }
}

/// Connects to one host, bounded by `timeout`.
pub(crate) async fn connect_host(
    url: &TransportUrl,
    index: usize,
    timeout: Duration,
    name: &str,
) -> Result<Connection, RpcError> {
    let host = &url.hosts[index % url.hosts.len()];
    let props = ConnectionProperties::default().with_connection_name(name.into());
    match tokio::time::timeout(
        timeout,
        Connection::connect_uri(amqp_uri(url, host, timeout), props),
    )
    .await
    {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(e)) => Err(RpcError::Unavailable(format!("{host}: {e}"))),
        Err(_) => Err(RpcError::Unavailable(format!(
            "{host}: connection timed out"
        ))),
    }
}

pub(crate) fn is_precondition_failed(err: &lapin::Error) -> bool {
    err.to_string().contains("PRECONDITION_FAILED")
}

/// Declares an exchange like the rabbit driver: when the broker already has
/// it with another durability (PRECONDITION_FAILED), the driver falls back to
/// a non-durable declaration. The failed declaration closes the channel, so
/// the fallback uses (and returns) a new one.
pub(crate) async fn declare_exchange(
    conn: &Connection,
    channel: Channel,
    name: &str,
    kind: ExchangeKind,
    durable: bool,
    auto_delete: bool,
) -> Result<Channel, RpcError> {
    let opts = |durable| ExchangeDeclareOptions {
        durable,
        auto_delete,
        ..ExchangeDeclareOptions::default()
    };
    match channel
        .exchange_declare(
            name.into(),
            kind.clone(),
            opts(durable),
            FieldTable::default(),
        )
        .await
    {
        Ok(()) => Ok(channel),
        Err(e) if durable && is_precondition_failed(&e) => {
            tracing::warn!(
                exchange = name,
                "exchange exists with other durability; declaring it non-durable"
            );
            let channel = conn.create_channel().await?;
            channel
                .exchange_declare(name.into(), kind, opts(false), FieldTable::default())
                .await?;
            Ok(channel)
        }
        Err(e) => Err(e.into()),
    }
}

/// Exponential backoff: 0.5 s, 1 s, 2 s ... capped at `max`.
pub(crate) fn backoff(attempt: u32, max: Duration) -> Duration {
    let base = Duration::from_millis(500);
    base.saturating_mul(1u32 << attempt.min(16)).min(max)
}
