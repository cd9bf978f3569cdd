//! The fake Neutron's data and the rules Neutron enforces on it.
//!
//! Resources are kept as JSON objects shaped like Neutron's answers, so
//! filtering and `fields` work on any attribute without per-type code.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use serde_json::{json, Map, Value};

use super::ipam::{ip_string, parse_ip, Cidr};

mod agents;
mod sfc;
mod subnetpools;

/// A Neutron error answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Fault {
    pub(crate) status: u16,
    pub(crate) kind: String,
    pub(crate) message: String,
}

pub(crate) type Res<T> = Result<T, Fault>;

pub(crate) fn fault(status: u16, kind: &str, message: impl Into<String>) -> Fault {
    Fault {
        status,
        kind: kind.to_owned(),
        message: message.into(),
    }
}

/// A string attribute the request must carry (400 otherwise, as Neutron).
fn required(body: &Map<String, Value>, key: &str) -> Res<String> {
    body.get(key)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| bad(format!("{key} is required")))
}

fn bad(message: impl Into<String>) -> Fault {
    fault(
        400,
        "InvalidInput",
        format!("Invalid input for operation: {}.", message.into()),
    )
}

fn bad_request(resource: &str, message: impl Into<String>) -> Fault {
    fault(
        400,
        "BadRequest",
        format!("Bad {resource} request: {}.", message.into()),
    )
}

pub(crate) fn not_found(kind: &str, what: &str, id: &str) -> Fault {
    fault(404, kind, format!("{what} {id} could not be found."))
}

const RI: &str = "network:router_interface";
const RG: &str = "network:router_gateway";
const FIP: &str = "network:floatingip";
const DHCP: &str = "network:dhcp";

pub(crate) const COLLECTIONS: &[&str] = &[
    "networks",
    "subnets",
    "ports",
    "routers",
    "floatingips",
    "security_groups",
    "security_group_rules",
    "trunks",
    "policies",
    "qos_rules",
    "subnetpools",
    sfc::PORT_PAIRS,
    sfc::PORT_PAIR_GROUPS,
    sfc::FLOW_CLASSIFIERS,
    sfc::PORT_CHAINS,
];

fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or_default()
}

fn now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

#[derive(Clone, Default)]
pub(crate) struct Store {
    colls: BTreeMap<&'static str, Vec<Value>>,
    pub(crate) availability_zones: BTreeSet<String>,
    next_vni: i64,
    next_vlan: i64,
    next_mac: u32,
    /// Floating IP association as Tricircle's local L3 plugin
    /// (`TricircleL3Plugin`) does it: any router with a gateway on the
    /// external network will do, no interface on the port's subnet needed.
    pub(crate) tricircle_l3: bool,
    /// Hosts running an Open vSwitch agent (see `agents.rs`).
    pub(crate) ovs_hosts: BTreeSet<String>,
}

impl Store {
    pub(crate) fn new() -> Self {
        Self {
            next_vni: 1001,
            next_vlan: 2001,
            ..Self::default()
        }
    }

    pub(crate) fn all(&self, coll: &str) -> &[Value] {
        self.colls.get(coll).map(Vec::as_slice).unwrap_or_default()
    }

    fn all_mut(&mut self, coll: &str) -> &mut Vec<Value> {
        let key = COLLECTIONS
            .iter()
            .find(|c| **c == coll)
            .expect("known collection");
        self.colls.entry(key).or_default()
    }

    pub(crate) fn find(&self, coll: &str, id: &str) -> Option<&Value> {
        self.all(coll).iter().find(|v| s(v, "id") == id)
    }

    fn find_mut(&mut self, coll: &str, id: &str) -> Option<&mut Value> {
        self.all_mut(coll).iter_mut().find(|v| s(v, "id") == id)
    }

    fn remove(&mut self, coll: &str, id: &str) {
        self.all_mut(coll).retain(|v| s(v, "id") != id);
    }

    fn insert(&mut self, coll: &str, v: Value) -> Value {
        self.all_mut(coll).push(v.clone());
        v
    }

    fn must(&self, coll: &str, id: &str) -> Res<Value> {
        let (kind, what) = match coll {
            "networks" => ("NetworkNotFound", "Network"),
            "subnets" => ("SubnetNotFound", "Subnet"),
            "ports" => ("PortNotFound", "Port"),
            "routers" => ("RouterNotFound", "Router"),
            "floatingips" => ("FloatingIPNotFound", "Floating IP"),
            "security_groups" => ("SecurityGroupNotFound", "Security group"),
            "security_group_rules" => ("SecurityGroupRuleNotFound", "Security group rule"),
            "trunks" => ("TrunkNotFound", "Trunk"),
            "policies" => ("QosPolicyNotFound", "QoS policy"),
            "subnetpools" => ("SubnetPoolNotFound", "Subnet pool"),
            _ => ("NotFound", "Resource"),
        };
        self.find(coll, id)
            .cloned()
            .ok_or_else(|| not_found(kind, what, id))
    }

    /// The answer for one resource (security groups and QoS policies carry
    /// their rules).
    pub(crate) fn render(&self, coll: &str, v: &Value) -> Value {
        let mut v = v.clone();
        match coll {
            "security_groups" => {
                let rules: Vec<Value> = self
                    .all("security_group_rules")
                    .iter()
                    .filter(|r| s(r, "security_group_id") == s(&v, "id"))
                    .cloned()
                    .collect();
                v["security_group_rules"] = json!(rules);
            }
            "policies" => {
                let rules: Vec<Value> = self
                    .all("qos_rules")
                    .iter()
                    .filter(|r| s(r, "qos_policy_id") == s(&v, "id"))
                    .cloned()
                    .collect();
                v["rules"] = json!(rules);
            }
            _ => {}
        }
        v
    }

    // ----- common ---------------------------------------------------------

    fn base(&self, project: &str, body: &Map<String, Value>) -> Map<String, Value> {
        let tenant = body
            .get("tenant_id")
            .or_else(|| body.get("project_id"))
            .and_then(Value::as_str)
            .unwrap_or(project)
            .to_owned();
        let mut m = Map::new();
        m.insert("id".into(), json!(new_id()));
        m.insert("tenant_id".into(), json!(tenant));
        m.insert("project_id".into(), json!(tenant));
        m.insert("description".into(), json!(""));
        m.insert("created_at".into(), json!(now()));
        m.insert("updated_at".into(), json!(now()));
        m.insert("revision_number".into(), json!(0));
        m.insert("tags".into(), json!([]));
        m
    }

    /// Copy the caller's attributes over the defaults; `allowed` are the
    /// writable ones, anything else is refused as Neutron does.
    fn apply(
        target: &mut Map<String, Value>,
        body: &Map<String, Value>,
        allowed: &[&str],
        resource: &str,
    ) -> Res<()> {
        for (k, v) in body {
            // The owner given on create was applied by `base`.
            if matches!(k.as_str(), "tenant_id" | "project_id") && target.get(k) == Some(v) {
                continue;
            }
            if allowed.contains(&k.as_str()) {
                target.insert(k.clone(), v.clone());
            } else if target.contains_key(k) || matches!(k.as_str(), "tenant_id" | "project_id") {
                return Err(bad(format!("Cannot update read-only attribute {k}")));
            } else {
                return Err(fault(
                    400,
                    "HTTPBadRequest",
                    format!("Unrecognized attribute(s) '{k}' for {resource}"),
                ));
            }
        }
        Ok(())
    }

    fn touch(v: &mut Value) {
        v["updated_at"] = json!(now());
        let rev = v["revision_number"].as_i64().unwrap_or(0);
        v["revision_number"] = json!(rev + 1);
    }

    fn check_azs(&self, body: &Map<String, Value>) -> Res<()> {
        if let Some(hints) = body
            .get("availability_zone_hints")
            .and_then(Value::as_array)
        {
            for h in hints {
                let h = h.as_str().unwrap_or_default();
                if !self.availability_zones.contains(h) {
                    return Err(not_found("AvailabilityZoneNotFound", "AvailabilityZone", h));
                }
            }
        }
        Ok(())
    }

    fn check_qos(&self, v: &Value) -> Res<()> {
        if let Some(p) = v.get("qos_policy_id").and_then(Value::as_str) {
            self.must("policies", p)?;
        }
        Ok(())
    }

    // ----- networks -------------------------------------------------------

