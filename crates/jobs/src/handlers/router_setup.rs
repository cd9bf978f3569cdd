//! `router_setup` (RPC `setup_bottom_router`): build the bottom side of a
//! top router for one network in one pod.
//!
//! With `pod_id = not_specified_pod` it records one new job per pod the
//! network is mapped to (so that no two workers operate the same pod at
//! once) and stops. In a pod it makes sure of: the bottom router (named by
//! the top router id); for a non-local router the top bridge port of that
//! router and the bottom bridge network/subnet, and the router's gateway on
//! the bridge network with SNAT off at the bridge port's address; the
//! interface on the tenant subnet; the floating IPs; and finally it records
//! a configure_route job for the router.

use tricircle_db::models::Pod;
use tricircle_openstack::calls::JobCalls;
use tricircle_openstack::neutron::{
    device_owner, ExternalGatewayInfo, Filters, FixedIp, Network, NeutronClient, Port, Router,
    SubnetPool,
};

use crate::handler::{HandlerResult, Job, JobContext};
use crate::network::bottom::{self, Copy};
use crate::network::bridge::{self, TopBridge};
use crate::network::external;
use crate::network::lock::{self, Element, Got, GotLater};
use crate::network::seen::SeenRouter;
use crate::network::{
    floatingip, ip, prefetch, routers, teardown, NetError, NetResult, NetworkContext,
};
use crate::recorded;
use crate::resource::{PodScope, RouterInPod};
use tricircle_vocab::JobType;
use tricircle_vocab::ResourceType;

pub struct RouterSetup(pub NetworkContext);

#[async_trait::async_trait]
impl Job for RouterSetup {
    const TYPE: JobType = JobType::RouterSetup;
    type Resource = RouterInPod;

    async fn run(&self, r: RouterInPod, ctx: &JobContext) -> HandlerResult {
        setup(&self.0, ctx, &r.pod, &r.router_id, &r.network_id).await?;
        Ok(())
    }
}

/// A local router has exactly one hint naming a pod: it lives in that pod
/// only and needs no bridge.
async fn local_router_pod(net: &NetworkContext, t_router: &Router) -> NetResult<Option<String>> {
    let hints = external::az_hints(t_router.availability_zone_hints.as_ref());
    if hints.len() != 1 {
        return Ok(None);
    }
    let name = hints[0].clone();
    let found = net
        .db
        .run(move |c| tricircle_db::pods::by_region_name(c, &name))
        .await?;
    Ok(found.map(|p| p.region_name))
}

