//! Floating IPs of a top external network mirrored into the pod hosting
//! that external network: created at the same address, pointed at the
//! bottom copy of the VM's port (a shadow port when the VM lives in another
//! pod), re-pointed when the top moved, deleted when the top lost them.

use std::collections::BTreeMap;

use tricircle_db::models::Pod;
use tricircle_openstack::neutron::{Filters, FloatingIp, Network, NeutronClient, Port, Subnet};

use super::bottom::{self, Copy};
use super::external::{self, NsCopy};
use super::{prefetch, shadow, NetError, NetResult, NetworkContext, DEVICE_OWNER_SHADOW};
use tricircle_vocab::ResourceType;

/// What the sync did, for logs and tests.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FipSync {
    pub created: Vec<String>,
    pub reassociated: Vec<String>,
    pub deleted: Vec<String>,
}

/// Sync the floating IPs of top external network `t_ext_net_id` whose
/// ports are on `t_net`, for VMs in `b_pod`. `through_ns`: the router is
/// not local, so in stock mode the north-south router carries them.
#[allow(clippy::too_many_arguments)]
pub async fn sync(
    net: &NetworkContext,
    top_pod: &Pod,
    b_pod: &Pod,
    project_id: &str,
    t_net: &Network,
    t_router_id: &str,
    t_ext_net_id: &str,
    through_ns: bool,
) -> NetResult<FipSync> {
    let top = net.neutron(top_pod);
    // The top's floating IPs and the external pod's, read at once.
    let top_list = Filters::new().eq("floating_network_id", t_ext_net_id);
    let t_fips = async { NetResult::Ok(top.list_floatingips(&top_list).await?) };
    let b_fips = async {
        let (ext_pod, b_ext_net_id) = net
            .mappings(t_ext_net_id, ResourceType::Network)
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| {
                NetError::Missing(format!(
                    "external network {t_ext_net_id} has no bottom network yet"
                ))
            })?;
        let b_fips = net
            .neutron(&ext_pod)
            .list_floatingips(&Filters::new().eq("floating_network_id", &b_ext_net_id))
            .await?;
        NetResult::Ok((ext_pod, b_ext_net_id, b_fips))
    };
    let (t_fips, (ext_pod, b_ext_net_id, b_fips)) = tokio::try_join!(t_fips, b_fips)?;
    // Unassociated top floating IPs have nothing to mirror.
    let t_by_ip: BTreeMap<String, FloatingIp> = t_fips
        .into_iter()
        .filter(|f| f.port_id.clone().flatten().is_some())
        .map(|f| (f.floating_ip_address.clone().unwrap_or_default(), f))
        .collect();
    let ext = net.neutron(&ext_pod);
    let b_by_ip: BTreeMap<String, FloatingIp> = b_fips
        .into_iter()
        .map(|f| (f.floating_ip_address.clone().unwrap_or_default(), f))
        .collect();
    let b_client = net.neutron(b_pod);
    // The routed bottom port of each floating IP's port, then the ports
    // read below in one list per region (a GET each, one after the other,
    // were most of a rerun's time with a few floating IPs).
    let mut routed = BTreeMap::new();
    for (addr, t_fip) in &t_by_ip {
        let t_port_id = t_fip.port_id.clone().flatten().unwrap_or_default();
        let b_port_id = net.bottom_id(&t_port_id, b_pod, ResourceType::Port).await?;
        if b_port_id.is_none() && !net.settings.stock_neutron {
            // The VM's port lives in another pod (or not yet anywhere).
            continue;
        }
        routed.insert(addr.as_str(), (t_port_id, b_port_id));
    }
    let t_ports: Vec<&str> = routed.values().map(|(t, _)| t.as_str()).collect();
    let b_ports: Vec<&str> = match ext_pod.pod_id == b_pod.pod_id {
        true => Vec::new(),
        false => routed.values().filter_map(|(_, b)| b.as_deref()).collect(),
    };
    tokio::try_join!(
        prefetch::ports(&top, &t_ports),
        prefetch::ports(&b_client, &b_ports)
    )?;
    if ext_pod.pod_id != b_pod.pod_id {
        shadows_ahead(net, top_pod, &ext_pod, t_net, &t_ports).await?;
    }
    let mut out = FipSync::default();
    for (addr, (t_port_id, mut b_port_id)) in routed {
        let t_port = top.get_port(&t_port_id).await?;
        if t_port.network_id.as_deref() != Some(t_net.id()) {
            continue;
        }
        if b_port_id.is_none() {
            b_port_id = booted_port(net, b_pod, &t_port).await?;
        }
        let Some(b_port_id) = b_port_id else {
            continue;
        };
        let t_sub = port_subnet(&t_port)?;
        // In the VM's own pod its port is the target; elsewhere a shadow of
        // it on shadow copies of its network and subnet.
        let via_ns = net.settings.stock_neutron && through_ns;
        let (b_net, b_sub, shadow_of) = if ext_pod.pod_id == b_pod.pod_id {
            let b_net = net
                .bottom_id(t_net.id(), b_pod, ResourceType::Network)
                .await?;
            let b_sub = net.bottom_id(&t_sub, b_pod, ResourceType::Subnet).await?;
            (b_net, b_sub, None)
        } else {
            // The VM's port is for the shadow port only: read beside the
            // copies, which do not need it.
            let (b_port, copies) = tokio::join!(
                b_client.get_port(&b_port_id),
                shadow_copies(net, top_pod, &ext_pod, project_id, &t_port, &t_sub)
            );
            let ((n, s), b_port) = (copies?, b_port?);
            (Some(n), Some(s), Some(b_port))
        };
        let target = async {
            match (&shadow_of, &b_net) {
                (Some(b_port), Some(b_net)) => {
                    shadow_port(net, &ext_pod, project_id, b_net, &t_port, b_port).await
                }
                _ => Ok(b_port_id.clone()),
            }
        };
        // Stock Neutron associates only through a router with an interface
        // on the port's subnet: give the NS router one (a local router has
        // its own, and the gateway). It does not need the shadow port, so
        // both are made at once; both run to their end (a creation dropped
        // half-way holds its routing until it expires).
        let ns_interface = async {
            if !via_ns {
                return Ok(());
            }
            let ns = net
                .bottom_id(t_router_id, &ext_pod, ResourceType::NsRouter)
                .await?
                .ok_or_else(|| NetError::Missing("no north-south router yet".into()))?;
            let (Some(b_net), Some(b_sub)) = (&b_net, &b_sub) else {
                return Err(NetError::Missing(format!(
                    "subnet {t_sub} has no copy in {}",
                    ext_pod.region_name
                )));
            };
            external::ns_interface(
                net,
                top_pod,
                &ext_pod,
                project_id,
                t_router_id,
                &ns,
                &t_sub,
                b_net,
                b_sub,
                match shadow_of {
                    Some(_) => NsCopy::Shadow,
                    None => NsCopy::Own,
                },
            )
            .await
        };
        let (target, ns_interface) = tokio::join!(target, ns_interface);
        let target = target?;
        ns_interface?;
        match b_by_ip.get(addr) {
            None => {
                create(&ext, &b_ext_net_id, addr, &target).await?;
                out.created.push(addr.to_owned());
            }
            Some(b) if b.port_id.clone().flatten().as_deref() != Some(target.as_str()) => {
                ext.associate_floatingip(b.id(), &target, None).await?;
                out.reassociated.push(addr.to_owned());
            }
            Some(_) => {}
        }
    }
    for (addr, b_fip) in &b_by_ip {
        if !t_by_ip.contains_key(addr) {
            // Shadow ports stay: the plugin removes them with the VM port.
            delete(&ext, b_fip.id()).await?;
            out.deleted.push(addr.clone());
        }
    }
    Ok(out)
}

