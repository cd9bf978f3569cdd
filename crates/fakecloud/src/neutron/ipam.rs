//! Address arithmetic for the fake's IPAM: CIDRs, pools, first free IP.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cidr {
    pub(crate) v6: bool,
    pub(crate) net: u128,
    pub(crate) prefix: u8,
}

pub(crate) fn ip_to_u128(ip: IpAddr) -> (bool, u128) {
    match ip {
        IpAddr::V4(a) => (false, u128::from(u32::from(a))),
        IpAddr::V6(a) => (true, u128::from(a)),
    }
}

pub(crate) fn parse_ip(s: &str) -> Option<(bool, u128)> {
    s.parse::<IpAddr>().ok().map(ip_to_u128)
}

pub(crate) fn ip_string(v6: bool, n: u128) -> String {
    if v6 {
        Ipv6Addr::from(n).to_string()
    } else {
        Ipv4Addr::from(n as u32).to_string()
    }
}

impl Cidr {
    pub(crate) fn parse(s: &str) -> Option<Self> {
        let (ip, prefix) = s.split_once('/')?;
        let (v6, n) = parse_ip(ip)?;
        let prefix: u8 = prefix.parse().ok()?;
        let bits = if v6 { 128 } else { 32 };
        if prefix > bits {
            return None;
        }
        let c = Self { v6, net: 0, prefix };
        Some(Self {
            net: n & c.mask(),
            ..c
        })
    }

    fn bits(&self) -> u8 {
        if self.v6 {
            128
        } else {
            32
        }
    }

    fn mask(&self) -> u128 {
        let host_bits = u32::from(self.bits() - self.prefix);
        let all = if self.v6 {
            u128::MAX
        } else {
            u128::from(u32::MAX)
        };
        if host_bits >= 128 {
            0
        } else {
            all & !((1u128 << host_bits) - 1)
        }
    }

    pub(crate) fn last(&self) -> u128 {
        let all = if self.v6 {
            u128::MAX
        } else {
            u128::from(u32::MAX)
        };
        self.net | (all & !self.mask())
    }

    pub(crate) fn contains(&self, v6: bool, n: u128) -> bool {
        v6 == self.v6 && n & self.mask() == self.net
    }

    pub(crate) fn contains_str(&self, ip: &str) -> bool {
        parse_ip(ip).is_some_and(|(v6, n)| self.contains(v6, n))
    }

    pub(crate) fn overlaps(&self, other: &Cidr) -> bool {
        self.v6 == other.v6
            && (self.contains(other.v6, other.net) || other.contains(self.v6, self.net))
    }

    /// The usable host range as Neutron computes it: without the network
    /// address and, for IPv4, the broadcast address.
    pub(crate) fn host_range(&self) -> (u128, u128) {
        if !self.v6 && self.prefix >= 31 {
            return (self.net, self.last());
        }
        let last = if self.v6 {
            self.last()
        } else {
            self.last() - 1
        };
        (self.net + 1, last)
    }

    pub(crate) fn canonical(&self) -> String {
        format!("{}/{}", ip_string(self.v6, self.net), self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v4_ranges() {
        let c = Cidr::parse("10.0.1.7/24").unwrap();
        assert_eq!(c.canonical(), "10.0.1.0/24");
        let (a, b) = c.host_range();
        assert_eq!(ip_string(false, a), "10.0.1.1");
        assert_eq!(ip_string(false, b), "10.0.1.254");
        assert!(c.contains_str("10.0.1.200"));
        assert!(!c.contains_str("10.0.2.1"));
        assert!(c.overlaps(&Cidr::parse("10.0.0.0/16").unwrap()));
        assert!(!c.overlaps(&Cidr::parse("10.0.2.0/24").unwrap()));
    }

    #[test]
    fn v6_ranges() {
        let c = Cidr::parse("fd00::/64").unwrap();
        let (a, _) = c.host_range();
        assert_eq!(ip_string(true, a), "fd00::1");
        assert!(c.contains_str("fd00::ffff"));
    }
}
