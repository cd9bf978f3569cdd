//! A typed Neutron v2.0 client for one region.
//!
//! Every call resolves the region's endpoint through the shared
//! [`EndpointResolver`](crate::endpoints::EndpointResolver), sends the
//! service token, renews that token once on a 401, retries connection
//! failures and 5xx answers with backoff (never a 4xx, nor a create that
//! was sent and got no answer: it may have taken effect), and, when the
//! endpoint does not answer at all and `auto_refresh_endpoint` is on, reads
//! the catalog again and retries once at the new address.

mod error;
pub(crate) mod filters;
mod floatingips;
mod networks;
mod ports;
mod qos;
mod retry;
mod routers;
mod security_groups;
mod sfc;
mod subnetpools;
mod subnets;
mod trunks;

use std::sync::Arc;

pub use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

pub use self::error::{ApiError, NeutronError};
pub use self::filters::Filters;
pub use self::floatingips::FloatingIp;
pub use self::networks::Network;
pub use self::ports::{FixedIp, Port};
pub use self::qos::{QosPolicy, QosRule, QosRuleKind};
pub use self::retry::RetryPolicy;
pub use self::routers::{ExternalGatewayInfo, Route, Router, RouterInterface};
pub use self::security_groups::{SecurityGroup, SecurityGroupRule};
pub use self::sfc::{FlowClassifier, PortChain, PortPair, PortPairGroup};
pub use self::subnetpools::SubnetPool;
pub use self::subnets::{AllocationPool, HostRoute, Subnet};
pub use self::trunks::{SubPort, Trunk};

use crate::calls::{JobCalls, NO_JOB};
use crate::clients::Clients;

/// The header a job's calls carry its global request id in
/// ([`JobCalls::global_request_id`]).
pub const GLOBAL_REQUEST_ID: &str = "X-OpenStack-Request-ID";

/// Device owners Neutron itself gives ports.
pub mod device_owner {
    pub const ROUTER_INTERFACE: &str = "network:router_interface";
    pub const ROUTER_GATEWAY: &str = "network:router_gateway";
    pub const FLOATING_IP: &str = "network:floatingip";
    pub const DHCP: &str = "network:dhcp";
    pub const TRUNK_SUBPORT: &str = "trunk:subport";
}

/// A Neutron resource with a collection under `/v2.0/`.
pub trait Resource: Serialize + DeserializeOwned + Send + Sync {
    /// Body key of one, e.g. `network`.
    const SINGULAR: &'static str;
    /// Body key of many, e.g. `networks`.
    const PLURAL: &'static str;
    /// Collection path under `/v2.0/`, e.g. `networks`, `qos/policies`.
    const PATH: &'static str;

    /// The id Neutron gave it (empty before creation).
    fn id(&self) -> &str;
}

