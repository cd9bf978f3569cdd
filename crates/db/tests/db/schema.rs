//! The schema db_sync creates must be the one the original Tricircle's
//! migrations leave (checked through the database's own catalog), and an
//! adopted original database must look the same afterwards.

use crate::common;

use std::collections::BTreeMap;

use common::{each_empty, load_fixture, TestDb};
use diesel::prelude::*;
use diesel::sql_types::{Integer, Nullable, Text};
use tricircle_db::migrate::db_sync;
use tricircle_db::{AnyConnection, Backend};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Ty {
    Varchar(u32),
    Id,
    Timestamp,
    Datetime,
    LongText,
    Int,
}
use Ty::*;

/// (table, [(column, type, nullable)]).
type Columns = Vec<(&'static str, Vec<(&'static str, Ty, bool)>)>;

/// (column, type, nullable) in table order.
fn expected_columns() -> Columns {
    vec![
        (
            "pods",
            vec![
                ("pod_id", Varchar(36), false),
                ("region_name", Varchar(255), false),
                ("pod_az_name", Varchar(255), true),
                ("dc_name", Varchar(255), true),
                ("az_name", Varchar(255), false),
            ],
        ),
        (
            "cached_endpoints",
            vec![
                ("service_id", Varchar(64), false),
                ("pod_id", Varchar(36), false),
                ("service_type", Varchar(64), false),
                ("service_url", Varchar(512), false),
            ],
        ),
        (
            "resource_routings",
            vec![
                ("id", Id, false),
                ("top_id", Varchar(127), false),
                ("bottom_id", Varchar(36), true),
                ("pod_id", Varchar(36), false),
                ("project_id", Varchar(36), true),
                ("resource_type", Varchar(64), false),
                ("created_at", Datetime, true),
                ("updated_at", Datetime, true),
            ],
        ),
        (
            "async_jobs",
            vec![
                ("id", Varchar(36), false),
                ("type", Varchar(36), true),
                ("timestamp", Timestamp, true),
                ("status", Varchar(36), true),
                ("resource_id", Varchar(127), true),
                ("extra_id", Varchar(36), true),
                ("project_id", Varchar(36), true),
            ],
        ),
        (
            "async_job_logs",
            vec![
                ("id", Varchar(36), false),
                ("resource_id", Varchar(127), true),
                ("type", Varchar(36), true),
                ("timestamp", Timestamp, true),
                ("project_id", Varchar(36), true),
            ],
        ),
        (
            "shadow_agents",
            vec![
                ("id", Varchar(36), false),
                ("pod_id", Varchar(36), false),
                ("host", Varchar(255), false),
                ("type", Varchar(36), false),
                ("tunnel_ip", Varchar(48), false),
            ],
        ),
        (
            "recycle_resources",
            vec![
                ("resource_id", Varchar(36), false),
                ("resource_type", Varchar(64), false),
                ("project_id", Varchar(36), false),
            ],
        ),
        (
            "deleting_resources",
            vec![
                ("resource_id", Varchar(127), false),
                ("resource_type", Varchar(64), false),
                ("deleted_at", Datetime, true),
            ],
        ),
        (
            "migrate_version",
            vec![
                ("repository_id", Varchar(250), false),
                ("repository_path", LongText, true),
                ("version", Int, true),
            ],
        ),
    ]
}

/// How each backend spells a type in its catalog.
fn spelled(b: Backend, t: Ty) -> String {
    match (b, t) {
        (Backend::Mysql, Varchar(n)) => format!("varchar({n})"),
        (Backend::Mysql, Id) => "bigint".into(),
        (Backend::Mysql, Timestamp) => "timestamp".into(),
        (Backend::Mysql, Datetime) => "datetime".into(),
        (Backend::Mysql, LongText) => "text".into(),
        (Backend::Mysql, Int) => "int".into(),
        (Backend::Postgres, Varchar(n)) => format!("character varying({n})"),
        (Backend::Postgres, Id) => "bigint".into(),
        (Backend::Postgres, Timestamp | Datetime) => "timestamp without time zone".into(),
        (Backend::Postgres, LongText) => "text".into(),
        (Backend::Postgres, Int) => "integer".into(),
        (Backend::Sqlite, Varchar(n)) => format!("VARCHAR({n})"),
        (Backend::Sqlite, Id) => "INTEGER".into(),
        (Backend::Sqlite, Timestamp) => "TIMESTAMP".into(),
        (Backend::Sqlite, Datetime) => "DATETIME".into(),
        (Backend::Sqlite, LongText) => "TEXT".into(),
        (Backend::Sqlite, Int) => "INTEGER".into(),
    }
}

