//! The engine against real databases (SQLite always; MariaDB and PostgreSQL
//! when their test servers are configured), with handlers made up here.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{Duration as ChronoDuration, NaiveDateTime};
use diesel::prelude::*;
use serde_json::{json, Map, Value};
use tricircle_db::jobs::{self, JobStatus};
use tricircle_db::models::AsyncJob;
use tricircle_db::schema::async_jobs;
use tricircle_db::testing::{each_backend, job_logs, job_statuses};
use tricircle_db::{time, Db, PoolOptions};
use tricircle_jobs::periodic::{redo_due_failed_jobs, take_over_dead_locks, Backoff};
use tricircle_jobs::JobType;
use tricircle_jobs::{
    handler_fn, redo_failed_or_new_job, Engine, EngineError, HandlerError, JobContext, LoopEnd,
    Registry, Report, Settings,
};

const CONFIGURE_ROUTE: &str = JobType::ConfigureRoute.name();

fn settings() -> Settings {
    Settings {
        workers: 4,
        worker_handle_timeout: Duration::from_secs(120),
        job_run_expire: Duration::from_secs(180),
        worker_sleep_time: Duration::from_millis(5),
        redo_time_span: Duration::from_secs(3600),
    }
}

fn request() -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("request_id".into(), json!("req-test"));
    m
}

fn engine_with(db: Db, registry: Registry) -> Engine {
    Engine::new(db, registry, settings())
}

fn registry_of(h: impl tricircle_jobs::Handler + 'static) -> Registry {
    let mut r = Registry::new();
    r.register_handler(JobType::ConfigureRoute, h).unwrap();
    r
}

/// A handler that counts its calls and succeeds.
fn counting(calls: &Arc<AtomicUsize>) -> impl tricircle_jobs::Handler + 'static {
    let c2 = Arc::clone(calls);
    handler_fn(move |_| {
        c2.fetch_add(1, Ordering::SeqCst);
        async { Ok(()) }
    })
}

/// One `handle` of the configure_route job on `r1`, the resource of most tests.
async fn handle_r1(engine: &Engine) -> Report {
    engine
        .handle(JobType::ConfigureRoute, "r1", request())
        .await
        .unwrap()
}

async fn new_job(db: &Db, resource: &str) -> AsyncJob {
    let r = resource.to_owned();
    db.run(move |c| jobs::new_job(c, "proj", CONFIGURE_ROUTE, &r))
        .await
        .unwrap()
}

async fn set_ts(db: &Db, id: &str, ts: NaiveDateTime) {
    let id = id.to_owned();
    db.run(move |c| {
        diesel::update(async_jobs::table.find(&id))
            .set(async_jobs::timestamp.eq(ts))
            .execute(c)?;
        Ok(())
    })
    .await
    .unwrap();
}

#[test]
fn success_moves_the_job_to_the_log() {
    each_backend(|t| async move {
        let seen: Arc<Mutex<Vec<JobContext>>> = Arc::default();
        let s = Arc::clone(&seen);
        let engine = engine_with(
            t.db.clone(),
            registry_of(handler_fn(move |ctx| {
                let s = Arc::clone(&s);
                async move {
                    s.lock().unwrap().push(ctx);
                    Ok(())
                }
            })),
        );
        let job = new_job(&t.db, "router-1").await;
        let report = engine
            .handle(JobType::ConfigureRoute, "router-1", request())
            .await
            .unwrap();
        assert_eq!(report.end, LoopEnd::NoNewJob, "{}", t.backend);
        assert_eq!(report.runs.len(), 1);
        assert!(report.runs[0].success);
        assert_eq!(report.runs[0].job_id, job.id);

        assert!(
            job_statuses(&t.db, "router-1").await.is_empty(),
            "{}",
            t.backend
        );
        assert_eq!(job_logs(&t.db, "router-1").await, 1);
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].job_id, job.id);
        assert_eq!(seen[0].field("router_id"), Some("router-1"));
        assert_eq!(seen[0].project_id.as_deref(), Some("proj"));
        assert_eq!(seen[0].request.get("request_id"), Some(&json!("req-test")));
        assert_eq!(engine.stats().succeeded, 1);
    });
}

