//! Stock mode's north-south side of a router with a gateway, which the
//! original's central plugin builds on router-gateway-set: the bottom copy
//! of the external network and its subnets in the pod its first
//! availability-zone hint names, the north-south router
//! `ns_router_<top router>` there with its gateway on that network (SNAT and
//! fixed IPs as the top gateway), the bottom bridge network and subnet in
//! that pod, the top bridge port holding the bridge subnet's gateway
//! address, and the north-south router's interface on the bridge subnet.

use std::sync::atomic::{AtomicBool, Ordering};

use tricircle_db::models::Pod;
use tricircle_openstack::neutron::{
    device_owner, ExternalGatewayInfo, Filters, FixedIp, Network, NeutronClient, NeutronError,
    Port, Router, Subnet,
};

use super::bottom;
use super::bridge::{self, TopBridge};
use super::floatingip;
use super::lock::{self, Element, Got, GotLater};
use super::{NetError, NetResult, NetworkContext};
use tricircle_vocab::ResourceType;

pub fn ns_router_name(t_router_id: &str) -> String {
    format!("ns_router_{t_router_id}")
}

/// Name of the top port reserving the north-south router's address on a
/// tenant subnet (floating IPs need that interface on stock Neutron).
pub fn ns_interface_port_name(t_router_id: &str, t_subnet_id: &str) -> String {
    format!("{NS_INTERFACE_PREFIX}{t_router_id}_{t_subnet_id}")
}

/// Names of the NS routers' address-holding top ports start so.
pub const NS_INTERFACE_PREFIX: &str = "ns_interface_";

/// Where the north-south side lives.
#[derive(Debug, Clone)]
pub struct NorthSouth {
    pub pod: Pod,
    pub b_ext_net: String,
    pub ns_router: String,
}

/// The availability-zone hints of a top network or router, as Neutron's
/// typed `availability_zone_hints` field of either (absent: none).
///
/// Merged from router_setup's `az_hints` and this module's
/// `network_az_hints`, which agreed: both took the typed field, else looked
/// for the key in `extra`. That fallback is gone because it could never
/// fire: a field the resource names is never left in `extra`.
pub fn az_hints(hints: Option<&Vec<String>>) -> Vec<String> {
    hints.cloned().unwrap_or_default()
}

/// The pod of a top external network: its first availability-zone hint.
pub async fn ext_pod(net: &NetworkContext, t_ext: &Network) -> NetResult<Pod> {
    let hint = az_hints(t_ext.availability_zone_hints.as_ref())
        .into_iter()
        .next()
        .ok_or_else(|| {
            NetError::Missing(format!(
                "external network {} has no availability_zone_hints naming its pod",
                t_ext.id()
            ))
        })?;
    net.pod_by_az_or_region(&hint)
        .await?
        .ok_or_else(|| NetError::Missing(format!("no pod has the zone or region {hint}")))
}

/// The bottom copy of top external network `t_ext` and its subnets in
/// `pod`. Returns the bottom network id.
pub async fn bottom_external(
    net: &NetworkContext,
    top_pod: &Pod,
    pod: &Pod,
    t_ext: &Network,
) -> NetResult<String> {
    let owner = t_ext.tenant_id.clone().unwrap_or_default();
    // The reference names it as the top; an unnamed one gets the top id.
    let name = t_ext
        .name
        .clone()
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| t_ext.id().to_owned());
    let mut body = Network {
        tenant_id: Some(owner.clone()).filter(|o| !o.is_empty()),
        name: Some(name.clone()),
        admin_state_up: Some(true),
        external: Some(true),
        ..Network::default()
    };
    // Zone hints are not copied: a pod without agents refuses them.
    body.network_type = t_ext.network_type.clone();
    body.physical_network = t_ext.physical_network.clone();
    body.segmentation_id = t_ext.segmentation_id;
    let b_net = lock::get_or_create(
        net,
        &owner,
        pod,
        Element {
            top_id: t_ext.id(),
            resource_type: ResourceType::Network,
            name: &name,
            body,
        },
    )
    .await?
    .id;
    let t_subs = net
        .neutron(top_pod)
        .list_subnets(&Filters::new().eq("network_id", t_ext.id()))
        .await?;
    for t_sub in &t_subs {
        let body = Subnet {
            name: Some(t_sub.id().to_owned()),
            network_id: Some(b_net.clone()),
            tenant_id: t_sub.tenant_id.clone().filter(|o| !o.is_empty()),
            ip_version: t_sub.ip_version,
            cidr: t_sub.cidr.clone(),
            gateway_ip: t_sub.gateway_ip.clone(),
            allocation_pools: t_sub.allocation_pools.clone(),
            enable_dhcp: t_sub.enable_dhcp,
            ..Subnet::default()
        };
        lock::get_or_create(
            net,
            &owner,
            pod,
            Element::named_by_top(t_sub.id(), ResourceType::Subnet, body),
        )
        .await?;
    }
    Ok(b_net)
}

