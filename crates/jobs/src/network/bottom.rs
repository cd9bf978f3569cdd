//! Bottom copies of top networks and subnets, created idempotently
//! through the routing-table lock.

use std::collections::BTreeMap;

use tricircle_db::models::Pod;
use tricircle_openstack::neutron::{Network, Subnet};

use super::bridge::provider_of;
use super::lock::{self, Element};
use super::{ip, NetError, NetResult, NetworkContext};
use tricircle_vocab::ResourceType;

/// Name of a bottom network: `<top id>#<top name>` as the reference.
pub fn network_name(t_net: &Network) -> String {
    format!(
        "{}#{}",
        t_net.id(),
        t_net.name.as_deref().unwrap_or_default()
    )
}

/// Names of the top ports reserving a pods' gateway addresses start so.
pub const INTERFACE_PORT_PREFIX: &str = "interface_";

/// Name of the top port reserving a pod's gateway address on a subnet.
pub fn interface_port_name(region: &str, t_subnet_id: &str) -> String {
    format!("{INTERFACE_PORT_PREFIX}{region}_{t_subnet_id}")
}

/// The routing types of a copy: a pod's own copy, or a shadow copy made
/// only to hold shadow ports (which must not make the network span the pod
/// for router_setup).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Copy {
    Own,
    Shadow,
}

impl Copy {
    fn types(self) -> (ResourceType, ResourceType) {
        match self {
            Copy::Own => (ResourceType::Network, ResourceType::Subnet),
            Copy::Shadow => (ResourceType::ShadowNetwork, ResourceType::ShadowSubnet),
        }
    }
}

/// The bottom copy of `t_net` and `t_subnets` in `pod`. Each subnet's
/// bottom gateway is the address of a top port reserved for this pod
/// (`interface_<region>_<subnet>`), so that routers in different pods never
/// share a gateway address; the top gateway joins the allocation pools.
/// Returns the bottom network id and top subnet id -> bottom subnet id.
pub async fn network_subnets(
    net: &NetworkContext,
    top_pod: &Pod,
    pod: &Pod,
    project_id: &str,
    t_net: &Network,
    t_subnets: &[Subnet],
    copy: Copy,
) -> NetResult<(String, BTreeMap<String, String>)> {
    let (net_type, subnet_type) = copy.types();
    let name = network_name(t_net);
    let mut body = Network {
        tenant_id: Some(project_id.to_owned()),
        name: Some(name.clone()),
        admin_state_up: Some(true),
        ..Network::default()
    };
    if t_net.network_type.as_deref() == Some("vlan") {
        provider_of(t_net, &mut body);
    }
    let b_net = lock::get_or_create(
        net,
        project_id,
        pod,
        Element {
            top_id: t_net.id(),
            resource_type: net_type,
            name: &name,
            body,
        },
    )
    .await?;
    let mut map = BTreeMap::new();
    for t_sub in t_subnets {
        let gw = reserved_gateway(net, top_pod, pod, project_id, t_net, t_sub).await?;
        let pools = ip::bottom_pools(
            t_sub.allocation_pools.as_deref().unwrap_or_default(),
            t_sub.gateway_ip.clone().flatten().as_deref(),
            &gw,
        );
        let body = Subnet {
            network_id: Some(b_net.id.clone()),
            name: Some(t_sub.id().to_owned()),
            ip_version: t_sub.ip_version,
            cidr: t_sub.cidr.clone(),
            gateway_ip: Some(Some(gw)),
            allocation_pools: Some(pools),
            enable_dhcp: Some(false),
            tenant_id: Some(project_id.to_owned()),
            ..Subnet::default()
        };
        let b_sub = lock::get_or_create(
            net,
            project_id,
            pod,
            Element::named_by_top(t_sub.id(), subnet_type, body),
        )
        .await?;
        map.insert(t_sub.id().to_owned(), b_sub.id);
    }
    Ok((b_net.id, map))
}

/// The address of the top port reserving `pod`'s gateway on `t_sub`.
async fn reserved_gateway(
    net: &NetworkContext,
    top_pod: &Pod,
    pod: &Pod,
    project_id: &str,
    t_net: &Network,
    t_sub: &Subnet,
) -> NetResult<String> {
    let name = interface_port_name(&pod.region_name, t_sub.id());
    let body = lock::interface_port_body(project_id, t_net.id(), t_sub.id(), &name);
    let port = lock::reserve_top_port(net, project_id, top_pod, body).await?;
    let ip = port.ip_addresses().next().map(str::to_owned);
    ip.ok_or_else(|| NetError::Missing(format!("top port {name} has no address")))
}
