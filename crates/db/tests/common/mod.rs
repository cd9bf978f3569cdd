#![allow(dead_code)]

use diesel::connection::SimpleConnection;
use diesel::Connection;
pub use tricircle_db::testing::{backends_under_test, TestDb};
use tricircle_db::{Backend, DbUrl};

/// Run `f` on a freshly synced database of every backend under test.
pub fn each_synced(f: impl Fn(&TestDb)) {
    for b in backends_under_test() {
        let t = TestDb::synced(b).expect("backend listed as under test");
        f(&t);
    }
}

/// Run `f` on an empty (unsynced) database of every backend under test.
pub fn each_empty(f: impl Fn(&TestDb)) {
    for b in backends_under_test() {
        let t = TestDb::new(b).expect("backend listed as under test");
        f(&t);
    }
}

pub fn fixture(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => include_str!("../fixtures/tricircle-011-sqlite.sql"),
        Backend::Mysql => include_str!("../fixtures/tricircle-011-mysql.sql"),
        Backend::Postgres => include_str!("../fixtures/tricircle-011-postgres.sql"),
    }
}

/// Execute SQL on a connection of its own (outside the pool, so session
/// settings in a dump do not leak, and SQLite's foreign key enforcement is
/// off as in the tool that wrote the dump).
pub fn exec_raw(t: &TestDb, sql: &str) {
    let url = DbUrl::parse(&t.url).unwrap();
    let r = match t.backend {
        Backend::Sqlite => diesel::SqliteConnection::establish(url.target())
            .unwrap()
            .batch_execute(sql),
        Backend::Mysql => diesel::MysqlConnection::establish(url.target())
            .unwrap()
            .batch_execute(sql),
        Backend::Postgres => diesel::PgConnection::establish(url.target())
            .unwrap()
            .batch_execute(sql),
    };
    r.unwrap_or_else(|e| panic!("{}: {e}", t.backend));
}

/// A database holding what the original Tricircle left at version 11.
pub fn load_fixture(t: &TestDb) {
    exec_raw(t, fixture(t.backend));
}

pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// A borrowed view used by helpers that only need the pool.
pub struct TestDbRef {
    pub db: tricircle_db::Db,
}
