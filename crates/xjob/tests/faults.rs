//! Faults at process level: real xjob processes (the `xjob-testbed` binary:
//! the production service wiring with a test handler) on a shared database,
//! killed, competing for one resource, losing their broker. Assertions are
//! on rows and counts; waits poll with generous deadlines.
//!
//! The tests share the test broker (queue `xjob` on exchange `openstack`),
//! so they run one at a time; a cast meant for another test's database only
//! finds no job there and is ignored.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use diesel::prelude::*;
use serde_json::{json, Map, Value};
use tricircle_db::jobs::{self, JobStatus};
use tricircle_db::schema::{async_job_logs, async_jobs};
use tricircle_db::testing::{backends_under_test, TestDb};
use tricircle_db::{Backend, Db};
use tricircle_jobs::JobType;
use tricircle_rpc::{Publisher, RpcConfig, TOPIC_XJOB};

const CONFIGURE_ROUTE: &str = JobType::ConfigureRoute.name();

const TESTBED: &str = env!("CARGO_BIN_EXE_xjob-testbed");
mod common;

const PROJECT: &str = "project-faults";
/// Every wait is bounded by this (or more for long scenarios); reaching it
/// fails the test with the processes' logs.
const DEADLINE: Duration = Duration::from_secs(90);

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

/// The broker URL as configuration text (the test fails, naming what to
/// start, when it is not set).
fn broker() -> String {
    tricircle_rpc::testing::rabbit_url();
    std::env::var(tricircle_rpc::testing::RABBIT_ENV).unwrap()
}

fn write_conf(dir: &Path, name: &str, db: &TestDb, bus: Option<&str>, extra: &str) -> PathBuf {
    let path = dir.join(format!("{name}.conf"));
    let bus = bus
        .map(|u| format!("transport_url = {u}\n"))
        .unwrap_or_default();
    // Short expiry and periods so take-overs and redos happen within
    // seconds; no fuzzy delay so the periodic task starts at once.
    std::fs::write(
        &path,
        format!(
            "[DEFAULT]\ntricircle_db_connection = {url}\nhost = {name}\n{bus}\
             job_run_expire = 5\nworker_sleep_time = 0.01\nperiodic_interval = 1\n\
             periodic_fuzzy_delay = 0\nredo_time_span = 3600\nreport_interval = 1\n{extra}",
            url = db.url,
        ),
    )
    .unwrap();
    path
}

/// A testbed process, SIGKILLed (if still running) when dropped, so a
/// failing test leaves nothing behind.
struct Xjob {
    name: String,
    child: Child,
    log: PathBuf,
}

