//! `tricircle-demo --state-dir data --db-connection URL`: the embedded
//! cloud of `scripts/run` and the xjob that serves it, in one process.
//!
//! The cloud is the test-grade fake of `crates/fakecloud` on fixed loopback
//! ports: Keystone, and the Neutron of `CentralRegion` and of the pods
//! `RegionOne` (zone az1) and `RegionTwo` (az2). xjob is the real service
//! (`tricircle_xjob::daemon::run`, as `tricircle-xjob` runs it) in stock
//! mode; the regions' notifications reach it in-process instead of over a
//! broker, and jobs from the admin API through the database.
//!
//! It writes `xjob.conf` (the `[client]` account of the fake Keystone),
//! `clouds.yaml` (for `openstack --os-cloud`) and `demo.env` (the
//! addresses and the tenant, for the walk-through) under the state
//! directory. The cloud lives in memory: it starts empty on every run.
//! Built only with the `demo` feature: production builds hold no fake.

use std::path::PathBuf;

use clap::Parser;
use tokio::sync::mpsc;
use tricircle_cmd::demo::{self, DemoCloud, PODS, TOP};
use tricircle_cmd::{fail, start, ConfigArgs};
use tricircle_jobs::events::NeutronEvent;
use tricircle_xjob::daemon::{Events, Intake};

#[derive(Parser)]
struct Args {
    /// Where xjob.conf, clouds.yaml and demo.env are written.
    #[arg(long, value_name = "DIR", default_value = "data")]
    state_dir: PathBuf,
    /// The Tricircle database (as `tricircle_db_connection`).
    #[arg(long, value_name = "URL")]
    db_connection: String,
    /// Keystone's port; the Neutron of CentralRegion, RegionOne and
    /// RegionTwo listen on the next three.
    #[arg(long, value_name = "PORT", default_value_t = 19100)]
    port_base: u16,
}

/// xjob's configuration on this cloud: stock mode, the fake Keystone's
/// admin account, no broker (jobs from the database, events in-process).
fn xjob_conf(args: &Args, cloud: &DemoCloud) -> String {
    format!(
        "# Written by tricircle-demo on every start.\n\
         [DEFAULT]\n\
         tricircle_db_connection = {db}\n\
         periodic_fuzzy_delay = 0\n\
         \n\
         {client}\
         \n\
         [xjob]\n\
         stock_neutron = true\n\
         reconcile_interval = 60\n",
        db = args.db_connection,
        client = cloud.client_section(),
    )
}

fn main() {
    let args: Args = tricircle_cmd::parse_args(
        "The embedded two-region cloud of scripts/run, with tricircle-xjob serving it",
    );
    std::fs::create_dir_all(&args.state_dir).unwrap_or_else(|e| {
        fail(&format!(
            "cannot create --state-dir {}: {e}",
            args.state_dir.display()
        ))
    });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| fail(&format!("cannot start the runtime: {e}")));
    let demo = rt
        .block_on(demo::start(args.port_base))
        .unwrap_or_else(|e| {
            fail(&format!(
                "cannot start the embedded cloud (--port-base {}): {e}",
                args.port_base
            ))
        });
    let cloud = &demo.cloud;
    let conf = args.state_dir.join("xjob.conf");
    demo::write_private(&conf, &xjob_conf(&args, &demo));
    demo::write_private(&args.state_dir.join("clouds.yaml"), &demo.clouds_yaml());
    demo::write_private(
        &args.state_dir.join("demo.env"),
        &format!(
            "# Written by tricircle-demo on every start.\n{}",
            demo.env()
        ),
    );

    let (config, _logging) = start(
        &ConfigArgs {
            config_files: vec![conf],
            ..ConfigArgs::default()
        },
        "tricircle-demo",
    );
    tracing::info!(
        keystone = %cloud.keystone().url(),
        central = %cloud.neutron(TOP).url(),
        region_one = %cloud.neutron(PODS[0].0).url(),
        region_two = %cloud.neutron(PODS[1].0).url(),
        "this process is the embedded cloud (fake Keystone, and the fake Neutron of \
         CentralRegion, RegionOne/az1 and RegionTwo/az2; in memory, empty at start) and \
         tricircle-xjob in stock mode serving it; tricircle-api is a process of its own"
    );

    tricircle_db::ready::wait_ready(&config).unwrap_or_else(|e| fail(&e.to_string()));
    let parts = tricircle_cmd::xjob::parts(&config);
    // Each region's notifications, as its Neutron publishes them, on one
    // channel to xjob's event path (in publication order per region).
    let (tx, rx) = mpsc::unbounded_channel();
    for region in cloud.region_names() {
        let mut published = cloud.neutron(&region).subscribe_notifications();
        let tx = tx.clone();
        rt.spawn(async move {
            while let Some(n) = published.recv().await {
                let event = NeutronEvent {
                    region: region.clone(),
                    event_type: n.event_type,
                    payload: n.payload,
                    context: n.context,
                };
                if tx.send(event).is_err() {
                    return;
                }
            }
        });
    }
    drop(tx);
    let events = Some(Events {
        sources: Vec::new(),
        local: Some(rx),
        net: parts.net,
    });
    let result = rt.block_on(tricircle_xjob::daemon::run(
        &config,
        parts.registry,
        parts.queue,
        Intake::Configured,
        events,
    ));
    drop(demo);
    if let Err(e) = result {
        tracing::error!("{e}");
        fail(&e.to_string());
    }
}
