//! Prometheus metrics of the admin API, served without authentication at
//! `GET /metrics` (OpenMetrics text): requests by method, route and status,
//! and their latency by method and route. Labels come from the route
//! table, never from the raw path or method a client sent, so hostile
//! requests cannot grow the series without bound.

use std::sync::LazyLock;
use std::time::Duration;

use actix_web::http::Method;
use actix_web::HttpResponse;
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: &'static str,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: &'static str,
    route: String,
}

struct ApiMetrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram>,
    job_batches: Histogram,
}

/// One set per process: every worker of the server adds to it.
static METRICS: LazyLock<ApiMetrics> = LazyLock::new(|| {
    let mut registry = Registry::with_prefix("tricircle_api");
    let requests = Family::<RequestLabels, Counter>::default();
    registry.register(
        "requests",
        "Requests answered, by method, route and status",
        requests.clone(),
    );
    // 0.25 ms .. ~8 s
    let latency = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
        Histogram::new(exponential_buckets(0.000_25, 2.0, 16))
    });
    registry.register(
        "request_duration_seconds",
        "Time from receiving a request to its answer, by method and route",
        latency.clone(),
    );
    // 1 .. 256 (the intake's largest batch)
    let job_batches = Histogram::new(exponential_buckets(1.0, 2.0, 9));
    registry.register(
        "job_batch_size",
        "Job POSTs whose NEW rows were written together, per batch",
        job_batches.clone(),
    );
    ApiMetrics {
        registry,
        requests,
        latency,
        job_batches,
    }
});

fn method_label(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Count one answered request. `route` is the matched route pattern, if
/// any route matched.
pub fn observe(method: &Method, route: Option<&str>, status: u16, elapsed: Duration) {
    let method = method_label(method);
    let route = route.unwrap_or("unmatched").to_owned();
    METRICS
        .requests
        .get_or_create(&RequestLabels {
            method,
            route: route.clone(),
            status,
        })
        .inc();
    METRICS
        .latency
        .get_or_create(&RouteLabels { method, route })
        .observe(elapsed.as_secs_f64());
}

/// Count one batch of `jobs` job POSTs written together.
pub fn observe_job_batch(jobs: usize) {
    METRICS.job_batches.observe(jobs as f64);
}

/// `GET /metrics`.
pub async fn serve() -> HttpResponse {
    let mut text = String::new();
    match encode(&mut text, &METRICS.registry) {
        Ok(()) => HttpResponse::Ok()
            .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
            .body(text),
        Err(e) => {
            tracing::error!(error = %e, "cannot encode the metrics");
            HttpResponse::InternalServerError().finish()
        }
    }
}
