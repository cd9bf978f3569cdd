//! The reconciliation sweep on the fake cloud (stock mode): the guide's
//! topology built by router_setup jobs sweeps to nothing; drift made by
//! hand in a pod is found, the jobs recorded heal it, and the next sweep
//! records nothing again. A sweep over 100 routers makes a few list calls
//! per region, however many routers there are.

use crate::network_common;

use std::collections::BTreeSet;
use std::time::Duration;

use network_common::*;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;
use tricircle_jobs::events::JobAsk;
use tricircle_jobs::network::bridge;
use tricircle_jobs::reconcile::{self, ReconcileSettings};
use tricircle_jobs::{JobType, ResourceType};
use tricircle_openstack::neutron::Filters;

struct World {
    router: String,
    net1: String,
    net2: String,
    vms: Vec<Value>,
    b_vms: Vec<String>,
    /// vm2's floating IP address.
    fip: Value,
}

/// The tenant's side in the central region: net1 (az1), net2 (az2), a
/// router on both with its gateway on ext-net (az2), a VM port on each
/// network and a floating IP on vm2.
async fn tenant_world(e: &Env) -> World {
    let top_fake = e.cloud.neutron(TOP);
    for az in ["az1", "az2"] {
        top_fake.add_availability_zone(az);
    }
    for r in [R1, R2] {
        e.cloud.neutron(r).set_tricircle_l3(false);
    }
    let top = e.neutron(TOP);
    let mut nets = Vec::new();
    for (name, cidr, az) in [
        ("net1", "10.0.1.0/24", "az1"),
        ("net2", "10.0.2.0/24", "az2"),
    ] {
        nets.push(network_in(&top, name, cidr, json!({"availability_zone_hints": [az]})).await);
    }
    let (ext, _) = ext_network(&top, "az2").await;
    let (router, vms, fip) = tenant_router(&top, PROJECT, &nets, &ext).await;
    World {
        router: id(&router),
        net1: id(&nets[0].0),
        net2: id(&nets[1].0),
        vms,
        b_vms: Vec::new(),
        fip: fip["floating_ip_address"].clone(),
    }
}

async fn setup_router(e: &Env, w: &World) {
    for n in [&w.net1, &w.net2] {
        assert!(
            e.run_job(
                JobType::RouterSetup.name(),
                &format!("not_specified_pod#{}#{n}", w.router)
            )
            .await
        );
    }
    let done = e.drain().await;
    assert!(done.iter().all(|(_, _, ok)| *ok), "{done:?}");
}

/// The guide's topology, converged: router_setup builds the pods' side,
/// each pod boots its VM on its copy, the VM ports are mirrored (routed to
/// the top ports, as port_mirror routes them) and router_setup runs again
/// for the routes and the floating IP.
async fn converged_world(e: &Env) -> World {
    let mut w = tenant_world(e).await;
    setup_router(e, &w).await;
    for (i, (region, pod, t_net)) in [(R1, "pod-1", &w.net1), (R2, "pod-2", &w.net2)]
        .into_iter()
        .enumerate()
    {
        let b_net = e
            .net
            .bottom_id(t_net, &e.pod(pod).await, ResourceType::Network)
            .await
            .unwrap()
            .expect("copy made by router_setup");
        let vm = &w.vms[i];
        let p = create(
            &e.neutron(region),
            "ports",
            "port",
            json!({"network_id": b_net, "name": format!("vm{}", i + 1),
            "device_owner": "compute:nova", "device_id": format!("vm{}", i + 1),
            "tenant_id": PROJECT, "mac_address": vm["mac_address"],
            "fixed_ips": [{"ip_address": first_ip(vm)}]}),
        )
        .await;
        e.route(&id(vm), pod, ResourceType::Port.as_str(), &id(&p))
            .await;
        w.b_vms.push(id(&p));
    }
    setup_router(e, &w).await;
    w
}

async fn sweep(e: &Env) -> BTreeSet<JobAsk> {
    let report = reconcile::sweep(&e.net).await.unwrap();
    assert!(report.unobserved.is_empty(), "{report:?}");
    report.recorded.into_iter().collect()
}

fn ask(job_type: JobType, resource_id: String) -> JobAsk {
    JobAsk {
        job_type,
        resource_id,
        project_id: PROJECT.into(),
    }
}

fn bottom_router(e: &Env, region: &str, w: &World) -> Value {
    named(&e.cloud.neutron(region).dump("routers"), &w.router)[0].clone()
}

