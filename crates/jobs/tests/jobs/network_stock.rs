//! router_setup and configure_route in stock mode (`[xjob] stock_neutron`):
//! the central and pod Neutron servers run stock ML2 (the fake's stock
//! floating IP rule), only what the tenant creates through the central
//! Neutron exists, and xjob builds the rest: bridge subnet pool, network
//! and subnet, bottom networks, the bottom external network, the
//! north-south router and the floating IP's path.

use crate::network_common;

use std::collections::BTreeSet;

use network_common::*;
use serde_json::{json, Value};
use tricircle_jobs::events::{jobs_for, record, JobAsk, NeutronEvent};
use tricircle_jobs::network::bottom::{self, Copy};
use tricircle_jobs::network::bridge;
use tricircle_jobs::network::external::{ns_interface_port_name, ns_router_name};
use tricircle_jobs::recorded::Reach;
use tricircle_jobs::JobType;
use tricircle_jobs::ResourceType;
use tricircle_openstack::neutron::{Network, Subnet};

const CONFIGURE_ROUTE: &str = JobType::ConfigureRoute.name();
const ROUTER_SETUP: &str = JobType::RouterSetup.name();

async fn assert_converged_inner(e: &Env, w: &World, b_vms: &[String], only_vm2_fip: bool) {
    let top_fake = e.cloud.neutron(TOP);
    // The top bridge: one pool, one network, one /24 of it with DHCP off.
    let pools = top_fake.dump("subnetpools");
    assert_eq!(pools.len(), 1);
    assert_eq!(pools[0]["name"], bridge::SUBNET_POOL_NAME);
    assert_eq!(pools[0]["prefixes"], json!(["100.0.0.0/9"]));
    assert_eq!(pools[0]["shared"], true);
    let top_nets = top_fake.dump("networks");
    let t_bridge = named(&top_nets, &bridge::net_name(PROJECT));
    assert_eq!(t_bridge.len(), 1);
    assert_eq!(t_bridge[0]["provider:network_type"], "vxlan");
    let top_subs = top_fake.dump("subnets");
    let t_bsub = named(&top_subs, &bridge::subnet_name(PROJECT));
    assert_eq!(t_bsub.len(), 1);
    assert_eq!(t_bsub[0]["cidr"], "100.0.0.0/24");
    assert_eq!(t_bsub[0]["enable_dhcp"], false);
    assert_eq!(t_bsub[0]["subnetpool_id"], pools[0]["id"]);

    let top_ports = top_fake.dump("ports");
    let mut bridge_ips = Vec::new();
    for (region, tenant_cidr) in [(R1, "10.0.1.0/24"), (R2, "10.0.2.0/24")] {
        let fake = e.cloud.neutron(region);
        let routers = fake.dump("routers");
        let mine = named(&routers, &w.router);
        assert_eq!(mine.len(), 1, "one bottom router in {region}");
        let r = mine[0];
        let nets = fake.dump("networks");
        let subnets = fake.dump("subnets");
        let b_bridge = named(&nets, &id(t_bridge[0]));
        assert_eq!(b_bridge.len(), 1, "one bridge network in {region}");
        assert_eq!(b_bridge[0]["router:external"], true);
        let gw = &r["external_gateway_info"];
        assert_eq!(gw["network_id"], b_bridge[0]["id"]);
        assert_eq!(gw["enable_snat"], false);
        let t_port = named(
            &top_ports,
            &bridge::port_name(PROJECT, r["id"].as_str().unwrap()),
        );
        assert_eq!(t_port.len(), 1);
        assert_eq!(gateway_ip(r), first_ip(t_port[0]));
        bridge_ips.push(gateway_ip(r));
        let bsub: Vec<_> = subnets
            .iter()
            .filter(|s| s["network_id"] == b_bridge[0]["id"])
            .collect();
        assert_eq!(bsub.len(), 1);
        assert_eq!(
            bsub[0]["cidr"], "100.0.0.0/24",
            "same bridge CIDR in {region}"
        );
        let tenant_sub = subnets.iter().find(|s| s["cidr"] == tenant_cidr).unwrap();
        assert_eq!(tenant_sub["enable_dhcp"], false);
        assert_one_interface_at_gateway(fake.dump("ports"), r, tenant_sub, region);
    }

    // The north-south side in the external network's pod.
    let r2 = e.cloud.neutron(R2);
    let r2_nets = r2.dump("networks");
    let b_ext = named(&r2_nets, "ext-net");
    assert_eq!(b_ext.len(), 1);
    assert_eq!(b_ext[0]["router:external"], true);
    assert_eq!(b_ext[0]["provider:network_type"], "vlan");
    assert!(named(&e.cloud.neutron(R1).dump("networks"), "ext-net").is_empty());
    let r2_routers = r2.dump("routers");
    let ns = named(&r2_routers, &ns_router_name(&w.router));
    assert_eq!(ns.len(), 1);
    let ns = ns[0];
    let t_router = top_fake
        .dump("routers")
        .into_iter()
        .find(|r| r["id"] == w.router.as_str())
        .unwrap();
    assert_eq!(ns["external_gateway_info"]["network_id"], b_ext[0]["id"]);
    assert_eq!(ns["external_gateway_info"]["enable_snat"], true);
    assert_eq!(
        gateway_ip(ns),
        gateway_ip(&t_router),
        "same gateway address"
    );
    let ns_ip = "100.0.0.1".to_owned();
    let ns_ports = interfaces(r2.dump("ports"), ns);
    assert!(ns_ports
        .iter()
        .any(|p| p["fixed_ips"][0]["ip_address"] == ns_ip.as_str()));
    let t_ns_port = named(
        &top_ports,
        &bridge::port_name(PROJECT, ns["id"].as_str().unwrap()),
    );
    assert_eq!(
        first_ip(t_ns_port[0]),
        ns_ip,
        "top bridge port holds the gateway"
    );

    let r1_router = named(&e.cloud.neutron(R1).dump("routers"), &w.router)[0].clone();
    let r2_router = named(&r2_routers, &w.router)[0].clone();
    assert_two_pod_routes(
        [&r1_router, &r2_router],
        ns,
        [&first_ip(&w.vms[0]), &first_ip(&w.vms[1])],
        &bridge_ips,
        &ns_ip,
    );

    assert_vm2_fip(e, w, b_vms, &ns_ports, only_vm2_fip);
}

/// Everything [`assert_converged`] checks but the floating IP count.
async fn assert_converged_but_fips(e: &Env, w: &World, b_vms: &[String]) {
    assert_converged_inner(e, w, b_vms, false).await;
}

async fn assert_converged(e: &Env, w: &World, b_vms: &[String]) {
    assert_converged_inner(e, w, b_vms, true).await;
}