#[test]
fn failures_are_redone_by_the_periodic_task_until_success() {
    each_backend(|t| async move {
        let calls = Arc::new(AtomicUsize::new(0));
        let c2 = Arc::clone(&calls);
        let engine = engine_with(
            t.db.clone(),
            registry_of(handler_fn(move |_| {
                let n = c2.fetch_add(1, Ordering::SeqCst);
                async move {
                    if n < 2 {
                        Err(HandlerError::msg(format!("attempt {n} fails")))
                    } else {
                        Ok(())
                    }
                }
            })),
        );
        new_job(&t.db, "r1").await;
        let first = handle_r1(&engine).await;
        assert_eq!(first.end, LoopEnd::HandlerFailed, "{}", t.backend);
        assert_eq!(
            failure_reason(&t.db, &first.runs[0].lock_id)
                .await
                .as_deref(),
            Some("attempt 0 fails"),
            "{}",
            t.backend
        );
        assert!(job_statuses(&t.db, "r1")
            .await
            .contains(&JobStatus::Fail.as_stored().to_owned()));
        assert!(!job_statuses(&t.db, "r1")
            .await
            .contains(&JobStatus::Running.as_stored().to_owned()));

        let second = redo_failed_or_new_job(&engine).await.unwrap().unwrap();
        assert!(!second.was_new);
        assert_eq!(second.report.end, LoopEnd::HandlerFailed, "{}", t.backend);
        assert!(job_statuses(&t.db, "r1")
            .await
            .contains(&JobStatus::Fail.as_stored().to_owned()));

        let third = redo_failed_or_new_job(&engine).await.unwrap().unwrap();
        assert_eq!(third.job.resource_id, "r1");
        assert_eq!(third.report.end, LoopEnd::NoNewJob, "{}", t.backend);
        let outcomes: Vec<bool> = [&first.runs, &second.report.runs, &third.report.runs]
            .into_iter()
            .flatten()
            .map(|r| r.success)
            .collect();
        assert_eq!(outcomes, vec![false, false, true]);
        assert!(job_statuses(&t.db, "r1").await.is_empty(), "{}", t.backend);
        assert_eq!(job_logs(&t.db, "r1").await, 1);
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        assert!(redo_failed_or_new_job(&engine).await.unwrap().is_none());
    });
}

#[test]
fn the_periodic_task_picks_up_forgotten_new_jobs_of_served_types_only() {
    each_backend(|t| async move {
        let calls = Arc::new(AtomicUsize::new(0));
        let engine = engine_with(t.db.clone(), registry_of(counting(&calls)));
        new_job(&t.db, "r1").await;
        // A type without a handler is left alone.
        t.db.run(|c| jobs::new_job(c, "proj", "router_setup", "p#r#n"))
            .await
            .unwrap();
        let redo = redo_failed_or_new_job(&engine).await.unwrap().unwrap();
        assert!(redo.was_new);
        assert_eq!(redo.report.runs.len(), 1, "{}", t.backend);
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert!(redo_failed_or_new_job(&engine).await.unwrap().is_none());
        assert_eq!(
            job_statuses(&t.db, "p#r#n").await,
            vec![JobStatus::New.as_stored().to_owned()]
        );
    });
}

#[test]
fn a_panicking_handler_counts_as_a_failure() {
    each_backend(|t| async move {
        let engine = engine_with(
            t.db.clone(),
            registry_of(handler_fn(|_| async { panic!("handler bug") })),
        );
        new_job(&t.db, "r1").await;
        let report = handle_r1(&engine).await;
        assert_eq!(report.end, LoopEnd::HandlerFailed);
        assert_eq!(
            job_statuses(&t.db, "r1").await,
            vec![
                JobStatus::Fail.as_stored().to_owned(),
                JobStatus::New.as_stored().to_owned()
            ],
            "{}",
            t.backend
        );
        assert_eq!(engine.stats().failed, 1);
        assert_eq!(
            failure_reason(&t.db, &report.runs[0].lock_id)
                .await
                .as_deref(),
            Some("the job handler panicked: handler bug")
        );
    });
}

/// The failure reason kept for the FAIL row `id`.
async fn failure_reason(db: &tricircle_db::Db, id: &str) -> Option<String> {
    let id = id.to_owned();
    db.run(move |c| Ok(jobs::failure_reasons(c, std::slice::from_ref(&id))?.remove(&id)))
        .await
        .unwrap()
}

