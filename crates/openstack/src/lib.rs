//! Clients for the OpenStack services Tricircle talks to.
//!
//! `keystone` holds what both daemons need from the Identity service: a
//! password-authenticated [`keystone::Session`] (service token, expiry and
//! parsed catalog) and the [`keystone::TokenValidator`] the admin API uses
//! for `auth_strategy = keystone`. `neutron` is a typed Neutron v2.0
//! client; [`clients::Clients`] hands out one per region, resolving
//! endpoints through `endpoints` (the `cached_endpoints` table).

pub mod breaker;
pub mod calls;
pub mod clients;
pub mod endpoints;
pub mod error;
pub mod http;
pub mod keystone;
pub mod neutron;
pub mod router_writes;
pub mod secret;
pub mod shared_reads;
pub mod testing;

pub use clients::{Clients, ClientsConfig};
pub use error::Error;
pub use secret::Secret;
