//! Shared set-up for the tests against the fake cloud.
#![allow(dead_code)]

use std::sync::Arc;
use tricircle_fakecloud::FakeCloud;
use tricircle_openstack::endpoints::{EndpointCache, MemoryEndpointCache};
use tricircle_openstack::neutron::Network;
use tricircle_openstack::testing::clients_config;
use tricircle_openstack::{Clients, ClientsConfig};

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
    clients_config(
        tricircle_openstack::test_password_auth!(cloud.admin()),
        auto_refresh,
    )
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
