//! Stock mode, undoing: the tenant removes at the top what it built (the
//! multi-pod guide's floating IP, gateway, interfaces, router, VMs and
//! networks) and xjob, following the regions' notifications alone,
//! leaves nothing of it in the pods nor in the central region but the
//! per-project bridge network, subnet and subnet pool (and the copy of the
//! still existing external network). The central helper ports never make
//! the tenant's network delete fail.

use crate::network_common;

use std::collections::{BTreeMap, BTreeSet};

use network_common::*;
use serde_json::{json, Value};
use tricircle_jobs::events::JobAsk;
use tricircle_jobs::network::external::ns_router_name;
use tricircle_jobs::network::{bottom, bridge, DEVICE_OWNER_HELPER};
use tricircle_jobs::{JobType, ResourceType};
use tricircle_openstack::neutron::NeutronError;

struct World {
    router: String,
    nets: [String; 2],
    subs: [String; 2],
    ext: String,
    ext_sub: String,
    /// The tenant's VM ports at the top.
    vms: Vec<Value>,
    fip: String,
}

/// The guide's tenant world through the central Neutron: net1 (az1) and
/// net2 (az2), a router on both with a gateway on ext-net (az2), a VM port
/// on each network and a floating IP on vm2.
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
    let (ext, ext_sub) = ext_network(&top, "az2").await;
    let (router, vms, fip) = tenant_router(&top, PROJECT, &nets, &ext).await;
    World {
        router: id(&router),
        nets: [id(&nets[0].0), id(&nets[1].0)],
        subs: [id(&nets[0].1), id(&nets[1].1)],
        ext: id(&ext),
        ext_sub: id(&ext_sub),
        vms,
        fip: id(&fip),
    }
}

/// Nova boots each VM on its pod's copy of the VM's network, at the top
/// port's address and MAC; returns the pod ports.
async fn boot_vms(e: &Env, w: &World) -> Vec<String> {
    let mut out = Vec::new();
    for (i, (region, pod)) in [(R1, "pod-1"), (R2, "pod-2")].into_iter().enumerate() {
        let b_net = e
            .net
            .bottom_id(&w.nets[i], &e.pod(pod).await, ResourceType::Network)
            .await
            .unwrap()
            .expect("a copy of the VM's network");
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
        out.push(id(&p));
    }
    out
}

/// xjob following all three regions: the jobs their notifications ask
/// for are recorded and run until the notifications (xjob's own writes
/// included) ask for nothing more. Returns every ask and every run.
async fn follow(e: &Env) -> (BTreeSet<JobAsk>, Vec<(String, String, bool)>) {
    let (mut asked, mut done) = (BTreeSet::new(), Vec::new());
    for _ in 0..10 {
        let mut events = Vec::new();
        for region in [TOP, R1, R2] {
            events.extend(events_of(e, region));
        }
        let asks = asks_of(e, &events).await;
        if asks.is_empty() {
            return (asked, done);
        }
        record_all(e, &events).await;
        asked.extend(asks);
        done.extend(e.drain().await);
    }
    panic!("events keep asking for jobs: {done:?}");
}

fn all_ok(done: &[(String, String, bool)]) {
    assert!(done.iter().all(|(_, _, ok)| *ok), "{done:#?}");
}

/// The guide's world, converged from the notifications alone, VMs booted.
async fn built(e: &Env) -> (World, Vec<String>) {
    let w = tenant_world(e).await;
    all_ok(&follow(e).await.1);
    let b_vms = boot_vms(e, &w).await;
    all_ok(&follow(e).await.1);
    // What is undone below was there.
    let r2 = e.cloud.neutron(R2);
    assert_eq!(r2.dump("floatingips").len(), 1);
    assert_eq!(
        named(&r2.dump("routers"), &ns_router_name(&w.router)).len(),
        1
    );
    let helpers: Vec<Value> = e
        .cloud
        .neutron(TOP)
        .dump("ports")
        .into_iter()
        .filter(|p| p["device_owner"] == DEVICE_OWNER_HELPER)
        .collect();
    assert!(
        helpers
            .iter()
            .any(|p| p["name"] == bottom::interface_port_name(R1, &w.subs[0]).as_str()),
        "{helpers:#?}"
    );
    assert!(helpers
        .iter()
        .any(|p| p["name"].as_str().unwrap().starts_with("ns_interface_")));
    (w, b_vms)
}

