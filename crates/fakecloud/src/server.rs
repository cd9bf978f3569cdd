//! A loopback actix-web server that records requests and can be taken down
//! (connection refused) or made to fail (a forced status) on demand.

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

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

/// What an injected fault does to a matching request.
#[derive(Debug, Clone)]
pub(crate) enum FaultAction {
    /// Answer this status (with the service's error body) instead.
    Status(StatusCode),
    /// Sleep this long before handling the request normally, so a client
    /// with a shorter timeout gives up.
    Delay(Duration),
    /// Hold it until the value turns true (or its sender is dropped), then
    /// handle it normally: a test orders requests without timing them.
    Hold(tokio::sync::watch::Receiver<bool>),
}

/// The next `remaining` requests whose path starts with `path_prefix`
/// (and whose method is `method`, when given) suffer `action`.
#[derive(Debug, Clone)]
pub(crate) struct Fault {
    pub(crate) method: Option<String>,
    pub(crate) path_prefix: String,
    pub(crate) remaining: usize,
    pub(crate) action: FaultAction,
}

pub(crate) struct Control {
    requests: Mutex<Vec<RecordedRequest>>,
    forced_status: Mutex<Option<StatusCode>>,
    faults: Mutex<Vec<Fault>>,
    render_error: RenderError,
}

impl Control {
    pub(crate) fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.requests).clone()
    }

    /// How many requests had this method and path (query ignored).
    pub(crate) fn request_count(&self, method: &str, path: &str) -> usize {
        lock(&self.requests)
            .iter()
            .filter(|r| r.method.eq_ignore_ascii_case(method) && r.path == path)
            .count()
    }

    pub(crate) fn clear_requests(&self) {
        lock(&self.requests).clear();
    }

    pub(crate) fn set_forced_status(&self, status: Option<StatusCode>) {
        *lock(&self.forced_status) = status;
    }

    pub(crate) fn add_fault(&self, fault: Fault) {
        lock(&self.faults).push(fault);
    }

    pub(crate) fn clear_faults(&self) {
        lock(&self.faults).clear();
    }

    /// Consumes one use of the first fault matching the request.
    fn take_fault(&self, method: &str, path: &str) -> Option<FaultAction> {
        let mut faults = lock(&self.faults);
        let i = faults.iter().position(|f| {
            f.remaining > 0
                && path.starts_with(&f.path_prefix)
                && f.method
                    .as_deref()
                    .is_none_or(|m| m.eq_ignore_ascii_case(method))
        })?;
        faults[i].remaining -= 1;
        let action = faults[i].action.clone();
        if faults[i].remaining == 0 {
            faults.remove(i);
        }
        Some(action)
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
        match control.take_fault(req.method().as_str(), req.path()) {
            Some(FaultAction::Status(status)) => {
                return Ok(req.into_response((control.render_error)(status)));
            }
            Some(FaultAction::Delay(d)) => tokio::time::sleep(d).await,
            Some(FaultAction::Hold(mut released)) => {
                // Err: the test dropped its handle, which releases too.
                let _ = released.wait_for(|r| *r).await;
            }
            None => {}
        }
    }
    next.call(req).await
}

pub(crate) struct LoopbackServer {
    addr: Mutex<SocketAddr>,
    control: Arc<Control>,
    configure: Configure,
    handle: Mutex<Option<ServerHandle>>,
}

impl LoopbackServer {
    /// Binds 127.0.0.1 on `port` (0: a free one) and starts serving the
    /// routes that `configure_for` builds for the server's URL. Must be
    /// called within a tokio runtime.
    pub(crate) fn start(
        port: u16,
        configure_for: impl FnOnce(&str) -> Configure,
        render_error: RenderError,
    ) -> io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", port))?;
        let addr = listener.local_addr()?;
        let configure = configure_for(&format!("http://{addr}"));
        let server = Self {
            addr: Mutex::new(addr),
            control: Arc::new(Control {
                requests: Mutex::new(Vec::new()),
                forced_status: Mutex::new(None),
                faults: Mutex::new(Vec::new()),
                render_error,
            }),
            configure,
            handle: Mutex::new(None),
        };
        server.serve(listener)?;
        Ok(server)
    }

    pub(crate) fn url(&self) -> String {
        format!("http://{}", *lock(&self.addr))
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
        // One connection per request, so that once a fake is down no
        // kept-alive connection can still reach it.
        .keep_alive(actix_web::http::KeepAlive::Disabled)
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
            let addr = *lock(&self.addr);
            self.serve(TcpListener::bind(addr)?)
        } else {
            Ok(())
        }
    }

    /// Stop, then serve the same routes and data on a new free port, as a
    /// service moved to another address does. Returns the new URL.
    pub(crate) async fn move_to_new_port(&self) -> io::Result<String> {
        self.set_down(true).await?;
        let listener = TcpListener::bind("127.0.0.1:0")?;
        *lock(&self.addr) = listener.local_addr()?;
        self.serve(listener)?;
        Ok(self.url())
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
