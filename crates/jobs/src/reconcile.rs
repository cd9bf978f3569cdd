//! Stock mode's reconciliation sweep (`[xjob] reconcile_interval`):
//! notifications get lost (xjob down, a broker restarted, a region away)
//! and pods drift by hand, so every interval xjob compares each region
//! with what the routing table and the central region imply, and records
//! jobs only where they differ. A converged cloud records none.
//!
//! Three steps, kept apart so the comparison is tested on plain tables:
//! [`observe`] (a few list calls per region and one routing-table query,
//! never a call per resource), [`differences`] (a pure function of what was
//! observed) and [`sweep`] (records the jobs through
//! [`crate::events::record_unless_pending`], leaving out those already
//! waiting or running).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::Duration;

use serde_json::{json, Map, Value};
use tokio_util::sync::CancellationToken;
use tricircle_config::Config;
use tricircle_db::models::{Pod, ResourceRouting};
use tricircle_openstack::neutron::{
    device_owner, Filters, FloatingIp, Network, NeutronClient, Port, Router, Subnet,
};
use tricircle_vocab::{JobType, ResourceType};

use crate::events::{record_unless_pending, JobAsk};
use crate::handlers::configure_route::{self, BottomPorts, PodView};
use crate::network::ip::Cidr;
use crate::network::{bridge, external, NetError, NetResult, NetworkContext, DEVICE_OWNER_SHADOW};

/// What one region's Neutron lists: the five calls a sweep makes there.
#[derive(Debug, Clone, Default)]
pub struct RegionView {
    pub routers: Vec<Router>,
    pub ports: Vec<Port>,
    pub networks: Vec<Network>,
    pub subnets: Vec<Subnet>,
    pub floatingips: Vec<FloatingIp>,
}

/// Everything a sweep compares.
#[derive(Debug, Clone)]
pub struct Observed {
    pub top_pod: Pod,
    /// The bottom pods, in the pods table's order.
    pub pods: Vec<Pod>,
    /// Every routing with a bottom resource.
    pub routings: Vec<ResourceRouting>,
    pub central: RegionView,
    /// By pod id. A pod whose listing failed is absent: nothing is
    /// concluded about it (no job for it is recorded this time).
    pub regions: BTreeMap<String, RegionView>,
    /// `[client] bridge_cidr`.
    pub bridge_cidr: Cidr,
}

/// One difference between what is and what should be, and the job that
/// repairs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    pub ask: JobAsk,
    /// The region where it was seen.
    pub region: String,
    /// What differs, for the log.
    pub what: String,
}

const ROUTER_FIELDS: &[&str] = &[
    "id",
    "name",
    "tenant_id",
    "external_gateway_info",
    "routes",
    "availability_zone_hints",
];
const PORT_FIELDS: &[&str] = &[
    "id",
    "name",
    "tenant_id",
    "network_id",
    "device_owner",
    "device_id",
    "fixed_ips",
];
const NETWORK_FIELDS: &[&str] = &[
    "id",
    "name",
    "tenant_id",
    "router:external",
    "availability_zone_hints",
];
const SUBNET_FIELDS: &[&str] = &[
    "id",
    "name",
    "tenant_id",
    "network_id",
    "cidr",
    "gateway_ip",
    "host_routes",
];
const FIP_FIELDS: &[&str] = &[
    "id",
    "tenant_id",
    "floating_network_id",
    "floating_ip_address",
    "port_id",
    "router_id",
];

/// The five list calls of one region, trimmed with `fields`. Neutron
/// answers a list whole unless the caller asks for pages (`limit`), so
/// one call per collection is the whole collection.
pub async fn list_region(client: &NeutronClient) -> NetResult<RegionView> {
    let f = |fields: &[&str]| Filters::new().fields(fields.iter().copied());
    let (rf, pf, nf, sf, ff) = (
        f(ROUTER_FIELDS),
        f(PORT_FIELDS),
        f(NETWORK_FIELDS),
        f(SUBNET_FIELDS),
        f(FIP_FIELDS),
    );
    let (routers, ports, networks, subnets, floatingips) = tokio::try_join!(
        client.list_routers(&rf),
        client.list_ports(&pf),
        client.list_networks(&nf),
        client.list_subnets(&sf),
        client.list_floatingips(&ff),
    )?;
    Ok(RegionView {
        routers,
        ports,
        networks,
        subnets,
        floatingips,
    })
}

/// Observe the cloud: the pods and routing table (one query), the central
/// region (its failure fails the sweep: nothing can be compared) and
/// every pod (one failing is returned with its error and left out).
pub async fn observe(net: &NetworkContext) -> NetResult<(Observed, Vec<(String, NetError)>)> {
    let top_pod = net.top_pod().await?;
    let (pods, routings) = net
        .db
        .run(|c| {
            let pods = tricircle_db::pods::list(c)?;
            let routings = tricircle_db::routings::find(c, &Default::default())?;
            Ok((pods, routings))
        })
        .await?;
    let pods: Vec<Pod> = pods
        .into_iter()
        .filter(|p| !p.is_top() && p.pod_id != top_pod.pod_id)
        .collect();
    let routings = routings
        .into_iter()
        .filter(|r| r.bottom_id.as_deref().is_some_and(|b| !b.is_empty()))
        .collect();
    let central = list_region(&net.neutron(&top_pod)).await?;
    let listed = futures_util::future::join_all(
        pods.iter()
            .map(|p| async move { (p, list_region(&net.neutron(p)).await) }),
    )
    .await;
    let mut regions = BTreeMap::new();
    let mut failed = Vec::new();
    for (pod, got) in listed {
        match got {
            Ok(view) => {
                regions.insert(pod.pod_id.clone(), view);
            }
            Err(e) => failed.push((pod.region_name.clone(), e)),
        }
    }
    Ok((
        Observed {
            top_pod,
            pods,
            routings,
            central,
            regions,
            bridge_cidr: net.settings.bridge_cidr,
        },
        failed,
    ))
}

fn is_router_interface(p: &Port) -> bool {
    matches!(
        p.device_owner.as_deref(),
        Some(device_owner::ROUTER_INTERFACE) | Some("network:router_interface_distributed")
    )
}

/// A VM's port: Nova's `compute:*`, not a shadow copy of one.
fn is_vm_port(p: &Port) -> bool {
    p.device_owner
        .as_deref()
        .is_some_and(|o| o.starts_with("compute:") && o != DEVICE_OWNER_SHADOW)
}

