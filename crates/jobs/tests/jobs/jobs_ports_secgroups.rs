//! port_delete, seg_rule_setup and resource_recycle on the fake cloud, in
//! plugin mode: the test plays the central and local plugins (it makes the
//! bottom resources and their routings), the jobs do the rest.

use crate::network_common;

use std::collections::BTreeSet;
use std::time::Duration;

use network_common::*;
use serde_json::{json, Value};
use tricircle_jobs::handlers::resource_recycle::ResourceRecycle;
use tricircle_jobs::JobType;
use tricircle_jobs::ResourceType;
use tricircle_jobs::{Engine, Registry, Settings};

const PORT_DELETE: &str = JobType::PortDelete.name();
const RESOURCE_RECYCLE: &str = JobType::ResourceRecycle.name();
const SEG_RULE_SETUP: &str = JobType::SegRuleSetup.name();
const SFC_SYNC: &str = JobType::SfcSync.name();

/// A network with a subnet in `region`, as (network, subnet).
async fn network(e: &Env, region: &str, name: &str, cidr: &str) -> (Value, Value) {
    network_in(&e.neutron(region), name, cidr, json!({})).await
}

async fn vm_port(e: &Env, region: &str, net: &Value, name: &str) -> Value {
    create(
        &e.neutron(region),
        "ports",
        "port",
        json!({"network_id": id(net), "name": name, "device_owner": "compute:nova",
        "device_id": name, "tenant_id": PROJECT}),
    )
    .await
}

/// The two ports of one service function VM (a port pair wants both on
/// one device).
async fn sf_ports(e: &Env, region: &str, net: &Value, tag: &str) -> (Value, Value) {
    let mut out = Vec::new();
    for end in ["in", "out"] {
        out.push(
            create(
                &e.neutron(region),
                "ports",
                "port",
                json!({"network_id": id(net), "name": format!("{end}{tag}"),
                "device_owner": "compute:nova", "device_id": format!("sf{tag}"),
                "tenant_id": PROJECT}),
            )
            .await,
        );
    }
    let out_port = out.pop().unwrap();
    (out.pop().unwrap(), out_port)
}

fn port_ids(e: &Env, region: &str) -> BTreeSet<String> {
    e.cloud
        .neutron(region)
        .dump("ports")
        .iter()
        .map(id)
        .collect()
}

async fn routings_of(e: &Env, top_id: &str) -> Vec<(String, String)> {
    let t = top_id.to_owned();
    e.db.db
        .run(move |c| {
            tricircle_db::routings::find(
                c,
                &tricircle_db::routings::RoutingFilter {
                    top_id: Some(t),
                    ..Default::default()
                },
            )
        })
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.pod_id, r.bottom_id.unwrap_or_default()))
        .collect()
}

