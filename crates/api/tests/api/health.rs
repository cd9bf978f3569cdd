//! `/healthcheck` (oslo.middleware's shape, database reachability) and
//! `/metrics` (Prometheus), both answered without authentication.

use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;
use serde_json::json;
use tricircle_api::dispatch::DatabaseOnly;
use tricircle_api::{AppState, Auth};
use tricircle_db::jobs::JobIntake;
use tricircle_db::{Db, PoolOptions};
use tricircle_policy::Enforcer;

use crate::common::{self, send, TestApi};
use crate::each_backend;

async fn healthy(api: &TestApi) {
    let resp = api.http.get(api.url("/healthcheck")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    assert_eq!(resp.text().await.unwrap(), "OK");

    let (s, body) = send(
        api.http
            .get(api.url("/healthcheck"))
            .header("Accept", "application/json"),
    )
    .await;
    assert_eq!(
        (s, body),
        (200, json!({"detailed": false, "reasons": ["OK"]}))
    );

    let resp = api.http.head(api.url("/healthcheck")).send().await.unwrap();
    assert_eq!(resp.status(), 204);
}

#[actix_web::test]
async fn healthcheck_says_ok_in_oslo_middlewares_shapes() {
    each_backend!(healthy);
}

/// The value of the series of `name` whose labels contain every one of
/// `labels`, or 0 when absent.
fn sample(text: &str, name: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name) && labels.iter().all(|want| l.contains(want)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

async fn metrics_text(api: &TestApi) -> String {
    let resp = api.http.get(api.url("/metrics")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    resp.text().await.unwrap()
}

/// Counts one series no other test of this binary touches (the metrics
/// are per process and tests run at once): PATCH on a routing, which is 405.
async fn metrics_move(api: &TestApi) {
    let before = metrics_text(api).await;
    let labels = [r#"method="PATCH""#, r#"route="/v1.0/routings/{id}""#];
    let series = |text: &str| {
        let mut with_status = labels.to_vec();
        with_status.push(r#"status="405""#);
        sample(text, "tricircle_api_requests_total", &with_status)
    };
    let count = |t: &str| sample(t, "tricircle_api_request_duration_seconds_count", &labels);
    for _ in 0..3 {
        assert_eq!(
            send(api.admin(Method::PATCH, "/v1.0/routings/1")).await.0,
            405
        );
    }
    assert_eq!(
        send(api.admin(Method::GET, "/v1.0/nothing/here")).await.0,
        404
    );
    let after = metrics_text(api).await;
    assert_eq!(series(&after) - series(&before), 3.0, "{after}");
    assert_eq!(count(&after) - count(&before), 3.0, "{after}");
    // An unknown path is counted under one label, not its own.
    assert!(!after.contains("/v1.0/nothing"), "{after}");
    assert!(
        sample(
            &after,
            "tricircle_api_requests_total",
            &[r#"route="unmatched""#, r#"status="404""#]
        ) >= 1.0
    );
}

#[actix_web::test]
async fn metrics_count_requests_by_route_and_status() {
    each_backend!(metrics_move);
}

#[actix_web::test]
async fn an_unreachable_database_is_a_503_with_the_reason() {
    let db = Db::connect(
        "postgresql://u:secret@127.0.0.1:1/tricircle",
        &PoolOptions {
            max_size: 1,
            timeout: Duration::from_millis(300),
        },
    )
    .unwrap();
    let (base, server) = tricircle_api::testing::serve(AppState {
        intake: JobIntake::new(db.clone()),
        db,
        policy: Enforcer::with_defaults().into(),
        auth: Auth::NoAuth,
        pagination_max_limit: 2000,
        dispatcher: Arc::new(DatabaseOnly),
        central: None,
    });
    let http = reqwest::Client::new();
    let resp = http
        .get(format!("{base}/healthcheck"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 503);
    let text = resp.text().await.unwrap();
    assert!(text.starts_with("database unreachable"), "{text}");
    assert!(!text.contains("secret"), "the password is shown: {text}");
    let (s, body) = send(
        http.get(format!("{base}/healthcheck"))
            .header("Accept", "application/json"),
    )
    .await;
    assert_eq!(s, 503);
    assert_eq!(body["detailed"], false);
    assert!(body["reasons"][0]
        .as_str()
        .unwrap()
        .starts_with("database unreachable"));
    let resp = http
        .head(format!("{base}/healthcheck"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 503);
    server.stop(true).await;
}
