//! The job state machine on every backend under test.

use crate::common;

use std::time::Duration;

use chrono::{Duration as ChronoDuration, NaiveDateTime};
use common::each_synced;
use diesel::prelude::*;
use tricircle_db::jobs::{self, JobStatus, SP_EXTRA_ID};
use tricircle_db::models::AsyncJob;
use tricircle_db::schema::{async_job_logs, async_jobs};
use tricircle_db::{time, AnyConnection, DbError};

const T: &str = "configure_route";

/// A whole-second base time in the past, so explicit timestamps order the
/// same way on MySQL (whole seconds) as elsewhere.
fn base(c: &AnyConnection) -> NaiveDateTime {
    let now = time::now(c);
    chrono::SubsecRound::trunc_subsecs(now, 0) - ChronoDuration::minutes(10)
}

fn secs(n: i64) -> ChronoDuration {
    ChronoDuration::seconds(n)
}

fn set_ts(c: &mut AnyConnection, id: &str, ts: NaiveDateTime) {
    diesel::update(async_jobs::table.find(id))
        .set(async_jobs::timestamp.eq(ts))
        .execute(c)
        .unwrap();
}

fn new_at(c: &mut AnyConnection, resource: &str, ts: NaiveDateTime) -> AsyncJob {
    let j = jobs::new_job(c, "proj", T, resource).unwrap();
    set_ts(c, &j.id, ts);
    jobs::get_job(c, &j.id).unwrap()
}

fn rows(c: &mut AnyConnection, resource: &str) -> Vec<AsyncJob> {
    async_jobs::table
        .filter(async_jobs::resource_id.eq(resource))
        .order(async_jobs::timestamp.asc())
        .select(AsyncJob::as_select())
        .load(c)
        .unwrap()
}

/// Takes the lock on (`T`, `resource`), which must be free.
fn take_lock(c: &mut AnyConnection, resource: &str) -> AsyncJob {
    jobs::register_job(c, "proj", T, resource)
        .unwrap()
        .expect("the lock is free")
}

/// Whether the lock on (`T`, `resource`) can be taken (it then is).
fn lock_is_free(c: &mut AnyConnection, resource: &str) -> bool {
    jobs::register_job(c, "proj", T, resource)
        .unwrap()
        .is_some()
}

/// Three NEW jobs on r1 (old at `b`, the one run at +1 s, a newer at +5 s)
/// and the lock taken on r1: the scene before `finish_job`.
fn old_run_newer_locked(c: &mut AnyConnection, b: NaiveDateTime) -> [AsyncJob; 4] {
    let old = new_at(c, "r1", b);
    let run = new_at(c, "r1", b + secs(1));
    let newer = new_at(c, "r1", b + secs(5));
    [old, run, newer, take_lock(c, "r1")]
}

fn log_count(c: &mut AnyConnection, resource: &str) -> i64 {
    async_job_logs::table
        .filter(async_job_logs::resource_id.eq(resource))
        .count()
        .get_result(c)
        .unwrap()
}

#[test]
fn new_job_inserts_a_new_row_with_a_fresh_extra_id() {
    each_synced(|t| {
        let mut c = t.db.get().unwrap();
        let a = jobs::new_job(&mut c, "proj", T, "r1").unwrap();
        let b = jobs::new_job(&mut c, "proj", T, "r1").unwrap();
        assert_eq!(a.status.as_deref(), Some(JobStatus::New.as_stored()));
        assert_ne!(a.extra_id, b.extra_id, "{}", t.backend);
        assert_ne!(a.extra_id.as_deref(), Some(SP_EXTRA_ID));
        assert_eq!(rows(&mut c, "r1").len(), 2);
        let none = jobs::new_job_for(&mut c, None, T, "r2").unwrap();
        assert_eq!(jobs::get_job(&mut c, &none.id).unwrap().project_id, None);
    });
}