async fn tenant_removes_fip_gateway_interfaces(e: &Env, w: &World) {
    let top = e.neutron(TOP);
    top.delete_floatingip(&w.fip).await.unwrap();
    put(
        &top,
        &format!("routers/{}", w.router),
        json!({"router": {"external_gateway_info": {}}}),
    )
    .await;
    for s in &w.subs {
        put(
            &top,
            &format!("routers/{}/remove_router_interface", w.router),
            json!({"subnet_id": s}),
        )
        .await;
    }
}

/// Nova deletes the VM in its pod; the tenant's top port goes too.
async fn delete_vm(e: &Env, w: &World, b_vms: &[String], i: usize) {
    let region = [R1, R2][i];
    e.neutron(region).delete_port(&b_vms[i]).await.unwrap();
    e.neutron(TOP).delete_port(&id(&w.vms[i])).await.unwrap();
}

/// The top ids whose routings may stay: the bridge elements and the
/// copy of the external network, which still exists at the top.
async fn allowed_routings(e: &Env, w: &World) -> BTreeSet<String> {
    let top = e.cloud.neutron(TOP);
    let mut ok: BTreeSet<String> = [
        bridge::SUBNET_POOL_NAME.to_owned(),
        bridge::net_name(PROJECT),
        bridge::subnet_name(PROJECT),
        w.ext.clone(),
        w.ext_sub.clone(),
    ]
    .into();
    for coll in ["networks", "subnets"] {
        for r in top.dump(coll) {
            let name = r["name"].as_str().unwrap();
            if name == bridge::net_name(PROJECT) || name == bridge::subnet_name(PROJECT) {
                ok.insert(id(&r));
            }
        }
    }
    ok
}