fn gateway(r: &Router) -> Option<tricircle_openstack::neutron::ExternalGatewayInfo> {
    r.external_gateway_info.clone().flatten()
}

fn project(tenant: &Option<String>) -> String {
    tenant.clone().unwrap_or_default()
}

/// One region's listing, indexed.
struct PodIx<'a> {
    region: &'a str,
    routers: HashMap<&'a str, &'a Router>,
    ports: HashMap<&'a str, &'a Port>,
    networks: HashSet<&'a str>,
    subnets: HashMap<&'a str, &'a Subnet>,
    by_device: HashMap<&'a str, Vec<&'a Port>>,
    by_network: HashMap<&'a str, Vec<&'a Port>>,
    by_name: HashMap<&'a str, Vec<&'a Port>>,
}

impl<'a> PodIx<'a> {
    fn new(region: &'a str, v: &'a RegionView) -> PodIx<'a> {
        let mut ix = PodIx {
            region,
            routers: v.routers.iter().map(|r| (r.id(), r)).collect(),
            ports: v.ports.iter().map(|p| (p.id(), p)).collect(),
            networks: v.networks.iter().map(|n| n.id()).collect(),
            subnets: v.subnets.iter().map(|s| (s.id(), s)).collect(),
            by_device: HashMap::new(),
            by_network: HashMap::new(),
            by_name: HashMap::new(),
        };
        for p in &v.ports {
            if let Some(d) = p.device_id.as_deref().filter(|d| !d.is_empty()) {
                ix.by_device.entry(d).or_default().push(p);
            }
            if let Some(n) = p.network_id.as_deref() {
                ix.by_network.entry(n).or_default().push(p);
            }
            if let Some(n) = p.name.as_deref().filter(|n| !n.is_empty()) {
                ix.by_name.entry(n).or_default().push(p);
            }
        }
        ix
    }

    fn device_ports(&self, device: &str) -> &[&'a Port] {
        self.by_device.get(device).map_or(&[], Vec::as_slice)
    }

    fn named(&self, name: &str) -> Option<&'a Port> {
        self.by_name.get(name).and_then(|v| v.first().copied())
    }
}

/// What [`differences`] works on: `o` indexed.
struct Ix<'a> {
    o: &'a Observed,
    /// (top id, pod id, type) -> bottom id.
    down: HashMap<(&'a str, &'a str, &'a str), &'a str>,
    /// (bottom id, pod id, type) -> top id.
    up: HashMap<(&'a str, &'a str, &'a str), &'a str>,
    /// (top id, type) -> pod ids, in routing order.
    pods_of: HashMap<(&'a str, &'a str), Vec<&'a str>>,
    top: PodIx<'a>,
    t_routers: BTreeMap<&'a str, &'a Router>,
    t_networks: HashMap<&'a str, &'a Network>,
    pods: BTreeMap<&'a str, PodIx<'a>>,
    regions: HashMap<&'a str, &'a str>,
}

const NETWORK: &str = ResourceType::Network.as_str();
const SUBNET: &str = ResourceType::Subnet.as_str();
const ROUTER: &str = ResourceType::Router.as_str();
const NS_ROUTER: &str = ResourceType::NsRouter.as_str();
const PORT: &str = ResourceType::Port.as_str();
const SHADOW_NETWORK: &str = ResourceType::ShadowNetwork.as_str();

impl<'a> Ix<'a> {
    fn new(o: &'a Observed) -> Ix<'a> {
        let mut down = HashMap::new();
        let mut up = HashMap::new();
        let mut pods_of: HashMap<(&str, &str), Vec<&str>> = HashMap::new();
        for r in &o.routings {
            let b = r.bottom_id.as_deref().unwrap_or_default();
            let t = r.resource_type.as_str();
            down.insert((r.top_id.as_str(), r.pod_id.as_str(), t), b);
            up.insert((b, r.pod_id.as_str(), t), r.top_id.as_str());
            pods_of
                .entry((r.top_id.as_str(), t))
                .or_default()
                .push(r.pod_id.as_str());
        }
        Ix {
            o,
            down,
            up,
            pods_of,
            top: PodIx::new(&o.top_pod.region_name, &o.central),
            t_routers: o.central.routers.iter().map(|r| (r.id(), r)).collect(),
            t_networks: o.central.networks.iter().map(|n| (n.id(), n)).collect(),
            pods: o
                .pods
                .iter()
                .filter_map(|p| {
                    let v = o.regions.get(&p.pod_id)?;
                    Some((p.pod_id.as_str(), PodIx::new(&p.region_name, v)))
                })
                .collect(),
            regions: o
                .pods
                .iter()
                .map(|p| (p.pod_id.as_str(), p.region_name.as_str()))
                .collect(),
        }
    }

    fn down(&self, top: &str, pod: &str, t: &str) -> Option<&'a str> {
        self.down.get(&(top, pod, t)).copied()
    }

    fn up(&self, bottom: &str, pod: &str, t: &str) -> Option<&'a str> {
        self.up.get(&(bottom, pod, t)).copied()
    }

    /// The first bottom pod whose region or zone is `hint` (router_setup's
    /// rule for a hint).
    fn hint_pod(&self, hint: &str) -> Option<&'a Pod> {
        self.o
            .pods
            .iter()
            .find(|p| p.region_name == hint || p.az_name == hint)
    }

    /// The pods router_setup fans a network out to: those it is routed
    /// to, and those its zone hints name.
    fn network_pods(&self, t_net: &Network) -> Vec<&'a str> {
        let mut pods: Vec<&str> = self
            .pods_of
            .get(&(t_net.id(), NETWORK))
            .cloned()
            .unwrap_or_default();
        for hint in external::az_hints(t_net.availability_zone_hints.as_ref()) {
            if let Some(p) = self.hint_pod(&hint) {
                if !pods.contains(&p.pod_id.as_str()) {
                    pods.push(&p.pod_id);
                }
            }
        }
        pods
    }

    /// A local router's pod: exactly one hint, naming a pod's region.
    fn local_pod(&self, r: &Router) -> Option<&'a str> {
        let hints = external::az_hints(r.availability_zone_hints.as_ref());
        if hints.len() != 1 {
            return None;
        }
        self.o
            .pods
            .iter()
            .find(|p| p.region_name == hints[0])
            .map(|p| p.pod_id.as_str())
    }

    fn region(&self, pod: &str) -> String {
        self.regions.get(pod).copied().unwrap_or(pod).to_owned()
    }

    /// The top bridge network of a project, by its name.
    fn top_bridge_net(&self, project: &str) -> Option<&'a Network> {
        let name = bridge::net_name(project);
        self.o
            .central
            .networks
            .iter()
            .find(|n| n.name.as_deref() == Some(name.as_str()))
    }
}

