//! The message bus side of xjob: the oslo.messaging consumer on topic
//! `xjob` (queues `xjob`, `xjob.<host>`, fanout `xjob_fanout`), feeding
//! [`Cast`]s to the service.

use serde_json::Value;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tricircle_rpc::{CancellationToken, Incoming, RpcConfig, TOPIC_XJOB};

use crate::Cast;

/// The cast the engine runs for a message: `args.payload` is the
/// `{"<job type>": "<resource_id>"}` map the reference sends.
pub fn to_cast(m: Incoming) -> Cast {
    let payload = match m.args {
        Value::Object(mut args) => args.remove("payload").unwrap_or(Value::Null),
        _ => Value::Null,
    };
    Cast {
        method: m.method,
        payload,
        context: m.context,
    }
}

/// Consume until `stop` is cancelled, handing every message to `casts`.
/// The consumer acknowledges before handing over, as oslo.messaging's RPC
/// server does: a job whose cast is lost with the process is still a NEW
/// row, which the periodic task redoes.
pub fn attach(
    cfg: RpcConfig,
    host: String,
    casts: mpsc::Sender<Cast>,
    stop: CancellationToken,
) -> JoinHandle<()> {
    let (tx, mut rx) = mpsc::channel::<Incoming>(64);
    let consumer = tokio::spawn({
        let stop = stop.clone();
        async move {
            tracing::info!(broker = %cfg.transport_url, topic = TOPIC_XJOB, server = %host, "consuming casts");
            if let Err(e) = tricircle_rpc::consume(cfg, TOPIC_XJOB, &host, tx, stop).await {
                tracing::error!(error = %e, "message bus consumer stopped");
            }
        }
    });
    tokio::spawn(async move {
        while let Some(m) = rx.recv().await {
            if casts.send(to_cast(m)).await.is_err() {
                // The service stopped taking casts.
                break;
            }
        }
        stop.cancel();
        let _ = consumer.await;
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn payload_is_taken_from_args() {
        let m = Incoming {
            method: "configure_route".into(),
            args: json!({"payload": {"configure_route": "r1"}}),
            context: Default::default(),
            unique_id: None,
            version: Some("1.0".into()),
        };
        let c = to_cast(m);
        assert_eq!(c.method, "configure_route");
        assert_eq!(c.payload, json!({"configure_route": "r1"}));
    }

    #[test]
    fn missing_payload_is_null() {
        let m = Incoming {
            method: "x".into(),
            args: json!([]),
            context: Default::default(),
            unique_id: None,
            version: None,
        };
        assert_eq!(to_cast(m).payload, Value::Null);
    }
}