async fn setup(
    net: &NetworkContext,
    ctx: &JobContext,
    pod: &PodScope,
    router_id: &str,
    net_id: &str,
) -> NetResult<()> {
    let top_pod = net.top_pod().await?;
    let PodScope::One(pod_id) = pod else {
        return fan_out(net, ctx, &top_pod, router_id, net_id).await;
    };
    let top = net.neutron(&top_pod);
    // What the job will need is read ahead while the router is read.
    let mut guess = net.seen.router(router_id).unwrap_or_default();
    if guess.project_id.is_empty() {
        guess.project_id = ctx.project_id.clone().unwrap_or_default();
    }
    let ahead = read_ahead(net, &top_pod, pod_id, router_id, net_id, &guess);
    let (t_router, ()) = tokio::join!(top.find::<Router>(router_id), ahead);
    let Some(t_router) = t_router? else {
        tracing::info!(router_id, "top router is gone; nothing to set up");
        return Ok(());
    };
    let (project_id, ext_id) = remember_router(net, ctx, &t_router);
    let bridge_net = net
        .bottom_id(
            &bridge::net_name(&project_id),
            &top_pod,
            ResourceType::Network,
        )
        .await?
        .unwrap_or_default();
    let b_pod = net.pod(pod_id).await?;
    read_networks(net, &top, &b_pod, net_id, &bridge_net, &ext_id).await?;
    let Some(t_net) = top.find::<Network>(net_id).await? else {
        tracing::info!(net_id, "top network is gone; nothing to set up");
        return Ok(());
    };
    net.seen.set_zone_hints(
        net_id,
        external::az_hints(t_net.availability_zone_hints.as_ref()),
    );
    let local = local_router_pod(net, &t_router).await?;
    if let Some(region) = &local {
        if *region != b_pod.region_name {
            // A cross-pod network on a local router: only its own pod counts.
            return Ok(());
        }
    }
    let bridge = match local {
        Some(_) => None,
        None => Some(bridge::top_bridge(net, &top_pod, &project_id).await?),
    };
    // The north-south side (in the external network's pod) and this pod's
    // router, bridge and interface do not depend on each other: built at
    // once, a first set-up waits for the longer chain of Neutron calls
    // rather than for their sum. Floating IPs need both.
    let north_south = async {
        if let (true, Some(b)) = (net.settings.stock_neutron, &bridge) {
            if external::north_south(net, &top_pod, &project_id, &t_router, b)
                .await?
                .is_none()
            {
                external::withdraw_gateway(net, t_router.id(), None).await?;
                // Without a gateway no floating IP needs the NS router on a
                // tenant subnet.
                teardown::withdraw_ns_interfaces(net, &top_pod, t_router.id(), None).await?;
            }
        }
        Ok(())
    };
    let wiring = wire_pod(
        net,
        &top_pod,
        &b_pod,
        &project_id,
        &t_net,
        &t_router,
        bridge.as_ref(),
    );
    // Both run to their end (see wire_pod).
    let (north_south, b_router): (NetResult<()>, _) = tokio::join!(north_south, wiring);
    let b_router = b_router?;
    north_south?;
    // What the routes depend on is built by now: the floating IPs' writes
    // below (north-south interfaces, shadow copies) move none.
    let wired = JobCalls::current().map(|c| c.changes_made());
    floating_ips(
        net,
        &top_pod,
        &b_pod,
        &project_id,
        &t_net,
        &t_router,
        &b_router,
        bridge.is_none(),
    )
    .await?;
    if local.is_none() && !routes_covered(net, router_id, wired) {
        net.submit_job(
            JobType::ConfigureRoute,
            router_id,
            &project_id,
            &ctx.request,
        )
        .await?;
    }
    Ok(())
}

/// Whether the routes this job would ask for need no run of their own:
/// the job changed nothing they depend on (`wired`: its changes before the
/// floating IPs, which move no route), and either its causes moved no
/// route either (floating IPs' notifications, [`recorded::Reach`]) or a
/// configure_route run of the router started in this process after
/// whatever made the requests this run serves ([`recorded`]), so that run
/// saw it. What else the job found was made by writers that record routes
/// of their own. (The reference records one after every pod job; a
/// rerun's three then read the same thing three times, and a floating
/// IP's run made the external network's pod read the routers again for
/// nothing.) A job that wrote what routes depend on, or whose causes are
/// not known here, records it.
fn routes_covered(net: &NetworkContext, router_id: &str, wired: Option<u64>) -> bool {
    let (Some(0), Some(causes_before)) = (wired, recorded::causes_before()) else {
        return false;
    };
    let reach = recorded::causes_reach();
    let covered = reach == recorded::Reach::FloatingIps
        || net.seen.routes_started_after(router_id, causes_before);
    if covered {
        tracing::debug!(
            router_id,
            ?reach,
            "nothing the routes depend on written, and no cause of this run moved one or a configure_route run started after it: none recorded"
        );
    }
    covered
}

