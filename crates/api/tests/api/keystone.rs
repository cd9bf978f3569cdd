//! `auth_strategy = keystone` against the fake Keystone.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;
use tricircle_api::Auth;
use tricircle_db::testing::backends_under_test;
use tricircle_fakecloud::keystone::FakeKeystone;
use tricircle_openstack::keystone::{KeystoneAuthConfig, TokenValidator};
use tricircle_policy::Enforcer;

use crate::common::{send, TestApi};

struct Cloud {
    ks: FakeKeystone,
    admin_user: String,
    member_user: String,
    project: String,
}

async fn cloud() -> Cloud {
    let ks = FakeKeystone::start().await;
    let service = ks.add_project("service");
    ks.add_user("tricircle", "service-secret", &service, &["service"]);
    let project = ks.add_project("demo");
    let admin_user = ks.add_user("alice", "pw-a", &project, &["admin", "member"]);
    let member_user = ks.add_user("bob", "pw-b", &project, &["member"]);
    Cloud {
        ks,
        admin_user,
        member_user,
        project,
    }
}

async fn api_for(cloud: &Cloud, cache_ttl: Duration) -> TestApi {
    let mut cfg = KeystoneAuthConfig::new(cloud.ks.url(), "tricircle", "service-secret", "service");
    cfg.cache_ttl = cache_ttl;
    let auth = Auth::Keystone {
        validator: TokenValidator::new(cfg).unwrap(),
        www_authenticate_uri: format!("{}/v3", cloud.ks.url()),
    };
    let backend = backends_under_test()[0];
    TestApi::start_with(backend, auth, Enforcer::with_defaults()).await
}

fn with_token(api: &TestApi, m: Method, path: &str, token: &str) -> reqwest::RequestBuilder {
    api.http
        .request(m, api.url(path))
        .header("X-Auth-Token", token)
}

/// The status of listing pods with `token`: what the cache tests watch.
async fn pods_status(api: &TestApi, token: &str) -> u16 {
    send(with_token(api, Method::GET, "/v1.0/pods", token))
        .await
        .0
}

#[actix_web::test]
async fn valid_admin_token_is_accepted_and_member_refused() {
    let cloud = cloud().await;
    let api = api_for(&cloud, Duration::from_secs(300)).await;
    let admin = cloud
        .ks
        .issue_token(&cloud.admin_user, &cloud.project, Duration::from_secs(600));
    let member = cloud
        .ks
        .issue_token(&cloud.member_user, &cloud.project, Duration::from_secs(600));

    let (s, body) = send(
        with_token(&api, Method::POST, "/v1.0/pods", &admin)
            .json(&json!({"pod": {"region_name": "CentralRegion"}})),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    let (s, body) = send(with_token(&api, Method::GET, "/v1.0/pods", &admin)).await;
    assert_eq!((s, body["pods"].as_array().unwrap().len()), (200, 1));

    // The token's project scopes routing listings.
    let pod = body["pods"][0]["pod_id"].as_str().unwrap().to_owned();
    let (s, _) = send(with_token(&api, Method::POST, "/v1.0/routings", &admin).json(&json!({"routing": {
        "top_id": "t", "bottom_id": "b", "pod_id": pod, "project_id": cloud.project, "resource_type": "network"}}))).await;
    assert_eq!(s, 200);
    let (_, body) = send(with_token(&api, Method::GET, "/v1.0/routings", &admin)).await;
    assert_eq!(body["routings"].as_array().unwrap().len(), 1);

    // A member is refused by policy.
    let (s, body) = send(with_token(&api, Method::GET, "/v1.0/routings", &member)).await;
    assert_eq!(
        (s, body),
        (
            403,
            json!({"forbidden": {"code": 403, "message": "Unauthorized to show all resource routings"}})
        )
    );
    let s = pods_status(&api, &member).await;
    assert_eq!(
        s, 401,
        "pods answer policy failures with 401, as the reference"
    );
    // Forged identity headers change nothing for a member token.
    let (s, _) = send(
        with_token(&api, Method::GET, "/v1.0/routings", &member)
            .header("X-Roles", "admin")
            .header("X-Role", "admin")
            .header("X-Identity-Status", "Confirmed"),
    )
    .await;
    assert_eq!(s, 403);
    api.stop().await;
}

#[actix_web::test]
async fn missing_invalid_or_expired_tokens_are_401() {
    let cloud = cloud().await;
    let api = api_for(&cloud, Duration::from_secs(300)).await;
    let expected_header = format!("Keystone uri=\"{}/v3\"", cloud.ks.url());
    let expired = cloud.ks.issue_token_expiring_at(
        &cloud.admin_user,
        &cloud.project,
        chrono::Utc::now() - chrono::Duration::seconds(5),
    );
    let cases = vec![
        api.http.get(api.url("/v1.0/pods")),
        api.http.get(api.url("/")),
        with_token(&api, Method::GET, "/v1.0/pods", "not-a-token"),
        with_token(&api, Method::GET, "/v1.0/pods", &expired),
        // Forged admin headers with a bad token are still refused.
        with_token(&api, Method::GET, "/v1.0/pods", "bogus")
            .header("X-Roles", "admin")
            .header("X-Role", "admin")
            .header("X-Tenant-Id", "p")
            .header("X-Identity-Status", "Confirmed"),
        api.http
            .get(api.url("/v1.0/pods"))
            .header("X-Role", "admin"),
    ];
    for req in cases {
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status().as_u16(), 401);
        assert_eq!(
            resp.headers()["www-authenticate"].to_str().unwrap(),
            expected_header
        );
        assert!(resp.headers().contains_key("x-openstack-request-id"));
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(body["error"]["code"], 401);
    }
    api.stop().await;
}

