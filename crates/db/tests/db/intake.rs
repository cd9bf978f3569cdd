//! The job intake: the NEW rows of concurrent job POSTs written together,
//! each request answered as if written alone.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use diesel::prelude::*;
use tricircle_db::jobs::{self, JobIntake, NewJob, Routed};
use tricircle_db::models::NewRouting;
use tricircle_db::schema::async_jobs;
use tricircle_db::testing::each_backend;
use tricircle_db::{pods, routings, AnyConnection, Backend, Db, PoolOptions};

use super::common::{self, each_synced};

const T: &str = "configure_route";

fn routed_router(c: &mut AnyConnection, top: &str, project: &str) {
    if pods::get(c, "p1").is_err() {
        pods::create(c, &common::pod("p1", "Pod1", "az1")).unwrap();
    }
    routings::create(
        c,
        &NewRouting {
            top_id: top.into(),
            bottom_id: Some(format!("bottom-{top}")),
            pod_id: "p1".into(),
            project_id: Some(project.into()),
            resource_type: "router".into(),
        },
    )
    .unwrap()
    .unwrap();
}

fn job(project: &str, resource: &str, routed: Option<(&str, &str)>) -> NewJob {
    NewJob {
        project_id: project.into(),
        job_type: T.into(),
        resource_id: resource.into(),
        routed: routed.map(|(top, ty)| Routed {
            top_id: top.into(),
            resource_type: ty.into(),
        }),
    }
}

/// (resource_id, project_id, status) of every job row, sorted.
fn rows(c: &mut AnyConnection) -> Vec<(String, String, String)> {
    let mut v: Vec<(Option<String>, Option<String>, Option<String>)> = async_jobs::table
        .select((
            async_jobs::resource_id,
            async_jobs::project_id,
            async_jobs::status,
        ))
        .load(c)
        .unwrap();
    v.sort();
    v.into_iter()
        .map(|(r, p, s)| (r.unwrap(), p.unwrap(), s.unwrap()))
        .collect()
}

/// A batch answers each request as the one-by-one path would: routed
/// resources of the project are recorded, a resource routed for another
/// project or as another type is not, a request without a routing check
/// always is.
#[test]
fn a_batch_records_what_is_routed_for_its_project_and_nothing_else() {
    each_synced(|t| {
        let b = t.backend;
        let mut c = t.db.get().unwrap();
        routed_router(&mut c, "r1", "proj");
        routed_router(&mut c, "r2", "other");
        let batch = [
            job("proj", "r1", Some(("r1", "router"))),
            job("proj", "r2", Some(("r2", "router"))),
            job("proj", "r1#net", Some(("r1", "network"))),
            job("proj", "free", None),
            job("proj", "r3", Some(("r3", "router"))),
            job("proj", "r1", Some(("r1", "router"))),
        ];
        let answers = jobs::record_batch(&mut c, &batch);
        let written: Vec<Option<String>> = answers
            .into_iter()
            .map(|a| a.unwrap().map(|j| j.resource_id.unwrap()))
            .collect();
        let some = |r: &str| Some(r.to_owned());
        assert_eq!(
            written,
            [some("r1"), None, None, some("free"), None, some("r1")],
            "{b}"
        );
        let new = |r: &str| {
            let status = jobs::JobStatus::New.as_stored();
            (r.to_owned(), "proj".to_owned(), status.to_owned())
        };
        assert_eq!(rows(&mut c), [new("free"), new("r1"), new("r1")], "{b}");
    });
}

/// MySQL compares ids without regard to case (the reference's `utf8`
/// collation): a top id spelt in another case is routed there, as the
/// one-statement check found, and nowhere else.
#[test]
fn a_batch_compares_top_ids_as_the_database_does() {
    each_synced(|t| {
        let b = t.backend;
        let mut c = t.db.get().unwrap();
        routed_router(&mut c, "router-a", "proj");
        let batch = [job("proj", "ROUTER-A", Some(("ROUTER-A", "router")))];
        let one_by_one =
            routings::routed_for_project(&mut c, "ROUTER-A", "proj", "router").unwrap();
        assert_eq!(one_by_one, b == Backend::Mysql, "{b}");
        let answer = jobs::record_batch(&mut c, &batch).remove(0).unwrap();
        assert_eq!(answer.is_some(), one_by_one, "{b}");
    });
}

