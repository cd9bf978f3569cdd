//! The `tricircle-xjob` daemon as a library: [`Service`] takes job
//! requests (`tricircle_jobs::JobRequest`: from RPC casts decoded by the
//! AMQP consumer or NEW rows found by the poll of the jobs table, and from
//! handlers that record follow-up jobs) from its
//! queue, runs them on the job engine, runs the periodic redo task, talks
//! to systemd, and stops gracefully.
//!
//! - [`bus`]: the AMQP consumer turning casts into job requests.
//! - [`poll`]: without a message bus, NEW jobs found in the database.
//! - [`events`]: stock mode's listeners of the regions' Neutron
//!   notifications, recording the jobs each asks for.
//! - [`daemon`]: the service, the consumer and the stop signal wired as the
//!   binaries run them.
//! - [`service`]: the service, its options and the job loop.
//! - [`notify`]: systemd's `sd_notify` protocol (READY, WATCHDOG, STOPPING),
//!   the `tricircle-sdnotify` crate the API shares, under its old path.
//! - [`signal`]: SIGTERM / SIGINT as a future.

pub mod bus;
pub mod daemon;
pub mod events;
pub mod metrics;
pub mod poll;
pub mod service;
pub mod signal;

pub use tricircle_sdnotify as notify;

pub use service::{Service, ServiceError, ServiceOptions};
pub use signal::termination_signal;
