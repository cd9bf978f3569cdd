//! `configure_route`: the routes that make a router spread over pods work.
//!
//! - East-west: every bottom router gets a `/32` extra route to each VM
//!   address of the router's other pods, via that pod's router address on
//!   the bridge network, unless the VM's CIDR also has VMs in its own pod.
//! - North-south: each east-west router's default route points at the
//!   north-south router's bridge address (when the top router has a
//!   gateway), and the north-south router gets a `/32` back to every VM.
//! - Local routers: a subnet whose interface is not its gateway gets host
//!   routes to the router's other subnets via that interface.

use std::collections::BTreeMap;

use futures_util::future::{join_all, try_join_all};
use futures_util::FutureExt;
use tricircle_db::models::Pod;
use tricircle_openstack::neutron::{
    device_owner, Filters, FixedIp, HostRoute, NeutronClient, Port, Route, Router, Subnet,
};

use crate::handler::{HandlerResult, Job, JobContext};
use crate::network::ip::Cidr;
use crate::network::seen::RouterInterfaces;
use crate::network::{routers, NetError, NetResult, NetworkContext, DEVICE_OWNER_SHADOW};
use crate::resource::RouterRoutes;
use tricircle_vocab::JobType;
use tricircle_vocab::ResourceType;

const DVR_INTERFACE: &str = "network:router_interface_distributed";
const ROUTER_SNAT: &str = "network:router_centralized_snat";
pub const DEFAULT_DESTINATION: &str = "0.0.0.0/0";

pub struct ConfigureRoute(pub NetworkContext);

#[async_trait::async_trait]
impl Job for ConfigureRoute {
    const TYPE: JobType = JobType::ConfigureRoute;
    type Resource = RouterRoutes;

    async fn run(&self, r: RouterRoutes, _: &JobContext) -> HandlerResult {
        configure(&self.0, &r.router_id).await?;
        Ok(())
    }
}

/// A bottom router of a top router with the ports its routes depend on:
/// its interfaces (and, for an east-west router, its gateway on the
/// bridge), as [`route_ports`] selects them.
#[derive(Debug, Clone)]
pub struct BottomPorts {
    pub region: String,
    pub router_id: String,
    /// The north-south router (routing type `ns_router`).
    pub is_ns: bool,
    pub ports: Vec<Port>,
}

/// What one pod holds that the routes depend on: its subnets, and its
/// ports by network (only the networks the routers' interfaces are on are
/// read).
#[derive(Debug, Clone, Default)]
pub struct PodView {
    pub subnets: BTreeMap<String, Subnet>,
    pub ports_by_network: BTreeMap<String, Vec<Port>>,
}

/// The extra routes one bottom router should have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedRoutes {
    pub region: String,
    pub router_id: String,
    /// Sorted, without duplicates (as compared with the router's).
    pub routes: Vec<Route>,
}

/// The host routes one bottom subnet should have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedHostRoutes {
    pub region: String,
    pub subnet_id: String,
    pub host_routes: Vec<HostRoute>,
}

/// Everything configure_route sets for one top router.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoutePlan {
    /// Every east-west router, then the north-south one (if any).
    pub routes: Vec<PlannedRoutes>,
    pub host_routes: Vec<PlannedHostRoutes>,
}

/// Whether `port` is one of the ports of bottom router `router_id` the
/// routes depend on. Shared with the reconciliation sweep, which selects
/// them from a whole pod's port listing.
pub fn route_ports(port: &Port, router_id: &str, is_ns: bool) -> bool {
    if port.device_id.as_deref() != Some(router_id) {
        return false;
    }
    let owner = port.device_owner.as_deref().unwrap_or_default();
    owner == device_owner::ROUTER_INTERFACE
        || owner == DVR_INTERFACE
        || (!is_ns && owner == device_owner::ROUTER_GATEWAY)
}

