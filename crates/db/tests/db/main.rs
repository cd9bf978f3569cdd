//! The crate's integration tests, one binary (each test binary links the
//! whole dependency tree: one per file made CI's target directory several GB).

mod common;
mod endpoints;
mod intake;
mod jobs;
mod migrate;
mod pods;
mod pool;
mod routings;
mod schema;
