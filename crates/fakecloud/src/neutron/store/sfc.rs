//! Service function chaining, as the networking-sfc extension serves it
//! under `/v2.0/sfc/`: port pairs, port pair groups, flow classifiers and
//! port chains, with the references between them that make a delete 409
//! (`PortPairInUse`, `PortPairGroupInUse`, `FlowClassifierInUse`).

use serde_json::{json, Map, Value};

use super::{bad, fault, new_id, not_found, required, s, Fault, Res, Store};

pub(crate) const PORT_PAIRS: &str = "port_pairs";
pub(crate) const PORT_PAIR_GROUPS: &str = "port_pair_groups";
pub(crate) const FLOW_CLASSIFIERS: &str = "flow_classifiers";
pub(crate) const PORT_CHAINS: &str = "port_chains";

/// (404 type, what) of a missing SFC resource.
pub(crate) fn missing_kind(coll: &str) -> Option<(&'static str, &'static str)> {
    Some(match coll {
        PORT_PAIRS => ("PortPairNotFound", "Port Pair"),
        PORT_PAIR_GROUPS => ("PortPairGroupNotFound", "Port Pair Group"),
        FLOW_CLASSIFIERS => ("FlowClassifierNotFound", "Flow Classifier"),
        PORT_CHAINS => ("PortChainNotFound", "Port Chain"),
        _ => return None,
    })
}

fn in_use(kind: &str, what: &str, id: &str) -> Fault {
    fault(409, kind, format!("{what} {id} in use."))
}

fn ids(v: Option<&Value>, what: &str) -> Res<Vec<String>> {
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|x| {
                x.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| bad(format!("'{x}' is not a valid UUID for {what}")))
            })
            .collect(),
        Some(other) => Err(bad(format!("'{other}' is not a list for {what}"))),
    }
}

fn listed(v: &Value, key: &str, id: &str) -> bool {
    v[key]
        .as_array()
        .is_some_and(|l| l.iter().any(|x| x.as_str() == Some(id)))
}

impl Store {
    /// What networking-sfc answers for every resource: no timestamps or
    /// revision numbers, unlike the core resources.
    fn sfc_base(project: &str, body: &Map<String, Value>) -> Map<String, Value> {
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
        m.insert("name".into(), json!(""));
        m.insert("description".into(), json!(""));
        m
    }

    fn must_sfc(&self, coll: &str, id: &str) -> Res<Value> {
        let (kind, what) = missing_kind(coll).unwrap_or(("NotFound", "Resource"));
        self.find(coll, id)
            .cloned()
            .ok_or_else(|| not_found(kind, what, id))
    }

    fn sfc_port(&self, id: &str) -> Res<()> {
        if self.find("ports", id).is_none() {
            return Err(not_found("PortPairPortNotFound", "Port", id));
        }
        Ok(())
    }

    pub(crate) fn create_port_pair(
        &mut self,
        project: &str,
        body: &Map<String, Value>,
    ) -> Res<Value> {
        let ingress = required(body, "ingress")?;
        let egress = required(body, "egress")?;
        self.sfc_port(&ingress)?;
        self.sfc_port(&egress)?;
        if let Some(other) = self
            .all(PORT_PAIRS)
            .iter()
            .find(|p| s(p, "ingress") == ingress && s(p, "egress") == egress)
        {
            return Err(fault(
                409,
                "PortPairIngressEgressInUse",
                format!(
                    "Port Pair with ingress port {ingress} and egress port {egress} is already used by another Port Pair {}.",
                    s(other, "id")
                ),
            ));
        }
        let mut m = Self::sfc_base(project, body);
        m.insert(
            "service_function_parameters".into(),
            json!({"correlation": null, "weight": 1}),
        );
        Self::apply(
            &mut m,
            body,
            &[
                "name",
                "description",
                "ingress",
                "egress",
                "service_function_parameters",
            ],
            "port_pair",
        )?;
        Ok(self.insert(PORT_PAIRS, Value::Object(m)))
    }

    pub(crate) fn update_port_pair(&mut self, id: &str, body: &Map<String, Value>) -> Res<Value> {
        let mut v = self.must_sfc(PORT_PAIRS, id)?;
        Self::apply(
            v.as_object_mut().expect("object"),
            body,
            &["name", "description"],
            "port_pair",
        )?;
        *self.find_mut(PORT_PAIRS, id).expect("exists") = v.clone();
        Ok(v)
    }

    pub(crate) fn delete_port_pair(&mut self, id: &str) -> Res<()> {
        self.must_sfc(PORT_PAIRS, id)?;
        if self
            .all(PORT_PAIR_GROUPS)
            .iter()
            .any(|g| listed(g, "port_pairs", id))
        {
            return Err(in_use("PortPairInUse", "Port Pair", id));
        }
        self.remove(PORT_PAIRS, id);
        Ok(())
    }

