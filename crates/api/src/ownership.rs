//! Whether a job's primary resource belongs to the job's project.
//!
//! The reference asks the routing table only: its central Neutron plugin
//! records a top resource (and casts the first job itself) before anyone
//! can POST a job for it. With stock Neutron (`[xjob] stock_neutron`) there
//! is no such plugin, so jobs come through this API from the start; a
//! resource the routing table does not know yet is then looked up in the
//! central Neutron, and accepted when it is the project's.

use std::sync::Arc;

use tricircle_db::Db;
use tricircle_openstack::endpoints::DbEndpointCache;
use tricircle_openstack::neutron::{Method, NeutronError};
use tricircle_openstack::{Clients, ClientsConfig};
use tricircle_vocab::ResourceType;

use crate::server::StartupError;

/// The central Neutron, asked about resources the routing table lacks.
pub struct CentralNeutron {
    clients: Clients,
    /// `[client] top_region_name`; the top pod of the pods table otherwise.
    top_region_name: Option<String>,
    db: Db,
}

/// What the central Neutron says of a resource.
#[derive(Debug, PartialEq, Eq)]
pub enum Owner {
    Project(String),
    /// Not there (404), or without an owner.
    Unknown,
}

impl CentralNeutron {
    /// `None` unless `[xjob] stock_neutron` is on; the `[client]` options
    /// must then name the Keystone and the admin the xjob uses.
    pub fn from_config(
        config: &tricircle_config::Config,
        db: Db,
    ) -> Result<Option<CentralNeutron>, StartupError> {
        if !config.xjob.stock_neutron {
            return Ok(None);
        }
        let cfg = ClientsConfig::from_options(&config.client).map_err(|e| {
            StartupError::Option(format!(
                "[xjob] stock_neutron = true needs the [client] options: {e}"
            ))
        })?;
        Ok(Some(Self::new(
            cfg,
            config.client.top_region_name.clone(),
            db,
        )?))
    }

    pub fn new(
        cfg: ClientsConfig,
        top_region_name: Option<String>,
        db: Db,
    ) -> Result<CentralNeutron, StartupError> {
        let cache = Arc::new(DbEndpointCache::new(db.clone()));
        let clients =
            Clients::new(cfg, cache).map_err(|e| StartupError::Option(format!("[client] {e}")))?;
        Ok(CentralNeutron {
            clients,
            top_region_name,
            db,
        })
    }

    /// The owner of top resource `id` of routing-table type `resource_type`.
    pub async fn owner(&self, resource_type: ResourceType, id: &str) -> Result<Owner, OwnerError> {
        let collection = resource_type.neutron();
        let (path, key) = (collection.path, collection.singular);
        let region = match &self.top_region_name {
            Some(r) => r.clone(),
            None => self
                .db
                .run(tricircle_db::pods::top_pod)
                .await
                .map_err(|e| OwnerError(e.to_string()))?
                .map(|p| p.region_name)
                .ok_or_else(|| OwnerError("no top pod is registered".into()))?,
        };
        let neutron = self.clients.neutron(&region);
        let body = match neutron
            .request(Method::GET, &format!("{path}/{id}"), &[], None)
            .await
        {
            Ok(body) => body,
            Err(e) if e.is_not_found() => return Ok(Owner::Unknown),
            Err(e) => return Err(OwnerError(describe(&region, &e))),
        };
        let project = body
            .as_ref()
            .and_then(|b| b.get(key))
            .and_then(|r| r.get("project_id").or_else(|| r.get("tenant_id")))
            .and_then(|p| p.as_str());
        Ok(project.map_or(Owner::Unknown, |p| Owner::Project(p.to_owned())))
    }
}

/// The central Neutron could not be asked.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct OwnerError(String);

fn describe(region: &str, e: &NeutronError) -> String {
    format!("the central Neutron ({region}) did not answer: {e}")
}
