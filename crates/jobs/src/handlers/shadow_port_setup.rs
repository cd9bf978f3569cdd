//! `shadow_port_setup` (RPC `setup_shadow_ports`): give one pod the shadow
//! ports of a network's ports that live in its other pods.
//!
//! Over every pod the network is mapped to, it lists the bottom ports: the
//! shadow ports (`compute:shadow`) and the real ports other pods need (VM
//! ports, router ports on the bridge network). In the target pod it creates
//! a shadow port for each real port of the other pods it lacks, when the
//! port is bound by an agent type shadow ports support (OVS) on a host
//! whose agent is in the shadow agent table (the port is skipped
//! otherwise), asks the new and the still-down shadow ports to come up
//! (`binding:profile` `force_up`), and records the same job for every other
//! pod that lacks a shadow of one of the target pod's ports. A VM port the
//! target pod hosts is not shadowed there even if another pod still has it
//! (a VM that moved). A top network that is gone, or not mapped to the
//! target pod, leaves nothing to do.
//!
//! Differences from the reference, which relies on bottom ports having the
//! ids of their top ports (its local plugin makes them so): ports are known
//! by their top port id, found by address among the top network's ports,
//! and shadow ports by the top id in their name. Shadow ports are created
//! one by one through the routing-table lock rather than in bulk requests,
//! so a crash half-way never leaves a duplicate. A shadow port whose
//! profile already carries `force_up` is not asked again (the reference's
//! local plugin sets it ACTIVE, so it would not be down any more).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use tricircle_db::models::{Pod, ShadowAgent};
use tricircle_openstack::neutron::{Filters, Network, Port};

use crate::handler::{HandlerResult, Job, JobContext};
use crate::network::shadow::{self, DEVICE_OWNER_NOVA};
use crate::network::{NetResult, NetworkContext, DEVICE_OWNER_SHADOW};
use crate::resource::InPod;
use tricircle_vocab::JobType;
use tricircle_vocab::ResourceType;

pub struct ShadowPortSetup(pub NetworkContext);

#[async_trait::async_trait]
impl Job for ShadowPortSetup {
    const TYPE: JobType = JobType::ShadowPortSetup;
    type Resource = InPod;

    async fn run(&self, r: InPod, ctx: &JobContext) -> HandlerResult {
        setup(&self.0, ctx, r.pod.one(ctx)?, &r.id).await?;
        Ok(())
    }
}

/// What one pod's copy of the network holds, by top port id.
#[derive(Default)]
struct PodPorts {
    /// Real ports other pods need a shadow of.
    real: BTreeSet<String>,
    /// Top ports this pod has a shadow of.
    shadowed: BTreeSet<String>,
}

