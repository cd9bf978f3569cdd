//! The periodic task that redoes failed jobs and picks up forgotten NEW
//! ones. The reference's `redo_failed_or_new_job` redid one job per
//! interval; here a failed job is tried again on a schedule of its own
//! ([`Backoff`]: seconds at first, growing up to `periodic_interval`), so a
//! passing fault costs seconds, not minutes, and a lasting one is not
//! hammered. Forgotten NEW jobs are still picked once per interval. A lock
//! older than `job_run_expire` (its worker died) is marked FAIL, so the
//! request it was serving is redone too.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};
use tokio_util::sync::CancellationToken;
use tricircle_config::DefaultOptions;
use tricircle_db::jobs::{self, JobFilter, JobRef, JobStatus};
use tricircle_db::models::AsyncJob;
use tricircle_db::{time, DbError};
use tricircle_vocab::JobType;

use crate::engine::{Engine, EngineError, LoopEnd, Report};

/// How often the task runs. The reference registers it with oslo.service's
/// default spacing (60 s) under a dynamic timer capped at 60 s; it does not
/// follow `report_interval`.
pub const INTERVAL: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeriodicSettings {
    /// `periodic_enable`.
    pub enabled: bool,
    /// The first run waits a random time in `0..=fuzzy_delay`
    /// (`periodic_fuzzy_delay`; zero starts at once).
    pub fuzzy_delay: Duration,
    /// Pause between the end of one run and the start of the next.
    pub interval: Duration,
}

impl PeriodicSettings {
    pub fn from_config(o: &DefaultOptions) -> PeriodicSettings {
        PeriodicSettings {
            enabled: o.periodic_enable,
            fuzzy_delay: Duration::from_secs(u64::try_from(o.periodic_fuzzy_delay).unwrap_or(0)),
            interval: u64::try_from(o.periodic_interval)
                .ok()
                .filter(|s| *s > 0)
                .map_or(INTERVAL, Duration::from_secs),
        }
    }
}

/// What one redo did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redo {
    pub job: JobRef,
    /// True when a NEW job was picked up, false for a failed job (for which
    /// a NEW row was recorded first).
    pub was_new: bool,
    pub report: Report,
}

/// A random index below `n` (n > 0). uuid's v4 generator is the random
/// source already linked in; the pick only needs to spread workers.
fn random_below(n: usize) -> usize {
    (uuid::Uuid::new_v4().as_u128() % n as u128) as usize
}

fn random_delay(max: Duration) -> Duration {
    if max.is_zero() {
        return Duration::ZERO;
    }
    let ms = u64::try_from(max.as_millis()).unwrap_or(u64::MAX);
    Duration::from_millis((uuid::Uuid::new_v4().as_u128() % (u128::from(ms) + 1)) as u64)
}

/// The admin context the reference uses for redos, with the job's project;
/// also what xjob's database poll runs NEW jobs with.
pub fn admin_context(project_id: Option<&str>) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("is_admin".into(), json!(true));
    m.insert("project_id".into(), json!(project_id));
    m.insert("tenant".into(), json!(project_id));
    m.insert(
        "request_id".into(),
        json!(format!("req-{}", uuid::Uuid::new_v4())),
    );
    m
}

/// One run of the task: among the (type, resource) pairs whose latest job
/// within `redo_time_span` is NEW or FAIL, and whose type has a handler,
/// pick one at random (NEW ones first) and run it. A failed one gets a NEW
/// row first. `Ok(None)` when there is nothing to do.
pub async fn redo_failed_or_new_job(engine: &Engine) -> Result<Option<Redo>, EngineError> {
    let span = engine.settings().redo_time_span;
    let (failed, new) = engine
        .db()
        .run(move |c| jobs::get_latest_failed_or_new_jobs(c, span))
        .await?;
    let served = |v: Vec<JobRef>| -> Vec<(JobType, JobRef)> {
        v.into_iter()
            .filter_map(|j| Some((j.job_type.parse::<JobType>().ok()?, j)))
            .filter(|(t, _)| engine.registry().contains(*t))
            .collect()
    };
    let (failed, new) = (served(failed), served(new));
    let (mut candidates, was_new) = if !new.is_empty() {
        (new, true)
    } else if !failed.is_empty() {
        (failed, false)
    } else {
        return Ok(None);
    };
    let (job_type, job) = candidates.swap_remove(random_below(candidates.len()));
    tracing::debug!(
        job_type = %job.job_type,
        resource_id = %job.resource_id,
        kind = if was_new { "new" } else { "failed" },
        "redoing job"
    );
    if !was_new {
        let j = job.clone();
        engine
            .db()
            .run(move |c| {
                jobs::new_job_for(c, j.project_id.as_deref(), &j.job_type, &j.resource_id)
            })
            .await?;
    }
    let report = engine
        .handle(
            job_type,
            &job.resource_id,
            admin_context(job.project_id.as_deref()),
        )
        .await?;
    Ok(Some(Redo {
        job,
        was_new,
        report,
    }))
}

