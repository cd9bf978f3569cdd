//! The real `tricircle-xjob` binary: start-up, systemd notifications,
//! SIGTERM and configuration errors. (Job handling is tested in-process in
//! crates/jobs and crates/xjob, where tests can register handlers.)

use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use tricircle_db::{Db, PoolOptions};

const BIN: &str = env!("CARGO_BIN_EXE_tricircle-xjob");

/// The `[client]` options xjob needs to start (nothing is asked of
/// Keystone until a job runs).
const CLIENT: &str = "[client]\nauth_url = http://127.0.0.1:1/identity\n\
    admin_username = admin\nadmin_password = secret\nadmin_tenant = admin\n";

fn write_config(dir: &Path, db_path: &Path, extra: &str) -> std::path::PathBuf {
    let conf = dir.join("xjob.conf");
    std::fs::write(
        &conf,
        format!(
            "[DEFAULT]\ntricircle_db_connection = sqlite:///{}\n\
             periodic_fuzzy_delay = 0\nworker_sleep_time = 0.01\n{extra}\n{client}",
            db_path.display(),
            // A test naming its own clients keeps them.
            client = if extra.contains("[client]") {
                ""
            } else {
                CLIENT
            }
        ),
    )
    .unwrap();
    conf
}

fn synced_db(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("tricircle.db");
    let db = Db::connect(
        &format!("sqlite:///{}", path.display()),
        &PoolOptions::default(),
    )
    .unwrap();
    tricircle_db::migrate::db_sync(&db).unwrap();
    path
}

/// Wait for the child, killing it (and failing) after a generous deadline.
fn wait_exit(child: &mut Child) -> ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("tricircle-xjob did not exit");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Read notifications until one equals or starts with `want`.
fn expect_notification(sock: &UnixDatagram, want: &str) -> Vec<String> {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = sock
            .recv(&mut buf)
            .unwrap_or_else(|e| panic!("no {want:?} notification ({e}); got {seen:?}"));
        let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
        let hit = msg.lines().any(|l| l == want);
        seen.push(msg);
        if hit {
            return seen;
        }
    }
}

#[test]
fn notifies_systemd_and_exits_zero_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let db = synced_db(dir.path());
    let conf = write_config(dir.path(), &db, "");
    let sock_path = dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let log = std::fs::File::create(dir.path().join("stderr.log")).unwrap();
    let mut child = Command::new(BIN)
        .arg("--config-file")
        .arg(&conf)
        .env("NOTIFY_SOCKET", &sock_path)
        .env("WATCHDOG_USEC", "100000")
        .env_remove("WATCHDOG_PID")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();

    expect_notification(&sock, "READY=1");
    expect_notification(&sock, "WATCHDOG=1");
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    expect_notification(&sock, "STOPPING=1");
    let status = wait_exit(&mut child);
    let stderr = std::fs::read_to_string(dir.path().join("stderr.log")).unwrap();
    assert!(status.success(), "{status}: {stderr}");
}

#[test]
fn a_bad_option_value_is_one_line_naming_file_section_and_option() {
    let dir = tempfile::tempdir().unwrap();
    let db = synced_db(dir.path());
    let conf = write_config(dir.path(), &db, "workers = many\n");
    let out = Command::new(BIN)
        .arg("--config-file")
        .arg(&conf)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    let line = lines[0];
    assert!(line.contains(&conf.display().to_string()), "{line}");
    assert!(line.contains("[DEFAULT]"), "{line}");
    assert!(line.contains("workers"), "{line}");
    assert!(line.contains("many"), "{line}");
}

#[test]
fn a_database_without_schema_fails_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let conf = write_config(dir.path(), &dir.path().join("empty.db"), "");
    let mut child = Command::new(BIN)
        .arg("--config-file")
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = wait_exit(&mut child);
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(!status.success());
    let last = stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("ERROR:") && last.contains("database"),
        "{stderr}"
    );
}

