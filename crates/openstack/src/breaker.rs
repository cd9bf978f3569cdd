//! A circuit breaker per region: after a few Neutron calls in a row that
//! got no answer at all (connection refused, timeout), the region counts
//! as down for a cooldown that doubles each time it is found down again.
//! The clients only observe; job code asks [`RegionBreaker::is_open`]
//! before starting work in a region, so a down region's jobs fail at once
//! (and wait for their retry) instead of holding a worker slot through
//! every call's retries and timeouts. Time is passed in, for tests.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// When a region counts as down, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerPolicy {
    /// Calls in a row without an answer that open the breaker.
    pub threshold: u32,
    /// The first cooldown; it doubles each time the region is still down.
    pub cooldown: Duration,
    pub max_cooldown: Duration,
}

impl Default for BreakerPolicy {
    fn default() -> Self {
        BreakerPolicy {
            threshold: 3,
            cooldown: Duration::from_secs(2),
            max_cooldown: Duration::from_secs(60),
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct State {
    /// Calls in a row without an answer.
    failures: u32,
    /// Times the breaker opened since the region last answered.
    opened: u32,
    open_until: Option<Instant>,
}

/// The breaker of every region one set of clients talks to.
#[derive(Debug, Default)]
pub struct RegionBreaker {
    policy: BreakerPolicy,
    regions: Mutex<BTreeMap<String, State>>,
}

impl RegionBreaker {
    pub fn new(policy: BreakerPolicy) -> RegionBreaker {
        RegionBreaker {
            policy,
            regions: Mutex::new(BTreeMap::new()),
        }
    }

    fn regions(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, State>> {
        self.regions.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A call to `region` got an answer (`answered`, whatever its status)
    /// or none at all.
    pub fn record(&self, region: &str, answered: bool, now: Instant) {
        let mut regions = self.regions();
        let s = regions.entry(region.to_owned()).or_default();
        if answered {
            if s.open_until.is_some() {
                tracing::info!(region, "region answers again; its jobs run");
            }
            *s = State::default();
            return;
        }
        s.failures = s.failures.saturating_add(1);
        // Once open, a failed probe after the cooldown opens it again at
        // once, for longer.
        if s.failures >= self.policy.threshold && s.open_until.is_none_or(|t| now >= t) {
            let factor = 1u32.checked_shl(s.opened.min(16)).unwrap_or(u32::MAX);
            let wait = self
                .policy
                .cooldown
                .saturating_mul(factor)
                .min(self.policy.max_cooldown);
            s.opened = s.opened.saturating_add(1);
            s.open_until = Some(now + wait);
            tracing::warn!(
                region,
                failures = s.failures,
                cooldown_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                "region does not answer; its jobs wait"
            );
        }
    }

    /// Whether `region` counts as down at `now`. After the cooldown it does
    /// not (one job probes it; its failure opens the breaker again).
    pub fn is_open(&self, region: &str, now: Instant) -> bool {
        self.regions()
            .get(region)
            .and_then(|s| s.open_until)
            .is_some_and(|t| now < t)
    }

    /// The regions down at `now`, for status output and metrics.
    pub fn open_regions(&self, now: Instant) -> Vec<String> {
        self.regions()
            .iter()
            .filter(|(_, s)| s.open_until.is_some_and(|t| now < t))
            .map(|(r, _)| r.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_the_threshold_and_backs_off_while_down() {
        let b = RegionBreaker::new(BreakerPolicy::default());
        let t0 = Instant::now();
        let s = Duration::from_secs;
        b.record("R1", false, t0);
        b.record("R1", false, t0);
        assert!(!b.is_open("R1", t0), "two failures are not enough");
        b.record("R1", false, t0);
        assert!(b.is_open("R1", t0));
        assert!(!b.is_open("R2", t0), "other regions are not held");
        assert_eq!(b.open_regions(t0), ["R1"]);
        // Failures while open do not extend it.
        b.record("R1", false, t0 + s(1));
        assert!(!b.is_open("R1", t0 + s(2)), "half-open after the cooldown");
        // The probe fails: open again, twice as long.
        b.record("R1", false, t0 + s(2));
        assert!(b.is_open("R1", t0 + s(5)));
        assert!(!b.is_open("R1", t0 + s(6)));
        b.record("R1", false, t0 + s(6));
        assert!(b.is_open("R1", t0 + s(13)));
        // An answer closes it and starts afresh.
        b.record("R1", true, t0 + s(14));
        assert!(!b.is_open("R1", t0 + s(14)));
        b.record("R1", false, t0 + s(15));
        assert!(!b.is_open("R1", t0 + s(15)));
        assert!(b.open_regions(t0 + s(15)).is_empty());
    }

    #[test]
    fn cooldown_is_capped() {
        let b = RegionBreaker::new(BreakerPolicy {
            threshold: 1,
            cooldown: Duration::from_secs(2),
            max_cooldown: Duration::from_secs(5),
        });
        let mut t = Instant::now();
        for _ in 0..6 {
            b.record("R1", false, t);
            assert!(b.is_open("R1", t));
            t += Duration::from_secs(5);
            assert!(!b.is_open("R1", t));
        }
    }
}
