//! Asynchronous jobs: the catalogue of job types shared by the API (which
//! validates and creates jobs) and xjob (which runs them), and xjob's engine.
//!
//! - [`catalog`]: job types, resource fields, RPC method names.
//! - [`handler`]: the [`Handler`] trait and the [`JobContext`] it receives.
//! - [`registry`]: handlers by job type / RPC method.
//! - [`engine`]: the worker loop (lock, run, finish, loop for newer jobs).
//! - [`periodic`]: the redo task for failed and forgotten jobs.
//! - [`handlers`]: one module per job type.
//! - [`network`]: what the networking handlers share (routing-table lock,
//!   bridge elements, bottom copies, floating IP sync).

pub mod catalog;
pub mod engine;
pub mod handler;
pub mod handlers;
pub mod network;
pub mod periodic;
pub mod registry;

pub use engine::{Engine, EngineError, LoopEnd, Report, Run, Settings, Slot, Stats};
pub use handler::{handler_fn, Handler, HandlerError, HandlerResult, JobContext};
pub use periodic::{redo_failed_or_new_job, PeriodicSettings, Redo};
pub use registry::{Registry, RegistryError};
