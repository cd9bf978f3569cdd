#![allow(dead_code)]

use tricircle_db::models::NewPod;
pub use tricircle_db::testing::{backends_under_test, TestDb};
use tricircle_db::Backend;

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

/// A pod row with no pod AZ or data centre.
pub fn pod(id: &str, region: &str, az: &str) -> NewPod {
    NewPod {
        pod_id: id.into(),
        region_name: region.into(),
        pod_az_name: None,
        dc_name: None,
        az_name: az.into(),
    }
}

pub fn fixture(backend: Backend) -> &'static str {
    tricircle_db::testing::legacy_fixture(backend)
}

pub fn exec_raw(t: &TestDb, sql: &str) {
    t.exec_raw(sql);
}

/// A database holding what the original Tricircle left at version 11.
pub fn load_fixture(t: &TestDb) {
    t.load_legacy_fixture();
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