struct Out {
    diffs: Vec<Difference>,
}

impl Out {
    fn push(
        &mut self,
        job_type: JobType,
        resource_id: String,
        project: &str,
        region: &str,
        what: String,
    ) {
        self.diffs.push(Difference {
            ask: JobAsk {
                job_type,
                resource_id,
                project_id: project.to_owned(),
            },
            region: region.to_owned(),
            what,
        });
    }
}

/// The jobs that would make the cloud what the routing table and the
/// central region imply, one per difference (deduplicated, in job order).
pub fn diff(o: &Observed) -> Vec<JobAsk> {
    let mut asks: Vec<JobAsk> = differences(o).into_iter().map(|d| d.ask).collect();
    asks.sort();
    asks.dedup();
    asks
}

/// Every difference between what `o` shows and what it implies, with the
/// job that repairs each (a resource's differences may repeat its job).
pub fn differences(o: &Observed) -> Vec<Difference> {
    let ix = Ix::new(o);
    let mut out = Out { diffs: Vec::new() };
    for r in ix.t_routers.values() {
        router(&ix, r, &mut out);
    }
    floating_ips(&ix, &mut out);
    network_copies(&ix, &mut out);
    gone_at_the_top(&ix, &mut out);
    mirrors(&ix, &mut out);
    // A job about a project nobody can name would be listed for nobody.
    out.diffs.retain(|d| !d.ask.project_id.is_empty());
    out.diffs
}

/// The (pod, network) pairs router_setup builds for top router `r`, for
/// the networks it has interfaces on.
fn router_pairs<'a>(ix: &Ix<'a>, r: &Router) -> Vec<(&'a str, &'a str)> {
    let local = ix.local_pod(r);
    let mut pairs = Vec::new();
    for n in top_interface_networks(ix, r.id()) {
        let Some(t_net) = ix.t_networks.get(n) else {
            continue;
        };
        for p in ix.network_pods(t_net) {
            if local.is_none_or(|l| l == p) {
                pairs.push((p, n));
            }
        }
    }
    pairs
}

/// The networks top router `id` has interfaces on (its ports, recognised
/// by device id: xjob's reservations have none).
fn top_interface_networks<'a>(ix: &Ix<'a>, id: &str) -> BTreeSet<&'a str> {
    ix.top
        .device_ports(id)
        .iter()
        .filter(|p| is_router_interface(p))
        .filter_map(|p| p.network_id.as_deref())
        .collect()
}

fn router(ix: &Ix<'_>, r: &Router, out: &mut Out) {
    let rid = r.id();
    let proj = project(&r.tenant_id);
    let local = ix.local_pod(r);
    let pairs = router_pairs(ix, r);
    let setup = |p: &str, n: &str| format!("{p}#{rid}#{n}");
    let before = out.diffs.len();
    let t_bridge = ix.top_bridge_net(&proj);
    for &(p, n) in &pairs {
        let Some(pod) = ix.pods.get(p) else { continue };
        let region = pod.region;
        let mut missing =
            |what: String| out.push(JobType::RouterSetup, setup(p, n), &proj, region, what);
        let b_router = ix
            .down(rid, p, ROUTER)
            .filter(|b| pod.routers.contains_key(b));
        let Some(b_router) = b_router else {
            missing(format!("no bottom router of {rid}"));
            continue;
        };
        let b_net = ix.down(n, p, NETWORK).filter(|b| pod.networks.contains(b));
        let Some(b_net) = b_net else {
            missing(format!("no copy of network {n}"));
            continue;
        };
        let on_net = pod
            .device_ports(b_router)
            .iter()
            .any(|q| is_router_interface(q) && q.network_id.as_deref() == Some(b_net));
        if !on_net {
            missing(format!(
                "router {b_router} has no interface on {b_net} (copy of {n})"
            ));
        }
        if local.is_some() {
            continue;
        }
        // The bridge: a top port holding the router's bridge address, and
        // the router's gateway on the pod's copy of the bridge at it.
        let t_port = ix.top.named(&bridge::port_name(&proj, b_router));
        let Some(t_port) = t_port else {
            missing(format!("no top bridge port of router {b_router}"));
            continue;
        };
        let b_bridge = t_bridge.and_then(|t| ix.down(t.id(), p, NETWORK));
        let gw = pod.routers[b_router]
            .external_gateway_info
            .clone()
            .flatten();
        let ok = match (gw, b_bridge) {
            (Some(g), Some(b)) => {
                g.network_id == b
                    && g.external_fixed_ips
                        .iter()
                        .flatten()
                        .filter_map(|f| f.ip_address.as_deref())
                        .eq(bridge::first_ip(t_port).as_deref())
            }
            _ => false,
        };
        if !ok {
            missing(format!(
                "router {b_router} has no gateway on the bridge at its bridge port"
            ));
        }
    }
    // Bottom interfaces on copies of networks the top router left.
    let t_nets = top_interface_networks(ix, rid);
    for p in ix.pods_of.get(&(rid, ROUTER)).into_iter().flatten() {
        let (Some(pod), Some(b_router)) = (ix.pods.get(p), ix.down(rid, p, ROUTER)) else {
            continue;
        };
        for q in pod.device_ports(b_router) {
            if !is_router_interface(q) {
                continue;
            }
            let Some(n) = q.network_id.as_deref().and_then(|b| ix.up(b, p, NETWORK)) else {
                continue;
            };
            if !t_nets.contains(n) && ix.t_networks.contains_key(n) {
                out.push(
                    JobType::RouterSetup,
                    setup(p, n),
                    &proj,
                    pod.region,
                    format!("router {b_router} keeps an interface on the copy of {n}, which the top router left"),
                );
            }
        }
    }
    // A job that builds the north-south side or withdraws a gateway: any
    // of the router's pairs (each runs the router-wide part) in a pod that
    // could be listed.
    if let Some(&(p, n)) = pairs.iter().find(|(p, _)| ix.pods.contains_key(p)) {
        gateway_side(ix, r, local, &proj, &setup(p, n), out);
    }
    // router_setup records configure_route itself when it runs.
    if out.diffs.len() == before && local.is_none() {
        routes(ix, r, &proj, out);
    }
}

