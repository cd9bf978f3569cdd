//! A fake Neutron v2.0 server for one region.
//!
//! It answers the calls Tricircle's client makes with Neutron's status
//! codes, bodies and rules (IPAM from allocation pools, router interface
//! and gateway ports, extra-route and floating-IP reachability checks,
//! in-use conflicts, filters and `fields`); see `doc/fakecloud.md` for what
//! it reproduces and what it does not. Tests inject faults per path, take
//! the region down or move it to another port.
//!
//! `api` is the HTTP surface, `store` the data and Neutron's rules (one
//! submodule per resource family), `ipam` the address arithmetic.

mod api;
mod ipam;
mod store;

use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::web;
use serde_json::Value;
use tokio::sync::mpsc;

use self::store::Store;
use crate::record::RecordedRequest;
use crate::server::{lock, Configure, Fault, FaultAction, LoopbackServer};
use crate::TokenCheck;

pub use self::api::{Created, FakeNotification};

/// Requests held by [`FakeNeutron::hold_next`]; released by
/// [`Held::release`] or when dropped.
#[must_use = "dropping it releases the held requests at once"]
pub struct Held(tokio::sync::watch::Sender<bool>);

impl Held {
    pub fn release(&self) {
        self.0.send_replace(true);
    }
}

pub struct FakeNeutron {
    region: String,
    server: LoopbackServer,
    store: web::Data<Mutex<Store>>,
    notifications: api::Notifications,
    creates: api::Creates,
}

impl std::fmt::Debug for FakeNeutron {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeNeutron")
            .field("region", &self.region)
            .field("url", &self.url())
            .finish_non_exhaustive()
    }
}

impl FakeNeutron {
    /// Starts on a free loopback port, accepting any non-empty token (as
    /// the project `fake-project`). Panics if no port can be bound.
    pub async fn start(region: &str) -> Self {
        Self::try_start(region, None)
            .await
            .expect("fake neutron: cannot listen on 127.0.0.1")
    }

    /// Starts with `check` deciding which tokens are valid (and for which
    /// project), as keystonemiddleware does against Keystone.
    pub async fn try_start(region: &str, check: Option<TokenCheck>) -> io::Result<Self> {
        Self::try_start_on(region, check, 0).await
    }

    /// [`FakeNeutron::try_start`] on loopback port `port` (0: a free one).
    pub async fn try_start_on(
        region: &str,
        check: Option<TokenCheck>,
        port: u16,
    ) -> io::Result<Self> {
        let store = web::Data::new(Mutex::new(Store::new()));
        let notifications = api::Notifications::default();
        let creates = api::Creates::default();
        let auth = api::Auth(check);
        let configure_for = |_: &str| -> Configure {
            let (store, notifications, creates) =
                (store.clone(), notifications.clone(), creates.clone());
            Arc::new(move |cfg: &mut web::ServiceConfig| {
                api::configure(
                    cfg,
                    store.clone(),
                    notifications.clone(),
                    creates.clone(),
                    auth.clone(),
                );
            })
        };
        let server = LoopbackServer::start(port, configure_for, api::error_response)?;
        Ok(Self {
            region: region.to_owned(),
            server,
            store,
            notifications,
            creates,
        })
    }

    pub fn region(&self) -> &str {
        &self.region
    }

    /// The endpoint URL, e.g. `http://127.0.0.1:40123` (`/v2.0` is under
    /// it, as in a devstack catalog).
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// Lets networks and routers name `zone` in `availability_zone_hints`
    /// (real Neutron learns zones from its agents).
    pub fn add_availability_zone(&self, zone: &str) {
        lock(&self.store).availability_zones.insert(zone.to_owned());
    }

    /// Run an Open vSwitch agent on `host`: ports bound there from now on
    /// get `binding:vif_type = ovs` (`binding_failed` on other hosts).
    pub fn add_ovs_agent(&self, host: &str) {
        lock(&self.store).ovs_hosts.insert(host.to_owned());
    }

    /// Associate floating IPs as a pod running Tricircle's local L3 plugin
    /// does: through any router whose gateway is on the floating IP's
    /// external network (stock Neutron also wants an interface on the
    /// port's subnet).
    pub fn set_tricircle_l3(&self, on: bool) {
        lock(&self.store).tricircle_l3 = on;
    }