    pub(crate) fn create_network(
        &mut self,
        project: &str,
        body: &Map<String, Value>,
    ) -> Res<Value> {
        self.check_azs(body)?;
        let mut m = self.base(project, body);
        for (k, v) in [
            ("name", json!("")),
            ("admin_state_up", json!(true)),
            ("shared", json!(false)),
            ("router:external", json!(false)),
            ("status", json!("ACTIVE")),
            ("subnets", json!([])),
            ("availability_zone_hints", json!([])),
            ("availability_zones", json!([])),
            ("qos_policy_id", Value::Null),
            ("port_security_enabled", json!(true)),
            ("ipv4_address_scope", Value::Null),
            ("ipv6_address_scope", Value::Null),
        ] {
            m.insert(k.into(), v);
        }
        let mut attrs = body.clone();
        let ntype = attrs
            .remove("provider:network_type")
            .and_then(|v| v.as_str().map(str::to_owned));
        let physnet = attrs
            .remove("provider:physical_network")
            .and_then(|v| v.as_str().map(str::to_owned));
        let segid = attrs
            .remove("provider:segmentation_id")
            .and_then(|v| v.as_i64());
        Self::apply(
            &mut m,
            &attrs,
            &[
                "name",
                "admin_state_up",
                "shared",
                "router:external",
                "availability_zone_hints",
                "qos_policy_id",
                "port_security_enabled",
                "description",
                "mtu",
            ],
            "network",
        )?;
        let (ntype, physnet, segid) = self.segment(ntype, physnet, segid)?;
        let mtu = if ntype == "vxlan" { 1450 } else { 1500 };
        m.entry("mtu").or_insert(json!(mtu));
        m.insert("provider:network_type".into(), json!(ntype));
        m.insert("provider:physical_network".into(), json!(physnet));
        m.insert("provider:segmentation_id".into(), json!(segid));
        let v = Value::Object(m);
        self.check_qos(&v)?;
        Ok(self.insert("networks", v))
    }

    /// Validates or allocates the network's segment like ML2's type
    /// drivers (vxlan 1001-2000, vlan from 2001).
    fn segment(
        &mut self,
        ntype: Option<String>,
        physnet: Option<String>,
        segid: Option<i64>,
    ) -> Res<(String, Option<String>, Option<i64>)> {
        let taken = |st: &Store, t: &str, p: Option<&str>, id: Option<i64>| {
            st.all("networks").iter().any(|n| {
                s(n, "provider:network_type") == t
                    && n["provider:physical_network"].as_str() == p
                    && (id.is_none() || n["provider:segmentation_id"].as_i64() == id)
            })
        };
        let ntype = ntype.unwrap_or_else(|| "vxlan".into());
        match ntype.as_str() {
            "vxlan" => {
                if physnet.is_some() {
                    return Err(bad("provider:physical_network specified for vxlan network"));
                }
                let id = match segid {
                    Some(id) => {
                        if taken(self, "vxlan", None, Some(id)) {
                            return Err(fault(
                                409,
                                "TunnelIdInUse",
                                format!(
                                    "Unable to create the network. The tunnel ID {id} is in use."
                                ),
                            ));
                        }
                        id
                    }
                    None => loop {
                        let id = self.next_vni;
                        self.next_vni += 1;
                        if !taken(self, "vxlan", None, Some(id)) {
                            break id;
                        }
                    },
                };
                Ok((ntype, None, Some(id)))
            }
            "vlan" => {
                let p = physnet.ok_or_else(|| bad("provider:physical_network required"))?;
                let id = match segid {
                    Some(id) if (1..=4094).contains(&id) => {
                        if taken(self, "vlan", Some(&p), Some(id)) {
                            return Err(fault(409, "VlanIdInUse", format!("Unable to create the network. The VLAN {id} on physical network {p} is in use.")));
                        }
                        id
                    }
                    Some(id) => {
                        return Err(bad(format!(
                            "segmentation_id {id} out of range (1 through 4094)"
                        )))
                    }
                    None => loop {
                        let id = self.next_vlan;
                        self.next_vlan += 1;
                        if !taken(self, "vlan", Some(&p), Some(id)) {
                            break id;
                        }
                    },
                };
                Ok((ntype, Some(p), Some(id)))
            }
            "flat" => {
                let p = physnet.ok_or_else(|| bad("provider:physical_network required"))?;
                if segid.is_some() {
                    return Err(bad("segmentation_id specified for flat network"));
                }
                if taken(self, "flat", Some(&p), None) {
                    return Err(fault(
                        409,
                        "FlatNetworkInUse",
                        format!(
                            "Unable to create the flat network. Physical network {p} is in use."
                        ),
                    ));
                }
                Ok((ntype, Some(p), None))
            }
            "local" => Ok((ntype, None, None)),
            other => Err(bad(format!("network_type value '{other}' not supported"))),
        }
    }

    pub(crate) fn update_network(&mut self, id: &str, body: &Map<String, Value>) -> Res<Value> {
        let mut v = self.must("networks", id)?;
        for k in [
            "provider:network_type",
            "provider:physical_network",
            "provider:segmentation_id",
        ] {
            if body.contains_key(k) {
                return Err(bad("Plugin does not support updating provider attributes"));
            }
        }
        let m = v.as_object_mut().expect("object");
        Self::apply(
            m,
            body,
            &[
                "name",
                "admin_state_up",
                "shared",
                "router:external",
                "qos_policy_id",
                "port_security_enabled",
                "description",
                "mtu",
            ],
            "network",
        )?;
        self.check_qos(&v)?;
        Self::touch(&mut v);
        *self.find_mut("networks", id).expect("exists") = v.clone();
        Ok(v)
    }

    pub(crate) fn delete_network(&mut self, id: &str) -> Res<()> {
        self.must("networks", id)?;
        let in_use = self
            .all("ports")
            .iter()
            .any(|p| s(p, "network_id") == id && s(p, "device_owner") != DHCP);
        if in_use {
            return Err(fault(409, "NetworkInUse", format!("Unable to complete operation on network {id}. There are one or more ports still in use on the network.")));
        }
        self.all_mut("ports").retain(|p| s(p, "network_id") != id);
        self.all_mut("subnets").retain(|p| s(p, "network_id") != id);
        self.remove("networks", id);
        Ok(())
    }

    // ----- subnets --------------------------------------------------------

    fn subnet_cidr(sub: &Value) -> Cidr {
        Cidr::parse(s(sub, "cidr")).expect("stored CIDRs are valid")
    }

    /// Pools as `(start, end)` numbers.
    fn pools(sub: &Value) -> Vec<(u128, u128)> {
        sub["allocation_pools"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| Some((parse_ip(s(p, "start"))?.1, parse_ip(s(p, "end"))?.1)))
            .collect()
    }

    fn default_pools(c: &Cidr, gateway: Option<u128>) -> Vec<(u128, u128)> {
        let (a, b) = c.host_range();
        match gateway {
            Some(g) if g >= a && g <= b => {
                let mut out = Vec::new();
                if g > a {
                    out.push((a, g - 1));
                }
                if g < b {
                    out.push((g + 1, b));
                }
                out
            }
            _ => vec![(a, b)],
        }
    }

    fn render_pools(v6: bool, pools: &[(u128, u128)]) -> Value {
        json!(pools
            .iter()
            .map(|(a, b)| json!({"start": ip_string(v6, *a), "end": ip_string(v6, *b)}))
            .collect::<Vec<_>>())
    }

    fn parse_pools(c: &Cidr, v: &Value) -> Res<Vec<(u128, u128)>> {
        let mut out = Vec::new();
        for p in v
            .as_array()
            .ok_or_else(|| bad("allocation_pools must be a list"))?
        {
            let start = parse_ip(s(p, "start")).filter(|(v6, n)| c.contains(*v6, *n));
            let end = parse_ip(s(p, "end")).filter(|(v6, n)| c.contains(*v6, *n));
            match (start, end) {
                (Some((_, a)), Some((_, b))) if a <= b => out.push((a, b)),
                _ => {
                    return Err(fault(
                        400,
                        "InvalidAllocationPool",
                        format!(
                            "The allocation pool {}-{} is not valid.",
                            s(p, "start"),
                            s(p, "end")
                        ),
                    ));
                }
            }
        }
        out.sort();
        for w in out.windows(2) {
            if w[1].0 <= w[0].1 {
                return Err(fault(
                    400,
                    "OverlappingAllocationPools",
                    "Found overlapping allocation pools",
                ));
            }
        }
        Ok(out)
    }

