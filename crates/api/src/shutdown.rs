//! Stopping the server without dropping requests it has received.
//!
//! actix-web's own graceful stop closes every idle keep-alive connection at
//! once and drops the requests queued (pipelined) behind the one in
//! progress, so a request a client sent just before SIGTERM could go
//! unanswered. Here SIGTERM first lets the server serve on, for at most the
//! keep-alive time: what clients had sent arrives and is answered, and idle
//! connections close by their own keep-alive timer, as they do at any time.
//! The wait ends as soon as no connection is open; only then does actix
//! stop, answering each request still in progress with `Connection: close`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::{Extensions, Server, ServerHandle};
use tokio::signal::unix::{signal, SignalKind};

/// Counts the client connections: open now, and closed since the start.
#[derive(Clone, Default)]
pub struct Connections(Arc<Counts>);

#[derive(Default)]
struct Counts {
    open: AtomicUsize,
    closed: AtomicUsize,
}

/// Held in a connection's extensions: dropped, and uncounted, when actix
/// drops the connection.
struct Open(Arc<Counts>);

impl Drop for Open {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::AcqRel);
        self.0.closed.fetch_add(1, Ordering::AcqRel);
    }
}

impl Connections {
    /// For `HttpServer::on_connect`: count this connection while it lives.
    pub fn on_connect(&self, ext: &mut Extensions) {
        self.0.open.fetch_add(1, Ordering::AcqRel);
        ext.insert(Open(self.0.clone()));
    }

    pub fn open(&self) -> usize {
        self.0.open.load(Ordering::Acquire)
    }

    pub fn closed(&self) -> usize {
        self.0.closed.load(Ordering::Acquire)
    }
}

/// Run `server` (built with `disable_signals`) until SIGTERM, SIGINT or
/// SIGQUIT. SIGTERM stops gracefully: serve on until no connection is open
/// or `grace` has passed, then stop, letting requests in progress finish
/// within the server's shutdown timeout. SIGINT and SIGQUIT stop at once,
/// as actix's own handling does.
pub async fn serve(
    server: Server,
    connections: Connections,
    grace: Duration,
) -> std::io::Result<()> {
    let handle = server.handle();
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut quit = signal(SignalKind::quit())?;
    let stopper = actix_web::rt::spawn(async move {
        tokio::select! {
            _ = term.recv() => graceful_stop(&handle, &connections, grace).await,
            _ = int.recv() => stop_now(&handle, "SIGINT").await,
            _ = quit.recv() => stop_now(&handle, "SIGQUIT").await,
        }
    });
    let result = server.await;
    stopper.abort();
    result
}

async fn graceful_stop(handle: &ServerHandle, connections: &Connections, grace: Duration) {
    let open = connections.open();
    tracing::info!(
        open_connections = open,
        grace_seconds = grace.as_secs_f64(),
        "SIGTERM: answering what clients have sent, then stopping"
    );
    let deadline = tokio::time::Instant::now() + grace;
    while connections.open() > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tracing::info!(
        open_connections = connections.open(),
        "stopping: requests in progress are finished, then the connections closed"
    );
    handle.stop(true).await;
}

async fn stop_now(handle: &ServerHandle, signal: &str) {
    tracing::info!("{signal}: stopping at once");
    handle.stop(false).await;
}