    /// The port pairs a group may hold: existing, and in no other group.
    fn check_group_pairs(&self, group_id: Option<&str>, pairs: &[String]) -> Res<()> {
        for pp in pairs {
            self.must_sfc(PORT_PAIRS, pp)?;
            if self
                .all(PORT_PAIR_GROUPS)
                .iter()
                .any(|g| Some(s(g, "id")) != group_id && listed(g, "port_pairs", pp))
            {
                return Err(in_use("PortPairInUse", "Port Pair", pp));
            }
        }
        Ok(())
    }

    pub(crate) fn create_port_pair_group(
        &mut self,
        project: &str,
        body: &Map<String, Value>,
    ) -> Res<Value> {
        let pairs = ids(body.get("port_pairs"), "port_pairs")?;
        self.check_group_pairs(None, &pairs)?;
        let mut m = Self::sfc_base(project, body);
        m.insert(
            "port_pair_group_parameters".into(),
            json!({"lb_fields": [], "ppg_n_tuple_mapping": {"ingress_n_tuple": {}, "egress_n_tuple": {}}}),
        );
        m.insert("tap_enabled".into(), json!(false));
        Self::apply(
            &mut m,
            body,
            &[
                "name",
                "description",
                "port_pairs",
                "port_pair_group_parameters",
                "tap_enabled",
            ],
            "port_pair_group",
        )?;
        m.insert("port_pairs".into(), json!(pairs));
        let next = self
            .all(PORT_PAIR_GROUPS)
            .iter()
            .filter_map(|g| g["group_id"].as_i64())
            .max()
            .unwrap_or(0)
            + 1;
        m.insert("group_id".into(), json!(next));
        Ok(self.insert(PORT_PAIR_GROUPS, Value::Object(m)))
    }

    pub(crate) fn update_port_pair_group(
        &mut self,
        id: &str,
        body: &Map<String, Value>,
    ) -> Res<Value> {
        let mut v = self.must_sfc(PORT_PAIR_GROUPS, id)?;
        if body.contains_key("port_pairs") {
            let pairs = ids(body.get("port_pairs"), "port_pairs")?;
            self.check_group_pairs(Some(id), &pairs)?;
        }
        Self::apply(
            v.as_object_mut().expect("object"),
            body,
            &["name", "description", "port_pairs"],
            "port_pair_group",
        )?;
        *self.find_mut(PORT_PAIR_GROUPS, id).expect("exists") = v.clone();
        Ok(v)
    }

    pub(crate) fn delete_port_pair_group(&mut self, id: &str) -> Res<()> {
        self.must_sfc(PORT_PAIR_GROUPS, id)?;
        if self
            .all(PORT_CHAINS)
            .iter()
            .any(|c| listed(c, "port_pair_groups", id))
        {
            return Err(in_use("PortPairGroupInUse", "Port Pair Group", id));
        }
        self.remove(PORT_PAIR_GROUPS, id);
        Ok(())
    }

    pub(crate) fn create_flow_classifier(
        &mut self,
        project: &str,
        body: &Map<String, Value>,
    ) -> Res<Value> {
        for key in ["logical_source_port", "logical_destination_port"] {
            if let Some(p) = body.get(key).and_then(Value::as_str) {
                if self.find("ports", p).is_none() {
                    return Err(not_found(
                        "FlowClassifierPortNotFound",
                        "Flow Classifier Neutron Port",
                        p,
                    ));
                }
            }
        }
        let mut m = Self::sfc_base(project, body);
        for (k, v) in [
            ("ethertype", json!("IPv4")),
            ("protocol", Value::Null),
            ("source_port_range_min", Value::Null),
            ("source_port_range_max", Value::Null),
            ("destination_port_range_min", Value::Null),
            ("destination_port_range_max", Value::Null),
            ("source_ip_prefix", Value::Null),
            ("destination_ip_prefix", Value::Null),
            ("logical_source_port", Value::Null),
            ("logical_destination_port", Value::Null),
            ("l7_parameters", json!({})),
        ] {
            m.insert(k.into(), v);
        }
        Self::apply(&mut m, body, FC_ATTRS, "flow_classifier")?;
        Ok(self.insert(FLOW_CLASSIFIERS, Value::Object(m)))
    }

    pub(crate) fn update_flow_classifier(
        &mut self,
        id: &str,
        body: &Map<String, Value>,
    ) -> Res<Value> {
        let mut v = self.must_sfc(FLOW_CLASSIFIERS, id)?;
        Self::apply(
            v.as_object_mut().expect("object"),
            body,
            &["name", "description"],
            "flow_classifier",
        )?;
        *self.find_mut(FLOW_CLASSIFIERS, id).expect("exists") = v.clone();
        Ok(v)
    }