/// The first wait before a failed job is tried again.
pub const FIRST_RETRY: Duration = Duration::from_secs(1);

/// A failed (type, resource) pair's retry schedule: the first retry
/// `first` after the failure is seen, each further one after twice the
/// last wait, never more than `max` apart. Time is passed in, so the
/// decisions are testable without waiting.
#[derive(Debug, Clone)]
pub struct Backoff {
    first: Duration,
    max: Duration,
    /// (job type, resource id) -> (failed runs seen, not before).
    failed: HashMap<(String, String), (u32, Instant)>,
}

impl Backoff {
    pub fn new(first: Duration, max: Duration) -> Backoff {
        Backoff {
            first,
            max: max.max(first),
            failed: HashMap::new(),
        }
    }

    /// The wait after the `n`th failure (1-based).
    pub fn wait_after(&self, n: u32) -> Duration {
        let factor = 1u32
            .checked_shl(n.saturating_sub(1).min(16))
            .unwrap_or(u32::MAX);
        self.first.saturating_mul(factor).min(self.max)
    }

    /// Whether the pair may be tried now. A failure not seen before is
    /// scheduled [`Backoff::wait_after`]`(1)` from `now`: a job that just
    /// failed is not run again at once.
    pub fn due(&mut self, job_type: &str, resource_id: &str, now: Instant) -> bool {
        let first = self.wait_after(1);
        let (_, at) = self
            .failed
            .entry((job_type.to_owned(), resource_id.to_owned()))
            .or_insert((1, now + first));
        now >= *at
    }

    /// A try failed at `now`: the next one waits longer. Answers that wait.
    pub fn failed(&mut self, job_type: &str, resource_id: &str, now: Instant) -> Duration {
        let key = (job_type.to_owned(), resource_id.to_owned());
        let n = self.failed.get(&key).map_or(0, |e| e.0).saturating_add(1);
        let wait = self.wait_after(n);
        self.failed.insert(key, (n, now + wait));
        wait
    }

    /// The pair converged: its next failure starts the schedule afresh.
    pub fn succeeded(&mut self, job_type: &str, resource_id: &str) {
        self.failed
            .remove(&(job_type.to_owned(), resource_id.to_owned()));
    }

    /// Forget pairs no longer failed (served by another worker, expired).
    pub fn keep_only(&mut self, failed: &[JobRef]) {
        self.failed.retain(|(t, r), _| {
            failed
                .iter()
                .any(|j| j.job_type == *t && j.resource_id == *r)
        });
    }
}

