//! Undoing what the jobs built, for the stock-mode cleanup jobs
//! (router_cleanup, network_cleanup) and for router_setup when an
//! interface or the gateway goes at the top.
//!
//! Every step looks before it acts and takes "already gone" for done, and
//! a routing goes only after its resource: a job stopped half-way finds
//! the rest on its next run.

use std::collections::BTreeSet;

use tricircle_db::models::{Pod, ResourceRouting};
use tricircle_db::routings::{self, RoutingFilter};
use tricircle_openstack::neutron::{
    device_owner, Filters, NeutronClient, NeutronError, Port, Route, Router,
};
use tricircle_vocab::ResourceType;

use super::external::NS_INTERFACE_PREFIX;
use super::{floatingip, NetResult, NetworkContext};

/// Owners of the ports that make a router interface (Neutron's
/// `ROUTER_INTERFACE_OWNERS`).
pub const ROUTER_INTERFACE_OWNERS: [&str; 3] = [
    device_owner::ROUTER_INTERFACE,
    "network:router_interface_distributed",
    "network:ha_router_replicated_interface",
];

pub fn is_interface_owner(owner: &str) -> bool {
    ROUTER_INTERFACE_OWNERS.contains(&owner)
}

/// A delete whose resource is already gone is done.
pub fn gone_ok<T>(r: Result<T, NeutronError>) -> NetResult<()> {
    match r {
        Ok(_) => Ok(()),
        Err(e) if e.is_not_found() => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Forget every routing whose bottom resource is `bottom_id`.
pub async fn forget_bottom(net: &NetworkContext, bottom_id: &str) -> NetResult<()> {
    let b = bottom_id.to_owned();
    super::note_routing_change();
    net.db
        .run(move |c| routings::delete_mappings_by_bottom_id(c, &b))
        .await?;
    Ok(())
}

/// Forget the routings of `top_id` (in `pod` only, when given).
pub async fn forget_top(net: &NetworkContext, top_id: &str, pod: Option<&Pod>) -> NetResult<()> {
    let t = top_id.to_owned();
    let p = pod.map(|p| p.pod_id.clone());
    super::note_routing_change();
    net.db
        .run(move |c| routings::delete_mappings_by_top_id(c, &t, p.as_deref()))
        .await?;
    Ok(())
}

/// The routings of the ports xjob made in the central region (helper and
/// bridge ports, routed by name) whose name passes `keep`.
pub async fn top_port_routings(
    net: &NetworkContext,
    top_pod: &Pod,
    keep: impl Fn(&str) -> bool,
) -> NetResult<Vec<ResourceRouting>> {
    let filter = RoutingFilter {
        pod_id: Some(top_pod.pod_id.clone()),
        resource_type: Some(ResourceType::Port.as_str().to_owned()),
        ..RoutingFilter::default()
    };
    let rows = net.db.run(move |c| routings::find(c, &filter)).await?;
    Ok(rows.into_iter().filter(|r| keep(&r.top_id)).collect())
}

/// Delete a port xjob made in the central region (routed by its name
/// `row.top_id`), the copies of it in the pods, then the routings.
pub async fn delete_top_port(
    net: &NetworkContext,
    top_pod: &Pod,
    row: &ResourceRouting,
) -> NetResult<()> {
    if let Some(t_port) = row.bottom_id.as_deref().filter(|b| !b.is_empty()) {
        // Shadow copies of a bridge port, bottom copies of a reservation.
        for rtype in [ResourceType::Port, ResourceType::ShadowPort] {
            for (pod, b_port) in net.mappings(t_port, rtype).await? {
                delete_bottom_port(&net.neutron(&pod), &b_port).await?;
                forget_bottom(net, &b_port).await?;
            }
        }
        gone_ok(net.neutron(top_pod).delete_port(t_port).await)?;
        forget_top(net, t_port, None).await?;
    }
    forget_top(net, &row.top_id, Some(top_pod)).await
}

/// Delete a port in a pod: as the interface of its router when it is one
/// (Neutron then deletes it), else directly.
pub async fn delete_bottom_port(client: &NeutronClient, port_id: &str) -> NetResult<()> {
    let Some(port) = client.find::<Port>(port_id).await? else {
        return Ok(());
    };
    let owner = port.device_owner.as_deref().unwrap_or_default();
    let device = port.device_id.as_deref().unwrap_or_default();
    if is_interface_owner(owner) && !device.is_empty() {
        if let Some(router) = client.find::<Router>(device).await? {
            return remove_interface(client, router.id(), port_id).await;
        }
    }
    gone_ok(client.delete_port(port_id).await)
}

/// Remove the interface `port_id` of `router` (Neutron deletes the port);
/// one already gone is done.
pub async fn remove_interface(
    client: &NeutronClient,
    router: &str,
    port_id: &str,
) -> NetResult<()> {
    gone_ok(client.remove_interface_port(router, port_id).await)
}

/// Clear a bottom router's extra routes (a route through an interface
/// keeps Neutron from removing it).
async fn clear_routes(client: &NeutronClient, router: &Router) -> NetResult<()> {
    if router.routes.as_ref().is_some_and(|r| !r.is_empty()) {
        client.set_routes(router.id(), &Vec::<Route>::new()).await?;
    }
    Ok(())
}

/// Everything of bottom router `b_router` in its pod, then the router:
/// routes, floating IPs through it (the top router is gone, so no top
/// floating IP is associated through it any more), interfaces (with the
/// routings of the ports xjob made for them), gateway. Returns whether the
/// router was there.
pub async fn delete_bottom_router(
    net: &NetworkContext,
    pod: &Pod,
    b_router: &str,
) -> NetResult<bool> {
    let client = net.neutron(pod);
    let Some(router) = client.find::<Router>(b_router).await? else {
        return Ok(false);
    };
    clear_routes(&client, &router).await?;
    for fip in client
        .list_floatingips(&Filters::new().eq("router_id", b_router))
        .await?
    {
        floatingip::delete(&client, fip.id()).await?;
    }
    let ports = client
        .list_ports(&Filters::new().eq("device_id", b_router))
        .await?;
    for p in ports
        .iter()
        .filter(|p| p.device_owner.as_deref().is_some_and(is_interface_owner))
    {
        remove_interface(&client, b_router, p.id()).await?;
        forget_bottom(net, p.id()).await?;
    }
    if let Some(gw) = router.external_gateway_info.clone().flatten() {
        release_orphan_floating_ips(net, pod, &gw.network_id).await?;
        client.set_gateway(b_router, None).await?;
    }
    gone_ok(client.delete_router(b_router).await)?;
    tracing::info!(router = %b_router, pod = %pod.region_name, "bottom router deleted");
    Ok(true)
}

/// Delete the unassociated floating IPs of bottom external network
/// `b_ext_net` whose top floating IP is gone: a VM deleted in its pod
/// leaves its bottom floating IP unassociated, and with the top router
/// gone no router_setup syncs it away any more.
async fn release_orphan_floating_ips(
    net: &NetworkContext,
    pod: &Pod,
    b_ext_net: &str,
) -> NetResult<()> {
    let filter = RoutingFilter {
        bottom_id: Some(b_ext_net.to_owned()),
        pod_id: Some(pod.pod_id.clone()),
        resource_type: Some(ResourceType::Network.as_str().to_owned()),
        ..RoutingFilter::default()
    };
    let Some(row) = net.db.run(move |c| routings::find(c, &filter)).await?.pop() else {
        return Ok(());
    };
    let client = net.neutron(pod);
    let orphans: Vec<_> = client
        .list_floatingips(&Filters::new().eq("floating_network_id", b_ext_net))
        .await?
        .into_iter()
        .filter(|f| f.port_id.clone().flatten().is_none())
        .collect();
    if orphans.is_empty() {
        return Ok(());
    }
    let top_pod = net.top_pod().await?;
    let at_top: BTreeSet<String> = net
        .neutron(&top_pod)
        .list_floatingips(&Filters::new().eq("floating_network_id", &row.top_id))
        .await?
        .into_iter()
        .filter_map(|f| f.floating_ip_address)
        .collect();
    for f in orphans {
        if !f
            .floating_ip_address
            .as_ref()
            .is_some_and(|a| at_top.contains(a))
        {
            floatingip::delete(&client, f.id()).await?;
        }
    }
    Ok(())
}

/// The NS router's interfaces that stock mode adds for floating IPs, for
/// the top subnets in `subnets` (all of the router's when `None`): those
/// reserved at the top by `ns_interface_<router>_<subnet>` (the floating
/// IPs through them, the interfaces, the top ports, the routings), and
/// those holding a shadow copy's gateway (the floating IPs through them,
/// the interfaces; the copy keeps its gateway's reservation, as it keeps
/// its shadow ports). Called when the router loses its interface on the
/// network, its gateway, or itself.
pub async fn withdraw_ns_interfaces(
    net: &NetworkContext,
    top_pod: &Pod,
    t_router_id: &str,
    subnets: Option<&BTreeSet<String>>,
) -> NetResult<()> {
    let prefix = format!("{NS_INTERFACE_PREFIX}{t_router_id}_");
    let rows = top_port_routings(net, top_pod, |name| {
        name.strip_prefix(&prefix)
            .is_some_and(|sub| subnets.is_none_or(|s| s.contains(sub)))
    })
    .await?;
    for row in rows {
        if let Some(t_port) = row.bottom_id.as_deref().filter(|b| !b.is_empty()) {
            for (pod, b_port) in net.mappings(t_port, ResourceType::Port).await? {
                release_floating_ips(&net.neutron(&pod), &b_port).await?;
            }
        }
        delete_top_port(net, top_pod, &row).await?;
        tracing::info!(port = %row.top_id, "north-south interface withdrawn");
    }
    withdraw_shadow_gateways(net, t_router_id, subnets).await
}

/// The NS router's interfaces on shadow copies of `subnets` (of every top
/// subnet when `None`), found on the router: they have no routing of their
/// own (Neutron made their ports, by subnet).
async fn withdraw_shadow_gateways(
    net: &NetworkContext,
    t_router_id: &str,
    subnets: Option<&BTreeSet<String>>,
) -> NetResult<()> {
    for (pod, ns_router) in net.mappings(t_router_id, ResourceType::NsRouter).await? {
        let filter = RoutingFilter {
            pod_id: Some(pod.pod_id.clone()),
            resource_type: Some(ResourceType::ShadowSubnet.as_str().to_owned()),
            ..RoutingFilter::default()
        };
        let copies: BTreeSet<String> = net
            .db
            .run(move |c| routings::find(c, &filter))
            .await?
            .into_iter()
            .filter(|r| subnets.is_none_or(|s| s.contains(&r.top_id)))
            .filter_map(|r| r.bottom_id.filter(|b| !b.is_empty()))
            .collect();
        if copies.is_empty() {
            continue;
        }
        let client = net.neutron(&pod);
        let on_copies = client
            .list_ports(
                &Filters::new()
                    .eq("device_id", &ns_router)
                    .eq("device_owner", device_owner::ROUTER_INTERFACE),
            )
            .await?
            .into_iter()
            .filter(|p| on_subnets(p, &copies));
        for itf in on_copies {
            release_floating_ips_of(&client, &itf).await?;
            remove_interface(&client, &ns_router, itf.id()).await?;
            tracing::info!(port = itf.id(), pod = %pod.region_name,
                "north-south interface on a shadow copy withdrawn");
        }
    }
    Ok(())
}

/// Delete the floating IPs that go through router interface `b_port`
/// (those whose port is on its subnet, through its router): Neutron
/// refuses to remove an interface they need.
async fn release_floating_ips(client: &NeutronClient, b_port: &str) -> NetResult<()> {
    match client.find::<Port>(b_port).await? {
        Some(itf) => release_floating_ips_of(client, &itf).await,
        None => Ok(()),
    }
}

/// Whether port `p` has an address on one of `subnets`.
fn on_subnets(p: &Port, subnets: &BTreeSet<String>) -> bool {
    p.fixed_ips
        .iter()
        .flatten()
        .any(|f| f.subnet_id.as_ref().is_some_and(|s| subnets.contains(s)))
}

/// [`release_floating_ips`] of interface `itf` as already read.
async fn release_floating_ips_of(client: &NeutronClient, itf: &Port) -> NetResult<()> {
    let Some(router) = itf.device_id.as_deref().filter(|d| !d.is_empty()) else {
        return Ok(());
    };
    let subnets: BTreeSet<String> = itf
        .fixed_ips
        .iter()
        .flatten()
        .filter_map(|f| f.subnet_id.clone())
        .collect();
    let on_subnet: BTreeSet<String> = client
        .list_ports(&Filters::new().eq("network_id", itf.network_id.clone().unwrap_or_default()))
        .await?
        .into_iter()
        .filter(|p| on_subnets(p, &subnets))
        .map(|p| p.id().to_owned())
        .collect();
    for fip in client
        .list_floatingips(&Filters::new().eq("router_id", router))
        .await?
    {
        if fip
            .port_id
            .clone()
            .flatten()
            .is_some_and(|p| on_subnet.contains(&p))
        {
            floatingip::delete(client, fip.id()).await?;
        }
    }
    Ok(())
}

/// xjob's helper ports on top network `t_net` made before they had their
/// own owner (`network:router_interface`, no device: they keep the
/// tenant's network delete failing) get [`super::DEVICE_OWNER_HELPER`].
/// Run when the network loses a router interface, which a network delete
/// needs first.
pub async fn adopt_old_helpers(net: &NetworkContext, top_pod: &Pod, t_net: &str) -> NetResult<()> {
    let top = net.neutron(top_pod);
    let old = top
        .list_ports(
            &Filters::new()
                .eq("network_id", t_net)
                .eq("device_owner", device_owner::ROUTER_INTERFACE),
        )
        .await?;
    for p in old.iter().filter(|p| {
        super::is_helper_port(p) && p.device_id.as_deref().unwrap_or_default().is_empty()
    }) {
        let upd = Port {
            device_owner: Some(super::DEVICE_OWNER_HELPER.to_owned()),
            ..Port::default()
        };
        gone_ok(top.update_port(p.id(), &upd).await)?;
        tracing::info!(port = p.id(), "helper port given its own device owner");
    }
    Ok(())
}
