//! The fake Neutron's data and the rules Neutron enforces on it.
//!
//! Resources are kept as JSON objects shaped like Neutron's answers, so
//! filtering and `fields` work on any attribute without per-type code.
//!
//! This file holds the store itself and what every resource shares
//! (lookups, defaults, attribute checks, faults); each resource family's
//! rules live in the submodule named after it: `networks`, `subnets`,
//! `ip_allocation` (fixed IPs for ports, gateways and floating IPs),
//! `ports`, `agents` (port binding), `routers`, `floatingips`,
//! `security_groups`, `trunks`, `qos`, `subnetpools` and `sfc`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde_json::{json, Map, Value};

mod agents;
mod floatingips;
mod ip_allocation;
mod networks;
mod ports;
mod qos;
mod routers;
mod security_groups;
mod sfc;
mod subnetpools;
mod subnets;
mod trunks;

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

fn not_found(kind: &str, what: &str, id: &str) -> Fault {
    fault(404, kind, format!("{what} {id} could not be found."))
}

const RI: &str = "network:router_interface";
const RG: &str = "network:router_gateway";
const FIP: &str = "network:floatingip";
const DHCP: &str = "network:dhcp";
/// Owners whose ports never keep a network or subnet in use: Neutron
/// deletes them with their network and drops their addresses with a
/// subnet (`AUTO_DELETE_PORT_OWNERS`, neutron/common/_constants.py).
const AUTO_DELETE: &[&str] = &[
    DHCP,
    "network:distributed",
    "network:floatingip_agent_gateway",
];
/// Router interface owners: a subnet they hold an address of cannot be
/// deleted (`ROUTER_INTERFACE_OWNERS`, neutron_lib.constants).
const ROUTER_INTERFACE_OWNERS: &[&str] = &[
    RI,
    "network:ha_router_replicated_interface",
    "network:router_interface_distributed",
];

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

/// The 404 for an id missing from `coll`, worded as Neutron (or
/// networking-sfc, for its collections) words it.
pub(crate) fn missing(coll: &str, id: &str) -> Fault {
    if let Some(f) = sfc::missing(coll, id) {
        return f;
    }
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
    not_found(kind, what, id)
}

/// The id and owner every resource starts with; the owner is the caller's
/// project unless an admin names another.
fn owned(project: &str, body: &Map<String, Value>) -> Map<String, Value> {
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
    m
}

fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or_default()
}

fn now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Cloned before every write (a failed write restores the clone, as a
/// rolled-back transaction): resources are shared until one is changed, so
/// that clone costs pointers, not the whole cloud.
#[derive(Clone, Default)]
pub(crate) struct Store {
    colls: BTreeMap<&'static str, Vec<Arc<Value>>>,
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
            // Each region's Neutron draws its own random MACs: regions
            // counting from the same start would hand out the same ones,
            // which real regions practically never do (a pod VM's MAC is
            // reused by its mirror in the central region).
            next_mac: (uuid::Uuid::new_v4().as_u128() as u32) & 0x00ff_ffff,
            ..Self::default()
        }
    }

    pub(crate) fn all(&self, coll: &str) -> &[Arc<Value>] {
        self.colls.get(coll).map(Vec::as_slice).unwrap_or_default()
    }

    fn all_mut(&mut self, coll: &str) -> &mut Vec<Arc<Value>> {
        let key = COLLECTIONS
            .iter()
            .find(|c| **c == coll)
            .expect("known collection");
        self.colls.entry(key).or_default()
    }

    pub(crate) fn find(&self, coll: &str, id: &str) -> Option<&Value> {
        self.all(coll)
            .iter()
            .find(|v| s(v, "id") == id)
            .map(|v| &**v)
    }

    fn find_mut(&mut self, coll: &str, id: &str) -> Option<&mut Value> {
        self.all_mut(coll)
            .iter_mut()
            .find(|v| s(v, "id") == id)
            .map(Arc::make_mut)
    }

    fn remove(&mut self, coll: &str, id: &str) {
        self.all_mut(coll).retain(|v| s(v, "id") != id);
    }

    fn insert(&mut self, coll: &str, v: Value) -> Value {
        self.all_mut(coll).push(Arc::new(v.clone()));
        v
    }

    fn must(&self, coll: &str, id: &str) -> Res<Value> {
        self.find(coll, id)
            .cloned()
            .ok_or_else(|| missing(coll, id))
    }

    /// Replaces the stored copy of a resource read with `must`.
    fn save(&mut self, coll: &str, id: &str, v: &Value) {
        *self.find_mut(coll, id).expect("exists") = v.clone();
    }

    /// Saves an updated resource with a new timestamp and revision.
    fn commit(&mut self, coll: &str, id: &str, mut v: Value) -> Value {
        Self::touch(&mut v);
        self.save(coll, id, &v);
        v
    }

    /// The whole of an update that only sets writable attributes.
    fn update_attrs(
        &mut self,
        coll: &str,
        id: &str,
        body: &Map<String, Value>,
        allowed: &[&str],
        resource: &str,
    ) -> Res<Value> {
        let mut v = self.must(coll, id)?;
        Self::apply_to(&mut v, body, allowed, resource)?;
        Ok(self.commit(coll, id, v))
    }

    /// Whether [`Store::render`] adds to the stored resource.
    pub(crate) fn renders_rules(&self, coll: &str) -> bool {
        Self::rules_of(coll).is_some()
    }

    /// (rules collection, the rule's parent key, the answer's key)
    fn rules_of(coll: &str) -> Option<(&'static str, &'static str, &'static str)> {
        match coll {
            "security_groups" => Some((
                "security_group_rules",
                "security_group_id",
                "security_group_rules",
            )),
            "policies" => Some(("qos_rules", "qos_policy_id", "rules")),
            _ => None,
        }
    }

    /// The answer for one resource (security groups and QoS policies carry
    /// their rules).
    pub(crate) fn render(&self, coll: &str, v: &Value) -> Value {
        let Some((rules, parent, key)) = Self::rules_of(coll) else {
            return v.clone();
        };
        let mut v = v.clone();
        let rules: Vec<Value> = self
            .all(rules)
            .iter()
            .filter(|r| s(r, parent) == s(&v, "id"))
            .map(|r| (**r).clone())
            .collect();
        v[key] = json!(rules);
        v
    }

    // ----- common ---------------------------------------------------------

    fn base(&self, project: &str, body: &Map<String, Value>) -> Map<String, Value> {
        let mut m = owned(project, body);
        m.insert("description".into(), json!(""));
        m.insert("created_at".into(), json!(now()));
        m.insert("updated_at".into(), json!(now()));
        m.insert("revision_number".into(), json!(0));
        m.insert("tags".into(), json!([]));
        m
    }

    /// A new resource: `base`, then the family's `defaults`, then the
    /// caller's writable attributes (see `apply`).
    fn build(
        &self,
        project: &str,
        body: &Map<String, Value>,
        defaults: impl IntoIterator<Item = (&'static str, Value)>,
        allowed: &[&str],
        resource: &str,
    ) -> Res<Map<String, Value>> {
        let mut m = self.base(project, body);
        m.extend(defaults.into_iter().map(|(k, v)| (k.to_owned(), v)));
        Self::apply(&mut m, body, allowed, resource)?;
        Ok(m)
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

    /// `apply` on a stored resource.
    fn apply_to(
        v: &mut Value,
        body: &Map<String, Value>,
        allowed: &[&str],
        resource: &str,
    ) -> Res<()> {
        Self::apply(v.as_object_mut().expect("object"), body, allowed, resource)
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
}
