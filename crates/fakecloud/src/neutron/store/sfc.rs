//! networking-sfc's port pairs, port pair groups, flow classifiers and port
//! chains, with the checks its database layer (`sfc_db.py`,
//! `flowclassifier_db.py`) and OVS driver make: references must exist, a
//! port pair belongs to one group at most, a flow classifier to one chain
//! at most, two chains may not share the same group list, and nothing is
//! deleted while a group or chain still uses it.

use serde_json::{json, Map, Value};

use super::{fault, owned, s, Fault, Res, Store};
use crate::neutron::ipam::Cidr;

pub(crate) const PORT_PAIRS: &str = "port_pairs";
pub(crate) const PORT_PAIR_GROUPS: &str = "port_pair_groups";
pub(crate) const FLOW_CLASSIFIERS: &str = "flow_classifiers";
pub(crate) const PORT_CHAINS: &str = "port_chains";

/// What differs between the four collections where they are handled
/// alike: their names and how networking-sfc words their faults.
struct Kind {
    coll: &'static str,
    /// The singular, as `apply` names the resource.
    resource: &'static str,
    /// The fault type's prefix (`PortPairNotFound`, `PortPairInUse`).
    code: &'static str,
    /// The name in fault messages.
    what: &'static str,
}

const PAIR: Kind = Kind {
    coll: PORT_PAIRS,
    resource: "port_pair",
    code: "PortPair",
    what: "Port Pair",
};
const GROUP: Kind = Kind {
    coll: PORT_PAIR_GROUPS,
    resource: "port_pair_group",
    code: "PortPairGroup",
    what: "Port Pair Group",
};
const CLASSIFIER: Kind = Kind {
    coll: FLOW_CLASSIFIERS,
    resource: "flow_classifier",
    code: "FlowClassifier",
    what: "Flow Classifier",
};
const CHAIN: Kind = Kind {
    coll: PORT_CHAINS,
    resource: "port_chain",
    code: "PortChain",
    what: "Port Chain",
};

/// The attributes every SFC resource lets callers change after create.
const NAMING: &[&str] = &["name", "description"];

impl Kind {
    fn by_coll(coll: &str) -> Option<&'static Kind> {
        [&PAIR, &GROUP, &CLASSIFIER, &CHAIN]
            .into_iter()
            .find(|k| k.coll == coll)
    }

    fn not_found(&self, id: &str) -> Fault {
        fault(
            404,
            &format!("{}NotFound", self.code),
            format!("{} {id} not found.", self.what),
        )
    }

    fn in_use(&self, id: &str) -> Fault {
        in_use(
            &format!("{}InUse", self.code),
            format!("{} {id} in use.", self.what),
        )
    }
}

/// networking-sfc's 404 for its collections; `None` for Neutron's own.
pub(super) fn missing(coll: &str, id: &str) -> Option<Fault> {
    Kind::by_coll(coll).map(|k| k.not_found(id))
}

/// Folds the caller's `key` object (chain, group or service function
/// parameters) into the defaults already in `m`, key by key.
fn merge_parameters(m: &mut Map<String, Value>, attrs: &mut Map<String, Value>, key: &str) {
    if let Some(Value::Object(p)) = attrs.remove(key) {
        for (k, v) in p {
            m[key][k] = v;
        }
    }
}

/// A flow classifier's optional match criteria (unset is null).
const MATCH_FIELDS: &[&str] = &[
    "protocol",
    "source_port_range_min",
    "source_port_range_max",
    "destination_port_range_min",
    "destination_port_range_max",
    "source_ip_prefix",
    "destination_ip_prefix",
    "logical_source_port",
    "logical_destination_port",
];

/// networking-sfc's largest chain id.
const MAX_CHAIN_ID: i64 = 65535;

fn invalid(kind: &str, message: impl Into<String>) -> Fault {
    fault(400, kind, message)
}

fn in_use(kind: &str, message: impl Into<String>) -> Fault {
    fault(409, kind, message)
}

/// Neutron's API layer on a POST without a required attribute.
fn required_attr(body: &Map<String, Value>, key: &str) -> Res<Value> {
    body.get(key).cloned().ok_or_else(|| {
        fault(
            400,
            "HTTPBadRequest",
            format!("Failed to parse request. Required attribute '{key}' not specified"),
        )
    })
}

