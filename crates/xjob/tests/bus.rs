//! The whole dispatch path on a real RabbitMQ: `POST /v1.0/jobs` on the
//! admin API -> cast on topic `xjob` -> xjob's consumer -> engine -> the
//! handler registered here -> the job row moved to `async_job_logs`. The
//! periodic task is off, so only the message can have run the job.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{web, HttpServer};
use diesel::prelude::*;
use serde_json::{json, Value};
use tricircle_api::dispatch::RpcDispatcher;
use tricircle_api::{AppState, Auth};
use tricircle_db::models::{NewPod, NewRouting};
use tricircle_db::schema::{async_job_logs, async_jobs};
use tricircle_db::testing::{backends_under_test, TestDb};
use tricircle_db::{pods, routings, Db};
use tricircle_jobs::catalog::CONFIGURE_ROUTE;
use tricircle_jobs::{handler_fn, Engine, PeriodicSettings, Registry, Settings};
use tricircle_policy::Enforcer;
use tricircle_rpc::{CancellationToken, RpcConfig};
use tricircle_xjob::{bus, Service, ServiceOptions};

const PROJECT: &str = "project-bus";

/// (router id, request id) of one handler run.
type Seen = (String, Option<String>);

fn seed(db: &Db, router: &str) {
    db.get()
        .map(|mut c| {
            let pod = pods::create(
                &mut c,
                &NewPod {
                    pod_id: uuid::Uuid::new_v4().to_string(),
                    region_name: format!("Region-{router}"),
                    pod_az_name: None,
                    dc_name: None,
                    az_name: "az1".into(),
                },
            )
            .unwrap();
            routings::create(
                &mut c,
                &NewRouting {
                    top_id: router.into(),
                    bottom_id: Some(uuid::Uuid::new_v4().to_string()),
                    pod_id: pod.pod_id,
                    project_id: Some(PROJECT.into()),
                    resource_type: "router".into(),
                },
            )
            .unwrap();
        })
        .unwrap();
}

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
    seed(&db.db, &router);

    // xjob: a handler that records what it ran; no periodic task.
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let runs = Arc::new(AtomicUsize::new(0));
    let mut registry = Registry::new();
    registry
        .register(CONFIGURE_ROUTE, {
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
            queue: 8,
        },
    );
    let stop = CancellationToken::new();
    let consumer = bus::attach(
        rpc.clone(),
        "bus-test".into(),
        service.casts_sender(),
        stop.clone(),
    );
    let xjob = tokio::spawn(service.run({
        let stop = stop.clone();
        async move { stop.cancelled().await }
    }));

    // The API, casting through the broker.
    let state = web::Data::new(AppState {
        db: db.db.clone(),
        policy: Enforcer::with_defaults(),
        auth: Auth::NoAuth,
        pagination_max_limit: 2000,
        dispatcher: Arc::new(RpcDispatcher::start(rpc).unwrap()),
    });
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server = HttpServer::new(move || tricircle_api::app(state.clone()))
        .workers(1)
        .disable_signals()
        .listen(listener)
        .unwrap()
        .run();
    let api = server.handle();
    tokio::spawn(server);

    // The consumer declares its queues asynchronously: post until a job
    // has been run through the bus (each post is a NEW row and a cast).
    let http = reqwest::Client::new();
    let mut posted = Vec::new();
    for _ in 0..100 {
        let resp = http
            .post(format!("{base}/v1.0/jobs"))
            .header("X-Role", "admin")
            .header("X-Tenant-Id", PROJECT)
            .header("X-OpenStack-Request-ID", "req-bus-test")
            .json(
                &json!({"job": {"type": "configure_route", "project_id": PROJECT,
                                   "resource": {"router_id": router}}}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let body: Value = resp.json().await.unwrap();
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

#[test]
fn api_post_runs_through_the_broker_to_success() {
    let Some(url) = tricircle_rpc::testing::rabbit_url() else {
        return;
    };
    let mut rpc = RpcConfig::new(url);
    rpc.cast_timeout = Duration::from_secs(10);
    for backend in backends_under_test() {
        let db = TestDb::synced(backend).expect("backend under test");
        actix_web::rt::System::new().block_on(post_to_success(db, rpc.clone()));
    }
}
