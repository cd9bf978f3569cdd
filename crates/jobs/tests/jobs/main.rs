//! The crate's integration tests, one binary (each test binary links the
//! whole dependency tree: one per file made CI's target directory several GB).

mod engine;
mod events_fuzz;
mod jobs_ports_secgroups;
mod network_common;
mod network_lock;
mod network_multipod;
mod network_stock;
mod network_sync;
mod neutron_calls;
mod qos_trunk;
mod registry_complete;
mod sfc;
mod stock_cleanup;
mod stock_mirror;
mod stock_slices;
mod stock_sweep;
