//! Neutron notifications to jobs: for a tenant's call that a region's
//! Neutron reports, the jobs the original's central plugin would have cast
//! for the same call (doc/design/stock-mode-events.md, section 1). The
//! mapping reads what the payload does not say (a router's interfaces, a
//! resource's pods) and records nothing itself: [`record`] writes the NEW
//! rows and queues them. A tenant network created, or a subnet of one
//! created, updated or deleted, asks for xjob's own network_setup: the pod
//! copies exist before a VM needs them, their pools sliced per pod.
//!
//! A pod's events are VM ports booted, changed or deleted there: each asks
//! for its port_mirror, which mirrors the port in the central region (as
//! the original's local plugin made the top port) and then has the
//! routers on its network set up again (routes and floating IPs follow
//! the VM).

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use tricircle_openstack::neutron::{
    device_owner, Filters, FloatingIp, Network, NeutronClient, Port, Router,
};
use tricircle_vocab::{JobType, ResourceType};

use crate::handlers::network_setup::is_tenant_network;
use crate::network::{NetResult, NetworkContext, POD_NOT_SPECIFIED};
use crate::recorded::Reach;

/// A notification of one region's Neutron.
#[derive(Debug, Clone, PartialEq)]
pub struct NeutronEvent {
    /// The region whose Neutron published it.
    pub region: String,
    /// `router.interface.create`, `floatingip.update.end`...
    pub event_type: String,
    pub payload: Value,
    /// The request context of the tenant's call (carries its token: never
    /// logged).
    pub context: Map<String, Value>,
}

/// One job an event asks for.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct JobAsk {
    pub job_type: JobType,
    pub resource_id: String,
    pub project_id: String,
}

impl JobAsk {
    fn new(job_type: JobType, resource_id: String, project_id: &str) -> JobAsk {
        JobAsk {
            job_type,
            resource_id,
            project_id: project_id.to_owned(),
        }
    }
}

/// The resource `key` of the payload as a typed Neutron resource (a
/// payload that is not one maps to nothing).
fn resource<R: DeserializeOwned>(payload: &Value, key: &str) -> Option<R> {
    serde_json::from_value(payload.get(key)?.clone()).ok()
}

