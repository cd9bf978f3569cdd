//! Clients for the OpenStack services Tricircle talks to.
//!
//! `keystone` holds what both daemons need from the Identity service: a
//! password-authenticated [`keystone::Session`] (service token, expiry and
//! parsed catalog) and the [`keystone::TokenValidator`] the admin API uses
//! for `auth_strategy = keystone`.

pub mod error;
pub mod http;
pub mod keystone;
pub mod secret;

pub use error::Error;
pub use secret::Secret;
