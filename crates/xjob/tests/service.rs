//! The service in-process, with handlers registered by the test.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};
use tokio::sync::{oneshot, Notify};
use tokio::task::JoinHandle;
use tricircle_db::jobs::{self, JobStatus};
use tricircle_db::testing::{each_backend, job_logs, job_statuses};
use tricircle_db::Db;
use tricircle_jobs::{
    handler_fn, Engine, Handler, HandlerError, PeriodicSettings, Registry, Settings,
};
use tricircle_jobs::{JobQueue, JobRequest, JobType};
use tricircle_rpc::Incoming;
use tricircle_xjob::{bus, Service, ServiceError, ServiceOptions};

const CONFIGURE_ROUTE: &str = JobType::ConfigureRoute.name();

fn options(periodic: bool) -> ServiceOptions {
    ServiceOptions {
        periodic: PeriodicSettings {
            enabled: periodic,
            fuzzy_delay: Duration::ZERO,
            interval: Duration::from_millis(20),
        },
        grace_period: Duration::from_secs(30),
        heartbeat: Duration::from_secs(1),
    }
}

fn service(db: &Db, h: impl Handler + 'static, options: ServiceOptions) -> Service {
    let mut r = Registry::new();
    r.register_handler(JobType::ConfigureRoute, h).unwrap();
    let settings = Settings {
        workers: 1,
        worker_sleep_time: Duration::from_millis(5),
        redo_time_span: Duration::from_secs(3600),
        ..Settings::default()
    };
    Service::new(
        Engine::new(db.clone(), r, settings),
        options,
        JobQueue::new(8),
    )
}

/// The job a cast of `method` with `payload` asks for, as the bus decodes
/// it (`None` for a cast the bus drops).
fn cast(method: &str, payload: Value) -> Option<JobRequest> {
    let mut context = Map::new();
    context.insert("request_id".into(), json!("req-1"));
    context.insert("auth_token".into(), json!("secret-token"));
    bus::decode(Incoming {
        method: method.into(),
        args: json!({ "payload": payload }),
        context,
        unique_id: None,
        version: Some("1.0".into()),
    })
    .ok()
}