#[test]
fn register_job_is_a_lock_per_type_and_resource() {
    each_synced(|t| {
        let mut c = t.db.get().unwrap();
        let lock = take_lock(&mut c, "r1");
        assert_eq!(lock.status.as_deref(), Some(JobStatus::Running.as_stored()));
        assert_eq!(lock.extra_id.as_deref(), Some(SP_EXTRA_ID));
        assert!(
            jobs::register_job(&mut c, "proj", T, "r1")
                .unwrap()
                .is_none(),
            "{}: a second registration must not get the lock",
            t.backend
        );
        // Other resources and other types have locks of their own.
        assert!(lock_is_free(&mut c, "r2"));
        assert!(jobs::register_job(&mut c, "proj", "router_setup", "r1")
            .unwrap()
            .is_some());
        assert_eq!(
            jobs::get_running_job(&mut c, T, "r1").unwrap().unwrap().id,
            lock.id
        );
        assert!(jobs::get_running_job(&mut c, T, "r3").unwrap().is_none());
    });
}

#[test]
fn a_failed_registration_does_not_abort_the_surrounding_transaction() {
    each_synced(|t| {
        let r = t.db.transaction_blocking(|c| {
            jobs::register_job(c, "proj", T, "r1")?;
            let second = jobs::register_job(c, "proj", T, "r1")?;
            // Still usable afterwards (PostgreSQL aborts a transaction on error).
            let n = jobs::new_job(c, "proj", T, "r1")?;
            Ok((second, n))
        });
        let (second, _) = r.unwrap_or_else(|e| panic!("{}: {e}", t.backend));
        assert!(second.is_none());
    });
}

#[test]
fn success_moves_the_job_to_the_log_prunes_older_rows_and_releases_the_lock() {
    each_synced(|t| {
        let mut c = t.db.get().unwrap();
        let b = base(&c);
        let other = new_at(&mut c, "r2", b);
        let [old, run, newer, lock] = old_run_newer_locked(&mut c, b);
        jobs::finish_job(&mut c, &lock.id, true, run.timestamp.unwrap()).unwrap();

        let left = rows(&mut c, "r1");
        assert_eq!(
            left.iter().map(|j| j.id.as_str()).collect::<Vec<_>>(),
            vec![newer.id.as_str()],
            "{}: only the newer NEW job survives",
            t.backend
        );
        assert!(matches!(
            jobs::get_job(&mut c, &old.id),
            Err(DbError::NotFound(_))
        ));
        assert_eq!(log_count(&mut c, "r1"), 1);
        let log = jobs::list_jobs_from_log(&mut c, &Default::default(), -1, None).unwrap();
        assert_eq!(log[0].timestamp, run.timestamp);
        assert_eq!(log[0].project_id.as_deref(), Some("proj"));
        assert_eq!(rows(&mut c, "r2")[0].id, other.id);
        assert!(jobs::get_running_job(&mut c, T, "r1").unwrap().is_none());
        assert!(lock_is_free(&mut c, "r1"));
    });
}

#[test]
fn failure_marks_fail_keeps_the_job_and_releases_the_lock() {
    each_synced(|t| {
        let mut c = t.db.get().unwrap();
        let b = base(&c);
        let [old, run, newer, lock] = old_run_newer_locked(&mut c, b);
        jobs::finish_job(&mut c, &lock.id, false, run.timestamp.unwrap()).unwrap();

        let failed = jobs::get_job(&mut c, &lock.id).unwrap();
        assert_eq!(failed.status.as_deref(), Some(JobStatus::Fail.as_stored()));
        assert_eq!(failed.timestamp, run.timestamp);
        assert_ne!(failed.extra_id.as_deref(), Some(SP_EXTRA_ID));
        // Strictly older rows go; the job run (same timestamp) and newer stay.
        assert!(jobs::get_job(&mut c, &old.id).is_err(), "{}", t.backend);
        assert!(jobs::get_job(&mut c, &run.id).is_ok());
        assert!(jobs::get_job(&mut c, &newer.id).is_ok());
        assert_eq!(log_count(&mut c, "r1"), 0);
        assert!(lock_is_free(&mut c, "r1"));
    });
}

