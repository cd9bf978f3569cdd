//! The job types Tricircle knows, with the resource fields each one needs.
//!
//! A job's `resource_id` column is the values of its resource fields joined
//! by `#` in the order listed here; the API splits it back into a `resource`
//! object. The order and names are part of the wire and database contract.

use std::fmt;
use std::str::FromStr;

use crate::ResourceType;

/// A resource field of a job: `routed` names the routing-table resource type
/// when the field is the id of a top resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResourceField {
    pub name: &'static str,
    pub routed: Option<ResourceType>,
}

const fn f(name: &'static str) -> ResourceField {
    ResourceField { name, routed: None }
}

const fn r(routed: ResourceType, name: &'static str) -> ResourceField {
    ResourceField {
        name,
        routed: Some(routed),
    }
}

/// One job type of the catalogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum JobType {
    ConfigureRoute,
    RouterSetup,
    PortDelete,
    SegRuleSetup,
    NetworkUpdate,
    TrunkSync,
    SubnetUpdate,
    ShadowPortSetup,
    SfcSync,
    ResourceRecycle,
    QosCreate,
    QosUpdate,
    QosDelete,
    SyncQosRule,
    // xjob's own, for stock mode (doc/design/stock-mode-events.md): not in
    // the reference's catalogue, never accepted by the API nor the bus.
    NetworkSetup,
    NetworkCleanup,
    RouterCleanup,
    PortMirror,
}

/// What the catalogue says of a job type.
struct Spec {
    /// Stored in `async_jobs.type`.
    name: &'static str,
    /// The RPC method xjob exposes for it (`method` in the AMQP message).
    rpc_method: &'static str,
    /// Fields in `resource_id` order.
    fields: &'static [ResourceField],
    /// The field checked against the routing table (the resource must
    /// belong to the job's project).
    primary: &'static str,
}

use ResourceType as R;

/// The catalogue, in [`JobType`] declaration order.
const SPECS: [Spec; 18] = [
    // JobType::ConfigureRoute
    Spec {
        name: "configure_route",
        rpc_method: "configure_route",
        fields: &[r(R::Router, "router_id")],
        primary: "router_id",
    },
    // JobType::RouterSetup
    Spec {
        name: "router_setup",
        rpc_method: "setup_bottom_router",
        fields: &[
            f("pod_id"),
            r(R::Router, "router_id"),
            r(R::Network, "network_id"),
        ],
        primary: "router_id",
    },
    // JobType::PortDelete
    Spec {
        name: "port_delete",
        rpc_method: "delete_server_port",
        fields: &[f("pod_id"), r(R::Port, "port_id")],
        primary: "port_id",
    },
    // JobType::SegRuleSetup
    Spec {
        name: "seg_rule_setup",
        rpc_method: "configure_security_group_rules",
        fields: &[f("project_id")],
        primary: "project_id",
    },
    // JobType::NetworkUpdate
    Spec {
        name: "update_network",
        rpc_method: "update_network",
        fields: &[f("pod_id"), r(R::Network, "network_id")],
        primary: "network_id",
    },
    // JobType::TrunkSync
    Spec {
        name: "trunk_sync",
        rpc_method: "sync_trunk",
        fields: &[f("pod_id"), r(R::Trunk, "trunk_id")],
        primary: "trunk_id",
    },
    // JobType::SubnetUpdate
    Spec {
        name: "subnet_update",
        rpc_method: "update_subnet",
        fields: &[f("pod_id"), r(R::Subnet, "subnet_id")],
        primary: "subnet_id",
    },
    // JobType::ShadowPortSetup
    Spec {
        name: "shadow_port_setup",
        rpc_method: "setup_shadow_ports",
        fields: &[f("pod_id"), r(R::Network, "network_id")],
        primary: "network_id",
    },
    // JobType::SfcSync
    Spec {
        name: "sfc_sync",
        rpc_method: "sync_service_function_chain",
        fields: &[
            f("pod_id"),
            r(R::PortChain, "portchain_id"),
            r(R::Network, "network_id"),
        ],
        primary: "portchain_id",
    },
    // JobType::ResourceRecycle
    Spec {
        name: "resource_recycle",
        rpc_method: "recycle_resources",
        fields: &[f("project_id")],
        primary: "project_id",
    },
    // JobType::QosCreate
    Spec {
        name: "qos_create",
        rpc_method: "create_qos_policy",
        fields: &[
            f("pod_id"),
            r(R::QosPolicy, "policy_id"),
            f("res_type"),
            f("res_id"),
        ],
        primary: "policy_id",
    },
    // JobType::QosUpdate
    Spec {
        name: "qos_update",
        rpc_method: "update_qos_policy",
        fields: &[f("pod_id"), r(R::QosPolicy, "policy_id")],
        primary: "policy_id",
    },
    // JobType::QosDelete
    Spec {
        name: "qos_delete",
        rpc_method: "delete_qos_policy",
        fields: &[f("pod_id"), r(R::QosPolicy, "policy_id")],
        primary: "policy_id",
    },
    // JobType::SyncQosRule
    Spec {
        name: "sync_qos_rule",
        rpc_method: "sync_qos_policy_rules",
        fields: &[f("rule_id"), r(R::QosPolicy, "policy_id")],
        primary: "policy_id",
    },
    // JobType::NetworkSetup: the pod copies of a top network and its
    // subnets (made ahead of VMs, address pools sliced per pod); copies of
    // subnets gone at the top are removed.
    Spec {
        name: "network_setup",
        rpc_method: "network_setup",
        fields: &[f("pod_id"), r(R::Network, "network_id")],
        primary: "network_id",
    },
    // JobType::NetworkCleanup: a network deleted at the top: its copies in
    // every pod, their routings and xjob's helper ports in the central
    // region go.
    Spec {
        name: "network_cleanup",
        rpc_method: "network_cleanup",
        fields: &[r(R::Network, "network_id")],
        primary: "network_id",
    },
    // JobType::RouterCleanup: a router deleted at the top: its bottom
    // routers (east-west and north-south) in every pod, their interfaces,
    // gateways, bridge ports and routings go.
    Spec {
        name: "router_cleanup",
        rpc_method: "router_cleanup",
        fields: &[r(R::Router, "router_id")],
        primary: "router_id",
    },
    // JobType::PortMirror: a VM port in a pod (by its bottom id) mirrored
    // as a port of the central region, or the mirror removed when the pod
    // port is gone.
    Spec {
        name: "port_mirror",
        rpc_method: "port_mirror",
        fields: &[f("pod_id"), f("port_id")],
        primary: "port_id",
    },
];

