//! Issue 11's scale figure, run as the daemon runs jobs: the service's
//! queue and 64 job loops, the handlers queueing the follow-up jobs they
//! record (parked while the queue is full, see `JobQueue::offer`), the
//! periodic task on as in the daemon (every second here, for a run failed
//! on a busy machine). 100 routers, each with a network in each of three
//! pods, from nothing to converged (bridges, bottom routers, copies,
//! interfaces, routes) on the fake cloud with every Neutron call held
//! 20 ms. Asserts that every job ended SUCCESS and every pod holds the 100
//! routers with their interface; prints the time, the runs, the redos and
//! the calls per region (`scripts/bench converge` shows the line).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tricircle_db::jobs;
use tricircle_db::testing::{create_pods, TestDb};
use tricircle_db::Backend;
use tricircle_fakecloud::FakeCloud;
use tricircle_jobs::network::{ip::Cidr, NetworkContext, NetworkSettings};
use tricircle_jobs::{
    handlers, Engine, JobQueue, JobRequest, JobType, PeriodicSettings, Registry, Settings,
};
use tricircle_openstack::endpoints::{EndpointCache, MemoryEndpointCache};
use tricircle_openstack::neutron::NeutronClient;
use tricircle_openstack::testing::clients_config;
use tricircle_openstack::Clients;
use tricircle_xjob::{Service, ServiceOptions};

const TOP: &str = "CentralRegion";
const PODS: [(&str, &str, &str); 3] = [
    ("pod-1", "RegionOne", "az1"),
    ("pod-2", "RegionTwo", "az2"),
    ("pod-3", "RegionThree", "az3"),
];
/// A project's bridge subnet is a /24 (as the original's), so one project
/// holds at most about 250 bottom routers: the routers belong to four.
const PROJECTS: usize = 4;
const DEADLINE: Duration = Duration::from_secs(300);