/// Poll until `cond` holds; panics after a generous deadline so a broken
/// service fails the test instead of hanging it.
async fn wait_for<F, Fut>(what: &str, cond: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(30);
    while !cond().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// `svc` run on its own task with a job on `r1` cast to it; the stop is
/// asked for once its handler has `started`. Returns the running service.
async fn stop_while_r1_runs(
    db: &Db,
    svc: Service,
    started: &Notify,
) -> JoinHandle<Result<(), ServiceError>> {
    let tx = svc.queue();
    new_job(db, "r1").await;
    let (stop_tx, running) = spawn_run(svc);
    cast_job(&tx, "r1").await;
    started.notified().await;
    stop_tx.send(()).unwrap();
    running
}

/// `svc` run on its own task until the returned sender fires (or is dropped).
fn spawn_run(svc: Service) -> (oneshot::Sender<()>, JoinHandle<Result<(), ServiceError>>) {
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let running = tokio::spawn(svc.run(async {
        let _ = stop_rx.await;
    }));
    (stop_tx, running)
}

/// Cast the configure_route job on `resource` into the service's queue.
async fn cast_job(tx: &JobQueue, resource: &str) {
    tx.send(cast(CONFIGURE_ROUTE, json!({ CONFIGURE_ROUTE: resource })).unwrap())
        .await
        .unwrap();
}

/// Wait for `n` log rows of `resource`.
async fn wait_logged(db: &Db, resource: &str, n: i64, what: &str) {
    wait_for(what, || async move { job_logs(db, resource).await == n }).await;
}

async fn new_job(db: &Db, resource: &str) {
    let r = resource.to_owned();
    db.run(move |c| jobs::new_job(c, "proj", CONFIGURE_ROUTE, &r))
        .await
        .unwrap();
}

#[test]
fn casts_run_jobs_and_bad_casts_are_ignored() {
    each_backend(|t| async move {
        let svc = service(&t.db, handler_fn(|_| async { Ok(()) }), options(false));
        let tx = svc.queue();
        let (stop_tx, running) = spawn_run(svc);

        new_job(&t.db, "r-unknown").await;
        new_job(&t.db, "r1").await;
        // Unknown method and bad payloads: the bus drops them.
        for c in [
            cast("no_such_method", json!({CONFIGURE_ROUTE: "r-unknown"})),
            cast(CONFIGURE_ROUTE, json!({"wrong": "r-unknown"})),
            cast(CONFIGURE_ROUTE, json!(null)),
        ] {
            assert_eq!(c, None);
        }
        // A catalog job without handler is dropped by the service, which
        // keeps serving.
        for c in [
            cast("setup_bottom_router", json!({"router_setup": "r-unknown"})),
            cast(CONFIGURE_ROUTE, json!({CONFIGURE_ROUTE: "r1"})),
        ] {
            tx.send(c.unwrap()).await.unwrap();
        }
        wait_logged(&t.db, "r1", 1, "r1 to be logged").await;
        assert!(job_statuses(&t.db, "r1").await.is_empty());
        assert_eq!(
            job_statuses(&t.db, "r-unknown").await,
            vec![JobStatus::New.as_stored().to_owned()]
        );

        stop_tx.send(()).unwrap();
        running.await.unwrap().unwrap();
        assert!(
            tx.send(cast(CONFIGURE_ROUTE, json!({CONFIGURE_ROUTE: "x"})).unwrap())
                .await
                .is_err(),
            "closed after stop"
        );
    });
}

#[test]
fn the_periodic_task_redoes_a_failing_job_until_it_succeeds() {
    each_backend(|t| async move {
        let calls = Arc::new(AtomicUsize::new(0));
        let c2 = Arc::clone(&calls);
        let h = handler_fn(move |_| {
            let n = c2.fetch_add(1, Ordering::SeqCst);
            async move {
                if n < 2 {
                    Err(HandlerError::msg("not yet"))
                } else {
                    Ok(())
                }
            }
        });
        let svc = service(&t.db, h, options(true));
        new_job(&t.db, "r1").await;
        let (stop_tx, running) = spawn_run(svc);
        wait_logged(&t.db, "r1", 1, "the redo to succeed").await;
        stop_tx.send(()).unwrap();
        running.await.unwrap().unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 3, "{}", t.backend);
        assert!(job_statuses(&t.db, "r1").await.is_empty());
    });
}

#[test]
fn stop_lets_a_running_job_finish() {
    each_backend(|t| async move {
        let started = Arc::new(Notify::new());
        let release = Arc::new(Notify::new());
        let (s2, r2) = (Arc::clone(&started), Arc::clone(&release));
        let h = handler_fn(move |_| {
            let (s, r) = (Arc::clone(&s2), Arc::clone(&r2));
            async move {
                s.notify_one();
                r.notified().await;
                Ok(())
            }
        });
        let svc = service(&t.db, h, options(false));
        let running = stop_while_r1_runs(&t.db, svc, &started).await;
        // The service waits for the job: release it only after the stop.
        tokio::task::yield_now().await;
        assert!(!running.is_finished());
        release.notify_one();
        running.await.unwrap().unwrap();
        assert_eq!(job_logs(&t.db, "r1").await, 1, "{}", t.backend);
        assert!(job_statuses(&t.db, "r1").await.is_empty());
    });
}

#[test]
fn a_job_outliving_the_grace_period_is_abandoned_with_its_lock() {
    each_backend(|t| async move {
        let started = Arc::new(Notify::new());
        let s2 = Arc::clone(&started);
        let h = handler_fn(move |_| {
            let s = Arc::clone(&s2);
            async move {
                s.notify_one();
                std::future::pending::<()>().await;
                Ok(())
            }
        });
        let svc = service(
            &t.db,
            h,
            ServiceOptions {
                grace_period: Duration::from_millis(50),
                ..options(false)
            },
        );
        let running = stop_while_r1_runs(&t.db, svc, &started).await;
        running.await.unwrap().unwrap();
        // The lock stays until job_run_expire lets another worker take over.
        assert_eq!(
            job_statuses(&t.db, "r1").await,
            vec![
                JobStatus::Running.as_stored().to_owned(),
                JobStatus::New.as_stored().to_owned()
            ],
            "{}",
            t.backend
        );
        assert_eq!(job_logs(&t.db, "r1").await, 0);
    });
}