#[test]
fn two_workers_never_run_one_resource_concurrently() {
    each_backend(|t| async move {
        let in_flight = Arc::new(AtomicUsize::new(0));
        let max_seen = Arc::new(AtomicUsize::new(0));
        let runs = Arc::new(AtomicUsize::new(0));
        let make = || {
            let (f, m, r) = (
                Arc::clone(&in_flight),
                Arc::clone(&max_seen),
                Arc::clone(&runs),
            );
            handler_fn(move |_| {
                let (f, m, r) = (Arc::clone(&f), Arc::clone(&m), Arc::clone(&r));
                async move {
                    let now = f.fetch_add(1, Ordering::SeqCst) + 1;
                    m.fetch_max(now, Ordering::SeqCst);
                    r.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(30)).await;
                    f.fetch_sub(1, Ordering::SeqCst);
                    Ok(())
                }
            })
        };
        // Two pools on one database: two independent workers.
        let other_db = Db::connect(&t.url, &PoolOptions::default()).unwrap();
        let a = engine_with(t.db.clone(), registry_of(make()));
        let b = engine_with(other_db, registry_of(make()));
        let base = time::now_for(t.backend) - ChronoDuration::seconds(60);
        for i in 0..4 {
            let j = new_job(&t.db, "shared").await;
            set_ts(&t.db, &j.id, base + ChronoDuration::seconds(i)).await;
        }
        let mut tasks = Vec::new();
        for i in 0..6 {
            let e = if i % 2 == 0 { a.clone() } else { b.clone() };
            tasks.push(tokio::spawn(async move {
                e.handle(JobType::ConfigureRoute, "shared", request()).await
            }));
        }
        for task in tasks {
            task.await.unwrap().unwrap();
        }
        assert_eq!(max_seen.load(Ordering::SeqCst), 1, "{}", t.backend);
        assert!(runs.load(Ordering::SeqCst) >= 1);
        // Every request was served: no NEW (or lock) row is left.
        assert!(
            job_statuses(&t.db, "shared").await.is_empty(),
            "{}",
            t.backend
        );
        assert!(job_logs(&t.db, "shared").await >= 1);
    });
}

#[test]
fn workers_bound_concurrent_jobs_across_resources() {
    each_backend(|t| async move {
        let in_flight = Arc::new(AtomicUsize::new(0));
        let max_seen = Arc::new(AtomicUsize::new(0));
        let (f, m) = (Arc::clone(&in_flight), Arc::clone(&max_seen));
        let engine = Engine::new(
            t.db.clone(),
            registry_of(handler_fn(move |_| {
                let (f, m) = (Arc::clone(&f), Arc::clone(&m));
                async move {
                    let now = f.fetch_add(1, Ordering::SeqCst) + 1;
                    m.fetch_max(now, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(30)).await;
                    f.fetch_sub(1, Ordering::SeqCst);
                    Ok(())
                }
            })),
            Settings {
                workers: 1,
                ..settings()
            },
        );
        let mut tasks = Vec::new();
        for i in 0..3 {
            let r = format!("r{i}");
            new_job(&t.db, &r).await;
            let e = engine.clone();
            tasks.push(tokio::spawn(async move {
                e.handle(JobType::ConfigureRoute, &r, request()).await
            }));
        }
        for task in tasks {
            assert_eq!(task.await.unwrap().unwrap().runs.len(), 1);
        }
        assert_eq!(max_seen.load(Ordering::SeqCst), 1, "{}", t.backend);
    });
}

#[test]
fn an_expired_running_job_is_taken_over_and_a_live_one_is_left_alone() {
    each_backend(|t| async move {
        let calls = Arc::new(AtomicUsize::new(0));
        let engine = engine_with(t.db.clone(), registry_of(counting(&calls)));
        new_job(&t.db, "r1").await;
        // A worker took the lock and died.
        let stale =
            t.db.run(|c| jobs::register_job(c, "proj", CONFIGURE_ROUTE, "r1"))
                .await
                .unwrap()
                .unwrap();

        // Still fresh: left to its holder.
        let report = handle_r1(&engine).await;
        assert_eq!(report.end, LoopEnd::LockHeld, "{}", t.backend);
        assert_eq!(calls.load(Ordering::SeqCst), 0);
        assert!(job_statuses(&t.db, "r1")
            .await
            .contains(&JobStatus::Running.as_stored().to_owned()));

        // Older than job_run_expire: taken over.
        let old = time::now_for(t.backend) - ChronoDuration::seconds(3600);
        set_ts(&t.db, &stale.id, old).await;
        let report = handle_r1(&engine).await;
        assert_eq!(report.end, LoopEnd::NoNewJob, "{}", t.backend);
        assert_eq!(report.runs.len(), 1);
        assert_ne!(report.runs[0].lock_id, stale.id);
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert!(job_statuses(&t.db, "r1").await.is_empty(), "{}", t.backend);
        assert_eq!(job_logs(&t.db, "r1").await, 1);
    });
}