/// The floating IP in the external network's pod, on vm2's port, through
/// an NS interface on vm2's subnet that is not the subnet's gateway.
fn assert_vm2_fip(e: &Env, w: &World, b_vms: &[String], ns_ports: &[Value], only: bool) {
    let r2 = e.cloud.neutron(R2);
    let fips = r2.dump("floatingips");
    if only {
        assert_eq!(fips.len(), 1, "{fips:#?}");
    }
    let vm2_fip = fips
        .iter()
        .find(|f| f["floating_ip_address"] == w.fip.as_str())
        .expect("vm2's floating IP in RegionTwo");
    let b_ext = named(&r2.dump("networks"), "ext-net")[0].clone();
    assert_eq!(vm2_fip["floating_network_id"], b_ext["id"]);
    assert_eq!(vm2_fip["port_id"], b_vms[1].as_str());
    let r2_subs = r2.dump("subnets");
    let net2_sub = r2_subs.iter().find(|s| s["cidr"] == "10.0.2.0/24").unwrap();
    let on_net2: Vec<_> = ns_ports
        .iter()
        .filter(|p| p["fixed_ips"][0]["subnet_id"] == net2_sub["id"])
        .collect();
    assert_eq!(on_net2.len(), 1);
    assert_ne!(
        on_net2[0]["fixed_ips"][0]["ip_address"],
        net2_sub["gateway_ip"]
    );
    assert!(e.cloud.neutron(R1).dump("floatingips").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stock_multi_pod_scenario_converges_and_reruns_change_nothing() {
    let e = env(true).await;
    let w = tenant_world(&e).await;
    let done = run_all(&e, &w).await;
    assert!(done.iter().all(|(_, _, ok)| *ok), "{done:?}");
    assert!(done
        .iter()
        .any(|(t, r, _)| t == CONFIGURE_ROUTE && *r == w.router));
    // The VMs boot on the networks the jobs made; the floating IP follows
    // on the next run (the central side casts router_setup again).
    let b_vms = boot_vms(&e, &w).await;
    let done = run_all(&e, &w).await;
    assert!(done.iter().all(|(_, _, ok)| *ok), "{done:?}");
    assert_converged(&e, &w, &b_vms).await;

    let before = e.snapshot().await;
    let pools = e.cloud.neutron(TOP).dump("subnetpools");
    let done = run_all(&e, &w).await;
    assert!(done.iter().all(|(_, _, ok)| *ok), "{done:?}");
    assert_eq!(e.snapshot().await, before, "a rerun changes nothing");
    assert_eq!(e.cloud.neutron(TOP).dump("subnetpools"), pools);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bottom_copy_of_a_network_uses_the_pods_reserved_gateway() {
    let e = env(true).await;
    let w = tenant_world(&e).await;
    let top = e.neutron(TOP);
    let t_net: Network = top.get_network(&w.net1).await.unwrap();
    let t_sub: Subnet = top
        .list_subnets(&tricircle_openstack::neutron::Filters::new().eq("network_id", &w.net1))
        .await
        .unwrap()
        .remove(0);
    let (top_pod, pod1) = (e.pod("pod-top").await, e.pod("pod-1").await);
    let copy = || {
        bottom::network_subnets(
            &e.net,
            &top_pod,
            &pod1,
            PROJECT,
            &t_net,
            std::slice::from_ref(&t_sub),
            Copy::Own,
        )
    };
    let (b_net, map) = copy().await.unwrap();
    let again = copy().await.unwrap();
    assert_eq!((b_net.clone(), map.clone()), again, "idempotent");
    let r1 = e.cloud.neutron(R1);
    let nets = r1.dump("networks");
    assert_eq!(nets.len(), 1);
    assert_eq!(nets[0]["name"], format!("{}#net1", w.net1));
    let subs = r1.dump("subnets");
    assert_eq!(subs.len(), 1);
    let b_sub = &subs[0];
    assert_eq!(b_sub["id"], map[t_sub.id()].as_str());
    assert_eq!(b_sub["name"], t_sub.id());
    assert_eq!(b_sub["cidr"], "10.0.1.0/24");
    assert_eq!(b_sub["enable_dhcp"], false);
    let reserved = named(
        &e.cloud.neutron(TOP).dump("ports"),
        &bottom::interface_port_name(R1, t_sub.id()),
    )[0]
    .clone();
    assert_eq!(b_sub["gateway_ip"], first_ip(&reserved).as_str());
    // net1 spans RegionOne alone: its copy offers all but the top gateway
    // and the central head (.2-.32), where the reservation sits.
    assert_eq!(
        b_sub["allocation_pools"],
        json!([{"start": "10.0.1.33", "end": "10.0.1.254"}])
    );
    let last = first_ip(&reserved);
    let last: u8 = last.rsplit('.').next().unwrap().parse().unwrap();
    assert!((2..=32).contains(&last), "{reserved:#?}");
    assert_eq!(
        e.net
            .bottom_id(&w.net1, &pod1, ResourceType::Network)
            .await
            .unwrap(),
        Some(b_net)
    );
}

/// vm1 lives in RegionOne, the external network in RegionTwo: its floating
/// IP is mirrored onto a shadow port in RegionTwo (vm1's address, on the
/// shadow copy of net1 there, reached through the NS router's interface at
/// the copy's gateway, which the top holds for the copy: no reservation of
/// its own), and deleted when the top disassociates it; the NS interface
/// goes with the router's interface on net1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stock_floating_ip_of_a_vm_in_another_pod_uses_a_shadow_port() {
    let e = env(true).await;
    let w = tenant_world(&e).await;
    assert!(run_all(&e, &w).await.iter().all(|(_, _, ok)| *ok));
    let b_vms = boot_vms(&e, &w).await;
    let top = e.neutron(TOP);
    let vm1 = &w.vms[0];
    let fip = create(
        &top,
        "floatingips",
        "floatingip",
        json!({"floating_network_id": w.ext, "port_id": id(vm1), "tenant_id": PROJECT}),
    )
    .await;
    let addr = fip["floating_ip_address"].as_str().unwrap().to_owned();
    let done = run_all(&e, &w).await;
    assert!(done.iter().all(|(_, _, ok)| *ok), "{done:?}");
    assert_converged_but_fips(&e, &w, &b_vms).await;

    let r2 = e.cloud.neutron(R2);
    let fips = r2.dump("floatingips");
    assert_eq!(fips.len(), 2, "{fips:#?}");
    let shadow_fip = fips
        .iter()
        .find(|f| f["floating_ip_address"] == addr.as_str())
        .expect("vm1's floating IP in RegionTwo");
    let ports = r2.dump("ports");
    let shadow = ports
        .iter()
        .find(|p| p["id"] == shadow_fip["port_id"])
        .unwrap();
    assert_eq!(shadow["device_owner"], "compute:shadow");
    assert_eq!(shadow["name"], format!("shadow_port_{}", id(vm1)));
    assert_eq!(first_ip(shadow), first_ip(vm1));
    assert_eq!(shadow["mac_address"], vm1["mac_address"]);
    let r2_nets = r2.dump("networks");
    let shadow_net = r2_nets
        .iter()
        .find(|n| n["id"] == shadow["network_id"])
        .unwrap();
    assert_eq!(shadow_net["name"], format!("{}#net1", w.net1));
    assert_eq!(
        e.net
            .bottom_id(&w.net1, &e.pod("pod-2").await, ResourceType::ShadowNetwork)
            .await
            .unwrap(),
        Some(id(shadow_net))
    );
    let shadow_sub = r2
        .dump("subnets")
        .into_iter()
        .find(|s| s["network_id"] == shadow_net["id"])
        .unwrap();
    let ns = named(&r2.dump("routers"), &ns_router_name(&w.router))[0].clone();
    let on_shadow: Vec<_> = ports
        .iter()
        .filter(|p| {
            p["device_id"] == ns["id"]
                && p["device_owner"] == "network:router_interface"
                && p["fixed_ips"][0]["subnet_id"] == shadow_sub["id"]
        })
        .collect();
    assert_eq!(on_shadow.len(), 1);
    assert_eq!(
        on_shadow[0]["fixed_ips"][0]["ip_address"],
        shadow_sub["gateway_ip"]
    );
    let sub1 = first_subnet(vm1);
    let top_ports = e.cloud.neutron(TOP).dump("ports");
    let held = named(&top_ports, &bottom::interface_port_name(R2, &sub1));
    assert_eq!(held.len(), 1, "the copy's gateway is held at the top");
    assert_eq!(first_ip(held[0]), first_ip(on_shadow[0]));
    assert!(
        named(&top_ports, &ns_interface_port_name(&w.router, &sub1)).is_empty(),
        "no address reserved for the NS interface"
    );
    assert!(e.cloud.neutron(R1).dump("floatingips").is_empty());

    let before = e.snapshot().await;
    assert!(run_all(&e, &w).await.iter().all(|(_, _, ok)| *ok));
    assert_eq!(e.snapshot().await, before, "a rerun changes nothing");

    // The top lets go of it: the mirror goes, vm2's stays.
    put(
        &top,
        &format!("floatingips/{}", id(&fip)),
        json!({"floatingip": {"port_id": null}}),
    )
    .await;
    assert!(run_all(&e, &w).await.iter().all(|(_, _, ok)| *ok));
    let left: Vec<_> = r2
        .dump("floatingips")
        .into_iter()
        .map(|f| f["floating_ip_address"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(left, vec![w.fip.clone()]);

    // The router leaves net1: its NS interface on the shadow copy goes.
    put(
        &top,
        &format!("routers/{}/remove_router_interface", w.router),
        json!({"subnet_id": sub1}),
    )
    .await;
    assert!(run_all(&e, &w).await.iter().all(|(_, _, ok)| *ok));
    let on_shadow = interfaces(r2.dump("ports"), &ns)
        .into_iter()
        .filter(|p| p["fixed_ips"][0]["subnet_id"] == shadow_sub["id"])
        .count();
    assert_eq!(on_shadow, 0, "the NS interface on the shadow copy went");
}

/// The stock guide converged, then its VMs booted and every job run again.
async fn converged_with_vms() -> (Env, World) {
    let e = env(true).await;
    let w = tenant_world(&e).await;
    assert!(run_all(&e, &w).await.iter().all(|(_, _, ok)| *ok));
    boot_vms(&e, &w).await;
    assert!(run_all(&e, &w).await.iter().all(|(_, _, ok)| *ok));
    (e, w)
}

/// A floating IP of a VM in another pod needs a shadow port and the
/// north-south router's interface on the shadow subnet; neither needs the
/// other, so they are made at once: with the shadow port's creation held,
/// the interface is attached meanwhile (one after the other, the shadow
/// port always came first).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_floating_ips_shadow_port_and_ns_interface_are_made_at_once() {
    let (e, w) = converged_with_vms().await;
    let vm1 = &w.vms[0];
    create(
        &e.neutron(TOP),
        "floatingips",
        "floatingip",
        json!({"floating_network_id": w.ext, "port_id": id(vm1), "tenant_id": PROJECT}),
    )
    .await;
    let r2_since = e.cloud.neutron(R2).requests().len();
    // The only port made in RegionTwo from here on is the shadow port.
    let held = e
        .cloud
        .neutron(R2)
        .hold_next(Some("POST"), "/v2.0/ports", HOLD_RETRIES_TOO);
    let sent = |method: &str, prefix: &str| {
        requests_since(&e, R2, r2_since).iter().any(|(m, p)| {
            m == method && p.starts_with(prefix) && p.ends_with("add_router_interface")
        })
    };
    let meanwhile = async {
        wait_until(
            "the NS interface attached while the shadow port is held",
            || sent("PUT", "/v2.0/routers/"),
        )
        .await;
        held.release();
    };
    let (done, ()) = tokio::join!(run_all(&e, &w), meanwhile);
    assert!(done.iter().all(|(_, _, ok)| *ok), "{done:?}");
    let fips = e.cloud.neutron(R2).dump("floatingips");
    assert!(
        fips.iter()
            .any(|f| f["fixed_ip_address"].as_str() == Some(&first_ip(vm1))),
        "{fips:?}"
    );
}

/// Beside the guide's: net3 (az1) of `project` and a router of `project`
/// on it with its gateway on ext-net. Returns (net3, router) ids.
async fn net3_gateway_router(e: &Env, w: &World, project: &str) -> (String, String) {
    let top = e.neutron(TOP);
    let (n3, s3) = network_in(
        &top,
        "net3",
        "10.0.3.0/24",
        json!({"availability_zone_hints": ["az1"], "tenant_id": project}),
    )
    .await;
    let router = gateway_router(
        &top,
        json!({"name": "router3", "tenant_id": project}),
        &[&s3],
        &w.ext,
    )
    .await;
    (id(&n3), id(&router))
}

/// Polls `cond` every 10 ms, 10 s at most: what is awaited arrives in a
/// few milliseconds unless the code under test waits for something held.
async fn wait_until(what: &str, cond: impl Fn() -> bool) {
    for _ in 0..1000 {
        if cond() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("not seen within 10 s: {what}");
}

/// The subnet of a top port's first address.
fn first_subnet(port: &Value) -> String {
    port["fixed_ips"][0]["subnet_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Held requests time out in the client (5 s) and are sent again: the
/// retries are held too, so nothing gets through before the release.
const HOLD_RETRIES_TOO: usize = 8;

/// `region`'s requests after the first `since`, as (method, path).
fn requests_since(e: &Env, region: &str, since: usize) -> Vec<(String, String)> {
    e.cloud.neutron(region).requests()[since..]
        .iter()
        .map(|r| (r.method.clone(), r.path.clone()))
        .collect()
}

/// configure_route's writes do not depend on each other: with the
/// east-west router's routes held in RegionTwo, the north-south router's
/// routes are sent meanwhile (they were sent once the east-west ones were
/// answered).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configure_route_sends_every_routers_routes_at_once() {
    let (e, w) = converged_with_vms().await;
    let pod2 = e.pod("pod-2").await;
    let bottom = |t| e.net.bottom_id(&w.router, &pod2, t);
    let ew = bottom(ResourceType::Router).await.unwrap().unwrap();
    let ns = bottom(ResourceType::NsRouter).await.unwrap().unwrap();
    // Routes lost behind xjob's back, on both routers of RegionTwo.
    let r2 = e.neutron(R2);
    for r in [&ew, &ns] {
        put(
            &r2,
            &format!("routers/{r}"),
            json!({"router": {"routes": []}}),
        )
        .await;
    }
    let since = e.cloud.neutron(R2).requests().len();
    let put_on = |r: &str| {
        let path = format!("/v2.0/routers/{r}");
        requests_since(&e, R2, since).contains(&("PUT".to_owned(), path))
    };
    let held = e.cloud.neutron(R2).hold_next(
        Some("PUT"),
        &format!("/v2.0/routers/{ew}"),
        HOLD_RETRIES_TOO,
    );
    let run = e.run_job(CONFIGURE_ROUTE, &w.router);
    let meanwhile = async {
        wait_until("the east-west routes sent", || put_on(&ew)).await;
        wait_until("the north-south routes sent while those are held", || {
            put_on(&ns)
        })
        .await;
        held.release();
    };
    let (ok, ()) = tokio::join!(run, meanwhile);
    assert!(ok);
    for r in [&ew, &ns] {
        let got = e.cloud.neutron(R2).dump("routers");
        let got = got.iter().find(|x| id(x) == *r).unwrap();
        assert!(!routes(got).is_empty(), "routes set again on {r}");
    }
}

/// The north-south router's gateway needs the router and the external
/// network's copy, not the bridge network's copy: with that copy's
/// creation held, the gateway is set meanwhile (it waited for the copy).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_north_south_gateway_does_not_wait_for_the_bridge_copy() {
    let e = env(true).await;
    let w = tenant_world(&e).await;
    assert!(run_all(&e, &w).await.iter().all(|(_, _, ok)| *ok));
    // A router of another project (a bridge network of its own) on a
    // network in az1, then its gateway on ext-net (whose copy RegionTwo has).
    let (n3, rid) = net3_gateway_router(&e, &w, "5c1e7a9d2b4f4e6a8c0d1f3b5a7c9e2d").await;
    let r2 = e.cloud.neutron(R2);
    let since = r2.requests().len();
    let held = r2.hold_next(Some("POST"), "/v2.0/networks", HOLD_RETRIES_TOO);
    let sent = |method: &str, prefix: &str| {
        requests_since(&e, R2, since)
            .iter()
            .any(|(m, p)| m == method && p.starts_with(prefix) && !p.ends_with("_interface"))
    };
    let run = async {
        let ok = e
            .run_job(ROUTER_SETUP, &format!("not_specified_pod#{rid}#{n3}"))
            .await;
        (ok, e.drain().await)
    };
    let meanwhile = async {
        wait_until("the bridge copy asked for", || {
            sent("POST", "/v2.0/networks")
        })
        .await;
        wait_until("the gateway set while the copy is held", || {
            named(&r2.dump("routers"), &ns_router_name(&rid))
                .first()
                .is_some_and(|ns| ns["external_gateway_info"].is_object())
        })
        .await;
        held.release();
    };
    let ((ok, done), ()) = tokio::join!(run, meanwhile);
    assert!(ok && done.iter().all(|(_, _, ok)| *ok), "{done:?}");
    let ns = named(&r2.dump("routers"), &ns_router_name(&rid))[0].clone();
    assert!(ns["external_gateway_info"].is_object(), "{ns}");
    assert_eq!(
        interfaces(r2.dump("ports"), &ns).len(),
        1,
        "the bridge interface once its copy was made"
    );
}

/// The external network's copy is there (made with the network): the
/// north-south router is made with its gateway in its POST, at the top's
/// address, and never updated for it (its writes go one at a time).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_north_south_router_is_made_with_its_gateway() {
    let e = env(true).await;
    let w = tenant_world(&e).await;
    assert!(run_all(&e, &w).await.iter().all(|(_, _, ok)| *ok));
    let (n3, rid) = net3_gateway_router(&e, &w, "5c1e7a9d2b4f4e6a8c0d1f3b5a7c9e2d").await;
    assert!(
        e.run_job(ROUTER_SETUP, &format!("not_specified_pod#{rid}#{n3}"))
            .await
    );
    assert!(e.drain().await.iter().all(|(_, _, ok)| *ok));
    let r2 = e.cloud.neutron(R2);
    let ns = named(&r2.dump("routers"), &ns_router_name(&rid))[0].clone();
    let t_router = e
        .cloud
        .neutron(TOP)
        .dump("routers")
        .into_iter()
        .find(|r| r["id"] == rid.as_str())
        .unwrap();
    assert_eq!(
        ns["external_gateway_info"]["external_fixed_ips"][0]["ip_address"],
        t_router["external_gateway_info"]["external_fixed_ips"][0]["ip_address"],
        "{ns:#}"
    );
    assert_eq!(
        r2.request_count("PUT", &format!("/v2.0/routers/{}", id(&ns))),
        0,
        "no update of the router for its gateway"
    );
}

/// A floating IP of a VM in another pod: the VM's port (for its shadow)
/// is read beside the shadow copies, which do not need it: with that read
/// held in RegionOne, the shadow network is asked for meanwhile (it was
/// asked for once the read was answered).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_floating_ips_shadow_copies_do_not_wait_for_the_vms_port() {
    let (e, w) = converged_with_vms().await;
    // A VM booted in RegionOne, mirrored at the top (its port is routed,
    // so the job reads it by id).
    let b_port = id(&boot_on_net1(&e, &w, "vm3").await);
    assert!(
        e.run_job(JobType::PortMirror.name(), &format!("pod-1#{b_port}"))
            .await
    );
    assert!(e.drain().await.iter().all(|(_, _, ok)| *ok));
    let mirror = mirror_routing(&e, "pod-1", &b_port).await.unwrap();
    create(
        &e.neutron(TOP),
        "floatingips",
        "floatingip",
        json!({"floating_network_id": w.ext, "port_id": mirror, "tenant_id": PROJECT}),
    )
    .await;
    let r2_since = e.cloud.neutron(R2).requests().len();
    let held = e.cloud.neutron(R1).hold_next(
        Some("GET"),
        &format!("/v2.0/ports/{b_port}"),
        HOLD_RETRIES_TOO,
    );
    let meanwhile = async {
        wait_until(
            "the shadow network asked for while the port is held",
            || {
                requests_since(&e, R2, r2_since)
                    .contains(&("POST".to_owned(), "/v2.0/networks".to_owned()))
            },
        )
        .await;
        held.release();
    };
    let (done, ()) = tokio::join!(run_all(&e, &w), meanwhile);
    assert!(done.iter().all(|(_, _, ok)| *ok), "{done:?}");
    let fips = e.cloud.neutron(R2).dump("floatingips");
    let vm3 = e
        .cloud
        .neutron(R1)
        .dump("ports")
        .into_iter()
        .find(|p| p["id"] == b_port.as_str())
        .unwrap();
    assert!(
        fips.iter()
            .any(|f| f["fixed_ip_address"].as_str() == Some(&first_ip(&vm3))),
        "{fips:?}"
    );
}

/// A floating IP of a VM in another pod, when another router holds the
/// shadow copy's gateway (a router of another project on a shared
/// network): the NS router gets an address of its own, reserved at the
/// top, instead of failing on the taken gateway at every run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taken_shadow_gateway_gets_the_ns_interface_an_address_of_its_own() {
    let (e, w) = converged_with_vms().await;
    let vm1 = &w.vms[0];
    let top = e.neutron(TOP);
    let fip = create(
        &top,
        "floatingips",
        "floatingip",
        json!({"floating_network_id": w.ext, "port_id": id(vm1), "tenant_id": PROJECT}),
    )
    .await;
    assert!(run_all(&e, &w).await.iter().all(|(_, _, ok)| *ok));
    // The interface at the copy's gateway goes and another router takes it.
    let (r2, r2_fake) = (e.neutron(R2), e.cloud.neutron(R2));
    let ns = named(&r2_fake.dump("routers"), &ns_router_name(&w.router))[0].clone();
    let pod2 = e.pod("pod-2").await;
    let sub1 = first_subnet(vm1);
    let shadow_sub = e
        .net
        .bottom_id(&sub1, &pod2, ResourceType::ShadowSubnet)
        .await
        .unwrap()
        .unwrap();
    put(
        &top,
        &format!("floatingips/{}", id(&fip)),
        json!({"floatingip": {"port_id": null}}),
    )
    .await;
    assert!(run_all(&e, &w).await.iter().all(|(_, _, ok)| *ok));
    put(
        &r2,
        &format!("routers/{}/remove_router_interface", id(&ns)),
        json!({"subnet_id": shadow_sub}),
    )
    .await;
    let other = create(
        &r2,
        "routers",
        "router",
        json!({"name": "other", "tenant_id": "other-project"}),
    )
    .await;
    put(
        &r2,
        &format!("routers/{}/add_router_interface", id(&other)),
        json!({"subnet_id": shadow_sub}),
    )
    .await;
    put(
        &top,
        &format!("floatingips/{}", id(&fip)),
        json!({"floatingip": {"port_id": id(vm1)}}),
    )
    .await;
    let done = run_all(&e, &w).await;
    assert!(done.iter().all(|(_, _, ok)| *ok), "{done:?}");
    let ports = r2_fake.dump("ports");
    let on_shadow: Vec<&Value> = ports
        .iter()
        .filter(|p| {
            p["device_id"] == ns["id"] && p["fixed_ips"][0]["subnet_id"] == shadow_sub.as_str()
        })
        .collect();
    assert_eq!(on_shadow.len(), 1, "{ports:#?}");
    let reserved = named(
        &e.cloud.neutron(TOP).dump("ports"),
        &ns_interface_port_name(&w.router, &sub1),
    )
    .into_iter()
    .map(first_ip)
    .collect::<Vec<_>>();
    assert_eq!(reserved, vec![first_ip(on_shadow[0])]);
    let fips = r2_fake.dump("floatingips");
    assert!(
        fips.iter()
            .any(|f| f["fixed_ip_address"].as_str() == Some(&first_ip(vm1))),
        "{fips:?}"
    );
}

/// A VM booted on a router this process has read as spanning pods: its
/// port_mirror records the router's configure_route beside the router's
/// set-up, so routes are set while the pod jobs run; those, finding
/// nothing to change, record none of their own (one run in all).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vms_mirror_records_its_routers_routes_at_once() {
    let (e, w) = converged_with_vms().await;
    let vm3 = boot_on_net1(&e, &w, "vm3").await;
    assert!(
        e.run_job(JobType::PortMirror.name(), &format!("pod-1#{}", id(&vm3)))
            .await
    );
    let (_, new) = e.waiting().await;
    let new: BTreeSet<(String, String)> = new
        .into_iter()
        .map(|j| (j.job_type, j.resource_id))
        .collect();
    // The VM's pod's job only, as the reference's plugin asks it.
    let pod1 = e.pod("pod-1").await.pod_id;
    let want: BTreeSet<(String, String)> = [
        (
            ROUTER_SETUP.to_owned(),
            format!("{pod1}#{}#{}", w.router, w.net1),
        ),
        (CONFIGURE_ROUTE.to_owned(), w.router.clone()),
    ]
    .into();
    assert_eq!(new, want);
    let done = e.drain().await;
    assert!(done.iter().all(|(_, _, ok)| *ok), "{done:?}");
    let routes_runs = done.iter().filter(|(t, _, _)| t == CONFIGURE_ROUTE).count();
    assert_eq!(routes_runs, 1, "{done:?}");
    // The route to vm3 reached RegionTwo's routers.
    let vm3_ip = format!("{}/32", first_ip(&vm3));
    let pod2 = e.pod("pod-2").await;
    for t in [ResourceType::Router, ResourceType::NsRouter] {
        let b = e.net.bottom_id(&w.router, &pod2, t).await.unwrap().unwrap();
        let r = e.cloud.neutron(R2).dump("routers");
        let r = r.iter().find(|r| id(r) == b).unwrap();
        assert!(
            routes(r).iter().any(|(d, _)| *d == vm3_ip),
            "{t:?}: {:?}",
            routes(r)
        );
    }
}

