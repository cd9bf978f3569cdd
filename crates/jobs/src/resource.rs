//! The resources the job types work on, each parsed once from the job's
//! `resource_id` fields by the registry (see [`JobResource`]). A field a
//! job needs must be present and not empty ([`JobContext::required`]).

use crate::handler::{HandlerError, JobContext, JobResource};

/// `pod_id` of a job that fans out to every pod holding a copy of its
/// resource (one job per pod).
pub const POD_NOT_SPECIFIED: &str = "not_specified_pod";

/// The pods a job is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PodScope {
    /// `not_specified_pod`: every pod holding a copy; the job records one
    /// job per pod.
    Every,
    /// One pod, by id.
    One(String),
}

impl PodScope {
    /// The one pod of a job that does not fan out.
    pub fn one(&self, ctx: &JobContext) -> Result<&str, HandlerError> {
        match self {
            PodScope::One(pod_id) => Ok(pod_id),
            PodScope::Every => Err(HandlerError::msg(format!(
                "{} job needs one pod, not {POD_NOT_SPECIFIED}",
                ctx.job_type
            ))),
        }
    }

    fn parse(ctx: &JobContext) -> Result<PodScope, HandlerError> {
        let pod_id = ctx.required("pod_id")?;
        Ok(if pod_id == POD_NOT_SPECIFIED {
            PodScope::Every
        } else {
            PodScope::One(pod_id)
        })
    }
}

/// `<pod_id>#<id>`: one top resource (the job type's primary field) in a
/// pod or in every pod — update_network, subnet_update, shadow_port_setup,
/// port_delete, trunk_sync, qos_update, qos_delete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InPod {
    pub pod: PodScope,
    /// The top resource's id.
    pub id: String,
}

impl JobResource for InPod {
    fn parse(ctx: &JobContext) -> Result<Self, HandlerError> {
        Ok(InPod {
            pod: PodScope::parse(ctx)?,
            id: ctx.required(ctx.job_type.primary())?,
        })
    }
}

/// configure_route, router_cleanup: `<router_id>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouterRoutes {
    pub router_id: String,
}

impl JobResource for RouterRoutes {
    fn parse(ctx: &JobContext) -> Result<Self, HandlerError> {
        Ok(RouterRoutes {
            router_id: ctx.required("router_id")?,
        })
    }
}

/// network_cleanup: `<network_id>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopNetwork {
    pub network_id: String,
}

impl JobResource for TopNetwork {
    fn parse(ctx: &JobContext) -> Result<Self, HandlerError> {
        Ok(TopNetwork {
            network_id: ctx.required("network_id")?,
        })
    }
}

/// router_setup: `<pod_id>#<router_id>#<network_id>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouterInPod {
    pub pod: PodScope,
    pub router_id: String,
    /// The network whose interface changed (the reference passes one even
    /// when the job is about the gateway).
    pub network_id: String,
}

impl JobResource for RouterInPod {
    fn parse(ctx: &JobContext) -> Result<Self, HandlerError> {
        Ok(RouterInPod {
            pod: PodScope::parse(ctx)?,
            router_id: ctx.required("router_id")?,
            network_id: ctx.required("network_id")?,
        })
    }
}

/// seg_rule_setup, resource_recycle: `<project_id>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    pub project_id: String,
}

impl JobResource for Project {
    fn parse(ctx: &JobContext) -> Result<Self, HandlerError> {
        Ok(Project {
            project_id: ctx.required("project_id")?,
        })
    }
}

/// sfc_sync: `<pod_id>#<portchain_id>#<network_id>`; the network may be
/// empty (the chain's own pods are meant then).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainInPod {
    pub pod: PodScope,
    pub portchain_id: String,
    pub network_id: Option<String>,
}

impl JobResource for ChainInPod {
    fn parse(ctx: &JobContext) -> Result<Self, HandlerError> {
        Ok(ChainInPod {
            pod: PodScope::parse(ctx)?,
            portchain_id: ctx.required("portchain_id")?,
            network_id: ctx.optional("network_id"),
        })
    }
}

