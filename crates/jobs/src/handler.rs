//! What a job handler is. A job type's handler implements [`Job`]: it names
//! its [`JobType`] and the typed resource it works on ([`JobResource`]),
//! which the registry parses from the stored `resource_id` before the
//! handler runs. The engine sees every handler through the untyped
//! [`Handler`], which closures can implement too ([`handler_fn`]: tests, the
//! test bed).

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use serde_json::{Map, Value};

use tricircle_vocab::JobType;

/// Why a handler failed. Any error converts into it with `?`; the engine
/// only logs it and marks the job FAIL, so its shape does not matter.
pub struct HandlerError(Box<dyn std::error::Error + Send + Sync + 'static>);

impl HandlerError {
    /// A failure described by a message.
    pub fn msg(message: impl Into<String>) -> HandlerError {
        HandlerError(message.into().into())
    }

    /// The underlying error.
    pub fn inner(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        &*self.0
    }
}

// No `std::error::Error` impl on purpose: it would collide with the blanket
// `From` below (the same trade-off anyhow makes).
impl<E: std::error::Error + Send + Sync + 'static> From<E> for HandlerError {
    fn from(e: E) -> Self {
        HandlerError(Box::new(e))
    }
}

impl fmt::Display for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Debug for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

pub type HandlerResult = Result<(), HandlerError>;

/// Everything a handler gets about the job it runs.
#[derive(Debug, Clone)]
pub struct JobContext {
    /// The NEW job being served (the id the API returned to the user).
    pub job_id: String,
    /// The RUNNING row that holds the lock during this run.
    pub lock_id: String,
    pub job_type: JobType,
    /// The stored `resource_id` (values joined by `#`).
    pub resource_id: String,
    /// `resource_id` split into the job type's fields, in catalog order. A
    /// malformed id yields fewer pairs; handlers use [`JobContext::field`].
    pub resource: Vec<(&'static str, String)>,
    /// The project of the NEW job.
    pub project_id: Option<String>,
    /// The request context the job was cast with (oslo.context keys without
    /// the `_context_` prefix); an admin context for periodic redos.
    pub request: Map<String, Value>,
}

impl JobContext {
    /// Build a context, splitting `resource_id` per the catalog.
    pub fn new(
        job_id: String,
        lock_id: String,
        job_type: JobType,
        resource_id: String,
        project_id: Option<String>,
        request: Map<String, Value>,
    ) -> JobContext {
        let resource = job_type
            .split_resource_id(&resource_id)
            .map(|(k, v)| (k, v.to_owned()))
            .collect();
        JobContext {
            job_id,
            lock_id,
            job_type,
            resource_id,
            resource,
            project_id,
            request,
        }
    }

    /// The value of resource field `name` (`router_id`, `pod_id`...).
    pub fn field(&self, name: &str) -> Option<&str> {
        self.resource
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The value of field `name`, which must not be empty: the one rule
    /// every job resource follows for the fields it needs.
    pub fn required(&self, name: &str) -> Result<String, HandlerError> {
        self.optional(name)
            .ok_or_else(|| HandlerError::msg(format!("{} job without {name}", self.job_type)))
    }

    /// The value of field `name` when present and not empty.
    pub fn optional(&self, name: &str) -> Option<String> {
        self.field(name)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    }
}

/// What a job type works on, parsed once from its `resource_id` fields.
pub trait JobResource: Sized + Send + Sync + 'static {
    fn parse(ctx: &JobContext) -> Result<Self, HandlerError>;
}

/// The handler of one job type. Handlers must be idempotent: the engine
/// may run one again after a failure, a crash or a lock take-over. A panic
/// counts as a failure.
#[async_trait::async_trait]
pub trait Job: Send + Sync + 'static {
    /// The job type it serves; the registry files it under this type.
    const TYPE: JobType;
    type Resource: JobResource;

    async fn run(&self, resource: Self::Resource, ctx: &JobContext) -> HandlerResult;
}

/// A [`Job`] as the engine calls it: parse, then run.
pub(crate) struct Typed<J>(pub J);

#[async_trait::async_trait]
impl<J: Job> Handler for Typed<J> {
    async fn handle(&self, ctx: &JobContext) -> HandlerResult {
        debug_assert_eq!(ctx.job_type, J::TYPE);
        let resource = J::Resource::parse(ctx)?;
        self.0.run(resource, ctx).await
    }
}

/// A handler as the engine calls it, with the resource still as fields.
#[async_trait::async_trait]
pub trait Handler: Send + Sync {
    async fn handle(&self, ctx: &JobContext) -> HandlerResult;
}

#[async_trait::async_trait]
impl<H: Handler + ?Sized> Handler for Arc<H> {
    async fn handle(&self, ctx: &JobContext) -> HandlerResult {
        (**self).handle(ctx).await
    }
}

/// A handler made of a closure returning a future; see [`handler_fn`].
pub struct FnHandler<F>(F);

/// Wrap `f(ctx) -> impl Future<Output = HandlerResult>` as a [`Handler`]. The
/// closure gets an owned copy of the context so its future can be `'static`.
pub fn handler_fn<F, Fut>(f: F) -> FnHandler<F>
where
    F: Fn(JobContext) -> Fut + Send + Sync,
    Fut: Future<Output = HandlerResult> + Send,
{
    FnHandler(f)
}

#[async_trait::async_trait]
impl<F, Fut> Handler for FnHandler<F>
where
    F: Fn(JobContext) -> Fut + Send + Sync,
    Fut: Future<Output = HandlerResult> + Send,
{
    async fn handle(&self, ctx: &JobContext) -> HandlerResult {
        (self.0)(ctx.clone()).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_fields_follow_the_catalog_order() {
        let t = JobType::RouterSetup;
        let ctx = JobContext::new(
            "j".into(),
            "l".into(),
            t,
            "pod#router#net".into(),
            None,
            Map::new(),
        );
        assert_eq!(ctx.field("pod_id"), Some("pod"));
        assert_eq!(ctx.field("router_id"), Some("router"));
        assert_eq!(ctx.field("network_id"), Some("net"));
        assert_eq!(ctx.field("port_id"), None);
        let short = JobContext::new("j".into(), "l".into(), t, "pod#".into(), None, Map::new());
        assert_eq!(short.field("router_id"), Some(""));
        assert_eq!(short.field("network_id"), None);
        assert_eq!(short.required("pod_id").unwrap(), "pod");
        for missing in ["router_id", "network_id"] {
            assert_eq!(
                short.required(missing).unwrap_err().to_string(),
                format!("router_setup job without {missing}")
            );
            assert_eq!(short.optional(missing), None);
        }
    }

    #[test]
    fn errors_convert_and_display() {
        fn fails() -> HandlerResult {
            Err(std::io::Error::other("boom"))?;
            Ok(())
        }
        assert_eq!(fails().unwrap_err().to_string(), "boom");
        assert_eq!(HandlerError::msg("bad").to_string(), "bad");
    }
}
