//! `tricircle-xjob --config-file xjob.conf`: the job daemon.

use tricircle_cmd::{fail, start_daemon};
use tricircle_xjob::daemon::{Events, Intake};
use tricircle_xjob::events;

fn main() {
    let (config, logging) = start_daemon("Tricircle job daemon", "tricircle-xjob");
    tricircle_db::ready::wait_ready(&config).unwrap_or_else(|e| fail(&e.to_string()));
    let sources = events::sources_from_config(&config).unwrap_or_else(|e| fail(&e.to_string()));
    let parts = tricircle_cmd::xjob::parts(&config);
    let events = Some(Events {
        sources,
        local: None,
        net: parts.net,
    });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| fail(&format!("cannot start the runtime: {e}")));
    let reload = rt
        .block_on(async { logging.reload_on_hangup() })
        .unwrap_or_else(|e| fail(&format!("cannot install the SIGHUP handler: {e}")));
    rt.spawn(reload);
    let result = rt.block_on(tricircle_xjob::daemon::run(
        &config,
        parts.registry,
        parts.queue,
        Intake::Configured,
        events,
    ));
    if let Err(e) = result {
        tracing::error!("{e}");
        fail(&e.to_string());
    }
}
