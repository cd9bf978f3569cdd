//! update_network, subnet_update and shadow_port_setup on a network spread
//! over both pods, in plugin mode: the test plays the local plugins (the
//! bottom copies, VM ports bound where they booted, shadow agents recorded
//! by the central plugin), xjob pushes top changes down and mirrors ports.

use crate::network_common;

use network_common::*;
use serde_json::{json, Value};
use tricircle_jobs::network::bottom::{self, Copy};
use tricircle_jobs::network::ip;
use tricircle_jobs::JobType;
use tricircle_jobs::ResourceType;
use tricircle_openstack::neutron::{AllocationPool, Network, Subnet};

const NETWORK_UPDATE: &str = JobType::NetworkUpdate.name();
const SHADOW_PORT_SETUP: &str = JobType::ShadowPortSetup.name();
const SUBNET_UPDATE: &str = JobType::SubnetUpdate.name();

struct World {
    net: String,
    subnet: String,
    /// Bottom network and subnet per pod: [pod-1, pod-2].
    b_nets: [String; 2],
    b_subs: [String; 2],
}

/// A top network with one subnet, copied into both pods.
async fn world(e: &Env) -> World {
    let (n, s) = top_network(e, "net1", "10.0.1.0/24").await;
    let t_net: Network = serde_json::from_value(n.clone()).unwrap();
    let t_sub: Subnet = serde_json::from_value(s.clone()).unwrap();
    let top_pod = e.pod("pod-top").await;
    let mut b_nets = Vec::new();
    let mut b_subs = Vec::new();
    for pod in ["pod-1", "pod-2"] {
        let pod = e.pod(pod).await;
        let (b_net, map) = bottom::network_subnets(
            &e.net,
            &top_pod,
            &pod,
            PROJECT,
            &t_net,
            std::slice::from_ref(&t_sub),
            Copy::Own,
        )
        .await
        .unwrap();
        b_nets.push(b_net);
        b_subs.push(map[t_sub.id()].clone());
    }
    World {
        net: id(&n),
        subnet: id(&s),
        b_nets: b_nets.try_into().unwrap(),
        b_subs: b_subs.try_into().unwrap(),
    }
}

fn find<'a>(items: &'a [Value], id: &str) -> &'a Value {
    items
        .iter()
        .find(|v| v["id"] == id)
        .unwrap_or_else(|| panic!("{id} not in {items:#?}"))
}

// ---------------------------------------------------------------- network

#[tokio::test]
async fn network_attributes_reach_every_pod_and_a_rerun_changes_nothing() {
    let e = env(false).await;
    let w = world(&e).await;
    // A bottom QoS policy the top network does not have any more.
    let r1 = e.neutron(R1);
    let policy = create(
        &r1,
        "qos/policies",
        "policy",
        json!({"name": "old", "tenant_id": PROJECT}),
    )
    .await;
    put(
        &r1,
        &format!("networks/{}", w.b_nets[0]),
        json!({"network": {"qos_policy_id": id(&policy)}}),
    )
    .await;
    put(
        &e.neutron(TOP),
        &format!("networks/{}", w.net),
        json!({"network": {"name": "renamed", "description": "web tier",
            "admin_state_up": false, "shared": true}}),
    )
    .await;

    assert!(
        e.run_job(NETWORK_UPDATE, &format!("not_specified_pod#{}", w.net))
            .await
    );
    let runs = e.drain().await;
    let mut pods: Vec<_> = runs
        .iter()
        .map(|(t, r, ok)| (t.as_str(), r.clone(), *ok))
        .collect();
    pods.sort();
    assert_eq!(
        pods,
        vec![
            (NETWORK_UPDATE, format!("pod-1#{}", w.net), true),
            (NETWORK_UPDATE, format!("pod-2#{}", w.net), true),
        ]
    );
    for (region, b_net) in [(R1, &w.b_nets[0]), (R2, &w.b_nets[1])] {
        let nets = e.cloud.neutron(region).dump("networks");
        let b = find(&nets, b_net);
        assert_eq!(b["name"], format!("{}#renamed", w.net), "{region}");
        assert_eq!(b["description"], "web tier");
        assert_eq!(b["admin_state_up"], false);
        assert_eq!(b["shared"], true);
        assert_eq!(b["qos_policy_id"], Value::Null);
    }

    let before = e.snapshot().await;
    assert!(e.run_job(NETWORK_UPDATE, &format!("pod-1#{}", w.net)).await);
    assert!(
        e.run_job(NETWORK_UPDATE, &format!("not_specified_pod#{}", w.net))
            .await
    );
    assert!(e.drain().await.iter().all(|(_, _, ok)| *ok));
    assert_eq!(before, e.snapshot().await);
}

