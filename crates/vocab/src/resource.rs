//! Routing-table resource types and where Neutron keeps each.

use std::fmt;
use std::str::FromStr;

/// A `resource_type` of the routing table (the reference's `RT_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ResourceType {
    Network,
    /// A pod's copy of a network it only reaches through a shadow port.
    ShadowNetwork,
    Subnet,
    ShadowSubnet,
    Port,
    /// A copy of a VM port in a pod other than the VM's.
    ShadowPort,
    Router,
    /// The north-south router of a pod hosting an external network.
    NsRouter,
    Subnetpool,
    PortPair,
    PortPairGroup,
    FlowClassifier,
    PortChain,
    SecurityGroup,
    Trunk,
    QosPolicy,
}

/// Where Neutron serves a resource: its collection under `/v2.0/` and its
/// body keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NeutronCollection {
    /// Body key of one, e.g. `network`.
    pub singular: &'static str,
    /// Body key of many, e.g. `networks`.
    pub plural: &'static str,
    /// Collection path under `/v2.0/`, e.g. `networks`, `qos/policies`.
    pub path: &'static str,
}

impl NeutronCollection {
    pub const fn new(
        singular: &'static str,
        plural: &'static str,
        path: &'static str,
    ) -> NeutronCollection {
        NeutronCollection {
            singular,
            plural,
            path,
        }
    }
}

impl ResourceType {
    /// Every resource type.
    pub const ALL: [ResourceType; 16] = [
        ResourceType::Network,
        ResourceType::ShadowNetwork,
        ResourceType::Subnet,
        ResourceType::ShadowSubnet,
        ResourceType::Port,
        ResourceType::ShadowPort,
        ResourceType::Router,
        ResourceType::NsRouter,
        ResourceType::Subnetpool,
        ResourceType::PortPair,
        ResourceType::PortPairGroup,
        ResourceType::FlowClassifier,
        ResourceType::PortChain,
        ResourceType::SecurityGroup,
        ResourceType::Trunk,
        ResourceType::QosPolicy,
    ];

    /// The types an operator may write through `POST /v1.0/routings`, as
    /// the reference's routing controller accepts them.
    pub const ROUTABLE_BY_API: [ResourceType; 11] = [
        ResourceType::Network,
        ResourceType::Subnet,
        ResourceType::Port,
        ResourceType::Router,
        ResourceType::SecurityGroup,
        ResourceType::Trunk,
        ResourceType::PortPair,
        ResourceType::PortPairGroup,
        ResourceType::FlowClassifier,
        ResourceType::PortChain,
        ResourceType::QosPolicy,
    ];

    /// The value stored in `resource_routings.resource_type`.
    pub const fn as_str(self) -> &'static str {
        match self {
            ResourceType::Network => "network",
            ResourceType::ShadowNetwork => "shadow_network",
            ResourceType::Subnet => "subnet",
            ResourceType::ShadowSubnet => "shadow_subnet",
            ResourceType::Port => "port",
            ResourceType::ShadowPort => "shadow_port",
            ResourceType::Router => "router",
            ResourceType::NsRouter => "ns_router",
            ResourceType::Subnetpool => "subnetpool",
            ResourceType::PortPair => "port_pair",
            ResourceType::PortPairGroup => "port_pair_group",
            ResourceType::FlowClassifier => "flow_classifier",
            ResourceType::PortChain => "port_chain",
            ResourceType::SecurityGroup => "security_group",
            ResourceType::Trunk => "trunk",
            ResourceType::QosPolicy => "qos_policy",
        }
    }

    /// Whether `POST /v1.0/routings` accepts this type.
    pub fn routable_by_api(self) -> bool {
        ResourceType::ROUTABLE_BY_API.contains(&self)
    }

    /// Where Neutron serves resources of this type; a shadow copy or a
    /// north-south router is an ordinary resource of its kind in the pod.
    pub const fn neutron(self) -> NeutronCollection {
        use NeutronCollection as C;
        match self {
            ResourceType::Network | ResourceType::ShadowNetwork => {
                C::new("network", "networks", "networks")
            }
            ResourceType::Subnet | ResourceType::ShadowSubnet => {
                C::new("subnet", "subnets", "subnets")
            }
            ResourceType::Port | ResourceType::ShadowPort => C::new("port", "ports", "ports"),
            ResourceType::Router | ResourceType::NsRouter => C::new("router", "routers", "routers"),
            ResourceType::Subnetpool => C::new("subnetpool", "subnetpools", "subnetpools"),
            ResourceType::PortPair => C::new("port_pair", "port_pairs", "sfc/port_pairs"),
            ResourceType::PortPairGroup => C::new(
                "port_pair_group",
                "port_pair_groups",
                "sfc/port_pair_groups",
            ),
            ResourceType::FlowClassifier => C::new(
                "flow_classifier",
                "flow_classifiers",
                "sfc/flow_classifiers",
            ),
            ResourceType::PortChain => C::new("port_chain", "port_chains", "sfc/port_chains"),
            ResourceType::SecurityGroup => {
                C::new("security_group", "security_groups", "security-groups")
            }
            ResourceType::Trunk => C::new("trunk", "trunks", "trunks"),
            ResourceType::QosPolicy => C::new("policy", "policies", "qos/policies"),
        }
    }
}

impl fmt::Display for ResourceType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that is no routing-table resource type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownResourceType(pub String);

impl fmt::Display for UnknownResourceType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown resource type {:?}", self.0)
    }
}

impl std::error::Error for UnknownResourceType {}

impl FromStr for ResourceType {
    type Err = UnknownResourceType;

    fn from_str(s: &str) -> Result<ResourceType, UnknownResourceType> {
        ResourceType::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| UnknownResourceType(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for t in ResourceType::ALL {
            assert_eq!(t.as_str().parse::<ResourceType>(), Ok(t));
        }
        assert!("shadow_router".parse::<ResourceType>().is_err());
    }

    #[test]
    fn api_accepts_the_references_types_only() {
        let names: Vec<_> = ResourceType::ALL
            .into_iter()
            .filter(|t| t.routable_by_api())
            .map(ResourceType::as_str)
            .collect();
        assert_eq!(
            names,
            [
                "network",
                "subnet",
                "port",
                "router",
                "port_pair",
                "port_pair_group",
                "flow_classifier",
                "port_chain",
                "security_group",
                "trunk",
                "qos_policy"
            ]
        );
    }

    #[test]
    fn neutron_collections() {
        assert_eq!(ResourceType::QosPolicy.neutron().path, "qos/policies");
        assert_eq!(ResourceType::QosPolicy.neutron().singular, "policy");
        assert_eq!(
            ResourceType::SecurityGroup.neutron().path,
            "security-groups"
        );
        assert_eq!(
            ResourceType::ShadowPort.neutron(),
            ResourceType::Port.neutron()
        );
        assert_eq!(ResourceType::PortChain.neutron().plural, "port_chains");
    }
}
