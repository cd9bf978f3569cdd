//! The multi-pod scenario of the install guide on the fake cloud: a top
//! (CentralRegion) and two pods, RegionOne (az1) and RegionTwo (az2).
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Map, Value};
use tricircle_db::testing::{create_pods, TestDb};
use tricircle_db::{jobs, Backend};
use tricircle_fakecloud::FakeCloud;
use tricircle_jobs::events::{jobs_for, reach_of, record, JobAsk, NeutronEvent};
use tricircle_jobs::handlers::register_all;
use tricircle_jobs::network::{ip::Cidr, NetworkContext, NetworkSettings};
use tricircle_jobs::{Engine, Registry, ResourceType, Settings};
use tricircle_openstack::endpoints::{EndpointCache, MemoryEndpointCache};
use tricircle_openstack::neutron::{NeutronClient, RetryPolicy};
use tricircle_openstack::testing::clients_config;
use tricircle_openstack::{Clients, ClientsConfig};

pub const TOP: &str = "CentralRegion";
pub const R1: &str = "RegionOne";
pub const R2: &str = "RegionTwo";
pub const PROJECT: &str = "3f6a1c0e5b8d4f2a9c7e1d0b2a4c6e8f";

pub struct Env {
    pub cloud: FakeCloud,
    pub db: TestDb,
    pub net: NetworkContext,
    pub engine: Engine,
}

pub async fn env(stock: bool) -> Env {
    env_bridge(stock, "vxlan", None).await
}

/// [`env`] with bridge networks of `bridge_type` (on `physnet`).
pub async fn env_bridge(stock: bool, bridge_type: &str, physnet: Option<&str>) -> Env {
    // Handler errors only show in the logs; keep them in the test output.
    let _ = tracing_subscriber::fmt()
        .with_env_filter("warn")
        .with_test_writer()
        .try_init();
    let cloud = FakeCloud::builder()
        .region(TOP)
        .region(R1)
        .region(R2)
        .admin("tricircle", "Adm1n-Secret-pw", "service")
        .build()
        .await;
    let cfg = ClientsConfig {
        retry: RetryPolicy {
            retries: 1,
            initial_backoff: Duration::from_millis(5),
            max_backoff: Duration::from_millis(10),
        },
        ..clients_config(
            tricircle_openstack::test_password_auth!(cloud.admin()),
            false,
        )
    };
    let cache: Arc<dyn EndpointCache> = Arc::new(MemoryEndpointCache::new());
    let clients = Clients::new(cfg, cache).unwrap();
    clients.refresh_endpoints().await.unwrap();
    let db = TestDb::synced(Backend::Sqlite).unwrap();
    create_pods(
        &db.db,
        &[
            ("pod-top", TOP, ""),
            ("pod-1", R1, "az1"),
            ("pod-2", R2, "az2"),
        ],
    )
    .await;
    let settings = NetworkSettings {
        bridge_cidr: Cidr::parse("100.0.0.0/9").unwrap(),
        bridge_network_type: bridge_type.into(),
        bridge_physical_network: physnet.map(Into::into),
        top_region_name: Some(TOP.into()),
        stock_neutron: stock,
    };
    let net = NetworkContext::new(db.db.clone(), clients, settings);
    let mut registry = Registry::new();
    register_all(&mut registry, &net).unwrap();
    let engine = Engine::new(
        db.db.clone(),
        registry,
        Settings {
            workers: 2,
            worker_handle_timeout: Duration::from_secs(60),
            job_run_expire: Duration::from_secs(180),
            worker_sleep_time: Duration::from_millis(1),
            redo_time_span: Duration::from_secs(3600),
        },
    );
    Env {
        cloud,
        db,
        net,
        engine,
    }
}

impl Env {
    pub fn neutron(&self, region: &str) -> NeutronClient {
        self.net.clients.neutron(region)
    }

    /// Record a NEW job and run it; true when it succeeded.
    pub async fn run_job(&self, job_type: &str, resource_id: &str) -> bool {
        let (t, r) = (job_type.to_owned(), resource_id.to_owned());
        self.db
            .db
            .run(move |c| jobs::new_job(c, PROJECT, &t, &r))
            .await
            .unwrap();
        let report = self
            .engine
            .handle(job_type.parse().unwrap(), resource_id, Map::new())
            .await
            .unwrap();
        !report.runs.is_empty() && report.runs.iter().all(|r| r.success)
    }

