//! `port_mirror` (xjob's own, stock mode): a VM port of a pod, on the pod's
//! copy of a top network, mirrored as a port of the central region, so the
//! tenant sees it and can put a floating IP on it there.
//!
//! The job's resource is `<pod>#<pod port id>`. While the pod port is a VM
//! port (`compute:*`, not a shadow port) on a copy of a top network, there
//! is exactly one mirror: a port of the top network in the pod port's
//! project, with its MAC, its addresses (on the top subnets the pod's
//! subnets copy), device owner, device id and name, routed as
//! (top = mirror id, pod, `port`, bottom = pod port id). When the pod port
//! is gone or no longer a VM port, the mirror goes (the central Neutron
//! disassociates its floating IP), with the VM's shadow ports in the other
//! pods and the routings. A mirror deleted in the central region (the
//! tenant deleting the VM's port there) takes the pod port with it, as
//! the original's top port deletion did. Either way the routers on the top
//! network then get router_setup, so floating IPs and `/32` routes follow
//! the VM.
//!
//! Creation lock: the mirror's id is not known before it exists, so the
//! routing row is taken under the placeholder top id `mirror_<pod port id>`
//! with no bottom id (the routing-table lock's "in flight" shape, see
//! `network::lock`), then rewritten in place to (mirror id, pod port id).
//! The unique key (top_id, pod, type) lets one worker create; the others
//! wait for the row to be bound. A row left in flight longer than
//! `lock::EXPIRE_SECONDS` belonged to a worker that died: it is dropped and
//! the next worker adopts a mirror it may have made, found by MAC (Neutron
//! keeps MACs unique per network, which also makes a second mirror
//! impossible). A top port of the network with the pod port's MAC made by
//! somebody else (the tenant's "twin" port of the manual flow) is adopted
//! the same way.

use std::collections::BTreeSet;

use serde_json::{Map, Value};
use tricircle_db::models::{NewRouting, Pod, ResourceRouting, RoutingUpdate};
use tricircle_db::{routings, time};
use tricircle_openstack::neutron::{device_owner, Filters, FixedIp, NeutronClient, Port};

use crate::handler::{HandlerResult, Job, JobContext};
use crate::network::lock::{CreatorWait, EXPIRE_SECONDS};
use crate::network::{NetError, NetResult, NetworkContext, DEVICE_OWNER_SHADOW};
use crate::resource::InPod;
use tricircle_vocab::{JobType, ResourceType};

/// Top id of a mirror's routing while it is being created (bottom id
/// empty): `mirror_<pod port id>`. Readers of the routing table treat such
/// a row as in flight, as any row without a bottom id.
pub const MIRROR_LOCK_PREFIX: &str = "mirror_";

pub fn lock_top_id(b_port_id: &str) -> String {
    format!("{MIRROR_LOCK_PREFIX}{b_port_id}")
}

pub struct PortMirror(pub NetworkContext);

#[async_trait::async_trait]
impl Job for PortMirror {
    const TYPE: JobType = JobType::PortMirror;
    type Resource = InPod;

    async fn run(&self, r: InPod, ctx: &JobContext) -> HandlerResult {
        let done = mirror(&self.0, r.pod.one(ctx)?, &r.id, &ctx.request).await?;
        tracing::info!(port = %r.id, ?done, "port mirror");
        Ok(())
    }
}

/// What a run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mirrored {
    /// The mirror (its id) was created, or adopted, this run.
    Created(String),
    /// The mirror existed and was changed to match the pod port.
    Updated(String),
    /// The mirror existed and matched.
    Unchanged(String),
    /// These mirrors were removed (the pod port is no VM port on a copy),
    /// or found deleted at the top (the pod port was deleted with them).
    Removed(Vec<String>),
}

