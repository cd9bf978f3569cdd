//! Where each region's Neutron is: a cache of catalog endpoints (the
//! `cached_endpoints` table in production) and the resolver that fills it
//! from Keystone.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::{Mutex, RwLock};

use crate::keystone::{Interface, Session};
use crate::neutron::NeutronError;

/// The catalog's service type of Neutron.
pub const NETWORK_SERVICE_TYPE: &str = "network";
/// What the reference writes into `cached_endpoints.service_type` for
/// Neutron (its service name), so existing rows keep working.
pub const NEUTRON_CACHE_KEY: &str = "neutron";

/// Why an [`EndpointCache`] could not look up or store URLs: the
/// storage's own error (the database's, for the `cached_endpoints` table).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct CacheError(Arc<dyn std::error::Error + Send + Sync>);

impl CacheError {
    pub fn new(source: impl std::error::Error + Send + Sync + 'static) -> Self {
        CacheError(Arc::new(source))
    }
}

/// Compared by message, so that [`NeutronError`] stays comparable.
impl PartialEq for CacheError {
    fn eq(&self, other: &Self) -> bool {
        self.0.to_string() == other.0.to_string()
    }
}

impl Eq for CacheError {}

/// Storage for endpoint URLs by region and cached service type.
#[async_trait]
pub trait EndpointCache: Send + Sync {
    /// The cached URL, if any.
    async fn lookup(&self, region: &str, service: &str) -> Result<Option<String>, CacheError>;
    /// Remember the catalog's `region -> url` map.
    async fn store(&self, service: &str, urls: &BTreeMap<String, String>)
        -> Result<(), CacheError>;
}

/// An in-memory cache, for tests and for running without a database.
#[derive(Debug, Default)]
pub struct MemoryEndpointCache {
    urls: std::sync::Mutex<BTreeMap<(String, String), String>>,
}

impl MemoryEndpointCache {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn set(&self, region: &str, service: &str, url: &str) {
        self.lock()
            .insert((region.to_owned(), service.to_owned()), url.to_owned());
    }

    pub fn get(&self, region: &str, service: &str) -> Option<String> {
        self.lock()
            .get(&(region.to_owned(), service.to_owned()))
            .cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<(String, String), String>> {
        self.urls.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait]
impl EndpointCache for MemoryEndpointCache {
    async fn lookup(&self, region: &str, service: &str) -> Result<Option<String>, CacheError> {
        Ok(self.get(region, service))
    }

    async fn store(
        &self,
        service: &str,
        urls: &BTreeMap<String, String>,
    ) -> Result<(), CacheError> {
        for (region, url) in urls {
            self.set(region, service, url);
        }
        Ok(())
    }
}

/// Finds each region's Neutron URL: in memory, then in the cache, then
/// (with `auto_refresh_endpoint`) in Keystone's catalog. Shared by all
/// region clients.
pub struct EndpointResolver {
    session: Arc<Session>,
    cache: Arc<dyn EndpointCache>,
    auto_refresh: bool,
    interface: Interface,
    known: RwLock<HashMap<String, String>>,
    /// Serialises refreshes; the counter lets a caller that waited behind
    /// a refresh use its result instead of refreshing again.
    refreshing: Mutex<u64>,
}

impl EndpointResolver {
    pub fn new(
        session: Arc<Session>,
        cache: Arc<dyn EndpointCache>,
        auto_refresh: bool,
        interface: Interface,
    ) -> Self {
        Self {
            session,
            cache,
            auto_refresh,
            interface,
            known: RwLock::new(HashMap::new()),
            refreshing: Mutex::new(0),
        }
    }

    pub fn auto_refresh(&self) -> bool {
        self.auto_refresh
    }

    /// The Neutron URL of `region`.
    pub async fn resolve(&self, region: &str) -> Result<String, NeutronError> {
        if let Some(url) = self.known.read().await.get(region) {
            return Ok(url.clone());
        }
        if let Some(url) = self.cached(region).await? {
            return Ok(url);
        }
        if self.auto_refresh {
            self.refresh().await?;
            if let Some(url) = self.cached(region).await? {
                return Ok(url);
            }
        }
        Err(NeutronError::EndpointNotFound {
            region: region.to_owned(),
        })
    }

    async fn cached(&self, region: &str) -> Result<Option<String>, NeutronError> {
        let found = self
            .cache
            .lookup(region, NEUTRON_CACHE_KEY)
            .await
            .map_err(NeutronError::EndpointCache)?;
        if let Some(url) = &found {
            self.known
                .write()
                .await
                .insert(region.to_owned(), url.clone());
        }
        Ok(found)
    }

    /// Drop the remembered URL of `region` if it is still `url`.
    pub async fn forget(&self, region: &str, url: &str) {
        let mut known = self.known.write().await;
        if known.get(region).is_some_and(|u| u == url) {
            known.remove(region);
        }
    }

    /// Read the catalog and store every region's Neutron URL; returns the
    /// map. Callers queued behind a refresh share it.
    pub async fn refresh(&self) -> Result<BTreeMap<String, String>, NeutronError> {
        let seen = *self.refreshing.lock().await;
        let mut generation = self.refreshing.lock().await;
        if *generation != seen {
            // Someone refreshed while we waited for the lock.
            return Ok(self.known.read().await.clone().into_iter().collect());
        }
        let catalog = self.session.fetch_catalog().await?;
        let urls = catalog.urls_by_region(NETWORK_SERVICE_TYPE, self.interface);
        self.cache
            .store(NEUTRON_CACHE_KEY, &urls)
            .await
            .map_err(NeutronError::EndpointCache)?;
        {
            let mut known = self.known.write().await;
            known.clear();
        }
        *generation += 1;
        tracing::info!(
            regions = urls.len(),
            "Neutron endpoints read from the catalog"
        );
        Ok(urls)
    }
}