    fn check_gateway(c: &Cidr, gw: &Value, pools: &[(u128, u128)]) -> Res<Option<u128>> {
        let Some(g) = gw.as_str() else {
            return Ok(None);
        };
        let (v6, n) = parse_ip(g).ok_or_else(|| bad(format!("'{g}' is not a valid IP address")))?;
        if v6 != c.v6
            || (c.contains(v6, n) && (n == c.net || (!c.v6 && n == c.last() && c.prefix < 31)))
        {
            return Err(bad(format!(
                "Gateway is not valid on subnet {}",
                c.canonical()
            )));
        }
        if let Some((a, b)) = pools.iter().find(|(a, b)| n >= *a && n <= *b) {
            return Err(fault(
                409,
                "GatewayConflictWithAllocationPools",
                format!(
                    "Gateway ip {g} conflicts with allocation pool {}-{}",
                    ip_string(v6, *a),
                    ip_string(v6, *b)
                ),
            ));
        }
        Ok(Some(n))
    }

    pub(crate) fn create_subnet(&mut self, project: &str, body: &Map<String, Value>) -> Res<Value> {
        let net_id = required(body, "network_id")?;
        let net = self.must("networks", &net_id)?;
        let pool_id = body
            .get("subnetpool_id")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let cidr_in = body.get("cidr").and_then(Value::as_str);
        let prefixlen = body
            .get("prefixlen")
            .and_then(Value::as_u64)
            .and_then(|n| u8::try_from(n).ok());
        let c =
            match (&pool_id, cidr_in) {
                (Some(pool), _) => self.allocate_from_pool(
                    pool,
                    cidr_in,
                    prefixlen,
                    body.get("ip_version").and_then(Value::as_i64),
                )?,
                (None, Some(cidr_s)) => Cidr::parse(cidr_s)
                    .ok_or_else(|| bad(format!("'{cidr_s}' is not a valid IP subnet")))?,
                (None, None) => return Err(bad(
                    "Bad subnets request: a subnetpool must be specified in the absence of a cidr.",
                )),
            };
        if prefixlen.is_some() && cidr_in.is_some() {
            return Err(bad(
                "Bad subnets request: cidr and prefixlen must not be supplied together.",
            ));
        }
        let version = body
            .get("ip_version")
            .and_then(Value::as_i64)
            .unwrap_or(if c.v6 { 6 } else { 4 });
        if (version == 6) != c.v6 || !(version == 4 || version == 6) {
            return Err(bad("Cidr and ip_version do not match"));
        }
        for other in self
            .all("subnets")
            .iter()
            .filter(|x| s(x, "network_id") == net_id)
        {
            if Self::subnet_cidr(other).overlaps(&c) {
                return Err(bad(format!("Requested subnet with cidr: {} for network: {net_id} overlaps with another subnet", c.canonical())));
            }
        }
        let explicit_pools = match body.get("allocation_pools") {
            Some(p) => Some(Self::parse_pools(&c, p)?),
            None => None,
        };
        let gw_value = match body.get("gateway_ip") {
            None => json!(ip_string(c.v6, c.host_range().0)),
            Some(v) => v.clone(),
        };
        let gw = Self::check_gateway(&c, &gw_value, explicit_pools.as_deref().unwrap_or_default())?;
        let pools = explicit_pools.unwrap_or_else(|| Self::default_pools(&c, gw));
        let mut m = self.base(project, body);
        for (k, v) in [
            ("name", json!("")),
            ("enable_dhcp", json!(true)),
            ("dns_nameservers", json!([])),
            ("host_routes", json!([])),
            ("ipv6_ra_mode", Value::Null),
            ("ipv6_address_mode", Value::Null),
            ("subnetpool_id", Value::Null),
            ("service_types", json!([])),
        ] {
            m.insert(k.into(), v);
        }
        let mut attrs = body.clone();
        for k in [
            "network_id",
            "cidr",
            "ip_version",
            "gateway_ip",
            "allocation_pools",
            "subnetpool_id",
            "prefixlen",
        ] {
            attrs.remove(k);
        }
        Self::apply(
            &mut m,
            &attrs,
            &[
                "name",
                "enable_dhcp",
                "dns_nameservers",
                "host_routes",
                "description",
                "ipv6_ra_mode",
                "ipv6_address_mode",
            ],
            "subnet",
        )?;
        m.insert("network_id".into(), json!(net_id));
        m.insert("cidr".into(), json!(c.canonical()));
        m.insert("subnetpool_id".into(), json!(pool_id));
        m.insert("ip_version".into(), json!(version));
        m.insert(
            "gateway_ip".into(),
            gw.map(|g| json!(ip_string(c.v6, g))).unwrap_or(Value::Null),
        );
        m.insert("allocation_pools".into(), Self::render_pools(c.v6, &pools));
        let v = self.insert("subnets", Value::Object(m));
        let mut net = net;
        net["subnets"]
            .as_array_mut()
            .expect("list")
            .push(v["id"].clone());
        *self.find_mut("networks", &net_id).expect("exists") = net;
        Ok(v)
    }

    pub(crate) fn update_subnet(&mut self, id: &str, body: &Map<String, Value>) -> Res<Value> {
        let mut v = self.must("subnets", id)?;
        let c = Self::subnet_cidr(&v);
        let mut attrs = body.clone();
        let pools = match attrs.remove("allocation_pools") {
            Some(p) => Self::parse_pools(&c, &p)?,
            None => Self::pools(&v),
        };
        let gw_value = attrs
            .remove("gateway_ip")
            .unwrap_or_else(|| v["gateway_ip"].clone());
        let gw = Self::check_gateway(&c, &gw_value, &pools)?;
        let m = v.as_object_mut().expect("object");
        Self::apply(
            m,
            &attrs,
            &[
                "name",
                "enable_dhcp",
                "dns_nameservers",
                "host_routes",
                "description",
            ],
            "subnet",
        )?;
        m.insert(
            "gateway_ip".into(),
            gw.map(|g| json!(ip_string(c.v6, g))).unwrap_or(Value::Null),
        );
        m.insert("allocation_pools".into(), Self::render_pools(c.v6, &pools));
        Self::touch(&mut v);
        *self.find_mut("subnets", id).expect("exists") = v.clone();
        Ok(v)
    }

    fn port_on_subnet(p: &Value, subnet_id: &str) -> bool {
        p["fixed_ips"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|f| s(f, "subnet_id") == subnet_id)
    }

    pub(crate) fn delete_subnet(&mut self, id: &str) -> Res<()> {
        let sub = self.must("subnets", id)?;
        let in_use = self
            .all("ports")
            .iter()
            .any(|p| Self::port_on_subnet(p, id) && s(p, "device_owner") != DHCP);
        if in_use {
            return Err(fault(409, "SubnetInUse", format!("Unable to complete operation on subnet {id}: One or more ports have an IP allocation from this subnet.")));
        }
        self.remove("subnets", id);
        if let Some(net) = self.find_mut("networks", s(&sub, "network_id")) {
            if let Some(list) = net["subnets"].as_array_mut() {
                list.retain(|x| x.as_str() != Some(id));
            }
        }
        Ok(())
    }

    // ----- IP allocation -------------------------------------------------

    fn used_ips(&self, skip_port: Option<&str>) -> HashSet<(String, String)> {
        self.all("ports")
            .iter()
            .filter(|p| Some(s(p, "id")) != skip_port)
            .flat_map(|p| p["fixed_ips"].as_array().cloned().unwrap_or_default())
            .map(|f| {
                (
                    s(&f, "subnet_id").to_owned(),
                    s(&f, "ip_address").to_owned(),
                )
            })
            .collect()
    }

    fn next_free(sub: &Value, used: &HashSet<(String, String)>) -> Option<String> {
        let c = Self::subnet_cidr(sub);
        let id = s(sub, "id");
        for (a, b) in Self::pools(sub) {
            let mut n = a;
            while n <= b {
                let ip = ip_string(c.v6, n);
                if !used.contains(&(id.to_owned(), ip.clone())) {
                    return Some(ip);
                }
                n += 1;
            }
        }
        None
    }

