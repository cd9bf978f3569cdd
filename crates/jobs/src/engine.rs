//! The worker side of the job state machine, as the reference's
//! `_job_handle`: take the lock, run the handler, finish the job, and keep
//! going while newer NEW jobs for the same resource arrive (the invariants
//! are in `tricircle_db::jobs`). The database work of all loops is batched
//! (`batcher.rs`): a finish takes the lock again for the next run in its
//! own transaction, and one loop per (type, resource) runs in a process,
//! further requests for it only telling that loop to look again.

use std::collections::HashMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use serde_json::{Map, Value};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use tricircle_config::DefaultOptions;
use tricircle_db::jobs::{self, Claim, Claimed, Finish, Finished, Lease};
use tricircle_db::{time, Db, DbError};

use tricircle_openstack::calls::{JobCalls, Tally};
use tricircle_vocab::JobType;

use crate::batcher::Batcher;
use crate::handler::{Handler, JobContext};
use crate::queue::JobRequest;
use crate::recorded::Causes;
use crate::registry::Registry;

/// The `[DEFAULT]` options that drive the engine.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Jobs run at the same time in this process (`workers` ×
    /// `executor_thread_pool_size`).
    pub workers: usize,
    /// One call stops looping for newer jobs after this long.
    pub worker_handle_timeout: Duration,
    /// A RUNNING row older than this belongs to a dead worker.
    pub job_run_expire: Duration,
    /// Pause between lock attempts.
    pub worker_sleep_time: Duration,
    /// How far back the periodic redo looks.
    pub redo_time_span: Duration,
}

impl Default for Settings {
    /// The reference's defaults.
    fn default() -> Settings {
        Settings {
            workers: 1,
            worker_handle_timeout: Duration::from_secs(1800),
            job_run_expire: Duration::from_secs(180),
            worker_sleep_time: Duration::from_millis(100),
            redo_time_span: Duration::from_secs(172_800),
        }
    }
}

fn secs(v: i64) -> Duration {
    Duration::from_secs(u64::try_from(v).unwrap_or(0))
}

/// A bound on concurrent job loops, whatever the options multiply to.
const MAX_CONCURRENT_JOBS: usize = 1024;

impl Settings {
    pub fn from_config(o: &DefaultOptions) -> Settings {
        let sleep = if o.worker_sleep_time.is_finite() && o.worker_sleep_time > 0.0 {
            Duration::from_secs_f64(o.worker_sleep_time.min(86_400.0))
        } else {
            Duration::ZERO
        };
        Settings {
            // The original ran `workers` processes, each serving RPC with
            // an executor pool of `executor_thread_pool_size` threads: this
            // one process runs that many job loops at once.
            workers: usize::try_from(o.workers)
                .unwrap_or(1)
                .max(1)
                .saturating_mul(
                    usize::try_from(o.executor_thread_pool_size)
                        .unwrap_or(1)
                        .max(1),
                )
                .min(MAX_CONCURRENT_JOBS),
            worker_handle_timeout: secs(o.worker_handle_timeout),
            job_run_expire: secs(o.job_run_expire),
            worker_sleep_time: sleep,
            redo_time_span: secs(o.redo_time_span),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("no handler is registered for job type {0}")]
    NoHandler(JobType),
    #[error(transparent)]
    Db(#[from] DbError),
}

/// One handler run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    /// The NEW job served.
    pub job_id: String,
    /// The RUNNING (lock) row, which is what ends FAIL or in the log.
    pub lock_id: String,
    pub success: bool,
    /// The Neutron calls the handler made.
    pub calls: Tally,
}

/// Why a [`Engine::handle`] call stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoopEnd {
    /// No NEW job is left for the resource.
    NoNewJob,
    /// A success at least as new as the newest NEW job exists.
    AlreadyDone,
    /// Another live worker holds the lock and will serve newer jobs.
    LockHeld,
    /// The handler failed; the periodic redo retries it.
    HandlerFailed,
    /// `worker_handle_timeout` elapsed.
    Timeout,
    /// The service is stopping.
    ShuttingDown,
    /// Our lock row vanished while we ran (another worker took it over after
    /// it expired); our result is not recorded.
    LockLost,
}