/// A worker killed mid-run leaves its lock row RUNNING and the request it
/// served NEW; the lock is the resource's newest row, so the redo (which
/// only picks resources whose newest row is NEW or FAIL) never serves it,
/// and nothing else comes for it. The periodic task takes such locks over
/// once expired (found by scripts/chaos: an xjob SIGKILLed mid-run left
/// its job RUNNING for good).
#[test]
fn a_dead_workers_lock_is_taken_over_by_the_periodic_task() {
    each_backend(|t| async move {
        let calls = Arc::new(AtomicUsize::new(0));
        let engine = engine_with(t.db.clone(), registry_of(counting(&calls)));
        let job = new_job(&t.db, "r1").await;
        let lock =
            t.db.run(|c| jobs::register_job(c, "proj", CONFIGURE_ROUTE, "r1"))
                .await
                .unwrap()
                .unwrap();
        // Fresh: its worker may be alive; nothing is taken.
        let taken = take_over_dead_locks(&engine).await.unwrap();
        assert!(taken.is_empty(), "{}", t.backend);
        // The run started in the second its request was recorded, and its
        // worker died longer than job_run_expire ago (within redo_time_span).
        let old = time::now_for(t.backend) - ChronoDuration::seconds(600);
        set_ts(&t.db, &job.id, old).await;
        set_ts(&t.db, &lock.id, old).await;
        assert!(
            redo_failed_or_new_job(&engine).await.unwrap().is_none(),
            "the redo alone never picks it ({})",
            t.backend
        );
        let taken = take_over_dead_locks(&engine).await.unwrap();
        assert_eq!(
            taken.iter().map(|j| j.id.as_str()).collect::<Vec<_>>(),
            [lock.id.as_str()],
            "{}",
            t.backend
        );
        assert_eq!(
            failure_reason(&t.db, &lock.id).await.as_deref(),
            Some("expired: ran longer than job_run_expire without finishing; taken over")
        );
        assert!(take_over_dead_locks(&engine).await.unwrap().is_empty());
        // The failed-job redo serves it.
        let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
        let t0 = Instant::now();
        assert!(redo_due_failed_jobs(&engine, &mut backoff, t0)
            .await
            .unwrap()
            .is_empty());
        let redos = redo_due_failed_jobs(&engine, &mut backoff, t0 + Duration::from_secs(1))
            .await
            .unwrap();
        assert_eq!(redos.len(), 1, "{}", t.backend);
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert!(job_statuses(&t.db, "r1").await.is_empty(), "{}", t.backend);
        assert_eq!(job_logs(&t.db, "r1").await, 1);
    });
}

#[test]
fn a_newer_job_arriving_during_a_run_is_picked_up_by_the_loop() {
    each_backend(|t| async move {
        let calls = Arc::new(AtomicUsize::new(0));
        let (c2, db) = (Arc::clone(&calls), t.db.clone());
        let engine = engine_with(
            t.db.clone(),
            registry_of(handler_fn(move |ctx| {
                let n = c2.fetch_add(1, Ordering::SeqCst);
                let db = db.clone();
                async move {
                    if n == 0 {
                        // A request arriving while we run; dated after the
                        // served job even at MySQL's whole seconds.
                        let served = db
                            .run(move |c| jobs::get_job(c, &ctx.job_id))
                            .await
                            .unwrap();
                        let j = new_job(&db, "r1").await;
                        set_ts(
                            &db,
                            &j.id,
                            served.timestamp.unwrap() + ChronoDuration::seconds(2),
                        )
                        .await;
                    }
                    Ok(())
                }
            })),
        );
        new_job(&t.db, "r1").await;
        let report = handle_r1(&engine).await;
        assert_eq!(report.runs.len(), 2, "{}", t.backend);
        assert!(report.runs.iter().all(|r| r.success));
        assert_ne!(report.runs[0].job_id, report.runs[1].job_id);
        assert_eq!(report.end, LoopEnd::NoNewJob);
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        assert!(job_statuses(&t.db, "r1").await.is_empty(), "{}", t.backend);
        assert_eq!(job_logs(&t.db, "r1").await, 2);
    });
}