#[actix_web::test]
async fn health_and_metrics_need_no_token() {
    let cloud = cloud().await;
    let api = api_for(&cloud, Duration::from_secs(300)).await;
    for path in ["/healthcheck", "/metrics"] {
        let resp = api.http.get(api.url(path)).send().await.unwrap();
        assert_eq!(resp.status().as_u16(), 200, "{path}");
    }
    // Nothing else slips past: a path that only ends like them is refused.
    let resp = api
        .http
        .get(api.url("/v1.0/pods/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    api.stop().await;
}

#[actix_web::test]
async fn validation_results_are_cached_for_a_bounded_time() {
    let cloud = cloud().await;
    let api = api_for(&cloud, Duration::from_secs(1)).await;
    let admin = cloud
        .ks
        .issue_token(&cloud.admin_user, &cloud.project, Duration::from_secs(600));

    for _ in 0..5 {
        assert_eq!(pods_status(&api, &admin).await, 200);
    }
    assert_eq!(
        cloud.ks.request_count("GET", "/v3/auth/tokens"),
        1,
        "one validation for five requests"
    );

    // Revoked: still accepted from the cache until the entry expires...
    cloud.ks.revoke(&admin);
    assert_eq!(pods_status(&api, &admin).await, 200);
    // ...then Keystone is asked again and says no.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(pods_status(&api, &admin).await, 401);
    assert_eq!(cloud.ks.request_count("GET", "/v3/auth/tokens"), 2);
    api.stop().await;
}

#[actix_web::test]
async fn token_expiry_beats_the_cache() {
    let cloud = cloud().await;
    let api = api_for(&cloud, Duration::from_secs(300)).await;
    let short = cloud
        .ks
        .issue_token(&cloud.admin_user, &cloud.project, Duration::from_secs(1));
    assert_eq!(pods_status(&api, &short).await, 200);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(pods_status(&api, &short).await, 401);
    api.stop().await;
}

#[actix_web::test]
async fn keystone_down_is_503_not_401() {
    let cloud = cloud().await;
    let api = api_for(&cloud, Duration::from_secs(300)).await;
    let admin = cloud
        .ks
        .issue_token(&cloud.admin_user, &cloud.project, Duration::from_secs(600));
    cloud.ks.set_down(true).await.unwrap();
    let s = pods_status(&api, &admin).await;
    assert_eq!(s, 503);
    cloud.ks.set_down(false).await.unwrap();
    let s = pods_status(&api, &admin).await;
    assert_eq!(s, 200);
    api.stop().await;
}
