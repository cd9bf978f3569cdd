//! The engine's hot path: runs of many (type, resource) pairs claimed in
//! one transaction and finished in another, whatever their number (a claim
//! batch is three statements, a finish batch six, plus one UPDATE per
//! failed run). The rows and rules are those of [`super::register_job`] and
//! [`super::finish_job`] (the invariants are in [`super`]'s doc); call
//! [`claim_runs`] and [`finish_runs`] inside [`batch_transaction`] (or
//! [`run_batch`]).
//!
//! Lock rows are inserted and locked in (type, resource) order, so two
//! batches of different workers wait for each other in one direction only.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use chrono::{Duration as ChronoDuration, NaiveDateTime};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;

use super::{is_expired, uuid, JobStatus, ALL_STATUSES, SP_EXTRA_ID};
use crate::models::{AsyncJob, AsyncJobLog};
use crate::schema::{async_job_failures as failures, async_job_logs as logs, async_jobs as aj};
use crate::{time, AnyConnection, Backend, Db, DbError, Session};

/// `$body` on the backend's own connection `$c`: for what diesel builds
/// per backend only (multi-row inserts, INSERT IGNORE, FOR UPDATE).
macro_rules! on_each {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            AnyConnection::Mysql($c) => $body,
            AnyConnection::Pg($c) => $body,
            AnyConnection::Sqlite($c) => $body,
        }
    };
}

/// Ids per `IN (...)` list: below every backend's bound on parameters.
const CHUNK: usize = 500;

/// Ask for the lock of (`job_type`, `resource_id`) to serve its newest NEW
/// job.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Claim {
    pub job_type: String,
    pub resource_id: String,
}

/// A run the holder may start: it holds the lock row `lock` and serves the
/// NEW job `job`, the newest one when the lock was taken.
#[derive(Debug, Clone, PartialEq)]
pub struct Lease {
    /// The RUNNING row: the lock, and the row that ends FAIL (or in the log).
    pub lock: AsyncJob,
    pub job: AsyncJob,
    /// The run's time: the served job's, so that finishing prunes exactly
    /// the requests it served (the reference's rule).
    pub served_at: NaiveDateTime,
    /// The expired lock row that was marked FAIL to take this one.
    pub took_over: Option<String>,
    /// The NEW rows read when the lock was taken (`job` among them): the
    /// requests this run serves, and the only NEW rows its finish deletes.
    /// A request recorded after that read may carry a time up to the run's
    /// (MySQL keeps whole seconds; a time is taken before its INSERT
    /// commits), so time alone cannot tell it from a served one.
    pub seen: Vec<String>,
    /// When the transaction that took it had committed, as whoever ran it
    /// noted: every request the run serves was recorded before then, so
    /// what the Neutron servers answer to reads sent since is fresh enough
    /// for the run (runs claimed together share their reads). `None` when
    /// not noted: the run's own start counts.
    pub claimed_at: Option<std::time::Instant>,
}

impl Lease {
    fn key(&self) -> (String, String) {
        (
            self.lock.job_type.clone().unwrap_or_default(),
            self.lock.resource_id.clone().unwrap_or_default(),
        )
    }
}

// A claim's answer is moved once and dropped; boxing the lease would
// allocate on every run.
#[allow(clippy::large_enum_variant)]
/// What a claim found.
#[derive(Debug, Clone, PartialEq)]
pub enum Claimed {
    /// The lock is ours: run.
    Run(Lease),
    /// No NEW job waits.
    NoNewJob,
    /// A success at least as new as the newest NEW job exists.
    AlreadyDone,
    /// Another worker holds the lock (its row's id when it was seen) and
    /// will serve the NEW jobs: it looks for them after releasing it.
    LockHeld { running: Option<String> },
    /// The lock was free, but the NEW job seen was served by another worker
    /// meanwhile: look again.
    Retry,
}

/// Finish the run of `lease`.
#[derive(Debug, Clone, PartialEq)]
pub struct Finish {
    pub lease: Lease,
    pub success: bool,
    /// Why it failed, kept with the FAIL row ([`super::record_failure`]).
    pub reason: Option<String>,
    /// After a success, take the lock again for the newest NEW job left,
    /// in the same transaction (no other worker sees the lock free).
    pub then_claim: bool,
}

