//! Authentication: turns a request into a [`RequestContext`].
//!
//! `noauth` trusts the identity headers exactly as the reference reads them.
//! `keystone` validates `X-Auth-Token` and derives identity from the token
//! alone: client-sent identity headers are ignored, so they cannot be forged.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::HeaderMap;
use actix_web::middleware::Next;
use actix_web::web::Data;
use actix_web::{Error, HttpMessage};
use tricircle_openstack::keystone::ValidateError;

use crate::context::RequestContext;
use crate::error::ApiError;
use crate::middleware::request_id::RequestId;
use crate::state::{AppState, Auth};

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// Identity from headers, as the reference's `extract_context_from_environ`:
/// roles come from `X-Role` (comma separated), the project from `X-Tenant-Id`.
pub fn context_from_headers(headers: &HeaderMap) -> RequestContext {
    let roles: Vec<String> = header(headers, "x-role")
        .map(|r| r.split(',').map(str::to_owned).collect())
        .unwrap_or_default();
    RequestContext {
        request_id: String::new(),
        auth_token: header(headers, "x-auth-token"),
        user_id: header(headers, "x-user-id"),
        user_name: header(headers, "x-user-name"),
        project_id: header(headers, "x-tenant-id"),
        project_name: header(headers, "x-project-name"),
        domain_id: header(headers, "x-domain-id"),
        user_domain_id: header(headers, "x-user-domain-id"),
        project_domain_id: header(headers, "x-project-domain-id"),
        is_admin: RequestContext::roles_grant_admin(&roles),
        roles,
    }
}

async fn keystone_context(
    req: &ServiceRequest,
    validator: &tricircle_openstack::keystone::TokenValidator,
    www_authenticate_uri: &str,
) -> Result<RequestContext, ApiError> {
    let unauthenticated = || ApiError::Unauthenticated {
        www_authenticate: format!("Keystone uri=\"{www_authenticate_uri}\""),
    };
    let token = header(req.headers(), "x-auth-token")
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(unauthenticated)?;
    match validator.validate(token.trim()).await {
        Ok(info) => Ok(RequestContext {
            request_id: String::new(),
            auth_token: Some(token),
            user_id: Some(info.user_id),
            user_name: info.user_name,
            project_id: info.project_id,
            project_name: info.project_name,
            domain_id: info.domain_id,
            user_domain_id: info.user_domain_id,
            project_domain_id: info.project_domain_id,
            is_admin: RequestContext::roles_grant_admin(&info.roles),
            roles: info.roles,
        }),
        Err(ValidateError::Invalid(reason)) => {
            tracing::info!(%reason, "rejected token");
            Err(unauthenticated())
        }
        Err(ValidateError::Unavailable(reason)) => {
            tracing::error!(%reason, "cannot validate token: identity service unavailable");
            Err(ApiError::AuthUnavailable)
        }
    }
}

pub async fn authenticate(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    let public = req
        .match_pattern()
        .is_some_and(|p| crate::PUBLIC_PATHS.iter().any(|pp| p.ends_with(pp)));
    if public {
        return Ok(next.call(req).await?.map_into_left_body());
    }
    let state = req
        .app_data::<Data<AppState>>()
        .cloned()
        .expect("AppState is registered");
    let ctx = match &state.auth {
        Auth::NoAuth => Ok(context_from_headers(req.headers())),
        Auth::Keystone {
            validator,
            www_authenticate_uri,
        } => keystone_context(&req, validator, www_authenticate_uri).await,
    };
    match ctx {
        Ok(mut ctx) => {
            if let Some(id) = req.extensions().get::<RequestId>() {
                ctx.request_id = id.0.clone();
            }
            req.extensions_mut().insert(ctx);
            Ok(next.call(req).await?.map_into_left_body())
        }
        Err(e) => Ok(req.error_response(e).map_into_right_body()),
    }
}
