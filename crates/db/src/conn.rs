//! Connection pool and the async entry points (`Db::run`, `Db::transaction`).

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::r2d2::{self, ManageConnection, Pool, PooledConnection, R2D2Connection};
use diesel::{Connection, ConnectionError};

use crate::dburl::DbUrl;
use crate::DbError;

/// One connection to any supported backend; every query in this crate is
/// written once against it.
#[derive(diesel::MultiConnection)]
pub enum AnyConnection {
    Sqlite(diesel::SqliteConnection),
    Mysql(diesel::MysqlConnection),
    Pg(diesel::PgConnection),
}

impl AnyConnection {
    pub fn backend(&self) -> Backend {
        match self {
            AnyConnection::Sqlite(_) => Backend::Sqlite,
            AnyConnection::Mysql(_) => Backend::Mysql,
            AnyConnection::Pg(_) => Backend::Postgres,
        }
    }

    /// Run `insert` in a savepoint, so that hitting a unique key does not
    /// poison a surrounding PostgreSQL transaction; `Ok(None)` when it did.
    pub(crate) fn insert_unless_duplicate<T>(
        &mut self,
        insert: impl FnOnce(&mut Self) -> Result<T, DbError>,
    ) -> Result<Option<T>, DbError> {
        match self.transaction(insert) {
            Ok(v) => Ok(Some(v)),
            Err(DbError::Duplicate(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// The database server family behind a [`Db`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Backend {
    Sqlite,
    Mysql,
    Postgres,
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Sqlite => "sqlite",
            Backend::Mysql => "mysql",
            Backend::Postgres => "postgresql",
        })
    }
}

/// Pool sizing, mirroring oslo.db's `max_pool_size` and `pool_timeout`.
#[derive(Clone, Debug)]
pub struct PoolOptions {
    pub max_size: u32,
    pub timeout: Duration,
}

impl Default for PoolOptions {
    fn default() -> Self {
        // oslo.db defaults: max_pool_size=5, pool_timeout=30 (seconds).
        PoolOptions {
            max_size: 5,
            timeout: Duration::from_secs(30),
        }
    }
}

/// How long a SQLite connection waits for a competing writer before
/// reporting "database is locked".
const SQLITE_BUSY_TIMEOUT_MS: u32 = 5000;

/// Put SQLite in its multi-thread mode before it opens anything: no mutex
/// on each connection, whose calls (one per column of every row read)
/// took a tenth of a routings page's time. Safe because a connection is
/// never used by two threads at once (diesel's connection is not `Sync`;
/// the pool hands it to one caller at a time); rusqlite opens every
/// connection so by default. Every SQLite connection this crate opens calls
/// this first; when SQLite was already started by someone else the call is
/// refused and the safe serialized mode stays.
pub(crate) fn sqlite_multithread() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: sqlite3_config before SQLite starts, with no other
        // thread of this crate inside SQLite (they wait on the Once).
        let rc =
            unsafe { libsqlite3_sys::sqlite3_config(libsqlite3_sys::SQLITE_CONFIG_MULTITHREAD) };
        if rc == libsqlite3_sys::SQLITE_OK {
            tracing::debug!("SQLite in multi-thread mode");
        } else {
            tracing::debug!(rc, "SQLite already started: serialized mode kept");
        }
    });
}

/// Settings every connection of a pool gets when it is opened.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Session {
    /// The server's defaults.
    #[default]
    Plain,
    /// A pool only the job engine's claim and finish batches use
    /// ([`crate::jobs::batch_session`]): what each of their transactions
    /// would otherwise set again.
    JobBatches,
}

/// r2d2 manager that opens connections of the configured backend.
pub struct Manager {
    url: DbUrl,
    session: Session,
}

impl ManageConnection for Manager {
    type Connection = AnyConnection;
    type Error = ConnectionError;

    fn connect(&self) -> Result<AnyConnection, ConnectionError> {
        open(&self.url, self.session)
    }

    /// Only the in-memory SQLite pool (one connection, never replaced)
    /// lets r2d2 call this; the others ping in [`checkout`] when due.
    fn is_valid(&self, conn: &mut AnyConnection) -> Result<(), ConnectionError> {
        conn.ping()
            .map_err(ConnectionError::CouldntSetupConfiguration)
    }

    fn has_broken(&self, conn: &mut AnyConnection) -> bool {
        conn.is_broken()
    }
}

/// A new connection to `url`, with `session`'s settings.
fn open(url: &DbUrl, session: Session) -> Result<AnyConnection, ConnectionError> {
    let mut conn = open_plain(url)?;
    if session == Session::JobBatches {
        if let Some(sql) = crate::jobs::batch_session(url.backend) {
            conn.batch_execute(sql)
                .map_err(ConnectionError::CouldntSetupConfiguration)?;
        }
    }
    Ok(conn)
}

