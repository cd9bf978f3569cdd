//! Stock mode (`[xjob] stock_neutron`): a job for a top resource the
//! routing table does not know yet is accepted when the central Neutron
//! (the fake) shows it owned by the job's project, and only then.

use reqwest::Method;
use serde_json::{json, Value};
use tricircle_api::ownership::CentralNeutron;
use tricircle_config::Config;
use tricircle_db::testing::{backends_under_test, TestDb};
use tricircle_fakecloud::FakeCloud;
use tricircle_openstack::neutron::Method as NeutronMethod;
use tricircle_openstack::{Clients, ClientsConfig};

use crate::common::{send, TestApi, PROJECT};
use crate::pods::three_pods;

const TOP: &str = "CentralRegion";

fn stock_config(cloud: &FakeCloud, dir: &tempfile::TempDir) -> Config {
    let path = dir.path().join("api.conf");
    std::fs::write(
        &path,
        format!(
            "{}top_region_name = {TOP}\nauto_refresh_endpoint = true\n\n[xjob]\nstock_neutron = true\n",
            cloud.admin().client_section()
        ),
    )
    .unwrap();
    Config::load(&[path]).unwrap().0
}

async fn top_router(clients: &Clients, project: &str) -> String {
    let body = json!({"router": {"name": "r", "tenant_id": project}});
    let made = clients
        .neutron(TOP)
        .request(NeutronMethod::POST, "routers", &[], Some(&body))
        .await
        .unwrap()
        .unwrap();
    made["router"]["id"].as_str().unwrap().to_owned()
}

fn router_setup(router: &str) -> Value {
    json!({"job": {"type": "router_setup", "project_id": PROJECT, "resource": {
        "pod_id": "not_specified_pod", "router_id": router, "network_id": "net-1"}}})
}

#[actix_web::test]
async fn jobs_for_unrouted_resources_are_checked_in_the_central_neutron() {
    let cloud = FakeCloud::builder()
        .region(TOP)
        .admin("tricircle", "Adm1n-Secret-pw", "service")
        .build()
        .await;
    let dir = tempfile::tempdir().unwrap();
    let config = stock_config(&cloud, &dir);
    let db = TestDb::synced(backends_under_test()[0]).unwrap();
    let central = CentralNeutron::from_config(&config, db.db.clone())
        .unwrap()
        .expect("stock mode is on");
    let clients = Clients::new(
        ClientsConfig::from_options(&config.client).unwrap(),
        std::sync::Arc::new(tricircle_openstack::endpoints::MemoryEndpointCache::new()),
    )
    .unwrap();
    clients.refresh_endpoints().await.unwrap();
    let api = TestApi::start_stock(db, central).await;
    three_pods(&api).await;
    let mine = top_router(&clients, PROJECT).await;
    let theirs = top_router(&clients, "another-project").await;

    let (status, body) = send(
        api.admin(Method::POST, "/v1.0/jobs")
            .json(&router_setup(&mine)),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["job"]["status"], "NEW");
    assert_eq!(body["job"]["resource"]["router_id"], mine.as_str());

    for (router, why) in [
        (&theirs, "another project's"),
        (&"no-such-router".to_owned(), "unknown"),
    ] {
        let (status, body) = send(
            api.admin(Method::POST, "/v1.0/jobs")
                .json(&router_setup(router)),
        )
        .await;
        assert_eq!(status, 400, "{why} router: {body}");
        assert_eq!(
            body["badRequest"]["message"],
            format!("router {router} doesn't belong to the project {PROJECT}")
        );
    }

    // The central Neutron down: the check cannot be made, nothing is stored.
    cloud.neutron(TOP).set_down(true).await.unwrap();
    let (status, body) = send(
        api.admin(Method::POST, "/v1.0/jobs")
            .json(&router_setup(&mine)),
    )
    .await;
    assert_eq!(status, 503, "{body}");
    let (_, jobs) = send(api.admin(Method::GET, "/v1.0/jobs")).await;
    assert_eq!(jobs["jobs"].as_array().unwrap().len(), 1, "{jobs}");
    api.stop().await;
}

#[test]
fn stock_mode_off_asks_nobody() {
    let db = TestDb::synced(backends_under_test()[0]).unwrap();
    let config = Config::load(&[]).unwrap().0;
    assert!(CentralNeutron::from_config(&config, db.db.clone())
        .unwrap()
        .is_none());
}