/// Start-up errors of stock mode's event path: each one line naming the
/// option, and xjob exits non-zero.
#[test]
fn notification_options_are_checked_at_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let db = synced_db(dir.path());
    for (extra, wants) in [
        (
            "[xjob]\nstock_neutron = true\nnotification_regions = RegionOne\n",
            &["[notifications_RegionOne]"][..],
        ),
        (
            "[xjob]\nstock_neutron = true\nnotification_regions = RegionOne\n\
             [notifications_RegionOne]\ntransport_url = http://mq:5672/\n",
            &["[notifications_RegionOne] transport_url", "rabbit"][..],
        ),
    ] {
        let conf = write_config(dir.path(), &db, extra);
        let out = Command::new(BIN)
            .arg("--config-file")
            .arg(&conf)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{extra}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let last = stderr
            .lines()
            .rfind(|l| !l.trim().is_empty())
            .unwrap_or_default();
        for want in wants {
            assert!(last.contains(want), "{want:?} not in {stderr}");
        }
    }
}

/// The last non-empty stderr line of a run of xjob on `conf` that must fail.
fn failed_start(conf: &Path) -> String {
    let out = Command::new(BIN)
        .arg("--config-file")
        .arg(conf)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "{stderr}");
    stderr
        .lines()
        .rfind(|l| !l.trim().is_empty())
        .unwrap_or_default()
        .to_owned()
}

/// Issue 10, point 6: xjob refuses to start (instead of telling systemd it
/// is ready) without usable [client] options, on a missing SQLite file
/// (which it does not create) and on a server that never answers.
#[test]
fn refuses_to_start_without_clients_or_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = synced_db(dir.path());
    let conf = dir.path().join("no-client.conf");
    std::fs::write(
        &conf,
        format!(
            "[DEFAULT]\ntricircle_db_connection = sqlite:///{}\n",
            db.display()
        ),
    )
    .unwrap();
    let line = failed_start(&conf);
    assert!(line.contains("[client] admin_username"), "{line}");

    let missing = dir.path().join("missing.db");
    let conf = write_config(dir.path(), &missing, "");
    let line = failed_start(&conf);
    assert!(
        line.contains("does not exist") && line.contains("db_sync"),
        "{line}"
    );
    assert!(!missing.exists(), "an empty database file was created");

    let conf = dir.path().join("unreachable.conf");
    std::fs::write(
        &conf,
        format!(
            "[DEFAULT]\ntricircle_db_connection = mysql://u:pw@127.0.0.1:1/tricircle\n\
             [database]\nmax_retries = 1\nretry_interval = 0\n{CLIENT}"
        ),
    )
    .unwrap();
    let line = failed_start(&conf);
    assert!(line.contains("unreachable after 2 attempt(s)"), "{line}");
    assert!(!line.contains(":pw@"), "the password is shown: {line}");
}

