//! The QoS policy jobs (qos_create, qos_update, qos_delete, sync_qos_rule)
//! and trunk_sync on the fake cloud, in plugin mode: the test plays the
//! local plugins (bottom copies of networks, ports and trunks, with their
//! routings), xjob mirrors the policies and the trunks' sub-ports.

use crate::network_common;

use std::collections::BTreeMap;

use network_common::*;
use serde_json::{json, Value};
use tricircle_db::jobs;
use tricircle_jobs::{JobStatus, JobType, ResourceType};

const QOS_CREATE: &str = JobType::QosCreate.name();
const QOS_DELETE: &str = JobType::QosDelete.name();
const QOS_UPDATE: &str = JobType::QosUpdate.name();
const SEG_RULE_SETUP: &str = JobType::SegRuleSetup.name();
const SYNC_QOS_RULE: &str = JobType::SyncQosRule.name();
const TRUNK_SYNC: &str = JobType::TrunkSync.name();

const RT_QOS: &str = ResourceType::QosPolicy.as_str();
const RT_TRUNK: &str = ResourceType::Trunk.as_str();

/// Everything [`Env::snapshot`] has plus policies, QoS rules and trunks.
async fn snapshot(e: &Env) -> BTreeMap<String, Value> {
    let mut out = e.snapshot().await;
    for region in [TOP, R1, R2] {
        for coll in ["policies", "qos_rules", "trunks"] {
            out.insert(
                format!("{region}/{coll}"),
                Value::Array(e.cloud.neutron(region).dump(coll)),
            );
        }
    }
    out
}

async fn routing(e: &Env, top_id: &str, pod_id: &str, rtype: &str) -> Option<String> {
    let (t, p, r) = (top_id.to_owned(), pod_id.to_owned(), rtype.to_owned());
    e.db.db
        .run(move |c| tricircle_db::routings::get_by_top_pod_type(c, &t, &p, &r))
        .await
        .unwrap()
        .and_then(|r| r.bottom_id)
}

/// The job succeeds and leaves every resource and routing as it was.
async fn assert_rerun_changes_nothing(e: &Env, job_type: &str, resource: &str) {
    let before = snapshot(e).await;
    assert!(e.run_job(job_type, resource).await);
    assert_eq!(snapshot(e).await, before);
}

fn by_id<'a>(items: &'a [Value], id: &str) -> &'a Value {
    items
        .iter()
        .find(|v| v["id"] == id)
        .unwrap_or_else(|| panic!("no {id} in {items:?}"))
}