#[derive(QueryableByName, Debug)]
struct Col {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    ty: String,
    #[diesel(sql_type = Integer)]
    nullable: i32,
}

fn columns(c: &mut AnyConnection, table: &str) -> Vec<(String, String, bool)> {
    let sql = match c.backend() {
        Backend::Sqlite => format!(
            "SELECT name, type AS ty, CAST(1 - \"notnull\" AS INTEGER) AS nullable \
             FROM pragma_table_info('{table}') ORDER BY cid"
        ),
        Backend::Mysql => format!(
            "SELECT CAST(column_name AS CHAR) AS name, CAST(column_type AS CHAR) AS ty, \
             CAST(is_nullable = 'YES' AS SIGNED) AS nullable FROM information_schema.columns \
             WHERE table_schema = DATABASE() AND table_name = '{table}' ORDER BY ordinal_position"
        ),
        Backend::Postgres => format!(
            "SELECT CAST(column_name AS TEXT) AS name, \
             CAST(data_type AS TEXT) || COALESCE('(' || character_maximum_length || ')', '') AS ty, \
             CAST(is_nullable = 'YES' AS INTEGER) AS nullable FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = '{table}' ORDER BY ordinal_position"
        ),
    };
    diesel::sql_query(sql)
        .load::<Col>(c)
        .unwrap()
        .into_iter()
        .map(|r| {
            // MySQL < 8.0.19 / MariaDB print display widths: bigint(20), int(11).
            let ty = match r.ty.split_once('(') {
                Some((base, _)) if base.ends_with("int") => base.to_string(),
                _ => r.ty,
            };
            (r.name, ty, r.nullable != 0)
        })
        .collect()
}

/// Index or unique/primary constraint: (unique, columns).
type Indexes = BTreeMap<String, (bool, Vec<String>)>;

#[derive(QueryableByName, Debug)]
struct IdxRow {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Integer)]
    uniq: i32,
    #[diesel(sql_type = Text)]
    col: String,
}

fn indexes(c: &mut AnyConnection, table: &str) -> Indexes {
    let sql = match c.backend() {
        Backend::Sqlite => format!(
            "SELECT l.name AS name, l.\"unique\" AS uniq, i.name AS col \
             FROM pragma_index_list('{table}') l, pragma_index_info(l.name) i \
             ORDER BY l.name, i.seqno"
        ),
        Backend::Mysql => format!(
            "SELECT CAST(index_name AS CHAR) AS name, CAST(1 - non_unique AS SIGNED) AS uniq, \
             CAST(column_name AS CHAR) AS col FROM information_schema.statistics \
             WHERE table_schema = DATABASE() AND table_name = '{table}' \
             ORDER BY index_name, seq_in_index"
        ),
        Backend::Postgres => format!(
            "SELECT CAST(ic.relname AS TEXT) AS name, CAST(ix.indisunique AS INTEGER) AS uniq, \
             CAST(a.attname AS TEXT) AS col \
             FROM pg_index ix JOIN pg_class t ON t.oid = ix.indrelid \
             JOIN pg_class ic ON ic.oid = ix.indexrelid \
             JOIN pg_namespace n ON n.oid = t.relnamespace \
             JOIN LATERAL unnest(ix.indkey) WITH ORDINALITY AS k(attnum, ord) ON true \
             JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum \
             WHERE t.relname = '{table}' AND n.nspname = current_schema() \
             ORDER BY ic.relname, k.ord"
        ),
    };
    let mut out = Indexes::new();
    for r in diesel::sql_query(sql).load::<IdxRow>(c).unwrap() {
        out.entry(r.name)
            .or_insert_with(|| (r.uniq != 0, Vec::new()))
            .1
            .push(r.col);
    }
    out
}

