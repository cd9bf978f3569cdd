//! The fake Keystone's HTTP surface: version documents and
//! `/v3/auth/tokens` (issue with POST, validate with GET).

use std::sync::{Arc, Mutex};

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

use super::store::{AuthError, Expiry, Store, Token};
use crate::server::lock;

pub(crate) type Shared = web::Data<Mutex<Store>>;

/// The base URL clients reached us at, for links and `WWW-Authenticate`.
#[derive(Clone)]
pub(crate) struct BaseUrl(pub(crate) Arc<str>);

pub(crate) fn configure(cfg: &mut web::ServiceConfig, store: Shared, base: BaseUrl) {
    cfg.app_data(store)
        .app_data(web::Data::new(base))
        .service(web::resource("/").route(web::get().to(versions)))
        .service(web::resource(["/v3", "/v3/"]).route(web::get().to(version_v3)))
        .service(web::resource("/v3/auth/catalog").route(web::get().to(catalog)))
        .service(
            web::resource("/v3/auth/tokens")
                .route(web::post().to(issue_token))
                .route(web::get().to(validate_token))
                .default_service(web::to(|| async {
                    error_response(StatusCode::METHOD_NOT_ALLOWED)
                })),
        );
}

fn error_body(status: StatusCode, message: &str) -> Value {
    json!({"error": {
        "code": status.as_u16(),
        "title": status.canonical_reason().unwrap_or("Error"),
        "message": message,
    }})
}

/// Keystone's error body with its stock message for `status`.
pub(crate) fn error_response(status: StatusCode) -> HttpResponse {
    let message = match status {
        StatusCode::NOT_FOUND => "The resource could not be found.",
        StatusCode::METHOD_NOT_ALLOWED => {
            "The method specified is not allowed for the requested URL."
        }
        StatusCode::UNAUTHORIZED => "The request you have made requires authentication.",
        StatusCode::SERVICE_UNAVAILABLE => "The service is temporarily unavailable.",
        _ => "An unexpected error prevented the server from fulfilling your request.",
    };
    HttpResponse::build(status).json(error_body(status, message))
}

fn unauthorized(base: &BaseUrl, message: &str) -> HttpResponse {
    HttpResponse::Unauthorized()
        .insert_header((
            header::WWW_AUTHENTICATE,
            format!("Keystone uri=\"{}\"", base.0),
        ))
        .json(error_body(StatusCode::UNAUTHORIZED, message))
}

fn forbidden(message: &str) -> HttpResponse {
    HttpResponse::Forbidden().json(error_body(StatusCode::FORBIDDEN, message))
}

/// The live token in `X-Auth-Token`, if any.
fn caller<'s>(req: &HttpRequest, store: &'s Store) -> Option<&'s Token> {
    header_str(req, "X-Auth-Token").and_then(|t| store.live_token(t))
}

/// Keystone's 401 to a caller without a live token.
fn unauthenticated(base: &BaseUrl) -> HttpResponse {
    unauthorized(base, "The request you have made requires authentication.")
}

fn version_doc(base: &BaseUrl) -> Value {
    json!({
        "id": "v3.14",
        "status": "stable",
        "updated": "2020-04-07T00:00:00Z",
        "links": [{"rel": "self", "href": format!("{}/v3/", base.0)}],
        "media-types": [{
            "base": "application/json",
            "type": "application/vnd.openstack.identity-v3+json",
        }],
    })
}

async fn versions(base: web::Data<BaseUrl>) -> HttpResponse {
    HttpResponse::MultipleChoices().json(json!({"versions": {"values": [version_doc(&base)]}}))
}

async fn version_v3(base: web::Data<BaseUrl>) -> HttpResponse {
    HttpResponse::Ok().json(json!({"version": version_doc(&base)}))
}

/// `?nocatalog` present (with or without a value) leaves the catalog out.
fn wants_catalog(req: &HttpRequest) -> bool {
    !req.query_string()
        .split('&')
        .any(|kv| kv.split('=').next() == Some("nocatalog"))
}

fn header_str<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

async fn issue_token(
    req: HttpRequest,
    body: web::Bytes,
    store: Shared,
    base: web::Data<BaseUrl>,
) -> HttpResponse {
    let bad_request =
        |msg: &str| HttpResponse::BadRequest().json(error_body(StatusCode::BAD_REQUEST, msg));
    let Ok(doc) = serde_json::from_slice::<Value>(&body) else {
        return bad_request("The request body is not valid JSON.");
    };
    let Some(auth) = doc.get("auth").filter(|a| a.is_object()) else {
        return bad_request("Invalid input for field 'auth': 'auth' is a required property");
    };
    let mut store = lock(&store);
    let (user_id, scope) = match store.authenticate(auth) {
        Ok(found) => found,
        Err(AuthError::BadRequest(msg)) => return bad_request(&msg),
        Err(AuthError::Unauthorized(msg)) => {
            tracing::debug!("fake keystone: authentication refused");
            return unauthorized(&base, &msg);
        }
    };
    let ttl = store.token_ttl;
    let token = store.issue(&user_id, scope, &["password"], Expiry::After(ttl));
    match store.render(&token, wants_catalog(&req)) {
        Some(body) => HttpResponse::Created()
            .insert_header(("X-Subject-Token", token))
            .json(body),
        None => error_response(StatusCode::INTERNAL_SERVER_ERROR),
    }
}

async fn validate_token(req: HttpRequest, store: Shared, base: web::Data<BaseUrl>) -> HttpResponse {
    let store = lock(&store);
    let Some(caller) = caller(&req, &store) else {
        return unauthenticated(&base);
    };
    let subject_id = header_str(&req, "X-Subject-Token").unwrap_or_default();
    let subject = store.live_token(subject_id);
    // Keystone's default policy: admins and services may validate any
    // token, everybody else only their own.
    let caller_roles = store.role_names(&caller.user_id, &caller.scope);
    let privileged = caller_roles
        .iter()
        .any(|r| r.eq_ignore_ascii_case("admin") || r.eq_ignore_ascii_case("service"));
    let own = subject.is_some_and(|s| s.user_id == caller.user_id);
    if !privileged && !own {
        return forbidden(
            "You are not authorized to perform the requested action: identity:validate_token.",
        );
    }
    if subject.is_none() {
        // Real Keystone echoes the token id here; clients must not log it.
        return HttpResponse::NotFound().json(error_body(
            StatusCode::NOT_FOUND,
            &format!("Could not find token: {subject_id}."),
        ));
    }
    match store.render(subject_id, wants_catalog(&req)) {
        Some(body) => HttpResponse::Ok()
            .insert_header(("X-Subject-Token", subject_id.to_owned()))
            .json(body),
        None => error_response(StatusCode::INTERNAL_SERVER_ERROR),
    }
}

async fn catalog(req: HttpRequest, store: Shared, base: web::Data<BaseUrl>) -> HttpResponse {
    let store = lock(&store);
    let Some(caller) = caller(&req, &store) else {
        return unauthenticated(&base);
    };
    if matches!(caller.scope, super::store::Scope::Unscoped) {
        return forbidden("The service catalog is empty.");
    }
    HttpResponse::Ok().json(json!({
        "catalog": store.current_catalog(),
        "links": {"self": format!("{}/v3/auth/catalog", base.0), "previous": null, "next": null},
    }))
}
