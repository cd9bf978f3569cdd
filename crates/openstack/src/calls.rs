//! What the Neutron calls cost: a process-wide count per region, job type
//! and method ([`CallStats`], a plain snapshot a metrics exporter can
//! read), and the job a call is made for ([`JobCalls`], carried as a
//! task-local so handlers need not thread it through every helper).
//!
//! A job's scope also holds what the job read: a GET it repeats is
//! answered from the scope, until the job writes to that region (so
//! nothing it reads back after its own change is stale). Jobs are short
//! and idempotent; a change another worker makes meanwhile is seen at the
//! job's next run, as it would be had the job read it a moment earlier.
//! A list is also answered from a wider list the job read (one whose
//! filters it only narrows, `JobCalls::recall_covered`): a job can read
//! a collection ahead once and its building blocks' narrower lists find
//! their answers there.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde_json::Value;

/// Label of calls made outside any job (event mapping, the sweep, tests).
pub const NO_JOB: &str = "-";

/// What a count is kept under.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CallKey {
    pub region: String,
    /// The job type, or [`NO_JOB`].
    pub job_type: String,
    /// The HTTP method (`GET`, `POST`, `PUT`, `DELETE`).
    pub method: String,
}

/// Neutron requests sent by this process, per region, job type and method.
/// Every HTTP request counts, retries included. Shared by all clients of
/// one [`crate::Clients`].
#[derive(Debug, Default)]
pub struct CallStats {
    counts: Mutex<BTreeMap<CallKey, u64>>,
    /// (region, kind) -> failed calls; kind is `connection` or the status.
    errors: Mutex<BTreeMap<(String, String), u64>>,
}

impl CallStats {
    pub fn new() -> CallStats {
        CallStats::default()
    }

    pub(crate) fn record(&self, region: &str, job_type: &str, method: &str) {
        let key = CallKey {
            region: region.to_owned(),
            job_type: job_type.to_owned(),
            method: method.to_owned(),
        };
        *self
            .counts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(key)
            .or_default() += 1;
    }

    /// Every count so far, in key order.
    /// Count a call to `region` that failed: `kind` is `connection` (no
    /// answer) or the HTTP status it answered.
    pub(crate) fn record_error(&self, region: &str, kind: String) {
        *self
            .errors
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry((region.to_owned(), kind))
            .or_default() += 1;
    }

    /// Failed calls so far: ((region, kind), count).
    pub fn errors_snapshot(&self) -> Vec<((String, String), u64)> {
        self.errors
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect()
    }

    pub fn snapshot(&self) -> Vec<(CallKey, u64)> {
        self.counts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect()
    }
}

/// Whether a method only reads.
pub fn is_read(method: &str) -> bool {
    matches!(method, "GET" | "HEAD")
}

/// Reads and writes one job made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub reads: u64,
    pub writes: u64,
    /// Reads answered from what the job had read already, or from a read
    /// another job running at once sent.
    pub cached: u64,
}

/// A GET as a job's reads know it: (region, path, query).
type ReadKey = (String, String, String);

/// The job the calls of the current task are made for.
#[derive(Debug)]
pub struct JobCalls {
    job_id: String,
    /// `req-<job id>` when the id is a UUID, made once for every call.
    global_request_id: Option<String>,
    job_type: String,
    reads: AtomicU64,
    writes: AtomicU64,
    cached: AtomicU64,
    /// (region, path, query) -> the answer of a GET.
    seen: Mutex<HashMap<ReadKey, Value>>,
    /// (region, path, query) -> held while that GET is on its way, so a
    /// branch of the job asking the same meanwhile waits for its answer
    /// instead of sending it again.
    reading: Mutex<HashMap<ReadKey, Arc<tokio::sync::Mutex<()>>>>,
    /// Whole-attribute lists the job read, for narrower lists to be
    /// answered from.
    lists: Mutex<Vec<SeenList>>,
    /// When the job started, and when it last wrote to each region: reads
    /// other jobs sent since serve it ([`crate::shared_reads`]).
    started: Instant,
    wrote: Mutex<HashMap<String, Instant>>,
    /// Changes the job made besides Neutron writes (the routing table).
    changes: AtomicU64,
}

