//! The message bus side of xjob: the oslo.messaging consumer on topic
//! `xjob` (queues `xjob`, `xjob.<host>`, fanout `xjob_fanout`), turning the
//! reference's RPC casts into [`JobRequest`]s for the service. RPC method
//! names are known here only.

use serde_json::Value;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tricircle_jobs::{JobQueue, JobRequest, JobType};
use tricircle_rpc::{CancellationToken, Incoming, RpcConfig, TOPIC_XJOB};

/// A cast that asks for no job xjob knows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadCast {
    #[error("no job type is served under RPC method {0:?}")]
    UnknownMethod(String),
    #[error("bad payload for {method}: {reason}")]
    BadPayload { method: String, reason: String },
}

/// The job a cast asks for: its RPC method names the job type, and
/// `args.payload` is the `{"<job type>": "<resource_id>"}` map the
/// reference sends.
pub fn decode(m: Incoming) -> Result<JobRequest, BadCast> {
    let job_type = JobType::by_rpc_method(&m.method)
        .ok_or_else(|| BadCast::UnknownMethod(m.method.clone()))?;
    let bad = |reason: String| BadCast::BadPayload {
        method: m.method.clone(),
        reason,
    };
    let payload = match &m.args {
        Value::Object(args) => args.get("payload"),
        _ => None,
    }
    .ok_or_else(|| bad("no payload".into()))?;
    let resource_id = payload
        .get(job_type.name())
        .ok_or_else(|| bad(format!("no {:?} key", job_type.name())))?
        .as_str()
        .ok_or_else(|| bad(format!("{:?} is not a string", job_type.name())))?
        .to_owned();
    Ok(JobRequest {
        job_type,
        resource_id,
        context: m.context,
    })
}

/// Consume until `stop` is cancelled, queueing the job of every message.
/// The consumer acknowledges before handing over, as oslo.messaging's RPC
/// server does: a job whose cast is lost with the process is still a NEW
/// row, which the periodic task redoes. A bad cast is logged and dropped.
pub fn attach(
    cfg: RpcConfig,
    host: String,
    queue: JobQueue,
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
            let request_id = tricircle_rpc::request_id(&m.context).to_owned();
            let request = match decode(m) {
                Ok(r) => r,
                Err(e @ BadCast::UnknownMethod(_)) => {
                    tracing::warn!(%request_id, "{e}; cast ignored");
                    continue;
                }
                Err(e) => {
                    tracing::error!(%request_id, "{e}; cast ignored");
                    continue;
                }
            };
            if queue.send(request).await.is_err() {
                // The service stopped taking jobs.
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

    fn incoming(method: &str, args: Value) -> Incoming {
        Incoming {
            method: method.into(),
            args,
            context: Default::default(),
            unique_id: None,
            version: Some("1.0".into()),
        }
    }

    #[test]
    fn a_cast_names_its_job_by_method_and_payload() {
        let r = decode(incoming(
            "setup_bottom_router",
            json!({"payload": {"router_setup": "p#r#n"}}),
        ))
        .unwrap();
        assert_eq!(r.job_type, JobType::RouterSetup);
        assert_eq!(r.resource_id, "p#r#n");
    }

    #[test]
    fn bad_casts_are_refused_with_a_reason() {
        assert_eq!(
            decode(incoming("router_setup", json!({"payload": {}}))),
            Err(BadCast::UnknownMethod("router_setup".into())),
            "the job type name is not a method name"
        );
        for (args, reason) in [
            (json!([]), "no payload"),
            (json!({"payload": {}}), "no \"configure_route\" key"),
            (
                json!({"payload": {"configure_route": 5}}),
                "\"configure_route\" is not a string",
            ),
        ] {
            assert_eq!(
                decode(incoming("configure_route", args)),
                Err(BadCast::BadPayload {
                    method: "configure_route".into(),
                    reason: reason.into()
                })
            );
        }
    }
}
