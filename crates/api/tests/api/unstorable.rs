//! Values that pass validation but that a backend cannot store (issue 10,
//! point 4): too long for the column, NUL (PostgreSQL), characters outside
//! the Basic Multilingual Plane (MariaDB's `utf8` tables). Writes are a 400
//! naming the field and store nothing; lookups are a plain 404 or an empty
//! list — on every backend, since SQLite alone accepts them all.

use reqwest::Method;
use serde_json::{json, Value};

use crate::common::{self, send, TestApi, PROJECT};
use crate::each_backend;
use crate::pods::{create_pod, three_pods};
use crate::routings::{create_routing, routing};

const EMOJI: &str = "pod🙂";
const NUL: &str = "a\u{0}b";

async fn refused_and_not_found(api: &TestApi) {
    let (_, one, _) = three_pods(api).await;
    let long = |n: usize| "x".repeat(n);

    // Writes: a 400 that names the field.
    for (value, why) in [
        (long(256), "is longer than 255 characters"),
        (EMOJI.to_owned(), "outside the Basic Multilingual Plane"),
        (NUL.to_owned(), "contains a NUL character"),
    ] {
        let (s, body) = create_pod(api, json!({"region_name": value, "az_name": "azx"})).await;
        assert_eq!(s, 400, "{body}");
        let msg = body["badRequest"]["message"].as_str().unwrap();
        assert!(msg.contains("region_name") && msg.contains(why), "{msg}");
    }
    for (field, value, why) in [
        ("top_id", long(128), "longer than 127"),
        ("bottom_id", long(37), "longer than 36"),
        ("top_id", EMOJI.to_owned(), "Basic Multilingual Plane"),
        ("resource_type", NUL.to_owned(), "NUL"),
    ] {
        let mut r = routing("t-bad", &one, "network");
        r[field] = json!(value);
        let (s, body) = create_routing(api, r).await;
        assert_eq!(s, 400, "{field}: {body}");
        let msg = body["badRequest"]["message"].as_str().unwrap();
        assert!(msg.contains(field) && msg.contains(why), "{msg}");
    }
    let (s, r) = create_routing(api, routing("t-ok", &one, "network")).await;
    assert_eq!(s, 200, "{r}");
    let (s, body) = send(
        api.admin(
            Method::PUT,
            &format!("/v1.0/routings/{}", r["routing"]["id"]),
        )
        .json(&json!({"routing": {"bottom_id": EMOJI}})),
    )
    .await;
    assert_eq!(s, 400, "{body}");
    for job in [
        json!({"type": "seg_rule_setup", "project_id": long(37),
               "resource": {"project_id": long(37)}}),
        json!({"type": "seg_rule_setup", "project_id": EMOJI,
               "resource": {"project_id": EMOJI}}),
        json!({"type": "seg_rule_setup", "project_id": NUL,
               "resource": {"project_id": NUL}}),
        json!({"type": "configure_route", "project_id": PROJECT,
               "resource": {"router_id": EMOJI}}),
    ] {
        let (s, body) = send(
            api.admin(Method::POST, "/v1.0/jobs")
                .json(&json!({ "job": job })),
        )
        .await;
        assert_eq!(s, 400, "{job}: {body}");
        assert!(body["badRequest"]["message"].is_string(), "{body}");
    }

    // Nothing was stored by the refused writes.
    let (_, pods) = send(api.admin(Method::GET, "/v1.0/pods")).await;
    assert_eq!(pods["pods"].as_array().unwrap().len(), 3);
    let (_, routings) = send(api.admin(Method::GET, "/v1.0/routings")).await;
    let tops: Vec<&Value> = routings["routings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["top_id"])
        .collect();
    assert_eq!(tops, vec![&json!("t-ok")]);
    let (_, jobs) = send(api.admin(Method::GET, "/v1.0/jobs")).await;
    assert_eq!(jobs["jobs"], json!([]));

    // Lookups: not found, or nothing, never a 500.
    for id in ["pod%F0%9F%99%82", "a%00b", &long(300)] {
        let (s, body) = send(api.admin(Method::GET, &format!("/v1.0/pods/{id}"))).await;
        assert_eq!(s, 404, "pod {id}: {body}");
        let (s, body) = send(api.admin(Method::DELETE, &format!("/v1.0/pods/{id}"))).await;
        assert_eq!(s, 404, "pod delete {id}: {body}");
        let (s, body) = send(api.admin(Method::GET, &format!("/v1.0/jobs/{id}"))).await;
        assert_eq!(s, 404, "job {id}: {body}");
    }
    for query in [
        "top_id=pod%F0%9F%99%82",
        "bottom_id=a%00b",
        "pod_id=pod%F0%9F%99%82",
        "resource_type=a%00b",
        &format!("top_id={}", long(200)),
    ] {
        let (s, body) = send(api.admin(Method::GET, &format!("/v1.0/routings?{query}"))).await;
        assert_eq!((s, &body["routings"]), (200, &json!([])), "{query}");
    }
    for query in ["type=pod%F0%9F%99%82", "status=a%00b"] {
        let (s, body) = send(api.admin(Method::GET, &format!("/v1.0/jobs?{query}"))).await;
        assert_eq!((s, &body["jobs"]), (200, &json!([])), "{query}");
    }
}

#[actix_web::test]
async fn unstorable_values_are_400_or_not_found() {
    each_backend!(refused_and_not_found);
}
