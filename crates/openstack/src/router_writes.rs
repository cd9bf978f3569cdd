//! One write at a time per Neutron router, across all jobs of a process.
//!
//! Neutron changes a router (gateway, interfaces, extra routes) in a
//! transaction that bumps the router's revision; two at once on the same
//! router collide, and the loser is redone inside neutron-server after a
//! growing pause (its DB retry with backoff). On the real servers a gateway
//! PUT sent beside an interface attach on the same router was seen taking
//! 2.7 s where alone it took 1.2 s. Sent one after the other, each finishes
//! as soon as Neutron can do it. Measured over the guide's base set-up
//! (three interleaved runs each, README "Convergence at Neutron's pace"),
//! the whole came out the same or slightly sooner (6.4-7.4 s against
//! 6.7-8.1 s): not a large gain, but no loss, and Neutron does no wasted
//! work. Writes on different routers, and reads, still go out at once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use tokio::sync::OwnedMutexGuard;

/// Above this many entries, those no write holds are dropped.
const PRUNE_AT: usize = 1024;

/// (region, router id).
type RouterKey = (String, String);

/// A lock per (region, router id), made on first use and dropped with its
/// last holder.
#[derive(Debug, Default)]
pub struct RouterWrites {
    locks: Mutex<HashMap<RouterKey, Weak<tokio::sync::Mutex<()>>>>,
}

impl RouterWrites {
    /// Waits until no other write to `router_id` of `region` runs, and
    /// holds that until the guard is dropped.
    pub async fn lock(&self, region: &str, router_id: &str) -> OwnedMutexGuard<()> {
        let lock = {
            let mut locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
            if locks.len() >= PRUNE_AT {
                locks.retain(|_, l| l.strong_count() > 0);
            }
            let key = (region.to_owned(), router_id.to_owned());
            match locks.get(&key).and_then(Weak::upgrade) {
                Some(l) => l,
                None => {
                    let l = Arc::new(tokio::sync::Mutex::new(()));
                    locks.insert(key, Arc::downgrade(&l));
                    l
                }
            }
        };
        lock.lock_owned().await
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.locks.lock().unwrap().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn writes_to_one_router_wait_for_each_other_and_not_for_others() {
        let w = RouterWrites::default();
        let first = w.lock("RegionOne", "r1").await;
        // Another router, or the same id in another region: not held.
        let _other = w.lock("RegionOne", "r2").await;
        let _elsewhere = w.lock("RegionTwo", "r1").await;
        let second = w.lock("RegionOne", "r1");
        tokio::pin!(second);
        assert!(
            futures_util::poll!(second.as_mut()).is_pending(),
            "r1 is held"
        );
        drop(first);
        let _second = second.await;
    }

    #[tokio::test]
    async fn locks_no_write_holds_are_dropped_past_the_bound() {
        let w = RouterWrites::default();
        for i in 0..PRUNE_AT {
            drop(w.lock("RegionOne", &format!("r{i}")).await);
        }
        let _held = w.lock("RegionOne", "kept").await;
        assert_eq!(w.len(), 1, "the unheld ones pruned, the new one kept");
    }
}