/// (table, [(index name, unique, columns)]).
type ExpectedIndexes = Vec<(&'static str, Vec<(String, bool, Vec<&'static str>)>)>;

/// Expected indexes per table, by name; SQLite names the indexes behind
/// PRIMARY KEY/UNIQUE constraints itself (checked separately).
fn expected_indexes(b: Backend) -> ExpectedIndexes {
    let pk = |table: &str| match b {
        Backend::Mysql => "PRIMARY".to_string(),
        Backend::Postgres => format!("{table}_pkey"),
        Backend::Sqlite => format!("sqlite_autoindex_{table}_1"),
    };
    let auto = |table: &str, n: u32, name: &str| match b {
        Backend::Sqlite => format!("sqlite_autoindex_{table}_{n}"),
        _ => name.to_string(),
    };
    let fk_index = |name: &'static str| -> Option<(String, bool, Vec<&'static str>)> {
        // MySQL needs an index behind each foreign key and names it after
        // the constraint; the others do not create one.
        (b == Backend::Mysql).then(|| (name.to_string(), false, vec!["pod_id"]))
    };
    let mut v = vec![
        (
            "pods",
            vec![
                (pk("pods"), true, vec!["pod_id"]),
                (
                    match b {
                        Backend::Mysql => "region_name".to_string(),
                        Backend::Postgres => "pods_region_name_key".to_string(),
                        Backend::Sqlite => "sqlite_autoindex_pods_2".to_string(),
                    },
                    true,
                    vec!["region_name"],
                ),
            ],
        ),
        (
            "cached_endpoints",
            vec![(pk("cached_endpoints"), true, vec!["service_id"])],
        ),
        (
            "resource_routings",
            vec![
                (
                    auto(
                        "resource_routings",
                        1,
                        "resource_routings0top_id0pod_id0resource_type",
                    ),
                    true,
                    vec!["top_id", "pod_id", "resource_type"],
                ),
                (
                    "resource_routings0bottom_id".to_string(),
                    false,
                    vec!["bottom_id"],
                ),
            ],
        ),
        (
            "async_jobs",
            vec![
                (pk("async_jobs"), true, vec!["id"]),
                (
                    auto(
                        "async_jobs",
                        2,
                        "async_jobs0type0status0resource_id0extra_id",
                    ),
                    true,
                    vec!["type", "status", "resource_id", "extra_id"],
                ),
                (
                    "ix_async_jobs_timestamp".to_string(),
                    false,
                    vec!["timestamp"],
                ),
            ],
        ),
        (
            "async_job_logs",
            vec![
                (pk("async_job_logs"), true, vec!["id"]),
                (
                    "ix_async_job_logs_timestamp".to_string(),
                    false,
                    vec!["timestamp"],
                ),
            ],
        ),
        (
            "shadow_agents",
            vec![
                (pk("shadow_agents"), true, vec!["id"]),
                (
                    auto("shadow_agents", 2, "host0type"),
                    true,
                    vec!["host", "type"],
                ),
            ],
        ),
        (
            "recycle_resources",
            vec![
                (pk("recycle_resources"), true, vec!["resource_id"]),
                (
                    "ix_recycle_resources_project_id".to_string(),
                    false,
                    vec!["project_id"],
                ),
            ],
        ),
        ("deleting_resources", vec![]),
        (
            "migrate_version",
            vec![(pk("migrate_version"), true, vec!["repository_id"])],
        ),
    ];
    // The id of resource_routings is the rowid on SQLite (no separate index).
    if b != Backend::Sqlite {
        v[2].1.push((pk("resource_routings"), true, vec!["id"]));
    }
    for (table, name) in [
        ("cached_endpoints", "cached_endpoints_pod_id_fkey"),
        ("resource_routings", "resource_routings_pod_id_fkey"),
        ("shadow_agents", "shadow_agents_pod_id_fkey"),
    ] {
        if let Some(ix) = fk_index(name) {
            v.iter_mut().find(|(t, _)| *t == table).unwrap().1.push(ix);
        }
    }
    v
}

