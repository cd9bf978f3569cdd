//! Stock mode: the pod copies of a tenant's networks are made ahead of
//! VMs by network_setup, recorded from the central Neutron's notifications
//! alone, and each copy offers only its pod's slice of the top pools, so
//! VMs booted in different pods never collide, nor take an address the
//! central region holds.

use crate::network_common;

use std::collections::{BTreeMap, BTreeSet};

use network_common::*;
use serde_json::{json, Value};
use tricircle_jobs::events::{JobAsk, NeutronEvent};
use tricircle_jobs::network::bottom::{self, interface_port_name};
use tricircle_jobs::network::external::ns_interface_port_name;
use tricircle_jobs::network::slices;
use tricircle_jobs::{JobType, ResourceType};

const NETWORK_SETUP: &str = JobType::NetworkSetup.name();

/// xjob following every region: record what their notifications ask for
/// and run it, until they ask for nothing more. Returns the central
/// region's events seen first.
async fn follow(e: &Env) -> Vec<NeutronEvent> {
    let mut first = None;
    for _ in 0..10 {
        let mut events = Vec::new();
        for region in [TOP, R1, R2] {
            events.extend(events_of(e, region));
        }
        first.get_or_insert_with(|| events.clone());
        if asks_of(e, &events).await.is_empty() {
            return first.unwrap_or_default();
        }
        record_all(e, &events).await;
        let done = e.drain().await;
        assert!(done.iter().all(|(_, _, ok)| *ok), "{done:?}");
    }
    panic!("events keep asking for jobs");
}

fn setup_ask(network: &str) -> JobAsk {
    JobAsk {
        job_type: JobType::NetworkSetup,
        resource_id: format!("not_specified_pod#{network}"),
        project_id: PROJECT.into(),
    }
}

/// An address as a number.
fn num(ip: &str) -> u128 {
    slices::parse(ip).unwrap().1
}

/// A subnet's pools as inclusive numeric ranges.
fn ranges(sub: &Value) -> Vec<(u128, u128)> {
    sub["allocation_pools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                num(p["start"].as_str().unwrap()),
                num(p["end"].as_str().unwrap()),
            )
        })
        .collect()
}

fn pools(list: &[(&str, &str)]) -> Value {
    Value::Array(
        list.iter()
            .map(|(s, e)| json!({"start": s, "end": e}))
            .collect(),
    )
}

/// The copy of top subnet `t_sub` in `region`, by its name (the top id).
fn copy_of(e: &Env, region: &str, t_sub: &Value) -> Option<Value> {
    e.cloud
        .neutron(region)
        .dump("subnets")
        .into_iter()
        .find(|s| s["name"] == t_sub["id"])
}

/// The addresses the central region holds on `t_sub`: its gateway and
/// every port's.
fn central_addresses(e: &Env, t_sub: &Value) -> BTreeSet<u128> {
    let mut held: BTreeSet<u128> = e
        .cloud
        .neutron(TOP)
        .dump("ports")
        .iter()
        .flat_map(|p| p["fixed_ips"].as_array().cloned().unwrap_or_default())
        .filter(|f| f["subnet_id"] == t_sub["id"])
        .map(|f| num(f["ip_address"].as_str().unwrap()))
        .collect();
    held.insert(num(t_sub["gateway_ip"].as_str().unwrap()));
    held
}