/// With `pod_id = not_specified_pod`: one job per pod the network is
/// mapped to (in stock mode, also those its zone hints name). A router's
/// project and a network's hints never change, so once this process has
/// read them the fan-out makes no call; a router deleted meanwhile is then
/// found gone by the pod jobs.
async fn fan_out(
    net: &NetworkContext,
    ctx: &JobContext,
    top_pod: &Pod,
    router_id: &str,
    net_id: &str,
) -> NetResult<()> {
    let stock = net.settings.stock_neutron;
    let project = net
        .seen
        .router(router_id)
        .map(|r| r.project_id)
        .filter(|p| !p.is_empty());
    let hints = match stock {
        true => net.seen.zone_hints(net_id),
        false => Some(Vec::new()),
    };
    let (project_id, hints) = match (project, hints) {
        (Some(p), Some(h)) => (p, h),
        _ => {
            let top = net.neutron(top_pod);
            let hinted = async {
                match stock {
                    true => top.find::<Network>(net_id).await,
                    false => Ok(None),
                }
            };
            let (t_router, t_net) = tokio::try_join!(top.find::<Router>(router_id), hinted)?;
            let Some(t_router) = t_router else {
                tracing::info!(router_id, "top router is gone; nothing to set up");
                return Ok(());
            };
            let (project_id, _) = remember_router(net, ctx, &t_router);
            let hints = match t_net {
                Some(t_net) => {
                    let hints = external::az_hints(t_net.availability_zone_hints.as_ref());
                    net.seen.set_zone_hints(net_id, hints.clone());
                    hints
                }
                None => Vec::new(),
            };
            (project_id, hints)
        }
    };
    let mut pods: Vec<Pod> = net
        .mappings(net_id, ResourceType::Network)
        .await?
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    // No local plugin maps networks to pods as VMs boot in stock mode:
    // the network's zone hints name its pods.
    for hint in hints {
        if let Some(p) = net.pod_by_az_or_region(&hint).await? {
            if !pods.iter().any(|q| q.pod_id == p.pod_id) {
                pods.push(p);
            }
        }
    }
    let rest = format!("{router_id}#{net_id}");
    let pod_ids: Vec<&str> = pods.iter().map(|p| p.pod_id.as_str()).collect();
    net.submit_per_pod(
        JobType::RouterSetup,
        &pod_ids,
        &rest,
        &project_id,
        &ctx.request,
    )
    .await
}

/// The top router's project (the job's when it has none) and gateway
/// network, remembered for the next jobs on it.
fn remember_router(net: &NetworkContext, ctx: &JobContext, t_router: &Router) -> (String, String) {
    let project_id = t_router
        .tenant_id
        .clone()
        .or_else(|| ctx.project_id.clone())
        .unwrap_or_default();
    let ext_id = t_router
        .external_gateway_info
        .clone()
        .flatten()
        .map(|g| g.network_id)
        .unwrap_or_default();
    net.seen.set_router(
        t_router.id(),
        SeenRouter {
            project_id: project_id.clone(),
            ext_net_id: ext_id.clone(),
            spans_pods: external::az_hints(t_router.availability_zone_hints.as_ref()).len() != 1,
        },
    );
    (project_id, ext_id)
}

