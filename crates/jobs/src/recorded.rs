//! When this process recorded the NEW rows it recorded itself (a fan-out's
//! pod jobs, the follow-up jobs of a handler, the jobs of a Neutron
//! event). Whatever made such a request came before that instant, so a run
//! serving only such requests knows a tighter bound on its causes than its
//! claim's commit ([`causes_before`]). Requests recorded elsewhere (the
//! API, a plugin, another xjob) are not known here; a run serving one
//! falls back to its claim.
//!
//! A run that changed nothing yet only passes its own causes on to the
//! jobs it records (a fan-out's pod jobs), so those carry its bound rather
//! than the instant of their INSERT.
//!
//! The bound says when a pod job's routes are already being configured
//! (`router_setup`); it does not make older reads fresh enough for a run:
//! a run of the same job before this one may have written after it.
//!
//! With the instant goes what the causes may have changed ([`Reach`]): a
//! request recorded for a floating IP's notification cannot have moved a
//! route, so a pod job serving only such requests, and changing nothing
//! the routes depend on, records no `configure_route`.
//!
//! One table for the process: a NEW row's id is unique, whichever engine
//! claims it.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{LazyLock, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use tricircle_openstack::calls::JobCalls;

/// Rows kept at most: rows another process claims are never looked up
/// here, so past this the table starts again (those runs then use their
/// claim).
const MAX_ROWS: usize = 10_000;

/// What the causes of a request may have changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// Anything, routes included (all that is known of most causes).
    Any,
    /// Floating IPs only: no route depends on them (`configure_route`
    /// plans from routers' interfaces, VM ports and subnets).
    FloatingIps,
}

impl Reach {
    /// What the causes of two requests together may have changed.
    fn and(self, other: Reach) -> Reach {
        match (self, other) {
            (Reach::FloatingIps, Reach::FloatingIps) => Reach::FloatingIps,
            _ => Reach::Any,
        }
    }
}

/// The causes of the requests a run serves, or of one NEW row: before
/// `before`, reaching `reach`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Causes {
    pub before: Instant,
    pub reach: Reach,
}

impl Causes {
    /// Causes of which nothing is known but that they came before `before`.
    pub fn before(before: Instant) -> Causes {
        Causes {
            before,
            reach: Reach::Any,
        }
    }
}

static RECORDED: LazyLock<Mutex<HashMap<String, Causes>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

fn table() -> MutexGuard<'static, HashMap<String, Causes>> {
    // Only inserts and removes: a panic while holding it leaves it whole.
    RECORDED.lock().unwrap_or_else(PoisonError::into_inner)
}

tokio::task_local! {
    /// The causes of the requests the run this task serves.
    static RUN_CAUSES: Causes;
}

/// Run `f` as a run serving requests with `causes` (the engine, around a
/// handler).
pub async fn serving<F: Future>(causes: Causes, f: F) -> F::Output {
    RUN_CAUSES.scope(causes, f).await
}

/// Whatever made the requests the current run serves happened before
/// this instant; `None` outside a run.
pub fn causes_before() -> Option<Instant> {
    RUN_CAUSES.try_with(|c| c.before).ok()
}

/// What the causes of the requests the current run serves may have
/// changed; [`Reach::Any`] outside a run.
pub fn causes_reach() -> Reach {
    RUN_CAUSES.try_with(|c| c.reach).unwrap_or(Reach::Any)
}

/// NEW row `job_id` was recorded here, its INSERT started at `at` (taken
/// before it: the request's cause came earlier still). Recorded by a run
/// that changed nothing, its causes are that run's.
pub fn noted(job_id: &str, at: Instant) {
    noted_for(job_id, at, Reach::Any)
}

/// [`noted`] for a row recorded outside a run whose cause is known to
/// reach no further than `reach` (a notification's). Within a run the
/// run's causes decide.
pub fn noted_for(job_id: &str, at: Instant, reach: Reach) {
    let causes = match (JobCalls::current(), RUN_CAUSES.try_with(|c| *c).ok()) {
        (None, _) => Causes { before: at, reach },
        (Some(calls), Some(run)) if !calls.changed_anything() => Causes {
            before: run.before.min(at),
            reach: run.reach,
        },
        // Recorded after a change: the run's own writes are causes too.
        (Some(_), _) => Causes::before(at),
    };
    let mut rows = table();
    if rows.len() >= MAX_ROWS {
        rows.clear();
    }
    rows.insert(job_id.to_owned(), causes);
}