fn route_owners(is_ns: bool) -> &'static [&'static str] {
    if is_ns {
        &[device_owner::ROUTER_INTERFACE, DVR_INTERFACE]
    } else {
        &[
            device_owner::ROUTER_INTERFACE,
            DVR_INTERFACE,
            device_owner::ROUTER_GATEWAY,
        ]
    }
}

/// The tenant interfaces of a bottom router whose subnet and network the
/// routes read: interfaces not on the bridge, of east-west routers only
/// (an NS router's tenant interfaces serve floating IPs, no VMs).
fn tenant_interfaces<'a>(
    b: &'a BottomPorts,
    bridge_cidr: &'a Cidr,
) -> impl Iterator<Item = (&'a Port, &'a FixedIp)> + 'a {
    b.ports.iter().filter_map(move |itf| {
        let first = itf.fixed_ips.iter().flatten().next()?;
        let ip = first.ip_address.as_deref().unwrap_or_default();
        (!bridge_cidr.contains(ip) && !b.is_ns).then_some((itf, first))
    })
}

fn is_vm_port(owner: Option<&str>) -> bool {
    !matches!(
        owner.unwrap_or_default(),
        device_owner::ROUTER_INTERFACE
            | DVR_INTERFACE
            | ROUTER_SNAT
            | device_owner::ROUTER_GATEWAY
            | device_owner::DHCP
            | DEVICE_OWNER_SHADOW
    )
}

/// One bottom router as seen by the route computation.
struct Bottom<'a> {
    region: &'a str,
    router_id: &'a str,
    is_ns: bool,
    /// Its address on the bridge network.
    bridge_ip: Option<String>,
    /// Tenant CIDR -> VM addresses in this pod.
    vm_ips: BTreeMap<String, Vec<String>>,
}