#[tokio::test]
async fn a_top_qos_policy_is_left_to_the_qos_jobs() {
    let e = env(false).await;
    let w = world(&e).await;
    let top = e.neutron(TOP);
    let policy = create(
        &top,
        "qos/policies",
        "policy",
        json!({"name": "gold", "tenant_id": PROJECT}),
    )
    .await;
    put(
        &top,
        &format!("networks/{}", w.net),
        json!({"network": {"qos_policy_id": id(&policy), "description": "x"}}),
    )
    .await;
    assert!(e.run_job(NETWORK_UPDATE, &format!("pod-2#{}", w.net)).await);
    let nets = e.cloud.neutron(R2).dump("networks");
    let b = find(&nets, &w.b_nets[1]);
    assert_eq!(b["description"], "x");
    assert_eq!(b["qos_policy_id"], Value::Null);
    // Only the named pod is touched.
    let nets = e.cloud.neutron(R1).dump("networks");
    assert_eq!(find(&nets, &w.b_nets[0])["description"], "");
}

#[tokio::test]
async fn network_update_fails_while_the_pod_is_down_and_converges_after() {
    let e = env(false).await;
    let w = world(&e).await;
    put(
        &e.neutron(TOP),
        &format!("networks/{}", w.net),
        json!({"network": {"description": "new"}}),
    )
    .await;
    e.cloud.neutron(R2).set_down(true).await.unwrap();
    assert!(!e.run_job(NETWORK_UPDATE, &format!("pod-2#{}", w.net)).await);
    e.cloud.neutron(R2).set_down(false).await.unwrap();
    let nets = e.cloud.neutron(R2).dump("networks");
    assert_eq!(find(&nets, &w.b_nets[1])["description"], "");
    assert!(e.run_job(NETWORK_UPDATE, &format!("pod-2#{}", w.net)).await);
    let nets = e.cloud.neutron(R2).dump("networks");
    assert_eq!(find(&nets, &w.b_nets[1])["description"], "new");
}

#[tokio::test]
async fn nothing_to_update_without_a_top_network_or_a_copy() {
    let e = env(false).await;
    let w = world(&e).await;
    assert!(
        e.run_job(NETWORK_UPDATE, "pod-1#00000000-0000-0000-0000-000000000000")
            .await
    );
    // A copy deleted in the pod behind the routing table's back.
    e.neutron(R1).delete::<Subnet>(&w.b_subs[0]).await.unwrap();
    e.neutron(R1).delete::<Network>(&w.b_nets[0]).await.unwrap();
    put(
        &e.neutron(TOP),
        &format!("networks/{}", w.net),
        json!({"network": {"description": "new"}}),
    )
    .await;
    assert!(e.run_job(NETWORK_UPDATE, &format!("pod-1#{}", w.net)).await);
    assert!(e.cloud.neutron(R1).dump("networks").is_empty());
}

// ----------------------------------------------------------------- subnet

