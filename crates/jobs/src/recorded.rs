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

static RECORDED: LazyLock<Mutex<HashMap<String, Instant>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

fn table() -> MutexGuard<'static, HashMap<String, Instant>> {
    // Only inserts and removes: a panic while holding it leaves it whole.
    RECORDED.lock().unwrap_or_else(PoisonError::into_inner)
}

tokio::task_local! {
    /// The bound on the causes of the run this task serves.
    static RUN_CAUSES_BEFORE: Instant;
}

/// Run `f` as a run whose requests were all caused before `bound` (the
/// engine, around a handler).
pub async fn serving<F: Future>(bound: Instant, f: F) -> F::Output {
    RUN_CAUSES_BEFORE.scope(bound, f).await
}

/// Whatever made the requests the current run serves happened before
/// this instant; `None` outside a run.
pub fn causes_before() -> Option<Instant> {
    RUN_CAUSES_BEFORE.try_with(|t| *t).ok()
}

/// NEW row `job_id` was recorded here, its INSERT started at `at` (taken
/// before it: the request's cause came earlier still). Recorded by a run
/// that changed nothing, its causes are that run's.
pub fn noted(job_id: &str, at: Instant) {
    let relayed = JobCalls::current().is_some_and(|c| !c.changed_anything());
    let at = match causes_before() {
        Some(bound) if relayed => bound.min(at),
        _ => at,
    };
    let mut rows = table();
    if rows.len() >= MAX_ROWS {
        rows.clear();
    }
    rows.insert(job_id.to_owned(), at);
}

/// The latest instant at which the rows `served` were recorded, when this
/// process recorded every one of them; `None` when any was recorded
/// elsewhere (or forgotten), or none is named. A run serves its rows once:
/// they are forgotten here.
pub fn latest(served: &[String]) -> Option<Instant> {
    let mut rows = table();
    let known: Option<Vec<Instant>> = served.iter().map(|id| rows.get(id).copied()).collect();
    for id in served {
        rows.remove(id);
    }
    known?.into_iter().max()
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
        assert_eq!(latest(&[a.clone(), b.clone()]), Some(t1));
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
            bound,
            calls.scope(async {
                let later = Instant::now();
                noted(&relayed, later);
                JobCalls::current().unwrap().note_change();
                noted(&written, later);
                later
            }),
        )
        .await;
        assert_eq!(latest(&[relayed]), Some(bound));
        assert_eq!(latest(&[written]), Some(later), "recorded after a change");
        assert_eq!(causes_before(), None, "outside a run");
    }

    /// Ids unique to this test (the table is the process's).
    fn uuid_like(tag: &str) -> String {
        format!("recorded-test-{tag}-{:?}", std::thread::current().id())
    }
}
