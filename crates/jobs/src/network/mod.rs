//! Networking building blocks of the xjob handlers: what a handler needs
//! to reach the clouds ([`NetworkContext`]), the routing-table creation lock
//! ([`lock`]), the per-project bridge elements ([`bridge`]), bottom copies
//! of top resources ([`bottom`]), IPv4 arithmetic ([`ip`]) and the pod
//! copies' address pools ([`slices`]).

pub mod bottom;
pub mod bridge;
pub mod external;
pub mod floatingip;
pub mod ip;
pub mod lock;
pub mod prefetch;
pub mod routers;
pub mod seen;
pub mod sfc;
pub mod shadow;
pub mod slices;
pub mod teardown;
pub mod turns;

use serde_json::{Map, Value};
use tricircle_config::Config;
use tricircle_db::models::{AsyncJob, Pod};
use tricircle_db::{Db, DbError};
use tricircle_openstack::neutron::{NeutronClient, NeutronError};
use tricircle_openstack::Clients;
use tricircle_vocab::{JobType, ResourceType};

use crate::queue::{JobQueue, JobRequest};

pub use crate::resource::POD_NOT_SPECIFIED;
/// Device owner of shadow ports (copies of a VM port in another pod).
pub const DEVICE_OWNER_SHADOW: &str = "compute:shadow";
/// Device owner of the ports xjob keeps in the central region on a
/// tenant's network to hold an address (a pod's gateway reservation
/// `interface_<region>_<subnet>`, an NS router's `ns_interface_*`). One of
/// Neutron's `AUTO_DELETE_PORT_OWNERS`: the tenant's network delete removes
/// them instead of failing with NetworkInUse, and they do not keep a subnet
/// in use. Under ML2/OVS no agent acts on such a port without a host
/// (doc/networking.md, "Helper ports").
pub const DEVICE_OWNER_HELPER: &str = "network:distributed";

/// Whether a central port is one of xjob's address-holding helper ports:
/// by name, so that those made before [`DEVICE_OWNER_HELPER`] (owner
/// `network:router_interface`, no device) count too.
pub fn is_helper_port(port: &tricircle_openstack::neutron::Port) -> bool {
    port.name.as_deref().is_some_and(|n| {
        n.starts_with(bottom::INTERFACE_PORT_PREFIX) || n.starts_with(external::NS_INTERFACE_PREFIX)
    })
}

/// Why a networking step failed.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Neutron(#[from] NeutronError),
    /// The routing-table lock could not be taken or bound.
    #[error("{0}")]
    Lock(String),
    /// Something the job needs does not exist (yet).
    #[error("{0}")]
    Missing(String),
    #[error("{0}")]
    Config(String),
    /// A region refuses what the job must make (e.g. an address another
    /// port holds); the message names both.
    #[error("{0}")]
    Conflict(String),
    /// A subnet's addresses cannot be shared out between the central
    /// region and the pods (too small, or its head is full).
    #[error("{0}")]
    Addressing(String),
    /// A tenant's resource still uses what the job would remove.
    #[error("{0}")]
    InUse(String),
    /// The region the job works in does not answer: the job waits for its
    /// retry without calling it.
    #[error("region {0} does not answer; the job waits for it")]
    RegionDown(String),
}

pub type NetResult<T> = Result<T, NetError>;

/// Options of the networking handlers, from the configuration.
#[derive(Debug, Clone)]
pub struct NetworkSettings {
    /// `[client] bridge_cidr`.
    pub bridge_cidr: ip::Cidr,
    /// `[tricircle] bridge_network_type`.
    pub bridge_network_type: String,
    /// Stock mode, VLAN bridges: the physical network of the first
    /// `[tricircle] network_vlan_ranges` entry, as the reference's VLAN type
    /// driver allocates bridge segments from those ranges (a stock central
    /// ML2 would take any physical network, the external one included).
    pub bridge_physical_network: Option<String>,
    /// `[client] top_region_name`; the top pod of the pods table otherwise.
    pub top_region_name: Option<String>,
    /// `[xjob] stock_neutron`.
    pub stock_neutron: bool,
}