impl JobType {
    /// The reference's job types, in the order the schemas endpoint lists
    /// them: the ones the API accepts and the bus serves.
    pub const ALL: [JobType; 14] = [
        JobType::ConfigureRoute,
        JobType::RouterSetup,
        JobType::PortDelete,
        JobType::SegRuleSetup,
        JobType::NetworkUpdate,
        JobType::TrunkSync,
        JobType::SubnetUpdate,
        JobType::ShadowPortSetup,
        JobType::SfcSync,
        JobType::ResourceRecycle,
        JobType::QosCreate,
        JobType::QosUpdate,
        JobType::QosDelete,
        JobType::SyncQosRule,
    ];

    /// xjob's own job types for stock mode: recorded by the event path and
    /// the reconciliation sweep only.
    pub const STOCK: [JobType; 4] = [
        JobType::NetworkSetup,
        JobType::NetworkCleanup,
        JobType::RouterCleanup,
        JobType::PortMirror,
    ];

    /// Every job type xjob runs: the reference's and its own.
    pub fn every() -> impl Iterator<Item = JobType> {
        JobType::ALL.into_iter().chain(JobType::STOCK)
    }

    /// One of the reference's job types (the API and the bus accept these
    /// only).
    pub fn is_reference(self) -> bool {
        JobType::ALL.contains(&self)
    }