/// The pod port `b_port_id` of `pod_id`, mirrored (or its mirror removed);
/// `request` is the context of the router_setup jobs it records.
pub async fn mirror(
    net: &NetworkContext,
    pod_id: &str,
    b_port_id: &str,
    request: &Map<String, Value>,
) -> NetResult<Mirrored> {
    let pod = net.pod(pod_id).await?;
    let top_pod = net.top_pod().await?;
    let b_port = net.neutron(&pod).find::<Port>(b_port_id).await?;
    let exists = b_port.is_some();
    let vm = match b_port {
        Some(p) if is_vm_port(&p) => vm_on_copy(net, &pod, p).await?,
        _ => None,
    };
    let Some(vm) = vm else {
        return remove(net, &top_pod, &pod, b_port_id, exists, request).await;
    };
    let done = ensure(net, &top_pod, &pod, &vm).await?;
    if let Mirrored::Created(_) = done {
        // The pod port may have gone (or stopped being a VM port) while the
        // mirror was being made, when its delete job found nothing bound to
        // remove yet.
        match net.neutron(&pod).find::<Port>(b_port_id).await? {
            Some(p) if is_vm_port(&p) => {}
            p => return remove(net, &top_pod, &pod, b_port_id, p.is_some(), request).await,
        }
    }
    if !matches!(done, Mirrored::Unchanged(_)) {
        let top = net.neutron(&top_pod);
        router_setups(net, &top, &pod, &vm.top_net, &vm.project, request).await?;
    }
    Ok(done)
}

/// A port Nova bound to an instance, not one of xjob's shadow ports.
pub fn is_vm_port(p: &Port) -> bool {
    let owner = p.device_owner.as_deref().unwrap_or_default();
    owner.starts_with("compute:") && owner != DEVICE_OWNER_SHADOW
}

/// A VM port of a pod and what its mirror is made of.
struct Vm {
    port: Port,
    project: String,
    top_net: String,
    /// Its addresses on the top subnets.
    top_ips: Vec<FixedIp>,
}

/// The VM port `port` with its top network and top subnets, from the
/// routings of the pod's copies (one database call); `None` when its network
/// is no copy of a top network.
async fn vm_on_copy(net: &NetworkContext, pod: &Pod, port: Port) -> NetResult<Option<Vm>> {
    let b_net = port.network_id.clone().unwrap_or_default();
    let ips: Vec<(String, String)> = port
        .fixed_ips
        .iter()
        .flatten()
        .map(|f| {
            (
                f.subnet_id.clone().unwrap_or_default(),
                f.ip_address.clone().unwrap_or_default(),
            )
        })
        .collect();
    let (pod_id, subs) = (
        pod.pod_id.clone(),
        ips.iter().map(|(s, _)| s.clone()).collect::<Vec<_>>(),
    );
    let found = net
        .db
        .run(move |c| {
            let top_of = |c: &mut _, bottom: &str, rtype: ResourceType| {
                let f = routings::RoutingFilter {
                    bottom_id: Some(bottom.to_owned()),
                    pod_id: Some(pod_id.clone()),
                    resource_type: Some(rtype.as_str().to_owned()),
                    ..Default::default()
                };
                Ok::<_, tricircle_db::DbError>(
                    routings::find(c, &f)?.into_iter().next().map(|r| r.top_id),
                )
            };
            let Some(top_net) = top_of(c, &b_net, ResourceType::Network)? else {
                return Ok(None);
            };
            let mut subnets = Vec::new();
            for sub in &subs {
                subnets.push(top_of(c, sub, ResourceType::Subnet)?);
            }
            Ok(Some((top_net, subnets)))
        })
        .await?;
    let Some((top_net, subnets)) = found else {
        return Ok(None);
    };
    let mut top_ips = Vec::new();
    for ((b_sub, ip), t_sub) in ips.iter().zip(subnets) {
        let t_sub = t_sub.ok_or_else(|| {
            NetError::Missing(format!(
                "subnet {b_sub} of port {} in {} is no copy of a top subnet",
                port.id(),
                pod.region_name
            ))
        })?;
        top_ips.push(FixedIp::address(&t_sub, ip));
    }
    let project = port
        .project_id
        .clone()
        .or_else(|| port.tenant_id.clone())
        .unwrap_or_default();
    Ok(Some(Vm {
        port,
        project,
        top_net,
        top_ips,
    }))
}

/// The mirror's create body.
fn mirror_body(vm: &Vm) -> Port {
    Port {
        tenant_id: Some(vm.project.clone()),
        name: vm.port.name.clone(),
        network_id: Some(vm.top_net.clone()),
        mac_address: vm.port.mac_address.clone(),
        fixed_ips: Some(vm.top_ips.clone()),
        device_owner: vm.port.device_owner.clone(),
        device_id: vm.port.device_id.clone(),
        admin_state_up: Some(true),
        ..Port::default()
    }
}

