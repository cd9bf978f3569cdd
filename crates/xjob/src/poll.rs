//! Job intake without a message bus: when the configuration names no broker
//! (`tricircle_rpc::broker_configured`), the API only writes NEW rows, and
//! this task finds them. About every second it asks the jobs table for the
//! (type, resource, project) triples with NEW rows and queues a
//! [`JobRequest`] for each, as the bus consumer does for a cast. One grouped
//! query per tick, and a cheap one: `async_jobs` keeps only unfinished and
//! failed jobs (successes move to `async_job_logs`), so on an idle system
//! it reads a near-empty table.
//!
//! A triple already queued is not queued again while its newest NEW row is
//! the one it was queued for: the request is waiting for a worker, or its
//! job loop is running and takes newer rows itself. A NEW row recorded
//! after that is queued on the next tick. Whatever a lost request leaves
//! behind is the periodic redo's, as with a lost cast.

use std::collections::HashMap;
use std::time::Duration;

use chrono::NaiveDateTime;
use tricircle_db::{jobs, Db};
use tricircle_jobs::periodic::admin_context;
use tricircle_jobs::{JobQueue, JobRequest, JobType};
use tricircle_rpc::CancellationToken;

/// Pause between two looks at the table.
pub const INTERVAL: Duration = Duration::from_secs(1);

/// What one look queued.
#[derive(Debug, Default)]
pub struct Poller {
    /// (type, resource, project) -> the newest NEW row's time when it was
    /// queued.
    queued: HashMap<(JobType, String, Option<String>), Option<NaiveDateTime>>,
}

impl Poller {
    /// One look at the table: queue the NEW jobs not queued yet. Returns how
    /// many requests were queued.
    pub async fn tick(
        &mut self,
        db: &Db,
        queue: &JobQueue,
    ) -> Result<usize, tricircle_db::DbError> {
        let rows = db.run(jobs::new_jobs).await?;
        let mut still_new = HashMap::with_capacity(rows.len());
        let mut sent = 0;
        for row in rows {
            let Ok(job_type) = row.job_type.parse::<JobType>() else {
                // Not a type this xjob knows: the engine would refuse it.
                continue;
            };
            let key = (job_type, row.resource_id.clone(), row.project_id.clone());
            let done_before = self.queued.get(&key) == Some(&row.newest);
            if done_before {
                still_new.insert(key, row.newest);
                continue;
            }
            let request = JobRequest {
                job_type,
                resource_id: row.resource_id,
                context: admin_context(row.project_id.as_deref()),
            };
            // A full queue means every worker is busy: try again next tick.
            if queue.offer(request) {
                tracing::debug!(%job_type, resource_id = %key.1, "NEW job found in the database; queued");
                sent += 1;
                still_new.insert(key, row.newest);
            }
        }
        // Triples without NEW rows are forgotten, so a later job is queued.
        self.queued = still_new;
        Ok(sent)
    }
}

/// Poll until `stop` is cancelled.
pub async fn run(db: Db, queue: JobQueue, stop: CancellationToken) {
    tracing::info!(
        interval_ms = INTERVAL.as_millis() as u64,
        "polling the jobs table for NEW jobs"
    );
    let mut poller = Poller::default();
    let mut failing = false;
    loop {
        match poller.tick(&db, &queue).await {
            Ok(_) => {
                if failing {
                    tracing::info!("the jobs table answers again");
                }
                failing = false;
            }
            Err(e) => {
                // Once per outage, not once a second.
                if !failing {
                    tracing::warn!(error = %e, "cannot read the jobs table; retrying");
                }
                failing = true;
            }
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(INTERVAL) => {}
        }
    }
}
