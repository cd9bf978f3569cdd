//! Stock mode, pod VM ports mirrored in the central region (port_mirror):
//! the tenant's router with net1 (RegionOne) and net2 (RegionTwo) and a
//! gateway on ext-net (RegionTwo); VMs booted in the pods with nothing but
//! a network given; xjob follows the three regions' notifications alone.

use crate::network_common;

use std::collections::BTreeSet;

use network_common::*;
use serde_json::{json, Map, Value};
use tricircle_jobs::events::{JobAsk, NeutronEvent};
use tricircle_jobs::handlers::port_mirror::{self, Mirrored};
use tricircle_jobs::network::external::ns_router_name;
use tricircle_jobs::JobType;
use tricircle_jobs::ResourceType;

struct World {
    router: String,
    net1: String,
    net2: String,
    ext: String,
}

/// What the tenant creates through the central Neutron: no VM port there.
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
    let subnets: Vec<&Value> = nets.iter().map(|(_, s)| s).collect();
    let router = gateway_router(
        &top,
        json!({"name": "router", "tenant_id": PROJECT}),
        &subnets,
        &id(&ext),
    )
    .await;
    let rid = id(&router);
    World {
        router: rid,
        net1: id(&nets[0].0),
        net2: id(&nets[1].0),
        ext: id(&ext),
    }
}

/// xjob following the three regions: record the jobs of what they
/// published and run them until nothing asks for more. Returns the runs
/// and every event seen (to deliver again).
async fn follow(e: &Env) -> (Vec<(String, String, bool)>, Vec<NeutronEvent>) {
    let (mut done, mut seen) = (Vec::new(), Vec::new());
    for _ in 0..10 {
        let mut events = Vec::new();
        for r in [TOP, R1, R2] {
            events.extend(events_of(e, r));
        }
        if asks_of(e, &events).await.is_empty() {
            return (done, seen);
        }
        record_all(e, &events).await;
        done.extend(e.drain().await);
        seen.extend(events);
    }
    panic!("events keep asking for jobs: {done:?}");
}

async fn follow_ok(e: &Env) -> (Vec<(String, String, bool)>, Vec<NeutronEvent>) {
    let (done, seen) = follow(e).await;
    assert!(done.iter().all(|(_, _, ok)| *ok), "{done:?}");
    (done, seen)
}

/// The pod copy of top network `t_net` in `pod`.
async fn copy_of(e: &Env, t_net: &str, pod: &str) -> String {
    e.net
        .bottom_id(t_net, &e.pod(pod).await, ResourceType::Network)
        .await
        .unwrap()
        .expect("the pod's copy of the network")
}

/// Nova boots a VM in `region` on the copy of `t_net`: a `compute:nova`
/// port with only the network given (the pod picks MAC and address).
async fn boot(e: &Env, region: &str, pod: &str, t_net: &str, vm: &str) -> Value {
    let b_net = copy_of(e, t_net, pod).await;
    let c = e.neutron(region);
    // Until the pods' pools leave the top gateway out (issue 13's pool
    // slices), the copy offers it first; the central region holds it, so a
    // DHCP port takes it here.
    let sub = e
        .cloud
        .neutron(region)
        .dump("subnets")
        .into_iter()
        .find(|s| s["network_id"] == b_net.as_str())
        .unwrap();
    let top_gw = e
        .cloud
        .neutron(TOP)
        .dump("subnets")
        .into_iter()
        .find(|s| s["network_id"] == t_net)
        .unwrap()["gateway_ip"]
        .clone();
    let offered = sub["allocation_pools"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["start"] == top_gw);
    let held =
        e.cloud.neutron(region).dump("ports").iter().any(|p| {
            p["network_id"] == b_net.as_str() && p["fixed_ips"][0]["ip_address"] == top_gw
        });
    if offered && !held {
        create(
            &c,
            "ports",
            "port",
            json!({"network_id": b_net, "device_owner": "network:dhcp",
                "tenant_id": PROJECT, "fixed_ips": [{"ip_address": top_gw}]}),
        )
        .await;
    }
    create(
        &c,
        "ports",
        "port",
        json!({"network_id": b_net, "name": vm, "device_owner": "compute:nova",
            "device_id": vm, "tenant_id": PROJECT}),
    )
    .await
}