/// Nothing of the tenant's world is left but what may stay.
async fn assert_nothing_leaked(e: &Env, w: &World) {
    let top = e.cloud.neutron(TOP);
    assert_eq!(
        top.dump("ports"),
        Vec::<Value>::new(),
        "no central port left"
    );
    let names = |region: &str, coll: &str| -> BTreeSet<String> {
        e.cloud
            .neutron(region)
            .dump(coll)
            .iter()
            .map(|v| v["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let t_bridge = named(&top.dump("networks"), &bridge::net_name(PROJECT))[0].clone();
    let t_bsub = named(&top.dump("subnets"), &bridge::subnet_name(PROJECT))[0].clone();
    assert_eq!(
        names(TOP, "networks"),
        BTreeSet::from([bridge::net_name(PROJECT), "ext-net".to_owned()])
    );
    assert_eq!(top.dump("subnetpools").len(), 1, "the bridge pool stays");
    for region in [R1, R2] {
        let fake = e.cloud.neutron(region);
        assert_eq!(
            fake.dump("routers"),
            Vec::<Value>::new(),
            "{region} routers"
        );
        assert_eq!(fake.dump("floatingips"), Vec::<Value>::new(), "{region}");
        assert_eq!(fake.dump("ports"), Vec::<Value>::new(), "{region} ports");
        let mut want = BTreeSet::from([id(&t_bridge)]);
        let mut want_subs = BTreeSet::from([id(&t_bsub)]);
        if region == R2 {
            want.insert("ext-net".into());
            want_subs.insert(w.ext_sub.clone());
        }
        assert_eq!(names(region, "networks"), want, "{region} networks");
        assert_eq!(names(region, "subnets"), want_subs, "{region} subnets");
    }
    let allowed = allowed_routings(e, w).await;
    let rows =
        e.db.db
            .run(|c| tricircle_db::routings::find(c, &Default::default()))
            .await
            .unwrap();
    let left: Vec<_> = rows
        .iter()
        .filter(|r| !allowed.contains(&r.top_id))
        .map(|r| (&r.top_id, &r.resource_type, &r.pod_id))
        .collect();
    assert!(left.is_empty(), "leaked routings: {left:#?}");
    // The bridge network and subnet stay routed at the top and in both
    // pods, the pool at the top.
    let kinds: BTreeMap<(String, String), usize> = rows.iter().fold(BTreeMap::new(), |mut m, r| {
        *m.entry((r.pod_id.clone(), r.resource_type.clone()))
            .or_default() += 1;
        m
    });
    for pod in ["pod-top", "pod-1", "pod-2"] {
        assert!(
            kinds.contains_key(&(pod.into(), "network".into())),
            "{kinds:?}"
        );
        assert!(
            kinds.contains_key(&(pod.into(), "subnet".into())),
            "{kinds:?}"
        );
    }
}

/// Run the failed jobs again, as the periodic redo does.
async fn redo_failed(e: &Env) -> Vec<(String, String, bool)> {
    let (failed, _) = e.waiting().await;
    let mut done = Vec::new();
    for j in failed {
        let report = e
            .engine
            .handle(
                j.job_type.parse().unwrap(),
                &j.resource_id,
                Default::default(),
            )
            .await
            .unwrap();
        done.push((
            j.job_type,
            j.resource_id,
            report.runs.iter().all(|r| r.success),
        ));
    }
    done.extend(e.drain().await);
    done
}

fn ask(job_type: JobType, resource: &str) -> JobAsk {
    JobAsk {
        job_type,
        resource_id: resource.into(),
        project_id: PROJECT.into(),
    }
}

/// Everything removed at the top in one go, before xjob hears of any of
/// it; vm1 is still running in RegionOne when net1 goes at the top.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stock_teardown_at_once_leaves_nothing_and_reruns_change_nothing() {
    let e = env(true).await;
    let (w, b_vms) = built(&e).await;
    let top = e.neutron(TOP);

    tenant_removes_fip_gateway_interfaces(&e, &w).await;
    top.delete_router(&w.router).await.unwrap();
    e.neutron(TOP).delete_port(&id(&w.vms[0])).await.unwrap();
    delete_vm(&e, &w, &b_vms, 1).await;
    // xjob's helper ports are still on both networks: no 409.
    for n in &w.nets {
        top.delete_network(n)
            .await
            .unwrap_or_else(|err| panic!("tenant's network delete: {err}"));
    }

    let (asked, done) = follow(&e).await;
    assert!(asked.contains(&ask(JobType::RouterCleanup, &w.router)));
    for n in &w.nets {
        assert!(
            asked.contains(&ask(JobType::NetworkCleanup, n)),
            "{asked:#?}"
        );
    }
    // vm1's mirror went at the top, so its pod port goes with it (as with
    // the original, port_mirror); a network_cleanup that ran before it
    // fails touching nothing, and its redo finishes.
    let failed: Vec<_> = done.iter().filter(|(_, _, ok)| !ok).collect();
    assert!(
        failed
            .iter()
            .all(|(t, r, _)| t == JobType::NetworkCleanup.name() && r == &w.nets[0]),
        "{done:#?}"
    );
    assert!(
        e.cloud
            .neutron(R1)
            .dump("ports")
            .iter()
            .all(|p| p["id"] != json!(b_vms[0])),
        "vm1's pod port is left"
    );
    all_ok(&follow(&e).await.1);
    all_ok(&redo_failed(&e).await);
    all_ok(&follow(&e).await.1);
    assert_nothing_leaked(&e, &w).await;

    // Redelivered notifications, reruns of the cleanups: nothing changes.
    let before = e.snapshot().await;
    for (t, r) in [
        (JobType::RouterCleanup, w.router.as_str()),
        (JobType::NetworkCleanup, w.nets[0].as_str()),
        (JobType::NetworkCleanup, w.nets[1].as_str()),
    ] {
        assert!(e.run_job(t.name(), r).await, "{t:?} {r}");
    }
    all_ok(&e.drain().await);
    assert_eq!(e.snapshot().await, before);
}

/// xjob follows each step: the floating IP and gateway take the NS side's
/// tenant interfaces and their central reservations with them, each
/// interface its bottom interfaces; then router and networks go.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stock_teardown_step_by_step_undoes_each_step() {
    let e = env(true).await;
    let (w, b_vms) = built(&e).await;
    let top = e.neutron(TOP);
    let (top_fake, r1, r2) = (
        e.cloud.neutron(TOP),
        e.cloud.neutron(R1),
        e.cloud.neutron(R2),
    );

    top.delete_floatingip(&w.fip).await.unwrap();
    put(
        &top,
        &format!("routers/{}", w.router),
        json!({"router": {"external_gateway_info": {}}}),
    )
    .await;
    all_ok(&follow(&e).await.1);
    assert!(r2.dump("floatingips").is_empty());
    let ns = named(&r2.dump("routers"), &ns_router_name(&w.router))[0].clone();
    assert!(ns["external_gateway_info"].is_null());
    assert!(routes(&ns).is_empty());
    let ns_itfs = interfaces(r2.dump("ports"), &ns);
    assert_eq!(ns_itfs.len(), 1, "only the bridge interface: {ns_itfs:#?}");
    assert!(first_ip(&ns_itfs[0]).starts_with("100.0."));
    assert!(
        top_fake
            .dump("ports")
            .iter()
            .all(|p| !p["name"].as_str().unwrap().starts_with("ns_interface_")),
        "the NS interfaces' reservations went"
    );

    for s in &w.subs {
        put(
            &top,
            &format!("routers/{}/remove_router_interface", w.router),
            json!({"subnet_id": s}),
        )
        .await;
    }
    all_ok(&follow(&e).await.1);
    for (region, fake) in [(R1, &r1), (R2, &r2)] {
        let b = named(&fake.dump("routers"), &w.router)[0].clone();
        assert!(interfaces(fake.dump("ports"), &b).is_empty(), "{region}");
        assert!(routes(&b).is_empty(), "{region}");
    }

    top.delete_router(&w.router).await.unwrap();
    let (asked, done) = follow(&e).await;
    all_ok(&done);
    assert!(asked.contains(&ask(JobType::RouterCleanup, &w.router)));
    for fake in [&r1, &r2] {
        assert!(fake.dump("routers").is_empty());
    }
    assert!(
        top_fake
            .dump("ports")
            .iter()
            .all(|p| !p["name"].as_str().unwrap().starts_with("bridge_port_")),
        "the bridge ports went with their routers"
    );

    for i in 0..2 {
        delete_vm(&e, &w, &b_vms, i).await;
    }
    all_ok(&follow(&e).await.1);
    for n in &w.nets {
        top.delete_network(n).await.unwrap();
    }
    let (asked, done) = follow(&e).await;
    all_ok(&done);
    for n in &w.nets {
        assert!(asked.contains(&ask(JobType::NetworkCleanup, n)));
    }
    assert_nothing_leaked(&e, &w).await;
}

/// A network never copied to a pod, or a router never built there: their
/// deletes ask for nothing. A top resource still there: the cleanups do
/// nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cleanups_of_what_has_no_copies_or_still_exists_do_nothing() {
    let e = env(true).await;
    let top = e.neutron(TOP);
    let (n, _) = top_network(&e, "lonely", "10.9.0.0/24").await;
    let r = create(
        &top,
        "routers",
        "router",
        json!({"name": "r", "tenant_id": PROJECT}),
    )
    .await;
    let before = e.snapshot().await;
    for t in [JobType::NetworkCleanup, JobType::RouterCleanup] {
        let target = if t == JobType::NetworkCleanup { &n } else { &r };
        assert!(e.run_job(t.name(), &id(target)).await);
    }
    assert_eq!(e.snapshot().await, before, "they still exist");
    events_of(&e, TOP);
    top.delete_network(&id(&n)).await.unwrap();
    top.delete_router(&id(&r)).await.unwrap();
    let events = events_of(&e, TOP);
    assert_eq!(events.len(), 2);
    assert!(asks_of(&e, &events).await.is_empty());
}

