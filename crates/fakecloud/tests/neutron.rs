//! The fake Neutron over raw HTTP: auth, error bodies, filters, faults.

use serde_json::{json, Value};
use tricircle_fakecloud::{FakeCloud, FakeNeutron};

async fn call(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = http.request(method, url);
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

#[tokio::test]
async fn tokens_are_checked_against_keystone() {
    let cloud = FakeCloud::builder().region("RegionOne").build().await;
    let http = reqwest::Client::new();
    let url = format!("{}/v2.0/networks", cloud.neutron("RegionOne").url());
    let (status, body) = call(&http, reqwest::Method::GET, url.clone(), None, None).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["code"], 401);
    let (status, _) = call(
        &http,
        reqwest::Method::GET,
        url.clone(),
        Some("bogus"),
        None,
    )
    .await;
    assert_eq!(status, 401);
    let token = cloud.keystone().issue_token(
        &cloud.admin_user_id,
        &cloud.admin_project_id,
        std::time::Duration::from_secs(60),
    );
    let (status, body) = call(
        &http,
        reqwest::Method::POST,
        url.clone(),
        Some(&token),
        Some(json!({"network": {"name": "n"}})),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(body["network"]["tenant_id"], json!(cloud.admin_project_id));
    assert!(cloud.admin().client_section().contains("admin_password = "));
}

#[tokio::test]
async fn error_bodies_filters_and_fields() {
    let n = FakeNeutron::start("RegionOne").await;
    let http = reqwest::Client::new();
    let t = Some("any-token");
    let base = format!("{}/v2.0", n.url());
    let (status, body) = call(
        &http,
        reqwest::Method::GET,
        format!("{base}/networks/nope"),
        t,
        None,
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(body["NeutronError"]["type"], "NetworkNotFound");
    assert_eq!(body["NeutronError"]["detail"], "");
    let (_, a) = call(
        &http,
        reqwest::Method::POST,
        format!("{base}/networks"),
        t,
        Some(json!({"network": {"name": "a"}})),
    )
    .await;
    call(
        &http,
        reqwest::Method::POST,
        format!("{base}/networks"),
        t,
        Some(json!({"network": {"name": "b", "router:external": true}})),
    )
    .await;
    let (_, l) = call(
        &http,
        reqwest::Method::GET,
        format!("{base}/networks?name=a&name=b&fields=name"),
        t,
        None,
    )
    .await;
    assert_eq!(l, json!({"networks": [{"name": "a"}, {"name": "b"}]}));
    let (_, l) = call(
        &http,
        reqwest::Method::GET,
        format!("{base}/networks?router%3Aexternal=True&fields=name"),
        t,
        None,
    )
    .await;
    assert_eq!(l, json!({"networks": [{"name": "b"}]}));
    let (status, body) = call(
        &http,
        reqwest::Method::GET,
        format!("{base}/networks?colour=red"),
        t,
        None,
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let id = a["network"]["id"].as_str().unwrap();
    let (status, body) = call(
        &http,
        reqwest::Method::PUT,
        format!("{base}/networks/{id}"),
        t,
        Some(json!({"network": {"status": "DOWN"}})),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let (status, _) = call(
        &http,
        reqwest::Method::DELETE,
        format!("{base}/networks/{id}"),
        t,
        None,
    )
    .await;
    assert_eq!(status, 204);
}

#[tokio::test]
async fn faults_down_and_moves() {
    let n = FakeNeutron::start("RegionOne").await;
    let http = reqwest::Client::new();
    let t = Some("tok");
    let url = || format!("{}/v2.0/ports", n.url());
    n.fail_next(Some("GET"), "/v2.0/ports", 2, 503);
    let (s1, b1) = call(&http, reqwest::Method::GET, url(), t, None).await;
    let (s2, _) = call(&http, reqwest::Method::GET, url(), t, None).await;
    let (s3, _) = call(&http, reqwest::Method::GET, url(), t, None).await;
    assert_eq!((s1, s2, s3), (503, 503, 200));
    assert_eq!(b1["NeutronError"]["type"], "HTTPServiceUnavailable");
    assert_eq!(n.request_count("GET", "/v2.0/ports"), 3);

    let old = n.url();
    n.set_down(true).await.unwrap();
    assert!(http.get(url()).send().await.is_err(), "connection refused");
    n.set_down(false).await.unwrap();
    assert_eq!(n.url(), old);
    assert_eq!(
        call(&http, reqwest::Method::GET, url(), t, None).await.0,
        200
    );

    let new = n.move_to_new_port().await.unwrap();
    assert_ne!(new, old);
    assert!(http.get(format!("{old}/v2.0/ports")).send().await.is_err());
    assert_eq!(
        call(&http, reqwest::Method::GET, url(), t, None).await.0,
        200
    );
}

#[tokio::test]
async fn subnets_take_the_lowest_free_block_of_a_subnet_pool() {
    let n = FakeNeutron::start("RegionOne").await;
    let http = reqwest::Client::new();
    let base = format!("{}/v2.0", n.url());
    let post = |path: &str, body: Value| {
        call(
            &http,
            reqwest::Method::POST,
            format!("{base}/{path}"),
            Some("t"),
            Some(body),
        )
    };
    let (st, pool) = post(
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
        let (_, net) = post("networks", json!({"network": {"name": name}})).await;
        let (st, sub) = post(
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
    let (_, net) = post("networks", json!({"network": {"name": "c"}})).await;
    let net_id = net["network"]["id"].clone();
    // Outside the pool, overlapping an allocation, prefix out of bounds, no cidr nor pool.
    for body in [
        json!({"network_id": net_id, "ip_version": 4, "subnetpool_id": pool_id, "cidr": "10.0.0.0/24"}),
        json!({"network_id": net_id, "ip_version": 4, "subnetpool_id": pool_id, "cidr": "100.0.1.0/25"}),
        json!({"network_id": net_id, "ip_version": 4, "subnetpool_id": pool_id, "prefixlen": 7}),
        json!({"network_id": net_id, "ip_version": 4}),
    ] {
        let (st, err) = post("subnets", json!({ "subnet": body })).await;
        assert_eq!(st, 400, "{err}");
    }
    let (st, _) = call(
        &http,
        reqwest::Method::DELETE,
        format!("{base}/subnetpools/{pool_id}"),
        Some("t"),
        None,
    )
    .await;
    assert_eq!(st, 409, "a pool with allocations cannot be deleted");
    let (st, list) = call(
        &http,
        reqwest::Method::GET,
        format!("{base}/subnetpools?name=bridge_subnet_pool"),
        Some("t"),
        None,
    )
    .await;
    assert_eq!(st, 200);
    assert_eq!(list["subnetpools"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn ports_bind_as_ovs_only_on_hosts_with_an_ovs_agent() {
    let n = FakeNeutron::start("RegionOne").await;
    n.add_ovs_agent("compute1");
    let http = reqwest::Client::new();
    let t = Some("any-token");
    let base = format!("{}/v2.0", n.url());
    let (_, net) = call(
        &http,
        reqwest::Method::POST,
        format!("{base}/networks"),
        t,
        Some(json!({"network": {"name": "n"}})),
    )
    .await;
    let net_id = net["network"]["id"].as_str().unwrap().to_owned();
    let mut vif = Vec::new();
    for host in ["", "compute1", "compute2"] {
        let (status, p) = call(
            &http,
            reqwest::Method::POST,
            format!("{base}/ports"),
            t,
            Some(json!({"port": {"network_id": net_id, "binding:host_id": host}})),
        )
        .await;
        assert_eq!(status, 201);
        vif.push(p["port"]["binding:vif_type"].as_str().unwrap().to_owned());
        if host == "compute1" {
            assert_eq!(p["port"]["binding:vif_details"]["port_filter"], true);
            // Moving the port to a host without the agent unbinds it.
            let id = p["port"]["id"].as_str().unwrap();
            let (_, moved) = call(
                &http,
                reqwest::Method::PUT,
                format!("{base}/ports/{id}"),
                t,
                Some(json!({"port": {"binding:host_id": "compute2"}})),
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
    let http = reqwest::Client::new();
    let base = format!("{}/v2.0", cloud.neutron("RegionOne").url());
    let token = cloud.keystone().issue_token(
        &cloud.admin_user_id,
        &cloud.admin_project_id,
        std::time::Duration::from_secs(60),
    );
    let go = |m: reqwest::Method, path: &str, body: Option<Value>| {
        let (http, url, token) = (http.clone(), format!("{base}/{path}"), token.clone());
        async move { call(&http, m, url, Some(&token), body).await }
    };
    use reqwest::Method as M;
    let (_, net) = go(M::POST, "networks", Some(json!({"network": {"name": "n"}}))).await;
    let net_id = net["network"]["id"].as_str().unwrap().to_owned();
    let mut ports = Vec::new();
    for (name, device) in [
        ("src", "vm0"),
        ("in1", "sf1"),
        ("out1", "sf1"),
        ("in2", "sf2"),
        ("out2", "sf2"),
    ] {
        let (st, p) = go(
            M::POST,
            "ports",
            Some(json!({"port": {"network_id": net_id, "name": name, "device_id": device}})),
        )
        .await;
        assert_eq!(st, 201);
        ports.push(p["port"]["id"].as_str().unwrap().to_owned());
    }
    let (src, in1, out1, in2, out2) = (&ports[0], &ports[1], &ports[2], &ports[3], &ports[4]);

    // Port pairs: required fields, existing ports of one device, used once.
    let (st, body) = go(
        M::POST,
        "sfc/port_pairs",
        Some(json!({"port_pair": {"ingress": in1}})),
    )
    .await;
    assert_eq!(st, 400, "{body}");
    let (st, body) = go(
        M::POST,
        "sfc/port_pairs",
        Some(json!({"port_pair": {"ingress": in1, "egress": "0b7e3c1e-0000-4000-8000-000000000000"}})),
    )
    .await;
    assert_eq!(
        (st, body["NeutronError"]["type"].as_str()),
        (404, Some("PortPairPortNotFound"))
    );
    let (st, body) = go(
        M::POST,
        "sfc/port_pairs",
        Some(json!({"port_pair": {"ingress": in1, "egress": out2}})),
    )
    .await;
    assert_eq!(
        (st, body["NeutronError"]["type"].as_str()),
        (400, Some("PortPairIngressEgressDifferentHost"))
    );
    let (st, pp1) = go(
        M::POST,
        "sfc/port_pairs",
        Some(json!({"port_pair": {"name": "pp1", "ingress": in1, "egress": out1}})),
    )
    .await;
    assert_eq!(st, 201, "{pp1}");
    let pp1 = pp1["port_pair"]["id"].as_str().unwrap().to_owned();
    let (st, body) = go(
        M::POST,
        "sfc/port_pairs",
        Some(json!({"port_pair": {"ingress": in1, "egress": out1}})),
    )
    .await;
    assert_eq!(st, 400);
    assert!(
        body["NeutronError"]["message"]
            .as_str()
            .unwrap()
            .contains("used by"),
        "{body}"
    );
    let (_, pp2) = go(
        M::POST,
        "sfc/port_pairs",
        Some(json!({"port_pair": {"ingress": in2, "egress": out2}})),
    )
    .await;
    let pp2 = pp2["port_pair"]["id"].as_str().unwrap().to_owned();

    // Groups: a pair in one group only.
    let (st, g1) = go(
        M::POST,
        "sfc/port_pair_groups",
        Some(json!({"port_pair_group": {"port_pairs": [pp1]}})),
    )
    .await;
    assert_eq!(st, 201);
    assert_eq!(g1["port_pair_group"]["group_id"], 1);
    let g1 = g1["port_pair_group"]["id"].as_str().unwrap().to_owned();
    let (st, body) = go(
        M::POST,
        "sfc/port_pair_groups",
        Some(json!({"port_pair_group": {"port_pairs": [pp1]}})),
    )
    .await;
    assert_eq!(st, 409);
    assert!(
        body["NeutronError"]["message"]
            .as_str()
            .unwrap()
            .contains("in use"),
        "{body}"
    );
    let (st, _) = go(M::DELETE, &format!("sfc/port_pairs/{pp1}"), None).await;
    assert_eq!(st, 409, "a pair in a group is in use");
    let (_, g2) = go(
        M::POST,
        "sfc/port_pair_groups",
        Some(json!({"port_pair_group": {"port_pairs": [pp2]}})),
    )
    .await;
    let g2 = g2["port_pair_group"]["id"].as_str().unwrap().to_owned();

    // Classifiers: existing source port required, overlapping ones refused.
    let (st, body) = go(
        M::POST,
        "sfc/flow_classifiers",
        Some(json!({"flow_classifier": {"protocol": "tcp"}})),
    )
    .await;
    assert_eq!(st, 400, "{body}");
    let (st, fc) = go(
        M::POST,
        "sfc/flow_classifiers",
        Some(
            json!({"flow_classifier": {"logical_source_port": src, "protocol": "TCP",
            "destination_port_range_min": 80, "destination_port_range_max": 80,
            "source_ip_prefix": "10.0.0.0/24"}}),
        ),
    )
    .await;
    assert_eq!(st, 201, "{fc}");
    assert_eq!(fc["flow_classifier"]["ethertype"], "IPv4");
    assert_eq!(fc["flow_classifier"]["protocol"], "tcp");
    let fc = fc["flow_classifier"]["id"].as_str().unwrap().to_owned();
    let (st, body) = go(
        M::POST,
        "sfc/flow_classifiers",
        Some(json!({"flow_classifier": {"logical_source_port": src, "source_ip_prefix": "10.0.0.7/32"}})),
    )
    .await;
    assert_eq!(st, 400);
    assert!(
        body["NeutronError"]["message"]
            .as_str()
            .unwrap()
            .contains("conflicts with"),
        "{body}"
    );

    // Chains: existing groups and classifiers, a classifier in one chain.
    let (st, _) = go(
        M::POST,
        "sfc/port_chains",
        Some(json!({"port_chain": {"flow_classifiers": [fc]}})),
    )
    .await;
    assert_eq!(st, 400, "port_pair_groups is required");
    let (st, body) = go(
        M::POST,
        "sfc/port_chains",
        Some(json!({"port_chain": {"port_pair_groups": ["0b7e3c1e-0000-4000-8000-000000000000"]}})),
    )
    .await;
    assert_eq!(
        (st, body["NeutronError"]["type"].as_str()),
        (404, Some("PortPairGroupNotFound"))
    );
    let (st, pc) = go(
        M::POST,
        "sfc/port_chains",
        Some(json!({"port_chain": {"name": "pc", "port_pair_groups": [g1], "flow_classifiers": [fc]}})),
    )
    .await;
    assert_eq!(st, 201, "{pc}");
    assert_eq!(pc["port_chain"]["chain_id"], 1);
    assert_eq!(pc["port_chain"]["chain_parameters"]["correlation"], "mpls");
    let pc = pc["port_chain"]["id"].as_str().unwrap().to_owned();
    let (st, body) = go(
        M::POST,
        "sfc/port_chains",
        Some(json!({"port_chain": {"port_pair_groups": [g2], "flow_classifiers": [fc]}})),
    )
    .await;
    assert_eq!(
        (st, body["NeutronError"]["type"].as_str()),
        (409, Some("FlowClassifierInUse"))
    );
    let (st, _) = go(
        M::POST,
        "sfc/port_chains",
        Some(json!({"port_chain": {"port_pair_groups": [g1]}})),
    )
    .await;
    assert_eq!(st, 409, "the same group list as another chain");
    for path in [
        format!("sfc/flow_classifiers/{fc}"),
        format!("sfc/port_pair_groups/{g1}"),
    ] {
        let (st, body) = go(M::DELETE, &path, None).await;
        assert_eq!(st, 409, "{path}: {body}");
        assert!(body["NeutronError"]["message"]
            .as_str()
            .unwrap()
            .contains("in use"));
    }

    // Updates: the chain takes a second group; filters and GET work.
    let (st, body) = go(
        M::PUT,
        &format!("sfc/port_chains/{pc}"),
        Some(json!({"port_chain": {"port_pair_groups": [g1, g2], "description": "d"}})),
    )
    .await;
    assert_eq!(st, 200, "{body}");
    assert_eq!(body["port_chain"]["port_pair_groups"], json!([g1, g2]));
    let (st, _) = go(
        M::PUT,
        &format!("sfc/port_pairs/{pp1}"),
        Some(json!({"port_pair": {"ingress": in2}})),
    )
    .await;
    assert_eq!(st, 400, "ingress is read-only");
    let (_, body) = go(M::GET, &format!("sfc/port_pairs?ingress={in2}"), None).await;
    assert_eq!(body["port_pairs"].as_array().unwrap().len(), 1);
    assert_eq!(body["port_pairs"][0]["id"], json!(pp2));

    // Teardown in the only order networking-sfc allows.
    let (st, _) = go(M::DELETE, &format!("sfc/port_chains/{pc}"), None).await;
    assert_eq!(st, 204);
    let (st, _) = go(M::GET, &format!("sfc/port_chains/{pc}"), None).await;
    assert_eq!(st, 404);
    for path in [
        format!("sfc/flow_classifiers/{fc}"),
        format!("sfc/port_pair_groups/{g1}"),
        format!("sfc/port_pairs/{pp1}"),
    ] {
        let (st, body) = go(M::DELETE, &path, None).await;
        assert_eq!(st, 204, "{path}: {body}");
    }
    assert_eq!(cloud.neutron("RegionOne").dump("port_pairs").len(), 1);
}
