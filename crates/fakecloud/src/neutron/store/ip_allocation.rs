//! Fixed IP allocation as Neutron's IPAM does it, for ports, router
//! gateways and floating IPs: requested IPs are checked against the
//! network's subnets, others come from the allocation pools in order.

use std::collections::HashSet;

use serde_json::{json, Value};

use super::{bad, fault, s, Res, Store};
use crate::neutron::ipam::{ip_string, parse_ip};

impl Store {
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
    pub(super) fn allocate(
        &self,
        net_id: &str,
        requested: Option<&Value>,
        port_id: Option<&str>,
    ) -> Res<Value> {
        let mut used = self.used_ips(port_id);
        let subnets: Vec<&Value> = self
            .all("subnets")
            .iter()
            .map(|x| &**x)
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
}
