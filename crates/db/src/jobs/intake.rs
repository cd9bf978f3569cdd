//! NEW rows of concurrent requests, written together.
//!
//! A job POST is a routing look-up and a one-row INSERT (its own commit).
//! Under load most of the cost of that is not the statements but the
//! trips: a hand-off to a database thread, two round trips to the server,
//! a commit, per POST. [`JobIntake`] queues the requests and a single
//! writer takes whatever queued up while its last batch was written: one
//! look-up of the routings of the whole batch and one multi-row INSERT (one
//! commit). At low load a batch is one request and costs what it did
//! before; a request never waits for a batch to fill.
//!
//! Each request gets its own answer: the batch INSERT is one statement
//! (all rows or none), and when it fails the batch's requests are written
//! one by one, so a request the database refuses fails alone and the
//! others are recorded.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use diesel::prelude::*;

use super::{insert_job, lease, uuid, JobStatus};
use crate::models::AsyncJob;
use crate::schema::resource_routings as rr;
use crate::{routings, time, AnyConnection, Backend, Db, DbError};

/// Requests per batch: one look-up's `IN` list, and one INSERT (of up to
/// 62 rows, `lease.rs`) per chunk of it.
const BATCH: usize = 256;

/// A request for a NEW row.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub project_id: String,
    pub job_type: String,
    pub resource_id: String,
    /// Record the job only if this resource is routed for the project.
    pub routed: Option<Routed>,
}

/// The routing a job's primary resource must have.
#[derive(Debug, Clone)]
pub struct Routed {
    pub top_id: String,
    pub resource_type: String,
}

/// What became of a request: `None` when its resource is not routed for
/// its project (nothing written).
pub type Recorded = Result<Option<AsyncJob>, DbError>;

type Reply = tokio::sync::oneshot::Sender<Recorded>;

#[derive(Default)]
struct Queue {
    pending: Vec<(NewJob, Reply)>,
    /// A writer is running; it takes what is pending before it stops.
    writing: bool,
}

/// Told the number of requests of each batch written (a metric).
pub type BatchObserver = Arc<dyn Fn(usize) + Send + Sync>;

/// Writes the NEW rows of concurrent requests in batches. Cheap to clone.
#[derive(Clone)]
pub struct JobIntake {
    db: Db,
    queue: Arc<Mutex<Queue>>,
    observer: Option<BatchObserver>,
}

impl JobIntake {
    pub fn new(db: Db) -> JobIntake {
        JobIntake {
            db,
            queue: Arc::default(),
            observer: None,
        }
    }

    /// Call `observer` with the size of each batch once it is written.
    pub fn observed(mut self, observer: BatchObserver) -> JobIntake {
        self.observer = Some(observer);
        self
    }

    /// Requests waiting for the writer (not those of the batch it is
    /// writing).
    pub fn queued(&self) -> usize {
        lock(&self.queue).pending.len()
    }

    /// Record `job` (after its routing check, if it has one) and return
    /// its row. Must be called within a tokio runtime: the first request
    /// finding no writer starts one there.
    pub async fn record(&self, job: NewJob) -> Recorded {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let start = {
            let mut q = lock(&self.queue);
            q.pending.push((job, tx));
            !std::mem::replace(&mut q.writing, true)
        };
        if start {
            let (db, queue) = (self.db.clone(), Arc::clone(&self.queue));
            let observer = self.observer.clone();
            // A task of its own: the writer runs while requests keep
            // coming, which must not hold up this request's answer.
            tokio::spawn(async move {
                let q = Arc::clone(&queue);
                let ran = db
                    .run(move |c| write_while_pending(c, &q, observer.as_deref()))
                    .await;
                if let Err(e) = ran {
                    // No connection (or the task died): whatever is still
                    // queued fails with the reason, and the next request
                    // starts a new writer.
                    let failed = {
                        let mut q = lock(&queue);
                        q.writing = false;
                        std::mem::take(&mut q.pending)
                    };
                    for (_, reply) in failed {
                        let _ = reply.send(Err(e.clone()));
                    }
                }
            });
        }
        rx.await
            .unwrap_or_else(|_| Err(DbError::Other("the job writer stopped".into())))
    }
}

fn lock(queue: &Mutex<Queue>) -> std::sync::MutexGuard<'_, Queue> {
    queue.lock().unwrap_or_else(|p| p.into_inner())
}

