//! The xjob service: the cast loop, the periodic task, heartbeats and
//! graceful shutdown.

use std::future::Future;
use std::time::Duration;

use serde_json::{Map, Value};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use tricircle_config::{Config, ConfigError};
use tricircle_db::{jobs, Db, DbError, PoolOptions};
use tricircle_jobs::{periodic, Engine, EngineError, PeriodicSettings, Registry, Settings, Slot};

use crate::notify::{notify_or_warn, watchdog_interval};

/// One RPC cast as the AMQP consumer decodes it.
#[derive(Debug, Clone, PartialEq)]
pub struct Cast {
    /// The RPC method (`configure_route`, `setup_bottom_router`...).
    pub method: String,
    /// `args.payload`: `{"<job type>": "<resource_id>"}`.
    pub payload: Value,
    /// The request context (the `_context_*` keys without the prefix).
    pub context: Map<String, Value>,
}

/// How the service runs, beyond the engine's own settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceOptions {
    pub periodic: PeriodicSettings,
    /// How long running jobs may take to finish after a stop request.
    pub grace_period: Duration,
    /// Interval of the "alive" log line (`report_interval`).
    pub heartbeat: Duration,
    /// Casts buffered between the consumer and the engine.
    pub queue: usize,
}

/// oslo.service's `graceful_shutdown_timeout` default.
pub const GRACE_PERIOD: Duration = Duration::from_secs(60);

impl ServiceOptions {
    pub fn from_config(config: &Config) -> ServiceOptions {
        let d = &config.default;
        ServiceOptions {
            periodic: PeriodicSettings::from_config(d),
            grace_period: GRACE_PERIOD,
            heartbeat: Duration::from_secs(u64::try_from(d.report_interval).unwrap_or(0).max(1)),
            queue: 64,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("configuration error: {0}")]
    Config(Box<ConfigError>),
    #[error("database {url}: {source}")]
    Db {
        /// Redacted.
        url: String,
        #[source]
        source: DbError,
    },
    #[error(
        "database {url} is not usable: {source} (unreachable, or no schema: \
         run tricircle-db-manage db_sync)"
    )]
    DbCheck {
        /// Redacted.
        url: String,
        #[source]
        source: DbError,
    },
    #[error("cannot install signal handlers: {0}")]
    Signal(#[from] std::io::Error),
    /// The message bus options are unusable.
    #[error(transparent)]
    Bus(#[from] tricircle_rpc::RpcError),
}

impl From<ConfigError> for ServiceError {
    fn from(e: ConfigError) -> Self {
        ServiceError::Config(Box::new(e))
    }
}

/// oslo.db sizes its pool as `max_pool_size` plus `max_overflow`.
fn pool_options(config: &Config) -> PoolOptions {
    let db = &config.database;
    let size = db.max_pool_size.unwrap_or(5).max(1) + db.max_overflow.unwrap_or(0).max(0);
    PoolOptions {
        max_size: u32::try_from(size.min(1000)).unwrap_or(1000),
        timeout: Duration::from_secs(db.pool_timeout.unwrap_or(30).max(1) as u64),
    }
}

/// The daemon. Build it, hand [`Service::casts_sender`] to the AMQP
/// consumer, then [`Service::run`] it until a stop signal.
pub struct Service {
    engine: Engine,
    options: ServiceOptions,
    tx: mpsc::Sender<Cast>,
    rx: mpsc::Receiver<Cast>,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service")
            .field("engine", &self.engine)
            .field("options", &self.options)
            .finish()
    }
}

impl Service {
    /// The service the configuration describes, with `registry`'s handlers.
    pub fn from_config(config: &Config, registry: Registry) -> Result<Service, ServiceError> {
        let url = config.database_url()?;
        let db = Db::connect(url.expose(), &pool_options(config)).map_err(|source| {
            ServiceError::Db {
                url: tricircle_db::redact(url.expose()),
                source,
            }
        })?;
        let engine = Engine::new(db, registry, Settings::from_config(&config.default));
        Ok(Service::new(engine, ServiceOptions::from_config(config)))
    }

    pub fn new(engine: Engine, options: ServiceOptions) -> Service {
        let (tx, rx) = mpsc::channel(options.queue.max(1));
        Service {
            engine,
            options,
            tx,
            rx,
        }
    }