/// The north-south router (or a local router's own gateway) against the
/// top router's gateway.
fn gateway_side(
    ix: &Ix<'_>,
    r: &Router,
    local: Option<&str>,
    proj: &str,
    ask: &str,
    out: &mut Out,
) {
    let rid = r.id();
    let t_gw = gateway(r);
    let mut push = |region: &str, what: String| {
        out.push(JobType::RouterSetup, ask.to_owned(), proj, region, what)
    };
    if let Some(l) = local {
        let (Some(pod), Some(b)) = (ix.pods.get(l), ix.down(rid, l, ROUTER)) else {
            return;
        };
        let Some(b_router) = pod.routers.get(b) else {
            return;
        };
        let have = gateway(b_router).map(|g| g.network_id);
        match &t_gw {
            Some(g) => {
                let Some(t_ext) = ix.t_networks.get(g.network_id.as_str()) else {
                    return;
                };
                let ext_pod = external::az_hints(t_ext.availability_zone_hints.as_ref())
                    .first()
                    .and_then(|h| ix.hint_pod(h));
                // A local router reaches an external network of its own pod only.
                if ext_pod.is_some_and(|x| x.pod_id == l) {
                    let want = ix.down(&g.network_id, l, NETWORK);
                    if want.is_none() || have.as_deref() != want {
                        push(
                            pod.region,
                            format!("local router {b} has not the top gateway"),
                        );
                    }
                }
            }
            None if have.is_some() => {
                push(
                    pod.region,
                    format!("local router {b} keeps a gateway the top router has not"),
                );
            }
            None => {}
        }
        return;
    }
    let ns = ix
        .pods_of
        .get(&(rid, NS_ROUTER))
        .and_then(|v| v.first())
        .and_then(|x| Some((*x, ix.down(rid, x, NS_ROUTER)?)));
    let Some(g) = t_gw else {
        if let Some((x, b)) = ns {
            if let Some(pod) = ix.pods.get(x) {
                if pod.routers.get(b).is_some_and(|n| gateway(n).is_some()) {
                    push(
                        pod.region,
                        format!("north-south router {b} keeps a gateway the top router has not"),
                    );
                }
            }
        }
        return;
    };
    let Some(t_ext) = ix.t_networks.get(g.network_id.as_str()) else {
        return;
    };
    let Some(ext_pod) = external::az_hints(t_ext.availability_zone_hints.as_ref())
        .first()
        .and_then(|h| ix.hint_pod(h))
    else {
        return;
    };
    let x = ext_pod.pod_id.as_str();
    let Some(pod) = ix.pods.get(x) else { return };
    let b = ns.filter(|(p, _)| *p == x).map(|(_, b)| b);
    let Some(b) = b.filter(|b| pod.routers.contains_key(b)) else {
        push(pod.region, format!("no north-south router of {rid}"));
        return;
    };
    let want = ix.down(t_ext.id(), x, NETWORK);
    if want.is_none() || gateway(pod.routers[b]).map(|g| g.network_id).as_deref() != want {
        push(
            pod.region,
            format!("north-south router {b} has not the top gateway"),
        );
    }
    if ix.top.named(&bridge::port_name(proj, b)).is_none() {
        push(
            pod.region,
            format!("no top bridge port of north-south router {b}"),
        );
    }
    let on_bridge = pod.device_ports(b).iter().any(|q| {
        is_router_interface(q) && q.ip_addresses().any(|ip| ix.o.bridge_cidr.contains(ip))
    });
    if !on_bridge {
        push(
            pod.region,
            format!("north-south router {b} has no interface on the bridge"),
        );
    }
}

/// The extra routes (and host routes) configure_route would set, from the
/// same computation the job uses, against the pods' routers and subnets.
fn routes(ix: &Ix<'_>, r: &Router, proj: &str, out: &mut Out) {
    let rid = r.id();
    let mut bottoms = Vec::new();
    let mut views: BTreeMap<String, PodView> = BTreeMap::new();
    let ew = ix
        .pods_of
        .get(&(rid, ROUTER))
        .into_iter()
        .flatten()
        .map(|p| (p, false));
    let ns = ix
        .pods_of
        .get(&(rid, NS_ROUTER))
        .into_iter()
        .flatten()
        .take(1)
        .map(|p| (p, true));
    for (p, is_ns) in ew.chain(ns) {
        let t = if is_ns { NS_ROUTER } else { ROUTER };
        let (Some(pod), Some(b)) = (ix.pods.get(p), ix.down(rid, p, t)) else {
            // A pod not observed: its routes cannot be compared.
            return;
        };
        let ports: Vec<Port> = pod
            .device_ports(b)
            .iter()
            .filter(|q| configure_route::route_ports(q, b, is_ns))
            .map(|q| (*q).clone())
            .collect();
        let view = views.entry(pod.region.to_owned()).or_default();
        for q in &ports {
            for f in q.fixed_ips.iter().flatten() {
                if let Some(s) = f.subnet_id.as_deref().and_then(|s| pod.subnets.get(s)) {
                    view.subnets.insert(s.id().to_owned(), (*s).clone());
                }
            }
            if let Some(n) = q.network_id.as_deref() {
                let on_net = pod.by_network.get(n).into_iter().flatten();
                view.ports_by_network
                    .insert(n.to_owned(), on_net.map(|x| (*x).clone()).collect());
            }
        }
        bottoms.push(BottomPorts {
            region: pod.region.to_owned(),
            router_id: b.to_owned(),
            is_ns,
            ports,
        });
    }
    if bottoms.is_empty() {
        return;
    }
    let plan = configure_route::plan(gateway(r).is_some(), &ix.o.bridge_cidr, &bottoms, &views);
    let by_region: HashMap<&str, &PodIx<'_>> = ix.pods.values().map(|p| (p.region, p)).collect();
    for want in &plan.routes {
        let Some(pod) = by_region.get(want.region.as_str()) else {
            continue;
        };
        let Some(have) = pod.routers.get(want.router_id.as_str()) else {
            continue;
        };
        if !configure_route::routes_match(have.routes.as_ref(), &want.routes) {
            out.push(
                JobType::ConfigureRoute,
                rid.to_owned(),
                proj,
                &want.region,
                format!(
                    "router {} has routes {:?}, not {:?}",
                    want.router_id,
                    have.routes.clone().unwrap_or_default(),
                    want.routes
                ),
            );
        }
    }
    for want in &plan.host_routes {
        let Some(pod) = by_region.get(want.region.as_str()) else {
            continue;
        };
        let Some(have) = pod.subnets.get(want.subnet_id.as_str()) else {
            continue;
        };
        if !configure_route::host_routes_match(have.host_routes.as_ref(), &want.host_routes) {
            out.push(
                JobType::ConfigureRoute,
                rid.to_owned(),
                proj,
                &want.region,
                format!("subnet {} has other host routes", want.subnet_id),
            );
        }
    }
}

