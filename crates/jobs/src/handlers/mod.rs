//! Handlers of the job types, one module per type (`router_setup.rs`,
//! `configure_route.rs`...), each implementing [`crate::Handler`].
//!
//! [`register_all`] adds every handler implemented here to a registry; the
//! xjob daemon calls it at start-up. Job types without a module are not
//! served: their casts are logged and ignored, and the periodic redo skips
//! their jobs.

pub mod configure_route;
pub mod router_setup;
pub mod sfc_sync;
pub mod shadow_port_setup;
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
    registry.register(catalog::SFC_SYNC, sfc_sync::SfcSync::new(net.clone()))?;
    Ok(())
}
