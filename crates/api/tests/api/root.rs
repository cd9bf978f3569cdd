use reqwest::Method;
use serde_json::json;

use crate::common::{self, send, TestApi};
use crate::each_backend;

async fn versions_and_links(api: &TestApi) {
    let (s, body) = send(api.admin(Method::GET, "/")).await;
    assert_eq!(s, 200);
    assert_eq!(body["versions"][0]["id"], "v1.0");
    assert_eq!(body["versions"][0]["status"], "CURRENT");
    assert_eq!(body["versions"][0]["updated"], "2015-09-09");
    assert_eq!(
        body["versions"][0]["links"][0]["href"],
        json!(format!("{}/v1.0/", api.base))
    );

    let (s, body) = send(api.admin(Method::GET, "/v1.0")).await;
    assert_eq!(s, 200);
    assert_eq!(body["version"], "1.0");
    let rels: Vec<&str> = body["links"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["rel"].as_str().unwrap())
        .collect();
    assert_eq!(rels, vec!["self", "jobs", "pods", "routings"]);
    assert_eq!(
        body["links"][2]["href"],
        json!(format!("{}/v1.0/pods", api.base))
    );

    for path in ["/", "/v1.0"] {
        for m in [
            Method::POST,
            Method::PUT,
            Method::DELETE,
            Method::HEAD,
            Method::PATCH,
        ] {
            let resp = api.admin(m.clone(), path).send().await.unwrap();
            assert_eq!(resp.status().as_u16(), 405, "{m} {path}");
        }
    }
    for path in ["/fake_path", "/v1.0/123", "/v2.0/pods"] {
        let (s, _) = send(api.admin(Method::GET, path)).await;
        assert_eq!(s, 404, "{path}");
    }
    let (s, _) = send(api.admin(Method::PATCH, "/v1.0/123")).await;
    assert_eq!(s, 404);
    // Methods a resource does not offer.
    let (s, _) = send(api.admin(Method::PUT, "/v1.0/pods")).await;
    assert_eq!(s, 405);
}

async fn request_id_on_every_response(api: &TestApi) {
    let mut seen = std::collections::HashSet::new();
    for path in ["/", "/v1.0/pods", "/nowhere", "/v1.0/jobs/unknown"] {
        let resp = api.admin(Method::GET, path).send().await.unwrap();
        let id = resp
            .headers()
            .get("x-openstack-request-id")
            .unwrap_or_else(|| panic!("no request id on {path}"))
            .to_str()
            .unwrap()
            .to_owned();
        let uuid = id.strip_prefix("req-").expect("req- prefix");
        uuid::Uuid::parse_str(uuid).expect("uuid after req-");
        assert!(seen.insert(id), "request ids are unique");
    }
}

#[actix_web::test]
async fn root_documents_and_method_errors() {
    each_backend!(versions_and_links);
}

#[actix_web::test]
async fn every_response_has_a_request_id() {
    each_backend!(request_id_on_every_response);
}
