//! router_setup and configure_route on the guide's multi-pod scenario, in
//! plugin mode: the test plays the original's central and local plugins
//! (top bridge network, bottom networks and VM ports, the bottom external
//! network and the north-south router), xjob does the rest.

use crate::network_common;

use network_common::*;
use serde_json::json;
use tricircle_jobs::network::bridge::{self, TopBridge};
use tricircle_jobs::JobType;
use tricircle_jobs::ResourceType;
use tricircle_openstack::neutron::{ExternalGatewayInfo, Network, Subnet};

const CONFIGURE_ROUTE: &str = JobType::ConfigureRoute.name();
const ROUTER_SETUP: &str = JobType::RouterSetup.name();

struct World {
    router: String,
    net1: String,
    net2: String,
    vm1_ip: String,
    vm2_ip: String,
    b_vm2: String,
    fip: String,
    b_ext_net: String,
    ns_router: String,
}

async fn plugin_world(e: &Env) -> World {
    let top = e.neutron(TOP);
    let r1 = e.neutron(R1);
    let r2 = e.neutron(R2);
    e.cloud.neutron(TOP).add_availability_zone(R2);
    e.cloud.neutron(R2).set_tricircle_l3(true);
    let pod1 = e.pod("pod-1").await;
    let pod2 = e.pod("pod-2").await;

    // Central Neutron, as the user and the central plugin left it.
    let mut nets = Vec::new();
    for (name, cidr) in [("net1", "10.0.1.0/24"), ("net2", "10.0.2.0/24")] {
        nets.push(top_network(e, name, cidr).await);
    }
    let (ext, ext_sub) = ext_network(&top, R2).await;
    let bnet = create(
        &top,
        "networks",
        "network",
        json!({"name": bridge::net_name(PROJECT),
        "tenant_id": PROJECT, "provider:network_type": "vxlan"}),
    )
    .await;
    let bsub = create(
        &top,
        "subnets",
        "subnet",
        json!({"network_id": id(&bnet),
        "name": bridge::subnet_name(PROJECT), "cidr": "100.0.0.0/24", "ip_version": 4,
        "enable_dhcp": false, "tenant_id": PROJECT}),
    )
    .await;
    let (router, vms, fip) = tenant_router(&top, PROJECT, &nets, &ext).await;
    let rid = id(&router);

    // The local plugins: a bottom copy of each network where its VM booted.
    let mut b_vms = Vec::new();
    for (i, ((n, s), (client, region, pod))) in nets
        .iter()
        .zip([(&r1, R1, "pod-1"), (&r2, R2, "pod-2")])
        .enumerate()
    {
        let (bn, bs) = e
            .bottom_network(region, pod, (n, s), &format!("net{}", i + 1))
            .await;
        let bp = create(client, "ports", "port", json!({"network_id": id(&bn), "name": id(&vms[i]),
            "device_owner": "compute:nova", "device_id": format!("vm{}", i + 1), "tenant_id": PROJECT,
            "mac_address": vms[i]["mac_address"],
            "fixed_ips": [{"subnet_id": id(&bs), "ip_address": first_ip(&vms[i])}]})).await;
        e.route(&id(&vms[i]), pod, ResourceType::Port.as_str(), &id(&bp))
            .await;
        b_vms.push(bp);
    }

    // The central plugin, on router-gateway-set: the bottom external
    // network, the north-south router and its bridge interface.
    let b_ext = create(
        &r2,
        "networks",
        "network",
        json!({"name": id(&ext), "router:external": true,
        "provider:network_type": "vlan", "provider:physical_network": "extern"}),
    )
    .await;
    let b_ext_sub = create(
        &r2,
        "subnets",
        "subnet",
        json!({"network_id": id(&b_ext), "name": id(&ext_sub),
        "cidr": "163.3.124.0/24", "ip_version": 4, "enable_dhcp": false}),
    )
    .await;
    e.route(
        &id(&ext),
        "pod-2",
        ResourceType::Network.as_str(),
        &id(&b_ext),
    )
    .await;
    e.route(
        &id(&ext_sub),
        "pod-2",
        ResourceType::Subnet.as_str(),
        &id(&b_ext_sub),
    )
    .await;
    let ns = create(
        &r2,
        "routers",
        "router",
        json!({"name": format!("ns_router_{rid}"), "tenant_id": PROJECT}),
    )
    .await;
    e.route(&rid, "pod-2", ResourceType::NsRouter.as_str(), &id(&ns))
        .await;
    r2.set_gateway(
        &id(&ns),
        Some(ExternalGatewayInfo {
            network_id: id(&b_ext),
            enable_snat: None,
            external_fixed_ips: None,
        }),
    )
    .await
    .unwrap();
    let tb = TopBridge {
        net: serde_json::from_value::<Network>(bnet.clone()).unwrap(),
        subnet: serde_json::from_value::<Subnet>(bsub.clone()).unwrap(),
    };
    let (_, b_bridge_sub) = bridge::bottom_bridge(&e.net, &pod2, PROJECT, &tb)
        .await
        .unwrap();
    let gw = bsub["gateway_ip"].as_str().unwrap();
    let top_pod = e.pod("pod-top").await;
    bridge::top_bridge_port(&e.net, &top_pod, PROJECT, &tb, &id(&ns), Some(gw))
        .await
        .unwrap();
    r2.add_interface_subnet(&id(&ns), b_bridge_sub.id())
        .await
        .unwrap();
    let _ = pod1;

    World {
        router: rid,
        net1: id(&nets[0].0),
        net2: id(&nets[1].0),
        vm1_ip: first_ip(&vms[0]),
        vm2_ip: first_ip(&vms[1]),
        b_vm2: id(&b_vms[1]),
        fip: fip["floating_ip_address"].as_str().unwrap().to_owned(),
        b_ext_net: id(&b_ext),
        ns_router: id(&ns),
    }
}

