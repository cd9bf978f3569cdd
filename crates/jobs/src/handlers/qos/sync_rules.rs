//! `sync_qos_rule` (RPC `sync_qos_policy_rules`): make the rules of every
//! bottom copy of a QoS policy those of the top policy, kind by kind
//! (bandwidth limit, DSCP marking, minimum bandwidth). A bottom rule that
//! matches no top rule is deleted, then each top rule without a match is
//! created; rules match on the attributes the reference mirrors
//! (`max_kbps`/`max_burst_kbps`, `dscp_mark`, `min_kbps`/`direction`).
//!
//! The reference casts this job with the policy id alone as resource id,
//! while the catalog (and the admin API) has `rule_id#policy_id`: the
//! policy is the `policy_id` field, or the only value when there is one.
//! Unlike the reference, a top policy that is gone ends the job (its copies
//! are `qos_delete`'s business), and each bottom rule matches one top rule
//! at most.

use tricircle_db::models::Pod;
use tricircle_openstack::neutron::{QosPolicy, QosRule, QosRuleKind};

use super::RT_QOS;
use crate::handler::{HandlerResult, Job, JobContext};
use crate::network::{NetResult, NetworkContext};
use crate::resource::PolicyRules;
use tricircle_vocab::JobType;

const KINDS: [QosRuleKind; 3] = [
    QosRuleKind::BandwidthLimit,
    QosRuleKind::DscpMarking,
    QosRuleKind::MinimumBandwidth,
];

pub struct SyncQosRules(pub NetworkContext);

#[async_trait::async_trait]
impl Job for SyncQosRules {
    const TYPE: JobType = JobType::SyncQosRule;
    type Resource = PolicyRules;

    async fn run(&self, r: PolicyRules, _: &JobContext) -> HandlerResult {
        sync(&self.0, &r.policy_id).await?;
        Ok(())
    }
}

/// The attributes of a rule that are mirrored (and compared).
fn mirrored(kind: QosRuleKind, r: &QosRule) -> QosRule {
    match kind {
        QosRuleKind::BandwidthLimit => QosRule {
            max_kbps: r.max_kbps,
            max_burst_kbps: r.max_burst_kbps,
            ..QosRule::default()
        },
        QosRuleKind::DscpMarking => QosRule {
            dscp_mark: r.dscp_mark,
            ..QosRule::default()
        },
        QosRuleKind::MinimumBandwidth => QosRule {
            min_kbps: r.min_kbps,
            direction: r.direction.clone(),
            ..QosRule::default()
        },
    }
}

async fn sync(net: &NetworkContext, policy_id: &str) -> NetResult<()> {
    let top_pod = net.top_pod().await?;
    let top = net.neutron(&top_pod);
    if top.find::<QosPolicy>(policy_id).await?.is_none() {
        tracing::info!(policy_id, "top QoS policy is gone; no rules to sync");
        return Ok(());
    }
    let mappings = net.mappings(policy_id, RT_QOS).await?;
    for kind in KINDS {
        let wanted: Vec<QosRule> = top
            .list_qos_rules(policy_id, kind)
            .await?
            .iter()
            .map(|r| mirrored(kind, r))
            .collect();
        for (pod, b_policy) in &mappings {
            sync_kind(net, pod, b_policy, kind, &wanted).await?;
        }
    }
    Ok(())
}

/// Make the `kind` rules of bottom policy `b_policy` in `pod` be `wanted`.
async fn sync_kind(
    net: &NetworkContext,
    pod: &Pod,
    b_policy: &str,
    kind: QosRuleKind,
    wanted: &[QosRule],
) -> NetResult<()> {
    let client = net.neutron(pod);
    let existing = client.list_qos_rules(b_policy, kind).await?;
    let mut matched = vec![false; wanted.len()];
    let mut stale = Vec::new();
    for b_rule in &existing {
        let have = mirrored(kind, b_rule);
        match (0..wanted.len()).find(|&i| !matched[i] && wanted[i] == have) {
            Some(i) => matched[i] = true,
            None => stale.push(b_rule.id().to_owned()),
        }
    }
    // Deletions first: Neutron allows one rule per kind and direction.
    for id in stale {
        match client.delete_qos_rule(b_policy, kind, &id).await {
            Err(e) if !e.is_not_found() => return Err(e.into()),
            _ => {}
        }
    }
    for (rule, _) in wanted.iter().zip(&matched).filter(|(_, m)| !**m) {
        match client.create_qos_rule(b_policy, kind, rule).await {
            // The reference ignores a conflicting rule: another run made it.
            Err(e) if e.status() == Some(409) => {
                tracing::info!(b_policy, kind = kind.singular(), error = %e,
                    "bottom QoS rule conflicts; left as it is");
            }
            Err(e) => return Err(e.into()),
            Ok(_) => {}
        }
    }
    Ok(())
}