fn kind(e: &NeutronError) -> String {
    e.kind().unwrap_or_default().to_owned()
}

/// The fake Neutron deletes networks and subnets as Neutron's DB plugin:
/// ports of the auto-delete owners (DHCP, distributed) never keep them in
/// use and go with the network; any other port does (the message names
/// it), and a router interface keeps its subnet. A stale router port (no
/// router) may be deleted directly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fake_neutron_network_and_subnet_delete_follow_neutron() {
    let e = env(true).await;
    let top = e.neutron(TOP);
    let (n, s) = top_network(&e, "n", "10.8.0.0/24").await;
    let port = |owner: &str, device: &str| {
        json!({"network_id": id(&n), "device_owner": owner, "device_id": device,
            "tenant_id": PROJECT})
    };
    let helper = create(&top, "ports", "port", port(DEVICE_OWNER_HELPER, "")).await;
    let vm = create(&top, "ports", "port", port("compute:nova", "vm")).await;
    let stale = create(&top, "ports", "port", port("network:router_interface", "")).await;

    let err = top.delete_network(&id(&n)).await.unwrap_err();
    assert_eq!(kind(&err), "NetworkInUse");
    let msg = err.to_string();
    assert!(
        msg.contains(&format!(
            "Unable to complete operation on network {}. There are one or more ports \
             still in use on the network, id for these ports is: ",
            id(&n)
        )) && msg.contains(&id(&vm))
            && !msg.contains(&id(&helper)),
        "{msg}"
    );
    let err = top.delete_subnet(&id(&s)).await.unwrap_err();
    assert_eq!(kind(&err), "SubnetInUse");
    top.delete_port(&id(&vm)).await.unwrap();
    // A router interface port of no router is stale: deletable.
    top.delete_port(&id(&stale)).await.unwrap();

    let router = create(&top, "routers", "router", json!({"tenant_id": PROJECT})).await;
    let rpath = format!("routers/{}", id(&router));
    put(
        &top,
        &format!("{rpath}/add_router_interface"),
        json!({"subnet_id": id(&s)}),
    )
    .await;
    let itf = interfaces(e.cloud.neutron(TOP).dump("ports"), &router)[0].clone();
    let err = top.delete_port(&id(&itf)).await.unwrap_err();
    assert_eq!(kind(&err), "ServicePortInUse");
    let err = top.delete_subnet(&id(&s)).await.unwrap_err();
    assert_eq!(kind(&err), "SubnetInUse", "a router interface keeps it");
    put(
        &top,
        &format!("{rpath}/remove_router_interface"),
        json!({"subnet_id": id(&s)}),
    )
    .await;
    top.delete_subnet(&id(&s)).await.unwrap();
    let kept = top.get_port(&id(&helper)).await.unwrap();
    assert_eq!(
        kept.fixed_ips,
        Some(vec![]),
        "its address went with the subnet"
    );
    top.delete_network(&id(&n)).await.unwrap();
    assert!(top
        .find::<tricircle_openstack::neutron::Port>(&id(&helper))
        .await
        .unwrap()
        .is_none());
}

