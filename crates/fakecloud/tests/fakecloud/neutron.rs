//! The fake Neutron over raw HTTP: auth, error bodies, filters, faults.

use reqwest::Method;
use serde_json::{json, Value};
use tricircle_fakecloud::{FakeCloud, FakeNeutron};

/// A caller of one fake Neutron's `/v2.0` API. The URL is read on every
/// call, so it follows the fake to a new port.
struct Api<'a> {
    neutron: &'a FakeNeutron,
    http: reqwest::Client,
    token: Option<String>,
}

impl<'a> Api<'a> {
    fn new(neutron: &'a FakeNeutron, token: &str) -> Self {
        Self {
            neutron,
            http: reqwest::Client::new(),
            token: Some(token.to_owned()),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}/v2.0/{path}", self.neutron.url())
    }

    /// Status and JSON body (null when there is none).
    async fn call_as(
        &self,
        token: Option<&str>,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self.http.request(method, self.url(path));
        if let Some(t) = token {
            req = req.header("X-Auth-Token", t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        self.call_as(self.token.as_deref(), method, path, body)
            .await
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        self.call(Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(Method::POST, path, Some(body)).await
    }

    async fn put(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(Method::PUT, path, Some(body)).await
    }

    async fn delete(&self, path: &str) -> (u16, Value) {
        self.call(Method::DELETE, path, None).await
    }
}

/// The id of the `resource` in an answer.
fn id(answer: &Value, resource: &str) -> String {
    answer[resource]["id"].as_str().unwrap().to_owned()
}

fn error_type(body: &Value) -> Option<&str> {
    body["NeutronError"]["type"].as_str()
}

fn error_message(body: &Value) -> &str {
    body["NeutronError"]["message"].as_str().unwrap()
}

/// A token the cloud's Keystone issued to its admin.
fn admin_token(cloud: &FakeCloud) -> String {
    cloud.keystone().issue_token(
        &cloud.admin_user_id,
        &cloud.admin_project_id,
        std::time::Duration::from_secs(60),
    )
}

#[tokio::test]
async fn tokens_are_checked_against_keystone() {
    let cloud = FakeCloud::builder().region("RegionOne").build().await;
    let api = Api::new(cloud.neutron("RegionOne"), &admin_token(&cloud));
    let (status, body) = api.call_as(None, Method::GET, "networks", None).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["code"], 401);
    let (status, _) = api
        .call_as(Some("bogus"), Method::GET, "networks", None)
        .await;
    assert_eq!(status, 401);
    let (status, body) = api
        .post("networks", json!({"network": {"name": "n"}}))
        .await;
    assert_eq!(status, 201);
    assert_eq!(body["network"]["tenant_id"], json!(cloud.admin_project_id));
    assert!(cloud.admin().client_section().contains("admin_password = "));
}

#[tokio::test]
async fn error_bodies_filters_and_fields() {
    let n = FakeNeutron::start("RegionOne").await;
    let api = Api::new(&n, "any-token");
    let (status, body) = api.get("networks/nope").await;
    assert_eq!(status, 404);
    assert_eq!(body["NeutronError"]["type"], "NetworkNotFound");
    assert_eq!(body["NeutronError"]["detail"], "");
    let (_, a) = api
        .post("networks", json!({"network": {"name": "a"}}))
        .await;
    api.post(
        "networks",
        json!({"network": {"name": "b", "router:external": true}}),
    )
    .await;
    let (_, l) = api.get("networks?name=a&name=b&fields=name").await;
    assert_eq!(l, json!({"networks": [{"name": "a"}, {"name": "b"}]}));
    let (_, l) = api.get("networks?router%3Aexternal=True&fields=name").await;
    assert_eq!(l, json!({"networks": [{"name": "b"}]}));
    let (status, body) = api.get("networks?colour=red").await;
    assert_eq!(status, 400, "{body}");
    let id = id(&a, "network");
    let (status, body) = api
        .put(
            &format!("networks/{id}"),
            json!({"network": {"status": "DOWN"}}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    let (status, _) = api.delete(&format!("networks/{id}")).await;
    assert_eq!(status, 204);
}

#[tokio::test]
async fn faults_down_and_moves() {
    let n = FakeNeutron::start("RegionOne").await;
    let api = Api::new(&n, "tok");
    n.fail_next(Some("GET"), "/v2.0/ports", 2, 503);
    let (s1, b1) = api.get("ports").await;
    let (s2, _) = api.get("ports").await;
    let (s3, _) = api.get("ports").await;
    assert_eq!((s1, s2, s3), (503, 503, 200));
    assert_eq!(b1["NeutronError"]["type"], "HTTPServiceUnavailable");
    assert_eq!(n.request_count("GET", "/v2.0/ports"), 3);

    let old = n.url();
    n.set_down(true).await.unwrap();
    assert!(
        api.http.get(api.url("ports")).send().await.is_err(),
        "connection refused"
    );
    n.set_down(false).await.unwrap();
    assert_eq!(n.url(), old);
    assert_eq!(api.get("ports").await.0, 200);

    let new = n.move_to_new_port().await.unwrap();
    assert_ne!(new, old);
    assert!(api
        .http
        .get(format!("{old}/v2.0/ports"))
        .send()
        .await
        .is_err());
    assert_eq!(api.get("ports").await.0, 200);
}

#[tokio::test]
async fn subnets_take_the_lowest_free_block_of_a_subnet_pool() {
    let n = FakeNeutron::start("RegionOne").await;
    let api = Api::new(&n, "t");
    let (st, pool) = api
        .post(
            "subnetpools",
            json!({"subnetpool": {"name": "bridge_subnet_pool", "prefixes": ["100.0.0.0/9"], "shared": true}}),
        )
        .await;
    assert_eq!(st, 201, "{pool}");
    let pool = &pool["subnetpool"];
    assert_eq!(pool["ip_version"], 4);
    // Strings, as Neutron answers them.
    assert_eq!(pool["min_prefixlen"], "8");
    assert_eq!(pool["default_prefixlen"], "8");
    let pool_id = pool["id"].as_str().unwrap();
    let mut cidrs = Vec::new();
    for name in ["a", "b"] {
        let (_, net) = api
            .post("networks", json!({"network": {"name": name}}))
            .await;
        let (st, sub) = api
            .post(
                "subnets",
                json!({"subnet": {"network_id": net["network"]["id"], "ip_version": 4,
                    "subnetpool_id": pool_id, "prefixlen": 24, "enable_dhcp": false}}),
            )
            .await;
        assert_eq!(st, 201, "{sub}");
        assert_eq!(sub["subnet"]["subnetpool_id"], pool_id);
        cidrs.push((
            sub["subnet"]["cidr"].clone(),
            sub["subnet"]["gateway_ip"].clone(),
        ));
    }
    assert_eq!(
        cidrs,
        vec![
            (json!("100.0.0.0/24"), json!("100.0.0.1")),
            (json!("100.0.1.0/24"), json!("100.0.1.1"))
        ]
    );
    let (_, net) = api
        .post("networks", json!({"network": {"name": "c"}}))
        .await;
    let net_id = net["network"]["id"].clone();
    // Outside the pool, overlapping an allocation, prefix out of bounds, no cidr nor pool.
    for body in [
        json!({"network_id": net_id, "ip_version": 4, "subnetpool_id": pool_id, "cidr": "10.0.0.0/24"}),
        json!({"network_id": net_id, "ip_version": 4, "subnetpool_id": pool_id, "cidr": "100.0.1.0/25"}),
        json!({"network_id": net_id, "ip_version": 4, "subnetpool_id": pool_id, "prefixlen": 7}),
        json!({"network_id": net_id, "ip_version": 4}),
    ] {
        let (st, err) = api.post("subnets", json!({ "subnet": body })).await;
        assert_eq!(st, 400, "{err}");
    }
    let (st, _) = api.delete(&format!("subnetpools/{pool_id}")).await;
    assert_eq!(st, 409, "a pool with allocations cannot be deleted");
    let (st, list) = api.get("subnetpools?name=bridge_subnet_pool").await;
    assert_eq!(st, 200);
    assert_eq!(list["subnetpools"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn ports_bind_as_ovs_only_on_hosts_with_an_ovs_agent() {
    let n = FakeNeutron::start("RegionOne").await;
    n.add_ovs_agent("compute1");
    let api = Api::new(&n, "any-token");
    let (_, net) = api
        .post("networks", json!({"network": {"name": "n"}}))
        .await;
    let net_id = id(&net, "network");
    let mut vif = Vec::new();
    for host in ["", "compute1", "compute2"] {
        let (status, p) = api
            .post(
                "ports",
                json!({"port": {"network_id": net_id, "binding:host_id": host}}),
            )
            .await;
        assert_eq!(status, 201);
        vif.push(p["port"]["binding:vif_type"].as_str().unwrap().to_owned());
        if host == "compute1" {
            assert_eq!(p["port"]["binding:vif_details"]["port_filter"], true);
            // Moving the port to a host without the agent unbinds it.
            let (_, moved) = api
                .put(
                    &format!("ports/{}", id(&p, "port")),
                    json!({"port": {"binding:host_id": "compute2"}}),
                )
                .await;
            assert_eq!(moved["port"]["binding:vif_type"], "binding_failed");
            assert_eq!(moved["port"]["binding:vif_details"], json!({}));
        }
    }
    assert_eq!(vif, ["unbound", "ovs", "binding_failed"]);
}

#[tokio::test]
async fn service_function_chains_check_references_and_use() {
    let cloud = FakeCloud::builder().region("RegionOne").build().await;
    let api = Api::new(cloud.neutron("RegionOne"), &admin_token(&cloud));
    let (_, net) = api
        .post("networks", json!({"network": {"name": "n"}}))
        .await;
    let net_id = id(&net, "network");
    let mut ports = Vec::new();
    for (name, device) in [
        ("src", "vm0"),
        ("in1", "sf1"),
        ("out1", "sf1"),
        ("in2", "sf2"),
        ("out2", "sf2"),
    ] {
        let (st, p) = api
            .post(
                "ports",
                json!({"port": {"network_id": net_id, "name": name, "device_id": device}}),
            )
            .await;
        assert_eq!(st, 201);
        ports.push(id(&p, "port"));
    }
    let (src, in1, out1, in2, out2) = (&ports[0], &ports[1], &ports[2], &ports[3], &ports[4]);
    let pair = |body: Value| api.post("sfc/port_pairs", json!({ "port_pair": body }));
    let group = |body: Value| api.post("sfc/port_pair_groups", json!({ "port_pair_group": body }));
    let classifier =
        |body: Value| api.post("sfc/flow_classifiers", json!({ "flow_classifier": body }));
    let chain = |body: Value| api.post("sfc/port_chains", json!({ "port_chain": body }));

    // Port pairs: required fields, existing ports of one device, used once.
    let (st, body) = pair(json!({"ingress": in1})).await;
    assert_eq!(st, 400, "{body}");
    let (st, body) =
        pair(json!({"ingress": in1, "egress": "0b7e3c1e-0000-4000-8000-000000000000"})).await;
    assert_eq!((st, error_type(&body)), (404, Some("PortPairPortNotFound")));
    let (st, body) = pair(json!({"ingress": in1, "egress": out2})).await;
    assert_eq!(
        (st, error_type(&body)),
        (400, Some("PortPairIngressEgressDifferentHost"))
    );
    let (st, pp1) = pair(json!({"name": "pp1", "ingress": in1, "egress": out1})).await;
    assert_eq!(st, 201, "{pp1}");
    let pp1 = id(&pp1, "port_pair");
    let (st, body) = pair(json!({"ingress": in1, "egress": out1})).await;
    assert_eq!(st, 400);
    assert!(error_message(&body).contains("used by"), "{body}");
    let (_, pp2) = pair(json!({"ingress": in2, "egress": out2})).await;
    let pp2 = id(&pp2, "port_pair");

    // Groups: a pair in one group only.
    let (st, g1) = group(json!({"port_pairs": [pp1]})).await;
    assert_eq!(st, 201);
    assert_eq!(g1["port_pair_group"]["group_id"], 1);
    let g1 = id(&g1, "port_pair_group");
    let (st, body) = group(json!({"port_pairs": [pp1]})).await;
    assert_eq!(st, 409);
    assert!(error_message(&body).contains("in use"), "{body}");
    let (st, _) = api.delete(&format!("sfc/port_pairs/{pp1}")).await;
    assert_eq!(st, 409, "a pair in a group is in use");
    let (_, g2) = group(json!({"port_pairs": [pp2]})).await;
    let g2 = id(&g2, "port_pair_group");

    // Classifiers: existing source port required, overlapping ones refused.
    let (st, body) = classifier(json!({"protocol": "tcp"})).await;
    assert_eq!(st, 400, "{body}");
    let (st, fc) = classifier(json!({"logical_source_port": src, "protocol": "TCP",
        "destination_port_range_min": 80, "destination_port_range_max": 80,
        "source_ip_prefix": "10.0.0.0/24"}))
    .await;
    assert_eq!(st, 201, "{fc}");
    assert_eq!(fc["flow_classifier"]["ethertype"], "IPv4");
    assert_eq!(fc["flow_classifier"]["protocol"], "tcp");
    let fc = id(&fc, "flow_classifier");
    let (st, body) =
        classifier(json!({"logical_source_port": src, "source_ip_prefix": "10.0.0.7/32"})).await;
    assert_eq!(st, 400);
    assert!(error_message(&body).contains("conflicts with"), "{body}");

    // Chains: existing groups and classifiers, a classifier in one chain.
    let (st, _) = chain(json!({"flow_classifiers": [fc]})).await;
    assert_eq!(st, 400, "port_pair_groups is required");
    let (st, body) =
        chain(json!({"port_pair_groups": ["0b7e3c1e-0000-4000-8000-000000000000"]})).await;
    assert_eq!(
        (st, error_type(&body)),
        (404, Some("PortPairGroupNotFound"))
    );
    let (st, pc) =
        chain(json!({"name": "pc", "port_pair_groups": [g1], "flow_classifiers": [fc]})).await;
    assert_eq!(st, 201, "{pc}");
    assert_eq!(pc["port_chain"]["chain_id"], 1);
    assert_eq!(pc["port_chain"]["chain_parameters"]["correlation"], "mpls");
    let pc = id(&pc, "port_chain");
    let (st, body) = chain(json!({"port_pair_groups": [g2], "flow_classifiers": [fc]})).await;
    assert_eq!((st, error_type(&body)), (409, Some("FlowClassifierInUse")));
    let (st, _) = chain(json!({"port_pair_groups": [g1]})).await;
    assert_eq!(st, 409, "the same group list as another chain");
    for path in [
        format!("sfc/flow_classifiers/{fc}"),
        format!("sfc/port_pair_groups/{g1}"),
    ] {
        let (st, body) = api.delete(&path).await;
        assert_eq!(st, 409, "{path}: {body}");
        assert!(error_message(&body).contains("in use"));
    }

    // Updates: the chain takes a second group; filters and GET work.
    let (st, body) = api
        .put(
            &format!("sfc/port_chains/{pc}"),
            json!({"port_chain": {"port_pair_groups": [g1, g2], "description": "d"}}),
        )
        .await;
    assert_eq!(st, 200, "{body}");
    assert_eq!(body["port_chain"]["port_pair_groups"], json!([g1, g2]));
    let (st, _) = api
        .put(
            &format!("sfc/port_pairs/{pp1}"),
            json!({"port_pair": {"ingress": in2}}),
        )
        .await;
    assert_eq!(st, 400, "ingress is read-only");
    let (_, body) = api.get(&format!("sfc/port_pairs?ingress={in2}")).await;
    assert_eq!(body["port_pairs"].as_array().unwrap().len(), 1);
    assert_eq!(body["port_pairs"][0]["id"], json!(pp2));

    // Teardown in the only order networking-sfc allows.
    let (st, _) = api.delete(&format!("sfc/port_chains/{pc}")).await;
    assert_eq!(st, 204);
    let (st, _) = api.get(&format!("sfc/port_chains/{pc}")).await;
    assert_eq!(st, 404);
    for path in [
        format!("sfc/flow_classifiers/{fc}"),
        format!("sfc/port_pair_groups/{g1}"),
        format!("sfc/port_pairs/{pp1}"),
    ] {
        let (st, body) = api.delete(&path).await;
        assert_eq!(st, 204, "{path}: {body}");
    }
    assert_eq!(cloud.neutron("RegionOne").dump("port_pairs").len(), 1);
}

#[tokio::test]
async fn notifications_are_kept_or_sent_to_a_subscriber() {
    let n = FakeNeutron::start("RegionOne").await;
    let api = Api::new(&n, "any-token");
    let (status, _) = api
        .post("networks", json!({"network": {"name": "a"}}))
        .await;
    assert_eq!(status, 201);
    // Those kept before the subscription come first, then the new ones as
    // they are published; nothing is kept for take_notifications any more.
    let mut rx = n.subscribe_notifications();
    let (status, _) = api
        .post("networks", json!({"network": {"name": "b"}}))
        .await;
    assert_eq!(status, 201);
    let got: Vec<(String, Value)> = [rx.recv().await.unwrap(), rx.recv().await.unwrap()]
        .into_iter()
        .map(|e| (e.event_type, e.payload["network"]["name"].clone()))
        .collect();
    assert_eq!(
        got,
        [
            ("network.create.end".to_owned(), json!("a")),
            ("network.create.end".to_owned(), json!("b"))
        ]
    );
    assert!(n.take_notifications().is_empty());
    // A subscriber gone: kept again.
    drop(rx);
    api.post("networks", json!({"network": {"name": "c"}}))
        .await;
    assert_eq!(n.take_notifications().len(), 1);
}

#[tokio::test]
async fn a_cloud_on_fixed_ports() {
    // Three consecutive free ports: try bases until one is free (another
    // process may hold any of them).
    let mut built = None;
    for base in (20_000..60_000).step_by(997).take(40) {
        let b = FakeCloud::builder()
            .region("CentralRegion")
            .region("RegionOne")
            .port_base(base)
            .try_build()
            .await;
        if let Ok(cloud) = b {
            built = Some((base, cloud));
            break;
        }
    }
    let (base, cloud) = built.expect("no three consecutive free ports in 40 tries");
    assert_eq!(cloud.keystone().url(), format!("http://127.0.0.1:{base}"));
    assert_eq!(
        cloud.neutron("CentralRegion").url(),
        format!("http://127.0.0.1:{}", base + 1)
    );
    assert_eq!(
        cloud.neutron("RegionOne").url(),
        format!("http://127.0.0.1:{}", base + 2)
    );
    // The same ports cannot be had twice: the error names the service.
    let e = FakeCloud::builder()
        .port_base(base)
        .try_build()
        .await
        .unwrap_err();
    assert!(
        e.to_string()
            .contains(&format!("keystone on 127.0.0.1:{base}")),
        "{e}"
    );
}

/// A held request is recorded at once but answered only once released;
/// requests of other paths pass meanwhile.
#[tokio::test]
async fn held_requests_wait_for_their_release() {
    let n = FakeNeutron::start("RegionOne").await;
    let held = n.hold_next(Some("GET"), "/v2.0/ports", 1);
    let api = Api::new(&n, "tok");
    let answered = std::sync::atomic::AtomicBool::new(false);
    let call = async {
        let got = api.get("ports").await.0;
        answered.store(true, std::sync::atomic::Ordering::SeqCst);
        got
    };
    let meanwhile = async {
        wait_until(|| n.request_count("GET", "/v2.0/ports") == 1).await;
        assert_eq!(api.get("networks").await.0, 200, "other paths are not held");
        assert!(
            !answered.load(std::sync::atomic::Ordering::SeqCst),
            "answered while held"
        );
        held.release();
    };
    let (got, ()) = tokio::join!(call, meanwhile);
    assert_eq!(got, 200);
    assert_eq!(api.get("ports").await.0, 200, "only the next one was held");
}

/// Polls `cond` (every 10 ms, 10 s at most).
async fn wait_until(cond: impl Fn() -> bool) {
    for _ in 0..1000 {
        if cond() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("condition not met within 10 s");
}