fn ip_set(ips: &[FixedIp]) -> BTreeSet<(Option<&str>, Option<&str>)> {
    ips.iter()
        .map(|f| (f.subnet_id.as_deref(), f.ip_address.as_deref()))
        .collect()
}

/// The update that makes `mirror` match `vm` (the attributes that differ),
/// or `None` when it matches.
fn mirror_update(mirror: &Port, vm: &Vm) -> Option<Port> {
    let want = mirror_body(vm);
    let mut upd = Port::default();
    let mut any = false;
    let have_ips = mirror.fixed_ips.clone().unwrap_or_default();
    if ip_set(&have_ips) != ip_set(&vm.top_ips) {
        upd.fixed_ips = want.fixed_ips.clone();
        any = true;
    }
    macro_rules! same {
        ($($f:ident),*) => {$(
            if want.$f.is_some() && mirror.$f != want.$f {
                upd.$f = want.$f.clone();
                any = true;
            }
        )*};
    }
    same!(mac_address, device_owner, device_id, name);
    any.then_some(upd)
}

/// What the routing table says of the mirror of one pod port.
enum Step {
    /// Bound: the mirror's id.
    Bound(ResourceRouting),
    /// This worker holds the in-flight row.
    Mine(i64),
    /// Another worker does.
    Busy,
}

/// Read the mirror's routing, or take the in-flight row. `project` is
/// stored with a new row.
async fn take(net: &NetworkContext, pod: &Pod, b_port_id: &str, project: &str) -> NetResult<Step> {
    let (b, pod_id, project) = (b_port_id.to_owned(), pod.pod_id.clone(), project.to_owned());
    net.db
        .run(move |c| {
            if let Some(row) = bound_row(c, &b, &pod_id)? {
                return Ok(Step::Bound(row));
            }
            let key = lock_top_id(&b);
            let rtype = ResourceType::Port.as_str();
            if let Some(row) = routings::get_by_top_pod_type(c, &key, &pod_id, rtype)? {
                let now = time::now(c);
                let since = row.updated_at.or(row.created_at).unwrap_or(now);
                if (now - since).num_seconds() <= EXPIRE_SECONDS {
                    return Ok(Step::Busy);
                }
                // Its worker died: whatever mirror it made is adopted by MAC.
                tracing::warn!(pod_port = %b, "dropping an abandoned mirror lock");
                match routings::delete(c, row.id) {
                    Ok(()) | Err(tricircle_db::DbError::NotFound(_)) => {}
                    Err(e) => return Err(e),
                }
            }
            let new = NewRouting {
                top_id: key,
                bottom_id: None,
                pod_id: pod_id.clone(),
                project_id: Some(project),
                resource_type: rtype.to_owned(),
            };
            Ok(match routings::create(c, &new)? {
                // The look at the bound row and at the in-flight row are two
                // reads: a creator may have bound its mirror between them
                // (its row leaves the in-flight key as it binds), and its
                // binding is the answer, not a second creation.
                Some(r) => match bound_row(c, &b, &pod_id)? {
                    Some(bound) => {
                        routings::delete(c, r.id)?;
                        Step::Bound(bound)
                    }
                    None => Step::Mine(r.id),
                },
                None => Step::Busy,
            })
        })
        .await
        .map_err(Into::into)
}

/// The bound routing of the mirror of `b_port_id` in `pod_id`.
fn bound_row(
    c: &mut tricircle_db::AnyConnection,
    b_port_id: &str,
    pod_id: &str,
) -> Result<Option<ResourceRouting>, tricircle_db::DbError> {
    let f = routings::RoutingFilter {
        bottom_id: Some(b_port_id.to_owned()),
        pod_id: Some(pod_id.to_owned()),
        resource_type: Some(ResourceType::Port.as_str().to_owned()),
        ..Default::default()
    };
    Ok(routings::find(c, &f)?.into_iter().next())
}