/// A request the database refuses (a job type wider than its column)
/// fails alone: the batch's other requests are recorded. SQLite stores any
/// width, so there it is recorded too.
#[test]
fn a_request_the_database_refuses_fails_alone() {
    each_synced(|t| {
        let b = t.backend;
        let mut c = t.db.get().unwrap();
        let mut wide = job("proj", "wide", None);
        wide.job_type = "t".repeat(40);
        let batch = [job("proj", "a", None), wide, job("proj", "b", None)];
        let answers = jobs::record_batch(&mut c, &batch);
        assert!(answers[0].as_ref().unwrap().is_some(), "{b}");
        assert!(answers[2].as_ref().unwrap().is_some(), "{b}");
        let stored: Vec<String> = rows(&mut c).into_iter().map(|r| r.0).collect();
        if b == Backend::Sqlite {
            assert!(answers[1].is_ok(), "{b}");
            assert_eq!(stored, ["a", "b", "wide"], "{b}");
        } else {
            assert!(answers[1].is_err(), "{b}: {:?}", answers[1]);
            assert_eq!(stored, ["a", "b"], "{b}");
        }
    });
}

/// Requests that arrive while the writer waits for a connection are
/// written together once it has one, and each gets its own row. (The
/// writer may take the first of them before the rest arrive: two batches
/// at most, where one by one would be six.)
#[test]
fn requests_queued_behind_a_busy_connection_are_written_together() {
    each_backend(|t| async move {
        let b = t.backend;
        let opts = PoolOptions {
            max_size: 1,
            ..PoolOptions::default()
        };
        let db = Db::connect(&t.url, &opts).unwrap();
        let batches = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&batches);
        let intake =
            JobIntake::observed(db.clone(), Arc::new(move |n| seen.lock().unwrap().push(n)));

        // The pool's only connection is busy: the writer waits for it
        // while the requests queue. All six are sent (polled once) before
        // it is let go.
        let busy = db.get().unwrap();
        let posts = (0..6).map(|i| intake.record(job("proj", &format!("r{i}"), None)));
        let (answers, ()) = tokio::join!(futures_util::future::join_all(posts), async {
            tokio::task::yield_now().await;
            drop(busy);
        });
        let mut ids: Vec<String> = answers
            .into_iter()
            .map(|a| a.unwrap().expect("recorded").id)
            .collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 6, "{b}: one row per request");
        let sizes = batches.lock().unwrap().clone();
        assert!(sizes.len() <= 2, "{b}: {sizes:?}");
        assert_eq!(sizes.iter().sum::<usize>(), 6, "{b}: {sizes:?}");
        let stored = rows(&mut db.get().unwrap());
        assert_eq!(stored.len(), 6, "{b}: {stored:?}");
    });
}

/// The writer is a thread of its own: a runtime that goes away (an API
/// worker restarted) while its request waits for a connection takes
/// nothing with it, and the requests after it are served.
#[test]
fn the_writer_outlives_the_runtime_of_a_request() {
    each_synced(|t| {
        let b = t.backend;
        let opts = PoolOptions {
            max_size: 1,
            ..PoolOptions::default()
        };
        let db = Db::connect(&t.url, &opts).unwrap();
        let intake = JobIntake::new(db.clone());
        let runtime = || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
        };
        // A task holds the pool's one connection until told to let go.
        let (held_tx, held_rx) = std::sync::mpsc::channel();
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let holder = std::thread::spawn({
            let db = db.clone();
            move || {
                runtime().block_on(db.run(move |_| {
                    held_tx.send(()).unwrap();
                    let _ = release_rx.recv();
                    Ok(())
                }))
            }
        });
        held_rx.recv().unwrap();
        // A request that cannot be served yet; its runtime then goes.
        let gone = runtime();
        let waited = gone.block_on(async {
            let r0 = intake.record(job("proj", "r0", None));
            tokio::time::timeout(Duration::from_millis(200), r0).await
        });
        assert!(waited.is_err(), "{b}: served while the pool was busy");
        drop(gone);
        release_tx.send(()).unwrap();
        holder.join().unwrap().unwrap();

        // Bounded only so that a wedged writer fails instead of hanging.
        let r1 = runtime().block_on(async {
            let r1 = intake.record(job("proj", "r1", None));
            tokio::time::timeout(Duration::from_secs(30), r1).await
        });
        let r1 = r1.unwrap_or_else(|_| panic!("{b}: the intake no longer writes"));
        assert!(r1.unwrap().is_some(), "{b}");
        // The request whose runtime went was written all the same.
        let stored: Vec<String> = rows(&mut db.get().unwrap())
            .into_iter()
            .map(|r| r.0)
            .collect();
        assert_eq!(stored, ["r0", "r1"], "{b}");
    });
}
