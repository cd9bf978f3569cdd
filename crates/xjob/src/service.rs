//! The xjob service: the job loop (requests from the queue run on the
//! engine), the periodic task, heartbeats and graceful shutdown.

use std::future::Future;
use std::time::Duration;

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use tricircle_config::{Config, ConfigError};
use tricircle_db::{jobs, Db, DbError, OpenError};
use tricircle_jobs::{
    periodic, Engine, EngineError, JobQueue, JobRequest, JobRequests, PeriodicSettings, Registry,
    Settings, Slot,
};

use tricircle_sdnotify::{notify_or_warn, watchdog_interval};

/// How the service runs, beyond the engine's own settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceOptions {
    pub periodic: PeriodicSettings,
    /// How long running jobs may take to finish after a stop request.
    pub grace_period: Duration,
    /// Interval of the "alive" log line (`report_interval`).
    pub heartbeat: Duration,
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
    #[error("[xjob] metrics_bind_host/metrics_port: cannot listen on {addr}: {source}")]
    Metrics {
        addr: String,
        #[source]
        source: std::io::Error,
    },
}

impl From<ConfigError> for ServiceError {
    fn from(e: ConfigError) -> Self {
        ServiceError::Config(Box::new(e))
    }
}

/// The daemon. Build it on a job queue whose sending side the producers
/// (the AMQP consumer, the handlers) hold, then [`Service::run`] it until a
/// stop signal.
pub struct Service {
    engine: Engine,
    options: ServiceOptions,
    queue: JobQueue,
    requests: JobRequests,
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
    /// The service the configuration describes, with `registry`'s handlers,
    /// serving the requests of `queue`.
    pub fn from_config(
        config: &Config,
        registry: Registry,
        queue: (JobQueue, JobRequests),
    ) -> Result<Service, ServiceError> {
        let db = Db::from_config(config).map_err(|e| match e {
            OpenError::Config(e) => ServiceError::Config(e),
            OpenError::Connect { url, source } => ServiceError::Db { url, source },
        })?;
        let engine = Engine::new(db, registry, Settings::from_config(&config.default));
        Ok(Service::new(
            engine,
            ServiceOptions::from_config(config),
            queue,
        ))
    }

    pub fn new(
        engine: Engine,
        options: ServiceOptions,
        (queue, requests): (JobQueue, JobRequests),
    ) -> Service {
        Service {
            engine,
            options,
            queue,
            requests,
        }
    }

    /// The queue this service serves. Sending waits while it is full (all
    /// workers busy).
    pub fn queue(&self) -> JobQueue {
        self.queue.clone()
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

    /// Serve requests and run the periodic task until `stop` resolves; then
    /// take no new requests, let running jobs finish within the grace period, and
    /// return. Notifies systemd (READY, WATCHDOG, STOPPING) when it asked to.
    pub async fn run(self, stop: impl Future<Output = ()>) -> Result<(), ServiceError> {
        let Service {
            engine,
            options,
            queue,
            mut requests,
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
            handlers = ?engine
                .registry()
                .job_types()
                .iter()
                .map(|t| t.name())
                .collect::<Vec<_>>(),
            "xjob started"
        );
        notify_or_warn("READY=1\nSTATUS=serving jobs");

        let mut jobs = JoinSet::new();
        tokio::pin!(stop);
        loop {
            while let Some(done) = jobs.try_join_next() {
                log_join(done);
            }
            let request = tokio::select! {
                biased;
                _ = &mut stop => break,
                r = requests.recv() => r,
            };
            let Some(request) = request else { break };
            // Wait for a slot before taking the next request, so a busy
            // engine leaves requests in the queue (and the consumer waits)
            // instead of piling up tasks. Not before `recv`: an idle loop
            // must not sit on a slot the periodic task needs.
            let slot = tokio::select! {
                biased;
                _ = &mut stop => {
                    tracing::warn!(job_type = %request.job_type, "stop requested; job not started");
                    break;
                }
                s = engine.slot() => s,
            };
            jobs.spawn(serve(engine.clone(), slot, request));
        }

        tracing::info!(
            running = jobs.len(),
            grace_secs = options.grace_period.as_secs_f64(),
            "stopping: no new requests; waiting for running jobs"
        );
        notify_or_warn("STOPPING=1");
        engine.shutdown();
        requests.close();
        drop(queue);
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
        let dropped = std::iter::from_fn(|| requests.try_recv()).count();
        if dropped > 0 {
            tracing::warn!(
                dropped,
                "requests queued but not started before the stop (their NEW rows wait for the periodic task)"
            );
        }
        tracing::info!("xjob stopped");
        Ok(())
    }
}

fn log_join(done: Result<(), tokio::task::JoinError>) {
    if let Err(e) = done {
        if e.is_panic() {
            tracing::error!(error = %e, "job task panicked");
        }
    }
}

/// Run one request. Failures are logged; nothing here can stop the
/// service. The context is not logged (it carries the auth token).
async fn serve(engine: Engine, slot: Slot, request: JobRequest) {
    let request_id = tricircle_rpc::request_id(&request.context).to_owned();
    let span = tracing::info_span!(
        "request",
        job_type = %request.job_type,
        request_id = %request_id
    );
    async move {
        let resource_id = request.resource_id.clone();
        match engine.handle_in(slot, request).await {
            Ok(report) => {
                tracing::debug!(runs = report.runs.len(), end = ?report.end, "request served")
            }
            Err(e @ EngineError::NoHandler(_)) => tracing::warn!("{e}; request ignored"),
            Err(e) => tracing::error!(error = %e, resource_id, "request failed"),
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
