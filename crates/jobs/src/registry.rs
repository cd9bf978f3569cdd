//! Handlers by job type. A [`Job`] is filed under its own `Job::TYPE`, so a
//! handler cannot serve another type than the one it was written for.

use std::collections::HashMap;
use std::sync::Arc;

use tricircle_vocab::JobType;

use crate::handler::{Handler, Job, Typed};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RegistryError {
    #[error("a handler for job type {0:?} is already registered")]
    Duplicate(JobType),
}

/// The handlers xjob runs. Only registered job types are served: requests
/// for other types are ignored and the periodic redo skips their jobs, as
/// the reference filters by its `job_handles`.
#[derive(Default, Clone)]
pub struct Registry {
    by_type: HashMap<JobType, Arc<dyn Handler>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("job_types", &self.job_types())
            .finish()
    }
}

impl Registry {
    pub fn new() -> Registry {
        Registry::default()
    }

    /// Register `job` for the job type it declares.
    pub fn register<J: Job>(&mut self, job: J) -> Result<&mut Registry, RegistryError> {
        self.register_handler(J::TYPE, Typed(job))
    }

    /// Register an untyped handler (a closure through
    /// [`crate::handler_fn`]) for `job_type`.
    pub fn register_handler(
        &mut self,
        job_type: JobType,
        handler: impl Handler + 'static,
    ) -> Result<&mut Registry, RegistryError> {
        if self.by_type.contains_key(&job_type) {
            return Err(RegistryError::Duplicate(job_type));
        }
        self.by_type.insert(job_type, Arc::new(handler));
        Ok(self)
    }

    /// The handler of a job type.
    pub fn get(&self, job_type: JobType) -> Option<Arc<dyn Handler>> {
        self.by_type.get(&job_type).cloned()
    }

    pub fn contains(&self, job_type: JobType) -> bool {
        self.by_type.contains_key(&job_type)
    }

    /// Registered job types, in catalogue order.
    pub fn job_types(&self) -> Vec<JobType> {
        JobType::every().filter(|t| self.contains(*t)).collect()
    }

    pub fn is_empty(&self) -> bool {
        self.by_type.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handler::{handler_fn, HandlerResult, JobContext, JobResource};
    use crate::HandlerError;

    struct Router(String);

    impl JobResource for Router {
        fn parse(ctx: &JobContext) -> Result<Self, HandlerError> {
            ctx.required("router_id").map(Router)
        }
    }

    struct Configure;

    #[async_trait::async_trait]
    impl Job for Configure {
        const TYPE: JobType = JobType::ConfigureRoute;
        type Resource = Router;

        async fn run(&self, r: Router, _: &JobContext) -> HandlerResult {
            if r.0 == "bad" {
                return Err(HandlerError::msg("bad router"));
            }
            Ok(())
        }
    }

    fn ctx(resource_id: &str) -> JobContext {
        JobContext::new(
            "j".into(),
            "l".into(),
            JobType::ConfigureRoute,
            resource_id.into(),
            None,
            Default::default(),
        )
    }

    #[tokio::test]
    async fn a_job_is_filed_under_its_type_and_gets_its_resource_parsed() {
        let mut r = Registry::new();
        r.register(Configure).unwrap();
        assert_eq!(r.job_types(), vec![JobType::ConfigureRoute]);
        let h = r.get(JobType::ConfigureRoute).unwrap();
        assert!(h.handle(&ctx("r1")).await.is_ok());
        assert_eq!(
            h.handle(&ctx("bad")).await.unwrap_err().to_string(),
            "bad router"
        );
        assert_eq!(
            h.handle(&ctx("")).await.unwrap_err().to_string(),
            "configure_route job without router_id",
            "the resource is parsed before the handler runs"
        );
        assert!(r.get(JobType::RouterSetup).is_none());
    }

    #[test]
    fn rejects_duplicate_types() {
        let mut r = Registry::new();
        r.register(Configure).unwrap();
        assert_eq!(
            r.register_handler(
                JobType::ConfigureRoute,
                handler_fn(|_: JobContext| async { Ok(()) })
            )
            .err(),
            Some(RegistryError::Duplicate(JobType::ConfigureRoute))
        );
    }
}
