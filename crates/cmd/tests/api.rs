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