/// qos_create: `<pod_id>#<policy_id>#<res_type>#<res_id>`: a policy copy
/// bound to a network or port (the reference writes `None` when unbound).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyBinding {
    pub pod: PodScope,
    pub policy_id: String,
    pub res_type: String,
    pub res_id: String,
}

impl JobResource for PolicyBinding {
    fn parse(ctx: &JobContext) -> Result<Self, HandlerError> {
        Ok(PolicyBinding {
            pod: PodScope::parse(ctx)?,
            policy_id: ctx.required("policy_id")?,
            res_type: ctx.optional("res_type").unwrap_or_default(),
            res_id: ctx.optional("res_id").unwrap_or_default(),
        })
    }
}

/// sync_qos_rule: the policy whose rules to sync. The catalogue (and the
/// admin API) has `<rule_id>#<policy_id>`, but the reference's central
/// plugin records the policy id alone, which lands in the first field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyRules {
    pub policy_id: String,
}

impl JobResource for PolicyRules {
    fn parse(ctx: &JobContext) -> Result<Self, HandlerError> {
        let policy_id = match ctx.optional("policy_id") {
            Some(p) => Some(p),
            None if ctx.resource.len() == 1 => ctx.optional("rule_id"),
            None => None,
        };
        policy_id
            .map(|policy_id| PolicyRules { policy_id })
            .ok_or_else(|| HandlerError::msg("sync_qos_rule job without policy_id"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tricircle_vocab::JobType;

    fn ctx(t: JobType, resource_id: &str) -> JobContext {
        JobContext::new(
            "j".into(),
            "l".into(),
            t,
            resource_id.into(),
            None,
            Default::default(),
        )
    }

    fn err<R: JobResource + std::fmt::Debug>(t: JobType, rid: &str) -> String {
        R::parse(&ctx(t, rid)).unwrap_err().to_string()
    }

    #[test]
    fn in_pod_takes_the_primary_field() {
        let r = InPod::parse(&ctx(JobType::PortDelete, "pod-1#port-1")).unwrap();
        assert_eq!(r.pod, PodScope::One("pod-1".into()));
        assert_eq!(r.id, "port-1");
        let r = InPod::parse(&ctx(JobType::QosUpdate, "not_specified_pod#p")).unwrap();
        assert_eq!(r.pod, PodScope::Every);
        assert_eq!(
            err::<InPod>(JobType::NetworkUpdate, "pod-1#"),
            "update_network job without network_id"
        );
        assert_eq!(
            err::<InPod>(JobType::TrunkSync, "#t"),
            "trunk_sync job without pod_id"
        );
    }

    #[test]
    fn optional_fields_may_be_empty() {
        let r = ChainInPod::parse(&ctx(JobType::SfcSync, "pod#pc#")).unwrap();
        assert_eq!(r.network_id, None);
        let r = PolicyBinding::parse(&ctx(JobType::QosCreate, "pod#pol")).unwrap();
        assert_eq!((r.res_type.as_str(), r.res_id.as_str()), ("", ""));
        assert_eq!(
            err::<RouterInPod>(JobType::RouterSetup, "pod#router"),
            "router_setup job without network_id"
        );
    }

    #[test]
    fn qos_rule_sync_reads_a_lone_policy_id() {
        let lone = PolicyRules::parse(&ctx(JobType::SyncQosRule, "pol")).unwrap();
        assert_eq!(lone.policy_id, "pol");
        let both = PolicyRules::parse(&ctx(JobType::SyncQosRule, "rule#pol")).unwrap();
        assert_eq!(both.policy_id, "pol");
        assert_eq!(
            err::<PolicyRules>(JobType::SyncQosRule, "rule#"),
            "sync_qos_rule job without policy_id"
        );
    }
}