/// Failure reasons (ours): kept per FAIL row, any text the error carried
/// (long, NUL, 4-byte UTF-8) stored on every backend, gone with the row.
#[test]
fn failure_reasons_are_kept_then_pruned_with_their_rows() {
    each_synced(|t| {
        let mut c = t.db.get().unwrap();
        let b = base(&c);
        let first = take_lock(&mut c, "r1");
        set_ts(&mut c, &first.id, b);
        jobs::finish_job(&mut c, &first.id, false, b).unwrap();
        let hostile = format!("pod unreachable \u{0} 🚀 {}", "x".repeat(10_000));
        jobs::record_failure(&mut c, &first.id, &hostile).unwrap();
        // A second record replaces the first.
        jobs::record_failure(&mut c, &first.id, &hostile).unwrap();
        let second = take_lock(&mut c, "r1");
        jobs::finish_job(&mut c, &second.id, false, b + secs(1)).unwrap();
        jobs::record_failure(&mut c, &second.id, "second").unwrap();

        let ids = vec![first.id.clone(), second.id.clone(), "none".to_owned()];
        let got = jobs::failure_reasons(&mut c, &ids).unwrap();
        // The second failure pruned the strictly older first row, and its reason.
        assert!(!got.contains_key(&first.id), "{}: {got:?}", t.backend);
        assert_eq!(got.get(&second.id).map(String::as_str), Some("second"));

        // What the store kept of the hostile text, through a row that stays.
        let third = take_lock(&mut c, "r2");
        jobs::finish_job(&mut c, &third.id, false, b).unwrap();
        jobs::record_failure(&mut c, &third.id, &hostile).unwrap();
        let kept = jobs::failure_reasons(&mut c, std::slice::from_ref(&third.id)).unwrap()
            [&third.id]
            .clone();
        assert_eq!(kept.chars().count(), jobs::REASON_WIDTH, "{}", t.backend);
        assert!(
            kept.starts_with("pod unreachable  🚀 x"),
            "{}: {kept:.40}",
            t.backend
        );

        // Success prunes the failed rows and their reasons.
        let ok = take_lock(&mut c, "r1");
        jobs::finish_job(&mut c, &ok.id, true, b + secs(2)).unwrap();
        assert!(jobs::failure_reasons(&mut c, &ids).unwrap().is_empty());
        // Deleting a job deletes its reason.
        jobs::delete_job(&mut c, &third.id).unwrap();
        assert!(
            jobs::failure_reasons(&mut c, std::slice::from_ref(&third.id))
                .unwrap()
                .is_empty()
        );
    });
}

#[test]
fn finishing_a_vanished_job_is_not_found() {
    each_synced(|t| {
        let mut c = t.db.get().unwrap();
        let now = time::now(&c);
        assert!(matches!(
            jobs::finish_job(&mut c, "no-such-job", true, now),
            Err(DbError::NotFound(_))
        ));
    });
}

#[test]
fn an_expired_running_job_can_be_taken_over() {
    each_synced(|t| {
        let mut c = t.db.get().unwrap();
        let b = base(&c);
        let pending = new_at(&mut c, "r1", b + secs(2));
        let stale = take_lock(&mut c, "r1");
        let expire = Duration::from_secs(180);

        let now = time::now(&c);
        let running = jobs::get_running_job(&mut c, T, "r1").unwrap().unwrap();
        assert!(!jobs::is_expired(&running, now, expire), "fresh lock");

        set_ts(&mut c, &stale.id, b);
        let running = jobs::get_running_job(&mut c, T, "r1").unwrap().unwrap();
        assert!(jobs::is_expired(&running, now, expire), "{}", t.backend);

        // The reference's take-over: mark the stale lock FAIL at the pending
        // job's timestamp, then register again.
        jobs::finish_job(&mut c, &running.id, false, pending.timestamp.unwrap()).unwrap();
        assert_eq!(
            jobs::get_job(&mut c, &stale.id).unwrap().status.as_deref(),
            Some(JobStatus::Fail.as_stored())
        );
        let lock = jobs::register_job(&mut c, "proj", T, "r1").unwrap();
        assert!(lock.is_some(), "{}: lock free after take-over", t.backend);
    });
}