fn port_subnet(t_port: &Port) -> NetResult<String> {
    t_port
        .fixed_ips
        .iter()
        .flatten()
        .find_map(|f| f.subnet_id.clone())
        .ok_or_else(|| NetError::Missing(format!("port {} has no subnet", t_port.id())))
}

/// Stock mode: the port a VM booted in `pod` got on the bottom copy of its
/// network, found by the top port's address, for a top port with no
/// routing yet (a port the tenant made before its VM's port_mirror ran;
/// a mirror's routing names its pod port).
async fn booted_port(net: &NetworkContext, pod: &Pod, t_port: &Port) -> NetResult<Option<String>> {
    let t_net_id = t_port.network_id.clone().unwrap_or_default();
    let Some(b_net) = net.bottom_id(&t_net_id, pod, ResourceType::Network).await? else {
        return Ok(None);
    };
    let Some(ip) = t_port.ip_addresses().next() else {
        return Ok(None);
    };
    let ports = net
        .neutron(pod)
        .list_ports(
            &Filters::new()
                .eq("network_id", &b_net)
                .eq("fixed_ips", format!("ip_address={ip}")),
        )
        .await?;
    Ok(ports
        .into_iter()
        .find(|p| {
            p.device_owner
                .as_deref()
                .is_some_and(|o| o.starts_with("compute:") && o != DEVICE_OWNER_SHADOW)
        })
        .map(|p| p.id().to_owned()))
}

/// The shadow copies of a VM port's network and subnet (`t_subnet_id`) in
/// the external network's pod; returns (shadow network, shadow subnet).
async fn shadow_copies(
    net: &NetworkContext,
    top_pod: &Pod,
    ext_pod: &Pod,
    project_id: &str,
    t_port: &Port,
    t_subnet_id: &str,
) -> NetResult<(String, String)> {
    let top = net.neutron(top_pod);
    let t_net_id = t_port.network_id.clone().unwrap_or_default();
    let t_net = top.get_network(&t_net_id).await?;
    let t_sub = top.get_subnet(t_subnet_id).await?;
    let (b_net_id, map) = bottom::network_subnets(
        net,
        top_pod,
        ext_pod,
        project_id,
        &t_net,
        std::slice::from_ref(&t_sub),
        Copy::Shadow,
    )
    .await?;
    let b_sub = map[t_sub.id()].clone();
    Ok((b_net_id, b_sub))
}

