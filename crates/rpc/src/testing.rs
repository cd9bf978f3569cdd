//! The test broker, for this crate's tests and other crates': the private
//! RabbitMQ node scripts/lib/rabbitmq.sh starts exports its URL as
//! `TRICIRCLE_TEST_RABBIT_URL`. Tests that need it (or the oslo.messaging
//! venv) are ignored unless it is configured when they are built (see
//! build.rs), so the helpers here only run when the test was meant to: a
//! missing service then fails the test, naming what to start.

pub const RABBIT_ENV: &str = "TRICIRCLE_TEST_RABBIT_URL";
pub const RESTART_ENV: &str = "TRICIRCLE_TEST_RABBIT_RESTART";
pub const REQUIRE_ALL_ENV: &str = "TRICIRCLE_TEST_REQUIRE_ALL";

const START_HINT: &str = "source scripts/lib/rabbitmq.sh; rabbitmq_start";

fn require_all() -> bool {
    std::env::var(REQUIRE_ALL_ENV).is_ok_and(|v| v == "1")
}

/// Fail a test whose service is missing. A test gets here only when it
/// was selected anyway: under `TRICIRCLE_TEST_REQUIRE_ALL=1`, with
/// `--include-ignored`, or from a test binary run without the environment
/// it was built with; none of these may pass without testing.
pub fn missing(what: &str, how: &str) -> ! {
    if require_all() {
        panic!("{REQUIRE_ALL_ENV}=1 but {what}: {how}");
    }
    panic!("{what}: {how}");
}

fn env_or_missing(var: &str) -> String {
    match std::env::var(var) {
        Ok(v) if !v.trim().is_empty() => v,
        _ => missing(&format!("{var} is not set"), START_HINT),
    }
}

/// The test broker's URL.
pub fn rabbit_url() -> crate::TransportUrl {
    crate::TransportUrl::parse(&env_or_missing(RABBIT_ENV))
        .expect("valid TRICIRCLE_TEST_RABBIT_URL")
}

/// A command that restarts the test broker.
pub fn restart_command() -> String {
    env_or_missing(RESTART_ENV)
}

/// The oslo.messaging venv's interpreter (`$TRICIRCLE_OSLO_VENV` or
/// target/oslo-venv, made by scripts/lib/oslo-venv.sh).
pub fn oslo_python() -> std::path::PathBuf {
    let venv = std::env::var("TRICIRCLE_OSLO_VENV")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| {
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/oslo-venv")
        });
    let py = venv.join("bin/python");
    if !py.exists() {
        missing(
            &format!("no oslo.messaging venv at {}", venv.display()),
            "source scripts/lib/oslo-venv.sh; oslo_venv",
        );
    }
    py
}

/// The Python oslo.messaging peers used by the interop tests.
pub fn interop_dir() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/interop")
}

/// tests/interop/server.py of this crate: a Python oslo.messaging RPC server
/// on the test broker, printing each message it receives as a JSON line
/// (`method`, `payload`, `context`). Killed when dropped.
pub struct PythonServer {
    child: tokio::process::Child,
    lines: tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
}

const PYTHON_SERVER_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

impl PythonServer {
    /// Start it as RPC server `name` (with [`oslo_python`]) and wait for it
    /// to say it is ready.
    ///
    /// # Panics
    /// When it cannot start or is not ready within a minute.
    pub async fn start(name: &str) -> PythonServer {
        use tokio::io::AsyncBufReadExt;
        let mut child = tokio::process::Command::new(oslo_python())
            .current_dir(interop_dir())
            .arg("server.py")
            .args(["--server", name, "--count", "1000", "--timeout", "120"])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("start server.py");
        let stdout = child.stdout.take().expect("server.py's stdout");
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        let first = tokio::time::timeout(PYTHON_SERVER_WAIT, lines.next_line())
            .await
            .expect("server.py not ready")
            .expect("reading server.py's output");
        assert_eq!(first.as_deref(), Some("READY"));
        PythonServer { child, lines }
    }

    /// The next message it received whose `payload[key]` is `value`
    /// (messages of other tests on the broker are skipped).
    ///
    /// # Panics
    /// When a minute passes without a line, or the server exits.
    pub async fn received(&mut self, key: &str, value: &serde_json::Value) -> serde_json::Value {
        loop {
            let line = tokio::time::timeout(PYTHON_SERVER_WAIT, self.lines.next_line())
                .await
                .expect("the Python server received nothing")
                .expect("reading server.py's output")
                .expect("server.py exited");
            let v: serde_json::Value = serde_json::from_str(&line).expect("a JSON line");
            if &v["payload"][key] == value {
                return v;
            }
        }
    }

    /// Kill it.
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}
