//! Stock mode: the allocation pools of the pod copies of a cross-pod
//! subnet, so that no two pods' VMs, and no pod VM and an address the
//! central region holds, ever get the same address (doc/networking.md,
//! "Address pools of the pod copies").
//!
//! The top subnet's pools minus its gateway are cut, in address order,
//! into a *central head* of the first [`head_size`] addresses, kept for the
//! ports xjob makes in the central region (the pods' gateway reservations,
//! the NS routers' interfaces), and `N` consecutive slices of equal size
//! (the first ones one address larger when it does not divide), one per
//! pod the network spans in `pod_id` order. A pod copy offers its slice
//! only. Ranges are numbers (`u128`, IPv4 and IPv6 alike): no address is
//! ever enumerated, except the head's few free ones when a helper port is
//! placed.

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use tricircle_openstack::neutron::AllocationPool;

/// Fewest addresses the head keeps: a gateway reservation for each of two
/// or three pods and an NS interface, even on a small subnet.
pub const HEAD_MIN: u128 = 4;
/// Most addresses the head keeps: enough for the reservations of 63 pods
/// plus an NS interface, and little lost on large subnets.
pub const HEAD_MAX: u128 = 64;

/// An inclusive range of addresses of one family, as numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Span {
    pub start: u128,
    pub end: u128,
}

impl Span {
    /// How many addresses it holds.
    pub fn size(self) -> u128 {
        (self.end - self.start).saturating_add(1)
    }
}

/// How a subnet's pools are shared out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub v6: bool,
    /// The central head, lowest addresses first.
    pub head: Vec<Span>,
    /// One slice per pod, in the order the pods were given.
    pub slices: Vec<Vec<Span>>,
}

impl Plan {
    /// The allocation pools of slice `i`.
    pub fn pools(&self, i: usize) -> Vec<AllocationPool> {
        render(self.v6, &self.slices[i])
    }

    /// The head's addresses not in `used`, lowest first (the head is at
    /// most [`HEAD_MAX`] addresses: enumerating it is cheap).
    pub fn free_in_head<'a>(
        &'a self,
        used: &'a std::collections::BTreeSet<u128>,
    ) -> impl Iterator<Item = String> + 'a {
        self.head
            .iter()
            .flat_map(|s| s.start..=s.end)
            .filter(|a| !used.contains(a))
            .map(|a| show(self.v6, a))
    }
}

/// Why a subnet's pools cannot be shared out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SliceError {
    #[error("allocation pool {0} is not a range of addresses of one family")]
    BadPool(String),
    #[error(
        "too small for {pods} pods: {available} addresses in its pools without the \
         gateway, {head} of them kept for the central region"
    )]
    TooSmall {
        available: u128,
        head: u128,
        pods: usize,
    },
}

/// The head's size for `available` addresses: an eighth of the subnet,
/// within [`HEAD_MIN`]..=[`HEAD_MAX`] (never more than there is).
pub fn head_size(available: u128) -> u128 {
    (available / 8).clamp(HEAD_MIN, HEAD_MAX).min(available)
}

/// Parse an address: (is IPv6, number).
pub fn parse(ip: &str) -> Option<(bool, u128)> {
    match ip.trim().parse::<IpAddr>().ok()? {
        IpAddr::V4(a) => Some((false, u128::from(u32::from(a)))),
        IpAddr::V6(a) => Some((true, u128::from(a))),
    }
}

/// Format an address of the family `v6`.
pub fn show(v6: bool, n: u128) -> String {
    if v6 {
        Ipv6Addr::from(n).to_string()
    } else {
        // An IPv4 span never holds more than 32 bits.
        Ipv4Addr::from(n as u32).to_string()
    }
}

fn render(v6: bool, spans: &[Span]) -> Vec<AllocationPool> {
    spans
        .iter()
        .map(|s| AllocationPool {
            start: show(v6, s.start),
            end: show(v6, s.end),
        })
        .collect()
}

