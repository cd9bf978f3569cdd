//! `xjob-testbed --config-file xjob.conf [handler flags]`: the real xjob
//! service (configuration, database, AMQP consumer, periodic task, SIGTERM)
//! with one test handler instead of the networking ones, for the
//! process-level fault tests and the jobs benchmark. Built only with the
//! `testbed` feature.
//!
//! With `--record FILE` every run appends `start <pid> <resource_id>
//! <job_id>` before the handler's work and `end <pid> <resource_id> <job_id>
//! ok|fail` after it, each line in one `write` on an `O_APPEND` file, so the
//! file order of several processes' lines is the order the events happened.

use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::Parser;
use tracing_subscriber::EnvFilter;
use tricircle_jobs::{handler_fn, HandlerError, JobContext, JobQueue, JobType, Registry};
use tricircle_xjob::daemon::Intake;

#[derive(Parser)]
#[command(about = "xjob with test handlers (fault tests, benchmarks)")]
struct Args {
    /// Configuration file; may be repeated.
    #[arg(long = "config-file", value_name = "PATH", required = true)]
    config_files: Vec<PathBuf>,
    /// The job type the test handler serves.
    #[arg(long, default_value = "configure_route")]
    job_type: String,
    /// Each run sleeps this long before finishing.
    #[arg(long, default_value_t = 0)]
    sleep_ms: u64,
    /// The first K runs per resource in this process fail.
    #[arg(long, default_value_t = 0)]
    fail_first: u32,
    /// Append start/end lines of every run to this file.
    #[arg(long, value_name = "PATH")]
    record: Option<PathBuf>,
    /// Do not consume from the broker: jobs run through the periodic task.
    #[arg(long)]
    no_bus: bool,
}

struct TestHandler {
    sleep: Duration,
    fail_first: u32,
    runs: Mutex<HashMap<String, u32>>,
    record: Option<File>,
}

impl TestHandler {
    fn note(&self, line: String) -> Result<(), HandlerError> {
        if let Some(mut f) = self.record.as_ref() {
            // One write per line: O_APPEND keeps lines whole and ordered.
            f.write_all(line.as_bytes())?;
        }
        Ok(())
    }

    async fn run(&self, ctx: &JobContext) -> Result<(), HandlerError> {
        let pid = std::process::id();
        let (rid, job) = (&ctx.resource_id, &ctx.job_id);
        self.note(format!("start {pid} {rid} {job}\n"))?;
        if !self.sleep.is_zero() {
            tokio::time::sleep(self.sleep).await;
        }
        let nth = {
            let mut runs = self.runs.lock().unwrap_or_else(|p| p.into_inner());
            let n = runs.entry(rid.clone()).or_default();
            *n += 1;
            *n
        };
        let ok = nth > self.fail_first;
        let outcome = if ok { "ok" } else { "fail" };
        self.note(format!("end {pid} {rid} {job} {outcome}\n"))?;
        if ok {
            Ok(())
        } else {
            Err(HandlerError::msg(format!(
                "test failure {nth} of {}",
                self.fail_first
            )))
        }
    }
}

fn fail(message: &str) -> ! {
    eprintln!("ERROR: {message}");
    std::process::exit(1)
}

fn main() {
    let args = Args::parse();
    let (config, warnings) = tricircle_config::Config::load(&args.config_files)
        .unwrap_or_else(|e| fail(&format!("configuration error: {e}")));
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
    for w in &warnings {
        tracing::warn!("{w}");
    }
    let record = args.record.as_ref().map(|p| {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
            .unwrap_or_else(|e| fail(&format!("cannot open {}: {e}", p.display())))
    });
    let handler = Arc::new(TestHandler {
        sleep: Duration::from_millis(args.sleep_ms),
        fail_first: args.fail_first,
        runs: Mutex::default(),
        record,
    });
    let job_type = args
        .job_type
        .parse::<JobType>()
        .unwrap_or_else(|e| fail(&e.to_string()));
    let mut registry = Registry::new();
    registry
        .register_handler(
            job_type,
            handler_fn(move |ctx: JobContext| {
                let h = Arc::clone(&handler);
                async move { h.run(&ctx).await }
            }),
        )
        .unwrap_or_else(|e| fail(&e.to_string()));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| fail(&format!("cannot start the runtime: {e}")));
    let queue = JobQueue::new(tricircle_jobs::queue::DEFAULT_CAPACITY);
    if let Err(e) = rt.block_on(tricircle_xjob::daemon::run(
        &config,
        registry,
        queue,
        if args.no_bus {
            Intake::PeriodicOnly
        } else {
            Intake::Configured
        },
        None,
    )) {
        fail(&e.to_string());
    }
}
