//! Handing new jobs to xjob.
//!
//! A job exists once its NEW row is written; dispatch is only a wake-up call.
//! If it cannot be delivered, xjob's periodic task still finds the NEW row, so
//! dispatch failures are logged and never fail the request.

use async_trait::async_trait;
use tricircle_vocab::JobType;

use crate::context::RequestContext;

#[async_trait]
pub trait JobDispatcher: Send + Sync {
    /// Ask xjob to run the NEW jobs of `job_type` on `resource_id`.
    async fn dispatch(&self, ctx: &RequestContext, job_type: JobType, resource_id: &str);
}

/// Wakes nobody: the NEW row is the whole hand-over. For an API without a
/// message bus, whose xjob polls the jobs table for NEW rows
/// (`crates/xjob/src/poll.rs`).
pub struct DatabaseOnly;

#[async_trait]
impl JobDispatcher for DatabaseOnly {
    async fn dispatch(&self, _ctx: &RequestContext, job_type: JobType, resource_id: &str) {
        tracing::debug!(
            %job_type,
            resource_id,
            "no message bus; xjob picks the job up from the database"
        );
    }
}

/// How many casts may wait for the broker; beyond that a job is left to the
/// periodic task (its NEW row is already stored).
const QUEUE: usize = 4096;
/// Casts in flight at once.
const IN_FLIGHT: usize = 64;

struct CastRequest {
    context: serde_json::Map<String, serde_json::Value>,
    method: String,
    args: serde_json::Value,
    request_id: String,
}

/// Casts to topic `xjob` over oslo.messaging's rabbit wire, as the
/// reference's `XJobAPI.invoke_method`. Casts run on a thread of their own,
/// so a slow or absent broker never holds an API worker: `dispatch` only
/// queues.
pub struct RpcDispatcher {
    queue: tokio::sync::mpsc::Sender<CastRequest>,
}

impl RpcDispatcher {
    /// Start the casting thread. Nothing connects before the first cast.
    pub fn start(cfg: tricircle_rpc::RpcConfig) -> std::io::Result<RpcDispatcher> {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<CastRequest>(QUEUE);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        std::thread::Builder::new()
            .name("xjob-caster".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let publisher = tricircle_rpc::Publisher::new(cfg);
                    let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT));
                    while let Some(req) = rx.recv().await {
                        let Ok(permit) = slots.clone().acquire_owned().await else {
                            break;
                        };
                        let publisher = publisher.clone();
                        tokio::spawn(async move {
                            let r = publisher
                                .cast(
                                    tricircle_rpc::TOPIC_XJOB,
                                    &req.context,
                                    &req.method,
                                    req.args,
                                )
                                .await;
                            drop(permit);
                            match r {
                                Ok(()) => tracing::debug!(
                                    request_id = %req.request_id,
                                    method = %req.method,
                                    "job cast to xjob"
                                ),
                                Err(e) => tracing::warn!(
                                    request_id = %req.request_id,
                                    method = %req.method,
                                    error = %e,
                                    "cast to xjob failed; the job waits for xjob's periodic task"
                                ),
                            }
                        });
                    }
                });
            })?;
        Ok(RpcDispatcher { queue: tx })
    }
}

#[async_trait]
impl JobDispatcher for RpcDispatcher {
    async fn dispatch(&self, ctx: &RequestContext, job_type: JobType, resource_id: &str) {
        // The reference's wire: the RPC method of the job type, with the
        // payload `{"<job type>": "<resource_id>"}`.
        let method = job_type.rpc_method();
        let req = CastRequest {
            context: ctx.to_dict(),
            method: method.to_owned(),
            args: serde_json::json!({ "payload": { job_type.name(): resource_id } }),
            request_id: ctx.request_id.clone(),
        };
        if let Err(e) = self.queue.try_send(req) {
            tracing::warn!(
                method,
                error = %e,
                "cast queue unavailable; the job waits for xjob's periodic task"
            );
        }
    }
}
