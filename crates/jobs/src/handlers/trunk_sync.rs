//! `trunk_sync` (RPC `sync_trunk`): make the bottom copy of a top trunk in
//! one pod match it. Nothing to do when the pod has no copy. When the top
//! trunk is gone the copy and its routing are deleted. Otherwise the copy
//! takes the top's description and admin state, loses the sub-ports the top
//! does not have and gains the missing ones; a sub-port whose port has no
//! bottom copy in the pod gets one first (through the creation lock: same
//! MAC and addresses, on the bottom copy of its network), after which a
//! `seg_rule_setup` job is recorded for the project, as the reference does.
//! A NotFound from Neutron while syncing is logged and ends the job, as in
//! the reference.
//!
//! Differences from the reference, whose bottom resources carry their top
//! ids (its local plugin creates them so): bottom ids come from the routing
//! table, and a bottom sub-port port is named after its top port's id so
//! that the creation lock can find it again. Its network must have a bottom
//! copy in the pod (the local plugin makes it in plugin mode; in stock mode
//! it is created here), its security groups are those with a bottom copy
//! there (the pod's default group otherwise). A port is created when it has
//! no copy in this pod (the reference looks for one in any pod). A gone top
//! trunk removes the routing of this pod only (the reference removes all of
//! them, leaving other pods' copies unreachable).

use tricircle_db::models::Pod;
use tricircle_openstack::neutron::{FixedIp, Network, NeutronClient, Port, SubPort, Subnet, Trunk};

use crate::handler::{HandlerResult, Job, JobContext};
use crate::network::bottom::{self, Copy};
use crate::network::lock::{self, Element};
use crate::network::{NetError, NetResult, NetworkContext};
use crate::resource::InPod;
use tricircle_vocab::JobType;
use tricircle_vocab::ResourceType;

pub struct TrunkSync(pub NetworkContext);

#[async_trait::async_trait]
impl Job for TrunkSync {
    const TYPE: JobType = JobType::TrunkSync;
    type Resource = InPod;

    async fn run(&self, r: InPod, ctx: &JobContext) -> HandlerResult {
        sync(&self.0, ctx, r.pod.one(ctx)?, &r.id).await?;
        Ok(())
    }
}

async fn sync(
    net: &NetworkContext,
    ctx: &JobContext,
    pod_id: &str,
    trunk_id: &str,
) -> NetResult<()> {
    let b_pod = net.pod(pod_id).await?;
    let Some(b_trunk_id) = net.bottom_id(trunk_id, &b_pod, ResourceType::Trunk).await? else {
        return Ok(());
    };
    let top_pod = net.top_pod().await?;
    let top = net.neutron(&top_pod);
    let b_client = net.neutron(&b_pod);
    let Some(t_trunk) = top.find::<Trunk>(trunk_id).await? else {
        match b_client.delete_trunk(&b_trunk_id).await {
            Err(e) if !e.is_not_found() => return Err(e.into()),
            _ => {}
        }
        let (t, p) = (trunk_id.to_owned(), pod_id.to_owned());
        net.db
            .run(move |c| tricircle_db::routings::delete_mappings_by_top_id(c, &t, Some(&p)))
            .await?;
        return Ok(());
    };
    let Some(b_trunk) = b_client.find::<Trunk>(&b_trunk_id).await? else {
        tracing::error!(trunk_id, b_trunk_id, pod = %b_pod.region_name, "bottom trunk not found");
        return Ok(());
    };
    let pods = Pods {
        top_pod: &top_pod,
        top: &top,
        b_pod: &b_pod,
        b_client: &b_client,
    };
    match update(net, ctx, &pods, &t_trunk, &b_trunk).await {
        Err(NetError::Neutron(e)) if e.is_not_found() => {
            tracing::error!(trunk_id, b_trunk_id, pod = %b_pod.region_name, error = %e,
                "not found while syncing the trunk");
            Ok(())
        }
        other => other,
    }
}

/// The two sides of the sync.
struct Pods<'a> {
    top_pod: &'a Pod,
    top: &'a NeutronClient,
    b_pod: &'a Pod,
    b_client: &'a NeutronClient,
}

