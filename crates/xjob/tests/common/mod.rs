//! Shared by the xjob integration tests: a routed router to post jobs on,
//! and the admin API on loopback casting through the broker.
#![allow(dead_code)]

use std::sync::Arc;

use serde_json::{json, Value};
use tricircle_api::dispatch::RpcDispatcher;
use tricircle_api::{AppState, Auth};
use tricircle_db::models::{NewPod, NewRouting};
use tricircle_db::{pods, routings, Db};
use tricircle_policy::Enforcer;
use tricircle_rpc::RpcConfig;

/// A pod and a routing for `router` in `project`, so that configure_route
/// jobs on it are accepted by the API.
pub fn seed_router(db: &Db, router: &str, project: &str) {
    let mut c = db.get().unwrap();
    let pod = pods::create(
        &mut c,
        &NewPod {
            pod_id: uuid::Uuid::new_v4().to_string(),
            region_name: format!("Region-{router}"),
            pod_az_name: None,
            dc_name: None,
            az_name: "az1".into(),
        },
    )
    .unwrap();
    routings::create(
        &mut c,
        &NewRouting {
            top_id: router.into(),
            bottom_id: Some(uuid::Uuid::new_v4().to_string()),
            pod_id: pod.pod_id,
            project_id: Some(project.into()),
            resource_type: "router".into(),
        },
    )
    .unwrap();
}

/// The admin API (noauth) on loopback, casting jobs through the broker.
pub fn start_api(db: &Db, rpc: RpcConfig) -> (String, actix_web::dev::ServerHandle) {
    tricircle_api::testing::serve(AppState {
        db: db.clone(),
        intake: tricircle_db::jobs::JobIntake::new(db.clone()),
        policy: Enforcer::with_defaults().into(),
        auth: Auth::NoAuth,
        pagination_max_limit: 2000,
        dispatcher: Arc::new(RpcDispatcher::start(rpc).unwrap()),
        central: None,
    })
}

/// POST a configure_route job as an admin of `project`; the status and body.
pub async fn post_job(
    http: &reqwest::Client,
    base: &str,
    router: &str,
    project: &str,
) -> (u16, Value) {
    let resp = http
        .post(format!("{base}/v1.0/jobs"))
        .header("X-Role", "admin")
        .header("X-Tenant-Id", project)
        .header("X-User-Id", "user-1")
        .json(
            &json!({"job": {"type": "configure_route", "project_id": project,
                               "resource": {"router_id": router}}}),
        )
        .timeout(std::time::Duration::from_secs(30))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}
