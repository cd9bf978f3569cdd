//! `network_cleanup` (xjob's own, stock mode): a network deleted at the
//! top takes its copies in the pods with it, as the original's central
//! plugin deleted the bottom networks on network delete.
//!
//! For every copy (routings `network` and `shadow_network`): the floating
//! IPs on its ports, the bottom router interfaces on it (removed as
//! interfaces: Neutron deletes their ports), the shadow ports, then the
//! network (Neutron deletes its subnets and DHCP ports) and the routings
//! of the network, its subnets and ports. In the central region, the
//! reservations xjob kept on the network (`interface_<region>_<subnet>`,
//! `ns_interface_<router>_<subnet>`) are deleted if still there (Neutron
//! removes them with the network, their owner being an auto-delete one)
//! and their routings forgotten. A tenant's port still on a copy (a VM in
//! the pod) fails the job before anything is undone; the periodic redo
//! tries again. A top network that still exists is left alone.

use std::collections::BTreeSet;

use tricircle_db::models::Pod;
use tricircle_db::routings;
use tricircle_openstack::neutron::{Filters, Network, Port, Subnet};

use crate::handler::{HandlerResult, Job, JobContext};
use crate::network::bottom::INTERFACE_PORT_PREFIX;
use crate::network::external::NS_INTERFACE_PREFIX;
use crate::network::{floatingip, teardown, NetError, NetResult, NetworkContext};
use crate::network::{DEVICE_OWNER_HELPER, DEVICE_OWNER_SHADOW};
use crate::resource::TopNetwork;
use tricircle_openstack::neutron::device_owner;
use tricircle_vocab::{JobType, ResourceType};

/// Owners whose ports Neutron deletes with their network.
const AUTO_DELETE: [&str; 3] = [
    device_owner::DHCP,
    DEVICE_OWNER_HELPER,
    "network:floatingip_agent_gateway",
];

pub struct NetworkCleanup(pub NetworkContext);

#[async_trait::async_trait]
impl Job for NetworkCleanup {
    const TYPE: JobType = JobType::NetworkCleanup;
    type Resource = TopNetwork;

    async fn run(&self, r: TopNetwork, ctx: &JobContext) -> HandlerResult {
        cleanup(&self.0, ctx, &r.network_id).await?;
        Ok(())
    }
}

/// One pod's copy of the network, as found.
struct CopyOf {
    pod: Pod,
    b_net: String,
    ports: Vec<Port>,
    subnets: Vec<Subnet>,
}

/// Whether a port on a copy is one xjob made (or Neutron's own): the rest
/// are the tenant's.
fn ours(p: &Port) -> bool {
    let owner = p.device_owner.as_deref().unwrap_or_default();
    teardown::is_interface_owner(owner)
        || owner == DEVICE_OWNER_SHADOW
        || AUTO_DELETE.contains(&owner)
}

pub async fn cleanup(net: &NetworkContext, ctx: &JobContext, network_id: &str) -> NetResult<()> {
    let top_pod = net.top_pod().await?;
    let top = net.neutron(&top_pod);
    if top.find::<Network>(network_id).await?.is_some() {
        tracing::info!(network_id, "top network still exists; nothing to clean up");
        return Ok(());
    }
    let mut copies = Vec::new();
    for rtype in [ResourceType::Network, ResourceType::ShadowNetwork] {
        for (pod, b_net) in net.mappings(network_id, rtype).await? {
            let client = net.neutron(&pod);
            let (ports, subnets) = match client.find::<Network>(&b_net).await? {
                Some(_) => (
                    client
                        .list_ports(&Filters::new().eq("network_id", &b_net))
                        .await?,
                    client
                        .list_subnets(&Filters::new().eq("network_id", &b_net))
                        .await?,
                ),
                None => (Vec::new(), Vec::new()),
            };
            copies.push(CopyOf {
                pod,
                b_net,
                ports,
                subnets,
            });
        }
    }
    // Look before undoing anything: a VM still on a copy keeps it.
    for c in &copies {
        if let Some(p) = c.ports.iter().find(|p| !ours(p)) {
            return Err(NetError::InUse(format!(
                "network {network_id} is deleted at the top but its copy {} in {} still \
                 has port {} (device owner {:?}, device {:?}); it is removed once that \
                 port is gone",
                c.b_net,
                c.pod.region_name,
                p.id(),
                p.device_owner.as_deref().unwrap_or_default(),
                p.device_id.as_deref().unwrap_or_default(),
            )));
        }
    }
    // The copies' subnets are named by the top subnets' ids.
    let t_subnets: BTreeSet<String> = copies
        .iter()
        .flat_map(|c| c.subnets.iter())
        .filter_map(|s| s.name.clone())
        .collect();
    forget_central_helpers(net, &top_pod, &t_subnets).await?;

    let mut routers = BTreeSet::new();
    for c in &copies {
        routers.extend(undo_copy(net, c).await?);
    }
    // Routes to what was behind the removed interfaces.
    for t_router in routers {
        if top
            .find::<tricircle_openstack::neutron::Router>(&t_router)
            .await?
            .is_some()
        {
            let project = ctx.project_id.clone().unwrap_or_default();
            net.submit_job(JobType::ConfigureRoute, &t_router, &project, &ctx.request)
                .await?;
        }
    }
    Ok(())
}

