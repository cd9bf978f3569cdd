//! Client settings for tests (this crate's and other crates') against a
//! fake or throw-away cloud.

use std::time::Duration;

use crate::keystone::{Interface, PasswordAuth};
use crate::neutron::RetryPolicy;
use crate::ClientsConfig;

/// The [`PasswordAuth`] of an admin account given as a value with the
/// fields `auth_url`, `username`, `password`, `user_domain_name`,
/// `project_name` and `project_domain_name` (all `String`), such as the
/// fake cloud's `cloud.admin()`; a macro so that this crate need not
/// depend on the fake cloud.
#[macro_export]
macro_rules! test_password_auth {
    ($admin:expr) => {{
        let a = $admin;
        $crate::keystone::PasswordAuth {
            auth_url: a.auth_url.clone(),
            username: a.username.clone(),
            password: $crate::Secret::new(a.password.clone()),
            user_domain_name: a.user_domain_name.clone(),
            project_name: a.project_name.clone(),
            project_domain_name: a.project_domain_name.clone(),
        }
    }};
}

/// Clients configuration for tests: `auth`, public endpoints, a 5 s request
/// timeout and quick retries (2, backing off from 10 ms to 50 ms). Override
/// fields with struct update syntax where a test wants other values.
pub fn clients_config(auth: PasswordAuth, auto_refresh: bool) -> ClientsConfig {
    ClientsConfig {
        auth,
        timeout: Duration::from_secs(5),
        auto_refresh_endpoint: auto_refresh,
        retry: RetryPolicy {
            retries: 2,
            initial_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(50),
        },
        interface: Interface::Public,
        insecure: false,
        cafile: None,
    }
}
