//! The per-project bridge elements: one top bridge network and subnet per
//! project (`bridge_net_<project>`, `bridge_subnet_<project>`, a /24 of
//! `[client] bridge_cidr`), one top bridge port per bottom router
//! (`bridge_port_<project>_<bottom router>`, its address is the router's
//! address on the bridge) and a bottom copy of the bridge network and subnet
//! in every pod a router reaches.

use tricircle_db::models::Pod;
use tricircle_openstack::neutron::{Filters, FixedIp, Network, Port, Subnet, SubnetPool};

use super::lock::{self, Element};
use super::{NetError, NetResult, NetworkContext};
use tricircle_vocab::ResourceType;

pub const SUBNET_POOL_NAME: &str = "bridge_subnet_pool";

pub fn net_name(project_id: &str) -> String {
    format!("bridge_net_{project_id}")
}

pub fn subnet_name(project_id: &str) -> String {
    format!("bridge_subnet_{project_id}")
}

pub fn port_name(project_id: &str, b_router_id: &str) -> String {
    format!("bridge_port_{project_id}_{b_router_id}")
}

/// A project's top bridge network and subnet.
#[derive(Debug, Clone)]
pub struct TopBridge {
    pub net: Network,
    pub subnet: Subnet,
}

/// The project's top bridge network and subnet. In plugin mode the central
/// plugin creates them when a router gets an interface or a gateway; in
/// stock mode they are created here (with the shared subnet pool).
pub async fn top_bridge(
    net: &NetworkContext,
    top_pod: &Pod,
    project_id: &str,
) -> NetResult<TopBridge> {
    if net.settings.stock_neutron {
        return create_top_bridge(net, top_pod, project_id).await;
    }
    let top = net.neutron(top_pod);
    let nets = top
        .list_networks(&Filters::new().eq("name", net_name(project_id)))
        .await?;
    let subnets = top
        .list_subnets(&Filters::new().eq("name", subnet_name(project_id)))
        .await?;
    match (nets.into_iter().next(), subnets.into_iter().next()) {
        (Some(n), Some(s)) => Ok(TopBridge { net: n, subnet: s }),
        _ => Err(NetError::Missing(format!(
            "the top bridge network/subnet of project {project_id} do not exist \
             (the central plugin creates them)"
        ))),
    }
}

/// The shared `bridge_subnet_pool` of `[client] bridge_cidr` in the top
/// region: every project's bridge subnet is a /24 of it, so they never
/// overlap.
pub async fn top_subnet_pool(
    net: &NetworkContext,
    top_pod: &Pod,
    project_id: &str,
) -> NetResult<String> {
    let body = SubnetPool {
        name: Some(SUBNET_POOL_NAME.to_owned()),
        shared: Some(true),
        is_default: Some(false),
        prefixes: Some(vec![net.settings.bridge_cidr.to_string()]),
        ..SubnetPool::default()
    };
    let (got, _) = lock::get_or_create_existing(
        net,
        project_id,
        top_pod,
        Element::named_by_top(SUBNET_POOL_NAME, ResourceType::Subnetpool, body),
    )
    .await?;
    Ok(got.id)
}

async fn create_top_bridge(
    net: &NetworkContext,
    top_pod: &Pod,
    project_id: &str,
) -> NetResult<TopBridge> {
    let name = net_name(project_id);
    let nbody = Network {
        tenant_id: Some(project_id.to_owned()),
        name: Some(name.clone()),
        shared: Some(false),
        admin_state_up: Some(true),
        // The segment is allocated by the central ML2 from its ranges for
        // this type (on the bridge's physical network, for VLAN).
        network_type: Some(net.settings.bridge_network_type.clone()),
        physical_network: net.settings.bridge_physical_network.clone(),
        ..Network::default()
    };
    let sname = subnet_name(project_id);
    // The pool is only needed to make the subnet: not read while the
    // subnet is routed (every rerun), unless it turns out gone.
    let routed_subnet = net.bottom_id(&sname, top_pod, ResourceType::Subnet).await?;
    let pool = async {
        match routed_subnet {
            Some(_) => Ok(None),
            None => top_subnet_pool(net, top_pod, project_id).await.map(Some),
        }
    };
    // The pool and the network do not depend on each other. Both run to
    // their end: a creation dropped half-way holds its routing until it
    // expires.
    let (pool_id, network) = tokio::join!(
        pool,
        lock::get_or_create_existing(
            net,
            project_id,
            top_pod,
            Element::named_by_top(&name, ResourceType::Network, nbody),
        )
    );
    let (pool_id, (n, t_net)) = (pool_id?, network?);
    if let Some(id) = &routed_subnet {
        if let Some(subnet) = net.neutron(top_pod).find::<Subnet>(id).await? {
            return Ok(TopBridge { net: t_net, subnet });
        }
    }
    let pool_id = match pool_id {
        Some(id) => id,
        None => top_subnet_pool(net, top_pod, project_id).await?,
    };
    let sbody = Subnet {
        tenant_id: Some(project_id.to_owned()),
        network_id: Some(n.id.clone()),
        name: Some(sname.clone()),
        ip_version: Some(4),
        subnetpool_id: Some(Some(pool_id)),
        prefixlen: Some(24),
        enable_dhcp: Some(false),
        ..Subnet::default()
    };
    let (_, t_subnet) = lock::get_or_create_existing(
        net,
        project_id,
        top_pod,
        Element::named_by_top(&sname, ResourceType::Subnet, sbody),
    )
    .await?;
    Ok(TopBridge {
        net: t_net,
        subnet: t_subnet,
    })
}

