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

#[cfg(feature = "bundled-libpq")]
#[test]
fn the_binaries_do_not_load_the_systems_libpq_or_its_kerberos_ldap_and_gnutls() {
    for bin in BINARIES {
        let libs = loaded(bin);
        // The MariaDB client and SQLite are still the system's.
        assert!(
            libs.iter().any(|l| l.starts_with("libsqlite3.so")),
            "{bin}: {libs:?}"
        );
        let unwanted: Vec<_> = libs
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
        assert!(unwanted.is_empty(), "{bin} loads {unwanted:?}");
    }
}

#[cfg(not(feature = "bundled-libpq"))]
#[test]
fn without_bundled_libpq_the_binaries_load_the_systems() {
    for bin in BINARIES {
        let libs = loaded(bin);
        assert!(
            libs.iter().any(|l| l.starts_with("libpq.so")),
            "{bin}: {libs:?}"
        );
    }
}
