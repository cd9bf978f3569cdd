//! Service conventions of the real binaries (issue 12, point 3): `--version`
//! names the binary, oslo.config's default-file discovery, oslo.log's
//! command-line flags, SIGHUP (re-open the log file, re-read the level and
//! the policy file, never exit), and logging options that cannot be
//! honoured stop start-up with a line naming them.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const API: &str = env!("CARGO_BIN_EXE_tricircle-api");
const XJOB: &str = env!("CARGO_BIN_EXE_tricircle-xjob");
const DB_MANAGE: &str = env!("CARGO_BIN_EXE_tricircle-db-manage");
const STATUS: &str = env!("CARGO_BIN_EXE_tricircle-status");

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn db_sync(conf: &Path) {
    let out = Command::new(DB_MANAGE)
        .arg("--config-file")
        .arg(conf)
        .arg("db_sync")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The whole answer to `GET path` as the admin of project `demo` (noauth),
/// or `None` when nothing answers.
fn get(port: u16, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nX-Role: admin\r\n\
         X-Tenant-Id: demo\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut answer = String::new();
    s.read_to_string(&mut answer).ok()?;
    Some(answer)
}

/// The status code of `GET path` (see [`get`]).
fn get_status(port: u16, path: &str) -> Option<u16> {
    get(port, path)?.split_whitespace().nth(1)?.parse().ok()
}

/// `bin --config-file conf`, expected to refuse to start; its standard error.
fn failed_start(bin: &str, conf: &Path) -> String {
    let out = Command::new(bin)
        .arg("--config-file")
        .arg(conf)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "{bin} started: {err}");
    err
}

