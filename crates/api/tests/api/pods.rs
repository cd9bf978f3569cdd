use reqwest::Method;
use serde_json::{json, Value};

use crate::common::{self, send, TestApi};
use crate::each_backend;

pub async fn create_pod(api: &TestApi, pod: Value) -> (u16, Value) {
    send(
        api.admin(Method::POST, "/v1.0/pods")
            .json(&json!({ "pod": pod })),
    )
    .await
}

/// Register the top pod and two bottom pods; returns their ids.
pub async fn three_pods(api: &TestApi) -> (String, String, String) {
    let mut ids = Vec::new();
    for pod in [
        json!({"region_name": "CentralRegion"}),
        json!({"region_name": "RegionOne", "az_name": "az1", "pod_az_name": "paz1", "dc_name": "dc1"}),
        json!({"region_name": "RegionTwo", "az_name": "az2"}),
    ] {
        let (s, body) = create_pod(api, pod).await;
        assert_eq!(s, 200, "{body}");
        ids.push(body["pod"]["pod_id"].as_str().unwrap().to_owned());
    }
    (ids[0].clone(), ids[1].clone(), ids[2].clone())
}

async fn lifecycle(api: &TestApi) {
    let (s, body) = create_pod(
        api,
        json!({"region_name": " CentralRegion ", "pod_az_name": "ignored"}),
    )
    .await;
    assert_eq!(s, 200);
    let top = &body["pod"];
    assert_eq!(top["region_name"], "CentralRegion", "values are trimmed");
    assert_eq!(top["az_name"], "");
    assert_eq!(top["pod_az_name"], "", "the top pod has no pod_az_name");
    assert_eq!(top["dc_name"], "");
    let top_id = top["pod_id"].as_str().unwrap().to_owned();
    uuid::Uuid::parse_str(&top_id).unwrap();

    let (s, body) = create_pod(
        api,
        json!({"region_name": "RegionOne", "az_name": "az1", "pod_az_name": "paz1", "dc_name": "dc1"}),
    )
    .await;
    assert_eq!(s, 200);
    let one = body["pod"].clone();
    assert_eq!(one["az_name"], "az1");
    assert_eq!(one["pod_az_name"], "paz1");
    assert_eq!(one["dc_name"], "dc1");

    let (s, body) = send(api.admin(Method::GET, "/v1.0/pods")).await;
    assert_eq!(s, 200);
    let pods = body["pods"].as_array().unwrap();
    assert_eq!(pods.len(), 2);
    assert!(pods.contains(&one));

    let one_id = one["pod_id"].as_str().unwrap();
    let (s, body) = send(api.admin(Method::GET, &format!("/v1.0/pods/{one_id}"))).await;
    assert_eq!(s, 200);
    assert_eq!(body["pod"], one);

    let (s, body) = send(api.admin(Method::DELETE, &format!("/v1.0/pods/{one_id}"))).await;
    assert_eq!((s, body), (200, json!({})));
    let (s, body) = send(api.admin(Method::GET, &format!("/v1.0/pods/{one_id}"))).await;
    assert_eq!(s, 404);
    assert_eq!(body["message"], "Pod not found");
    let (s, body) = send(api.admin(Method::DELETE, &format!("/v1.0/pods/{one_id}"))).await;
    assert_eq!((s, body), (404, json!("Pod not found")));
    let (_, body) = send(api.admin(Method::GET, "/v1.0/pods")).await;
    assert_eq!(body["pods"].as_array().unwrap().len(), 1);
}

