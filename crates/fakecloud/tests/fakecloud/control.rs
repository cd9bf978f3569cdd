//! The control endpoint another process drives the fake cloud with
//! (`tricircle_fakecloud::control`, used by scripts/chaos): faults per
//! region and the resources each region created.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tricircle_fakecloud::FakeCloud;

struct Fixture {
    cloud: Arc<FakeCloud>,
    control: tricircle_fakecloud::control::ControlServer,
    http: reqwest::Client,
    token: String,
}

impl Fixture {
    async fn new() -> Fixture {
        let cloud = Arc::new(
            FakeCloud::builder()
                .region("CentralRegion")
                .region("RegionOne")
                .build()
                .await,
        );
        let token = cloud.keystone().issue_token(
            &cloud.admin_user_id,
            &cloud.admin_project_id,
            Duration::from_secs(60),
        );
        let control = tricircle_fakecloud::control::serve(cloud.clone(), 0).unwrap();
        Fixture {
            cloud,
            control,
            http: reqwest::Client::new(),
            token,
        }
    }

    /// A control call: status and JSON body (null when there is none).
    async fn control(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&str>,
    ) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.control.url()));
        if let Some(b) = body {
            req = req.body(b.to_owned());
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn fault(&self, region: &str, body: &str) -> u16 {
        let path = format!("/regions/{region}/fault");
        self.control(reqwest::Method::PUT, &path, Some(body))
            .await
            .0
    }

    async fn heal(&self, region: &str) -> u16 {
        let path = format!("/regions/{region}/fault");
        self.control(reqwest::Method::DELETE, &path, None).await.0
    }

    /// A Neutron call to `region`: the status, or None when the
    /// connection is refused.
    async fn neutron(
        &self,
        region: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Option<(u16, Value)> {
        let url = format!("{}/v2.0/{path}", self.cloud.neutron(region).url());
        let mut req = self
            .http
            .request(method, url)
            .header("X-Auth-Token", &self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        match req.send().await {
            Ok(resp) => {
                let status = resp.status().as_u16();
                Some((status, resp.json().await.unwrap_or(Value::Null)))
            }
            Err(e) if e.is_connect() => None,
            Err(e) => panic!("{e}"),
        }
    }

    async fn list_networks(&self, region: &str) -> Option<u16> {
        self.neutron(region, reqwest::Method::GET, "networks", None)
            .await
            .map(|(s, _)| s)
    }
}

#[tokio::test]
async fn describes_the_cloud() {
    let f = Fixture::new().await;
    let (status, body) = f.control(reqwest::Method::GET, "/", None).await;
    assert_eq!(status, 200);
    assert_eq!(body["keystone"], json!(f.cloud.keystone().url()));
    assert_eq!(
        body["regions"]["RegionOne"],
        json!(f.cloud.neutron("RegionOne").url())
    );
}

#[tokio::test]
async fn a_region_fails_vanishes_and_comes_back_alone() {
    let f = Fixture::new().await;
    assert_eq!(
        f.fault("RegionOne", r#"{"fault": "status", "status": 500}"#)
            .await,
        204
    );
    let (status, body) = f
        .neutron(
            "RegionOne",
            reqwest::Method::POST,
            "networks",
            Some(json!({"network": {"name": "n"}})),
        )
        .await
        .unwrap();
    assert_eq!(status, 500);
    assert_eq!(body["NeutronError"]["type"], "HTTPInternalServerError");
    assert!(
        f.cloud.neutron("RegionOne").dump("networks").is_empty(),
        "nothing handled"
    );
    assert_eq!(f.list_networks("CentralRegion").await, Some(200));

    // A new fault replaces the old one.
    assert_eq!(f.fault("RegionOne", r#"{"fault": "down"}"#).await, 204);
    assert_eq!(f.list_networks("RegionOne").await, None);
    assert_eq!(f.list_networks("CentralRegion").await, Some(200));

    assert_eq!(f.heal("RegionOne").await, 204);
    assert_eq!(f.list_networks("RegionOne").await, Some(200));
}

#[tokio::test]
async fn a_hung_region_still_does_what_it_was_asked_afterwards() {
    let f = Fixture::new().await;
    assert_eq!(
        f.fault("RegionOne", r#"{"fault": "hang", "seconds": 0.5}"#)
            .await,
        204
    );
    let started = Instant::now();
    let (status, _) = f
        .neutron(
            "RegionOne",
            reqwest::Method::POST,
            "networks",
            Some(json!({"network": {"name": "late"}})),
        )
        .await
        .unwrap();
    assert_eq!(status, 201);
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "the request was held"
    );
    assert_eq!(f.heal("RegionOne").await, 204);
    let names: Vec<Value> = f
        .cloud
        .neutron("RegionOne")
        .dump("networks")
        .iter()
        .map(|n| n["name"].clone())
        .collect();
    assert_eq!(names, [json!("late")]);
}

#[tokio::test]
async fn a_hang_of_writes_only_lets_reads_through() {
    let f = Fixture::new().await;
    assert_eq!(
        f.fault(
            "RegionOne",
            r#"{"fault": "hang", "seconds": 30, "method": "POST"}"#
        )
        .await,
        204
    );
    // Reads answer at once (a held one would outlast the test's patience).
    let quick = tokio::time::timeout(Duration::from_secs(10), f.list_networks("RegionOne"));
    assert_eq!(quick.await.unwrap(), Some(200));
    let post = f.neutron(
        "RegionOne",
        reqwest::Method::POST,
        "networks",
        Some(json!({"network": {"name": "held"}})),
    );
    assert!(
        tokio::time::timeout(Duration::from_millis(300), post)
            .await
            .is_err(),
        "the create is held"
    );
    assert_eq!(f.heal("RegionOne").await, 204);
}

#[tokio::test]
async fn creates_are_listed_per_region_bulk_items_each() {
    let f = Fixture::new().await;
    let (s, net) = f
        .neutron(
            "RegionOne",
            reqwest::Method::POST,
            "networks",
            Some(json!({"network": {"name": "n1"}})),
        )
        .await
        .unwrap();
    assert_eq!(s, 201);
    let net_id = net["network"]["id"].as_str().unwrap();
    let (s, _) = f
        .neutron(
            "RegionOne",
            reqwest::Method::POST,
            "ports",
            Some(json!({"ports": [{"name": "p1", "network_id": net_id}, {"name": "p2", "network_id": net_id}]})),
        )
        .await
        .unwrap();
    assert_eq!(s, 201);
    // Refused creates are not listed.
    let (s, _) = f
        .neutron(
            "RegionOne",
            reqwest::Method::POST,
            "ports",
            Some(json!({"port": {"name": "p3", "network_id": "nope"}})),
        )
        .await
        .unwrap();
    assert_eq!(s, 404);
    let (s, body) = f
        .control(reqwest::Method::GET, "/regions/RegionOne/creates", None)
        .await;
    assert_eq!(s, 200);
    let got: Vec<(String, String)> = body["creates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["collection"].as_str().unwrap().to_owned(),
                c["name"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let want = [("networks", "n1"), ("ports", "p1"), ("ports", "p2")]
        .map(|(c, n)| (c.to_owned(), n.to_owned()));
    assert_eq!(got, want);
    assert_eq!(body["creates"][0]["id"], json!(net_id));
    assert_eq!(
        body["creates"][0]["project_id"],
        json!(f.cloud.admin_project_id)
    );
    let (_, central) = f
        .control(reqwest::Method::GET, "/regions/CentralRegion/creates", None)
        .await;
    assert_eq!(central, json!({"creates": []}));
}

#[tokio::test]
async fn bad_requests_are_refused_and_change_nothing() {
    let f = Fixture::new().await;
    assert_eq!(f.fault("Nowhere", r#"{"fault": "down"}"#).await, 404);
    assert_eq!(f.heal("Nowhere").await, 404);
    for bad in [
        "not json",
        r#"{"fault": "melt"}"#,
        r#"{"fault": "status"}"#,
        r#"{"fault": "status", "status": 42}"#,
        r#"{"fault": "hang", "seconds": -1}"#,
        r#"{"fault": "down", "extra": 1}"#,
        r#"{"fault": "hang", "seconds": 1, "method": "GE T"}"#,
    ] {
        assert_eq!(f.fault("RegionOne", bad).await, 400, "{bad}");
    }
    assert_eq!(f.list_networks("RegionOne").await, Some(200));
    let (s, _) = f.control(reqwest::Method::GET, "/nothing", None).await;
    assert_eq!(s, 404);
}