/// The routes of a top router spread over pods, from its bottom routers'
/// ports and what their pods hold (`pods` by region). A pure function: the
/// job applies it, the reconciliation sweep compares it with the pods.
pub fn plan(
    has_gateway: bool,
    bridge_cidr: &Cidr,
    routers: &[BottomPorts],
    pods: &BTreeMap<String, PodView>,
) -> RoutePlan {
    let empty = PodView::default();
    let mut bottoms = Vec::new();
    // Pod region -> (bottom subnet -> interface address) for subnets whose
    // interface is not the gateway; and bottom subnet -> CIDR.
    let mut pod_subnet_nexthop: BTreeMap<&str, BTreeMap<String, String>> = BTreeMap::new();
    let mut subnet_cidr: BTreeMap<String, String> = BTreeMap::new();
    for r in routers {
        let view = pods.get(&r.region).unwrap_or(&empty);
        let mut b = Bottom {
            region: &r.region,
            router_id: &r.router_id,
            is_ns: r.is_ns,
            bridge_ip: None,
            vm_ips: BTreeMap::new(),
        };
        pod_subnet_nexthop.entry(&r.region).or_default();
        for itf in &r.ports {
            let Some(first) = itf.fixed_ips.iter().flatten().next() else {
                continue;
            };
            let ip = first.ip_address.clone().unwrap_or_default();
            if bridge_cidr.contains(&ip) {
                b.bridge_ip = Some(ip);
            }
        }
        for (itf, first) in tenant_interfaces(r, bridge_cidr) {
            let ip = first.ip_address.clone().unwrap_or_default();
            let b_subnet_id = first.subnet_id.clone().unwrap_or_default();
            let Some(b_subnet) = view.subnets.get(&b_subnet_id) else {
                continue;
            };
            let sub_cidr = b_subnet.cidr.clone().unwrap_or_default();
            if b_subnet.gateway_ip.clone().flatten().as_deref() != Some(ip.as_str()) {
                pod_subnet_nexthop
                    .entry(&r.region)
                    .or_default()
                    .insert(b_subnet_id.clone(), ip.clone());
                subnet_cidr.insert(b_subnet_id.clone(), sub_cidr.clone());
            }
            let ports = itf
                .network_id
                .as_ref()
                .and_then(|n| view.ports_by_network.get(n))
                .map(Vec::as_slice)
                .unwrap_or_default();
            let ips = ports
                .iter()
                .filter(|p| is_vm_port(p.device_owner.as_deref()))
                .filter_map(|p| p.ip_addresses().next().map(str::to_owned))
                .collect();
            b.vm_ips.insert(sub_cidr, ips);
        }
        bottoms.push(b);
    }

    let mut out = RoutePlan::default();
    let ns_ip = bottoms
        .iter()
        .find(|b| b.is_ns)
        .and_then(|b| b.bridge_ip.clone());
    // Every route's next hop is on the bridge: a router not on it yet (its
    // router_setup is still connecting it, and records a configure_route
    // when done) is left alone, since Neutron refuses such routes.
    for b in bottoms.iter().filter(|b| !b.is_ns && b.bridge_ip.is_some()) {
        let mut routes = Vec::new();
        if !b.vm_ips.is_empty() {
            for other in bottoms.iter().filter(|o| o.router_id != b.router_id) {
                for (c, ips) in &other.vm_ips {
                    if b.vm_ips.get(c).is_some_and(|mine| !mine.is_empty()) {
                        // VMs of that CIDR are here too: it is reached locally.
                        continue;
                    }
                    let Some(hop) = &other.bridge_ip else {
                        continue;
                    };
                    for ip in ips {
                        routes.push(Route::new(format!("{ip}/32"), hop.clone()));
                    }
                }
            }
            if let (Some(hop), true) = (&ns_ip, has_gateway) {
                routes.push(Route::new(DEFAULT_DESTINATION, hop.clone()));
            }
        }
        out.routes.push(planned(b, routes));
    }

    for (region, nexthops) in &pod_subnet_nexthop {
        for (subnet_id, hop) in nexthops {
            let host_routes: Vec<HostRoute> = subnet_cidr
                .iter()
                .filter(|(s, _)| !nexthops.contains_key(*s))
                .map(|(_, c)| HostRoute {
                    destination: c.clone(),
                    nexthop: hop.clone(),
                })
                .collect();
            out.host_routes.push(PlannedHostRoutes {
                region: (*region).to_owned(),
                subnet_id: subnet_id.clone(),
                host_routes,
            });
        }
    }

    if let Some(ns) = bottoms.iter().find(|b| b.is_ns && b.bridge_ip.is_some()) {
        let mut routes = Vec::new();
        if has_gateway {
            let mut seen = BTreeMap::new();
            for b in bottoms.iter().filter(|b| !b.is_ns) {
                let Some(hop) = &b.bridge_ip else { continue };
                for ips in b.vm_ips.values() {
                    for ip in ips {
                        seen.insert(format!("{ip}/32"), hop.clone());
                    }
                }
            }
            routes = seen.into_iter().map(|(d, h)| Route::new(d, h)).collect();
        }
        out.routes.push(planned(ns, routes));
    }
    out
}

fn planned(b: &Bottom<'_>, mut routes: Vec<Route>) -> PlannedRoutes {
    routes.sort();
    routes.dedup();
    PlannedRoutes {
        region: b.region.to_owned(),
        router_id: b.router_id.to_owned(),
        routes,
    }
}

/// Whether a router's current extra routes are exactly `want` (sorted and
/// deduplicated, as [`RoutePlan`] holds them).
pub fn routes_match(current: Option<&Vec<Route>>, want: &[Route]) -> bool {
    let mut have = current.cloned().unwrap_or_default();
    have.sort();
    have.dedup();
    have == want
}

/// Whether a subnet's current host routes are `want`, in any order.
pub fn host_routes_match(current: Option<&Vec<HostRoute>>, want: &[HostRoute]) -> bool {
    let key = |h: &HostRoute| (h.destination.clone(), h.nexthop.clone());
    let mut have: Vec<_> = current.into_iter().flatten().map(key).collect();
    let mut want: Vec<_> = want.iter().map(key).collect();
    have.sort();
    want.sort();
    have == want
}