fn id_list(v: &Value, key: &str) -> Res<Vec<String>> {
    match v {
        Value::Null => Ok(Vec::new()),
        Value::Array(items) => items
            .iter()
            .map(|i| {
                i.as_str().map(str::to_owned).ok_or_else(|| {
                    invalid(
                        "InvalidInput",
                        format!("Invalid input for {key}. Reason: '{i}' is not a valid UUID."),
                    )
                })
            })
            .collect(),
        other => Err(invalid(
            "InvalidInput",
            format!("Invalid input for {key}. Reason: '{other}' is not a list."),
        )),
    }
}

fn ids(v: &Value, key: &str) -> Vec<String> {
    id_list(&v[key], key).unwrap_or_default()
}

fn opt_str(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_owned)
}

/// `None` when absent or null, as networking-sfc's "unset" bounds.
fn opt_i64(v: &Value, key: &str) -> Option<i64> {
    v.get(key).and_then(Value::as_i64)
}

fn prefixes_overlap(a: Option<String>, b: Option<String>) -> bool {
    match (
        a.as_deref().and_then(Cidr::parse),
        b.as_deref().and_then(Cidr::parse),
    ) {
        (Some(a), Some(b)) => a.overlaps(&b),
        _ => true,
    }
}

fn ranges_overlap(a: (Option<i64>, Option<i64>), b: (Option<i64>, Option<i64>)) -> bool {
    let first = match (a.0, b.1) {
        (Some(min), Some(max)) => min <= max,
        _ => true,
    };
    let second = match (a.1, b.0) {
        (Some(max), Some(min)) => min <= max,
        _ => true,
    };
    first && second
}

fn unset_or_equal(a: Option<String>, b: Option<String>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => a == b,
        _ => true,
    }
}

/// `flowclassifier_basic_conflict`: the two classifiers can match one
/// packet, ignoring their logical ports.
fn basic_conflict(a: &Value, b: &Value) -> bool {
    let range = |v: &Value, side: &str| {
        (
            opt_i64(v, &format!("{side}_port_range_min")),
            opt_i64(v, &format!("{side}_port_range_max")),
        )
    };
    s(a, "ethertype") == s(b, "ethertype")
        && unset_or_equal(opt_str(a, "protocol"), opt_str(b, "protocol"))
        && prefixes_overlap(
            opt_str(a, "source_ip_prefix"),
            opt_str(b, "source_ip_prefix"),
        )
        && prefixes_overlap(
            opt_str(a, "destination_ip_prefix"),
            opt_str(b, "destination_ip_prefix"),
        )
        && ranges_overlap(range(a, "source"), range(b, "source"))
        && ranges_overlap(range(a, "destination"), range(b, "destination"))
}

/// `flowclassifier_conflict`: a basic conflict on the same logical ports.
fn conflict(a: &Value, b: &Value) -> bool {
    basic_conflict(a, b)
        && unset_or_equal(
            opt_str(a, "logical_source_port"),
            opt_str(b, "logical_source_port"),
        )
        && unset_or_equal(
            opt_str(a, "logical_destination_port"),
            opt_str(b, "logical_destination_port"),
        )
}

impl Store {
    /// The attributes every SFC resource has (no timestamps or revisions:
    /// networking-sfc's models do not carry them).
    fn sfc_base(project: &str, body: &Map<String, Value>) -> Map<String, Value> {
        let mut m = owned(project, body);
        m.insert("name".into(), json!(""));
        m.insert("description".into(), json!(""));
        m
    }

    fn sfc_must(&self, kind: &Kind, id: &str) -> Res<Value> {
        self.find(kind.coll, id)
            .cloned()
            .ok_or_else(|| kind.not_found(id))
    }

    /// Sets the naming attributes on `v` (already changed as the family
    /// allows) and stores it.
    fn sfc_update(
        &mut self,
        kind: &Kind,
        id: &str,
        mut v: Value,
        attrs: &Map<String, Value>,
    ) -> Res<Value> {
        Self::apply_to(&mut v, attrs, NAMING, kind.resource)?;
        self.save(kind.coll, id, &v);
        Ok(v)
    }

    /// Deletes `id` unless `used`, as networking-sfc's in-use checks do.
    fn sfc_delete(&mut self, kind: &Kind, id: &str, used: bool) -> Res<()> {
        self.sfc_must(kind, id)?;
        if used {
            return Err(kind.in_use(id));
        }
        self.remove(kind.coll, id);
        Ok(())
    }