/// A list GET as the job read it.
#[derive(Debug)]
struct SeenList {
    region: String,
    path: String,
    filters: Vec<(String, String)>,
    body: Value,
}

impl SeenList {
    fn narrowed(&self, query: &[(String, String)]) -> Option<Value> {
        crate::neutron::filters::narrowed(&self.filters, &self.body, query)
    }
}

tokio::task_local! {
    static CURRENT: Arc<JobCalls>;
}

impl JobCalls {
    pub fn new(job_id: impl Into<String>, job_type: impl Into<String>) -> Arc<JobCalls> {
        JobCalls::since(job_id, job_type, Instant::now())
    }

    /// A job serving requests all recorded before `started` (when its
    /// claim committed): reads sent since then serve it.
    pub fn since(
        job_id: impl Into<String>,
        job_type: impl Into<String>,
        started: Instant,
    ) -> Arc<JobCalls> {
        let job_id = job_id.into();
        let global_request_id = uuid::Uuid::try_parse(&job_id)
            .ok()
            .map(|id| format!("req-{}", id.hyphenated()));
        Arc::new(JobCalls {
            job_id,
            global_request_id,
            job_type: job_type.into(),
            reads: AtomicU64::new(0),
            writes: AtomicU64::new(0),
            cached: AtomicU64::new(0),
            seen: Mutex::new(HashMap::new()),
            reading: Mutex::new(HashMap::new()),
            lists: Mutex::new(Vec::new()),
            started,
            wrote: Mutex::new(HashMap::new()),
            changes: AtomicU64::new(0),
        })
    }

    pub fn job_id(&self) -> &str {
        &self.job_id
    }

    pub fn job_type(&self) -> &str {
        &self.job_type
    }

    /// The job's id as an OpenStack global request id (`req-<uuid>`, the
    /// only form oslo.middleware accepts in `X-OpenStack-Request-ID`):
    /// each region's Neutron then logs it beside its own request id, so
    /// a job's calls are found in every region's log by its id. None when
    /// the id is no UUID.
    pub fn global_request_id(&self) -> Option<&str> {
        self.global_request_id.as_deref()
    }

    /// When the job's run started, or its claim committed (its calls all
    /// come after).
    pub fn started(&self) -> Instant {
        self.started
    }

    /// The job changed something other than Neutron (its routing table).
    pub fn note_change(&self) {
        self.changes.fetch_add(1, Ordering::Relaxed);
    }

    /// The changes the job made so far: its Neutron writes and the changes
    /// it noted.
    pub fn changes_made(&self) -> u64 {
        self.writes.load(Ordering::Relaxed) + self.changes.load(Ordering::Relaxed)
    }

    /// Whether the job changed anything: a Neutron write, or a change it
    /// noted.
    pub fn changed_anything(&self) -> bool {
        self.changes_made() > 0
    }

    /// Run `f` with its Neutron calls counted for this job. Futures it
    /// spawns as tasks of their own are not in the scope; joined futures
    /// are.
    pub async fn scope<F: Future>(self: &Arc<Self>, f: F) -> F::Output {
        CURRENT.scope(Arc::clone(self), f).await
    }

    /// The job of the current task, if any.
    pub fn current() -> Option<Arc<JobCalls>> {
        CURRENT.try_with(Arc::clone).ok()
    }

    pub fn tally(&self) -> Tally {
        Tally {
            reads: self.reads.load(Ordering::Relaxed),
            writes: self.writes.load(Ordering::Relaxed),
            cached: self.cached.load(Ordering::Relaxed),
        }
    }