#[test]
fn job_types_without_a_handler_are_rejected_without_touching_jobs() {
    each_backend(|t| async move {
        let engine = engine_with(t.db.clone(), registry_of(handler_fn(|_| async { Ok(()) })));
        new_job(&t.db, "r1").await;
        // In the catalog but without a registered handler.
        for resource in ["p#r1#n", "r1"] {
            let e = engine
                .handle(JobType::RouterSetup, resource, request())
                .await
                .unwrap_err();
            assert!(
                matches!(e, EngineError::NoHandler(JobType::RouterSetup)),
                "{e}"
            );
        }
        assert_eq!(
            job_statuses(&t.db, "r1").await,
            vec![JobStatus::New.as_stored().to_owned()]
        );
        assert_eq!(job_logs(&t.db, "r1").await, 0, "{}", t.backend);
    });
}

#[test]
fn timeout_and_shutdown_stop_before_running() {
    each_backend(|t| async move {
        let calls = Arc::new(AtomicUsize::new(0));
        let make = || counting(&calls);
        new_job(&t.db, "r1").await;
        let timed = Engine::new(
            t.db.clone(),
            registry_of(make()),
            Settings {
                worker_handle_timeout: Duration::ZERO,
                ..settings()
            },
        );
        assert_eq!(handle_r1(&timed).await.end, LoopEnd::Timeout);
        let stopping = engine_with(t.db.clone(), registry_of(make()));
        stopping.shutdown();
        assert_eq!(handle_r1(&stopping).await.end, LoopEnd::ShuttingDown);
        assert_eq!(calls.load(Ordering::SeqCst), 0);
        assert_eq!(
            job_statuses(&t.db, "r1").await,
            vec![JobStatus::New.as_stored().to_owned()],
            "{}",
            t.backend
        );
    });
}

/// Failed jobs are redone on a per-resource schedule: a resource that keeps
/// failing waits longer each time, while another one, once it converges,
/// is redone no more. The clock is passed in: no waiting, no timing.
#[test]
fn failed_jobs_are_redone_with_a_backoff_per_resource() {
    each_backend(|t| async move {
        let calls = Arc::new(AtomicUsize::new(0));
        let c2 = Arc::clone(&calls);
        // r1 always fails; r2 fails once, then succeeds.
        let engine = engine_with(
            t.db.clone(),
            registry_of(handler_fn(move |ctx| {
                let n = c2.fetch_add(1, Ordering::SeqCst);
                async move {
                    if ctx.resource_id == "r1" || n < 2 {
                        Err(HandlerError::msg("pod down"))
                    } else {
                        Ok(())
                    }
                }
            })),
        );
        for r in ["r1", "r2"] {
            new_job(&t.db, r).await;
            let report = engine
                .handle(JobType::ConfigureRoute, r, request())
                .await
                .unwrap();
            assert_eq!(report.end, LoopEnd::HandlerFailed, "{}", t.backend);
        }
        let s = Duration::from_secs;
        let mut backoff = Backoff::new(s(1), s(60));
        let t0 = Instant::now();
        let ran = |redos: &[tricircle_jobs::Redo]| {
            let mut v: Vec<(String, bool)> = redos
                .iter()
                .map(|r| {
                    let ok = r.report.runs.iter().all(|x| x.success);
                    (r.job.resource_id.clone(), ok)
                })
                .collect();
            v.sort();
            v
        };
        // Both failures are new to the schedule: tried a second later; r2
        // then converges, r1 fails again.
        let none = redo_due_failed_jobs(&engine, &mut backoff, t0)
            .await
            .unwrap();
        assert!(none.is_empty(), "{}", t.backend);
        let first = redo_due_failed_jobs(&engine, &mut backoff, t0 + s(1))
            .await
            .unwrap();
        assert_eq!(
            ran(&first),
            [("r1".into(), false), ("r2".into(), true)],
            "{}",
            t.backend
        );
        // r1 then waits two seconds, then four.
        for (at, runs) in [(1000, 0), (2999, 0), (3000, 1), (6999, 0), (7000, 1)] {
            let redos = redo_due_failed_jobs(&engine, &mut backoff, t0 + Duration::from_millis(at))
                .await
                .unwrap();
            assert_eq!(
                redos.len(),
                runs,
                "at {at} ms: {:?} {}",
                ran(&redos),
                t.backend
            );
            assert!(redos.iter().all(|r| r.job.resource_id == "r1"));
        }
        assert_eq!(job_logs(&t.db, "r2").await, 1, "{}", t.backend);
        assert_eq!(calls.load(Ordering::SeqCst), 2 + 2 + 2);
    });
}

