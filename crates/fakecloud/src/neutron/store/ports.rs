//! Ports: generated MACs, fixed IPs, binding (see `agents.rs`), security
//! group and QoS references; L3 ports (of an existing router or floating
//! IP, with an address) and trunk parents cannot be deleted directly, deleting a port disassociates its floating IPs and drops it
//! from trunks.

use std::sync::Arc;

use serde_json::{json, Map, Value};

use super::{fault, required, s, Res, Store, FIP, RG, RI};

const RI_DVR: &str = "network:router_interface_distributed";
const RI_HA: &str = "network:ha_router_replicated_interface";

impl Store {
    fn mac(&mut self) -> String {
        // Neutron draws random MACs and retries on a clash; the fake counts,
        // skipping MACs ports were given explicitly.
        loop {
            self.next_mac = (self.next_mac + 1) & 0x00ff_ffff;
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
        let mac = self.mac();
        let mut attrs = body.clone();
        attrs.remove("network_id");
        let requested = attrs.remove("fixed_ips");
        let defaults = [
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
        ];
        let mut m = self.build(project, &attrs, defaults, Self::PORT_WRITABLE, "port")?;
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
        Self::apply_to(&mut v, &attrs, Self::PORT_WRITABLE, "port")?;
        self.bind(&mut v);
        self.check_sgs(&v)?;
        self.check_qos(&v)?;
        Ok(self.commit("ports", id, v))
    }

    pub(crate) fn delete_port(&mut self, id: &str) -> Res<()> {
        let p = self.must("ports", id)?;
        let owner = s(&p, "device_owner");
        // As l3_db's prevent_l3_port_deletion: a stale L3 port (no address,
        // or its router or floating IP gone) may go.
        let device = s(&p, "device_id");
        let holder = if owner == FIP {
            "floatingips"
        } else {
            "routers"
        };
        let l3 = [RI, RG, FIP, RI_DVR, RI_HA].contains(&owner);
        let has_ip = p["fixed_ips"].as_array().is_some_and(|a| !a.is_empty());
        if l3 && has_ip && self.find(holder, device).is_some() {
            return Err(fault(409, "ServicePortInUse", format!("Port {id} cannot be deleted directly via the port API: has device owner {owner}.")));
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
            .map(Arc::make_mut)
        {
            Self::disassociate(f);
        }
        for t in self.all_mut("trunks").iter_mut().map(Arc::make_mut) {
            if let Some(subs) = t["sub_ports"].as_array_mut() {
                subs.retain(|x| s(x, "port_id") != id);
            }
        }
        self.remove("ports", id);
        Ok(())
    }
}