/// What a [`Engine::handle`] call did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub runs: Vec<Run>,
    pub end: LoopEnd,
}

/// A counter snapshot for heartbeat logs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Calls currently holding a worker slot.
    pub busy: usize,
    pub succeeded: u64,
    pub failed: u64,
    /// Jobs the periodic task asked for again (failed or forgotten NEW).
    pub redos: u64,
}

/// One finished run, as an observer (metrics) sees it.
#[derive(Debug, Clone, Copy)]
pub struct RunRecord<'a> {
    pub job_type: &'a str,
    pub success: bool,
    pub elapsed: std::time::Duration,
}

/// Told of every finished run; set once with [`Engine::observe`].
pub type RunObserver = Arc<dyn Fn(&RunRecord<'_>) + Send + Sync>;

/// The right to run one job loop; `workers` of them exist.
#[derive(Debug)]
pub struct Slot(#[allow(dead_code)] OwnedSemaphorePermit);

struct Inner {
    db: Db,
    registry: Registry,
    settings: Settings,
    slots: Arc<Semaphore>,
    shutdown: CancellationToken,
    succeeded: AtomicU64,
    failed: AtomicU64,
    redos: AtomicU64,
    observer: std::sync::OnceLock<RunObserver>,
    batcher: Batcher,
    active: Active,
}

/// Runs jobs. Cheap to clone; clones share slots, counters and shutdown.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("db", &self.inner.db)
            .field("registry", &self.inner.registry)
            .field("settings", &self.inner.settings)
            .finish()
    }
}

/// The (type, resource) pairs this engine runs a loop for. A request for a
/// pair already being served only marks it: the loop looks for NEW jobs
/// after each run anyway, and looks once more before leaving when a
/// request came in since its last look.
#[derive(Default)]
struct Active {
    /// Pair -> a request came in since the loop's last look.
    loops: Mutex<HashMap<(JobType, String), bool>>,
}

impl Active {
    fn loops(&self) -> std::sync::MutexGuard<'_, HashMap<(JobType, String), bool>> {
        self.loops.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Serve the pair, unless a loop of this engine does already.
    fn enter(&self, t: JobType, resource_id: &str) -> Option<ActiveLoop<'_>> {
        let key = (t, resource_id.to_owned());
        let mut loops = self.loops();
        if let Some(asked) = loops.get_mut(&key) {
            *asked = true;
            return None;
        }
        loops.insert(key.clone(), false);
        Some(ActiveLoop {
            active: self,
            key,
            left: false,
        })
    }
}

struct ActiveLoop<'a> {
    active: &'a Active,
    key: (JobType, String),
    left: bool,
}

impl ActiveLoop<'_> {
    /// About to look at the NEW jobs: requests so far are seen by that look.
    fn looking(&self) {
        if let Some(asked) = self.active.loops().get_mut(&self.key) {
            *asked = false;
        }
    }

    /// Leave, unless a request came in since the last look (then look
    /// again: its NEW row may be newer than that look).
    fn leave(&mut self) -> bool {
        let mut loops = self.active.loops();
        match loops.get_mut(&self.key) {
            Some(asked) if *asked => {
                *asked = false;
                false
            }
            _ => {
                loops.remove(&self.key);
                self.left = true;
                true
            }
        }
    }
}

impl Drop for ActiveLoop<'_> {
    fn drop(&mut self) {
        if !self.left {
            self.active.loops().remove(&self.key);
        }
    }
}

impl Engine {
    pub fn new(db: Db, registry: Registry, settings: Settings) -> Engine {
        let slots = Arc::new(Semaphore::new(settings.workers.max(1)));
        let (db_for_batches, settings_expire) = (db.clone(), settings.job_run_expire);
        Engine {
            inner: Arc::new(Inner {
                db,
                registry,
                settings,
                slots,
                shutdown: CancellationToken::new(),
                succeeded: AtomicU64::new(0),
                failed: AtomicU64::new(0),
                redos: AtomicU64::new(0),
                observer: std::sync::OnceLock::new(),
                batcher: Batcher::start(db_for_batches, settings_expire),
                active: Active::default(),
            }),
        }
    }