/// Floating IPs: each associated top one has its copy in the external
/// network's pod on the VM's port (or its shadow there); a copy the top
/// no longer has goes.
fn floating_ips(ix: &Ix<'_>, out: &mut Out) {
    // (top external network, address) of every associated top floating IP.
    let mut associated: HashSet<(&str, &str)> = HashSet::new();
    for f in &ix.o.central.floatingips {
        let (Some(Some(t_port_id)), Some(e), Some(addr)) = (
            &f.port_id,
            f.floating_network_id.as_deref(),
            f.floating_ip_address.as_deref(),
        ) else {
            continue;
        };
        associated.insert((e, addr));
        let Some(Some(rid)) = &f.router_id else {
            continue;
        };
        let Some(t_port) = ix.top.ports.get(t_port_id.as_str()) else {
            continue;
        };
        let (Some(n), Some(ip)) = (t_port.network_id.as_deref(), t_port.ip_addresses().next())
        else {
            continue;
        };
        let Some((p, b_port)) = vm_port(ix, t_port_id, n, ip) else {
            // Not booted in any pod observed: nothing to mirror yet.
            continue;
        };
        let Some(x) = ix.pods_of.get(&(e, NETWORK)).and_then(|v| v.first()) else {
            continue;
        };
        let (Some(ext), Some(b_ext)) = (ix.pods.get(x), ix.down(e, x, NETWORK)) else {
            continue;
        };
        let target = if *x == p {
            Some(b_port)
        } else {
            ext.named(&crate::network::shadow::shadow_port_name(t_port_id))
                .map(|s| s.id())
        };
        let mirrored = ix.o.regions[*x].floatingips.iter().any(|b| {
            b.floating_network_id.as_deref() == Some(b_ext)
                && b.floating_ip_address.as_deref() == Some(addr)
                && target.is_some()
                && b.port_id.clone().flatten().as_deref() == target
        });
        if !mirrored {
            let proj = project(&f.tenant_id);
            out.push(
                JobType::RouterSetup,
                format!("{p}#{rid}#{n}"),
                &proj,
                ext.region,
                format!("floating IP {addr} is not on the VM's port"),
            );
        }
    }
    for (x, pod) in &ix.pods {
        for b in &ix.o.regions[*x].floatingips {
            let (Some(b_ext), Some(addr)) = (
                b.floating_network_id.as_deref(),
                b.floating_ip_address.as_deref(),
            ) else {
                continue;
            };
            let Some(e) = ix.up(b_ext, x, NETWORK) else {
                continue;
            };
            if associated.contains(&(e, addr)) {
                continue;
            }
            // Any router with a gateway on that network deletes it.
            let owner = b
                .router_id
                .clone()
                .flatten()
                .and_then(|br| ix.up(&br, x, NS_ROUTER).or_else(|| ix.up(&br, x, ROUTER)))
                .and_then(|t| ix.t_routers.get(t).copied());
            let candidates = owner.into_iter().chain(
                ix.t_routers
                    .values()
                    .copied()
                    .filter(|r| gateway(r).is_some_and(|g| g.network_id == e)),
            );
            let pick = candidates
                .filter(|r| gateway(r).is_some_and(|g| g.network_id == e))
                .find_map(|r| {
                    let pairs = router_pairs(ix, r);
                    let pair = pairs.into_iter().find(|(p, _)| ix.pods.contains_key(p));
                    pair.map(|pn| (r, pn))
                });
            if let Some((r, (p, n))) = pick {
                out.push(
                    JobType::RouterSetup,
                    format!("{p}#{}#{n}", r.id()),
                    &project(&r.tenant_id),
                    pod.region,
                    format!("floating IP {addr} is not associated at the top"),
                );
            }
        }
    }
}

/// The pod and port of the VM behind top port `t_port_id` (on top network
/// `n` at `ip`): its mirror's routing, else (a VM port xjob has not
/// mirrored) the `compute:*` port at that address on a copy of `n`.
fn vm_port<'a>(ix: &Ix<'a>, t_port_id: &str, n: &str, ip: &str) -> Option<(&'a str, &'a str)> {
    for (p, pod) in &ix.pods {
        if let Some(b) = ix.down(t_port_id, p, PORT) {
            if pod.ports.get(b).is_some_and(|q| is_vm_port(q)) {
                return Some((p, b));
            }
        }
    }
    for (p, pod) in &ix.pods {
        let Some(b_net) = ix.down(n, p, NETWORK) else {
            continue;
        };
        let found = pod
            .by_network
            .get(b_net)
            .into_iter()
            .flatten()
            .find(|q| is_vm_port(q) && q.ip_addresses().any(|a| a == ip));
        if let Some(q) = found {
            return Some((p, q.id()));
        }
    }
    None
}

/// The pods a top network's copies belong in (network_setup's rule,
/// `bottom::network_pods`): the pod each zone hint names, or every pod when
/// it has none.
fn hinted_pods<'a>(ix: &Ix<'a>, t_net: &Network) -> Vec<&'a str> {
    let hints = external::az_hints(t_net.availability_zone_hints.as_ref());
    if hints.is_empty() {
        return ix.o.pods.iter().map(|p| p.pod_id.as_str()).collect();
    }
    let mut pods: Vec<&str> = hints
        .iter()
        .filter_map(|h| ix.hint_pod(h))
        .map(|p| p.pod_id.as_str())
        .collect();
    pods.sort_unstable();
    pods.dedup();
    pods
}

