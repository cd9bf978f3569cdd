//! The routing-table creation lock against the fake cloud.

mod network_common;

use network_common::*;
use tricircle_jobs::network::lock::{self, Element};
use tricircle_jobs::network::NetError;
use tricircle_jobs::ResourceType;
use tricircle_openstack::neutron::Router;

fn router(name: &str) -> Router {
    Router {
        name: Some(name.into()),
        tenant_id: Some(PROJECT.into()),
        ..Router::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abandoned_routing_is_recovered_by_name_and_a_held_one_fails() {
    let e = env(false).await;
    let pod = e.pod("pod-1").await;
    let el = || Element {
        top_id: "top-router",
        resource_type: ResourceType::Router,
        name: "top-router",
        body: router("top-router"),
    };
    // A worker died after creating the router, before binding the routing.
    let made = e
        .neutron(R1)
        .create_router(&router("top-router"))
        .await
        .unwrap();
    e.route("top-router", "pod-1", ResourceType::Router.as_str(), "")
        .await;
    // Held by a live worker: give up (the job fails and is redone later).
    let held = lock::get_or_create(&e.net, PROJECT, &pod, el()).await;
    assert!(matches!(held, Err(NetError::Lock(_))), "{held:?}");
    // Once expired, the router is adopted, not created again.
    e.db.exec_raw("UPDATE resource_routings SET created_at = '2000-01-01 00:00:00'");
    let got = lock::get_or_create(&e.net, PROJECT, &pod, el())
        .await
        .unwrap();
    assert_eq!(got.id, made.id());
    assert!(got.bound_now);
    assert_eq!(e.cloud.neutron(R1).dump("routers").len(), 1);
    let again = lock::get_or_create(&e.net, PROJECT, &pod, el())
        .await
        .unwrap();
    assert_eq!(again.id, made.id());
    assert!(!again.bound_now);
}
