//! The job types Tricircle knows, with the resource fields each one needs.
//!
//! A job's `resource_id` column is the values of its resource fields joined by
//! `#` in the order listed here; the API splits it back into a `resource`
//! object. The order and names are part of the wire and database contract.

/// Job status values as stored in `async_jobs.status`. They sort so that
/// `MIN(status)` picks the most significant state of a group.
pub mod status {
    pub const NEW: &str = "3_New";
    pub const RUNNING: &str = "2_Running";
    pub const SUCCESS: &str = "1_Success";
    pub const FAIL: &str = "0_Fail";

    /// The status as the API shows it.
    pub fn display(stored: &str) -> &str {
        match stored {
            NEW => "NEW",
            RUNNING => "RUNNING",
            SUCCESS => "SUCCESS",
            FAIL => "FAIL",
            other => other,
        }
    }

    /// Map a user-supplied status filter (`fail`, `NEW`...) to the stored
    /// value; anything else is passed through unchanged, as the reference does.
    pub fn from_filter(input: &str) -> String {
        match input.to_ascii_lowercase().as_str() {
            "fail" => FAIL.to_owned(),
            "success" => SUCCESS.to_owned(),
            "running" => RUNNING.to_owned(),
            "new" => NEW.to_owned(),
            _ => input.to_owned(),
        }
    }
}

/// A resource field of a job: `routed` names the routing-table resource type
/// when the field is the id of a top resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResourceField {
    pub name: &'static str,
    pub routed: Option<&'static str>,
}

/// One job type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobType {
    /// Stored in `async_jobs.type`.
    pub name: &'static str,
    /// The RPC method xjob exposes for it (`method` in the AMQP message).
    pub handler: &'static str,
    /// Fields in `resource_id` order.
    pub fields: &'static [ResourceField],
    /// The field checked against the routing table (resource must belong to
    /// the job's project), if any.
    pub primary: &'static str,
}

const fn f(name: &'static str) -> ResourceField {
    ResourceField { name, routed: None }
}

const fn r(routed: &'static str, name: &'static str) -> ResourceField {
    ResourceField {
        name,
        routed: Some(routed),
    }
}

pub const CONFIGURE_ROUTE: &str = "configure_route";
pub const ROUTER_SETUP: &str = "router_setup";
pub const PORT_DELETE: &str = "port_delete";
pub const SEG_RULE_SETUP: &str = "seg_rule_setup";
pub const NETWORK_UPDATE: &str = "update_network";
pub const SUBNET_UPDATE: &str = "subnet_update";
pub const SHADOW_PORT_SETUP: &str = "shadow_port_setup";
pub const TRUNK_SYNC: &str = "trunk_sync";
pub const SFC_SYNC: &str = "sfc_sync";
pub const RESOURCE_RECYCLE: &str = "resource_recycle";
pub const QOS_CREATE: &str = "qos_create";
pub const QOS_UPDATE: &str = "qos_update";
pub const QOS_DELETE: &str = "qos_delete";
pub const SYNC_QOS_RULE: &str = "sync_qos_rule";

