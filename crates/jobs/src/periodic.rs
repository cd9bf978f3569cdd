//! The periodic task that redoes failed jobs and picks up forgotten NEW
//! ones, as the reference's `redo_failed_or_new_job`.

use std::time::Duration;

use serde_json::{json, Map, Value};
use tokio_util::sync::CancellationToken;
use tricircle_config::DefaultOptions;
use tricircle_db::jobs::{self, JobRef};
use tricircle_vocab::JobType;

use crate::engine::{Engine, EngineError, Report};

/// How often the task runs. The reference registers it with oslo.service's
/// default spacing (60 s) under a dynamic timer capped at 60 s; it does not
/// follow `report_interval`.
pub const INTERVAL: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeriodicSettings {
    /// `periodic_enable`.
    pub enabled: bool,
    /// The first run waits a random time in `0..=fuzzy_delay`
    /// (`periodic_fuzzy_delay`; zero starts at once).
    pub fuzzy_delay: Duration,
    /// Pause between the end of one run and the start of the next.
    pub interval: Duration,
}

impl PeriodicSettings {
    pub fn from_config(o: &DefaultOptions) -> PeriodicSettings {
        PeriodicSettings {
            enabled: o.periodic_enable,
            fuzzy_delay: Duration::from_secs(u64::try_from(o.periodic_fuzzy_delay).unwrap_or(0)),
            interval: u64::try_from(o.periodic_interval)
                .ok()
                .filter(|s| *s > 0)
                .map_or(INTERVAL, Duration::from_secs),
        }
    }
}

/// What one redo did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redo {
    pub job: JobRef,
    /// True when a NEW job was picked up, false for a failed job (for which
    /// a NEW row was recorded first).
    pub was_new: bool,
    pub report: Report,
}

/// A random index below `n` (n > 0). uuid's v4 generator is the random
/// source already linked in; the pick only needs to spread workers.
fn random_below(n: usize) -> usize {
    (uuid::Uuid::new_v4().as_u128() % n as u128) as usize
}

fn random_delay(max: Duration) -> Duration {
    if max.is_zero() {
        return Duration::ZERO;
    }
    let ms = u64::try_from(max.as_millis()).unwrap_or(u64::MAX);
    Duration::from_millis((uuid::Uuid::new_v4().as_u128() % (u128::from(ms) + 1)) as u64)
}

/// The admin context the reference uses for redos, with the job's project;
/// also what xjob's database poll runs NEW jobs with.
pub fn admin_context(project_id: Option<&str>) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("is_admin".into(), json!(true));
    m.insert("project_id".into(), json!(project_id));
    m.insert("tenant".into(), json!(project_id));
    m.insert(
        "request_id".into(),
        json!(format!("req-{}", uuid::Uuid::new_v4())),
    );
    m
}

/// One run of the task: among the (type, resource) pairs whose latest job
/// within `redo_time_span` is NEW or FAIL, and whose type has a handler,
/// pick one at random (NEW ones first) and run it. A failed one gets a NEW
/// row first. `Ok(None)` when there is nothing to do.
pub async fn redo_failed_or_new_job(engine: &Engine) -> Result<Option<Redo>, EngineError> {
    let span = engine.settings().redo_time_span;
    let (failed, new) = engine
        .db()
        .run(move |c| jobs::get_latest_failed_or_new_jobs(c, span))
        .await?;
    let served = |v: Vec<JobRef>| -> Vec<(JobType, JobRef)> {
        v.into_iter()
            .filter_map(|j| Some((j.job_type.parse::<JobType>().ok()?, j)))
            .filter(|(t, _)| engine.registry().contains(*t))
            .collect()
    };
    let (failed, new) = (served(failed), served(new));
    let (mut candidates, was_new) = if !new.is_empty() {
        (new, true)
    } else if !failed.is_empty() {
        (failed, false)
    } else {
        return Ok(None);
    };
    let (job_type, job) = candidates.swap_remove(random_below(candidates.len()));
    tracing::debug!(
        job_type = %job.job_type,
        resource_id = %job.resource_id,
        kind = if was_new { "new" } else { "failed" },
        "redoing job"
    );
    if !was_new {
        let j = job.clone();
        engine
            .db()
            .run(move |c| {
                jobs::new_job_for(c, j.project_id.as_deref(), &j.job_type, &j.resource_id)
            })
            .await?;
    }
    let report = engine
        .handle(
            job_type,
            &job.resource_id,
            admin_context(job.project_id.as_deref()),
        )
        .await?;
    Ok(Some(Redo {
        job,
        was_new,
        report,
    }))
}

/// Run the task until `stop` is cancelled. Errors are logged, never fatal.
pub async fn run(engine: Engine, settings: PeriodicSettings, stop: CancellationToken) {
    if !settings.enabled {
        tracing::info!("periodic redo task disabled (periodic_enable = false)");
        return;
    }
    let first = random_delay(settings.fuzzy_delay);
    tracing::debug!(
        delay_ms = first.as_millis() as u64,
        "periodic redo task scheduled"
    );
    tokio::select! {
        _ = stop.cancelled() => return,
        _ = tokio::time::sleep(first) => {}
    }
    loop {
        // Not raced against `stop`: a redo in progress finishes its current
        // job (the engine stops looping once shut down).
        match redo_failed_or_new_job(&engine).await {
            Ok(Some(r)) => tracing::info!(
                job_type = %r.job.job_type,
                resource_id = %r.job.resource_id,
                runs = r.report.runs.len(),
                end = ?r.report.end,
                "periodic redo done"
            ),
            Ok(None) => {}
            Err(e) => tracing::error!(error = %e, "periodic redo failed"),
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(settings.interval) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_picks_stay_in_range() {
        for n in 1..20 {
            assert!(random_below(n) < n);
        }
        assert_eq!(random_delay(Duration::ZERO), Duration::ZERO);
        assert!(random_delay(Duration::from_secs(2)) <= Duration::from_secs(2));
    }

    #[test]
    fn defaults_follow_the_reference() {
        let o = tricircle_config::Config::load(&[]).unwrap().0.default;
        let s = PeriodicSettings::from_config(&o);
        assert!(s.enabled);
        assert_eq!(s.fuzzy_delay, Duration::from_secs(60));
        assert_eq!(s.interval, Duration::from_secs(60));
    }
}
