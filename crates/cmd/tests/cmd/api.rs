//! The real `tricircle-api` binary refuses to start on a database it cannot
//! serve (issue 10, point 6): one line saying what to do, exit non-zero,
//! and no empty SQLite file left behind.

use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_tricircle-api");

fn write_config(dir: &Path, name: &str, connection: &str, extra: &str) -> std::path::PathBuf {
    let conf = dir.join(name);
    std::fs::write(
        &conf,
        format!(
            "[DEFAULT]\nauth_strategy = noauth\nbind_host = 127.0.0.1\nbind_port = 0\n\
             tricircle_db_connection = {connection}\n{extra}"
        ),
    )
    .unwrap();
    conf
}

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

#[test]
fn refuses_a_database_it_cannot_serve() {
    let dir = tempfile::tempdir().unwrap();

    let missing = dir.path().join("missing.db");
    let conf = write_config(
        dir.path(),
        "missing.conf",
        &format!("sqlite:///{}", missing.display()),
        "",
    );
    let line = failed_start(&conf);
    assert!(
        line.contains("does not exist") && line.contains("db_sync"),
        "{line}"
    );
    assert!(!missing.exists(), "an empty database file was created");

    let empty = dir.path().join("empty.db");
    std::fs::write(&empty, b"").unwrap();
    let conf = write_config(
        dir.path(),
        "empty.conf",
        &format!("sqlite:///{}", empty.display()),
        "",
    );
    let line = failed_start(&conf);
    assert!(
        line.contains("no Tricircle schema") && line.contains("db_sync"),
        "{line}"
    );

    let conf = write_config(
        dir.path(),
        "unreachable.conf",
        "postgresql://u:pw@127.0.0.1:1/tricircle",
        "[database]\nmax_retries = 2\nretry_interval = 0\n",
    );
    let line = failed_start(&conf);
    assert!(line.contains("unreachable after 3 attempt(s)"), "{line}");
    assert!(!line.contains(":pw@"), "the password is shown: {line}");
}

/// With no broker option (no `transport_url`, no `rabbit_host(s)`) the API
/// casts nothing: it says so once at start-up, and a job is its NEW row,
/// answered as always, for xjob to find in the table.
#[test]
fn without_a_broker_a_job_is_only_recorded() {
    use std::process::Stdio;
    use std::time::{Duration, Instant};

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tricircle.db");
    let url = format!("sqlite:///{}", path.display());
    let db = tricircle_db::Db::connect(&url, &tricircle_db::PoolOptions::default()).unwrap();
    tricircle_db::migrate::db_sync(&db).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let conf = dir.path().join("api.conf");
    std::fs::write(
        &conf,
        format!(
            "[DEFAULT]\nauth_strategy = noauth\nbind_host = 127.0.0.1\nbind_port = {port}\n\
             tricircle_db_connection = {url}\n"
        ),
    )
    .unwrap();
    let log = dir.path().join("api.log");
    let mut child = Command::new(BIN)
        .arg("--config-file")
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let project = "project-no-broker";
    let rt = tokio::runtime::Runtime::new().unwrap();
    let job = rt.block_on(async {
        let http = reqwest::Client::new();
        let post = |path: &str, body: serde_json::Value| {
            http.post(format!("{base}{path}"))
                .header("X-Role", "admin")
                .header("X-Tenant-Id", project)
                .json(&body)
                .send()
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while http.get(format!("{base}/")).send().await.is_err() {
            assert!(Instant::now() < deadline, "the API never answered");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut pod_one = String::new();
        for body in [
            serde_json::json!({"pod": {"region_name": "CentralRegion"}}),
            serde_json::json!({"pod": {"region_name": "RegionOne", "az_name": "az1"}}),
        ] {
            let r = post("/v1.0/pods", body).await.unwrap();
            assert_eq!(r.status(), 200);
            let v: serde_json::Value = r.json().await.unwrap();
            pod_one = v["pod"]["pod_id"].as_str().unwrap().to_owned();
        }
        let r = post(
            "/v1.0/routings",
            serde_json::json!({"routing": {"top_id": "router-1", "bottom_id": "b-router-1",
                "pod_id": pod_one, "project_id": project, "resource_type": "router"}}),
        )
        .await
        .unwrap();
        assert_eq!(r.status(), 200);
        let r = post(
            "/v1.0/jobs",
            serde_json::json!({"job": {"type": "configure_route", "project_id": project,
                "resource": {"router_id": "router-1"}}}),
        )
        .await
        .unwrap();
        assert_eq!(r.status(), 200);
        r.json::<serde_json::Value>().await.unwrap()
    });
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    assert_eq!(job["job"]["status"], "NEW", "{job}");
    assert_eq!(job["job"]["resource"]["router_id"], "router-1", "{job}");
    let id = job["job"]["id"].as_str().unwrap().to_owned();
    let row = rt
        .block_on(db.run(move |c| tricircle_db::jobs::get_job(c, &id)))
        .unwrap();
    assert_eq!(row.status.as_deref(), Some("3_New"));
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(
        log.contains("no message bus configured") && log.contains("through the database only"),
        "{log}"
    );
    assert!(
        !log.contains("jobs are cast") && !log.contains("cast to xjob failed"),
        "the API used a broker:\n{log}"
    );
}