fn text<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// The project a resource belongs to: its own `project_id`/`tenant_id`,
/// else the caller's.
fn project_of(resource: &Value, event: &NeutronEvent) -> String {
    let caller = |key: &str| {
        event
            .context
            .get(key)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    text(resource, "project_id")
        .or_else(|| text(resource, "tenant_id"))
        .or_else(|| caller("project_id"))
        .or_else(|| caller("tenant"))
        .unwrap_or_default()
        .to_owned()
}

/// The jobs `event` asks for; empty for events that change nothing xjob
/// keeps.
pub async fn jobs_for(net: &NetworkContext, event: &NeutronEvent) -> NetResult<Vec<JobAsk>> {
    // Before the pods are registered there is nothing to converge: the
    // event asks for nothing (the sweep covers what came before).
    let Some(top_pod) = net.find_top_pod().await? else {
        return Ok(Vec::new());
    };
    let top = net.neutron(&top_pod);
    if event.region != top_pod.region_name {
        return pod_jobs(net, event).await;
    }
    let p = &event.payload;
    let mut asks = match event.event_type.as_str() {
        "router.interface.create" | "router.interface.delete" => {
            let Some(ri) = p.get("router_interface") else {
                return Ok(Vec::new());
            };
            let project = project_of(ri, event);
            match (text(ri, "id"), text(ri, "network_id")) {
                (Some(router), Some(network)) => vec![router_setup(router, network, &project)],
                _ => Vec::new(),
            }
        }
        "router.update.end" => match resource::<Router>(p, "router") {
            Some(router) => {
                let project = project_of(&p["router"], event);
                router_setups(&top, router.id(), &project).await?
            }
            None => Vec::new(),
        },
        "floatingip.create.end" | "floatingip.update.end" | "floatingip.delete.end" => {
            let Some(fip) = resource::<FloatingIp>(p, "floatingip") else {
                return Ok(Vec::new());
            };
            let project = project_of(&p["floatingip"], event);
            floating_ip_jobs(&top, &fip, &project).await?
        }
        // The top resource is gone: its pods' side is undone (the jobs do
        // nothing while it exists, so a stray event is harmless).
        "router.delete.end" => {
            let routed = [ResourceType::Router, ResourceType::NsRouter];
            deleted(net, p, "router", routed, JobType::RouterCleanup, event).await?
        }
        "network.delete.end" => {
            let routed = [ResourceType::Network, ResourceType::ShadowNetwork];
            deleted(net, p, "network", routed, JobType::NetworkCleanup, event).await?
        }
        "network.update.end" => {
            in_every_pod(
                net,
                p,
                "network",
                ResourceType::Network,
                JobType::NetworkUpdate,
                event,
            )
            .await?
        }
        "subnet.update.end" => {
            let mut asks = in_every_pod(
                net,
                p,
                "subnet",
                ResourceType::Subnet,
                JobType::SubnetUpdate,
                event,
            )
            .await?;
            // Its pools may have changed: the pods' slices follow.
            asks.extend(network_setup_of_subnet(&top, p, event).await?);
            asks
        }
        "network.create.end" => match resource::<Network>(p, "network") {
            Some(t_net) if is_tenant_network(&t_net) => {
                vec![network_setup(t_net.id(), &project_of(&p["network"], event))]
            }
            _ => Vec::new(),
        },
        "subnet.create.end" | "subnet.delete.end" => {
            network_setup_of_subnet(&top, p, event).await?
        }
        "policy.update.end" => {
            in_every_pod(
                net,
                p,
                "policy",
                ResourceType::QosPolicy,
                JobType::QosUpdate,
                event,
            )
            .await?
        }
        "policy.delete.end" => {
            in_every_pod(
                net,
                p,
                "policy",
                ResourceType::QosPolicy,
                JobType::QosDelete,
                event,
            )
            .await?
        }
        "security_group_rule.create.end" | "security_group_rule.delete.end" => {
            match p.get("security_group_rule") {
                Some(rule) => {
                    let project = project_of(rule, event);
                    vec![JobAsk::new(
                        JobType::SegRuleSetup,
                        project.clone(),
                        &project,
                    )]
                }
                None => Vec::new(),
            }
        }
        "port.delete.end" => match p.get("port") {
            Some(port) if net.settings.stock_neutron && is_vm_owner(port) => {
                mirror_deleted(net, port, event).await?
            }
            Some(port) => {
                in_each_pod(net, port, ResourceType::Port, JobType::PortDelete, event).await?
            }
            None => Vec::new(),
        },
        "trunk.update.end" => match p.get("trunk") {
            Some(trunk) => {
                in_each_pod(net, trunk, ResourceType::Trunk, JobType::TrunkSync, event).await?
            }
            None => Vec::new(),
        },
        _ => Vec::new(),
    };
    asks.sort();
    asks.dedup();
    // A job about a project nobody can name would be listed for nobody.
    asks.retain(|a| !a.project_id.is_empty());
    Ok(asks)
}

/// A pod's events: a VM port (`compute:*`, shadow ports excepted) created,
/// updated or deleted on the pod's copy of a top network asks for its
/// port_mirror `<pod>#<port>`, which mirrors it in the central region (or
/// removes the mirror) and then records router_setup for the routers on
/// that network. A port that stopped being a VM port (an interface
/// detached: owner cleared) asks for it too when it has a mirror. One
/// database call, no Neutron call.
async fn pod_jobs(net: &NetworkContext, event: &NeutronEvent) -> NetResult<Vec<JobAsk>> {
    let update = match event.event_type.as_str() {
        "port.create.end" | "port.delete.end" => false,
        "port.update.end" => true,
        _ => return Ok(Vec::new()),
    };
    let Some(port) = event.payload.get("port") else {
        return Ok(Vec::new());
    };
    let owner = text(port, "device_owner").unwrap_or_default();
    if owner == crate::network::DEVICE_OWNER_SHADOW {
        return Ok(Vec::new());
    }
    let vm = owner.starts_with("compute:");
    if !vm && !update {
        return Ok(Vec::new());
    }
    let (Some(port_id), Some(b_net)) = (text(port, "id"), text(port, "network_id")) else {
        return Ok(Vec::new());
    };
    let (region, b_net, b_port) = (event.region.clone(), b_net.to_owned(), port_id.to_owned());
    let pod_id = net
        .db
        .run(move |c| {
            let Some(pod) = tricircle_db::pods::by_region_name(c, &region)? else {
                return Ok(None);
            };
            // A VM port on a copy xjob made; any other port only when it
            // has a mirror to remove.
            let (bottom, rtype) = if vm {
                (b_net, ResourceType::Network)
            } else {
                (b_port, ResourceType::Port)
            };
            let filter = tricircle_db::routings::RoutingFilter {
                bottom_id: Some(bottom),
                pod_id: Some(pod.pod_id.clone()),
                resource_type: Some(rtype.as_str().to_owned()),
                ..Default::default()
            };
            let routed = !tricircle_db::routings::find(c, &filter)?.is_empty();
            Ok(routed.then_some(pod.pod_id))
        })
        .await?;
    Ok(pod_id
        .map(|pod| {
            vec![JobAsk::new(
                JobType::PortMirror,
                format!("{pod}#{port_id}"),
                &project_of(port, event),
            )]
        })
        .unwrap_or_default())
}

/// A VM's owner (`compute:*`), not a shadow port's.
fn is_vm_owner(port: &Value) -> bool {
    let owner = text(port, "device_owner").unwrap_or_default();
    owner.starts_with("compute:") && owner != crate::network::DEVICE_OWNER_SHADOW
}

/// Stock mode: a VM port deleted in the central region is a mirror (or a
/// top port the tenant made for a VM): port_mirror `<pod>#<pod port>` of
/// each pod port routed to it deletes the pod port, its shadow ports and
/// then has the routers drop its floating IP and routes.
async fn mirror_deleted(
    net: &NetworkContext,
    port: &Value,
    event: &NeutronEvent,
) -> NetResult<Vec<JobAsk>> {
    let Some(id) = text(port, "id") else {
        return Ok(Vec::new());
    };
    let project = project_of(port, event);
    Ok(net
        .mappings(id, ResourceType::Port)
        .await?
        .into_iter()
        .map(|(pod, b_port)| {
            JobAsk::new(
                JobType::PortMirror,
                format!("{}#{b_port}", pod.pod_id),
                &project,
            )
        })
        .collect())
}

/// network_setup of every pod of the network of the payload's subnet
/// (the pod copies made before VMs need them, pools sliced per pod;
/// copies of deleted subnets removed), for a tenant network.
async fn network_setup_of_subnet(
    top: &NeutronClient,
    payload: &Value,
    event: &NeutronEvent,
) -> NetResult<Vec<JobAsk>> {
    let subnet = payload.get("subnet").unwrap_or(&Value::Null);
    let Some(network) = text(subnet, "network_id") else {
        return Ok(Vec::new());
    };
    match top.find::<Network>(network).await? {
        Some(t_net) if is_tenant_network(&t_net) => {
            Ok(vec![network_setup(network, &project_of(subnet, event))])
        }
        _ => Ok(Vec::new()),
    }
}

fn network_setup(network: &str, project: &str) -> JobAsk {
    JobAsk::new(
        JobType::NetworkSetup,
        format!("{POD_NOT_SPECIFIED}#{network}"),
        project,
    )
}

fn router_setup(router: &str, network: &str, project: &str) -> JobAsk {
    JobAsk::new(
        JobType::RouterSetup,
        format!("{POD_NOT_SPECIFIED}#{router}#{network}"),
        project,
    )
}

/// One router_setup per network the top router has an interface on: what
/// a gateway change (or a floating IP through the router) touches.
async fn router_setups(top: &NeutronClient, router: &str, project: &str) -> NetResult<Vec<JobAsk>> {
    let ports = top
        .list_ports(&Filters::new().eq("device_id", router))
        .await?;
    Ok(ports
        .iter()
        .filter(|p| {
            matches!(
                p.device_owner.as_deref(),
                Some(device_owner::ROUTER_INTERFACE) | Some("network:router_interface_distributed")
            )
        })
        .filter_map(|p| p.network_id.as_deref())
        .map(|network| router_setup(router, network, project))
        .collect())
}

/// A floating IP changed: the router it is on gets router_setup on the
/// network of its port. One that is on no router any more (disassociated,
/// or deleted) names no router, so every router of the project with a
/// gateway on its external network is set up again (the one it was on is
/// among them).
async fn floating_ip_jobs(
    top: &NeutronClient,
    fip: &FloatingIp,
    project: &str,
) -> NetResult<Vec<JobAsk>> {
    if let (Some(Some(router)), Some(Some(port_id))) = (&fip.router_id, &fip.port_id) {
        let network = match fip
            .extra
            .get("port_details")
            .and_then(|d| text(d, "network_id"))
        {
            Some(n) => Some(n.to_owned()),
            None => top.find::<Port>(port_id).await?.and_then(|p| p.network_id),
        };
        return Ok(network
            .map(|n| vec![router_setup(router, &n, project)])
            .unwrap_or_default());
    }
    let Some(ext_net) = fip.floating_network_id.as_deref() else {
        return Ok(Vec::new());
    };
    let routers = top
        .list_routers(&Filters::new().eq("tenant_id", project))
        .await?;
    let mut asks = Vec::new();
    for r in routers.iter().filter(|r| {
        r.external_gateway_info
            .clone()
            .flatten()
            .is_some_and(|g| g.network_id == ext_net)
    }) {
        asks.extend(router_setups(top, r.id(), project).await?);
    }
    Ok(asks)
}

/// `job_type` on `<id>` of the deleted resource `key` (Neutron's
/// `<key>.delete.end` names it by `<key>_id`, and gives the resource),
/// when it has copies routed as one of `routed` (without any, nothing of
/// it is in the pods).
async fn deleted(
    net: &NetworkContext,
    payload: &Value,
    key: &str,
    routed: [ResourceType; 2],
    job_type: JobType,
    event: &NeutronEvent,
) -> NetResult<Vec<JobAsk>> {
    let resource = payload.get(key).unwrap_or(&Value::Null);
    let Some(id) = text(payload, &format!("{key}_id")).or_else(|| text(resource, "id")) else {
        return Ok(Vec::new());
    };
    for rtype in routed {
        if !net.mappings(id, rtype).await?.is_empty() {
            return Ok(vec![JobAsk::new(
                job_type,
                id.to_owned(),
                &project_of(resource, event),
            )]);
        }
    }
    Ok(Vec::new())
}

/// `job_type` on `not_specified_pod#<id>` for the resource `key` of the
/// payload, when it has copies in pods (without any there is nothing to
/// update).
async fn in_every_pod(
    net: &NetworkContext,
    payload: &Value,
    key: &str,
    routed: ResourceType,
    job_type: JobType,
    event: &NeutronEvent,
) -> NetResult<Vec<JobAsk>> {
    let resource = payload.get(key).unwrap_or(&Value::Null);
    let Some(id) = text(resource, "id").or_else(|| text(payload, &format!("{key}_id"))) else {
        return Ok(Vec::new());
    };
    if net.mappings(id, routed).await?.is_empty() {
        return Ok(Vec::new());
    }
    Ok(vec![JobAsk::new(
        job_type,
        format!("{POD_NOT_SPECIFIED}#{id}"),
        &project_of(resource, event),
    )])
}

/// `job_type` on `<pod>#<id>` for every pod holding a copy of `resource`.
async fn in_each_pod(
    net: &NetworkContext,
    resource: &Value,
    routed: ResourceType,
    job_type: JobType,
    event: &NeutronEvent,
) -> NetResult<Vec<JobAsk>> {
    let Some(id) = text(resource, "id") else {
        return Ok(Vec::new());
    };
    let project = project_of(resource, event);
    Ok(net
        .mappings(id, routed)
        .await?
        .into_iter()
        .map(|(pod, _)| JobAsk::new(job_type, format!("{}#{id}", pod.pod_id), &project))
        .collect())
}

/// What the change `event` tells of may have changed: a floating IP's
/// moves no route.
pub fn reach_of(event: &NeutronEvent) -> Reach {
    match event.event_type.starts_with("floatingip.") {
        true => Reach::FloatingIps,
        false => Reach::Any,
    }
}

/// Record `asks` as NEW jobs (one transaction: all or none) and queue them
/// to run; their causes reach `reach`. The caller acknowledges the
/// notification only after this.
pub async fn record(
    net: &NetworkContext,
    asks: Vec<JobAsk>,
    reach: Reach,
    context: &Map<String, Value>,
) -> NetResult<()> {
    record_with(net, asks, reach, context, false)
        .await
        .map(drop)
}

/// [`record`] for a source that asks again and again for what is still
/// missing (the reconciliation sweep): an ask whose job already has a NEW
/// or RUNNING row is left out, so that jobs do not pile up behind a slow
/// or failing one. Returns the asks recorded.
pub async fn record_unless_pending(
    net: &NetworkContext,
    asks: Vec<JobAsk>,
    context: &Map<String, Value>,
) -> NetResult<Vec<JobAsk>> {
    record_with(net, asks, Reach::Any, context, true).await
}

async fn record_with(
    net: &NetworkContext,
    asks: Vec<JobAsk>,
    reach: Reach,
    context: &Map<String, Value>,
    skip_pending: bool,
) -> NetResult<Vec<JobAsk>> {
    if asks.is_empty() {
        return Ok(Vec::new());
    }
    let recorded = net
        .db
        .transaction(move |c| {
            let mut recorded = Vec::with_capacity(asks.len());
            for a in &asks {
                let (ty, rid) = (a.job_type.name(), a.resource_id.as_str());
                if skip_pending
                    && (tricircle_db::jobs::get_latest_job(
                        c,
                        tricircle_db::jobs::JobStatus::New,
                        ty,
                        rid,
                    )?
                    .is_some()
                        || tricircle_db::jobs::get_running_job(c, ty, rid)?.is_some())
                {
                    continue;
                }
                let at = std::time::Instant::now();
                let row = tricircle_db::jobs::new_job(c, &a.project_id, ty, rid)?;
                recorded.push((a.clone(), row.id, at));
            }
            Ok(recorded)
        })
        .await?;
    let mut asked = Vec::with_capacity(recorded.len());
    for (a, job_id, at) in recorded {
        crate::recorded::noted_for(&job_id, at, reach);
        net.wake(a.job_type, &a.resource_id, context);
        asked.push(a);
    }
    Ok(asked)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(payload: Value) -> NeutronEvent {
        NeutronEvent {
            region: "CentralRegion".into(),
            event_type: "x".into(),
            payload,
            context: json!({"project_id": "caller"}).as_object().unwrap().clone(),
        }
    }

    #[test]
    fn the_project_is_the_resources_else_the_callers() {
        let e = event(json!({}));
        assert_eq!(project_of(&json!({"project_id": "p"}), &e), "p");
        assert_eq!(project_of(&json!({"tenant_id": "t"}), &e), "t");
        assert_eq!(project_of(&json!({"project_id": ""}), &e), "caller");
    }

    #[test]
    fn typed_resources_come_from_their_key() {
        let p = json!({"floatingip": {"id": "f", "router_id": null, "port_id": "x",
            "port_details": {"network_id": "n"}}});
        let fip: FloatingIp = resource(&p, "floatingip").unwrap();
        assert_eq!(fip.router_id, Some(None));
        assert_eq!(fip.extra["port_details"]["network_id"], "n");
        assert!(resource::<FloatingIp>(&p, "router").is_none());
    }
}