/// (type, the mirrored attributes) of the rules of `policy` in `region`.
fn rules_of(e: &Env, region: &str, policy: &str) -> Vec<(String, Value)> {
    let mut out: Vec<(String, Value)> = e
        .cloud
        .neutron(region)
        .dump("qos_rules")
        .into_iter()
        .filter(|r| r["qos_policy_id"] == policy)
        .map(|r| {
            let t = r["type"].as_str().unwrap().to_owned();
            let attrs = match t.as_str() {
                "bandwidth_limit" => json!([r["max_kbps"], r["max_burst_kbps"]]),
                "dscp_marking" => json!([r["dscp_mark"]]),
                _ => json!([r["min_kbps"], r["direction"]]),
            };
            (t, attrs)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

// ----- QoS ---------------------------------------------------------------

struct Qos {
    policy: String,
    net: String,
    /// Bottom copies of `net`: pod-1, pod-2.
    b_nets: [String; 2],
    port: String,
    /// The bottom copy of `port`, in pod-1 only.
    b_port: String,
}

/// A top network with copies in both pods, a VM port with a copy in pod-1,
/// and a top policy "gold" with a bandwidth limit and a DSCP mark.
async fn qos_world(e: &Env) -> Qos {
    let top = e.neutron(TOP);
    let (n, s) = top_network(e, "net1", "10.0.1.0/24").await;
    let p = create(
        &top,
        "ports",
        "port",
        json!({"network_id": id(&n), "name": "vm1",
        "device_owner": "compute:nova", "tenant_id": PROJECT}),
    )
    .await;
    let mut b_nets = Vec::new();
    let mut b_port = String::new();
    for (region, pod) in [(R1, "pod-1"), (R2, "pod-2")] {
        let c = e.neutron(region);
        let (bn, bs) = e.bottom_network(region, pod, (&n, &s), "net1").await;
        if pod == "pod-1" {
            let bp = create(
                &c,
                "ports",
                "port",
                json!({"network_id": id(&bn), "name": id(&p),
                "tenant_id": PROJECT, "mac_address": p["mac_address"],
                "fixed_ips": [{"subnet_id": id(&bs), "ip_address": first_ip(&p)}]}),
            )
            .await;
            e.route(&id(&p), pod, ResourceType::Port.as_str(), &id(&bp))
                .await;
            b_port = id(&bp);
        }
        b_nets.push(id(&bn));
    }
    let pol = create(
        &top,
        "qos/policies",
        "policy",
        json!({"name": "gold",
        "description": "gold service", "tenant_id": PROJECT}),
    )
    .await;
    let pid = id(&pol);
    create(
        &top,
        &format!("qos/policies/{pid}/bandwidth_limit_rules"),
        "bandwidth_limit_rule",
        json!({"max_kbps": 1000, "max_burst_kbps": 100}),
    )
    .await;
    create(
        &top,
        &format!("qos/policies/{pid}/dscp_marking_rules"),
        "dscp_marking_rule",
        json!({"dscp_mark": 26}),
    )
    .await;
    Qos {
        policy: pid,
        net: id(&n),
        b_nets: [b_nets[0].clone(), b_nets[1].clone()],
        port: id(&p),
        b_port,
    }
}

/// The policy created in every pod of the network, through the fan-out.
async fn qos_created(e: &Env, w: &Qos) {
    let fan = format!("not_specified_pod#{}#network#{}", w.policy, w.net);
    assert!(e.run_job(QOS_CREATE, &fan).await);
    let runs = e.drain().await;
    assert!(runs.iter().all(|r| r.2), "{runs:?}");
    let kinds: Vec<&str> = runs.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(
        kinds.iter().filter(|k| **k == QOS_CREATE).count(),
        2,
        "{runs:?}"
    );
    assert!(kinds.contains(&SYNC_QOS_RULE), "{runs:?}");
}

fn gold_rules() -> Vec<(String, Value)> {
    vec![
        ("bandwidth_limit".into(), json!([1000, 100])),
        ("dscp_marking".into(), json!([26])),
    ]
}

#[tokio::test]
async fn qos_create_copies_the_policy_into_each_pod_of_the_network_with_its_rules() {
    let e = env(false).await;
    let w = qos_world(&e).await;
    qos_created(&e, &w).await;

    for (i, (region, pod)) in [(R1, "pod-1"), (R2, "pod-2")].into_iter().enumerate() {
        let policies = e.cloud.neutron(region).dump("policies");
        assert_eq!(policies.len(), 1, "{region}: {policies:?}");
        let b = &policies[0];
        assert_eq!(b["name"], "gold");
        assert_eq!(b["description"], "gold service");
        assert_eq!(b["tenant_id"], PROJECT);
        assert_eq!(
            routing(&e, &w.policy, pod, RT_QOS).await.as_deref(),
            b["id"].as_str()
        );
        let nets = e.cloud.neutron(region).dump("networks");
        assert_eq!(
            by_id(&nets, &w.b_nets[i])["qos_policy_id"],
            b["id"],
            "{region}"
        );
        assert_eq!(
            rules_of(&e, region, b["id"].as_str().unwrap()),
            gold_rules(),
            "{region}"
        );
    }

    // Rerunning every job changes nothing and creates no duplicate.
    let before = snapshot(&e).await;
    for pod in ["pod-1", "pod-2"] {
        let r = format!("{pod}#{}#network#{}", w.policy, w.net);
        assert!(e.run_job(QOS_CREATE, &r).await);
    }
    e.drain().await;
    assert!(e.run_job(SYNC_QOS_RULE, &w.policy).await);
    assert_eq!(snapshot(&e).await, before);
}

#[tokio::test]
async fn qos_create_binds_a_port_copy_and_skips_a_resource_without_copy() {
    let e = env(false).await;
    let w = qos_world(&e).await;
    // The port has a copy in pod-1 only.
    assert!(
        e.run_job(QOS_CREATE, &format!("pod-1#{}#port#{}", w.policy, w.port))
            .await
    );
    assert!(
        e.run_job(QOS_CREATE, &format!("pod-2#{}#port#{}", w.policy, w.port))
            .await
    );
    let b1 = routing(&e, &w.policy, "pod-1", RT_QOS).await.unwrap();
    let ports = e.cloud.neutron(R1).dump("ports");
    assert_eq!(by_id(&ports, &w.b_port)["qos_policy_id"], b1.as_str());
    // In pod-2 the policy is there, bound to nothing.
    let b2 = routing(&e, &w.policy, "pod-2", RT_QOS).await.unwrap();
    assert!(e
        .cloud
        .neutron(R2)
        .dump("ports")
        .iter()
        .all(|p| p["qos_policy_id"].is_null()));
    assert!(e
        .cloud
        .neutron(R2)
        .dump("networks")
        .iter()
        .all(|n| n["qos_policy_id"].is_null()));
    assert_eq!(e.cloud.neutron(R2).dump("policies")[0]["id"], b2.as_str());
    // No resource at all (the reference formats it as "None").
    let e2 = env(false).await;
    let w2 = qos_world(&e2).await;
    assert!(
        e2.run_job(QOS_CREATE, &format!("pod-1#{}#None#None", w2.policy))
            .await
    );
    assert_eq!(e2.cloud.neutron(R1).dump("policies").len(), 1);
    assert!(e2
        .cloud
        .neutron(R1)
        .dump("networks")
        .iter()
        .all(|n| n["qos_policy_id"].is_null()));
}

#[tokio::test]
async fn qos_create_of_a_gone_policy_does_nothing_and_a_failed_create_is_redone() {
    let e = env(false).await;
    let w = qos_world(&e).await;
    let r = format!("pod-1#{}#network#{}", w.policy, w.net);

    // Neutron fails the creation: the job fails and leaves no lock behind.
    e.cloud
        .neutron(R1)
        .fail_next(Some("POST"), "/v2.0/qos/policies", 10, 500);
    assert!(!e.run_job(QOS_CREATE, &r).await);
    e.cloud.neutron(R1).clear_faults();
    assert!(e.cloud.neutron(R1).dump("policies").is_empty());
    assert_eq!(routing(&e, &w.policy, "pod-1", RT_QOS).await, None);
    let (t, p) = (w.policy.clone(), "pod-1".to_owned());
    let rows =
        e.db.db
            .run(move |c| tricircle_db::routings::get_by_top_pod_type(c, &t, &p, RT_QOS))
            .await
            .unwrap();
    assert!(rows.is_none(), "{rows:?}");
    // The redo creates it once.
    assert!(e.run_job(QOS_CREATE, &r).await);
    assert!(e.run_job(QOS_CREATE, &r).await);
    assert_eq!(e.cloud.neutron(R1).dump("policies").len(), 1);

    // A policy deleted at the top before its job ran: nothing happens.
    let top = e.neutron(TOP);
    let other = create(
        &top,
        "qos/policies",
        "policy",
        json!({"name": "x", "tenant_id": PROJECT}),
    )
    .await;
    top.delete::<tricircle_openstack::neutron::QosPolicy>(&id(&other))
        .await
        .unwrap();
    let before = snapshot(&e).await;
    assert!(
        e.run_job(
            QOS_CREATE,
            &format!("pod-2#{}#network#{}", id(&other), w.net)
        )
        .await
    );
    assert_eq!(snapshot(&e).await, before);
}

#[tokio::test]
async fn qos_update_copies_name_description_and_shared_to_every_copy() {
    let e = env(false).await;
    let w = qos_world(&e).await;
    qos_created(&e, &w).await;
    let top = e.neutron(TOP);
    put(
        &top,
        &format!("qos/policies/{}", w.policy),
        json!({"policy": {"name": "platinum", "description": "", "shared": true}}),
    )
    .await;

    assert!(
        e.run_job(QOS_UPDATE, &format!("not_specified_pod#{}", w.policy))
            .await
    );
    let runs = e.drain().await;
    assert_eq!(runs.len(), 2, "{runs:?}");
    assert!(runs.iter().all(|r| r.0 == QOS_UPDATE && r.2), "{runs:?}");
    for region in [R1, R2] {
        let b = &e.cloud.neutron(region).dump("policies")[0];
        assert_eq!(b["name"], "platinum", "{region}");
        assert_eq!(b["description"], "", "{region}");
        assert_eq!(b["shared"], true, "{region}");
    }

    // A rerun sends nothing (not even an identical update).
    let before = snapshot(&e).await;
    e.cloud.neutron(R1).clear_requests();
    assert!(e.run_job(QOS_UPDATE, &format!("pod-1#{}", w.policy)).await);
    assert!(e
        .cloud
        .neutron(R1)
        .requests()
        .iter()
        .all(|r| !r.method.eq_ignore_ascii_case("PUT")));
    assert_eq!(snapshot(&e).await, before);

    // A pod without a copy, or a policy gone at the top: nothing to do.
    let (pid, pod) = (w.policy.clone(), "pod-2".to_owned());
    e.db.db
        .run(move |c| tricircle_db::routings::delete_mappings_by_top_id(c, &pid, Some(&pod)))
        .await
        .unwrap();
    put(
        &top,
        &format!("qos/policies/{}", w.policy),
        json!({"policy": {"name": "bronze"}}),
    )
    .await;
    assert!(e.run_job(QOS_UPDATE, &format!("pod-2#{}", w.policy)).await);
    assert_eq!(e.cloud.neutron(R2).dump("policies")[0]["name"], "platinum");

    // Neutron refusing the update fails the job.
    e.cloud
        .neutron(R1)
        .fail_next(Some("PUT"), "/v2.0/qos/policies", 10, 500);
    assert!(!e.run_job(QOS_UPDATE, &format!("pod-1#{}", w.policy)).await);
    e.cloud.neutron(R1).clear_faults();
    assert!(e.run_job(QOS_UPDATE, &format!("pod-1#{}", w.policy)).await);
    assert_eq!(e.cloud.neutron(R1).dump("policies")[0]["name"], "bronze");
}

#[tokio::test]
async fn sync_qos_rule_makes_every_copy_follow_the_top_rules() {
    let e = env(false).await;
    let w = qos_world(&e).await;
    qos_created(&e, &w).await;
    let top = e.neutron(TOP);
    let pid = &w.policy;
    let all = e.cloud.neutron(TOP).dump("qos_rules");
    let bw = all.iter().find(|r| r["type"] == "bandwidth_limit").unwrap();
    let dscp = all.iter().find(|r| r["type"] == "dscp_marking").unwrap();
    put(
        &top,
        &format!("qos/policies/{pid}/bandwidth_limit_rules/{}", id(bw)),
        json!({"bandwidth_limit_rule": {"max_kbps": 2000}}),
    )
    .await;
    top.request(
        reqwest::Method::DELETE,
        &format!("qos/policies/{pid}/dscp_marking_rules/{}", id(dscp)),
        &[],
        None,
    )
    .await
    .unwrap();
    create(
        &top,
        &format!("qos/policies/{pid}/minimum_bandwidth_rules"),
        "minimum_bandwidth_rule",
        json!({"min_kbps": 500, "direction": "egress"}),
    )
    .await;
    // The copies still have the DSCP rule; one also has a rule of its own.
    let b2 = routing(&e, pid, "pod-2", RT_QOS).await.unwrap();
    let r2 = e.neutron(R2);
    let dscp2 = r2
        .request(
            reqwest::Method::GET,
            &format!("qos/policies/{b2}/dscp_marking_rules"),
            &[],
            None,
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(dscp2["dscp_marking_rules"].as_array().unwrap().len(), 1);
    create(
        &r2,
        &format!("qos/policies/{b2}/minimum_bandwidth_rules"),
        "minimum_bandwidth_rule",
        json!({"min_kbps": 10, "direction": "ingress"}),
    )
    .await;

    let want = vec![
        ("bandwidth_limit".to_owned(), json!([2000, 100])),
        ("minimum_bandwidth".to_owned(), json!([500, "egress"])),
    ];
    // The admin API's form of the job (rule_id#policy_id).
    assert!(e.run_job(SYNC_QOS_RULE, &format!("some-rule#{pid}")).await);
    for (region, pod) in [(R1, "pod-1"), (R2, "pod-2")] {
        let b = routing(&e, pid, pod, RT_QOS).await.unwrap();
        assert_eq!(rules_of(&e, region, &b), want, "{region}");
    }

    // Rerun, in the reference's form (the policy id alone): nothing changes.
    assert_rerun_changes_nothing(&e, SYNC_QOS_RULE, pid).await;

    // A pod that cannot be read fails the job; the redo finishes it.
    put(
        &top,
        &format!("qos/policies/{pid}/bandwidth_limit_rules/{}", id(bw)),
        json!({"bandwidth_limit_rule": {"max_kbps": 3000}}),
    )
    .await;
    e.cloud
        .neutron(R2)
        .fail_next(Some("GET"), &format!("/v2.0/qos/policies/{b2}"), 10, 500);
    assert!(!e.run_job(SYNC_QOS_RULE, pid).await);
    e.cloud.neutron(R2).clear_faults();
    assert!(e.run_job(SYNC_QOS_RULE, pid).await);
    assert_eq!(
        rules_of(&e, R2, &b2)[0],
        ("bandwidth_limit".to_owned(), json!([3000, 100]))
    );
}

#[tokio::test]
async fn qos_delete_removes_unbound_copies_and_their_routings() {
    let e = env(false).await;
    let w = qos_world(&e).await;
    qos_created(&e, &w).await;
    let pid = &w.policy;
    let b1 = routing(&e, pid, "pod-1", RT_QOS).await.unwrap();

    // Still bound to the bottom network: Neutron refuses, the job fails.
    assert!(!e.run_job(QOS_DELETE, &format!("pod-1#{pid}")).await);
    assert_eq!(e.cloud.neutron(R1).dump("policies").len(), 1);
    assert_eq!(
        routing(&e, pid, "pod-1", RT_QOS).await.as_deref(),
        Some(b1.as_str())
    );

    // Unbound (as the user's network update would do), the fan-out deletes all.
    for (region, b_net) in [(R1, &w.b_nets[0]), (R2, &w.b_nets[1])] {
        put(
            &e.neutron(region),
            &format!("networks/{b_net}"),
            json!({"network": {"qos_policy_id": null}}),
        )
        .await;
    }
    assert!(
        e.run_job(QOS_DELETE, &format!("not_specified_pod#{pid}"))
            .await
    );
    let runs = e.drain().await;
    assert_eq!(runs.len(), 2, "{runs:?}");
    assert!(runs.iter().all(|r| r.0 == QOS_DELETE && r.2), "{runs:?}");
    for (region, pod) in [(R1, "pod-1"), (R2, "pod-2")] {
        assert!(
            e.cloud.neutron(region).dump("policies").is_empty(),
            "{region}"
        );
        assert!(
            e.cloud.neutron(region).dump("qos_rules").is_empty(),
            "{region}"
        );
        assert_eq!(routing(&e, pid, pod, RT_QOS).await, None);
    }
    assert_rerun_changes_nothing(&e, QOS_DELETE, &format!("pod-1#{pid}")).await;
}

#[tokio::test]
async fn qos_delete_of_a_copy_already_gone_removes_its_routing() {
    let e = env(false).await;
    let w = qos_world(&e).await;
    assert!(
        e.run_job(QOS_CREATE, &format!("pod-2#{}#None#None", w.policy))
            .await
    );
    let b2 = routing(&e, &w.policy, "pod-2", RT_QOS).await.unwrap();
    e.neutron(R2)
        .delete::<tricircle_openstack::neutron::QosPolicy>(&b2)
        .await
        .unwrap();
    assert!(e.run_job(QOS_DELETE, &format!("pod-2#{}", w.policy)).await);
    assert_eq!(routing(&e, &w.policy, "pod-2", RT_QOS).await, None);
}

// ----- trunks ------------------------------------------------------------

struct TrunkWorld {
    trunk: String,
    b_trunk: String,
    /// Top sub-port candidates on net2: sp1 (a sub-port, vlan 101), sp2.
    sp1: Value,
    sp2: Value,
    /// Bottom copy of net2 in pod-1.
    b_net2: String,
    /// A top network without copy in pod-1, and a port on it.
    net3_port: String,
}

/// A top trunk (parent on net1, sub-port sp1 on net2 with VLAN 101) whose
/// bottom copy in pod-1 has the parent only, as the local plugin makes it.
async fn trunk_world(e: &Env) -> TrunkWorld {
    let top = e.neutron(TOP);
    let r1 = e.neutron(R1);
    let mut tops = Vec::new();
    let mut b_nets = Vec::new();
    for (name, cidr) in [
        ("net1", "10.0.1.0/24"),
        ("net2", "10.0.2.0/24"),
        ("net3", "10.0.3.0/24"),
    ] {
        let n = create(
            &top,
            "networks",
            "network",
            json!({"name": name, "tenant_id": PROJECT}),
        )
        .await;
        let s = create(
            &top,
            "subnets",
            "subnet",
            json!({"network_id": id(&n), "cidr": cidr,
            "ip_version": 4, "tenant_id": PROJECT}),
        )
        .await;
        if name != "net3" {
            let (bn, bs) = e.bottom_network(R1, "pod-1", (&n, &s), name).await;
            b_nets.push((id(&bn), id(&bs)));
        }
        tops.push(n);
    }
    let port = |net: &Value, name: &str| json!({"network_id": id(net), "name": name, "tenant_id": PROJECT});
    let parent = create(&top, "ports", "port", port(&tops[0], "parent")).await;
    let sp1 = create(&top, "ports", "port", port(&tops[1], "sp1")).await;
    let sp2 = create(&top, "ports", "port", port(&tops[1], "sp2")).await;
    let p3 = create(&top, "ports", "port", port(&tops[2], "sp3")).await;
    let trunk = create(
        &top,
        "trunks",
        "trunk",
        json!({"name": "trunk1", "tenant_id": PROJECT,
        "port_id": id(&parent), "description": "first",
        "sub_ports": [{"port_id": id(&sp1), "segmentation_type": "vlan", "segmentation_id": 101}]}),
    )
    .await;
    let b_parent = create(
        &r1,
        "ports",
        "port",
        json!({"network_id": b_nets[0].0, "name": id(&parent),
        "tenant_id": PROJECT, "mac_address": parent["mac_address"],
        "fixed_ips": [{"subnet_id": b_nets[0].1, "ip_address": first_ip(&parent)}]}),
    )
    .await;
    e.route(
        &id(&parent),
        "pod-1",
        ResourceType::Port.as_str(),
        &id(&b_parent),
    )
    .await;
    let b_trunk = create(
        &r1,
        "trunks",
        "trunk",
        json!({"name": "trunk1", "tenant_id": PROJECT,
        "port_id": id(&b_parent)}),
    )
    .await;
    e.route(&id(&trunk), "pod-1", RT_TRUNK, &id(&b_trunk)).await;
    TrunkWorld {
        trunk: id(&trunk),
        b_trunk: id(&b_trunk),
        sp1,
        sp2,
        b_net2: b_nets[1].0.clone(),
        net3_port: id(&p3),
    }
}

fn b_trunk(e: &Env, w: &TrunkWorld) -> Value {
    by_id(&e.cloud.neutron(R1).dump("trunks"), &w.b_trunk).clone()
}

/// (bottom port, VLAN) of the bottom trunk's sub-ports, sorted.
fn b_subports(e: &Env, w: &TrunkWorld) -> Vec<(String, i64)> {
    let mut v: Vec<(String, i64)> = b_trunk(e, w)["sub_ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["port_id"].as_str().unwrap().to_owned(),
                s["segmentation_id"].as_i64().unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

async fn seg_rule_jobs(e: &Env) -> usize {
    e.db.db
        .run(|c| {
            let f = jobs::JobFilter {
                job_type: Some(SEG_RULE_SETUP.to_owned()),
                ..Default::default()
            };
            jobs::list_jobs(c, &f, -1, None)
        })
        .await
        .unwrap()
        .into_iter()
        .filter(|j| {
            j.resource_id.as_deref() == Some(PROJECT)
                && j.status.as_deref() == Some(JobStatus::New.as_stored())
        })
        .count()
}

#[tokio::test]
async fn trunk_sync_copies_subports_and_attributes_into_the_pod() {
    let e = env(false).await;
    let w = trunk_world(&e).await;
    put(
        &e.neutron(TOP),
        &format!("trunks/{}", w.trunk),
        json!({"trunk": {"description": "second", "admin_state_up": false}}),
    )
    .await;

    assert!(e.run_job(TRUNK_SYNC, &format!("pod-1#{}", w.trunk)).await);
    let b_sp1 = routing(&e, &id(&w.sp1), "pod-1", ResourceType::Port.as_str())
        .await
        .expect("sp1 routed");
    assert_eq!(b_subports(&e, &w), vec![(b_sp1.clone(), 101)]);
    let t = b_trunk(&e, &w);
    assert_eq!(t["description"], "second");
    assert_eq!(t["admin_state_up"], false);
    // The copy of sp1: same MAC and address, on net2's copy, named after sp1.
    let ports = e.cloud.neutron(R1).dump("ports");
    let p = by_id(&ports, &b_sp1);
    assert_eq!(p["name"], id(&w.sp1).as_str());
    assert_eq!(p["mac_address"], w.sp1["mac_address"]);
    assert_eq!(first_ip(p), first_ip(&w.sp1));
    assert_eq!(p["network_id"], w.b_net2.as_str());
    assert_eq!(p["tenant_id"], PROJECT);
    // New ports need their security group rules: a seg_rule_setup job.
    assert_eq!(seg_rule_jobs(&e).await, 1);

    assert_rerun_changes_nothing(&e, TRUNK_SYNC, &format!("pod-1#{}", w.trunk)).await;
    // A pod without a copy of the trunk: nothing to do.
    assert_rerun_changes_nothing(&e, TRUNK_SYNC, &format!("pod-2#{}", w.trunk)).await;
}

#[tokio::test]
async fn trunk_sync_removes_and_adds_subports_as_the_top_changes() {
    let e = env(false).await;
    let w = trunk_world(&e).await;
    let r = format!("pod-1#{}", w.trunk);
    assert!(e.run_job(TRUNK_SYNC, &r).await);
    let b_sp1 = routing(&e, &id(&w.sp1), "pod-1", ResourceType::Port.as_str())
        .await
        .unwrap();

    // sp1 moves to VLAN 103 and sp2 joins on VLAN 102.
    let top = e.neutron(TOP);
    put(
        &top,
        &format!("trunks/{}/remove_subports", w.trunk),
        json!({"sub_ports": [{"port_id": id(&w.sp1)}]}),
    )
    .await;
    put(
        &top,
        &format!("trunks/{}/add_subports", w.trunk),
        json!({"sub_ports": [
        {"port_id": id(&w.sp1), "segmentation_type": "vlan", "segmentation_id": 103},
        {"port_id": id(&w.sp2), "segmentation_type": "vlan", "segmentation_id": 102}]}),
    )
    .await;
    assert!(e.run_job(TRUNK_SYNC, &r).await);
    let b_sp2 = routing(&e, &id(&w.sp2), "pod-1", ResourceType::Port.as_str())
        .await
        .unwrap();
    let mut want = vec![(b_sp1.clone(), 103), (b_sp2, 102)];
    want.sort();
    assert_eq!(b_subports(&e, &w), want);
    // sp1 kept its one copy.
    let copies = e.cloud.neutron(R1).dump("ports");
    assert_eq!(
        copies
            .iter()
            .filter(|p| p["name"] == id(&w.sp1).as_str())
            .count(),
        1
    );

    // Everything removed at the top goes away in the pod.
    put(
        &top,
        &format!("trunks/{}/remove_subports", w.trunk),
        json!({"sub_ports": [
        {"port_id": id(&w.sp1)}, {"port_id": id(&w.sp2)}]}),
    )
    .await;
    assert!(e.run_job(TRUNK_SYNC, &r).await);
    assert!(b_subports(&e, &w).is_empty());
    assert_rerun_changes_nothing(&e, TRUNK_SYNC, &r).await;
}

#[tokio::test]
async fn trunk_sync_deletes_the_copy_of_a_trunk_gone_at_the_top() {
    let e = env(false).await;
    let w = trunk_world(&e).await;
    let r = format!("pod-1#{}", w.trunk);
    assert!(e.run_job(TRUNK_SYNC, &r).await);
    e.neutron(TOP)
        .delete::<tricircle_openstack::neutron::Trunk>(&w.trunk)
        .await
        .unwrap();
    assert!(e.run_job(TRUNK_SYNC, &r).await);
    assert!(e.cloud.neutron(R1).dump("trunks").is_empty());
    assert_eq!(routing(&e, &w.trunk, "pod-1", RT_TRUNK).await, None);
    assert_rerun_changes_nothing(&e, TRUNK_SYNC, &r).await;
}

#[tokio::test]
async fn trunk_sync_fails_while_a_subport_cannot_be_copied_and_redoes_cleanly() {
    let e = env(false).await;
    let w = trunk_world(&e).await;
    let r = format!("pod-1#{}", w.trunk);

    // Neutron fails the sub-port's creation: the job fails, no lock is left
    // and the trunk has no sub-port yet.
    e.cloud
        .neutron(R1)
        .fail_next(Some("POST"), "/v2.0/ports", 10, 500);
    assert!(!e.run_job(TRUNK_SYNC, &r).await);
    e.cloud.neutron(R1).clear_faults();
    assert!(b_subports(&e, &w).is_empty());
    let (t, p) = (id(&w.sp1), "pod-1".to_owned());
    let row =
        e.db.db
            .run(move |c| {
                tricircle_db::routings::get_by_top_pod_type(c, &t, &p, ResourceType::Port.as_str())
            })
            .await
            .unwrap();
    assert!(row.is_none(), "{row:?}");
    assert!(e.run_job(TRUNK_SYNC, &r).await);
    assert_eq!(b_subports(&e, &w).len(), 1);

    // Plugin mode: a sub-port on a network without copy in the pod cannot
    // be made here (the local plugin makes network copies).
    put(
        &e.neutron(TOP),
        &format!("trunks/{}/add_subports", w.trunk),
        json!({"sub_ports": [
        {"port_id": w.net3_port, "segmentation_type": "vlan", "segmentation_id": 300}]}),
    )
    .await;
    let ports = e.cloud.neutron(R1).dump("ports").len();
    assert!(!e.run_job(TRUNK_SYNC, &r).await);
    assert_eq!(e.cloud.neutron(R1).dump("ports").len(), ports);
    assert_eq!(b_subports(&e, &w).len(), 1);
}

#[tokio::test]
async fn trunk_sync_in_stock_mode_copies_the_subport_network_too() {
    let e = env(true).await;
    let w = trunk_world(&e).await;
    put(
        &e.neutron(TOP),
        &format!("trunks/{}/add_subports", w.trunk),
        json!({"sub_ports": [
        {"port_id": w.net3_port, "segmentation_type": "vlan", "segmentation_id": 300}]}),
    )
    .await;
    let r = format!("pod-1#{}", w.trunk);
    assert!(e.run_job(TRUNK_SYNC, &r).await);
    let b3 = routing(&e, &w.net3_port, "pod-1", ResourceType::Port.as_str())
        .await
        .unwrap();
    assert!(b_subports(&e, &w).contains(&(b3.clone(), 300)));
    let ports = e.cloud.neutron(R1).dump("ports");
    let net3_copy = by_id(&ports, &b3)["network_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let nets = e.cloud.neutron(R1).dump("networks");
    assert!(by_id(&nets, &net3_copy)["name"]
        .as_str()
        .unwrap()
        .ends_with("#net3"));
    assert_rerun_changes_nothing(&e, TRUNK_SYNC, &r).await;
}
