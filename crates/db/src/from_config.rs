//! Opening the database the configuration names, with oslo.db's pool sizing.

use std::time::Duration;

use tricircle_config::{Config, ConfigError, DatabaseOptions};

use crate::{redact, Backend, Db, DbError, DbUrl, PoolOptions};

/// Why [`Db::from_config`] could not open the database.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// No database URL is configured. Boxed: `ConfigError` is large.
    #[error(transparent)]
    Config(Box<ConfigError>),
    /// The URL is unusable or the pool could not be built.
    #[error("database {url}: {source}")]
    Connect {
        /// Redacted.
        url: String,
        #[source]
        source: DbError,
    },
}

impl PoolOptions {
    /// oslo.db sizes its pool as `max_pool_size` plus `max_overflow`, and
    /// waits `pool_timeout` seconds for a connection.
    ///
    /// On SQLite the pool is `max_pool_size` alone. Overflow is there for
    /// bursts of clients each waiting on a server's round trips; a SQLite
    /// query is local work on one file, which more connections than that
    /// do not speed up (the API's throughput stayed within noise), while
    /// each keeps its own page cache, prepared statements and thread:
    /// under 16 clients the 55 allowed became 16 open connections, the
    /// most of the API's heap, kept long after the load.
    pub fn from_options(db: &DatabaseOptions, backend: Backend) -> PoolOptions {
        let overflow = match backend {
            Backend::Sqlite => 0,
            Backend::Mysql | Backend::Postgres => db.max_overflow.unwrap_or(0).max(0),
        };
        let size = db.max_pool_size.unwrap_or(5).max(1) + overflow;
        PoolOptions {
            max_size: u32::try_from(size.min(1000)).unwrap_or(1000),
            timeout: Duration::from_secs(db.pool_timeout.unwrap_or(30).max(1) as u64),
        }
    }
}

impl Db {
    /// The database of `config.database_url()`, pooled by the `[database]`
    /// options.
    pub fn from_config(config: &Config) -> Result<Db, OpenError> {
        let url = config
            .database_url()
            .map_err(|e| OpenError::Config(Box::new(e)))?;
        let connect = || {
            let parsed = DbUrl::parse(url.expose())?;
            let opts = PoolOptions::from_options(&config.database, parsed.backend);
            Db::connect_parsed(parsed, &opts)
        };
        connect().map_err(|source| OpenError::Connect {
            url: redact(url.expose()),
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_pools_have_no_overflow() {
        // oslo.db's defaults: max_pool_size 5, max_overflow 50.
        let (config, _) = Config::load(&[]).unwrap();
        let opts = &config.database;
        assert_eq!(PoolOptions::from_options(opts, Backend::Sqlite).max_size, 5);
        assert_eq!(PoolOptions::from_options(opts, Backend::Mysql).max_size, 55);
        assert_eq!(
            PoolOptions::from_options(opts, Backend::Postgres).max_size,
            55
        );
    }
}