// A claim's answer is moved once and dropped; boxing the lease would
// allocate on every run.
#[allow(clippy::large_enum_variant)]
/// What finishing did.
#[derive(Debug, Clone, PartialEq)]
pub enum Finished {
    /// Recorded as the reference's `finish_job`; `next` is the claim asked
    /// for with [`Finish::then_claim`] (never [`Claimed::LockHeld`] nor
    /// [`Claimed::Retry`]).
    Recorded { next: Option<Claimed> },
    /// The lock row is no longer ours (it expired and was taken over):
    /// nothing was recorded.
    LockLost,
}

/// Run `f` in a transaction for [`claim_runs`] / [`finish_runs`]. On MySQL
/// it is READ COMMITTED: each statement reads what is committed when it
/// starts (the batches read again after taking locks), and no gap locks
/// hold up the API's inserts of NEW rows. PostgreSQL's default is that
/// already; there the planner is told to use the indexes: the table's
/// statistics are mostly those of a near-empty table (rows come and go),
/// with which it scanned a table grown by a burst whole for every IN list
/// (measured: 40-50 ms per statement instead of 0.5). SQLite has one
/// writer at a time.
///
/// Those settings are made for this transaction alone (a statement each);
/// [`run_batch`] on a pool opened with them ([`Db::for_job_batches`])
/// makes none.
pub fn batch_transaction<T>(
    conn: &mut AnyConnection,
    f: impl FnOnce(&mut AnyConnection) -> Result<T, DbError>,
) -> Result<T, DbError> {
    match conn.backend() {
        Backend::Mysql => {
            conn.batch_execute("SET TRANSACTION ISOLATION LEVEL READ COMMITTED")?;
            conn.transaction(f)
        }
        Backend::Postgres => conn.transaction(|c| {
            c.batch_execute(
                "SELECT set_config('enable_seqscan', 'off', true), \
                 set_config('enable_bitmapscan', 'off', true)",
            )?;
            f(c)
        }),
        Backend::Sqlite => conn.transaction(f),
    }
}

/// [`batch_transaction`]'s settings for a whole session: what a pool for
/// the batches alone sets once per connection ([`crate::Session::JobBatches`]).
pub fn batch_session(backend: Backend) -> Option<&'static str> {
    match backend {
        Backend::Mysql => Some("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED"),
        Backend::Postgres => Some("SET enable_seqscan = off; SET enable_bitmapscan = off"),
        Backend::Sqlite => None,
    }
}

/// Run `f` as [`batch_transaction`] does, on a connection of `db`: without
/// the per-transaction settings when `db`'s connections have them already.
pub fn run_batch<T>(
    db: &Db,
    f: impl FnOnce(&mut AnyConnection) -> Result<T, DbError>,
) -> Result<T, DbError> {
    let mut pooled = db.get()?;
    let conn: &mut AnyConnection = &mut pooled;
    match db.session() {
        Session::JobBatches => conn.transaction(f),
        Session::Plain => batch_transaction(conn, f),
    }
}

/// (timestamp, id), NULL timestamps lowest: the reference's "newest"
/// (ORDER BY timestamp DESC, id DESC) on every backend.
fn newest<'a>(rows: impl Iterator<Item = &'a AsyncJob>) -> Option<&'a AsyncJob> {
    rows.max_by(|a, b| (a.timestamp, &a.id).cmp(&(b.timestamp, &b.id)))
}

fn has_status(j: &AsyncJob, s: JobStatus) -> bool {
    j.status.as_deref() == Some(s.as_stored())
}

fn is_lock_row(j: &AsyncJob) -> bool {
    has_status(j, JobStatus::Running) && j.extra_id.as_deref() == Some(SP_EXTRA_ID)
}

/// Resource ids per job type, sorted.
fn by_type<'a>(
    keys: impl Iterator<Item = &'a (String, String)>,
) -> BTreeMap<&'a str, Vec<&'a str>> {
    let mut m: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (t, r) in keys {
        m.entry(t.as_str()).or_default().push(r.as_str());
    }
    for v in m.values_mut() {
        v.sort_unstable();
        v.dedup();
    }
    m
}

