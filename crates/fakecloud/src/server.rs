//! A loopback actix-web server that records requests and can be taken down
//! (connection refused) or made to fail (a forced status) on demand.

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use actix_web::body::BoxBody;
use actix_web::dev::{ServerHandle, ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::middleware::{from_fn, Next};
use actix_web::{web, App, HttpResponse, HttpServer};

use crate::record::RecordedRequest;

/// Registers a fake's routes and shared state on each worker's app.
pub(crate) type Configure = Arc<dyn Fn(&mut web::ServiceConfig) + Send + Sync>;

/// Renders an error response in the faked service's own body format.
pub(crate) type RenderError = fn(StatusCode) -> HttpResponse;

/// A poisoned lock only means a handler panicked mid-test; the data is
/// still what the test wants to inspect.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

pub(crate) struct Control {
    requests: Mutex<Vec<RecordedRequest>>,
    forced_status: Mutex<Option<StatusCode>>,
    render_error: RenderError,
}

impl Control {
    pub(crate) fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.requests).clone()
    }

    pub(crate) fn clear_requests(&self) {
        lock(&self.requests).clear();
    }

    pub(crate) fn set_forced_status(&self, status: Option<StatusCode>) {
        *lock(&self.forced_status) = status;
    }
}

/// Records every request, then answers it with the forced status if one is
/// set, else passes it on to the routes.
async fn gate(
    req: ServiceRequest,
    next: Next<BoxBody>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let control = req.app_data::<web::Data<Control>>().cloned();
    if let Some(control) = control {
        lock(&control.requests).push(RecordedRequest::from_service_request(&req));
        let forced = *lock(&control.forced_status);
        if let Some(status) = forced {
            return Ok(req.into_response((control.render_error)(status)));
        }
    }
    next.call(req).await
}

pub(crate) struct LoopbackServer {
    addr: SocketAddr,
    control: Arc<Control>,
    configure: Configure,
    handle: Mutex<Option<ServerHandle>>,
}

impl LoopbackServer {
    /// Binds 127.0.0.1 on a free port and starts serving the routes that
    /// `configure_for` builds for the server's URL. Must be called within a
    /// tokio runtime.
    pub(crate) fn start(
        configure_for: impl FnOnce(&str) -> Configure,
        render_error: RenderError,
    ) -> io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let configure = configure_for(&format!("http://{addr}"));
        let server = Self {
            addr,
            control: Arc::new(Control {
                requests: Mutex::new(Vec::new()),
                forced_status: Mutex::new(None),
                render_error,
            }),
            configure,
            handle: Mutex::new(None),
        };
        server.serve(listener)?;
        Ok(server)
    }

    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub(crate) fn control(&self) -> &Control {
        &self.control
    }

    fn serve(&self, listener: TcpListener) -> io::Result<()> {
        let control = web::Data::from(self.control.clone());
        let configure = self.configure.clone();
        let render_error = self.control.render_error;
        let server = HttpServer::new(move || {
            let configure = configure.clone();
            App::new()
                .app_data(control.clone())
                .configure(move |cfg| configure(cfg))
                .default_service(web::to(move || async move {
                    render_error(StatusCode::NOT_FOUND)
                }))
                .wrap(from_fn(gate))
        })
        .workers(1)
        .disable_signals()
        .shutdown_timeout(0)
        .listen(listener)?
        .run();
        *lock(&self.handle) = Some(server.handle());
        tokio::spawn(server);
        Ok(())
    }

    /// Down: stop listening, so connections are refused. Up: listen on the
    /// same port again.
    pub(crate) async fn set_down(&self, down: bool) -> io::Result<()> {
        if down {
            let handle = lock(&self.handle).take();
            if let Some(handle) = handle {
                handle.stop(false).await;
            }
            Ok(())
        } else if lock(&self.handle).is_none() {
            self.serve(TcpListener::bind(self.addr)?)
        } else {
            Ok(())
        }
    }
}

impl Drop for LoopbackServer {
    fn drop(&mut self) {
        if let Some(handle) = lock(&self.handle).take() {
            // The stop command is sent on call; nothing is left to await.
            drop(handle.stop(false));
        }
    }
}
