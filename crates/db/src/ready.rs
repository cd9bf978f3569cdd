//! Start-up checks of a service's database (tricircle-api, tricircle-xjob):
//! refuse to start, with one line saying what to do, rather than serve
//! requests that would hang and fail. `tricircle-db-manage` does not use
//! them: creating and syncing the database is its job.

use std::time::Duration;

use tricircle_config::Config;

use crate::{migrate, redact, Db, DbError, DbUrl, OpenError, PoolOptions};

/// Why a service must not start on its database.
#[derive(Debug, thiserror::Error)]
pub enum NotReady {
    #[error(transparent)]
    Open(#[from] OpenError),
    #[error(
        "database file {path} does not exist (not created: an empty database serves nothing); \
         create it with `tricircle-db-manage --config-file <file> db_sync`"
    )]
    MissingFile { path: String },
    #[error(
        "database {url} unreachable after {attempts} attempt(s) \
         ([database] max_retries, retry_interval): {source}"
    )]
    Unreachable {
        url: String,
        attempts: u64,
        source: DbError,
    },
    #[error("database {url}: {source}")]
    Failed { url: String, source: DbError },
    #[error(
        "database {url} has no Tricircle schema; run `tricircle-db-manage --config-file <file> db_sync`"
    )]
    NoSchema { url: String },
    #[error(
        "database {url} is at schema version {found}, this release needs {expected}; \
         run `tricircle-db-manage --config-file <file> db_sync`"
    )]
    Behind {
        url: String,
        found: i64,
        expected: i64,
    },
    #[error(
        "database {url} is at schema version {found}, newer than this release ({expected}); \
         run the release that synced it"
    )]
    Ahead {
        url: String,
        found: i64,
        expected: i64,
    },
}

/// Check that the configured database exists, answers and holds this
/// release's schema. An unreachable server is retried `[database]
/// max_retries` times (-1: forever) every `retry_interval` seconds, each
/// attempt logged; an SQLite file is never created here.
pub fn wait_ready(config: &Config) -> Result<(), NotReady> {
    let url = config
        .database_url()
        .map_err(|e| NotReady::Open(OpenError::Config(Box::new(e))))?;
    let redacted = redact(url.expose());
    let parsed = DbUrl::parse(url.expose()).map_err(|source| OpenError::Connect {
        url: redacted.clone(),
        source,
    })?;
    if let Some(path) = parsed.sqlite_file() {
        if !std::path::Path::new(path).exists() {
            return Err(NotReady::MissingFile {
                path: path.to_owned(),
            });
        }
    }
    let opts = &config.database;
    let pool = PoolOptions {
        max_size: 1,
        // Each attempt waits a few seconds at most; max_retries paces the rest.
        timeout: Duration::from_secs(opts.pool_timeout.unwrap_or(5).clamp(1, 5) as u64),
    };
    let db = Db::connect(url.expose(), &pool).map_err(|source| OpenError::Connect {
        url: redacted.clone(),
        source,
    })?;
    let interval = Duration::from_secs(opts.retry_interval.max(0) as u64);
    let mut attempt: u64 = 0;
    let found = loop {
        attempt += 1;
        match migrate::db_version(&db) {
            Ok(v) => break v,
            // Only "cannot connect" is worth waiting for (a server still
            // starting); anything else will not change by waiting.
            Err(source @ DbError::Pool(_))
                if opts.max_retries < 0 || attempt <= opts.max_retries as u64 =>
            {
                tracing::warn!(
                    url = %redacted, attempt, error = %source,
                    "database unreachable; retrying in {} s", interval.as_secs()
                );
                std::thread::sleep(interval);
            }
            Err(DbError::Pool(message)) => {
                // libpq's messages span lines; start-up errors are one line.
                let message = message.split_whitespace().collect::<Vec<_>>().join(" ");
                return Err(NotReady::Unreachable {
                    url: redacted,
                    attempts: attempt,
                    source: DbError::Pool(message),
                });
            }
            Err(source) => {
                return Err(NotReady::Failed {
                    url: redacted,
                    source,
                })
            }
        }
    };
    let expected = migrate::latest_version();
    match found {
        None => Err(NotReady::NoSchema { url: redacted }),
        Some(v) if v < expected => Err(NotReady::Behind {
            url: redacted,
            found: v,
            expected,
        }),
        Some(v) if v > expected => Err(NotReady::Ahead {
            url: redacted,
            found: v,
            expected,
        }),
        Some(_) => Ok(()),
    }
}