#[test]
fn latest_job_is_the_newest_of_its_status() {
    each_synced(|t| {
        let mut c = t.db.get().unwrap();
        let b = base(&c);
        new_at(&mut c, "r1", b);
        let newest = new_at(&mut c, "r1", b + secs(3));
        new_at(&mut c, "r1", b + secs(1));
        new_at(&mut c, "r2", b + secs(9));
        let got = jobs::get_latest_job(&mut c, JobStatus::New, T, "r1")
            .unwrap()
            .unwrap();
        assert_eq!(got.id, newest.id, "{}", t.backend);
        assert!(jobs::get_latest_job(&mut c, JobStatus::Success, T, "r1")
            .unwrap()
            .is_none());
        assert!(
            jobs::get_latest_job(&mut c, JobStatus::New, "router_setup", "r1")
                .unwrap()
                .is_none()
        );
    });
}

#[test]
fn latest_failed_or_new_jobs_within_the_redo_span() {
    each_synced(|t| {
        let mut c = t.db.get().unwrap();
        let b = base(&c);
        // r_new: newest row NEW.
        new_at(&mut c, "r_new", b);
        // r_fail: a NEW then a FAIL at a later time; the newest row is FAIL.
        new_at(&mut c, "r_fail", b);
        let l = take_lock(&mut c, "r_fail");
        jobs::finish_job(&mut c, &l.id, false, b + secs(1)).unwrap();
        // r_tie: FAIL and NEW with the same newest timestamp: MIN picks FAIL.
        let n = new_at(&mut c, "r_tie", b + secs(2));
        let l = take_lock(&mut c, "r_tie");
        jobs::finish_job(&mut c, &l.id, false, n.timestamp.unwrap()).unwrap();
        // r_run: newest row RUNNING -> neither.
        new_at(&mut c, "r_run", b);
        let l = take_lock(&mut c, "r_run");
        set_ts(&mut c, &l.id, b + secs(1));
        // r_old: NEW but outside the span.
        new_at(&mut c, "r_old", b - ChronoDuration::hours(2));
        // r_done: succeeded, nothing left in async_jobs.
        let n = new_at(&mut c, "r_done", b);
        let l = take_lock(&mut c, "r_done");
        jobs::finish_job(&mut c, &l.id, true, n.timestamp.unwrap()).unwrap();

        let (failed, new) =
            jobs::get_latest_failed_or_new_jobs(&mut c, Duration::from_secs(3600)).unwrap();
        let mut failed: Vec<_> = failed.iter().map(|j| j.resource_id.as_str()).collect();
        failed.sort();
        let new: Vec<_> = new.iter().map(|j| j.resource_id.as_str()).collect();
        assert_eq!(failed, vec!["r_fail", "r_tie"], "{}", t.backend);
        assert_eq!(new, vec!["r_new"], "{}", t.backend);

        let (failed, new) =
            jobs::get_latest_failed_or_new_jobs(&mut c, Duration::from_secs(86400)).unwrap();
        assert_eq!(failed.len(), 2);
        assert_eq!(new.len(), 2, "{}: r_old within a day", t.backend);
        let r = new.iter().find(|j| j.resource_id == "r_old").unwrap();
        assert_eq!(r.job_type, T);
        assert_eq!(r.project_id.as_deref(), Some("proj"));
    });
}

// --- The engine's batched path: claim_runs / finish_runs -------------------

const EXPIRE: Duration = Duration::from_secs(180);

fn claim(resource: &str) -> jobs::Claim {
    jobs::Claim {
        job_type: T.into(),
        resource_id: resource.into(),
    }
}

fn claim_batch(c: &mut AnyConnection, resources: &[&str]) -> Vec<jobs::Claimed> {
    let claims: Vec<_> = resources.iter().map(|r| claim(r)).collect();
    let now = time::now(c);
    jobs::batch_transaction(c, |c| jobs::claim_runs(c, &claims, now, EXPIRE)).unwrap()
}

fn finish_batch(c: &mut AnyConnection, finishes: &[jobs::Finish]) -> Vec<jobs::Finished> {
    let now = time::now(c);
    jobs::batch_transaction(c, |c| jobs::finish_runs(c, finishes, now)).unwrap()
}

fn lease(claimed: &jobs::Claimed) -> jobs::Lease {
    match claimed {
        jobs::Claimed::Run(l) => l.clone(),
        other => panic!("expected a run, got {other:?}"),
    }
}