pub async fn configure(net: &NetworkContext, router_id: &str) -> NetResult<()> {
    net.seen.routes_starting(router_id);
    let top_pod = net.top_pod().await?;
    let mut routers: Vec<(Pod, String, bool)> = net
        .mappings(router_id, ResourceType::Router)
        .await?
        .into_iter()
        .map(|(p, b)| (p, b, false))
        .collect();
    if let Some((p, b)) = net
        .mappings(router_id, ResourceType::NsRouter)
        .await?
        .into_iter()
        .next()
    {
        routers.push((p, b, true));
    }

    // The top router, each pod's bottom routers with their ports and the
    // pod's subnets and ports are read at once across pods, and each
    // phase's routes are set at once too: a job waits for its slowest pod,
    // not for the sum.
    let cidr = net.settings.bridge_cidr;
    let order: Vec<String> = routers.iter().map(|(_, b, _)| b.clone()).collect();
    let in_pods = routers::by_pod(routers.into_iter().map(|(p, b, is_ns)| (p, (b, is_ns))));
    let reads = in_pods
        .into_iter()
        .map(|(pod, in_pod)| read_pod(net, pod, in_pod, cidr));
    let top = net.neutron(&top_pod);
    let t_router = async { NetResult::Ok(top.find::<Router>(router_id).await?) };
    let (t_router, read) = tokio::try_join!(t_router, try_join_all(reads))?;
    let Some(t_router) = t_router else {
        return Ok(());
    };
    let has_gateway = t_router.external_gateway_info.clone().flatten().is_some();
    let mut pods: BTreeMap<String, Pod> = BTreeMap::new();
    let mut views: BTreeMap<String, PodView> = BTreeMap::new();
    let mut current: BTreeMap<String, Option<Vec<Route>>> = BTreeMap::new();
    let mut found: BTreeMap<String, BottomPorts> = BTreeMap::new();
    for (pod, in_pod, view) in read {
        for (b, routes) in in_pod {
            current.insert(b.router_id.clone(), routes);
            found.insert(b.router_id.clone(), b);
        }
        views.insert(pod.region_name.clone(), view);
        pods.insert(pod.region_name.clone(), pod);
    }
    // In the routing table's order (east-west routers, then north-south).
    let bottoms: Vec<BottomPorts> = order.iter().filter_map(|b| found.remove(b)).collect();

    let plan = plan(has_gateway, &cidr, &bottoms, &views);
    let set_routes = plan.routes.iter().map(|r| {
        let have = current.get(&r.router_id).cloned().flatten();
        let client = net.neutron(&pods[&r.region]);
        let (router_id, routes) = (r.router_id.clone(), r.routes.clone());
        async move {
            // Skipped when they already are exactly these (so reruns do
            // not touch the pod).
            if !routes_match(have.as_ref(), &routes) {
                client.set_routes(&router_id, &routes).await?;
            }
            NetResult::Ok(())
        }
        .boxed()
    });
    let set_host_routes = plan.host_routes.iter().map(|h| {
        let upd = Subnet {
            host_routes: Some(h.host_routes.clone()),
            ..Subnet::default()
        };
        let client = net.neutron(&pods[&h.region]);
        let subnet_id = h.subnet_id.clone();
        async move {
            client.update_subnet(&subnet_id, &upd).await?;
            NetResult::Ok(())
        }
        .boxed()
    });
    // No write depends on another (Neutron checks a route's nexthop against
    // the router's own interfaces only), so all are sent at once: the job
    // waits for the slowest, not for the east-west, host and north-south
    // writes in turn. Each runs to its end; the first error is returned.
    join_all(set_routes.chain(set_host_routes))
        .await
        .into_iter()
        .collect::<NetResult<Vec<()>>>()?;
    Ok(())
}