async fn validation(api: &TestApi) {
    // No top region yet: a top pod needs a region name.
    let (s, body) = create_pod(api, json!({"region_name": "  "})).await;
    assert_eq!(
        (s, body),
        (422, json!("Valid region_name is required for top region"))
    );
    let (s, body) = create_pod(api, json!({"az_name": "az1"})).await;
    assert_eq!(
        (s, body),
        (422, json!("Valid region_name is required for pod"))
    );

    assert_eq!(
        create_pod(api, json!({"region_name": "Central"})).await.0,
        200
    );
    let (s, body) = create_pod(api, json!({"region_name": "Other"})).await;
    assert_eq!((s, body), (409, json!("Top region already exists")));
    let (s, body) = create_pod(api, json!({"region_name": "Central", "az_name": "az1"})).await;
    assert_eq!(
        (s, body),
        (
            409,
            json!("Pod region name duplicated with the top region name")
        )
    );

    assert_eq!(
        create_pod(api, json!({"region_name": "R1", "az_name": "az1"}))
            .await
            .0,
        200
    );
    let (s, body) = create_pod(api, json!({"region_name": "R1", "az_name": "az9"})).await;
    assert_eq!((s, body), (409, json!("Record already exists")));

    // Malformed requests: never a 500.
    let (s, body) = send(
        api.admin(Method::POST, "/v1.0/pods")
            .json(&json!({"pod_xxx": {}})),
    )
    .await;
    assert_eq!(s, 400);
    assert_eq!(body["message"], "Request body pod not found");
    let (s, _) = send(api.admin(Method::POST, "/v1.0/pods")).await;
    assert_eq!(s, 400);
    let (s, body) = send(
        api.admin(Method::POST, "/v1.0/pods")
            .header("Content-Type", "application/json")
            .body("{not json"),
    )
    .await;
    assert_eq!(s, 400);
    assert!(body["badRequest"]["message"]
        .as_str()
        .unwrap()
        .contains("not valid JSON"));
    // A body not declared JSON (what a cross-site form can send) is
    // refused, even when it would parse; nothing is created.
    for (content_type, raw) in [
        (Some("application/x-www-form-urlencoded"), "pod=x"),
        (Some("text/plain"), r#"{"pod": {"region_name": "Sneaky"}}"#),
        (None, r#"{"pod": {"region_name": "Sneaky"}}"#),
    ] {
        let mut req = api.admin(Method::POST, "/v1.0/pods").body(raw);
        if let Some(t) = content_type {
            req = req.header("Content-Type", t);
        }
        let (s, body) = send(req).await;
        assert_eq!(s, 400, "{content_type:?}");
        assert_eq!(
            body["badRequest"]["message"],
            "Request body must be JSON, sent with Content-Type: application/json"
        );
    }
    let (_, body) = send(api.admin(Method::GET, "/v1.0/pods")).await;
    assert!(!body.to_string().contains("Sneaky"));
    let (s, _) = send(
        api.admin(Method::POST, "/v1.0/pods")
            .header("Content-Type", "application/json; charset=UTF-8")
            .body(r#"{"pod": {"region_name": "Declared", "az_name": "az-declared"}}"#),
    )
    .await;
    assert_eq!(s, 200);
    let (s, _) = send(api.admin(Method::POST, "/v1.0/pods").json(&json!([1, 2]))).await;
    assert_eq!(s, 400);
    let (s, _) = send(
        api.admin(Method::POST, "/v1.0/pods")
            .json(&json!({"pod": "x"})),
    )
    .await;
    assert_eq!(s, 400);
    let (s, body) = create_pod(api, json!({"region_name": 42, "az_name": "az3"})).await;
    assert_eq!(s, 400);
    assert_eq!(
        body["badRequest"]["message"],
        "Field region_name must be a string"
    );
    let huge = "x".repeat(2 * 1024 * 1024);
    let (s, body) = create_pod(api, json!({"region_name": huge, "az_name": "az3"})).await;
    assert_eq!(s, 400);
    assert!(body["badRequest"]["message"]
        .as_str()
        .unwrap()
        .contains("larger than"));
    // Nothing was stored by the refused requests (the third pod is the
    // one declared JSON above).
    let (_, body) = send(api.admin(Method::GET, "/v1.0/pods")).await;
    assert_eq!(body["pods"].as_array().unwrap().len(), 3);
}

async fn referenced_pod_is_kept(api: &TestApi) {
    let (_, one, _) = three_pods(api).await;
    let (s, _) = send(
        api.admin(Method::POST, "/v1.0/routings")
            .json(&json!({"routing": {
        "top_id": "t1", "bottom_id": "b1", "pod_id": one, "project_id": common::PROJECT,
        "resource_type": "network"}})),
    )
    .await;
    assert_eq!(s, 200);
    let (s, body) = send(api.admin(Method::DELETE, &format!("/v1.0/pods/{one}"))).await;
    assert_eq!(s, 409, "{body}");
    // Every error body has the reference's JSON shape.
    assert_eq!(body["conflictingRequest"]["code"], 409, "{body}");
    let (s, _) = send(api.admin(Method::GET, &format!("/v1.0/pods/{one}"))).await;
    assert_eq!(s, 200);
}

async fn non_admin_is_refused(api: &TestApi) {
    let (top, _, _) = three_pods(api).await;
    let member = |m: Method, p: &str| api.as_roles(m, p, "member,reader", common::PROJECT);
    let (s, body) = send(
        member(Method::POST, "/v1.0/pods")
            .json(&json!({"pod": {"region_name": "X", "az_name": "a"}})),
    )
    .await;
    assert_eq!(s, 401);
    assert_eq!(body["message"], "Unauthorized to create pods");
    assert_eq!(send(member(Method::GET, "/v1.0/pods")).await.0, 401);
    assert_eq!(
        send(member(Method::GET, &format!("/v1.0/pods/{top}")))
            .await
            .0,
        401
    );
    assert_eq!(
        send(member(Method::DELETE, &format!("/v1.0/pods/{top}")))
            .await
            .0,
        401
    );
    // "admin" must be a whole role name.
    assert_eq!(
        send(api.as_roles(Method::GET, "/v1.0/pods", "administrator", "p"))
            .await
            .0,
        401
    );
    // noauth reads X-Role, not X-Roles.
    let (s, _) = send(
        api.http
            .get(api.url("/v1.0/pods"))
            .header("X-Roles", "admin"),
    )
    .await;
    assert_eq!(s, 401);
    let (_, body) = send(api.admin(Method::GET, "/v1.0/pods")).await;
    assert_eq!(
        body["pods"].as_array().unwrap().len(),
        3,
        "nothing was deleted"
    );
}

#[actix_web::test]
async fn pod_lifecycle() {
    each_backend!(lifecycle);
}

#[actix_web::test]
async fn pod_validation_errors() {
    each_backend!(validation);
}

#[actix_web::test]
async fn pod_in_use_cannot_be_deleted() {
    each_backend!(referenced_pod_is_kept);
}

#[actix_web::test]
async fn pods_need_admin() {
    each_backend!(non_admin_is_refused);
}

/// Racing creations of a top pod (different regions, no az_name) and of a
/// bottom pod in the racing top's region: the rules hold under concurrency
/// (issue 10: up to 50 top pods were created).
async fn racing_top_pods(api: &TestApi) {
    let attempts = (0..50).map(|i| {
        let body = if i % 5 == 4 {
            json!({"region_name": "Top7", "az_name": format!("az{i}")})
        } else {
            json!({"region_name": format!("Top{i}")})
        };
        async move { create_pod(api, body).await }
    });
    let results = futures_util::future::join_all(attempts).await;
    for (s, body) in &results {
        assert!(*s == 200 || *s == 409, "{s} {body}");
    }
    let (_, body) = send(api.admin(Method::GET, "/v1.0/pods")).await;
    let pods = body["pods"].as_array().unwrap();
    let tops: Vec<&Value> = pods.iter().filter(|p| p["az_name"] == "").collect();
    assert_eq!(tops.len(), 1, "{pods:?}");
    let top_region = &tops[0]["region_name"];
    assert!(
        pods.iter()
            .filter(|p| p["az_name"] != "")
            .all(|p| &p["region_name"] != top_region),
        "a bottom pod in the top's region: {pods:?}"
    );
    let created = results.iter().filter(|(s, _)| *s == 200).count();
    assert_eq!(created, pods.len());
}

#[actix_web::test]
async fn one_top_pod_under_concurrent_creations() {
    each_backend!(racing_top_pods);
}