fn statuses(c: &mut AnyConnection, resource: &str) -> Vec<(String, NaiveDateTime)> {
    rows(c, resource)
        .into_iter()
        .map(|j| (j.status.unwrap(), j.timestamp.unwrap()))
        .collect()
}

fn log_times(c: &mut AnyConnection, resource: &str) -> Vec<NaiveDateTime> {
    async_job_logs::table
        .filter(async_job_logs::resource_id.eq(resource))
        .select(async_job_logs::timestamp)
        .load::<Option<NaiveDateTime>>(c)
        .unwrap()
        .into_iter()
        .flatten()
        .collect()
}

#[test]
fn a_claim_batch_takes_each_free_lock_once_for_the_newest_new_job() {
    each_synced(|t| {
        let mut c = t.db.get().unwrap();
        let b = base(&c);
        new_at(&mut c, "r1", b);
        let r1_newest = new_at(&mut c, "r1", b + secs(2));
        let r2 = new_at(&mut c, "r2", b);
        // r3 has nothing to do; r4 has a SUCCESS row (as an older writer
        // may leave) newer than its request.
        new_at(&mut c, "r4", b - secs(1));
        let done = take_lock(&mut c, "r4");
        diesel::update(async_jobs::table.find(&done.id))
            .set((
                async_jobs::status.eq(JobStatus::Success.as_stored()),
                async_jobs::timestamp.eq(b + secs(1)),
            ))
            .execute(&mut c)
            .unwrap();
        // r5's lock is held by a live worker.
        new_at(&mut c, "r5", b);
        let held = take_lock(&mut c, "r5");

        let got = claim_batch(&mut c, &["r1", "r2", "r3", "r5", "r1"]);
        let l1 = lease(&got[0]);
        assert_eq!(l1.job.id, r1_newest.id, "{}", t.backend);
        assert_eq!(l1.served_at, b + secs(2));
        assert_eq!(
            l1.lock.status.as_deref(),
            Some(JobStatus::Running.as_stored())
        );
        assert_eq!(l1.lock.extra_id.as_deref(), Some(SP_EXTRA_ID));
        assert_eq!(l1.lock.project_id.as_deref(), Some("proj"));
        assert_eq!(lease(&got[1]).job.id, r2.id);
        assert_eq!(got[2], jobs::Claimed::NoNewJob);
        assert_eq!(
            got[3],
            jobs::Claimed::LockHeld {
                running: Some(held.id.clone())
            }
        );
        // A pair asked twice in one batch is run once.
        assert_eq!(got[4], jobs::Claimed::LockHeld { running: None });
        // The lock rows are the ones the unique key knows.
        assert_eq!(
            jobs::get_running_job(&mut c, T, "r1").unwrap().unwrap().id,
            l1.lock.id
        );
        assert!(!lock_is_free(&mut c, "r2"));
        // r4: a success newer than its NEW job.
        assert_eq!(
            claim_batch(&mut c, &["r4"]),
            vec![jobs::Claimed::AlreadyDone]
        );
        // Taken locks are held against a second batch.
        let again = claim_batch(&mut c, &["r1", "r2"]);
        assert!(
            again
                .iter()
                .all(|a| matches!(a, jobs::Claimed::LockHeld { running: Some(_) })),
            "{}: {again:?}",
            t.backend
        );
    });
}

#[test]
fn a_claim_batch_takes_over_an_expired_lock_and_fails_its_row() {
    each_synced(|t| {
        let mut c = t.db.get().unwrap();
        let b = base(&c);
        let job = new_at(&mut c, "r1", b);
        let stale = take_lock(&mut c, "r1");
        set_ts(&mut c, &stale.id, b - secs(3600));
        let got = claim_batch(&mut c, &["r1"]);
        let l = lease(&got[0]);
        assert_eq!(
            l.took_over.as_deref(),
            Some(stale.id.as_str()),
            "{}",
            t.backend
        );
        assert_eq!(l.job.id, job.id);
        let stale_now = jobs::get_job(&mut c, &stale.id).unwrap();
        assert_eq!(
            stale_now.status.as_deref(),
            Some(JobStatus::Fail.as_stored())
        );
        assert_ne!(stale_now.extra_id.as_deref(), Some(SP_EXTRA_ID));
        let reasons = jobs::failure_reasons(&mut c, std::slice::from_ref(&stale.id)).unwrap();
        assert!(reasons[&stale.id].contains("expired"), "{reasons:?}");
        assert_eq!(
            jobs::get_running_job(&mut c, T, "r1").unwrap().unwrap().id,
            l.lock.id
        );
    });
}

