//! The crate's integration tests, one binary (each test binary links the
//! whole dependency tree: one per file made CI's target directory several GB).

mod devstack;
mod fuzz;
mod load;
mod sample;