fn open_plain(url: &DbUrl) -> Result<AnyConnection, ConnectionError> {
    match url.backend {
        Backend::Sqlite => {
            sqlite_multithread();
            let mut c = diesel::SqliteConnection::establish(url.target())?;
            // WAL lets readers proceed beside a writer; foreign keys are
            // off by default in SQLite and the schema relies on them.
            c.batch_execute(&format!(
                "PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}; \
                     PRAGMA foreign_keys = ON; \
                     PRAGMA journal_mode = WAL; \
                     PRAGMA synchronous = NORMAL;"
            ))
            .map_err(ConnectionError::CouldntSetupConfiguration)?;
            Ok(AnyConnection::Sqlite(c))
        }
        Backend::Mysql => Ok(AnyConnection::Mysql(diesel::MysqlConnection::establish(
            url.target(),
        )?)),
        Backend::Postgres => Ok(AnyConnection::Pg(diesel::PgConnection::establish(
            url.target(),
        )?)),
    }
}

struct Inner {
    pool: Pool<Manager>,
    url: Arc<DbUrl>,
    session: Session,
    /// One per pooled connection, for [`Db::run`]'s tasks.
    permits: Arc<tokio::sync::Semaphore>,
    timeout: Duration,
    /// The threads [`Db::run`]'s tasks run on: a blocking pool of its own,
    /// of as many threads as connections (see [`Db::run_then`]).
    threads: BlockingThreads,
}

/// A tokio runtime used only for its blocking pool, capped in threads.
/// Shut down without waiting when the last handle to the database goes,
/// which may be inside async code (dropping a runtime there would panic).
struct BlockingThreads(Option<tokio::runtime::Runtime>);

impl BlockingThreads {
    fn new(threads: usize) -> Result<Self, DbError> {
        tokio::runtime::Builder::new_current_thread()
            .max_blocking_threads(threads.max(1))
            .thread_name("db")
            .build()
            .map(|rt| BlockingThreads(Some(rt)))
            .map_err(|e| DbError::Other(format!("cannot start the database threads: {e}")))
    }

    fn handle(&self) -> &tokio::runtime::Handle {
        self.0.as_ref().expect("live until dropped").handle()
    }
}

impl Drop for BlockingThreads {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

/// A handle to the database: a connection pool. Cheap to clone.
#[derive(Clone)]
pub struct Db {
    inner: Arc<Inner>,
    retry: RetryPolicy,
}

impl fmt::Debug for Db {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Db")
            .field("backend", &self.inner.url.backend)
            .field("url", &self.inner.url.redacted())
            .finish()
    }
}

/// A connection checked out within this long of its last ping is not
/// pinged again. The pool pinged at every checkout: a `SELECT 1` round
/// trip that was a quarter of the statements of a job POST on MariaDB and
/// two of a job run's. A server that went away within that second fails
/// the first statement instead of the ping, which is no worse (the
/// reconnect would fail too); a connection idle longer (the server
/// restarted, `wait_timeout` passed) is pinged and replaced as before.
const PING_AFTER: Duration = Duration::from_secs(1);

/// When a pooled connection last answered a ping (r2d2 keeps it with the
/// connection).
struct Pinged(Instant);

/// A connection from `pool`, pinged when due (and replaced when the ping
/// fails), or why none could be had.
fn checkout(
    pool: &Pool<Manager>,
    url: &DbUrl,
    session: Session,
) -> Result<PooledConnection<Manager>, DbError> {
    let cannot =
        |e: &dyn fmt::Display| DbError::Pool(format!("cannot connect to {}: {e}", url.redacted()));
    let mut conn = pool.get().map_err(|e| cannot(&e))?;
    let due = PooledConnection::extensions(&conn)
        .get::<Pinged>()
        .is_none_or(|p| p.0.elapsed() >= PING_AFTER);
    if due {
        if conn.ping().is_err() {
            *conn = open(url, session).map_err(|e| cannot(&e))?;
        }
        PooledConnection::extensions_mut(&mut conn).insert(Pinged(Instant::now()));
    }
    Ok(conn)
}

/// Bounded retry of transactions that hit a deadlock or serialization
/// failure.
#[derive(Clone, Copy, Debug)]
pub struct RetryPolicy {
    /// Retries after the first attempt (the reference retries `finish_job` 5 times).
    pub retries: u32,
    /// Sleep before the first retry; doubled on each further retry.
    pub backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            retries: 5,
            backoff: Duration::from_millis(50),
        }
    }
}

