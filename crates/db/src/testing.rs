//! Throw-away databases for tests (this crate's and other crates').
//!
//! SQLite is always available (a file in a temporary directory). MySQL and
//! PostgreSQL are used when `TRICIRCLE_TEST_MYSQL_URL` /
//! `TRICIRCLE_TEST_PG_URL` name a server with an account allowed to create
//! databases (scripts/lib/db-servers.sh starts such servers and exports
//! them). Each [`TestDb`] gets a database of its own, dropped on `Drop`.

use diesel::connection::SimpleConnection;
use diesel::Connection;

use crate::{Backend, Db, DbError, DbUrl, PoolOptions};

pub const MYSQL_ENV: &str = "TRICIRCLE_TEST_MYSQL_URL";
pub const PG_ENV: &str = "TRICIRCLE_TEST_PG_URL";
/// When `1`, a backend whose variable is unset fails the test run instead
/// of being skipped.
pub const REQUIRE_ALL_ENV: &str = "TRICIRCLE_TEST_REQUIRE_ALL";

fn env_for(backend: Backend) -> Option<&'static str> {
    match backend {
        Backend::Sqlite => None,
        Backend::Mysql => Some(MYSQL_ENV),
        Backend::Postgres => Some(PG_ENV),
    }
}

fn admin_url(backend: Backend) -> Option<String> {
    let var = env_for(backend)?;
    std::env::var(var).ok().filter(|v| !v.trim().is_empty())
}

/// The backends to run tests against: SQLite always, MySQL and PostgreSQL
/// when their server variables are set. The first call in a test binary
/// says on stderr which backends it leaves out.
///
/// # Panics
/// When `TRICIRCLE_TEST_REQUIRE_ALL=1` and a server variable is unset, so a
/// CI run cannot silently skip a backend.
pub fn backends_under_test() -> Vec<Backend> {
    let require_all = std::env::var(REQUIRE_ALL_ENV).is_ok_and(|v| v == "1");
    let mut out = vec![Backend::Sqlite];
    let mut unset = Vec::new();
    for b in [Backend::Mysql, Backend::Postgres] {
        if admin_url(b).is_some() {
            out.push(b);
        } else if require_all {
            panic!(
                "{REQUIRE_ALL_ENV}=1 but {} is not set: start the test servers \
                 (source scripts/lib/db-servers.sh; mariadb_start; postgres_start)",
                env_for(b).unwrap_or_default()
            );
        } else {
            unset.push(format!(
                "{b} ({} is not set)",
                env_for(b).unwrap_or_default()
            ));
        }
    }
    static NOTE: std::sync::Once = std::sync::Once::new();
    if !unset.is_empty() {
        NOTE.call_once(|| {
            // Straight to stderr: libtest captures eprintln! output and
            // shows it only for failing tests, which would hide the note.
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "note: the database tests here skip {}; to run them: source \
                 scripts/lib/db-servers.sh; mariadb_start; postgres_start (scripts/test does)",
                unset.join(" and ")
            );
        });
    }
    out
}

enum Cleanup {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Server { admin: String, name: String },
}

/// A fresh database, removed when dropped.
pub struct TestDb {
    /// SQLAlchemy-style URL of the database (contains the password).
    pub url: String,
    pub db: Db,
    pub backend: Backend,
    cleanup: Option<Cleanup>,
}

impl std::fmt::Debug for TestDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestDb")
            .field("url", &crate::redact(&self.url))
            .field("backend", &self.backend)
            .finish()
    }
}

fn unique_name() -> String {
    format!("tricircle_test_{}", uuid::Uuid::new_v4().simple())
}

/// Replace the database part of a server URL.
fn with_database(admin: &str, name: &str) -> Result<String, DbError> {
    let mut u = url::Url::parse(admin)
        .map_err(|e| DbError::InvalidUrl(format!("{e}: {}", crate::redact(admin))))?;
    u.set_path(&format!("/{name}"));
    Ok(u.to_string())
}

fn admin_exec(backend: Backend, admin: &str, sql: &str) -> Result<(), DbError> {
    let target = DbUrl::parse(admin)?;
    let err = |e: diesel::ConnectionError| DbError::Pool(format!("{}: {e}", crate::redact(admin)));
    match backend {
        Backend::Mysql => diesel::MysqlConnection::establish(target.target())
            .map_err(err)?
            .batch_execute(sql)?,
        Backend::Postgres => diesel::PgConnection::establish(target.target())
            .map_err(err)?
            .batch_execute(sql)?,
        Backend::Sqlite => {}
    }
    Ok(())
}

impl TestDb {
    /// A fresh empty database on `backend`; `None` when the backend's server
    /// variable is unset.
    ///
    /// # Panics
    /// When the server is configured but the database cannot be created.
    pub fn new(backend: Backend) -> Option<TestDb> {
        Self::try_new(backend)
            .unwrap_or_else(|e| panic!("cannot create a {backend} test database: {e}"))
    }

