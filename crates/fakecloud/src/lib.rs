//! In-process fakes of OpenStack services for tests.
//!
//! Each fake is a real HTTP server on a loopback port, so clients under test
//! exercise their actual HTTP code. Every request is recorded (with token
//! headers redacted) for assertions, and a fake can be taken down to test
//! how clients behave when a service is unreachable or failing.

pub mod keystone;
mod record;
mod server;

pub use keystone::FakeKeystone;
pub use record::RecordedRequest;
