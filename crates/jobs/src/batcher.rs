//! The engine's database side: the claims and finishes of all job loops of
//! one engine, gathered into one transaction each ([`jobs::claim_runs`],
//! [`jobs::finish_runs`]). [`THREADS`] threads for claims and as many for
//! finishes each take whatever has queued up while their last transaction
//! ran (up to [`MAX_BATCH`]): one loop alone is served at once, and many
//! loops share a transaction and its commit instead of queueing for
//! connections. The batches of one engine never touch one resource at
//! once (one loop per resource), so its threads do not wait for each
//! other. A batch that fails for another reason than a lock
//! conflict (retried whole) is split, so one bad run fails alone.
//!
//! On MySQL and PostgreSQL the batches have a pool of their own (one
//! connection per thread, besides `[database] max_pool_size`) whose
//! connections are opened with the batches' settings, instead of setting
//! them again in every transaction (two or four statements per run).

use std::time::{Duration, Instant};

use tricircle_db::batching::Batches;
use tricircle_db::jobs::{self, Claim, Claimed, Finish, Finished};
use tricircle_db::{time, AnyConnection, Db, DbError, RetryPolicy};

/// Runs claimed or finished in one transaction at most.
pub const MAX_BATCH: usize = 256;

/// Threads per kind: one transaction runs while the other gathers.
pub const THREADS: usize = 2;

/// Cheap to clone; the threads stop when the last clone is dropped.
#[derive(Clone)]
pub(crate) struct Batcher {
    claims: Batches<Claim, Claimed>,
    finishes: Batches<Finish, Finished>,
}

impl Batcher {
    pub(crate) fn start(db: Db, job_run_expire: Duration) -> Batcher {
        let db = match db.for_job_batches((THREADS * 2) as u32) {
            Ok(own) => own,
            Err(e) => {
                // Still correct on the shared pool: each transaction then
                // makes the settings itself.
                tracing::warn!(error = %e, "no pool of its own for the job batches; using the shared one");
                db
            }
        };
        let claims = serving(
            "xjob-claims",
            db.clone(),
            move |c, batch: &[Claim]| {
                jobs::claim_runs(c, batch, time::now_for(c.backend()), job_run_expire)
            },
            claimed_at,
        );
        let finishes = serving(
            "xjob-finishes",
            db,
            |c, batch: &[Finish]| jobs::finish_runs(c, batch, time::now_for(c.backend())),
            |f: &mut Finished, at| {
                if let Finished::Recorded { next: Some(c) } = f {
                    claimed_at(c, at);
                }
            },
        );
        Batcher { claims, finishes }
    }

    pub(crate) async fn claim(&self, claim: Claim) -> Result<Claimed, DbError> {
        self.claims.call(claim).await
    }

    pub(crate) async fn finish(&self, finish: Finish) -> Result<Finished, DbError> {
        self.finishes.call(finish).await
    }
}

/// One batch's work inside its transaction: one answer per input, in order.
type Work<I, O> = dyn Fn(&mut AnyConnection, &[I]) -> Result<Vec<O>, DbError> + Send + Sync;

/// Notes on an answer when its transaction had committed.
type Committed<O> = fn(&mut O, Instant);

/// A lease taken by a claim notes when it was committed.
fn claimed_at(c: &mut Claimed, at: Instant) {
    if let Claimed::Run(lease) = c {
        lease.claimed_at = Some(at);
    }
}

/// [`THREADS`] threads serving batches of `work`.
fn serving<I, O, F>(name: &str, db: Db, work: F, committed: Committed<O>) -> Batches<I, O>
where
    I: Send + 'static,
    O: Send + 'static,
    F: Fn(&mut AnyConnection, &[I]) -> Result<Vec<O>, DbError> + Send + Sync + 'static,
{
    let work: Box<Work<I, O>> = Box::new(work);
    Batches::start(name, THREADS, MAX_BATCH, move |inputs| {
        serve(&db, &*work, inputs, committed)
    })
}

