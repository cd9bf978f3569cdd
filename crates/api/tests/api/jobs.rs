use reqwest::Method;
use serde_json::{json, Value};
use tricircle_db::jobs as db_jobs;

use crate::common::{self, send, TestApi, PROJECT};
use crate::each_backend;
use crate::pods::three_pods;
use crate::routings::{create_routing, routing};

async fn post_job(api: &TestApi, job: Value) -> (u16, Value) {
    send(
        api.admin(Method::POST, "/v1.0/jobs")
            .json(&json!({ "job": job })),
    )
    .await
}

/// A router routed in PROJECT, so router jobs on it are accepted.
async fn routed_router(api: &TestApi) -> (String, String) {
    let (_, one, _) = three_pods(api).await;
    assert_eq!(
        create_routing(api, routing("router-1", &one, "router"))
            .await
            .0,
        200
    );
    assert_eq!(
        create_routing(api, routing("net-1", &one, "network"))
            .await
            .0,
        200
    );
    (one, "router-1".to_owned())
}

/// An update_network job of PROJECT in `pod`; its id.
async fn network_job(api: &TestApi, pod: &str) -> String {
    let (_, body) = post_job(
        api,
        json!({"type": "update_network", "project_id": PROJECT,
        "resource": {"pod_id": pod, "network_id": "net-1"}}),
    )
    .await;
    body["job"]["id"].as_str().unwrap().to_owned()
}

/// Finishes a job successfully, as the job daemon would.
async fn succeed(api: &TestApi, id: &str) {
    let id = id.to_owned();
    let ts = chrono::Utc::now().naive_utc() + chrono::Duration::seconds(5);
    api.db
        .db
        .run(move |c| db_jobs::finish_job(c, &id, true, ts))
        .await
        .unwrap();
}

fn configure_route(router: &str) -> Value {
    json!({"type": "configure_route", "project_id": PROJECT, "resource": {"router_id": router}})
}

async fn schemas(api: &TestApi) {
    let (s, body) = send(api.admin(Method::GET, "/v1.0/jobs/schemas")).await;
    assert_eq!(s, 200);
    let schemas = body["schemas"].as_array().unwrap();
    assert_eq!(schemas.len(), 14);
    assert_eq!(
        schemas[0],
        json!({"type": "configure_route", "resource": ["router_id"]})
    );
    assert!(schemas.contains(
        &json!({"type": "router_setup", "resource": ["pod_id", "router_id", "network_id"]})
    ));
    assert!(schemas.contains(
        &json!({"type": "qos_create", "resource": ["pod_id", "policy_id", "res_type", "res_id"]})
    ));
}

