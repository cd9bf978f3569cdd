//! Whether a job's primary resource belongs to the job's project.
//!
//! The reference asks the routing table only: its central Neutron plugin
//! records a top resource (and casts the first job itself) before anyone
//! can POST a job for it. With stock Neutron (`[xjob] stock_neutron`) there
//! is no such plugin, so jobs come through this API from the start; a
//! resource the routing table does not know yet is then looked up in the
//! central Neutron, and accepted when it is the project's.

use tricircle_db::Db;
use tricircle_openstack::neutron::{Method, NeutronError};
use tricircle_openstack::Clients;
use tricircle_regions::RegionsError;
use tricircle_vocab::ResourceType;

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
    ) -> Result<Option<CentralNeutron>, CentralNeutronError> {
        if !config.xjob.stock_neutron {
            return Ok(None);
        }
        let clients = tricircle_regions::clients_from_config(config, db.clone())?;
        Ok(Some(CentralNeutron {
            clients,
            top_region_name: config.client.top_region_name.clone(),
            db,
        }))
    }

    /// The owner of top resource `id` of routing-table type `resource_type`.
    pub async fn owner(&self, resource_type: ResourceType, id: &str) -> Result<Owner, OwnerError> {
        let collection = resource_type.neutron();
        let (path, key) = (collection.path, collection.singular);
        let region = tricircle_regions::top_pod(&self.db, self.top_region_name.as_deref())
            .await
            .map_err(|e| OwnerError(e.to_string()))?
            .map(|p| p.region_name)
            .ok_or_else(|| OwnerError("no top pod is registered".into()))?;
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

/// Why stock mode cannot start: the `[client]` options do not give clients.
#[derive(Debug, thiserror::Error)]
pub enum CentralNeutronError {
    #[error("[xjob] stock_neutron = true needs the [client] options: {0}")]
    Options(tricircle_openstack::Error),
    #[error("[client] {0}")]
    Clients(tricircle_openstack::Error),
}

impl From<RegionsError> for CentralNeutronError {
    fn from(e: RegionsError) -> Self {
        match e {
            RegionsError::Options(e) => CentralNeutronError::Options(e),
            RegionsError::Clients(e) => CentralNeutronError::Clients(e),
        }
    }
}

/// The central Neutron could not be asked.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct OwnerError(String);

fn describe(region: &str, e: &NeutronError) -> String {
    format!("the central Neutron ({region}) did not answer: {e}")
}