async fn post(c: &NeutronClient, path: &str, key: &str, body: Value) -> String {
    let v = c
        .request(
            reqwest::Method::POST,
            path,
            &[],
            Some(&json!({ key: body })),
        )
        .await
        .unwrap_or_else(|e| panic!("POST {path}: {e}"))
        .unwrap();
    v[key]["id"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_routers_over_three_pods_converge_through_the_queue() {
    converge(100, Duration::from_millis(20)).await;
}

/// The latency figure: one router, each Neutron call held as long as the
/// real neutron-servers of `scripts/e2e` take for a write (0.1-0.3 s), so
/// the time is that of the longest chain of calls, not of their number.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_router_over_three_pods_converges_through_the_queue() {
    converge(1, Duration::from_millis(150)).await;
}

async fn converge(routers: usize, per_call: Duration) {
    let _ = tracing_subscriber_init();
    let cloud = PODS
        .iter()
        .fold(FakeCloud::builder().region(TOP), |b, (_, region, _)| {
            b.region(region)
        })
        .admin("tricircle", "Adm1n-Secret-pw", "service")
        .build()
        .await;
    let cache: Arc<dyn EndpointCache> = Arc::new(MemoryEndpointCache::new());
    let clients = Clients::new(
        clients_config(
            tricircle_openstack::test_password_auth!(cloud.admin()),
            false,
        ),
        cache,
    )
    .unwrap();
    clients.refresh_endpoints().await.unwrap();
    let db = TestDb::synced(Backend::Sqlite).unwrap();
    let all: Vec<_> = std::iter::once(("pod-top", TOP, ""))
        .chain(PODS.iter().copied())
        .collect();
    create_pods(&db.db, &all).await;

    let top = clients.neutron(TOP);
    for (_, region, az) in PODS {
        cloud.neutron(TOP).add_availability_zone(az);
        cloud.neutron(region).set_tricircle_l3(false);
    }
    let mut fan_outs = Vec::new();
    for i in 0..routers {
        let project = format!("{:032x}", i % PROJECTS + 1);
        let router = post(
            &top,
            "routers",
            "router",
            json!({"name": format!("r{i}"), "tenant_id": project}),
        )
        .await;
        for (k, (_, _, az)) in PODS.iter().enumerate() {
            let net = post(
                &top,
                "networks",
                "network",
                json!({"name": format!("n{i}-{az}"), "tenant_id": project,
                       "availability_zone_hints": [az]}),
            )
            .await;
            let subnet = post(
                &top,
                "subnets",
                "subnet",
                json!({"network_id": net, "cidr": format!("10.{i}.{k}.0/24"),
                       "ip_version": 4, "tenant_id": project}),
            )
            .await;
            top.request(
                reqwest::Method::PUT,
                &format!("routers/{router}/add_router_interface"),
                &[],
                Some(&json!({"subnet_id": subnet})),
            )
            .await
            .unwrap();
            fan_outs.push((project.clone(), format!("not_specified_pod#{router}#{net}")));
        }
    }

    let (queue, requests) = JobQueue::new(tricircle_jobs::queue::DEFAULT_CAPACITY);
    let settings = NetworkSettings {
        bridge_cidr: Cidr::parse("100.0.0.0/9").unwrap(),
        bridge_network_type: "vxlan".into(),
        bridge_physical_network: None,
        top_region_name: Some(TOP.into()),
        stock_neutron: true,
    };
    let net =
        NetworkContext::new(db.db.clone(), clients.clone(), settings).with_queue(queue.clone());
    let mut registry = Registry::new();
    handlers::register_all(&mut registry, &net).unwrap();
    let engine = Engine::new(
        db.db.clone(),
        registry,
        Settings {
            workers: 64,
            worker_sleep_time: Duration::ZERO,
            ..Settings::default()
        },
    );
    let options = ServiceOptions {
        periodic: PeriodicSettings {
            enabled: true,
            fuzzy_delay: Duration::ZERO,
            interval: Duration::from_secs(1),
        },
        grace_period: Duration::from_secs(30),
        heartbeat: Duration::from_secs(60),
    };
    let service = Service::new(engine.clone(), options, (queue.clone(), requests));
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let service = tokio::spawn(service.run(async {
        let _ = stop_rx.await;
    }));

    for region in std::iter::once(TOP).chain(PODS.iter().map(|p| p.1)) {
        cloud.neutron(region).clear_requests();
        cloud
            .neutron(region)
            .delay_next(None, "/v2.0/", 1_000_000, per_call);
    }
    let started = Instant::now();
    // As the consumer does for the plugin's casts: record, then queue
    // (waiting while the queue is full).
    for (project, resource) in &fan_outs {
        let (p, r) = (project.clone(), resource.clone());
        db.db
            .run(move |c| jobs::new_job(c, &p, JobType::RouterSetup.name(), &r))
            .await
            .unwrap();
        queue
            .send(JobRequest {
                job_type: JobType::RouterSetup,
                resource_id: resource.clone(),
                context: tricircle_jobs::periodic::admin_context(Some(project)),
            })
            .await
            .unwrap();
    }
    let elapsed = loop {
        let open = db
            .db
            .run(|c| {
                // SUCCESS rows move to async_job_logs: what is left is open.
                use diesel::prelude::*;
                Ok(tricircle_db::schema::async_jobs::table
                    .count()
                    .get_result::<i64>(c)?)
            })
            .await
            .unwrap();
        let stats = engine.stats();
        if open == 0 && stats.busy == 0 {
            break started.elapsed();
        }
        assert!(
            started.elapsed() < DEADLINE,
            "not converged: {open} NEW/RUNNING/FAIL rows left, {stats:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let stats = engine.stats();
    let _ = stop_tx.send(());
    service.await.unwrap().unwrap();

    let mut calls = BTreeMap::new();
    for region in std::iter::once(TOP).chain(PODS.iter().map(|p| p.1)) {
        cloud.neutron(region).clear_faults();
        for r in cloud.neutron(region).requests() {
            *calls.entry((region, r.method)).or_insert(0) += 1;
        }
    }
    println!(
        "{routers} router{} x 3 pods from nothing through the queue, {} ms per call: \
         {} job runs ({} failed, {} redone) in {:.1} s; calls {calls:?}",
        if routers == 1 { "" } else { "s" },
        per_call.as_millis(),
        stats.succeeded,
        stats.failed,
        stats.redos,
        elapsed.as_secs_f64()
    );
    for (_, region, _) in PODS {
        let made = cloud.neutron(region).dump("routers");
        assert_eq!(made.len(), routers, "{region}");
        let itfs = cloud
            .neutron(region)
            .dump("ports")
            .iter()
            .filter(|p| p["device_owner"] == "network:router_interface")
            .count();
        assert_eq!(itfs, routers, "{region}: one interface per router");
    }
}

fn tracing_subscriber_init() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    // RUST_LOG=info shows each job's calls and time.
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .try_init()
}
