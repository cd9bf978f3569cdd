use chrono::{NaiveDateTime, SubsecRound, Utc};

use crate::{AnyConnection, Backend};

/// The current UTC time at the precision the backend stores.
///
/// The reference's columns are `TIMESTAMP`/`DATETIME` without fractional
/// seconds on MySQL (whole seconds; MariaDB truncates, MySQL would round, so
/// truncate here to get the same value everywhere) and microseconds on
/// PostgreSQL and SQLite.
pub fn now(conn: &AnyConnection) -> NaiveDateTime {
    now_for(conn.backend())
}

pub fn now_for(backend: Backend) -> NaiveDateTime {
    truncate_for(backend, Utc::now().naive_utc())
}

/// Reduce `t` to the precision `backend` stores.
pub fn truncate_for(backend: Backend, t: NaiveDateTime) -> NaiveDateTime {
    match backend {
        Backend::Mysql => t.trunc_subsecs(0),
        Backend::Sqlite | Backend::Postgres => t.trunc_subsecs(6),
    }
}