/// Two engines (two processes' worth: two pools) serve many requests on
/// many resources at once, their database work batched. Each run checks
/// in the database that its lock row is the one RUNNING row of its
/// resource; every request is served (no row is left, and a run of its
/// resource started after it was recorded: a request deleted unserved
/// leaves no row either), and each run's job is a distinct NEW row.
#[test]
fn two_engines_batching_many_resources_hold_one_lock_per_resource() {
    each_backend(|t| async move {
        let violations: Arc<Mutex<Vec<String>>> = Arc::default();
        // One sequence for requests and run starts: a request's number is
        // taken before its row is recorded, so a run numbered later may
        // have started before the row (a miss goes unseen), never the
        // other way round.
        let seq = Arc::new(AtomicUsize::new(0));
        let last_start: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
        let make = |db: Db| {
            let v = Arc::clone(&violations);
            let (seq, last_start) = (Arc::clone(&seq), Arc::clone(&last_start));
            handler_fn(move |ctx: JobContext| {
                let (v, db) = (Arc::clone(&v), db.clone());
                let n = seq.fetch_add(1, Ordering::SeqCst);
                let mut starts = last_start.lock().unwrap();
                let last = starts.entry(ctx.resource_id.clone()).or_default();
                *last = (*last).max(n);
                drop(starts);
                async move {
                    let rid = ctx.resource_id.clone();
                    let running: Vec<String> = db
                        .run(move |c| {
                            Ok(async_jobs::table
                                .filter(async_jobs::resource_id.eq(rid))
                                .filter(async_jobs::status.eq(JobStatus::Running.as_stored()))
                                .select(async_jobs::id)
                                .load::<String>(c)?)
                        })
                        .await
                        .unwrap();
                    if running != vec![ctx.lock_id.clone()] {
                        v.lock().unwrap().push(format!(
                            "{}: running {running:?}, ours {}",
                            ctx.resource_id, ctx.lock_id
                        ));
                    }
                    tokio::task::yield_now().await;
                    Ok(())
                }
            })
        };
        let other_db = Db::connect(&t.url, &PoolOptions::default()).unwrap();
        let wide = Settings {
            workers: 16,
            ..settings()
        };
        let a = Engine::new(t.db.clone(), registry_of(make(t.db.clone())), wide.clone());
        let b = Engine::new(other_db.clone(), registry_of(make(other_db)), wide);
        let resources: Vec<String> = (0..12).map(|i| format!("router-{i}")).collect();
        let mut tasks = Vec::new();
        let mut last_request: HashMap<String, usize> = HashMap::new();
        for round in 0..4 {
            for (i, r) in resources.iter().enumerate() {
                last_request.insert(r.clone(), seq.fetch_add(1, Ordering::SeqCst));
                new_job(&t.db, r).await;
                let e = if (i + round) % 2 == 0 {
                    a.clone()
                } else {
                    b.clone()
                };
                let r = r.clone();
                tasks.push(tokio::spawn(async move {
                    e.handle(JobType::ConfigureRoute, &r, request()).await
                }));
            }
        }
        let mut served = std::collections::HashSet::new();
        let mut runs = 0;
        for task in tasks {
            let report = task.await.unwrap().unwrap();
            for run in report.runs {
                assert!(run.success);
                assert!(served.insert(run.job_id), "{}: a job ran twice", t.backend);
                runs += 1;
            }
        }
        let v = violations.lock().unwrap().clone();
        assert!(v.is_empty(), "{}: {v:?}", t.backend);
        assert!(runs >= resources.len());
        for r in &resources {
            assert!(
                job_statuses(&t.db, r).await.is_empty(),
                "{}: {r} has rows left",
                t.backend
            );
            assert!(job_logs(&t.db, r).await >= 1);
            let started = last_start.lock().unwrap().get(r).copied();
            assert!(
                started > Some(last_request[r]),
                "{}: {r}'s last request (number {}) was not served: the last run started at {started:?}",
                t.backend,
                last_request[r]
            );
        }
        // Every run's success row is in the log: one per run.
        let logs: i64 = {
            let mut n = 0;
            for r in &resources {
                n += job_logs(&t.db, r).await;
            }
            n
        };
        assert_eq!(logs, runs as i64, "{}", t.backend);
    });
}