/// The central reservations on the network's subnets: deleted if Neutron
/// has not (ports made with the old owner), routings forgotten.
async fn forget_central_helpers(
    net: &NetworkContext,
    top_pod: &Pod,
    t_subnets: &BTreeSet<String>,
) -> NetResult<()> {
    let of_subnet = |name: &str| {
        (name.starts_with(INTERFACE_PORT_PREFIX) || name.starts_with(NS_INTERFACE_PREFIX))
            && t_subnets.iter().any(|s| name.ends_with(&format!("_{s}")))
    };
    for row in teardown::top_port_routings(net, top_pod, of_subnet).await? {
        teardown::delete_top_port(net, top_pod, &row).await?;
    }
    Ok(())
}

/// Undo one copy; returns the top routers whose bottom interfaces went.
async fn undo_copy(net: &NetworkContext, c: &CopyOf) -> NetResult<BTreeSet<String>> {
    let client = net.neutron(&c.pod);
    let port_ids: BTreeSet<&str> = c.ports.iter().map(|p| p.id()).collect();
    if !port_ids.is_empty() {
        // Floating IPs on the copy's ports keep interfaces in use.
        for fip in client.list_floatingips(&Filters::new()).await? {
            if fip
                .port_id
                .clone()
                .flatten()
                .is_some_and(|p| port_ids.contains(p.as_str()))
            {
                floatingip::delete(&client, fip.id()).await?;
            }
        }
    }
    let mut b_routers = BTreeSet::new();
    for p in &c.ports {
        let owner = p.device_owner.as_deref().unwrap_or_default();
        if AUTO_DELETE.contains(&owner) {
            continue;
        }
        if teardown::is_interface_owner(owner) {
            if let Some(r) = p.device_id.as_deref().filter(|d| !d.is_empty()) {
                b_routers.insert(r.to_owned());
            }
        }
        teardown::delete_bottom_port(&client, p.id()).await?;
        teardown::forget_bottom(net, p.id()).await?;
    }
    // Subnet routings first: a rerun after the network went would not
    // find the subnets any more.
    for s in &c.subnets {
        teardown::forget_bottom(net, s.id()).await?;
    }
    teardown::gone_ok(client.delete_network(&c.b_net).await)?;
    teardown::forget_bottom(net, &c.b_net).await?;
    tracing::info!(network = %c.b_net, pod = %c.pod.region_name, "network copy deleted");

    let mut t_routers = BTreeSet::new();
    for b in b_routers {
        let pod_id = c.pod.pod_id.clone();
        let rows = net
            .db
            .run(move |conn| {
                routings::find(
                    conn,
                    &routings::RoutingFilter {
                        bottom_id: Some(b),
                        pod_id: Some(pod_id),
                        ..Default::default()
                    },
                )
            })
            .await?;
        t_routers.extend(
            rows.into_iter()
                .filter(|r| {
                    r.resource_type == ResourceType::Router.as_str()
                        || r.resource_type == ResourceType::NsRouter.as_str()
                })
                .map(|r| r.top_id),
        );
    }
    Ok(t_routers)
}