/// What a pod job reads, asked for at once while the top router is read
/// (its project and gateway network are `guess`, as a job last saw them):
/// the networks, subnets and ports the prefetches below read; the top
/// router's ports; the bottom and north-south routers and their ports; the
/// floating IPs on the gateway's network, top and bottom, and the top
/// ones' ports; the bridge subnet pool. Their answers are the job's reads
/// (each later GET, or narrower list, finds its answer there), so the job
/// then runs in one or two rounds of calls instead of seven. A guess
/// that no longer holds only leaves its part unused; a failed read is
/// the later read's to report, so errors are dropped here.
async fn read_ahead(
    net: &NetworkContext,
    top_pod: &Pod,
    pod_id: &str,
    router_id: &str,
    net_id: &str,
    guess: &SeenRouter,
) {
    if JobCalls::current().is_none() {
        return;
    }
    let top = net.neutron(top_pod);
    let ext = guess.ext_net_id.as_str();
    let copies = async {
        let b_pod = net.pod(pod_id).await?;
        let bridge_net = net
            .bottom_id(
                &bridge::net_name(&guess.project_id),
                top_pod,
                ResourceType::Network,
            )
            .await?
            .unwrap_or_default();
        let (b_router, ns) = tokio::try_join!(
            net.bottom_id(router_id, &b_pod, ResourceType::Router),
            net.mappings(router_id, ResourceType::NsRouter),
        )?;
        // The pod's router and the north-south one (in the external
        // network's pod, maybe this one) in one pair of lists per pod.
        let in_pods = routers::by_pod(b_router.map(|b| (b_pod.clone(), b)).into_iter().chain(ns));
        let routers = in_pods
            .iter()
            .map(|(pod, ids)| routers_and_ports(net.neutron(pod), ids));
        tokio::try_join!(
            read_networks(net, &top, &b_pod, net_id, &bridge_net, ext),
            futures_util::future::try_join_all(routers),
        )?;
        NetResult::Ok(())
    };
    let top_ports = async {
        top.list_ports(&Filters::new().eq("device_id", router_id))
            .await?;
        NetResult::Ok(())
    };
    let top_fips = async {
        if ext.is_empty() {
            return Ok(());
        }
        let fips = top
            .list_floatingips(&Filters::new().eq("floating_network_id", ext))
            .await?;
        let ports: Vec<String> = fips
            .into_iter()
            .filter_map(|f| f.port_id.flatten())
            .collect();
        if !ports.is_empty() {
            top.list_ports(&Filters::new().any("id", &ports)).await?;
        }
        NetResult::Ok(())
    };
    let bottom_fips = async {
        if ext.is_empty() {
            return Ok(());
        }
        for (pod, b_ext) in net.mappings(ext, ResourceType::Network).await? {
            net.neutron(&pod)
                .list_floatingips(&Filters::new().eq("floating_network_id", &b_ext))
                .await?;
        }
        NetResult::Ok(())
    };
    let pool = async {
        if !net.settings.stock_neutron {
            return Ok(());
        }
        // Read only to make the bridge subnet (`bridge::top_bridge`).
        let subnet = bridge::subnet_name(&guess.project_id);
        if net
            .bottom_id(&subnet, top_pod, ResourceType::Subnet)
            .await?
            .is_some()
        {
            return Ok(());
        }
        let found = net
            .bottom_id(bridge::SUBNET_POOL_NAME, top_pod, ResourceType::Subnetpool)
            .await?;
        if let Some(pool) = found {
            top.find::<SubnetPool>(&pool).await?;
        }
        NetResult::Ok(())
    };
    let done = tokio::join!(copies, top_ports, top_fips, bottom_fips, pool);
    tracing::trace!(?done, "read ahead");
}

/// Routers `ids` of one pod and their ports (read ahead).
async fn routers_and_ports(client: NeutronClient, ids: &[String]) -> NetResult<()> {
    let ports = Filters::new().any("device_id", ids);
    let (routers, ports) = tokio::join!(routers::read(&client, ids), client.list_ports(&ports));
    routers?;
    ports?;
    Ok(())
}

/// The top networks a pod job reads (its own, the gateway's, the
/// project's bridge), their subnets, the bridge ports and the networks'
/// copies: a few lists instead of a GET each.
async fn read_networks(
    net: &NetworkContext,
    top: &NeutronClient,
    b_pod: &Pod,
    net_id: &str,
    bridge_net: &str,
    ext_id: &str,
) -> NetResult<()> {
    let (nets, ports) = ([net_id, ext_id, bridge_net], [bridge_net]);
    tokio::try_join!(
        prefetch::networks_and_subnets(top, &nets),
        prefetch::ports_on(top, &ports),
        bottom_copies(net, b_pod, net_id, bridge_net, ext_id),
    )?;
    Ok(())
}

/// The copies of the networks this job checks (its own and the bridge in
/// `b_pod`; the external network and the bridge in the external network's
/// pod) and their subnets, read ahead in two lists per pod, as the top's:
/// each was a GET of the network, then one of its subnet, and a region's
/// server answers them one after the other.
async fn bottom_copies(
    net: &NetworkContext,
    b_pod: &Pod,
    net_id: &str,
    bridge_net: &str,
    ext_id: &str,
) -> NetResult<()> {
    let mut by_pod: Vec<(Pod, Vec<String>)> = vec![(b_pod.clone(), Vec::new())];
    for top_id in [net_id, bridge_net] {
        if let Some(b) = copy_in(net, top_id, b_pod).await? {
            by_pod[0].1.push(b);
        }
    }
    if !ext_id.is_empty() {
        for (pod, b_ext) in net.mappings(ext_id, ResourceType::Network).await? {
            let mut ids = vec![b_ext];
            ids.extend(copy_in(net, bridge_net, &pod).await?);
            match by_pod.iter_mut().find(|(p, _)| p.pod_id == pod.pod_id) {
                Some((_, known)) => known.extend(ids),
                None => by_pod.push((pod, ids)),
            }
        }
    }
    let reads = by_pod.iter().map(|(pod, ids)| async move {
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        prefetch::networks_and_subnets(&net.neutron(pod), &ids).await
    });
    futures_util::future::try_join_all(reads).await?;
    Ok(())
}

