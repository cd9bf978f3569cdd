//! The project's own vocabulary, low in the tree so that every crate speaks
//! it the same way: what a job's status is ([`JobStatus`]), what a resource
//! in the routing table is and where Neutron keeps it ([`ResourceType`]),
//! and which job types exist with their resource fields ([`JobType`]).
//!
//! The stored strings (`3_New`, `router_setup`, `port_chain`...) are the
//! original Tricircle's and part of the database and wire contract; this
//! crate is the only place that spells them.

mod job_type;
mod resource;
mod status;

pub use job_type::{JobType, ResourceField, UnknownJobType};
pub use resource::{NeutronCollection, ResourceType, UnknownResourceType};
pub use status::JobStatus;
