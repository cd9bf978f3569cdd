//! The pods' clouds: Keystone-authenticated clients for the regions the
//! pods table names, endpoints cached in `cached_endpoints`.
//!
//! Shared by the admin API (stock mode asks the central Neutron who owns a
//! resource) and the xjob handlers, so that neither `tricircle-openstack`
//! needs the database nor the API the job handlers.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use tricircle_config::Config;
use tricircle_db::models::Pod;
use tricircle_db::{Db, DbError};
use tricircle_openstack::endpoints::{CacheError, EndpointCache};
use tricircle_openstack::{Clients, ClientsConfig};

/// Why the clients could not be built.
#[derive(Debug, thiserror::Error)]
pub enum RegionsError {
    /// The `[client]` options are incomplete or invalid.
    #[error("{0}")]
    Options(tricircle_openstack::Error),
    /// The clients could not be built from valid options (TLS set-up).
    #[error("{0}")]
    Clients(tricircle_openstack::Error),
}

/// The `cached_endpoints` table: regions are pods by `region_name`;
/// catalog regions that are not pods are not stored (as the reference).
#[derive(Clone)]
pub struct DbEndpointCache {
    db: Db,
}

impl DbEndpointCache {
    pub fn new(db: Db) -> Self {
        Self { db }
    }
}

#[async_trait]
impl EndpointCache for DbEndpointCache {
    async fn lookup(&self, region: &str, service: &str) -> Result<Option<String>, CacheError> {
        let (region, service) = (region.to_owned(), service.to_owned());
        let found = self
            .db
            .run(move |c| tricircle_db::endpoints::for_region(c, &region, &service))
            .await
            .map_err(CacheError::new)?;
        Ok(found.and_then(|(_, rows)| rows.into_iter().next().map(|r| r.service_url)))
    }

    async fn store(
        &self,
        service: &str,
        urls: &BTreeMap<String, String>,
    ) -> Result<(), CacheError> {
        let (service, urls) = (service.to_owned(), urls.clone());
        let out = self
            .db
            .transaction(move |c| tricircle_db::endpoints::refresh(c, &service, &urls))
            .await
            .map_err(CacheError::new)?;
        tracing::info!(
            created = ?out.created,
            updated = ?out.updated,
            skipped = ?out.skipped_regions,
            "cached endpoints refreshed"
        );
        Ok(())
    }
}

/// The clients of every region, from the `[client]` options (the admin
/// account is required), endpoints cached in `db`.
pub fn clients_from_config(config: &Config, db: Db) -> Result<Clients, RegionsError> {
    let cfg = ClientsConfig::from_options(&config.client).map_err(RegionsError::Options)?;
    Clients::new(cfg, Arc::new(DbEndpointCache::new(db))).map_err(RegionsError::Clients)
}

/// The top pod (the central Neutron's region): the pod of region
/// `top_region_name` (`[client] top_region_name`) if set, else the pods
/// table's top pod.
pub async fn top_pod(db: &Db, top_region_name: Option<&str>) -> Result<Option<Pod>, DbError> {
    let name = top_region_name.map(str::to_owned);
    db.run(move |c| match name {
        Some(n) => tricircle_db::pods::by_region_name(c, &n),
        None => tricircle_db::pods::top_pod(c),
    })
    .await
}