/// Tenant networks and subnets have their copies in the pods they belong
/// in. xjob's own bridge networks and the external networks (copied by
/// router_setup where a gateway needs them) are not tenant networks.
fn network_copies(ix: &Ix<'_>, out: &mut Out) {
    let mut subnets_of: HashMap<&str, Vec<&Subnet>> = HashMap::new();
    for s in &ix.o.central.subnets {
        if let Some(n) = s.network_id.as_deref() {
            subnets_of.entry(n).or_default().push(s);
        }
    }
    for t_net in &ix.o.central.networks {
        let name = t_net.name.as_deref().unwrap_or_default();
        if t_net.external == Some(true) || name.starts_with("bridge_net_") {
            continue;
        }
        let n = t_net.id();
        let proj = project(&t_net.tenant_id);
        for p in hinted_pods(ix, t_net) {
            let Some(pod) = ix.pods.get(p) else { continue };
            let push = |out: &mut Out, what: String| {
                out.push(
                    JobType::NetworkSetup,
                    format!("{p}#{n}"),
                    &proj,
                    pod.region,
                    what,
                )
            };
            if ix
                .down(n, p, NETWORK)
                .is_none_or(|b| !pod.networks.contains(b))
            {
                push(out, format!("no copy of network {n}"));
                continue;
            }
            for s in subnets_of.get(n).into_iter().flatten() {
                if ix
                    .down(s.id(), p, SUBNET)
                    .is_none_or(|b| !pod.subnets.contains_key(b))
                {
                    push(out, format!("no copy of subnet {}", s.id()));
                }
            }
        }
    }
}

/// Copies whose top resource is gone: bottom routers, network copies, and
/// subnet copies of networks that remain.
fn gone_at_the_top(ix: &Ix<'_>, out: &mut Out) {
    let t_subnets: HashSet<&str> = ix.o.central.subnets.iter().map(|s| s.id()).collect();
    for r in &ix.o.routings {
        let p = r.pod_id.as_str();
        if p == ix.o.top_pod.pod_id {
            continue;
        }
        let proj = r.project_id.clone().unwrap_or_default();
        let region = ix.region(p);
        let t = r.top_id.as_str();
        match r.resource_type.as_str() {
            ROUTER | NS_ROUTER if !ix.t_routers.contains_key(t) => out.push(
                JobType::RouterCleanup,
                t.to_owned(),
                &proj,
                &region,
                format!(
                    "{} {} of a deleted top router",
                    r.resource_type,
                    r.bottom_id.as_deref().unwrap_or_default()
                ),
            ),
            NETWORK | SHADOW_NETWORK if !ix.t_networks.contains_key(t) => out.push(
                JobType::NetworkCleanup,
                t.to_owned(),
                &proj,
                &region,
                format!("copy of deleted top network {t}"),
            ),
            SUBNET if !t_subnets.contains(t) => {
                let Some(pod) = ix.pods.get(p) else { continue };
                let b = r.bottom_id.as_deref().unwrap_or_default();
                let n = pod
                    .subnets
                    .get(b)
                    .and_then(|s| s.network_id.as_deref())
                    .and_then(|bn| ix.up(bn, p, NETWORK))
                    .filter(|n| ix.t_networks.contains_key(n));
                if let Some(n) = n {
                    out.push(
                        JobType::NetworkSetup,
                        format!("{p}#{n}"),
                        &proj,
                        &region,
                        format!("copy {b} of deleted top subnet {t}"),
                    );
                }
            }
            _ => {}
        }
    }
}

/// VM ports on copies have their mirror in the central region; a mirror
/// whose pod port is gone goes.
fn mirrors(ix: &Ix<'_>, out: &mut Out) {
    for (p, pod) in &ix.pods {
        for q in ix.o.regions[*p].ports.iter().filter(|q| is_vm_port(q)) {
            let own_copy = q
                .network_id
                .as_deref()
                .and_then(|b| ix.up(b, p, NETWORK))
                .is_some();
            if own_copy && ix.up(q.id(), p, PORT).is_none() {
                out.push(
                    JobType::PortMirror,
                    format!("{p}#{}", q.id()),
                    &project(&q.tenant_id),
                    pod.region,
                    format!("VM port {} has no mirror", q.id()),
                );
            }
        }
    }
    for r in ix.o.routings.iter().filter(|r| r.resource_type == PORT) {
        let p = r.pod_id.as_str();
        let Some(pod) = ix.pods.get(p) else { continue };
        let b = r.bottom_id.as_deref().unwrap_or_default();
        let mirror = ix
            .top
            .ports
            .get(r.top_id.as_str())
            .is_some_and(|t| is_vm_port(t));
        if mirror && !pod.ports.contains_key(b) {
            out.push(
                JobType::PortMirror,
                format!("{p}#{b}"),
                &r.project_id.clone().unwrap_or_default(),
                pod.region,
                format!("mirror {} of a VM port gone from the pod", r.top_id),
            );
        }
    }
}

/// What one sweep found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Regions listed (the central one included).
    pub regions: usize,
    /// Pods whose listing failed (left for the next sweep).
    pub unobserved: Vec<String>,
    pub differences: usize,
    /// The jobs recorded.
    pub recorded: Vec<JobAsk>,
    /// Jobs asked for that were already waiting or running.
    pub pending: usize,
}

/// One sweep: observe, compare, record. A pod that cannot be listed is
/// logged and left out; the others are still compared.
pub async fn sweep(net: &NetworkContext) -> NetResult<SweepReport> {
    let (observed, failed) = observe(net).await?;
    for (region, e) in &failed {
        tracing::warn!(region = %region, error = %e, "sweep: cannot list the region; left for the next sweep");
    }
    let diffs = differences(&observed);
    for d in &diffs {
        tracing::info!(
            region = %d.region,
            job_type = %d.ask.job_type,
            resource_id = %d.ask.resource_id,
            "sweep: {}",
            d.what
        );
    }
    let mut asks: Vec<JobAsk> = diffs.iter().map(|d| d.ask.clone()).collect();
    asks.sort();
    asks.dedup();
    let asked = asks.len();
    let recorded = record_unless_pending(net, asks, &sweep_context()).await?;
    let report = SweepReport {
        regions: 1 + observed.regions.len(),
        unobserved: failed.into_iter().map(|(r, _)| r).collect(),
        differences: diffs.len(),
        pending: asked - recorded.len(),
        recorded,
    };
    tracing::info!(
        regions = report.regions,
        unobserved = report.unobserved.len(),
        routers = observed.central.routers.len(),
        networks = observed.central.networks.len(),
        routings = observed.routings.len(),
        differences = report.differences,
        recorded = report.recorded.len(),
        pending = report.pending,
        "sweep done"
    );
    Ok(report)
}