/// One finish batch does to each pair what `finish_job` does to one: a
/// success deletes the rows up to its time (older failures and their
/// reasons too) and logs it once, a failure keeps its row FAIL with its
/// reason and deletes only older rows; newer requests stay, and a success
/// asking for it gets the lock again for the newest of them.
#[test]
fn a_finish_batch_moves_exactly_the_served_rows() {
    each_synced(|t| {
        let mut c = t.db.get().unwrap();
        let b = base(&c);
        // r1: an old failure (with its reason), then two requests.
        let old_fail = take_lock(&mut c, "r1");
        jobs::finish_job(&mut c, &old_fail.id, false, b - secs(5)).unwrap();
        jobs::record_failure(&mut c, &old_fail.id, "old").unwrap();
        new_at(&mut c, "r1", b);
        new_at(&mut c, "r1", b + secs(1));
        // r2: one request now; another comes during the run.
        new_at(&mut c, "r2", b);
        // r3: a request older than the one run, which then fails.
        let r3_old = new_at(&mut c, "r3", b - secs(2));
        new_at(&mut c, "r3", b);
        // r4: a bystander.
        let r4 = new_at(&mut c, "r4", b);

        let got = claim_batch(&mut c, &["r1", "r2", "r3"]);
        let (l1, l2, l3) = (lease(&got[0]), lease(&got[1]), lease(&got[2]));
        let r2_newer = new_at(&mut c, "r2", b + secs(3));
        let finishes = [
            jobs::Finish {
                lease: l1.clone(),
                success: true,
                reason: None,
                then_claim: true,
            },
            jobs::Finish {
                lease: l2.clone(),
                success: true,
                reason: None,
                then_claim: true,
            },
            jobs::Finish {
                lease: l3.clone(),
                success: false,
                reason: Some("it broke".into()),
                then_claim: false,
            },
        ];
        let done = finish_batch(&mut c, &finishes);
        let be = t.backend;

        // r1: everything served; nothing left to claim.
        assert_eq!(
            done[0],
            jobs::Finished::Recorded {
                next: Some(jobs::Claimed::NoNewJob)
            },
            "{be}"
        );
        assert!(rows(&mut c, "r1").is_empty(), "{be}");
        assert_eq!(log_times(&mut c, "r1"), vec![b + secs(1)]);
        assert!(
            jobs::failure_reasons(&mut c, std::slice::from_ref(&old_fail.id))
                .unwrap()
                .is_empty()
        );

        // r2: logged at the served time; the newer request is the next run.
        let jobs::Finished::Recorded {
            next: Some(jobs::Claimed::Run(next)),
        } = &done[1]
        else {
            panic!("{be}: r2 should run again: {:?}", done[1]);
        };
        assert_eq!(next.job.id, r2_newer.id);
        assert_ne!(next.lock.id, l2.lock.id);
        assert_eq!(log_times(&mut c, "r2"), vec![b]);
        assert_eq!(
            statuses(&mut c, "r2")
                .into_iter()
                .map(|(s, _)| s)
                .collect::<std::collections::BTreeSet<_>>(),
            [JobStatus::Running, JobStatus::New]
                .map(|s| s.as_stored().to_owned())
                .into()
        );
        assert_eq!(
            jobs::get_running_job(&mut c, T, "r2").unwrap().unwrap().id,
            next.lock.id
        );

        // r3: the lock row is the FAIL row at the run's time, with its
        // reason; the older request is gone, the served one stays (as
        // finish_job leaves it); no log row.
        assert_eq!(done[2], jobs::Finished::Recorded { next: None });
        let r3 = rows(&mut c, "r3");
        assert!(r3.iter().all(|j| j.id != r3_old.id), "{be}");
        let fail = r3
            .iter()
            .find(|j| j.id == l3.lock.id)
            .expect("the FAIL row");
        assert_eq!(fail.status.as_deref(), Some(JobStatus::Fail.as_stored()));
        assert_eq!(fail.timestamp, Some(b));
        assert_ne!(fail.extra_id.as_deref(), Some(SP_EXTRA_ID));
        assert_eq!(r3.len(), 2, "{be}: {r3:?}");
        assert_eq!(log_count(&mut c, "r3"), 0);
        assert_eq!(
            jobs::failure_reasons(&mut c, std::slice::from_ref(&l3.lock.id)).unwrap()[&l3.lock.id],
            "it broke"
        );
        assert!(lock_is_free(&mut c, "r3"));

        // r4 untouched.
        assert_eq!(rows(&mut c, "r4"), vec![r4]);
    });
}