/// A request for a resource that this engine is running only tells that
/// loop to look again: it runs nothing itself, and the loop serves the
/// newer job after the current run.
#[test]
fn a_request_during_a_run_is_left_to_the_running_loop() {
    each_backend(|t| async move {
        let started = Arc::new(tokio::sync::Notify::new());
        let go = Arc::new(tokio::sync::Semaphore::new(0));
        let calls = Arc::new(AtomicUsize::new(0));
        let (s2, g2, c2) = (Arc::clone(&started), Arc::clone(&go), Arc::clone(&calls));
        let engine = engine_with(
            t.db.clone(),
            registry_of(handler_fn(move |_| {
                let (s, g, c) = (Arc::clone(&s2), Arc::clone(&g2), Arc::clone(&c2));
                async move {
                    c.fetch_add(1, Ordering::SeqCst);
                    s.notify_one();
                    g.acquire().await.unwrap().forget();
                    Ok(())
                }
            })),
        );
        let first = new_job(&t.db, "r1").await;
        let e = engine.clone();
        let looping =
            tokio::spawn(async move { e.handle(JobType::ConfigureRoute, "r1", request()).await });
        started.notified().await;
        // A newer request, dated after the running one even at MySQL's
        // whole seconds.
        let newer = new_job(&t.db, "r1").await;
        set_ts(
            &t.db,
            &newer.id,
            first.timestamp.unwrap() + ChronoDuration::seconds(2),
        )
        .await;
        let second = handle_r1(&engine).await;
        assert_eq!(second.end, LoopEnd::LockHeld, "{}", t.backend);
        assert!(second.runs.is_empty());
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        go.add_permits(2);
        let report = looping.await.unwrap().unwrap();
        assert_eq!(
            report
                .runs
                .iter()
                .map(|r| r.job_id.clone())
                .collect::<Vec<_>>(),
            vec![first.id, newer.id],
            "{}",
            t.backend
        );
        assert_eq!(report.end, LoopEnd::NoNewJob);
        assert!(job_statuses(&t.db, "r1").await.is_empty());
        assert_eq!(job_logs(&t.db, "r1").await, 2);
    });
}

/// A run longer than `job_run_expire` is alive: it keeps its lock row
/// dated, so another worker finds the lock held (no takeover, no second
/// run of the resource at once), and the long run's result is recorded.
#[test]
fn a_run_longer_than_job_run_expire_keeps_its_lock() {
    each_backend(|t| async move {
        let expire = Duration::from_secs(3);
        let with_expire = Settings {
            job_run_expire: expire,
            ..settings()
        };
        let started = Arc::new(tokio::sync::Notify::new());
        let go = Arc::new(tokio::sync::Semaphore::new(0));
        let (s2, g2) = (Arc::clone(&started), Arc::clone(&go));
        let long = Engine::new(
            t.db.clone(),
            registry_of(handler_fn(move |_| {
                let (s, g) = (Arc::clone(&s2), Arc::clone(&g2));
                async move {
                    s.notify_one();
                    g.acquire().await.unwrap().forget();
                    Ok(())
                }
            })),
            with_expire.clone(),
        );
        new_job(&t.db, "r1").await;
        let e = long.clone();
        let looping =
            tokio::spawn(async move { e.handle(JobType::ConfigureRoute, "r1", request()).await });
        started.notified().await;
        // Well past job_run_expire, MySQL's whole seconds included.
        tokio::time::sleep(expire + Duration::from_millis(1500)).await;

        let calls = Arc::new(AtomicUsize::new(0));
        let other = Engine::new(t.db.clone(), registry_of(counting(&calls)), with_expire);
        new_job(&t.db, "r1").await;
        let report = other
            .handle(JobType::ConfigureRoute, "r1", request())
            .await
            .unwrap();
        assert_eq!(report.end, LoopEnd::LockHeld, "{}: {report:?}", t.backend);
        assert_eq!(calls.load(Ordering::SeqCst), 0, "{}", t.backend);

        go.add_permits(2);
        let report = looping.await.unwrap().unwrap();
        assert_ne!(report.end, LoopEnd::LockLost, "{}", t.backend);
        assert!(report.runs.iter().all(|r| r.success), "{report:?}");
        assert!(job_statuses(&t.db, "r1").await.is_empty(), "{}", t.backend);
    });
}
