//! The HTTP server: what actix-web's `HttpServer` assembles from
//! actix-server and actix-http, with each connection's stream wrapped in a
//! [`HeadDeadline`] (`HttpServer` takes no stream wrapper).
//!
//! Settings `HttpServer` applied and this server keeps: listen backlog
//! 1,024 with `SO_REUSEADDR`, keep-alive and a 1 s disconnect timeout, the
//! graceful-shutdown signal (on a graceful stop, requests in progress are
//! answered with `Connection: close`), signals left to
//! [`crate::shutdown`], a 30 s shutdown timeout.

use std::future::ready;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use actix_http::body::MessageBody;
use actix_http::error::DispatchError;
use actix_http::{HttpService, Request};
use actix_service::{fn_service, map_config, IntoServiceFactory, ServiceFactoryExt as _};
use actix_web::dev::{AppConfig, Server, ServiceFactory};
use actix_web::{dev::ServiceResponse, Error};
use tokio::net::TcpStream;

use crate::head_deadline::{self, HeadDeadline};
use crate::shutdown::Connections;

/// How long an idle keep-alive connection is kept (actix's default).
pub const KEEP_ALIVE: Duration = Duration::from_secs(5);

/// Clients waiting to be accepted (`HttpServer`'s default).
const BACKLOG: i32 = 1024;

/// What the configuration sets.
pub struct Limits {
    pub workers: usize,
    /// Per worker.
    pub max_connections: usize,
    /// For every request head and the bodies the application does not read:
    /// see [`crate::head_deadline`]. actix also times the first head, from
    /// the accept; both answer a late head 408.
    pub deadlines: head_deadline::Limits,
}

/// Listen on `addr` and build the server (not yet started: await it).
/// `app` makes a worker's application; `connections` counts the clients.
pub fn http_server<F, I, S, B>(
    addr: SocketAddr,
    limits: Limits,
    connections: Connections,
    app: F,
) -> io::Result<Server>
where
    F: Fn() -> I + Send + Clone + 'static,
    I: IntoServiceFactory<S, Request>,
    S: ServiceFactory<Request, Config = AppConfig, Error = Error, Response = ServiceResponse<B>>
        + 'static,
    S::InitError: std::fmt::Debug,
    S::Future: 'static,
    B: MessageBody + 'static,
{
    let listener = listen(addr)?;
    let local = listener.local_addr()?;
    let builder = Server::build();
    let graceful = builder.graceful_shutdown_signal();
    let deadlines = limits.deadlines;
    Ok(builder
        .workers(limits.workers)
        // Each connection costs its buffers: a worker holds at most this
        // many, further clients wait in the backlog.
        .max_concurrent_connections(limits.max_connections)
        .shutdown_timeout(30)
        .disable_signals()
        .listen("tricircle-api", listener, move || {
            let graceful = graceful.clone();
            let connections = connections.clone();
            let app = app().into_factory().map_err(|e: Error| e.error_response());
            let h1 = HttpService::build()
                .keep_alive(KEEP_ALIVE)
                .client_request_timeout(deadlines.head)
                .client_disconnect_timeout(Duration::from_secs(1))
                .local_addr(local)
                .graceful_shutdown_signal(move || {
                    let graceful = graceful.clone();
                    async move { graceful.notified().await }
                })
                .on_connect_ext(move |_: &HeadDeadline<TcpStream>, ext| connections.on_connect(ext))
                // The configuration `HttpServer` gives an application (its
                // constructor is crate-private; this is the same one, public
                // for actix-test).
                .h1(map_config(app, move |()| {
                    AppConfig::__priv_test_new(false, local.to_string(), local)
                }));
            fn_service(move |io: TcpStream| {
                let peer = io.peer_addr().ok();
                ready(Ok::<_, DispatchError>((
                    HeadDeadline::new(io, deadlines, peer),
                    peer,
                )))
            })
            .and_then(h1)
        })?
        .run())
}

/// A listening socket as `HttpServer::bind` makes it.
fn listen(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    Ok(socket.into())
}
