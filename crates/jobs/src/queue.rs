//! The job path inside xjob: requests to run the NEW jobs of one (type,
//! resource). Whoever learns of new work queues a [`JobRequest`] — the
//! AMQP consumer for a cast, a handler for a follow-up job it recorded —
//! and the service runs it on the engine. The NEW row is the job, so a
//! request that cannot be queued is not lost: the periodic redo finds it.

use serde_json::{Map, Value};
use tokio::sync::mpsc;
use tricircle_vocab::JobType;

/// Requests buffered between their producers and the engine.
pub const DEFAULT_CAPACITY: usize = 64;

/// Run the NEW jobs of `job_type` on `resource_id`.
#[derive(Debug, Clone, PartialEq)]
pub struct JobRequest {
    pub job_type: JobType,
    pub resource_id: String,
    /// The request context (oslo.context keys without the `_context_`
    /// prefix) of whoever asked; it carries a token, so it is never logged.
    pub context: Map<String, Value>,
}

/// The sending side of the service's queue. Cheap to clone.
#[derive(Debug, Clone)]
pub struct JobQueue(mpsc::Sender<JobRequest>);

/// The receiving side, which the service drains.
pub type JobRequests = mpsc::Receiver<JobRequest>;

/// The queue is closed: the service has stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the job queue is closed")]
pub struct QueueClosed;

impl JobQueue {
    /// A queue holding up to `capacity` requests.
    pub fn new(capacity: usize) -> (JobQueue, JobRequests) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        (JobQueue(tx), rx)
    }

    /// Queue `request`, waiting while the queue is full (all workers busy):
    /// back-pressure for a producer that can wait, such as the consumer.
    pub async fn send(&self, request: JobRequest) -> Result<(), QueueClosed> {
        self.0.send(request).await.map_err(|_| QueueClosed)
    }

    /// Requests waiting to be taken.
    pub fn depth(&self) -> usize {
        self.0.max_capacity() - self.0.capacity()
    }

    /// Queue `request` if there is room now; `false` when full or closed.
    /// For producers that must not wait: the periodic redo runs the job
    /// later anyway.
    pub fn offer(&self, request: JobRequest) -> bool {
        self.0.try_send(request).is_ok()
    }
}