/// Write batches until nothing is pending, then let the next request
/// start a writer (decided under the queue's lock, so none is left behind).
fn write_while_pending(
    conn: &mut AnyConnection,
    queue: &Mutex<Queue>,
    observer: Option<&(dyn Fn(usize) + Send + Sync)>,
) -> Result<(), DbError> {
    loop {
        let batch = {
            let mut q = lock(queue);
            if q.pending.is_empty() {
                q.writing = false;
                return Ok(());
            }
            let n = q.pending.len().min(BATCH);
            q.pending.drain(..n).collect::<Vec<_>>()
        };
        let (jobs, replies): (Vec<NewJob>, Vec<Reply>) = batch.into_iter().unzip();
        let answers = record_batch(conn, &jobs);
        if let Some(observe) = observer {
            observe(jobs.len());
        }
        for (reply, recorded) in replies.into_iter().zip(answers) {
            let _ = reply.send(recorded);
        }
    }
}

/// Record `jobs`: one answer per job, in order.
pub fn record_batch(conn: &mut AnyConnection, jobs: &[NewJob]) -> Vec<Recorded> {
    // One request alone (low load) takes the fixed statements, prepared
    // once per connection; a batch's `IN` list and multi-row INSERT vary
    // in length, which MySQL prepares and closes each time.
    if let [job] = jobs {
        return vec![record_one(conn, job)];
    }
    let together = routed_of(conn, jobs).and_then(|routed| {
        let now = time::now(conn);
        let rows: Vec<Option<AsyncJob>> = jobs
            .iter()
            .zip(&routed)
            .map(|(j, &ok)| ok.then(|| new_row(j, now)))
            .collect();
        let written: Vec<AsyncJob> = rows.iter().flatten().cloned().collect();
        lease::insert_rows(conn, &written)?;
        Ok(rows)
    });
    match together {
        Ok(rows) => rows.into_iter().map(Ok).collect(),
        Err(_) if jobs.len() > 1 => jobs.iter().map(|j| record_one(conn, j)).collect(),
        Err(e) => vec![Err(e)],
    }
}

/// One job on its own: a batch of one, or one of a batch the database
/// refused.
fn record_one(conn: &mut AnyConnection, job: &NewJob) -> Recorded {
    if let Some(r) = &job.routed {
        if !routings::routed_for_project(conn, &r.top_id, &job.project_id, &r.resource_type)? {
            return Ok(None);
        }
    }
    insert_job(
        conn,
        Some(&job.project_id),
        &job.job_type,
        &job.resource_id,
        JobStatus::New,
        uuid(),
    )
    .map(Some)
}

fn new_row(job: &NewJob, now: chrono::NaiveDateTime) -> AsyncJob {
    AsyncJob {
        id: uuid(),
        project_id: Some(job.project_id.clone()),
        job_type: Some(job.job_type.clone()),
        timestamp: Some(now),
        status: Some(JobStatus::New.as_stored().to_owned()),
        resource_id: Some(job.resource_id.clone()),
        extra_id: Some(uuid()),
    }
}

/// Whether each job may be recorded: no routing asked for, or its
/// resource is routed for its project. One look-up of the batch's top ids;
/// on MySQL, whose comparisons ignore case and trailing spaces, a job that
/// no row matches exactly is looked up on its own, as the database
/// compares.
fn routed_of(conn: &mut AnyConnection, jobs: &[NewJob]) -> Result<Vec<bool>, DbError> {
    let key = |j: &NewJob, r: &Routed| {
        (
            r.top_id.clone(),
            j.project_id.clone(),
            r.resource_type.clone(),
        )
    };
    let asked: Vec<&str> = jobs
        .iter()
        .filter_map(|j| j.routed.as_ref())
        .filter(|r| crate::text::storable(&r.top_id, crate::text::width::TOP_ID))
        .map(|r| r.top_id.as_str())
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let mut found: HashSet<(String, String, String)> = HashSet::new();
    if !asked.is_empty() {
        let rows: Vec<(String, Option<String>, String)> = rr::table
            .filter(rr::top_id.eq_any(&asked))
            .select((rr::top_id, rr::project_id, rr::resource_type))
            .load(conn)?;
        found.extend(rows.into_iter().filter_map(|(t, p, ty)| Some((t, p?, ty))));
    }
    jobs.iter()
        .map(|j| match &j.routed {
            None => Ok(true),
            Some(r) if found.contains(&key(j, r)) => Ok(true),
            Some(r) if conn.backend() == Backend::Mysql => {
                routings::routed_for_project(conn, &r.top_id, &j.project_id, &r.resource_type)
            }
            Some(_) => Ok(false),
        })
        .collect()
}