/// The top bridge port of bottom router `b_router_id`, created when
/// missing; `fixed_ip` asks for a given address of the bridge subnet.
pub async fn top_bridge_port(
    net: &NetworkContext,
    top_pod: &Pod,
    project_id: &str,
    bridge: &TopBridge,
    b_router_id: &str,
    fixed_ip: Option<&str>,
) -> NetResult<Port> {
    let name = port_name(project_id, b_router_id);
    let body = Port {
        tenant_id: Some(project_id.to_owned()),
        admin_state_up: Some(true),
        name: Some(name.clone()),
        network_id: Some(bridge.net.id().to_owned()),
        device_id: Some(String::new()),
        device_owner: Some(String::new()),
        fixed_ips: fixed_ip.map(|ip| vec![FixedIp::address(bridge.subnet.id(), ip)]),
        ..Port::default()
    };
    lock::reserve_top_port(net, project_id, top_pod, body).await
}

/// Provider attributes of a bottom copy of `t_net` (type, segment).
pub fn provider_of(t_net: &Network, body: &mut Network) {
    let kind = t_net.network_type.clone().unwrap_or_default();
    match kind.as_str() {
        "vlan" | "flat" => {
            body.network_type = Some(kind.clone());
            body.physical_network = t_net.physical_network.clone();
            if kind == "vlan" {
                body.segmentation_id = t_net.segmentation_id;
            }
        }
        "vxlan" => {
            body.network_type = Some(kind);
            body.segmentation_id = t_net.segmentation_id;
        }
        _ => {}
    }
}

/// The bottom copy of the bridge network and subnet in `pod`, external
/// (it carries router gateways). Returns (bottom network, bottom subnet).
pub async fn bottom_bridge(
    net: &NetworkContext,
    pod: &Pod,
    project_id: &str,
    bridge: &TopBridge,
) -> NetResult<(String, Subnet)> {
    let t_net = &bridge.net;
    let mut nbody = Network {
        tenant_id: Some(project_id.to_owned()),
        name: Some(t_net.id().to_owned()),
        admin_state_up: Some(true),
        external: Some(true),
        ..Network::default()
    };
    provider_of(t_net, &mut nbody);
    let (b_net, _) = lock::get_or_create_existing(
        net,
        project_id,
        pod,
        Element::named_by_top(t_net.id(), ResourceType::Network, nbody),
    )
    .await?;
    let t_sub = &bridge.subnet;
    let sbody = Subnet {
        network_id: Some(b_net.id.clone()),
        name: Some(t_sub.id().to_owned()),
        ip_version: Some(4),
        cidr: t_sub.cidr.clone(),
        // Same gateway as the top: the north-south router holds it.
        gateway_ip: t_sub.gateway_ip.clone(),
        enable_dhcp: Some(false),
        tenant_id: Some(project_id.to_owned()),
        ..Subnet::default()
    };
    // Made again on a new bottom network when that was gone.
    let (_, sub) = lock::get_or_create_existing(
        net,
        project_id,
        pod,
        Element::named_by_top(t_sub.id(), ResourceType::Subnet, sbody),
    )
    .await?;
    Ok((b_net.id, sub))
}

/// The first address of a port, if any.
pub fn first_ip(port: &Port) -> Option<String> {
    port.ip_addresses().next().map(str::to_owned)
}