/// The interfaces' subnets and networks of several routers, each once, in
/// a fixed order (so that a read ahead from the last ones asks exactly
/// what the read after it asks when nothing changed).
fn union<'a>(all: impl IntoIterator<Item = &'a RouterInterfaces>) -> RouterInterfaces {
    let mut out = RouterInterfaces::default();
    for one in all {
        out.add(&one.subnet_ids, &one.net_ids);
    }
    out
}

/// One pod's bottom routers (the external network's pod holds two: the
/// east-west and the north-south one) with their route ports and current
/// extra routes, and what the pod holds that their routes depend on: two
/// rounds of reads, each at once and one list per kind for all the
/// routers (a router's GET is among the costliest reads of a
/// neutron-server). The second round depends on the first; it is read
/// ahead with the first from the interfaces a job last found there, so
/// that when they did not change (a rerun) it is answered from the job's
/// reads.
async fn read_pod(
    net: &NetworkContext,
    pod: Pod,
    routers: Vec<(String, bool)>,
    cidr: Cidr,
) -> NetResult<(Pod, Vec<(BottomPorts, Option<Vec<Route>>)>, PodView)> {
    let client = net.neutron(&pod);
    let ids: Vec<&str> = routers.iter().map(|(r, _)| r.as_str()).collect();
    // An east-west router's owners include the north-south one's.
    let owners = route_owners(routers.iter().all(|(_, is_ns)| *is_ns));
    let by_owner = Filters::new()
        .any("device_id", &ids)
        .any("device_owner", owners);
    let guesses: Vec<RouterInterfaces> = routers
        .iter()
        .filter_map(|(r, _)| net.seen.interfaces(&pod.region_name, r))
        .collect();
    let ahead = async {
        if !guesses.is_empty() {
            let g = union(&guesses);
            // A failed read-ahead is the real read's to report.
            let _ = read_view(&client, &g.subnet_ids, &g.net_ids).await;
        }
    };
    let (ports, current, ()) = tokio::join!(
        client.list_ports(&by_owner),
        routers::read(&client, &ids),
        ahead
    );
    let (ports, mut current) = (ports?, current?);
    let mut read = Vec::new();
    let mut seen = Vec::new();
    for (b_router, is_ns) in routers {
        let routes = routers::take(&mut current, &b_router)
            .ok_or_else(|| {
                NetError::Missing(format!(
                    "bottom router {b_router} is gone from {}",
                    pod.region_name
                ))
            })?
            .routes;
        let b = BottomPorts {
            region: pod.region_name.clone(),
            ports: ports
                .iter()
                .filter(|p| route_ports(p, &b_router, is_ns))
                .cloned()
                .collect(),
            router_id: b_router,
            is_ns,
        };
        let mut itfs = RouterInterfaces::default();
        for (itf, first) in tenant_interfaces(&b, &cidr) {
            let subnet = first.subnet_id.clone().unwrap_or_default();
            let network = itf.network_id.clone().unwrap_or_default();
            itfs.add(&[subnet], &[network]);
        }
        seen.push((b.router_id.clone(), itfs));
        read.push((b, routes));
    }
    let all = union(seen.iter().map(|(_, i)| i));
    let view = read_view(&client, &all.subnet_ids, &all.net_ids).await?;
    for (b_router, itfs) in seen {
        net.seen.set_interfaces(&pod.region_name, &b_router, itfs);
    }
    Ok((pod, read, view))
}

