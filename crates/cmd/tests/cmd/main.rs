//! The crate's integration tests, one binary (each test binary links the
//! whole dependency tree: one per file made CI's target directory several GB).

mod api;
mod api_limits;
mod api_stop;
mod common;
mod hostile;
mod linked;
mod samples;
mod service;
mod units;
mod xjob;
