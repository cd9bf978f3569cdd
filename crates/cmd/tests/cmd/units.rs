//! The install path and the systemd units (etc/tricircle-*.service):
//! `scripts/install` stages the binaries, configuration and units;
//! `systemd-analyze verify` accepts both units; each unit's `ExecStart`
//! line, run as systemd would run it (its binary from the staged install, a
//! test configuration, `$NOTIFY_SOCKET`, `$WATCHDOG_USEC` from
//! `WatchdogSec=`), says READY=1, serves, and on SIGTERM says STOPPING=1
//! and exits 0.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use tricircle_db::{Db, PoolOptions};

const API: &str = env!("CARGO_BIN_EXE_tricircle-api");

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `scripts/install --destdir <dir>` with this build's binaries.
fn staged_install(dir: &Path) -> PathBuf {
    let destdir = dir.join("root");
    let bins = Path::new(API).parent().unwrap();
    let out = Command::new(repo_root().join("scripts/install"))
        .arg("--destdir")
        .arg(&destdir)
        .arg("--binaries")
        .arg(bins)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "scripts/install failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    destdir
}

/// The staged unit's text, its `/usr/bin/` paths pointing into the staged
/// install (systemd-analyze checks that ExecStart's binary exists).
fn staged_unit(destdir: &Path, unit: &str) -> String {
    let text = std::fs::read_to_string(destdir.join("etc/systemd/system").join(unit)).unwrap();
    text.replace(
        "ExecStart=/usr/bin/",
        &format!("ExecStart={}/usr/bin/", destdir.display()),
    )
}

fn unit_value<'a>(unit: &'a str, key: &str) -> &'a str {
    unit.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("no {key}= in the unit:\n{unit}"))
}

#[test]
fn scripts_install_stages_binaries_configs_and_units() {
    let dir = tempfile::tempdir().unwrap();
    let destdir = staged_install(dir.path());
    for bin in [
        "tricircle-api",
        "tricircle-xjob",
        "tricircle-db-manage",
        "tricircle-status",
        "tricircle-gen-samples",
    ] {
        let out = Command::new(destdir.join("usr/bin").join(bin))
            .arg("--help")
            .output()
            .unwrap();
        assert!(out.status.success(), "{bin} --help");
    }
    for conf in ["api.conf", "xjob.conf", "policy.yaml"] {
        let sample = std::fs::read_to_string(repo_root().join(format!("etc/{conf}.sample")));
        let etc = destdir.join("etc/tricircle");
        assert_eq!(
            std::fs::read_to_string(etc.join(format!("{conf}.sample"))).ok(),
            sample.as_ref().ok().cloned()
        );
        assert_eq!(
            std::fs::read_to_string(etc.join(conf)).ok(),
            sample.ok(),
            "{conf} created from its sample"
        );
    }
    for d in ["var/lib/tricircle", "var/log/tricircle"] {
        assert!(destdir.join(d).is_dir(), "{d}");
    }

    // A second run keeps an operator's configuration.
    let api_conf = destdir.join("etc/tricircle/api.conf");
    std::fs::write(&api_conf, "[DEFAULT]\nbind_port = 1234\n").unwrap();
    staged_install(dir.path());
    assert_eq!(
        std::fs::read_to_string(&api_conf).unwrap(),
        "[DEFAULT]\nbind_port = 1234\n"
    );

    // --prefix moves the binaries and the units' ExecStart with them.
    let out = Command::new(repo_root().join("scripts/install"))
        .args(["--prefix", "/opt/tricircle", "--destdir"])
        .arg(dir.path().join("opt"))
        .arg("--binaries")
        .arg(Path::new(API).parent().unwrap())
        .output()
        .unwrap();
    assert!(out.status.success());
    let opt = dir.path().join("opt");
    assert!(opt.join("opt/tricircle/bin/tricircle-xjob").is_file());
    let unit =
        std::fs::read_to_string(opt.join("etc/systemd/system/tricircle-xjob.service")).unwrap();
    assert_eq!(
        unit_value(&unit, "ExecStart"),
        "/opt/tricircle/bin/tricircle-xjob --config-file /etc/tricircle/xjob.conf"
    );
}