/// Redo every failed job whose [`Backoff`] says it is due at `now`, all at
/// once (the engine's worker slots bound them). A NEW row is recorded for
/// each first, as the reference does for a redo.
pub async fn redo_due_failed_jobs(
    engine: &Engine,
    backoff: &mut Backoff,
    now: Instant,
) -> Result<Vec<Redo>, EngineError> {
    let span = engine.settings().redo_time_span;
    let (failed, _) = engine
        .db()
        .run(move |c| jobs::get_latest_failed_or_new_jobs(c, span))
        .await?;
    backoff.keep_only(&failed);
    let due: Vec<(JobType, JobRef)> = failed
        .into_iter()
        .filter_map(|j| Some((j.job_type.parse::<JobType>().ok()?, j)))
        .filter(|(t, _)| engine.registry().contains(*t))
        .filter(|(_, j)| backoff.due(&j.job_type, &j.resource_id, now))
        .collect();
    for (_, j) in &due {
        let j = j.clone();
        engine
            .db()
            .run(move |c| {
                jobs::new_job_for(c, j.project_id.as_deref(), &j.job_type, &j.resource_id)
            })
            .await?;
    }
    let runs = due.iter().map(|(t, j)| {
        tracing::debug!(job_type = %j.job_type, resource_id = %j.resource_id, "redoing failed job");
        engine.handle(*t, &j.resource_id, admin_context(j.project_id.as_deref()))
    });
    let reports = futures_util::future::join_all(runs).await;
    let mut out = Vec::new();
    for ((_, job), report) in due.into_iter().zip(reports) {
        let report = report?;
        if report.end == LoopEnd::HandlerFailed {
            let wait = backoff.failed(&job.job_type, &job.resource_id, now);
            tracing::info!(job_type = %job.job_type, resource_id = %job.resource_id,
                retry_in_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                "redo failed; backing off");
        } else {
            backoff.succeeded(&job.job_type, &job.resource_id);
        }
        out.push(Redo {
            job,
            was_new: false,
            report,
        });
    }
    Ok(out)
}

/// Why a lock row taken over after `job_run_expire` failed (as the
/// engine's own takeover says).
const EXPIRED: &str = "expired: ran longer than job_run_expire without finishing; taken over";