impl NetworkSettings {
    pub fn from_config(config: &Config) -> NetResult<NetworkSettings> {
        let cidr = ip::Cidr::parse(&config.client.bridge_cidr).ok_or_else(|| {
            NetError::Config(format!(
                "[client] bridge_cidr is not an IPv4 CIDR: {:?}",
                config.client.bridge_cidr
            ))
        })?;
        let t = &config.tricircle;
        let bridge_physical_network = match t.bridge_network_type.as_str() {
            "vlan" => t
                .network_vlan_ranges
                .iter()
                .filter_map(|r| r.split(':').next())
                .map(str::trim)
                .find(|p| !p.is_empty())
                .map(str::to_owned),
            _ => None,
        };
        if config.xjob.stock_neutron
            && t.bridge_network_type == "vlan"
            && bridge_physical_network.is_none()
        {
            return Err(NetError::Config(
                "[tricircle] bridge_network_type = vlan with [xjob] stock_neutron needs \
                 [tricircle] network_vlan_ranges naming the bridge's physical network \
                 (e.g. bridge:2001:3000)"
                    .into(),
            ));
        }
        Ok(NetworkSettings {
            bridge_cidr: cidr,
            bridge_network_type: t.bridge_network_type.clone(),
            bridge_physical_network,
            top_region_name: config.client.top_region_name.clone(),
            stock_neutron: config.xjob.stock_neutron,
        })
    }
}

/// The running job changed the routing table (which `configure_route`
/// reads): noted with its Neutron writes.
pub(crate) fn note_routing_change() {
    if let Some(calls) = tricircle_openstack::calls::JobCalls::current() {
        calls.note_change();
    }
}

/// What the networking handlers share: the database, the clients of every
/// region and the settings. Cheap to clone.
#[derive(Clone)]
pub struct NetworkContext {
    pub db: Db,
    pub clients: Clients,
    pub settings: NetworkSettings,
    /// Where the jobs the handlers record are queued to run now rather
    /// than at the next periodic redo (the NEW row alone is durable).
    pub queue: Option<JobQueue>,
    /// Jobs of a region that does not answer fail before any call
    /// (`handlers::region_gate`); the daemon turns it on.
    pub region_gate: bool,
    /// Top routers and networks as jobs last read them
    /// ([`seen`]: facts that never change, and guesses to read ahead with).
    pub seen: std::sync::Arc<seen::Seen>,
    /// Jobs of this process writing the same shared resources take turns
    /// ([`turns`]).
    pub turns: std::sync::Arc<turns::Turns>,
}