    // ----- port pairs -----------------------------------------------------

    fn group_of_pair(&self, pp_id: &str) -> Option<String> {
        self.all(PORT_PAIR_GROUPS)
            .iter()
            .find(|g| ids(g, "port_pairs").iter().any(|p| p == pp_id))
            .map(|g| s(g, "id").to_owned())
    }

    pub(crate) fn create_port_pair(
        &mut self,
        project: &str,
        body: &Map<String, Value>,
    ) -> Res<Value> {
        let ingress = required_attr(body, "ingress")?;
        let egress = required_attr(body, "egress")?;
        let (ingress, egress) = (
            ingress.as_str().unwrap_or_default().to_owned(),
            egress.as_str().unwrap_or_default().to_owned(),
        );
        if let Some(other) = self
            .all(PORT_PAIRS)
            .iter()
            .find(|p| s(p, "ingress") == ingress && s(p, "egress") == egress)
        {
            return Err(invalid(
                "PortPairIngressEgressInUse",
                format!(
                    "Port Pair with ingress port {ingress} and egress port {egress} is already \
                     used by another Port Pair {}.",
                    s(other, "id")
                ),
            ));
        }
        let port = |id: &str| {
            self.find("ports", id).cloned().ok_or_else(|| {
                fault(
                    404,
                    "PortPairPortNotFound",
                    format!("Port Pair port {id} not found."),
                )
            })
        };
        let (pin, pout) = (port(&ingress)?, port(&egress)?);
        if s(&pin, "device_id").is_empty() {
            return Err(invalid(
                "PortPairIngressNoHost",
                format!("Port Pair ingress port {ingress} does not belong to a host."),
            ));
        }
        if s(&pout, "device_id").is_empty() {
            return Err(invalid(
                "PortPairEgressNoHost",
                format!("Port Pair egress port {egress} does not belong to a host."),
            ));
        }
        if s(&pin, "device_id") != s(&pout, "device_id") {
            return Err(invalid(
                "PortPairIngressEgressDifferentHost",
                format!("Port Pair ingress port {ingress} and egress port {egress} not in the same host."),
            ));
        }
        let mut attrs = body.clone();
        attrs.remove("ingress");
        attrs.remove("egress");
        let mut m = Self::sfc_base(project, &attrs);
        m.insert(
            "service_function_parameters".into(),
            json!({"correlation": null, "weight": 1}),
        );
        merge_parameters(&mut m, &mut attrs, "service_function_parameters");
        Self::apply(&mut m, &attrs, NAMING, PAIR.resource)?;
        m.insert("ingress".into(), json!(ingress));
        m.insert("egress".into(), json!(egress));
        Ok(self.insert(PORT_PAIRS, Value::Object(m)))
    }

    pub(crate) fn update_port_pair(&mut self, id: &str, body: &Map<String, Value>) -> Res<Value> {
        let v = self.sfc_must(&PAIR, id)?;
        self.sfc_update(&PAIR, id, v, body)
    }

    pub(crate) fn delete_port_pair(&mut self, id: &str) -> Res<()> {
        let used = self.group_of_pair(id).is_some();
        self.sfc_delete(&PAIR, id, used)
    }

    // ----- port pair groups -----------------------------------------------

    /// `_validate_pps_in_ppg`: the pairs exist and no other group has them.
    fn check_group_pairs(&self, pairs: &[String], group: Option<&str>) -> Res<()> {
        for pp in pairs {
            self.sfc_must(&PAIR, pp)?;
            if let Some(g) = self.group_of_pair(pp) {
                if Some(g.as_str()) != group {
                    return Err(PAIR.in_use(pp));
                }
            }
        }
        Ok(())
    }

    fn check_tap(tap: bool, pairs: &[String]) -> Res<()> {
        if tap && pairs.len() > 1 {
            return Err(invalid(
                "MultiplePortPairsInTapPPGNotSupported",
                "Multiple port pairs in Tap port pair group is not supported.",
            ));
        }
        Ok(())
    }

