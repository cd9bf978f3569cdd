//! sfc_sync on the fake cloud, in plugin mode: the test plays the central
//! and local plugins (top network and ports, their bottom copies and
//! routings, the top SFC elements), xjob mirrors the chain into the pods.

use crate::network_common;

use std::collections::BTreeMap;

use network_common::*;
use serde_json::{json, Value};
use tricircle_jobs::JobType;
use tricircle_jobs::ResourceType;

const SFC_SYNC: &str = JobType::SfcSync.name();

struct World {
    net: String,
    chain: String,
    g1: String,
    g2: String,
    chain_id: Value,
    /// (region, port name) -> id of the port's copy there.
    ports: BTreeMap<(String, String), String>,
}

const PORTS: [(&str, &str); 5] = [
    ("src", "vm0"),
    ("in1", "sf1"),
    ("out1", "sf1"),
    ("in2", "sf2"),
    ("out2", "sf2"),
];

/// A network with a source VM and two service functions, copied into each
/// of `pods` (region, pod id, routing type of the port copies), and a
/// chain through the first function's group.
async fn world(e: &Env, pods: &[(&str, &str, &str)]) -> World {
    let top = e.neutron(TOP);
    let (n, s) = top_network(e, "net1", "10.0.1.0/24").await;
    let mut t_ports = BTreeMap::new();
    for (name, device) in PORTS {
        let p = create(
            &top,
            "ports",
            "port",
            json!({"network_id": id(&n), "name": name, "device_id": device,
                "device_owner": "compute:nova", "tenant_id": PROJECT}),
        )
        .await;
        t_ports.insert(name, p);
    }
    let mut ports = BTreeMap::new();
    for (region, pod, port_rt) in pods {
        let c = e.neutron(region);
        let (bn, bs) = e.bottom_network(region, pod, (&n, &s), "net1").await;
        for (name, device) in PORTS {
            let t = &t_ports[name];
            let bp = create(
                &c,
                "ports",
                "port",
                json!({"network_id": id(&bn), "name": id(t), "device_id": device,
                    "device_owner": "compute:nova", "tenant_id": PROJECT,
                    "fixed_ips": [{"subnet_id": id(&bs), "ip_address": first_ip(t)}]}),
            )
            .await;
            e.route(&id(t), pod, port_rt, &id(&bp)).await;
            ports.insert((region.to_string(), name.to_owned()), id(&bp));
        }
    }
    let pp = |name: &str, i: &str, o: &str| {
        json!({"name": name, "description": format!("{name} desc"), "tenant_id": PROJECT,
            "ingress": id(&t_ports[i]), "egress": id(&t_ports[o])})
    };
    let pp1 = create(
        &top,
        "sfc/port_pairs",
        "port_pair",
        pp("pp1", "in1", "out1"),
    )
    .await;
    let pp2 = create(
        &top,
        "sfc/port_pairs",
        "port_pair",
        pp("pp2", "in2", "out2"),
    )
    .await;
    let g1 = create(
        &top,
        "sfc/port_pair_groups",
        "port_pair_group",
        json!({"name": "g1", "port_pairs": [id(&pp1)], "tenant_id": PROJECT}),
    )
    .await;
    let g2 = create(
        &top,
        "sfc/port_pair_groups",
        "port_pair_group",
        json!({"name": "g2", "port_pairs": [id(&pp2)], "tenant_id": PROJECT}),
    )
    .await;
    let fc = create(
        &top,
        "sfc/flow_classifiers",
        "flow_classifier",
        json!({"name": "fc1", "tenant_id": PROJECT, "protocol": "tcp",
            "destination_port_range_min": 80, "destination_port_range_max": 80,
            "logical_source_port": id(&t_ports["src"])}),
    )
    .await;
    let chain = create(
        &top,
        "sfc/port_chains",
        "port_chain",
        json!({"name": "chain1", "description": "web", "tenant_id": PROJECT,
            "port_pair_groups": [id(&g1)], "flow_classifiers": [id(&fc)]}),
    )
    .await;
    World {
        net: id(&n),
        chain: id(&chain),
        g1: id(&g1),
        g2: id(&g2),
        chain_id: chain["chain_id"].clone(),
        ports,
    }
}

const SFC: [&str; 4] = [
    "port_pairs",
    "port_pair_groups",
    "flow_classifiers",
    "port_chains",
];

/// The SFC elements of every pod and the routing table.
async fn state(e: &Env) -> BTreeMap<String, Value> {
    let mut out = e.snapshot().await;
    for region in [R1, R2] {
        for coll in SFC {
            out.insert(
                format!("{region}/{coll}"),
                Value::Array(e.cloud.neutron(region).dump(coll)),
            );
        }
    }
    out
}