/// Run `attempt` until it succeeds, fails with a non-retryable error, or the
/// retries are used up.
pub async fn retry_on_deadlock<T, Fut, F>(policy: RetryPolicy, mut attempt: F) -> Result<T, DbError>
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<T, DbError>>,
{
    let mut n = 0u32;
    loop {
        match attempt(n).await {
            Err(e) if e.is_retryable() && n < policy.retries => {
                let delay = policy.backoff.saturating_mul(1u32 << n.min(16));
                tracing::warn!(attempt = n + 1, error = %e, "transaction hit a lock conflict; retrying");
                tokio::time::sleep(delay).await;
                n += 1;
            }
            other => return other,
        }
    }
}

impl Db {
    /// Build a pool for an SQLAlchemy-style URL. Connections are opened
    /// lazily (like SQLAlchemy), except for an in-memory SQLite database,
    /// which lives in exactly one connection that is kept for the pool's
    /// lifetime so every caller sees the same data.
    pub fn connect(url: &str, opts: &PoolOptions) -> Result<Db, DbError> {
        let url = DbUrl::parse(url)?;
        Self::connect_parsed(url, opts)
    }

    pub(crate) fn connect_parsed(url: DbUrl, opts: &PoolOptions) -> Result<Db, DbError> {
        Self::connect_with(url, opts, Session::Plain)
    }

    fn connect_with(url: DbUrl, opts: &PoolOptions, session: Session) -> Result<Db, DbError> {
        if opts.max_size == 0 {
            return Err(DbError::InvalidInput(
                "max_pool_size must be at least 1".into(),
            ));
        }
        let manager = Manager {
            url: url.clone(),
            session,
        };
        let builder =
            r2d2::Pool::builder().connection_timeout(opts.timeout.max(Duration::from_millis(1)));
        let pool = if url.in_memory {
            builder
                .max_size(1)
                .min_idle(Some(1))
                .idle_timeout(None)
                .max_lifetime(None)
                .build(manager)
                .map_err(|e| DbError::Pool(e.to_string()))?
        } else {
            builder
                .max_size(opts.max_size)
                .min_idle(Some(0))
                .test_on_check_out(false)
                .build_unchecked(manager)
        };
        tracing::debug!(backend = %url.backend, url = %url.redacted(), "database pool created");
        let permits = Arc::new(tokio::sync::Semaphore::new(pool.max_size() as usize));
        let threads = BlockingThreads::new(pool.max_size() as usize)?;
        Ok(Db {
            inner: Arc::new(Inner {
                pool,
                url: Arc::new(url),
                session,
                permits,
                threads,
                timeout: opts.timeout.max(Duration::from_millis(1)),
            }),
            retry: RetryPolicy::default(),
        })
    }

    pub fn backend(&self) -> Backend {
        self.inner.url.backend
    }

    /// The settings this pool's connections are opened with.
    pub fn session(&self) -> Session {
        self.inner.session
    }

    /// A pool of at most `max_size` connections to the same database for
    /// the job engine's claim and finish batches, opened with
    /// [`Session::JobBatches`]. On SQLite (nothing to set; an in-memory
    /// database lives in this pool's one connection) this pool itself.
    pub fn for_job_batches(&self, max_size: u32) -> Result<Db, DbError> {
        if self.backend() == Backend::Sqlite {
            return Ok(self.clone());
        }
        let opts = PoolOptions {
            max_size,
            timeout: self.inner.timeout,
        };
        Self::connect_with((*self.inner.url).clone(), &opts, Session::JobBatches)
    }

    /// The connection URL with the password replaced by `***`.
    pub fn redacted_url(&self) -> String {
        self.inner.url.redacted()
    }

    /// Take a connection from the pool, blocking the current thread. For
    /// synchronous callers (db_sync, tests); async code uses [`Db::run`].
    pub fn get(&self) -> Result<PooledConnection<Manager>, DbError> {
        checkout(&self.inner.pool, &self.inner.url, self.inner.session)
    }

    /// Run blocking diesel work on tokio's blocking pool with a pooled
    /// connection.
    pub async fn run<T, F>(&self, f: F) -> Result<T, DbError>
    where
        F: FnOnce(&mut AnyConnection) -> Result<T, DbError> + Send + 'static,
        T: Send + 'static,
    {
        self.run_then(f, |found| found).await
    }

