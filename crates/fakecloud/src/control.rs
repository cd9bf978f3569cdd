//! A loopback HTTP endpoint that drives a [`FakeCloud`] from another
//! process: the chaos suite (`scripts/chaos`) makes a region fail, hang or
//! vanish and come back, and reads what each region created. Test-grade:
//! no authentication, loopback only.
//!
//! - `GET /`: `{"keystone": url, "regions": {name: url}}`
//! - `PUT /regions/<region>/fault` with `{"fault": "status", "status": 500}`
//!   (every request answered so, none handled), `{"fault": "hang",
//!   "seconds": 5}` (every request held that long, then handled, as a
//!   stalled server whose client gave up; with `"method": "POST"` only
//!   those) or `{"fault": "down"}`
//!   (connections refused); replaces the region's earlier fault.
//! - `DELETE /regions/<region>/fault`: serve normally again (requests held
//!   by a hang still complete when their time is up).
//! - `GET /regions/<region>/creates`: `{"creates": [{"collection", "id",
//!   "name", "project_id"}]}`, every resource a create made, oldest first.

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::{web, App, HttpResponse, HttpServer};
use serde::Deserialize;
use serde_json::json;

use crate::cloud::FakeCloud;
use crate::neutron::FakeNeutron;

/// What `PUT /regions/<region>/fault` asks for.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "fault", rename_all = "lowercase", deny_unknown_fields)]
enum Fault {
    Status {
        status: u16,
    },
    Hang {
        seconds: f64,
        /// Only requests of this method (`POST`: a server whose writes
        /// stall while it still reads).
        #[serde(default)]
        method: Option<String>,
    },
    Down {},
}

/// The control endpoint; stops serving when dropped.
pub struct ControlServer {
    addr: SocketAddr,
    handle: ServerHandle,
}

impl ControlServer {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for ControlServer {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}

type Cloud = web::Data<Arc<FakeCloud>>;

fn error(status: u16, message: &str) -> HttpResponse {
    HttpResponse::build(
        actix_web::http::StatusCode::from_u16(status)
            .unwrap_or(actix_web::http::StatusCode::BAD_REQUEST),
    )
    .json(json!({"error": message}))
}

fn region<'a>(cloud: &'a FakeCloud, name: &str) -> Option<&'a FakeNeutron> {
    cloud
        .region_names()
        .iter()
        .any(|r| r == name)
        .then(|| cloud.neutron(name))
}

fn no_region(name: &str) -> HttpResponse {
    error(404, &format!("no region {name}"))
}

async fn describe(cloud: Cloud) -> HttpResponse {
    let regions: serde_json::Map<String, serde_json::Value> = cloud
        .region_names()
        .into_iter()
        .map(|r| {
            let url = cloud.neutron(&r).url();
            (r, json!(url))
        })
        .collect();
    HttpResponse::Ok().json(json!({"keystone": cloud.keystone().url(), "regions": regions}))
}

/// Back to normal: no forced status, no held requests from now on,
/// listening.
async fn heal(neutron: &FakeNeutron) -> io::Result<()> {
    neutron.set_forced_status(None);
    neutron.clear_faults();
    neutron.set_down(false).await
}

async fn set_fault(cloud: Cloud, path: web::Path<String>, body: web::Bytes) -> HttpResponse {
    let Some(neutron) = region(&cloud, &path) else {
        return no_region(&path);
    };
    let fault: Fault = match serde_json::from_slice(&body) {
        Ok(f) => f,
        Err(e) => return error(400, &format!("bad fault: {e}")),
    };
    let checked = match fault {
        Fault::Status { status } if !(100..=599).contains(&status) => {
            Err(format!("{status} is not an HTTP status"))
        }
        Fault::Hang { seconds, .. }
            if !(seconds.is_finite() && (0.0..=3600.0).contains(&seconds)) =>
        {
            Err(format!("hang of {seconds} s is out of 0..3600"))
        }
        Fault::Hang {
            method: Some(m), ..
        } if m.is_empty() || !m.bytes().all(|b| b.is_ascii_alphabetic()) => {
            Err(format!("{m:?} is not an HTTP method"))
        }
        f => Ok(f),
    };
    let fault = match checked {
        Ok(f) => f,
        Err(e) => return error(400, &e),
    };
    if let Err(e) = heal(neutron).await {
        return error(500, &format!("cannot bring {} back: {e}", *path));
    }
    match &fault {
        Fault::Status { status } => neutron.set_forced_status(Some(*status)),
        Fault::Hang { seconds, method } => neutron.delay_next(
            method.as_deref(),
            "/",
            usize::MAX,
            Duration::from_secs_f64(*seconds),
        ),
        Fault::Down {} => {
            if let Err(e) = neutron.set_down(true).await {
                return error(500, &format!("cannot take {} down: {e}", *path));
            }
        }
    }
    tracing::info!(region = %*path, ?fault, "fault injected");
    HttpResponse::NoContent().finish()
}

async fn clear_fault(cloud: Cloud, path: web::Path<String>) -> HttpResponse {
    let Some(neutron) = region(&cloud, &path) else {
        return no_region(&path);
    };
    match heal(neutron).await {
        Ok(()) => {
            tracing::info!(region = %*path, "fault lifted");
            HttpResponse::NoContent().finish()
        }
        Err(e) => error(500, &format!("cannot bring {} back: {e}", *path)),
    }
}

async fn creates(cloud: Cloud, path: web::Path<String>) -> HttpResponse {
    let Some(neutron) = region(&cloud, &path) else {
        return no_region(&path);
    };
    let creates: Vec<_> = neutron
        .creates()
        .into_iter()
        .map(|c| {
            json!({"collection": c.collection, "id": c.id, "name": c.name,
                "project_id": c.project_id})
        })
        .collect();
    HttpResponse::Ok().json(json!({ "creates": creates }))
}

/// Serve the control endpoint of `cloud` on 127.0.0.1:`port` (0: a free
/// port). Must be called within a tokio runtime.
pub fn serve(cloud: Arc<FakeCloud>, port: u16) -> io::Result<ControlServer> {
    let listener = TcpListener::bind(("127.0.0.1", port))?;
    let addr = listener.local_addr()?;
    let data = web::Data::new(cloud);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .route("/", web::get().to(describe))
            .route("/regions/{region}/fault", web::put().to(set_fault))
            .route("/regions/{region}/fault", web::delete().to(clear_fault))
            .route("/regions/{region}/creates", web::get().to(creates))
            .default_service(web::to(|| async { error(404, "no such control") }))
    })
    .workers(1)
    .disable_signals()
    .shutdown_timeout(0)
    .listen(listener)?
    .run();
    let handle = server.handle();
    tokio::spawn(server);
    Ok(ControlServer { addr, handle })
}