impl std::fmt::Debug for NetworkContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetworkContext")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl NetworkContext {
    pub fn new(db: Db, clients: Clients, settings: NetworkSettings) -> NetworkContext {
        NetworkContext {
            db,
            clients,
            settings,
            queue: None,
            region_gate: false,
            seen: Default::default(),
            turns: Default::default(),
        }
    }

    /// The context the daemon runs with: clients from `[client]` (endpoints
    /// cached in the database), settings from the configuration.
    pub fn from_config(config: &Config, db: Db) -> NetResult<NetworkContext> {
        let clients = tricircle_regions::clients_from_config(config, db.clone())
            .map_err(|e| NetError::Config(e.to_string()))?;
        Ok(NetworkContext::new(
            db,
            clients,
            NetworkSettings::from_config(config)?,
        ))
    }

    pub fn with_queue(mut self, queue: JobQueue) -> NetworkContext {
        self.queue = Some(queue);
        self
    }

    pub fn with_region_gate(mut self) -> NetworkContext {
        self.region_gate = true;
        self
    }

    /// The top pod (central Neutron's region).
    pub async fn top_pod(&self) -> NetResult<Pod> {
        self.find_top_pod()
            .await?
            .ok_or_else(|| NetError::Missing("no top pod is registered".into()))
    }

    /// The top pod, `None` before the pods are registered.
    pub async fn find_top_pod(&self) -> NetResult<Option<Pod>> {
        Ok(tricircle_regions::top_pod(&self.db, self.settings.top_region_name.as_deref()).await?)
    }

    pub async fn pod(&self, pod_id: &str) -> NetResult<Pod> {
        let id = pod_id.to_owned();
        Ok(self
            .db
            .run(move |c| tricircle_db::pods::get(c, &id))
            .await?)
    }

    /// The pod whose region name or availability zone is `name`.
    pub async fn pod_by_az_or_region(&self, name: &str) -> NetResult<Option<Pod>> {
        let n = name.to_owned();
        let found = self
            .db
            .run(move |c| tricircle_db::pods::find_by_az_or_region_all(c, &n))
            .await?;
        Ok(found.into_iter().find(|p| !p.is_top()))
    }

    pub fn neutron(&self, pod: &Pod) -> NeutronClient {
        self.clients.neutron(&pod.region_name)
    }

    /// (pod, bottom id) of every routing of `top_id` with a bottom resource.
    pub async fn mappings(
        &self,
        top_id: &str,
        rtype: ResourceType,
    ) -> NetResult<Vec<(Pod, String)>> {
        let t = top_id.to_owned();
        Ok(self
            .db
            .run(move |c| {
                tricircle_db::routings::get_bottom_mappings_by_top_id(c, &t, rtype.as_str())
            })
            .await?)
    }

    /// The bottom id of `top_id` in `pod`, if routed.
    pub async fn bottom_id(
        &self,
        top_id: &str,
        pod: &Pod,
        rtype: ResourceType,
    ) -> NetResult<Option<String>> {
        Ok(self
            .mappings(top_id, rtype)
            .await?
            .into_iter()
            .find(|(p, _)| p.pod_id == pod.pod_id)
            .map(|(_, b)| b))
    }

    /// One NEW `job_type` job per pod, on resource `<pod id>#<rest>`: what a
    /// `not_specified_pod` job fans out to, so no two workers operate one
    /// pod's copy at once.
    pub async fn submit_per_pod<S: AsRef<str> + Sync>(
        &self,
        job_type: JobType,
        pod_ids: &[S],
        rest: &str,
        project_id: &str,
        request: &Map<String, Value>,
    ) -> NetResult<()> {
        for pod_id in pod_ids {
            let resource = format!("{}#{rest}", pod_id.as_ref());
            self.submit_job(job_type, &resource, project_id, request)
                .await?;
        }
        Ok(())
    }

    /// Record a NEW job and queue it to run (the reference casts it).
    pub async fn submit_job(
        &self,
        job_type: JobType,
        resource_id: &str,
        project_id: &str,
        request: &Map<String, Value>,
    ) -> NetResult<AsyncJob> {
        let (r, p) = (resource_id.to_owned(), project_id.to_owned());
        let at = std::time::Instant::now();
        let job = self
            .db
            .run(move |c| tricircle_db::jobs::new_job(c, &p, job_type.name(), &r))
            .await?;
        crate::recorded::noted(&job.id, at);
        self.wake(job_type, resource_id, request);
        Ok(job)
    }

    /// Queue a job whose NEW row is recorded, to run now rather than at
    /// the next periodic redo. A full queue is fine: the redo runs it.
    pub fn wake(&self, job_type: JobType, resource_id: &str, context: &Map<String, Value>) {
        if let Some(queue) = &self.queue {
            queue.offer(JobRequest {
                job_type,
                resource_id: resource_id.to_owned(),
                context: context.clone(),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(bridge_type: &str, ranges: &[&str], stock: bool) -> NetResult<NetworkSettings> {
        let mut config = Config::load(&[]).unwrap().0;
        config.tricircle.bridge_network_type = bridge_type.into();
        config.tricircle.network_vlan_ranges = ranges.iter().map(|r| r.to_string()).collect();
        config.xjob.stock_neutron = stock;
        NetworkSettings::from_config(&config)
    }

    #[test]
    fn vlan_bridges_take_the_first_vlan_range_physical_network() {
        let s = with("vlan", &["bridge:2001:3000", "extern:3001:4000"], true).unwrap();
        assert_eq!(s.bridge_physical_network.as_deref(), Some("bridge"));
        assert_eq!(
            with("vxlan", &["bridge"], true)
                .unwrap()
                .bridge_physical_network,
            None
        );
        // Plugin mode: the central plugin makes the bridge, nothing needed.
        assert!(with("vlan", &[], false).is_ok());
        let e = with("vlan", &[], true).unwrap_err().to_string();
        assert!(e.contains("[tricircle] network_vlan_ranges"), "{e}");
    }
}