/// The routed copy of top network `top_id` in `pod`, if any.
async fn copy_in(net: &NetworkContext, top_id: &str, pod: &Pod) -> NetResult<Option<String>> {
    if top_id.is_empty() {
        return Ok(None);
    }
    net.bottom_id(top_id, pod, ResourceType::Network).await
}

/// The bottom router in `b_pod`, its gateway on the bottom bridge (for a
/// cross-pod router) and its interface on `t_net`. The router and the
/// bridge copy are made at once, then the gateway and the interface.
/// Returns the bottom router's id.
async fn wire_pod(
    net: &NetworkContext,
    top_pod: &Pod,
    b_pod: &Pod,
    project_id: &str,
    t_net: &Network,
    t_router: &Router,
    bridge: Option<&TopBridge>,
) -> NetResult<String> {
    let b_client = net.neutron(b_pod);
    let distributed = t_router.distributed.unwrap_or(false);
    let body = Router {
        tenant_id: Some(project_id.to_owned()),
        name: Some(t_router.id().to_owned()),
        admin_state_up: Some(true),
        // Only sent when asked: pods without DVR refuse the attribute.
        distributed: distributed.then_some(true),
        ..Router::default()
    };
    // The router, the bridge copy and the interface's subnet copies are
    // made at once; the gateway and the interface then wait for the
    // router's id. Every branch runs to its end even when another fails:
    // a creation dropped half-way would hold its routing until it expires.
    let (made, router_id) = GotLater::channel("the bottom router");
    let router = async move {
        let got = lock::get_or_create(
            net,
            project_id,
            b_pod,
            Element::named_by_top(t_router.id(), ResourceType::Router, body),
        )
        .await?;
        made.send_replace(Some(got.clone()));
        Ok(got.id)
    };
    let gateway = async {
        let Some(bridge) = bridge else {
            return Ok(());
        };
        let (b_bridge_net, b_bridge_sub) =
            bridge::bottom_bridge(net, b_pod, project_id, bridge).await?;
        let Got {
            id: b_router,
            bound_now,
        } = router_id.clone().get().await?;
        let t_port =
            bridge::top_bridge_port(net, top_pod, project_id, bridge, &b_router, None).await?;
        let gw_ip = bridge::first_ip(&t_port).ok_or_else(|| {
            NetError::Missing(format!("bridge port {} has no address", t_port.id()))
        })?;
        let want = ExternalGatewayInfo {
            network_id: b_bridge_net,
            enable_snat: Some(false),
            external_fixed_ips: Some(vec![FixedIp::address(b_bridge_sub.id(), &gw_ip)]),
        };
        // A router made (or adopted) just now has no gateway yet.
        let current = match bound_now {
            true => None,
            false => b_client.get_router(&b_router).await?.external_gateway_info,
        };
        if !external::gateway_matches(current.flatten(), &want) {
            b_client.set_gateway(&b_router, Some(want)).await?;
        }
        Ok(())
    };
    let iface = interface(
        net,
        top_pod,
        b_pod,
        project_id,
        t_net,
        t_router,
        router_id.clone(),
        bridge.is_none(),
    );
    let (b_router, gateway, iface): (NetResult<String>, NetResult<()>, _) =
        tokio::join!(router, gateway, iface);
    let b_router = b_router?;
    gateway?;
    iface?;
    Ok(b_router)
}

