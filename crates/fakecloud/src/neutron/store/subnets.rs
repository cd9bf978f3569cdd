//! Subnets: CIDR (given or from a subnet pool), gateway and allocation
//! pools validated as Neutron does; a subnet with IPs of router interfaces
//! or of ports of other owners than the auto-delete ones cannot be deleted. The CIDR, pool and port-on-subnet readers are shared with the
//! families that allocate IPs or route between subnets.

use std::sync::Arc;

use serde_json::{json, Map, Value};

use super::{bad, fault, required, s, Res, Store, AUTO_DELETE, ROUTER_INTERFACE_OWNERS};
use crate::neutron::ipam::{ip_string, parse_ip, Cidr};

/// What `PUT` may change.
const SUBNET_WRITABLE: &[&str] = &[
    "name",
    "enable_dhcp",
    "dns_nameservers",
    "host_routes",
    "description",
];

impl Store {
    pub(super) fn subnet_cidr(sub: &Value) -> Cidr {
        Cidr::parse(s(sub, "cidr")).expect("stored CIDRs are valid")
    }

    /// Pools as `(start, end)` numbers.
    pub(super) fn pools(sub: &Value) -> Vec<(u128, u128)> {
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

    /// Stores the checked gateway and pools as Neutron answers them.
    fn set_addressing(
        m: &mut Map<String, Value>,
        c: &Cidr,
        gw: Option<u128>,
        pools: &[(u128, u128)],
    ) {
        m.insert(
            "gateway_ip".into(),
            gw.map(|g| json!(ip_string(c.v6, g))).unwrap_or(Value::Null),
        );
        m.insert("allocation_pools".into(), Self::render_pools(c.v6, pools));
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
        let defaults = [
            ("name", json!("")),
            ("enable_dhcp", json!(true)),
            ("dns_nameservers", json!([])),
            ("host_routes", json!([])),
            ("ipv6_ra_mode", Value::Null),
            ("ipv6_address_mode", Value::Null),
            ("subnetpool_id", Value::Null),
            ("service_types", json!([])),
        ];
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
        // IPv6 modes are set on create only.
        let writable = [SUBNET_WRITABLE, &["ipv6_ra_mode", "ipv6_address_mode"]].concat();
        let mut m = self.build(project, &attrs, defaults, &writable, "subnet")?;
        m.insert("network_id".into(), json!(net_id));
        m.insert("cidr".into(), json!(c.canonical()));
        m.insert("subnetpool_id".into(), json!(pool_id));
        m.insert("ip_version".into(), json!(version));
        Self::set_addressing(&mut m, &c, gw, &pools);
        let v = self.insert("subnets", Value::Object(m));
        let mut net = net;
        net["subnets"]
            .as_array_mut()
            .expect("list")
            .push(v["id"].clone());
        self.save("networks", &net_id, &net);
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
        Self::apply(m, &attrs, SUBNET_WRITABLE, "subnet")?;
        Self::set_addressing(m, &c, gw, &pools);
        Ok(self.commit("subnets", id, v))
    }

    pub(super) fn port_on_subnet(p: &Value, subnet_id: &str) -> bool {
        p["fixed_ips"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|f| s(f, "subnet_id") == subnet_id)
    }

    /// As `delete_subnet` of Neutron's DB plugin: refused while a router
    /// interface or a port of another owner than `AUTO_DELETE` has an
    /// address of it; the auto-delete ports lose theirs. (IPv6 SLAAC
    /// subnets, whose user addresses Neutron drops too, are not modelled.)
    pub(crate) fn delete_subnet(&mut self, id: &str) -> Res<()> {
        let sub = self.must("subnets", id)?;
        let in_use = self.all("ports").iter().any(|p| {
            let owner = s(p, "device_owner");
            Self::port_on_subnet(p, id)
                && (ROUTER_INTERFACE_OWNERS.contains(&owner) || !AUTO_DELETE.contains(&owner))
        });
        if in_use {
            return Err(fault(409, "SubnetInUse", format!("Unable to complete operation on subnet {id}: One or more ports have an IP allocation from this subnet.")));
        }
        for p in self
            .all_mut("ports")
            .iter_mut()
            .filter(|p| Self::port_on_subnet(p, id))
            .map(Arc::make_mut)
        {
            if let Some(ips) = p["fixed_ips"].as_array_mut() {
                ips.retain(|f| s(f, "subnet_id") != id);
            }
        }
        self.remove("subnets", id);
        if let Some(net) = self.find_mut("networks", s(&sub, "network_id")) {
            if let Some(list) = net["subnets"].as_array_mut() {
                list.retain(|x| x.as_str() != Some(id));
            }
        }
        Ok(())
    }
}