/// Every row of the given (type, resource) pairs, by pair. Through the
/// unique key (type, status, resource_id): every status is named.
fn rows_of(
    conn: &mut AnyConnection,
    keys: &[(String, String)],
) -> Result<HashMap<(String, String), Vec<AsyncJob>>, DbError> {
    let mut out: HashMap<(String, String), Vec<AsyncJob>> = HashMap::new();
    for (t, rids) in by_type(keys.iter()) {
        for chunk in rids.chunks(CHUNK) {
            let rows: Vec<AsyncJob> = aj::table
                .filter(aj::job_type.eq(t))
                .filter(aj::status.eq_any(ALL_STATUSES))
                .filter(aj::resource_id.eq_any(chunk))
                .select(AsyncJob::as_select())
                .load(conn)?;
            for r in rows {
                let key = (t.to_owned(), r.resource_id.clone().unwrap_or_default());
                out.entry(key).or_default().push(r);
            }
        }
    }
    Ok(out)
}

/// Job rows as tuples with every value bound (NULL included), so one
/// multi-row INSERT serves every backend.
type LockValues = (
    diesel::dsl::Eq<aj::id, String>,
    diesel::dsl::Eq<aj::job_type, Option<String>>,
    diesel::dsl::Eq<aj::timestamp, Option<NaiveDateTime>>,
    diesel::dsl::Eq<aj::status, Option<String>>,
    diesel::dsl::Eq<aj::resource_id, Option<String>>,
    diesel::dsl::Eq<aj::extra_id, Option<String>>,
    diesel::dsl::Eq<aj::project_id, Option<String>>,
);

fn values(j: &AsyncJob) -> LockValues {
    (
        aj::id.eq(j.id.clone()),
        aj::job_type.eq(j.job_type.clone()),
        aj::timestamp.eq(j.timestamp),
        aj::status.eq(j.status.clone()),
        aj::resource_id.eq(j.resource_id.clone()),
        aj::extra_id.eq(j.extra_id.clone()),
        aj::project_id.eq(j.project_id.clone()),
    )
}

type LogValues = (
    diesel::dsl::Eq<logs::id, String>,
    diesel::dsl::Eq<logs::resource_id, Option<String>>,
    diesel::dsl::Eq<logs::job_type, Option<String>>,
    diesel::dsl::Eq<logs::timestamp, Option<NaiveDateTime>>,
    diesel::dsl::Eq<logs::project_id, Option<String>>,
);

fn log_values(l: &AsyncJobLog) -> LogValues {
    (
        logs::id.eq(l.id.clone()),
        logs::resource_id.eq(l.resource_id.clone()),
        logs::job_type.eq(l.job_type.clone()),
        logs::timestamp.eq(l.timestamp),
        logs::project_id.eq(l.project_id.clone()),
    )
}

fn lock_row(
    job_type: &str,
    resource_id: &str,
    project_id: Option<String>,
    now: NaiveDateTime,
) -> AsyncJob {
    super::job_row(
        project_id.as_deref(),
        job_type,
        resource_id,
        JobStatus::Running,
        SP_EXTRA_ID.to_owned(),
        now,
    )
}

/// Insert `rows` (lock rows; NEW rows of `intake.rs`), a multi-row INSERT
/// per chunk.
pub(super) fn insert_rows(conn: &mut AnyConnection, rows: &[AsyncJob]) -> Result<(), DbError> {
    for chunk in rows.chunks(CHUNK / 8) {
        let v: Vec<LockValues> = chunk.iter().map(values).collect();
        on_each!(conn, |c| diesel::insert_into(aj::table)
            .values(v)
            .execute(c))?;
    }
    Ok(())
}

/// Insert the lock rows `rows` (sorted by type and resource), skipping
/// those whose lock is held: whoever holds it is seen by the caller's look
/// at the ids afterwards.
fn insert_locks_unless_held(conn: &mut AnyConnection, rows: &[AsyncJob]) -> Result<(), DbError> {
    for chunk in rows.chunks(CHUNK / 8) {
        let v: Vec<LockValues> = chunk.iter().map(values).collect();
        match conn {
            AnyConnection::Mysql(c) => {
                diesel::insert_or_ignore_into(aj::table)
                    .values(v)
                    .execute(c)?;
            }
            AnyConnection::Sqlite(c) => {
                diesel::insert_or_ignore_into(aj::table)
                    .values(v)
                    .execute(c)?;
            }
            AnyConnection::Pg(c) => {
                diesel::insert_into(aj::table)
                    .values(v)
                    .on_conflict_do_nothing()
                    .execute(c)?;
            }
        }
    }
    Ok(())
}

