//! The job path inside xjob: requests to run the NEW jobs of one (type,
//! resource). Whoever learns of new work queues a [`JobRequest`] — the
//! AMQP consumer for a cast, a handler for a follow-up job it recorded —
//! and the service runs it on the engine. The consumer waits while the
//! queue is full; a handler cannot (it holds a worker), so its request is
//! parked and taken as workers free up. The NEW row is the job, so a
//! request that cannot be queued (the service stopped) is not lost: the
//! periodic redo finds it.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

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

/// Requests that found the queue full, parked until a worker is free: one
/// per (type, resource), since the job loop of a request runs every NEW
/// row of its resource. So a burst of follow-up jobs (a fan-out over a
/// hundred routers) waits for the next free worker, not for the periodic
/// redo, and what is parked is bounded by the resources with NEW rows.
#[derive(Debug)]
struct Overflow {
    tx: mpsc::UnboundedSender<JobRequest>,
    parked: Mutex<HashSet<(JobType, String)>>,
}

impl Overflow {
    fn parked(&self) -> MutexGuard<'_, HashSet<(JobType, String)>> {
        // The set is only inserted into and removed from: a panic while
        // holding it leaves it consistent.
        self.parked.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The sending side of the service's queue. Cheap to clone.
#[derive(Debug, Clone)]
pub struct JobQueue {
    tx: mpsc::Sender<JobRequest>,
    overflow: Arc<Overflow>,
}

/// The receiving side, which the service drains.
#[derive(Debug)]
pub struct JobRequests {
    rx: mpsc::Receiver<JobRequest>,
    overflow_rx: mpsc::UnboundedReceiver<JobRequest>,
    overflow: Arc<Overflow>,
}

/// The queue is closed: the service has stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the job queue is closed")]
pub struct QueueClosed;

impl JobQueue {
    /// A queue holding up to `capacity` requests (and the parked ones).
    pub fn new(capacity: usize) -> (JobQueue, JobRequests) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let (overflow_tx, overflow_rx) = mpsc::unbounded_channel();
        let overflow = Arc::new(Overflow {
            tx: overflow_tx,
            parked: Mutex::new(HashSet::new()),
        });
        (
            JobQueue {
                tx,
                overflow: overflow.clone(),
            },
            JobRequests {
                rx,
                overflow_rx,
                overflow,
            },
        )
    }

    /// Queue `request`, waiting while the queue is full (all workers busy):
    /// back-pressure for a producer that can wait, such as the consumer.
    pub async fn send(&self, request: JobRequest) -> Result<(), QueueClosed> {
        self.tx.send(request).await.map_err(|_| QueueClosed)
    }

    /// Requests waiting to be taken, parked ones included.
    pub fn depth(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity() + self.overflow.parked().len()
    }

    /// Queue `request` without waiting, for producers that must not wait
    /// (a handler holding a worker slot): when the queue is full the
    /// request is parked until a worker is free, unless one for the same
    /// (type, resource) is parked already. `false` only when the service
    /// has stopped (the NEW row then waits for the periodic redo).
    pub fn offer(&self, request: JobRequest) -> bool {
        let request = match self.tx.try_send(request) {
            Ok(()) => return true,
            Err(mpsc::error::TrySendError::Closed(_)) => return false,
            Err(mpsc::error::TrySendError::Full(r)) => r,
        };
        let key = (request.job_type, request.resource_id.clone());
        let mut parked = self.overflow.parked();
        if parked.contains(&key) {
            return true;
        }
        if self.overflow.tx.send(request).is_err() {
            return false;
        }
        parked.insert(key);
        true
    }
}

impl JobRequests {
    /// The next request, queued or parked; `None` once closed and empty.
    pub async fn recv(&mut self) -> Option<JobRequest> {
        let request = tokio::select! {
            Some(r) = self.rx.recv() => r,
            Some(r) = self.overflow_rx.recv() => self.unpark(r),
            else => return None,
        };
        Some(request)
    }

    /// A request if one is waiting now.
    pub fn try_recv(&mut self) -> Option<JobRequest> {
        self.rx
            .try_recv()
            .ok()
            .or_else(|| self.overflow_rx.try_recv().ok().map(|r| self.unpark(r)))
    }

    /// Take no more requests; those waiting can still be received.
    pub fn close(&mut self) {
        self.rx.close();
        self.overflow_rx.close();
    }

    fn unpark(&self, r: JobRequest) -> JobRequest {
        self.overflow
            .parked()
            .remove(&(r.job_type, r.resource_id.clone()));
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(t: JobType, resource: &str) -> JobRequest {
        JobRequest {
            job_type: t,
            resource_id: resource.into(),
            context: Map::new(),
        }
    }

    async fn drain(requests: &mut JobRequests) -> Vec<String> {
        let mut got = Vec::new();
        while let Some(r) = requests.try_recv() {
            got.push(r.resource_id);
        }
        got
    }

    #[tokio::test]
    async fn a_full_queue_parks_one_request_per_resource() {
        let (queue, mut requests) = JobQueue::new(2);
        for r in ["a", "b", "c", "d", "c", "d", "c"] {
            assert!(queue.offer(request(JobType::RouterSetup, r)));
        }
        // Another type on a parked resource is a different job loop.
        assert!(queue.offer(request(JobType::ConfigureRoute, "c")));
        assert_eq!(queue.depth(), 5);
        let mut got = drain(&mut requests).await;
        got.sort();
        assert_eq!(got, ["a", "b", "c", "c", "d"]);
        assert_eq!(queue.depth(), 0);
        // Taken off the park: a newer request for it is parked again.
        for r in ["e", "f", "c"] {
            assert!(queue.offer(request(JobType::RouterSetup, r)));
        }
        assert_eq!(queue.depth(), 3);
        assert_eq!(drain(&mut requests).await.len(), 3);
    }

    #[tokio::test]
    async fn recv_takes_parked_requests_and_ends_once_closed() {
        let (queue, mut requests) = JobQueue::new(1);
        assert!(queue.offer(request(JobType::RouterSetup, "a")));
        assert!(queue.offer(request(JobType::RouterSetup, "b")));
        let mut got = vec![
            requests.recv().await.unwrap().resource_id,
            requests.recv().await.unwrap().resource_id,
        ];
        got.sort();
        assert_eq!(got, ["a", "b"]);
        requests.close();
        assert!(!queue.offer(request(JobType::RouterSetup, "c")));
        assert_eq!(
            queue.send(request(JobType::RouterSetup, "c")).await,
            Err(QueueClosed)
        );
        assert_eq!(requests.recv().await, None);
    }
}