/// A batch in one transaction; when it fails for another reason than the
/// pool, its runs one by one, so a bad run fails alone. Answers note when
/// their transaction had committed.
fn serve<I, O>(
    db: &Db,
    work: &Work<I, O>,
    inputs: Vec<I>,
    committed: Committed<O>,
) -> Vec<Result<O, DbError>> {
    let run_noted = |inputs: &[I]| {
        run(db, work, inputs).map(|mut outputs| {
            let at = Instant::now();
            for o in &mut outputs {
                committed(o, at);
            }
            outputs
        })
    };
    match run_noted(&inputs) {
        Ok(outputs) => outputs.into_iter().map(Ok).collect(),
        Err(e) if inputs.len() > 1 && !matches!(e, DbError::Pool(_)) => {
            tracing::warn!(error = %e, runs = inputs.len(), "job batch failed; trying its runs one by one");
            inputs
                .iter()
                .map(|input| {
                    run_noted(std::slice::from_ref(input))
                        .map(|mut v| v.pop().expect("one answer per input"))
                })
                .collect()
        }
        Err(e) => inputs.iter().map(|_| Err(e.clone())).collect(),
    }
}

/// One batch in its transaction, retried whole on a lock conflict.
fn run<I, O>(db: &Db, work: &Work<I, O>, inputs: &[I]) -> Result<Vec<O>, DbError> {
    let policy = RetryPolicy::default();
    let mut n = 0u32;
    loop {
        let r = jobs::run_batch(db, |c| work(c, inputs));
        match r {
            Err(e) if e.is_retryable() && n < policy.retries => {
                tracing::debug!(attempt = n + 1, error = %e, "job batch hit a lock conflict; retrying");
                std::thread::sleep(policy.backoff.saturating_mul(1u32 << n.min(16)) / 4);
                n += 1;
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tricircle_db::testing::each_backend;

    /// Leases note when their claim committed, whether taken by a claim or
    /// by a finish that claims the next run: the jobs' reads are fresh
    /// from then on (`JobCalls::since`). The rows a lease serves are named
    /// as they were recorded, so a row this process recorded is known
    /// (`recorded`) on every backend.
    #[test]
    fn leases_note_when_their_claim_committed() {
        each_backend(|t| async move {
            let batcher = Batcher::start(t.db.clone(), Duration::from_secs(60));
            let record = |db: Db| async move {
                let at = Instant::now();
                let job = db
                    .run(|c| jobs::new_job(c, "proj", "configure_route", "r1"))
                    .await
                    .unwrap();
                crate::recorded::noted(&job.id, at);
                at
            };
            let recorded_at = record(t.db.clone()).await;
            let before = Instant::now();
            let claim = Claim {
                job_type: "configure_route".into(),
                resource_id: "r1".into(),
            };
            let Claimed::Run(lease) = batcher.claim(claim).await.unwrap() else {
                panic!("{}: not claimed", t.backend);
            };
            let at = lease.claimed_at.expect("the claim's commit is noted");
            assert!(before <= at && at <= Instant::now(), "{}", t.backend);
            assert_eq!(
                crate::recorded::latest(&lease.seen).map(|c| c.before),
                Some(recorded_at),
                "{}",
                t.backend
            );
            let recorded_at = record(t.db.clone()).await;
            let finish = Finish {
                lease,
                success: true,
                reason: None,
                then_claim: true,
            };
            let Finished::Recorded {
                next: Some(Claimed::Run(next)),
            } = batcher.finish(finish).await.unwrap()
            else {
                panic!("{}: the next run was not claimed", t.backend);
            };
            let next_at = next.claimed_at.expect("the finish's commit is noted");
            assert!(at <= next_at && next_at <= Instant::now(), "{}", t.backend);
            assert_eq!(
                crate::recorded::latest(&next.seen).map(|c| c.before),
                Some(recorded_at),
                "{}",
                t.backend
            );
        });
    }
}
