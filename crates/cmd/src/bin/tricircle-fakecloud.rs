//! `tricircle-fakecloud --state-dir DIR [--transport-url URL]`: the
//! embedded cloud of `tricircle-demo` as a process of its own, for the
//! chaos suite (`scripts/chaos`), which runs the real `tricircle-api` and
//! `tricircle-xjob` processes against it and breaks things on purpose.
//!
//! Test-grade (the fakes of `crates/fakecloud`, in memory, empty at
//! start): Keystone on `--port-base`, the Neutron of `CentralRegion`,
//! `RegionOne` (az1) and `RegionTwo` (az2) on the next three ports, and
//! the loopback control endpoint of `tricircle_fakecloud::control`
//! (faults per region, the resources each region created) on
//! `--control-port`. With `--transport-url`, each region's notifications
//! are published there as its Neutron would (exchange `neutron`, topic
//! `notifications_<region>`), so xjob follows them over the broker.
//!
//! Writes under the state directory `cloud.env` (addresses, tenant, admin
//! account, control URL) and `client.conf` (xjob's `[client]` section),
//! both readable by their owner only, once everything listens. Stops on
//! SIGTERM or SIGINT. Built only with the `demo` feature.

use std::path::PathBuf;
use std::sync::Arc;

use clap::Parser;
use tokio::signal::unix::{signal, SignalKind};
use tricircle_cmd::demo::{self, relay};
use tricircle_cmd::fail;

#[derive(Parser)]
struct Args {
    /// Where cloud.env and client.conf are written.
    #[arg(long, value_name = "DIR")]
    state_dir: PathBuf,
    /// Keystone's port; the Neutron of CentralRegion, RegionOne and
    /// RegionTwo listen on the next three.
    #[arg(long, value_name = "PORT", default_value_t = 19100)]
    port_base: u16,
    /// The control endpoint's port (default: the port base + 9).
    #[arg(long, value_name = "PORT")]
    control_port: Option<u16>,
    /// Publish the regions' notifications on this broker
    /// (`rabbit://user:pass@host:port/vhost`).
    #[arg(long, value_name = "URL")]
    transport_url: Option<String>,
}

fn main() {
    let args: Args = tricircle_cmd::parse_args(
        "The test-grade two-pod fake cloud of scripts/chaos, with a fault-injection endpoint",
    );
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,actix_server=warn")),
        )
        .init();
    std::fs::create_dir_all(&args.state_dir).unwrap_or_else(|e| {
        fail(&format!(
            "cannot create --state-dir {}: {e}",
            args.state_dir.display()
        ))
    });
    let control_port = args
        .control_port
        .unwrap_or_else(|| args.port_base.saturating_add(9));
    let publisher = args.transport_url.as_deref().map(|url| {
        relay::publisher(url).unwrap_or_else(|e| fail(&format!("--transport-url: {e}")))
    });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| fail(&format!("cannot start the runtime: {e}")));
    rt.block_on(async move {
        let demo = demo::start(args.port_base).await.unwrap_or_else(|e| {
            fail(&format!(
                "cannot start the fake cloud (--port-base {}): {e}",
                args.port_base
            ))
        });
        let (env, client) = (demo.env(), demo.client_section());
        let admin = demo.cloud.admin().clone();
        let cloud = Arc::new(demo.cloud);
        if let Some(publisher) = publisher {
            for region in cloud.region_names() {
                let published = cloud.neutron(&region).subscribe_notifications();
                tokio::spawn(relay::relay(region, published, publisher.clone()));
            }
        }
        let control = tricircle_fakecloud::control::serve(cloud.clone(), control_port)
            .unwrap_or_else(|e| {
                fail(&format!(
                    "cannot serve the control endpoint on 127.0.0.1:{control_port}: {e}"
                ))
            });
        demo::write_private(
            &args.state_dir.join("cloud.env"),
            &format!(
                "# Written by tricircle-fakecloud on every start.\n{env}CONTROL={}\n\
                 ADMIN_USER={}\nADMIN_PASSWORD={}\nADMIN_PROJECT={}\n",
                control.url(),
                admin.username,
                admin.password,
                admin.project_name
            ),
        );
        demo::write_private(
            &args.state_dir.join("client.conf"),
            &format!("# Written by tricircle-fakecloud on every start.\n{client}"),
        );
        tracing::info!(keystone = %cloud.keystone().url(), control = %control.url(),
            relayed = args.transport_url.is_some(),
            "fake cloud ready (test-grade: in memory, empty at start)");
        let mut term = signal(SignalKind::terminate())
            .unwrap_or_else(|e| fail(&format!("cannot handle SIGTERM: {e}")));
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        tracing::info!("stopping");
        drop(control);
    });
}
