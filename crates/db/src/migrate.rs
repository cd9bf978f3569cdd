//! Schema versioning (`tricircle-db-manage db_sync` / `db_version`).
//!
//! Migrations are embedded per backend from `migrations/{sqlite,mysql,postgres}`
//! and tracked in diesel's `__diesel_schema_migrations` table. The first one,
//! `011_baseline`, creates the schema exactly as the original project's
//! migrations 001–011 leave it, and also writes the original's bookkeeping
//! table `migrate_version` with ('tricircle', ..., 11). Later migrations are
//! numbered from 012 on.
//!
//! Adoption rule for databases created by the original Tricircle:
//! * `migrate_version` says 'tricircle' is at version 11 and diesel has not
//!   recorded anything yet: the baseline is recorded as applied **without
//!   running it** (no table or row is touched), then any later migrations run.
//!   On SQLite only, a `resource_routings.id` declared BIGINT (as the
//!   original's migrations create it, which SQLite never auto-fills) is
//!   rebuilt as `INTEGER PRIMARY KEY AUTOINCREMENT`, keeping every row.
//! * version below 11: refused; upgrade with the original
//!   `tricircle-db-manage db_sync` first. Above 11: refused (unknown schema).
//! * Tricircle tables present but no version information at all: refused.
//! * An empty database gets every migration.
//!
//! Running `db_sync` again is a no-op. `migrate_version` is left at 11 by
//! later migrations: it describes the original's schema history only.

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::Text;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use crate::schema::migrate_version;
use crate::{AnyConnection, Backend, Db, DbError};

const SQLITE: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");
const MYSQL: EmbeddedMigrations = embed_migrations!("../../migrations/mysql");
const POSTGRES: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");

/// The original project's last schema version, which our baseline matches.
pub const BASELINE_VERSION: i64 = 11;
/// `repository_id` of the original's row in `migrate_version`.
pub const LEGACY_REPOSITORY_ID: &str = "tricircle";
/// diesel's bookkeeping table.
const DIESEL_TABLE: &str = "__diesel_schema_migrations";

/// The tables of the Tricircle schema.
pub const TABLES: [&str; 8] = [
    "pods",
    "cached_endpoints",
    "resource_routings",
    "async_jobs",
    "async_job_logs",
    "shadow_agents",
    "recycle_resources",
    "deleting_resources",
];

diesel::table! {
    __diesel_schema_migrations (version) {
        version -> Varchar,
        run_on -> Timestamp,
    }
}

/// What [`db_sync`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncReport {
    /// An original Tricircle database was adopted in this run.
    pub adopted: bool,
    /// Versions of the migrations run now (e.g. `["011"]` on an empty DB).
    pub applied: Vec<String>,
    /// The schema version afterwards.
    pub version: i64,
}

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = Text)]
    name: String,
}

/// Names of the tables in the connection's current database/schema.
pub fn list_tables(conn: &mut AnyConnection) -> Result<Vec<String>, DbError> {
    let sql = match conn.backend() {
        Backend::Sqlite => "SELECT name AS name FROM sqlite_master WHERE type = 'table'",
        Backend::Mysql => {
            "SELECT CAST(table_name AS CHAR) AS name FROM information_schema.tables \
             WHERE table_schema = DATABASE()"
        }
        Backend::Postgres => {
            "SELECT CAST(table_name AS TEXT) AS name FROM information_schema.tables \
             WHERE table_schema = current_schema()"
        }
    };
    Ok(diesel::sql_query(sql)
        .load::<Name>(conn)?
        .into_iter()
        .map(|n| n.name)
        .collect())
}

fn migrations_for(backend: Backend) -> EmbeddedMigrations {
    match backend {
        Backend::Sqlite => SQLITE,
        Backend::Mysql => MYSQL,
        Backend::Postgres => POSTGRES,
    }
}

fn mig_err(e: impl std::fmt::Display) -> DbError {
    DbError::Migration(e.to_string())
}

/// The leading number of a migration version such as "011" or "012".
fn version_number(v: &str) -> Option<i64> {
    let digits: String = v.chars().take_while(|c| c.is_ascii_digit()).collect();
    digits.parse().ok()
}

