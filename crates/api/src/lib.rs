//! The Tricircle admin API (`/v1.0/pods`, `/v1.0/routings`, `/v1.0/jobs`).
//!
//! A request flows through [`middleware::request_id`] (id, span, access
//! log), [`middleware::auth`] (keystone token or noauth headers into a
//! [`context::RequestContext`]), then a handler in [`routes`] which checks
//! policy, reads and writes the database and, for jobs, calls the
//! [`dispatch::JobDispatcher`]. [`error::ApiError`] renders every failure.

pub mod body;
pub mod context;
pub mod dispatch;
pub mod error;
pub mod head_deadline;
pub mod http_server;
pub mod memory;
pub mod metrics;
pub mod middleware;
pub mod openapi;
pub mod ownership;
pub mod routes;
pub mod server;
pub mod shutdown;
pub mod state;
pub mod testing;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::middleware::{from_fn, NormalizePath, TrailingSlash};
use actix_web::{guard, web, App, HttpResponse, Route};

use routes::{health, jobs, pods, root, routings};
pub use state::{AppState, Auth};

/// GET, and HEAD on the same handler (the server sends the headers without
/// the body), as the reference's REST controllers answer HEAD (its version
/// documents at `/` and `/v1.0` refuse HEAD with 405, and so do we).
fn get() -> Route {
    web::route().guard(guard::Any(guard::Get()).or(guard::Head()))
}

/// Route table of the v1.0 API at the root. Paths and methods not listed
/// answer 404 and 405 respectively, as the reference.
pub fn configure(cfg: &mut web::ServiceConfig) {
    routes(cfg, "/");
}

/// Paths answered without authentication, at the root or under the path
/// prefix: what load balancers and Prometheus poll.
pub const PUBLIC_PATHS: [&str; 3] = ["/healthcheck", "/metrics", "/v1.0/openapi.json"];

fn public_routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource(PUBLIC_PATHS[0]).route(get().to(health::healthcheck)))
        .service(web::resource(PUBLIC_PATHS[1]).route(web::get().to(metrics::serve)))
        .service(web::resource(PUBLIC_PATHS[2]).route(web::get().to(openapi::serve)));
}

/// The route table with the versions document at `root` (`/` at the top,
/// empty inside a prefix scope, whose bare path is the document).
fn routes(cfg: &mut web::ServiceConfig, root: &str) {
    let not_allowed = || web::to(root::method_not_allowed);
    public_routes(cfg);
    cfg.service(
        web::resource(root)
            .route(web::get().to(root::versions))
            .default_service(not_allowed()),
    )
    .service(
        web::resource("/v1.0")
            .route(web::get().to(root::v1))
            .default_service(not_allowed()),
    )
    .service(
        web::resource("/v1.0/pods")
            .route(get().to(pods::list))
            .route(web::post().to(pods::create)),
    )
    .service(
        web::resource("/v1.0/pods/{id}")
            .route(get().to(pods::show))
            .route(web::delete().to(pods::delete)),
    )
    .service(
        web::resource("/v1.0/routings")
            .route(get().to(routings::list))
            .route(web::post().to(routings::create)),
    )
    .service(
        web::resource("/v1.0/routings/{id}")
            .route(get().to(routings::show))
            .route(web::put().to(routings::update))
            .route(web::delete().to(routings::delete)),
    )
    .service(
        web::resource("/v1.0/jobs")
            .route(get().to(jobs::list))
            .route(web::post().to(jobs::create)),
    )
    .service(
        web::resource("/v1.0/jobs/{id}")
            .route(get().to(jobs::show))
            .route(web::put().to(jobs::redo))
            .route(web::delete().to(jobs::delete)),
    );
}

async fn not_found() -> HttpResponse {
    HttpResponse::NotFound().json(serde_json::json!({
        "code": "404 Not Found",
        "title": "Not Found",
        "message": "The resource could not be found.",
    }))
}

/// The whole application: routes, authentication and request ids.
pub fn app(
    state: web::Data<AppState>,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    app_under(state, None)
}

/// [`app`], also served under `prefix` (`[DEFAULT] api_path_prefix`, e.g.
/// `/tricircle`, DevStack's endpoint path for the API).
pub fn app_under(
    state: web::Data<AppState>,
    prefix: Option<String>,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let mut app = App::new().app_data(state);
    if let Some(prefix) = prefix {
        app = app.service(web::scope(&prefix).configure(|c| routes(c, "")));
    }
    app.configure(configure)
        .default_service(web::to(not_found))
        // Middleware runs bottom-up: the request id exists before auth runs,
        // so even a 401 carries one and is logged with it.
        .wrap(from_fn(middleware::auth::authenticate))
        .wrap(NormalizePath::new(TrailingSlash::Trim))
        .wrap(from_fn(middleware::request_id::request_id))
}
