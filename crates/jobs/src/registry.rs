//! Handlers by job type, found by job type name or by RPC method name.

use std::collections::HashMap;
use std::sync::Arc;

use crate::catalog::{self, JobType};
use crate::handler::Handler;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RegistryError {
    #[error("unknown job type {0:?}")]
    UnknownJobType(String),
    #[error("a handler for job type {0:?} is already registered")]
    Duplicate(String),
}

/// The handlers xjob runs. Only registered job types are served: casts for
/// other methods are ignored and the periodic redo skips their jobs, as the
/// reference filters by its `job_handles`.
#[derive(Default, Clone)]
pub struct Registry {
    by_type: HashMap<&'static str, (&'static JobType, Arc<dyn Handler>)>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut types: Vec<_> = self.by_type.keys().collect();
        types.sort();
        f.debug_struct("Registry")
            .field("job_types", &types)
            .finish()
    }
}

impl Registry {
    pub fn new() -> Registry {
        Registry::default()
    }

    /// Register `handler` for the catalog job type named `job_type`
    /// (e.g. `"router_setup"`).
    pub fn register(
        &mut self,
        job_type: &str,
        handler: impl Handler + 'static,
    ) -> Result<&mut Registry, RegistryError> {
        self.register_arc(job_type, Arc::new(handler))
    }

    /// [`Registry::register`] for a shared handler.
    pub fn register_arc(
        &mut self,
        job_type: &str,
        handler: Arc<dyn Handler>,
    ) -> Result<&mut Registry, RegistryError> {
        let t = catalog::job_type(job_type)
            .ok_or_else(|| RegistryError::UnknownJobType(job_type.to_owned()))?;
        if self.by_type.contains_key(t.name) {
            return Err(RegistryError::Duplicate(t.name.to_owned()));
        }
        self.by_type.insert(t.name, (t, handler));
        Ok(self)
    }

    /// The handler of a job type name.
    pub fn get(&self, job_type: &str) -> Option<(&'static JobType, Arc<dyn Handler>)> {
        self.by_type.get(job_type).map(|(t, h)| (*t, Arc::clone(h)))
    }

    /// The handler behind an RPC method name (`setup_bottom_router`...).
    pub fn by_method(&self, method: &str) -> Option<(&'static JobType, Arc<dyn Handler>)> {
        catalog::by_handler(method).and_then(|t| self.get(t.name))
    }

    pub fn contains(&self, job_type: &str) -> bool {
        self.by_type.contains_key(job_type)
    }

    /// Registered job type names, sorted.
    pub fn job_types(&self) -> Vec<&'static str> {
        let mut v: Vec<_> = self.by_type.keys().copied().collect();
        v.sort_unstable();
        v
    }

    pub fn is_empty(&self) -> bool {
        self.by_type.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handler::{handler_fn, JobContext};

    fn noop() -> impl Handler {
        handler_fn(|_: JobContext| async { Ok(()) })
    }

    #[test]
    fn registers_by_type_and_finds_by_method() {
        let mut r = Registry::new();
        r.register(catalog::ROUTER_SETUP, noop()).unwrap();
        assert!(r.contains("router_setup"));
        assert_eq!(
            r.by_method("setup_bottom_router").unwrap().0.name,
            "router_setup"
        );
        // The job type name is not a method name (they differ for this type).
        assert!(r.by_method("router_setup").is_none());
        assert!(r.by_method("configure_route").is_none(), "not registered");
        assert_eq!(r.job_types(), vec!["router_setup"]);
    }

    #[test]
    fn rejects_unknown_and_duplicate_types() {
        let mut r = Registry::new();
        assert_eq!(
            r.register("no_such_job", noop()).err(),
            Some(RegistryError::UnknownJobType("no_such_job".into()))
        );
        r.register(catalog::CONFIGURE_ROUTE, noop()).unwrap();
        assert_eq!(
            r.register(catalog::CONFIGURE_ROUTE, noop()).err(),
            Some(RegistryError::Duplicate("configure_route".into()))
        );
    }
}