/// The whole north-south side of non-local top router `t_router` (which
/// has a gateway), created where missing.
pub async fn north_south(
    net: &NetworkContext,
    top_pod: &Pod,
    project_id: &str,
    t_router: &Router,
    bridge: &TopBridge,
) -> NetResult<Option<NorthSouth>> {
    let Some(t_gw) = t_router.external_gateway_info.clone().flatten() else {
        return Ok(None);
    };
    let top = net.neutron(top_pod);
    let t_ext = top.get_network(&t_gw.network_id).await?;
    let pod = ext_pod(net, &t_ext).await?;
    // Every pod job of the router builds this side: in this process, one
    // at a time (the others then only read it).
    let _turn = net
        .turns
        .take(
            &format!("north-south#{}", t_router.id()),
            &[&top_pod.region_name, &pod.region_name],
        )
        .await;
    let client = net.neutron(&pod);
    let name = ns_router_name(t_router.id());
    // The external network's copy is made with the network, as a rule:
    // when it is there, the router is made with its gateway in the same
    // POST (a write fewer on a router, whose writes go one at a time).
    let want_gw = match net
        .bottom_id(t_ext.id(), &pod, ResourceType::Network)
        .await?
    {
        Some(b_ext) => wanted_gateway(net, &pod, &t_gw, &b_ext).await?,
        None => None,
    };
    let body = Router {
        tenant_id: Some(project_id.to_owned()),
        name: Some(name.clone()),
        admin_state_up: Some(true),
        external_gateway_info: want_gw.clone().map(Some),
        ..Router::default()
    };
    // Whether the router as made or found has the gateway already.
    let gateway_there = AtomicBool::new(false);
    // The router, the external network's copy and the bridge's copy are
    // made at once; the gateway starts once the router and the external
    // copy are there, the bridge interface once the router and the bridge
    // copy are (neither waits for the other's copy). Every branch runs to
    // its end: a creation dropped half-way holds its routing until it
    // expires.
    let (made, ns_router) = GotLater::channel("the north-south router");
    let (in_pod, named) = (&pod, &name);
    let (want, there) = (&want_gw, &gateway_there);
    let router = async move {
        let (got, router) = lock::get_or_create_existing(
            net,
            project_id,
            in_pod,
            Element {
                top_id: t_router.id(),
                resource_type: ResourceType::NsRouter,
                name: named,
                body,
            },
        )
        .await?;
        let has = |w: &ExternalGatewayInfo| {
            gateway_matches(router.external_gateway_info.clone().flatten(), w)
        };
        there.store(want.as_ref().is_some_and(has), Ordering::Relaxed);
        made.send_replace(Some(got));
        NetResult::Ok(())
    };
    let gateway = async {
        let b_ext_net = bottom_external(net, top_pod, &pod, &t_ext).await?;
        let Got {
            id: ns_router,
            bound_now,
        } = ns_router.clone().get().await?;
        if !gateway_there.load(Ordering::Relaxed) {
            gateway_as_top(net, &pod, &t_gw, &b_ext_net, &ns_router, bound_now).await?;
        }
        NetResult::Ok((b_ext_net, ns_router))
    };
    let interface = async {
        let copy = bridge::bottom_bridge(net, &pod, project_id, bridge);
        let top_port = async {
            let ns_router = ns_router.clone().get().await?.id;
            ns_bridge_port(net, top_pod, project_id, bridge, &ns_router).await?;
            NetResult::Ok(ns_router)
        };
        let (copy, top_port) = tokio::join!(copy, top_port);
        let ((_, b_bridge_sub), ns_router) = (copy?, top_port?);
        ensure_interface_on(&client, &ns_router, b_bridge_sub.id(), None).await
    };
    let (router, gateway, interface) = tokio::join!(router, gateway, interface);
    router?;
    let (b_ext_net, ns_router) = gateway?;
    interface?;
    Ok(Some(NorthSouth {
        pod,
        b_ext_net,
        ns_router,
    }))
}