struct State {
    tables: Vec<String>,
    applied: Vec<String>,
    legacy: Option<i64>,
}

fn inspect(conn: &mut AnyConnection) -> Result<State, DbError> {
    let tables = list_tables(conn)?;
    let applied = if tables.iter().any(|t| t == DIESEL_TABLE) {
        __diesel_schema_migrations::table
            .select(__diesel_schema_migrations::version)
            .load::<String>(conn)?
    } else {
        Vec::new()
    };
    let legacy = if tables.iter().any(|t| t == "migrate_version") {
        migrate_version::table
            .filter(migrate_version::repository_id.eq(LEGACY_REPOSITORY_ID))
            .select(migrate_version::version)
            .first::<Option<i32>>(conn)
            .optional()?
            .flatten()
            .map(i64::from)
    } else {
        None
    };
    Ok(State {
        tables,
        applied,
        legacy,
    })
}

fn version_of(state: &State) -> Option<i64> {
    state
        .applied
        .iter()
        .filter_map(|v| version_number(v))
        .max()
        .or(state.legacy)
}

/// The current schema version: 11 for the baseline (or an original
/// Tricircle database not yet adopted), the highest applied migration's
/// number otherwise, `None` when the database is not under version control.
pub fn db_version(db: &Db) -> Result<Option<i64>, DbError> {
    let mut conn = db.get()?;
    Ok(version_of(&inspect(&mut conn)?))
}

fn run_pending(conn: &mut AnyConnection) -> Result<Vec<String>, DbError> {
    let source = migrations_for(conn.backend());
    let done = match conn {
        AnyConnection::Sqlite(c) => c.run_pending_migrations(source),
        AnyConnection::Mysql(c) => c.run_pending_migrations(source),
        AnyConnection::Pg(c) => c.run_pending_migrations(source),
    }
    .map_err(mig_err)?;
    Ok(done.iter().map(|v| v.to_string()).collect())
}

/// The schema version this release brings a database to: the number of the
/// newest embedded migration (the same on every backend).
pub fn latest_version() -> i64 {
    use diesel::migration::MigrationSource;
    MigrationSource::<diesel::sqlite::Sqlite>::migrations(&SQLITE)
        .ok()
        .and_then(|ms| {
            ms.iter()
                .filter_map(|m| version_number(&m.name().version().to_string()))
                .max()
        })
        .unwrap_or(BASELINE_VERSION)
}