fn one<'a>(items: &'a [Value], what: &str) -> &'a Value {
    assert_eq!(items.len(), 1, "one {what}: {items:#?}");
    &items[0]
}

fn by_id<'a>(items: &'a [Value], b_id: &Value) -> &'a Value {
    items
        .iter()
        .find(|v| &v["id"] == b_id)
        .unwrap_or_else(|| panic!("{b_id} in {items:#?}"))
}

/// The bottom chain of `w` in `region` mirrors the top chain over `groups`
/// (pairs through function `sf` ports of each group).
fn assert_mirrored(e: &Env, w: &World, region: &str, groups: &[(&str, &str, &str)]) {
    let fake = e.cloud.neutron(region);
    let chain = one(&fake.dump("port_chains"), "port chain").clone();
    assert_eq!(chain["name"], "chain1");
    assert_eq!(chain["description"], "web");
    assert_eq!(chain["chain_id"], w.chain_id);
    let b_groups = chain["port_pair_groups"].as_array().unwrap();
    assert_eq!(b_groups.len(), groups.len(), "{chain}");
    let all_groups = fake.dump("port_pair_groups");
    let pairs = fake.dump("port_pairs");
    for (b_g, (name, i, o)) in b_groups.iter().zip(groups) {
        let g = by_id(&all_groups, b_g);
        assert_eq!(&g["name"], name);
        let members = g["port_pairs"].as_array().unwrap();
        assert_eq!(members.len(), 1, "{g}");
        let pp = by_id(&pairs, &members[0]);
        let port = |n: &str| w.ports[&(region.to_owned(), n.to_owned())].clone();
        assert_eq!(
            pp["ingress"],
            json!(port(i)),
            "ingress is the port's copy in {region}"
        );
        assert_eq!(pp["egress"], json!(port(o)));
        assert!(pp["name"].as_str().unwrap().starts_with("pp"), "{pp}");
        assert_eq!(
            pp["description"],
            format!("{} desc", pp["name"].as_str().unwrap())
        );
    }
    let fcs = fake.dump("flow_classifiers");
    let fc = one(&fcs, "flow classifier");
    assert_eq!(chain["flow_classifiers"], json!([fc["id"]]));
    assert_eq!(fc["name"], "fc1");
    assert_eq!(fc["protocol"], "tcp");
    assert_eq!(fc["destination_port_range_min"], 80);
    assert_eq!(
        fc["logical_source_port"],
        json!(w.ports[&(region.to_owned(), "src".to_owned())])
    );
}

async fn routed(e: &Env, top_id: &str, pod: &str, rtype: &str) -> Option<String> {
    let p = e.pod(pod).await;
    e.net
        .bottom_id(top_id, &p, rtype.parse().unwrap())
        .await
        .unwrap()
}