/// The top bridge port holding the bridge subnet's gateway address for
/// north-south router `ns_router`: not needed by its bridge interface
/// itself, but it keeps the address taken at the top and is what shadow
/// ports are made from.
async fn ns_bridge_port(
    net: &NetworkContext,
    top_pod: &Pod,
    project_id: &str,
    bridge: &TopBridge,
    ns_router: &str,
) -> NetResult<()> {
    let gw_ip = bridge
        .subnet
        .gateway_ip
        .clone()
        .flatten()
        .ok_or_else(|| NetError::Missing("the top bridge subnet has no gateway".into()))?;
    match bridge::top_bridge_port(net, top_pod, project_id, bridge, ns_router, Some(&gw_ip)).await {
        Err(NetError::Neutron(e)) if address_taken(&e) => {
            Err(bridge_gateway_taken(net, top_pod, project_id, bridge, &gw_ip, e).await)
        }
        done => done.map(|_| ()),
    }
}

fn address_taken(e: &NeutronError) -> bool {
    matches!(
        e.kind(),
        Some("IpAddressAlreadyAllocated" | "IpAddressInUse")
    )
}

/// The project's bridge gateway address is another port's: in the
/// original's design (and here) it is the north-south router's, so a
/// project holds one cross-pod router with an external gateway. Said so,
/// with the holder, rather than as Neutron's bare 409 at every redo.
async fn bridge_gateway_taken(
    net: &NetworkContext,
    top_pod: &Pod,
    project_id: &str,
    bridge: &TopBridge,
    gw_ip: &str,
    e: NeutronError,
) -> NetError {
    let held = net
        .neutron(top_pod)
        .list_ports(
            &Filters::new()
                .eq("network_id", bridge.net.id())
                .fixed_ip_address(gw_ip),
        )
        .await
        .unwrap_or_default();
    let by = match held.first() {
        Some(p) => format!(
            "port {} ({})",
            p.id(),
            p.name.as_deref().unwrap_or_default()
        ),
        None => format!("another port ({e})"),
    };
    NetError::Conflict(format!(
        "project {project_id}'s bridge gateway {gw_ip} is held by {by}: the north-south \
         router of another cross-pod router with an external gateway; a project holds one \
         such router (as in the original Tricircle): remove the other's gateway, or give \
         this router a project of its own"
    ))
}

/// The top router's gateway `t_gw` as `pod` has it: on bottom external
/// network `b_ext_net`, same SNAT, same addresses on the copies of the top
/// external subnets; `None` while one of those has no copy.
async fn wanted_gateway(
    net: &NetworkContext,
    pod: &Pod,
    t_gw: &ExternalGatewayInfo,
    b_ext_net: &str,
) -> NetResult<Option<ExternalGatewayInfo>> {
    let mut fixed = Vec::new();
    for f in t_gw.external_fixed_ips.iter().flatten() {
        let t_sub = f.subnet_id.clone().unwrap_or_default();
        let Some(b_sub) = net.bottom_id(&t_sub, pod, ResourceType::Subnet).await? else {
            return Ok(None);
        };
        match &f.ip_address {
            Some(ip) => fixed.push(FixedIp::address(&b_sub, ip)),
            None => fixed.push(FixedIp::on_subnet(&b_sub)),
        }
    }
    Ok(Some(ExternalGatewayInfo {
        network_id: b_ext_net.to_owned(),
        enable_snat: t_gw.enable_snat,
        external_fixed_ips: (!fixed.is_empty()).then_some(fixed),
    }))
}