/// The API serving `conf`, stopped when dropped.
fn spawn_api(conf: &Path) -> Running {
    Running(
        Command::new(API)
            .arg("--config-file")
            .arg(conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

/// Poll `check` until it holds; panics after a generous deadline.
fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !check() {
        assert!(Instant::now() < deadline, "never happened: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

fn hangup(child: &Child) {
    let ok = Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
}

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn version_names_each_binary() {
    for (bin, name) in [
        (API, "tricircle-api"),
        (XJOB, "tricircle-xjob"),
        (DB_MANAGE, "tricircle-db-manage"),
        (STATUS, "tricircle-status"),
    ] {
        let out = Command::new(bin).arg("--version").output().unwrap();
        assert!(out.status.success());
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            text.trim(),
            format!("{name} {}", env!("CARGO_PKG_VERSION")),
            "{bin}"
        );
    }
}

#[test]
fn default_files_are_found_as_oslo_config_finds_them() {
    let home = tempfile::tempdir().unwrap();
    let db = home.path().join("t.db");
    std::fs::create_dir(home.path().join(".tricircle")).unwrap();
    // tricircle.conf in ~/.tricircle wins over the one in ~; the program's
    // own file is read after it.
    std::fs::write(
        home.path().join(".tricircle/tricircle.conf"),
        format!(
            "[DEFAULT]\ntricircle_db_connection = sqlite:///{}\n",
            db.display()
        ),
    )
    .unwrap();
    std::fs::write(
        home.path().join("tricircle.conf"),
        "[DEFAULT]\ntricircle_db_connection = sqlite:////nonexistent/x.db\n",
    )
    .unwrap();
    let log = home.path().join("manage.log");
    std::fs::write(
        home.path().join("tricircle-db-manage.conf"),
        format!("[DEFAULT]\nlog_file = {}\n", log.display()),
    )
    .unwrap();
    let out = Command::new(DB_MANAGE)
        .arg("db_sync")
        .env("HOME", home.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(db.exists(), "the database of ~/.tricircle/tricircle.conf");
    assert!(
        !read(&log).is_empty(),
        "tricircle-db-manage.conf was read after tricircle.conf"
    );
}

#[test]
fn unusable_logging_options_stop_start_up_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("c.conf");
    std::fs::write(&conf, "[DEFAULT]\nauth_strategy = noauth\n").unwrap();
    for (args, want) in [
        (
            vec!["--log-config-append", "/etc/tricircle/logging.conf"],
            "log_config_append",
        ),
        (
            vec!["--use-syslog", "--syslog-log-facility", "LOG_NOPE"],
            "syslog_log_facility",
        ),
        (vec!["--log-dir", "/nonexistent/dir"], "/nonexistent/dir"),
    ] {
        for bin in [API, XJOB] {
            let out = Command::new(bin)
                .arg("--config-file")
                .arg(&conf)
                .args(&args)
                .output()
                .unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(!out.status.success(), "{bin} {args:?} started");
            let line = err.lines().rfind(|l| !l.trim().is_empty()).unwrap_or("");
            assert!(
                line.starts_with("ERROR: ") && line.contains(want),
                "{bin} {args:?}: {err}"
            );
        }
    }
}

/// The API with a policy file and a log file, started with oslo.log's
/// flags; SIGHUP re-reads the policy, re-opens the log and applies the
/// level the file now says.
#[test]
fn api_reloads_on_sighup_and_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let policy = dir.path().join("policy.yaml");
    std::fs::write(&policy, "\"admin_api:pods:list\": \"!\"\n").unwrap();
    let conf = dir.path().join("api.conf");
    let write_conf = |debug: bool| {
        std::fs::write(
            &conf,
            format!(
                "[DEFAULT]\nauth_strategy = noauth\nbind_host = 127.0.0.1\nbind_port = {port}\n\
                 debug = {debug}\ntricircle_db_connection = sqlite:///{db}\n\
                 [oslo_policy]\npolicy_file = {policy}\n",
                db = dir.path().join("t.db").display(),
                policy = policy.display(),
            ),
        )
        .unwrap()
    };
    write_conf(false);
    db_sync(&conf);
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    let log = logs.join("api.log");
    let api = Running(
        Command::new(API)
            .arg("--config-file")
            .arg(&conf)
            .args(["--log-dir", logs.to_str().unwrap(), "--logfile", "api.log"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    eventually("the API answers", || {
        get_status(port, "/v1.0/pods").is_some()
    });
    // The reference answers a policy refusal with 401.
    assert_eq!(get_status(port, "/v1.0/pods"), Some(401));
    assert!(read(&log).contains("admin API listening"), "{}", read(&log));
    assert!(!read(&log).contains(" DEBUG "), "debug is off");

    // logrotate: move the file, change the rules and the level, SIGHUP.
    let rotated = logs.join("api.log.1");
    std::fs::rename(&log, &rotated).unwrap();
    std::fs::write(&policy, "\"admin_api:pods:list\": \"role:admin\"\n").unwrap();
    write_conf(true);
    hangup(&api.0);
    eventually("the new rules apply", || {
        get_status(port, "/v1.0/pods") == Some(200)
    });
    eventually("a new log file with the reload", || {
        read(&log).contains("log level applied")
    });
    eventually("debug lines after the reload", || {
        get_status(port, "/v1.0/pods");
        read(&log).contains(" DEBUG ")
    });
    assert!(!read(&rotated).contains(" DEBUG "));

    // Rules that no longer load keep the running ones.
    std::fs::write(&policy, "\"admin_api:pods:list\": \"role:admin or (\"\n").unwrap();
    hangup(&api.0);
    eventually("the bad file is reported", || {
        read(&log).contains("keeping the running rules")
    });
    assert_eq!(get_status(port, "/v1.0/pods"), Some(200));
    let mut api = api;
    assert!(
        api.0.try_wait().unwrap().is_none(),
        "SIGHUP stopped the API"
    );
}

#[test]
fn xjob_survives_sighup() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("xjob.conf");
    let log = dir.path().join("xjob.log");
    std::fs::write(
        &conf,
        format!(
            "[DEFAULT]\ntricircle_db_connection = sqlite:///{}\nlog_file = {}\n\
             periodic_enable = false\n\
             [client]\nauth_url = http://127.0.0.1:1/identity\nadmin_username = admin\n\
             admin_password = secret\nadmin_tenant = admin\n",
            dir.path().join("t.db").display(),
            log.display()
        ),
    )
    .unwrap();
    db_sync(&conf);
    let mut xjob = Running(
        Command::new(XJOB)
            .arg("--config-file")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    eventually("xjob is up", || read(&log).contains("xjob started"));
    hangup(&xjob.0);
    eventually("the reload", || read(&log).contains("log level applied"));
    hangup(&xjob.0);
    eventually("a second reload", || {
        read(&log).matches("log level applied").count() == 2
    });
    assert!(xjob.0.try_wait().unwrap().is_none(), "SIGHUP stopped xjob");
}

#[test]
fn upgrade_check_passes_without_a_database_option_as_the_original() {
    let home = tempfile::tempdir().unwrap();
    let out = Command::new(STATUS)
        .args(["upgrade", "check"])
        .env("HOME", home.path())
        .current_dir(home.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains("Check: Database schema") && text.contains("not checked"),
        "{text}"
    );

    // With a database named but without its schema it fails (code 2).
    let conf = home.path().join("c.conf");
    std::fs::write(
        &conf,
        format!(
            "[DEFAULT]\ntricircle_db_connection = sqlite:///{}\n",
            home.path().join("x.db").display()
        ),
    )
    .unwrap();
    let out = Command::new(STATUS)
        .arg("--config-file")
        .arg(&conf)
        .args(["upgrade", "check"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// `api_path_prefix`: the same API under `/tricircle`, with links that keep
/// the prefix, health and metrics there too; a bad prefix stops start-up.
#[test]
fn api_serves_under_a_path_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let conf = dir.path().join("api.conf");
    let write = |prefix: &str| {
        std::fs::write(
            &conf,
            format!(
                "[DEFAULT]\nauth_strategy = noauth\nbind_host = 127.0.0.1\nbind_port = {port}\n\
                 api_path_prefix = {prefix}\ntricircle_db_connection = sqlite:///{db}\n",
                db = dir.path().join("t.db").display(),
            ),
        )
        .unwrap()
    };
    write("tricircle");
    db_sync(&conf);
    let err = failed_start(API, &conf);
    assert!(err.contains("api_path_prefix"), "{err}");

    write("/tricircle/");
    let _api = spawn_api(&conf);
    eventually("the API answers", || {
        get_status(port, "/v1.0/pods").is_some()
    });
    for path in [
        "/v1.0/pods",
        "/tricircle/v1.0/pods",
        "/tricircle",
        "/tricircle/v1.0",
        "/tricircle/healthcheck",
        "/tricircle/metrics",
        "/healthcheck",
    ] {
        assert_eq!(get_status(port, path), Some(200), "{path}");
    }
    assert_eq!(get_status(port, "/tricircle/nothing"), Some(404));
    let body = get(port, "/tricircle/v1.0").unwrap();
    assert!(
        body.contains(&format!("http://127.0.0.1:{port}/tricircle/v1.0/pods")),
        "{body}"
    );
    let body = get(port, "/tricircle").unwrap();
    assert!(
        body.contains(&format!("http://127.0.0.1:{port}/tricircle/v1.0/")),
        "{body}"
    );
    let body = get(port, "/").unwrap();
    assert!(
        body.contains(&format!("http://127.0.0.1:{port}/v1.0/")),
        "{body}"
    );
}

/// DevStack writes `[keystone_authtoken] cafile` even for a plain-http
/// Keystone, where the file may not exist: it is read only for https.
#[test]
fn a_cafile_is_read_only_for_an_https_keystone() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let conf = dir.path().join("api.conf");
    let write = |scheme: &str| {
        std::fs::write(
            &conf,
            format!(
                "[DEFAULT]\nauth_strategy = keystone\nbind_host = 127.0.0.1\nbind_port = {port}\n\
                 tricircle_db_connection = sqlite:///{db}\n\
                 [keystone_authtoken]\nauth_url = {scheme}://127.0.0.1:1/identity\n\
                 www_authenticate_uri = {scheme}://127.0.0.1:1/identity\n\
                 username = tricircle\npassword = pw\nproject_name = service\n\
                 cafile = /nonexistent/ca-bundle.pem\n",
                db = dir.path().join("t.db").display(),
            ),
        )
        .unwrap()
    };
    write("https");
    db_sync(&conf);
    let err = failed_start(API, &conf);
    assert!(err.contains("/nonexistent/ca-bundle.pem"), "{err}");

    write("http");
    let _api = spawn_api(&conf);
    eventually("the API answers", || {
        get_status(port, "/healthcheck") == Some(200)
    });
    // Serving: a request without a token is refused as usual.
    assert_eq!(get_status(port, "/v1.0/pods"), Some(401));
}
