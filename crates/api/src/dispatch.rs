//! Handing new jobs to xjob.
//!
//! A job exists once its NEW row is written; dispatch is only a wake-up call.
//! If it cannot be delivered, xjob's periodic task still finds the NEW row, so
//! dispatch failures are logged and never fail the request.

use async_trait::async_trait;

use crate::context::RequestContext;

#[async_trait]
pub trait JobDispatcher: Send + Sync {
    /// Ask xjob to run `method` for the job `job_type`/`resource_id`.
    async fn dispatch(
        &self,
        ctx: &RequestContext,
        project_id: &str,
        method: &str,
        job_type: &str,
        resource_id: &str,
    );
}

/// Used when no message transport is configured (`transport_url` unset): the
/// job waits in the database for xjob's periodic task.
pub struct DatabaseOnly;

#[async_trait]
impl JobDispatcher for DatabaseOnly {
    async fn dispatch(
        &self,
        _ctx: &RequestContext,
        _project_id: &str,
        method: &str,
        job_type: &str,
        resource_id: &str,
    ) {
        tracing::debug!(
            method,
            job_type,
            resource_id,
            "no transport_url configured; the job waits for xjob's periodic task"
        );
    }
}