    /// Fixed IPs for a port on `net_id`, as Neutron's IPAM picks them.
    fn allocate(
        &self,
        net_id: &str,
        requested: Option<&Value>,
        port_id: Option<&str>,
    ) -> Res<Value> {
        let mut used = self.used_ips(port_id);
        let subnets: Vec<&Value> = self
            .all("subnets")
            .iter()
            .filter(|x| s(x, "network_id") == net_id)
            .collect();
        let mut out = Vec::new();
        let Some(requested) = requested else {
            for v6 in [false, true] {
                let of_version: Vec<&&Value> = subnets
                    .iter()
                    .filter(|x| Self::subnet_cidr(x).v6 == v6)
                    .collect();
                if of_version.is_empty() {
                    continue;
                }
                let found = of_version
                    .iter()
                    .find_map(|x| Self::next_free(x, &used).map(|ip| (s(x, "id").to_owned(), ip)));
                let Some((sid, ip)) = found else {
                    return Err(fault(
                        409,
                        "IpAddressGenerationFailure",
                        format!("No more IP addresses available on network {net_id}."),
                    ));
                };
                out.push(json!({"subnet_id": sid, "ip_address": ip}));
            }
            return Ok(json!(out));
        };
        let list = requested
            .as_array()
            .ok_or_else(|| bad("fixed_ips must be a list"))?;
        for f in list {
            let ip = f.get("ip_address").and_then(Value::as_str);
            let sid = f.get("subnet_id").and_then(Value::as_str);
            let sub = match (sid, ip) {
                (Some(sid), _) => {
                    let sub = self.must("subnets", sid)?;
                    if s(&sub, "network_id") != net_id {
                        return Err(bad(format!("Failed to create port on network {net_id}, because fixed_ips included invalid subnet {sid}")));
                    }
                    sub
                }
                (None, Some(ip)) => subnets
                    .iter()
                    .find(|x| Self::subnet_cidr(x).contains_str(ip))
                    .map(|x| (*x).clone())
                    .ok_or_else(|| bad(format!("IP address {ip} is not a valid IP for any of the subnets on the specified network")))?,
                (None, None) => return Err(bad("Exactly one of subnet_id or ip_address required in fixed_ips")),
            };
            let sid = s(&sub, "id").to_owned();
            let ip = match ip {
                Some(ip) => {
                    let c = Self::subnet_cidr(&sub);
                    let n = parse_ip(ip)
                        .filter(|(v6, n)| c.contains(*v6, *n))
                        .ok_or_else(|| {
                            bad(format!(
                                "IP address {ip} is not a valid IP for the specified subnet"
                            ))
                        })?;
                    let ip = ip_string(n.0, n.1);
                    if used.contains(&(sid.clone(), ip.clone())) {
                        return Err(fault(409, "IpAddressInUse", format!("Unable to complete operation for network {net_id}. The IP address {ip} is in use.")));
                    }
                    ip
                }
                None => Self::next_free(&sub, &used).ok_or_else(|| {
                    fault(
                        409,
                        "IpAddressGenerationFailure",
                        format!("No more IP addresses available for subnet {sid}."),
                    )
                })?,
            };
            used.insert((sid.clone(), ip.clone()));
            out.push(json!({"subnet_id": sid, "ip_address": ip}));
        }
        Ok(json!(out))
    }

    // ----- ports ----------------------------------------------------------

    fn mac(&mut self) -> String {
        // Neutron draws random MACs and retries on a clash; the fake counts,
        // skipping MACs ports were given explicitly.
        loop {
            self.next_mac += 1;
            let n = self.next_mac;
            let mac = format!(
                "fa:16:3e:{:02x}:{:02x}:{:02x}",
                (n >> 16) & 0xff,
                (n >> 8) & 0xff,
                n & 0xff
            );
            if !self.all("ports").iter().any(|p| s(p, "mac_address") == mac) {
                return mac;
            }
        }
    }

