//! Support for tests (this crate's and other crates'): the admin API served
//! on loopback.

use actix_web::dev::ServerHandle;
use actix_web::{web, HttpServer};

use crate::AppState;

/// Serve `state` on an ephemeral loopback port with one worker; returns the
/// base URL (`http://127.0.0.1:<port>`) and the server's handle. The server
/// runs on the current actix/tokio runtime until stopped or the runtime
/// ends.
///
/// # Panics
/// When no loopback port can be bound.
pub fn serve(state: AppState) -> (String, ServerHandle) {
    let state = web::Data::new(state);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    let base = format!("http://{}", listener.local_addr().expect("its address"));
    let server = HttpServer::new(move || crate::app(state.clone()))
        .workers(1)
        .disable_signals()
        .listen(listener)
        .expect("listen on it")
        .run();
    let handle = server.handle();
    actix_web::rt::spawn(server);
    (base, handle)
}