fn top_port(e: &Env, id: &str) -> Option<Value> {
    e.cloud
        .neutron(TOP)
        .dump("ports")
        .into_iter()
        .find(|p| p["id"] == id)
}

/// The mirror of `b_port` (booted in `pod` on the copy of `t_net`): one
/// port of the top network, the pod port's project, MAC, address (on the
/// top subnet), owner, device id and name, routed to it.
async fn assert_mirror(e: &Env, pod: &str, b_port: &Value, t_net: &str) -> Value {
    let m_id = mirror_routing(e, pod, &id(b_port))
        .await
        .expect("the mirror's routing");
    let m = top_port(e, &m_id).expect("the mirror in the central region");
    assert_eq!(m["network_id"], t_net);
    for k in [
        "mac_address",
        "device_owner",
        "device_id",
        "name",
        "tenant_id",
    ] {
        assert_eq!(m[k], b_port[k], "{k}");
    }
    assert_eq!(first_ip(&m), first_ip(b_port));
    let t_sub = e
        .cloud
        .neutron(TOP)
        .dump("subnets")
        .into_iter()
        .find(|s| s["network_id"] == t_net)
        .unwrap();
    assert_eq!(m["fixed_ips"][0]["subnet_id"], t_sub["id"]);
    let same_mac: Vec<_> = e
        .cloud
        .neutron(TOP)
        .dump("ports")
        .into_iter()
        .filter(|p| p["network_id"] == t_net && p["mac_address"] == b_port["mac_address"])
        .collect();
    assert_eq!(same_mac.len(), 1, "one mirror: {same_mac:#?}");
    m
}