    const PORT_WRITABLE: &'static [&'static str] = &[
        "name",
        "description",
        "admin_state_up",
        "device_owner",
        "device_id",
        "binding:host_id",
        "binding:profile",
        "binding:vnic_type",
        "security_groups",
        "allowed_address_pairs",
        "qos_policy_id",
        "port_security_enabled",
        "mac_address",
        "extra_dhcp_opts",
    ];

    fn check_sgs(&self, v: &Value) -> Res<()> {
        for sg in v["security_groups"].as_array().into_iter().flatten() {
            self.must("security_groups", sg.as_str().unwrap_or_default())?;
        }
        Ok(())
    }

    pub(crate) fn create_port(&mut self, project: &str, body: &Map<String, Value>) -> Res<Value> {
        let net_id = required(body, "network_id")?;
        self.must("networks", &net_id)?;
        let mut m = self.base(project, body);
        let mac = self.mac();
        for (k, v) in [
            ("name", json!("")),
            ("admin_state_up", json!(true)),
            ("status", json!("DOWN")),
            ("device_owner", json!("")),
            ("device_id", json!("")),
            ("mac_address", json!(mac)),
            ("binding:host_id", json!("")),
            ("binding:profile", json!({})),
            ("binding:vnic_type", json!("normal")),
            ("binding:vif_details", json!({})),
            ("security_groups", json!([])),
            ("allowed_address_pairs", json!([])),
            ("extra_dhcp_opts", json!([])),
            ("port_security_enabled", json!(true)),
            ("qos_policy_id", Value::Null),
        ] {
            m.insert(k.into(), v);
        }
        let mut attrs = body.clone();
        attrs.remove("network_id");
        let requested = attrs.remove("fixed_ips");
        Self::apply(&mut m, &attrs, Self::PORT_WRITABLE, "port")?;
        let mac = s(&Value::Object(m.clone()), "mac_address").to_owned();
        if self
            .all("ports")
            .iter()
            .any(|p| s(p, "network_id") == net_id && s(p, "mac_address") == mac)
        {
            return Err(fault(409, "MacAddressInUse", format!("Unable to complete operation for network {net_id}. The mac address {mac} is in use.")));
        }
        let fixed = self.allocate(&net_id, requested.as_ref(), None)?;
        m.insert("network_id".into(), json!(net_id));
        m.insert("fixed_ips".into(), fixed);
        let mut v = Value::Object(m);
        self.bind(&mut v);
        self.check_sgs(&v)?;
        self.check_qos(&v)?;
        Ok(self.insert("ports", v))
    }

    pub(crate) fn update_port(&mut self, id: &str, body: &Map<String, Value>) -> Res<Value> {
        let mut v = self.must("ports", id)?;
        let mut attrs = body.clone();
        if let Some(req) = attrs.remove("fixed_ips") {
            let fixed = self.allocate(s(&v, "network_id"), Some(&req), Some(id))?;
            v["fixed_ips"] = fixed;
        }
        Self::apply(
            v.as_object_mut().expect("object"),
            &attrs,
            Self::PORT_WRITABLE,
            "port",
        )?;
        self.bind(&mut v);
        self.check_sgs(&v)?;
        self.check_qos(&v)?;
        Self::touch(&mut v);
        *self.find_mut("ports", id).expect("exists") = v.clone();
        Ok(v)
    }

    pub(crate) fn delete_port(&mut self, id: &str) -> Res<()> {
        let p = self.must("ports", id)?;
        let owner = s(&p, "device_owner");
        if [RI, RG, FIP].contains(&owner) {
            return Err(fault(409, "L3PortInUse", format!("Port {id} cannot be deleted directly via the port API: has device owner {owner}.")));
        }
        if let Some(t) = self.all("trunks").iter().find(|t| s(t, "port_id") == id) {
            return Err(fault(
                409,
                "PortInUseAsTrunkParent",
                format!(
                    "Port {id} is currently a parent port for trunk {}.",
                    s(t, "id")
                ),
            ));
        }
        for f in self
            .all_mut("floatingips")
            .iter_mut()
            .filter(|f| f["port_id"].as_str() == Some(id))
        {
            f["port_id"] = Value::Null;
            f["fixed_ip_address"] = Value::Null;
            f["router_id"] = Value::Null;
        }
        for t in self.all_mut("trunks") {
            if let Some(subs) = t["sub_ports"].as_array_mut() {
                subs.retain(|x| s(x, "port_id") != id);
            }
        }
        self.remove("ports", id);
        Ok(())
    }

    // ----- routers --------------------------------------------------------

    fn router_ports(&self, router_id: &str, owner: &str) -> Vec<Value> {
        self.all("ports")
            .iter()
            .filter(|p| s(p, "device_id") == router_id && s(p, "device_owner") == owner)
            .cloned()
            .collect()
    }

    fn port_subnets(p: &Value) -> Vec<String> {
        p["fixed_ips"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|f| s(f, "subnet_id").to_owned())
            .collect()
    }

    pub(crate) fn create_router(&mut self, project: &str, body: &Map<String, Value>) -> Res<Value> {
        self.check_azs(body)?;
        let mut m = self.base(project, body);
        for (k, v) in [
            ("name", json!("")),
            ("admin_state_up", json!(true)),
            ("status", json!("ACTIVE")),
            ("external_gateway_info", Value::Null),
            ("routes", json!([])),
            ("distributed", json!(false)),
            ("ha", json!(false)),
            ("availability_zone_hints", json!([])),
            ("availability_zones", json!([])),
        ] {
            m.insert(k.into(), v);
        }
        let mut attrs = body.clone();
        let gw = attrs.remove("external_gateway_info");
        if attrs.contains_key("routes") {
            return Err(bad("Cannot set routes while creating a router"));
        }
        Self::apply(
            &mut m,
            &attrs,
            &[
                "name",
                "admin_state_up",
                "description",
                "distributed",
                "ha",
                "availability_zone_hints",
            ],
            "router",
        )?;
        let v = self.insert("routers", Value::Object(m));
        let id = s(&v, "id").to_owned();
        if let Some(gw) = gw {
            self.set_gateway(&id, &gw)?;
        }
        self.must("routers", &id)
    }

    fn set_gateway(&mut self, router_id: &str, info: &Value) -> Res<()> {
        let router = self.must("routers", router_id)?;
        let current = self.router_ports(router_id, RG).into_iter().next();
        let clear = info.is_null() || info.as_object().is_some_and(|o| o.is_empty());
        let new_net = info.get("network_id").and_then(Value::as_str);
        let fip_users = || {
            self.all("floatingips")
                .iter()
                .any(|f| f["router_id"].as_str() == Some(router_id))
        };
        if let Some(cur) = &current {
            if (clear || new_net != Some(s(cur, "network_id"))) && fip_users() {
                return Err(fault(409, "RouterExternalGatewayInUseByFloatingIp", format!("Gateway cannot be updated for router {router_id}, since a gateway to external network {} is required by one or more floating IPs.", s(cur, "network_id"))));
            }
        }
        if clear {
            if let Some(cur) = current {
                self.remove("ports", s(&cur, "id"));
            }
            self.find_mut("routers", router_id).expect("exists")["external_gateway_info"] =
                Value::Null;
            return Ok(());
        }
        let net_id = new_net.ok_or_else(|| {
            bad_request("router", "network_id is required in external_gateway_info")
        })?;
        let net = self.must("networks", net_id)?;
        if net["router:external"] != json!(true) {
            return Err(bad_request(
                "router",
                format!("Network {net_id} is not an external network"),
            ));
        }
        let snat = info
            .get("enable_snat")
            .and_then(Value::as_bool)
            .unwrap_or(true);
        let requested = info.get("external_fixed_ips");
        let port_id = match current.filter(|c| s(c, "network_id") == net_id) {
            Some(cur) => {
                if let Some(req) = requested {
                    let fixed = self.allocate(net_id, Some(req), Some(s(&cur, "id")))?;
                    self.find_mut("ports", s(&cur, "id")).expect("exists")["fixed_ips"] = fixed;
                }
                s(&cur, "id").to_owned()
            }
            None => {
                for old in self.router_ports(router_id, RG) {
                    self.remove("ports", s(&old, "id"));
                }
                let fixed = self.allocate(net_id, requested, None)?;
                if fixed.as_array().is_none_or(|a| a.is_empty()) {
                    return Err(bad_request(
                        "router",
                        format!("No IPs available for external network {net_id}"),
                    ));
                }
                let body = json!({"network_id": net_id, "device_owner": RG, "device_id": router_id, "tenant_id": ""});
                let mut p = self.create_port("", body.as_object().expect("object"))?;
                p["fixed_ips"] = fixed;
                let pid = s(&p, "id").to_owned();
                *self.find_mut("ports", &pid).expect("exists") = p;
                pid
            }
        };
        let port = self.must("ports", &port_id)?;
        let _ = router;
        self.find_mut("routers", router_id).expect("exists")["external_gateway_info"] = json!({
            "network_id": net_id,
            "enable_snat": snat,
            "external_fixed_ips": port["fixed_ips"],
        });
        Ok(())
    }

    /// CIDRs of the subnets the router has a port on.
    fn connected(&self, router_id: &str) -> Vec<(String, Cidr)> {
        let mut out = Vec::new();
        for owner in [RI, RG] {
            for p in self.router_ports(router_id, owner) {
                for sid in Self::port_subnets(&p) {
                    if let Some(sub) = self.find("subnets", &sid) {
                        out.push((sid, Self::subnet_cidr(sub)));
                    }
                }
            }
        }
        out
    }

    fn check_routes(&self, router_id: &str, routes: &Value) -> Res<Value> {
        let list = routes
            .as_array()
            .ok_or_else(|| bad("routes must be a list"))?;
        let connected = self.connected(router_id);
        let own: HashSet<String> = [RI, RG]
            .iter()
            .flat_map(|o| self.router_ports(router_id, o))
            .flat_map(|p| p["fixed_ips"].as_array().cloned().unwrap_or_default())
            .map(|f| s(&f, "ip_address").to_owned())
            .collect();
        let mut out: Vec<Value> = Vec::new();
        for r in list {
            let dest = s(r, "destination");
            let hop = s(r, "nexthop");
            let Some(d) = Cidr::parse(dest) else {
                return Err(bad(format!("'{dest}' is not a valid IP subnet")));
            };
            let Some((v6, n)) = parse_ip(hop) else {
                return Err(bad(format!("'{hop}' is not a valid IP address")));
            };
            let shown = serde_json::to_string(list).unwrap_or_default();
            if !connected.iter().any(|(_, c)| c.contains(v6, n)) {
                return Err(fault(400, "InvalidRoutes", format!("Invalid format for routes: {shown}, the nexthop is not connected with router")));
            }
            if own.contains(&ip_string(v6, n)) {
                return Err(fault(
                    400,
                    "InvalidRoutes",
                    format!("Invalid format for routes: {shown}, the nexthop is used by router"),
                ));
            }
            let route = json!({"destination": d.canonical(), "nexthop": ip_string(v6, n)});
            if !out.contains(&route) {
                out.push(route);
            }
        }
        Ok(json!(out))
    }

    pub(crate) fn update_router(&mut self, id: &str, body: &Map<String, Value>) -> Res<Value> {
        self.must("routers", id)?;
        let mut attrs = body.clone();
        if let Some(gw) = attrs.remove("external_gateway_info") {
            self.set_gateway(id, &gw)?;
        }
        if let Some(routes) = attrs.remove("routes") {
            let routes = if routes.is_null() {
                json!([])
            } else {
                self.check_routes(id, &routes)?
            };
            self.find_mut("routers", id).expect("exists")["routes"] = routes;
        }
        let mut v = self.must("routers", id)?;
        Self::apply(
            v.as_object_mut().expect("object"),
            &attrs,
            &["name", "admin_state_up", "description"],
            "router",
        )?;
        Self::touch(&mut v);
        *self.find_mut("routers", id).expect("exists") = v.clone();
        Ok(v)
    }

    pub(crate) fn delete_router(&mut self, id: &str) -> Res<()> {
        self.must("routers", id)?;
        if !self.router_ports(id, RI).is_empty() {
            return Err(fault(
                409,
                "RouterInUse",
                format!("Router {id} still has ports"),
            ));
        }
        self.set_gateway(id, &Value::Null)?;
        self.remove("routers", id);
        Ok(())
    }

    fn interface_answer(&self, router: &Value, port: &Value) -> Value {
        let subnets = Self::port_subnets(port);
        json!({
            "id": router["id"],
            "tenant_id": router["tenant_id"],
            "project_id": router["project_id"],
            "port_id": port["id"],
            "network_id": port["network_id"],
            "subnet_id": subnets.first(),
            "subnet_ids": subnets,
        })
    }

    fn check_overlap(&self, router_id: &str, subnets: &[String]) -> Res<()> {
        let mine: Vec<(String, Cidr)> = self
            .router_ports(router_id, RI)
            .iter()
            .flat_map(Self::port_subnets)
            .filter_map(|sid| {
                self.find("subnets", &sid)
                    .map(|x| (sid, Self::subnet_cidr(x)))
            })
            .collect();
        for sid in subnets {
            let sub = self.must("subnets", sid)?;
            let c = Self::subnet_cidr(&sub);
            for (other, oc) in &mine {
                if other == sid {
                    return Err(bad_request(
                        "router",
                        format!("Router already has a port on subnet {sid}"),
                    ));
                }
                if oc.overlaps(&c) {
                    return Err(bad_request(
                        "router",
                        format!(
                            "Cidr {} of subnet {sid} overlaps with cidr {} of subnet {other}",
                            c.canonical(),
                            oc.canonical()
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    pub(crate) fn add_router_interface(
        &mut self,
        router_id: &str,
        body: &Map<String, Value>,
    ) -> Res<Value> {
        let router = self.must("routers", router_id)?;
        let port = match (
            body.get("subnet_id").and_then(Value::as_str),
            body.get("port_id").and_then(Value::as_str),
        ) {
            (Some(_), Some(_)) => {
                return Err(bad_request(
                    "router",
                    "Cannot specify both subnet-id and port-id",
                ))
            }
            (None, None) => {
                return Err(bad_request(
                    "router",
                    "Either subnet_id or port_id must be specified",
                ))
            }
            (Some(sid), None) => {
                let sub = self.must("subnets", sid)?;
                let Some(gw) = sub["gateway_ip"].as_str() else {
                    return Err(bad_request(
                        "router",
                        "Subnet for router interface must have a gateway IP",
                    ));
                };
                self.check_overlap(router_id, &[sid.to_owned()])?;
                let body = json!({
                    "network_id": sub["network_id"], "tenant_id": router["tenant_id"],
                    "fixed_ips": [{"subnet_id": sid, "ip_address": gw}],
                    "device_owner": RI, "device_id": router_id,
                });
                self.create_port(s(&router, "tenant_id"), body.as_object().expect("object"))?
            }
            (None, Some(pid)) => {
                let p = self.must("ports", pid)?;
                if !s(&p, "device_id").is_empty() {
                    return Err(fault(409, "PortInUse", format!("Unable to complete operation on port {pid} for network {}. Port already has an attached device {}.", s(&p, "network_id"), s(&p, "device_id"))));
                }
                let subnets = Self::port_subnets(&p);
                if subnets.is_empty() {
                    return Err(bad_request(
                        "router",
                        "Router port must have at least one fixed IP",
                    ));
                }
                self.check_overlap(router_id, &subnets)?;
                let stored = self.find_mut("ports", pid).expect("exists");
                stored["device_owner"] = json!(RI);
                stored["device_id"] = json!(router_id);
                stored.clone()
            }
        };
        Ok(self.interface_answer(&router, &port))
    }

    pub(crate) fn remove_router_interface(
        &mut self,
        router_id: &str,
        body: &Map<String, Value>,
    ) -> Res<Value> {
        let router = self.must("routers", router_id)?;
        let ports = self.router_ports(router_id, RI);
        let port = match (
            body.get("subnet_id").and_then(Value::as_str),
            body.get("port_id").and_then(Value::as_str),
        ) {
            (None, None) => {
                return Err(bad_request(
                    "router",
                    "Either subnet_id or port_id must be specified",
                ))
            }
            (_, Some(pid)) => ports
                .into_iter()
                .find(|p| s(p, "id") == pid)
                .ok_or_else(|| {
                    fault(
                        404,
                        "RouterInterfaceNotFound",
                        format!("Router {router_id} does not have an interface with id {pid}"),
                    )
                })?,
            (Some(sid), None) => {
                self.must("subnets", sid)?;
                ports
                    .into_iter()
                    .find(|p| Self::port_on_subnet(p, sid))
                    .ok_or_else(|| {
                        fault(
                            404,
                            "RouterInterfaceNotFoundForSubnet",
                            format!("Router {router_id} has no interface on subnet {sid}"),
                        )
                    })?
            }
        };
        for sid in Self::port_subnets(&port) {
            let c = Self::subnet_cidr(&self.must("subnets", &sid)?);
            let by_route = router["routes"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|r| c.contains_str(s(r, "nexthop")));
            if by_route {
                return Err(fault(409, "RouterInterfaceInUseByRoute", format!("Router interface for subnet {sid} on router {router_id} cannot be deleted, as it is required by one or more routes.")));
            }
            let by_fip = self.all("floatingips").iter().any(|f| {
                f["router_id"].as_str() == Some(router_id)
                    && f["port_id"]
                        .as_str()
                        .and_then(|p| self.find("ports", p))
                        .is_some_and(|p| Self::port_on_subnet(p, &sid))
            });
            if by_fip {
                return Err(fault(409, "RouterInterfaceInUseByFloatingIP", format!("Router interface for subnet {sid} on router {router_id} cannot be deleted, as it is required by one or more floating IPs.")));
            }
        }
        self.remove("ports", s(&port, "id"));
        Ok(self.interface_answer(&router, &port))
    }

    // ----- floating IPs ---------------------------------------------------

    fn associate(&self, fip: &mut Value, port_id: &str, fixed: Option<&str>) -> Res<()> {
        let port = self.must("ports", port_id)?;
        let ext = s(fip, "floating_network_id").to_owned();
        let ips: Vec<(String, String)> = port["fixed_ips"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|f| (s(f, "subnet_id").to_owned(), s(f, "ip_address").to_owned()))
            .collect();
        let (sid, ip) = match fixed {
            Some(want) => ips
                .iter()
                .find(|(_, ip)| ip == want)
                .cloned()
                .ok_or_else(|| {
                    bad_request(
                        "floatingip",
                        format!("Port {port_id} does not have fixed ip {want}"),
                    )
                })?,
            None => ips
                .iter()
                .find(|(_, ip)| !ip.contains(':'))
                .cloned()
                .ok_or_else(|| {
                    bad_request(
                        "floatingip",
                        format!("No IPv4 addresses found on port {port_id}"),
                    )
                })?,
        };
        if let Some(other) = self.all("floatingips").iter().find(|f| {
            s(f, "id") != s(fip, "id")
                && f["port_id"].as_str() == Some(port_id)
                && f["fixed_ip_address"].as_str() == Some(&ip)
        }) {
            return Err(fault(409, "FloatingIPPortAlreadyAssociated", format!("Cannot associate floating IP {} ({}) with port {port_id} using fixed IP {ip}, as that fixed IP already has a floating IP on external network {ext}.", s(fip, "floating_ip_address"), s(other, "id"))));
        }
        let router = self.all("routers").iter().find(|r| {
            let rid = s(r, "id");
            self.router_ports(rid, RG)
                .iter()
                .any(|g| s(g, "network_id") == ext)
                && (self.tricircle_l3
                    || self
                        .router_ports(rid, RI)
                        .iter()
                        .any(|p| Self::port_on_subnet(p, &sid)))
        });
        let Some(router) = router else {
            return Err(fault(404, "ExternalGatewayForFloatingIPNotFound", format!("External network {ext} is not reachable from subnet {sid}.  Therefore, cannot associate Port {port_id} with a Floating IP.")));
        };
        fip["port_id"] = json!(port_id);
        fip["fixed_ip_address"] = json!(ip);
        fip["router_id"] = router["id"].clone();
        Ok(())
    }

    pub(crate) fn create_floatingip(
        &mut self,
        project: &str,
        body: &Map<String, Value>,
    ) -> Res<Value> {
        let net_id = required(body, "floating_network_id")?;
        let net = self.must("networks", &net_id)?;
        if net["router:external"] != json!(true) {
            return Err(bad_request(
                "floatingip",
                format!("Network {net_id} is not a valid external network"),
            ));
        }
        let mut m = self.base(project, body);
        let fip_id = s(&Value::Object(m.clone()), "id").to_owned();
        for (k, v) in [
            ("status", json!("DOWN")),
            ("router_id", Value::Null),
            ("port_id", Value::Null),
            ("fixed_ip_address", Value::Null),
            ("floating_network_id", json!(net_id)),
        ] {
            m.insert(k.into(), v);
        }
        if let Some(d) = body.get("description") {
            m.insert("description".into(), d.clone());
        }
        let requested = match (
            body.get("floating_ip_address").and_then(Value::as_str),
            body.get("subnet_id").and_then(Value::as_str),
        ) {
            (Some(ip), sid) => Some(json!([{"ip_address": ip, "subnet_id": sid}])),
            (None, Some(sid)) => Some(json!([{"subnet_id": sid}])),
            (None, None) => None,
        };
        let requested = requested.map(|mut r| {
            if r[0]["subnet_id"].is_null() {
                r[0].as_object_mut().expect("object").remove("subnet_id");
            }
            r
        });
        let fixed = self.allocate(&net_id, requested.as_ref(), None)?;
        let addr = fixed
            .as_array()
            .and_then(|a| {
                a.iter()
                    .find(|f| !s(f, "ip_address").contains(':'))
                    .cloned()
            })
            .ok_or_else(|| {
                fault(
                    409,
                    "IpAddressGenerationFailure",
                    format!("No more IP addresses available on network {net_id}."),
                )
            })?;
        m.insert("floating_ip_address".into(), addr["ip_address"].clone());
        let mut v = Value::Object(m);
        if let Some(pid) = body.get("port_id").and_then(Value::as_str) {
            let fixed_ip = body.get("fixed_ip_address").and_then(Value::as_str);
            self.associate(&mut v, pid, fixed_ip)?;
        }
        let port_body = json!({"network_id": net_id, "device_owner": FIP, "device_id": fip_id, "tenant_id": "", "fixed_ips": [addr]});
        self.create_port("", port_body.as_object().expect("object"))?;
        Ok(self.insert("floatingips", v))
    }

    pub(crate) fn update_floatingip(&mut self, id: &str, body: &Map<String, Value>) -> Res<Value> {
        let mut v = self.must("floatingips", id)?;
        let mut attrs = body.clone();
        let fixed = attrs.remove("fixed_ip_address");
        if let Some(port) = attrs.remove("port_id") {
            match port.as_str() {
                None => {
                    v["port_id"] = Value::Null;
                    v["fixed_ip_address"] = Value::Null;
                    v["router_id"] = Value::Null;
                }
                Some(pid) => self.associate(&mut v, pid, fixed.as_ref().and_then(Value::as_str))?,
            }
        }
        Self::apply(
            v.as_object_mut().expect("object"),
            &attrs,
            &["description"],
            "floatingip",
        )?;
        Self::touch(&mut v);
        *self.find_mut("floatingips", id).expect("exists") = v.clone();
        Ok(v)
    }

    pub(crate) fn delete_floatingip(&mut self, id: &str) -> Res<()> {
        self.must("floatingips", id)?;
        self.all_mut("ports")
            .retain(|p| !(s(p, "device_owner") == FIP && s(p, "device_id") == id));
        self.remove("floatingips", id);
        Ok(())
    }

    // ----- security groups ------------------------------------------------

    pub(crate) fn create_security_group(
        &mut self,
        project: &str,
        body: &Map<String, Value>,
    ) -> Res<Value> {
        let mut m = self.base(project, body);
        m.insert("name".into(), json!(""));
        m.insert("stateful".into(), json!(true));
        Self::apply(
            &mut m,
            body,
            &["name", "description", "stateful"],
            "security_group",
        )?;
        let v = self.insert("security_groups", Value::Object(m));
        // Neutron gives every new group egress-anywhere rules.
        for eth in ["IPv4", "IPv6"] {
            let rule = json!({"security_group_id": v["id"], "direction": "egress", "ethertype": eth, "tenant_id": v["tenant_id"]});
            self.create_security_group_rule(project, rule.as_object().expect("object"))?;
        }
        Ok(self.render("security_groups", &v))
    }

    pub(crate) fn update_security_group(
        &mut self,
        id: &str,
        body: &Map<String, Value>,
    ) -> Res<Value> {
        let mut v = self.must("security_groups", id)?;
        Self::apply(
            v.as_object_mut().expect("object"),
            body,
            &["name", "description"],
            "security_group",
        )?;
        Self::touch(&mut v);
        *self.find_mut("security_groups", id).expect("exists") = v.clone();
        Ok(self.render("security_groups", &v))
    }

    pub(crate) fn delete_security_group(&mut self, id: &str) -> Res<()> {
        self.must("security_groups", id)?;
        if self.all("ports").iter().any(|p| {
            p["security_groups"]
                .as_array()
                .is_some_and(|l| l.iter().any(|x| x.as_str() == Some(id)))
        }) {
            return Err(fault(
                409,
                "SecurityGroupInUse",
                format!("Security Group {id} in use."),
            ));
        }
        self.all_mut("security_group_rules")
            .retain(|r| s(r, "security_group_id") != id);
        self.remove("security_groups", id);
        Ok(())
    }

    pub(crate) fn create_security_group_rule(
        &mut self,
        project: &str,
        body: &Map<String, Value>,
    ) -> Res<Value> {
        let sg = required(body, "security_group_id")?;
        self.must("security_groups", &sg)?;
        let mut m = self.base(project, body);
        for (k, v) in [
            ("protocol", Value::Null),
            ("port_range_min", Value::Null),
            ("port_range_max", Value::Null),
            ("remote_ip_prefix", Value::Null),
            ("remote_group_id", Value::Null),
            ("ethertype", json!("IPv4")),
        ] {
            m.insert(k.into(), v);
        }
        Self::apply(
            &mut m,
            body,
            &[
                "security_group_id",
                "direction",
                "ethertype",
                "protocol",
                "port_range_min",
                "port_range_max",
                "remote_ip_prefix",
                "remote_group_id",
                "description",
            ],
            "security_group_rule",
        )?;
        let v = Value::Object(m);
        if !matches!(s(&v, "direction"), "ingress" | "egress") {
            return Err(bad(format!(
                "direction '{}' is not in ['ingress', 'egress']",
                s(&v, "direction")
            )));
        }
        if !matches!(s(&v, "ethertype"), "IPv4" | "IPv6") {
            return Err(bad(format!(
                "ethertype '{}' is not in ['IPv4', 'IPv6']",
                s(&v, "ethertype")
            )));
        }
        if !v["remote_ip_prefix"].is_null() && !v["remote_group_id"].is_null() {
            return Err(fault(
                400,
                "InvalidInput",
                "Only remote_ip_prefix or remote_group_id may be provided.",
            ));
        }
        if let Some(p) = v["remote_ip_prefix"].as_str() {
            let c = Cidr::parse(p).ok_or_else(|| bad(format!("'{p}' is not a valid IP subnet")))?;
            if c.v6 != (s(&v, "ethertype") == "IPv6") {
                return Err(bad(format!(
                    "Conflicting value ethertype {} for CIDR {p}",
                    s(&v, "ethertype")
                )));
            }
        }
        if let (Some(a), Some(b)) = (v["port_range_min"].as_i64(), v["port_range_max"].as_i64()) {
            if a > b {
                return Err(fault(
                    400,
                    "SecurityGroupInvalidPortRange",
                    "For TCP/UDP protocols, port_range_min must be <= port_range_max",
                ));
            }
        }
        let same = |r: &Value| {
            [
                "security_group_id",
                "direction",
                "ethertype",
                "protocol",
                "port_range_min",
                "port_range_max",
                "remote_ip_prefix",
                "remote_group_id",
            ]
            .iter()
            .all(|k| r[*k] == v[*k])
        };
        if let Some(dup) = self.all("security_group_rules").iter().find(|r| same(r)) {
            return Err(fault(
                409,
                "SecurityGroupRuleExists",
                format!(
                    "Security group rule already exists. Rule id is {}.",
                    s(dup, "id")
                ),
            ));
        }
        Ok(self.insert("security_group_rules", v))
    }

    pub(crate) fn delete_security_group_rule(&mut self, id: &str) -> Res<()> {
        self.must("security_group_rules", id)?;
        self.remove("security_group_rules", id);
        Ok(())
    }

    // ----- trunks ---------------------------------------------------------

    fn check_subports(
        &self,
        trunk_id: &str,
        parent: &str,
        current: &[Value],
        new: &Value,
    ) -> Res<Vec<Value>> {
        let mut all: Vec<Value> = current.to_vec();
        for sp in new
            .as_array()
            .ok_or_else(|| bad("sub_ports must be a list"))?
        {
            let pid = s(sp, "port_id");
            self.must("ports", pid)?;
            let st = sp
                .get("segmentation_type")
                .and_then(Value::as_str)
                .unwrap_or("vlan");
            let sid = sp.get("segmentation_id").and_then(Value::as_i64);
            if st != "vlan" {
                return Err(bad(format!("segmentation_type '{st}' is not supported")));
            }
            let Some(sid) = sid.filter(|i| (1..=4094).contains(i)) else {
                return Err(bad("segmentation_id must be in 1..4094"));
            };
            if pid == parent || self.all("trunks").iter().any(|t| s(t, "port_id") == pid) {
                return Err(fault(
                    409,
                    "ParentPortInUse",
                    format!(
                        "Port {pid} is currently in use and is not eligible for use as a subport."
                    ),
                ));
            }
            let in_other = self.all("trunks").iter().any(|t| {
                t["sub_ports"]
                    .as_array()
                    .is_some_and(|l| l.iter().any(|x| s(x, "port_id") == pid))
            });
            if in_other || all.iter().any(|x| s(x, "port_id") == pid) {
                return Err(fault(
                    409,
                    "PortInUseAsSubPort",
                    format!("Port {pid} is currently a subport for trunk {trunk_id}."),
                ));
            }
            if all
                .iter()
                .any(|x| x["segmentation_id"].as_i64() == Some(sid))
            {
                return Err(fault(409, "DuplicateSubPort", format!("segmentation_type {st} and segmentation_id {sid} already in use on trunk {trunk_id}.")));
            }
            all.push(json!({"port_id": pid, "segmentation_type": st, "segmentation_id": sid}));
        }
        Ok(all)
    }

    pub(crate) fn create_trunk(&mut self, project: &str, body: &Map<String, Value>) -> Res<Value> {
        let pid = required(body, "port_id")?;
        self.must("ports", &pid)?;
        if self.all("trunks").iter().any(|t| s(t, "port_id") == pid) {
            return Err(fault(
                409,
                "TrunkPortInUse",
                format!("Port {pid} is in use by another trunk."),
            ));
        }
        let mut m = self.base(project, body);
        let id = s(&Value::Object(m.clone()), "id").to_owned();
        for (k, v) in [
            ("name", json!("")),
            ("admin_state_up", json!(true)),
            ("status", json!("DOWN")),
        ] {
            m.insert(k.into(), v);
        }
        let mut attrs = body.clone();
        attrs.remove("port_id");
        let subs = attrs.remove("sub_ports").unwrap_or(json!([]));
        Self::apply(
            &mut m,
            &attrs,
            &["name", "admin_state_up", "description"],
            "trunk",
        )?;
        let subs = self.check_subports(&id, &pid, &[], &subs)?;
        m.insert("port_id".into(), json!(pid));
        m.insert("sub_ports".into(), json!(subs));
        Ok(self.insert("trunks", Value::Object(m)))
    }

    pub(crate) fn update_trunk(&mut self, id: &str, body: &Map<String, Value>) -> Res<Value> {
        let mut v = self.must("trunks", id)?;
        Self::apply(
            v.as_object_mut().expect("object"),
            body,
            &["name", "admin_state_up", "description"],
            "trunk",
        )?;
        Self::touch(&mut v);
        *self.find_mut("trunks", id).expect("exists") = v.clone();
        Ok(v)
    }

    pub(crate) fn delete_trunk(&mut self, id: &str) -> Res<()> {
        self.must("trunks", id)?;
        self.remove("trunks", id);
        Ok(())
    }

    pub(crate) fn add_subports(&mut self, id: &str, body: &Map<String, Value>) -> Res<Value> {
        let mut t = self.must("trunks", id)?;
        let current = t["sub_ports"].as_array().cloned().unwrap_or_default();
        let all = self.check_subports(
            id,
            s(&t, "port_id"),
            &current,
            body.get("sub_ports").unwrap_or(&json!([])),
        )?;
        t["sub_ports"] = json!(all);
        Self::touch(&mut t);
        *self.find_mut("trunks", id).expect("exists") = t.clone();
        Ok(t)
    }

    pub(crate) fn remove_subports(&mut self, id: &str, body: &Map<String, Value>) -> Res<Value> {
        let mut t = self.must("trunks", id)?;
        let mut current = t["sub_ports"].as_array().cloned().unwrap_or_default();
        for sp in body
            .get("sub_ports")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let pid = s(sp, "port_id");
            if !current.iter().any(|x| s(x, "port_id") == pid) {
                return Err(fault(
                    404,
                    "SubPortNotFound",
                    format!("SubPort {pid} could not be found in trunk {id}."),
                ));
            }
            current.retain(|x| s(x, "port_id") != pid);
        }
        t["sub_ports"] = json!(current);
        Self::touch(&mut t);
        *self.find_mut("trunks", id).expect("exists") = t.clone();
        Ok(t)
    }

    // ----- QoS -----------------------------------------------------------

    pub(crate) fn create_qos_policy(
        &mut self,
        project: &str,
        body: &Map<String, Value>,
    ) -> Res<Value> {
        let mut m = self.base(project, body);
        for (k, v) in [
            ("name", json!("")),
            ("shared", json!(false)),
            ("is_default", json!(false)),
        ] {
            m.insert(k.into(), v);
        }
        Self::apply(
            &mut m,
            body,
            &["name", "description", "shared", "is_default"],
            "policy",
        )?;
        let v = self.insert("policies", Value::Object(m));
        Ok(self.render("policies", &v))
    }

    pub(crate) fn update_qos_policy(&mut self, id: &str, body: &Map<String, Value>) -> Res<Value> {
        let mut v = self.must("policies", id)?;
        Self::apply(
            v.as_object_mut().expect("object"),
            body,
            &["name", "description", "shared", "is_default"],
            "policy",
        )?;
        Self::touch(&mut v);
        *self.find_mut("policies", id).expect("exists") = v.clone();
        Ok(self.render("policies", &v))
    }

    pub(crate) fn delete_qos_policy(&mut self, id: &str) -> Res<()> {
        self.must("policies", id)?;
        for (coll, what) in [("ports", "port"), ("networks", "network")] {
            if let Some(user) = self
                .all(coll)
                .iter()
                .find(|x| x["qos_policy_id"].as_str() == Some(id))
            {
                return Err(fault(
                    409,
                    "QosPolicyInUse",
                    format!("QoS Policy {id} is used by {what} {}.", s(user, "id")),
                ));
            }
        }
        self.all_mut("qos_rules")
            .retain(|r| s(r, "qos_policy_id") != id);
        self.remove("policies", id);
        Ok(())
    }

    pub(crate) fn qos_rules(&self, policy: &str, kind: &str) -> Res<Vec<Value>> {
        self.must("policies", policy)?;
        Ok(self
            .all("qos_rules")
            .iter()
            .filter(|r| s(r, "qos_policy_id") == policy && s(r, "type") == kind)
            .cloned()
            .collect())
    }

    pub(crate) fn qos_rule(&self, policy: &str, kind: &str, id: &str) -> Res<Value> {
        self.qos_rules(policy, kind)?
            .into_iter()
            .find(|r| s(r, "id") == id)
            .ok_or_else(|| {
                fault(
                    404,
                    "QosRuleNotFound",
                    format!("QoS rule {id} for policy {policy} could not be found."),
                )
            })
    }

    fn rule_fields(kind: &str) -> &'static [&'static str] {
        match kind {
            "bandwidth_limit" => &["max_kbps", "max_burst_kbps", "direction"],
            "dscp_marking" => &["dscp_mark"],
            _ => &["min_kbps", "direction"],
        }
    }

    fn check_rule(kind: &str, v: &Value) -> Res<()> {
        match kind {
            "bandwidth_limit" if v["max_kbps"].as_i64().is_none() => {
                Err(bad("max_kbps is required"))
            }
            "minimum_bandwidth" if v["min_kbps"].as_i64().is_none() => {
                Err(bad("min_kbps is required"))
            }
            "dscp_marking" => {
                const VALID: &[i64] = &[
                    0, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30, 32, 34, 36, 38, 40, 46, 48,
                    56,
                ];
                match v["dscp_mark"].as_i64() {
                    Some(m) if VALID.contains(&m) => Ok(()),
                    _ => Err(bad(format!(
                        "dscp_mark {} is not a valid DSCP mark",
                        v["dscp_mark"]
                    ))),
                }
            }
            _ => Ok(()),
        }
    }

    pub(crate) fn create_qos_rule(
        &mut self,
        policy: &str,
        kind: &str,
        body: &Map<String, Value>,
    ) -> Res<Value> {
        let existing = self.qos_rules(policy, kind)?;
        let mut m = Map::new();
        m.insert("id".into(), json!(new_id()));
        m.insert("qos_policy_id".into(), json!(policy));
        m.insert("type".into(), json!(kind));
        if kind != "dscp_marking" {
            m.insert("direction".into(), json!("egress"));
        }
        if kind == "bandwidth_limit" {
            m.insert("max_burst_kbps".into(), json!(0));
        }
        Self::apply(&mut m, body, Self::rule_fields(kind), kind)?;
        let v = Value::Object(m);
        Self::check_rule(kind, &v)?;
        if existing
            .iter()
            .any(|r| r.get("direction") == v.get("direction"))
        {
            return Err(fault(
                409,
                "QoSRulesConflict",
                format!("Rule {kind} already exists in QoS policy {policy}."),
            ));
        }
        Ok(self.insert("qos_rules", v))
    }

    pub(crate) fn update_qos_rule(
        &mut self,
        policy: &str,
        kind: &str,
        id: &str,
        body: &Map<String, Value>,
    ) -> Res<Value> {
        let mut v = self.qos_rule(policy, kind, id)?;
        Self::apply(
            v.as_object_mut().expect("object"),
            body,
            Self::rule_fields(kind),
            kind,
        )?;
        Self::check_rule(kind, &v)?;
        *self.find_mut("qos_rules", id).expect("exists") = v.clone();
        Ok(v)
    }

    pub(crate) fn delete_qos_rule(&mut self, policy: &str, kind: &str, id: &str) -> Res<()> {
        self.qos_rule(policy, kind, id)?;
        self.remove("qos_rules", id);
        Ok(())
    }
}
