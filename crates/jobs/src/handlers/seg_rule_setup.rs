//! `seg_rule_setup` (RPC `configure_security_group_rules`): bring the rules
//! of a project's bottom security groups in line with the top ones.
//!
//! For every top security group of the project that the routing table maps
//! into pods, the wanted bottom rules are the top rules without a remote
//! group as they are, and, for the `default` group only, each IPv4 rule with
//! a remote group turned into one rule per IPv4 CIDR of the project's
//! subnets (bridge subnets excepted): a bottom pod cannot see the other
//! pods' members of the group, only their addresses. In each pod, bottom
//! rules no wanted rule matches are deleted and missing ones created; rules
//! are compared on direction, remote prefix, protocol, ethertype and port
//! range, as the reference does.
//!
//! Difference: when the bulk creation conflicts (a rule appeared
//! meanwhile), the reference gives up on the whole batch; here the rules
//! are then created one by one, skipping those that exist. A bottom group
//! the routing table names but the pod no longer has is skipped with a
//! warning (the reference's job fails on it, and so would every redo).

use std::collections::BTreeSet;

use tricircle_db::models::Pod;
use tricircle_openstack::neutron::{
    Filters, NeutronClient, NeutronError, SecurityGroup, SecurityGroupRule, Subnet,
};

use crate::handler::{HandlerResult, Job, JobContext};
use crate::network::ip::Cidr;
use crate::network::{NetResult, NetworkContext};
use crate::resource::Project;
use tricircle_vocab::JobType;
use tricircle_vocab::ResourceType;

const DEFAULT_GROUP: &str = "default";

pub struct SegRuleSetup(pub NetworkContext);

#[async_trait::async_trait]
impl Job for SegRuleSetup {
    const TYPE: JobType = JobType::SegRuleSetup;
    type Resource = Project;

    async fn run(&self, r: Project, _: &JobContext) -> HandlerResult {
        configure(&self.0, &r.project_id).await?;
        Ok(())
    }
}

/// The attributes rules are compared on.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct RuleKey {
    direction: Option<String>,
    remote_ip_prefix: Option<String>,
    protocol: Option<String>,
    ethertype: Option<String>,
    port_range_max: Option<i64>,
    port_range_min: Option<i64>,
}

impl RuleKey {
    fn of(rule: &SecurityGroupRule) -> RuleKey {
        RuleKey {
            direction: rule.direction.clone(),
            remote_ip_prefix: rule.remote_ip_prefix.clone(),
            protocol: rule.protocol.clone(),
            ethertype: rule.ethertype.clone(),
            port_range_max: rule.port_range_max,
            port_range_min: rule.port_range_min,
        }
    }

    /// A top rule as a bottom rule, with `prefix` in place of its own
    /// remote prefix when it stands for a remote group.
    fn bottom(rule: &SecurityGroupRule, prefix: Option<&str>) -> RuleKey {
        let mut k = RuleKey::of(rule);
        if let Some(p) = prefix {
            k.remote_ip_prefix = Some(p.to_owned());
        }
        k
    }

    fn body(&self, sg_id: &str) -> SecurityGroupRule {
        SecurityGroupRule {
            security_group_id: Some(sg_id.to_owned()),
            direction: self.direction.clone(),
            remote_ip_prefix: self.remote_ip_prefix.clone(),
            protocol: self.protocol.clone(),
            ethertype: self.ethertype.clone(),
            port_range_max: self.port_range_max,
            port_range_min: self.port_range_min,
            ..SecurityGroupRule::default()
        }
    }
}

pub async fn configure(net: &NetworkContext, project_id: &str) -> NetResult<()> {
    let top_pod = net.top_pod().await?;
    let top = net.neutron(&top_pod);
    let top_sgs = top
        .list_security_groups(&Filters::new().eq("tenant_id", project_id))
        .await?;
    // Fetched once the first remote-group rule needs them.
    let mut project_cidrs: Option<Vec<String>> = None;
    for sg in top_sgs {
        let mut wanted = Vec::new();
        for rule in sg.security_group_rules.iter().flatten() {
            if rule
                .remote_group_id
                .as_deref()
                .unwrap_or_default()
                .is_empty()
            {
                wanted.push(RuleKey::bottom(rule, None));
                continue;
            }
            // Remote groups are only translated for the default group,
            // and only for IPv4 (Tricircle does not handle IPv6 here).
            if sg.name.as_deref() != Some(DEFAULT_GROUP)
                || rule.ethertype.as_deref() != Some("IPv4")
            {
                continue;
            }
            if project_cidrs.is_none() {
                project_cidrs = Some(tenant_cidrs(net, &top, project_id).await?);
            }
            for cidr in project_cidrs.iter().flatten() {
                wanted.push(RuleKey::bottom(rule, Some(cidr)));
            }
        }
        for (pod, b_sg_id) in net.mappings(sg.id(), ResourceType::SecurityGroup).await? {
            sync_pod(net, &pod, &b_sg_id, &wanted).await?;
        }
    }
    Ok(())
}

/// The distinct IPv4 CIDRs of the project's top subnets, bridge subnets
/// excepted, in the order Neutron lists them.
async fn tenant_cidrs(
    net: &NetworkContext,
    top: &NeutronClient,
    project_id: &str,
) -> NetResult<Vec<String>> {
    let bridge = net.settings.bridge_cidr;
    let subnets: Vec<Subnet> = top
        .list_subnets(&Filters::new().eq("tenant_id", project_id))
        .await?;
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for s in subnets {
        let Some(cidr) = s.cidr.clone() else { continue };
        if s.ip_version != Some(4) {
            continue;
        }
        let Some(c) = Cidr::parse(&cidr) else {
            continue;
        };
        let in_bridge = c.prefix >= bridge.prefix
            && bridge.contains(&std::net::Ipv4Addr::from(c.network).to_string());
        if in_bridge || !seen.insert(cidr.clone()) {
            continue;
        }
        out.push(cidr);
    }
    Ok(out)
}

async fn sync_pod(
    net: &NetworkContext,
    pod: &Pod,
    b_sg_id: &str,
    wanted: &[RuleKey],
) -> NetResult<()> {
    let client = net.neutron(pod);
    let Some(b_sg) = client.find::<SecurityGroup>(b_sg_id).await? else {
        tracing::warn!(b_sg_id, region = %pod.region_name,
            "bottom security group in the routing table is gone; skipping it");
        return Ok(());
    };
    let mut matched = vec![false; wanted.len()];
    let mut stale = Vec::new();
    for b_rule in b_sg.security_group_rules.iter().flatten() {
        let key = RuleKey::of(b_rule);
        match wanted.iter().position(|w| *w == key) {
            Some(i) => matched[i] = true,
            None => stale.push(b_rule.id().to_owned()),
        }
    }
    for id in stale {
        match client.delete_security_group_rule(&id).await {
            Ok(()) => {}
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e.into()),
        }
    }
    // Each wanted rule once, even if two top rules came out the same.
    let mut missing: Vec<&RuleKey> = Vec::new();
    for (w, _) in wanted.iter().zip(&matched).filter(|(_, m)| !**m) {
        if !missing.contains(&w) {
            missing.push(w);
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    let bodies: Vec<SecurityGroupRule> = missing.iter().map(|k| k.body(b_sg_id)).collect();
    match client.create_security_group_rules(&bodies).await {
        Ok(_) => Ok(()),
        Err(NeutronError::Conflict(_)) => {
            for body in &bodies {
                match client.create_security_group_rule(body).await {
                    Ok(_) | Err(NeutronError::Conflict(_)) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}