/// Pools as sorted, merged spans; `None` when one is not a range of one
/// family. An empty list is IPv4 (there is nothing to format).
fn spans(pools: &[AllocationPool]) -> Option<(bool, Vec<Span>)> {
    let mut v6 = None;
    let mut out = Vec::new();
    for p in pools {
        let ((f1, a), (f2, b)) = (parse(&p.start)?, parse(&p.end)?);
        if f1 != f2 || a > b || v6.is_some_and(|v| v != f1) {
            return None;
        }
        v6 = Some(f1);
        out.push(Span { start: a, end: b });
    }
    out.sort_unstable();
    let mut merged: Vec<Span> = Vec::new();
    for s in out {
        match merged.last_mut() {
            Some(last) if s.start <= last.end.saturating_add(1) => last.end = last.end.max(s.end),
            _ => merged.push(s),
        }
    }
    Some((v6.unwrap_or(false), merged))
}

/// `spans` without the address `a`.
fn without(spans: Vec<Span>, a: u128) -> Vec<Span> {
    let mut out = Vec::with_capacity(spans.len() + 1);
    for s in spans {
        if a < s.start || a > s.end {
            out.push(s);
            continue;
        }
        if a > s.start {
            out.push(Span {
                start: s.start,
                end: a - 1,
            });
        }
        if a < s.end {
            out.push(Span {
                start: a + 1,
                end: s.end,
            });
        }
    }
    out
}

/// The next `k` addresses of `rest`, consumed from its front.
fn take(rest: &mut VecDeque<Span>, mut k: u128) -> Vec<Span> {
    let mut out = Vec::new();
    while k > 0 {
        let Some(s) = rest.pop_front() else { break };
        if s.size() <= k {
            k -= s.size();
            out.push(s);
        } else {
            let end = s.start + (k - 1);
            out.push(Span {
                start: s.start,
                end,
            });
            rest.push_front(Span {
                start: end + 1,
                end: s.end,
            });
            k = 0;
        }
    }
    out
}

/// Share out a top subnet's `pools` (without `gateway`) between the
/// central head and `pods` slices.
pub fn plan(
    pools: &[AllocationPool],
    gateway: Option<&str>,
    pods: usize,
) -> Result<Plan, SliceError> {
    let (v6, mut all) = spans(pools).ok_or_else(|| {
        let shown: Vec<String> = pools
            .iter()
            .map(|p| format!("{}-{}", p.start, p.end))
            .collect();
        SliceError::BadPool(shown.join(", "))
    })?;
    if let Some((gv6, g)) = gateway.and_then(parse) {
        if gv6 == v6 {
            all = without(all, g);
        }
    }
    let available = all.iter().fold(0u128, |n, s| n.saturating_add(s.size()));
    let head_n = head_size(available);
    let pods_n = pods as u128;
    if pods > 0 && available < head_n.saturating_add(pods_n) {
        return Err(SliceError::TooSmall {
            available,
            head: head_n,
            pods,
        });
    }
    let mut rest: VecDeque<Span> = all.into();
    let head = take(&mut rest, head_n);
    let mut slices = Vec::with_capacity(pods);
    if pods > 0 {
        let left = available - head_n;
        let (each, extra) = (left / pods_n, left % pods_n);
        for i in 0..pods_n {
            slices.push(take(&mut rest, each + u128::from(i < extra)));
        }
    }
    Ok(Plan { v6, head, slices })
}

/// `pools` without the address `ip` (a copy's own gateway, which Neutron
/// refuses inside its pools). Pools that do not parse are returned as
/// they are.
pub fn pools_without(pools: Vec<AllocationPool>, ip: &str) -> Vec<AllocationPool> {
    match (spans(&pools), parse(ip)) {
        (Some((v6, s)), Some((iv6, a))) if v6 == iv6 => render(v6, &without(s, a)),
        _ => pools,
    }
}