/// A local router (zone hint naming RegionTwo) with a gateway on ext-net,
/// which lives in RegionTwo too: as the reference's central plugin does, the
/// gateway goes on the local bottom router itself (no bridge, no
/// north-south router), and the floating IP is associated through it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stock_local_router_gets_the_gateway_itself() {
    let e = env(true).await;
    let top_fake = e.cloud.neutron(TOP);
    for az in ["az2", R2] {
        top_fake.add_availability_zone(az);
    }
    e.cloud.neutron(R2).set_tricircle_l3(false);
    let top = e.neutron(TOP);
    let (n, s) = network_in(
        &top,
        "net3",
        "10.0.3.0/24",
        json!({"availability_zone_hints": ["az2"]}),
    )
    .await;
    let (ext, _) = ext_network(&top, "az2").await;
    let router = create(
        &top,
        "routers",
        "router",
        json!({"name": "local", "tenant_id": PROJECT, "availability_zone_hints": [R2]}),
    )
    .await;
    let rid = id(&router);
    put(
        &top,
        &format!("routers/{rid}/add_router_interface"),
        json!({"subnet_id": id(&s)}),
    )
    .await;
    let gw = put(
        &top,
        &format!("routers/{rid}"),
        json!({"router": {"external_gateway_info": {"network_id": id(&ext)}}}),
    )
    .await;
    let t_gw = gw["router"]["external_gateway_info"].clone();
    let vm = create(
        &top,
        "ports",
        "port",
        json!({"network_id": id(&n), "name": "vm3", "device_owner": "compute:nova",
            "device_id": "vm3", "tenant_id": PROJECT}),
    )
    .await;
    let fip = create(
        &top,
        "floatingips",
        "floatingip",
        json!({"floating_network_id": id(&ext), "port_id": id(&vm), "tenant_id": PROJECT}),
    )
    .await;
    let run = || async {
        assert!(
            e.run_job(ROUTER_SETUP, &format!("not_specified_pod#{rid}#{}", id(&n)))
                .await
        );
        let done = e.drain().await;
        assert!(done.iter().all(|(_, _, ok)| *ok), "{done:?}");
        assert!(
            !done.iter().any(|(t, _, _)| t == CONFIGURE_ROUTE),
            "no routes for a local router: {done:?}"
        );
    };
    run().await;
    let pod2 = e.pod("pod-2").await;
    let b_net = e
        .net
        .bottom_id(&id(&n), &pod2, ResourceType::Network)
        .await
        .unwrap()
        .unwrap();
    let b_vm = create(
        &e.neutron(R2),
        "ports",
        "port",
        json!({"network_id": b_net, "name": "vm3", "device_owner": "compute:nova",
            "device_id": "vm3", "tenant_id": PROJECT, "mac_address": vm["mac_address"],
            "fixed_ips": [{"ip_address": first_ip(&vm)}]}),
    )
    .await;
    run().await;

    let r2 = e.cloud.neutron(R2);
    let routers = r2.dump("routers");
    assert_eq!(routers.len(), 1, "only the local router: {routers:#?}");
    let b_router = &routers[0];
    assert_eq!(b_router["name"], rid.as_str());
    let b_ext = named(&r2.dump("networks"), "ext-net")[0].clone();
    let b_gw = &b_router["external_gateway_info"];
    assert_eq!(b_gw["network_id"], b_ext["id"]);
    assert_eq!(b_gw["enable_snat"], t_gw["enable_snat"]);
    assert_eq!(
        gateway_ip(b_router),
        t_gw["external_fixed_ips"][0]["ip_address"]
            .as_str()
            .unwrap()
    );
    assert!(
        named(&top_fake.dump("networks"), &bridge::net_name(PROJECT)).is_empty(),
        "no bridge network for a local router"
    );
    let fips = r2.dump("floatingips");
    assert_eq!(fips.len(), 1);
    assert_eq!(fips[0]["floating_ip_address"], fip["floating_ip_address"]);
    assert_eq!(fips[0]["port_id"], id(&b_vm).as_str());
    assert_eq!(fips[0]["router_id"], b_router["id"]);
    assert!(e.cloud.neutron(R1).dump("routers").is_empty());

    let before = e.snapshot().await;
    run().await;
    assert_eq!(e.snapshot().await, before, "a rerun changes nothing");

    // Floating IP and gateway removed at the top: gone from the pod too.
    put(
        &top,
        &format!("floatingips/{}", id(&fip)),
        json!({"floatingip": {"port_id": null}}),
    )
    .await;
    put(
        &top,
        &format!("routers/{rid}"),
        json!({"router": {"external_gateway_info": {}}}),
    )
    .await;
    run().await;
    let b_router = named(&r2.dump("routers"), &rid)[0].clone();
    assert!(b_router["external_gateway_info"].is_null(), "{b_router:#?}");
    assert!(r2.dump("floatingips").is_empty());
}