async fn ensure(net: &NetworkContext, top_pod: &Pod, pod: &Pod, vm: &Vm) -> NetResult<Mirrored> {
    let top = net.neutron(top_pod);
    let b_port_id = vm.port.id();
    let mut wait = CreatorWait::default();
    loop {
        match take(net, pod, b_port_id, &vm.project).await? {
            Step::Busy => {
                if !wait.pause().await {
                    return Err(NetError::Lock(format!(
                        "mirror of port {b_port_id} in {} is held by another worker",
                        pod.region_name
                    )));
                }
            }
            Step::Mine(row) => {
                let made = match create_or_adopt(&top, vm).await {
                    Ok(m) => m,
                    Err(e) => {
                        release(net, row).await;
                        return Err(e);
                    }
                };
                let upd = RoutingUpdate {
                    top_id: Some(made.id().to_owned()),
                    bottom_id: Some(Some(b_port_id.to_owned())),
                    ..RoutingUpdate::default()
                };
                if let Err(e) = net.db.run(move |c| routings::update(c, row, &upd)).await {
                    release(net, row).await;
                    return Err(NetError::Lock(format!(
                        "cannot bind the routing of mirror {} of port {b_port_id}: {e}",
                        made.id()
                    )));
                }
                if let Some(upd) = mirror_update(&made, vm) {
                    // An adopted port (the tenant's twin) takes the VM's values.
                    update(&top, made.id(), &upd, vm, pod).await?;
                }
                return Ok(Mirrored::Created(made.id().to_owned()));
            }
            Step::Bound(row) => {
                let Some(have) = top.find::<Port>(&row.top_id).await? else {
                    return vm_deleted_at_the_top(net, pod, vm, row).await;
                };
                if !is_vm_port(&have) {
                    // Routed by another job (a copy of that top port): not
                    // a mirror, not to be rewritten.
                    tracing::warn!(
                        top_port = have.id(),
                        pod_port = b_port_id,
                        "VM port routed to a top port that is no VM's; not mirrored"
                    );
                    return Ok(Mirrored::Unchanged(have.id().to_owned()));
                }
                return Ok(match mirror_update(&have, vm) {
                    Some(upd) => {
                        update(&top, have.id(), &upd, vm, pod).await?;
                        Mirrored::Updated(have.id().to_owned())
                    }
                    None => Mirrored::Unchanged(have.id().to_owned()),
                });
            }
        }
    }
}

/// The mirror was deleted in the central region: as deleting a VM's top
/// port did with the original (its `delete_server_port`), the VM's pod port
/// goes, with its shadow ports and the routing; the routers then drop its
/// floating IP and routes.
async fn vm_deleted_at_the_top(
    net: &NetworkContext,
    pod: &Pod,
    vm: &Vm,
    row: ResourceRouting,
) -> NetResult<Mirrored> {
    tracing::info!(mirror = %row.top_id, pod_port = vm.port.id(), pod = %pod.region_name,
        "mirror deleted in the central region; deleting the pod port");
    remove_shadows(net, &row.top_id).await?;
    match net.neutron(pod).delete_port(vm.port.id()).await {
        Err(e) if !e.is_not_found() => return Err(e.into()),
        _ => {}
    }
    release(net, row.id).await;
    Ok(Mirrored::Removed(vec![row.top_id]))
}

/// Drop a routing row this worker took (or found stale).
async fn release(net: &NetworkContext, id: i64) {
    match net.db.run(move |c| routings::delete(c, id)).await {
        Ok(()) | Err(tricircle_db::DbError::NotFound(_)) => {}
        Err(e) => tracing::warn!(routing_id = id, error = %e, "cannot release a mirror routing"),
    }
}

/// The top port of the VM's network with its MAC (a mirror made by a
/// worker that died, or the tenant's own twin), or a new mirror.
async fn create_or_adopt(top: &NeutronClient, vm: &Vm) -> NetResult<Port> {
    if let Some(p) = by_mac(top, vm).await? {
        return Ok(p);
    }
    match top.create_port(&mirror_body(vm)).await {
        Ok(p) => Ok(p),
        // Made between the lookup and the create (a tenant's twin).
        Err(e) if e.kind() == Some("MacAddressInUse") => match by_mac(top, vm).await? {
            Some(p) => Ok(p),
            None => Err(e.into()),
        },
        Err(e) if is_address_conflict(&e) => Err(refused(top, vm, e).await),
        Err(e) => Err(e.into()),
    }
}