/// Create diesel's bookkeeping table (if needed) and mark the baseline as
/// applied.
fn record_baseline(conn: &mut AnyConnection) -> Result<(), DbError> {
    match conn {
        AnyConnection::Sqlite(c) => c.applied_migrations().map(drop),
        AnyConnection::Mysql(c) => c.applied_migrations().map(drop),
        AnyConnection::Pg(c) => c.applied_migrations().map(drop),
    }
    .map_err(mig_err)?;
    let baseline = baseline_version(conn.backend())?;
    let now = crate::time::now(conn);
    diesel::insert_into(__diesel_schema_migrations::table)
        .values((
            __diesel_schema_migrations::version.eq(baseline),
            __diesel_schema_migrations::run_on.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

fn baseline_version(backend: Backend) -> Result<String, DbError> {
    use diesel::migration::MigrationSource;
    let migrations =
        MigrationSource::<diesel::sqlite::Sqlite>::migrations(&migrations_for(backend))
            .map_err(mig_err)?;
    let first = migrations
        .iter()
        .map(|m| m.name().version().to_string())
        .min()
        .ok_or_else(|| DbError::Migration("no embedded migrations".into()))?;
    Ok(first)
}

/// SQLite only: the original migrations declare `resource_routings.id` as
/// BIGINT, which is not an alias of the rowid, so SQLite never assigns ids.
/// Rebuild the table with the baseline's definition, keeping the rows.
fn repair_sqlite_routing_id(conn: &mut AnyConnection) -> Result<bool, DbError> {
    #[derive(QueryableByName)]
    struct ColType {
        #[diesel(sql_type = Text)]
        col_type: String,
    }
    let t: Vec<ColType> = diesel::sql_query(
        "SELECT type AS col_type FROM pragma_table_info('resource_routings') WHERE name = 'id'",
    )
    .load(conn)?;
    if t.first()
        .is_none_or(|c| c.col_type.eq_ignore_ascii_case("INTEGER"))
    {
        return Ok(false);
    }
    tracing::info!("rebuilding resource_routings so that SQLite assigns its ids");
    conn.transaction(|c| {
        c.batch_execute(SQLITE_ROUTINGS_REBUILD)
            .map_err(DbError::from)
    })?;
    Ok(true)
}

/// The baseline's resource_routings definition (see
/// migrations/sqlite/011_baseline), used to rebuild an adopted table.
const SQLITE_ROUTINGS_REBUILD: &str = "
CREATE TABLE resource_routings__rebuild (
	id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
	top_id VARCHAR(127) NOT NULL,
	bottom_id VARCHAR(36),
	pod_id VARCHAR(36) NOT NULL,
	project_id VARCHAR(36),
	resource_type VARCHAR(64) NOT NULL,
	created_at DATETIME,
	updated_at DATETIME,
	CONSTRAINT resource_routings0top_id0pod_id0resource_type UNIQUE (top_id, pod_id, resource_type),
	CONSTRAINT resource_routings_pod_id_fkey FOREIGN KEY (pod_id) REFERENCES pods (pod_id)
);
INSERT INTO resource_routings__rebuild
	(id, top_id, bottom_id, pod_id, project_id, resource_type, created_at, updated_at)
	SELECT id, top_id, bottom_id, pod_id, project_id, resource_type, created_at, updated_at
	FROM resource_routings;
DROP TABLE resource_routings;
ALTER TABLE resource_routings__rebuild RENAME TO resource_routings;
CREATE INDEX resource_routings0bottom_id ON resource_routings (bottom_id);
";

/// Bring the database to the newest schema, adopting an original Tricircle
/// database at version 11 (see the module documentation).
pub fn db_sync(db: &Db) -> Result<SyncReport, DbError> {
    let mut conn = db.get()?;
    let conn = &mut *conn;
    let state = inspect(conn)?;
    let mut adopted = false;
    if state.applied.is_empty() {
        match state.legacy {
            Some(BASELINE_VERSION) => {
                tracing::info!("adopting Tricircle database at schema version {BASELINE_VERSION}");
                if conn.backend() == Backend::Sqlite {
                    repair_sqlite_routing_id(conn)?;
                }
                record_baseline(conn)?;
                adopted = true;
            }
            Some(v) if v < BASELINE_VERSION => {
                return Err(DbError::Migration(format!(
                    "database at Tricircle schema version {v}; upgrade it to \
                     {BASELINE_VERSION} with the original tricircle-db-manage db_sync first"
                )))
            }
            Some(v) => {
                return Err(DbError::Migration(format!(
                    "database at Tricircle schema version {v}, which is newer than \
                     {BASELINE_VERSION}, the last one this release knows"
                )))
            }
            None => {
                let present: Vec<&str> = TABLES
                    .iter()
                    .copied()
                    .filter(|t| state.tables.iter().any(|x| x == t))
                    .collect();
                if !present.is_empty() {
                    return Err(DbError::Migration(format!(
                        "database has Tricircle tables ({}) but no schema version \
                         (no 'tricircle' row in migrate_version); refusing to touch it",
                        present.join(", ")
                    )));
                }
            }
        }
    }
    let applied = run_pending(conn)?;
    let version = version_of(&inspect(conn)?)
        .ok_or_else(|| DbError::Migration("no schema version after sync".into()))?;
    tracing::info!(version, adopted, applied = ?applied, "database schema is up to date");
    Ok(SyncReport {
        adopted,
        applied,
        version,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_numbers() {
        assert_eq!(version_number("011"), Some(11));
        assert_eq!(version_number("012"), Some(12));
        assert_eq!(version_number("x"), None);
    }

    #[test]
    fn latest_version_is_at_least_the_baseline() {
        assert!(latest_version() >= BASELINE_VERSION);
    }

    #[test]
    fn every_backend_starts_with_the_011_baseline() {
        for b in [Backend::Sqlite, Backend::Mysql, Backend::Postgres] {
            assert_eq!(baseline_version(b).unwrap(), "011", "{b}");
        }
    }
}
