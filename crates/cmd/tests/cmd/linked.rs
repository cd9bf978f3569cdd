//! What the binaries load at start: with the default `bundled-libpq`, the
//! PostgreSQL client is built in and the distribution's libpq, with the
//! Kerberos, OpenLDAP and GnuTLS libraries it pulls in (about 3 MiB of each
//! process's RSS, loaded even on SQLite), is not.

use std::process::Command;

const BINARIES: [&str; 4] = [
    env!("CARGO_BIN_EXE_tricircle-api"),
    env!("CARGO_BIN_EXE_tricircle-xjob"),
    env!("CARGO_BIN_EXE_tricircle-db-manage"),
    env!("CARGO_BIN_EXE_tricircle-status"),
];

/// The shared libraries `bin` needs, transitively (ldd's left column).
fn loaded(bin: &str) -> Vec<String> {
    let out = Command::new("ldd").arg(bin).output().expect("ldd runs");
    assert!(out.status.success(), "ldd {bin}: {out:?}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect()
}

/// With `bundled-libpq` (the default), no binary loads the system's libpq
/// or what it pulls in; without it, each loads the system's libpq.
#[test]
fn the_binaries_load_the_system_libpq_only_without_bundled_libpq() {
    let bundled = cfg!(feature = "bundled-libpq");
    for bin in BINARIES {
        let libs = loaded(bin);
        // The MariaDB client and SQLite are the system's either way.
        assert!(
            libs.iter().any(|l| l.starts_with("libsqlite3.so")),
            "{bin}: {libs:?}"
        );
        let systems_libpq: Vec<_> = libs
            .iter()
            .filter(|l| {
                [
                    "libpq.so",
                    "libgssapi",
                    "libkrb5",
                    "libldap",
                    "libgnutls",
                    "libsasl2",
                ]
                .iter()
                .any(|u| l.starts_with(u))
            })
            .collect();
        if bundled {
            assert!(systems_libpq.is_empty(), "{bin} loads {systems_libpq:?}");
        } else {
            assert!(
                systems_libpq.iter().any(|l| l.starts_with("libpq.so")),
                "{bin}: {libs:?}"
            );
        }
    }
}
