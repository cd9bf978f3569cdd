//! `GET /` (versions) and `GET /v1.0` (links to the resources).

use actix_web::{HttpRequest, HttpResponse};
use serde_json::json;

/// `scheme://host[/prefix]` the client used, as WSGI's `application_url`:
/// `own_path` is the handler's route, what is before it the path prefix.
fn application_url(req: &HttpRequest, own_path: &str) -> String {
    let info = req.connection_info();
    let path = req.path();
    let prefix = path.strip_suffix(own_path).unwrap_or(path);
    format!("{}://{}{prefix}", info.scheme(), info.host())
}

pub async fn versions(req: HttpRequest) -> HttpResponse {
    // At the root the path is `/`; under a prefix it is the bare prefix.
    let base = application_url(&req, "/");
    HttpResponse::Ok().json(json!({
        "versions": [{
            "status": "CURRENT",
            "links": [{"rel": "self", "href": format!("{base}/v1.0/")}],
            "id": "v1.0",
            "updated": "2015-09-09",
        }]
    }))
}

pub async fn v1(req: HttpRequest) -> HttpResponse {
    let base = application_url(&req, "/v1.0");
    let mut links = vec![json!({"rel": "self", "href": format!("{base}/v1.0")})];
    links.extend(
        ["jobs", "pods", "routings"]
            .iter()
            .map(|name| json!({"rel": name, "href": format!("{base}/v1.0/{name}")})),
    );
    HttpResponse::Ok().json(json!({"version": "1.0", "links": links}))
}

pub async fn method_not_allowed() -> HttpResponse {
    HttpResponse::MethodNotAllowed().finish()
}