/// Deserializes `"k": null` as `Some(None)` and a missing key (via
/// `default`) as `None`, for attributes where an explicit null means
/// something (no gateway, disassociate).
pub(crate) fn double_option<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// Declares a resource struct whose fields are all optional (so the same
/// struct is a create/update body and an answer) and which keeps the
/// attributes it does not name in `extra`. `named` before the fields
/// prepends the attributes every named, project-owned resource has.
macro_rules! resource {
    (
        $(#[$m:meta])*
        $name:ident [$singular:literal, $plural:literal, $path:literal] named {
            $( $(#[$fm:meta])* $field:ident : $ty:ty ),* $(,)?
        }
    ) => {
        $crate::neutron::resource! {
            $(#[$m])*
            $name [$singular, $plural, $path] {
                id: String,
                name: String,
                description: String,
                tenant_id: String,
                project_id: String,
                $( $(#[$fm])* $field : $ty ),*
            }
        }
    };
    (
        $(#[$m:meta])*
        $name:ident [$singular:literal, $plural:literal, $path:literal] {
            $( $(#[$fm:meta])* $field:ident : $ty:ty ),* $(,)?
        }
    ) => {
        $(#[$m])*
        #[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
        pub struct $name {
            $(
                $(#[$fm])*
                #[serde(default, skip_serializing_if = "Option::is_none")]
                pub $field: Option<$ty>,
            )*
            /// Attributes this client does not model, kept as they came.
            #[serde(flatten)]
            pub extra: serde_json::Map<String, serde_json::Value>,
        }

        impl $name {
            /// The id Neutron gave it (empty before creation).
            pub fn id(&self) -> &str {
                self.id.as_deref().unwrap_or_default()
            }
        }

        impl $crate::neutron::Resource for $name {
            const SINGULAR: &'static str = $singular;
            const PLURAL: &'static str = $plural;
            const PATH: &'static str = $path;
            fn id(&self) -> &str {
                $name::id(self)
            }
        }
    };
}
pub(crate) use resource;

/// Typed list/get/create/bulk-create/update/delete wrappers for a
/// resource.
macro_rules! crud {
    ($ty:ty, $list:ident, $get:ident, $create:ident, $bulk:ident, $update:ident, $delete:ident) => {
        impl $crate::neutron::NeutronClient {
            pub async fn $list(
                &self,
                filters: &$crate::neutron::Filters,
            ) -> Result<Vec<$ty>, $crate::neutron::NeutronError> {
                self.list::<$ty>(filters).await
            }
            pub async fn $get(&self, id: &str) -> Result<$ty, $crate::neutron::NeutronError> {
                self.get::<$ty>(id).await
            }
            pub async fn $create(&self, body: &$ty) -> Result<$ty, $crate::neutron::NeutronError> {
                self.create::<$ty>(body).await
            }
            pub async fn $bulk(
                &self,
                bodies: &[$ty],
            ) -> Result<Vec<$ty>, $crate::neutron::NeutronError> {
                self.create_bulk::<$ty>(bodies).await
            }
            pub async fn $update(
                &self,
                id: &str,
                body: &$ty,
            ) -> Result<$ty, $crate::neutron::NeutronError> {
                self.update::<$ty>(id, body).await
            }
            pub async fn $delete(&self, id: &str) -> Result<(), $crate::neutron::NeutronError> {
                self.delete::<$ty>(id).await
            }
        }
    };
}
pub(crate) use crud;

/// Neutron in one region. Cheap to clone.
#[derive(Clone)]
pub struct NeutronClient {
    inner: Arc<Inner>,
}

struct Inner {
    region: String,
    /// The token, HTTP client, endpoints, counts, breaker and shared reads
    /// of the set this client belongs to.
    set: Clients,
}

impl std::fmt::Debug for NeutronClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NeutronClient")
            .field("region", &self.inner.region)
            .finish_non_exhaustive()
    }
}

/// What one attempt came to.
enum Attempt {
    Done(Option<Value>),
    /// Worth trying again after a backoff.
    Retry(NeutronError),
    Fail(NeutronError),
}

impl NeutronClient {
    pub(crate) fn new(region: String, set: Clients) -> Self {
        Self {
            inner: Arc::new(Inner { region, set }),
        }
    }

    pub fn region(&self) -> &str {
        &self.inner.region
    }

    /// One Neutron call: `path` is relative to `/v2.0/`. Answers the body,
    /// or `None` for 204. Within a job's [`JobCalls`] scope a GET the job
    /// made already is answered from the scope (until the job writes to
    /// this region).
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        query: &[(String, String)],
        body: Option<&Value>,
    ) -> Result<Option<Value>, NeutronError> {
        let Some(job) = JobCalls::current() else {
            return self.send(method, path, query, body).await;
        };
        let region = self.region();
        if method != Method::GET {
            job.forget_region(region);
            let r = self.send(method, path, query, body).await;
            job.forget_region(region);
            return r;
        }
        let qs = query
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&");
        // Branches of one job running at once may ask the same: one sends
        // it, the others wait for its answer.
        let _turn = job.read_turn(region, path, &qs).await;
        if let Some(v) = job.recall(region, path, &qs) {
            tracing::debug!(job_id = job.job_id(), region, path, query = %qs, "Neutron read answered by what the job read already");
            return Ok(Some(v));
        }
        if let Some(v) = job.recall_covered(region, path, query) {
            tracing::debug!(job_id = job.job_id(), region, path, query = %qs, "Neutron list answered from a wider list the job read");
            return Ok(Some(v));
        }
        let shared = &self.inner.set.shared;
        if let Some(v) = shared
            .recall(region, path, &qs, query, job.fresh_since(region))
            .await
        {
            tracing::debug!(job_id = job.job_id(), region, path, query = %qs, "Neutron read answered by a read another job sent meanwhile");
            job.count_shared();
            job.remember(region, path, &qs, &v);
            job.remember_list(region, path, query, &v);
            return Ok(Some(v));
        }
        let sending = shared.sending(region, path, &qs, query);
        let got = self.send(method, path, query, body).await;
        sending.answered(got.as_ref().ok().and_then(Option::as_ref));
        let got = got?;
        if let Some(v) = &got {
            job.remember(region, path, &qs, v);
            job.remember_list(region, path, query, v);
        }
        Ok(got)
    }

    /// [`NeutronClient::send_once`], telling the region breaker whether
    /// the region answered.
    async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(String, String)],
        body: Option<&Value>,
    ) -> Result<Option<Value>, NeutronError> {
        let r = self.send_once(method, path, query, body).await;
        let answered = !matches!(&r, Err(e) if e.is_connection_failure());
        if let Err(e) = &r {
            let kind = match e.status() {
                _ if !answered => "connection".to_owned(),
                Some(status) => status.to_string(),
                None => "other".to_owned(),
            };
            self.inner.set.stats.record_error(self.region(), kind);
        }
        self.inner
            .set
            .breaker
            .record(self.region(), answered, std::time::Instant::now());
        r
    }

    async fn send_once(
        &self,
        method: Method,
        path: &str,
        query: &[(String, String)],
        body: Option<&Value>,
    ) -> Result<Option<Value>, NeutronError> {
        let resolver = &self.inner.set.resolver;
        let region = self.region();
        let mut refreshed = false;
        loop {
            let base = resolver.resolve(region).await?;
            let result = self
                .with_retries(&base, method.clone(), path, query, body)
                .await;
            match result {
                // A create that may have taken effect is not sent again,
                // not even to a new address.
                Err(e)
                    if e.is_connection_failure()
                        && !e.outcome_unknown()
                        && resolver.auto_refresh()
                        && !refreshed =>
                {
                    refreshed = true;
                    tracing::warn!(region, error = %e, "Neutron endpoint not answering; reading the catalog again");
                    resolver.forget(region, &base).await;
                    resolver.refresh().await?;
                    let now = resolver.resolve(region).await?;
                    if now == base {
                        // The catalog still says the same: it is down, not moved.
                        return Err(e);
                    }
                    tracing::info!(region, url = %now, "Neutron endpoint moved");
                }
                other => return other,
            }
        }
    }

    async fn with_retries(
        &self,
        base: &str,
        method: Method,
        path: &str,
        query: &[(String, String)],
        body: Option<&Value>,
    ) -> Result<Option<Value>, NeutronError> {
        let url = format!("{}/v2.0/{}", base.trim_end_matches('/'), path);
        let retry = self.inner.set.retry;
        let mut reauthenticated = false;
        let mut retries = 0;
        loop {
            let token = self.inner.set.session.token().await?;
            let attempt = self
                .attempt(&url, method.clone(), query, body, &token)
                .await;
            match attempt {
                Attempt::Done(v) => return Ok(v),
                Attempt::Fail(NeutronError::Unauthorized(e)) if !reauthenticated => {
                    // Our token was revoked or expired early: renew once.
                    tracing::info!(url = %url, "Neutron refused the service token; renewing it");
                    self.inner.set.session.invalidate(&token).await;
                    reauthenticated = true;
                    let _ = e;
                }
                Attempt::Fail(e) => return Err(e),
                Attempt::Retry(e) if retries < retry.retries => {
                    let wait = retry.backoff(retries);
                    retries += 1;
                    tracing::warn!(url = %url, method = %method, error = %e, attempt = retries, ?wait, "retrying Neutron call");
                    tokio::time::sleep(wait).await;
                }
                Attempt::Retry(e) => return Err(e),
            }
        }
    }

    async fn attempt(
        &self,
        url: &str,
        method: Method,
        query: &[(String, String)],
        body: Option<&Value>,
        token: &crate::keystone::AuthToken,
    ) -> Attempt {
        let job = JobCalls::current();
        let job_type = job.as_deref().map_or(NO_JOB, JobCalls::job_type);
        let job_id = job.as_deref().map_or(NO_JOB, JobCalls::job_id);
        self.inner
            .set
            .stats
            .record(self.region(), job_type, method.as_str());
        if let Some(j) = &job {
            j.count(method.as_str());
        }
        tracing::debug!(job_id, job_type, region = self.region(), method = %method, url, "Neutron request");
        let mut req = self
            .inner
            .set
            .http
            .request(method.clone(), url)
            .header("X-Auth-Token", token.header_value())
            .header(reqwest::header::ACCEPT, "application/json");
        if let Some(id) = job.as_deref().and_then(JobCalls::global_request_id) {
            req = req.header(GLOBAL_REQUEST_ID, id);
        }
        if !query.is_empty() {
            req = req.query(query);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let transport = |e: reqwest::Error| {
            if e.is_timeout() {
                NeutronError::Timeout {
                    url: url.to_owned(),
                }
            } else {
                match crate::Error::unreachable(url, &e) {
                    crate::Error::Unreachable { url, reason } => {
                        NeutronError::Unreachable { url, reason }
                    }
                    other => NeutronError::Keystone(other),
                }
            }
        };
        // A create sent without an answer may have taken effect (a slow
        // server finishes it after we gave up): sending it again would make
        // a second resource. Only one that never left (no connection) is
        // retried.
        let unanswered = |e: reqwest::Error| {
            if method == Method::POST && !e.is_connect() {
                Attempt::Fail(NeutronError::NoAnswer {
                    url: url.to_owned(),
                    reason: if e.is_timeout() {
                        "timed out".to_owned()
                    } else {
                        transport(e).to_string()
                    },
                })
            } else {
                Attempt::Retry(transport(e))
            }
        };
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) => return unanswered(e),
        };
        let status = resp.status();
        let bytes = match resp.bytes().await {
            Ok(b) => b,
            Err(e) => return unanswered(e),
        };
        tracing::trace!(method = %method, url, status = status.as_u16(), "Neutron answered");
        if status.is_success() {
            if bytes.is_empty() || status == reqwest::StatusCode::NO_CONTENT {
                return Attempt::Done(None);
            }
            return match serde_json::from_slice(&bytes) {
                Ok(v) => Attempt::Done(Some(v)),
                Err(e) => Attempt::Fail(NeutronError::Protocol {
                    url: url.to_owned(),
                    reason: format!("body is not JSON: {e}"),
                }),
            };
        }
        let err = NeutronError::from_response(method.as_str(), url, status.as_u16(), &bytes);
        if status.is_server_error() {
            Attempt::Retry(err)
        } else {
            Attempt::Fail(err)
        }
    }

    fn take<T: DeserializeOwned>(
        &self,
        body: Option<Value>,
        key: &str,
        path: &str,
    ) -> Result<T, NeutronError> {
        let protocol = |reason: String| NeutronError::Protocol {
            url: format!("{}: /v2.0/{path}", self.region()),
            reason,
        };
        let mut body = body.ok_or_else(|| protocol("empty body".into()))?;
        let v = body
            .get_mut(key)
            .map(Value::take)
            .ok_or_else(|| protocol(format!("no '{key}' in the body")))?;
        serde_json::from_value(v).map_err(|e| protocol(format!("bad '{key}': {e}")))
    }

    /// `GET /v2.0/<path>` with filters, for collections the typed helpers
    /// do not cover.
    pub async fn list_at<R: DeserializeOwned>(
        &self,
        path: &str,
        key: &str,
        filters: &Filters,
    ) -> Result<Vec<R>, NeutronError> {
        let body = self
            .request(Method::GET, path, filters.pairs(), None)
            .await?;
        self.take(body, key, path)
    }

    /// Within a job's scope, every resource a whole-attribute list
    /// answers is also remembered as its own GET would answer it, so one
    /// filtered list serves the job's later reads of each.
    pub async fn list<R: Resource>(&self, filters: &Filters) -> Result<Vec<R>, NeutronError> {
        let body = self
            .request(Method::GET, R::PATH, filters.pairs(), None)
            .await?;
        if let (Some(job), Some(items)) = (
            JobCalls::current(),
            body.as_ref()
                .and_then(|b| b.get(R::PLURAL))
                .and_then(Value::as_array),
        ) {
            if !filters.pairs().iter().any(|(k, _)| k == "fields") {
                for item in items {
                    if let Some(id) = item.get("id").and_then(Value::as_str) {
                        let one = serde_json::json!({ R::SINGULAR: item });
                        job.remember(self.region(), &format!("{}/{id}", R::PATH), "", &one);
                    }
                }
            }
        }
        self.take(body, R::PLURAL, R::PATH)
    }

    /// [`NeutronClient::list`] asking Neutron even when the job read the
    /// same before: for decisions that must see other workers' changes
    /// (whether a resource exists before creating it).
    pub async fn list_fresh<R: Resource>(&self, filters: &Filters) -> Result<Vec<R>, NeutronError> {
        let body = self
            .send(Method::GET, R::PATH, filters.pairs(), None)
            .await?;
        self.take(body, R::PLURAL, R::PATH)
    }

    pub async fn get<R: Resource>(&self, id: &str) -> Result<R, NeutronError> {
        self.get_at(&format!("{}/{id}", R::PATH), R::SINGULAR).await
    }

    /// Like [`NeutronClient::get`] but a 404 is `Ok(None)`.
    pub async fn find<R: Resource>(&self, id: &str) -> Result<Option<R>, NeutronError> {
        match self.get::<R>(id).await {
            Ok(r) => Ok(Some(r)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub async fn create<R: Resource>(&self, body: &R) -> Result<R, NeutronError> {
        self.send_at(Method::POST, R::PATH, R::SINGULAR, body).await
    }

    /// One request creating all of `bodies` (`{"<plural>": [...]}`);
    /// Neutron creates all or none.
    pub async fn create_bulk<R: Resource>(&self, bodies: &[R]) -> Result<Vec<R>, NeutronError> {
        self.send_at(Method::POST, R::PATH, R::PLURAL, bodies).await
    }

    pub async fn update<R: Resource>(&self, id: &str, body: &R) -> Result<R, NeutronError> {
        self.send_at(Method::PUT, &format!("{}/{id}", R::PATH), R::SINGULAR, body)
            .await
    }

    pub async fn delete<R: Resource>(&self, id: &str) -> Result<(), NeutronError> {
        self.delete_at(&format!("{}/{id}", R::PATH)).await
    }

    /// `GET /v2.0/<path>`, answering the body's `key`. The `*_at` calls
    /// serve both the typed resources and the nested collections (QoS
    /// rules) whose path and key are only known at run time.
    async fn get_at<T: DeserializeOwned>(&self, path: &str, key: &str) -> Result<T, NeutronError> {
        let body = self.request(Method::GET, path, &[], None).await?;
        self.take(body, key, path)
    }

    /// `method /v2.0/<path>` with `{"<key>": body}`, answering the body's
    /// `key`.
    async fn send_at<B, T>(
        &self,
        method: Method,
        path: &str,
        key: &str,
        body: &B,
    ) -> Result<T, NeutronError>
    where
        B: Serialize + ?Sized,
        T: DeserializeOwned,
    {
        let doc = serde_json::json!({ key: body });
        let resp = self.request(method, path, &[], Some(&doc)).await?;
        self.take(resp, key, path)
    }

    async fn delete_at(&self, path: &str) -> Result<(), NeutronError> {
        self.request(Method::DELETE, path, &[], None).await?;
        Ok(())
    }

    /// `PUT /v2.0/<collection>/<id>/<action>` with `body`, answering the
    /// raw body (router interfaces, trunk subports, extra routes).
    pub async fn action(
        &self,
        collection: &str,
        id: &str,
        action: &str,
        body: &Value,
    ) -> Result<Option<Value>, NeutronError> {
        let path = format!("{collection}/{id}/{action}");
        self.request(Method::PUT, &path, &[], Some(body)).await
    }
}