/// Which of `ids` exist.
fn existing(conn: &mut AnyConnection, ids: &[&str]) -> Result<HashSet<String>, DbError> {
    let mut out = HashSet::new();
    for chunk in ids.chunks(CHUNK) {
        out.extend(
            aj::table
                .filter(aj::id.eq_any(chunk))
                .select(aj::id)
                .load::<String>(conn)?,
        );
    }
    Ok(out)
}

fn delete_ids(conn: &mut AnyConnection, ids: &[&str]) -> Result<usize, DbError> {
    let mut n = 0;
    for chunk in ids.chunks(CHUNK) {
        n += diesel::delete(aj::table.filter(aj::id.eq_any(chunk))).execute(conn)?;
    }
    Ok(n)
}

/// A lock row a claim tries to insert, and the run it would start.
struct Try {
    lock: AsyncJob,
    /// The newest NEW row read: the job to serve.
    job: AsyncJob,
    /// The expired lock row marked FAIL.
    took_over: Option<String>,
    /// The live lock row read.
    live: Option<String>,
    /// Every NEW row read ([`Lease::seen`]).
    seen: Vec<String>,
}

/// The ids of the NEW rows among `rows`.
fn new_ids(rows: &[AsyncJob]) -> Vec<String> {
    rows.iter()
        .filter(|j| has_status(j, JobStatus::New))
        .map(|j| j.id.clone())
        .collect()
}

// A claim's answer is moved once and dropped; boxing the lease would
// allocate on every run.
#[allow(clippy::large_enum_variant)]
/// The decision for one pair from its rows: the job to serve, or why not.
enum Look<'a> {
    Serve(&'a AsyncJob),
    Nothing(Claimed),
}

fn look(rows: &[AsyncJob]) -> Look<'_> {
    let Some(job) = newest(rows.iter().filter(|j| has_status(j, JobStatus::New))) else {
        return Look::Nothing(Claimed::NoNewJob);
    };
    let done = newest(rows.iter().filter(|j| has_status(j, JobStatus::Success)));
    if done.is_some_and(|d| d.timestamp >= job.timestamp) {
        return Look::Nothing(Claimed::AlreadyDone);
    }
    Look::Serve(job)
}

