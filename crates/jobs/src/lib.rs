//! Running asynchronous jobs: xjob's engine, its handlers and the job path
//! that feeds it. The job types themselves are `tricircle_vocab::JobType`.
//!
//! - [`queue`]: [`JobRequest`]s on their way to the engine.
//! - [`recorded`]: when this process recorded the NEW rows it recorded.
//! - [`handler`]: the typed [`Job`] trait, the [`JobContext`] a handler
//!   receives and the untyped [`Handler`] the engine calls.
//! - [`resource`]: the typed resources of the job types.
//! - [`registry`]: handlers by job type.
//! - [`engine`]: the worker loop (lock, run, finish, loop for newer jobs).
//! - [`periodic`]: the redo task for failed and forgotten jobs.
//! - [`reconcile`]: stock mode's sweep recording jobs where the pods
//!   differ from what the central region and the routing table imply.
//! - [`handlers`]: one module per job type.
//! - [`network`]: what the networking handlers share (routing-table lock,
//!   bridge elements, bottom copies, floating IP sync).

mod batcher;
pub mod engine;
pub mod events;
pub mod handler;
pub mod handlers;
pub mod network;
pub mod periodic;
pub mod queue;
pub mod reconcile;
pub mod recorded;
pub mod registry;
pub mod resource;

pub use engine::{
    Engine, EngineError, LoopEnd, Report, Run, RunObserver, RunRecord, Settings, Slot, Stats,
};
pub use handler::{handler_fn, Handler, HandlerError, HandlerResult, Job, JobContext, JobResource};
pub use periodic::{redo_failed_or_new_job, PeriodicSettings, Redo};
pub use queue::{JobQueue, JobRequest, JobRequests};
pub use registry::{Registry, RegistryError};
pub use tricircle_vocab::{JobStatus, JobType, ResourceType};