    pub(crate) fn create_port_pair_group(
        &mut self,
        project: &str,
        body: &Map<String, Value>,
    ) -> Res<Value> {
        let mut attrs = body.clone();
        let pairs = id_list(
            &attrs.remove("port_pairs").unwrap_or(Value::Null),
            "port_pairs",
        )?;
        self.check_group_pairs(&pairs, None)?;
        let mut m = Self::sfc_base(project, &attrs);
        m.insert("tap_enabled".into(), json!(false));
        m.insert(
            "port_pair_group_parameters".into(),
            json!({"lb_fields": [], "ppg_n_tuple_mapping":
                {"ingress_n_tuple": {}, "egress_n_tuple": {}}}),
        );
        merge_parameters(&mut m, &mut attrs, "port_pair_group_parameters");
        Self::apply(
            &mut m,
            &attrs,
            &["name", "description", "tap_enabled"],
            GROUP.resource,
        )?;
        Self::check_tap(m["tap_enabled"].as_bool().unwrap_or(false), &pairs)?;
        let taken: Vec<i64> = self
            .all(PORT_PAIR_GROUPS)
            .iter()
            .filter_map(|g| g["group_id"].as_i64())
            .collect();
        let group_id = (1..).find(|n| !taken.contains(n)).expect("a free group id");
        m.insert("port_pairs".into(), json!(pairs));
        m.insert("group_id".into(), json!(group_id));
        Ok(self.insert(PORT_PAIR_GROUPS, Value::Object(m)))
    }

    pub(crate) fn update_port_pair_group(
        &mut self,
        id: &str,
        body: &Map<String, Value>,
    ) -> Res<Value> {
        let mut v = self.sfc_must(&GROUP, id)?;
        let mut attrs = body.clone();
        if let Some(p) = attrs.remove("port_pairs") {
            let pairs = id_list(&p, "port_pairs")?;
            self.check_group_pairs(&pairs, Some(id))?;
            Self::check_tap(v["tap_enabled"].as_bool().unwrap_or(false), &pairs)?;
            v["port_pairs"] = json!(pairs);
        }
        self.sfc_update(&GROUP, id, v, &attrs)
    }

    pub(crate) fn delete_port_pair_group(&mut self, id: &str) -> Res<()> {
        let used = self
            .all(PORT_CHAINS)
            .iter()
            .any(|c| ids(c, "port_pair_groups").iter().any(|g| g == id));
        self.sfc_delete(&GROUP, id, used)
    }

    // ----- flow classifiers -----------------------------------------------

    fn chain_of_classifier(&self, fc_id: &str) -> Option<String> {
        self.all(PORT_CHAINS)
            .iter()
            .find(|c| ids(c, "flow_classifiers").iter().any(|f| f == fc_id))
            .map(|c| s(c, "id").to_owned())
    }

