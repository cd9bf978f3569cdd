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

use tricircle_db::models::Pod;
use tricircle_openstack::neutron::{device_owner, Filters, HostRoute, Route, Router, Subnet};

use crate::handler::{HandlerResult, Job, JobContext};
use crate::network::{NetResult, NetworkContext, DEVICE_OWNER_SHADOW};
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

/// One bottom router as seen by the route computation.
struct Bottom {
    pod: Pod,
    router_id: String,
    is_ns: bool,
    /// Its address on the bridge network.
    bridge_ip: Option<String>,
    /// Tenant CIDR -> VM addresses in this pod.
    vm_ips: BTreeMap<String, Vec<String>>,
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

pub async fn configure(net: &NetworkContext, router_id: &str) -> NetResult<()> {
    let top_pod = net.top_pod().await?;
    let Some(t_router) = net.neutron(&top_pod).find::<Router>(router_id).await? else {
        return Ok(());
    };
    let t_ext_net = t_router
        .external_gateway_info
        .clone()
        .flatten()
        .map(|g| g.network_id);
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

    let cidr = net.settings.bridge_cidr;
    let mut bottoms = Vec::new();
    // Pod region -> (bottom subnet -> interface address) for subnets whose
    // interface is not the gateway; and bottom subnet -> CIDR.
    let mut pod_subnet_nexthop: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut subnet_cidr: BTreeMap<String, String> = BTreeMap::new();
    for (pod, b_router, is_ns) in routers {
        let client = net.neutron(&pod);
        let owners: &[&str] = if is_ns {
            &[device_owner::ROUTER_INTERFACE, DVR_INTERFACE]
        } else {
            &[
                device_owner::ROUTER_INTERFACE,
                DVR_INTERFACE,
                device_owner::ROUTER_GATEWAY,
            ]
        };
        let interfaces = client
            .list_ports(
                &Filters::new()
                    .eq("device_id", &b_router)
                    .any("device_owner", owners),
            )
            .await?;
        let mut b = Bottom {
            pod: pod.clone(),
            router_id: b_router.clone(),
            is_ns,
            bridge_ip: None,
            vm_ips: BTreeMap::new(),
        };
        pod_subnet_nexthop
            .entry(pod.region_name.clone())
            .or_default();
        for itf in interfaces {
            let Some(first) = itf.fixed_ips.iter().flatten().next().cloned() else {
                continue;
            };
            let ip = first.ip_address.clone().unwrap_or_default();
            if cidr.contains(&ip) {
                b.bridge_ip = Some(ip);
                continue;
            }
            if is_ns {
                // Stock mode gives it tenant interfaces for floating IPs
                // only: they neither host VMs nor take host routes.
                continue;
            }
            let b_subnet_id = first.subnet_id.clone().unwrap_or_default();
            let b_subnet = client.get_subnet(&b_subnet_id).await?;
            let sub_cidr = b_subnet.cidr.clone().unwrap_or_default();
            if b_subnet.gateway_ip.clone().flatten().as_deref() != Some(ip.as_str()) {
                pod_subnet_nexthop
                    .entry(pod.region_name.clone())
                    .or_default()
                    .insert(b_subnet_id.clone(), ip.clone());
                subnet_cidr.insert(b_subnet_id.clone(), sub_cidr.clone());
            }
            let ports = client
                .list_ports(
                    &Filters::new().eq("network_id", itf.network_id.clone().unwrap_or_default()),
                )
                .await?;
            let ips = ports
                .iter()
                .filter(|p| is_vm_port(p.device_owner.as_deref()))
                .filter_map(|p| p.ip_addresses().next().map(str::to_owned))
                .collect();
            b.vm_ips.insert(sub_cidr, ips);
        }
        bottoms.push(b);
    }

    let ns_ip = bottoms
        .iter()
        .find(|b| b.is_ns)
        .and_then(|b| b.bridge_ip.clone());
    for b in bottoms.iter().filter(|b| !b.is_ns) {
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
            if let (Some(hop), Some(_)) = (&ns_ip, &t_ext_net) {
                routes.push(Route::new(DEFAULT_DESTINATION, hop.clone()));
            }
        }
        set_routes(net, &b.pod, &b.router_id, routes).await?;
    }

    for (region, nexthops) in &pod_subnet_nexthop {
        let Some(pod) = bottoms
            .iter()
            .find(|b| &b.pod.region_name == region)
            .map(|b| &b.pod)
        else {
            continue;
        };
        for (subnet_id, hop) in nexthops {
            let host_routes: Vec<HostRoute> = subnet_cidr
                .iter()
                .filter(|(s, _)| !nexthops.contains_key(*s))
                .map(|(_, c)| HostRoute {
                    destination: c.clone(),
                    nexthop: hop.clone(),
                })
                .collect();
            let upd = Subnet {
                host_routes: Some(host_routes),
                ..Subnet::default()
            };
            net.neutron(pod).update_subnet(subnet_id, &upd).await?;
        }
    }

    let Some(ns) = bottoms.iter().find(|b| b.is_ns) else {
        return Ok(());
    };
    let mut routes = Vec::new();
    if t_ext_net.is_some() {
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
    set_routes(net, &ns.pod, &ns.router_id, routes).await
}

/// Replace a router's extra routes, skipping the call when they already
/// are exactly these (so reruns do not touch the pod).
async fn set_routes(
    net: &NetworkContext,
    pod: &Pod,
    router_id: &str,
    mut routes: Vec<Route>,
) -> NetResult<()> {
    let client = net.neutron(pod);
    let current = client.get_router(router_id).await?;
    let mut have = current.routes.unwrap_or_default();
    have.sort();
    routes.sort();
    routes.dedup();
    if have != routes {
        client.set_routes(router_id, &routes).await?;
    }
    Ok(())
}
