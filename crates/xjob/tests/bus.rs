//! The whole dispatch path on a real RabbitMQ: `POST /v1.0/jobs` on the
//! admin API -> cast on topic `xjob` -> xjob's consumer -> engine -> the
//! handler registered here -> the job row moved to `async_job_logs`. The
//! periodic task is off, so only the message can have run the job.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use diesel::prelude::*;
use serde_json::{json, Value};
use tricircle_db::schema::{async_job_logs, async_jobs};
use tricircle_db::testing::{backends_under_test, TestDb};
use tricircle_db::Db;
use tricircle_jobs::{handler_fn, Engine, PeriodicSettings, Registry, Settings};
use tricircle_jobs::{JobQueue, JobType};
use tricircle_rpc::testing::PythonServer;
use tricircle_rpc::{CancellationToken, RpcConfig};
use tricircle_xjob::{bus, Service, ServiceOptions};

mod common;

const PROJECT: &str = "project-bus";

/// (router id, request id) of one handler run.
type Seen = (String, Option<String>);

fn log_rows(db: &Db, resource: &str) -> Vec<(String, String)> {
    let mut c = db.get().unwrap();
    async_job_logs::table
        .filter(async_job_logs::resource_id.eq(resource))
        .select((async_job_logs::id, async_job_logs::job_type))
        .load::<(String, Option<String>)>(&mut *c)
        .unwrap()
        .into_iter()
        .map(|(id, t)| (id, t.unwrap_or_default()))
        .collect()
}

fn open_rows(db: &Db, resource: &str) -> usize {
    let mut c = db.get().unwrap();
    async_jobs::table
        .filter(async_jobs::resource_id.eq(resource))
        .count()
        .get_result::<i64>(&mut *c)
        .unwrap() as usize
}

async fn post_to_success(db: TestDb, rpc: RpcConfig) {
    let router = format!("router-{}", uuid::Uuid::new_v4().simple());
    common::seed_router(&db.db, &router, PROJECT);

    // xjob: a handler that records what it ran; no periodic task.
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let runs = Arc::new(AtomicUsize::new(0));
    let mut registry = Registry::new();
    registry
        .register_handler(JobType::ConfigureRoute, {
            let (seen, runs) = (seen.clone(), runs.clone());
            handler_fn(move |ctx| {
                let (seen, runs) = (seen.clone(), runs.clone());
                async move {
                    runs.fetch_add(1, Ordering::SeqCst);
                    seen.lock().unwrap().push((
                        ctx.field("router_id").unwrap_or_default().to_owned(),
                        ctx.request
                            .get("request_id")
                            .and_then(Value::as_str)
                            .map(str::to_owned),
                    ));
                    Ok(())
                }
            })
        })
        .unwrap();
    let settings = Settings {
        workers: 2,
        worker_sleep_time: Duration::from_millis(5),
        ..Settings::default()
    };
    let service = Service::new(
        Engine::new(db.db.clone(), registry, settings),
        ServiceOptions {
            periodic: PeriodicSettings {
                enabled: false,
                fuzzy_delay: Duration::ZERO,
                interval: Duration::from_secs(3600),
            },
            grace_period: Duration::from_secs(10),
            heartbeat: Duration::from_secs(60),
        },
        JobQueue::new(8),
    );
    let stop = CancellationToken::new();
    let consumer = bus::attach(
        rpc.clone(),
        "bus-test".into(),
        service.queue(),
        stop.clone(),
    );
    let xjob = tokio::spawn(service.run({
        let stop = stop.clone();
        async move { stop.cancelled().await }
    }));

    let (base, api) = common::start_api(&db.db, rpc);

    // The consumer declares its queues asynchronously: post until a job
    // has been run through the bus (each post is a NEW row and a cast).
    let http = reqwest::Client::new();
    let mut posted = Vec::new();
    for _ in 0..100 {
        let (status, body) = common::post_job(&http, &base, &router, PROJECT).await;
        assert_eq!(status, 200, "{body}");
        posted.push(body["job"]["id"].as_str().unwrap().to_owned());
        tokio::time::sleep(Duration::from_millis(100)).await;
        if !log_rows(&db.db, &router).is_empty() && open_rows(&db.db, &router) == 0 {
            break;
        }
    }

    let logs = log_rows(&db.db, &router);
    assert_eq!(
        logs.len(),
        1,
        "{}: one success row for the router: {logs:?}",
        db.backend
    );
    assert_eq!(logs[0].1, "configure_route");
    // As the reference: the RUNNING lock row is what moves to the log; the
    // NEW rows the API wrote are pruned.
    assert!(!posted.is_empty());
    assert_eq!(
        open_rows(&db.db, &router),
        0,
        "{}: nothing left in async_jobs",
        db.backend
    );
    let seen = seen.lock().unwrap().clone();
    assert!(runs.load(Ordering::SeqCst) >= 1);
    assert!(seen.iter().all(|(r, _)| r == &router), "{seen:?}");
    assert!(
        seen.iter()
            .all(|(_, req)| req.as_deref().is_some_and(|r| r.starts_with("req-"))),
        "the API's request context travelled with the cast: {seen:?}"
    );

    api.stop(true).await;
    stop.cancel();
    xjob.await.unwrap().unwrap();
    consumer.await.unwrap();
}