#[tokio::test]
async fn subnet_attributes_reach_every_pod_keeping_the_pod_gateway() {
    let e = env(false).await;
    let w = world(&e).await;
    let gw_before: Vec<Value> = [(R1, &w.b_subs[0]), (R2, &w.b_subs[1])]
        .iter()
        .map(|(r, s)| find(&e.cloud.neutron(r).dump("subnets"), s)["gateway_ip"].clone())
        .collect();
    put(
        &e.neutron(TOP),
        &format!("subnets/{}", w.subnet),
        json!({"subnet": {"name": "renamed", "description": "d", "enable_dhcp": true,
            "dns_nameservers": ["8.8.8.8"],
            "host_routes": [{"destination": "192.168.0.0/24", "nexthop": "10.0.1.254"}],
            "allocation_pools": [{"start": "10.0.1.2", "end": "10.0.1.100"}]}}),
    )
    .await;

    assert!(
        e.run_job(SUBNET_UPDATE, &format!("not_specified_pod#{}", w.subnet))
            .await
    );
    let runs = e.drain().await;
    assert_eq!(runs.len(), 2, "{runs:?}");
    assert!(runs.iter().all(|(t, _, ok)| t == SUBNET_UPDATE && *ok));

    let top_pools = vec![AllocationPool {
        start: "10.0.1.2".into(),
        end: "10.0.1.100".into(),
    }];
    for (i, (region, b_sub)) in [(R1, &w.b_subs[0]), (R2, &w.b_subs[1])]
        .into_iter()
        .enumerate()
    {
        let subs = e.cloud.neutron(region).dump("subnets");
        let b = find(&subs, b_sub);
        assert_eq!(b["name"], w.subnet, "the name is the lock's key");
        assert_eq!(b["gateway_ip"], gw_before[i], "the pod's gateway stays");
        assert_eq!(b["description"], "d");
        assert_eq!(b["enable_dhcp"], true);
        assert_eq!(b["dns_nameservers"], json!(["8.8.8.8"]));
        assert_eq!(
            b["host_routes"],
            json!([{"destination": "192.168.0.0/24", "nexthop": "10.0.1.254"}])
        );
        let b_gw = b["gateway_ip"].as_str().unwrap();
        let pools: Vec<AllocationPool> =
            serde_json::from_value(b["allocation_pools"].clone()).unwrap();
        assert_eq!(pools, ip::bottom_pools(&top_pools, Some("10.0.1.1"), b_gw));
        // The top gateway is a VM address here, the pod's gateway is not.
        let covers = |ip: &str| {
            let v = |s: &str| s.parse::<std::net::Ipv4Addr>().unwrap();
            pools
                .iter()
                .any(|p| v(&p.start) <= v(ip) && v(ip) <= v(&p.end))
        };
        assert!(covers("10.0.1.1") && covers("10.0.1.100") && !covers(b_gw));
        assert!(!covers("10.0.1.101"));
    }

    let before = e.snapshot().await;
    assert!(
        e.run_job(SUBNET_UPDATE, &format!("not_specified_pod#{}", w.subnet))
            .await
    );
    assert!(e.drain().await.iter().all(|(_, _, ok)| *ok));
    assert_eq!(before, e.snapshot().await);
}

#[tokio::test]
async fn subnet_update_fails_while_the_pod_is_down_and_converges_after() {
    let e = env(false).await;
    let w = world(&e).await;
    put(
        &e.neutron(TOP),
        &format!("subnets/{}", w.subnet),
        json!({"subnet": {"dns_nameservers": ["1.1.1.1"]}}),
    )
    .await;
    e.cloud.neutron(R1).set_down(true).await.unwrap();
    assert!(
        !e.run_job(SUBNET_UPDATE, &format!("pod-1#{}", w.subnet))
            .await
    );
    e.cloud.neutron(R1).set_down(false).await.unwrap();
    let dns = |e: &Env| {
        find(&e.cloud.neutron(R1).dump("subnets"), &w.b_subs[0])["dns_nameservers"].clone()
    };
    assert_eq!(dns(&e), json!([]));
    assert!(
        e.run_job(SUBNET_UPDATE, &format!("pod-1#{}", w.subnet))
            .await
    );
    assert_eq!(dns(&e), json!(["1.1.1.1"]));
}

// ----------------------------------------------------------- shadow ports

/// A VM port created at the top and booted in `region` on `host` (the
/// local plugin's bottom copy, with the top port's address and MAC).
async fn boot(e: &Env, w: &World, pod: usize, host: &str, name: &str) -> (String, String) {
    let top = e.neutron(TOP);
    let t = create(
        &top,
        "ports",
        "port",
        json!({"network_id": w.net, "name": name, "device_owner": "compute:nova",
        "device_id": name, "tenant_id": PROJECT, "binding:host_id": host}),
    )
    .await;
    let (region, pod_id) = [(R1, "pod-1"), (R2, "pod-2")][pod];
    let b = create(
        &e.neutron(region),
        "ports",
        "port",
        json!({"network_id": w.b_nets[pod], "name": id(&t),
        "device_owner": "compute:nova", "device_id": name, "tenant_id": PROJECT,
        "mac_address": t["mac_address"], "binding:host_id": host,
        "fixed_ips": [{"subnet_id": w.b_subs[pod], "ip_address": first_ip(&t)}]}),
    )
    .await;
    e.route(&id(&t), pod_id, ResourceType::Port.as_str(), &id(&b))
        .await;
    (id(&t), first_ip(&t))
}

