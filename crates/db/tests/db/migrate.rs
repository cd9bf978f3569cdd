use crate::common;

use common::{each_empty, exec_raw, load_fixture};
use diesel::prelude::*;
use tricircle_db::migrate::{db_sync, db_version, list_tables};
use tricircle_db::models::{NewRouting, Pod};
use tricircle_db::schema::*;
use tricircle_db::{jobs, pods, routings, Backend, DbError};

fn count(t: &common::TestDbRef, table: &str) -> i64 {
    #[derive(QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let mut c = t.db.get().unwrap();
    diesel::sql_query(format!("SELECT COUNT(*) AS n FROM {table}"))
        .get_result::<N>(&mut c)
        .unwrap()
        .n
}

#[test]
fn empty_database_is_not_versioned_then_sync_creates_baseline() {
    each_empty(|t| {
        assert_eq!(db_version(&t.db).unwrap(), None, "{}", t.backend);
        let r = db_sync(&t.db).unwrap();
        // The baseline, then ours (012: async_job_failures).
        assert_eq!(
            r.applied,
            vec!["011".to_string(), "012".to_string()],
            "{}",
            t.backend
        );
        assert!(!r.adopted);
        assert_eq!(r.version, 12);
        assert_eq!(db_version(&t.db).unwrap(), Some(12));

        let mut c = t.db.get().unwrap();
        let mv: Vec<(String, Option<i32>)> = migrate_version::table
            .select((migrate_version::repository_id, migrate_version::version))
            .load(&mut c)
            .unwrap();
        assert_eq!(
            mv,
            vec![("tricircle".to_string(), Some(11))],
            "{}",
            t.backend
        );
        let tables = list_tables(&mut c).unwrap();
        for name in tricircle_db::migrate::TABLES {
            assert!(
                tables.iter().any(|x| x == name),
                "{}: {name} missing",
                t.backend
            );
        }
    });
}

#[test]
fn sync_is_idempotent() {
    each_empty(|t| {
        db_sync(&t.db).unwrap();
        let again = db_sync(&t.db).unwrap();
        assert!(
            again.applied.is_empty(),
            "{}: {:?}",
            t.backend,
            again.applied
        );
        assert!(!again.adopted);
        assert_eq!(again.version, 12);
        assert_eq!(db_version(&t.db).unwrap(), Some(12));
    });
}

#[test]
fn adopts_an_original_tricircle_database_without_touching_rows() {
    each_empty(|t| {
        load_fixture(t);
        // Before adoption the original bookkeeping already gives the version.
        assert_eq!(db_version(&t.db).unwrap(), Some(11), "{}", t.backend);

        let r = db_sync(&t.db).unwrap();
        assert!(r.adopted, "{}", t.backend);
        // The baseline must not run; only what came after it.
        assert_eq!(
            r.applied,
            vec!["012".to_string()],
            "{}: baseline must not run",
            t.backend
        );
        assert_eq!(r.version, 12);
        assert_eq!(db_version(&t.db).unwrap(), Some(12));

        let tr = common::TestDbRef { db: t.db.clone() };
        for (table, n) in [
            ("pods", 3),
            ("cached_endpoints", 1),
            ("resource_routings", 3),
            ("async_jobs", 3),
            ("async_job_logs", 1),
            ("shadow_agents", 1),
            ("recycle_resources", 1),
            ("deleting_resources", 1),
        ] {
            assert_eq!(count(&tr, table), n, "{}: {table}", t.backend);
        }

        let mut c = t.db.get().unwrap();
        let top = pods::top_pod(&mut c).unwrap().expect("top pod");
        assert_eq!(top.region_name, "RegionOne");
        let r2 = routings::get(&mut c, 2).unwrap();
        assert_eq!(r2.bottom_id.as_deref(), Some("net-bottom-2"));
        assert_eq!(
            r2.updated_at.unwrap().to_string(),
            "2024-05-02 08:30:00",
            "{}",
            t.backend
        );
        let job = jobs::get_job(&mut c, "job-run-1").unwrap();
        assert_eq!(
            job.status.as_deref(),
            Some(tricircle_db::jobs::JobStatus::Running.as_stored())
        );
        assert_eq!(job.extra_id.as_deref(), Some(jobs::SP_EXTRA_ID));
        let mv: Option<String> = migrate_version::table
            .select(migrate_version::repository_path)
            .first(&mut c)
            .unwrap();
        assert_eq!(
            mv.as_deref(),
            Some("/usr/lib/python3/dist-packages/tricircle/db/migrate_repo"),
            "the original's bookkeeping row is left alone"
        );

        // The adopted database is fully usable: a new routing gets the next id.
        let new = routings::create(
            &mut c,
            &NewRouting {
                top_id: "net-top-2".into(),
                bottom_id: Some("b".into()),
                pod_id: "8a5b3c2e-0d6f-4a1b-9c7e-000000000002".into(),
                project_id: Some("proj-a".into()),
                resource_type: "network".into(),
            },
        )
        .unwrap()
        .expect("created");
        assert_eq!(new.id, 4, "{}", t.backend);
        drop(c);

        let again = db_sync(&t.db).unwrap();
        assert!(!again.adopted && again.applied.is_empty());
        assert_eq!(count(&tr, "resource_routings"), 4);
    });
}

