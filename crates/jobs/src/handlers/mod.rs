//! Handlers of the job types, one module per type (`router_setup.rs`,
//! `configure_route.rs`...), each implementing [`crate::Job`] for its type.
//!
//! [`register_all`] adds every handler to a registry (every job type of the
//! catalogue has one; doc/jobs.md is the map); the xjob daemon calls it at
//! start-up.

pub mod configure_route;
pub mod network_cleanup;
pub mod network_setup;
pub mod port_delete;
pub mod port_mirror;
pub mod qos;
pub mod resource_recycle;
pub mod router_cleanup;
pub mod router_setup;
pub mod seg_rule_setup;
pub mod sfc_sync;
pub mod shadow_port_setup;
pub mod trunk_sync;
pub mod update_network;
pub mod update_subnet;

mod region_gate;
mod update_copy;

use crate::handler::{Job, Typed};
use crate::network::NetworkContext;

use self::region_gate::RegionGate;
use crate::registry::{Registry, RegistryError};

/// The registry, every networking handler behind the region gate.
struct Gated<'a> {
    registry: &'a mut Registry,
    net: &'a NetworkContext,
}

impl Gated<'_> {
    fn register<J: Job>(&mut self, job: J) -> Result<&mut Self, RegistryError> {
        let gate = RegionGate {
            net: self.net.clone(),
            inner: Typed(job),
        };
        self.registry.register_handler(J::TYPE, gate)?;
        Ok(self)
    }
}

/// Register every job type handler this crate implements; the networking
/// handlers reach the clouds through `net`.
pub fn register_all(registry: &mut Registry, net: &NetworkContext) -> Result<(), RegistryError> {
    let n = || net.clone();
    Gated { registry, net }
        .register(router_setup::RouterSetup(n()))?
        .register(configure_route::ConfigureRoute(n()))?
        .register(update_network::UpdateNetwork(n()))?
        .register(update_subnet::UpdateSubnet(n()))?
        .register(shadow_port_setup::ShadowPortSetup(n()))?
        .register(port_delete::PortDelete(n()))?
        .register(seg_rule_setup::SegRuleSetup(n()))?
        .register(resource_recycle::ResourceRecycle::new(n()))?
        .register(qos::create::QosCreate(n()))?
        .register(qos::update::QosUpdate(n()))?
        .register(qos::delete::QosDelete(n()))?
        .register(qos::sync_rules::SyncQosRules(n()))?
        .register(trunk_sync::TrunkSync(n()))?
        .register(sfc_sync::SfcSync(n()))?
        .register(port_mirror::PortMirror(n()))?
        .register(network_setup::NetworkSetup(n()))?
        .register(router_cleanup::RouterCleanup(n()))?
        .register(network_cleanup::NetworkCleanup(n()))?;
    Ok(())
}