/// Whether two pool lists offer the same addresses, whatever their order,
/// splitting or spelling.
pub fn same_pools(a: &[AllocationPool], b: &[AllocationPool]) -> bool {
    match (spans(a), spans(b)) {
        (Some((_, x)), Some((_, y))) => x == y,
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn pool(s: &str, e: &str) -> AllocationPool {
        AllocationPool {
            start: s.into(),
            end: e.into(),
        }
    }

    fn pools(list: &[(&str, &str)]) -> Vec<AllocationPool> {
        list.iter().map(|(s, e)| pool(s, e)).collect()
    }

    #[test]
    fn head_is_an_eighth_within_bounds() {
        for (available, head) in [
            (0, 0),
            (3, 3),
            (13, 4),
            (40, 5),
            (253, 31),
            (1000, 64),
            (u128::MAX, 64),
        ] {
            assert_eq!(head_size(available), head, "{available}");
        }
    }

    #[test]
    fn ipv4_tables() {
        // (pools, gateway, pods) -> (head, slices)
        type Case<'a> = (
            Vec<AllocationPool>,
            Option<&'a str>,
            usize,
            Vec<(&'a str, &'a str)>,
            Vec<Vec<(&'a str, &'a str)>>,
        );
        let cases: Vec<Case> = vec![
            // A /24 with the default pool: head .2-.32 (31), two slices
            // of 111.
            (
                pools(&[("10.0.3.2", "10.0.3.254")]),
                Some("10.0.3.1"),
                2,
                vec![("10.0.3.2", "10.0.3.32")],
                vec![
                    vec![("10.0.3.33", "10.0.3.143")],
                    vec![("10.0.3.144", "10.0.3.254")],
                ],
            ),
            // A gateway inside the pool leaves it; 222 over 4 pods: the
            // first two get the spare addresses.
            (
                pools(&[("10.0.3.1", "10.0.3.254")]),
                Some("10.0.3.1"),
                4,
                vec![("10.0.3.2", "10.0.3.32")],
                vec![
                    vec![("10.0.3.33", "10.0.3.88")],
                    vec![("10.0.3.89", "10.0.3.144")],
                    vec![("10.0.3.145", "10.0.3.199")],
                    vec![("10.0.3.200", "10.0.3.254")],
                ],
            ),
            // Several top pools (given out of order), a slice across two.
            (
                pools(&[("10.0.0.50", "10.0.0.59"), ("10.0.0.10", "10.0.0.29")]),
                None,
                2,
                vec![("10.0.0.10", "10.0.0.13")],
                vec![
                    vec![("10.0.0.14", "10.0.0.26")],
                    vec![("10.0.0.27", "10.0.0.29"), ("10.0.0.50", "10.0.0.59")],
                ],
            ),
            // A gateway in the middle splits the head.
            (
                pools(&[("192.168.0.1", "192.168.0.14")]),
                Some("192.168.0.3"),
                1,
                vec![
                    ("192.168.0.1", "192.168.0.2"),
                    ("192.168.0.4", "192.168.0.5"),
                ],
                vec![vec![("192.168.0.6", "192.168.0.14")]],
            ),
            // No pods: the head alone.
            (
                pools(&[("10.1.0.2", "10.1.0.254")]),
                Some("10.1.0.1"),
                0,
                vec![("10.1.0.2", "10.1.0.32")],
                vec![],
            ),
        ];
        for (p, gw, n, head, slices) in cases {
            let plan = plan(&p, gw, n).unwrap();
            assert!(!plan.v6);
            assert_eq!(render(false, &plan.head), pools(&head), "{p:?}");
            let got: Vec<_> = (0..n).map(|i| plan.pools(i)).collect();
            let want: Vec<_> = slices.iter().map(|s| pools(s)).collect();
            assert_eq!(got, want, "{p:?}");
        }
    }

    #[test]
    fn ipv6_ranges_are_numbers() {
        let p = pools(&[("2001:db8::2", "2001:db8::ffff:ffff:ffff:ffff")]);
        let plan = plan(&p, Some("2001:db8::1"), 2).unwrap();
        assert!(plan.v6);
        assert_eq!(
            render(true, &plan.head),
            pools(&[("2001:db8::2", "2001:db8::41")])
        );
        // (2^64 - 2 - 64) addresses left, even: two halves.
        assert_eq!(
            plan.pools(0),
            pools(&[("2001:db8::42", "2001:db8::8000:0:0:20")])
        );
        assert_eq!(
            plan.pools(1),
            pools(&[("2001:db8::8000:0:0:21", "2001:db8::ffff:ffff:ffff:ffff")])
        );
    }

    #[test]
    fn slices_never_overlap_and_cover_the_rest() {
        for pods in 1..=7 {
            let p = pools(&[("10.0.0.2", "10.0.0.100"), ("10.0.0.120", "10.0.0.254")]);
            let plan = plan(&p, Some("10.0.0.1"), pods).unwrap();
            let mut seen = BTreeSet::new();
            let mut count = 0u128;
            for s in plan.head.iter().chain(plan.slices.iter().flatten()) {
                for a in s.start..=s.end {
                    assert!(seen.insert(a), "{pods} pods: {a} twice");
                }
                count += s.size();
            }
            assert_eq!(count, 99 + 135, "{pods} pods");
            let sizes: Vec<u128> = plan
                .slices
                .iter()
                .map(|s| s.iter().map(|x| x.size()).sum())
                .collect();
            assert!(sizes.iter().max().unwrap() - sizes.iter().min().unwrap() <= 1);
        }
    }

    #[test]
    fn too_small_or_bad_pools_are_errors() {
        let small = pools(&[("10.0.0.2", "10.0.0.6")]);
        assert_eq!(
            plan(&small, Some("10.0.0.1"), 2),
            Err(SliceError::TooSmall {
                available: 5,
                head: 4,
                pods: 2
            })
        );
        assert!(plan(&small, Some("10.0.0.1"), 1).is_ok());
        let mixed = pools(&[("10.0.0.2", "10.0.0.6"), ("fd00::1", "fd00::9")]);
        assert!(matches!(plan(&mixed, None, 1), Err(SliceError::BadPool(_))));
        let reversed = pools(&[("10.0.0.9", "10.0.0.2")]);
        assert!(matches!(
            plan(&reversed, None, 1),
            Err(SliceError::BadPool(_))
        ));
    }

    #[test]
    fn free_head_addresses_skip_the_used_ones() {
        let plan = plan(&pools(&[("10.0.0.2", "10.0.0.40")]), Some("10.0.0.1"), 1).unwrap();
        let used = BTreeSet::from([u128::from(u32::from(Ipv4Addr::new(10, 0, 0, 2)))]);
        let free: Vec<String> = plan.free_in_head(&used).take(2).collect();
        assert_eq!(free, ["10.0.0.3", "10.0.0.4"]);
        assert_eq!(plan.free_in_head(&used).count(), 3);
    }

    #[test]
    fn pool_comparison_and_gateway_removal() {
        let a = pools(&[("10.0.0.10", "10.0.0.19"), ("10.0.0.2", "10.0.0.9")]);
        let b = pools(&[("10.0.0.2", "10.0.0.19")]);
        assert!(same_pools(&a, &b));
        assert!(!same_pools(&a, &pools(&[("10.0.0.2", "10.0.0.18")])));
        assert!(same_pools(
            &pools(&[("2001:db8::0:2", "2001:db8::9")]),
            &pools(&[("2001:db8::2", "2001:db8::9")])
        ));
        assert_eq!(
            pools_without(b.clone(), "10.0.0.5"),
            pools(&[("10.0.0.2", "10.0.0.4"), ("10.0.0.6", "10.0.0.19")])
        );
        assert_eq!(pools_without(b.clone(), "10.0.0.99"), b);
        assert_eq!(pools_without(b.clone(), "fd00::5"), b);
    }
}