fn writes(e: &Env, region: &str, from: usize) -> Vec<String> {
    e.cloud.neutron(region).requests()[from..]
        .iter()
        .filter(|r| r.method != "GET")
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

#[tokio::test]
async fn a_chain_is_mirrored_with_the_bottom_port_ids_and_a_rerun_changes_nothing() {
    let e = env(false).await;
    let w = world(&e, &[(R1, "pod-1", ResourceType::Port.as_str())]).await;
    let job = format!("pod-1#{}#{}", w.chain, w.net);
    assert!(e.run_job(SFC_SYNC, &job).await);
    assert_mirrored(&e, &w, R1, &[("g1", "in1", "out1")]);
    let b_chain = routed(&e, &w.chain, "pod-1", ResourceType::PortChain.as_str()).await;
    assert_eq!(
        b_chain.as_deref(),
        e.cloud.neutron(R1).dump("port_chains")[0]["id"].as_str()
    );
    assert!(
        routed(&e, &w.g1, "pod-1", ResourceType::PortPairGroup.as_str())
            .await
            .is_some()
    );
    for coll in SFC {
        assert!(
            e.cloud.neutron(R2).dump(coll).is_empty(),
            "nothing in {R2}/{coll}"
        );
    }

    let before = state(&e).await;
    let from = e.cloud.neutron(R1).requests().len();
    assert!(e.run_job(SFC_SYNC, &job).await);
    assert_eq!(state(&e).await, before);
    assert_eq!(
        writes(&e, R1, from),
        Vec::<String>::new(),
        "a rerun writes nothing"
    );
}

#[tokio::test]
async fn the_bottom_chain_follows_groups_added_and_removed_at_the_top() {
    let e = env(false).await;
    let w = world(&e, &[(R1, "pod-1", ResourceType::Port.as_str())]).await;
    let job = format!("pod-1#{}#{}", w.chain, w.net);
    assert!(e.run_job(SFC_SYNC, &job).await);
    let top = e.neutron(TOP);
    put(
        &top,
        &format!("sfc/port_chains/{}", w.chain),
        json!({"port_chain": {"port_pair_groups": [w.g1, w.g2]}}),
    )
    .await;
    assert!(e.run_job(SFC_SYNC, &job).await);
    assert_mirrored(&e, &w, R1, &[("g1", "in1", "out1"), ("g2", "in2", "out2")]);

    put(
        &top,
        &format!("sfc/port_chains/{}", w.chain),
        json!({"port_chain": {"port_pair_groups": [w.g2], "description": "web"}}),
    )
    .await;
    put(
        &top,
        &format!("sfc/port_pair_groups/{}", w.g2),
        json!({"port_pair_group": {"name": "g2-renamed"}}),
    )
    .await;
    assert!(e.run_job(SFC_SYNC, &job).await);
    assert_mirrored(&e, &w, R1, &[("g2-renamed", "in2", "out2")]);
    // As the reference, the group dropped from the chain stays until its
    // top counterpart is recycled.
    assert_eq!(e.cloud.neutron(R1).dump("port_pair_groups").len(), 2);
}

#[tokio::test]
async fn the_bottom_chain_and_its_elements_go_with_the_top_chain() {
    let e = env(false).await;
    let w = world(&e, &[(R1, "pod-1", ResourceType::Port.as_str())]).await;
    let job = format!("pod-1#{}#{}", w.chain, w.net);
    assert!(e.run_job(SFC_SYNC, &job).await);
    let top = e.neutron(TOP);
    top.delete_port_chain(&w.chain).await.unwrap();
    assert!(e.run_job(SFC_SYNC, &job).await);
    for coll in SFC {
        assert_eq!(
            e.cloud.neutron(R1).dump(coll),
            Vec::<Value>::new(),
            "{coll}"
        );
    }
    assert_eq!(
        routed(&e, &w.chain, "pod-1", ResourceType::PortChain.as_str()).await,
        None
    );
    assert_eq!(
        routed(&e, &w.g1, "pod-1", ResourceType::PortPairGroup.as_str()).await,
        None
    );
    let left: Vec<String> = e
        .snapshot()
        .await
        .remove("routings")
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| SFC.iter().any(|c| r[3] == c.trim_end_matches('s')))
        .map(|r| r.to_string())
        .collect();
    assert_eq!(left, Vec::<String>::new(), "no SFC routing left");
    // The top network's ports are untouched, and a rerun is a no-op.
    assert_eq!(e.cloud.neutron(R1).dump("ports").len(), PORTS.len());
    assert!(e.run_job(SFC_SYNC, &job).await);
}

#[tokio::test]
async fn a_group_another_chain_uses_survives_the_teardown() {
    let e = env(false).await;
    let w = world(&e, &[(R1, "pod-1", ResourceType::Port.as_str())]).await;
    let top = e.neutron(TOP);
    // A second chain through both groups, classifying other traffic.
    let src = top
        .list_ports(&tricircle_openstack::neutron::Filters::new().eq("name", "src"))
        .await
        .unwrap();
    let fc2 = create(
        &top,
        "sfc/flow_classifiers",
        "flow_classifier",
        json!({"name": "fc2", "tenant_id": PROJECT, "protocol": "udp",
            "logical_source_port": src[0].id()}),
    )
    .await;
    let chain2 = create(
        &top,
        "sfc/port_chains",
        "port_chain",
        json!({"name": "chain2", "tenant_id": PROJECT,
            "port_pair_groups": [w.g1, w.g2], "flow_classifiers": [id(&fc2)]}),
    )
    .await;
    assert!(
        e.run_job(SFC_SYNC, &format!("pod-1#{}#{}", w.chain, w.net))
            .await
    );
    assert!(
        e.run_job(SFC_SYNC, &format!("pod-1#{}#{}", id(&chain2), w.net))
            .await
    );
    let fake = e.cloud.neutron(R1);
    assert_eq!(fake.dump("port_chains").len(), 2);
    assert_eq!(
        fake.dump("port_pair_groups").len(),
        2,
        "the shared group is copied once"
    );

    top.delete_port_chain(&w.chain).await.unwrap();
    assert!(
        e.run_job(SFC_SYNC, &format!("pod-1#{}#{}", w.chain, w.net))
            .await
    );
    let chains = fake.dump("port_chains");
    assert_eq!(one(&chains, "port chain")["name"], "chain2");
    assert_eq!(
        fake.dump("port_pair_groups").len(),
        2,
        "both groups still used"
    );
    assert_eq!(fake.dump("port_pairs").len(), 2);
    let fcs = fake.dump("flow_classifiers");
    assert_eq!(one(&fcs, "classifier")["name"], "fc2");
    assert!(
        routed(&e, &w.g1, "pod-1", ResourceType::PortPairGroup.as_str())
            .await
            .is_some()
    );
}

