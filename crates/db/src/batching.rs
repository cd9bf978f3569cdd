//! Requests from many tasks served in batches by threads of their own.
//!
//! Each thread waits for one request, takes whatever else has queued up
//! meanwhile (up to a bound) and answers them all with one call of the
//! serving function: one database round trip, one commit and one thread
//! woken for many requests under load, and a request alone is served at
//! once (nothing waits for a batch to fill). The threads belong to no
//! async runtime, so a runtime that stops (an API worker restarted) cannot
//! take a batch in progress, or the ones after it, with it. They stop when
//! the last handle is dropped.
//!
//! Used by the job intake (`jobs/intake.rs`, job POSTs) and by xjob's
//! claims and finishes (`tricircle_jobs::batcher`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};

use tokio::sync::oneshot;

use crate::DbError;

struct Op<I, O> {
    input: I,
    reply: oneshot::Sender<Result<O, DbError>>,
}

/// Answers one batch: one result per input, in order.
type Serve<I, O> = dyn Fn(Vec<I>) -> Vec<Result<O, DbError>> + Send + Sync;

/// A handle to the serving threads. Cheap to clone.
pub struct Batches<I, O> {
    tx: mpsc::Sender<Op<I, O>>,
    queued: Arc<AtomicUsize>,
}

impl<I, O> Clone for Batches<I, O> {
    fn clone(&self) -> Self {
        Batches {
            tx: self.tx.clone(),
            queued: Arc::clone(&self.queued),
        }
    }
}

impl<I: Send + 'static, O: Send + 'static> Batches<I, O> {
    /// Start `threads` threads named `name`, each serving batches of at
    /// most `max` requests with `serve`.
    ///
    /// # Panics
    /// When the system cannot start a thread.
    pub fn start(
        name: &str,
        threads: usize,
        max: usize,
        serve: impl Fn(Vec<I>) -> Vec<Result<O, DbError>> + Send + Sync + 'static,
    ) -> Batches<I, O> {
        let (tx, rx) = mpsc::channel::<Op<I, O>>();
        let rx = Arc::new(Mutex::new(rx));
        let serve: Arc<Serve<I, O>> = Arc::new(serve);
        let queued = Arc::new(AtomicUsize::new(0));
        for _ in 0..threads.max(1) {
            let (rx, serve, queued) = (Arc::clone(&rx), Arc::clone(&serve), Arc::clone(&queued));
            std::thread::Builder::new()
                .name(name.to_owned())
                .spawn(move || {
                    while let Some(ops) = gather(&rx, max.max(1), &queued) {
                        let (inputs, replies): (Vec<I>, Vec<_>) =
                            ops.into_iter().map(|op| (op.input, op.reply)).unzip();
                        let n = inputs.len();
                        // A panic fails its batch, not the thread: the
                        // requests after it are still served.
                        let served = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                            serve(inputs)
                        }));
                        let mut answers = served.unwrap_or_default().into_iter();
                        for reply in replies {
                            let answer = answers.next().unwrap_or_else(|| {
                                Err(DbError::Other(format!("a batch of {n} requests failed")))
                            });
                            let _ = reply.send(answer);
                        }
                    }
                })
                .expect("cannot start a batch thread");
        }
        Batches { tx, queued }
    }

    /// Queue `input` and wait for its answer.
    pub async fn call(&self, input: I) -> Result<O, DbError> {
        let (reply, answer) = oneshot::channel();
        self.queued.fetch_add(1, Ordering::SeqCst);
        if self.tx.send(Op { input, reply }).is_err() {
            self.queued.fetch_sub(1, Ordering::SeqCst);
            return Err(stopped());
        }
        answer.await.map_err(|_| stopped())?
    }

    /// Requests queued and not yet taken into a batch.
    pub fn queued(&self) -> usize {
        self.queued.load(Ordering::SeqCst)
    }
}

fn stopped() -> DbError {
    DbError::Other("the batch threads have stopped".into())
}

/// The next batch: waits for one request, then takes what else is queued.
/// `None` once every handle is gone.
fn gather<T>(rx: &Mutex<mpsc::Receiver<T>>, max: usize, queued: &AtomicUsize) -> Option<Vec<T>> {
    let rx = rx.lock().unwrap_or_else(|p| p.into_inner());
    let mut ops = vec![rx.recv().ok()?];
    while ops.len() < max {
        match rx.try_recv() {
            Ok(op) => ops.push(op),
            Err(_) => break,
        }
    }
    queued.fetch_sub(ops.len(), Ordering::SeqCst);
    Some(ops)
}