#[test]
fn sqlite_adoption_rebuilds_bigint_routing_id() {
    let t = tricircle_db::testing::TestDb::new(Backend::Sqlite).unwrap();
    load_fixture(&t);
    #[derive(QueryableByName)]
    struct S {
        #[diesel(sql_type = diesel::sql_types::Text)]
        sql: String,
    }
    let ddl = |t: &tricircle_db::testing::TestDb| {
        let mut c = t.db.get().unwrap();
        diesel::sql_query("SELECT sql FROM sqlite_master WHERE name = 'resource_routings'")
            .get_result::<S>(&mut c)
            .unwrap()
            .sql
    };
    assert!(ddl(&t).contains("id BIGINT NOT NULL"));
    db_sync(&t.db).unwrap();
    let fresh = tricircle_db::testing::TestDb::synced(Backend::Sqlite).unwrap();
    // Same definition as a database created by the baseline.
    assert_eq!(
        ddl(&t)
            .replace("resource_routings__rebuild", "resource_routings")
            .replace("\"", ""),
        ddl(&fresh)
    );
    let mut c = t.db.get().unwrap();
    let p: Vec<Pod> = pods::list(&mut c).unwrap();
    assert_eq!(p.len(), 3);
    let r = routings::get(&mut c, 3).unwrap();
    assert_eq!(r.top_id, "router-top-1");
}

#[test]
fn older_original_schema_is_refused_with_a_clear_error() {
    each_empty(|t| {
        load_fixture(t);
        exec_raw(
            t,
            "UPDATE migrate_version SET version = 9 WHERE repository_id = 'tricircle'",
        );
        match db_sync(&t.db) {
            Err(DbError::Migration(m)) => {
                assert!(m.contains("schema version 9"), "{m}");
                assert!(m.contains("upgrade it to 11"), "{m}");
            }
            other => panic!("{}: expected a migration error, got {other:?}", t.backend),
        }
        assert_eq!(db_version(&t.db).unwrap(), Some(9));
        // Nothing was recorded.
        let mut c = t.db.get().unwrap();
        assert!(!list_tables(&mut c)
            .unwrap()
            .iter()
            .any(|n| n == "__diesel_schema_migrations"));
    });
}

#[test]
fn newer_original_schema_is_refused() {
    each_empty(|t| {
        load_fixture(t);
        exec_raw(
            t,
            "UPDATE migrate_version SET version = 12 WHERE repository_id = 'tricircle'",
        );
        let e = db_sync(&t.db).unwrap_err();
        assert!(
            matches!(&e, DbError::Migration(m) if m.contains("version 12")),
            "{e:?}"
        );
    });
}

#[test]
fn unversioned_tricircle_tables_are_refused() {
    each_empty(|t| {
        exec_raw(
            t,
            "CREATE TABLE pods (pod_id VARCHAR(36) NOT NULL PRIMARY KEY)",
        );
        let e = db_sync(&t.db).unwrap_err();
        assert!(
            matches!(&e, DbError::Migration(m) if m.contains("pods") && m.contains("no schema version")),
            "{}: {e:?}",
            t.backend
        );
        assert_eq!(db_version(&t.db).unwrap(), None);
    });
}