#[tokio::test]
async fn not_specified_pod_fans_out_to_the_pods_of_the_network_or_the_chain() {
    let e = env(false).await;
    let w = world(
        &e,
        &[
            (R1, "pod-1", ResourceType::Port.as_str()),
            (R2, "pod-2", ResourceType::ShadowPort.as_str()),
        ],
    )
    .await;
    assert!(
        e.run_job(
            SFC_SYNC,
            &format!("not_specified_pod#{}#{}", w.chain, w.net)
        )
        .await
    );
    for region in [R1, R2] {
        assert!(
            e.cloud.neutron(region).dump("port_chains").is_empty(),
            "only jobs recorded"
        );
    }
    let mut ran: Vec<(String, bool)> = e
        .drain()
        .await
        .into_iter()
        .map(|(t, r, ok)| (format!("{t} {r}"), ok))
        .collect();
    ran.sort();
    assert_eq!(
        ran,
        vec![
            (format!("sfc_sync pod-1#{}#{}", w.chain, w.net), true),
            (format!("sfc_sync pod-2#{}#{}", w.chain, w.net), true),
        ]
    );
    assert_mirrored(&e, &w, R1, &[("g1", "in1", "out1")]);
    // RegionTwo holds shadow copies of the ports: the pair goes through them.
    assert_mirrored(&e, &w, R2, &[("g1", "in1", "out1")]);

    // Without a network, the pods the chain is mapped to.
    e.neutron(TOP).delete_port_chain(&w.chain).await.unwrap();
    assert!(
        e.run_job(SFC_SYNC, &format!("not_specified_pod#{}#", w.chain))
            .await
    );
    let ran = e.drain().await;
    assert_eq!(ran.len(), 2, "{ran:?}");
    assert!(ran.iter().all(|(_, _, ok)| *ok), "{ran:?}");
    for region in [R1, R2] {
        assert!(e.cloud.neutron(region).dump("port_chains").is_empty());
        assert!(e.cloud.neutron(region).dump("port_pairs").is_empty());
    }
}

#[tokio::test]
async fn a_pod_without_copies_of_the_ports_fails_the_job_and_creates_nothing() {
    let e = env(false).await;
    let w = world(&e, &[(R1, "pod-1", ResourceType::Port.as_str())]).await;
    assert!(
        !e.run_job(SFC_SYNC, &format!("pod-2#{}#{}", w.chain, w.net))
            .await
    );
    for coll in SFC {
        assert!(e.cloud.neutron(R2).dump(coll).is_empty(), "{coll}");
    }
    assert_eq!(
        routed(&e, &w.chain, "pod-2", ResourceType::PortChain.as_str()).await,
        None
    );
}

#[tokio::test]
async fn leftovers_holding_the_same_ports_are_cleared_as_the_reference_does() {
    let e = env(false).await;
    let w = world(&e, &[(R1, "pod-1", ResourceType::Port.as_str())]).await;
    let r1 = e.neutron(R1);
    let port = |n: &str| w.ports[&(R1.to_owned(), n.to_owned())].clone();
    // An unrouted chain left in the pod over the same ports.
    let pp = create(
        &r1,
        "sfc/port_pairs",
        "port_pair",
        json!({"name": "old", "tenant_id": PROJECT, "ingress": port("in1"), "egress": port("out1")}),
    )
    .await;
    let g = create(
        &r1,
        "sfc/port_pair_groups",
        "port_pair_group",
        json!({"name": "old", "tenant_id": PROJECT, "port_pairs": [id(&pp)]}),
    )
    .await;
    let fc = create(
        &r1,
        "sfc/flow_classifiers",
        "flow_classifier",
        json!({"name": "old", "tenant_id": PROJECT, "logical_source_port": port("src")}),
    )
    .await;
    create(
        &r1,
        "sfc/port_chains",
        "port_chain",
        json!({"name": "old", "tenant_id": PROJECT, "port_pair_groups": [id(&g)],
            "flow_classifiers": [id(&fc)]}),
    )
    .await;

    assert!(
        e.run_job(SFC_SYNC, &format!("pod-1#{}#{}", w.chain, w.net))
            .await
    );
    assert_mirrored(&e, &w, R1, &[("g1", "in1", "out1")]);
    let fake = e.cloud.neutron(R1);
    assert!(fake.dump("port_pairs").iter().all(|p| p["id"] != pp["id"]));
    assert!(fake
        .dump("flow_classifiers")
        .iter()
        .all(|f| f["id"] != fc["id"]));
    // The leftover group lost its pair but is not the job's to delete.
    let groups = fake.dump("port_pair_groups");
    assert_eq!(by_id(&groups, &g["id"])["port_pairs"], json!([]));
}
