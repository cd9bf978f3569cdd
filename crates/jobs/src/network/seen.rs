//! What jobs saw of top resources lately, shared by the jobs of one
//! process. Two kinds of knowledge, kept apart:
//! - facts that Neutron never changes once a resource exists (a router's
//!   project, a network's availability zone hints): a job that needs only
//!   those need not read the resource again;
//! - guesses (the external network of a router's gateway, the subnets and
//!   networks a bottom router's interfaces are on), only used to read
//!   ahead before what they come from is read: one that changed since only
//!   leaves that read-ahead unused.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

/// Entries kept per kind at most; past it that kind starts again (each job
/// refills what it needs).
const MAX_ENTRIES: usize = 10_000;

/// A top router as a job last read it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SeenRouter {
    /// Its project (a fact).
    pub project_id: String,
    /// The network of its gateway, empty without one (a guess).
    pub ext_net_id: String,
    /// Whether it may span pods: it has not exactly one availability zone
    /// hint (a fact: Neutron does not update a router's hints). One hint
    /// may or may not name a pod, so such a router counts as not spanning.
    pub spans_pods: bool,
}

/// The subnets and networks of a bottom router's interfaces, in the order
/// `configure_route` reads them (a guess).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RouterInterfaces {
    pub subnet_ids: Vec<String>,
    pub net_ids: Vec<String>,
}

impl RouterInterfaces {
    /// `subnet_ids` and `net_ids` not held yet, in order.
    pub fn add(&mut self, subnet_ids: &[String], net_ids: &[String]) {
        for (have, new) in [
            (&mut self.subnet_ids, subnet_ids),
            (&mut self.net_ids, net_ids),
        ] {
            for id in new {
                if !have.contains(id) {
                    have.push(id.clone());
                }
            }
        }
    }
}

/// Top routers and networks, and bottom routers' interfaces, as jobs last
/// read them; when this process last started to configure a router's
/// routes.
#[derive(Debug, Default)]
pub struct Seen {
    routers: Memo<SeenRouter>,
    zone_hints: Memo<Vec<String>>,
    interfaces: Memo<RouterInterfaces>,
    routes_started: Memo<Instant>,
}

impl Seen {
    pub fn router(&self, router_id: &str) -> Option<SeenRouter> {
        self.routers.get(router_id)
    }

    pub fn set_router(&self, router_id: &str, seen: SeenRouter) {
        self.routers.set(router_id, seen)
    }

    /// The availability zone hints of top network `net_id`, if read.
    pub fn zone_hints(&self, net_id: &str) -> Option<Vec<String>> {
        self.zone_hints.get(net_id)
    }

    pub fn set_zone_hints(&self, net_id: &str, hints: Vec<String>) {
        self.zone_hints.set(net_id, hints)
    }

    /// The interfaces of bottom router `router_id` of `region`, if read.
    pub fn interfaces(&self, region: &str, router_id: &str) -> Option<RouterInterfaces> {
        self.interfaces.get(&format!("{region}#{router_id}"))
    }

    pub fn set_interfaces(&self, region: &str, router_id: &str, seen: RouterInterfaces) {
        self.interfaces.set(&format!("{region}#{router_id}"), seen)
    }

    /// A run configuring top router `router_id`'s routes starts now (its
    /// reads all come after).
    pub fn routes_starting(&self, router_id: &str) {
        self.routes_started.set(router_id, Instant::now())
    }

    /// Whether a run configuring `router_id`'s routes started in this
    /// process after `since`.
    pub fn routes_started_after(&self, router_id: &str, since: Instant) -> bool {
        self.routes_started
            .get(router_id)
            .is_some_and(|t| t > since)
    }
}

/// Id -> value, at most [`MAX_ENTRIES`].
#[derive(Debug)]
struct Memo<V>(Mutex<HashMap<String, V>>);

impl<V> Default for Memo<V> {
    fn default() -> Self {
        Memo(Mutex::new(HashMap::new()))
    }
}

impl<V: Clone> Memo<V> {
    fn get(&self, id: &str) -> Option<V> {
        self.lock().get(id).cloned()
    }

    fn set(&self, id: &str, value: V) {
        let mut map = self.lock();
        if map.len() >= MAX_ENTRIES && !map.contains_key(id) {
            map.clear();
        }
        map.insert(id.to_owned(), value);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, V>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_the_last_read_and_starts_again_when_full() {
        let seen = Seen::default();
        assert_eq!(seen.router("r1"), None);
        let r = |p: &str| SeenRouter {
            project_id: p.into(),
            ..SeenRouter::default()
        };
        seen.set_router("r1", r("p1"));
        seen.set_router("r1", r("p2"));
        seen.set_zone_hints("n1", vec!["az1".into()]);
        assert_eq!(seen.router("r1"), Some(r("p2")));
        for i in 1..MAX_ENTRIES {
            seen.set_router(&format!("x{i}"), r("p"));
        }
        assert_eq!(seen.routers.lock().len(), MAX_ENTRIES);
        seen.set_router("r2", r("p3"));
        assert_eq!(seen.routers.lock().len(), 1);
        assert_eq!(seen.router("r2"), Some(r("p3")));
        assert_eq!(seen.zone_hints("n1"), Some(vec!["az1".to_owned()]));
        let before = Instant::now();
        assert!(!seen.routes_started_after("r1", before));
        seen.routes_starting("r1");
        assert!(seen.routes_started_after("r1", before));
        assert!(!seen.routes_started_after("r1", Instant::now()));
    }
}
