//! NEW rows of concurrent requests, written together.
//!
//! A job POST is a routing look-up and a one-row INSERT (its own commit).
//! Under load most of the cost of that is not the statements but the
//! trips: a hand-off to a database thread, two round trips to the server,
//! a commit, per POST. [`JobIntake`] queues the requests and a writer
//! thread takes whatever queued up while its last batch was written
//! ([`crate::batching`]): one look-up of the routings of the whole batch
//! and one multi-row INSERT (one commit). At low load a batch is one
//! request and costs what it did before; a request never waits for a
//! batch to fill.
//!
//! Each request gets its own answer: the batch INSERT is one statement
//! (all rows or none), and when it fails the batch's requests are written
//! one by one, so a request the database refuses fails alone and the
//! others are recorded.

use std::collections::HashSet;
use std::sync::Arc;

use diesel::prelude::*;

use super::{insert_job, job_row, lease, uuid, JobStatus};
use crate::batching::Batches;
use crate::models::AsyncJob;
use crate::schema::resource_routings as rr;
use crate::{routings, time, AnyConnection, Backend, Db, DbError};

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

/// Told the number of requests of each batch written (a metric).
pub type BatchObserver = Arc<dyn Fn(usize) + Send + Sync>;

/// Requests per batch: one look-up's `IN` list, and one INSERT (of up to
/// 62 rows, `lease.rs`) per chunk of it.
const BATCH: usize = 256;

/// Writes the NEW rows of concurrent requests in batches, on a thread of
/// its own ([`crate::batching`]). Cheap to clone.
#[derive(Clone)]
pub struct JobIntake {
    writer: Batches<NewJob, Option<AsyncJob>>,
}

impl JobIntake {
    pub fn new(db: Db) -> JobIntake {
        Self::start(db, None)
    }

    /// [`JobIntake::new`], calling `observer` with the size of each batch
    /// once it is written.
    pub fn observed(db: Db, observer: BatchObserver) -> JobIntake {
        Self::start(db, Some(observer))
    }

    fn start(db: Db, observer: Option<BatchObserver>) -> JobIntake {
        let writer = Batches::start("job-intake", 1, BATCH, move |jobs: Vec<NewJob>| {
            match db.get() {
                Ok(mut conn) => {
                    let answers = record_batch(&mut conn, &jobs);
                    if let Some(observe) = &observer {
                        observe(jobs.len());
                    }
                    answers
                }
                Err(e) => jobs.iter().map(|_| Err(e.clone())).collect(),
            }
        });
        JobIntake { writer }
    }

    /// Requests waiting for the writer (not those of the batch it is
    /// writing).
    pub fn queued(&self) -> usize {
        self.writer.queued()
    }

    /// Record `job` (after its routing check, if it has one) and return
    /// its row.
    pub async fn record(&self, job: NewJob) -> Recorded {
        self.writer.call(job).await
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
    job_row(
        Some(&job.project_id),
        &job.job_type,
        &job.resource_id,
        JobStatus::New,
        uuid(),
        now,
    )
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
