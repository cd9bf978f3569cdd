//! The test broker, for this crate's tests and other crates': the private
//! RabbitMQ node scripts/lib/rabbitmq.sh starts exports its URL as
//! `TRICIRCLE_TEST_RABBIT_URL`. When it is missing, tests are skipped with a
//! note, or fail when `TRICIRCLE_TEST_REQUIRE_ALL=1` (as the database
//! tests do).

pub const RABBIT_ENV: &str = "TRICIRCLE_TEST_RABBIT_URL";
pub const RESTART_ENV: &str = "TRICIRCLE_TEST_RABBIT_RESTART";
pub const REQUIRE_ALL_ENV: &str = "TRICIRCLE_TEST_REQUIRE_ALL";

const START_HINT: &str = "source scripts/lib/rabbitmq.sh; rabbitmq_start";

fn require_all() -> bool {
    std::env::var(REQUIRE_ALL_ENV).is_ok_and(|v| v == "1")
}

/// Report a missing test dependency: a skip note, or a panic under
/// `TRICIRCLE_TEST_REQUIRE_ALL=1`.
pub fn missing(what: &str, how: &str) {
    if require_all() {
        panic!("{REQUIRE_ALL_ENV}=1 but {what}: {how}");
    }
    eprintln!("skipping: {what} ({how})");
}

fn env_or_missing(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(v) if !v.trim().is_empty() => Some(v),
        _ => {
            missing(&format!("{var} is not set"), START_HINT);
            None
        }
    }
}

/// The test broker's URL.
pub fn rabbit_url() -> Option<crate::TransportUrl> {
    env_or_missing(RABBIT_ENV)
        .map(|v| crate::TransportUrl::parse(&v).expect("valid TRICIRCLE_TEST_RABBIT_URL"))
}

/// A command that restarts the test broker.
pub fn restart_command() -> Option<String> {
    env_or_missing(RESTART_ENV)
}

/// The oslo.messaging venv's interpreter (`$TRICIRCLE_OSLO_VENV` or
/// target/oslo-venv, made by scripts/lib/oslo-venv.sh).
pub fn oslo_python() -> Option<std::path::PathBuf> {
    let venv = std::env::var("TRICIRCLE_OSLO_VENV")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| {
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/oslo-venv")
        });
    let py = venv.join("bin/python");
    if py.exists() {
        Some(py)
    } else {
        missing(
            &format!("no oslo.messaging venv at {}", venv.display()),
            "source scripts/lib/oslo-venv.sh; oslo_venv",
        );
        None
    }
}

/// The Python oslo.messaging peers used by the interop tests.
pub fn interop_dir() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/interop")
}