    /// Like [`TestDb::new`] but returns the error.
    pub fn try_new(backend: Backend) -> Result<Option<TestDb>, DbError> {
        let opts = PoolOptions {
            max_size: 4,
            ..PoolOptions::default()
        };
        let (url, cleanup) = match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().map_err(|e| DbError::Other(e.to_string()))?;
                let path = dir.path().join("tricircle.db");
                // sqlite:/// + an absolute path gives the four slashes SQLAlchemy uses.
                (
                    format!("sqlite:///{}", path.display()),
                    Cleanup::Sqlite(dir),
                )
            }
            Backend::Mysql | Backend::Postgres => {
                let Some(admin) = admin_url(backend) else {
                    return Ok(None);
                };
                let name = unique_name();
                let create = match backend {
                    // utf8 as devstack creates the Tricircle database.
                    Backend::Mysql => format!("CREATE DATABASE {name} CHARACTER SET utf8"),
                    _ => format!("CREATE DATABASE {name} ENCODING 'UTF8'"),
                };
                admin_exec(backend, &admin, &create)?;
                (
                    with_database(&admin, &name)?,
                    Cleanup::Server { admin, name },
                )
            }
        };
        let db = Db::connect(&url, &opts)?;
        Ok(Some(TestDb {
            url,
            db,
            backend,
            cleanup: Some(cleanup),
        }))
    }

    /// A fresh database with the schema applied (`db_sync`).
    pub fn synced(backend: Backend) -> Option<TestDb> {
        let t = Self::new(backend)?;
        crate::migrate::db_sync(&t.db)
            .unwrap_or_else(|e| panic!("db_sync on a fresh {backend} database failed: {e}"));
        Some(t)
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(Cleanup::Server { admin, name }) = self.cleanup.take() {
            // Close our pool first; other clones of `db` may still hold
            // connections, hence FORCE on PostgreSQL.
            let replacement = Db::connect("sqlite://", &PoolOptions::default());
            if let Ok(r) = replacement {
                drop(std::mem::replace(&mut self.db, r));
            }
            let sql = match self.backend {
                Backend::Postgres => format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
                _ => format!("DROP DATABASE IF EXISTS {name}"),
            };
            if let Err(e) = admin_exec(self.backend, &admin, &sql) {
                eprintln!("warning: could not drop test database {name}: {e}");
            }
        }
    }
}

/// A dump of a database as the original Tricircle leaves it at schema
/// version 11 (its `migrate_version` row included), with a few rows in
/// every table: what an existing deployment brings to `db_sync`.
pub fn legacy_fixture(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => include_str!("../tests/fixtures/tricircle-011-sqlite.sql"),
        Backend::Mysql => include_str!("../tests/fixtures/tricircle-011-mysql.sql"),
        Backend::Postgres => include_str!("../tests/fixtures/tricircle-011-postgres.sql"),
    }
}

impl TestDb {
    /// Execute SQL on a connection of its own (outside the pool, so session
    /// settings in a dump do not leak, and SQLite's foreign key enforcement
    /// is off as in the tool that wrote the dump).
    ///
    /// # Panics
    /// When the SQL fails.
    pub fn exec_raw(&self, sql: &str) {
        let url = DbUrl::parse(&self.url).expect("test database URL parses");
        let target = url.target();
        let r = match self.backend {
            Backend::Sqlite => {
                crate::conn::sqlite_multithread();
                diesel::SqliteConnection::establish(target)
            }
            .expect("connect")
            .batch_execute(sql),
            Backend::Mysql => diesel::MysqlConnection::establish(target)
                .expect("connect")
                .batch_execute(sql),
            Backend::Postgres => diesel::PgConnection::establish(target)
                .expect("connect")
                .batch_execute(sql),
        };
        r.unwrap_or_else(|e| panic!("{}: {e}", self.backend));
    }

    /// Load [`legacy_fixture`] into this (empty) database.
    pub fn load_legacy_fixture(&self) {
        self.exec_raw(legacy_fixture(self.backend));
    }
}

/// Run the async test body `f` on a fresh synced database of every backend
/// under test ([`backends_under_test`]), on a runtime with two workers.
///
/// # Panics
/// When a backend under test cannot give a database, or when `f` panics.
pub fn each_backend<F, Fut>(f: F)
where
    F: Fn(TestDb) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a test runtime");
    for b in backends_under_test() {
        rt.block_on(f(TestDb::synced(b).expect("backend under test")));
    }
}

/// The statuses of the `async_jobs` rows of `resource`, sorted; a row
/// without a status reads as `""`.
///
/// # Panics
/// When the query fails.
pub async fn job_statuses(db: &Db, resource: &str) -> Vec<String> {
    use crate::schema::async_jobs;
    use diesel::prelude::*;
    let r = resource.to_owned();
    let mut v: Vec<String> = db
        .run(move |c| {
            Ok(async_jobs::table
                .filter(async_jobs::resource_id.eq(r))
                .select(async_jobs::status)
                .load::<Option<String>>(c)?)
        })
        .await
        .expect("reading async_jobs")
        .into_iter()
        .map(Option::unwrap_or_default)
        .collect();
    v.sort();
    v
}

/// How many `async_job_logs` rows `resource` has.
///
/// # Panics
/// When the query fails.
pub async fn job_logs(db: &Db, resource: &str) -> i64 {
    use crate::schema::async_job_logs;
    use diesel::prelude::*;
    let r = resource.to_owned();
    db.run(move |c| {
        Ok(async_job_logs::table
            .filter(async_job_logs::resource_id.eq(r))
            .count()
            .get_result(c)?)
    })
    .await
    .expect("reading async_job_logs")
}

/// Create the pods `(pod_id, region_name, az_name)` (no pod AZ, no DC).
///
/// # Panics
/// When a pod cannot be created.
pub async fn create_pods(db: &Db, pods: &[(&str, &str, &str)]) {
    for &(id, region, az) in pods {
        let p = crate::models::NewPod {
            pod_id: id.into(),
            region_name: region.into(),
            pod_az_name: None,
            dc_name: None,
            az_name: az.into(),
        };
        db.run(move |c| crate::pods::create(c, &p))
            .await
            .expect("creating a pod");
    }
}