async fn by_mac(top: &NeutronClient, vm: &Vm) -> NetResult<Option<Port>> {
    let Some(mac) = vm.port.mac_address.as_deref() else {
        return Ok(None);
    };
    // Under the mirror's lock: read afresh, not what the job read before.
    let found = top
        .list_fresh::<Port>(
            &Filters::new()
                .eq("network_id", &vm.top_net)
                .eq("mac_address", mac),
        )
        .await?;
    let Some(p) = found.into_iter().next() else {
        return Ok(None);
    };
    if !is_vm_port(&p) {
        return Err(NetError::Conflict(format!(
            "MAC {mac} of port {} is held in the central region by port {} ({}), \
             not a VM port: no mirror made",
            vm.port.id(),
            p.id(),
            p.device_owner.as_deref().unwrap_or_default()
        )));
    }
    Ok(Some(p))
}

async fn update(top: &NeutronClient, id: &str, upd: &Port, vm: &Vm, pod: &Pod) -> NetResult<()> {
    match top.update_port(id, upd).await {
        Ok(_) => Ok(()),
        Err(e) if is_address_conflict(&e) => Err(refused(top, vm, e).await),
        Err(e) => {
            tracing::debug!(pod = %pod.region_name, mirror = id, "mirror update failed");
            Err(e.into())
        }
    }
}

fn is_address_conflict(e: &tricircle_openstack::neutron::NeutronError) -> bool {
    matches!(
        e.kind(),
        Some("IpAddressInUse") | Some("IpAddressAlreadyAllocated")
    )
}

/// The central region refuses an address of the VM: name the address and
/// the port holding it (the pod's pools should never offer such addresses).
async fn refused(
    top: &NeutronClient,
    vm: &Vm,
    e: tricircle_openstack::neutron::NeutronError,
) -> NetError {
    let mut holders = Vec::new();
    for ip in vm.top_ips.iter().filter_map(|f| f.ip_address.as_deref()) {
        let held = top
            .list_ports(
                &Filters::new()
                    .eq("network_id", &vm.top_net)
                    .fixed_ip_address(ip),
            )
            .await
            .unwrap_or_default();
        for h in held {
            holders.push(format!("{ip} held by port {}", h.id()));
        }
    }
    let what = if holders.is_empty() {
        e.to_string()
    } else {
        holders.join(", ")
    };
    NetError::Conflict(format!(
        "the central region refuses the address of VM port {} (network {}): {what}",
        vm.port.id(),
        vm.top_net
    ))
}

/// The pod port is gone or no VM port on a copy: its mirrors, their
/// shadow ports and routings go, and the routers of the mirrors' networks
/// get router_setup.
async fn remove(
    net: &NetworkContext,
    top_pod: &Pod,
    pod: &Pod,
    b_port_id: &str,
    pod_port_exists: bool,
    request: &Map<String, Value>,
) -> NetResult<Mirrored> {
    let top = net.neutron(top_pod);
    let (b, pod_id) = (b_port_id.to_owned(), pod.pod_id.clone());
    let (bound, in_flight) = net
        .db
        .run(move |c| {
            let bound = bound_row(c, &b, &pod_id)?;
            let key = lock_top_id(&b);
            let rtype = ResourceType::Port.as_str();
            let stale = routings::get_by_top_pod_type(c, &key, &pod_id, rtype)?.filter(|r| {
                let now = time::now(c);
                let since = r.updated_at.or(r.created_at).unwrap_or(now);
                (now - since).num_seconds() > EXPIRE_SECONDS
            });
            Ok((bound, stale.map(|r| r.id)))
        })
        .await?;
    // A live creator checks the pod port again once its mirror is bound
    // and removes it then; a dead one's row is dropped.
    if let Some(stale) = in_flight {
        release(net, stale).await;
    }
    let rows: Vec<ResourceRouting> = bound.into_iter().collect();
    let mut removed = Vec::new();
    for row in rows {
        let mirror_id = row.top_id.clone();
        let mirror = top.find::<Port>(&mirror_id).await?;
        // Other pod ports are routed as `port` too (xjob's copies of
        // interface reservations, trunk subports): only a VM port at the
        // top is a mirror, and a routing whose top port is gone is only
        // dropped once its pod port is gone too.
        match &mirror {
            Some(m) if !is_vm_port(m) => continue,
            None if pod_port_exists => continue,
            _ => {}
        }
        remove_shadows(net, &mirror_id).await?;
        if pod_port_exists {
            // The central port.delete.end of the mirror must not find the
            // routing: its port_delete would delete the pod port.
            release(net, row.id).await;
        }
        match top.delete_port(&mirror_id).await {
            Err(e) if !e.is_not_found() => return Err(e.into()),
            _ => {}
        }
        if let Some(m) = &mirror {
            let project = m
                .project_id
                .clone()
                .or_else(|| m.tenant_id.clone())
                .or_else(|| row.project_id.clone())
                .unwrap_or_default();
            let t_net = m.network_id.clone().unwrap_or_default();
            router_setups(net, &top, pod, &t_net, &project, request).await?;
        }
        if !pod_port_exists {
            // Last, so a run cut short finds the mirror's routing again.
            release(net, row.id).await;
        }
        removed.push(mirror_id);
    }
    Ok(Mirrored::Removed(removed))
}