/// Take the lock of every claimed pair that has a NEW job, in one
/// transaction (three statements): read the pairs' rows, insert the lock
/// rows of those with a NEW job (a duplicate is skipped; the insert waits
/// for a finish releasing the lock, where a read would still see it), then
/// look which lock rows and served jobs exist. A lock held longer than
/// `job_run_expire` at `now` is taken over as the reference does: its row
/// is finished FAIL (with a reason) and the lock taken.
///
/// One answer per claim, in order; a pair claimed twice is answered once
/// ([`Claimed::LockHeld`] for the repeat).
pub fn claim_runs(
    conn: &mut AnyConnection,
    claims: &[Claim],
    now: NaiveDateTime,
    job_run_expire: Duration,
) -> Result<Vec<Claimed>, DbError> {
    let now = time::truncate_for(conn.backend(), now);
    let keys: Vec<(String, String)> = claims
        .iter()
        .map(|c| (c.job_type.clone(), c.resource_id.clone()))
        .collect();
    let mut rows = rows_of(conn, &keys)?;
    let mut answers: HashMap<(String, String), Claimed> = HashMap::new();
    let mut tries: BTreeMap<(String, String), Try> = BTreeMap::new();
    for key in &keys {
        if answers.contains_key(key) || tries.contains_key(key) {
            continue;
        }
        let rows = rows.remove(key).unwrap_or_default();
        let job = match look(&rows) {
            Look::Nothing(c) => {
                answers.insert(key.clone(), c);
                continue;
            }
            Look::Serve(j) => j.clone(),
        };
        let served_at = job.timestamp.unwrap_or(now);
        let mut took_over = None;
        let mut live = None;
        if let Some(running) = rows.iter().find(|j| is_lock_row(j)) {
            if is_expired(running, now, job_run_expire) {
                // Its worker is presumed dead: FAIL it (releasing the
                // lock), as the reference does before registering again.
                super::finish_job(conn, &running.id, false, served_at)?;
                super::record_failure(
                    conn,
                    &running.id,
                    "expired: ran longer than job_run_expire without finishing; taken over",
                )?;
                took_over = Some(running.id.clone());
            } else {
                // Held when read, but maybe being released by a finish not
                // committed yet (which read the NEW rows before ours came):
                // only the insert, which waits for that finish, can tell.
                live = Some(running.id.clone());
            }
        }
        let lock = lock_row(&key.0, &key.1, job.project_id.clone(), now);
        let seen = new_ids(&rows);
        tries.insert(
            key.clone(),
            Try {
                lock,
                job,
                took_over,
                live,
                seen,
            },
        );
    }
    if !tries.is_empty() {
        let locks: Vec<AsyncJob> = tries.values().map(|t| t.lock.clone()).collect();
        insert_locks_unless_held(conn, &locks)?;
        let ids: Vec<&str> = tries
            .values()
            .flat_map(|t| [t.lock.id.as_str(), t.job.id.as_str()])
            .collect();
        let present = existing(conn, &ids)?;
        let mut release = Vec::new();
        for (key, t) in tries {
            let Try {
                lock,
                job,
                took_over,
                live,
                seen,
            } = t;
            let answer = if !present.contains(&lock.id) {
                // Held (maybe taken between the look and the insert).
                Claimed::LockHeld { running: live }
            } else if !present.contains(&job.id) {
                // Another worker served it between the look and the insert.
                release.push(lock.id);
                Claimed::Retry
            } else {
                let served_at = job.timestamp.unwrap_or(now);
                Claimed::Run(Lease {
                    lock,
                    job,
                    served_at,
                    took_over,
                    seen,
                    claimed_at: None,
                })
            };
            answers.insert(key, answer);
        }
        let release: Vec<&str> = release.iter().map(String::as_str).collect();
        delete_ids(conn, &release)?;
    }
    let mut out = Vec::with_capacity(keys.len());
    for key in keys {
        out.push(
            answers
                .remove(&key)
                .unwrap_or(Claimed::LockHeld { running: None }),
        );
    }
    Ok(out)
}

/// Lock rows (id, resource) of `job_type` on `rids` that hold the lock,
/// locked for this transaction in index order (SQLite has one writer).
fn lock_rows_for_update(
    conn: &mut AnyConnection,
    job_type: &str,
    rids: &[&str],
) -> Result<Vec<String>, DbError> {
    let q = aj::table
        .filter(aj::job_type.eq(job_type))
        .filter(aj::status.eq(JobStatus::Running.as_stored()))
        .filter(aj::resource_id.eq_any(rids))
        .filter(aj::extra_id.eq(SP_EXTRA_ID))
        .select(aj::id);
    Ok(match conn {
        AnyConnection::Mysql(c) => q.for_update().load(c)?,
        AnyConnection::Pg(c) => q.for_update().load(c)?,
        AnyConnection::Sqlite(c) => q.load(c)?,
    })
}