/// Run the jobs the central plugin casts after the interfaces and the
/// gateway, then everything they record.
async fn run_all(e: &Env, w: &World) -> Vec<(String, String, bool)> {
    assert!(
        e.run_job(
            ROUTER_SETUP,
            &format!("not_specified_pod#{}#{}", w.router, w.net1)
        )
        .await
    );
    assert!(
        e.run_job(ROUTER_SETUP, &format!("pod-2#{}#{}", w.router, w.net2))
            .await
    );
    e.drain().await
}

/// Check the converged state; returns the snapshot.
async fn assert_converged(e: &Env, w: &World) {
    let top_ports = e.cloud.neutron(TOP).dump("ports");
    let mut bridge_ips = Vec::new();
    let mut bridge_cidrs = Vec::new();
    for (region, tenant_cidr) in [(R1, "10.0.1.0/24"), (R2, "10.0.2.0/24")] {
        let fake = e.cloud.neutron(region);
        let routers = fake.dump("routers");
        let mine = named(&routers, &w.router);
        assert_eq!(mine.len(), 1, "one bottom router in {region}: {routers:#?}");
        let r = mine[0];
        let nets = fake.dump("networks");
        let subnets = fake.dump("subnets");
        // Gateway on the bridge network, SNAT off, at the top bridge port's address.
        let bridge_nets: Vec<_> = nets
            .iter()
            .filter(|n| {
                n["external_gateway_info"].is_null()
                    && n["router:external"] == true
                    && n["provider:network_type"] == "vxlan"
            })
            .collect();
        assert_eq!(bridge_nets.len(), 1, "one bridge network in {region}");
        let gw = &r["external_gateway_info"];
        assert_eq!(
            gw["network_id"], bridge_nets[0]["id"],
            "{region} gateway network"
        );
        assert_eq!(gw["enable_snat"], false, "{region} SNAT");
        let port_name = bridge::port_name(PROJECT, r["id"].as_str().unwrap());
        let t_bridge_port = named(&top_ports, &port_name);
        assert_eq!(t_bridge_port.len(), 1, "top bridge port {port_name}");
        assert_eq!(gateway_ip(r), first_ip(t_bridge_port[0]));
        bridge_ips.push(gateway_ip(r));
        let bsub: Vec<_> = subnets
            .iter()
            .filter(|s| s["network_id"] == bridge_nets[0]["id"])
            .collect();
        assert_eq!(bsub.len(), 1);
        bridge_cidrs.push(bsub[0]["cidr"].clone());
        // The tenant interface at the bottom subnet's gateway.
        let tenant_sub = subnets.iter().find(|s| s["cidr"] == tenant_cidr).unwrap();
        assert_one_interface_at_gateway(fake.dump("ports"), r, tenant_sub, region);
    }
    assert_eq!(bridge_cidrs[0], "100.0.0.0/24");
    assert_eq!(
        bridge_cidrs[0], bridge_cidrs[1],
        "same bridge CIDR in both pods"
    );

    let r2_routers = e.cloud.neutron(R2).dump("routers");
    let ns = r2_routers
        .iter()
        .find(|r| r["id"] == w.ns_router.as_str())
        .unwrap();
    let ns_ip = "100.0.0.1".to_owned();
    let r1_router = e
        .cloud
        .neutron(R1)
        .dump("routers")
        .into_iter()
        .find(|r| r["name"] == w.router.as_str())
        .unwrap();
    let r2_router = named(&r2_routers, &w.router)[0].clone();
    assert_two_pod_routes(
        [&r1_router, &r2_router],
        ns,
        [&w.vm1_ip, &w.vm2_ip],
        &bridge_ips,
        &ns_ip,
    );

    // The floating IP, in the external network's pod, on vm2's bottom port.
    let fips = e.cloud.neutron(R2).dump("floatingips");
    assert_eq!(fips.len(), 1, "{fips:#?}");
    assert_eq!(fips[0]["floating_ip_address"], w.fip.as_str());
    assert_eq!(fips[0]["floating_network_id"], w.b_ext_net.as_str());
    assert_eq!(fips[0]["port_id"], w.b_vm2.as_str());
    assert!(e.cloud.neutron(R1).dump("floatingips").is_empty());
}