    /// The jobs waiting to run: (the latest FAIL rows, the NEW rows).
    pub async fn waiting(&self) -> (Vec<jobs::JobRef>, Vec<jobs::JobRef>) {
        self.db
            .db
            .run(|c| jobs::get_latest_failed_or_new_jobs(c, Duration::from_secs(3600)))
            .await
            .unwrap()
    }

    /// Run every NEW job (including those jobs record) until none is left;
    /// returns (type, resource, success) of each run.
    pub async fn drain(&self) -> Vec<(String, String, bool)> {
        let mut done = Vec::new();
        for _ in 0..20 {
            let (_, new) = self.waiting().await;
            if new.is_empty() {
                return done;
            }
            for j in new {
                let report = self
                    .engine
                    .handle(j.job_type.parse().unwrap(), &j.resource_id, Map::new())
                    .await
                    .unwrap();
                let ok = report.runs.iter().all(|r| r.success);
                done.push((j.job_type, j.resource_id, ok));
            }
        }
        panic!("jobs keep creating jobs: {done:?}");
    }

    /// Every resource of every region, and the routing table, for
    /// before/after comparisons.
    pub async fn snapshot(&self) -> BTreeMap<String, Value> {
        let mut out = BTreeMap::new();
        for region in [TOP, R1, R2] {
            for coll in ["networks", "subnets", "ports", "routers", "floatingips"] {
                out.insert(
                    format!("{region}/{coll}"),
                    Value::Array(self.cloud.neutron(region).dump(coll)),
                );
            }
        }
        let routings = self
            .db
            .db
            .run(|c| tricircle_db::routings::find(c, &Default::default()))
            .await
            .unwrap();
        let rows: Vec<Value> = routings
            .into_iter()
            .map(|r| json!([r.top_id, r.bottom_id, r.pod_id, r.resource_type]))
            .collect();
        out.insert("routings".into(), Value::Array(rows));
        out
    }

    pub async fn pod(&self, id: &str) -> tricircle_db::models::Pod {
        self.net.pod(id).await.unwrap()
    }

    pub async fn route(&self, top_id: &str, pod_id: &str, rtype: &str, bottom_id: &str) {
        let r = tricircle_db::models::NewRouting {
            top_id: top_id.into(),
            bottom_id: Some(bottom_id.into()),
            pod_id: pod_id.into(),
            project_id: Some(PROJECT.into()),
            resource_type: rtype.into(),
        };
        self.db
            .db
            .run(move |c| tricircle_db::routings::create(c, &r))
            .await
            .unwrap()
            .expect("new routing");
    }
}

/// POST a resource through the raw client (tests write bodies as JSON).
pub async fn create(c: &NeutronClient, path: &str, key: &str, body: Value) -> Value {
    let doc = json!({ key: body });
    let v = c
        .request(reqwest_method("POST"), path, &[], Some(&doc))
        .await
        .unwrap_or_else(|e| panic!("POST {path} in {}: {e}", c.region()))
        .unwrap();
    v[key].clone()
}

pub async fn put(c: &NeutronClient, path: &str, body: Value) -> Value {
    c.request(reqwest_method("PUT"), path, &[], Some(&body))
        .await
        .unwrap_or_else(|e| panic!("PUT {path} in {}: {e}", c.region()))
        .unwrap_or(Value::Null)
}

fn reqwest_method(m: &str) -> reqwest::Method {
    m.parse().unwrap()
}

/// A top network `name` of PROJECT with one IPv4 subnet `cidr`:
/// (network, subnet) as the central Neutron answered them.
pub async fn top_network(e: &Env, name: &str, cidr: &str) -> (Value, Value) {
    network_in(&e.neutron(TOP), name, cidr, json!({})).await
}

