//! Reads the jobs running at once share. Jobs on one router (its pod jobs,
//! its configure_route) read much the same at about the same time, and a
//! region's server answers one request after another: one read serves
//! them all.
//!
//! Freshness: a job may take the answer of a read that was sent after the
//! job started (its claim committed: [`crate::calls::JobCalls::since`])
//! and after its last write to that region, in flight or answered: it is
//! then what the job's own read would have been had it been sent at that
//! moment. A job's later reads see anything that triggered it (recorded
//! before its claim) and its own writes. Reads older than that are never
//! used; none is kept for long.
//!
//! Memory: the answers kept are bounded by count, age and size (about
//! [`MAX_BYTES`] in all; one answer above [`MAX_ANSWER_BYTES`] is not
//! shared: each job reads it for itself, as without sharing).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::watch;

use crate::neutron::filters;

/// Reads kept at most, and for how long: long enough for the jobs of one
/// change, far less than any job's run.
const MAX_READS: usize = 512;
const KEEP: Duration = Duration::from_secs(30);
/// The answers kept, estimated in memory (a region with very large port
/// lists would otherwise hold tens of MB here for [`KEEP`]).
pub const MAX_BYTES: usize = 32 << 20;
/// Larger answers are not shared.
pub const MAX_ANSWER_BYTES: usize = MAX_BYTES / 4;

/// Where a shared read is: on its way, answered, or failed (each waiting
/// job then reads for itself).
#[derive(Debug, Clone)]
enum State {
    Pending,
    Answered(Value),
    Failed,
}

#[derive(Debug)]
struct Read {
    region: String,
    path: String,
    query: String,
    filters: Vec<(String, String)>,
    sent: Instant,
    state: watch::Receiver<State>,
    /// The answer's estimated size, once answered.
    bytes: AtomicUsize,
}

/// The recent reads of every job of one set of clients.
#[derive(Debug)]
pub struct SharedReads {
    reads: Mutex<VecDeque<Arc<Read>>>,
    max_bytes: usize,
}

impl Default for SharedReads {
    fn default() -> Self {
        SharedReads::with_budget(MAX_BYTES)
    }
}

/// A read this job sends for the others: [`Sending::answered`] gives them
/// its answer; dropped without one, they read for themselves.
pub(crate) struct Sending {
    tx: watch::Sender<State>,
    read: Arc<Read>,
    max_answer: usize,
}

impl Sending {
    pub(crate) fn answered(self, body: Option<&Value>) {
        let state = match body.map(|v| (v, approx_size(v))) {
            Some((v, bytes)) if bytes <= self.max_answer => {
                self.read.bytes.store(bytes, Ordering::Relaxed);
                State::Answered(v.clone())
            }
            _ => State::Failed,
        };
        self.tx.send_replace(state);
    }
}

/// About how much memory `v` holds: its strings, and a word or so per
/// node (a guide for the budget, not an allocator's count).
fn approx_size(v: &Value) -> usize {
    const NODE: usize = 32;
    NODE + match v {
        Value::Null | Value::Bool(_) | Value::Number(_) => 0,
        Value::String(s) => s.len(),
        Value::Array(items) => items.iter().map(approx_size).sum(),
        Value::Object(map) => map.iter().map(|(k, v)| k.len() + approx_size(v)).sum(),
    }
}

impl Drop for Sending {
    fn drop(&mut self) {
        self.tx.send_if_modified(|s| {
            let pending = matches!(s, State::Pending);
            if pending {
                *s = State::Failed;
            }
            pending
        });
    }
}

impl SharedReads {
    pub fn new() -> SharedReads {
        SharedReads::default()
    }