/// Heal: run what the sweep recorded (and what those jobs record).
async fn heal(e: &Env) {
    let done = e.drain().await;
    assert!(
        !done.is_empty() && done.iter().all(|(_, _, ok)| *ok),
        "{done:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_converged_cloud_sweeps_to_nothing_and_hand_made_drift_heals() {
    let e = env(true).await;
    let w = converged_world(&e).await;
    assert_eq!(sweep(&e).await, BTreeSet::new(), "converged: no job");
    let r1 = e.neutron(R1);

    // A route deleted by hand in RegionOne.
    let b1 = bottom_router(&e, R1, &w);
    let all_routes = routes(&b1);
    assert_eq!(all_routes.len(), 2, "vm2 and the default route");
    let kept: Vec<Value> = all_routes
        .iter()
        .skip(1)
        .map(|(d, n)| json!({"destination": d, "nexthop": n}))
        .collect();
    put(
        &r1,
        &format!("routers/{}", id(&b1)),
        json!({"router": {"routes": kept}}),
    )
    .await;
    assert_eq!(
        sweep(&e).await,
        BTreeSet::from([ask(JobType::ConfigureRoute, w.router.clone())])
    );
    heal(&e).await;
    assert_eq!(routes(&bottom_router(&e, R1, &w)), all_routes, "route back");
    assert_eq!(sweep(&e).await, BTreeSet::new());

    // A bottom interface removed by hand in RegionOne.
    let b_sub = e
        .net
        .mappings(
            &id(&e
                .cloud
                .neutron(TOP)
                .dump("subnets")
                .into_iter()
                .find(|s| s["network_id"] == w.net1.as_str())
                .unwrap()),
            ResourceType::Subnet,
        )
        .await
        .unwrap()
        .into_iter()
        .find(|(p, _)| p.pod_id == "pod-1")
        .unwrap()
        .1;
    put(
        &r1,
        &format!("routers/{}/remove_router_interface", id(&b1)),
        json!({"subnet_id": b_sub}),
    )
    .await;
    assert!(interfaces(e.cloud.neutron(R1).dump("ports"), &b1).is_empty());
    assert_eq!(
        sweep(&e).await,
        BTreeSet::from([ask(
            JobType::RouterSetup,
            format!("pod-1#{}#{}", w.router, w.net1)
        )])
    );
    heal(&e).await;
    let r1_subs = e.cloud.neutron(R1).dump("subnets");
    let sub = r1_subs.iter().find(|s| s["id"] == b_sub.as_str()).unwrap();
    assert_one_interface_at_gateway(e.cloud.neutron(R1).dump("ports"), &b1, sub, R1);
    assert_eq!(routes(&bottom_router(&e, R1, &w)), all_routes);
    assert_eq!(sweep(&e).await, BTreeSet::new());

    // RegionTwo's router's bridge port deleted by hand (at the top).
    let b2 = bottom_router(&e, R2, &w);
    let name = bridge::port_name(PROJECT, &id(&b2));
    let top = e.neutron(TOP);
    let port = top
        .list_ports(&Filters::new().eq("name", &name))
        .await
        .unwrap()
        .remove(0);
    top.delete_port(port.id()).await.unwrap();
    assert_eq!(
        sweep(&e).await,
        BTreeSet::from([ask(
            JobType::RouterSetup,
            format!("pod-2#{}#{}", w.router, w.net2)
        )])
    );
    heal(&e).await;
    let again = top
        .list_ports(&Filters::new().eq("name", &name))
        .await
        .unwrap();
    assert_eq!(again.len(), 1, "bridge port made again");
    let b2 = bottom_router(&e, R2, &w);
    assert_eq!(
        Some(gateway_ip(&b2)),
        bridge::first_ip(&again[0]),
        "the router's bridge address is the port's"
    );
    assert_eq!(sweep(&e).await, BTreeSet::new());

    // vm2's floating IP deleted by hand in RegionTwo.
    let r2 = e.neutron(R2);
    let fips = e.cloud.neutron(R2).dump("floatingips");
    assert_eq!(fips.len(), 1);
    r2.delete_floatingip(&id(&fips[0])).await.unwrap();
    assert_eq!(
        sweep(&e).await,
        BTreeSet::from([ask(
            JobType::RouterSetup,
            format!("pod-2#{}#{}", w.router, w.net2)
        )])
    );
    heal(&e).await;
    let fips = e.cloud.neutron(R2).dump("floatingips");
    assert_eq!(fips.len(), 1);
    assert_eq!(fips[0]["floating_ip_address"], w.fip);
    assert_eq!(fips[0]["port_id"], w.b_vms[1].as_str());
    assert_eq!(sweep(&e).await, BTreeSet::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_already_waiting_are_not_recorded_again_and_a_failing_pod_is_left_out() {
    let e = env(true).await;
    let w = tenant_world(&e).await;
    // Nothing built yet: both networks' pods lack the router.
    let want = BTreeSet::from([
        ask(
            JobType::RouterSetup,
            format!("pod-1#{}#{}", w.router, w.net1),
        ),
        ask(
            JobType::RouterSetup,
            format!("pod-2#{}#{}", w.router, w.net2),
        ),
        ask(JobType::NetworkSetup, format!("pod-1#{}", w.net1)),
        ask(JobType::NetworkSetup, format!("pod-2#{}", w.net2)),
    ]);
    assert_eq!(sweep(&e).await, want);
    let again = reconcile::sweep(&e.net).await.unwrap();
    assert!(again.recorded.is_empty(), "{again:?}");
    assert_eq!(again.pending, want.len());
    let (_, new) = e.waiting().await;
    assert_eq!(new.len(), want.len(), "one NEW row per job: {new:?}");

    // RegionOne cannot be listed: only RegionTwo is compared.
    let (_, new) = e.waiting().await;
    for j in new {
        let id = j.resource_id.clone();
        let t = j.job_type.clone();
        e.db.db
            .run(move |c| {
                let row = tricircle_db::jobs::get_latest_job(
                    c,
                    tricircle_db::jobs::JobStatus::New,
                    &t,
                    &id,
                )?
                .unwrap();
                tricircle_db::jobs::delete_job(c, &row.id)
            })
            .await
            .unwrap();
    }
    e.cloud
        .neutron(R1)
        .fail_next(Some("GET"), "/v2.0/ports", 10, 500);
    let report = reconcile::sweep(&e.net).await.unwrap();
    e.cloud.neutron(R1).clear_faults();
    assert_eq!(report.unobserved, vec![R1.to_owned()]);
    let recorded: BTreeSet<_> = report.recorded.into_iter().collect();
    assert_eq!(
        recorded,
        want.into_iter()
            .filter(|a| a.resource_id.starts_with("pod-2#"))
            .collect()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweep_task_runs_soon_after_start_and_stops_when_asked() {
    let e = env(true).await;
    let w = tenant_world(&e).await;
    let stop = CancellationToken::new();
    let task = tokio::spawn(reconcile::run(
        e.net.clone(),
        ReconcileSettings {
            interval: Duration::from_secs(3600),
            first_delay: Duration::ZERO,
        },
        stop.clone(),
    ));
    let rid = format!("pod-1#{}#{}", w.router, w.net1);
    let mut found = false;
    for _ in 0..300 {
        let r = rid.clone();
        let job =
            e.db.db
                .run(move |c| {
                    tricircle_db::jobs::get_latest_job(
                        c,
                        tricircle_db::jobs::JobStatus::New,
                        JobType::RouterSetup.name(),
                        &r,
                    )
                })
                .await
                .unwrap();
        if job.is_some() {
            found = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(found, "the first sweep recorded router_setup {rid}");
    stop.cancel();
    tokio::time::timeout(Duration::from_secs(30), task)
        .await
        .expect("the task ends when stopped")
        .unwrap();
}

/// 100 routers, each on its own network hinted to az1, with their bottom
/// routers and interfaces in RegionOne: what a sweep reads.
async fn hundred_routers(e: &Env) {
    e.cloud.neutron(TOP).add_availability_zone("az1");
    let (top, r1) = (e.neutron(TOP), e.neutron(R1));
    for i in 0..100 {
        let name = format!("n{i}");
        let (n, s) = network_in(
            &top,
            &name,
            &format!("10.1.{i}.0/24"),
            json!({"availability_zone_hints": ["az1"]}),
        )
        .await;
        let router = create(
            &top,
            "routers",
            "router",
            json!({"name": format!("r{i}"), "tenant_id": PROJECT}),
        )
        .await;
        put(
            &top,
            &format!("routers/{}/add_router_interface", id(&router)),
            json!({"subnet_id": id(&s)}),
        )
        .await;
        let (bn, bs) = e.bottom_network(R1, "pod-1", (&n, &s), &name).await;
        let _ = bn;
        let b_router = create(
            &r1,
            "routers",
            "router",
            json!({"name": id(&router), "tenant_id": PROJECT}),
        )
        .await;
        put(
            &r1,
            &format!("routers/{}/add_router_interface", id(&b_router)),
            json!({"subnet_id": id(&bs)}),
        )
        .await;
        e.route(
            &id(&router),
            "pod-1",
            ResourceType::Router.as_str(),
            &id(&b_router),
        )
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sweep_over_100_routers_makes_a_few_list_calls_per_region() {
    let e = env(true).await;
    hundred_routers(&e).await;
    for region in [TOP, R1, R2] {
        e.cloud.neutron(region).clear_requests();
    }
    let report = reconcile::sweep(&e.net).await.unwrap();
    // They lack their bridges: one router_setup each, one row per router.
    assert_eq!(report.recorded.len(), 100, "{report:?}");
    for region in [TOP, R1, R2] {
        let requests = e.cloud.neutron(region).requests();
        println!("sweep over 100 routers: {region}: {} calls", requests.len());
        assert!(requests.len() <= 20, "{region}: {requests:#?}");
        assert!(
            requests
                .iter()
                .all(|r| r.method == "GET" && r.query.contains("fields=")),
            "{region}: list calls with fields only: {requests:#?}"
        );
    }
}