async fn create_and_show(api: &TestApi) {
    let (pod, router) = routed_router(api).await;
    let (s, body) = post_job(api, configure_route(&router)).await;
    assert_eq!(s, 200, "{body}");
    let job = body["job"].clone();
    assert_eq!(job["type"], "configure_route");
    assert_eq!(job["status"], "NEW");
    assert_eq!(job["project_id"], PROJECT);
    assert_eq!(job["resource"], json!({"router_id": router}));
    assert!(job.get("resource_id").is_none() && job.get("extra_id").is_none());
    let id = job["id"].as_str().unwrap().to_owned();

    // The NEW row is in the database with the joined resource id.
    let stored = api
        .db
        .db
        .run({
            let id = id.clone();
            move |c| db_jobs::get_job(c, &id)
        })
        .await
        .unwrap();
    assert_eq!(stored.status.as_deref(), Some("3_New"));
    assert_eq!(stored.resource_id.as_deref(), Some("router-1"));

    let (s, body) = send(api.admin(Method::GET, &format!("/v1.0/jobs/{id}"))).await;
    assert_eq!((s, &body["job"]), (200, &job));

    let (s, body) = post_job(
        api,
        json!({"type": "router_setup", "project_id": PROJECT,
        "resource": {"pod_id": pod, "router_id": router, "network_id": "net-1"}}),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    let rid = body["job"]["id"].as_str().unwrap().to_owned();
    let stored = api
        .db
        .db
        .run(move |c| db_jobs::get_job(c, &rid))
        .await
        .unwrap();
    assert_eq!(stored.resource_id.unwrap(), format!("{pod}#router-1#net-1"));

    // Project-scoped types need no routing, but the projects must agree.
    let (s, _) = post_job(
        api,
        json!({"type": "seg_rule_setup", "project_id": PROJECT,
        "resource": {"project_id": PROJECT}}),
    )
    .await;
    assert_eq!(s, 200);

    let (s, body) = send(api.admin(Method::GET, "/v1.0/jobs/00000000-no-such-job")).await;
    assert_eq!(
        (s, body),
        (
            404,
            json!({"itemNotFound": {"code": 404, "message": "Resource not found"}})
        )
    );
}

async fn create_errors(api: &TestApi) {
    let (_, router) = routed_router(api).await;
    let cases: Vec<(Value, String)> = vec![
        (json!({"job_xxx": {}}), "Request body not found".into()),
        (
            json!({"job": {"project_id": PROJECT, "resource": {}}}),
            "type isn't provided in request body".into(),
        ),
        (
            json!({"job": {"type": "configure_route", "resource": {}}}),
            "project_id isn't provided in request body".into(),
        ),
        (
            json!({"job": {"type": " ", "project_id": PROJECT}}),
            "type can't be empty".into(),
        ),
        (
            json!({"job": {"type": "configure_route", "project_id": ""}}),
            "project_id can't be empty".into(),
        ),
        (
            json!({"job": {"type": "make_coffee", "project_id": PROJECT}}),
            "There is no such job type: make_coffee".into(),
        ),
        (
            json!({"job": {"type": "configure_route", "project_id": PROJECT, "resource": {"router_id": "podA#other-router"}}}),
            "Resource field router_id must not contain '#'".into(),
        ),
        (
            json!({"job": {"type": "network_setup", "project_id": PROJECT, "resource": {"pod_id": "p", "network_id": "n"}}}),
            "There is no such job type: network_setup".into(),
        ),
        (
            json!({"job": {"type": "configure_route", "project_id": PROJECT}}),
            "Failed to create job, because the resource is not specified".into(),
        ),
        (
            json!({"job": {"type": "router_setup", "project_id": PROJECT, "resource": {"router_id": router}}}),
            "Some required fields are not specified: {'pod_id', 'network_id'}".into(),
        ),
        (
            json!({"job": {"type": "configure_route", "project_id": PROJECT, "resource": {"router_id": router, "zzz": "1", "aaa": "2"}}}),
            "Some fields are redundant: {'aaa', 'zzz'}".into(),
        ),
        (
            json!({"job": {"type": "configure_route", "project_id": PROJECT, "resource": {"router_id": "other-router"}}}),
            format!("router other-router doesn't belong to the project {PROJECT}"),
        ),
        (
            json!({"job": {"type": "configure_route", "project_id": "project-b", "resource": {"router_id": router}}}),
            "router router-1 doesn't belong to the project project-b".into(),
        ),
        (
            json!({"job": {"type": "seg_rule_setup", "project_id": PROJECT, "resource": {"project_id": "project-b"}}}),
            format!(
                "Specified project_id {PROJECT} and resource's project_id project-b are different"
            ),
        ),
        (
            json!({"job": {"type": "configure_route", "project_id": PROJECT, "resource": {"router_id": 5}}}),
            "Resource field router_id must be a string".into(),
        ),
        (
            json!({"job": {"type": 7, "project_id": PROJECT}}),
            "Field type must be a string".into(),
        ),
        (
            json!({"job": "configure_route"}),
            "job must be a JSON object".into(),
        ),
    ];
    for (body, msg) in cases {
        let (s, got) = send(api.admin(Method::POST, "/v1.0/jobs").json(&body)).await;
        assert_eq!(
            (s, got),
            (400, json!({"badRequest": {"code": 400, "message": msg}})),
            "{body}"
        );
    }
    let (s, _) = send(api.admin(Method::POST, "/v1.0/jobs").body("]")).await;
    assert_eq!(s, 400);
    // None of that created a job.
    let (_, body) = send(api.admin(Method::GET, "/v1.0/jobs")).await;
    assert_eq!(body["jobs"], json!([]));
}

/// Concurrent POSTs (written together by the intake) are each answered as
/// if alone: every accepted one has its own row, a router of another
/// project or none is refused with its own message, and nothing else is
/// stored.
async fn concurrent_creates(api: &TestApi) {
    let (_, router) = routed_router(api).await;
    let posts = (0..24).map(|i| {
        let (project, target) = match i % 3 {
            0 => (PROJECT, "other-router"),
            1 => ("project-b", router.as_str()),
            _ => (PROJECT, router.as_str()),
        };
        let job = json!({"type": "configure_route", "project_id": project,
            "resource": {"router_id": target}});
        async move { (project, target, post_job(api, job).await) }
    });
    let mut ids = std::collections::BTreeSet::new();
    for (project, target, (status, body)) in futures_util::future::join_all(posts).await {
        if project == PROJECT && target == router {
            assert_eq!(status, 200, "{body}");
            assert_eq!(
                body["job"]["resource"]["router_id"],
                json!(router),
                "{body}"
            );
            assert_eq!(body["job"]["project_id"], json!(PROJECT), "{body}");
            ids.insert(body["job"]["id"].as_str().unwrap().to_owned());
        } else {
            let message = format!("router {target} doesn't belong to the project {project}");
            assert_eq!(
                (status, body),
                (
                    400,
                    json!({"badRequest": {"code": 400, "message": message}})
                )
            );
        }
    }
    assert_eq!(ids.len(), 8, "one row per accepted POST");
    let (_, body) = send(api.admin(Method::GET, "/v1.0/jobs")).await;
    let listed: std::collections::BTreeSet<String> = body["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(listed, ids);
}

async fn list_merges_live_and_finished(api: &TestApi) {
    let (pod, router) = routed_router(api).await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        let (_, body) = post_job(api, configure_route(&router)).await;
        ids.push(body["job"]["id"].as_str().unwrap().to_owned());
    }
    let net_job = network_job(api, &pod).await;
    // Finish the network job: it moves to the log table.
    succeed(api, &net_job).await;
    // Another project's job is invisible to this caller.
    api.db
        .db
        .run(|c| db_jobs::new_job(c, "project-b", "configure_route", "r9"))
        .await
        .unwrap();

    let (s, body) = send(api.admin(Method::GET, "/v1.0/jobs")).await;
    assert_eq!(s, 200);
    let jobs = body["jobs"].as_array().unwrap();
    assert_eq!(jobs.len(), 4, "{body}");
    // Live jobs first, newest first; finished ones after.
    // Finishing moved the job to the log under a new id, as the reference.
    assert_eq!(jobs[3]["type"], "update_network", "{body:#}");
    assert_ne!(jobs[3]["id"], json!(net_job));
    let log_id = jobs[3]["id"].as_str().unwrap().to_owned();
    assert_eq!(jobs[3]["status"], "SUCCESS");
    assert_eq!(
        jobs[3]["resource"],
        json!({"pod_id": pod, "network_id": "net-1"})
    );
    for j in &jobs[..3] {
        assert_eq!(j["status"], "NEW");
    }
    assert!(body.get("jobs_links").is_none());

    let (_, body) = send(api.admin(Method::GET, "/v1.0/jobs/detail?status=success")).await;
    assert_eq!(body["jobs"].as_array().unwrap().len(), 1);
    let (_, body) =
        send(api.admin(Method::GET, "/v1.0/jobs?status=NEW&type=configure_route")).await;
    assert_eq!(body["jobs"].as_array().unwrap().len(), 3);
    let (_, body) = send(api.admin(Method::GET, "/v1.0/jobs?status=fail")).await;
    assert_eq!(body["jobs"], json!([]));
    let (_, body) = send(api.admin(Method::GET, "/v1.0/jobs?type=update_network")).await;
    assert_eq!(body["jobs"].as_array().unwrap().len(), 1);

    // Pages of two: two live, then one live + one finished.
    let (_, body) = send(api.admin(Method::GET, "/v1.0/jobs?limit=2")).await;
    let page1: Vec<Value> = body["jobs"].as_array().unwrap().clone();
    assert_eq!(page1.len(), 2);
    let next = body["jobs_links"][0]["href"].as_str().unwrap().to_owned();
    assert_eq!(
        next,
        format!(
            "/v1.0/jobs?limit=2&marker={}",
            page1[1]["id"].as_str().unwrap()
        )
    );
    let (_, body) = send(api.admin(Method::GET, &next)).await;
    let page2 = body["jobs"].as_array().unwrap().clone();
    assert_eq!(page2.len(), 2, "{body}");
    assert_eq!(page2[1]["id"], json!(log_id));
    let mut seen: Vec<&str> = page1
        .iter()
        .chain(page2.iter())
        .map(|j| j["id"].as_str().unwrap())
        .collect();
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen.len(), 4);
    // A marker in the log table pages through the log.
    let (s, body) = send(api.admin(Method::GET, &format!("/v1.0/jobs?marker={log_id}"))).await;
    assert_eq!((s, body["jobs"].clone()), (200, json!([])));

    let (s, body) = send(api.admin(Method::GET, "/v1.0/jobs?marker=nope")).await;
    assert_eq!(
        (s, body["badRequest"]["message"].as_str()),
        (400, Some("Invalid marker: nope"))
    );
    let (s, body) = send(api.admin(Method::GET, "/v1.0/jobs?limit=x")).await;
    assert_eq!(s, 400);
    assert_eq!(
        body["badRequest"]["message"],
        "Limit should be an integer or a valid literal for int() rather than 'x'"
    );
    let (s, body) = send(api.admin(Method::GET, "/v1.0/jobs?resource_id=1")).await;
    assert_eq!(
        (s, body["badRequest"]["message"].as_str()),
        (400, Some("Unsupported filter type: resource_id"))
    );

    let (s, body) = send(api.admin(Method::GET, &format!("/v1.0/jobs/{log_id}"))).await;
    assert_eq!((s, body["job"]["status"].as_str()), (200, Some("SUCCESS")));
    let (s, _) = send(api.admin(Method::GET, &format!("/v1.0/jobs/{net_job}"))).await;
    assert_eq!(s, 404, "the live row is gone once finished");
    let _ = ids;
}