// ----- port_delete -------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn port_delete_removes_the_pods_copy_only_and_reruns_are_harmless() {
    let e = env(false).await;
    let (t_net, _) = network(&e, TOP, "net1", "10.0.1.0/24").await;
    let t_port = vm_port(&e, TOP, &t_net, "vm1").await;
    // The VM's port in RegionOne and a shadow copy in RegionTwo.
    let (b1_net, _) = network(&e, R1, "b-net1", "10.0.1.0/24").await;
    let (b2_net, _) = network(&e, R2, "b-net1", "10.0.1.0/24").await;
    let b1 = vm_port(&e, R1, &b1_net, &id(&t_port)).await;
    let other = vm_port(&e, R1, &b1_net, "vm-other").await;
    let b2 = vm_port(&e, R2, &b2_net, &format!("shadow_{}", id(&t_port))).await;
    e.route(&id(&t_port), "pod-1", ResourceType::Port.as_str(), &id(&b1))
        .await;
    e.route(
        &id(&t_port),
        "pod-2",
        ResourceType::ShadowPort.as_str(),
        &id(&b2),
    )
    .await;

    let job = format!("pod-1#{}", id(&t_port));
    assert!(e.run_job(PORT_DELETE, &job).await);
    let r1 = port_ids(&e, R1);
    assert!(!r1.contains(&id(&b1)), "the pod's copy is deleted");
    assert!(r1.contains(&id(&other)), "other ports stay");
    assert!(port_ids(&e, R2).contains(&id(&b2)), "other pods untouched");
    assert!(
        port_ids(&e, TOP).contains(&id(&t_port)),
        "the top is not ours"
    );
    assert_eq!(
        routings_of(&e, &id(&t_port)).await,
        vec![("pod-2".to_owned(), id(&b2))],
        "only the deleted copy's routing goes"
    );

    // Again: the port is gone already, that is fine and nothing changes.
    let before = e.snapshot().await;
    assert!(e.run_job(PORT_DELETE, &job).await);
    assert_eq!(e.snapshot().await, before);

    // The shadow copy in RegionTwo.
    assert!(
        e.run_job(PORT_DELETE, &format!("pod-2#{}", id(&t_port)))
            .await
    );
    assert!(!port_ids(&e, R2).contains(&id(&b2)));
    assert!(routings_of(&e, &id(&t_port)).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn port_delete_without_routing_deletes_the_port_of_that_id() {
    // The reference's pods hold VM ports under the top port's id and its
    // central plugin drops the routings before the job runs.
    let e = env(false).await;
    let (b_net, _) = network(&e, R1, "b-net1", "10.0.1.0/24").await;
    let p = vm_port(&e, R1, &b_net, "vm1").await;
    let keep = vm_port(&e, R1, &b_net, "vm2").await;
    assert!(e.run_job(PORT_DELETE, &format!("pod-1#{}", id(&p))).await);
    assert_eq!(port_ids(&e, R1), BTreeSet::from([id(&keep)]));
    assert!(e.run_job(PORT_DELETE, &format!("pod-1#{}", id(&p))).await);
    assert_eq!(port_ids(&e, R1), BTreeSet::from([id(&keep)]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn port_delete_fails_while_the_pod_is_down_and_a_redo_finishes_it() {
    let e = env(false).await;
    let (t_net, _) = network(&e, TOP, "net1", "10.0.1.0/24").await;
    let t_port = vm_port(&e, TOP, &t_net, "vm1").await;
    let (b_net, _) = network(&e, R1, "b-net1", "10.0.1.0/24").await;
    let b = vm_port(&e, R1, &b_net, &id(&t_port)).await;
    e.route(&id(&t_port), "pod-1", ResourceType::Port.as_str(), &id(&b))
        .await;
    let job = format!("pod-1#{}", id(&t_port));

    e.cloud.neutron(R1).set_down(true).await.unwrap();
    assert!(!e.run_job(PORT_DELETE, &job).await);
    e.cloud.neutron(R1).set_down(false).await.unwrap();
    assert!(port_ids(&e, R1).contains(&id(&b)));
    assert_eq!(
        routings_of(&e, &id(&t_port)).await.len(),
        1,
        "kept for the redo"
    );

    // A refusal other than "not found" fails the job too.
    e.cloud
        .neutron(R1)
        .fail_next(Some("DELETE"), "/v2.0/ports", 1, 409);
    assert!(!e.run_job(PORT_DELETE, &job).await);
    assert!(port_ids(&e, R1).contains(&id(&b)));

    assert!(e.run_job(PORT_DELETE, &job).await);
    assert!(!port_ids(&e, R1).contains(&id(&b)));
    assert!(routings_of(&e, &id(&t_port)).await.is_empty());
}

// ----- seg_rule_setup ----------------------------------------------------

/// (direction, ethertype, protocol, port min, port max, remote prefix,
/// remote group) of each rule of group `sg_id` in `region`.
type RuleShape = (
    String,
    String,
    Option<String>,
    Option<i64>,
    Option<i64>,
    Option<String>,
    Option<String>,
);

fn rules(e: &Env, region: &str, sg_id: &str) -> BTreeSet<RuleShape> {
    let s = |r: &Value, k: &str| r[k].as_str().map(str::to_owned);
    e.cloud
        .neutron(region)
        .dump("security_group_rules")
        .iter()
        .filter(|r| r["security_group_id"] == sg_id)
        .map(|r| {
            (
                s(r, "direction").unwrap(),
                s(r, "ethertype").unwrap(),
                s(r, "protocol"),
                r["port_range_min"].as_i64(),
                r["port_range_max"].as_i64(),
                s(r, "remote_ip_prefix"),
                s(r, "remote_group_id"),
            )
        })
        .collect()
}

fn rule_ids(e: &Env, region: &str) -> BTreeSet<String> {
    e.cloud
        .neutron(region)
        .dump("security_group_rules")
        .iter()
        .map(id)
        .collect()
}

fn egress() -> Vec<RuleShape> {
    ["IPv4", "IPv6"]
        .iter()
        .map(|eth| {
            (
                "egress".to_owned(),
                eth.to_string(),
                None,
                None,
                None,
                None,
                None,
            )
        })
        .collect()
}

fn ingress(eth: &str, proto: Option<&str>, ports: Option<i64>, prefix: &str) -> RuleShape {
    (
        "ingress".into(),
        eth.into(),
        proto.map(Into::into),
        ports,
        ports,
        Some(prefix.into()),
        None,
    )
}

async fn sg(e: &Env, region: &str, name: &str) -> Value {
    create(
        &e.neutron(region),
        "security-groups",
        "security_group",
        json!({"name": name, "tenant_id": PROJECT}),
    )
    .await
}

async fn rule(e: &Env, region: &str, body: Value) -> Value {
    create(
        &e.neutron(region),
        "security-group-rules",
        "security_group_rule",
        body,
    )
    .await
}

struct SgWorld {
    t_default: Value,
    b1_default: Value,
    b2_default: Value,
    b2_web: Value,
}

/// The project's top groups: `default` (remote-group rules, as Neutron
/// makes it) and `web` (HTTP from anywhere, SSH from the default group);
/// subnets 10.0.1.0/24 and 10.0.2.0/24, twice 10.0.2.0/24 (another
/// network), the bridge subnet, an IPv6 subnet, and another project's
/// subnet. The bottom copies: default in both pods (RegionOne's with a
/// stale SSH rule and the bottom's own remote-group rule), web in RegionTwo.
async fn sg_world(e: &Env) -> SgWorld {
    let t_default = sg(e, TOP, "default").await;
    for eth in ["IPv4", "IPv6"] {
        rule(
            e,
            TOP,
            json!({"security_group_id": id(&t_default), "direction": "ingress",
            "ethertype": eth, "remote_group_id": id(&t_default)}),
        )
        .await;
    }
    let t_web = sg(e, TOP, "web").await;
    rule(
        e,
        TOP,
        json!({"security_group_id": id(&t_web), "direction": "ingress", "ethertype": "IPv4",
        "protocol": "tcp", "port_range_min": 80, "port_range_max": 80,
        "remote_ip_prefix": "0.0.0.0/0"}),
    )
    .await;
    rule(
        e,
        TOP,
        json!({"security_group_id": id(&t_web), "direction": "ingress", "ethertype": "IPv4",
        "protocol": "tcp", "port_range_min": 22, "port_range_max": 22,
        "remote_group_id": id(&t_default)}),
    )
    .await;
    // Another project's group is not this job's.
    create(
        &e.neutron(TOP),
        "security-groups",
        "security_group",
        json!({"name": "default", "tenant_id": "other-project"}),
    )
    .await;

    network(e, TOP, "net1", "10.0.1.0/24").await;
    network(e, TOP, "net2", "10.0.2.0/24").await;
    network(e, TOP, "net2-again", "10.0.2.0/24").await;
    network(e, TOP, "bridge", "100.0.0.0/24").await;
    let n6 = create(
        &e.neutron(TOP),
        "networks",
        "network",
        json!({"name": "net6", "tenant_id": PROJECT}),
    )
    .await;
    create(
        &e.neutron(TOP),
        "subnets",
        "subnet",
        json!({"network_id": id(&n6), "cidr": "fd00::/64", "ip_version": 6,
        "tenant_id": PROJECT}),
    )
    .await;
    let on = create(
        &e.neutron(TOP),
        "networks",
        "network",
        json!({"name": "theirs", "tenant_id": "other-project"}),
    )
    .await;
    create(
        &e.neutron(TOP),
        "subnets",
        "subnet",
        json!({"network_id": id(&on), "cidr": "192.168.9.0/24", "ip_version": 4,
        "tenant_id": "other-project"}),
    )
    .await;

    let b1_default = sg(e, R1, id(&t_default).as_str()).await;
    rule(
        e,
        R1,
        json!({"security_group_id": id(&b1_default), "direction": "ingress",
        "ethertype": "IPv4", "protocol": "tcp", "port_range_min": 22, "port_range_max": 22,
        "remote_ip_prefix": "0.0.0.0/0"}),
    )
    .await;
    rule(
        e,
        R1,
        json!({"security_group_id": id(&b1_default), "direction": "ingress",
        "ethertype": "IPv4", "remote_group_id": id(&b1_default)}),
    )
    .await;
    let b2_default = sg(e, R2, id(&t_default).as_str()).await;
    let b2_web = sg(e, R2, id(&t_web).as_str()).await;
    e.route(&id(&t_default), "pod-1", "security_group", &id(&b1_default))
        .await;
    e.route(&id(&t_default), "pod-2", "security_group", &id(&b2_default))
        .await;
    e.route(&id(&t_web), "pod-2", "security_group", &id(&b2_web))
        .await;
    SgWorld {
        t_default,
        b1_default,
        b2_default,
        b2_web,
    }
}

fn default_rules(cidrs: &[&str]) -> BTreeSet<RuleShape> {
    egress()
        .into_iter()
        .chain(cidrs.iter().map(|c| ingress("IPv4", None, None, c)))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seg_rule_setup_mirrors_the_top_rules_with_subnet_cidrs() {
    let e = env(false).await;
    let w = sg_world(&e).await;
    assert!(e.run_job(SEG_RULE_SETUP, PROJECT).await);

    let want_default = default_rules(&["10.0.1.0/24", "10.0.2.0/24"]);
    assert_eq!(rules(&e, R1, &id(&w.b1_default)), want_default);
    assert_eq!(rules(&e, R2, &id(&w.b2_default)), want_default);
    // web: its remote-group rule is not translated (default group only).
    let want_web: BTreeSet<_> = egress()
        .into_iter()
        .chain([ingress("IPv4", Some("tcp"), Some(80), "0.0.0.0/0")])
        .collect();
    assert_eq!(rules(&e, R2, &id(&w.b2_web)), want_web);
    // The top is left alone.
    assert_eq!(rules(&e, TOP, &id(&w.t_default)).len(), 4);

    // A rerun finds everything in place: no rule is created or deleted.
    let ids = (rule_ids(&e, R1), rule_ids(&e, R2));
    e.cloud.neutron(R1).clear_requests();
    assert!(e.run_job(SEG_RULE_SETUP, PROJECT).await);
    assert_eq!((rule_ids(&e, R1), rule_ids(&e, R2)), ids);
    assert!(e
        .cloud
        .neutron(R1)
        .requests()
        .iter()
        .all(|r| r.method == "GET"));

    // The project gets a subnet and loses one: the pods follow.
    let (n3, _) = network(&e, TOP, "net3", "10.0.3.0/24").await;
    let gone = e
        .cloud
        .neutron(TOP)
        .dump("subnets")
        .into_iter()
        .find(|s| s["cidr"] == "10.0.1.0/24")
        .unwrap();
    e.neutron(TOP).delete_subnet(&id(&gone)).await.unwrap();
    assert!(e.run_job(SEG_RULE_SETUP, PROJECT).await);
    let want = default_rules(&["10.0.2.0/24", "10.0.3.0/24"]);
    assert_eq!(rules(&e, R1, &id(&w.b1_default)), want);
    assert_eq!(rules(&e, R2, &id(&w.b2_default)), want);
    let _ = n3;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seg_rule_setup_fails_while_a_pod_is_down_and_a_redo_converges() {
    let e = env(false).await;
    let w = sg_world(&e).await;
    e.cloud.neutron(R2).set_down(true).await.unwrap();
    assert!(!e.run_job(SEG_RULE_SETUP, PROJECT).await);
    e.cloud.neutron(R2).set_down(false).await.unwrap();
    let want_default = default_rules(&["10.0.1.0/24", "10.0.2.0/24"]);
    assert_ne!(rules(&e, R2, &id(&w.b2_default)), want_default);

    // Another worker created one of the rules meanwhile and the bulk
    // creation conflicts (the injected 409): the rest is still created,
    // one by one.
    rule(
        &e,
        R2,
        json!({"security_group_id": id(&w.b2_default), "direction": "ingress",
        "ethertype": "IPv4", "remote_ip_prefix": "10.0.1.0/24"}),
    )
    .await;
    e.cloud
        .neutron(R2)
        .fail_next(Some("POST"), "/v2.0/security-group-rules", 1, 409);
    assert!(e.run_job(SEG_RULE_SETUP, PROJECT).await);
    assert_eq!(rules(&e, R1, &id(&w.b1_default)), want_default);
    assert_eq!(rules(&e, R2, &id(&w.b2_default)), want_default);
    assert_eq!(
        e.cloud
            .neutron(R2)
            .dump("security_group_rules")
            .iter()
            .filter(|r| r["security_group_id"] == id(&w.b2_default).as_str())
            .count(),
        want_default.len(),
        "no duplicates"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seg_rule_setup_skips_a_bottom_group_that_is_gone() {
    let e = env(false).await;
    let w = sg_world(&e).await;
    e.neutron(R2)
        .delete_security_group(&id(&w.b2_web))
        .await
        .unwrap();
    assert!(e.run_job(SEG_RULE_SETUP, PROJECT).await);
    assert_eq!(
        rules(&e, R2, &id(&w.b2_default)),
        default_rules(&["10.0.1.0/24", "10.0.2.0/24"])
    );
}

// ----- resource_recycle --------------------------------------------------

/// A bottom chain in `region`: (port pair, group, classifier, chain), with
/// routings from the top ids `t-<what>-<tag>`.
struct Chain {
    pp: Value,
    ppg: Value,
    fc: Value,
    pc: Value,
}

async fn bottom_chain(e: &Env, region: &str, pod: &str, tag: &str) -> Chain {
    let c = e.neutron(region);
    let (n, _) = network(e, region, &format!("sfc-{tag}"), "10.0.9.0/24").await;
    let src = vm_port(e, region, &n, "src").await;
    let (pin, pout) = sf_ports(e, region, &n, "").await;
    let pp = create(
        &c,
        "sfc/port_pairs",
        "port_pair",
        json!({"ingress": id(&pin), "egress": id(&pout), "tenant_id": PROJECT}),
    )
    .await;
    let ppg = create(
        &c,
        "sfc/port_pair_groups",
        "port_pair_group",
        json!({"port_pairs": [id(&pp)], "tenant_id": PROJECT}),
    )
    .await;
    let fc = create(
        &c,
        "sfc/flow_classifiers",
        "flow_classifier",
        // Chains of one pod must not classify the same traffic
        // (networking-sfc compares prefixes, not source ports).
        json!({"logical_source_port": id(&src), "tenant_id": PROJECT,
            "ethertype": "IPv4",
            "source_ip_prefix": format!("10.{}.0.0/16", 100 + tag.as_bytes()[0] % 100)}),
    )
    .await;
    let pc = create(
        &c,
        "sfc/port_chains",
        "port_chain",
        json!({"port_pair_groups": [id(&ppg)], "flow_classifiers": [id(&fc)],
        "tenant_id": PROJECT}),
    )
    .await;
    for (what, v) in [
        ("port_pair", &pp),
        ("port_pair_group", &ppg),
        ("flow_classifier", &fc),
        ("port_chain", &pc),
    ] {
        e.route(&format!("t-{what}-{tag}"), pod, what, &id(v)).await;
    }
    Chain { pp, ppg, fc, pc }
}

async fn queue(e: &Env, what: &str, tag: &str, project: &str) {
    let (r, t, p) = (
        format!("t-{what}-{tag}"),
        what.to_owned(),
        project.to_owned(),
    );
    e.db.db
        .run(move |c| tricircle_db::recycle::create_recycle_resource(c, &r, &t, &p))
        .await
        .unwrap()
        .expect("queued");
}

async fn queued(e: &Env) -> BTreeSet<String> {
    e.db.db
        .run(|c| tricircle_db::recycle::list_recycle_resources(c, None, None))
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.resource_id)
        .collect()
}

fn sfc_ids(e: &Env, region: &str) -> BTreeSet<String> {
    [
        "port_pairs",
        "port_pair_groups",
        "flow_classifiers",
        "port_chains",
    ]
    .iter()
    .flat_map(|c| e.cloud.neutron(region).dump(c))
    .map(|v| id(&v))
    .collect()
}

const SFC_TYPES: [&str; 4] = [
    "port_chain",
    "flow_classifier",
    "port_pair_group",
    "port_pair",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resource_recycle_deletes_the_queued_chains_in_every_pod() {
    let e = env(false).await;
    // Chain "a" spans both pods and is queued whole; chain "b" (RegionOne)
    // is not queued; chain "c" is another project's.
    let a1 = bottom_chain(&e, R1, "pod-1", "a").await;
    let a2 = bottom_chain(&e, R2, "pod-2", "a").await;
    let b = bottom_chain(&e, R1, "pod-1", "b").await;
    let c = bottom_chain(&e, R2, "pod-2", "c").await;
    for what in SFC_TYPES {
        queue(&e, what, "a", PROJECT).await;
        queue(&e, what, "c", "other-project").await;
    }

    assert!(e.run_job(RESOURCE_RECYCLE, PROJECT).await);
    let keep_b: BTreeSet<String> = [&b.pp, &b.ppg, &b.fc, &b.pc]
        .iter()
        .map(|v| id(v))
        .collect();
    let keep_c: BTreeSet<String> = [&c.pp, &c.ppg, &c.fc, &c.pc]
        .iter()
        .map(|v| id(v))
        .collect();
    assert_eq!(sfc_ids(&e, R1), keep_b, "a's copy gone, b kept");
    assert_eq!(sfc_ids(&e, R2), keep_c, "a's copy gone, c kept");
    for what in SFC_TYPES {
        assert!(routings_of(&e, &format!("t-{what}-a")).await.is_empty());
        assert_eq!(routings_of(&e, &format!("t-{what}-b")).await.len(), 1);
        assert_eq!(routings_of(&e, &format!("t-{what}-c")).await.len(), 1);
    }
    let other: BTreeSet<String> = SFC_TYPES.iter().map(|w| format!("t-{w}-c")).collect();
    assert_eq!(queued(&e).await, other, "only the project's rows go");
    let _ = (a1, a2);

    // Nothing left to do: a rerun succeeds and changes nothing.
    let before = (sfc_ids(&e, R1), sfc_ids(&e, R2), e.snapshot().await);
    assert!(e.run_job(RESOURCE_RECYCLE, PROJECT).await);
    assert_eq!(
        (sfc_ids(&e, R1), sfc_ids(&e, R2), e.snapshot().await),
        before
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resource_recycle_frees_what_a_bottom_chain_still_uses() {
    let e = env(false).await;
    let a = bottom_chain(&e, R1, "pod-1", "a").await;
    // A second pair in the group, not queued: it stays in the group.
    let n = e.cloud.neutron(R1).dump("networks")[0].clone();
    let (p1, p2) = sf_ports(&e, R1, &n, "2").await;
    let pp2 = create(
        &e.neutron(R1),
        "sfc/port_pairs",
        "port_pair",
        json!({"ingress": id(&p1), "egress": id(&p2), "tenant_id": PROJECT}),
    )
    .await;
    put(
        &e.neutron(R1),
        &format!("sfc/port_pair_groups/{}", id(&a.ppg)),
        json!({"port_pair_group": {"port_pairs": [id(&a.pp), id(&pp2)]}}),
    )
    .await;
    // Only the classifier and the pair are queued: the chain using the
    // classifier goes with it, the pair leaves its group.
    queue(&e, "flow_classifier", "a", PROJECT).await;
    queue(&e, "port_pair", "a", PROJECT).await;
    assert!(e.run_job(RESOURCE_RECYCLE, PROJECT).await);
    assert_eq!(
        sfc_ids(&e, R1),
        BTreeSet::from([id(&a.ppg), id(&pp2)]),
        "the chain, classifier and pair are gone"
    );
    let ppg = &e.cloud.neutron(R1).dump("port_pair_groups")[0];
    assert_eq!(ppg["port_pairs"], json!([id(&pp2)]));
    assert!(routings_of(&e, "t-port_chain-a").await.is_empty());
    assert_eq!(routings_of(&e, "t-port_pair_group-a").await.len(), 1);
    assert!(queued(&e).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resource_recycle_keeps_the_queue_while_a_pod_fails() {
    let e = env(false).await;
    let a1 = bottom_chain(&e, R1, "pod-1", "a").await;
    bottom_chain(&e, R2, "pod-2", "a").await;
    for what in SFC_TYPES {
        queue(&e, what, "a", PROJECT).await;
    }
    e.cloud.neutron(R2).set_down(true).await.unwrap();
    assert!(!e.run_job(RESOURCE_RECYCLE, PROJECT).await);
    e.cloud.neutron(R2).set_down(false).await.unwrap();
    assert_eq!(queued(&e).await.len(), 4, "nothing is forgotten");
    assert!(
        !sfc_ids(&e, R1).contains(&id(&a1.pc)),
        "RegionOne's chain went"
    );
    assert_eq!(routings_of(&e, "t-port_chain-a").await.len(), 1);

    // A refusal other than "in use" fails the job too.
    e.cloud
        .neutron(R1)
        .fail_next(Some("DELETE"), "/v2.0/sfc/flow_classifiers", 1, 409);
    assert!(!e.run_job(RESOURCE_RECYCLE, PROJECT).await);
    assert!(sfc_ids(&e, R1).contains(&id(&a1.fc)));

    assert!(e.run_job(RESOURCE_RECYCLE, PROJECT).await);
    assert!(sfc_ids(&e, R1).is_empty() && sfc_ids(&e, R2).is_empty());
    assert!(queued(&e).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resource_recycle_waits_for_pending_sfc_sync_jobs() {
    let mut e = env(false).await;
    let mut registry = Registry::new();
    registry
        .register(ResourceRecycle::new(e.net.clone()).with_pause(Duration::from_millis(5)))
        .unwrap();
    e.engine = Engine::new(
        e.db.db.clone(),
        registry,
        Settings {
            workers: 1,
            worker_handle_timeout: Duration::from_secs(60),
            job_run_expire: Duration::from_secs(180),
            worker_sleep_time: Duration::from_millis(1),
            redo_time_span: Duration::from_secs(3600),
        },
    );
    let a = bottom_chain(&e, R1, "pod-1", "a").await;
    queue(&e, "port_chain", "a", PROJECT).await;
    let sync =
        e.db.db
            .run(|c| tricircle_db::jobs::new_job(c, PROJECT, SFC_SYNC, "pod-1#pc#net"))
            .await
            .unwrap();
    assert!(e.run_job(RESOURCE_RECYCLE, PROJECT).await);
    assert!(sfc_ids(&e, R1).contains(&id(&a.pc)), "left for later");
    assert_eq!(queued(&e).await.len(), 1);

    // The sync is over: the next run recycles.
    let sid = sync.id.clone();
    e.db.db
        .run(move |c| tricircle_db::jobs::delete_job(c, &sid))
        .await
        .unwrap();
    assert!(e.run_job(RESOURCE_RECYCLE, PROJECT).await);
    assert!(!sfc_ids(&e, R1).contains(&id(&a.pc)));
    assert!(queued(&e).await.is_empty());
}
