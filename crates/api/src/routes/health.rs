//! `GET /healthcheck` as oslo.middleware's `Healthcheck` answers it (not
//! detailed): 200 `OK` (HEAD: 204), or 503 with the reasons; JSON
//! `{"detailed": false, "reasons": [...]}` when asked for. Beyond a
//! process answering, it reports whether the database can be read.

use actix_web::http::header::{self, ContentType};
use actix_web::http::{Method, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

use crate::state::AppState;

/// Why the service cannot serve, if it cannot.
async fn problems(state: &AppState) -> Vec<String> {
    match state
        .db
        .run(|c| tricircle_db::pods::top_pod(c).map(|_| ()))
        .await
    {
        Ok(()) => Vec::new(),
        Err(e) => vec![format!("database unreachable or unusable: {e}")],
    }
}

fn wants(req: &HttpRequest, mime: &str) -> bool {
    req.headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|m| m.trim().starts_with(mime)))
}

pub async fn healthcheck(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let problems = problems(&state).await;
    let healthy = problems.is_empty();
    if !healthy {
        tracing::warn!(reasons = ?problems, "healthcheck failed");
    }
    let status = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let reasons = if healthy {
        vec!["OK".to_owned()]
    } else {
        problems
    };
    if req.method() == Method::HEAD {
        let status = if healthy {
            StatusCode::NO_CONTENT
        } else {
            status
        };
        return HttpResponse::build(status)
            .content_type(ContentType::plaintext())
            .finish();
    }
    if wants(&req, "application/json") {
        return HttpResponse::build(status).json(json!({"detailed": false, "reasons": reasons}));
    }
    HttpResponse::build(status)
        .content_type(ContentType::plaintext())
        .body(reasons.join("\n"))
}
