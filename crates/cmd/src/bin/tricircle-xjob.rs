//! `tricircle-xjob --config-file xjob.conf`: the job daemon.

use clap::Parser;
use tricircle_cmd::{fail, init_logging, load_config, log_warnings, ConfigArgs};
use tricircle_jobs::{handlers, Registry};
use tricircle_rpc::CancellationToken;
use tricircle_xjob::{bus, termination_signal, Service};

#[derive(Parser)]
#[command(version, about = "Tricircle job daemon")]
struct Args {
    #[command(flatten)]
    config: ConfigArgs,
}

fn main() {
    let args = Args::parse();
    let (config, warnings) = load_config(&args.config);
    let _guard = init_logging(&config, "tricircle-xjob");
    log_warnings(&warnings);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| fail(&format!("cannot start the runtime: {e}")));
    let result = rt.block_on(async {
        let stop = termination_signal()?;
        let mut registry = Registry::new();
        handlers::register_all(&mut registry).unwrap_or_else(|e| fail(&e.to_string()));
        let service = Service::from_config(&config, registry)?;
        service.check_database().await?;
        let rpc = tricircle_rpc::config_from(&config).unwrap_or_else(|e| fail(&e.to_string()));
        let consumer_stop = CancellationToken::new();
        let consumer = bus::attach(
            rpc,
            config.default.host.clone(),
            service.casts_sender(),
            consumer_stop.clone(),
        );
        let result = service
            .run(async {
                let name = stop.await;
                tracing::info!(signal = name, "stop requested");
                consumer_stop.cancel();
            })
            .await;
        consumer_stop.cancel();
        let _ = consumer.await;
        result
    });
    if let Err(e) = result {
        tracing::error!("{e}");
        drop(_guard);
        fail(&e.to_string());
    }
}