#[derive(QueryableByName, Debug, PartialEq)]
struct Fk {
    #[diesel(sql_type = Nullable<Text>)]
    name: Option<String>,
    #[diesel(sql_type = Text)]
    col: String,
    #[diesel(sql_type = Text)]
    ref_table: String,
    #[diesel(sql_type = Text)]
    ref_col: String,
}

fn foreign_keys(c: &mut AnyConnection, table: &str) -> Vec<Fk> {
    let sql = match c.backend() {
        // SQLite does not keep constraint names in its catalog.
        Backend::Sqlite => format!(
            "SELECT NULL AS name, \"from\" AS col, \"table\" AS ref_table, \"to\" AS ref_col \
             FROM pragma_foreign_key_list('{table}')"
        ),
        Backend::Mysql => format!(
            "SELECT CAST(constraint_name AS CHAR) AS name, CAST(column_name AS CHAR) AS col, \
             CAST(referenced_table_name AS CHAR) AS ref_table, \
             CAST(referenced_column_name AS CHAR) AS ref_col \
             FROM information_schema.key_column_usage WHERE table_schema = DATABASE() \
             AND table_name = '{table}' AND referenced_table_name IS NOT NULL"
        ),
        Backend::Postgres => format!(
            "SELECT CAST(tc.constraint_name AS TEXT) AS name, CAST(kcu.column_name AS TEXT) AS col, \
             CAST(ccu.table_name AS TEXT) AS ref_table, CAST(ccu.column_name AS TEXT) AS ref_col \
             FROM information_schema.table_constraints tc \
             JOIN information_schema.key_column_usage kcu \
               ON kcu.constraint_name = tc.constraint_name AND kcu.table_schema = tc.table_schema \
             JOIN information_schema.constraint_column_usage ccu \
               ON ccu.constraint_name = tc.constraint_name AND ccu.table_schema = tc.table_schema \
             WHERE tc.constraint_type = 'FOREIGN KEY' AND tc.table_name = '{table}' \
               AND tc.table_schema = current_schema()"
        ),
    };
    diesel::sql_query(sql).load::<Fk>(c).unwrap()
}

#[derive(QueryableByName)]
struct Sql {
    #[diesel(sql_type = Text)]
    sql: String,
}