/// The top router's floating IPs on `t_net` in `b_pod` (with the router's
/// gateway; in stock mode a local router's gateway first).
#[allow(clippy::too_many_arguments)]
async fn floating_ips(
    net: &NetworkContext,
    top_pod: &Pod,
    b_pod: &Pod,
    project_id: &str,
    t_net: &Network,
    t_router: &Router,
    b_router: &str,
    local: bool,
) -> NetResult<()> {
    let Some(gw) = t_router.external_gateway_info.clone().flatten() else {
        if local && net.settings.stock_neutron {
            external::withdraw_gateway(net, t_router.id(), Some(b_pod)).await?;
        }
        return Ok(());
    };
    if local
        && net.settings.stock_neutron
        && !external::local_gateway(net, top_pod, b_pod, t_router, b_router).await?
    {
        return Ok(());
    }
    let done = floatingip::sync(
        net,
        top_pod,
        b_pod,
        project_id,
        t_net,
        t_router.id(),
        &gw.network_id,
        !local,
    )
    .await?;
    if done != Default::default() {
        tracing::info!(router = t_router.id(), pod = %b_pod.region_name, ?done, "floating IPs synced");
    }
    Ok(())
}

/// Router interface ports of `router_id` on `net_id`.
async fn router_interfaces(
    client: &NeutronClient,
    router_id: &str,
    net_id: &str,
) -> NetResult<Vec<Port>> {
    let ports = client
        .list_ports(
            &Filters::new()
                .eq("network_id", net_id)
                .eq("device_id", router_id),
        )
        .await?;
    Ok(ports
        .into_iter()
        .filter(|p| {
            matches!(
                p.device_owner.as_deref(),
                Some(device_owner::ROUTER_INTERFACE) | Some("network:router_interface_distributed")
            )
        })
        .collect())
}

