//! Networks and their provider segment, as ML2 with the vxlan, vlan, flat
//! and local type drivers: the segment is validated or allocated on create
//! and cannot be updated; a network with ports of other owners than the
//! auto-delete ones (DHCP, distributed) cannot be deleted, those ports go
//! with it.

use serde_json::{json, Map, Value};

use super::{bad, fault, s, Res, Store, AUTO_DELETE};

/// What `PUT` may change (provider attributes are refused separately).
const NETWORK_WRITABLE: &[&str] = &[
    "name",
    "admin_state_up",
    "shared",
    "router:external",
    "qos_policy_id",
    "port_security_enabled",
    "description",
    "mtu",
];

impl Store {
    pub(crate) fn create_network(
        &mut self,
        project: &str,
        body: &Map<String, Value>,
    ) -> Res<Value> {
        self.check_azs(body)?;
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
        let defaults = [
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
        ];
        // Zone hints are set on create only.
        let writable = [NETWORK_WRITABLE, &["availability_zone_hints"]].concat();
        let mut m = self.build(project, &attrs, defaults, &writable, "network")?;
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
        Self::apply_to(&mut v, body, NETWORK_WRITABLE, "network")?;
        self.check_qos(&v)?;
        Ok(self.commit("networks", id, v))
    }

    /// As `delete_network` of Neutron's DB plugin: refused while ports of
    /// other owners than `AUTO_DELETE` are on it (the message lists them);
    /// the auto-delete ones are deleted as ports, then the subnets.
    pub(crate) fn delete_network(&mut self, id: &str) -> Res<()> {
        self.must("networks", id)?;
        let (auto, in_use): (Vec<&Value>, Vec<&Value>) = self
            .all("ports")
            .iter()
            .map(|p| &**p)
            .filter(|p| s(p, "network_id") == id)
            .partition(|p| AUTO_DELETE.contains(&s(p, "device_owner")));
        if !in_use.is_empty() {
            let ids: Vec<&str> = in_use.iter().map(|p| s(p, "id")).collect();
            return Err(fault(409, "NetworkInUse", format!("Unable to complete operation on network {id}. There are one or more ports still in use on the network, id for these ports is: {}.", ids.join(","))));
        }
        let auto: Vec<String> = auto.iter().map(|p| s(p, "id").to_owned()).collect();
        for port in auto {
            self.delete_port(&port)?;
        }
        self.all_mut("subnets").retain(|p| s(p, "network_id") != id);
        self.remove("networks", id);
        Ok(())
    }
}