    /// Everything in a collection (`networks`, `subnets`, `ports`,
    /// `routers`, `floatingips`, `security_groups`, `security_group_rules`,
    /// `trunks`, `policies`, `qos_rules`, `subnetpools`, `port_pairs`,
    /// `port_pair_groups`, `flow_classifiers`, `port_chains`), as stored.
    pub fn dump(&self, collection: &str) -> Vec<Value> {
        lock(&self.store)
            .all(collection)
            .iter()
            .map(|v| (**v).clone())
            .collect()
    }

    /// The next `n` requests whose path starts with `path_prefix` (and use
    /// `method`, if given) are answered with `status` and Neutron's error
    /// body, without being handled.
    pub fn fail_next(&self, method: Option<&str>, path_prefix: &str, n: usize, status: u16) {
        let status = StatusCode::from_u16(status)
            .unwrap_or_else(|_| panic!("fake neutron: {status} is not an HTTP status"));
        self.server.control().add_fault(Fault {
            method: method.map(str::to_owned),
            path_prefix: path_prefix.to_owned(),
            remaining: n,
            action: FaultAction::Status(status),
        });
    }

    /// The next `n` matching requests are held for `delay` before being
    /// handled, so a client with a shorter timeout gives up on them.
    pub fn delay_next(&self, method: Option<&str>, path_prefix: &str, n: usize, delay: Duration) {
        self.server.control().add_fault(Fault {
            method: method.map(str::to_owned),
            path_prefix: path_prefix.to_owned(),
            remaining: n,
            action: FaultAction::Delay(delay),
        });
    }

    /// The next `n` matching requests are held (recorded, not handled)
    /// until the returned handle is released or dropped: a test sees what
    /// else is sent meanwhile, whatever the timing.
    pub fn hold_next(&self, method: Option<&str>, path_prefix: &str, n: usize) -> Held {
        let (release, released) = tokio::sync::watch::channel(false);
        self.server.control().add_fault(Fault {
            method: method.map(str::to_owned),
            path_prefix: path_prefix.to_owned(),
            remaining: n,
            action: FaultAction::Hold(released),
        });
        Held(release)
    }

    pub fn clear_faults(&self) {
        self.server.control().clear_faults();
    }

    /// Answer every request with `status` and Neutron's error body (e.g.
    /// 500), handling none, or serve normally again with `None`.
    pub fn set_forced_status(&self, status: Option<u16>) {
        let status = status.map(|s| {
            StatusCode::from_u16(s)
                .unwrap_or_else(|_| panic!("fake neutron: {s} is not an HTTP status"))
        });
        self.server.control().set_forced_status(status);
    }

    /// Every resource a create made so far, oldest first (kept whatever
    /// happened to it since): a test finds what was created twice.
    pub fn creates(&self) -> Vec<Created> {
        lock(&self.creates).clone()
    }

    /// Down: connections are refused. Up again: same port, same data.
    pub async fn set_down(&self, down: bool) -> io::Result<()> {
        self.server.set_down(down).await
    }

    /// Serve the same data from a new port; returns the new URL. The old
    /// port refuses connections from now on.
    pub async fn move_to_new_port(&self) -> io::Result<String> {
        self.server.move_to_new_port().await
    }

    /// The notifications published since the last call, oldest first, as
    /// this region's Neutron would publish them with
    /// `[oslo_messaging_notifications] driver = messagingv2`.
    pub fn take_notifications(&self) -> Vec<FakeNotification> {
        std::mem::take(&mut lock(&self.notifications).kept)
    }

    /// From now on, send each notification to the returned receiver as it
    /// is published (as Neutron's notifier publishes to its broker) instead
    /// of keeping it for [`FakeNeutron::take_notifications`]. Those kept so
    /// far are sent first.
    pub fn subscribe_notifications(&self) -> mpsc::UnboundedReceiver<FakeNotification> {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut log = lock(&self.notifications);
        for n in std::mem::take(&mut log.kept) {
            let _ = tx.send(n);
        }
        log.subscriber = Some(tx);
        rx
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.server.control().requests()
    }

    /// How many requests had this method and path (query ignored).
    pub fn request_count(&self, method: &str, path: &str) -> usize {
        self.server.control().request_count(method, path)
    }

    pub fn clear_requests(&self) {
        self.server.control().clear_requests();
    }
}
