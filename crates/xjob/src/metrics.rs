//! xjob's Prometheus metrics, served on their own port (`[xjob]
//! metrics_bind_host`, `metrics_port`; 0 serves none) at `GET /metrics`
//! (OpenMetrics text): jobs by type and outcome and their duration, redos,
//! worker slots busy, the job queue's depth, the age of the oldest NEW job,
//! AMQP reconnects, and Neutron calls and failed calls per region.
//!
//! Runs are observed as they finish ([`Metrics::observer`]); the other
//! values are read when scraped.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use actix_web::{web, App, HttpResponse, HttpServer};
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use tricircle_jobs::{Engine, JobQueue, RunObserver};
use tricircle_openstack::calls::CallStats;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JobLabels {
    job_type: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TypeLabels {
    job_type: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    region: String,
    job_type: String,
    method: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabels {
    region: String,
    kind: String,
}

/// The metrics of one xjob process.
pub struct Metrics {
    registry: Registry,
    jobs: Family<JobLabels, Counter>,
    duration: Family<TypeLabels, Histogram>,
    redos: Counter,
    busy: Gauge,
    queue_depth: Gauge,
    oldest_new: Gauge<f64, AtomicU64>,
    reconnects: Counter,
    calls: Family<CallLabels, Counter>,
    call_errors: Family<ErrorLabels, Counter>,
}

/// What the scrape reads besides the observed runs.
#[derive(Clone)]
pub struct Sources {
    pub engine: Engine,
    pub queue: JobQueue,
    /// The networking clients' call counts (absent without them).
    pub calls: Option<Arc<CallStats>>,
}

impl Metrics {
    pub fn new() -> Arc<Metrics> {
        let mut registry = Registry::with_prefix("tricircle_xjob");
        let jobs = Family::<JobLabels, Counter>::default();
        registry.register(
            "jobs",
            "Job runs finished, by job type and outcome (success, fail)",
            jobs.clone(),
        );
        // 1 ms .. ~65 s
        let duration = Family::<TypeLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.001, 2.0, 17))
        });
        registry.register(
            "job_duration_seconds",
            "Time a job run took, by job type",
            duration.clone(),
        );
        let redos = Counter::default();
        registry.register(
            "redos",
            "Jobs the periodic task asked for again (failed or forgotten NEW)",
            redos.clone(),
        );
        let busy = Gauge::default();
        registry.register(
            "busy_slots",
            "Job loops running now (of workers x executor_thread_pool_size)",
            busy.clone(),
        );
        let queue_depth = Gauge::default();
        registry.register(
            "queue_depth",
            "Job requests waiting for a free job loop",
            queue_depth.clone(),
        );
        let oldest_new = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "oldest_new_job_age_seconds",
            "Age of the oldest NEW job in the database (0 when none waits)",
            oldest_new.clone(),
        );
        let reconnects = Counter::default();
        registry.register(
            "amqp_reconnects",
            "Times a message-bus consumer lost or could not open its connection",
            reconnects.clone(),
        );
        let calls = Family::<CallLabels, Counter>::default();
        registry.register(
            "neutron_calls",
            "Neutron requests sent, by region, job type and HTTP method",
            calls.clone(),
        );
        let call_errors = Family::<ErrorLabels, Counter>::default();
        registry.register(
            "neutron_call_errors",
            "Neutron requests that failed, by region and kind (connection, or the HTTP status)",
            call_errors.clone(),
        );
        Arc::new(Metrics {
            registry,
            jobs,
            duration,
            redos,
            busy,
            queue_depth,
            oldest_new,
            reconnects,
            calls,
            call_errors,
        })
    }

    /// For [`Engine::observe`]: counts and times every finished run.
    pub fn observer(self: &Arc<Self>) -> RunObserver {
        let me = Arc::clone(self);
        Arc::new(move |run| {
            let outcome = if run.success { "success" } else { "fail" };
            me.jobs
                .get_or_create(&JobLabels {
                    job_type: run.job_type.to_owned(),
                    outcome,
                })
                .inc();
            me.duration
                .get_or_create(&TypeLabels {
                    job_type: run.job_type.to_owned(),
                })
                .observe(run.elapsed.as_secs_f64());
        })
    }

    /// Bring a counter that mirrors a running total up to `total`.
    fn mirror(counter: &Counter, total: u64) {
        counter.inner().store(total, Ordering::Relaxed);
    }

    /// The OpenMetrics text, with the read-on-scrape values refreshed.
    pub async fn render(&self, sources: &Sources) -> String {
        let stats = sources.engine.stats();
        Self::mirror(&self.redos, stats.redos);
        self.busy.set(i64::try_from(stats.busy).unwrap_or(i64::MAX));
        self.queue_depth
            .set(i64::try_from(sources.queue.depth()).unwrap_or(i64::MAX));
        Self::mirror(&self.reconnects, tricircle_rpc::reconnects());
        match sources
            .engine
            .db()
            .run(tricircle_db::jobs::oldest_new_age)
            .await
        {
            Ok(age) => {
                self.oldest_new.set(age.unwrap_or(0.0));
            }
            Err(e) => tracing::warn!(error = %e, "metrics: cannot read the oldest NEW job"),
        }
        if let Some(calls) = &sources.calls {
            for (k, n) in calls.snapshot() {
                let labels = CallLabels {
                    region: k.region,
                    job_type: k.job_type,
                    method: k.method,
                };
                Self::mirror(&self.calls.get_or_create(&labels), n);
            }
            for ((region, kind), n) in calls.errors_snapshot() {
                Self::mirror(
                    &self
                        .call_errors
                        .get_or_create(&ErrorLabels { region, kind }),
                    n,
                );
            }
        }
        let mut text = String::new();
        // Writing into a String does not fail.
        let _ = encode(&mut text, &self.registry);
        text
    }
}

/// Serve `GET /metrics` on `addr` from a thread of its own until the
/// process ends. Binding happens before this returns, so a port in use
/// stops start-up with a clear error.
pub fn serve(addr: SocketAddr, metrics: Arc<Metrics>, sources: Sources) -> std::io::Result<()> {
    let listener = std::net::TcpListener::bind(addr)?;
    std::thread::Builder::new()
        .name("xjob-metrics".into())
        .spawn(move || {
            let data = web::Data::new((metrics, sources));
            let served = actix_web::rt::System::new().block_on(async move {
                HttpServer::new(move || {
                    App::new().app_data(data.clone()).route(
                        "/metrics",
                        web::get().to(|d: web::Data<(Arc<Metrics>, Sources)>| async move {
                            HttpResponse::Ok()
                                .content_type(
                                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                                )
                                .body(d.0.render(&d.1).await)
                        }),
                    )
                })
                .workers(1)
                .disable_signals()
                .listen(listener)?
                .run()
                .await
            });
            if let Err(e) = served {
                tracing::error!(error = %e, "the metrics server stopped");
            }
        })?;
    tracing::info!(%addr, "serving Prometheus metrics at /metrics");
    Ok(())
}
