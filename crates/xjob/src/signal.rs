//! Termination signals as a future.

use std::future::Future;

use tokio::signal::unix::{signal, SignalKind};

/// Resolves with the signal's name on the first SIGTERM (systemd's stop) or
/// SIGINT. The handlers are installed when this is called, so call it early:
/// a signal arriving later is not lost. Needs a tokio runtime.
pub fn termination_signal() -> std::io::Result<impl Future<Output = &'static str>> {
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        }
    })
}
