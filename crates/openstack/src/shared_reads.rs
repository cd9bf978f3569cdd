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

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::watch;

use crate::neutron::filters;

/// Reads kept at most, and for how long: long enough for the jobs of one
/// change, far less than any job's run.
const MAX_READS: usize = 512;
const KEEP: Duration = Duration::from_secs(30);

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
}

/// The recent reads of every job of one set of clients.
#[derive(Debug, Default)]
pub struct SharedReads {
    reads: Mutex<VecDeque<Arc<Read>>>,
}

/// A read this job sends for the others: [`Sending::answered`] gives them
/// its answer; dropped without one, they read for themselves.
pub(crate) struct Sending(watch::Sender<State>);

impl Sending {
    pub(crate) fn answered(self, body: Option<&Value>) {
        let state = match body {
            Some(v) => State::Answered(v.clone()),
            None => State::Failed,
        };
        self.0.send_replace(state);
    }
}

impl Drop for Sending {
    fn drop(&mut self) {
        self.0.send_if_modified(|s| {
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
        while reads
            .front()
            .is_some_and(|r| reads.len() >= MAX_READS || now.duration_since(r.sent) > KEEP)
        {
            reads.pop_front();
        }
        reads.push_back(Arc::new(Read {
            region: region.to_owned(),
            path: path.to_owned(),
            query: query.to_owned(),
            filters: filters.to_vec(),
            sent: now,
            state: rx,
        }));
        Sending(tx)
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
