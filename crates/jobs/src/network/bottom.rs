//! Bottom copies of top networks and subnets, created idempotently
//! through the routing-table lock. In stock mode a copy's allocation pools
//! are the pod's slice of the top pools ([`super::slices`]), and the top
//! ports holding the pods' gateway addresses sit in the central head.

use std::collections::{BTreeMap, BTreeSet};

use tricircle_db::models::Pod;
use tricircle_openstack::neutron::{
    AllocationPool, Filters, FixedIp, Network, NeutronError, Port, Subnet,
};

use super::bridge::provider_of;
use super::lock::{self, Element};
use super::{external, ip, slices, NetError, NetResult, NetworkContext};
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

/// The bottom copy of `t_net` and `t_subnets` in `pod` (VLAN and flat
/// networks on the top's segment, for cross-pod L2). Each subnet's bottom
/// gateway is the address of a top port reserved for this pod
/// (`interface_<region>_<subnet>`), so that routers in different pods never
/// share a gateway address. The allocation pools: in stock mode the pod's
/// slice ([`copy_pools`]; a copy whose pools differ, because the pods of the
/// network changed, is updated), a shadow copy none (it holds explicitly
/// addressed ports only); with the plugins the top pools, the top gateway
/// joining them. Returns the bottom network id and top subnet id -> bottom
/// subnet id.
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
    if matches!(t_net.network_type.as_deref(), Some("vlan" | "flat")) {
        provider_of(t_net, &mut body);
    }
    let stock = net.settings.stock_neutron;
    // The pods sharing the subnets' addresses: this one holds a copy now.
    let mut pods = Vec::new();
    if stock && copy == Copy::Own {
        pods = network_pods(net, t_net).await?;
        if !pods.iter().any(|p| p.pod_id == pod.pod_id) {
            pods.push(pod.clone());
            pods.sort_by(|a, b| a.pod_id.cmp(&b.pod_id));
        }
        // A subnet too small for its pods stops the job before it makes
        // anything.
        for t_sub in t_subnets {
            plan_of(t_sub, pods.len())?;
        }
    }
    // The copy of the network (in the pod) and the reserved gateways (top
    // ports) do not depend on each other. Both run to their end: a
    // creation dropped half-way holds its routing until it expires.
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
    );
    let gateways = async {
        let mut gws = Vec::with_capacity(t_subnets.len());
        for t_sub in t_subnets {
            gws.push(reserved_gateway(net, top_pod, pod, project_id, t_net, t_sub).await?);
        }
        NetResult::Ok(gws)
    };
    let (b_net, gateways) = tokio::join!(b_net, gateways);
    let (b_net, gateways) = (b_net?, gateways?);
    let mut map = BTreeMap::new();
    for (t_sub, gw) in t_subnets.iter().zip(gateways) {
        let pools = match (stock, copy) {
            (true, Copy::Own) => copy_pools(t_sub, &pods, pod, Some(&gw))?,
            (true, Copy::Shadow) => Vec::new(),
            (false, _) => ip::bottom_pools(
                t_sub.allocation_pools.as_deref().unwrap_or_default(),
                t_sub.gateway_ip.clone().flatten().as_deref(),
                &gw,
            ),
        };
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
        let (got, b_sub) = lock::get_or_create_existing(
            net,
            project_id,
            pod,
            Element::named_by_top(t_sub.id(), subnet_type, body),
        )
        .await?;
        if stock && copy == Copy::Own {
            // The copy's own gateway may have moved (a local router's
            // interface takes the top's): it stays out of the pools.
            let b_gw = b_sub.gateway_ip.clone().flatten();
            let want = copy_pools(t_sub, &pods, pod, b_gw.as_deref())?;
            let have = b_sub.allocation_pools.clone().unwrap_or_default();
            if !slices::same_pools(&have, &want) {
                tracing::info!(subnet = t_sub.id(), pod = %pod.region_name, ?want,
                    "the pods of the network changed: new pools for the copy");
                let upd = Subnet {
                    allocation_pools: Some(want),
                    ..Subnet::default()
                };
                net.neutron(pod).update_subnet(&got.id, &upd).await?;
            }
        }
        map.insert(t_sub.id().to_owned(), got.id);
    }
    Ok((b_net.id, map))
}

/// Stock mode: the pods a top network spans, in `pod_id` order. With
/// availability zone hints, the pods they name (zone or region, as
/// router_setup resolves them) and the pods already holding a copy; with
/// none, every bottom pod (a VM may boot in any of them).
pub async fn network_pods(net: &NetworkContext, t_net: &Network) -> NetResult<Vec<Pod>> {
    let hints = external::az_hints(t_net.availability_zone_hints.as_ref());
    let mut pods: Vec<Pod> = if hints.is_empty() {
        let all = net.db.run(tricircle_db::pods::list).await?;
        all.into_iter().filter(|p| !p.is_top()).collect()
    } else {
        let mut found = Vec::new();
        for hint in &hints {
            found.extend(net.pod_by_az_or_region(hint).await?);
        }
        found
    };
    pods.extend(
        net.mappings(t_net.id(), ResourceType::Network)
            .await?
            .into_iter()
            .map(|(p, _)| p),
    );
    pods.sort_by(|a, b| a.pod_id.cmp(&b.pod_id));
    pods.dedup_by(|a, b| a.pod_id == b.pod_id);
    Ok(pods)
}

