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

use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use tokio::sync::oneshot;
use tricircle_db::jobs::{self, Claim, Claimed, Finish, Finished};
use tricircle_db::{time, AnyConnection, Db, DbError, RetryPolicy};

/// Runs claimed or finished in one transaction at most.
pub const MAX_BATCH: usize = 256;

/// Threads per kind: one transaction runs while the other gathers.
pub const THREADS: usize = 2;

struct Op<I, O> {
    input: I,
    reply: oneshot::Sender<Result<O, DbError>>,
}

/// Cheap to clone; the threads stop when the last clone is dropped.
#[derive(Clone)]
pub(crate) struct Batcher {
    claims: mpsc::Sender<Op<Claim, Claimed>>,
    finishes: mpsc::Sender<Op<Finish, Finished>>,
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
        let (claims, rx) = mpsc::channel();
        spawn("xjob-claims", db.clone(), rx, move |c, batch: &[Claim]| {
            jobs::claim_runs(c, batch, time::now_for(c.backend()), job_run_expire)
        });
        let (finishes, rx) = mpsc::channel();
        spawn("xjob-finishes", db, rx, |c, batch: &[Finish]| {
            jobs::finish_runs(c, batch, time::now_for(c.backend()))
        });
        Batcher { claims, finishes }
    }

    pub(crate) async fn claim(&self, claim: Claim) -> Result<Claimed, DbError> {
        call(&self.claims, claim).await
    }

    pub(crate) async fn finish(&self, finish: Finish) -> Result<Finished, DbError> {
        call(&self.finishes, finish).await
    }
}

async fn call<I, O>(tx: &mpsc::Sender<Op<I, O>>, input: I) -> Result<O, DbError> {
    let (reply, answer) = oneshot::channel();
    tx.send(Op { input, reply })
        .map_err(|_| DbError::Other("the job batcher has stopped".into()))?;
    answer
        .await
        .map_err(|_| DbError::Other("the job batcher has stopped".into()))?
}

/// One batch's work inside its transaction: one answer per input, in order.
type Work<I, O> = dyn Fn(&mut AnyConnection, &[I]) -> Result<Vec<O>, DbError> + Send + Sync;

fn spawn<I, O, F>(name: &str, db: Db, rx: mpsc::Receiver<Op<I, O>>, work: F)
where
    I: Send + 'static,
    O: Send + 'static,
    F: Fn(&mut AnyConnection, &[I]) -> Result<Vec<O>, DbError> + Send + Sync + 'static,
{
    let rx = Arc::new(Mutex::new(rx));
    let work = Arc::new(work);
    for _ in 0..THREADS {
        let (db, rx, work) = (db.clone(), Arc::clone(&rx), Arc::clone(&work));
        std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || serve(&db, &rx, &*work))
            .expect("cannot start a job batcher thread");
    }
}

/// The next batch: waits for one op, then takes what else is queued.
fn gather<I, O>(rx: &Mutex<mpsc::Receiver<Op<I, O>>>) -> Option<Vec<Op<I, O>>> {
    let rx = rx.lock().unwrap_or_else(|p| p.into_inner());
    let mut ops = vec![rx.recv().ok()?];
    while ops.len() < MAX_BATCH {
        match rx.try_recv() {
            Ok(op) => ops.push(op),
            Err(_) => break,
        }
    }
    Some(ops)
}

fn serve<I, O>(db: &Db, rx: &Mutex<mpsc::Receiver<Op<I, O>>>, work: &Work<I, O>) {
    while let Some(ops) = gather(rx) {
        let (inputs, replies): (Vec<I>, Vec<_>) =
            ops.into_iter().map(|op| (op.input, op.reply)).unzip();
        match run(db, work, &inputs) {
            Ok(outputs) => {
                for (reply, out) in replies.into_iter().zip(outputs) {
                    let _ = reply.send(Ok(out));
                }
            }
            Err(e) if inputs.len() > 1 && !matches!(e, DbError::Pool(_)) => {
                tracing::warn!(error = %e, runs = inputs.len(), "job batch failed; trying its runs one by one");
                for (input, reply) in inputs.into_iter().zip(replies) {
                    let r = run(db, work, std::slice::from_ref(&input))
                        .map(|mut v| v.pop().expect("one answer per input"));
                    let _ = reply.send(r);
                }
            }
            Err(e) => {
                for reply in replies {
                    let _ = reply.send(Err(e.clone()));
                }
            }
        }
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