/// The subnets `subnet_ids` and the ports on networks `net_ids`.
async fn read_view(
    client: &NeutronClient,
    subnet_ids: &[String],
    net_ids: &[String],
) -> NetResult<PodView> {
    let mut view = PodView::default();
    if subnet_ids.is_empty() {
        return Ok(view);
    }
    let (by_id, on_nets) = (
        Filters::new().any("id", subnet_ids),
        Filters::new().any("network_id", net_ids),
    );
    let (subnets, ports) =
        tokio::try_join!(client.list_subnets(&by_id), client.list_ports(&on_nets))?;
    for s in subnets {
        view.subnets.insert(s.id().to_owned(), s);
    }
    for n in net_ids {
        view.ports_by_network.insert(n.clone(), Vec::new());
    }
    for p in ports {
        let n = p.network_id.clone().unwrap_or_default();
        view.ports_by_network.entry(n).or_default().push(p);
    }
    Ok(view)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn port(v: serde_json::Value) -> Port {
        serde_json::from_value(v).unwrap()
    }

    /// A pod's bottom router with an interface on `subnet` (`net`) at
    /// `.1`, on the bridge at `bridge` if given, and one VM at `vm`.
    fn pod(
        region: &str,
        router: &str,
        (net, subnet, cidr): (&str, &str, &str),
        vm: &str,
        bridge: Option<&str>,
    ) -> (BottomPorts, PodView) {
        let gw_ip = cidr.replace("0/24", "1");
        let mut ports = vec![port(json!({"device_id": router,
            "device_owner": "network:router_interface", "network_id": net,
            "fixed_ips": [{"subnet_id": subnet, "ip_address": gw_ip}]}))];
        if let Some(ip) = bridge {
            ports.push(port(json!({"device_id": router,
                "device_owner": "network:router_gateway", "network_id": "bridge",
                "fixed_ips": [{"subnet_id": "bridge-subnet", "ip_address": ip}]})));
        }
        let mut view = PodView::default();
        view.subnets.insert(
            subnet.into(),
            serde_json::from_value(json!({"id": subnet, "cidr": cidr, "gateway_ip": gw_ip}))
                .unwrap(),
        );
        view.ports_by_network.insert(
            net.into(),
            vec![port(
                json!({"device_owner": "compute:nova", "network_id": net,
                "fixed_ips": [{"subnet_id": subnet, "ip_address": vm}]}),
            )],
        );
        let b = BottomPorts {
            region: region.into(),
            router_id: router.into(),
            is_ns: false,
            ports,
        };
        (b, view)
    }

    fn plan_of(pods: Vec<(BottomPorts, PodView)>) -> Vec<(String, Vec<Route>)> {
        let cidr = Cidr::parse("100.0.0.0/9").unwrap();
        let mut views = BTreeMap::new();
        let mut bottoms = Vec::new();
        for (b, v) in pods {
            views.insert(b.region.clone(), v);
            bottoms.push(b);
        }
        plan(false, &cidr, &bottoms, &views)
            .routes
            .into_iter()
            .map(|r| (r.router_id, r.routes))
            .collect()
    }

    #[test]
    fn a_router_not_on_the_bridge_yet_gets_no_routes() {
        let r1 = || {
            pod(
                "R1",
                "b1",
                ("n1", "s1", "10.0.1.0/24"),
                "10.0.1.5",
                Some("100.0.0.5"),
            )
        };
        // b2's router_setup has not connected it to the bridge yet: a route
        // through the bridge would be refused by its Neutron ("the nexthop
        // is not connected with router"), failing the whole job.
        let r2 = pod("R2", "b2", ("n2", "s2", "10.0.2.0/24"), "10.0.2.7", None);
        assert_eq!(plan_of(vec![r1(), r2]), vec![("b1".to_owned(), vec![])]);
        // Once it is, both get a route to the other's VM.
        let r2 = pod(
            "R2",
            "b2",
            ("n2", "s2", "10.0.2.0/24"),
            "10.0.2.7",
            Some("100.0.0.6"),
        );
        assert_eq!(
            plan_of(vec![r1(), r2]),
            vec![
                (
                    "b1".to_owned(),
                    vec![Route::new("10.0.2.7/32", "100.0.0.6")]
                ),
                (
                    "b2".to_owned(),
                    vec![Route::new("10.0.1.5/32", "100.0.0.5")]
                ),
            ]
        );
    }
}
