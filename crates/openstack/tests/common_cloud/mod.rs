//! Shared set-up for the tests against the fake cloud.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use tricircle_fakecloud::FakeCloud;
use tricircle_openstack::endpoints::{EndpointCache, MemoryEndpointCache};
use tricircle_openstack::keystone::{Interface, PasswordAuth};
use tricircle_openstack::neutron::{Network, RetryPolicy};
use tricircle_openstack::{Clients, ClientsConfig, Secret};

pub const ADMIN_PASSWORD: &str = "Adm1n-Secret-pw";

pub async fn cloud() -> FakeCloud {
    FakeCloud::builder()
        .region("RegionOne")
        .region("RegionTwo")
        .admin("tricircle", ADMIN_PASSWORD, "service")
        .build()
        .await
}

pub fn config(cloud: &FakeCloud, auto_refresh: bool) -> ClientsConfig {
    let a = cloud.admin();
    ClientsConfig {
        auth: PasswordAuth {
            auth_url: a.auth_url.clone(),
            username: a.username.clone(),
            password: Secret::new(a.password.clone()),
            user_domain_name: a.user_domain_name.clone(),
            project_name: a.project_name.clone(),
            project_domain_name: a.project_domain_name.clone(),
        },
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

pub fn net(name: &str) -> Network {
    Network {
        name: Some(name.into()),
        ..Network::default()
    }
}

/// Clients whose endpoints come from the catalog (auto refresh on).
pub fn clients(cloud: &FakeCloud) -> Clients {
    let cache: Arc<dyn EndpointCache> = Arc::new(MemoryEndpointCache::new());
    Clients::new(config(cloud, true), cache).unwrap()
}