/// Every job type, in the order the schemas endpoint lists them.
pub static JOB_TYPES: &[JobType] = &[
    JobType {
        name: CONFIGURE_ROUTE,
        handler: "configure_route",
        fields: &[r("router", "router_id")],
        primary: "router_id",
    },
    JobType {
        name: ROUTER_SETUP,
        handler: "setup_bottom_router",
        fields: &[
            f("pod_id"),
            r("router", "router_id"),
            r("network", "network_id"),
        ],
        primary: "router_id",
    },
    JobType {
        name: PORT_DELETE,
        handler: "delete_server_port",
        fields: &[f("pod_id"), r("port", "port_id")],
        primary: "port_id",
    },
    JobType {
        name: SEG_RULE_SETUP,
        handler: "configure_security_group_rules",
        fields: &[f("project_id")],
        primary: "project_id",
    },
    JobType {
        name: NETWORK_UPDATE,
        handler: "update_network",
        fields: &[f("pod_id"), r("network", "network_id")],
        primary: "network_id",
    },
    JobType {
        name: TRUNK_SYNC,
        handler: "sync_trunk",
        fields: &[f("pod_id"), r("trunk", "trunk_id")],
        primary: "trunk_id",
    },
    JobType {
        name: SUBNET_UPDATE,
        handler: "update_subnet",
        fields: &[f("pod_id"), r("subnet", "subnet_id")],
        primary: "subnet_id",
    },
    JobType {
        name: SHADOW_PORT_SETUP,
        handler: "setup_shadow_ports",
        fields: &[f("pod_id"), r("network", "network_id")],
        primary: "network_id",
    },
    JobType {
        name: SFC_SYNC,
        handler: "sync_service_function_chain",
        fields: &[
            f("pod_id"),
            r("port_chain", "portchain_id"),
            r("network", "network_id"),
        ],
        primary: "portchain_id",
    },
    JobType {
        name: RESOURCE_RECYCLE,
        handler: "recycle_resources",
        fields: &[f("project_id")],
        primary: "project_id",
    },
    JobType {
        name: QOS_CREATE,
        handler: "create_qos_policy",
        fields: &[
            f("pod_id"),
            r("qos_policy", "policy_id"),
            f("res_type"),
            f("res_id"),
        ],
        primary: "policy_id",
    },
    JobType {
        name: QOS_UPDATE,
        handler: "update_qos_policy",
        fields: &[f("pod_id"), r("qos_policy", "policy_id")],
        primary: "policy_id",
    },
    JobType {
        name: QOS_DELETE,
        handler: "delete_qos_policy",
        fields: &[f("pod_id"), r("qos_policy", "policy_id")],
        primary: "policy_id",
    },
    JobType {
        name: SYNC_QOS_RULE,
        handler: "sync_qos_policy_rules",
        fields: &[f("rule_id"), r("qos_policy", "policy_id")],
        primary: "policy_id",
    },
];

/// Look a job type up by its stored name.
pub fn job_type(name: &str) -> Option<&'static JobType> {
    JOB_TYPES.iter().find(|t| t.name == name)
}

/// Look a job type up by the RPC method name xjob receives.
pub fn by_handler(handler: &str) -> Option<&'static JobType> {
    JOB_TYPES.iter().find(|t| t.handler == handler)
}

impl JobType {
    /// Names of the resource fields, in `resource_id` order.
    pub fn field_names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.fields.iter().map(|f| f.name)
    }

    /// The routing-table resource type of the primary field, if it is routed.
    pub fn primary_routed(&self) -> Option<&'static str> {
        self.fields
            .iter()
            .find(|f| f.name == self.primary)
            .and_then(|f| f.routed)
    }

    /// Join resource values into the stored `resource_id`.
    pub fn resource_id<'a>(&self, mut value_of: impl FnMut(&str) -> &'a str) -> String {
        self.fields
            .iter()
            .map(|f| value_of(f.name))
            .collect::<Vec<_>>()
            .join("#")
    }

    /// Split a stored `resource_id` back into `(field, value)` pairs. Extra
    /// `#`-separated parts are dropped and missing ones omitted, like a zip.
    pub fn split_resource_id<'a>(
        &'a self,
        resource_id: &'a str,
    ) -> impl Iterator<Item = (&'static str, &'a str)> + 'a {
        self.fields
            .iter()
            .map(|f| f.name)
            .zip(resource_id.split('#'))
    }
}

/// Resource types the routing table accepts from the admin API.
pub const ROUTING_RESOURCE_TYPES: &[&str] = &[
    "network",
    "subnet",
    "port",
    "router",
    "security_group",
    "trunk",
    "port_pair",
    "port_pair_group",
    "flow_classifier",
    "port_chain",
    "qos_policy",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_id_round_trips_in_field_order() {
        let t = job_type(ROUTER_SETUP).unwrap();
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
            job_type(CONFIGURE_ROUTE).unwrap().primary_routed(),
            Some("router")
        );
        assert_eq!(job_type(SEG_RULE_SETUP).unwrap().primary_routed(), None);
        assert_eq!(
            job_type(SFC_SYNC).unwrap().primary_routed(),
            Some("port_chain")
        );
        assert_eq!(
            by_handler("setup_bottom_router").unwrap().name,
            ROUTER_SETUP
        );
        assert_eq!(JOB_TYPES.len(), 14);
    }

    #[test]
    fn status_filters_map_case_insensitively() {
        assert_eq!(status::from_filter("Fail"), status::FAIL);
        assert_eq!(status::from_filter("bogus"), "bogus");
        assert_eq!(status::display(status::RUNNING), "RUNNING");
    }
}