async fn agent(e: &Env, pod: &str, host: &str, tunnel: &str) {
    let (p, h, t) = (pod.to_owned(), host.to_owned(), tunnel.to_owned());
    e.db.db
        .run(move |c| {
            tricircle_db::agents::ensure_agent_exists(c, &p, &h, "Open vSwitch agent", &t)
        })
        .await
        .unwrap();
}

fn shadows(e: &Env, region: &str) -> Vec<Value> {
    e.cloud
        .neutron(region)
        .dump("ports")
        .into_iter()
        .filter(|p| p["device_owner"] == "compute:shadow")
        .collect()
}

/// vm1 on compute1 in pod-1, vm2 on compute2 and vm3 on compute3 in pod-2;
/// every host runs OVS, but the central plugin has recorded no agent for
/// compute3.
async fn shadow_world(e: &Env) -> (World, [(String, String); 3]) {
    let w = world(e).await;
    e.cloud.neutron(R1).add_ovs_agent("compute1");
    e.cloud.neutron(R2).add_ovs_agent("compute2");
    e.cloud.neutron(R2).add_ovs_agent("compute3");
    agent(e, "pod-1", "compute1", "192.168.10.1").await;
    agent(e, "pod-2", "compute2", "192.168.10.2").await;
    let vm1 = boot(e, &w, 0, "compute1", "vm1").await;
    let vm2 = boot(e, &w, 1, "compute2", "vm2").await;
    let vm3 = boot(e, &w, 1, "compute3", "vm3").await;
    (w, [vm1, vm2, vm3])
}

#[tokio::test]
async fn shadow_ports_mirror_the_other_pods_ports_both_ways() {
    let e = env(false).await;
    let (w, [vm1, vm2, vm3]) = shadow_world(&e).await;

    assert!(
        e.run_job(SHADOW_PORT_SETUP, &format!("pod-1#{}", w.net))
            .await
    );
    let sw1 = shadows(&e, R1);
    assert_eq!(sw1.len(), 1, "only vm2 has a known agent: {sw1:#?}");
    let s = &sw1[0];
    assert_eq!(s["name"], format!("shadow_port_{}", vm2.0));
    assert_eq!(s["network_id"], w.b_nets[0]);
    assert_eq!(first_ip(s), vm2.1);
    assert_eq!(s["fixed_ips"][0]["subnet_id"], w.b_subs[0]);
    assert_eq!(s["binding:host_id"], "compute2");
    assert_eq!(s["device_id"], "vm2");
    let top_vm2 = find(&e.cloud.neutron(TOP).dump("ports"), &vm2.0).clone();
    assert_eq!(s["mac_address"], top_vm2["mac_address"]);
    assert_eq!(s["binding:profile"], json!({"force_up": "True"}));
    assert!(shadows(&e, R2).is_empty());

    // pod-2 lacks vm1's shadow: the job was recorded for it.
    let runs = e.drain().await;
    assert!(
        runs.contains(&(SHADOW_PORT_SETUP.into(), format!("pod-2#{}", w.net), true)),
        "{runs:?}"
    );
    assert!(runs.iter().all(|(_, _, ok)| *ok), "{runs:?}");
    let sw2 = shadows(&e, R2);
    assert_eq!(sw2.len(), 1, "{sw2:#?}");
    assert_eq!(sw2[0]["name"], format!("shadow_port_{}", vm1.0));
    assert_eq!(sw2[0]["network_id"], w.b_nets[1]);
    assert_eq!(first_ip(&sw2[0]), vm1.1);
    assert_eq!(sw2[0]["binding:host_id"], "compute1");
    // vm3's host has no recorded agent: not shadowed anywhere.
    let all: Vec<Value> = shadows(&e, R1).into_iter().chain(shadows(&e, R2)).collect();
    assert!(all
        .iter()
        .all(|p| p["name"] != format!("shadow_port_{}", vm3.0)));

    // A rerun from either side changes nothing.
    let before = e.snapshot().await;
    for pod in ["pod-1", "pod-2"] {
        assert!(
            e.run_job(SHADOW_PORT_SETUP, &format!("{pod}#{}", w.net))
                .await
        );
    }
    assert!(e.drain().await.iter().all(|(_, _, ok)| *ok));
    assert_eq!(before, e.snapshot().await);
}