/// The allocation pools of `pod`'s copy of `t_sub` when the network spans
/// `pods`: the pod's slice, without the copy's `gateway`.
pub fn copy_pools(
    t_sub: &Subnet,
    pods: &[Pod],
    pod: &Pod,
    gateway: Option<&str>,
) -> NetResult<Vec<AllocationPool>> {
    let i = pods
        .iter()
        .position(|p| p.pod_id == pod.pod_id)
        .ok_or_else(|| {
            NetError::Addressing(format!(
                "pod {} is not among the pods of subnet {}",
                pod.region_name,
                t_sub.id()
            ))
        })?;
    let plan = plan_of(t_sub, pods.len())?;
    let pools = plan.pools(i);
    Ok(match gateway {
        Some(gw) => slices::pools_without(pools, gw),
        None => pools,
    })
}

fn plan_of(t_sub: &Subnet, pods: usize) -> NetResult<slices::Plan> {
    slices::plan(
        t_sub.allocation_pools.as_deref().unwrap_or_default(),
        t_sub.gateway_ip.clone().flatten().as_deref(),
        pods,
    )
    .map_err(|e| NetError::Addressing(format!("subnet {} ({}): {e}", t_sub.id(), cidr(t_sub))))
}

fn cidr(t_sub: &Subnet) -> &str {
    t_sub.cidr.as_deref().unwrap_or_default()
}

/// IPv6 subnets whose ports take addresses from their MAC (SLAAC,
/// DHCPv6-stateless): Neutron chooses, a fixed address cannot be asked.
fn automatic_addresses(t_sub: &Subnet) -> bool {
    t_sub.ip_version == Some(6)
        && matches!(
            t_sub
                .extra
                .get("ipv6_address_mode")
                .and_then(|v| v.as_str()),
            Some("slaac" | "dhcpv6-stateless")
        )
}

/// The address is taken: by another port (a worker racing us), or by one
/// the list did not show yet.
fn address_taken(e: &NeutronError) -> bool {
    e.status() == Some(409)
        && matches!(
            e.kind(),
            Some("IpAddressAlreadyAllocated" | "IpAddressInUse")
        )
}

/// Reserve a top port of xjob (`body`, named as its routing's top id) on
/// `t_sub` in stock mode at the lowest free address of the subnet's
/// central head: Neutron would allocate anywhere in the pools, and so
/// maybe inside a pod's slice. A taken address (409) moves on to the next
/// one. The port already reserved is returned as it is.
pub async fn reserve_in_head(
    net: &NetworkContext,
    project_id: &str,
    top_pod: &Pod,
    t_sub: &Subnet,
    mut body: Port,
) -> NetResult<Port> {
    if !net.settings.stock_neutron || automatic_addresses(t_sub) {
        return lock::reserve_top_port(net, project_id, top_pod, body).await;
    }
    let name = body.name.clone().unwrap_or_default();
    let top = net.neutron(top_pod);
    if let Some(id) = net.bottom_id(&name, top_pod, ResourceType::Port).await? {
        if let Some(port) = top.find::<Port>(&id).await? {
            return Ok(port);
        }
    }
    let plan = plan_of(t_sub, 0)?;
    let network_id = t_sub.network_id.clone().unwrap_or_default();
    let used: BTreeSet<u128> = top
        .list_ports(&Filters::new().eq("network_id", &network_id))
        .await?
        .iter()
        .flat_map(|p| p.fixed_ips.iter().flatten())
        .filter(|f| f.subnet_id.as_deref() == Some(t_sub.id()))
        .filter_map(|f| f.ip_address.as_deref().and_then(slices::parse))
        .map(|(_, a)| a)
        .collect();
    for ip in plan.free_in_head(&used) {
        body.fixed_ips = Some(vec![FixedIp::address(t_sub.id(), &ip)]);
        match lock::reserve_top_port(net, project_id, top_pod, body.clone()).await {
            Err(NetError::Neutron(e)) if address_taken(&e) => {
                tracing::debug!(port = %name, %ip, "head address taken meanwhile; next one");
            }
            done => return done,
        }
    }
    Err(NetError::Addressing(format!(
        "subnet {} ({}): no free address left in the {} addresses kept for the central \
         region, for port {name}",
        t_sub.id(),
        cidr(t_sub),
        plan.head.iter().map(|s| s.size()).sum::<u128>(),
    )))
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
    let port = reserve_in_head(net, project_id, top_pod, t_sub, body).await?;
    let ip = port.ip_addresses().next().map(str::to_owned);
    ip.ok_or_else(|| NetError::Missing(format!("top port {name} has no address")))
}
