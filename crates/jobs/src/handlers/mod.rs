//! Handlers of the job types, one module per type (`router_setup.rs`,
//! `configure_route.rs`...), each implementing [`crate::Handler`].
//!
//! [`register_all`] adds every handler to a registry (every job type of the
//! catalogue has one; doc/jobs.md is the map); the xjob daemon calls it at
//! start-up.

pub mod configure_route;
pub mod port_delete;
pub mod qos;
pub mod resource_recycle;
pub mod router_setup;
pub mod seg_rule_setup;
pub mod sfc_sync;
pub mod shadow_port_setup;
pub mod trunk_sync;
pub mod update_network;
pub mod update_subnet;

use crate::catalog;
use crate::network::NetworkContext;
use crate::registry::{Registry, RegistryError};

/// Register every job type handler this crate implements; the networking
/// handlers reach the clouds through `net`.
pub fn register_all(registry: &mut Registry, net: &NetworkContext) -> Result<(), RegistryError> {
    registry.register(
        catalog::ROUTER_SETUP,
        router_setup::RouterSetup::new(net.clone()),
    )?;
    registry.register(
        catalog::CONFIGURE_ROUTE,
        configure_route::ConfigureRoute::new(net.clone()),
    )?;
    registry.register(
        catalog::NETWORK_UPDATE,
        update_network::UpdateNetwork::new(net.clone()),
    )?;
    registry.register(
        catalog::SUBNET_UPDATE,
        update_subnet::UpdateSubnet::new(net.clone()),
    )?;
    registry.register(
        catalog::SHADOW_PORT_SETUP,
        shadow_port_setup::ShadowPortSetup::new(net.clone()),
    )?;
    registry.register(
        catalog::PORT_DELETE,
        port_delete::PortDelete::new(net.clone()),
    )?;
    registry.register(
        catalog::SEG_RULE_SETUP,
        seg_rule_setup::SegRuleSetup::new(net.clone()),
    )?;
    registry.register(
        catalog::RESOURCE_RECYCLE,
        resource_recycle::ResourceRecycle::new(net.clone()),
    )?;
    registry.register(
        catalog::QOS_CREATE,
        qos::create::QosCreate::new(net.clone()),
    )?;
    registry.register(
        catalog::QOS_UPDATE,
        qos::update::QosUpdate::new(net.clone()),
    )?;
    registry.register(
        catalog::QOS_DELETE,
        qos::delete::QosDelete::new(net.clone()),
    )?;
    registry.register(
        catalog::SYNC_QOS_RULE,
        qos::sync_rules::SyncQosRules::new(net.clone()),
    )?;
    registry.register(catalog::TRUNK_SYNC, trunk_sync::TrunkSync::new(net.clone()))?;
    registry.register(catalog::SFC_SYNC, sfc_sync::SfcSync::new(net.clone()))?;
    Ok(())
}
