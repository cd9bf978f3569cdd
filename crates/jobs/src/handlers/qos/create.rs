//! `qos_create` (RPC `create_qos_policy`): the bottom copy of a top QoS
//! policy in one pod, bound to the bottom copy of the network or port the
//! job names (`res_type` `network` or `port`, `res_id` its top id), then a
//! `sync_qos_rule` job for the policy when it has rules. With
//! `pod_id = not_specified_pod` it records one job per pod the resource is
//! mapped to instead. A top policy that is gone ends the job.
//!
//! Differences from the reference:
//! - The bound resource is found through the routing table (the bottom id
//!   of `res_id` in the pod) rather than assumed to have the top id; a
//!   resource without a copy there, or whose copy is gone, is logged and
//!   left unbound, as the reference logs the NotFound it would get.
//! - The rule sync is recorded even when the binding could not be made
//!   (the reference skips it then, by way of the exception), so the copy
//!   does not stay without rules.
//! - A binding already in place is not sent again.
//!
//! As in the reference the copy is created under the top policy's name
//! while the creation lock recovers an abandoned creation by a policy named
//! after the top id; that recovery thus finds nothing and creates anew.

use tricircle_db::models::Pod;
use tricircle_openstack::neutron::{Network, NeutronError, Port, QosPolicy};

use super::RT_QOS;
use crate::handler::{HandlerResult, Job, JobContext};
use crate::network::lock::{self, Element};
use crate::network::{NetResult, NetworkContext};
use crate::resource::{PodScope, PolicyBinding};
use tricircle_vocab::JobType;
use tricircle_vocab::ResourceType;

pub struct QosCreate(pub NetworkContext);

#[async_trait::async_trait]
impl Job for QosCreate {
    const TYPE: JobType = JobType::QosCreate;
    type Resource = PolicyBinding;

    async fn run(&self, r: PolicyBinding, ctx: &JobContext) -> HandlerResult {
        create(&self.0, ctx, &r.pod, &r.policy_id, &r.res_type, &r.res_id).await?;
        Ok(())
    }
}

/// The resource a new copy is bound to. The reference formats a missing
/// resource as the string `None`.
fn bound_resource<'a>(res_type: &str, res_id: &'a str) -> Option<(ResourceType, &'a str)> {
    let set = |v: &str| !v.is_empty() && v != "None";
    let kind = res_type.parse::<ResourceType>().ok()?;
    (set(res_id) && [ResourceType::Network, ResourceType::Port].contains(&kind))
        .then_some((kind, res_id))
}

async fn create(
    net: &NetworkContext,
    ctx: &JobContext,
    pod: &PodScope,
    policy_id: &str,
    res_type: &str,
    res_id: &str,
) -> NetResult<()> {
    let Some((t_policy, project_id)) = super::top_policy(net, ctx, policy_id).await? else {
        return Ok(());
    };
    let PodScope::One(pod_id) = pod else {
        // A type that is no routing type has no copies to fan out to.
        let mappings = match res_type.parse::<ResourceType>() {
            Ok(t) => net.mappings(res_id, t).await?,
            Err(_) => Vec::new(),
        };
        let pod_ids: Vec<&str> = mappings.iter().map(|(p, _)| p.pod_id.as_str()).collect();
        let rest = format!("{policy_id}#{res_type}#{res_id}");
        return net
            .submit_per_pod(
                JobType::QosCreate,
                &pod_ids,
                &rest,
                &project_id,
                &ctx.request,
            )
            .await;
    };
    let b_pod = net.pod(pod_id).await?;
    // Named as the top (the reference does); the lock finds it again by that
    // name after a crash between create and routing. An unnamed policy gets
    // the top id, which is unique.
    let name = t_policy
        .name
        .clone()
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| policy_id.to_owned());
    let body = QosPolicy {
        tenant_id: Some(project_id.clone()),
        name: Some(name.clone()),
        description: Some(t_policy.description.clone().unwrap_or_default()),
        shared: Some(t_policy.shared.unwrap_or(false)),
        ..QosPolicy::default()
    };
    let b_policy = lock::get_or_create(
        net,
        &project_id,
        &b_pod,
        Element {
            top_id: policy_id,
            resource_type: RT_QOS,
            name: &name,
            body,
        },
    )
    .await?
    .id;
    if let Some((kind, top_id)) = bound_resource(res_type, res_id) {
        match net.bottom_id(top_id, &b_pod, kind).await? {
            Some(b_id) => match bind(net, &b_pod, kind, &b_id, &b_policy).await {
                Err(e) if e.is_not_found() => {
                    tracing::error!(policy_id, %kind, res_id, pod = %b_pod.region_name,
                        "bottom resource to bind the QoS policy to not found");
                }
                other => other?,
            },
            None => {
                tracing::error!(policy_id, %kind, res_id, pod = %b_pod.region_name,
                    "resource to bind the QoS policy to has no bottom copy");
            }
        }
    }
    if t_policy.rules.as_ref().is_some_and(|r| !r.is_empty()) {
        // The reference casts the rule sync with the policy id alone.
        net.submit_job(JobType::SyncQosRule, policy_id, &project_id, &ctx.request)
            .await?;
    }
    Ok(())
}

/// Set `b_policy` on the bottom network or port `b_id`, unless it is set.
async fn bind(
    net: &NetworkContext,
    b_pod: &Pod,
    kind: ResourceType,
    b_id: &str,
    b_policy: &str,
) -> Result<(), NeutronError> {
    let client = net.neutron(b_pod);
    let want = Some(Some(b_policy.to_owned()));
    if kind == ResourceType::Network {
        if client.get_network(b_id).await?.qos_policy_id != want {
            let body = Network {
                qos_policy_id: want,
                ..Network::default()
            };
            client.update_network(b_id, &body).await?;
        }
    } else if client.get_port(b_id).await?.qos_policy_id != want {
        let body = Port {
            qos_policy_id: want,
            ..Port::default()
        };
        client.update_port(b_id, &body).await?;
    }
    Ok(())
}