async fn update(
    net: &NetworkContext,
    ctx: &JobContext,
    pods: &Pods<'_>,
    t_trunk: &Trunk,
    b_trunk: &Trunk,
) -> NetResult<()> {
    let b_trunk_id = b_trunk.id();
    let attrs = |t: &Trunk| {
        (
            t.description.clone().unwrap_or_default(),
            t.admin_state_up.unwrap_or(true),
        )
    };
    let (description, admin_state_up) = attrs(t_trunk);
    if attrs(b_trunk) != (description.clone(), admin_state_up) {
        let body = Trunk {
            description: Some(description),
            admin_state_up: Some(admin_state_up),
            ..Trunk::default()
        };
        pods.b_client.update_trunk(b_trunk_id, &body).await?;
    }

    // The top sub-ports with the bottom id of their port, where it has one.
    let mut wanted = Vec::new();
    for sp in t_trunk.sub_ports.iter().flatten() {
        let b_port = net
            .bottom_id(&sp.port_id, pods.b_pod, ResourceType::Port)
            .await?;
        wanted.push((sp, b_port));
    }
    let current = b_trunk.sub_ports.clone().unwrap_or_default();
    let same = |b_port: &Option<String>, t: &SubPort, b: &SubPort| {
        b_port.as_deref() == Some(b.port_id.as_str()) && t.segmentation_id == b.segmentation_id
    };
    let removed: Vec<SubPort> = current
        .iter()
        .filter(|b| !wanted.iter().any(|(t, bp)| same(bp, t, b)))
        .cloned()
        .collect();
    let added: Vec<_> = wanted
        .iter()
        .filter(|(t, bp)| !current.iter().any(|b| same(bp, t, b)))
        .collect();

    // Removals first, or a port moving to another VLAN would be added twice.
    if !removed.is_empty() {
        pods.b_client.remove_subports(b_trunk_id, &removed).await?;
    }
    if added.is_empty() {
        return Ok(());
    }
    let project_id = t_trunk
        .tenant_id
        .clone()
        .or_else(|| ctx.project_id.clone())
        .unwrap_or_default();
    let mut created = false;
    let mut bodies = Vec::new();
    for (t, b_port) in added {
        let b_port = match b_port {
            Some(b) => b.clone(),
            None => {
                created = true;
                subport_copy(net, pods, &project_id, &t.port_id).await?
            }
        };
        bodies.push(SubPort {
            port_id: b_port,
            segmentation_type: Some("vlan".into()),
            segmentation_id: t.segmentation_id,
        });
    }
    if created {
        net.submit_job(
            JobType::SegRuleSetup,
            &project_id,
            &project_id,
            &ctx.request,
        )
        .await?;
    }
    pods.b_client.add_subports(b_trunk_id, &bodies).await?;
    Ok(())
}

/// The bottom copy of top port `t_port_id` in the bottom pod, created if
/// needed; returns its id.
async fn subport_copy(
    net: &NetworkContext,
    pods: &Pods<'_>,
    project_id: &str,
    t_port_id: &str,
) -> NetResult<String> {
    let t_port = pods.top.get_port(t_port_id).await?;
    let t_fixed = t_port.fixed_ips.clone().unwrap_or_default();
    let t_net_id = t_port.network_id.clone().unwrap_or_default();
    let (b_net_id, b_subnets) = bottom_network(net, pods, project_id, &t_net_id, &t_fixed).await?;
    let fixed_ips = t_fixed
        .iter()
        .zip(&b_subnets)
        .map(|(f, b_sub)| FixedIp {
            subnet_id: Some(b_sub.clone()),
            ip_address: f.ip_address.clone(),
        })
        .collect();
    let mut groups = Vec::new();
    for sg in t_port.security_groups.iter().flatten() {
        if let Some(b) = net
            .bottom_id(sg, pods.b_pod, ResourceType::SecurityGroup)
            .await?
        {
            groups.push(b);
        }
    }
    let body = Port {
        tenant_id: Some(project_id.to_owned()),
        name: Some(t_port_id.to_owned()),
        description: t_port.description.clone(),
        network_id: Some(b_net_id),
        mac_address: t_port.mac_address.clone(),
        admin_state_up: t_port.admin_state_up,
        fixed_ips: Some(fixed_ips),
        // The trunk sets the device when the port becomes its sub-port.
        device_owner: Some(String::new()),
        device_id: Some(String::new()),
        security_groups: (!groups.is_empty()).then_some(groups),
        ..Port::default()
    };
    let got = lock::get_or_create(
        net,
        project_id,
        pods.b_pod,
        Element::named_by_top(t_port_id, ResourceType::Port, body),
    )
    .await?;
    Ok(got.id)
}

/// The bottom network of top network `t_net_id` and the bottom subnet of
/// each of `t_fixed`'s subnets, in order: from the routing table, or in
/// stock mode created here.
async fn bottom_network(
    net: &NetworkContext,
    pods: &Pods<'_>,
    project_id: &str,
    t_net_id: &str,
    t_fixed: &[FixedIp],
) -> NetResult<(String, Vec<String>)> {
    let t_subnet_ids: Vec<String> = t_fixed
        .iter()
        .map(|f| f.subnet_id.clone().unwrap_or_default())
        .collect();
    let b_net = net
        .bottom_id(t_net_id, pods.b_pod, ResourceType::Network)
        .await?;
    let mut b_subnets = Vec::new();
    for s in &t_subnet_ids {
        b_subnets.push(net.bottom_id(s, pods.b_pod, ResourceType::Subnet).await?);
    }
    if let (Some(n), Some(subs)) = (
        &b_net,
        b_subnets.iter().cloned().collect::<Option<Vec<_>>>(),
    ) {
        return Ok((n.clone(), subs));
    }
    if !net.settings.stock_neutron {
        return Err(NetError::Missing(format!(
            "network {t_net_id} (or a subnet of it) has no bottom copy in {}",
            pods.b_pod.region_name
        )));
    }
    let t_net = pods.top.get::<Network>(t_net_id).await?;
    let mut t_subnets = Vec::new();
    for s in &t_subnet_ids {
        t_subnets.push(pods.top.get::<Subnet>(s).await?);
    }
    let (n, map) = bottom::network_subnets(
        net,
        pods.top_pod,
        pods.b_pod,
        project_id,
        &t_net,
        &t_subnets,
        Copy::Own,
    )
    .await?;
    let subs = t_subnet_ids.iter().map(|s| map[s].clone()).collect();
    Ok((n, subs))
}