/// The request context of the jobs a sweep records: an admin one, with
/// one request id per sweep so its jobs can be found in the logs.
fn sweep_context() -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("is_admin".into(), json!(true));
    m.insert(
        "request_id".into(),
        json!(format!("req-{}", uuid::Uuid::new_v4())),
    );
    m
}

/// When the sweep runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReconcileSettings {
    /// Between the end of one sweep and the start of the next.
    pub interval: Duration,
    /// Before the first sweep: short, so a restarted xjob soon catches up
    /// what it missed, yet after the listeners attached.
    pub first_delay: Duration,
}

/// The first sweep's delay after start-up (or the interval, if shorter).
pub const FIRST_SWEEP_DELAY: Duration = Duration::from_secs(10);

impl ReconcileSettings {
    /// `None` unless stock mode is on and `[xjob] reconcile_interval` > 0.
    pub fn from_config(config: &Config) -> Option<ReconcileSettings> {
        let secs = u64::try_from(config.xjob.reconcile_interval).unwrap_or(0);
        if !config.xjob.stock_neutron || secs == 0 {
            return None;
        }
        let interval = Duration::from_secs(secs);
        Some(ReconcileSettings {
            interval,
            first_delay: FIRST_SWEEP_DELAY.min(interval),
        })
    }
}

/// Sweep every interval until `stop` is cancelled; a failed sweep is
/// logged and the next one comes at its time.
pub async fn run(net: NetworkContext, settings: ReconcileSettings, stop: CancellationToken) {
    tracing::info!(
        interval_secs = settings.interval.as_secs(),
        "reconciliation sweep scheduled"
    );
    let mut pause = settings.first_delay;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(pause) => {}
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            r = sweep(&net) => if let Err(e) = r {
                tracing::error!(error = %e, "sweep failed");
            },
        }
        pause = settings.interval;
    }
}

#[cfg(test)]
mod tests {
    //! `differences` on tables of states: a converged router spread over
    //! one pod, then one change at a time.
    use super::*;
    use serde_json::from_value;

    const P: &str = "proj";

    fn pod(id: &str, region: &str, az: &str) -> Pod {
        Pod {
            pod_id: id.into(),
            region_name: region.into(),
            pod_az_name: None,
            dc_name: None,
            az_name: az.into(),
        }
    }

    fn routing(top: &str, pod: &str, t: &str, bottom: &str) -> ResourceRouting {
        ResourceRouting {
            id: 0,
            top_id: top.into(),
            bottom_id: Some(bottom.into()),
            pod_id: pod.into(),
            project_id: Some(P.into()),
            resource_type: t.into(),
            created_at: None,
            updated_at: None,
        }
    }

    fn port(id: &str, net: &str, owner: &str, device: &str, subnet: &str, ip: &str) -> Port {
        from_value(
            json!({"id": id, "name": "", "tenant_id": P, "network_id": net,
            "device_owner": owner, "device_id": device,
            "fixed_ips": [{"subnet_id": subnet, "ip_address": ip}]}),
        )
        .unwrap()
    }

    /// Top router R on top network N (hinted to az1, subnet S); pod-1 holds
    /// its copy bN/bS, bottom router bR with the interface on bS and the
    /// gateway on the bridge copy at the top bridge port's address, and a
    /// VM port mirrored by top port T.
    fn converged() -> Observed {
        let central = RegionView {
            routers: vec![from_value(json!({"id": "R", "tenant_id": P})).unwrap()],
            networks: vec![
                from_value(json!({"id": "N", "name": "net", "tenant_id": P,
                    "availability_zone_hints": ["az1"]}))
                .unwrap(),
                from_value(json!({"id": "TB", "name": "bridge_net_proj", "tenant_id": P})).unwrap(),
            ],
            subnets: vec![
                from_value(json!({"id": "S", "network_id": "N", "tenant_id": P,
                "cidr": "10.0.1.0/24", "gateway_ip": "10.0.1.1"}))
                .unwrap(),
            ],
            ports: vec![
                port("RI", "N", "network:router_interface", "R", "S", "10.0.1.1"),
                port("T", "N", "compute:nova", "vm", "S", "10.0.1.5"),
                from_value(
                    json!({"id": "BP", "name": "bridge_port_proj_bR", "tenant_id": P,
                    "network_id": "TB", "device_owner": "", "device_id": "",
                    "fixed_ips": [{"subnet_id": "TBS", "ip_address": "100.0.0.2"}]}),
                )
                .unwrap(),
            ],
            floatingips: vec![],
        };
        let pod1 = RegionView {
            routers: vec![from_value(
                json!({"id": "bR", "name": "R", "tenant_id": P, "routes": [],
                "external_gateway_info": {"network_id": "bTB",
                    "external_fixed_ips": [{"subnet_id": "bTBS", "ip_address": "100.0.0.2"}]}}),
            )
            .unwrap()],
            networks: vec![
                from_value(json!({"id": "bN", "tenant_id": P})).unwrap(),
                from_value(json!({"id": "bTB", "tenant_id": P})).unwrap(),
            ],
            subnets: vec![
                from_value(json!({"id": "bS", "network_id": "bN", "tenant_id": P,
                "cidr": "10.0.1.0/24", "gateway_ip": "10.0.1.2", "host_routes": []}))
                .unwrap(),
            ],
            ports: vec![
                port(
                    "bRI",
                    "bN",
                    "network:router_interface",
                    "bR",
                    "bS",
                    "10.0.1.2",
                ),
                port(
                    "bRG",
                    "bTB",
                    "network:router_gateway",
                    "bR",
                    "bTBS",
                    "100.0.0.2",
                ),
                port("bT", "bN", "compute:nova", "vm", "bS", "10.0.1.5"),
            ],
            floatingips: vec![],
        };
        Observed {
            top_pod: pod("pod-top", "Central", ""),
            pods: vec![pod("pod-1", "One", "az1"), pod("pod-2", "Two", "az2")],
            routings: vec![
                routing("R", "pod-1", "router", "bR"),
                routing("N", "pod-1", "network", "bN"),
                routing("S", "pod-1", "subnet", "bS"),
                routing("TB", "pod-1", "network", "bTB"),
                routing("T", "pod-1", "port", "bT"),
            ],
            central,
            regions: BTreeMap::from([
                ("pod-1".to_owned(), pod1),
                ("pod-2".to_owned(), RegionView::default()),
            ]),
            bridge_cidr: Cidr::parse("100.0.0.0/9").unwrap(),
        }
    }

