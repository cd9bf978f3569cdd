//! `X-OpenStack-Request-ID` on every response, a tracing span carrying the
//! id around the whole request, and one access log line per request.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage};
use tracing::Instrument;

pub const HEADER: &str = "x-openstack-request-id";

/// The id of the current request, available to handlers via extensions.
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

pub async fn request_id(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let id = format!("req-{}", uuid::Uuid::new_v4());
    req.extensions_mut().insert(RequestId(id.clone()));
    let span = tracing::info_span!("request", request_id = %id);
    let started = Instant::now();
    let method = req.method().clone();
    let path = req.uri().to_string();
    let peer = req
        .connection_info()
        .realip_remote_addr()
        .unwrap_or("-")
        .to_owned();

    let mut res = next.call(req).instrument(span.clone()).await?;
    if let Ok(v) = HeaderValue::from_str(&id) {
        res.headers_mut().insert(HeaderName::from_static(HEADER), v);
    }
    let status = res.status().as_u16();
    let elapsed = started.elapsed();
    crate::metrics::observe(
        &method,
        res.request().match_pattern().as_deref(),
        status,
        elapsed,
    );
    let elapsed_ms = elapsed.as_secs_f64() * 1000.0;
    span.in_scope(|| {
        tracing::info!(
            target: "tricircle_api::access",
            %peer, %method, %path, status, elapsed_ms = format_args!("{elapsed_ms:.2}"),
            "request"
        )
    });
    Ok(res)
}
