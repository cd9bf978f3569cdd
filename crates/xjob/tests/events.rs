//! Stock mode's event path through a real broker: the central Neutron's
//! notifications (the fake cloud's, published as Neutron's notifier does)
//! reach xjob's listener, which records the jobs they ask for and queues
//! them; a malformed notification does not stop it.

use std::time::Duration;

use serde_json::{json, Value};
use tricircle_db::testing::{create_pods, TestDb};
use tricircle_db::{jobs, Backend};
use tricircle_fakecloud::FakeCloud;
use tricircle_jobs::network::NetworkContext;
use tricircle_jobs::{JobQueue, JobType};
use tricircle_openstack::neutron::Method;
use tricircle_rpc::notification::Notification;
use tricircle_rpc::{CancellationToken, Publisher, RpcConfig};
use tricircle_xjob::events::{attach, NotificationSource, NEUTRON_EXCHANGE};

mod common;

const PROJECT: &str = "project-events";

/// A call of the tenant to the central Neutron; returns `key` of the answer.
async fn top_call(
    net: &NetworkContext,
    method: Method,
    path: &str,
    key: &str,
    body: Value,
) -> Value {
    let top = net.clients.neutron("CentralRegion");
    let v = top
        .request(method, path, &[], Some(&body))
        .await
        .unwrap()
        .unwrap_or_default();
    if key.is_empty() {
        v
    } else {
        v[key].clone()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(tricircle_rabbit),
    ignore = "needs RabbitMQ: set TRICIRCLE_TEST_RABBIT_URL (scripts/test starts one)"
)]
async fn central_notifications_become_recorded_and_queued_jobs() {
    let url = tricircle_rpc::testing::rabbit_url();
    let cloud = FakeCloud::builder()
        .region("CentralRegion")
        .region("RegionOne")
        .admin("tricircle", "Adm1n-Secret-pw", "service")
        .build()
        .await;
    let db = TestDb::synced(Backend::Sqlite).unwrap();
    create_pods(
        &db.db,
        &[
            ("pod-top", "CentralRegion", ""),
            ("pod-1", "RegionOne", "az1"),
        ],
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("xjob.conf");
    std::fs::write(
        &conf,
        format!(
            "{}auto_refresh_endpoint = true\ntop_region_name = CentralRegion\n\
             [xjob]\nstock_neutron = true\n",
            cloud.admin().client_section()
        ),
    )
    .unwrap();
    let (config, _) = tricircle_config::Config::load(&[conf]).unwrap();
    let (queue, mut requests) = JobQueue::new(16);
    let net = NetworkContext::from_config(&config, db.db.clone())
        .unwrap()
        .with_queue(queue);
    net.clients.refresh_endpoints().await.unwrap();

    // The tenant's calls in the central region.
    let network = top_call(
        &net,
        Method::POST,
        "networks",
        "network",
        json!({"network": {"name": "net1", "tenant_id": PROJECT}}),
    )
    .await;
    let subnet = top_call(
        &net,
        Method::POST,
        "subnets",
        "subnet",
        json!({"subnet": {"network_id": network["id"], "cidr": "10.0.1.0/24",
            "ip_version": 4, "tenant_id": PROJECT}}),
    )
    .await;
    let router = top_call(
        &net,
        Method::POST,
        "routers",
        "router",
        json!({"router": {"name": "r", "tenant_id": PROJECT}}),
    )
    .await;
    top_call(
        &net,
        Method::PUT,
        &format!(
            "routers/{}/add_router_interface",
            router["id"].as_str().unwrap()
        ),
        "",
        json!({"subnet_id": subnet["id"]}),
    )
    .await;
    // The interface's notification only: the network's and subnet's ask
    // for network_setup, tested on the fake cloud (stock_slices.rs).
    let published: Vec<_> = cloud
        .neutron("CentralRegion")
        .take_notifications()
        .into_iter()
        .filter(|n| n.event_type == "router.interface.create")
        .collect();
    assert!(!published.is_empty());

    // xjob follows the central region on a topic of this test's own.
    let topic = format!("notifications-{}", uuid::Uuid::new_v4().simple());
    let mut rpc = RpcConfig::new(url);
    rpc.control_exchange = NEUTRON_EXCHANGE.into();
    let stop = CancellationToken::new();
    let mut listeners = attach(
        vec![NotificationSource {
            region: "CentralRegion".into(),
            rpc: rpc.clone(),
            topics: vec![topic.clone()],
            pool: format!("pool-{}", uuid::Uuid::new_v4().simple()),
        }],
        net.clone(),
        stop.clone(),
    );
    let publisher = Publisher::new(rpc);
    let want = format!(
        "not_specified_pod#{}#{}",
        router["id"].as_str().unwrap(),
        network["id"].as_str().unwrap()
    );
    // The listener binds its queue asynchronously: publish until the job
    // is queued. A malformed notification goes first each time.
    let request = 'published: {
        for _ in 0..60 {
            publisher
                .notify(
                    &topic,
                    &Notification {
                        event_type: String::new(),
                        publisher_id: "network.fake".into(),
                        priority: "INFO".into(),
                        payload: Value::Null,
                        message_id: None,
                        timestamp: None,
                        context: Default::default(),
                    },
                )
                .await
                .unwrap();
            for n in &published {
                publisher
                    .notify(
                        &topic,
                        &Notification {
                            event_type: n.event_type.clone(),
                            publisher_id: "network.fake".into(),
                            priority: "INFO".into(),
                            payload: n.payload.clone(),
                            message_id: None,
                            timestamp: None,
                            context: n.context.clone(),
                        },
                    )
                    .await
                    .unwrap();
            }
            if let Ok(Some(r)) =
                tokio::time::timeout(Duration::from_millis(500), requests.recv()).await
            {
                break 'published r;
            }
        }
        panic!("no job queued from the notifications");
    };
    assert_eq!(request.job_type, JobType::RouterSetup);
    assert_eq!(request.resource_id, want);
    let rows = db
        .db
        .run(|c| jobs::list_jobs(c, &Default::default(), -1, None))
        .await
        .unwrap();
    assert!(
        rows.iter()
            .any(|j| j.job_type.as_deref() == Some("router_setup")
                && j.resource_id.as_deref() == Some(want.as_str())
                && j.project_id.as_deref() == Some(PROJECT)),
        "the job is recorded before the notification is acknowledged: {rows:?}"
    );
    stop.cancel();
    while listeners.join_next().await.is_some() {}
}
