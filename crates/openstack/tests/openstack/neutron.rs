//! The Neutron client against the fake cloud: every call, the typed
//! errors, retries, token renewal and endpoint refresh.

use crate::common_cloud;

use std::sync::Arc;
use std::time::Duration;

use common_cloud::{clients, cloud, config, net};
use futures_util::future::join_all;
use serde_json::json;
use tricircle_openstack::endpoints::MemoryEndpointCache;
use tricircle_openstack::neutron::{
    device_owner, ExternalGatewayInfo, Filters, FixedIp, FloatingIp, Network, NeutronError, Port,
    QosPolicy, QosRule, QosRuleKind, Route, Router, SecurityGroup, SecurityGroupRule, SubPort,
    Subnet, Trunk,
};
use tricircle_openstack::Clients;

const TOKENS: &str = "/v3/auth/tokens";

fn subnet(net: &Network, cidr: &str) -> Subnet {
    Subnet {
        network_id: net.id.clone(),
        cidr: Some(cidr.into()),
        ip_version: Some(4),
        ..Subnet::default()
    }
}

fn port_on(net: &Network) -> Port {
    Port {
        network_id: net.id.clone(),
        ..Port::default()
    }
}

fn kind(e: &NeutronError) -> &str {
    e.kind().unwrap_or_default()
}

