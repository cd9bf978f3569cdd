//! `GET /v1.0/openapi.json` against the live API: every documented
//! operation is driven once and its answer checked against the documented
//! schema, and the operations driven are exactly the documented ones.

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::{json, Value};
use tricircle_db::jobs as db_jobs;

use crate::common::{self, read, TestApi, PROJECT};

use crate::each_backend;

struct Checker<'a> {
    api: &'a TestApi,
    doc: Value,
    driven: BTreeSet<(String, String)>,
}

impl Checker<'_> {
    /// Send `method path` (documented as `template`), expect `status`, and
    /// check the JSON answer against the documented schema; the body.
    async fn call(
        &mut self,
        method: Method,
        template: &str,
        path: &str,
        body: Option<Value>,
        status: u16,
    ) -> Value {
        let mut req = self.api.admin(method.clone(), path);
        if let Some(b) = &body {
            req = req.json(b);
        }
        let resp = req.send().await.unwrap();
        let media = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or("").trim().to_owned());
        let (got, answer) = read(resp).await;
        assert_eq!(got, status, "{method} {path}: {answer}");
        let m = method.as_str().to_ascii_lowercase();
        let operation = &self.doc["paths"][template][&m];
        assert!(
            operation.is_object(),
            "{method} {template} is not documented"
        );
        let response = &operation["responses"][status.to_string()];
        assert!(
            response.is_object(),
            "{method} {template}: {status} is not documented"
        );
        if let Some(media) = media {
            let content = &response["content"][&media];
            assert!(
                content.is_object(),
                "{method} {template}: {status} answered {media}, which is not documented"
            );
            let mut root = content["schema"].clone();
            root["components"] = self.doc["components"].clone();
            let validator = jsonschema::validator_for(&root).unwrap();
            let errors: Vec<String> = validator
                .iter_errors(&answer)
                .map(|e| format!("{e} at {}", e.instance_path))
                .collect();
            assert!(
                errors.is_empty(),
                "{method} {path} answered {answer} against {template}: {errors:?}"
            );
        }
        self.driven.insert((m, template.to_owned()));
        answer
    }
}

fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    let mut ops = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if method != "parameters" {
                ops.insert((method.clone(), path.clone()));
            }
        }
    }
    ops
}

async fn every_operation(api: &TestApi) {
    let resp = api
        .http
        .get(api.url("/v1.0/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let doc: Value = resp.json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let mut c = Checker {
        api,
        doc,
        driven: BTreeSet::new(),
    };
    use Method as M;

    c.call(M::GET, "/", "/", None, 200).await;
    c.call(M::GET, "/v1.0", "/v1.0", None, 200).await;
    c.call(
        M::GET,
        "/v1.0/openapi.json",
        "/v1.0/openapi.json",
        None,
        200,
    )
    .await;

    let pod = |region: &str, az: &str| json!({"pod": {"region_name": region, "az_name": az}});
    c.call(
        M::POST,
        "/v1.0/pods",
        "/v1.0/pods",
        Some(pod("CentralRegion", "")),
        200,
    )
    .await;
    let one = c
        .call(
            M::POST,
            "/v1.0/pods",
            "/v1.0/pods",
            Some(pod("RegionOne", "az1")),
            200,
        )
        .await["pod"]["pod_id"]
        .as_str()
        .unwrap()
        .to_owned();
    c.call(
        M::POST,
        "/v1.0/pods",
        "/v1.0/pods",
        Some(pod("CentralRegion2", "")),
        409,
    )
    .await;
    c.call(M::GET, "/v1.0/pods", "/v1.0/pods", None, 200).await;
    let pod_path = format!("/v1.0/pods/{one}");
    c.call(M::GET, "/v1.0/pods/{id}", &pod_path, None, 200)
        .await;
    c.call(M::GET, "/v1.0/pods/{id}", "/v1.0/pods/nothing", None, 404)
        .await;

    let routing = json!({"routing": {"top_id": "router-1", "bottom_id": "b-router-1",
        "pod_id": one, "project_id": PROJECT, "resource_type": "router"}});
    let rid = c
        .call(
            M::POST,
            "/v1.0/routings",
            "/v1.0/routings",
            Some(routing),
            200,
        )
        .await["routing"]["id"]
        .as_i64()
        .unwrap();
    c.call(
        M::GET,
        "/v1.0/routings",
        "/v1.0/routings?limit=1",
        None,
        200,
    )
    .await;
    let routing_path = format!("/v1.0/routings/{rid}");
    c.call(M::GET, "/v1.0/routings/{id}", &routing_path, None, 200)
        .await;
    c.call(
        M::PUT,
        "/v1.0/routings/{id}",
        &routing_path,
        Some(json!({"routing": {"bottom_id": "b-router-2"}})),
        200,
    )
    .await;

    let job = json!({"job": {"type": "configure_route", "project_id": PROJECT,
        "resource": {"router_id": "router-1"}}});
    let jid = c
        .call(M::POST, "/v1.0/jobs", "/v1.0/jobs", Some(job), 200)
        .await["job"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    c.call(M::GET, "/v1.0/jobs", "/v1.0/jobs", None, 200).await;
    c.call(M::GET, "/v1.0/jobs/detail", "/v1.0/jobs/detail", None, 200)
        .await;
    c.call(
        M::GET,
        "/v1.0/jobs/schemas",
        "/v1.0/jobs/schemas",
        None,
        200,
    )
    .await;
    let job_path = format!("/v1.0/jobs/{jid}");
    c.call(M::PUT, "/v1.0/jobs/{id}", &job_path, None, 200)
        .await;
    let fid = jid.clone();
    api.db
        .db
        .run(move |conn| {
            db_jobs::finish_job(conn, &fid, false, chrono::Utc::now().naive_utc())?;
            db_jobs::record_failure(conn, &fid, "RegionOne unreachable")
        })
        .await
        .unwrap();
    let shown = c
        .call(M::GET, "/v1.0/jobs/{id}", &job_path, None, 200)
        .await;
    assert_eq!(shown["job"]["failure_reason"], "RegionOne unreachable");
    c.call(M::DELETE, "/v1.0/jobs/{id}", &job_path, None, 200)
        .await;

    c.call(M::DELETE, "/v1.0/routings/{id}", &routing_path, None, 204)
        .await;
    c.call(M::DELETE, "/v1.0/pods/{id}", &pod_path, None, 200)
        .await;

    // The public paths: plain text and OpenMetrics are not JSON.
    let health = c
        .call(M::GET, "/healthcheck", "/healthcheck", None, 200)
        .await;
    assert_eq!(health, json!("OK"));
    c.call(M::GET, "/metrics", "/metrics", None, 200).await;

    let missing: Vec<_> = documented(&c.doc).difference(&c.driven).cloned().collect();
    assert!(
        missing.is_empty(),
        "documented but not checked: {missing:?}"
    );
}

#[actix_web::test]
async fn the_openapi_document_matches_the_live_api() {
    each_backend!(every_operation);
}