    /// Where the AMQP consumer puts the casts it receives. Sending waits
    /// while the queue is full (all workers busy).
    pub fn casts_sender(&self) -> mpsc::Sender<Cast> {
        self.tx.clone()
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Fail early when the database is unreachable or has no schema.
    pub async fn check_database(&self) -> Result<(), ServiceError> {
        let db = self.engine.db().clone();
        db.run(|c| jobs::list_jobs(c, &Default::default(), 1, None).map(drop))
            .await
            .map_err(|source| ServiceError::DbCheck {
                url: db.redacted_url(),
                source,
            })
    }

    /// Serve casts and run the periodic task until `stop` resolves; then take
    /// no new casts, let running jobs finish within the grace period, and
    /// return. Notifies systemd (READY, WATCHDOG, STOPPING) when it asked to.
    pub async fn run(self, stop: impl Future<Output = ()>) -> Result<(), ServiceError> {
        let Service {
            engine,
            options,
            tx,
            mut rx,
        } = self;
        let token = engine.shutdown_token();
        let mut helpers = JoinSet::new();
        helpers.spawn(periodic::run(
            engine.clone(),
            options.periodic.clone(),
            token.clone(),
        ));
        helpers.spawn(heartbeat(engine.clone(), options.heartbeat, token.clone()));
        // Pings until `run` returns, through the grace period too.
        let watchdog_stop = CancellationToken::new();
        let _watchdog_guard = watchdog_stop.clone().drop_guard();
        if let Some(every) = watchdog_interval() {
            tokio::spawn(watchdog(every, watchdog_stop));
        }
        tracing::info!(
            workers = engine.settings().workers,
            handlers = ?engine.registry().job_types(),
            "xjob started"
        );
        notify_or_warn("READY=1\nSTATUS=serving jobs");

        let mut jobs = JoinSet::new();
        tokio::pin!(stop);
        loop {
            while let Some(done) = jobs.try_join_next() {
                log_join(done);
            }
            let cast = tokio::select! {
                biased;
                _ = &mut stop => break,
                c = rx.recv() => c,
            };
            let Some(cast) = cast else { break };
            // Wait for a slot before taking the next cast, so a busy engine
            // leaves casts in the queue (and the consumer waits) instead of
            // piling up tasks. Not before `recv`: an idle loop must not sit
            // on a slot the periodic task needs.
            let slot = tokio::select! {
                biased;
                _ = &mut stop => {
                    tracing::warn!(method = %cast.method, "stop requested; cast not started");
                    break;
                }
                s = engine.slot() => s,
            };
            jobs.spawn(serve_cast(engine.clone(), slot, cast));
        }

        tracing::info!(
            running = jobs.len(),
            grace_secs = options.grace_period.as_secs_f64(),
            "stopping: no new casts; waiting for running jobs"
        );
        notify_or_warn("STOPPING=1");
        engine.shutdown();
        rx.close();
        drop(tx);
        let drained = tokio::time::timeout(options.grace_period, async {
            while let Some(done) = jobs.join_next().await {
                log_join(done);
            }
            while helpers.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                abandoned = jobs.len(),
                "grace period over; abandoning running jobs (their RUNNING rows expire after job_run_expire)"
            );
            jobs.abort_all();
            helpers.abort_all();
        }
        let dropped = std::iter::from_fn(|| rx.try_recv().ok()).count();
        if dropped > 0 {
            tracing::warn!(dropped, "casts received but not started before the stop");
        }
        tracing::info!("xjob stopped");
        Ok(())
    }
}

fn log_join(done: Result<(), tokio::task::JoinError>) {
    if let Err(e) = done {
        if e.is_panic() {
            tracing::error!(error = %e, "cast task panicked");
        }
    }
}

/// Run one cast. Bad casts are logged and dropped; nothing here can stop
/// the service. The context is not logged (it carries the auth token).
async fn serve_cast(engine: Engine, slot: Slot, cast: Cast) {
    let request_id = cast
        .context
        .get("request_id")
        .and_then(Value::as_str)
        .unwrap_or("-")
        .to_owned();
    let span = tracing::info_span!("cast", method = %cast.method, request_id = %request_id);
    async move {
        let (t, resource_id) = match engine.resolve(&cast.method, &cast.payload) {
            Ok(r) => r,
            Err(e @ EngineError::UnknownMethod(_)) => {
                tracing::warn!("{e}; cast ignored");
                return;
            }
            Err(e) => {
                tracing::error!("{e}; cast ignored");
                return;
            }
        };
        match engine
            .handle_in(slot, t.name, &resource_id, cast.context)
            .await
        {
            Ok(report) => {
                tracing::debug!(runs = report.runs.len(), end = ?report.end, "cast served")
            }
            Err(e) => tracing::error!(error = %e, resource_id, "cast failed"),
        }
    }
    .instrument(span)
    .await
}

async fn heartbeat(engine: Engine, every: Duration, stop: CancellationToken) {
    let mut last = engine.stats();
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
        let now = engine.stats();
        if now != last {
            tracing::info!(
                busy = now.busy,
                succeeded = now.succeeded,
                failed = now.failed,
                "xjob alive"
            );
        } else {
            tracing::debug!(busy = now.busy, "xjob alive");
        }
        last = now;
    }
}

async fn watchdog(every: Duration, stop: CancellationToken) {
    loop {
        notify_or_warn("WATCHDOG=1");
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
    }
}