    fn ask(t: JobType, r: &str) -> JobAsk {
        JobAsk {
            job_type: t,
            resource_id: r.into(),
            project_id: P.into(),
        }
    }

    fn pod1(o: &mut Observed) -> &mut RegionView {
        o.regions.get_mut("pod-1").unwrap()
    }

    #[test]
    fn a_converged_cloud_differs_in_nothing() {
        assert_eq!(diff(&converged()), vec![]);
    }

    #[test]
    fn each_difference_asks_for_the_job_that_repairs_it() {
        type Change = fn(&mut Observed);
        let setup = ask(JobType::RouterSetup, "pod-1#R#N");
        let cases: Vec<(&str, Change, Vec<JobAsk>)> = vec![
            (
                "bottom interface removed",
                |o| pod1(o).ports.retain(|p| p.id() != "bRI"),
                vec![setup.clone()],
            ),
            (
                "bottom router deleted",
                |o| pod1(o).routers.clear(),
                vec![setup.clone()],
            ),
            (
                "top bridge port deleted",
                |o| o.central.ports.retain(|p| p.id() != "BP"),
                vec![setup.clone()],
            ),
            (
                "bottom gateway cleared",
                |o| pod1(o).routers[0].external_gateway_info = Some(None),
                vec![setup.clone()],
            ),
            (
                "a route added by hand",
                |o| {
                    pod1(o).routers[0].routes =
                        Some(vec![tricircle_openstack::neutron::Route::new(
                            "1.2.3.4/32",
                            "100.0.0.9",
                        )])
                },
                vec![ask(JobType::ConfigureRoute, "R")],
            ),
            (
                "top router deleted",
                |o| {
                    o.central.routers.clear();
                    o.central.ports.retain(|p| p.id() != "RI");
                },
                vec![ask(JobType::RouterCleanup, "R")],
            ),
            (
                "top network deleted",
                |o| {
                    o.central.networks.retain(|n| n.id() != "N");
                    o.central.subnets.clear();
                    o.central.ports.retain(|p| p.id() == "BP");
                },
                vec![ask(JobType::NetworkCleanup, "N")],
            ),
            (
                "a network hinted to a pod without its copy",
                |o| {
                    o.central.networks[0].availability_zone_hints =
                        Some(vec!["az1".into(), "az2".into()])
                },
                // The router follows the network into pod-2.
                vec![
                    ask(JobType::RouterSetup, "pod-2#R#N"),
                    ask(JobType::NetworkSetup, "pod-2#N"),
                ],
            ),
            (
                "a VM port without its mirror",
                |o| o.routings.retain(|r| r.resource_type != "port"),
                vec![ask(JobType::PortMirror, "pod-1#bT")],
            ),
            (
                "a mirror whose pod port is gone",
                |o| pod1(o).ports.retain(|p| p.id() != "bT"),
                vec![ask(JobType::PortMirror, "pod-1#bT")],
            ),
            (
                "an interface the top router left",
                |o| o.central.ports.retain(|p| p.id() != "RI"),
                vec![setup.clone()],
            ),
            (
                "a pod that could not be listed",
                |o| {
                    o.regions.remove("pod-1");
                    o.central.routers.clear();
                    o.central.ports.retain(|p| p.id() != "RI");
                },
                // Only what the central region and the routings show.
                vec![ask(JobType::RouterCleanup, "R")],
            ),
        ];
        for (what, change, want) in cases {
            let mut o = converged();
            change(&mut o);
            assert_eq!(diff(&o), want, "{what}");
        }
    }

    #[test]
    fn floating_ips_follow_the_top() {
        let mut o = converged();
        o.central.routers[0].external_gateway_info =
            Some(Some(from_value(json!({"network_id": "E"})).unwrap()));
        o.central.networks.push(
            from_value(json!({"id": "E", "tenant_id": P, "router:external": true,
                "availability_zone_hints": ["az1"]}))
            .unwrap(),
        );
        o.central.floatingips.push(
            from_value(
                json!({"id": "F", "tenant_id": P, "floating_network_id": "E",
                "floating_ip_address": "1.0.0.9", "port_id": "T", "router_id": "R"}),
            )
            .unwrap(),
        );
        o.routings.push(routing("E", "pod-1", "network", "bE"));
        o.routings.push(routing("R", "pod-1", "ns_router", "bNS"));
        o.central.ports.push(
            from_value(json!({"id": "NP", "name": "bridge_port_proj_bNS", "tenant_id": P,
                "network_id": "TB", "fixed_ips": [{"subnet_id": "TBS", "ip_address": "100.0.0.1"}]}))
            .unwrap(),
        );
        let p1 = pod1(&mut o);
        p1.routers.push(
            from_value(json!({"id": "bNS", "tenant_id": P,
                "routes": [{"destination": "10.0.1.5/32", "nexthop": "100.0.0.2"}],
                "external_gateway_info": {"network_id": "bE"}}))
            .unwrap(),
        );
        p1.ports.push(port(
            "bNSB",
            "bTB",
            "network:router_interface",
            "bNS",
            "bTBS",
            "100.0.0.1",
        ));
        // The default route through the NS router's bridge address.
        p1.routers[0].routes = Some(vec![tricircle_openstack::neutron::Route::new(
            "0.0.0.0/0",
            "100.0.0.1",
        )]);
        let b_fip: FloatingIp = from_value(json!({"id": "bF", "floating_network_id": "bE",
            "floating_ip_address": "1.0.0.9", "port_id": "bT"}))
        .unwrap();
        p1.floatingips.push(b_fip);
        assert_eq!(diff(&o), vec![], "converged with the floating IP");

        let mut missing = o.clone();
        pod1(&mut missing).floatingips.clear();
        assert_eq!(diff(&missing), vec![ask(JobType::RouterSetup, "pod-1#R#N")]);

        let mut stale = o.clone();
        stale.central.floatingips.clear();
        assert_eq!(diff(&stale), vec![ask(JobType::RouterSetup, "pod-1#R#N")]);
    }
}
