//! The asynchronous job table and its state machine.
//!
//! The rows and their meaning are the reference's (its Python API and
//! plugins may share the database), and these invariants hold whichever
//! path writes them:
//!
//! 1. A request is a NEW row (`new_job`), one per request, dated when it was
//!    recorded; nothing else creates NEW rows.
//! 2. The lock of a (type, resource) is its RUNNING row with the fixed extra
//!    id [`SP_EXTRA_ID`]: the unique key on (type, status, resource_id,
//!    extra_id) lets only one exist, so at most one run of a (type,
//!    resource) is under way at any time, across processes. Taking it is an
//!    INSERT that may hit that key ([`register_job`], [`claim_runs`]);
//!    releasing it removes the row or gives it a fresh extra id.
//! 3. A run serves the newest NEW row seen under the lock, and is dated at
//!    that row's time. Finishing it ([`finish_job`], [`finish_runs`]):
//!    - on success deletes every row of the (type, resource) up to the run's
//!      time (the requests it served, older failures, its lock row) and
//!      writes one `async_job_logs` row at that time;
//!    - on failure marks the lock row FAIL at the run's time (releasing the
//!      lock) and deletes the strictly older rows; the FAIL row stays, and
//!      is redone (a NEW row first) by the periodic task.
//!
//!    The requests a run serves are the NEW rows read when its lock was
//!    taken (the handler starts after that read): [`finish_runs`] deletes
//!    a NEW row only if that read saw it ([`Lease::seen`]), so a request
//!    recorded after the claim stays for the next run even when it is
//!    dated at or before the run's time (MySQL stores whole seconds, and a
//!    request's time is taken before its INSERT commits). `finish_job`,
//!    the reference's step, goes by time alone. Failure reasons
//!    (`async_job_failures`, ours alone) go with their FAIL rows.
//!    [`finish_runs`] counts a row without a time as the oldest (served by
//!    any run, if seen); `finish_job`'s SQL comparison leaves it.
//! 4. A worker that finds the lock held leaves the NEW rows to the holder,
//!    which looks for them after releasing it; "held" is what the lock
//!    INSERT says (it waits for a release under way), never a read alone,
//!    so a request recorded before the lock was found held is seen by the
//!    holder. A lock row older than `job_run_expire` belongs to a dead
//!    worker and is taken over: marked FAIL as by a failed run, then the
//!    lock taken again. A live run keeps its lock row's time fresh
//!    ([`touch_lock`], every third of `job_run_expire`), so a run longer
//!    than that is not taken for a dead one.
//! 5. SUCCESS rows never stay in `async_jobs` (a success moves to the log);
//!    a newer one than the newest NEW row still means "already done", as
//!    the reference reads it.
//!
//! [`register_job`] / [`finish_job`] are the reference's one-job steps;
//! [`claim_runs`] / [`finish_runs`] (the engine's path, `lease.rs`) do the
//! same for many pairs in one transaction each, with a fixed number of
//! statements per batch.

mod intake;
mod lease;

pub use intake::{record_batch, BatchObserver, JobIntake, NewJob, Recorded, Routed};

pub use lease::{
    batch_session, batch_transaction, claim_runs, finish_runs, run_batch, Claim, Claimed, Finish,
    Finished, Lease,
};

use chrono::{Duration as ChronoDuration, NaiveDateTime};
use diesel::prelude::*;
use serde::Serialize;

use crate::models::{AsyncJob, AsyncJobLog};
use crate::schema::{async_job_failures as failures, async_job_logs as logs, async_jobs as aj};
use crate::{time, AnyConnection, Backend, DbError};
pub use tricircle_vocab::JobStatus;

/// Every status a job row can have, as stored.
const ALL_STATUSES: [&str; 4] = [
    JobStatus::Fail.as_stored(),
    JobStatus::Success.as_stored(),
    JobStatus::Running.as_stored(),
    JobStatus::New.as_stored(),
];
/// extra_id of the RUNNING row that acts as the lock.
pub const SP_EXTRA_ID: &str = "00000000-0000-0000-0000-000000000000";

