//! The one place where failures become HTTP responses.
//!
//! The reference API answers errors in three shapes, depending on the
//! controller, and clients of existing deployments parse them:
//! - `{"badRequest": {"code": 400, "message": "..."}}` (routings, jobs),
//! - a plain text body with a status (pods: 409 and 422 answers),
//! - an aborted request rendered the way WebOb renders HTTP exceptions
//!   (pods: policy failures, missing body, unknown pod).

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// `{"<type>": {"code": N, "message": "..."}}`.
    #[error("{message}")]
    Formatted { status: u16, message: String },
    /// The message as a text body.
    #[error("{message}")]
    Plain { status: u16, message: String },
    /// WebOb-style HTTP exception body.
    #[error("{message}")]
    Abort { status: u16, message: String },
    /// Missing or invalid Keystone token.
    #[error("authentication required")]
    Unauthenticated { www_authenticate: String },
    /// Keystone could not be asked.
    #[error("identity service unavailable")]
    AuthUnavailable,
}

impl ApiError {
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::formatted(400, message)
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::formatted(403, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::formatted(404, message)
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::formatted(409, message)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::formatted(500, message)
    }
    pub fn formatted(status: u16, message: impl Into<String>) -> Self {
        Self::Formatted {
            status,
            message: message.into(),
        }
    }
    pub fn plain(status: u16, message: impl Into<String>) -> Self {
        Self::Plain {
            status,
            message: message.into(),
        }
    }
    pub fn abort(status: u16, message: impl Into<String>) -> Self {
        Self::Abort {
            status,
            message: message.into(),
        }
    }
}

/// The key the reference uses for an error body of that status.
fn error_type(status: u16) -> &'static str {
    match status {
        400 => "badRequest",
        403 => "forbidden",
        404 => "itemNotFound",
        409 => "conflictingRequest",
        500 => "internalServerError",
        _ => "Error",
    }
}

fn status(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Formatted { status: s, .. }
            | Self::Plain { status: s, .. }
            | Self::Abort { status: s, .. } => status(*s),
            Self::Unauthenticated { .. } => StatusCode::UNAUTHORIZED,
            Self::AuthUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let code = self.status_code();
        match self {
            Self::Formatted { status, message } => HttpResponse::build(code)
                .json(json!({ error_type(*status): { "message": message, "code": status } })),
            Self::Plain { message, .. } => HttpResponse::build(code)
                .content_type("text/plain; charset=UTF-8")
                .body(message.clone()),
            Self::Abort { message, .. } => {
                let title = code.canonical_reason().unwrap_or("Error");
                HttpResponse::build(code).json(json!({
                    "code": format!("{} {}", code.as_u16(), title),
                    "title": title,
                    "message": message,
                }))
            }
            Self::Unauthenticated { www_authenticate } => {
                let mut resp = HttpResponse::build(code).json(json!({"error": {
                    "code": 401,
                    "title": "Unauthorized",
                    "message": "The request you have made requires authentication.",
                }}));
                if let Ok(v) = HeaderValue::from_str(www_authenticate) {
                    resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
                }
                resp
            }
            Self::AuthUnavailable => HttpResponse::build(code).json(json!({"error": {
                "code": 503,
                "title": "Service Unavailable",
                "message": "The identity service could not be reached to validate the token.",
            }})),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::body::to_bytes;

    async fn body(e: ApiError) -> (u16, String) {
        let resp = e.error_response();
        let status = resp.status().as_u16();
        let bytes = to_bytes(resp.into_body()).await.unwrap();
        (status, String::from_utf8(bytes.to_vec()).unwrap())
    }

    #[actix_web::test]
    async fn formatted_errors_use_the_reference_keys() {
        let (s, b) = body(ApiError::bad_request("nope")).await;
        assert_eq!(s, 400);
        let v: serde_json::Value = serde_json::from_str(&b).unwrap();
        assert_eq!(v, json!({"badRequest": {"code": 400, "message": "nope"}}));
        let (s, b) = body(ApiError::conflict("dup")).await;
        assert_eq!(s, 409);
        assert!(b.contains("conflictingRequest"));
        let (_, b) = body(ApiError::formatted(422, "x")).await;
        assert!(b.contains("\"Error\""));
    }

    #[actix_web::test]
    async fn plain_errors_are_text() {
        let (s, b) = body(ApiError::plain(409, "Top region already exists")).await;
        assert_eq!((s, b.as_str()), (409, "Top region already exists"));
    }
}