/// Write requests (anything but GET) `region`'s Neutron received.
fn writes(e: &Env, region: &str) -> Vec<String> {
    e.cloud
        .neutron(region)
        .requests()
        .into_iter()
        .filter(|r| r.method != "GET")
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

/// VM ports booted in `region` on its copy of `t_net`, the pod's Nova
/// asking for no address.
async fn boot(e: &Env, region: &str, pod: &str, t_net: &str, n: usize) -> Vec<String> {
    let b_net = e
        .net
        .bottom_id(t_net, &e.pod(pod).await, ResourceType::Network)
        .await
        .unwrap()
        .expect("copy made ahead of the VM");
    let mut ips = Vec::new();
    for i in 0..n {
        let p = create(
            &e.neutron(region),
            "ports",
            "port",
            json!({"network_id": b_net, "name": format!("vm-{region}-{i}"),
                "device_owner": "compute:nova", "device_id": format!("vm-{region}-{i}"),
                "tenant_id": PROJECT}),
        )
        .await;
        ips.push(first_ip(&p));
    }
    ips
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_networks_get_pod_copies_with_disjoint_pools_from_events_alone() {
    let e = env(true).await;
    let top_fake = e.cloud.neutron(TOP);
    for az in ["az1", "az2"] {
        top_fake.add_availability_zone(az);
    }
    let top = e.neutron(TOP);
    // net1 spans both pods (VLAN), net2 RegionOne only, net3 has no hints
    // (every pod; flat), ext-net is not a tenant network.
    let (n1, s1) = network_in(
        &top,
        "net1",
        "10.0.3.0/24",
        json!({"availability_zone_hints": ["az1", "az2"], "provider:network_type": "vlan",
            "provider:physical_network": "physnet1", "provider:segmentation_id": 2016}),
    )
    .await;
    let (n2, s2) = network_in(
        &top,
        "net2",
        "10.0.4.0/24",
        json!({"availability_zone_hints": ["az1"]}),
    )
    .await;
    let (n3, s3) = network_in(
        &top,
        "net3",
        "10.0.5.0/24",
        json!({"provider:network_type": "flat", "provider:physical_network": "physnet2"}),
    )
    .await;
    ext_network(&top, "az2").await;

    let events = events_of(&e, TOP);
    assert_eq!(
        asks_of(&e, &events).await,
        [&n1, &n2, &n3]
            .into_iter()
            .map(|n| setup_ask(&id(n)))
            .collect(),
        "network_setup of each tenant network, none for ext-net"
    );
    record_all(&e, &events).await;
    let done = e.drain().await;
    assert!(done.iter().all(|(_, _, ok)| *ok), "{done:?}");
    let per_pod: BTreeSet<String> = done
        .iter()
        .filter(|(t, r, _)| t == NETWORK_SETUP && !r.starts_with("not_specified_pod"))
        .map(|(_, r, _)| r.clone())
        .collect();
    let want: BTreeSet<String> = [
        ("pod-1", &n1),
        ("pod-2", &n1),
        ("pod-1", &n2),
        ("pod-1", &n3),
        ("pod-2", &n3),
    ]
    .into_iter()
    .map(|(p, n)| format!("{p}#{}", id(n)))
    .collect();
    assert_eq!(per_pod, want, "the pods of each network");
    // xjob's own writes (the gateway reservations, the copies) ask for
    // nothing more.
    follow(&e).await;

    // Copies in the hinted pods only, on the top's segment.
    for (region, nets) in [(R1, vec![&n1, &n2, &n3]), (R2, vec![&n1, &n3])] {
        let b_nets = e.cloud.neutron(region).dump("networks");
        let names: BTreeSet<String> = b_nets
            .iter()
            .map(|n| n["name"].as_str().unwrap().to_owned())
            .collect();
        let want: BTreeSet<String> = nets
            .iter()
            .map(|n| format!("{}#{}", id(n), n["name"].as_str().unwrap()))
            .collect();
        assert_eq!(names, want, "{region}");
        let b1 = named(&b_nets, &format!("{}#net1", id(&n1)))[0];
        assert_eq!(b1["provider:network_type"], "vlan");
        assert_eq!(b1["provider:physical_network"], "physnet1");
        assert_eq!(b1["provider:segmentation_id"], 2016);
        let b3 = named(&b_nets, &format!("{}#net3", id(&n3)))[0];
        assert_eq!(b3["provider:network_type"], "flat");
        assert_eq!(b3["provider:physical_network"], "physnet2");
    }

    // net1: the head .2-.32 holds the pods' gateway reservations; RegionOne
    // (pod-1) offers .33-.143, RegionTwo .144-.254.
    let c1 = copy_of(&e, R1, &s1).unwrap();
    let c2 = copy_of(&e, R2, &s1).unwrap();
    assert_eq!(
        c1["allocation_pools"],
        pools(&[("10.0.3.33", "10.0.3.143")])
    );
    assert_eq!(
        c2["allocation_pools"],
        pools(&[("10.0.3.144", "10.0.3.254")])
    );
    let top_ports = top_fake.dump("ports");
    for (region, copy) in [(R1, &c1), (R2, &c2)] {
        let reserved = named(&top_ports, &interface_port_name(region, &id(&s1)))[0];
        let gw = num(&first_ip(reserved));
        assert!(
            (num("10.0.3.2")..=num("10.0.3.32")).contains(&gw),
            "{region}"
        );
        assert_eq!(copy["gateway_ip"], first_ip(reserved).as_str());
    }
    // net2 lives in one pod: all but the head; net3 in both.
    let c = copy_of(&e, R1, &s2).unwrap();
    assert_eq!(c["allocation_pools"], pools(&[("10.0.4.33", "10.0.4.254")]));
    assert!(copy_of(&e, R2, &s2).is_none());
    for sub in [&s1, &s3] {
        let held = central_addresses(&e, sub);
        let (a, b) = (copy_of(&e, R1, sub).unwrap(), copy_of(&e, R2, sub).unwrap());
        for (x, y) in ranges(&a)
            .iter()
            .flat_map(|x| ranges(&b).into_iter().map(move |y| (*x, y)))
        {
            assert!(x.1 < y.0 || y.1 < x.0, "pools overlap: {x:?} {y:?}");
        }
        for (s, end) in ranges(&a).into_iter().chain(ranges(&b)) {
            assert!(
                held.iter().all(|h| *h < s || *h > end),
                "a held address offered"
            );
        }
    }

    // VMs booted in both pods without asking for an address.
    let mut vm_ips = boot(&e, R1, "pod-1", &id(&n1), 3).await;
    vm_ips.extend(boot(&e, R2, "pod-2", &id(&n1), 3).await);
    let distinct: BTreeSet<&String> = vm_ips.iter().collect();
    assert_eq!(distinct.len(), vm_ips.len(), "{vm_ips:?}");
    let held = central_addresses(&e, &s1);
    for ip in &vm_ips {
        assert_ne!(ip, "10.0.3.1", "the top gateway");
        assert!(
            !held.contains(&num(ip)),
            "{ip} is held by the central region"
        );
    }
    assert!(vm_ips[..3].iter().all(|ip| num(ip) < num("10.0.3.144")));
    assert!(vm_ips[3..].iter().all(|ip| num(ip) >= num("10.0.3.144")));

    // The same notifications again: the jobs run and write nothing.
    follow(&e).await;
    for region in [TOP, R1, R2] {
        e.cloud.neutron(region).clear_requests();
    }
    record_all(&e, &events).await;
    let done = e.drain().await;
    assert!(
        !done.is_empty() && done.iter().all(|(_, _, ok)| *ok),
        "{done:?}"
    );
    for region in [TOP, R1, R2] {
        assert_eq!(writes(&e, region), Vec::<String>::new(), "{region}");
    }
}

/// The pods of a network change (a copy made in another pod) or the top
/// pools change: the copies' pools follow; a subnet deleted at the top
/// loses its copies and routings.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pools_follow_the_pods_and_the_top_and_deleted_subnets_go() {
    let e = env(true).await;
    e.cloud.neutron(TOP).add_availability_zone("az1");
    let top = e.neutron(TOP);
    let (n, s) = network_in(
        &top,
        "net2",
        "10.0.4.0/24",
        json!({"availability_zone_hints": ["az1"]}),
    )
    .await;
    let net_id = id(&n);
    follow(&e).await;
    assert_eq!(
        copy_of(&e, R1, &s).unwrap()["allocation_pools"],
        pools(&[("10.0.4.33", "10.0.4.254")])
    );

    // A copy in RegionTwo too (asked for that pod): two slices now.
    assert!(e.run_job(NETWORK_SETUP, &format!("pod-2#{net_id}")).await);
    assert!(
        e.run_job(NETWORK_SETUP, &format!("not_specified_pod#{net_id}"))
            .await
    );
    assert!(e.drain().await.iter().all(|(_, _, ok)| *ok));
    assert_eq!(
        copy_of(&e, R1, &s).unwrap()["allocation_pools"],
        pools(&[("10.0.4.33", "10.0.4.143")])
    );
    assert_eq!(
        copy_of(&e, R2, &s).unwrap()["allocation_pools"],
        pools(&[("10.0.4.144", "10.0.4.254")])
    );

    // The tenant narrows the top pools: the slices follow.
    put(
        &top,
        &format!("subnets/{}", id(&s)),
        json!({"subnet": {"allocation_pools": [{"start": "10.0.4.2", "end": "10.0.4.101"}]}}),
    )
    .await;
    follow(&e).await;
    // 100 addresses: a head of 12, two slices of 44.
    assert_eq!(
        copy_of(&e, R1, &s).unwrap()["allocation_pools"],
        pools(&[("10.0.4.14", "10.0.4.57")])
    );
    assert_eq!(
        copy_of(&e, R2, &s).unwrap()["allocation_pools"],
        pools(&[("10.0.4.58", "10.0.4.101")])
    );

    // A second subnet, then deleted at the top (its gateway reservations
    // first: they are xjob's ports on it, which the cleanup of xjob's
    // helper ports removes; here they are let go by hand).
    let s2 = create(
        &top,
        "subnets",
        "subnet",
        json!({"network_id": net_id, "cidr": "10.0.6.0/24", "ip_version": 4,
            "name": "more", "tenant_id": PROJECT}),
    )
    .await;
    follow(&e).await;
    assert!(copy_of(&e, R1, &s2).is_some() && copy_of(&e, R2, &s2).is_some());
    for region in [R1, R2] {
        let name = interface_port_name(region, &id(&s2));
        let port = named(&e.cloud.neutron(TOP).dump("ports"), &name)[0].clone();
        put(
            &top,
            &format!("ports/{}", id(&port)),
            json!({"port": {"device_owner": ""}}),
        )
        .await;
        top.request(
            "DELETE".parse().unwrap(),
            &format!("ports/{}", id(&port)),
            &[],
            None,
        )
        .await
        .unwrap();
    }
    top.request(
        "DELETE".parse().unwrap(),
        &format!("subnets/{}", id(&s2)),
        &[],
        None,
    )
    .await
    .unwrap();
    follow(&e).await;
    for region in [R1, R2] {
        assert!(copy_of(&e, region, &s2).is_none(), "{region}");
        assert!(copy_of(&e, region, &s).is_some(), "{region}");
    }
    let routings =
        e.db.db
            .run(|c| tricircle_db::routings::find(c, &Default::default()))
            .await
            .unwrap();
    let left: BTreeMap<String, String> = routings
        .into_iter()
        .filter(|r| r.top_id.contains(&id(&s2)))
        .map(|r| (r.top_id, r.resource_type))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// A subnet too small for the pods of its network: the jobs fail before
/// making anything, naming the subnet.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subnet_too_small_for_its_pods_fails_the_job() {
    let e = env(true).await;
    // A /29 without hints (both pods): 5 addresses besides the gateway, 4
    // of them kept for the central region.
    let (n, s) = top_network(&e, "tiny", "10.9.0.0/29").await;
    assert!(
        e.run_job(NETWORK_SETUP, &format!("not_specified_pod#{}", id(&n)))
            .await
    );
    let done = e.drain().await;
    assert_eq!(done.len(), 2, "{done:?}");
    assert!(done.iter().all(|(_, _, ok)| !*ok), "{done:?}");
    for region in [R1, R2] {
        assert!(
            e.cloud.neutron(region).dump("networks").is_empty(),
            "{region}"
        );
    }
    let top = e.neutron(TOP);
    let t_net = top.get_network(&id(&n)).await.unwrap();
    let t_sub = top.get_subnet(&id(&s)).await.unwrap();
    let err = bottom::network_subnets(
        &e.net,
        &e.pod("pod-top").await,
        &e.pod("pod-1").await,
        PROJECT,
        &t_net,
        &[t_sub],
        bottom::Copy::Own,
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        err.contains(&id(&s)) && err.contains("too small for 2 pods"),
        "{err}"
    );
}

/// The NS router's interface for a floating IP is reserved in the central
/// region at an address of the head, outside every pod's slice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ns_interface_reservation_takes_a_head_address() {
    let e = env(true).await;
    e.cloud.neutron(TOP).add_availability_zone("az2");
    e.cloud.neutron(R2).set_tricircle_l3(false);
    let top = e.neutron(TOP);
    let (n, s) = network_in(
        &top,
        "net1",
        "10.0.3.0/24",
        json!({"availability_zone_hints": ["az2"]}),
    )
    .await;
    let (ext, _) = ext_network(&top, "az2").await;
    follow(&e).await;
    let ips = boot(&e, R2, "pod-2", &id(&n), 1).await;
    let b_vm = named(&e.cloud.neutron(R2).dump("ports"), "vm-RegionTwo-0")[0].clone();
    // The VM's port in the central region, at its address and MAC (the
    // tenant's own, adopted as its mirror).
    let t_vm = create(
        &top,
        "ports",
        "port",
        json!({"network_id": id(&n), "name": "vm", "device_owner": "compute:nova",
            "device_id": "vm", "tenant_id": PROJECT, "fixed_ips": [{"ip_address": ips[0]}],
            "mac_address": b_vm["mac_address"]}),
    )
    .await;
    let router = gateway_router(
        &top,
        json!({"name": "router", "tenant_id": PROJECT}),
        &[&s],
        &id(&ext),
    )
    .await;
    let rid = id(&router);
    create(
        &top,
        "floatingips",
        "floatingip",
        json!({"floating_network_id": id(&ext), "port_id": id(&t_vm), "tenant_id": PROJECT}),
    )
    .await;
    follow(&e).await;
    let fips = e.cloud.neutron(R2).dump("floatingips");
    assert_eq!(fips.len(), 1, "{fips:#?}");
    assert_eq!(fips[0]["port_id"], b_vm["id"]);
    let top_ports = e.cloud.neutron(TOP).dump("ports");
    let ns = named(&top_ports, &ns_interface_port_name(&rid, &id(&s)))[0].clone();
    let reserved = named(&top_ports, &interface_port_name(R2, &id(&s)))[0].clone();
    let head = num("10.0.3.2")..=num("10.0.3.32");
    for p in [&ns, &reserved] {
        assert!(head.contains(&num(&first_ip(p))), "{p:#?}");
    }
    assert_ne!(first_ip(&ns), first_ip(&reserved));
}