/// What the floating IPs of VMs in another pod than the external
/// network's (top ports `t_ports`, on `t_net`) find made already in that
/// pod: the shadow copy of the network, of each port's subnet, the top
/// ports reserving those copies' gateways, and the shadow ports, read
/// ahead in one list per kind at once, so that each floating IP finds
/// them among the job's reads (read by id, they were three rounds one
/// after the other per floating IP). Nothing is read for what has no
/// routing yet.
async fn shadows_ahead(
    net: &NetworkContext,
    top_pod: &Pod,
    ext_pod: &Pod,
    t_net: &Network,
    t_ports: &[&str],
) -> NetResult<()> {
    let top = net.neutron(top_pod);
    // The ports on `t_net` and their subnets, each subnet once (floating
    // IPs of one subnet share its shadow copy and gateway).
    let mut on_net: Vec<&str> = Vec::new();
    let mut t_subs: Vec<String> = Vec::new();
    for t_port_id in t_ports {
        let t_port = top.get_port(t_port_id).await?;
        if t_port.network_id.as_deref() != Some(t_net.id()) {
            continue;
        }
        let Ok(t_sub) = port_subnet(&t_port) else {
            continue;
        };
        on_net.push(t_port_id);
        if !t_subs.contains(&t_sub) {
            t_subs.push(t_sub);
        }
    }
    let (mut subnets, mut gateways, mut ports) = (Vec::new(), Vec::new(), Vec::new());
    for t_sub in &t_subs {
        let gateway = bottom::interface_port_name(&ext_pod.region_name, t_sub);
        let (subnet, gateway) = tokio::try_join!(
            net.bottom_id(t_sub, ext_pod, ResourceType::ShadowSubnet),
            net.bottom_id(&gateway, top_pod, ResourceType::Port),
        )?;
        subnets.extend(subnet);
        gateways.extend(gateway);
    }
    for t_port_id in on_net {
        ports.extend(
            net.bottom_id(t_port_id, ext_pod, ResourceType::ShadowPort)
                .await?,
        );
    }
    if subnets.is_empty() && ports.is_empty() {
        // Not made yet: the first run makes them.
        return Ok(());
    }
    let network = net
        .bottom_id(t_net.id(), ext_pod, ResourceType::ShadowNetwork)
        .await?;
    let ext = net.neutron(ext_pod);
    tokio::try_join!(
        prefetch::by_id::<Network>(&ext, network.as_slice()),
        prefetch::by_id::<Subnet>(&ext, &subnets),
        prefetch::by_id::<Port>(&ext, &ports),
        prefetch::by_id::<Port>(&top, &gateways),
    )?;
    Ok(())
}

/// The shadow of VM port `b_port` (top `t_port`) on shadow network
/// `b_net_id` in the external network's pod.
async fn shadow_port(
    net: &NetworkContext,
    ext_pod: &Pod,
    project_id: &str,
    b_net_id: &str,
    t_port: &Port,
    b_port: &Port,
) -> NetResult<String> {
    // The agent too, when known, so the port is the one shadow_port_setup
    // would make; unlike there, an unknown agent does not stop it.
    let agent = shadow::serving_agent(net, b_port).await?;
    shadow::ensure_shadow_port(
        net,
        ext_pod,
        project_id,
        b_net_id,
        t_port.id(),
        b_port,
        agent.as_ref(),
    )
    .await
}

/// Delete a bottom floating IP; one a concurrent job deleted is as good.
pub async fn delete(client: &NeutronClient, id: &str) -> NetResult<()> {
    match client.delete_floatingip(id).await {
        Err(e) if !e.is_not_found() => Err(e.into()),
        _ => Ok(()),
    }
}

/// Create a bottom floating IP at `addr`; when the address is taken by an
/// unassociated (or already right) floating IP, adopt it.
async fn create(ext: &NeutronClient, b_ext_net_id: &str, addr: &str, port: &str) -> NetResult<()> {
    let body = FloatingIp {
        floating_network_id: Some(b_ext_net_id.to_owned()),
        floating_ip_address: Some(addr.to_owned()),
        port_id: Some(Some(port.to_owned())),
        ..FloatingIp::default()
    };
    match ext.create_floatingip(&body).await {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == Some("IpAddressInUse") => {
            let found = ext
                .list_floatingips(&Filters::new().eq("floating_ip_address", addr))
                .await?;
            let Some(f) = found.first() else {
                return Err(e.into());
            };
            match f.port_id.clone().flatten() {
                Some(p) if p == port => Ok(()),
                None => {
                    ext.associate_floatingip(f.id(), port, None).await?;
                    Ok(())
                }
                Some(_) => Err(e.into()),
            }
        }
        Err(e) => Err(e.into()),
    }
}