#[tokio::test]
async fn shadow_ports_need_an_ovs_binding_and_a_mapped_pod() {
    let e = env(false).await;
    let w = world(&e).await;
    agent(&e, "pod-2", "compute2", "192.168.10.2").await;
    // compute2 has no OVS agent in pod-2: binding failed, nothing to mirror.
    boot(&e, &w, 1, "compute2", "vm2").await;
    assert!(
        e.run_job(SHADOW_PORT_SETUP, &format!("pod-1#{}", w.net))
            .await
    );
    assert!(shadows(&e, R1).is_empty());

    // A network only in pod-1 gets nothing in pod-2, nor does a gone one.
    let top = e.neutron(TOP);
    let n = create(
        &top,
        "networks",
        "network",
        json!({"name": "solo", "tenant_id": PROJECT}),
    )
    .await;
    let before = e.snapshot().await;
    assert!(
        e.run_job(SHADOW_PORT_SETUP, &format!("pod-2#{}", id(&n)))
            .await
    );
    assert!(
        e.run_job(
            SHADOW_PORT_SETUP,
            "pod-2#00000000-0000-0000-0000-000000000000"
        )
        .await
    );
    assert_eq!(before, e.snapshot().await);
    assert!(e.drain().await.is_empty());
}

/// A VM whose port shows in the target pod as well as in its old pod (it
/// moved) is not shadowed in the target pod, and the old pod is the one
/// asked to catch up (it no longer counts as having the port).
#[tokio::test]
async fn a_vm_that_moved_into_the_pod_is_not_shadowed_there() {
    let e = env(false).await;
    let w = world(&e).await;
    e.cloud.neutron(R1).add_ovs_agent("compute1");
    e.cloud.neutron(R2).add_ovs_agent("compute2");
    agent(&e, "pod-1", "compute1", "192.168.10.1").await;
    agent(&e, "pod-2", "compute2", "192.168.10.2").await;
    let vm1 = boot(&e, &w, 0, "compute1", "vm1").await;
    let top_vm1 = find(&e.cloud.neutron(TOP).dump("ports"), &vm1.0).clone();
    create(
        &e.neutron(R2),
        "ports",
        "port",
        json!({"network_id": w.b_nets[1], "name": vm1.0,
        "device_owner": "compute:nova", "device_id": "vm1", "tenant_id": PROJECT,
        "mac_address": top_vm1["mac_address"], "binding:host_id": "compute2",
        "fixed_ips": [{"subnet_id": w.b_subs[1], "ip_address": vm1.1}]}),
    )
    .await;
    assert!(
        e.run_job(SHADOW_PORT_SETUP, &format!("pod-2#{}", w.net))
            .await
    );
    assert!(shadows(&e, R2).is_empty());
    let (_, new) = e.waiting().await;
    let new: Vec<_> = new
        .into_iter()
        .map(|j| (j.job_type, j.resource_id))
        .collect();
    assert_eq!(
        new,
        vec![(SHADOW_PORT_SETUP.to_owned(), format!("pod-1#{}", w.net))]
    );
}

#[tokio::test]
async fn shadow_port_setup_fails_while_a_pod_is_down_and_converges_after() {
    let e = env(false).await;
    let (w, [_, vm2, _]) = shadow_world(&e).await;
    e.cloud.neutron(R2).set_down(true).await.unwrap();
    assert!(
        !e.run_job(SHADOW_PORT_SETUP, &format!("pod-1#{}", w.net))
            .await
    );
    assert!(shadows(&e, R1).is_empty());
    e.cloud.neutron(R2).set_down(false).await.unwrap();

    // The target pod refusing the shadow port: the job fails and leaves
    // no routing lock behind, so the next run creates it.
    e.cloud
        .neutron(R1)
        .fail_next(Some("POST"), "/v2.0/ports", 10, 500);
    assert!(
        !e.run_job(SHADOW_PORT_SETUP, &format!("pod-1#{}", w.net))
            .await
    );
    e.cloud.neutron(R1).clear_faults();
    assert!(
        e.run_job(SHADOW_PORT_SETUP, &format!("pod-1#{}", w.net))
            .await
    );
    assert!(
        e.run_job(SHADOW_PORT_SETUP, &format!("pod-1#{}", w.net))
            .await
    );
    let sw1 = shadows(&e, R1);
    assert_eq!(sw1.len(), 1, "{sw1:#?}");
    assert_eq!(sw1[0]["name"], format!("shadow_port_{}", vm2.0));
    assert_eq!(sw1[0]["binding:profile"], json!({"force_up": "True"}));
}