#[tokio::test]
async fn networks_subnets_ports() {
    let c = cloud().await;
    let n = clients(&c).neutron("RegionOne");

    let vlan = n
        .create_network(&Network {
            network_type: Some("vlan".into()),
            physical_network: Some("bridge".into()),
            segmentation_id: Some(2100),
            ..net("net1")
        })
        .await
        .unwrap();
    assert_eq!(vlan.segmentation_id, Some(2100));
    assert_eq!(vlan.physical_network.as_deref(), Some("bridge"));
    assert!(
        vlan.extra.contains_key("revision_number"),
        "unknown attributes are kept"
    );
    let dup = n
        .create_network(&Network {
            network_type: Some("vlan".into()),
            physical_network: Some("bridge".into()),
            segmentation_id: Some(2100),
            ..net("net1b")
        })
        .await
        .unwrap_err();
    assert!(matches!(dup, NeutronError::InUse(_)), "{dup}");
    let vx = n.create_network(&net("net2")).await.unwrap();
    assert_eq!(vx.network_type.as_deref(), Some("vxlan"));
    let az = n
        .create_network(&Network {
            availability_zone_hints: Some(vec!["az9".into()]),
            ..net("azn")
        })
        .await
        .unwrap_err();
    assert!(az.is_not_found() && kind(&az) == "AvailabilityZoneNotFound");
    c.neutron("RegionOne").add_availability_zone("az1");
    let azn = n
        .create_network(&Network {
            availability_zone_hints: Some(vec!["az1".into()]),
            ..net("azn")
        })
        .await
        .unwrap();

    // Filters: repeated keys mean "any of"; fields trims the answer.
    let both = n
        .list_networks(&Filters::new().any("name", ["net1", "net2"]))
        .await
        .unwrap();
    assert_eq!(both.len(), 2);
    let only = n
        .list_networks(&Filters::new().eq("name", "net1").fields(["id", "name"]))
        .await
        .unwrap();
    assert_eq!(only.len(), 1);
    assert_eq!(only[0].id, vlan.id);
    assert_eq!(only[0].network_type, None, "fields trimmed the answer");
    assert_eq!(
        n.get_network(azn.id()).await.unwrap().name.as_deref(),
        Some("azn")
    );

    // Subnets: default gateway, explicit, none.
    let s1 = n
        .create_subnet(&subnet(&vlan, "10.0.1.0/24"))
        .await
        .unwrap();
    assert_eq!(s1.gateway_ip, Some(Some("10.0.1.1".into())));
    let pools = s1.allocation_pools.clone().unwrap();
    assert_eq!(pools[0].start, "10.0.1.2");
    assert_eq!(pools[0].end, "10.0.1.254");
    let s2 = n
        .create_subnet(&Subnet {
            gateway_ip: Some(Some("10.0.2.254".into())),
            ..subnet(&vx, "10.0.2.0/24")
        })
        .await
        .unwrap();
    assert_eq!(s2.gateway_ip, Some(Some("10.0.2.254".into())));
    let s3 = n
        .create_subnet(&Subnet {
            gateway_ip: Some(None),
            ..subnet(&azn, "10.0.3.0/24")
        })
        .await
        .unwrap();
    assert_eq!(s3.gateway_ip, Some(None));
    assert_eq!(s3.allocation_pools.unwrap()[0].start, "10.0.3.1");
    let overlap = n
        .create_subnet(&subnet(&vlan, "10.0.1.128/25"))
        .await
        .unwrap_err();
    assert!(matches!(overlap, NeutronError::BadRequest(_)), "{overlap}");
    let bad = n
        .create_subnet(&subnet(&vlan, "10.0.300.0/24"))
        .await
        .unwrap_err();
    assert!(matches!(bad, NeutronError::BadRequest(_)), "{bad}");
    let updated = n
        .update_subnet(
            s1.id(),
            &Subnet {
                name: Some("renamed".into()),
                ..Subnet::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(updated.name.as_deref(), Some("renamed"));

    // Ports: first free address, chosen address, conflicts.
    let p1 = n.create_port(&port_on(&vlan)).await.unwrap();
    assert_eq!(p1.ip_addresses().collect::<Vec<_>>(), ["10.0.1.2"]);
    let p2 = n
        .create_port(&Port {
            fixed_ips: Some(vec![FixedIp::address(s1.id(), "10.0.1.50")]),
            device_owner: Some("compute:nova".into()),
            device_id: Some("vm-1".into()),
            binding_host_id: Some("host1".into()),
            binding_profile: Some(json!({"region": "RegionOne"}).as_object().unwrap().clone()),
            ..port_on(&vlan)
        })
        .await
        .unwrap();
    assert_eq!(p2.binding_vif_type.as_deref(), Some("binding_failed"));
    assert_eq!(p2.binding_profile.as_ref().unwrap()["region"], "RegionOne");
    let taken = n
        .create_port(&Port {
            fixed_ips: Some(vec![FixedIp::address(s1.id(), "10.0.1.50")]),
            ..port_on(&vlan)
        })
        .await
        .unwrap_err();
    assert!(matches!(taken, NeutronError::IpAddressInUse(_)), "{taken}");
    let bulk = n
        .create_ports(&[
            Port {
                name: Some("shadow-a".into()),
                device_owner: Some("compute:shadow".into()),
                ..port_on(&vlan)
            },
            Port {
                name: Some("shadow-b".into()),
                device_owner: Some("compute:shadow".into()),
                ..port_on(&vlan)
            },
        ])
        .await
        .unwrap();
    assert_eq!(bulk.len(), 2);
    let bulk_dup = n
        .create_ports(&[
            Port {
                name: Some("x".into()),
                ..port_on(&vlan)
            },
            Port {
                fixed_ips: Some(vec![FixedIp::address(s1.id(), "10.0.1.50")]),
                ..port_on(&vlan)
            },
        ])
        .await
        .unwrap_err();
    assert!(matches!(bulk_dup, NeutronError::IpAddressInUse(_)));
    let xs = n.list_ports(&Filters::new().eq("name", "x")).await.unwrap();
    assert!(xs.is_empty(), "a failed bulk create leaves nothing behind");

    let owned = n
        .list_ports(&Filters::new().any("device_owner", ["compute:nova", "compute:shadow"]))
        .await
        .unwrap();
    assert_eq!(owned.len(), 3);
    let by_ip = n
        .list_ports(&Filters::new().fixed_ip_address("10.0.1.50"))
        .await
        .unwrap();
    assert_eq!(by_ip.len(), 1);
    assert_eq!(by_ip[0].id, p2.id);
    let by_dev = n
        .list_ports(&Filters::new().eq("device_id", "vm-1"))
        .await
        .unwrap();
    assert_eq!(by_dev[0].id, p2.id);

    let moved = n
        .update_port(
            p1.id(),
            &Port {
                binding_host_id: Some("host2".into()),
                name: Some("p1".into()),
                ..Port::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(moved.binding_host_id.as_deref(), Some("host2"));

    let in_use = n.delete_subnet(s1.id()).await.unwrap_err();
    assert!(matches!(in_use, NeutronError::InUse(_)) && kind(&in_use) == "SubnetInUse");
    let in_use = n.delete_network(vlan.id()).await.unwrap_err();
    assert_eq!(kind(&in_use), "NetworkInUse");

    for p in n
        .list_ports(&Filters::new().eq("network_id", vlan.id()))
        .await
        .unwrap()
    {
        n.delete_port(p.id()).await.unwrap();
    }
    n.delete_subnet(s1.id()).await.unwrap();
    n.delete_network(vlan.id()).await.unwrap();
    let gone = n.get_network(vlan.id()).await.unwrap_err();
    assert!(
        gone.is_not_found() && kind(&gone) == "NetworkNotFound",
        "{gone}"
    );
    assert!(n.find::<Network>(vlan.id()).await.unwrap().is_none());
    let gone = n.delete_port(p1.id()).await.unwrap_err();
    assert!(gone.is_not_found());
}

struct L3 {
    ext: Network,
    ext_sub: Subnet,
    inner: Network,
    inner_sub: Subnet,
    router: Router,
}

async fn l3(n: &tricircle_openstack::neutron::NeutronClient) -> L3 {
    let ext = n
        .create_network(&Network {
            external: Some(true),
            network_type: Some("flat".into()),
            physical_network: Some("extern".into()),
            ..net("ext")
        })
        .await
        .unwrap();
    let ext_sub = n
        .create_subnet(&subnet(&ext, "163.3.124.0/24"))
        .await
        .unwrap();
    let inner = n.create_network(&net("inner")).await.unwrap();
    let inner_sub = n
        .create_subnet(&subnet(&inner, "10.0.1.0/24"))
        .await
        .unwrap();
    let router = n
        .create_router(&Router {
            name: Some("r1".into()),
            ..Router::default()
        })
        .await
        .unwrap();
    L3 {
        ext,
        ext_sub,
        inner,
        inner_sub,
        router,
    }
}

#[tokio::test]
async fn routers_gateway_interfaces_routes() {
    let c = cloud().await;
    let n = clients(&c).neutron("RegionOne");
    let t = l3(&n).await;
    let r = t.router.id();

    // Gateway with SNAT off at a chosen address.
    let with_gw = n
        .set_gateway(
            r,
            Some(ExternalGatewayInfo {
                network_id: t.ext.id().into(),
                enable_snat: Some(false),
                external_fixed_ips: Some(vec![FixedIp::address(t.ext_sub.id(), "163.3.124.10")]),
            }),
        )
        .await
        .unwrap();
    let gw = with_gw.external_gateway_info.clone().unwrap().unwrap();
    assert_eq!(gw.enable_snat, Some(false));
    assert_eq!(
        gw.external_fixed_ips.unwrap()[0].ip_address.as_deref(),
        Some("163.3.124.10")
    );
    let gw_ports = n
        .list_ports(
            &Filters::new()
                .eq("device_owner", device_owner::ROUTER_GATEWAY)
                .eq("device_id", r),
        )
        .await
        .unwrap();
    assert_eq!(gw_ports.len(), 1);
    let not_ext = n
        .set_gateway(
            r,
            Some(ExternalGatewayInfo {
                network_id: t.inner.id().into(),
                ..ExternalGatewayInfo::default()
            }),
        )
        .await
        .unwrap_err();
    assert!(matches!(not_ext, NeutronError::BadRequest(_)), "{not_ext}");

    // Interface by subnet: the port takes the gateway IP.
    let itf = n.add_interface_subnet(r, t.inner_sub.id()).await.unwrap();
    assert_eq!(itf.subnet_id, t.inner_sub.id());
    let p = n.get_port(&itf.port_id).await.unwrap();
    assert_eq!(
        p.device_owner.as_deref(),
        Some(device_owner::ROUTER_INTERFACE)
    );
    assert_eq!(p.device_id.as_deref(), Some(r));
    assert_eq!(p.ip_addresses().collect::<Vec<_>>(), ["10.0.1.1"]);
    let again = n
        .add_interface_subnet(r, t.inner_sub.id())
        .await
        .unwrap_err();
    assert!(matches!(again, NeutronError::BadRequest(_)), "{again}");
    let direct = n.delete_port(&itf.port_id).await.unwrap_err();
    assert!(matches!(direct, NeutronError::InUse(_)), "{direct}");

    // Interface by port.
    let bridge = n.create_network(&net("bridge")).await.unwrap();
    let bsub = n
        .create_subnet(&subnet(&bridge, "100.0.0.0/24"))
        .await
        .unwrap();
    let bport = n
        .create_port(&Port {
            fixed_ips: Some(vec![FixedIp::address(bsub.id(), "100.0.0.7")]),
            ..port_on(&bridge)
        })
        .await
        .unwrap();
    let itf2 = n.add_interface_port(r, bport.id()).await.unwrap();
    assert_eq!(itf2.port_id, bport.id());
    assert_eq!(
        n.get_port(bport.id())
            .await
            .unwrap()
            .device_owner
            .as_deref(),
        Some(device_owner::ROUTER_INTERFACE)
    );

    // Extra routes: only via a connected nexthop.
    let bad = n
        .set_routes(r, &[Route::new("10.0.9.0/24", "192.168.7.1")])
        .await
        .unwrap_err();
    assert!(matches!(bad, NeutronError::InvalidRoutes(_)), "{bad}");
    let routed = n
        .set_routes(r, &[Route::new("10.0.2.5/32", "100.0.0.9")])
        .await
        .unwrap();
    assert_eq!(
        routed.routes.unwrap(),
        [Route::new("10.0.2.5/32", "100.0.0.9")]
    );
    let needed = n.remove_interface_port(r, bport.id()).await.unwrap_err();
    assert_eq!(kind(&needed), "RouterInterfaceInUseByRoute");
    assert!(matches!(needed, NeutronError::InUse(_)));
    n.set_routes(r, &[]).await.unwrap();
    n.remove_interface_port(r, bport.id()).await.unwrap();
    assert!(n.find::<Port>(bport.id()).await.unwrap().is_none());

    let busy = n.delete_router(r).await.unwrap_err();
    assert_eq!(kind(&busy), "RouterInUse");
    n.remove_interface_subnet(r, t.inner_sub.id())
        .await
        .unwrap();
    let none = n
        .remove_interface_subnet(r, t.inner_sub.id())
        .await
        .unwrap_err();
    assert!(none.is_not_found(), "{none}");
    n.set_gateway(r, None).await.unwrap();
    assert!(n
        .get_router(r)
        .await
        .unwrap()
        .external_gateway_info
        .unwrap()
        .is_none());
    n.delete_router(r).await.unwrap();
    let routers = n.list_routers(&Filters::new()).await.unwrap();
    assert!(routers.is_empty());
}

#[tokio::test]
async fn floating_ips() {
    let c = cloud().await;
    let n = clients(&c).neutron("RegionTwo");
    let t = l3(&n).await;
    let r = t.router.id();
    let vm = n
        .create_port(&Port {
            device_owner: Some("compute:nova".into()),
            ..port_on(&t.inner)
        })
        .await
        .unwrap();

    let fip = n
        .create_floatingip(&FloatingIp {
            floating_network_id: t.ext.id.clone(),
            floating_ip_address: Some("163.3.124.20".into()),
            ..FloatingIp::default()
        })
        .await
        .unwrap();
    assert_eq!(fip.floating_ip_address.as_deref(), Some("163.3.124.20"));
    assert_eq!(fip.port_id, Some(None));
    let twice = n
        .create_floatingip(&FloatingIp {
            floating_network_id: t.ext.id.clone(),
            floating_ip_address: Some("163.3.124.20".into()),
            ..FloatingIp::default()
        })
        .await
        .unwrap_err();
    assert!(matches!(twice, NeutronError::IpAddressInUse(_)), "{twice}");
    let internal = n
        .create_floatingip(&FloatingIp {
            floating_network_id: t.inner.id.clone(),
            ..FloatingIp::default()
        })
        .await
        .unwrap_err();
    assert!(
        matches!(internal, NeutronError::BadRequest(_)),
        "{internal}"
    );

    // Unreachable until the router has both the gateway and the interface.
    let unreachable = n
        .associate_floatingip(fip.id(), vm.id(), None)
        .await
        .unwrap_err();
    assert!(unreachable.is_not_found(), "{unreachable}");
    assert_eq!(kind(&unreachable), "ExternalGatewayForFloatingIPNotFound");
    assert!(unreachable
        .api()
        .unwrap()
        .message
        .contains("is not reachable from subnet"));
    n.set_gateway(
        r,
        Some(ExternalGatewayInfo {
            network_id: t.ext.id().into(),
            ..ExternalGatewayInfo::default()
        }),
    )
    .await
    .unwrap();
    let still = n
        .associate_floatingip(fip.id(), vm.id(), None)
        .await
        .unwrap_err();
    assert!(still.is_not_found());
    n.add_interface_subnet(r, t.inner_sub.id()).await.unwrap();
    let assoc = n
        .associate_floatingip(fip.id(), vm.id(), None)
        .await
        .unwrap();
    assert_eq!(assoc.port_id, Some(Some(vm.id().to_owned())));
    assert_eq!(assoc.router_id, Some(Some(r.to_owned())));
    assert_eq!(
        assoc.fixed_ip_address,
        Some(Some(vm.ip_addresses().next().unwrap().to_owned()))
    );
    let listed = n
        .list_floatingips(&Filters::new().eq("port_id", vm.id()))
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    let needed = n
        .remove_interface_subnet(r, t.inner_sub.id())
        .await
        .unwrap_err();
    assert_eq!(kind(&needed), "RouterInterfaceInUseByFloatingIP");
    let dis = n.disassociate_floatingip(fip.id()).await.unwrap();
    assert_eq!(dis.port_id, Some(None));
    n.delete_floatingip(fip.id()).await.unwrap();
    assert!(n.get_floatingip(fip.id()).await.unwrap_err().is_not_found());
    // The address is free again.
    n.create_floatingip(&FloatingIp {
        floating_network_id: t.ext.id.clone(),
        floating_ip_address: Some("163.3.124.20".into()),
        port_id: Some(Some(vm.id().to_owned())),
        ..FloatingIp::default()
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn security_groups_trunks_qos() {
    let c = cloud().await;
    let n = clients(&c).neutron("RegionOne");

    let sg = n
        .create_security_group(&SecurityGroup {
            name: Some("web".into()),
            ..SecurityGroup::default()
        })
        .await
        .unwrap();
    assert_eq!(sg.security_group_rules.as_ref().unwrap().len(), 2);
    let rule = SecurityGroupRule {
        security_group_id: sg.id.clone(),
        direction: Some("ingress".into()),
        ethertype: Some("IPv4".into()),
        protocol: Some("tcp".into()),
        port_range_min: Some(80),
        port_range_max: Some(80),
        remote_ip_prefix: Some("10.0.0.0/8".into()),
        ..SecurityGroupRule::default()
    };
    let created = n.create_security_group_rule(&rule).await.unwrap();
    let dup = n.create_security_group_rule(&rule).await.unwrap_err();
    assert!(matches!(dup, NeutronError::Conflict(_)) && kind(&dup) == "SecurityGroupRuleExists");
    let rules = n
        .list_security_group_rules(
            &Filters::new()
                .eq("security_group_id", sg.id())
                .eq("direction", "ingress"),
        )
        .await
        .unwrap();
    assert_eq!(rules.len(), 1);
    assert_eq!(
        n.get_security_group(sg.id())
            .await
            .unwrap()
            .security_group_rules
            .unwrap()
            .len(),
        3
    );
    n.delete_security_group_rule(created.id()).await.unwrap();
    let groups = n
        .list_security_groups(&Filters::new().eq("name", "web"))
        .await
        .unwrap();
    assert_eq!(groups.len(), 1);

    let network = n.create_network(&net("t")).await.unwrap();
    n.create_subnet(&subnet(&network, "10.1.0.0/24"))
        .await
        .unwrap();
    let parent = n
        .create_port(&Port {
            security_groups: Some(vec![sg.id().into()]),
            ..port_on(&network)
        })
        .await
        .unwrap();
    let used = n.delete_security_group(sg.id()).await.unwrap_err();
    assert_eq!(kind(&used), "SecurityGroupInUse");
    let sub1 = n.create_port(&port_on(&network)).await.unwrap();
    let sub2 = n.create_port(&port_on(&network)).await.unwrap();
    let trunk = n
        .create_trunk(&Trunk {
            port_id: parent.id.clone(),
            name: Some("trunk1".into()),
            sub_ports: Some(vec![SubPort::vlan(sub1.id(), 101)]),
            ..Trunk::default()
        })
        .await
        .unwrap();
    assert_eq!(trunk.sub_ports.as_ref().unwrap().len(), 1);
    let clash = n
        .add_subports(trunk.id(), &[SubPort::vlan(sub2.id(), 101)])
        .await
        .unwrap_err();
    assert!(matches!(clash, NeutronError::Conflict(_)), "{clash}");
    let t2 = n
        .add_subports(trunk.id(), &[SubPort::vlan(sub2.id(), 102)])
        .await
        .unwrap();
    assert_eq!(t2.sub_ports.unwrap().len(), 2);
    let subs = n.get_subports(trunk.id()).await.unwrap();
    assert_eq!(subs[1], SubPort::vlan(sub2.id(), 102));
    let t3 = n
        .remove_subports(trunk.id(), &[SubPort::vlan(sub1.id(), 101)])
        .await
        .unwrap();
    assert_eq!(t3.sub_ports.unwrap(), [SubPort::vlan(sub2.id(), 102)]);
    let parent_busy = n.delete_port(parent.id()).await.unwrap_err();
    assert!(
        matches!(parent_busy, NeutronError::InUse(_)),
        "{parent_busy}"
    );
    let renamed = n
        .update_trunk(
            trunk.id(),
            &Trunk {
                name: Some("t".into()),
                ..Trunk::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(renamed.name.as_deref(), Some("t"));
    assert_eq!(n.list_trunks(&Filters::new()).await.unwrap().len(), 1);
    n.delete_trunk(trunk.id()).await.unwrap();

    let policy = n
        .create_qos_policy(&QosPolicy {
            name: Some("gold".into()),
            ..QosPolicy::default()
        })
        .await
        .unwrap();
    let bw = n
        .create_qos_rule(
            policy.id(),
            QosRuleKind::BandwidthLimit,
            &QosRule {
                max_kbps: Some(1000),
                max_burst_kbps: Some(100),
                ..QosRule::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(bw.direction.as_deref(), Some("egress"));
    let dscp = n
        .create_qos_rule(
            policy.id(),
            QosRuleKind::DscpMarking,
            &QosRule {
                dscp_mark: Some(13),
                ..QosRule::default()
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(dscp, NeutronError::BadRequest(_)), "{dscp}");
    n.create_qos_rule(
        policy.id(),
        QosRuleKind::DscpMarking,
        &QosRule {
            dscp_mark: Some(26),
            ..QosRule::default()
        },
    )
    .await
    .unwrap();
    let upd = n
        .update_qos_rule(
            policy.id(),
            QosRuleKind::BandwidthLimit,
            bw.id(),
            &QosRule {
                max_kbps: Some(2000),
                ..QosRule::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(upd.max_kbps, Some(2000));
    assert_eq!(
        n.get_qos_rule(policy.id(), QosRuleKind::BandwidthLimit, bw.id())
            .await
            .unwrap()
            .max_kbps,
        Some(2000)
    );
    assert_eq!(
        n.list_qos_rules(policy.id(), QosRuleKind::BandwidthLimit)
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        n.get_qos_policy(policy.id())
            .await
            .unwrap()
            .rules
            .unwrap()
            .len(),
        2
    );
    n.update_port(
        sub1.id(),
        &Port {
            qos_policy_id: Some(Some(policy.id().into())),
            ..Port::default()
        },
    )
    .await
    .unwrap();
    let busy = n.delete_qos_policy(policy.id()).await.unwrap_err();
    assert!(matches!(busy, NeutronError::InUse(_)) && kind(&busy) == "QosPolicyInUse");
    n.update_port(
        sub1.id(),
        &Port {
            qos_policy_id: Some(None),
            ..Port::default()
        },
    )
    .await
    .unwrap();
    n.delete_qos_rule(policy.id(), QosRuleKind::BandwidthLimit, bw.id())
        .await
        .unwrap();
    assert_eq!(n.list_qos_policies(&Filters::new()).await.unwrap().len(), 1);
    n.delete_qos_policy(policy.id()).await.unwrap();
}

#[tokio::test]
async fn server_errors_are_retried_client_errors_are_not() {
    let c = cloud().await;
    let n = clients(&c).neutron("RegionOne");
    let fake = c.neutron("RegionOne");
    n.list_networks(&Filters::new()).await.unwrap();
    fake.clear_requests();

    fake.fail_next(Some("GET"), "/v2.0/networks", 2, 503);
    n.list_networks(&Filters::new()).await.unwrap();
    assert_eq!(fake.request_count("GET", "/v2.0/networks"), 3);

    fake.clear_requests();
    fake.fail_next(None, "/v2.0/networks", 10, 500);
    let e = n.list_networks(&Filters::new()).await.unwrap_err();
    assert!(matches!(e, NeutronError::Server(_)), "{e}");
    assert_eq!(e.status(), Some(500));
    assert_eq!(
        fake.request_count("GET", "/v2.0/networks"),
        3,
        "1 + 2 retries"
    );
    fake.clear_faults();

    fake.clear_requests();
    let e = n.get_network("no-such-net").await.unwrap_err();
    assert!(e.is_not_found());
    assert_eq!(fake.request_count("GET", "/v2.0/networks/no-such-net"), 1);
    let e = n.create_subnet(&Subnet::default()).await.unwrap_err();
    assert!(matches!(e, NeutronError::BadRequest(_)));
    assert_eq!(fake.request_count("POST", "/v2.0/subnets"), 1);
}

#[tokio::test]
async fn timeouts_are_retried() {
    let c = cloud().await;
    let mut cfg = config(&c, false);
    cfg.timeout = Duration::from_millis(500);
    let cache = Arc::new(MemoryEndpointCache::new());
    cache.set("RegionOne", "neutron", &c.neutron("RegionOne").url());
    let n = Clients::new(cfg, cache).unwrap().neutron("RegionOne");
    let fake = c.neutron("RegionOne");
    n.list_routers(&Filters::new()).await.unwrap();
    fake.clear_requests();
    fake.delay_next(Some("GET"), "/v2.0/routers", 1, Duration::from_secs(3));
    n.list_routers(&Filters::new()).await.unwrap();
    assert_eq!(fake.request_count("GET", "/v2.0/routers"), 2);

    fake.clear_requests();
    fake.delay_next(Some("GET"), "/v2.0/routers", 3, Duration::from_secs(3));
    let e = n.list_routers(&Filters::new()).await.unwrap_err();
    assert!(matches!(e, NeutronError::Timeout { .. }), "{e}");
    assert_eq!(fake.request_count("GET", "/v2.0/routers"), 3);
}

/// A create the server holds past the client's timeout still takes effect
/// (found by scripts/chaos: a region holding requests got two copies of
/// a network); it is not sent again, and says its outcome is unknown.
#[tokio::test]
async fn a_create_without_an_answer_is_not_sent_again() {
    let c = cloud().await;
    let mut cfg = config(&c, true);
    cfg.timeout = Duration::from_millis(500);
    let cache = Arc::new(MemoryEndpointCache::new());
    cache.set("RegionOne", "neutron", &c.neutron("RegionOne").url());
    let n = Clients::new(cfg, cache).unwrap().neutron("RegionOne");
    let fake = c.neutron("RegionOne");
    n.list_networks(&Filters::new()).await.unwrap();
    fake.clear_requests();
    fake.delay_next(
        Some("POST"),
        "/v2.0/networks",
        1,
        Duration::from_millis(1500),
    );
    let body = Network {
        name: Some("held".into()),
        ..Network::default()
    };
    let e = n.create_network(&body).await.unwrap_err();
    assert!(e.outcome_unknown(), "{e}");
    assert!(e.to_string().contains("may have taken effect"), "{e}");
    assert_eq!(fake.request_count("POST", "/v2.0/networks"), 1);
    // Nor sent again after reading the catalog (auto refresh is on).
    assert_eq!(c.keystone().request_count("GET", "/v3/auth/catalog"), 0);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        fake.dump("networks").len(),
        1,
        "the held create took effect"
    );

    // A create that never left (connection refused) is retried as before.
    fake.set_down(true).await.unwrap();
    let e = n.create_network(&body).await.unwrap_err();
    assert!(!e.outcome_unknown(), "{e}");
    assert!(e.is_connection_failure(), "{e}");
}

#[tokio::test]
async fn connection_refused_is_retried_then_unreachable() {
    let c = cloud().await;
    let cache = Arc::new(MemoryEndpointCache::new());
    cache.set("RegionOne", "neutron", &c.neutron("RegionOne").url());
    let clients = Clients::new(config(&c, false), cache).unwrap();
    let n = clients.neutron("RegionOne");
    n.list_networks(&Filters::new()).await.unwrap();
    let fake = c.neutron("RegionOne");
    fake.set_down(true).await.unwrap();
    let e = n.list_networks(&Filters::new()).await.unwrap_err();
    assert!(matches!(e, NeutronError::Unreachable { .. }), "{e}");
    assert!(e.is_connection_failure());
    // Without auto refresh, the catalog is never read.
    assert_eq!(c.keystone().request_count("GET", "/v3/auth/catalog"), 0);
    fake.set_down(false).await.unwrap();
    fake.clear_requests();
    n.list_networks(&Filters::new()).await.unwrap();
    assert_eq!(fake.request_count("GET", "/v2.0/networks"), 1);
}

#[tokio::test]
async fn unknown_region_is_endpoint_not_found() {
    let c = cloud().await;
    let e = clients(&c)
        .neutron("RegionNine")
        .list_networks(&Filters::new())
        .await
        .unwrap_err();
    assert_eq!(
        e,
        NeutronError::EndpointNotFound {
            region: "RegionNine".into()
        }
    );
    assert_eq!(c.keystone().request_count("GET", "/v3/auth/catalog"), 1);
    let cache = Arc::new(MemoryEndpointCache::new());
    let e = Clients::new(config(&c, false), cache)
        .unwrap()
        .neutron("RegionOne")
        .list_networks(&Filters::new())
        .await
        .unwrap_err();
    assert!(matches!(e, NeutronError::EndpointNotFound { .. }), "{e}");
    assert_eq!(
        c.keystone().request_count("GET", "/v3/auth/catalog"),
        1,
        "without auto refresh the catalog is not read"
    );
}

#[tokio::test]
async fn one_token_is_shared_and_reused() {
    let c = cloud().await;
    let cl = clients(&c);
    let calls = (0..8).map(|i| {
        let n = cl.neutron(if i % 2 == 0 { "RegionOne" } else { "RegionTwo" });
        async move { n.list_networks(&Filters::new()).await }
    });
    for r in join_all(calls).await {
        r.unwrap();
    }
    assert_eq!(c.keystone().request_count("POST", TOKENS), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_token_means_exactly_one_reauthentication() {
    let c = cloud().await;
    let cl = clients(&c);
    let n = cl.neutron("RegionOne");
    n.list_networks(&Filters::new()).await.unwrap();
    assert_eq!(c.keystone().request_count("POST", TOKENS), 1);
    c.keystone().revoke_user_tokens(&c.admin_user_id);
    let calls = (0..8).map(|_| {
        let n = n.clone();
        async move { n.list_ports(&Filters::new()).await }
    });
    for r in join_all(calls).await {
        r.unwrap();
    }
    assert_eq!(c.keystone().request_count("POST", TOKENS), 2);
    let unauthorized = c
        .neutron("RegionOne")
        .requests()
        .iter()
        .filter(|r| r.path == "/v2.0/ports")
        .count();
    assert!(unauthorized >= 9, "8 answered calls plus at least one 401");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_token_means_exactly_one_reauthentication() {
    let c = cloud().await;
    let cl = clients(&c);
    let n = cl.neutron("RegionTwo");
    n.list_networks(&Filters::new()).await.unwrap();
    // Keystone's clock jumps past the token's expiry; ours has not.
    c.keystone().set_clock_skew(chrono::TimeDelta::hours(2));
    let calls = (0..6).map(|_| {
        let n = n.clone();
        async move { n.list_subnets(&Filters::new()).await }
    });
    for r in join_all(calls).await {
        r.unwrap();
    }
    assert_eq!(c.keystone().request_count("POST", TOKENS), 2);
}

/// Branches of one job asking the same GET at once (as router_setup's
/// concurrent set-up does): one request reaches the region, the other
/// branch gets its answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jobs_branches_reading_the_same_at_once_send_it_once() {
    use tricircle_openstack::calls::JobCalls;
    let c = cloud().await;
    let n = clients(&c).neutron("RegionOne");
    let made = n.create_network(&net("shared")).await.unwrap();
    let id = made.id.clone().unwrap();
    c.neutron("RegionOne").clear_requests();
    // Held long enough that both branches ask before the first answer.
    c.neutron("RegionOne")
        .delay_next(None, "/v2.0/networks", 1, Duration::from_millis(200));
    let job = JobCalls::new("j1", "router_setup");
    let (a, b) = job
        .scope(async { tokio::join!(n.get_network(&id), n.get_network(&id)) })
        .await;
    assert_eq!(a.unwrap().id, b.unwrap().id);
    let gets = c
        .neutron("RegionOne")
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET" && r.path.ends_with(&id))
        .count();
    assert_eq!(gets, 1, "{:?}", c.neutron("RegionOne").requests());
    assert_eq!(job.tally().reads, 1);
    assert_eq!(job.tally().cached, 1);
}

/// Jobs running at once (a router's pod jobs and its configure_route) share
/// their reads: a GET, or a narrower list of what a whole list holds, sent
/// by one after another job started serves that job too, in flight or
/// answered. A job that started after the read was sent, or wrote to the
/// region since, reads for itself: it must see what happened before it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_running_at_once_share_reads_sent_after_they_started() {
    use tricircle_openstack::calls::JobCalls;
    let c = cloud().await;
    let n = clients(&c).neutron("RegionOne");
    let made = n.create_network(&net("shared")).await.unwrap();
    let id = made.id.clone().unwrap();
    let other = n.create_network(&net("other")).await.unwrap();
    let region = c.neutron("RegionOne");
    region.clear_requests();
    let gets = |suffix: &str| {
        region
            .requests()
            .into_iter()
            .filter(|r| r.method == "GET" && r.path.ends_with(suffix))
            .count()
    };
    region.delay_next(None, "/v2.0/networks", 1, Duration::from_millis(200));
    let (j1, j2) = (
        JobCalls::new("j1", "router_setup"),
        JobCalls::new("j2", "configure_route"),
    );
    // j2 asks while j1's read is on its way.
    let (a, b) = tokio::join!(j1.scope(n.get_network(&id)), async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        j2.scope(n.get_network(&id)).await
    });
    assert_eq!(a.unwrap().id, b.unwrap().id);
    assert_eq!(gets(&id), 1, "{:?}", region.requests());
    assert_eq!((j2.tally().reads, j2.tally().cached), (0, 1));
    // A whole list j1 sent answers j2's narrower one, after it came back.
    let all = j1
        .scope(n.list_networks(&Filters::new().eq("shared", false)))
        .await
        .unwrap();
    assert!(all.len() >= 2, "{all:?}");
    let narrow = Filters::new().eq("shared", false).eq("id", &id);
    let got = j2.scope(n.list_networks(&narrow)).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(gets("/v2.0/networks"), 1, "{:?}", region.requests());
    // A job started after those reads were sent reads again.
    let j3 = JobCalls::new("j3", "router_setup");
    j3.scope(n.get_network(&id)).await.unwrap();
    assert_eq!(gets(&id), 2);
    // So does one that wrote to the region since.
    let upd = Network {
        name: Some("renamed".into()),
        ..Network::default()
    };
    let j4 = JobCalls::new("j4", "router_setup");
    tokio::time::sleep(Duration::from_millis(5)).await;
    let j5 = JobCalls::new("j5", "router_setup");
    j5.scope(n.get_network(other.id())).await.unwrap();
    j4.scope(n.update_network(other.id(), &upd)).await.unwrap();
    let renamed = j4.scope(n.get_network(other.id())).await.unwrap();
    assert_eq!(renamed.name.as_deref(), Some("renamed"));
    assert_eq!(gets(other.id()), 2, "{:?}", region.requests());
    // Outside a job nothing is shared.
    n.get_network(&id).await.unwrap();
    assert_eq!(gets(&id), 3);
}

/// A job's calls carry its id as the global request id each region's
/// Neutron logs (`req-<uuid>`, the only form oslo.middleware accepts);
/// calls outside a job, and jobs whose id is no UUID, carry none.
#[tokio::test]
async fn a_jobs_calls_carry_its_id_as_the_global_request_id() {
    use tricircle_openstack::calls::JobCalls;
    let c = cloud().await;
    let n = clients(&c).neutron("RegionOne");
    let job_id = "6ccc5f96-4fcf-4d86-a10f-e2a27912dec1";
    let job = JobCalls::new(job_id, "router_setup");
    job.scope(n.create_network(&net("in-a-job"))).await.unwrap();
    n.create_network(&net("no-job")).await.unwrap();
    JobCalls::new("j1", "router_setup")
        .scope(n.create_network(&net("not-a-uuid")))
        .await
        .unwrap();
    let ids: Vec<Option<String>> = c
        .neutron("RegionOne")
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST")
        .map(|r| {
            r.headers
                .iter()
                .find(|(k, _)| k == "x-openstack-request-id")
                .map(|(_, v)| v.clone())
        })
        .collect();
    assert_eq!(ids, vec![Some(format!("req-{job_id}")), None, None]);
}

/// Changes of one router go to Neutron one at a time (two at once collide
/// in its transaction and the loser is redone after a pause): with a routes
/// PUT on r1 held, a gateway PUT on r1 waits, one on r2 does not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_of_one_router_are_sent_one_at_a_time() {
    use tricircle_openstack::neutron::Router;
    let c = cloud().await;
    let n = clients(&c).neutron("RegionOne");
    let mk = |name: &str| Router {
        name: Some(name.into()),
        ..Router::default()
    };
    let r1 = n.create_router(&mk("r1")).await.unwrap().id.unwrap();
    let r2 = n.create_router(&mk("r2")).await.unwrap().id.unwrap();
    let fake = c.neutron("RegionOne");
    let puts = |r: &str| fake.request_count("PUT", &format!("/v2.0/routers/{r}"));
    let held = fake.hold_next(Some("PUT"), &format!("/v2.0/routers/{r1}"), 1);
    let first = n.set_routes(&r1, &[]);
    let meanwhile = async {
        // The first PUT reaches Neutron and is held there.
        for _ in 0..1000 {
            if puts(&r1) == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(puts(&r1), 1);
        // Another router's change is not held up.
        n.set_gateway(&r2, None).await.unwrap();
        assert_eq!(puts(&r2), 1);
        // The same router's next change waits for the first.
        let second = n.set_gateway(&r1, None);
        tokio::pin!(second);
        for _ in 0..20 {
            assert!(futures_util::poll!(second.as_mut()).is_pending());
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(
            puts(&r1),
            1,
            "the second change was sent while the first was held"
        );
        held.release();
        second.await.unwrap();
    };
    let (first, ()) = tokio::join!(first, meanwhile);
    first.unwrap();
    assert_eq!(puts(&r1), 2);
}
