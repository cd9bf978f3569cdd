//! Request pipeline: every request gets an id and an access log line, then is
//! authenticated into a [`crate::context::RequestContext`].

pub mod auth;
pub mod request_id;
