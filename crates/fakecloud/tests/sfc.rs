//! The fake Neutron's networking-sfc resources: references between them and
//! the 409s they cause on delete.

use reqwest::Method;
use serde_json::{json, Value};
use tricircle_fakecloud::FakeNeutron;

struct Api {
    http: reqwest::Client,
    base: String,
}

impl Api {
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, format!("{}/{path}", self.base))
            .header("X-Auth-Token", "any-token");
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn create(&self, path: &str, key: &str, body: Value) -> Value {
        let (status, v) = self
            .call(Method::POST, path, Some(json!({ key: body })))
            .await;
        assert_eq!(status, 201, "POST {path}: {v}");
        v[key].clone()
    }
}

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn sfc_resources_reference_each_other_and_refuse_deletes_in_use() {
    let n = FakeNeutron::start("RegionOne").await;
    let api = Api {
        http: reqwest::Client::new(),
        base: format!("{}/v2.0", n.url()),
    };
    let net = api
        .create("networks", "network", json!({"name": "n"}))
        .await;
    api.create(
        "subnets",
        "subnet",
        json!({"network_id": id(&net), "cidr": "10.0.0.0/24", "ip_version": 4}),
    )
    .await;
    let mut ports = Vec::new();
    for name in ["src", "in", "out"] {
        ports.push(
            api.create(
                "ports",
                "port",
                json!({"network_id": id(&net), "name": name}),
            )
            .await,
        );
    }
    let pp = api
        .create(
            "sfc/port_pairs",
            "port_pair",
            json!({"ingress": id(&ports[1]), "egress": id(&ports[2]), "name": "pp"}),
        )
        .await;
    assert_eq!(pp["service_function_parameters"]["weight"], 1);
    // The same ingress/egress twice, or a port that does not exist.
    let (status, body) = api
        .call(
            Method::POST,
            "sfc/port_pairs",
            Some(json!({"port_pair": {"ingress": id(&ports[1]), "egress": id(&ports[2])}})),
        )
        .await;
    assert_eq!(
        (status, body["NeutronError"]["type"].as_str()),
        (409, Some("PortPairIngressEgressInUse"))
    );
    let (status, _) = api
        .call(
            Method::POST,
            "sfc/port_pairs",
            Some(json!({"port_pair": {"ingress": "nope", "egress": id(&ports[2])}})),
        )
        .await;
    assert_eq!(status, 404);

    let ppg = api
        .create(
            "sfc/port_pair_groups",
            "port_pair_group",
            json!({"port_pairs": [id(&pp)]}),
        )
        .await;
    let (status, body) = api
        .call(
            Method::POST,
            "sfc/port_pair_groups",
            Some(json!({"port_pair_group": {"port_pairs": [id(&pp)]}})),
        )
        .await;
    assert_eq!(
        (status, body["NeutronError"]["type"].as_str()),
        (409, Some("PortPairInUse")),
        "a pair belongs to one group"
    );
    let fc = api
        .create(
            "sfc/flow_classifiers",
            "flow_classifier",
            json!({"logical_source_port": id(&ports[0]), "protocol": "tcp"}),
        )
        .await;
    assert_eq!(fc["ethertype"], "IPv4");
    let pc = api
        .create(
            "sfc/port_chains",
            "port_chain",
            json!({"port_pair_groups": [id(&ppg)], "flow_classifiers": [id(&fc)]}),
        )
        .await;
    assert_eq!(pc["chain_parameters"]["correlation"], "mpls");
    assert_eq!(pc["chain_id"], 1);

    // Deletes refused while referenced, with networking-sfc's types.
    for (path, kind) in [
        (
            format!("sfc/flow_classifiers/{}", id(&fc)),
            "FlowClassifierInUse",
        ),
        (
            format!("sfc/port_pair_groups/{}", id(&ppg)),
            "PortPairGroupInUse",
        ),
        (format!("sfc/port_pairs/{}", id(&pp)), "PortPairInUse"),
    ] {
        let (status, body) = api.call(Method::DELETE, &path, None).await;
        assert_eq!(status, 409, "{path}");
        assert_eq!(body["NeutronError"]["type"], kind);
        assert!(body["NeutronError"]["message"]
            .as_str()
            .unwrap()
            .contains("in use"));
    }

    // Lists filter like the core resources.
    let (status, body) = api
        .call(
            Method::GET,
            &format!(
                "sfc/port_chains?project_id={}",
                pc["project_id"].as_str().unwrap()
            ),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["port_chains"].as_array().unwrap().len(), 1);

    // Emptying the group frees the pair; the chain goes first, then the rest.
    let (status, _) = api
        .call(
            Method::PUT,
            &format!("sfc/port_pair_groups/{}", id(&ppg)),
            Some(json!({"port_pair_group": {"port_pairs": []}})),
        )
        .await;
    assert_eq!(status, 200);
    for path in [
        format!("sfc/port_pairs/{}", id(&pp)),
        format!("sfc/port_chains/{}", id(&pc)),
        format!("sfc/flow_classifiers/{}", id(&fc)),
        format!("sfc/port_pair_groups/{}", id(&ppg)),
    ] {
        let (status, body) = api.call(Method::DELETE, &path, None).await;
        assert_eq!(status, 204, "{path}: {body}");
    }
    let (status, body) = api
        .call(Method::GET, &format!("sfc/port_chains/{}", id(&pc)), None)
        .await;
    assert_eq!(status, 404);
    assert_eq!(body["NeutronError"]["type"], "PortChainNotFound");
    assert!(n.dump("port_pairs").is_empty());
}