/// The causes of the rows `served`, when this process recorded every one
/// of them: the latest instant at which one was recorded, and what they
/// may have changed together; `None` when any was recorded elsewhere (or
/// forgotten), or none is named. A run serves its rows once: they are
/// forgotten here.
pub fn latest(served: &[String]) -> Option<Causes> {
    let mut rows = table();
    let known: Option<Vec<Causes>> = served.iter().map(|id| rows.get(id).copied()).collect();
    for id in served {
        rows.remove(id);
    }
    known?.into_iter().reduce(|a, b| Causes {
        before: a.before.max(b.before),
        reach: a.reach.and(b.reach),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_rows_all_recorded_here_give_an_instant() {
        let (a, b, c) = (
            uuid_like("a"),
            uuid_like("b"),
            uuid_like("not-recorded-here"),
        );
        let t0 = Instant::now();
        noted(&a, t0);
        let t1 = Instant::now();
        noted(&b, t1);
        assert_eq!(latest(&[a.clone(), b.clone()]), Some(Causes::before(t1)));
        // Served once: forgotten.
        assert_eq!(latest(std::slice::from_ref(&a)), None);
        noted(&a, t0);
        assert_eq!(latest(&[a.clone(), c]), None, "one recorded elsewhere");
        assert_eq!(latest(&[a]), None, "forgotten with the run that served it");
        assert_eq!(latest(&[]), None);
    }

    #[tokio::test]
    async fn a_run_that_changed_nothing_passes_its_causes_on() {
        let bound = Instant::now();
        let (relayed, written) = (uuid_like("relayed"), uuid_like("written"));
        let calls = JobCalls::since("j", "router_setup", bound);
        let later = serving(
            Causes::before(bound),
            calls.scope(async {
                let later = Instant::now();
                noted(&relayed, later);
                JobCalls::current().unwrap().note_change();
                noted(&written, later);
                later
            }),
        )
        .await;
        assert_eq!(latest(&[relayed]), Some(Causes::before(bound)));
        assert_eq!(
            latest(&[written]),
            Some(Causes::before(later)),
            "recorded after a change"
        );
        assert_eq!(causes_before(), None, "outside a run");
    }

    /// Rows recorded for floating IPs' notifications reach no route; a
    /// run serving only such rows passes that on to the rows it records
    /// without changing anything, and the rows it records after a change
    /// may reach anything (its own writes are among their causes).
    #[tokio::test]
    async fn what_causes_reach_is_known_while_only_floating_ips_are_among_them() {
        let [fip1, fip2, other] = ["fip1", "fip2", "other"].map(uuid_like);
        let t0 = Instant::now();
        noted_for(&fip1, t0, Reach::FloatingIps);
        noted_for(&fip2, t0, Reach::FloatingIps);
        noted(&other, t0);
        let fips = latest(&[fip1.clone(), fip2.clone()]).unwrap();
        assert_eq!(fips.reach, Reach::FloatingIps);
        noted_for(&fip1, t0, Reach::FloatingIps);
        assert_eq!(
            latest(&[fip1.clone(), other]).unwrap().reach,
            Reach::Any,
            "one of them may have moved a route"
        );
        assert_eq!(causes_reach(), Reach::Any, "outside a run");

        let [relayed, written] = ["relayed", "written"].map(uuid_like);
        let calls = JobCalls::since("j", "router_setup", t0);
        serving(
            fips,
            calls.scope(async {
                assert_eq!(causes_reach(), Reach::FloatingIps);
                noted(&relayed, Instant::now());
                JobCalls::current().unwrap().note_change();
                noted_for(&written, Instant::now(), Reach::FloatingIps);
            }),
        )
        .await;
        assert_eq!(latest(&[relayed]).unwrap().reach, Reach::FloatingIps);
        assert_eq!(latest(&[written]).unwrap().reach, Reach::Any);
    }

    /// Ids unique to this test (the table is the process's).
    fn uuid_like(tag: &str) -> String {
        format!("recorded-test-{tag}-{:?}", std::thread::current().id())
    }
}