#[test]
fn systemd_analyze_verifies_both_units() {
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_err()
    {
        assert!(
            std::env::var_os("TRICIRCLE_TEST_REQUIRE_ALL").is_none(),
            "systemd-analyze is missing (scripts/install-deps installs it)"
        );
        eprintln!("systemd-analyze is missing: the units are not verified");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let destdir = staged_install(dir.path());
    for unit in ["tricircle-api.service", "tricircle-xjob.service"] {
        let path = dir.path().join(unit);
        std::fs::write(&path, staged_unit(&destdir, unit)).unwrap();
        let out = Command::new("systemd-analyze")
            .arg("verify")
            .arg(&path)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        // systemd-analyze exits 0 on unknown keys and bad values, only
        // warning about them; the host's own units may warn too.
        let ours: Vec<&str> = stderr.lines().filter(|l| l.contains(unit)).collect();
        assert!(out.status.success() && ours.is_empty(), "{unit}: {stderr}");
    }

    // The check itself catches a broken unit.
    let bad = dir.path().join("tricircle-api.service");
    let text = staged_unit(&destdir, "tricircle-api.service").replace("Type=notify", "Type=notfy");
    std::fs::write(&bad, text).unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&bad)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("tricircle-api.service"));
}

/// A synced SQLite database and the test's configuration for `unit`.
fn write_config(dir: &Path, unit: &str, port: u16) -> String {
    let db = dir.join("tricircle.db");
    if !db.exists() {
        let pool = Db::connect(
            &format!("sqlite:///{}", db.display()),
            &PoolOptions::default(),
        )
        .unwrap();
        tricircle_db::migrate::db_sync(&pool).unwrap();
    }
    let common = format!(
        "[DEFAULT]\ntricircle_db_connection = sqlite:///{}\n",
        db.display()
    );
    if unit == "tricircle-api.service" {
        format!("{common}auth_strategy = noauth\nbind_host = 127.0.0.1\nbind_port = {port}\n")
    } else {
        // Nothing is asked of Keystone until a job runs.
        // periodic_interval = 1: NEW jobs are picked up from the table.
        format!(
            "{common}periodic_fuzzy_delay = 0\nperiodic_interval = 1\n[client]\nauth_url = http://127.0.0.1:1/identity\n\
             admin_username = admin\nadmin_password = secret\nadmin_tenant = admin\n"
        )
    }
}

/// Runs `unit`'s ExecStart as systemd would: its words split on blanks (the
/// units quote nothing), the staged binary, `/etc/tricircle/` rewritten to
/// the test's configuration directory.
fn spawn_exec_start(
    unit_text: &str,
    etc: &Path,
    notify: &Path,
    stderr: std::fs::File,
) -> (Child, Vec<String>) {
    let line = unit_value(unit_text, "ExecStart");
    let words: Vec<String> = line
        .split_whitespace()
        .map(|w| w.replace("/etc/tricircle/", &format!("{}/", etc.display())))
        .collect();
    let mut cmd = Command::new(&words[0]);
    cmd.args(&words[1..])
        .env("NOTIFY_SOCKET", notify)
        .env_remove("WATCHDOG_USEC")
        .env_remove("WATCHDOG_PID")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr);
    if let Some(sec) = unit_text
        .lines()
        .find_map(|l| l.strip_prefix("WatchdogSec="))
    {
        let usec = sec.trim().parse::<u64>().unwrap() * 1_000_000;
        cmd.env("WATCHDOG_USEC", usec.to_string());
    }
    (cmd.spawn().unwrap(), words)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Read notifications until one line equals `want`.
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

/// One HTTP/1.0 exchange: the status code and the body.
fn http(port: u16, method: &str, path: &str, body: &str) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
         X-Role: admin\r\nX-Tenant-Id: p1\r\nX-User-Id: u1\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("not HTTP: {out:?}"));
    let body = out.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    (status, body.to_owned())
}

fn wait_exit(child: &mut Child) -> ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the daemon did not exit after SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn sigterm(child: &Child) {
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
}

