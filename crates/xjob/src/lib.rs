//! The `tricircle-xjob` daemon as a library: [`Service`] takes [`Cast`]s
//! (RPC casts decoded by the AMQP consumer) from a channel, runs them on the
//! job engine, runs the periodic redo task, talks to systemd, and stops
//! gracefully.
//!
//! - [`bus`]: the AMQP consumer feeding casts to the service.
//! - [`daemon`]: the service, the consumer and the stop signal wired as the
//!   binaries run them.
//! - [`service`]: the service, its options and the cast loop.
//! - [`notify`]: systemd's `sd_notify` protocol (READY, WATCHDOG, STOPPING).
//! - [`signal`]: SIGTERM / SIGINT as a future.

pub mod bus;
pub mod daemon;
pub mod notify;
pub mod service;
pub mod signal;

pub use service::{Cast, Service, ServiceError, ServiceOptions};
pub use signal::termination_signal;
