// Which integration tests that need an outside service can run. libtest
// cannot skip a test at run time, so a test needing RabbitMQ (or the
// oslo.messaging venv) is `#[cfg_attr(not(<cfg>), ignore = "...")]` and this
// script sets <cfg> when the service is configured at build time: a plain
// `cargo test` then reports such tests as ignored, with the reason, instead
// of passing without doing anything. `TRICIRCLE_TEST_REQUIRE_ALL=1`
// (scripts/test) sets every cfg, so a missing service fails the test (the
// runtime helpers in src/testing.rs panic naming what to start).
//
// Plain `//` comments: crates/xjob/build.rs `include!`s this file.

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    let var = |name: &str| {
        println!("cargo::rerun-if-env-changed={name}");
        std::env::var(name).ok().filter(|v| !v.trim().is_empty())
    };
    let require_all = var("TRICIRCLE_TEST_REQUIRE_ALL").is_some_and(|v| v == "1");
    let rabbit = var("TRICIRCLE_TEST_RABBIT_URL").is_some();
    let restart = var("TRICIRCLE_TEST_RABBIT_RESTART").is_some();
    // scripts/lib/oslo-venv.sh exports TRICIRCLE_OSLO_VENV; an existing
    // default venv also counts. A missing file is not tracked: cargo would
    // rerun this script, and rebuild the crate, on every build.
    let venv = var("TRICIRCLE_OSLO_VENV").is_some() || {
        let dir = std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo");
        let py = std::path::Path::new(&dir).join("../../target/oslo-venv/bin/python");
        let found = py.exists();
        if found {
            println!("cargo::rerun-if-changed={}", py.display());
        }
        found
    };
    for (cfg, available) in [
        ("tricircle_rabbit", rabbit),
        ("tricircle_rabbit_restart", restart),
        ("tricircle_oslo_venv", venv),
    ] {
        println!("cargo::rustc-check-cfg=cfg({cfg})");
        if available || require_all {
            println!("cargo::rustc-cfg={cfg}");
        }
    }
}
