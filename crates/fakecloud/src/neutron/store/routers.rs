//! Routers: external gateways (a `network:router_gateway` port), extra
//! routes (nexthop on a connected subnet), interfaces by subnet or port
//! (`network:router_interface` ports) and the in-use checks on removing
//! them.

use std::collections::HashSet;

use serde_json::{json, Map, Value};

use super::{bad, bad_request, fault, s, Res, Store, RG, RI};
use crate::neutron::ipam::{ip_string, parse_ip, Cidr};

impl Store {
    pub(super) fn router_ports(&self, router_id: &str, owner: &str) -> Vec<Value> {
        self.all("ports")
            .iter()
            .filter(|p| s(p, "device_id") == router_id && s(p, "device_owner") == owner)
            .map(|p| (**p).clone())
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
        let mut attrs = body.clone();
        let gw = attrs.remove("external_gateway_info");
        if attrs.contains_key("routes") {
            return Err(bad("Cannot set routes while creating a router"));
        }
        let defaults = [
            ("name", json!("")),
            ("admin_state_up", json!(true)),
            ("status", json!("ACTIVE")),
            ("external_gateway_info", Value::Null),
            ("routes", json!([])),
            ("distributed", json!(false)),
            ("ha", json!(false)),
            ("availability_zone_hints", json!([])),
            ("availability_zones", json!([])),
        ];
        let m = self.build(
            project,
            &attrs,
            defaults,
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
                self.save("ports", &pid, &p);
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
        self.update_attrs(
            "routers",
            id,
            &attrs,
            &["name", "admin_state_up", "description"],
            "router",
        )
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
}