/// A network `name` of PROJECT (its body merged with `extra`) with one IPv4
/// subnet `sub-<name>` of `cidr`, through `c`: (network, subnet).
pub async fn network_in(c: &NeutronClient, name: &str, cidr: &str, extra: Value) -> (Value, Value) {
    let mut body = json!({"name": name, "tenant_id": PROJECT});
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    let n = create(c, "networks", "network", body).await;
    let s = create(
        c,
        "subnets",
        "subnet",
        json!({"network_id": id(&n), "cidr": cidr, "ip_version": 4,
            "name": format!("sub-{name}"), "tenant_id": PROJECT}),
    )
    .await;
    (n, s)
}

/// The guide's external network `ext-net` (a VLAN on `extern`, hinted to
/// `az_hint`) with its subnet `ext-subnet`: (network, subnet).
pub async fn ext_network(top: &NeutronClient, az_hint: &str) -> (Value, Value) {
    let ext = create(
        top,
        "networks",
        "network",
        json!({"name": "ext-net", "router:external": true,
        "provider:network_type": "vlan", "provider:physical_network": "extern",
        "availability_zone_hints": [az_hint]}),
    )
    .await;
    let sub = create(
        top,
        "subnets",
        "subnet",
        json!({"network_id": id(&ext), "name": "ext-subnet",
        "cidr": "163.3.124.0/24", "ip_version": 4, "enable_dhcp": false}),
    )
    .await;
    (ext, sub)
}

impl Env {
    /// What a local plugin leaves in `region` (`pod`) for the top network
    /// `net` (called `name` at the top) and its subnet `sub`: bottom copies
    /// named as the plugin names them, routed to the top ones.
    /// Returns (bottom network, bottom subnet).
    pub async fn bottom_network(
        &self,
        region: &str,
        pod: &str,
        (net, sub): (&Value, &Value),
        name: &str,
    ) -> (Value, Value) {
        let c = self.neutron(region);
        let bn = create(
            &c,
            "networks",
            "network",
            json!({"name": format!("{}#{name}", id(net)), "tenant_id": PROJECT}),
        )
        .await;
        let bs = create(
            &c,
            "subnets",
            "subnet",
            json!({"network_id": id(&bn), "name": id(sub),
            "cidr": sub["cidr"], "ip_version": 4, "tenant_id": PROJECT}),
        )
        .await;
        self.route(&id(net), pod, ResourceType::Network.as_str(), &id(&bn))
            .await;
        self.route(&id(sub), pod, ResourceType::Subnet.as_str(), &id(&bs))
            .await;
        (bn, bs)
    }
}

/// The router interface ports of `router` among `ports`.
pub fn interfaces(ports: Vec<Value>, router: &Value) -> Vec<Value> {
    ports
        .into_iter()
        .filter(|p| {
            p["device_id"] == router["id"] && p["device_owner"] == "network:router_interface"
        })
        .collect()
}

/// `router` has one interface in `region`'s `ports`, at `subnet`'s gateway.
pub fn assert_one_interface_at_gateway(
    ports: Vec<Value>,
    router: &Value,
    subnet: &Value,
    region: &str,
) {
    let itf = interfaces(ports, router);
    assert_eq!(itf.len(), 1, "{region} interfaces");
    assert_eq!(itf[0]["fixed_ips"][0]["subnet_id"], subnet["id"]);
    assert_eq!(itf[0]["fixed_ips"][0]["ip_address"], subnet["gateway_ip"]);
}

/// The items called `name`.
pub fn named<'a>(items: &'a [Value], name: &str) -> Vec<&'a Value> {
    items.iter().filter(|v| v["name"] == name).collect()
}

