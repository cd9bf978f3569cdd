//! The little IPv4 arithmetic the handlers need: bridge CIDR membership and
//! allocation pools of bottom subnets.

use std::net::Ipv4Addr;

use tricircle_openstack::neutron::AllocationPool;

/// An IPv4 network in CIDR notation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    pub network: u32,
    pub prefix: u8,
}

impl Cidr {
    pub fn parse(s: &str) -> Option<Cidr> {
        let (a, p) = s.trim().split_once('/')?;
        let addr: Ipv4Addr = a.parse().ok()?;
        let prefix: u8 = p.parse().ok().filter(|p| *p <= 32)?;
        let c = Cidr {
            network: u32::from(addr) & mask(prefix),
            prefix,
        };
        Some(c)
    }

    /// Whether `ip` (dotted quad) lies in this network; anything that is
    /// not an IPv4 address does not.
    pub fn contains(&self, ip: &str) -> bool {
        ip.parse::<Ipv4Addr>()
            .is_ok_and(|a| u32::from(a) & mask(self.prefix) == self.network)
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", Ipv4Addr::from(self.network), self.prefix)
    }
}

fn mask(prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - prefix)
    }
}

fn parse(ip: &str) -> Option<u32> {
    ip.parse::<Ipv4Addr>().ok().map(u32::from)
}

fn show(v: u32) -> String {
    Ipv4Addr::from(v).to_string()
}

/// The allocation pools of a bottom subnet whose gateway is `bottom_gw`
/// while the top subnet's is `top_gw`: the bottom gateway leaves the pools,
/// the top gateway (a VM address in this pod) joins them. Adjacent ranges
/// are merged. IPv6 pools are returned unchanged.
pub fn bottom_pools(
    top_pools: &[AllocationPool],
    top_gw: Option<&str>,
    bottom_gw: &str,
) -> Vec<AllocationPool> {
    let Some(top_gw) = top_gw else {
        return top_pools.to_vec();
    };
    let (Some(tg), Some(bg)) = (parse(top_gw), parse(bottom_gw)) else {
        return top_pools.to_vec();
    };
    let mut ranges: Vec<(u32, u32)> = Vec::new();
    for p in top_pools {
        let (Some(s), Some(e)) = (parse(&p.start), parse(&p.end)) else {
            return top_pools.to_vec();
        };
        ranges.push((s, e));
    }
    if tg == bg {
        return top_pools.to_vec();
    }
    let mut split = Vec::new();
    for (s, e) in ranges {
        if bg < s || bg > e {
            split.push((s, e));
            continue;
        }
        if bg > s {
            split.push((s, bg - 1));
        }
        if bg < e {
            split.push((bg + 1, e));
        }
    }
    split.push((tg, tg));
    split.sort_unstable();
    let mut merged: Vec<(u32, u32)> = Vec::new();
    for (s, e) in split {
        match merged.last_mut() {
            Some(last) if s <= last.1.saturating_add(1) => last.1 = last.1.max(e),
            _ => merged.push((s, e)),
        }
    }
    merged
        .into_iter()
        .map(|(s, e)| AllocationPool {
            start: show(s),
            end: show(e),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(s: &str, e: &str) -> AllocationPool {
        AllocationPool {
            start: s.into(),
            end: e.into(),
        }
    }

    #[test]
    fn membership() {
        let c = Cidr::parse("100.0.0.0/9").unwrap();
        assert!(c.contains("100.0.0.1"));
        assert!(c.contains("100.127.255.254"));
        assert!(!c.contains("100.128.0.1"));
        assert!(!c.contains("10.0.1.1"));
        assert!(!c.contains("fe80::1"));
        assert!(Cidr::parse("100.0.0.0/33").is_none());
    }

    #[test]
    fn pools_swap_the_gateways() {
        let top = [pool("10.0.1.2", "10.0.1.254")];
        // The bottom gateway leaves, the top gateway joins (and merges).
        assert_eq!(
            bottom_pools(&top, Some("10.0.1.1"), "10.0.1.5"),
            vec![pool("10.0.1.1", "10.0.1.4"), pool("10.0.1.6", "10.0.1.254")]
        );
        assert_eq!(
            bottom_pools(&top, Some("10.0.1.1"), "10.0.1.1"),
            top.to_vec()
        );
        assert_eq!(bottom_pools(&top, None, "10.0.1.9"), top.to_vec());
    }
}