/// The tenant takes the floating IP back and removes the gateway: the
/// mirror and the NS router's gateway go, and so do the north-south
/// routes; then an interface goes, and its bottom interface and the routes
/// to the VM behind it follow.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stock_gateway_and_interface_removal_reach_the_pods() {
    let (e, w) = converged_with_vms().await;
    let (r1, r2) = (e.cloud.neutron(R1), e.cloud.neutron(R2));
    assert_eq!(r2.dump("floatingips").len(), 1);

    let top = e.neutron(TOP);
    for f in e.cloud.neutron(TOP).dump("floatingips") {
        put(
            &top,
            &format!("floatingips/{}", id(&f)),
            json!({"floatingip": {"port_id": null}}),
        )
        .await;
    }
    put(
        &top,
        &format!("routers/{}", w.router),
        json!({"router": {"external_gateway_info": {}}}),
    )
    .await;
    let done = run_all(&e, &w).await;
    assert!(done.iter().all(|(_, _, ok)| *ok), "{done:?}");
    assert!(r2.dump("floatingips").is_empty());
    let ns = named(&r2.dump("routers"), &ns_router_name(&w.router))[0].clone();
    assert!(ns["external_gateway_info"].is_null(), "{ns:#?}");
    assert!(routes(&ns).is_empty());
    let b1 = named(&r1.dump("routers"), &w.router)[0].clone();
    let b2 = named(&r2.dump("routers"), &w.router)[0].clone();
    let vm1 = format!("{}/32", first_ip(&w.vms[0]));
    let vm2 = format!("{}/32", first_ip(&w.vms[1]));
    let one = |d: &str, n: String| BTreeSet::from([(d.to_owned(), n)]);
    assert_eq!(routes(&b1), one(&vm2, gateway_ip(&b2)), "no default route");
    assert_eq!(routes(&b2), one(&vm1, gateway_ip(&b1)));
    let before = e.snapshot().await;
    assert!(run_all(&e, &w).await.iter().all(|(_, _, ok)| *ok));
    assert_eq!(e.snapshot().await, before, "a rerun changes nothing");

    let sub1 = e
        .cloud
        .neutron(TOP)
        .dump("subnets")
        .into_iter()
        .find(|s| s["network_id"] == w.net1.as_str())
        .unwrap();
    put(
        &top,
        &format!("routers/{}/remove_router_interface", w.router),
        json!({"subnet_id": id(&sub1)}),
    )
    .await;
    let done = run_all(&e, &w).await;
    assert!(done.iter().all(|(_, _, ok)| *ok), "{done:?}");
    let itf = interfaces(r1.dump("ports"), &b1);
    assert!(itf.is_empty(), "{itf:#?}");
    let b2 = named(&r2.dump("routers"), &w.router)[0].clone();
    assert!(
        routes(&b2).is_empty(),
        "vm1 is not behind the router any more"
    );
}