async fn delete_and_redo(api: &TestApi) {
    let (pod, router) = routed_router(api).await;
    let (_, body) = post_job(api, configure_route(&router)).await;
    let new_id = body["job"]["id"].as_str().unwrap().to_owned();

    // Redo a NEW job: a fresh NEW row is written.
    let resp = api
        .admin(Method::PUT, &format!("/v1.0/jobs/{new_id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let (_, body) = send(api.admin(Method::GET, "/v1.0/jobs")).await;
    assert_eq!(body["jobs"].as_array().unwrap().len(), 2);

    // A FAILed job may be redone and deleted.
    let fid = new_id.clone();
    api.db
        .db
        .run(move |c| db_jobs::finish_job(c, &fid, false, chrono::Utc::now().naive_utc()))
        .await
        .unwrap();
    let (_, body) = send(api.admin(Method::GET, &format!("/v1.0/jobs/{new_id}"))).await;
    assert_eq!(body["job"]["status"], "FAIL");
    // The reference answers the JSON `null` (the openstack client parses it).
    let resp = api
        .admin(Method::PUT, &format!("/v1.0/jobs/{new_id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.text().await.unwrap(), "null");
    let (s, body) = send(api.admin(Method::DELETE, &format!("/v1.0/jobs/{new_id}"))).await;
    assert_eq!((s, body), (200, json!({})));
    let (s, body) = send(api.admin(Method::DELETE, &format!("/v1.0/jobs/{new_id}"))).await;
    assert_eq!(
        (s, body),
        (
            404,
            json!({"itemNotFound": {"code": 404, "message": format!("Job {new_id} not found")}})
        )
    );
    let (s, body) = send(api.admin(Method::PUT, &format!("/v1.0/jobs/{new_id}"))).await;
    assert_eq!(
        (s, body["itemNotFound"]["message"].as_str()),
        (404, Some(format!("Job {new_id} not found").as_str()))
    );

    // A RUNNING job can be neither redone nor deleted.
    let running = api
        .db
        .db
        .run(|c| db_jobs::register_job(c, PROJECT, "update_network", "p#net-1"))
        .await
        .unwrap()
        .expect("lock taken");
    let rid = running.id.clone();
    let (s, body) = send(api.admin(Method::PUT, &format!("/v1.0/jobs/{rid}"))).await;
    assert_eq!(
        (s, body["badRequest"]["message"].as_str()),
        (
            400,
            Some(format!("Can't redo job {rid} which is running").as_str())
        )
    );
    let (s, body) = send(api.admin(Method::DELETE, &format!("/v1.0/jobs/{rid}"))).await;
    assert_eq!(
        (s, body["badRequest"]["message"].as_str()),
        (
            400,
            Some(format!("Failed to delete the running job {rid}").as_str())
        )
    );

    // A job finished successfully lives in the log: no redo, no delete.
    let done = network_job(api, &pod).await;
    succeed(api, &done).await;
    let log = api
        .db
        .db
        .run(move |c| {
            let f = db_jobs::JobFilter::default();
            db_jobs::list_jobs_from_log(c, &f, 10, None)
        })
        .await
        .unwrap();
    assert_eq!(log.len(), 1);
    let log_id = log[0].id.clone();
    let (s, body) = send(api.admin(Method::PUT, &format!("/v1.0/jobs/{log_id}"))).await;
    assert_eq!(
        (s, body["badRequest"]["message"].as_str()),
        (400, Some(format!("Job {log_id} is from job log").as_str()))
    );
    let (s, _) = send(api.admin(Method::DELETE, &format!("/v1.0/jobs/{log_id}"))).await;
    assert_eq!(s, 400);
}

async fn non_admin_is_refused(api: &TestApi) {
    let (_, router) = routed_router(api).await;
    let (_, body) = post_job(api, configure_route(&router)).await;
    let id = body["job"]["id"].as_str().unwrap().to_owned();
    let m = |meth: Method, p: &str| api.as_roles(meth, p, "member", PROJECT);
    let cases = [
        (
            m(Method::POST, "/v1.0/jobs").json(&json!({"job": configure_route(&router)})),
            "Unauthorized to create a job",
        ),
        (
            m(Method::GET, "/v1.0/jobs"),
            "Unauthorized to show all jobs",
        ),
        (
            m(Method::GET, "/v1.0/jobs/schemas"),
            "Unauthorized to show job information",
        ),
        (
            m(Method::GET, "/v1.0/jobs/detail"),
            "Unauthorized to show job information",
        ),
        (
            m(Method::GET, &format!("/v1.0/jobs/{id}")),
            "Unauthorized to show job information",
        ),
        (
            m(Method::PUT, &format!("/v1.0/jobs/{id}")),
            "Unauthorized to redo a job",
        ),
        (
            m(Method::DELETE, &format!("/v1.0/jobs/{id}")),
            "Unauthorized to delete a job",
        ),
    ];
    common::assert_forbidden(cases).await;
    let (_, body) = send(api.admin(Method::GET, "/v1.0/jobs")).await;
    assert_eq!(
        body["jobs"].as_array().unwrap().len(),
        1,
        "nothing created or deleted"
    );
}

#[actix_web::test]
async fn job_schemas() {
    each_backend!(schemas);
}

#[actix_web::test]
async fn job_create_and_show() {
    each_backend!(create_and_show);
}

#[actix_web::test]
async fn job_create_errors() {
    each_backend!(create_errors);
}

#[actix_web::test]
async fn job_creates_at_once_are_answered_one_by_one() {
    each_backend!(concurrent_creates);
}

#[actix_web::test]
async fn job_list_merges_tables() {
    each_backend!(list_merges_live_and_finished);
}

#[actix_web::test]
async fn job_delete_and_redo() {
    each_backend!(delete_and_redo);
}

/// A failed job shows why it failed (ours: `failure_reason`, on FAIL jobs
/// only), in show and list.
async fn failure_reasons_shown(api: &TestApi) {
    let (_, router) = routed_router(api).await;
    let (_, body) = post_job(api, configure_route(&router)).await;
    let id = body["job"]["id"].as_str().unwrap().to_owned();
    let (_, body) = send(api.admin(Method::GET, &format!("/v1.0/jobs/{id}"))).await;
    assert!(body["job"].get("failure_reason").is_none(), "{body}");

    let fid = id.clone();
    api.db
        .db
        .run(move |c| {
            db_jobs::finish_job(c, &fid, false, chrono::Utc::now().naive_utc())?;
            db_jobs::record_failure(c, &fid, "RegionOne: 503 from Neutron 🚀")
        })
        .await
        .unwrap();
    let (s, body) = send(api.admin(Method::GET, &format!("/v1.0/jobs/{id}"))).await;
    assert_eq!(s, 200);
    assert_eq!(body["job"]["status"], "FAIL");
    assert_eq!(
        body["job"]["failure_reason"],
        "RegionOne: 503 from Neutron 🚀"
    );
    let (_, body) = send(api.admin(Method::GET, "/v1.0/jobs?status=fail")).await;
    let listed: Vec<&Value> = body["jobs"].as_array().unwrap().iter().collect();
    assert_eq!(listed.len(), 1, "{body}");
    assert_eq!(
        listed[0]["failure_reason"],
        "RegionOne: 503 from Neutron 🚀"
    );
}

#[actix_web::test]
async fn failed_jobs_show_their_reason() {
    each_backend!(failure_reasons_shown);
}

#[actix_web::test]
async fn jobs_need_admin() {
    each_backend!(non_admin_is_refused);
}