/// A router's extra routes as (destination, nexthop).
pub fn routes(router: &Value) -> BTreeSet<(String, String)> {
    router["routes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["destination"].as_str().unwrap().to_owned(),
                r["nexthop"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// The routes of the guide's router with a VM in each pod: each pod's copy
/// (`copies`) reaches the other pod's VM at that pod's bridge address and
/// the rest at the north-south router's `ns_ip`; `ns` reaches both VMs.
pub fn assert_two_pod_routes(
    copies: [&Value; 2],
    ns: &Value,
    vm_ips: [&str; 2],
    bridge_ips: &[String],
    ns_ip: &str,
) {
    let set = |v: &[(&str, &str)]| -> BTreeSet<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    };
    let vm1 = format!("{}/32", vm_ips[0]);
    let vm2 = format!("{}/32", vm_ips[1]);
    assert_eq!(
        routes(copies[0]),
        set(&[(&vm2, &bridge_ips[1]), ("0.0.0.0/0", ns_ip)])
    );
    assert_eq!(
        routes(copies[1]),
        set(&[(&vm1, &bridge_ips[0]), ("0.0.0.0/0", ns_ip)])
    );
    assert_eq!(
        routes(ns),
        set(&[(&vm1, &bridge_ips[0]), (&vm2, &bridge_ips[1])])
    );
}

/// The address of a router's gateway port.
pub fn gateway_ip(router: &Value) -> String {
    router["external_gateway_info"]["external_fixed_ips"][0]["ip_address"]
        .as_str()
        .unwrap()
        .to_owned()
}

pub fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_owned()
}

pub fn first_ip(v: &Value) -> String {
    v["fixed_ips"][0]["ip_address"].as_str().unwrap().to_owned()
}

/// A top router made from `body`, with an interface on each of `subnets`,
/// then its gateway on external network `ext_id` (as a tenant does it).
pub async fn gateway_router(
    top: &NeutronClient,
    body: Value,
    subnets: &[&Value],
    ext_id: &str,
) -> Value {
    let router = create(top, "routers", "router", body).await;
    let rid = id(&router);
    for s in subnets {
        put(
            top,
            &format!("routers/{rid}/add_router_interface"),
            json!({"subnet_id": id(s)}),
        )
        .await;
    }
    put(
        top,
        &format!("routers/{rid}"),
        json!({"router": {"external_gateway_info": {"network_id": ext_id}}}),
    )
    .await;
    router
}

/// What the tenant does through the central Neutron in the multi-pod
/// guide: a router on every subnet of `nets` with its gateway on `ext`, a
/// VM port on each network, and a floating IP on the second VM.
/// Returns (router, VM ports, floating IP).
pub async fn tenant_router(
    top: &NeutronClient,
    project: &str,
    nets: &[(Value, Value)],
    ext: &Value,
) -> (Value, Vec<Value>, Value) {
    let subnets: Vec<&Value> = nets.iter().map(|(_, s)| s).collect();
    let router = gateway_router(
        top,
        json!({"name": "router", "tenant_id": project}),
        &subnets,
        &id(ext),
    )
    .await;
    let mut vms = Vec::new();
    for (i, (n, _)) in nets.iter().enumerate() {
        let vm = format!("vm{}", i + 1);
        vms.push(
            create(
                top,
                "ports",
                "port",
                json!({"network_id": id(n), "name": vm,
                "device_owner": "compute:nova", "device_id": vm, "tenant_id": project}),
            )
            .await,
        );
    }
    let fip = create(
        top,
        "floatingips",
        "floatingip",
        json!({"floating_network_id": id(ext), "port_id": id(&vms[1]), "tenant_id": project}),
    )
    .await;
    (router, vms, fip)
}

/// What `region`'s Neutron published since the last call, as xjob's
/// listener hands it to the event mapper.
pub fn events_of(e: &Env, region: &str) -> Vec<NeutronEvent> {
    e.cloud
        .neutron(region)
        .take_notifications()
        .into_iter()
        .map(|n| NeutronEvent {
            region: region.into(),
            event_type: n.event_type,
            payload: n.payload,
            context: n.context,
        })
        .collect()
}

/// The jobs `events` ask for.
pub async fn asks_of(e: &Env, events: &[NeutronEvent]) -> BTreeSet<JobAsk> {
    let mut asks = BTreeSet::new();
    for ev in events {
        asks.extend(jobs_for(&e.net, ev).await.unwrap());
    }
    asks
}

/// Record the jobs `events` ask for, as xjob's listener does.
pub async fn record_all(e: &Env, events: &[NeutronEvent]) {
    for ev in events {
        let asks = jobs_for(&e.net, ev).await.unwrap();
        record(&e.net, asks, reach_of(ev), &ev.context)
            .await
            .unwrap();
    }
}

/// The stock-mode multi-pod guide: what the tenant creates through the
/// central Neutron, as the stock tests and the call counts start from.
pub struct World {
    pub router: String,
    pub net1: String,
    pub net2: String,
    pub ext: String,
    pub vms: Vec<Value>,
    pub fip: String,
}

/// What the tenant creates through the central Neutron: net1 (az1) and
/// net2 (az2), a router with both interfaces and a gateway on ext-net
/// (hint az2), two VM ports and a floating IP on vm2.
pub async fn tenant_world(e: &Env) -> World {
    let top_fake = e.cloud.neutron(TOP);
    // A central Neutron with agents reporting these zones.
    for az in ["az1", "az2"] {
        top_fake.add_availability_zone(az);
    }
    for r in [R1, R2] {
        e.cloud.neutron(r).set_tricircle_l3(false);
    }
    let top = e.neutron(TOP);
    let mut nets = Vec::new();
    for (name, cidr, az) in [
        ("net1", "10.0.1.0/24", "az1"),
        ("net2", "10.0.2.0/24", "az2"),
    ] {
        nets.push(network_in(&top, name, cidr, json!({"availability_zone_hints": [az]})).await);
    }
    let (ext, _) = ext_network(&top, "az2").await;
    let (router, vms, fip) = tenant_router(&top, PROJECT, &nets, &ext).await;
    let rid = id(&router);
    World {
        router: rid,
        net1: id(&nets[0].0),
        net2: id(&nets[1].0),
        ext: id(&ext),
        vms,
        fip: fip["floating_ip_address"].as_str().unwrap().to_owned(),
    }
}

/// Each pod's Nova boots its VM on the bottom copy of the VM's network, at
/// the top port's address (stock pods have no local plugin).
pub async fn boot_vms(e: &Env, w: &World) -> Vec<String> {
    let mut out = Vec::new();
    for (i, (region, pod, t_net)) in [(R1, "pod-1", &w.net1), (R2, "pod-2", &w.net2)]
        .into_iter()
        .enumerate()
    {
        let b_net = e
            .net
            .bottom_id(t_net, &e.pod(pod).await, ResourceType::Network)
            .await
            .unwrap()
            .expect("bottom network created by router_setup");
        let vm = &w.vms[i];
        let p = create(
            &e.neutron(region),
            "ports",
            "port",
            json!({"network_id": b_net, "name": format!("vm{}", i + 1),
            "device_owner": "compute:nova", "device_id": format!("vm{}", i + 1),
            "tenant_id": PROJECT, "mac_address": vm["mac_address"],
            "fixed_ips": [{"ip_address": first_ip(vm)}]}),
        )
        .await;
        out.push(id(&p));
    }
    out
}

pub async fn run_all(e: &Env, w: &World) -> Vec<(String, String, bool)> {
    for n in [&w.net1, &w.net2] {
        assert!(
            e.run_job(
                tricircle_jobs::JobType::RouterSetup.name(),
                &format!("not_specified_pod#{}#{n}", w.router)
            )
            .await
        );
    }
    e.drain().await
}

/// The routing of the mirror of pod port `b_port` in `pod`: its top id.
pub async fn mirror_routing(e: &Env, pod: &str, b_port: &str) -> Option<String> {
    let f = tricircle_db::routings::RoutingFilter {
        bottom_id: Some(b_port.into()),
        pod_id: Some(pod.into()),
        resource_type: Some("port".into()),
        ..Default::default()
    };
    let rows =
        e.db.db
            .run(move |c| tricircle_db::routings::find(c, &f))
            .await
            .unwrap();
    assert!(rows.len() <= 1, "{rows:?}");
    rows.into_iter().next().map(|r| r.top_id)
}

/// A VM's port booted in RegionOne on net1's copy, named and owned by
/// `vm` (what Nova makes there; no mirror yet).
pub async fn boot_on_net1(e: &Env, w: &World, vm: &str) -> Value {
    let b_net = e
        .net
        .bottom_id(&w.net1, &e.pod("pod-1").await, ResourceType::Network)
        .await
        .unwrap()
        .unwrap();
    create(
        &e.neutron(R1),
        "ports",
        "port",
        json!({"network_id": b_net, "name": vm, "device_owner": "compute:nova",
        "device_id": vm, "tenant_id": PROJECT}),
    )
    .await
}