/// VLAN bridges, as the multi-pod guide sets them up: the top bridge on
/// the bridge physical network, its copies in both pods on the same VLAN.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stock_vlan_bridge_is_one_vlan_on_the_bridge_physical_network() {
    let e = env_bridge(true, "vlan", Some("bridge")).await;
    let w = tenant_world(&e).await;
    let done = run_all(&e, &w).await;
    assert!(done.iter().all(|(_, _, ok)| *ok), "{done:?}");
    let t_bridge = named(
        &e.cloud.neutron(TOP).dump("networks"),
        &bridge::net_name(PROJECT),
    )[0]
    .clone();
    assert_eq!(t_bridge["provider:network_type"], "vlan");
    assert_eq!(t_bridge["provider:physical_network"], "bridge");
    let vlan = t_bridge["provider:segmentation_id"].as_i64().unwrap();
    for region in [R1, R2] {
        let nets = e.cloud.neutron(region).dump("networks");
        let copies = named(&nets, &id(&t_bridge));
        assert_eq!(copies.len(), 1, "{region}");
        assert_eq!(copies[0]["provider:network_type"], "vlan");
        assert_eq!(copies[0]["provider:physical_network"], "bridge");
        assert_eq!(copies[0]["provider:segmentation_id"], vlan, "{region}");
        let r = named(&e.cloud.neutron(region).dump("routers"), &w.router)[0].clone();
        assert_eq!(r["external_gateway_info"]["network_id"], copies[0]["id"]);
    }
}