fn uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Equality filters for [`list_jobs`] / [`list_jobs_from_log`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobFilter {
    /// `Some(None)` selects rows whose project_id IS NULL.
    pub project_id: Option<Option<String>>,
    pub job_type: Option<String>,
    /// A stored status ([`JobStatus::as_stored`], or any other value a
    /// caller filters by: the reference does not validate it).
    pub status: Option<String>,
}

impl JobFilter {
    /// Whether some row could match: a value no column can hold matches
    /// nothing, and is not sent to the database (where it may be an error).
    fn can_match(&self) -> bool {
        use crate::text::{storable, width};
        let fits = |v: &Option<String>| v.as_deref().is_none_or(|v| storable(v, width::ID));
        fits(&self.job_type) && fits(&self.status) && fits(&self.project_id.clone().flatten())
    }
}

fn insert_job(
    conn: &mut AnyConnection,
    project_id: Option<&str>,
    job_type: &str,
    resource_id: &str,
    status: JobStatus,
    extra_id: String,
) -> Result<AsyncJob, DbError> {
    let job = job_row(
        project_id,
        job_type,
        resource_id,
        status,
        extra_id,
        time::now(conn),
    );
    diesel::insert_into(aj::table).values(&job).execute(conn)?;
    Ok(job)
}

/// A job row with a fresh id, dated `at`.
fn job_row(
    project_id: Option<&str>,
    job_type: &str,
    resource_id: &str,
    status: JobStatus,
    extra_id: String,
    at: NaiveDateTime,
) -> AsyncJob {
    AsyncJob {
        id: uuid(),
        project_id: project_id.map(str::to_string),
        job_type: Some(job_type.to_string()),
        timestamp: Some(at),
        status: Some(status.as_stored().to_string()),
        resource_id: Some(resource_id.to_string()),
        extra_id: Some(extra_id),
    }
}

/// Record a NEW job (a request to run `job_type` on `resource_id`).
pub fn new_job(
    conn: &mut AnyConnection,
    project_id: &str,
    job_type: &str,
    resource_id: &str,
) -> Result<AsyncJob, DbError> {
    new_job_for(conn, Some(project_id), job_type, resource_id)
}

/// [`new_job`] for a project that may be unknown: the periodic redo copies
/// the project of an existing row, which the schema allows to be NULL.
pub fn new_job_for(
    conn: &mut AnyConnection,
    project_id: Option<&str>,
    job_type: &str,
    resource_id: &str,
) -> Result<AsyncJob, DbError> {
    insert_job(
        conn,
        project_id,
        job_type,
        resource_id,
        JobStatus::New,
        uuid(),
    )
}

/// Take the lock for (`job_type`, `resource_id`) by inserting the RUNNING
/// lock row. `Ok(None)` when another worker holds it (duplicate key) or the
/// insert deadlocked, as the reference.
pub fn register_job(
    conn: &mut AnyConnection,
    project_id: &str,
    job_type: &str,
    resource_id: &str,
) -> Result<Option<AsyncJob>, DbError> {
    register_job_for(conn, Some(project_id), job_type, resource_id)
}

/// [`register_job`] for a project that may be unknown (see [`new_job_for`]).
pub fn register_job_for(
    conn: &mut AnyConnection,
    project_id: Option<&str>,
    job_type: &str,
    resource_id: &str,
) -> Result<Option<AsyncJob>, DbError> {
    // Savepoint: a duplicate must not abort a surrounding PostgreSQL transaction.
    let r = conn.transaction(|c| {
        insert_job(
            c,
            project_id,
            job_type,
            resource_id,
            JobStatus::Running,
            SP_EXTRA_ID.to_string(),
        )
    });
    match r {
        Ok(j) => Ok(Some(j)),
        Err(DbError::Duplicate(_)) | Err(DbError::Deadlock(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

pub fn get_job(conn: &mut AnyConnection, id: &str) -> Result<AsyncJob, DbError> {
    aj::table
        .find(id)
        .select(AsyncJob::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| DbError::NotFound(format!("job {id}")))
}

pub fn get_job_from_log(conn: &mut AnyConnection, id: &str) -> Result<AsyncJobLog, DbError> {
    logs::table
        .find(id)
        .select(AsyncJobLog::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| DbError::NotFound(format!("job {id}")))
}

/// A job found by id: live jobs are in `async_jobs`, finished ones in
/// `async_job_logs` (finishing gives the log row a new id, so an id is in
/// one table only).
#[derive(Debug, Clone, PartialEq)]
pub enum FoundJob {
    Live(AsyncJob),
    Logged(AsyncJobLog),
}

/// The job `id` from the live table, else from the log.
pub fn find_job(conn: &mut AnyConnection, id: &str) -> Result<Option<FoundJob>, DbError> {
    if !crate::text::storable(id, crate::text::width::ID) {
        return Ok(None);
    }
    match get_job(conn, id) {
        Ok(j) => return Ok(Some(FoundJob::Live(j))),
        Err(DbError::NotFound(_)) => {}
        Err(e) => return Err(e),
    }
    match get_job_from_log(conn, id) {
        Ok(l) => Ok(Some(FoundJob::Logged(l))),
        Err(DbError::NotFound(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// A live run's heartbeat: date its lock row `lock_id` at `now`, so that
/// no worker takes it for a dead one's. False when the row is no longer a
/// lock (taken over, or finished).
pub fn touch_lock(
    conn: &mut AnyConnection,
    lock_id: &str,
    now: NaiveDateTime,
) -> Result<bool, DbError> {
    let now = crate::time::truncate_for(conn.backend(), now);
    let n = diesel::update(
        aj::table
            .find(lock_id)
            .filter(aj::status.eq(JobStatus::Running.as_stored()))
            .filter(aj::extra_id.eq(SP_EXTRA_ID)),
    )
    .set(aj::timestamp.eq(now))
    .execute(conn)?;
    Ok(n > 0)
}

pub fn delete_job(conn: &mut AnyConnection, id: &str) -> Result<(), DbError> {
    let n = diesel::delete(aj::table.find(id)).execute(conn)?;
    if n == 0 {
        return Err(DbError::NotFound(format!("job {id}")));
    }
    diesel::delete(failures::table.find(id)).execute(conn)?;
    Ok(())
}

/// Narrows the boxed query `$q` over the job table `$t` (`async_jobs` or
/// `async_job_logs`) to one page newest first: the filter's project and
/// type, the rows after `$marker` (a row of that table), and `$limit` (none
/// when negative). A macro because the two tables' columns have the same
/// names but distinct types.
macro_rules! newest_first_page {
    ($t:ident, $q:expr, $filter:expr, $limit:expr, $marker:expr) => {{
        let mut q = $q;
        match &$filter.project_id {
            Some(Some(p)) => q = q.filter($t::project_id.eq(p.clone())),
            Some(None) => q = q.filter($t::project_id.is_null()),
            None => {}
        }
        if let Some(t) = &$filter.job_type {
            q = q.filter($t::job_type.eq(t.clone()));
        }
        if let Some(m) = $marker {
            q = match m.timestamp {
                Some(ts) => q.filter(
                    $t::timestamp
                        .lt(ts)
                        .or($t::timestamp.eq(ts).and($t::id.lt(m.id.clone()))),
                ),
                None => q.filter($t::timestamp.is_null().and($t::id.lt(m.id.clone()))),
            };
        }
        q = q.order(($t::timestamp.desc(), $t::id.desc()));
        if $limit >= 0 {
            q = q.limit($limit);
        }
        q
    }};
}

/// One page of `async_jobs`, newest first (timestamp DESC, id DESC),
/// starting after `marker`. A negative `limit` means no limit.
pub fn list_jobs(
    conn: &mut AnyConnection,
    filter: &JobFilter,
    limit: i64,
    marker: Option<&AsyncJob>,
) -> Result<Vec<AsyncJob>, DbError> {
    if !filter.can_match() {
        return Ok(Vec::new());
    }
    let mut q = aj::table.select(AsyncJob::as_select()).into_boxed();
    if let Some(s) = &filter.status {
        q = q.filter(aj::status.eq(s.clone()));
    }
    newest_first_page!(aj, q, filter, limit, marker)
        .load(conn)
        .map_err(Into::into)
}

/// Like [`list_jobs`] for finished jobs in `async_job_logs`. Log rows have no
/// status: a status filter other than SUCCESS yields nothing, a SUCCESS
/// filter is ignored (as the reference).
pub fn list_jobs_from_log(
    conn: &mut AnyConnection,
    filter: &JobFilter,
    limit: i64,
    marker: Option<&AsyncJobLog>,
) -> Result<Vec<AsyncJobLog>, DbError> {
    if filter
        .status
        .as_deref()
        .is_some_and(|s| s != JobStatus::Success.as_stored())
        || !filter.can_match()
    {
        return Ok(Vec::new());
    }
    let q = logs::table.select(AsyncJobLog::as_select()).into_boxed();
    newest_first_page!(logs, q, filter, limit, marker)
        .load(conn)
        .map_err(Into::into)
}

/// The newest job with this status, type and resource.
pub fn get_latest_job(
    conn: &mut AnyConnection,
    status: JobStatus,
    job_type: &str,
    resource_id: &str,
) -> Result<Option<AsyncJob>, DbError> {
    Ok(aj::table
        .filter(aj::status.eq(status.as_stored()))
        .filter(aj::job_type.eq(job_type))
        .filter(aj::resource_id.eq(resource_id))
        .order((aj::timestamp.desc(), aj::id.desc()))
        .select(AsyncJob::as_select())
        .first(conn)
        .optional()?)
}

/// The RUNNING row (lock) of this type and resource, if any.
pub fn get_running_job(
    conn: &mut AnyConnection,
    job_type: &str,
    resource_id: &str,
) -> Result<Option<AsyncJob>, DbError> {
    Ok(aj::table
        .filter(aj::resource_id.eq(resource_id))
        .filter(aj::status.eq(JobStatus::Running.as_stored()))
        .filter(aj::job_type.eq(job_type))
        .select(AsyncJob::as_select())
        .first(conn)
        .optional()?)
}

/// Whether the RUNNING row `running` is older than `job_run_expire` at
/// `now`, i.e. its worker is presumed dead and the lock may be taken over.
/// The taker marks it FAIL with [`finish_job`] (which also releases the lock)
/// and registers again, as the reference does. A row without a timestamp
/// cannot be dated and counts as expired.
pub fn is_expired(
    running: &AsyncJob,
    now: NaiveDateTime,
    job_run_expire: std::time::Duration,
) -> bool {
    let Some(ts) = running.timestamp else {
        return true;
    };
    let expire = ChronoDuration::from_std(job_run_expire).unwrap_or(ChronoDuration::MAX);
    now.signed_duration_since(ts) > expire
}

/// Mark job `job_id` finished at `timestamp`.
///
/// The job gets the final status, `timestamp` and a fresh extra id (which
/// releases the lock). On success every row of the same type and resource
/// with timestamp <= `timestamp` (the job itself included) is deleted and a
/// log row is written; on failure only strictly older rows are deleted.
/// Runs in a transaction (a savepoint inside the caller's); callers retry
/// deadlocks through [`crate::Db::transaction`].
pub fn finish_job(
    conn: &mut AnyConnection,
    job_id: &str,
    successful: bool,
    timestamp: NaiveDateTime,
) -> Result<(), DbError> {
    // Compare at the precision stored, so "older than this job" means the
    // same thing on every backend.
    let timestamp = time::truncate_for(conn.backend(), timestamp);
    conn.transaction(|c| {
        let job = get_job(c, job_id)?;
        let status = if successful {
            JobStatus::Success
        } else {
            JobStatus::Fail
        };
        diesel::update(aj::table.find(job_id))
            .set((
                aj::status.eq(status.as_stored()),
                aj::timestamp.eq(timestamp),
                aj::extra_id.eq(uuid()),
            ))
            .execute(c)?;
        // SQL `=` never matches NULL; the reference's ORM filter behaves so too.
        let prune_upto = if successful {
            timestamp
        } else {
            // One tick below, so that the failed job itself survives.
            timestamp - ChronoDuration::microseconds(1)
        };
        // Naming every status changes no result (no writer stores another)
        // but lets MySQL find the rows through the unique key (type, status,
        // resource_id): without it the DELETE scans, and under REPEATABLE
        // READ locks, the whole table, serialising every finish and
        // deadlocking with concurrent inserts.
        let pruned = aj::table
            .filter(aj::job_type.eq(job.job_type.clone()))
            .filter(aj::status.eq_any(ALL_STATUSES))
            .filter(aj::resource_id.eq(job.resource_id.clone()))
            .filter(aj::timestamp.le(prune_upto));
        diesel::delete(
            failures::table.filter(failures::job_id.eq_any(pruned.clone().select(aj::id))),
        )
        .execute(c)?;
        diesel::delete(pruned).execute(c)?;
        if successful {
            let log = AsyncJobLog {
                id: uuid(),
                project_id: job.project_id.clone(),
                resource_id: job.resource_id.clone(),
                job_type: job.job_type.clone(),
                timestamp: Some(timestamp),
            };
            diesel::insert_into(logs::table).values(&log).execute(c)?;
        }
        Ok(())
    })
}

/// Seconds since the oldest NEW job was asked for, if any waits (a job
/// waiting long means no xjob takes them).
pub fn oldest_new_age(conn: &mut AnyConnection) -> Result<Option<f64>, DbError> {
    use diesel::dsl::min;
    let oldest: Option<NaiveDateTime> = aj::table
        .filter(aj::status.eq(JobStatus::New.as_stored()))
        .select(min(aj::timestamp))
        .first(conn)?;
    let now = time::now(conn);
    Ok(oldest.map(|t| ((now - t).num_milliseconds().max(0) as f64) / 1000.0))
}

/// Longest failure reason kept, in characters.
pub const REASON_WIDTH: usize = 4000;

/// Keep why the job `job_id` (a FAIL row) failed, replacing what was kept
/// for it before. The text is cut to [`REASON_WIDTH`] and stripped of NUL,
/// which PostgreSQL cannot store.
pub fn record_failure(conn: &mut AnyConnection, job_id: &str, reason: &str) -> Result<(), DbError> {
    let mut text: String = reason
        .chars()
        .filter(|c| *c != '\0')
        .take(REASON_WIDTH)
        .collect();
    if text.is_empty() {
        text = "unknown".to_owned();
    }
    let now = time::now(conn);
    conn.transaction(|c| {
        diesel::delete(failures::table.find(job_id)).execute(c)?;
        diesel::insert_into(failures::table)
            .values((
                failures::job_id.eq(job_id),
                failures::reason.eq(&text),
                failures::timestamp.eq(Some(now)),
            ))
            .execute(c)?;
        Ok(())
    })
}

/// The kept failure reasons of the jobs among `ids` that have one.
pub fn failure_reasons(
    conn: &mut AnyConnection,
    ids: &[String],
) -> Result<std::collections::HashMap<String, String>, DbError> {
    if ids.is_empty() {
        return Ok(Default::default());
    }
    Ok(failures::table
        .filter(failures::job_id.eq_any(ids))
        .select((failures::job_id, failures::reason))
        .load::<(String, String)>(conn)?
        .into_iter()
        .collect())
}

/// A (type, resource, project) with NEW jobs waiting, and when the newest
/// of them was recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewJobs {
    pub job_type: String,
    pub resource_id: String,
    pub project_id: Option<String>,
    pub newest: Option<NaiveDateTime>,
}

/// (type, resource, project, newest timestamp) as selected.
type NewJobsRow = (
    Option<String>,
    Option<String>,
    Option<String>,
    Option<NaiveDateTime>,
);

/// Every (type, resource, project) with NEW rows: one grouped query, for
/// xjob's poll of the table when no message bus wakes it up.
pub fn new_jobs(conn: &mut AnyConnection) -> Result<Vec<NewJobs>, DbError> {
    let rows: Vec<NewJobsRow> = aj::table
        .filter(aj::status.eq(JobStatus::New.as_stored()))
        .group_by((aj::job_type, aj::resource_id, aj::project_id))
        .select((
            aj::job_type,
            aj::resource_id,
            aj::project_id,
            diesel::dsl::max(aj::timestamp),
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(|(t, r, project_id, newest)| {
            Some(NewJobs {
                job_type: t?,
                resource_id: r?,
                project_id,
                newest,
            })
        })
        .collect())
}

/// A (type, resource) pair picked for redo.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, diesel::QueryableByName)]
pub struct JobRef {
    #[serde(rename = "type")]
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub job_type: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub resource_id: String,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    pub project_id: Option<String>,
    #[serde(skip)]
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    pub status: Option<String>,
}

/// For every (type, resource) with a job in the last `redo_time_span`:
/// take its newest row(s) and, per project, the "smallest" status among
/// them (FAIL < SUCCESS < RUNNING < NEW). Returns the pairs whose status is
/// FAIL and those whose status is NEW, as the reference.
pub fn get_latest_failed_or_new_jobs(
    conn: &mut AnyConnection,
    redo_time_span: std::time::Duration,
) -> Result<(Vec<JobRef>, Vec<JobRef>), DbError> {
    let span = ChronoDuration::from_std(redo_time_span)
        .map_err(|_| DbError::InvalidInput("redo_time_span is too large".into()))?;
    let since = time::now(conn) - span;
    // Raw SQL: diesel's DSL cannot join a grouped subquery. Identifier
    // quoting and placeholders differ per backend.
    let (q, p) = match conn.backend() {
        Backend::Mysql => ('`', "?"),
        Backend::Sqlite => ('"', "?"),
        Backend::Postgres => ('"', "$1"),
    };
    let sql = format!(
        "SELECT j.{q}type{q} AS job_type, j.resource_id AS resource_id, \
                j.project_id AS project_id, MIN(j.status) AS status \
         FROM async_jobs j \
         JOIN (SELECT {q}type{q} AS t, resource_id AS r, MAX({q}timestamp{q}) AS ts \
               FROM async_jobs WHERE {q}timestamp{q} >= {p} \
               GROUP BY {q}type{q}, resource_id) latest \
           ON j.{q}type{q} = latest.t AND j.resource_id = latest.r \
              AND j.{q}timestamp{q} = latest.ts \
         GROUP BY j.project_id, j.{q}type{q}, j.resource_id"
    );
    let rows: Vec<JobRef> = diesel::sql_query(sql)
        .bind::<diesel::sql_types::Timestamp, _>(since)
        .load(conn)?;
    let mut failed = Vec::new();
    let mut new = Vec::new();
    for r in rows {
        match r.status.as_deref().and_then(JobStatus::from_stored) {
            Some(JobStatus::Fail) => failed.push(r),
            Some(JobStatus::New) => new.push(r),
            _ => {}
        }
    }
    Ok((failed, new))
}