/// The ids of the rows of `resource` with status NEW.
fn new_ids(c: &mut AnyConnection, resource: &str) -> std::collections::BTreeSet<String> {
    rows(c, resource)
        .into_iter()
        .filter(|j| j.status.as_deref() == Some(JobStatus::New.as_stored()))
        .map(|j| j.id)
        .collect()
}

fn finish(lease: &jobs::Lease, success: bool, then_claim: bool) -> jobs::Finish {
    jobs::Finish {
        lease: lease.clone(),
        success,
        reason: (!success).then(|| "it broke".into()),
        then_claim,
    }
}

/// A request recorded after a run's claim is not served by that run, even
/// when it is dated at the run's time (MySQL's whole seconds: recorded in
/// the second the run's job was) or before it (its time taken before an
/// INSERT that committed after the claim): the run's finish leaves it, for
/// the next run. The requests the claim read, older ones included, are
/// served. The same holds for the run the finish takes the lock again for.
#[test]
fn a_finish_leaves_the_requests_recorded_after_its_claim_whatever_their_time() {
    each_synced(|t| {
        let mut c = t.db.get().unwrap();
        let b = base(&c);
        let be = t.backend;
        for r in ["r1", "r2", "r3"] {
            new_at(&mut c, r, b - secs(2));
            new_at(&mut c, r, b);
        }
        let got = claim_batch(&mut c, &["r1", "r2", "r3"]);
        let (l1, l2, l3) = (lease(&got[0]), lease(&got[1]), lease(&got[2]));
        assert_eq!(l1.served_at, b, "{be}");
        // Recorded after the claims: in the runs' second, and before it.
        let r1_same = new_at(&mut c, "r1", b);
        let r1_older = new_at(&mut c, "r1", b - secs(1));
        let r2_same = new_at(&mut c, "r2", b);
        let r3_older = new_at(&mut c, "r3", b - secs(1));
        let done = finish_batch(
            &mut c,
            &[
                finish(&l1, true, false),
                finish(&l2, true, true),
                finish(&l3, false, false),
            ],
        );

        // r1: the two requests the claim read are served and logged; the
        // later ones wait, and the next claim serves them.
        assert_eq!(done[0], jobs::Finished::Recorded { next: None }, "{be}");
        assert_eq!(
            new_ids(&mut c, "r1"),
            [r1_same.id.clone(), r1_older.id.clone()].into(),
            "{be}: {:?}",
            rows(&mut c, "r1")
        );
        assert_eq!(rows(&mut c, "r1").len(), 2, "{be}");
        assert_eq!(log_times(&mut c, "r1"), vec![b]);
        let next1 = lease(&claim_batch(&mut c, &["r1"])[0]);
        assert_eq!(next1.job.id, r1_same.id, "{be}");
        finish_batch(&mut c, &[finish(&next1, true, false)]);
        assert!(rows(&mut c, "r1").is_empty(), "{be}");

        // r2: the finish takes the lock again for the request of its
        // second; a request recorded during that run, in that second too,
        // is left by it in turn.
        let jobs::Finished::Recorded {
            next: Some(jobs::Claimed::Run(next2)),
        } = &done[1]
        else {
            panic!("{be}: r2 should run again: {:?}", done[1]);
        };
        assert_eq!(next2.job.id, r2_same.id, "{be}");
        assert_eq!(next2.served_at, b);
        let r2_during = new_at(&mut c, "r2", b);
        let again = finish_batch(&mut c, &[finish(next2, true, true)]);
        let jobs::Finished::Recorded {
            next: Some(jobs::Claimed::Run(last)),
        } = &again[0]
        else {
            panic!("{be}: r2 should run a third time: {again:?}");
        };
        assert_eq!(last.job.id, r2_during.id, "{be}");
        assert_eq!(new_ids(&mut c, "r2"), [r2_during.id.clone()].into());
        assert_eq!(
            finish_batch(&mut c, &[finish(last, true, true)]),
            vec![jobs::Finished::Recorded {
                next: Some(jobs::Claimed::NoNewJob)
            }],
            "{be}"
        );
        assert!(rows(&mut c, "r2").is_empty(), "{be}");
        assert_eq!(log_times(&mut c, "r2"), vec![b; 3]);

        // r3, failed: the older request it read is gone, the one it ran
        // stays with the FAIL row (as finish_job leaves them), and so does
        // the one recorded after the claim.
        assert_eq!(done[2], jobs::Finished::Recorded { next: None }, "{be}");
        assert_eq!(
            new_ids(&mut c, "r3"),
            [l3.job.id.clone(), r3_older.id.clone()].into(),
            "{be}"
        );
        assert_eq!(rows(&mut c, "r3").len(), 3, "{be}");
    });
}