/// Mirror the top router's interface on `t_net` onto the bottom router.
#[allow(clippy::too_many_arguments)]
async fn interface(
    net: &NetworkContext,
    top_pod: &Pod,
    b_pod: &Pod,
    project_id: &str,
    t_net: &Network,
    t_router: &Router,
    b_router: GotLater,
    is_local: bool,
) -> NetResult<()> {
    let top = net.neutron(top_pod);
    let b_client = net.neutron(b_pod);
    let t_ports = router_interfaces(&top, t_router.id(), t_net.id()).await?;
    // The subnet's copy in the pod does not need the bottom router: made
    // while the router is (on a rerun: the routing table's, no call).
    let copy = match t_ports.first() {
        Some(t_port) => {
            let t_subnet_id = t_port
                .fixed_ips
                .iter()
                .flatten()
                .next()
                .and_then(|f| f.subnet_id.clone())
                .unwrap_or_default();
            let t_subnet = top.get_subnet(&t_subnet_id).await?;
            let ids = bottom_subnet(net, top_pod, b_pod, project_id, t_net, &t_subnet).await?;
            Some((t_subnet, ids))
        }
        None => None,
    };
    let Got {
        id: b_router,
        bound_now,
    } = b_router.get().await?;
    let b_router = &b_router;
    let b_net_id = net
        .bottom_id(t_net.id(), b_pod, ResourceType::Network)
        .await?;
    let b_ports = match &b_net_id {
        // A router made (or adopted) just now has no interface yet.
        Some(b) if !bound_now => router_interfaces(&b_client, b_router, b).await?,
        _ => Vec::new(),
    };
    if t_ports.is_empty() && net.settings.stock_neutron {
        if !is_local {
            // No floating IP reaches the network through this router any
            // more: the NS router's interfaces on its subnets go.
            let subnets = top
                .list_subnets(&Filters::new().eq("network_id", t_net.id()))
                .await?
                .into_iter()
                .map(|s| s.id().to_owned())
                .collect();
            teardown::withdraw_ns_interfaces(net, top_pod, t_router.id(), Some(&subnets)).await?;
        }
        teardown::adopt_old_helpers(net, top_pod, t_net.id()).await?;
    }
    match (t_ports.first(), b_ports.first()) {
        (None, Some(b_port)) => {
            // The top interface was removed: remove the bottom one too
            // (Neutron deletes its port; a copy xjob made loses its routing).
            teardown::remove_interface(&b_client, b_router, b_port.id()).await?;
            teardown::forget_bottom(net, b_port.id()).await?;
        }
        (Some(t_port), None) => {
            let t_port_ip = t_port
                .fixed_ips
                .iter()
                .flatten()
                .next()
                .and_then(|f| f.ip_address.clone())
                .unwrap_or_default();
            let Some((t_subnet, (b_net_id, b_subnet_id))) = copy else {
                return Ok(());
            };
            let t_gw = t_subnet.gateway_ip.clone().flatten();
            if is_local {
                // The local router owns the subnet: its gateway becomes the
                // interface address. In stock mode the pools stay the pod's
                // slice, without that address.
                let pools = if net.settings.stock_neutron {
                    let pods = bottom::network_pods(net, t_net).await?;
                    bottom::copy_pools(&t_subnet, &pods, b_pod, Some(&t_port_ip))?
                } else {
                    ip::bottom_pools(
                        t_subnet.allocation_pools.as_deref().unwrap_or_default(),
                        t_gw.as_deref(),
                        &t_port_ip,
                    )
                };
                let upd = tricircle_openstack::neutron::Subnet {
                    gateway_ip: Some(Some(t_port_ip.clone())),
                    allocation_pools: Some(pools),
                    ..Default::default()
                };
                b_client.update_subnet(&b_subnet_id, &upd).await?;
                b_client
                    .add_interface_subnet(b_router, &b_subnet_id)
                    .await?;
            } else if t_gw.as_deref() == Some(t_port_ip.as_str()) {
                // Default gateway: the bottom subnet's gateway is this pod's
                // reserved address; Neutron gives it to the interface.
                b_client
                    .add_interface_subnet(b_router, &b_subnet_id)
                    .await?;
            } else {
                // An explicit interface address: copy the pod's reserved
                // gateway port and attach it.
                let name = bottom::interface_port_name(&b_pod.region_name, t_subnet.id());
                let gw_port = top
                    .list_ports(&Filters::new().eq("name", &name))
                    .await?
                    .into_iter()
                    .next()
                    .ok_or_else(|| NetError::Missing(format!("top port {name} does not exist")))?;
                let ip = bridge::first_ip(&gw_port).unwrap_or_default();
                let body = Port {
                    tenant_id: Some(project_id.to_owned()),
                    admin_state_up: Some(true),
                    name: Some(gw_port.id().to_owned()),
                    network_id: Some(b_net_id.clone()),
                    mac_address: gw_port.mac_address.clone(),
                    fixed_ips: Some(vec![FixedIp::address(&b_subnet_id, &ip)]),
                    device_owner: Some(device_owner::ROUTER_INTERFACE.to_owned()),
                    ..Port::default()
                };
                let b_port = lock::get_or_create(
                    net,
                    project_id,
                    b_pod,
                    Element::named_by_top(gw_port.id(), ResourceType::Port, body),
                )
                .await?;
                b_client.add_interface_port(b_router, &b_port.id).await?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// The bottom network and subnet of a top subnet in `b_pod`: from the
/// routing table (the local plugin created them with the VM), or in stock
/// mode created here.
async fn bottom_subnet(
    net: &NetworkContext,
    top_pod: &Pod,
    b_pod: &Pod,
    project_id: &str,
    t_net: &Network,
    t_subnet: &tricircle_openstack::neutron::Subnet,
) -> NetResult<(String, String)> {
    let b_net = net
        .bottom_id(t_net.id(), b_pod, ResourceType::Network)
        .await?;
    let b_sub = net
        .bottom_id(t_subnet.id(), b_pod, ResourceType::Subnet)
        .await?;
    if let (Some(n), Some(s)) = (&b_net, &b_sub) {
        return Ok((n.clone(), s.clone()));
    }
    if !net.settings.stock_neutron {
        return Err(NetError::Missing(format!(
            "subnet {} has no bottom copy in {}",
            t_subnet.id(),
            b_pod.region_name
        )));
    }
    let (n, map) = bottom::network_subnets(
        net,
        top_pod,
        b_pod,
        project_id,
        t_net,
        std::slice::from_ref(t_subnet),
        Copy::Own,
    )
    .await?;
    let s = map[t_subnet.id()].clone();
    Ok((n, s))
}
