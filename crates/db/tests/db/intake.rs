//! The job intake: the NEW rows of concurrent job POSTs written together,
//! each request answered as if written alone.

use std::sync::{Arc, Mutex};

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
/// written by it in one batch, and each gets its own row back.
#[test]
fn requests_queued_behind_a_busy_connection_are_written_in_one_batch() {
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
            JobIntake::new(db.clone()).observed(Arc::new(move |n| seen.lock().unwrap().push(n)));

        // The pool's only connection is busy: the first request's writer
        // waits for it while the others queue.
        let busy = db.get().unwrap();
        let posts: Vec<_> = (0..6)
            .map(|i| {
                let intake = intake.clone();
                tokio::spawn(
                    async move { intake.record(job("proj", &format!("r{i}"), None)).await },
                )
            })
            .collect();
        while intake.queued() < 6 {
            tokio::task::yield_now().await;
        }
        drop(busy);

        let mut ids = Vec::new();
        for p in posts {
            let row = p.await.unwrap().unwrap().expect("recorded");
            ids.push(row.id);
        }
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 6, "{b}: one row per request");
        assert_eq!(*batches.lock().unwrap(), [6], "{b}: one batch");
        let stored = rows(&mut db.get().unwrap());
        assert_eq!(stored.len(), 6, "{b}: {stored:?}");
    });
}