    /// A store keeping answers of about `max_bytes` in all.
    pub fn with_budget(max_bytes: usize) -> SharedReads {
        SharedReads {
            reads: Mutex::default(),
            max_bytes,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Arc<Read>>> {
        self.reads.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The answer to GET `path?query` in `region` from a read sent at or
    /// after `since`: the same read, or a whole list holding it, waited
    /// for when on its way.
    pub(crate) async fn recall(
        &self,
        region: &str,
        path: &str,
        query: &str,
        filters: &[(String, String)],
        since: Instant,
    ) -> Option<Value> {
        let candidates: Vec<(bool, Arc<Read>)> = self
            .lock()
            .iter()
            .filter(|r| r.region == region && r.path == path && r.sent >= since)
            .filter_map(|r| {
                if r.query == query {
                    Some((true, r.clone()))
                } else if filters::is_whole_list(&r.path, &r.filters)
                    && filters::narrowing(&r.filters, filters).is_some()
                {
                    Some((false, r.clone()))
                } else {
                    None
                }
            })
            .collect();
        for (same, read) in candidates {
            let mut state = read.state.clone();
            let Ok(done) = state.wait_for(|s| !matches!(s, State::Pending)).await else {
                continue;
            };
            let State::Answered(body) = &*done else {
                continue;
            };
            let answer = match same {
                true => Some(body.clone()),
                false => filters::narrowed(&read.filters, body, filters),
            };
            if answer.is_some() {
                return answer;
            }
        }
        None
    }

    /// A read about to be sent, offered to the other jobs.
    pub(crate) fn sending(
        &self,
        region: &str,
        path: &str,
        query: &str,
        filters: &[(String, String)],
    ) -> Sending {
        let (tx, rx) = watch::channel(State::Pending);
        let now = Instant::now();
        let mut reads = self.lock();
        let mut bytes: usize = reads.iter().map(|r| r.bytes.load(Ordering::Relaxed)).sum();
        while let Some(oldest) = reads.front() {
            let full = reads.len() >= MAX_READS || bytes > self.max_bytes;
            if !full && now.duration_since(oldest.sent) <= KEEP {
                break;
            }
            // An answer may have landed since the sum: never below zero.
            bytes = bytes.saturating_sub(oldest.bytes.load(Ordering::Relaxed));
            reads.pop_front();
        }
        let read = Arc::new(Read {
            region: region.to_owned(),
            path: path.to_owned(),
            query: query.to_owned(),
            filters: filters.to_vec(),
            sent: now,
            state: rx,
            bytes: AtomicUsize::new(0),
        });
        reads.push_back(read.clone());
        Sending {
            tx,
            read,
            max_answer: self.max_bytes / 4,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(q: &[(&str, &str)]) -> Vec<(String, String)> {
        q.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[tokio::test]
    async fn a_read_sent_after_a_job_started_answers_it_in_flight_or_done() {
        let shared = SharedReads::new();
        let before = Instant::now();
        let f = pairs(&[("device_id", "r1")]);
        let sending = shared.sending("R1", "ports", "device_id=r1", &f);
        let body = serde_json::json!({"ports": [{"id": "a", "network_id": "n1"}, {"id": "b", "network_id": "n2"}]});
        let narrower = pairs(&[("device_id", "r1"), ("network_id", "n2")]);
        // Two jobs wait for it while it is on its way.
        let waiting = async {
            tokio::join!(
                shared.recall("R1", "ports", "device_id=r1", &f, before),
                shared.recall(
                    "R1",
                    "ports",
                    "device_id=r1&network_id=n2",
                    &narrower,
                    before
                ),
            )
        };
        let answer = async {
            tokio::task::yield_now().await;
            sending.answered(Some(&body));
        };
        let ((same, narrowed), ()) = tokio::join!(waiting, answer);
        assert_eq!(same, Some(body.clone()));
        assert_eq!(
            narrowed,
            Some(serde_json::json!({"ports": [{"id": "b", "network_id": "n2"}]}))
        );
        // A job that started (or wrote there) after it was sent reads again;
        // so does one asking for another region, or what the list lacks.
        let later = Instant::now();
        assert_eq!(
            shared
                .recall("R1", "ports", "device_id=r1", &f, later)
                .await,
            None
        );
        assert_eq!(
            shared
                .recall("R2", "ports", "device_id=r1", &f, before)
                .await,
            None
        );
        let other = pairs(&[("device_id", "r2")]);
        assert_eq!(
            shared
                .recall("R1", "ports", "device_id=r2", &other, before)
                .await,
            None
        );
    }

    #[tokio::test]
    async fn a_read_that_failed_or_was_dropped_answers_nobody() {
        let shared = SharedReads::new();
        let before = Instant::now();
        shared.sending("R1", "routers/x", "", &[]).answered(None);
        assert_eq!(
            shared.recall("R1", "routers/x", "", &[], before).await,
            None
        );
        drop(shared.sending("R1", "routers/y", "", &[]));
        assert_eq!(
            shared.recall("R1", "routers/y", "", &[], before).await,
            None
        );
    }

    /// The answers kept stay within the budget, oldest out first; one too
    /// large for a quarter of it is not shared at all.
    #[tokio::test]
    async fn large_answers_make_room_and_the_largest_are_not_kept() {
        let budget = 4_000;
        let shared = SharedReads::with_budget(budget);
        let before = Instant::now();
        let body = |n: usize| serde_json::json!({"ports": [{"id": "x".repeat(n)}]});
        let answer = |i: usize, n: usize| {
            shared
                .sending("R1", &format!("ports/{i}"), "", &[])
                .answered(Some(&body(n)));
        };
        for i in 0..6 {
            answer(i, 800);
        }
        // Each is about 940: four fit, and the one sent next makes room.
        let kept: usize = shared
            .lock()
            .iter()
            .map(|r| r.bytes.load(Ordering::Relaxed))
            .sum();
        assert!(kept <= budget + 1_100, "{kept}");
        assert_eq!(
            shared.recall("R1", "ports/0", "", &[], before).await,
            None,
            "the oldest made room"
        );
        assert_eq!(
            shared.recall("R1", "ports/5", "", &[], before).await,
            Some(body(800))
        );
        answer(6, budget / 4 + 1);
        assert_eq!(
            shared.recall("R1", "ports/6", "", &[], before).await,
            None,
            "too large to share"
        );
        assert!(approx_size(&body(800)) > 800);
    }

    #[test]
    fn old_reads_make_room() {
        let shared = SharedReads::new();
        for i in 0..MAX_READS + 10 {
            shared
                .sending("R1", &format!("routers/{i}"), "", &[])
                .answered(None);
        }
        assert_eq!(shared.lock().len(), MAX_READS);
        assert_eq!(shared.lock().front().unwrap().path, "routers/10");
    }
}