/// A reservation made before the helper owner (a router interface port of
/// no router) gets the helper owner when the network loses a router
/// interface, so the tenant's network delete that follows succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_helper_ports_are_recognised_by_name_and_given_the_owner() {
    let e = env(true).await;
    let (w, _) = built(&e).await;
    let top = e.neutron(TOP);
    let name = bottom::interface_port_name(R1, &w.subs[0]);
    let old = named(&e.cloud.neutron(TOP).dump("ports"), &name)[0].clone();
    let upd = tricircle_openstack::neutron::Port {
        device_owner: Some("network:router_interface".into()),
        ..Default::default()
    };
    top.update_port(&id(&old), &upd).await.unwrap();
    events_of(&e, TOP);
    top.delete_floatingip(&w.fip).await.unwrap();
    put(
        &top,
        &format!("routers/{}/remove_router_interface", w.router),
        json!({"subnet_id": w.subs[0]}),
    )
    .await;
    all_ok(&follow(&e).await.1);
    let now = top.get_port(&id(&old)).await.unwrap();
    assert_eq!(now.device_owner.as_deref(), Some(DEVICE_OWNER_HELPER));
    top.delete_port(&id(&w.vms[0])).await.unwrap();
    e.neutron(R1)
        .delete_port(
            named(&e.cloud.neutron(R1).dump("ports"), "vm1")[0]["id"]
                .as_str()
                .unwrap(),
        )
        .await
        .unwrap();
    top.delete_network(&w.nets[0]).await.unwrap();
}