fn assert_schema(t: &TestDb, what: &str) {
    let b = t.backend;
    let mut c = t.db.get().unwrap();
    for (table, cols) in expected_columns() {
        let want: Vec<(String, String, bool)> = cols
            .iter()
            .map(|(n, ty, null)| (n.to_string(), spelled(b, *ty), *null))
            .collect();
        assert_eq!(
            columns(&mut c, table),
            want,
            "{b} {what}: columns of {table}"
        );
    }
    for (table, idx) in expected_indexes(b) {
        let want: Indexes = idx
            .into_iter()
            .map(|(n, u, cols)| (n, (u, cols.into_iter().map(String::from).collect())))
            .collect();
        assert_eq!(
            indexes(&mut c, table),
            want,
            "{b} {what}: indexes of {table}"
        );
    }
    for table in ["cached_endpoints", "resource_routings", "shadow_agents"] {
        let name = (b != Backend::Sqlite).then(|| format!("{table}_pod_id_fkey"));
        assert_eq!(
            foreign_keys(&mut c, table),
            vec![Fk {
                name,
                col: "pod_id".into(),
                ref_table: "pods".into(),
                ref_col: "pod_id".into()
            }],
            "{b} {what}: foreign keys of {table}"
        );
    }
    for table in [
        "pods",
        "async_jobs",
        "async_job_logs",
        "recycle_resources",
        "deleting_resources",
    ] {
        assert!(
            foreign_keys(&mut c, table).is_empty(),
            "{b} {what}: {table} has no FK"
        );
    }
    match b {
        Backend::Sqlite => {
            // Unique constraint names live only in the table's SQL text.
            for (table, name) in [
                (
                    "resource_routings",
                    "resource_routings0top_id0pod_id0resource_type",
                ),
                ("async_jobs", "async_jobs0type0status0resource_id0extra_id"),
                ("shadow_agents", "host0type"),
            ] {
                let s = diesel::sql_query(format!(
                    "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = '{table}'"
                ))
                .get_result::<Sql>(&mut c)
                .unwrap()
                .sql;
                assert!(
                    s.contains(&format!("CONSTRAINT {name} UNIQUE")),
                    "{what}: {s}"
                );
            }
            let s =
                diesel::sql_query("SELECT sql FROM sqlite_master WHERE name = 'resource_routings'")
                    .get_result::<Sql>(&mut c)
                    .unwrap()
                    .sql;
            assert!(s.contains("PRIMARY KEY AUTOINCREMENT"), "{what}: {s}");
        }
        Backend::Mysql => {
            #[derive(QueryableByName)]
            struct T {
                #[diesel(sql_type = Text)]
                name: String,
                #[diesel(sql_type = Text)]
                engine: String,
                #[diesel(sql_type = Text)]
                collation: String,
            }
            let rows: Vec<T> = diesel::sql_query(
                "SELECT CAST(table_name AS CHAR) AS name, CAST(engine AS CHAR) AS engine, \
                 CAST(table_collation AS CHAR) AS collation FROM information_schema.tables \
                 WHERE table_schema = DATABASE()",
            )
            .load(&mut c)
            .unwrap();
            for r in rows
                .iter()
                .filter(|r| tricircle_db::migrate::TABLES.contains(&r.name.as_str()))
            {
                assert_eq!(r.engine, "InnoDB", "{what}: {}", r.name);
                assert!(
                    r.collation.starts_with("utf8_") || r.collation.starts_with("utf8mb3_"),
                    "{what}: {} uses {}",
                    r.name,
                    r.collation
                );
            }
            #[derive(QueryableByName)]
            struct D {
                #[diesel(sql_type = Nullable<Text>)]
                d: Option<String>,
                #[diesel(sql_type = Text)]
                extra: String,
            }
            let ts: D = diesel::sql_query(
                "SELECT CAST(column_default AS CHAR) AS d, CAST(extra AS CHAR) AS extra \
                 FROM information_schema.columns WHERE table_schema = DATABASE() \
                 AND table_name = 'async_jobs' AND column_name = 'timestamp'",
            )
            .get_result(&mut c)
            .unwrap();
            assert!(ts
                .d
                .unwrap_or_default()
                .to_lowercase()
                .starts_with("current_timestamp"));
            assert!(
                !ts.extra.to_lowercase().contains("on update"),
                "{what}: {}",
                ts.extra
            );
            let id: D = diesel::sql_query(
                "SELECT CAST(column_default AS CHAR) AS d, CAST(extra AS CHAR) AS extra \
                 FROM information_schema.columns WHERE table_schema = DATABASE() \
                 AND table_name = 'resource_routings' AND column_name = 'id'",
            )
            .get_result(&mut c)
            .unwrap();
            assert_eq!(id.extra, "auto_increment");
        }
        Backend::Postgres => {
            #[derive(QueryableByName)]
            struct D {
                #[diesel(sql_type = Nullable<Text>)]
                d: Option<String>,
            }
            let id: D = diesel::sql_query(
                "SELECT CAST(column_default AS TEXT) AS d FROM information_schema.columns \
                 WHERE table_schema = current_schema() AND table_name = 'resource_routings' \
                 AND column_name = 'id'",
            )
            .get_result(&mut c)
            .unwrap();
            assert_eq!(
                id.d.as_deref(),
                Some("nextval('resource_routings_id_seq'::regclass)"),
                "{what}"
            );
        }
    }
}

#[test]
fn synced_schema_matches_the_reference() {
    each_empty(|t| {
        db_sync(&t.db).unwrap();
        assert_schema(t, "fresh");
    });
}

#[test]
fn adopted_original_database_has_the_same_schema() {
    each_empty(|t| {
        load_fixture(t);
        db_sync(&t.db).unwrap();
        assert_schema(t, "adopted");
    });
}