/// Stock mode with `[xjob] reconcile_interval`: the daemon sweeps soon
/// after start-up (here a network hinted to RegionOne's zone has no copy
/// there: the sweep records its network_setup) and SIGTERM still stops it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stock_mode_sweeps_soon_after_start_up() {
    let cloud = tricircle_fakecloud::FakeCloud::builder()
        .region("CentralRegion")
        .region("RegionOne")
        .admin("tricircle", "Adm1n-Secret-pw", "service")
        .build()
        .await;
    cloud.neutron("CentralRegion").add_availability_zone("az1");
    let dir = tempfile::tempdir().unwrap();
    let db_path = synced_db(dir.path());
    let db = Db::connect(
        &format!("sqlite:///{}", db_path.display()),
        &PoolOptions::default(),
    )
    .unwrap();
    tricircle_db::testing::create_pods(
        &db,
        &[
            ("pod-top", "CentralRegion", ""),
            ("pod-1", "RegionOne", "az1"),
        ],
    )
    .await;
    let conf = write_config(
        dir.path(),
        &db_path,
        &format!(
            "{}auto_refresh_endpoint = true\ntop_region_name = CentralRegion\n\
             [xjob]\nstock_neutron = true\nreconcile_interval = 1\n",
            cloud.admin().client_section()
        ),
    );
    // The tenant's network, through the central Neutron as xjob sees it.
    let (config, _) = tricircle_config::Config::load(std::slice::from_ref(&conf)).unwrap();
    let net = tricircle_jobs::network::NetworkContext::from_config(&config, db.clone()).unwrap();
    net.clients.refresh_endpoints().await.unwrap();
    let t_net = net
        .clients
        .neutron("CentralRegion")
        .request(
            tricircle_openstack::neutron::Method::POST,
            "networks",
            &[],
            Some(
                &serde_json::json!({"network": {"name": "net1", "tenant_id": "p1",
                "availability_zone_hints": ["az1"]}}),
            ),
        )
        .await
        .unwrap()
        .unwrap();
    let resource = format!("pod-1#{}", t_net["network"]["id"].as_str().unwrap());

    let log = std::fs::File::create(dir.path().join("stderr.log")).unwrap();
    let mut child = Command::new(BIN)
        .arg("--config-file")
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let recorded = loop {
        let r = resource.clone();
        let found = db
            .run(move |c| {
                let live = tricircle_db::jobs::list_jobs(c, &Default::default(), -1, None)?;
                let done =
                    tricircle_db::jobs::list_jobs_from_log(c, &Default::default(), -1, None)?;
                Ok(live.iter().any(|j| {
                    j.job_type.as_deref() == Some("network_setup")
                        && j.resource_id.as_deref() == Some(r.as_str())
                }) || done.iter().any(|j| {
                    j.job_type.as_deref() == Some("network_setup")
                        && j.resource_id.as_deref() == Some(r.as_str())
                }))
            })
            .await
            .unwrap();
        if found || Instant::now() > deadline {
            break found;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = tokio::task::spawn_blocking(move || wait_exit(&mut child))
        .await
        .unwrap();
    let stderr = std::fs::read_to_string(dir.path().join("stderr.log")).unwrap();
    assert!(recorded, "no network_setup {resource} recorded: {stderr}");
    assert!(status.success(), "{status}: {stderr}");
    assert!(stderr.contains("sweep done"), "{stderr}");
}

/// The body of `GET /metrics` on `port`, once it answers.
fn scrape(port: u16) -> Option<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut answer = String::new();
    s.read_to_string(&mut answer).ok()?;
    answer.starts_with("HTTP/1.1 200").then_some(answer)
}

/// The value of the first sample line starting with `series`.
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(series))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

/// `[xjob] metrics_port`: the metrics move as jobs run (a NEW job, taken
/// by the poll of the table or the periodic task, fails: its Keystone is
/// unreachable; the periodic task then redoes it).
#[test]
fn metrics_move_as_jobs_run() {
    let dir = tempfile::tempdir().unwrap();
    let db_path = synced_db(dir.path());
    let db = Db::connect(
        &format!("sqlite:///{}", db_path.display()),
        &PoolOptions::default(),
    )
    .unwrap();
    let mut c = db.get().unwrap();
    tricircle_db::jobs::new_job(&mut c, "proj", "configure_route", "router-1").unwrap();
    drop(c);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let conf = write_config(
        dir.path(),
        &db_path,
        &format!("periodic_interval = 1\n[xjob]\nmetrics_port = {port}\n"),
    );
    let log = std::fs::File::create(dir.path().join("stderr.log")).unwrap();
    let mut child = Command::new(BIN)
        .arg("--config-file")
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let text = loop {
        if let Some(text) = scrape(port) {
            let failed = value(
                &text,
                r#"tricircle_xjob_jobs_total{job_type="configure_route",outcome="fail"}"#,
            );
            let redos = value(&text, "tricircle_xjob_redos_total");
            if failed.is_some_and(|n| n >= 1.0) && redos.is_some_and(|n| n >= 1.0) {
                break text;
            }
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let stderr = std::fs::read_to_string(dir.path().join("stderr.log")).unwrap();
            panic!("no failed run and redo counted: {stderr}");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        value(
            &text,
            r#"tricircle_xjob_job_duration_seconds_count{job_type="configure_route"}"#
        )
        .unwrap()
            >= 1.0,
        "{text}"
    );
    for series in [
        "tricircle_xjob_queue_depth",
        "tricircle_xjob_busy_slots",
        "tricircle_xjob_oldest_new_job_age_seconds",
        "tricircle_xjob_amqp_reconnects_total",
    ] {
        assert!(value(&text, series).is_some(), "{series} missing: {text}");
    }
    // The port is taken now: a second xjob on it refuses to start, naming it.
    let out = Command::new(BIN)
        .arg("--config-file")
        .arg(&conf)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("metrics_port"), "{err}");
    let _ = child.kill();
    let _ = child.wait();
}