/// Both tests use the real topic `xjob` on the test vhost: one at a time.
static XJOB_TOPIC: Mutex<()> = Mutex::new(());

#[test]
#[cfg_attr(
    not(tricircle_rabbit),
    ignore = "needs RabbitMQ: set TRICIRCLE_TEST_RABBIT_URL (scripts/test starts one)"
)]
fn api_post_runs_through_the_broker_to_success() {
    let _serial = XJOB_TOPIC.lock().unwrap_or_else(|e| e.into_inner());
    let url = tricircle_rpc::testing::rabbit_url();
    let mut rpc = RpcConfig::new(url);
    rpc.cast_timeout = Duration::from_secs(10);
    for backend in backends_under_test() {
        let db = TestDb::synced(backend).expect("backend under test");
        actix_web::rt::System::new().block_on(post_to_success(db, rpc.clone()));
    }
}

/// Wire interop: what our API casts is what a Python oslo.messaging RPC
/// server (an xjob-shaped endpoint) receives, method, payload and context.
#[test]
#[cfg_attr(
    not(all(tricircle_rabbit, tricircle_oslo_venv)),
    ignore = "needs RabbitMQ and the oslo.messaging venv: set TRICIRCLE_TEST_RABBIT_URL and TRICIRCLE_OSLO_VENV (scripts/test makes both)"
)]
fn api_cast_reaches_a_python_oslo_messaging_server() {
    let _serial = XJOB_TOPIC.lock().unwrap_or_else(|e| e.into_inner());
    let url = tricircle_rpc::testing::rabbit_url();
    let mut rpc = RpcConfig::new(url);
    rpc.cast_timeout = Duration::from_secs(10);
    let db = TestDb::synced(tricircle_db::Backend::Sqlite).unwrap();
    actix_web::rt::System::new().block_on(async move {
        let server_name = format!("py-{}", uuid::Uuid::new_v4().simple());
        let mut server = PythonServer::start(&server_name).await;

        let router = format!("router-{}", uuid::Uuid::new_v4().simple());
        common::seed_router(&db.db, &router, PROJECT);
        let (base, api) = common::start_api(&db.db, rpc);
        let (status, body) =
            common::post_job(&reqwest::Client::new(), &base, &router, PROJECT).await;
        assert_eq!(status, 200, "{body}");
        let got = server.received("configure_route", &json!(router)).await;
        assert_eq!(got["method"], "configure_route");
        assert_eq!(got["payload"], json!({"configure_route": router}));
        let c = &got["context"];
        assert_eq!(c["user"], "user-1");
        assert_eq!(c["project_id"], PROJECT);
        assert_eq!(c["tenant"], PROJECT);
        assert_eq!(c["roles"], json!(["admin"]));
        assert_eq!(c["is_admin"], true);
        assert!(
            c["request_id"]
                .as_str()
                .is_some_and(|r| r.starts_with("req-")),
            "{c}"
        );
        api.stop(true).await;
        server.stop().await;
    });
}

/// With the broker unreachable the API still answers, and the job waits as
/// a NEW row for xjob's periodic task: nothing is lost.
#[test]
fn broker_down_leaves_the_job_new() {
    // Port 1 on loopback: connection refused.
    let url = tricircle_rpc::TransportUrl::parse("rabbit://u:p@127.0.0.1:1/").unwrap();
    let db = TestDb::synced(tricircle_db::Backend::Sqlite).unwrap();
    actix_web::rt::System::new().block_on(async move {
        let router = format!("router-{}", uuid::Uuid::new_v4().simple());
        common::seed_router(&db.db, &router, PROJECT);
        let (base, api) = common::start_api(&db.db, RpcConfig::new(url));
        let http = reqwest::Client::new();
        for _ in 0..3 {
            let (status, body) = common::post_job(&http, &base, &router, PROJECT).await;
            assert_eq!(status, 200, "{body}");
            assert_eq!(body["job"]["status"], "NEW", "{body}");
        }
        assert_eq!(
            open_rows(&db.db, &router),
            3,
            "every job is kept as a NEW row"
        );
        assert!(log_rows(&db.db, &router).is_empty());
        api.stop(true).await;
    });
}
