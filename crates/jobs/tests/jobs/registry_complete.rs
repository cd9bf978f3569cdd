//! Every job type of the catalogue is served by the real registry: a job
//! type without a handler would stay NEW forever (doc/jobs.md).

use crate::network_common;

use network_common::env;
use tricircle_jobs::handlers::register_all;
use tricircle_jobs::{JobType, Registry};

#[tokio::test]
async fn every_job_type_has_a_handler() {
    let e = env(false).await;
    let mut registry = Registry::new();
    register_all(&mut registry, &e.net).unwrap();
    for t in JobType::every() {
        assert!(
            registry.get(t).is_some(),
            "{t} ({}) has no handler",
            t.rpc_method()
        );
    }
}