    pub fn db(&self) -> &Db {
        &self.inner.db
    }

    pub fn registry(&self) -> &Registry {
        &self.inner.registry
    }

    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    /// Stop looping: running handlers complete and their jobs are finished,
    /// but no further job is started by any call.
    pub fn shutdown(&self) {
        self.inner.shutdown.cancel();
    }

    /// Cancelled when [`Engine::shutdown`] is called.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.inner.shutdown.clone()
    }

    pub fn is_shutting_down(&self) -> bool {
        self.inner.shutdown.is_cancelled()
    }

    pub fn stats(&self) -> Stats {
        let total = self.inner.settings.workers.max(1);
        Stats {
            busy: total.saturating_sub(self.inner.slots.available_permits()),
            succeeded: self.inner.succeeded.load(Ordering::Relaxed),
            failed: self.inner.failed.load(Ordering::Relaxed),
            redos: self.inner.redos.load(Ordering::Relaxed),
        }
    }

    /// Have `observer` told of every finished run from now on. Only the
    /// first observer set is kept (`false` for a later one).
    pub fn observe(&self, observer: RunObserver) -> bool {
        self.inner.observer.set(observer).is_ok()
    }

    /// Count a job the periodic task asked for again.
    pub fn note_redo(&self) {
        self.inner.redos.fetch_add(1, Ordering::Relaxed);
    }

    /// Wait for a free worker slot. Callers that feed the engine from a
    /// queue take the slot before taking the next message (back-pressure).
    pub async fn slot(&self) -> Slot {
        let permit = Arc::clone(&self.inner.slots)
            .acquire_owned()
            .await
            .expect("the engine never closes its semaphore");
        Slot(permit)
    }

    /// Run NEW jobs of `job_type` for `resource_id` (waits for a slot).
    pub async fn handle(
        &self,
        job_type: JobType,
        resource_id: &str,
        request: Map<String, Value>,
    ) -> Result<Report, EngineError> {
        let slot = self.slot().await;
        self.handle_in(
            slot,
            JobRequest {
                job_type,
                resource_id: resource_id.to_owned(),
                context: request,
            },
        )
        .await
    }

    /// Serve `request` in a slot the caller already holds.
    pub async fn handle_in(&self, slot: Slot, request: JobRequest) -> Result<Report, EngineError> {
        let JobRequest {
            job_type: t,
            resource_id,
            context,
        } = request;
        let handler = self
            .inner
            .registry
            .get(t)
            .ok_or(EngineError::NoHandler(t))?;
        let span = tracing::info_span!("job_loop", job_type = %t, resource_id);
        let r = self
            .job_loop(t, handler, resource_id, context)
            .instrument(span)
            .await;
        drop(slot);
        r
    }

    async fn sleep(&self) {
        let d = self.inner.settings.worker_sleep_time;
        if !d.is_zero() {
            tokio::time::sleep(d).await;
        }
    }

    /// Why the loop must stop before another run, if it must.
    fn stop_reason(&self, start: Instant) -> Option<LoopEnd> {
        if start.elapsed() >= self.inner.settings.worker_handle_timeout {
            tracing::info!("worker_handle_timeout reached; leaving newer jobs to others");
            return Some(LoopEnd::Timeout);
        }
        self.is_shutting_down().then_some(LoopEnd::ShuttingDown)
    }

    async fn job_loop(
        &self,
        t: JobType,
        handler: Arc<dyn Handler>,
        resource_id: String,
        request: Map<String, Value>,
    ) -> Result<Report, EngineError> {
        let Some(mut active) = self.inner.active.enter(t, &resource_id) else {
            tracing::debug!("served by a loop of this process, which looks for newer jobs");
            return Ok(Report {
                runs: Vec::new(),
                end: LoopEnd::LockHeld,
            });
        };
        let start = Instant::now();
        let mut runs: Vec<Run> = Vec::new();
        // The lease the last finish took for the next run, if any.
        let mut next: Option<Lease> = None;
        let end = loop {
            if let Some(end) = self.stop_reason(start) {
                if let Some(lease) = next.take() {
                    self.release(lease).await?;
                }
                break end;
            }
            let claimed = match next.take() {
                Some(lease) => Claimed::Run(lease),
                None => {
                    active.looking();
                    self.inner
                        .batcher
                        .claim(Claim {
                            job_type: t.name().to_owned(),
                            resource_id: resource_id.clone(),
                        })
                        .await?
                }
            };
            let lease = match claimed {
                Claimed::Run(lease) => lease,
                Claimed::Retry => {
                    tracing::debug!(
                        "the job seen was served by another worker meanwhile; looking again"
                    );
                    self.sleep().await;
                    continue;
                }
                other => {
                    let end = match other {
                        Claimed::AlreadyDone => LoopEnd::AlreadyDone,
                        Claimed::LockHeld { running } => {
                            tracing::debug!(?running, "another worker holds the lock");
                            LoopEnd::LockHeld
                        }
                        _ => LoopEnd::NoNewJob,
                    };
                    if active.leave() {
                        // A failed last run is what the periodic redo needs to know.
                        break match runs.last() {
                            Some(r) if !r.success => LoopEnd::HandlerFailed,
                            _ => end,
                        };
                    }
                    continue;
                }
            };
            let span = tracing::info_span!("job", job_id = %lease.job.id);
            if let Some(stale) = &lease.took_over {
                span.in_scope(|| {
                    tracing::warn!(
                        running = %stale,
                        "running job expired; marked FAIL, taking the lock over"
                    )
                });
            }
            let (run, failure, elapsed_ms) = self
                .run(t, &handler, &lease, &request)
                .instrument(span.clone())
                .await;
            let success = run.success;
            let then_claim = success && self.stop_reason(start).is_none();
            active.looking();
            let finished = self
                .inner
                .batcher
                .finish(Finish {
                    lease,
                    success,
                    reason: failure,
                    then_claim,
                })
                .await?;
            let tally = run.calls;
            runs.push(run);
            match finished {
                Finished::LockLost => {
                    span.in_scope(|| {
                        tracing::warn!(
                            "our lock row is gone (taken over after expiry); result not recorded"
                        )
                    });
                    break LoopEnd::LockLost;
                }
                Finished::Recorded { next: claimed } => {
                    if success {
                        span.in_scope(|| {
                            tracing::info!(
                                neutron_reads = tally.reads,
                                neutron_writes = tally.writes,
                                neutron_reads_cached = tally.cached,
                                elapsed_ms,
                                "job succeeded"
                            )
                        });
                    }
                    if !success {
                        if active.leave() {
                            break LoopEnd::HandlerFailed;
                        }
                        continue;
                    }
                    match claimed {
                        // No pause after a success: a newer request is
                        // served at once (the reference slept
                        // worker_sleep_time here, which only delayed
                        // convergence).
                        Some(Claimed::Run(lease)) => next = Some(lease),
                        Some(Claimed::AlreadyDone) if active.leave() => {
                            break LoopEnd::AlreadyDone;
                        }
                        Some(Claimed::AlreadyDone) => {}
                        Some(_) if active.leave() => break LoopEnd::NoNewJob,
                        // Stopping (the check at the top says why), or
                        // a request came in meanwhile: loop again.
                        Some(_) | None => {}
                    }
                }
            }
        };
        tracing::debug!(runs = runs.len(), end = ?end, "job loop done");
        Ok(Report { runs, end })
    }

    /// Give back a lease taken for a run that will not happen.
    async fn release(&self, lease: Lease) -> Result<(), EngineError> {
        let id = lease.lock.id;
        match self.inner.db.run(move |c| jobs::delete_job(c, &id)).await {
            Ok(()) | Err(DbError::NotFound(_)) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Await `run` while keeping lock row `lock_id` dated now, every third
    /// of `job_run_expire`: a run longer than that is alive, and another
    /// worker must not take its lock over as a dead one's (two runs of one
    /// resource at once).
    async fn with_heartbeat<T>(&self, lock_id: &str, run: impl Future<Output = T>) -> T {
        let every = self.inner.settings.job_run_expire / 3;
        if every.is_zero() {
            return run.await;
        }
        tokio::pin!(run);
        loop {
            tokio::select! {
                out = &mut run => return out,
                () = tokio::time::sleep(every) => {
                    let id = lock_id.to_owned();
                    let touch = move |c: &mut _| jobs::touch_lock(c, &id, time::now_for(c.backend()));
                    match self.inner.db.run(touch).await {
                        Ok(true) => tracing::debug!("run still going; its lock row dated now"),
                        Ok(false) => tracing::warn!("our lock row is gone or no longer a lock; the run goes on, its result will not be recorded"),
                        Err(e) => tracing::warn!(error = %e, "could not date our lock row now; will try again"),
                    }
                }
            }
        }
    }

    /// Run the handler for `lease`; the run, why it failed, and how long it
    /// took.
    async fn run(
        &self,
        t: JobType,
        handler: &Arc<dyn Handler>,
        lease: &Lease,
        request: &Map<String, Value>,
    ) -> (Run, Option<String>, u64) {
        let (job, lock) = (&lease.job, &lease.lock);
        tracing::info!(lock_id = %lock.id, "job started");
        let ctx = JobContext::new(
            job.id.clone(),
            lock.id.clone(),
            t,
            job.resource_id.clone().unwrap_or_default(),
            job.project_id.clone(),
            request.clone(),
        );
        let started = Instant::now();
        let since = lease.claimed_at.unwrap_or(started);
        let causes =
            crate::recorded::latest(&lease.seen).map_or(Causes::before(since), |c| Causes {
                before: c.before.min(since),
                ..c
            });
        let calls = JobCalls::since(job.id.clone(), t.name(), since);
        let outcome = self
            .with_heartbeat(
                &lock.id,
                calls.scope(crate::recorded::serving(
                    causes,
                    AssertUnwindSafe(handler.handle(&ctx)).catch_unwind(),
                )),
            )
            .await;
        let tally = calls.tally();
        let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        // Why it failed, kept with the FAIL row for the API to show.
        let failure: Option<String> = match outcome {
            Ok(Ok(())) => None,
            Ok(Err(e)) => {
                tracing::error!(error = %e, neutron_reads = tally.reads, neutron_writes = tally.writes,
                    neutron_reads_cached = tally.cached, elapsed_ms, "job failed");
                Some(e.to_string())
            }
            Err(panic) => {
                let message = panic_message(&*panic);
                tracing::error!(
                    panic = message,
                    neutron_reads = tally.reads,
                    neutron_writes = tally.writes,
                    elapsed_ms,
                    "job handler panicked"
                );
                Some(format!("the job handler panicked: {message}"))
            }
        };
        let success = failure.is_none();
        let counter = if success {
            &self.inner.succeeded
        } else {
            &self.inner.failed
        };
        counter.fetch_add(1, Ordering::Relaxed);
        if let Some(observe) = self.inner.observer.get() {
            observe(&RunRecord {
                job_type: t.name(),
                success,
                elapsed: started.elapsed(),
            });
        }
        let run = Run {
            job_id: job.id.clone(),
            lock_id: lock.id.clone(),
            success,
            calls: tally,
        };
        (run, failure, elapsed_ms)
    }
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> &str {
    p.downcast_ref::<&str>()
        .copied()
        .or_else(|| p.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("non-string panic payload")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_clamp_odd_config_values() {
        let mut o = tricircle_config::Config::load(&[]).unwrap().0.default;
        assert_eq!(
            Settings::from_config(&o),
            Settings {
                workers: 64,
                ..Settings::default()
            }
        );
        o.workers = 2;
        assert_eq!(Settings::from_config(&o).workers, 128);
        o.executor_thread_pool_size = 0;
        assert_eq!(Settings::from_config(&o).workers, 2);
        o.workers = 0;
        o.worker_sleep_time = -1.0;
        o.job_run_expire = -5;
        let s = Settings::from_config(&o);
        assert_eq!(s.workers, 1);
        assert_eq!(s.worker_sleep_time, Duration::ZERO);
        assert_eq!(s.job_run_expire, Duration::ZERO);
    }

    #[test]
    fn panic_messages_are_extracted() {
        assert_eq!(panic_message(&"static"), "static");
        assert_eq!(panic_message(&String::from("owned")), "owned");
        assert_eq!(panic_message(&42u8), "non-string panic payload");
    }
}