    pub(crate) fn count(&self, method: &str) {
        let c = if is_read(method) {
            &self.reads
        } else {
            &self.writes
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    fn seen(&self) -> std::sync::MutexGuard<'_, HashMap<ReadKey, Value>> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn recall(&self, region: &str, path: &str, query: &str) -> Option<Value> {
        let v = self
            .seen()
            .get(&(region.to_owned(), path.to_owned(), query.to_owned()))
            .cloned();
        if v.is_some() {
            self.cached.fetch_add(1, Ordering::Relaxed);
        }
        v
    }

    /// The turn to read (region, path, query): held by one branch of the
    /// job at a time; the next one then finds the answer with
    /// [`JobCalls::recall`].
    pub(crate) async fn read_turn(
        &self,
        region: &str,
        path: &str,
        query: &str,
    ) -> tokio::sync::OwnedMutexGuard<()> {
        let turn = self
            .reading
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry((region.to_owned(), path.to_owned(), query.to_owned()))
            .or_default()
            .clone();
        turn.lock_owned().await
    }

    pub(crate) fn remember(&self, region: &str, path: &str, query: &str, body: &Value) {
        self.seen().insert(
            (region.to_owned(), path.to_owned(), query.to_owned()),
            body.clone(),
        );
    }

    fn lists(&self) -> std::sync::MutexGuard<'_, Vec<SeenList>> {
        self.lists.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Keep list `path` (a collection) read with `filters`, when it is a
    /// whole answer, for narrower lists to be answered from.
    pub(crate) fn remember_list(
        &self,
        region: &str,
        path: &str,
        filters: &[(String, String)],
        body: &Value,
    ) {
        if !crate::neutron::filters::is_whole_list(path, filters) {
            return;
        }
        self.lists().push(SeenList {
            region: region.to_owned(),
            path: path.to_owned(),
            filters: filters.to_vec(),
            body: body.clone(),
        });
    }

    /// List `path` with `filters` answered from a wider list the job read
    /// in `region` (none after the job wrote there).
    pub(crate) fn recall_covered(
        &self,
        region: &str,
        path: &str,
        filters: &[(String, String)],
    ) -> Option<Value> {
        let v = self
            .lists()
            .iter()
            .filter(|l| l.region == region && l.path == path)
            .find_map(|l| l.narrowed(filters));
        if v.is_some() {
            self.cached.fetch_add(1, Ordering::Relaxed);
        }
        v
    }

    /// A write to `region` is under way, or just done: what was read there
    /// may change.
    pub(crate) fn forget_region(&self, region: &str) {
        self.seen().retain(|(r, _, _), _| r != region);
        self.lists().retain(|l| l.region != region);
        self.wrote
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(region.to_owned(), Instant::now());
    }

    /// Another job, which this one waited for, may just have written to
    /// `region`: what this job read there, and reads others sent before
    /// now, no longer serve it.
    pub fn others_wrote(&self, region: &str) {
        self.forget_region(region);
    }

    /// Reads of `region` sent since then are as good as the job's own.
    pub(crate) fn fresh_since(&self, region: &str) -> Instant {
        let wrote = self.wrote.lock().unwrap_or_else(|p| p.into_inner());
        wrote
            .get(region)
            .map_or(self.started, |w| (*w).max(self.started))
    }

    /// A read another job sent answered this one.
    pub(crate) fn count_shared(&self) {
        self.cached.fetch_add(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_count_per_key() {
        let s = CallStats::new();
        s.record("R1", "router_setup", "GET");
        s.record("R1", "router_setup", "GET");
        s.record("R1", NO_JOB, "POST");
        let snap = s.snapshot();
        assert_eq!(snap.len(), 2);
        assert_eq!(snap[0].0.job_type, NO_JOB);
        assert_eq!(snap[0].1, 1);
        assert_eq!(snap[1].1, 2);
    }

    fn pairs(q: &[(&str, &str)]) -> Vec<(String, String)> {
        q.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn ids(v: Option<Value>) -> Option<Vec<String>> {
        let v = v?;
        let items = v["ports"].as_array()?;
        Some(
            items
                .iter()
                .map(|p| p["id"].as_str().unwrap().to_owned())
                .collect(),
        )
    }

    #[test]
    fn a_list_is_answered_from_a_wider_one_only_when_that_holds_all_it_asks() {
        let job = JobCalls::new("j1", "router_setup");
        let ports = serde_json::json!({"ports": [
            {"id": "a", "network_id": "n1", "device_id": "r1", "device_owner": "network:router_interface", "admin_state_up": true, "name": "A"},
            {"id": "b", "network_id": "n2", "device_id": "r1", "device_owner": "network:router_gateway", "admin_state_up": false, "name": "B"},
        ]});
        job.remember_list("R1", "ports", &pairs(&[("device_id", "r1")]), &ports);
        let ask = |q: &[(&str, &str)]| ids(job.recall_covered("R1", "ports", &pairs(q)));
        let some = |v: &[&str]| Some(v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        // Narrower: the same filter plus attributes compared as plain values.
        assert_eq!(ask(&[("device_id", "r1")]), some(&["a", "b"]));
        assert_eq!(
            ask(&[("network_id", "n1"), ("device_id", "r1")]),
            some(&["a"])
        );
        assert_eq!(
            ask(&[
                ("device_id", "r1"),
                ("device_owner", "network:router_interface"),
                ("device_owner", "network:router_interface_distributed")
            ]),
            some(&["a"])
        );
        assert_eq!(
            ask(&[("device_id", "r1"), ("admin_state_up", "False")]),
            some(&["b"])
        );
        assert_eq!(ask(&[("device_id", "r1"), ("network_id", "n3")]), some(&[]));
        assert_eq!(
            ask(&[("device_id", "r1"), ("fields", "id")]),
            some(&["a", "b"])
        );
        // Not held: another router's ports, every port, a wider value set.
        assert_eq!(ask(&[("device_id", "r2")]), None);
        assert_eq!(ask(&[("network_id", "n1")]), None);
        assert_eq!(ask(&[("device_id", "r1"), ("device_id", "r2")]), None);
        // Filters Neutron applies its own way, paging, empty values.
        assert_eq!(ask(&[("device_id", "r1"), ("name", "A")]), None);
        assert_eq!(
            ask(&[("device_id", "r1"), ("fixed_ips", "ip_address=10.0.0.1")]),
            None
        );
        assert_eq!(ask(&[("device_id", "r1"), ("limit", "1")]), None);
        assert_eq!(ask(&[("device_id", "r1"), ("network_id", "")]), None);
        // Another region or collection; a list that was trimmed or paged.
        assert_eq!(
            job.recall_covered("R2", "ports", &pairs(&[("device_id", "r1")])),
            None
        );
        assert_eq!(
            job.recall_covered("R1", "networks", &pairs(&[("device_id", "r1")])),
            None
        );
        job.remember_list(
            "R1",
            "subnets",
            &pairs(&[("fields", "id")]),
            &serde_json::json!({"subnets": []}),
        );
        job.remember_list("R1", "routers/x", &[], &serde_json::json!({"router": {}}));
        assert_eq!(job.recall_covered("R1", "subnets", &[]), None);
        // A name filter covers the same name, not a narrower local test.
        job.remember_list(
            "R1",
            "networks",
            &pairs(&[("name", "bridge")]),
            &serde_json::json!({"networks": [{"id": "n9"}]}),
        );
        assert!(job
            .recall_covered("R1", "networks", &pairs(&[("name", "bridge")]))
            .is_some());
        // A write to the region: nothing read there answers any more.
        job.forget_region("R1");
        assert_eq!(ask(&[("device_id", "r1")]), None);
    }

    #[tokio::test]
    async fn scope_is_seen_inside_only_and_writes_forget_their_region() {
        assert!(JobCalls::current().is_none());
        let job = JobCalls::new("j1", "router_setup");
        job.scope(async {
            let cur = JobCalls::current().unwrap();
            assert_eq!(cur.job_id(), "j1");
            cur.count("GET");
            cur.count("PUT");
            cur.remember("R1", "ports", "", &Value::Bool(true));
            cur.remember("R2", "ports", "", &Value::Bool(false));
            assert_eq!(cur.recall("R1", "ports", ""), Some(Value::Bool(true)));
            assert_eq!(cur.recall("R1", "ports", "name=x"), None);
            cur.forget_region("R1");
            assert_eq!(cur.recall("R1", "ports", ""), None);
            assert_eq!(cur.recall("R2", "ports", ""), Some(Value::Bool(false)));
        })
        .await;
        assert_eq!(
            job.tally(),
            Tally {
                reads: 1,
                writes: 1,
                cached: 2
            }
        );
        assert!(JobCalls::current().is_none());
    }
}
