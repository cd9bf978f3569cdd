//! The entry point of the job daemon: one Keystone session and endpoint
//! resolver, and a Neutron client per region on demand.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crate::breaker::{BreakerPolicy, RegionBreaker};
use crate::calls::CallStats;
use crate::endpoints::{EndpointCache, EndpointResolver};
use crate::http::{build_client, cafile_for, HttpOptions};
use crate::keystone::{Interface, PasswordAuth, Session};
use crate::neutron::{NeutronClient, NeutronError, RetryPolicy};
use crate::router_writes::RouterWrites;
use crate::shared_reads::SharedReads;
use crate::{Error, Secret};

/// What the `[client]` section says, in this crate's terms.
#[derive(Debug, Clone)]
pub struct ClientsConfig {
    pub auth: PasswordAuth,
    /// `neutron_timeout`: bound on each Neutron (and Keystone) request.
    pub timeout: Duration,
    pub auto_refresh_endpoint: bool,
    pub retry: RetryPolicy,
    /// Catalog interface of the endpoints (the reference reads `public`).
    pub interface: Interface,
    pub insecure: bool,
    pub cafile: Option<std::path::PathBuf>,
}

impl ClientsConfig {
    /// From the `[client]` options; the admin account is required.
    pub fn from_options(o: &tricircle_config::ClientOptions) -> Result<Self, Error> {
        let missing = |name: &str| Error::Config(format!("[client] {name} is required"));
        let timeout = u64::try_from(o.neutron_timeout)
            .ok()
            .filter(|t| *t > 0)
            .ok_or_else(|| {
                Error::Config(format!(
                    "[client] neutron_timeout must be positive, not {}",
                    o.neutron_timeout
                ))
            })?;
        Ok(Self {
            auth: PasswordAuth {
                auth_url: o.auth_url.clone(),
                username: o
                    .admin_username
                    .clone()
                    .ok_or_else(|| missing("admin_username"))?,
                password: Secret::new(
                    o.admin_password
                        .as_ref()
                        .ok_or_else(|| missing("admin_password"))?
                        .expose(),
                ),
                user_domain_name: o.admin_user_domain_name.clone(),
                project_name: o
                    .admin_tenant
                    .clone()
                    .ok_or_else(|| missing("admin_tenant"))?,
                project_domain_name: o.admin_tenant_domain_name.clone(),
            },
            timeout: Duration::from_secs(timeout),
            auto_refresh_endpoint: o.auto_refresh_endpoint,
            retry: RetryPolicy::default(),
            interface: Interface::Public,
            insecure: false,
            cafile: None,
        })
    }
}

/// Clients of every region, sharing one token and one endpoint cache.
/// Cheap to clone.
#[derive(Clone)]
pub struct Clients {
    pub(crate) session: Arc<Session>,
    pub(crate) http: reqwest::Client,
    pub(crate) resolver: Arc<EndpointResolver>,
    pub(crate) retry: RetryPolicy,
    pub(crate) stats: Arc<CallStats>,
    pub(crate) breaker: Arc<RegionBreaker>,
    pub(crate) shared: Arc<SharedReads>,
    pub(crate) router_writes: Arc<RouterWrites>,
}

impl std::fmt::Debug for Clients {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Clients")
            .field("session", &self.session)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

impl Clients {
    pub fn new(cfg: ClientsConfig, cache: Arc<dyn EndpointCache>) -> Result<Self, Error> {
        let http = build_client(&HttpOptions {
            timeout: cfg.timeout,
            insecure: cfg.insecure,
            cafile: cafile_for(&cfg.auth.auth_url, cfg.cafile.as_ref()),
        })?;
        let session = Arc::new(Session::new(http.clone(), cfg.auth)?);
        let resolver = Arc::new(EndpointResolver::new(
            session.clone(),
            cache,
            cfg.auto_refresh_endpoint,
            cfg.interface,
        ));
        Ok(Self {
            session,
            http,
            resolver,
            retry: cfg.retry,
            stats: Arc::new(CallStats::new()),
            breaker: Arc::new(RegionBreaker::new(BreakerPolicy::default())),
            shared: Arc::new(SharedReads::new()),
            router_writes: Arc::new(RouterWrites::default()),
        })
    }

    /// Neutron of `region` (a pod's `region_name`). The endpoint is looked
    /// up on the first call, not here.
    pub fn neutron(&self, region: &str) -> NeutronClient {
        NeutronClient::new(region.to_owned(), self.clone())
    }

    /// Which regions answer: what every client of this set saw.
    pub fn region_breaker(&self) -> &Arc<RegionBreaker> {
        &self.breaker
    }

    /// The Neutron calls every client of this set made so far.
    pub fn call_stats(&self) -> &Arc<CallStats> {
        &self.stats
    }

    pub fn session(&self) -> &Arc<Session> {
        &self.session
    }

    /// Read the catalog now and update the cache (e.g. after a pod is
    /// added); returns `region -> Neutron URL`.
    pub async fn refresh_endpoints(&self) -> Result<BTreeMap<String, String>, NeutronError> {
        self.resolver.refresh().await
    }
}
