//! Subnet pools and the subnet allocator, as Neutron's `subnetpool`
//! extension: a subnet created with `subnetpool_id` and no `cidr` gets the
//! lowest free block of `prefixlen` bits from the pool's prefixes.

use serde_json::{json, Map, Value};

use super::{bad, fault, required, s, Res, Store};
use crate::neutron::ipam::Cidr;

/// Blocks tried before giving up, so a huge IPv6 pool cannot spin.
const MAX_CANDIDATES: u128 = 1 << 20;

fn prefix_list(v: Option<&Value>) -> Res<Vec<Cidr>> {
    let items = v
        .and_then(Value::as_array)
        .ok_or_else(|| bad("Invalid input for prefixes. Reason: must be a list of CIDRs."))?;
    let mut out = Vec::new();
    for p in items {
        let text = p.as_str().unwrap_or_default();
        out.push(
            Cidr::parse(text).ok_or_else(|| bad(format!("'{text}' is not a valid IP subnet")))?,
        );
    }
    if out.is_empty() {
        return Err(bad(
            "Invalid input for prefixes. Reason: the list is empty.",
        ));
    }
    if out.iter().any(|c| c.v6 != out[0].v6) {
        return Err(bad("Illegal subnetpool prefixes: mixed IP versions"));
    }
    Ok(out)
}

/// Stored as Neutron answers it: a string ("8"), though bodies send numbers.
fn prefixlen(v: &Value, key: &str) -> Option<u8> {
    match v.get(key)? {
        Value::String(s) => s.parse().ok(),
        n => n.as_u64().and_then(|n| u8::try_from(n).ok()),
    }
}

impl Store {
    pub(crate) fn create_subnetpool(
        &mut self,
        project: &str,
        body: &Map<String, Value>,
    ) -> Res<Value> {
        let name = required(body, "name")?;
        let prefixes = prefix_list(body.get("prefixes"))?;
        let v6 = prefixes[0].v6;
        let bits: u8 = if v6 { 128 } else { 32 };
        let min = body
            .get("min_prefixlen")
            .and_then(Value::as_u64)
            .map_or(if v6 { 64 } else { 8 }, |n| n as u8);
        let max = body
            .get("max_prefixlen")
            .and_then(Value::as_u64)
            .map_or(bits, |n| n as u8);
        let default = body
            .get("default_prefixlen")
            .and_then(Value::as_u64)
            .map_or(min, |n| n as u8);
        if !(min <= default && default <= max && max <= bits) {
            return Err(bad(format!(
                "Illegal prefix bounds: min_prefixlen={min}, default_prefixlen={default}, max_prefixlen={max}"
            )));
        }
        let mut attrs = body.clone();
        for k in [
            "name",
            "prefixes",
            "min_prefixlen",
            "max_prefixlen",
            "default_prefixlen",
        ] {
            attrs.remove(k);
        }
        let mut m = self.build(
            project,
            &attrs,
            [
                ("shared", json!(false)),
                ("is_default", json!(false)),
                ("default_quota", Value::Null),
                ("address_scope_id", Value::Null),
            ],
            &["shared", "is_default", "default_quota", "description"],
            "subnetpool",
        )?;
        m.insert("name".into(), json!(name));
        m.insert(
            "prefixes".into(),
            json!(prefixes.iter().map(Cidr::canonical).collect::<Vec<_>>()),
        );
        m.insert("ip_version".into(), json!(if v6 { 6 } else { 4 }));
        m.insert("min_prefixlen".into(), json!(min.to_string()));
        m.insert("max_prefixlen".into(), json!(max.to_string()));
        m.insert("default_prefixlen".into(), json!(default.to_string()));
        Ok(self.insert("subnetpools", Value::Object(m)))
    }