    pub(crate) fn create_flow_classifier(
        &mut self,
        project: &str,
        body: &Map<String, Value>,
    ) -> Res<Value> {
        let mut m = Self::sfc_base(project, body);
        for k in MATCH_FIELDS {
            m.insert((*k).into(), Value::Null);
        }
        m.insert("ethertype".into(), json!("IPv4"));
        m.insert("l7_parameters".into(), json!({}));
        let writable = [NAMING, &["ethertype", "l7_parameters"], MATCH_FIELDS].concat();
        Self::apply(&mut m, body, &writable, CLASSIFIER.resource)?;
        let ethertype = match s(&Value::Object(m.clone()), "ethertype").to_ascii_lowercase().as_str() {
            "ipv4" | "" => "IPv4",
            "ipv6" => "IPv6",
            other => {
                return Err(invalid(
                    "FlowClassifierInvalidEthertype",
                    format!("Flow Classifier does not support ethertype {other}. Supported ethertype values are ['IPv4', 'IPv6']."),
                ))
            }
        };
        m.insert("ethertype".into(), json!(ethertype));
        if let Some(p) = m["protocol"].as_str().map(str::to_ascii_lowercase) {
            if !["tcp", "udp", "icmp"].contains(&p.as_str()) {
                return Err(invalid(
                    "FlowClassifierInvalidProtocol",
                    format!("Flow Classifier does not support protocol {p}. Supported protocol values are ['tcp', 'udp', 'icmp']."),
                ));
            }
            m.insert("protocol".into(), json!(p));
        }
        let v = Value::Object(m);
        for side in ["source", "destination"] {
            let (min, max) = (
                opt_i64(&v, &format!("{side}_port_range_min")),
                opt_i64(&v, &format!("{side}_port_range_max")),
            );
            if let (Some(a), Some(b)) = (min, max) {
                if a > b {
                    return Err(invalid(
                        "FlowClassifierInvalidPortRange",
                        format!("Invalid IP protocol port range. min_port_range={a} must be lesser or equal to max_port_range={b}."),
                    ));
                }
            }
            if (min.is_some() || max.is_some()) && !matches!(s(&v, "protocol"), "tcp" | "udp") {
                return Err(invalid(
                    "FlowClassifierProtocolRequiredWithPorts",
                    "IP protocol must be TCP or UDP, if port range is given.",
                ));
            }
            if let Some(prefix) = opt_str(&v, &format!("{side}_ip_prefix")) {
                let ok = Cidr::parse(&prefix).map(|c| c.v6 == (ethertype == "IPv6"));
                match ok {
                    None => {
                        return Err(invalid(
                            "InvalidInput",
                            format!("Invalid input for {side}_ip_prefix. Reason: '{prefix}' is not a valid IP subnet."),
                        ))
                    }
                    Some(false) => {
                        return Err(invalid(
                            "FlowClassifierIpPrefixFormatConflictWithEthertype",
                            format!("IP prefix {prefix} format conflicts with ethertype {ethertype}."),
                        ))
                    }
                    Some(true) => {}
                }
            }
        }
        for key in ["logical_source_port", "logical_destination_port"] {
            if let Some(p) = opt_str(&v, key) {
                if self.find("ports", &p).is_none() {
                    return Err(fault(
                        404,
                        "FlowClassifierPortNotFound",
                        format!("Flow Classifier Neutron Port {p} not found."),
                    ));
                }
            }
        }
        if let Some(other) = self.all(FLOW_CLASSIFIERS).iter().find(|f| conflict(&v, f)) {
            return Err(invalid(
                "FlowClassifierInConflict",
                format!(
                    "Flow Classifier conflicts with another Flow Classifier {}.",
                    s(other, "id")
                ),
            ));
        }
        // networking-sfc's OVS driver refuses classifiers without a source
        // port (its precommit check).
        if opt_str(&v, "logical_source_port").is_none() {
            return Err(invalid(
                "FlowClassifierBadRequest",
                format!(
                    "FlowClassifier {} does not set logical source port in ovs driver",
                    s(&v, "id")
                ),
            ));
        }
        Ok(self.insert(FLOW_CLASSIFIERS, v))
    }

    pub(crate) fn update_flow_classifier(
        &mut self,
        id: &str,
        body: &Map<String, Value>,
    ) -> Res<Value> {
        let v = self.sfc_must(&CLASSIFIER, id)?;
        self.sfc_update(&CLASSIFIER, id, v, body)
    }

    pub(crate) fn delete_flow_classifier(&mut self, id: &str) -> Res<()> {
        let used = self.chain_of_classifier(id).is_some();
        self.sfc_delete(&CLASSIFIER, id, used)
    }

    // ----- port chains ----------------------------------------------------

    /// `_validate_port_pair_groups`: they exist, no two consecutive tap
    /// groups, and no other chain has exactly this group list.
    fn check_chain_groups(&self, groups: &[String], chain: Option<&str>) -> Res<()> {
        if groups.is_empty() {
            return Err(invalid(
                "PortPairGroupNotSpecified",
                "Port Pair Group is not specified in Port Chain.",
            ));
        }
        let mut prev_tap = false;
        for g in groups {
            let tap = self.sfc_must(&GROUP, g)?["tap_enabled"]
                .as_bool()
                .unwrap_or(false);
            if prev_tap && tap {
                return Err(invalid(
                    "ConsecutiveTapPPGNotSupported",
                    "Consecutive Tap PPG in port chain is not supported now.",
                ));
            }
            prev_tap = tap;
        }
        for c in self.all(PORT_CHAINS) {
            if Some(s(c, "id")) != chain && ids(c, "port_pair_groups") == groups {
                return Err(in_use(
                    "InvalidPortPairGroups",
                    format!(
                        "Port Pair Group(s) {groups:?} in use by Port Chain {}.",
                        s(c, "id")
                    ),
                ));
            }
        }
        Ok(())
    }

