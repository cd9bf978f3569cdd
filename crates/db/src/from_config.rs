//! Opening the database the configuration names, with oslo.db's pool sizing.

use std::time::Duration;

use tricircle_config::{Config, ConfigError, DatabaseOptions};

use crate::{redact, Db, DbError, PoolOptions};

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
    pub fn from_options(db: &DatabaseOptions) -> PoolOptions {
        let size = db.max_pool_size.unwrap_or(5).max(1) + db.max_overflow.unwrap_or(0).max(0);
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
        Db::connect(url.expose(), &PoolOptions::from_options(&config.database)).map_err(|source| {
            OpenError::Connect {
                url: redact(url.expose()),
                source,
            }
        })
    }
}