/// Give bottom router `b_router` in `pod` the top router's gateway `t_gw`:
/// on bottom external network `b_ext_net`, same SNAT, same addresses on the
/// copies of the top external subnets. Nothing is written when it already
/// is so.
pub async fn gateway_as_top(
    net: &NetworkContext,
    pod: &Pod,
    t_gw: &ExternalGatewayInfo,
    b_ext_net: &str,
    b_router: &str,
    made_now: bool,
) -> NetResult<()> {
    let client = net.neutron(pod);
    let want = wanted_gateway(net, pod, t_gw, b_ext_net)
        .await?
        .ok_or_else(|| {
            NetError::Missing(format!(
                "a subnet of external network {} has no copy in {}",
                t_gw.network_id, pod.region_name
            ))
        })?;
    let matches = |r: &Router| gateway_matches(r.external_gateway_info.clone().flatten(), &want);
    // A router made just now has no gateway: no need to read it.
    if made_now || !matches(&client.get_router(b_router).await?) {
        if let Err(e) = client.set_gateway(b_router, Some(want.clone())).await {
            // Jobs of both pods set it at once; the loser sees its address
            // taken (IpAddressAlreadyAllocated) by the winner's same gateway,
            // which may take a moment to show on the router.
            let racing = address_taken(&e);
            let mut set = false;
            for _ in 0..if racing { 5 } else { 1 } {
                if matches(&client.get_router(b_router).await?) {
                    set = true;
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            }
            if !set {
                return Err(e.into());
            }
            tracing::debug!(router = %b_router, error = %e, "gateway set meanwhile");
        }
    }
    Ok(())
}

/// Stock mode, local router (zone hint naming `pod`) with a gateway: as the
/// reference's central plugin does, the gateway goes on the local bottom
/// router itself, on the external network's copy in its pod. Returns false
/// (nothing done) when the external network lives in another pod, which
/// a local router cannot reach.
pub async fn local_gateway(
    net: &NetworkContext,
    top_pod: &Pod,
    pod: &Pod,
    t_router: &Router,
    b_router: &str,
) -> NetResult<bool> {
    let Some(t_gw) = t_router.external_gateway_info.clone().flatten() else {
        return Ok(false);
    };
    let t_ext = net.neutron(top_pod).get_network(&t_gw.network_id).await?;
    let ext = ext_pod(net, &t_ext).await?;
    if ext.pod_id != pod.pod_id {
        tracing::warn!(
            router = t_router.id(),
            router_pod = %pod.region_name,
            external_pod = %ext.region_name,
            "a local router's external network is in another pod; no gateway set there"
        );
        return Ok(false);
    }
    let b_ext_net = bottom_external(net, top_pod, pod, &t_ext).await?;
    gateway_as_top(net, pod, &t_gw, &b_ext_net, b_router, false).await?;
    Ok(true)
}

/// Stock mode, top router without a gateway (any more): the reference's
/// central plugin removes the gateway of the bottom router that carried it
/// (`_remove_router_gateway`); here the floating IPs through it go first,
/// as Neutron refuses to remove a gateway they use. `local`: the pod of a
/// local router, whose own bottom router carried it; the NS routers
/// otherwise.
pub async fn withdraw_gateway(
    net: &NetworkContext,
    t_router_id: &str,
    local: Option<&Pod>,
) -> NetResult<()> {
    let carriers: Vec<(Pod, String)> = match local {
        Some(pod) => net
            .bottom_id(t_router_id, pod, ResourceType::Router)
            .await?
            .map(|b| (pod.clone(), b))
            .into_iter()
            .collect(),
        None => net.mappings(t_router_id, ResourceType::NsRouter).await?,
    };
    for (pod, b_router) in carriers {
        let client = net.neutron(&pod);
        let Some(router) = client.find::<Router>(&b_router).await? else {
            continue;
        };
        if router.external_gateway_info.clone().flatten().is_none() {
            continue;
        }
        for fip in client
            .list_floatingips(&Filters::new().eq("router_id", &b_router))
            .await?
        {
            floatingip::delete(&client, fip.id()).await?;
        }
        client.set_gateway(&b_router, None).await?;
        tracing::info!(router = %b_router, pod = %pod.region_name, "gateway removed: the top router has none");
    }
    Ok(())
}

/// Whether router gateway `cur` already is `want`: same network, and the
/// same SNAT and addresses where `want` names them (`None` leaves them to
/// Neutron, which reports its defaults back; a match on them would make
/// every rerun set the gateway again). Addresses compare in order.
///
/// Merged from router_setup's `same_gateway`, which compared SNAT and
/// addresses even when unset in `want`; its wants always set both, so it
/// decided the same there.
pub fn gateway_matches(cur: Option<ExternalGatewayInfo>, want: &ExternalGatewayInfo) -> bool {
    let Some(cur) = cur else { return false };
    let addrs = |g: &ExternalGatewayInfo| -> Vec<String> {
        g.external_fixed_ips
            .iter()
            .flatten()
            .filter_map(|f| f.ip_address.clone())
            .collect()
    };
    cur.network_id == want.network_id
        && (want.enable_snat.is_none() || cur.enable_snat == want.enable_snat)
        && (want.external_fixed_ips.is_none() || addrs(&cur) == addrs(want))
}

async fn has_interface_on(client: &NeutronClient, router: &str, b_sub: &str) -> NetResult<bool> {
    let ports = client
        .list_ports(&Filters::new().eq("device_id", router))
        .await?;
    Ok(ports
        .iter()
        .flat_map(|p| p.fixed_ips.iter().flatten())
        .any(|f| f.subnet_id.as_deref() == Some(b_sub)))
}

/// Attach `router` to bottom subnet `b_sub` (by subnet, or by `port` when
/// given) unless it already is; a concurrent attach that won is fine.
pub async fn ensure_interface_on(
    client: &NeutronClient,
    router: &str,
    b_sub: &str,
    port: Option<&str>,
) -> NetResult<()> {
    if has_interface_on(client, router, b_sub).await? {
        return Ok(());
    }
    let done = match port {
        Some(p) => client.add_interface_port(router, p).await.map(|_| ()),
        None => client.add_interface_subnet(router, b_sub).await.map(|_| ()),
    };
    match done {
        Ok(()) => Ok(()),
        Err(e) if has_interface_on(client, router, b_sub).await? => {
            tracing::debug!(router, error = %e, "interface attached meanwhile");
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

/// Stock mode: the top port reserving the address of the north-south
/// router's interface on a copy of top subnet `t_sub` (made once; later
/// calls find it by its routing).
async fn reserve_ns_interface(
    net: &NetworkContext,
    top_pod: &Pod,
    project_id: &str,
    t_router_id: &str,
    t_sub: &Subnet,
) -> NetResult<Port> {
    let name = ns_interface_port_name(t_router_id, t_sub.id());
    let network_id = t_sub.network_id.clone().unwrap_or_default();
    let tbody = lock::interface_port_body(project_id, &network_id, t_sub.id(), &name);
    bottom::reserve_in_head(net, project_id, top_pod, t_sub, tbody).await
}

/// On which copy the north-south router needs its interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NsCopy {
    /// The VM's pod's own copy, whose gateway the east-west router holds.
    Own,
    /// A shadow copy (the VM lives in another pod): it holds shadow ports
    /// only, so its gateway, reserved at the top for the copy, is free.
    Shadow,
}

/// Stock mode, for floating IPs: the north-south router's own interface on
/// bottom subnet `b_sub` (copy of top subnet `t_sub` on bottom network
/// `b_net` in `pod`). On a shadow copy it takes the copy's gateway (by subnet: no
/// reservation and no port of its own, two writes fewer on the floating
/// IP's path); elsewhere, or when another router holds that gateway, an
/// address reserved by a top port `ns_interface_<router>_<subnet>` so no VM
/// ever gets it.
#[allow(clippy::too_many_arguments)]
pub async fn ns_interface(
    net: &NetworkContext,
    top_pod: &Pod,
    pod: &Pod,
    project_id: &str,
    t_router_id: &str,
    ns_router: &str,
    t_sub: &str,
    b_net: &str,
    b_sub: &str,
    copy: NsCopy,
) -> NetResult<()> {
    let client = net.neutron(pod);
    if has_interface_on(&client, ns_router, b_sub).await? {
        return Ok(());
    }
    if copy == NsCopy::Shadow {
        match client.add_interface_subnet(ns_router, b_sub).await {
            Ok(_) => return Ok(()),
            Err(e) if has_interface_on(&client, ns_router, b_sub).await? => {
                tracing::debug!(router = ns_router, error = %e, "interface attached meanwhile");
                return Ok(());
            }
            // Another project's router took the copy's gateway first (a
            // shared network): this one gets an address of its own.
            Err(e) if address_taken(&e) => {
                tracing::info!(router = ns_router, subnet = b_sub, error = %e,
                    "the shadow copy's gateway is another router's; reserving an address");
            }
            Err(e) => return Err(e.into()),
        }
    }
    let t_sub = net.neutron(top_pod).get_subnet(t_sub).await?;
    let t_port = reserve_ns_interface(net, top_pod, project_id, t_router_id, &t_sub).await?;
    let name = ns_interface_port_name(t_router_id, t_sub.id());
    let ip = bridge::first_ip(&t_port)
        .ok_or_else(|| NetError::Missing(format!("top port {name} has no address")))?;
    let body = Port {
        tenant_id: Some(project_id.to_owned()),
        admin_state_up: Some(true),
        name: Some(t_port.id().to_owned()),
        network_id: Some(b_net.to_owned()),
        mac_address: t_port.mac_address.clone(),
        fixed_ips: Some(vec![FixedIp::address(b_sub, &ip)]),
        device_owner: Some(device_owner::ROUTER_INTERFACE.to_owned()),
        ..Port::default()
    };
    let b_port = lock::get_or_create(
        net,
        project_id,
        pod,
        Element::named_by_top(t_port.id(), ResourceType::Port, body),
    )
    .await?;
    ensure_interface_on(&client, ns_router, b_sub, Some(&b_port.id)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gw(net: &str, snat: Option<bool>, ips: Option<&[&str]>) -> ExternalGatewayInfo {
        ExternalGatewayInfo {
            network_id: net.into(),
            enable_snat: snat,
            external_fixed_ips: ips.map(|l| l.iter().map(|ip| FixedIp::address("s", ip)).collect()),
        }
    }

    #[test]
    fn az_hints_are_the_typed_field_of_networks_and_routers() {
        let n: Network = serde_json::from_value(
            serde_json::json!({"id": "n", "availability_zone_hints": ["az1"]}),
        )
        .unwrap();
        assert_eq!(az_hints(n.availability_zone_hints.as_ref()), ["az1"]);
        // Why no fallback to `extra`: the key never lands there.
        assert!(!n.extra.contains_key("availability_zone_hints"));
        let r: Router = serde_json::from_value(serde_json::json!({"id": "r"})).unwrap();
        assert!(az_hints(r.availability_zone_hints.as_ref()).is_empty());
        let r: Router = serde_json::from_value(
            serde_json::json!({"id": "r", "availability_zone_hints": ["RegionTwo"]}),
        )
        .unwrap();
        assert_eq!(az_hints(r.availability_zone_hints.as_ref()), ["RegionTwo"]);
    }

    #[test]
    fn gateway_matches_compares_what_the_wanted_gateway_names() {
        let cur = gw("ext", Some(true), Some(&["1.0.0.5"]));
        assert!(gateway_matches(Some(cur.clone()), &cur));
        assert!(!gateway_matches(None, &cur));
        assert!(!gateway_matches(
            Some(cur.clone()),
            &gw("other", Some(true), Some(&["1.0.0.5"]))
        ));
        assert!(!gateway_matches(
            Some(cur.clone()),
            &gw("ext", Some(false), Some(&["1.0.0.5"]))
        ));
        assert!(!gateway_matches(
            Some(cur.clone()),
            &gw("ext", Some(true), Some(&["1.0.0.6"]))
        ));
        // Where the old twins disagreed: router_setup's `same_gateway` took
        // an unset SNAT or address list in the wanted gateway as "none".
        assert!(gateway_matches(Some(cur.clone()), &gw("ext", None, None)));
        assert!(gateway_matches(
            Some(cur),
            &gw("ext", None, Some(&["1.0.0.5"]))
        ));
    }
}