/// The VM's shadow ports in the other pods (routed under the mirror's id)
/// and their routings.
async fn remove_shadows(net: &NetworkContext, mirror_id: &str) -> NetResult<()> {
    let t = mirror_id.to_owned();
    let rows = net
        .db
        .run(move |c| {
            routings::find(
                c,
                &routings::RoutingFilter {
                    top_id: Some(t),
                    resource_type: Some(ResourceType::ShadowPort.as_str().to_owned()),
                    ..Default::default()
                },
            )
        })
        .await?;
    for row in rows {
        if let Some(b) = row.bottom_id.as_deref().filter(|b| !b.is_empty()) {
            let pod = net.pod(&row.pod_id).await?;
            match net.neutron(&pod).delete_port(b).await {
                Err(e) if !e.is_not_found() => return Err(e.into()),
                _ => {}
            }
        }
        release(net, row.id).await;
    }
    Ok(())
}

/// router_setup `<pod>#<router>#<top net>` for every top router with an
/// interface on `t_net`, in the VM's pod: floating IPs and routes follow
/// the VM. Only that pod's job, as the reference's plugin asks when a VM
/// port is bound (`_trigger_router_xjob_for_vm_port`): the VM changes
/// nothing the other pods' jobs build (its routes are `configure_route`'s,
/// below), and their checks would only take the pods' servers from the
/// jobs that do change something.
async fn router_setups(
    net: &NetworkContext,
    top: &NeutronClient,
    pod: &Pod,
    t_net: &str,
    project: &str,
    request: &Map<String, Value>,
) -> NetResult<()> {
    let ports = top
        .list_ports(&Filters::new().eq("network_id", t_net))
        .await?;
    // xjob's reservations of the pods' interface addresses are interface
    // ports of no router (empty device id).
    let routers: BTreeSet<&str> = ports
        .iter()
        .filter(|p| {
            matches!(
                p.device_owner.as_deref(),
                Some(device_owner::ROUTER_INTERFACE) | Some("network:router_interface_distributed")
            )
        })
        .filter_map(|p| p.device_id.as_deref().filter(|d| !d.is_empty()))
        .collect();
    for r in &routers {
        net.submit_job(
            JobType::RouterSetup,
            &format!("{}#{r}#{t_net}", pod.pod_id),
            project,
            request,
        )
        .await?;
    }
    // A VM came or went: on a router known to span pods its routes change,
    // and the pods are wired already (a pod job that finds otherwise wires
    // them and records routes again). Recorded now, the routes are set
    // while the pod jobs run, not after them; recorded after the pod jobs'
    // fan-out, the run counts as covering them (router_setup's
    // `routes_covered`). A router not read yet by this process is left to
    // the pod jobs, as in the reference.
    for r in routers {
        if net.seen.router(r).is_some_and(|s| s.spans_pods) {
            net.submit_job(JobType::ConfigureRoute, r, project, request)
                .await?;
        }
    }
    Ok(())
}