/// Mark FAIL every lock (RUNNING) row older than `job_run_expire`: its
/// worker died mid-run (a killed xjob). The engine takes such a lock over
/// only when it handles the resource again, and the redo never picks a
/// resource whose newest row is that lock (neither FAIL nor NEW): without
/// this, the request the dead run was serving waits for the next request
/// on its resource, for ever if none comes. Once FAIL, the failed-job redo
/// runs it again on its backoff. Returns the rows marked.
pub async fn take_over_dead_locks(engine: &Engine) -> Result<Vec<AsyncJob>, EngineError> {
    let expire = engine.settings().job_run_expire;
    let backend = engine.db().backend();
    let running = JobFilter {
        status: Some(JobStatus::Running.as_stored().to_owned()),
        ..JobFilter::default()
    };
    let locks = engine
        .db()
        .run(move |c| jobs::list_jobs(c, &running, -1, None))
        .await?;
    let mut taken = Vec::new();
    for lock in locks {
        if !jobs::is_expired(&lock, time::now_for(backend), expire) {
            continue;
        }
        let id = lock.id.clone();
        let marked = engine
            .db()
            .transaction(move |c| {
                // Another worker may have finished or taken it meanwhile.
                let now = jobs::get_job(c, &id)?;
                if now.status.as_deref() != Some(JobStatus::Running.as_stored())
                    || !jobs::is_expired(&now, time::now(c), expire)
                {
                    return Ok(false);
                }
                let at = now.timestamp.unwrap_or_else(|| time::now(c));
                jobs::finish_job(c, &id, false, at)?;
                jobs::record_failure(c, &id, EXPIRED)?;
                Ok(true)
            })
            .await;
        match marked {
            Ok(true) => {
                tracing::warn!(job_type = ?lock.job_type, resource_id = ?lock.resource_id,
                    lock_id = %lock.id, "running job expired (its worker is gone); marked \
                    FAIL for the redo");
                taken.push(lock);
            }
            Ok(false) | Err(DbError::NotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(taken)
}

/// One run of the reference's pick restricted to NEW jobs (failed ones
/// follow their [`Backoff`]).
async fn redo_forgotten_new_job(engine: &Engine) -> Result<Option<Redo>, EngineError> {
    let span = engine.settings().redo_time_span;
    let (_, new) = engine
        .db()
        .run(move |c| jobs::get_latest_failed_or_new_jobs(c, span))
        .await?;
    let mut new: Vec<(JobType, JobRef)> = new
        .into_iter()
        .filter_map(|j| Some((j.job_type.parse::<JobType>().ok()?, j)))
        .filter(|(t, _)| engine.registry().contains(*t))
        .collect();
    if new.is_empty() {
        return Ok(None);
    }
    let (job_type, job) = new.swap_remove(random_below(new.len()));
    let report = engine
        .handle(
            job_type,
            &job.resource_id,
            admin_context(job.project_id.as_deref()),
        )
        .await?;
    Ok(Some(Redo {
        job,
        was_new: true,
        report,
    }))
}

/// How often the task looks for failed jobs that are due: the backoff's
/// first step, or the interval when that is shorter.
fn tick(settings: &PeriodicSettings) -> Duration {
    settings.interval.min(FIRST_RETRY)
}

/// Run the task until `stop` is cancelled. Errors are logged, never fatal.
pub async fn run(engine: Engine, settings: PeriodicSettings, stop: CancellationToken) {
    if !settings.enabled {
        tracing::info!("periodic redo task disabled (periodic_enable = false)");
        return;
    }
    let first = random_delay(settings.fuzzy_delay);
    tracing::debug!(
        delay_ms = first.as_millis() as u64,
        "periodic redo task scheduled"
    );
    tokio::select! {
        _ = stop.cancelled() => return,
        _ = tokio::time::sleep(first) => {}
    }
    let mut backoff = Backoff::new(tick(&settings), settings.interval);
    let mut last_new_pick: Option<Instant> = None;
    loop {
        // Not raced against `stop`: a redo in progress finishes its current
        // job (the engine stops looping once shut down).
        if last_new_pick.is_none_or(|t| t.elapsed() >= settings.interval) {
            last_new_pick = Some(Instant::now());
            match redo_forgotten_new_job(&engine).await {
                Ok(Some(r)) => log_redo(&engine, &r),
                Ok(None) => {}
                Err(e) => tracing::error!(error = %e, "periodic redo failed"),
            }
        }
        if let Err(e) = take_over_dead_locks(&engine).await {
            tracing::error!(error = %e, "periodic takeover of expired jobs failed");
        }
        match redo_due_failed_jobs(&engine, &mut backoff, Instant::now()).await {
            Ok(redos) => redos.iter().for_each(|r| log_redo(&engine, r)),
            Err(e) => tracing::error!(error = %e, "periodic redo failed"),
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(tick(&settings)) => {}
        }
    }
}

fn log_redo(engine: &Engine, r: &Redo) {
    engine.note_redo();
    tracing::info!(
        job_type = %r.job.job_type,
        resource_id = %r.job.resource_id,
        runs = r.report.runs.len(),
        end = ?r.report.end,
        "periodic redo done"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_picks_stay_in_range() {
        for n in 1..20 {
            assert!(random_below(n) < n);
        }
        assert_eq!(random_delay(Duration::ZERO), Duration::ZERO);
        assert!(random_delay(Duration::from_secs(2)) <= Duration::from_secs(2));
    }

    #[test]
    fn backoff_grows_from_seconds_to_the_interval_per_resource() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut b = Backoff::new(s(1), s(60));
        assert!(!b.due("router_setup", "a", t0), "a failure just seen waits");
        assert!(!b.due("router_setup", "a", t0 + Duration::from_millis(999)));
        assert!(b.due("router_setup", "a", t0 + s(1)));
        assert!(
            !b.due("router_setup", "b", t0 + s(1)),
            "each resource on its own"
        );
        assert!(b.due("router_setup", "b", t0 + s(2)));
        let waits: Vec<u64> = (1..=9).map(|n| b.wait_after(n).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
        let t1 = t0 + s(1);
        assert_eq!(b.failed("router_setup", "a", t1), s(2));
        assert!(!b.due("router_setup", "a", t1 + Duration::from_millis(1999)));
        assert!(b.due("router_setup", "a", t1 + s(2)));
        assert_eq!(b.failed("router_setup", "a", t1 + s(2)), s(4));
        b.succeeded("router_setup", "a");
        assert!(
            !b.due("router_setup", "a", t1 + s(2)),
            "a new failure starts afresh"
        );
        assert!(b.due("router_setup", "a", t1 + s(3)));
        // The interval caps it even when shorter than the first step.
        assert_eq!(
            Backoff::new(s(1), Duration::from_millis(20)).wait_after(3),
            s(1)
        );
    }

    #[test]
    fn defaults_follow_the_reference() {
        let o = tricircle_config::Config::load(&[]).unwrap().0.default;
        let s = PeriodicSettings::from_config(&o);
        assert!(s.enabled);
        assert_eq!(s.fuzzy_delay, Duration::from_secs(60));
        assert_eq!(s.interval, Duration::from_secs(60));
    }
}
