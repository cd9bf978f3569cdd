//! Floating IPs: an address on an external network held by a
//! `network:floatingip` port, associated through a router that reaches the
//! port's subnet (any router with a gateway there under Tricircle's L3
//! plugin).

use serde_json::{json, Map, Value};

use super::{bad_request, fault, required, s, Res, Store, FIP, RG, RI};

impl Store {
    /// Clears a floating IP's association (its port went or was unset).
    pub(super) fn disassociate(fip: &mut Value) {
        fip["port_id"] = Value::Null;
        fip["fixed_ip_address"] = Value::Null;
        fip["router_id"] = Value::Null;
    }

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
                None => Self::disassociate(&mut v),
                Some(pid) => self.associate(&mut v, pid, fixed.as_ref().and_then(Value::as_str))?,
            }
        }
        Self::apply_to(&mut v, &attrs, &["description"], "floatingip")?;
        Ok(self.commit("floatingips", id, v))
    }

    pub(crate) fn delete_floatingip(&mut self, id: &str) -> Res<()> {
        self.must("floatingips", id)?;
        self.all_mut("ports")
            .retain(|p| !(s(p, "device_owner") == FIP && s(p, "device_id") == id));
        self.remove("floatingips", id);
        Ok(())
    }
}
