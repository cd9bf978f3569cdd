//! An existing Tricircle database (as the original's migration 011 leaves
//! it, with rows) is adopted by `db_sync` and served by the API unchanged.

use reqwest::Method;
use serde_json::{json, Value};
use tricircle_api::Auth;
use tricircle_db::migrate;
use tricircle_db::testing::{backends_under_test, TestDb};
use tricircle_policy::Enforcer;

use crate::common::{send, TestApi};

const TOP_POD: &str = "8a5b3c2e-0d6f-4a1b-9c7e-000000000001";
const POD1: &str = "8a5b3c2e-0d6f-4a1b-9c7e-000000000002";
const POD2: &str = "8a5b3c2e-0d6f-4a1b-9c7e-000000000003";

fn ids(list: &Value, key: &str) -> Vec<String> {
    let mut v: Vec<String> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            x[key]
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| x[key].to_string())
        })
        .collect();
    v.sort();
    v
}

fn as_proj_a(api: &TestApi, m: Method, path: &str) -> reqwest::RequestBuilder {
    api.as_roles(m, path, "admin", "proj-a")
}

async fn reads_back(api: &TestApi) {
    let (s, body) = send(api.admin(Method::GET, "/v1.0/pods")).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(ids(&body["pods"], "pod_id"), vec![TOP_POD, POD1, POD2]);

    let (s, body) = send(api.admin(Method::GET, &format!("/v1.0/pods/{POD1}"))).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(
        body["pod"],
        json!({"pod_id": POD1, "region_name": "Pod1", "pod_az_name": "az1",
               "dc_name": "dc1", "az_name": "az1"})
    );

    // The caller's project's routings, newest first, with the original's
    // timestamps; routing 3 has no project and is shown by id only.
    let (s, body) = send(as_proj_a(api, Method::GET, "/v1.0/routings")).await;
    assert_eq!(s, 200, "{body}");
    let routings = body["routings"].as_array().unwrap();
    let got: Vec<i64> = routings.iter().map(|r| r["id"].as_i64().unwrap()).collect();
    assert_eq!(got, vec![2, 1], "{body}");
    assert_eq!(routings[0]["top_id"], "net-top-1");
    assert_eq!(routings[0]["bottom_id"], "net-bottom-2");
    assert_eq!(routings[0]["pod_id"], POD2);
    assert_eq!(routings[0]["created_at"], "2024-05-01 10:00:05");
    assert_eq!(routings[0]["updated_at"], "2024-05-02 08:30:00");

    let (s, body) = send(as_proj_a(
        api,
        Method::GET,
        &format!("/v1.0/routings?pod_id={POD1}"),
    ))
    .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(ids(&body["routings"], "bottom_id"), vec!["net-bottom-1"]);

    let (s, body) = send(api.admin(Method::GET, "/v1.0/routings/3")).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["routing"]["bottom_id"], Value::Null);
    assert_eq!(body["routing"]["resource_type"], "router");

    // Jobs from both tables, statuses shown as the API names them.
    // Jobs are listed per project too, like routings.
    let (s, body) = send(as_proj_a(api, Method::GET, "/v1.0/jobs")).await;
    assert_eq!(s, 200, "{body}");
    let mut statuses: Vec<(String, String)> = body["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| {
            (
                j["id"].as_str().unwrap().to_owned(),
                j["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    statuses.sort();
    let want: Vec<(String, String)> = [
        ("job-done-1", "SUCCESS"),
        ("job-fail-1", "FAIL"),
        ("job-new-1", "NEW"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(statuses, want, "{body}");

    let (s, body) =
        send(api.as_roles(Method::GET, "/v1.0/jobs?status=running", "admin", "proj-b")).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(ids(&body["jobs"], "id"), vec!["job-run-1"]);

    let (s, body) = send(api.admin(Method::GET, "/v1.0/jobs/job-new-1")).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(
        body["job"]["resource"],
        json!({"pod_id": "pod-1", "router_id": "router-top-1", "network_id": "net-top-1"})
    );

    // New rows get fresh ids after the adopted ones.
    let (s, body) = send(
        api.admin(Method::POST, "/v1.0/routings")
            .json(&json!({"routing": {
        "top_id": "net-top-9", "bottom_id": "net-bottom-9", "pod_id": POD1,
        "project_id": "proj-a", "resource_type": "network"}})),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["routing"]["id"], 4, "{body}");
}

#[actix_web::test]
async fn original_database_is_served_after_db_sync() {
    for backend in backends_under_test() {
        eprintln!("--- legacy database on {backend:?}");
        let db = TestDb::new(backend).expect("backend under test is configured");
        db.load_legacy_fixture();
        let report = migrate::db_sync(&db.db).unwrap();
        assert!(report.adopted, "{backend}: {report:?}");
        let api = TestApi::start_on(db, Auth::NoAuth, Enforcer::with_defaults()).await;
        reads_back(&api).await;
        api.stop().await;
    }
}