    pub(crate) fn delete_flow_classifier(&mut self, id: &str) -> Res<()> {
        self.must_sfc(FLOW_CLASSIFIERS, id)?;
        if self
            .all(PORT_CHAINS)
            .iter()
            .any(|c| listed(c, "flow_classifiers", id))
        {
            return Err(in_use("FlowClassifierInUse", "Flow Classifier", id));
        }
        self.remove(FLOW_CLASSIFIERS, id);
        Ok(())
    }

    /// Groups and classifiers a chain may use: existing, and in no other
    /// chain.
    fn check_chain_members(
        &self,
        chain_id: Option<&str>,
        groups: &[String],
        classifiers: &[String],
    ) -> Res<()> {
        let others = || {
            self.all(PORT_CHAINS)
                .iter()
                .filter(move |c| Some(s(c, "id")) != chain_id)
        };
        for g in groups {
            self.must_sfc(PORT_PAIR_GROUPS, g)?;
            if others().any(|c| listed(c, "port_pair_groups", g)) {
                return Err(in_use("PortPairGroupInUse", "Port Pair Group", g));
            }
        }
        for f in classifiers {
            self.must_sfc(FLOW_CLASSIFIERS, f)?;
            if others().any(|c| listed(c, "flow_classifiers", f)) {
                return Err(in_use("FlowClassifierInUse", "Flow Classifier", f));
            }
        }
        Ok(())
    }

    pub(crate) fn create_port_chain(
        &mut self,
        project: &str,
        body: &Map<String, Value>,
    ) -> Res<Value> {
        let groups = ids(body.get("port_pair_groups"), "port_pair_groups")?;
        if groups.is_empty() {
            return Err(bad("port_pair_groups is required"));
        }
        let classifiers = ids(body.get("flow_classifiers"), "flow_classifiers")?;
        self.check_chain_members(None, &groups, &classifiers)?;
        let mut m = Self::sfc_base(project, body);
        m.insert(
            "chain_parameters".into(),
            json!({"correlation": "mpls", "symmetric": false}),
        );
        Self::apply(
            &mut m,
            body,
            &[
                "name",
                "description",
                "port_pair_groups",
                "flow_classifiers",
                "chain_parameters",
                "chain_id",
            ],
            "port_chain",
        )?;
        m.insert("port_pair_groups".into(), json!(groups));
        m.insert("flow_classifiers".into(), json!(classifiers));
        if m.get("chain_id").and_then(Value::as_i64).is_none() {
            let next = self
                .all(PORT_CHAINS)
                .iter()
                .filter_map(|c| c["chain_id"].as_i64())
                .max()
                .unwrap_or(0)
                + 1;
            m.insert("chain_id".into(), json!(next));
        }
        Ok(self.insert(PORT_CHAINS, Value::Object(m)))
    }

    pub(crate) fn update_port_chain(&mut self, id: &str, body: &Map<String, Value>) -> Res<Value> {
        let mut v = self.must_sfc(PORT_CHAINS, id)?;
        let groups = match body.get("port_pair_groups") {
            Some(g) => ids(Some(g), "port_pair_groups")?,
            None => ids(v.get("port_pair_groups"), "port_pair_groups")?,
        };
        let classifiers = match body.get("flow_classifiers") {
            Some(f) => ids(Some(f), "flow_classifiers")?,
            None => ids(v.get("flow_classifiers"), "flow_classifiers")?,
        };
        self.check_chain_members(Some(id), &groups, &classifiers)?;
        Self::apply(
            v.as_object_mut().expect("object"),
            body,
            &[
                "name",
                "description",
                "port_pair_groups",
                "flow_classifiers",
            ],
            "port_chain",
        )?;
        *self.find_mut(PORT_CHAINS, id).expect("exists") = v.clone();
        Ok(v)
    }

    pub(crate) fn delete_port_chain(&mut self, id: &str) -> Res<()> {
        self.must_sfc(PORT_CHAINS, id)?;
        self.remove(PORT_CHAINS, id);
        Ok(())
    }
}

/// The writable attributes of a flow classifier.
const FC_ATTRS: &[&str] = &[
    "name",
    "description",
    "ethertype",
    "protocol",
    "source_port_range_min",
    "source_port_range_max",
    "destination_port_range_min",
    "destination_port_range_max",
    "source_ip_prefix",
    "destination_ip_prefix",
    "logical_source_port",
    "logical_destination_port",
    "l7_parameters",
];