impl Xjob {
    fn start(dir: &Path, conf: &Path, name: &str, args: &[&str]) -> Xjob {
        let log = dir.join(format!("{name}.log"));
        let child = Command::new(TESTBED)
            .arg("--config-file")
            .arg(conf)
            .args(args)
            .env("RUST_LOG", "info,tricircle_jobs=debug")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Xjob {
            name: name.into(),
            child,
            log,
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn log_text(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(60).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        format!(
            "--- {} (pid {}) ---\n{}",
            self.name,
            self.pid(),
            tail.join("\n")
        )
    }

    /// Fail when it exited on its own (a start-up error).
    fn assert_running(&mut self) {
        if let Some(status) = self.child.try_wait().unwrap() {
            panic!("{} exited with {status}\n{}", self.name, self.log_text());
        }
    }
}

impl Drop for Xjob {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Poll `done` until true; on the deadline, panic with `what` and the logs.
fn wait_until(
    what: &str,
    within: Duration,
    procs: &mut [&mut Xjob],
    mut done: impl FnMut() -> bool,
) {
    let deadline = Instant::now() + within;
    loop {
        if done() {
            return;
        }
        for p in procs.iter_mut() {
            p.assert_running();
        }
        if Instant::now() > deadline {
            let logs: Vec<String> = procs.iter().map(|p| p.log_text()).collect();
            panic!("timed out waiting for {what}\n{}", logs.join("\n"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A fresh database of `backend` and a temporary directory for the
/// processes' files: (database, directory, the handlers' run record).
fn case(backend: Backend) -> (TestDb, tempfile::TempDir, PathBuf) {
    let db = TestDb::synced(backend).expect("backend under test");
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("runs.txt");
    (db, dir, record)
}

/// A router id of its own, so that runs never meet earlier ones' rows.
fn new_router() -> String {
    format!("router-{}", uuid::Uuid::new_v4().simple())
}

fn new_job(db: &Db, resource: &str) -> String {
    let mut c = db.get().unwrap();
    jobs::new_job(&mut c, PROJECT, CONFIGURE_ROUTE, resource)
        .unwrap()
        .id
}

/// (id, status) of the resource's rows in async_jobs.
fn open_rows(db: &Db, resource: &str) -> Vec<(String, String)> {
    let mut c = db.get().unwrap();
    async_jobs::table
        .filter(async_jobs::resource_id.eq(resource))
        .select((async_jobs::id, async_jobs::status))
        .load::<(String, Option<String>)>(&mut *c)
        .unwrap()
        .into_iter()
        .map(|(id, s)| (id, s.unwrap_or_default()))
        .collect()
}

fn logged(db: &Db, resource: &str) -> i64 {
    let mut c = db.get().unwrap();
    async_job_logs::table
        .filter(async_job_logs::resource_id.eq(resource))
        .filter(async_job_logs::job_type.eq(CONFIGURE_ROUTE))
        .count()
        .get_result(&mut *c)
        .unwrap()
}

/// Every job of the resource ended SUCCESS: nothing NEW, RUNNING or FAIL is
/// left, and a success row is in the log.
fn all_done(db: &Db, resource: &str) -> bool {
    open_rows(db, resource).is_empty() && logged(db, resource) > 0
}

/// One line of a `--record` file.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Event {
    start: bool,
    pid: u32,
    resource: String,
    ok: Option<bool>,
}

fn read_record(path: &Path) -> Vec<Event> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            Event {
                start: f[0] == "start",
                pid: f[1].parse().unwrap(),
                resource: f[2].to_owned(),
                ok: f.get(4).map(|o| *o == "ok"),
            }
        })
        .collect()
}

/// Lines are in the order the events happened (one O_APPEND write each):
/// per resource, a run must end before the next one starts.
fn assert_no_overlap(events: &[Event]) {
    let mut running: HashMap<&str, u32> = HashMap::new();
    for (i, e) in events.iter().enumerate() {
        if e.start {
            if let Some(other) = running.insert(&e.resource, e.pid) {
                panic!(
                    "line {}: pid {} started {} while pid {other} was running it: {events:#?}",
                    i + 1,
                    e.pid,
                    e.resource
                );
            }
        } else {
            assert_eq!(
                running.remove(e.resource.as_str()),
                Some(e.pid),
                "line {}: end without its start: {events:#?}",
                i + 1
            );
        }
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn cast_context() -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("request_id".into(), json!("req-faults"));
    m.insert("project_id".into(), json!(PROJECT));
    m
}

#[test]
#[cfg_attr(
    not(tricircle_rabbit),
    ignore = "needs RabbitMQ: set TRICIRCLE_TEST_RABBIT_URL (scripts/test starts one)"
)]
fn two_processes_never_run_one_resource_concurrently() {
    let _serial = serial();
    let bus = broker();
    let rt = runtime();
    let publisher = Publisher::new(RpcConfig::new(
        tricircle_rpc::TransportUrl::parse(&bus).unwrap(),
    ));
    for backend in backends_under_test() {
        let (db, dir, record) = case(backend);
        let record_arg = record.to_str().unwrap();
        let args = ["--sleep-ms", "20", "--record", record_arg];
        let conf_a = write_conf(dir.path(), "xjob-a", &db, Some(&bus), "workers = 2\n");
        let conf_b = write_conf(dir.path(), "xjob-b", &db, Some(&bus), "workers = 2\n");
        let mut a = Xjob::start(dir.path(), &conf_a, "xjob-a", &args);
        let mut b = Xjob::start(dir.path(), &conf_b, "xjob-b", &args);

        // Many requests for one router, as fast as a busy plugin sends
        // them; the casts are spread over both consumers of queue `xjob`.
        let router = new_router();
        let mut posted = 0;
        for _ in 0..60 {
            new_job(&db.db, &router);
            posted += 1;
            let args = json!({"payload": {CONFIGURE_ROUTE: router}});
            // A failed cast is still a NEW row, redone by the periodic task.
            let _ =
                rt.block_on(publisher.cast(TOPIC_XJOB, &cast_context(), "configure_route", args));
            std::thread::sleep(Duration::from_millis(10));
        }
        wait_until(
            &format!("{backend}: every job on {router} done"),
            DEADLINE,
            &mut [&mut a, &mut b],
            || all_done(&db.db, &router),
        );
        let events = read_record(&record);
        assert_no_overlap(&events);
        let runs = events.iter().filter(|e| e.start).count();
        assert!((1..=posted).contains(&runs), "{backend}: {runs} runs");
        assert!(events.iter().all(|e| e.start || e.ok == Some(true)));
        let by_a = events
            .iter()
            .filter(|e| e.start && e.pid == a.pid())
            .count();
        eprintln!("{backend}: {posted} jobs, {runs} runs ({by_a} by xjob-a)");
        assert!(open_rows(&db.db, &router).is_empty());
        assert!(logged(&db.db, &router) >= 1);
    }
}

#[test]
fn a_killed_worker_s_job_is_taken_over_after_expiry() {
    let _serial = serial();
    for backend in backends_under_test() {
        let (db, dir, record) = case(backend);
        let record_arg = record.to_str().unwrap();
        // No broker: the periodic task starts the jobs. One worker, so the
        // victim's own periodic task (blocked on the slot) cannot take its
        // lock over before it is killed.
        let conf_a = write_conf(dir.path(), "victim", &db, None, "workers = 1\n");
        let conf_b = write_conf(dir.path(), "survivor", &db, None, "workers = 1\n");
        let mut victim = Xjob::start(
            dir.path(),
            &conf_a,
            "victim",
            &["--no-bus", "--sleep-ms", "600000", "--record", record_arg],
        );
        let router = new_router();
        new_job(&db.db, &router);
        let pid = victim.pid();
        wait_until(
            &format!("{backend}: the victim runs the job"),
            DEADLINE,
            &mut [&mut victim],
            || read_record(&record).iter().any(|e| e.start && e.pid == pid),
        );
        let lock: Vec<String> = open_rows(&db.db, &router)
            .into_iter()
            .filter(|(_, s)| s == JobStatus::Running.as_stored())
            .map(|(id, _)| id)
            .collect();
        assert_eq!(lock.len(), 1, "{backend}: one RUNNING lock row");

        // A second request for the router while the first runs. Its NEW row
        // must be newer than the lock row for the periodic task to see the
        // resource as pending: MySQL stores whole seconds.
        std::thread::sleep(Duration::from_millis(1100));
        new_job(&db.db, &router);
        victim.kill9();
        let rows = open_rows(&db.db, &router);
        assert!(
            rows.contains(&(lock[0].clone(), JobStatus::Running.as_stored().to_owned())),
            "{backend}: the dead worker's RUNNING row stays: {rows:?}"
        );

        let mut survivor = Xjob::start(
            dir.path(),
            &conf_b,
            "survivor",
            &["--no-bus", "--record", record_arg],
        );
        wait_until(
            &format!("{backend}: the survivor finishes the job"),
            DEADLINE,
            &mut [&mut survivor],
            || all_done(&db.db, &router),
        );
        let events = read_record(&record);
        let survivor_runs: Vec<&Event> =
            events.iter().filter(|e| e.pid == survivor.pid()).collect();
        assert_eq!(
            survivor_runs.len(),
            2,
            "{backend}: one run by the survivor: {events:?}"
        );
        assert_eq!(survivor_runs[1].ok, Some(true));
        assert_eq!(
            events.iter().filter(|e| e.pid == pid).count(),
            1,
            "{backend}: the victim never finished: {events:?}"
        );
        assert_eq!(logged(&db.db, &router), 1);
    }
}

#[test]
fn a_failing_handler_is_redone_by_the_periodic_task_until_success() {
    let _serial = serial();
    for backend in backends_under_test() {
        let (db, dir, record) = case(backend);
        let record_arg = record.to_str().unwrap();
        let conf = write_conf(dir.path(), "xjob", &db, None, "workers = 1\n");
        let mut xjob = Xjob::start(
            dir.path(),
            &conf,
            "xjob",
            &["--no-bus", "--fail-first", "2", "--record", record_arg],
        );
        let router = new_router();
        new_job(&db.db, &router);
        // Each FAIL row stays until the next periodic run (1 s): collect the
        // distinct ones seen.
        let mut failed = BTreeSet::new();
        wait_until(
            &format!("{backend}: success after two failures"),
            DEADLINE,
            &mut [&mut xjob],
            || {
                let rows = open_rows(&db.db, &router);
                failed.extend(
                    rows.iter()
                        .filter(|(_, s)| s == JobStatus::Fail.as_stored())
                        .map(|(id, _)| id.clone()),
                );
                rows.is_empty() && logged(&db.db, &router) > 0
            },
        );
        assert_eq!(failed.len(), 2, "{backend}: two FAIL rows seen: {failed:?}");
        let outcomes: Vec<Option<bool>> = read_record(&record)
            .into_iter()
            .filter(|e| !e.start)
            .map(|e| e.ok)
            .collect();
        assert_eq!(
            outcomes,
            [Some(false), Some(false), Some(true)],
            "{backend}"
        );
        assert_eq!(logged(&db.db, &router), 1);
    }
}

async fn posts_survive_a_broker_restart(db: TestDb, bus: String, restart: String) {
    let backend = db.backend;
    let dir = tempfile::tempdir().unwrap();
    let conf = write_conf(dir.path(), "xjob", &db, Some(&bus), "workers = 2\n");
    let mut xjob = Xjob::start(dir.path(), &conf, "xjob", &[]);

    let mut rpc = RpcConfig::new(tricircle_rpc::TransportUrl::parse(&bus).unwrap());
    rpc.cast_timeout = Duration::from_secs(2);
    let (base, api) = common::start_api(&db.db, rpc);

    // One router per request, posted every 500 ms from before the restart
    // until after it: those posted while the broker is away lose their
    // cast and are found by the periodic task.
    let http = reqwest::Client::new();
    let mut routers = Vec::new();
    let mut restarter: Option<std::thread::JoinHandle<std::process::ExitStatus>> = None;
    let mut after_restart = 0;
    while after_restart < 4 && routers.len() < 80 {
        let router = new_router();
        common::seed_router(&db.db, &router, PROJECT);
        let (status, _) = common::post_job(&http, &base, &router, PROJECT).await;
        assert_eq!(
            status, 200,
            "{backend}: the API answers while the broker restarts"
        );
        routers.push(router);
        if routers.len() == 3 {
            let restart = restart.clone();
            restarter = Some(std::thread::spawn(move || {
                Command::new(&restart)
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .unwrap()
            }));
        }
        if restarter.as_ref().is_some_and(|t| t.is_finished()) {
            after_restart += 1;
        }
        actix_web::rt::time::sleep(Duration::from_millis(500)).await;
    }
    let status = restarter.unwrap().join().unwrap();
    assert!(status.success(), "broker restart failed: {status}");
    let posted_done = routers.iter().filter(|r| all_done(&db.db, r)).count();

    // Generous: the periodic task redoes one resource per second.
    let within = DEADLINE + Duration::from_secs(2 * routers.len() as u64);
    let deadline = Instant::now() + within;
    loop {
        xjob.assert_running();
        let pending: Vec<&String> = routers.iter().filter(|r| !all_done(&db.db, r)).collect();
        if pending.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{backend}: {} of {} routers never succeeded\n{}",
            pending.len(),
            routers.len(),
            xjob.log_text()
        );
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!(
        "{backend}: {} routers posted, {posted_done} done when posting ended",
        routers.len()
    );
    for r in &routers {
        assert!(open_rows(&db.db, r).is_empty());
        assert_eq!(logged(&db.db, r), 1, "{backend}: one success per router");
    }
    api.stop(true).await;
}

#[test]
#[cfg_attr(
    not(all(tricircle_rabbit, tricircle_rabbit_restart)),
    ignore = "needs a RabbitMQ it can restart: set TRICIRCLE_TEST_RABBIT_URL and TRICIRCLE_TEST_RABBIT_RESTART (scripts/test starts one)"
)]
fn no_job_is_lost_when_the_broker_restarts_while_posting() {
    let _serial = serial();
    let bus = broker();
    let restart = tricircle_rpc::testing::restart_command();
    for backend in backends_under_test() {
        let db = TestDb::synced(backend).expect("backend under test");
        actix_web::rt::System::new().block_on(posts_survive_a_broker_restart(
            db,
            bus.clone(),
            restart.clone(),
        ));
    }
}

#[test]
#[should_panic(expected = "while pid 1 was running it")]
fn the_overlap_check_catches_concurrent_runs() {
    let ev = |start, pid| Event {
        start,
        pid,
        resource: "r".into(),
        ok: (!start).then_some(true),
    };
    assert_no_overlap(&[ev(true, 1), ev(false, 1), ev(true, 1), ev(true, 2)]);
}

#[test]
fn without_a_broker_new_jobs_are_picked_up_from_the_database() {
    let _serial = serial();
    for backend in backends_under_test() {
        let (db, dir, record) = case(backend);
        // No broker option at all, and no periodic task: only the poll of
        // the jobs table can start a job.
        let conf = write_conf(dir.path(), "poller", &db, None, "periodic_enable = false\n");
        let mut xjob = Xjob::start(
            dir.path(),
            &conf,
            "poller",
            &["--record", record.to_str().unwrap()],
        );
        let router = new_router();
        new_job(&db.db, &router);
        wait_until(
            &format!("{backend}: the NEW job, written by nobody but the test, runs"),
            DEADLINE,
            &mut [&mut xjob],
            || all_done(&db.db, &router),
        );
        assert_eq!(logged(&db.db, &router), 1, "{backend}");
        // A later job for the same resource is queued again, once: MySQL
        // stores whole seconds, so it must be a second newer to be newer.
        std::thread::sleep(Duration::from_millis(1100));
        new_job(&db.db, &router);
        wait_until(
            &format!("{backend}: the second job runs"),
            DEADLINE,
            &mut [&mut xjob],
            || logged(&db.db, &router) == 2 && open_rows(&db.db, &router).is_empty(),
        );
        xjob.assert_running();
        let log = std::fs::read_to_string(&xjob.log).unwrap();
        assert!(
            log.contains("no message bus configured")
                && log.contains("picked up from the database"),
            "{backend}: the start-up line names the mode:\n{log}"
        );
        assert!(!log.contains("consuming casts"), "{backend}: {log}");
        let runs: Vec<Event> = read_record(&record)
            .into_iter()
            .filter(|e| e.start)
            .collect();
        assert_eq!(runs.len(), 2, "{backend}: one run per job: {runs:?}");
    }
}