fn rt_setup_jobs(done: &[(String, String, bool)]) -> Vec<String> {
    done.iter()
        .filter(|(t, _, _)| t == ROUTER_SETUP)
        .map(|(_, r, _)| r.clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_pod_scenario_converges_and_reruns_change_nothing() {
    let e = env(false).await;
    let w = plugin_world(&e).await;
    let done = run_all(&e, &w).await;
    assert!(done.iter().all(|(_, _, ok)| *ok), "{done:?}");
    // The fan-out recorded one job for net1's only pod; each pod's run
    // recorded a configure_route.
    assert_eq!(
        rt_setup_jobs(&done),
        vec![format!("pod-1#{}#{}", w.router, w.net1)]
    );
    assert!(done
        .iter()
        .any(|(t, r, _)| t == CONFIGURE_ROUTE && *r == w.router));
    assert_converged(&e, &w).await;

    let before = e.snapshot().await;
    let writes_before = e.cloud.neutron(R1).requests().len();
    let done = run_all(&e, &w).await;
    assert!(done.iter().all(|(_, _, ok)| *ok));
    assert_eq!(e.snapshot().await, before, "a rerun changes nothing");
    let writes: Vec<_> = e.cloud.neutron(R1).requests()[writes_before..]
        .iter()
        .filter(|r| r.method != "GET")
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert!(writes.is_empty(), "a rerun writes nothing: {writes:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_failing_mid_job_fails_it_and_a_rerun_converges() {
    let e = env(false).await;
    let w = plugin_world(&e).await;
    // RegionOne takes the router and the bridge copies, then refuses the
    // gateway update.
    e.cloud
        .neutron(R1)
        .fail_next(Some("PUT"), "/v2.0/routers", 10, 503);
    assert!(
        !e.run_job(ROUTER_SETUP, &format!("pod-1#{}#{}", w.router, w.net1))
            .await
    );
    assert_eq!(
        e.cloud.neutron(R1).dump("routers").len(),
        1,
        "the router was created"
    );
    e.cloud.neutron(R1).clear_faults();

    // RegionTwo down: its job fails.
    e.cloud.neutron(R2).set_down(true).await.unwrap();
    assert!(
        !e.run_job(ROUTER_SETUP, &format!("pod-2#{}#{}", w.router, w.net2))
            .await
    );
    e.cloud.neutron(R2).set_down(false).await.unwrap();

    let done = run_all(&e, &w).await;
    assert!(done.iter().all(|(_, _, ok)| *ok), "{done:?}");
    assert_converged(&e, &w).await;

    // Same end state as a run that never failed (resource for resource).
    let count = |region: &str, coll: &str| e.cloud.neutron(region).dump(coll).len();
    let shape: Vec<usize> = [R1, R2]
        .iter()
        .flat_map(|r| {
            ["networks", "subnets", "ports", "routers", "floatingips"].map(|c| count(r, c))
        })
        .collect();
    let clean = env(false).await;
    let cw = plugin_world(&clean).await;
    run_all(&clean, &cw).await;
    let clean_shape: Vec<usize> = [R1, R2]
        .iter()
        .flat_map(|r| {
            ["networks", "subnets", "ports", "routers", "floatingips"]
                .map(|c| clean.cloud.neutron(r).dump(c).len())
        })
        .collect();
    assert_eq!(shape, clean_shape, "no duplicates after the failures");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn floating_ip_follows_the_top() {
    let e = env(false).await;
    let w = plugin_world(&e).await;
    run_all(&e, &w).await;
    let top = e.neutron(TOP);
    let t_fip = top
        .list_floatingips(&Default::default())
        .await
        .unwrap()
        .remove(0);
    // Disassociated at the top: the bottom copy goes.
    top.disassociate_floatingip(t_fip.id()).await.unwrap();
    assert!(
        e.run_job(ROUTER_SETUP, &format!("pod-2#{}#{}", w.router, w.net2))
            .await
    );
    assert!(e.cloud.neutron(R2).dump("floatingips").is_empty());
}