    /// `_validate_flow_classifiers`: they exist, belong to no other chain
    /// and cannot match the traffic of another chain's classifiers.
    fn check_chain_classifiers(&self, fcs: &[String], chain: Option<&str>) -> Res<()> {
        let mut mine = Vec::new();
        for f in fcs {
            mine.push(self.sfc_must(&CLASSIFIER, f)?);
            if let Some(c) = self.chain_of_classifier(f) {
                if Some(c.as_str()) != chain {
                    return Err(CLASSIFIER.in_use(f));
                }
            }
        }
        for c in self.all(PORT_CHAINS) {
            if Some(s(c, "id")) == chain {
                continue;
            }
            for other in ids(c, "flow_classifiers") {
                let Some(other) = self.find(FLOW_CLASSIFIERS, &other) else {
                    continue;
                };
                if let Some(fc) = mine.iter().find(|fc| basic_conflict(other, fc)) {
                    return Err(invalid(
                        "PortChainFlowClassifierInConflict",
                        format!(
                            "Flow Classifier {} conflicts with Flow Classifier {} in port chain {}.",
                            s(fc, "id"),
                            s(other, "id"),
                            s(c, "id")
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    pub(crate) fn create_port_chain(
        &mut self,
        project: &str,
        body: &Map<String, Value>,
    ) -> Res<Value> {
        let mut attrs = body.clone();
        let groups = id_list(
            &required_attr(body, "port_pair_groups")?,
            "port_pair_groups",
        )?;
        attrs.remove("port_pair_groups");
        let fcs = id_list(
            &attrs.remove("flow_classifiers").unwrap_or(Value::Null),
            "flow_classifiers",
        )?;
        self.check_chain_groups(&groups, None)?;
        self.check_chain_classifiers(&fcs, None)?;
        let mut m = Self::sfc_base(project, body);
        m.insert(
            "chain_parameters".into(),
            json!({"correlation": "mpls", "symmetric": false}),
        );
        merge_parameters(&mut m, &mut attrs, "chain_parameters");
        let wanted = attrs
            .remove("chain_id")
            .and_then(|v| v.as_i64())
            .unwrap_or(0);
        Self::apply(&mut m, &attrs, NAMING, CHAIN.resource)?;
        let assigned: Vec<(i64, String)> = self
            .all(PORT_CHAINS)
            .iter()
            .map(|c| (c["chain_id"].as_i64().unwrap_or(0), s(c, "id").to_owned()))
            .collect();
        let chain_id = if wanted == 0 {
            (1..MAX_CHAIN_ID)
                .find(|n| !assigned.iter().any(|(a, _)| a == n))
                .ok_or_else(|| {
                    invalid(
                        "PortChainUnavailableChainId",
                        "Port Chain no available chain id.",
                    )
                })?
        } else if !(1..=MAX_CHAIN_ID).contains(&wanted) {
            return Err(invalid(
                "InvalidInput",
                format!("Invalid input for chain_id. Reason: '{wanted}' is not in range 0 through {MAX_CHAIN_ID}."),
            ));
        } else if let Some((_, other)) = assigned.iter().find(|(a, _)| *a == wanted) {
            return Err(invalid(
                "PortChainChainIdInConflict",
                format!("Chain id {wanted} conflicts with Chain id in port chain {other}."),
            ));
        } else {
            wanted
        };
        m.insert("port_pair_groups".into(), json!(groups));
        m.insert("flow_classifiers".into(), json!(fcs));
        m.insert("chain_id".into(), json!(chain_id));
        Ok(self.insert(PORT_CHAINS, Value::Object(m)))
    }

    pub(crate) fn update_port_chain(&mut self, id: &str, body: &Map<String, Value>) -> Res<Value> {
        let mut v = self.sfc_must(&CHAIN, id)?;
        let mut attrs = body.clone();
        if let Some(f) = attrs.remove("flow_classifiers") {
            let fcs = id_list(&f, "flow_classifiers")?;
            self.check_chain_classifiers(&fcs, Some(id))?;
            v["flow_classifiers"] = json!(fcs);
        }
        if let Some(g) = attrs.remove("port_pair_groups") {
            let groups = id_list(&g, "port_pair_groups")?;
            self.check_chain_groups(&groups, Some(id))?;
            v["port_pair_groups"] = json!(groups);
        }
        self.sfc_update(&CHAIN, id, v, &attrs)
    }

    pub(crate) fn delete_port_chain(&mut self, id: &str) -> Res<()> {
        // Nothing refers to a chain.
        self.sfc_delete(&CHAIN, id, false)
    }
}