    /// [`Db::run`], then `then` on the result, on the same blocking thread
    /// once the connection is back in the pool: for CPU work on what was
    /// read (rendering a page) that should neither hold a connection nor
    /// take the async worker's time.
    ///
    /// The tasks run on threads of the database's own, as many as its
    /// connections, and at most one task per connection is given to them;
    /// the others wait here, without a thread, for at most the pool's
    /// timeout. Before, each went to the runtime's blocking pool, which
    /// starts a thread whenever none is idle at that instant: with 16
    /// clients on one worker, 40-60 threads (most of them parked on the
    /// pool's lock), each with its malloc arena and cache, and some 8 MiB
    /// of heap kept after the load.
    pub async fn run_then<T, U, F, G>(&self, f: F, then: G) -> Result<U, DbError>
    where
        F: FnOnce(&mut AnyConnection) -> Result<T, DbError> + Send + 'static,
        G: FnOnce(T) -> U + Send + 'static,
        U: Send + 'static,
    {
        let _turn = self.turn().await?;
        // The pool, not the `Db`: the task must not be where the last
        // handle drops (that would stop the runtime it runs on).
        let (pool, url) = (self.inner.pool.clone(), Arc::clone(&self.inner.url));
        let session = self.inner.session;
        self.inner
            .threads
            .handle()
            .spawn_blocking(move || {
                let found = {
                    let mut conn = checkout(&pool, &url, session)?;
                    f(&mut conn)?
                };
                Ok(then(found))
            })
            .await
            .map_err(|e| DbError::Other(format!("database task failed: {e}")))?
    }

    /// A turn at a connection, waited for at most the pool's timeout (what
    /// the pool itself would wait).
    async fn turn(&self) -> Result<tokio::sync::OwnedSemaphorePermit, DbError> {
        let acquire = Arc::clone(&self.inner.permits).acquire_owned();
        match tokio::time::timeout(self.inner.timeout, acquire).await {
            Ok(Ok(permit)) => Ok(permit),
            Ok(Err(closed)) => Err(DbError::Other(format!("database pool closed: {closed}"))),
            Err(_) => Err(DbError::Pool(format!(
                "cannot connect to {}: timed out waiting for connection",
                self.inner.url.redacted()
            ))),
        }
    }

    /// Run `f` inside a transaction; the whole transaction is retried (with
    /// a short, growing backoff) when it fails with [`DbError::Deadlock`].
    pub async fn transaction<T, F>(&self, f: F) -> Result<T, DbError>
    where
        F: Fn(&mut AnyConnection) -> Result<T, DbError> + Send + Sync + 'static,
        T: Send + 'static,
    {
        let f = Arc::new(f);
        retry_on_deadlock(self.retry, |_| {
            let f = Arc::clone(&f);
            self.run(move |conn| conn.transaction(|c| f(c)))
        })
        .await
    }

    /// Synchronous variant of [`Db::transaction`] for blocking callers.
    pub fn transaction_blocking<T, F>(&self, f: F) -> Result<T, DbError>
    where
        F: Fn(&mut AnyConnection) -> Result<T, DbError>,
    {
        let policy = self.retry;
        let mut n = 0u32;
        loop {
            let res = self.get().and_then(|mut c| c.transaction(|c| f(c)));
            match res {
                Err(e) if e.is_retryable() && n < policy.retries => {
                    tracing::warn!(attempt = n + 1, error = %e, "transaction hit a lock conflict; retrying");
                    std::thread::sleep(policy.backoff.saturating_mul(1u32 << n.min(16)));
                    n += 1;
                }
                other => return other,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn fast(retries: u32) -> RetryPolicy {
        RetryPolicy {
            retries,
            backoff: Duration::ZERO,
        }
    }

    #[tokio::test]
    async fn retries_deadlocks_then_succeeds() {
        let calls = AtomicU32::new(0);
        let r = retry_on_deadlock(fast(5), |n| {
            calls.fetch_add(1, Ordering::SeqCst);
            async move {
                if n < 3 {
                    Err(DbError::Deadlock("try again".into()))
                } else {
                    Ok(n)
                }
            }
        })
        .await;
        assert_eq!(r.unwrap(), 3);
        assert_eq!(calls.load(Ordering::SeqCst), 4);
    }

    #[tokio::test]
    async fn gives_up_after_bounded_retries() {
        let calls = AtomicU32::new(0);
        let r: Result<(), _> = retry_on_deadlock(fast(2), |_| {
            calls.fetch_add(1, Ordering::SeqCst);
            async { Err(DbError::Deadlock("always".into())) }
        })
        .await;
        assert!(matches!(r, Err(DbError::Deadlock(_))));
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn does_not_retry_other_errors() {
        let calls = AtomicU32::new(0);
        let r: Result<(), _> = retry_on_deadlock(fast(5), |_| {
            calls.fetch_add(1, Ordering::SeqCst);
            async { Err(DbError::Duplicate("dup".into())) }
        })
        .await;
        assert!(matches!(r, Err(DbError::Duplicate(_))));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }
}