/// Finish the runs `finishes` (one per pair) in one transaction, each as
/// [`super::finish_job`] would at the lease's time, but deleting only the
/// NEW rows its claim read ([`Lease::seen`]): the lock rows still ours are
/// locked; successes delete theirs, failures mark theirs FAIL; then the
/// pairs' rows are read, those the runs served are deleted (successes:
/// every row up to the run's time; failures: strictly older ones) with
/// their failure reasons, successes get their log rows, and a run asking
/// for it gets the lock again for the newest NEW job left (a request
/// recorded during the run, even one dated in the run's second).
///
/// Releasing the lock before reading the NEW rows is what keeps a request
/// from being dropped: a worker that found the lock held before the
/// release saw a row this read sees too; one that tried after it waited
/// for this transaction.
pub fn finish_runs(
    conn: &mut AnyConnection,
    finishes: &[Finish],
    now: NaiveDateTime,
) -> Result<Vec<Finished>, DbError> {
    let backend = conn.backend();
    let now = time::truncate_for(backend, now);
    let keys: Vec<(String, String)> = finishes.iter().map(|f| f.lease.key()).collect();
    let mut held: HashSet<String> = HashSet::new();
    for (t, rids) in by_type(keys.iter()) {
        for chunk in rids.chunks(CHUNK) {
            held.extend(lock_rows_for_update(conn, t, chunk)?);
        }
    }
    let ours: Vec<&Finish> = finishes
        .iter()
        .filter(|f| held.contains(&f.lease.lock.id))
        .collect();
    let done: Vec<&str> = ours
        .iter()
        .filter(|f| f.success)
        .map(|f| f.lease.lock.id.as_str())
        .collect();
    delete_ids(conn, &done)?;
    for f in ours.iter().filter(|f| !f.success) {
        let at = time::truncate_for(backend, f.lease.served_at);
        diesel::update(aj::table.find(&f.lease.lock.id))
            .set((
                aj::status.eq(JobStatus::Fail.as_stored()),
                aj::timestamp.eq(at),
                aj::extra_id.eq(uuid()),
            ))
            .execute(conn)?;
    }
    let ours_keys: Vec<(String, String)> = ours.iter().map(|f| f.lease.key()).collect();
    let mut rows = rows_of(conn, &ours_keys)?;
    let mut prune: Vec<String> = Vec::new();
    let mut pruned_failures: Vec<String> = Vec::new();
    let mut log_rows = Vec::new();
    let mut relock: Vec<AsyncJob> = Vec::new();
    let mut answers: HashMap<String, Finished> = HashMap::new();
    for f in &ours {
        let at = time::truncate_for(backend, f.lease.served_at);
        // One tick below for a failure, so that the failed row survives.
        let upto = if f.success {
            at
        } else {
            at - ChronoDuration::microseconds(1)
        };
        let rows = rows.remove(&f.lease.key()).unwrap_or_default();
        let seen: HashSet<&str> = f.lease.seen.iter().map(String::as_str).collect();
        let (gone, left): (Vec<AsyncJob>, Vec<AsyncJob>) = rows.into_iter().partition(|j| {
            // A row without a time counts as the oldest: served by any run.
            j.timestamp.is_none_or(|ts| ts <= upto)
                // A request only if the claim read it (see `Lease::seen`).
                && (!has_status(j, JobStatus::New) || seen.contains(j.id.as_str()))
        });
        for j in gone {
            if has_status(&j, JobStatus::Fail) {
                pruned_failures.push(j.id.clone());
            }
            prune.push(j.id);
        }
        let next = if f.success {
            log_rows.push(AsyncJobLog {
                id: uuid(),
                project_id: f.lease.lock.project_id.clone(),
                resource_id: f.lease.lock.resource_id.clone(),
                job_type: f.lease.lock.job_type.clone(),
                timestamp: Some(at),
            });
            f.then_claim.then(|| match look(&left) {
                Look::Nothing(c) => c,
                Look::Serve(job) => {
                    let (t, r) = f.lease.key();
                    let lock = lock_row(&t, &r, job.project_id.clone(), now);
                    relock.push(lock.clone());
                    Claimed::Run(Lease {
                        lock,
                        job: job.clone(),
                        served_at: job.timestamp.unwrap_or(now),
                        took_over: None,
                        seen: new_ids(&left),
                        claimed_at: None,
                    })
                }
            })
        } else {
            None
        };
        answers.insert(f.lease.lock.id.clone(), Finished::Recorded { next });
    }
    let prune: Vec<&str> = prune.iter().map(String::as_str).collect();
    delete_ids(conn, &prune)?;
    for chunk in pruned_failures.chunks(CHUNK) {
        diesel::delete(failures::table.filter(failures::job_id.eq_any(chunk))).execute(conn)?;
    }
    for f in ours.iter().filter(|f| !f.success) {
        super::record_failure(
            conn,
            &f.lease.lock.id,
            f.reason.as_deref().unwrap_or("unknown"),
        )?;
    }
    for chunk in log_rows.chunks(CHUNK / 8) {
        let v: Vec<LogValues> = chunk.iter().map(log_values).collect();
        on_each!(conn, |c| diesel::insert_into(logs::table)
            .values(v)
            .execute(c))?;
    }
    insert_rows(conn, &relock)?;
    Ok(finishes
        .iter()
        .map(|f| {
            answers
                .remove(&f.lease.lock.id)
                .unwrap_or(Finished::LockLost)
        })
        .collect())
}