/// One unit started from its ExecStart line.
struct Started {
    child: Child,
    sock: UnixDatagram,
    log: PathBuf,
}

impl Started {
    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

fn start_unit(dir: &Path, destdir: &Path, unit: &str, config: String) -> (Started, Vec<String>) {
    let text = staged_unit(destdir, unit);
    assert_eq!(unit_value(&text, "Type"), "notify", "{unit}");
    let etc = dir.join("etc");
    std::fs::create_dir_all(&etc).unwrap();
    let conf_name = if unit == "tricircle-api.service" {
        "api.conf"
    } else {
        "xjob.conf"
    };
    std::fs::write(etc.join(conf_name), config).unwrap();
    let sock_path = dir.join(format!("{unit}.notify"));
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let log = dir.join(format!("{unit}.log"));
    let (child, words) = spawn_exec_start(
        &text,
        &etc,
        &sock_path,
        std::fs::File::create(&log).unwrap(),
    );
    assert!(
        words[0].starts_with(&destdir.display().to_string()),
        "the staged binary runs: {words:?}"
    );
    assert!(words
        .iter()
        .any(|w| w.ends_with(&format!("etc/{conf_name}"))));
    let started = Started { child, sock, log };
    let seen = expect_notification(&started.sock, "READY=1");
    (started, seen)
}

fn stop_unit(mut started: Started, unit: &str) {
    sigterm(&started.child);
    expect_notification(&started.sock, "STOPPING=1");
    let status = wait_exit(&mut started.child);
    assert!(status.success(), "{unit}: {status}\n{}", started.stderr());
}

#[test]
fn each_units_exec_start_notifies_serves_and_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let destdir = staged_install(dir.path());
    let port = free_port();

    let (api, _) = start_unit(
        dir.path(),
        &destdir,
        "tricircle-api.service",
        write_config(dir.path(), "tricircle-api.service", port),
    );
    // READY means listening: the first request needs no retry.
    let (status, body) = http(
        port,
        "POST",
        "/v1.0/pods",
        r#"{"pod": {"region_name": "CentralRegion"}}"#,
    );
    assert_eq!(status, 200, "{body}\n{}", api.stderr());
    assert!(body.contains("\"region_name\":\"CentralRegion\""), "{body}");

    let (xjob, seen) = start_unit(
        dir.path(),
        &destdir,
        "tricircle-xjob.service",
        write_config(dir.path(), "tricircle-xjob.service", port),
    );
    assert!(
        seen.iter().any(|m| m.contains("STATUS=serving jobs")),
        "{seen:?}"
    );
    // WatchdogSec=30 in the unit: xjob pings at once, then every 15 s.
    expect_notification(&xjob.sock, "WATCHDOG=1");

    // A job recorded through the API (no broker here: the cast is lost) is
    // taken from the table by the xjob the unit started.
    let (status, body) = http(
        port,
        "POST",
        "/v1.0/jobs",
        r#"{"job": {"type": "seg_rule_setup", "project_id": "p1", "resource": {"project_id": "p1"}}}"#,
    );
    assert_eq!(status, 200, "{body}");
    let id = body
        .split("\"id\":\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap_or_else(|| panic!("no job id in {body}"))
        .to_owned();
    // The jobs list shows live jobs and the log of finished ones: a run
    // ends SUCCESS (then logged) or FAIL (then redone under a new id).
    let deadline = Instant::now() + Duration::from_secs(60);
    let ran = loop {
        let (status, body) = http(port, "GET", "/v1.0/jobs", "");
        assert_eq!(status, 200, "{body}");
        let list: serde_json::Value = serde_json::from_str(&body).unwrap();
        let ran = list["jobs"].as_array().unwrap().iter().any(|j| {
            j["type"] == "seg_rule_setup" && (j["status"] == "SUCCESS" || j["status"] == "FAIL")
        });
        if ran || Instant::now() > deadline {
            break ran;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(ran, "xjob did not run job {id}\n{}", xjob.stderr());

    stop_unit(xjob, "tricircle-xjob.service");
    stop_unit(api, "tricircle-api.service");
}