/// A notification of the central Neutron, with the tenant's context.
fn central_event(event_type: &str, payload: Value) -> NeutronEvent {
    NeutronEvent {
        region: TOP.into(),
        event_type: event_type.into(),
        payload,
        context: json!({"project_id": PROJECT, "request_id": "req-event"})
            .as_object()
            .unwrap()
            .clone(),
    }
}

/// What the central Neutron published since the last call.
fn central_events(e: &Env) -> Vec<NeutronEvent> {
    events_of(e, TOP)
}

/// xjob following the central Neutron: record the jobs of what it
/// published and run them, until its notifications (xjob's own writes
/// there included) ask for nothing more.
async fn follow_central(e: &Env) -> Vec<(String, String, bool)> {
    let mut done = Vec::new();
    for _ in 0..10 {
        let events = central_events(e);
        if asks_of(e, &events).await.is_empty() {
            return done;
        }
        record_all(e, &events).await;
        done.extend(e.drain().await);
    }
    panic!("events keep asking for jobs: {done:?}");
}

fn router_setups(w: &World, nets: &[&String]) -> BTreeSet<JobAsk> {
    nets.iter()
        .map(|n| JobAsk {
            job_type: JobType::RouterSetup,
            resource_id: format!("not_specified_pod#{}#{n}", w.router),
            project_id: PROJECT.into(),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stock_central_events_alone_converge_the_pods() {
    let e = env(true).await;
    let w = tenant_world(&e).await;
    let events = central_events(&e);
    assert!(events
        .iter()
        .any(|ev| ev.event_type == "router.interface.create"));
    let mut want = router_setups(&w, &[&w.net1, &w.net2]);
    // And the pod copies of the tenant's networks, ahead of VMs.
    want.extend([&w.net1, &w.net2].map(|n| JobAsk {
        job_type: JobType::NetworkSetup,
        resource_id: format!("not_specified_pod#{n}"),
        project_id: PROJECT.into(),
    }));
    assert_eq!(
        asks_of(&e, &events).await,
        want,
        "the jobs the central plugin would cast, and network_setup"
    );
    record_all(&e, &events).await;
    let done = e.drain().await;
    assert!(done.iter().all(|(_, _, ok)| *ok), "{done:?}");
    assert!(done
        .iter()
        .any(|(t, r, _)| t == CONFIGURE_ROUTE && *r == w.router));
    let done = follow_central(&e).await;
    assert!(
        done.iter().all(|(_, _, ok)| *ok),
        "xjob's own writes: {done:?}"
    );

    // The VMs boot on the networks the jobs made. Until the pods' events
    // are followed, the tenant's next central calls bring their floating
    // IP (here the floating IP is updated) and their routes (a call that
    // may move one: here the router is updated; a floating IP moves none).
    let b_vms = boot_vms(&e, &w).await;
    let fips = e.cloud.neutron(TOP).dump("floatingips");
    put(
        &e.neutron(TOP),
        &format!("floatingips/{}", id(&fips[0])),
        json!({"floatingip": {"description": "vm2"}}),
    )
    .await;
    let events = central_events(&e);
    assert_eq!(
        asks_of(&e, &events).await,
        router_setups(&w, &[&w.net2]),
        "the floating IP's router, on its port's network"
    );
    record_all(&e, &events).await;
    let done = e.drain().await;
    assert!(done.iter().all(|(_, _, ok)| *ok), "{done:?}");
    assert!(
        !done.iter().any(|(t, _, _)| t == CONFIGURE_ROUTE),
        "{done:?}"
    );
    let done = follow_central(&e).await;
    assert!(done.iter().all(|(_, _, ok)| *ok), "{done:?}");
    let fips = e.cloud.neutron(R2).dump("floatingips");
    assert!(
        fips.iter().any(
            |f| f["floating_ip_address"] == w.fip.as_str() && f["port_id"] == b_vms[1].as_str()
        ),
        "vm2's floating IP: {fips:#?}"
    );
    put(
        &e.neutron(TOP),
        &format!("routers/{}", w.router),
        json!({"router": {"description": "guide"}}),
    )
    .await;
    let routed = central_events(&e);
    assert_eq!(
        asks_of(&e, &routed).await,
        router_setups(&w, &[&w.net1, &w.net2])
    );
    record_all(&e, &routed).await;
    let done = e.drain().await;
    assert!(done.iter().all(|(_, _, ok)| *ok), "{done:?}");
    assert_converged(&e, &w, &b_vms).await;

    // A notification delivered again records its jobs again: they change
    // nothing.
    let before = e.snapshot().await;
    record_all(&e, &events).await;
    let done = e.drain().await;
    assert!(
        !done.is_empty() && done.iter().all(|(_, _, ok)| *ok),
        "{done:?}"
    );
    assert_eq!(e.snapshot().await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_of_other_kinds_or_regions_record_nothing() {
    let e = env(true).await;
    let w = tenant_world(&e).await;
    let mut pod_event = central_events(&e)
        .into_iter()
        .find(|ev| ev.event_type == "router.interface.create")
        .unwrap();
    pod_event.region = R1.into();
    for ev in [
        pod_event,
        central_event("router.interface.create", json!({"no": "interface"})),
        central_event("network.create.start", json!({"network": {"name": "x"}})),
        // No copy of the network in any pod yet: nothing to update.
        central_event("network.update.end", json!({"network": {"id": w.net1}})),
        central_event("compute.instance.create.end", json!({})),
    ] {
        assert_eq!(jobs_for(&e.net, &ev).await.unwrap(), vec![], "{ev:?}");
    }
}

/// Point the routing of (`top_id`, `pod_id`, `rtype`) at a resource that
/// does not exist, as when it was deleted behind xjob's back.
async fn route_to_nothing(e: &Env, top_id: &str, pod_id: &str, rtype: ResourceType) {
    let (t, p) = (top_id.to_owned(), pod_id.to_owned());
    e.db.db
        .run(move |c| {
            let r = tricircle_db::routings::get_by_top_pod_type(c, &t, &p, rtype.as_str())?
                .expect("routed");
            let upd = tricircle_db::models::RoutingUpdate {
                bottom_id: Some(Some("gone-0000".into())),
                ..Default::default()
            };
            tricircle_db::routings::update(c, r.id, &upd).map(drop)
        })
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stock_bridge_resources_gone_behind_xjobs_back_are_routed_again() {
    let e = env(true).await;
    let w = tenant_world(&e).await;
    let done = run_all(&e, &w).await;
    assert!(done.iter().all(|(_, _, ok)| *ok), "{done:?}");
    let before = e.snapshot().await;
    let top_net = bridge::net_name(PROJECT);
    let t_net = named(&e.cloud.neutron(TOP).dump("networks"), &top_net)[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    route_to_nothing(&e, &top_net, "pod-top", ResourceType::Network).await;
    route_to_nothing(&e, &t_net, "pod-1", ResourceType::Network).await;
    let done = run_all(&e, &w).await;
    assert!(
        done.iter().all(|(_, _, ok)| *ok),
        "healed, not failed: {done:?}"
    );
    // The resources still there are found again by name: nothing new, and
    // the same routings (rewritten, so in another order).
    let sorted = |mut s: std::collections::BTreeMap<String, Value>| {
        if let Some(Value::Array(rows)) = s.get_mut("routings") {
            rows.sort_by_key(|r| r.to_string());
        }
        s
    };
    assert_eq!(sorted(e.snapshot().await), sorted(before));
}

/// The bridge subnet pool is only needed to make the project's bridge
/// subnet: a rerun does not read it; a routed subnet gone behind xjob's
/// back sends the job to the pool and the subnet again (found by name
/// here, so nothing is made twice).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bridge_pool_is_read_only_to_make_the_bridge_subnet() {
    let e = env(true).await;
    let w = tenant_world(&e).await;
    assert!(run_all(&e, &w).await.iter().all(|(_, _, ok)| *ok));
    let top = e.cloud.neutron(TOP);
    let pool_reads = |top: &tricircle_fakecloud::FakeNeutron| {
        top.requests()
            .iter()
            .filter(|r| r.method == "GET" && r.path.starts_with("/v2.0/subnetpools"))
            .count()
    };
    top.clear_requests();
    assert!(run_all(&e, &w).await.iter().all(|(_, _, ok)| *ok));
    assert!(
        top.requests()
            .iter()
            .any(|r| r.path.starts_with("/v2.0/routers")),
        "the rerun ran"
    );
    assert_eq!(pool_reads(top), 0, "a rerun reads no pool");

    let before = e.snapshot().await;
    let sname = bridge::subnet_name(PROJECT);
    route_to_nothing(&e, &sname, "pod-top", ResourceType::Subnet).await;
    top.clear_requests();
    assert!(run_all(&e, &w).await.iter().all(|(_, _, ok)| *ok));
    assert!(pool_reads(top) > 0, "the subnet was gone: the pool is read");
    assert_eq!(
        top.request_count("POST", "/v2.0/subnets"),
        0,
        "found by name"
    );
    let sorted = |mut s: std::collections::BTreeMap<String, Value>| {
        if let Some(Value::Array(rows)) = s.get_mut("routings") {
            rows.sort_by_key(|r| r.to_string());
        }
        s
    };
    assert_eq!(sorted(e.snapshot().await), sorted(before));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stock_vms_booted_in_the_pods_bring_their_routes_and_floating_ip() {
    let e = env(true).await;
    let w = tenant_world(&e).await;
    let events = central_events(&e);
    record_all(&e, &events).await;
    assert!(e.drain().await.iter().all(|(_, _, ok)| *ok));
    follow_central(&e).await;
    // xjob's own writes in the pods (interfaces, gateways, bridge ports)
    // ask for nothing.
    for region in [R1, R2] {
        let events = events_of(&e, region);
        assert!(!events.is_empty());
        assert!(asks_of(&e, &events).await.is_empty(), "{region}");
    }

    let b_vms = boot_vms(&e, &w).await;
    let mut booted = Vec::new();
    for region in [R1, R2] {
        booted.extend(events_of(&e, region));
    }
    let mirrors: BTreeSet<JobAsk> = [("pod-1", &b_vms[0]), ("pod-2", &b_vms[1])]
        .into_iter()
        .map(|(pod, port)| JobAsk {
            job_type: JobType::PortMirror,
            resource_id: format!("{pod}#{port}"),
            project_id: PROJECT.into(),
        })
        .collect();
    assert_eq!(asks_of(&e, &booted).await, mirrors, "each VM's mirror");
    record_all(&e, &booted).await;
    let done = e.drain().await;
    assert!(done.iter().all(|(_, _, ok)| *ok), "{done:?}");
    // The tenant made the top ports with the VMs' MACs (the manual flow):
    // they are adopted as the mirrors, and the routers follow.
    for (pod, (b_vm, t_vm)) in ["pod-1", "pod-2"].into_iter().zip(b_vms.iter().zip(&w.vms)) {
        assert_eq!(
            e.net
                .bottom_id(&id(t_vm), &e.pod(pod).await, ResourceType::Port)
                .await
                .unwrap()
                .as_ref(),
            Some(b_vm)
        );
    }
    let setups: BTreeSet<_> = done
        .iter()
        .filter(|(t, _, _)| t == ROUTER_SETUP)
        .map(|(_, r, _)| r.clone())
        .collect();
    let mut want = BTreeSet::new();
    for (pod, net) in [("pod-1", &w.net1), ("pod-2", &w.net2)] {
        let pod = e.pod(pod).await.pod_id;
        want.insert(format!("{pod}#{}#{net}", w.router));
    }
    assert_eq!(
        setups, want,
        "each VM's network in the VM's pod, through the router on it"
    );
    follow_central(&e).await;
    assert_converged(&e, &w, &b_vms).await;
}

/// A floating IP's notification asks for its router's pod job, which
/// builds the floating IP's side in the external network's pod (here for
/// vm1, in the other pod: shadow copies, north-south interface, floating
/// IP) and records no configure_route: no route depends on floating IPs.
/// The same pod job asked for by a cause that may move routes (a router's
/// update, the sweep) records one when it writes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_floating_ips_jobs_record_no_routes() {
    let e = env(true).await;
    let w = tenant_world(&e).await;
    follow_central(&e).await;
    let b_vms = boot_vms(&e, &w).await;
    let mut booted = events_of(&e, R1);
    booted.extend(events_of(&e, R2));
    record_all(&e, &booted).await;
    assert!(e.drain().await.iter().all(|(_, _, ok)| *ok));
    follow_central(&e).await;
    assert_converged(&e, &w, &b_vms).await;

    let fip = create(
        &e.neutron(TOP),
        "floatingips",
        "floatingip",
        json!({"floating_network_id": w.ext, "port_id": id(&w.vms[0]), "tenant_id": PROJECT}),
    )
    .await;
    let addr = fip["floating_ip_address"].as_str().unwrap().to_owned();
    let events = central_events(&e);
    let fip_event = events
        .iter()
        .find(|ev| ev.event_type == "floatingip.create.end")
        .expect("the floating IP's notification")
        .clone();
    record_all(&e, &events).await;
    let done = e.drain().await;
    assert!(done.iter().all(|(_, _, ok)| *ok), "{done:?}");
    let pod_job = format!("pod-1#{}#{}", w.router, w.net1);
    assert!(
        done.iter()
            .any(|(t, r, _)| t == ROUTER_SETUP && *r == pod_job),
        "{done:?}"
    );
    let b_fip = |e: &Env| {
        e.cloud
            .neutron(R2)
            .dump("floatingips")
            .into_iter()
            .find(|f| f["floating_ip_address"] == addr.as_str())
    };
    let made = b_fip(&e).expect("the floating IP made in RegionTwo");
    assert!(made["port_id"].is_string(), "{made}");
    assert!(
        !done.iter().any(|(t, _, _)| t == CONFIGURE_ROUTE),
        "no route depends on a floating IP: {done:?}"
    );
    follow_central(&e).await;

    // Lost in RegionTwo, it is made again by the same pod job asked for by
    // a cause that may have moved a route.
    e.neutron(R2).delete_floatingip(&id(&made)).await.unwrap();
    let asks = jobs_for(&e.net, &fip_event).await.unwrap();
    record(&e.net, asks, Reach::Any, &fip_event.context)
        .await
        .unwrap();
    let done = e.drain().await;
    assert!(done.iter().all(|(_, _, ok)| *ok), "{done:?}");
    assert!(b_fip(&e).is_some(), "made again");
    assert!(
        done.iter()
            .any(|(t, r, _)| t == CONFIGURE_ROUTE && *r == w.router),
        "{done:?}"
    );
}

/// Notifications that arrive before the pods are registered ask for
/// nothing (nothing to converge yet) instead of failing, which would have
/// the listener give them back to the broker again and again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_before_the_pods_are_registered_ask_for_nothing() {
    let e = env(true).await;
    e.db.db
        .run(|c| {
            for p in tricircle_db::pods::list(c)? {
                tricircle_db::pods::delete(c, &p.pod_id)?;
            }
            Ok(())
        })
        .await
        .unwrap();
    let event = NeutronEvent {
        region: "CentralRegion".into(),
        event_type: "router.interface.create".into(),
        payload: json!({"router_interface": {"id": "r", "network_id": "n", "tenant_id": "p"}}),
        context: Default::default(),
    };
    assert_eq!(
        jobs_for(&e.net, &event).await.unwrap(),
        Vec::<JobAsk>::new()
    );
}

/// A project holds one cross-pod router with an external gateway: its
/// north-south router holds the bridge subnet's gateway address (as in the
/// original). A second one fails its router_setup with a reason that says
/// so and names the holder, not Neutron's bare 409.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_gateway_router_of_a_project_fails_with_a_clear_reason() {
    let e = env(true).await;
    let w = tenant_world(&e).await;
    assert!(run_all(&e, &w).await.iter().all(|(_, _, ok)| *ok));

    let (n3, rid) = net3_gateway_router(&e, &w, PROJECT).await;
    e.run_job(ROUTER_SETUP, &format!("not_specified_pod#{rid}#{n3}"))
        .await;
    let done = e.drain().await;
    assert!(
        done.iter()
            .any(|(t, r, ok)| t == ROUTER_SETUP && r.contains(&rid) && !ok),
        "{done:?}"
    );
    let fail = tricircle_db::jobs::JobStatus::Fail.as_stored();
    let ids: Vec<String> =
        e.db.db
            .run(move |c| {
                use diesel::prelude::*;
                use tricircle_db::schema::async_jobs as aj;
                Ok(aj::table
                    .filter(aj::status.eq(fail))
                    .select(aj::id)
                    .load::<String>(c)?)
            })
            .await
            .unwrap();
    assert!(!ids.is_empty(), "a FAIL row of router2's set-up");
    let reasons =
        e.db.db
            .run(move |c| tricircle_db::jobs::failure_reasons(c, &ids))
            .await
            .unwrap();
    let reason = reasons.values().next().cloned().unwrap_or_default();
    assert!(
        reason.contains("bridge gateway 100.0.0.1 is held by port")
            && reason.contains(&bridge::port_name(PROJECT, ""))
            && reason.contains("a project holds one such router"),
        "{reason}"
    );
}