    /// The value stored in `async_jobs.type`.
    pub const fn name(self) -> &'static str {
        SPECS[self as usize].name
    }

    /// The RPC method xjob serves it under (`setup_bottom_router`...).
    pub const fn rpc_method(self) -> &'static str {
        SPECS[self as usize].rpc_method
    }

    /// Resource fields, in `resource_id` order.
    pub const fn fields(self) -> &'static [ResourceField] {
        SPECS[self as usize].fields
    }

    /// The field checked against the routing table.
    pub const fn primary(self) -> &'static str {
        SPECS[self as usize].primary
    }

    /// The job type served under an RPC method.
    pub fn by_rpc_method(method: &str) -> Option<JobType> {
        JobType::ALL.into_iter().find(|t| t.rpc_method() == method)
    }

    /// Names of the resource fields, in `resource_id` order.
    pub fn field_names(self) -> impl Iterator<Item = &'static str> {
        self.fields().iter().map(|f| f.name)
    }

    /// The routing-table resource type of the primary field, if it is routed.
    pub fn primary_routed(self) -> Option<ResourceType> {
        self.fields()
            .iter()
            .find(|f| f.name == self.primary())
            .and_then(|f| f.routed)
    }

    /// Join resource values into the stored `resource_id`.
    pub fn resource_id<'a>(self, mut value_of: impl FnMut(&str) -> &'a str) -> String {
        self.field_names()
            .map(&mut value_of)
            .collect::<Vec<_>>()
            .join("#")
    }

    /// Split a stored `resource_id` back into `(field, value)` pairs. Extra
    /// `#`-separated parts are dropped and missing ones omitted, like a zip.
    pub fn split_resource_id(
        self,
        resource_id: &str,
    ) -> impl Iterator<Item = (&'static str, &str)> {
        self.field_names().zip(resource_id.split('#'))
    }
}

impl fmt::Display for JobType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A string that is no job type of the catalogue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownJobType(pub String);

impl fmt::Display for UnknownJobType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown job type {:?}", self.0)
    }
}

impl std::error::Error for UnknownJobType {}

impl FromStr for JobType {
    type Err = UnknownJobType;

    /// The job type of a stored name (`router_setup`...), xjob's own
    /// included.
    fn from_str(s: &str) -> Result<JobType, UnknownJobType> {
        JobType::every()
            .find(|t| t.name() == s)
            .ok_or_else(|| UnknownJobType(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_id_round_trips_in_field_order() {
        let t = JobType::RouterSetup;
        let id = t.resource_id(|f| match f {
            "pod_id" => "p",
            "router_id" => "r",
            "network_id" => "n",
            _ => unreachable!(),
        });
        assert_eq!(id, "p#r#n");
        let parts: Vec<_> = t.split_resource_id(&id).collect();
        assert_eq!(
            parts,
            vec![("pod_id", "p"), ("router_id", "r"), ("network_id", "n")]
        );
    }

    #[test]
    fn primary_routed_types_match_the_reference() {
        assert_eq!(
            JobType::ConfigureRoute.primary_routed(),
            Some(ResourceType::Router)
        );
        assert_eq!(JobType::SegRuleSetup.primary_routed(), None);
        assert_eq!(
            JobType::SfcSync.primary_routed(),
            Some(ResourceType::PortChain)
        );
        assert_eq!(
            JobType::by_rpc_method("setup_bottom_router"),
            Some(JobType::RouterSetup)
        );
        assert_eq!(JobType::by_rpc_method("router_setup"), None);
    }

    #[test]
    fn the_table_follows_the_declaration_order() {
        let names: Vec<_> = JobType::ALL.iter().map(|t| t.name()).collect();
        assert_eq!(names[0], "configure_route");
        assert_eq!(names[4], "update_network");
        assert_eq!(JobType::SyncQosRule.rpc_method(), "sync_qos_policy_rules");
        assert_eq!(JobType::SfcSync.primary(), "portchain_id");
    }

    #[test]
    fn names_round_trip_and_are_unique() {
        for t in JobType::ALL {
            assert_eq!(t.name().parse::<JobType>(), Ok(t));
            assert!(t.field_names().any(|n| n == t.primary()), "{t}");
        }
        let mut methods: Vec<_> = JobType::ALL.iter().map(|t| t.rpc_method()).collect();
        methods.sort_unstable();
        methods.dedup();
        assert_eq!(methods.len(), JobType::ALL.len());
        assert!("no_such_job".parse::<JobType>().is_err());
    }

    #[test]
    fn xjobs_own_types_parse_but_are_not_the_references() {
        for t in JobType::STOCK {
            assert_eq!(t.name().parse::<JobType>(), Ok(t));
            assert!(!t.is_reference());
            assert_eq!(JobType::by_rpc_method(t.rpc_method()), None);
        }
        assert!(JobType::RouterSetup.is_reference());
        assert_eq!(JobType::every().count(), 18);
    }
}