fn port_mirror_ask(pod: &str, b_port: &Value) -> JobAsk {
    JobAsk {
        job_type: JobType::PortMirror,
        resource_id: format!("{pod}#{}", id(b_port)),
        project_id: PROJECT.into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pod_vms_are_mirrored_get_floating_ips_and_go_with_their_mirror() {
    let e = env(true).await;
    let w = tenant_world(&e).await;
    follow_ok(&e).await;
    // xjob's own writes in the pods (copies, interfaces) ask for nothing.
    assert!(follow(&e).await.0.is_empty());

    // A VM in RegionOne: its create event asks for its mirror, which the
    // job makes, then the router on net1 is set up again.
    let vm1 = boot(&e, R1, "pod-1", &w.net1, "vm1").await;
    let booted = events_of(&e, R1);
    assert_eq!(
        asks_of(&e, &booted).await,
        BTreeSet::from([port_mirror_ask("pod-1", &vm1)])
    );
    record_all(&e, &booted).await;
    let done = e.drain().await;
    assert!(done.iter().all(|(_, _, ok)| *ok), "{done:?}");
    let pod1 = e.pod("pod-1").await.pod_id;
    assert!(
        done.iter().any(|(t, r, _)| t == "router_setup"
            && *r == format!("{pod1}#{}#{}", w.router, w.net1)),
        "the VM's pod's router_setup follows the mirror: {done:?}"
    );
    assert!(
        !done
            .iter()
            .any(|(t, r, _)| t == "router_setup" && r.starts_with("not_specified_pod#")),
        "no fan-out over the network's pods: {done:?}"
    );
    let m1 = assert_mirror(&e, "pod-1", &vm1, &w.net1).await;
    follow_ok(&e).await;

    // A VM in RegionTwo, where the external network lives.
    let vm2 = boot(&e, R2, "pod-2", &w.net2, "vm2").await;
    let (_, boot_events) = follow_ok(&e).await;
    let m2 = assert_mirror(&e, "pod-2", &vm2, &w.net2).await;

    // East-west /32 routes to each VM from the other pod, and from the
    // north-south router to both.
    let (r1, r2) = (e.cloud.neutron(R1), e.cloud.neutron(R2));
    let b1 = named(&r1.dump("routers"), &w.router)[0].clone();
    let b2 = named(&r2.dump("routers"), &w.router)[0].clone();
    let ns = named(&r2.dump("routers"), &ns_router_name(&w.router))[0].clone();
    let bridge_ips = [gateway_ip(&b1), gateway_ip(&b2)];
    assert_two_pod_routes(
        [&b1, &b2],
        &ns,
        [&first_ip(&vm1), &first_ip(&vm2)],
        &bridge_ips,
        "100.0.0.1",
    );

    // The tenant puts a floating IP on each mirror with a plain call.
    let top = e.neutron(TOP);
    let mut fips = Vec::new();
    for m in [&m1, &m2] {
        fips.push(
            create(
                &top,
                "floatingips",
                "floatingip",
                json!({"floating_network_id": w.ext, "port_id": id(m), "tenant_id": PROJECT}),
            )
            .await,
        );
    }
    let (_, fip_events) = follow_ok(&e).await;
    let addr = |f: &Value| f["floating_ip_address"].as_str().unwrap().to_owned();
    let b_fips = r2.dump("floatingips");
    assert_eq!(b_fips.len(), 2, "{b_fips:#?}");
    let at = |a: &str| {
        b_fips
            .iter()
            .find(|f| f["floating_ip_address"] == a)
            .cloned()
            .unwrap()
    };
    // vm2 is local to the external network's pod: its own port.
    assert_eq!(at(&addr(&fips[1]))["port_id"], vm2["id"]);
    // vm1 is reached through its shadow port in RegionTwo.
    let shadow_id = at(&addr(&fips[0]))["port_id"].clone();
    let shadow = r2
        .dump("ports")
        .into_iter()
        .find(|p| p["id"] == shadow_id)
        .unwrap();
    assert_eq!(shadow["device_owner"], "compute:shadow");
    assert_eq!(shadow["name"], format!("shadow_port_{}", id(&m1)));
    assert_eq!(shadow["mac_address"], vm1["mac_address"]);
    assert_eq!(first_ip(&shadow), first_ip(&vm1));
    assert!(r1.dump("floatingips").is_empty());

    // Notifications delivered again change nothing.
    let before = e.snapshot().await;
    for events in [&boot_events, &fip_events] {
        record_all(&e, events).await;
        let done = e.drain().await;
        assert!(done.iter().all(|(_, _, ok)| *ok), "{done:?}");
    }
    follow_ok(&e).await;
    assert_eq!(e.snapshot().await, before, "redelivered events");

    // vm1 deleted in RegionOne: within the jobs its delete event asks for,
    // its mirror, routing and shadow port, its bottom floating IP
    // association and the /32 routes to it are gone.
    e.neutron(R1).delete_port(&id(&vm1)).await.unwrap();
    let deleted = events_of(&e, R1);
    assert_eq!(
        asks_of(&e, &deleted).await,
        BTreeSet::from([port_mirror_ask("pod-1", &vm1)])
    );
    record_all(&e, &deleted).await;
    let done = e.drain().await;
    assert!(done.iter().all(|(_, _, ok)| *ok), "{done:?}");
    follow_ok(&e).await;
    assert!(top_port(&e, &id(&m1)).is_none(), "mirror gone");
    assert_eq!(mirror_routing(&e, "pod-1", &id(&vm1)).await, None);
    let routed_shadows = e
        .net
        .mappings(&id(&m1), ResourceType::ShadowPort)
        .await
        .unwrap();
    assert!(routed_shadows.is_empty(), "{routed_shadows:?}");
    assert!(
        !r2.dump("ports").iter().any(|p| p["id"] == shadow_id),
        "shadow port gone"
    );
    let t_fip = e
        .cloud
        .neutron(TOP)
        .dump("floatingips")
        .into_iter()
        .find(|f| f["id"] == fips[0]["id"])
        .expect("the tenant's floating IP stays");
    assert!(t_fip["port_id"].is_null(), "disassociated at the top");
    for f in r2.dump("floatingips") {
        if f["floating_ip_address"] == addr(&fips[0]).as_str() {
            assert!(f["port_id"].is_null(), "bottom association gone: {f:#?}");
        }
    }
    assert_eq!(at(&addr(&fips[1]))["port_id"], vm2["id"], "vm2's stays");
    let b2 = named(&r2.dump("routers"), &w.router)[0].clone();
    let ns = named(&r2.dump("routers"), &ns_router_name(&w.router))[0].clone();
    let vm1_route = format!("{}/32", first_ip(&vm1));
    assert!(!routes(&b2).iter().any(|(d, _)| *d == vm1_route), "{b2:#?}");
    assert_eq!(
        routes(&ns),
        BTreeSet::from([(format!("{}/32", first_ip(&vm2)), bridge_ips[1].clone())])
    );
    // vm2's mirror is untouched.
    assert_mirror(&e, "pod-2", &vm2, &w.net2).await;

    // The delete event again: nothing changes.
    let before = e.snapshot().await;
    record_all(&e, &deleted).await;
    assert!(e.drain().await.iter().all(|(_, _, ok)| *ok));
    follow_ok(&e).await;
    assert_eq!(e.snapshot().await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reruns_and_concurrent_runs_make_one_mirror() {
    let e = env(true).await;
    let w = tenant_world(&e).await;
    follow_ok(&e).await;
    let vm = boot(&e, R1, "pod-1", &w.net1, "vm1").await;
    let ctx = Map::new();
    let run = || port_mirror::mirror(&e.net, "pod-1", vm["id"].as_str().unwrap(), &ctx);
    // create.end and update.end handled at once by two workers.
    let (a, b) = tokio::join!(run(), run());
    let (a, b) = (a.unwrap(), b.unwrap());
    let made: Vec<_> = [&a, &b]
        .into_iter()
        .filter(|d| matches!(d, Mirrored::Created(_)))
        .collect();
    assert_eq!(made.len(), 1, "{a:?} {b:?}");
    let m = assert_mirror(&e, "pod-1", &vm, &w.net1).await;
    assert!(matches!(&b, Mirrored::Created(i) | Mirrored::Unchanged(i) if *i == id(&m)));
    e.drain().await;
    follow_ok(&e).await;

    let before = e.snapshot().await;
    assert_eq!(run().await.unwrap(), Mirrored::Unchanged(id(&m)));
    assert!(
        e.drain().await.is_empty(),
        "an unchanged mirror asks for nothing"
    );
    assert_eq!(e.snapshot().await, before, "a rerun changes nothing");

    // Two removals at once, once the VM is gone: both succeed, one mirror
    // removed.
    e.neutron(R1).delete_port(&id(&vm)).await.unwrap();
    let (a, b) = tokio::join!(run(), run());
    let mut removed: Vec<String> = Vec::new();
    for d in [a.unwrap(), b.unwrap()] {
        let Mirrored::Removed(ids) = d else {
            panic!("{d:?}")
        };
        removed.extend(ids);
    }
    assert!(!removed.is_empty() && removed.iter().all(|i| *i == id(&m)));
    assert!(top_port(&e, &id(&m)).is_none());
    assert_eq!(mirror_routing(&e, "pod-1", &id(&vm)).await, None);
}

/// The tenant deletes the VM's port in the central region (the mirror,
/// which has a floating IP): as with the original, the VM's pod port goes,
/// and so do its shadow port, its bottom floating IP association and the
/// routes to it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mirror_deleted_at_the_top_takes_the_vm_port_along() {
    let e = env(true).await;
    let w = tenant_world(&e).await;
    follow_ok(&e).await;
    let vm1 = boot(&e, R1, "pod-1", &w.net1, "vm1").await;
    let vm2 = boot(&e, R2, "pod-2", &w.net2, "vm2").await;
    follow_ok(&e).await;
    let m1 = assert_mirror(&e, "pod-1", &vm1, &w.net1).await;
    let top = e.neutron(TOP);
    let fip = create(
        &top,
        "floatingips",
        "floatingip",
        json!({"floating_network_id": w.ext, "port_id": id(&m1), "tenant_id": PROJECT}),
    )
    .await;
    follow_ok(&e).await;
    let r2 = e.cloud.neutron(R2);
    let shadow = r2.dump("floatingips")[0]["port_id"].clone();
    assert!(!shadow.is_null());
    let b2 = named(&r2.dump("routers"), &w.router)[0].clone();
    let vm1_route = format!("{}/32", first_ip(&vm1));
    assert!(routes(&b2).iter().any(|(d, _)| *d == vm1_route));

    top.delete_port(&id(&m1)).await.unwrap();
    let events = events_of(&e, TOP);
    assert_eq!(
        asks_of(&e, &events).await,
        BTreeSet::from([port_mirror_ask("pod-1", &vm1)])
    );
    record_all(&e, &events).await;
    assert!(e.drain().await.iter().all(|(_, _, ok)| *ok));
    follow_ok(&e).await;
    let r1 = e.cloud.neutron(R1);
    assert!(!r1.dump("ports").iter().any(|p| p["id"] == vm1["id"]));
    assert!(!r2.dump("ports").iter().any(|p| p["id"] == shadow));
    assert_eq!(mirror_routing(&e, "pod-1", &id(&vm1)).await, None);
    assert!(top_port(&e, &id(&m1)).is_none(), "not made again");
    for f in r2.dump("floatingips") {
        assert!(f["port_id"].is_null(), "{f:#?}");
    }
    let t_fip = e.cloud.neutron(TOP).dump("floatingips");
    assert_eq!(t_fip[0]["id"], fip["id"]);
    let b2 = named(&r2.dump("routers"), &w.router)[0].clone();
    assert!(!routes(&b2).iter().any(|(d, _)| *d == vm1_route), "{b2:#?}");
    assert_mirror(&e, "pod-2", &vm2, &w.net2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_vm_port_changes_its_mirror() {
    let e = env(true).await;
    let w = tenant_world(&e).await;
    follow_ok(&e).await;
    let vm = boot(&e, R1, "pod-1", &w.net1, "vm1").await;
    follow_ok(&e).await;
    let m = assert_mirror(&e, "pod-1", &vm, &w.net1).await;

    // Nova moves the port to another instance and a new address.
    let r1 = e.neutron(R1);
    let sub = vm["fixed_ips"][0]["subnet_id"].clone();
    let upd = put(
        &r1,
        &format!("ports/{}", id(&vm)),
        json!({"port": {"device_id": "vm9", "name": "vm9",
            "fixed_ips": [{"subnet_id": sub, "ip_address": "10.0.1.200"}]}}),
    )
    .await;
    let events = events_of(&e, R1);
    assert_eq!(
        asks_of(&e, &events).await,
        BTreeSet::from([port_mirror_ask("pod-1", &vm)])
    );
    record_all(&e, &events).await;
    assert!(e.drain().await.iter().all(|(_, _, ok)| *ok));
    follow_ok(&e).await;
    let m2 = assert_mirror(&e, "pod-1", &upd["port"], &w.net1).await;
    assert_eq!(m2["id"], m["id"], "the same mirror, updated");
    assert_eq!(first_ip(&m2), "10.0.1.200");

    // The interface detached (owner cleared): the mirror goes, the pod
    // port stays.
    put(
        &r1,
        &format!("ports/{}", id(&vm)),
        json!({"port": {"device_owner": "", "device_id": ""}}),
    )
    .await;
    let events = events_of(&e, R1);
    assert_eq!(
        asks_of(&e, &events).await,
        BTreeSet::from([port_mirror_ask("pod-1", &vm)])
    );
    record_all(&e, &events).await;
    assert!(e.drain().await.iter().all(|(_, _, ok)| *ok));
    follow_ok(&e).await;
    assert!(top_port(&e, &id(&m)).is_none());
    assert_eq!(mirror_routing(&e, "pod-1", &id(&vm)).await, None);
    assert!(
        e.cloud
            .neutron(R1)
            .dump("ports")
            .iter()
            .any(|p| p["id"] == vm["id"]),
        "the pod port stays"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_the_central_region_holds_fails_the_job_by_name() {
    let e = env(true).await;
    let w = tenant_world(&e).await;
    follow_ok(&e).await;
    // The top router's interface holds net1's gateway, 10.0.1.1.
    let b_net = copy_of(&e, &w.net1, "pod-1").await;
    let vm = create(
        &e.neutron(R1),
        "ports",
        "port",
        json!({"network_id": b_net, "name": "vm1", "device_owner": "compute:nova",
            "device_id": "vm1", "tenant_id": PROJECT,
            "fixed_ips": [{"ip_address": "10.0.1.1"}]}),
    )
    .await;
    let holder = e
        .cloud
        .neutron(TOP)
        .dump("ports")
        .into_iter()
        .find(|p| p["network_id"] == w.net1.as_str() && first_ip(p) == "10.0.1.1")
        .unwrap();
    let err = port_mirror::mirror(&e.net, "pod-1", &id(&vm), &Map::new())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("10.0.1.1"), "{err}");
    assert!(err.contains(&id(&holder)), "{err}");
    assert!(err.contains(&id(&vm)), "{err}");
    assert_eq!(mirror_routing(&e, "pod-1", &id(&vm)).await, None);
    assert!(
        !e.run_job("port_mirror", &format!("pod-1#{}", id(&vm)))
            .await,
        "the job fails"
    );
    // No lock row is left behind: the next run tries afresh.
    let left =
        e.db.db
            .run(|c| tricircle_db::routings::find(c, &Default::default()))
            .await
            .unwrap();
    assert!(
        !left.iter().any(|r| r.top_id.starts_with("mirror_")),
        "{left:?}"
    );
}

/// A pod port routed as `port` that is no VM's (xjob's copy of an
/// interface reservation, say) is not a mirror: its update asks for
/// port_mirror, which leaves both ports and the routing alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_routed_pod_ports_are_not_mirrors() {
    let e = env(true).await;
    let w = tenant_world(&e).await;
    follow_ok(&e).await;
    let t_port = create(
        &e.neutron(TOP),
        "ports",
        "port",
        json!({"network_id": w.net1, "name": "reservation", "tenant_id": PROJECT,
            "device_owner": "network:router_interface"}),
    )
    .await;
    let r1 = e.neutron(R1);
    let b_port = create(
        &r1,
        "ports",
        "port",
        json!({"network_id": copy_of(&e, &w.net1, "pod-1").await, "name": id(&t_port),
            "tenant_id": PROJECT}),
    )
    .await;
    e.route(&id(&t_port), "pod-1", "port", &id(&b_port)).await;
    follow_ok(&e).await;
    put(
        &r1,
        &format!("ports/{}", id(&b_port)),
        json!({"port": {"description": "touched"}}),
    )
    .await;
    let events = events_of(&e, R1);
    assert_eq!(
        asks_of(&e, &events).await,
        BTreeSet::from([port_mirror_ask("pod-1", &b_port)])
    );
    let before = e.snapshot().await;
    record_all(&e, &events).await;
    let done = e.drain().await;
    assert!(done.iter().all(|(_, _, ok)| *ok), "{done:?}");
    assert_eq!(e.snapshot().await, before, "not a mirror: left alone");
}