#[test]
fn finishing_a_lock_that_was_taken_over_records_nothing() {
    each_synced(|t| {
        let mut c = t.db.get().unwrap();
        let b = base(&c);
        new_at(&mut c, "r1", b);
        let l = lease(&claim_batch(&mut c, &["r1"])[0]);
        // Another worker found it expired: FAIL, and its own lock taken.
        jobs::finish_job(&mut c, &l.lock.id, false, b).unwrap();
        let theirs = take_lock(&mut c, "r1");
        let before = rows(&mut c, "r1");
        let done = finish_batch(
            &mut c,
            &[jobs::Finish {
                lease: l,
                success: true,
                reason: None,
                then_claim: true,
            }],
        );
        assert_eq!(done, vec![jobs::Finished::LockLost], "{}", t.backend);
        assert_eq!(rows(&mut c, "r1"), before);
        assert_eq!(log_count(&mut c, "r1"), 0);
        assert_eq!(
            jobs::get_running_job(&mut c, T, "r1").unwrap().unwrap().id,
            theirs.id
        );
    });
}

/// A finish that has released the lock but not committed yet: a claim
/// still reads the lock row as held, yet must not take that as "held" (the
/// finish may have looked for NEW rows before this claim's request was
/// recorded, and nobody would serve it): its insert waits for the finish,
/// then takes the lock.
#[test]
fn a_claim_waits_for_a_finish_releasing_the_lock_instead_of_trusting_its_read() {
    each_synced(|t| {
        let mut c = t.db.get().unwrap();
        let b = base(&c);
        let job = new_at(&mut c, "r1", b);
        let held = take_lock(&mut c, "r1");
        let (deleted_tx, deleted) = std::sync::mpsc::channel();
        let (claiming_tx, claiming) = std::sync::mpsc::channel::<()>();
        let db = t.db.clone();
        let lock_id = held.id.clone();
        let finisher = std::thread::spawn(move || {
            db.transaction_blocking(|f| {
                diesel::delete(async_jobs::table.find(&lock_id)).execute(f)?;
                let _ = deleted_tx.send(());
                let _ = claiming.recv();
                // Let the claim reach its insert before committing.
                std::thread::sleep(Duration::from_millis(300));
                Ok(())
            })
            .unwrap();
        });
        deleted.recv().unwrap();
        claiming_tx.send(()).unwrap();
        let got = loop {
            let now = time::now(&c);
            let r = jobs::batch_transaction(&mut c, |c| {
                jobs::claim_runs(c, &[claim("r1")], now, EXPIRE)
            });
            match r {
                // SQLite: the claim's read predates the finish's commit.
                Err(e) if e.is_retryable() => continue,
                r => break r.unwrap(),
            }
        };
        finisher.join().unwrap();
        let l = lease(&got[0]);
        assert_eq!(l.job.id, job.id, "{}", t.backend);
        assert_eq!(
            jobs::get_running_job(&mut c, T, "r1").unwrap().unwrap().id,
            l.lock.id
        );
    });
}
