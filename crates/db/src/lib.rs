//! Database layer of the Tricircle control plane: the reference's schema
//! (after its migration 011) on SQLite, MySQL/MariaDB and PostgreSQL, a
//! connection pool, per-table query functions and the job state machine.
//!
//! Query functions are synchronous and take `&mut AnyConnection`, so callers
//! compose several of them inside one [`Db::run`] or [`Db::transaction`]
//! closure.

mod conn;
mod dburl;
mod error;
mod from_config;

pub mod agents;
pub mod batching;
pub mod endpoints;
pub mod jobs;
pub mod migrate;
pub mod models;
pub mod pods;
pub mod ready;
pub mod recycle;
pub mod routings;
pub mod schema;
pub mod testing;
pub mod text;
pub mod time;

pub use conn::{
    retry_on_deadlock, AnyConnection, Backend, Db, Manager, MultiBackend, PoolOptions, RetryPolicy,
    Session,
};
pub use dburl::{redact, DbUrl};
pub use error::DbError;
pub use from_config::OpenError;
