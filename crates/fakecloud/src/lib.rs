//! In-process fakes of OpenStack services for tests.
//!
//! Each fake is a real HTTP server on a loopback port, so clients under test
//! exercise their actual HTTP code. Every request is recorded (with token
//! headers redacted) for assertions, and a fake can be taken down to test
//! how clients behave when a service is unreachable or failing.

mod cloud;
pub mod control;
pub mod keystone;
pub mod neutron;
mod record;
mod server;

pub use cloud::{AdminCredentials, FakeCloud, FakeCloudBuilder};
pub use keystone::FakeKeystone;
pub use neutron::{Created, FakeNeutron, FakeNotification, Held};
pub use record::RecordedRequest;

/// Decides whether a token is valid and for which project; lets a fake
/// service accept exactly the tokens a fake Keystone issued.
pub type TokenCheck = std::sync::Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;