async fn setup(
    net: &NetworkContext,
    ctx: &JobContext,
    pod_id: &str,
    net_id: &str,
) -> NetResult<()> {
    let target = net.pod(pod_id).await?;
    let top_pod = net.top_pod().await?;
    let top = net.neutron(&top_pod);
    let Some(t_net) = top.find::<Network>(net_id).await? else {
        tracing::info!(net_id, "top network is gone; no shadow ports to set up");
        return Ok(());
    };
    let project_id = t_net
        .tenant_id
        .clone()
        .or_else(|| ctx.project_id.clone())
        .unwrap_or_default();
    let mappings = net.mappings(net_id, ResourceType::Network).await?;
    let Some(target_b_net) = mappings
        .iter()
        .find(|(p, _)| p.pod_id == target.pod_id)
        .map(|(_, b)| b.clone())
    else {
        tracing::debug!(net_id, pod = %target.region_name, "network not in the pod");
        return Ok(());
    };

    // Bottom ports carry their top port's address, not its id.
    let top_by_ip: HashMap<String, String> = top
        .list_ports(&Filters::new().eq("network_id", net_id))
        .await?
        .into_iter()
        .flat_map(|p| {
            let id = p.id().to_owned();
            p.ip_addresses()
                .map(|ip| (ip.to_owned(), id.clone()))
                .collect::<Vec<_>>()
        })
        .collect();

    let mut pods: BTreeMap<String, PodPorts> = BTreeMap::new();
    let mut info: HashMap<String, Port> = HashMap::new();
    let mut target_nova = Vec::new();
    let mut target_down = Vec::new();
    for (pod, b_net_id) in &mappings {
        let ports = net
            .neutron(pod)
            .list_ports(&Filters::new().eq("network_id", b_net_id))
            .await?;
        let entry = pods.entry(pod.pod_id.clone()).or_default();
        let is_target = pod.pod_id == target.pod_id;
        for port in ports {
            if port.device_owner.as_deref() == Some(DEVICE_OWNER_SHADOW) {
                if let Some(t_id) = shadow::shadowed_port_id(&port) {
                    entry.shadowed.insert(t_id.to_owned());
                }
                if is_target && port.status.as_deref() == Some("DOWN") && !shadow::forced_up(&port)
                {
                    target_down.push(port.id().to_owned());
                }
                continue;
            }
            let Some(t_id) = port
                .ip_addresses()
                .find_map(|ip| top_by_ip.get(ip))
                .cloned()
            else {
                continue;
            };
            if is_target && port.device_owner.as_deref() == Some(DEVICE_OWNER_NOVA) {
                target_nova.push(t_id.clone());
            }
            if !shadow::needs_top_sync(&port, &net.settings.bridge_cidr) {
                continue;
            }
            entry.real.insert(t_id.clone());
            info.insert(t_id, port);
        }
    }
    // A VM now in the target pod is not shadowed from its old pod.
    for t_id in &target_nova {
        for (p, ports) in pods.iter_mut() {
            if *p != target.pod_id {
                ports.real.remove(t_id);
            }
        }
    }

    let mine = &pods[&target.pod_id];
    let to_shadow: Vec<String> = pods
        .values()
        .flat_map(|p| p.real.iter())
        .filter(|t_id| !mine.real.contains(*t_id) && !mine.shadowed.contains(*t_id))
        .cloned()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let lacking_pods: Vec<String> = pods
        .iter()
        .filter(|(p, _)| **p != target.pod_id)
        .filter(|(_, other)| {
            mine.real
                .iter()
                .any(|t_id| !other.real.contains(t_id) && !other.shadowed.contains(t_id))
        })
        .map(|(p, _)| p.clone())
        .collect();
    tracing::debug!(?to_shadow, ?lacking_pods, pod = %target.region_name, "shadow ports setup");

    let mut agents: HashMap<(String, String), Option<ShadowAgent>> = HashMap::new();
    let mut created = Vec::new();
    for t_id in &to_shadow {
        let port = &info[t_id];
        let Some(agent_type) =
            shadow::agent_type_by_vif(port.binding_vif_type.as_deref().unwrap_or_default())
        else {
            continue;
        };
        let host = port.binding_host_id.clone().unwrap_or_default();
        let key = (host.clone(), agent_type.to_owned());
        if !agents.contains_key(&key) {
            let found = shadow::find_agent(net, &host, agent_type).await?;
            agents.insert(key.clone(), found);
        }
        let Some(agent) = &agents[&key] else {
            tracing::error!(
                agent_type,
                host,
                "agent not found during shadow ports setup"
            );
            continue;
        };
        let id = shadow::ensure_shadow_port(
            net,
            &target,
            &project_id,
            &target_b_net,
            t_id,
            port,
            Some(agent),
        )
        .await?;
        created.push(id);
    }

    force_up(net, &target, target_down.into_iter().chain(created)).await?;

    net.submit_per_pod(
        JobType::ShadowPortSetup,
        &lacking_pods,
        net_id,
        &project_id,
        &ctx.request,
    )
    .await
}

/// Ask shadow ports to come up: no agent of the pod reports them.
async fn force_up(
    net: &NetworkContext,
    pod: &Pod,
    ids: impl Iterator<Item = String>,
) -> NetResult<()> {
    let client = net.neutron(pod);
    let body = shadow::force_up_body();
    for id in ids.collect::<BTreeSet<_>>() {
        client.update_port(&id, &body).await?;
    }
    Ok(())
}
