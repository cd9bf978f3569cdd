//! Jobs of this process that would write the same shared pod resources
//! take turns instead of racing each other in Neutron. The two pod jobs
//! of a router with a gateway both build its north-south side: at once,
//! one set the gateway while the other's same PUT failed (409, address
//! taken) and it polled; one attached the bridge interface while the
//! other's attach failed (400). On the real servers each loser's request
//! cost seconds of the Neutron CPU the winner needed. Jobs of other
//! processes still race; the building blocks handle that as before.
//!
//! A job that waited for a holder that wrote reads afresh; after one that
//! only read (a rerun), it keeps what it and others read.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};

use tokio::sync::OwnedMutexGuard;
use tricircle_openstack::calls::JobCalls;

/// Keys with a turn taken or awaited; past this many, the free ones are
/// dropped.
const TIDY_AT: usize = 1_024;

/// One turn at a time per key.
#[derive(Debug, Default)]
pub struct Turns(Mutex<HashMap<String, Weak<TurnLock>>>);

/// Whether the last holder of a turn changed anything during it (a Neutron
/// write, a routing).
type TurnLock = tokio::sync::Mutex<bool>;

/// A turn, held until dropped.
#[derive(Debug)]
pub struct Turn {
    held: OwnedMutexGuard<bool>,
    /// The changes the job had made when it took the turn.
    before: Option<u64>,
    /// Whether another job held it first.
    pub waited: bool,
    /// Whether that job wrote during its turn (so this one reads afresh).
    pub after_writes: bool,
}

impl Turns {
    /// Take the turn of `key`, waiting for the job that holds it. A job
    /// that waited for one that wrote then reads `regions` afresh: what it
    /// read there before, and reads others sent before now, may predate
    /// those writes.
    pub async fn take(&self, key: &str, regions: &[&str]) -> Turn {
        let lock = {
            let mut keys = self.keys();
            if keys.len() >= TIDY_AT {
                keys.retain(|_, w| w.strong_count() > 0);
            }
            match keys.get(key).and_then(Weak::upgrade) {
                Some(l) => l,
                None => {
                    let l = Arc::new(TurnLock::new(false));
                    keys.insert(key.to_owned(), Arc::downgrade(&l));
                    l
                }
            }
        };
        let (held, waited) = match lock.clone().try_lock_owned() {
            Ok(held) => (held, false),
            Err(_) => {
                tracing::debug!(key, "another job of this process holds the turn; waiting");
                (lock.lock_owned().await, true)
            }
        };
        let calls = JobCalls::current();
        let after_writes = waited && *held;
        if after_writes {
            if let Some(calls) = &calls {
                for region in regions {
                    calls.others_wrote(region);
                }
            }
        }
        Turn {
            held,
            before: calls.map(|c| c.changes_made()),
            waited,
            after_writes,
        }
    }

    fn keys(&self) -> MutexGuard<'_, HashMap<String, Weak<TurnLock>>> {
        // Only inserts and removes: a panic while holding it leaves it whole.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        // Unknown (no job, or dropped outside it): say it wrote.
        let after = JobCalls::current().map(|c| c.changes_made());
        *self.held = match (self.before, after) {
            (Some(before), Some(after)) => after > before,
            _ => true,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_turn_at_a_time_per_key() {
        let turns = Arc::new(Turns::default());
        let first = turns.take("a", &[]).await;
        assert!(!first.waited);
        let other = turns.take("b", &[]).await;
        assert!(!other.waited, "another key is free");
        let t = turns.clone();
        let second = tokio::spawn(async move { t.take("a", &[]).await.waited });
        tokio::task::yield_now().await;
        assert!(!second.is_finished(), "waits for the first");
        drop(first);
        assert!(second.await.unwrap(), "took it after waiting");
        drop(other);
        let again = turns.take("a", &[]).await;
        assert!(!again.waited, "free again once dropped");
    }

    /// After a holder that only read, the next keeps its reads; after one
    /// that wrote (or one outside any job), it reads afresh.
    #[tokio::test]
    async fn a_turn_after_writes_reads_afresh() {
        let turns = Arc::new(Turns::default());
        let wait_after = |wrote: bool| {
            let turns = turns.clone();
            async move {
                let calls = JobCalls::since("holder", "router_setup", std::time::Instant::now());
                let held = calls.scope(turns.take("k", &[])).await;
                let t = turns.clone();
                let next = tokio::spawn(async move {
                    let calls = JobCalls::since("next", "router_setup", std::time::Instant::now());
                    calls
                        .scope(async { t.take("k", &["R1"]).await.after_writes })
                        .await
                });
                tokio::task::yield_now().await;
                calls
                    .scope(async move {
                        if wrote {
                            JobCalls::current().unwrap().note_change();
                        }
                        drop(held);
                    })
                    .await;
                next.await.unwrap()
            }
        };
        assert!(!wait_after(false).await, "the holder only read");
        assert!(wait_after(true).await, "the holder changed something");
        let outside = turns.take("k", &[]).await;
        let t = turns.clone();
        let next = tokio::spawn(async move { t.take("k", &[]).await.after_writes });
        tokio::task::yield_now().await;
        drop(outside);
        assert!(
            next.await.unwrap(),
            "a holder outside any job may have written"
        );
    }
}