    pub(crate) fn update_subnetpool(&mut self, id: &str, body: &Map<String, Value>) -> Res<Value> {
        let mut v = self.must("subnetpools", id)?;
        let mut attrs = body.clone();
        if let Some(p) = attrs.remove("prefixes") {
            let new = prefix_list(Some(&p))?;
            // Neutron only lets a pool grow: every old prefix must stay covered.
            for old in prefix_list(v.get("prefixes"))? {
                if !new
                    .iter()
                    .any(|n| n.contains(old.v6, old.net) && n.prefix <= old.prefix)
                {
                    return Err(bad(format!(
                        "Illegal update to prefixes: {} is not covered",
                        old.canonical()
                    )));
                }
            }
            v["prefixes"] = json!(new.iter().map(Cidr::canonical).collect::<Vec<_>>());
        }
        Self::apply_to(
            &mut v,
            &attrs,
            &["name", "description", "is_default", "default_quota"],
            "subnetpool",
        )?;
        Ok(self.commit("subnetpools", id, v))
    }

    pub(crate) fn delete_subnetpool(&mut self, id: &str) -> Res<()> {
        self.must("subnetpools", id)?;
        if self
            .all("subnets")
            .iter()
            .any(|x| s(x, "subnetpool_id") == id)
        {
            return Err(fault(
                409,
                "SubnetPoolInUse",
                format!("Unable to complete operation on subnet pool {id}. Subnets are allocated from it."),
            ));
        }
        self.remove("subnetpools", id);
        Ok(())
    }

    /// The CIDR of a subnet asked for on pool `pool_id`: `cidr` checked
    /// against the pool, or the lowest free block of `prefixlen`.
    pub(super) fn allocate_from_pool(
        &self,
        pool_id: &str,
        cidr: Option<&str>,
        prefixlen: Option<u8>,
        ip_version: Option<i64>,
    ) -> Res<Cidr> {
        let pool = self.must("subnetpools", pool_id)?;
        let prefixes = prefix_list(pool.get("prefixes"))?;
        let v6 = prefixes[0].v6;
        if ip_version.is_some_and(|v| (v == 6) != v6) {
            return Err(bad(format!(
                "Cannot allocate IPv{} subnet from IPv{} subnet pool",
                ip_version.unwrap_or(4),
                if v6 { 6 } else { 4 }
            )));
        }
        let taken: Vec<Cidr> = self
            .all("subnets")
            .iter()
            .filter(|x| s(x, "subnetpool_id") == pool_id)
            .map(|x| Self::subnet_cidr(x))
            .collect();
        let fail = |why: &str| {
            fault(
                400,
                "SubnetAllocationError",
                format!("Failed to allocate subnet: {why}."),
            )
        };
        if let Some(text) = cidr {
            let c = Cidr::parse(text)
                .ok_or_else(|| bad(format!("'{text}' is not a valid IP subnet")))?;
            if !prefixes
                .iter()
                .any(|p| p.contains(c.v6, c.net) && p.prefix <= c.prefix)
            {
                return Err(fail("Cidr is not in the subnet pool"));
            }
            if taken.iter().any(|t| t.overlaps(&c)) {
                return Err(fail("Cidr overlaps an allocation of the subnet pool"));
            }
            return Ok(c);
        }
        let len = prefixlen.unwrap_or_else(|| prefixlen_of(&pool, "default_prefixlen"));
        let (min, max) = (
            prefixlen_of(&pool, "min_prefixlen"),
            prefixlen_of(&pool, "max_prefixlen"),
        );
        if len < min || len > max {
            return Err(bad(format!(
                "Illegal prefix bounds: prefixlen={len}, min_prefixlen={min}, max_prefixlen={max}"
            )));
        }
        let bits: u32 = if v6 { 128 } else { 32 };
        let mut sorted = prefixes.clone();
        sorted.sort_by_key(|p| p.net);
        for p in sorted.iter().filter(|p| p.prefix <= len) {
            let step = 1u128 << (bits - u32::from(len));
            let count = (p.last() - p.net) / step + 1;
            for i in 0..count.min(MAX_CANDIDATES) {
                let cand = Cidr::parse(&format!(
                    "{}/{len}",
                    crate::neutron::ipam::ip_string(v6, p.net + i * step)
                ))
                .expect("valid block");
                if !taken.iter().any(|t| t.overlaps(&cand)) {
                    return Ok(cand);
                }
            }
        }
        Err(fail(&format!(
            "Insufficient prefix space to allocate subnet size /{len}"
        )))
    }
}

fn prefixlen_of(pool: &Value, key: &str) -> u8 {
    prefixlen(pool, key).unwrap_or_default()
}
