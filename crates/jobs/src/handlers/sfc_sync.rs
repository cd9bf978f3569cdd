//! `sfc_sync` (RPC `sync_service_function_chain`): mirror a top port chain,
//! with its port pair groups, port pairs and flow classifiers, into one pod.
//!
//! With `pod_id = not_specified_pod` it records one job per pod the network
//! (or, without a network, the port chain) is mapped to and stops. In a pod
//! it gets or creates, through the routing-table lock, a bottom copy of
//! every port pair of the chain's groups (ingress/egress replaced by the
//! ports' ids in the pod), of every group (with the bottom pairs), of every
//! flow classifier (logical ports replaced likewise) and of the chain (with
//! the bottom groups and classifiers), then brings names, descriptions and
//! the group, pair and classifier lists of the copies in line with the top.
//! As the reference, a creation refused because a leftover bottom element
//! holds the same ports (a pair "used by", a classifier "conflicts with")
//! or the same pairs/classifier ("in use") has that leftover removed and is
//! tried once more. When the top chain is gone, the bottom chain, its
//! classifiers and its groups (unless another chain still uses them) with
//! their pairs are deleted, and their routings dropped.
//!
//! Differences from the reference:
//! - Copies are created named after the top id and renamed right after, so
//!   the lock can find one a crashed worker created but did not route (the
//!   reference creates them with the top name but looks them up by id).
//! - The reference translates no port ids (its bottom ports keep the top
//!   ids); here the routing table gives each port's copy in the pod (a
//!   port, or a shadow port), and a port without one fails the job.
//! - The reference leaves the deletion of a gone chain's elements to the
//!   `resource_recycle` job it casts (fed by its central plugin's delete
//!   hooks); this job deletes them itself and casts no recycle job.
//!   Elements dropped from a chain that still exists stay in the pod, as in
//!   the reference, until their top counterparts are recycled.
//! - Bottom copies are only updated when they differ from the top, so a
//!   rerun writes nothing.

use tricircle_db::models::Pod;
use tricircle_openstack::neutron::{
    Filters, FlowClassifier, NeutronClient, NeutronError, PortChain, PortPair, PortPairGroup,
    Resource,
};

use crate::handler::{HandlerResult, Job, JobContext};
use crate::network::lock::{self, Element};
use crate::network::sfc::is_in_use;
use crate::network::{NetError, NetResult, NetworkContext};
use crate::resource::{ChainInPod, PodScope};
use tricircle_vocab::JobType;
use tricircle_vocab::ResourceType;

/// networking-sfc's wording of the refusals the reference recovers from
/// (for "in use", see `sfc::is_in_use`).
const STR_USED_BY: &str = "used by";
const STR_CONFLICTS_WITH: &str = "conflicts with";

pub struct SfcSync(pub NetworkContext);

#[async_trait::async_trait]
impl Job for SfcSync {
    const TYPE: JobType = JobType::SfcSync;
    type Resource = ChainInPod;

    async fn run(&self, r: ChainInPod, ctx: &JobContext) -> HandlerResult {
        let net_id = r.network_id.as_deref().unwrap_or_default();
        sync(&self.0, ctx, &r.pod, &r.portchain_id, net_id).await?;
        Ok(())
    }
}

async fn sync(
    net: &NetworkContext,
    ctx: &JobContext,
    pod: &PodScope,
    pc_id: &str,
    net_id: &str,
) -> NetResult<()> {
    let project_id = ctx.project_id.clone().unwrap_or_default();
    let PodScope::One(pod_id) = pod else {
        let mappings = if net_id.is_empty() {
            net.mappings(pc_id, ResourceType::PortChain).await?
        } else {
            net.mappings(net_id, ResourceType::Network).await?
        };
        let pod_ids: Vec<&str> = mappings.iter().map(|(p, _)| p.pod_id.as_str()).collect();
        let rest = format!("{pc_id}#{net_id}");
        return net
            .submit_per_pod(JobType::SfcSync, &pod_ids, &rest, &project_id, &ctx.request)
            .await;
    };
    let top_pod = net.top_pod().await?;
    let top = net.neutron(&top_pod);
    let pod = net.pod(pod_id).await?;
    let m = Mirror {
        net,
        client: net.neutron(&pod),
        pod,
        project_id,
    };
    let Some(t_pc) = top.find::<PortChain>(pc_id).await? else {
        return m.teardown(pc_id).await;
    };
    let mut b_groups = Vec::new();
    for g_id in t_pc.port_pair_groups.clone().unwrap_or_default() {
        // A chain's group cannot be deleted at the top: a missing one is an
        // inconsistency worth failing on, as the reference does.
        let t_group = top.get::<PortPairGroup>(&g_id).await?;
        let mut b_pairs = Vec::new();
        for pp_id in t_group.port_pairs.clone().unwrap_or_default() {
            let t_pair = top.get::<PortPair>(&pp_id).await?;
            b_pairs.push(m.port_pair(&t_pair).await?);
        }
        b_groups.push(m.port_pair_group(&t_group, b_pairs).await?);
    }
    let mut b_classifiers = Vec::new();
    for fc_id in t_pc.flow_classifiers.clone().unwrap_or_default() {
        // As the reference: a classifier deleted meanwhile is left out.
        if let Some(t_fc) = top.find::<FlowClassifier>(&fc_id).await? {
            b_classifiers.push(m.flow_classifier(&t_fc).await?);
        }
    }
    m.port_chain(&t_pc, b_groups, b_classifiers).await
}

/// The four kinds of SFC elements, for the generic delete paths.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Pair,
    Group,
    Classifier,
    Chain,
}

impl Kind {
    fn routing_type(self) -> ResourceType {
        match self {
            Kind::Pair => ResourceType::PortPair,
            Kind::Group => ResourceType::PortPairGroup,
            Kind::Classifier => ResourceType::FlowClassifier,
            Kind::Chain => ResourceType::PortChain,
        }
    }
}

/// How to clear the way when a creation is refused because of a leftover.
enum Recovery<'a> {
    /// Delete the bottom pair with this ingress port.
    PairByIngress(&'a str),
    /// Delete the bottom classifier with this logical source port.
    ClassifierBySource(&'a str),
    /// Take these bottom pairs out of whatever groups hold them.
    FreePairs(&'a [String]),
    /// Delete the bottom chain that holds this classifier.
    ChainOfClassifier(Option<&'a str>),
}

fn status_and_message(e: &NeutronError) -> Option<(u16, &str)> {
    e.api().map(|a| (a.status, a.message.as_str()))
}

fn is_taken(e: &NeutronError) -> bool {
    matches!(status_and_message(e), Some((400, m))
        if m.contains(STR_USED_BY) || m.contains(STR_CONFLICTS_WITH))
}

/// Everything about one pod's side of the job.
struct Mirror<'a> {
    net: &'a NetworkContext,
    pod: Pod,
    client: NeutronClient,
    project_id: String,
}

impl Mirror<'_> {
    /// The id of `top_port`'s copy in the pod: the port itself or its
    /// shadow port.
    async fn bottom_port(&self, top_port: &str) -> NetResult<String> {
        for rtype in [ResourceType::Port, ResourceType::ShadowPort] {
            if let Some(b) = self.net.bottom_id(top_port, &self.pod, rtype).await? {
                return Ok(b);
            }
        }
        Err(NetError::Missing(format!(
            "port {top_port} has no copy in pod {}",
            self.pod.region_name
        )))
    }

    async fn bottom_port_opt(&self, top_port: Option<&str>) -> NetResult<Option<String>> {
        match top_port.filter(|p| !p.is_empty()) {
            Some(p) => Ok(Some(self.bottom_port(p).await?)),
            None => Ok(None),
        }
    }

    fn filters(&self) -> Filters {
        Filters::new().eq("project_id", self.project_id.as_str())
    }

    /// Get or create the copy of a top element through the lock; on a
    /// refusal caused by a leftover, clear it with `recovery` and retry once.
    async fn prepare<R: Resource + Clone + 'static>(
        &self,
        project_id: &str,
        top_id: &str,
        kind: Kind,
        body: R,
        recovery: Recovery<'_>,
    ) -> NetResult<String> {
        let mut retried = false;
        loop {
            let el = Element::named_by_top(top_id, kind.routing_type(), body.clone());
            let err = match lock::get_or_create(self.net, project_id, &self.pod, el).await {
                Ok(got) => return Ok(got.id),
                Err(NetError::Neutron(e)) => e,
                Err(other) => return Err(other),
            };
            if retried {
                return Err(err.into());
            }
            retried = true;
            match (&recovery, is_taken(&err), is_in_use(&err)) {
                (Recovery::PairByIngress(ingress), true, _) => {
                    let found = self
                        .client
                        .list_port_pairs(&self.filters().eq("ingress", *ingress))
                        .await?;
                    if let Some(pp) = found.first() {
                        self.delete_element(Kind::Pair, pp.id()).await?;
                    }
                }
                (Recovery::ClassifierBySource(port), true, _) => {
                    let found = self
                        .client
                        .list_flow_classifiers(&self.filters().eq("logical_source_port", *port))
                        .await?;
                    if let Some(fc) = found.first() {
                        self.delete_element(Kind::Classifier, fc.id()).await?;
                    }
                }
                (Recovery::FreePairs(pairs), _, true) => self.free_pairs(pairs, None).await?,
                (Recovery::ChainOfClassifier(fc), _, true) => {
                    if let Some(fc) = fc {
                        self.delete_chain_of_classifier(fc, None).await?;
                    }
                }
                _ => return Err(err.into()),
            }
        }
    }

    /// The routing of a copy that disappeared is dropped so that the next
    /// run creates it again.
    /// [`Self::prepare`], then the bottom element as the pod has it now; a
    /// copy gone behind its routing fails the run (see [`Self::vanished`]).
    async fn prepare_existing<R: Resource + Clone + 'static>(
        &self,
        project_id: &str,
        top_id: &str,
        kind: Kind,
        body: R,
        recovery: Recovery<'_>,
    ) -> NetResult<(String, R)> {
        let b_id = self
            .prepare(project_id, top_id, kind, body, recovery)
            .await?;
        match self.client.find::<R>(&b_id).await? {
            Some(b) => Ok((b_id, b)),
            None => Err(self.vanished(kind, &b_id).await),
        }
    }

    async fn vanished(&self, kind: Kind, b_id: &str) -> NetError {
        if let Err(e) = self.drop_routings(b_id).await {
            return e;
        }
        NetError::Missing(format!(
            "bottom {} {b_id} is gone from pod {}; it is created again on the next run",
            kind.routing_type(),
            self.pod.region_name
        ))
    }

    async fn drop_routings(&self, b_id: &str) -> NetResult<()> {
        let id = b_id.to_owned();
        self.net
            .db
            .run(move |c| tricircle_db::routings::delete_mappings_by_bottom_id(c, &id))
            .await?;
        Ok(())
    }

    async fn port_pair(&self, t: &PortPair) -> NetResult<String> {
        let t_id = t.id();
        let ingress = self
            .bottom_port(t.ingress.as_deref().unwrap_or_default())
            .await?;
        let egress = self
            .bottom_port(t.egress.as_deref().unwrap_or_default())
            .await?;
        let project = owner(&t.project_id, &t.tenant_id, &self.project_id);
        let body = PortPair {
            name: Some(t_id.to_owned()),
            description: t.description.clone(),
            tenant_id: Some(project.clone()),
            ingress: Some(ingress.clone()),
            egress: Some(egress),
            service_function_parameters: t.service_function_parameters.clone(),
            ..PortPair::default()
        };
        let (b_id, b) = self
            .prepare_existing(
                &project,
                t_id,
                Kind::Pair,
                body,
                Recovery::PairByIngress(&ingress),
            )
            .await?;
        let mut upd = PortPair::default();
        if differs(&b.name, &t.name) || differs(&b.description, &t.description) {
            upd.name = Some(t.name.clone().unwrap_or_default());
            upd.description = Some(t.description.clone().unwrap_or_default());
            self.client.update_port_pair(&b_id, &upd).await?;
        }
        Ok(b_id)
    }

    async fn port_pair_group(&self, t: &PortPairGroup, b_pairs: Vec<String>) -> NetResult<String> {
        let t_id = t.id();
        let project = owner(&t.project_id, &t.tenant_id, &self.project_id);
        let body = PortPairGroup {
            name: Some(t_id.to_owned()),
            description: t.description.clone(),
            tenant_id: Some(project.clone()),
            port_pairs: Some(b_pairs.clone()),
            port_pair_group_parameters: t.port_pair_group_parameters.clone(),
            tap_enabled: t.tap_enabled,
            ..PortPairGroup::default()
        };
        let (b_id, b) = self
            .prepare_existing(
                &project,
                t_id,
                Kind::Group,
                body,
                Recovery::FreePairs(&b_pairs),
            )
            .await?;
        if differs(&b.name, &t.name)
            || differs(&b.description, &t.description)
            || b.port_pairs.as_deref().unwrap_or_default() != b_pairs.as_slice()
        {
            let upd = PortPairGroup {
                name: Some(t.name.clone().unwrap_or_default()),
                description: Some(t.description.clone().unwrap_or_default()),
                port_pairs: Some(b_pairs.clone()),
                ..PortPairGroup::default()
            };
            match self.client.update_port_pair_group(&b_id, &upd).await {
                Err(e) if is_in_use(&e) => {
                    // A pair still sits in a leftover group: free it, once.
                    self.free_pairs(&b_pairs, Some(&b_id)).await?;
                    self.client.update_port_pair_group(&b_id, &upd).await?;
                }
                other => {
                    other?;
                }
            }
        }
        Ok(b_id)
    }

    async fn flow_classifier(&self, t: &FlowClassifier) -> NetResult<String> {
        let t_id = t.id();
        let project = owner(&t.project_id, &t.tenant_id, &self.project_id);
        let source = self
            .bottom_port_opt(t.logical_source_port.as_deref())
            .await?;
        let destination = self
            .bottom_port_opt(t.logical_destination_port.as_deref())
            .await?;
        let body = FlowClassifier {
            name: Some(t_id.to_owned()),
            description: t.description.clone(),
            tenant_id: Some(project.clone()),
            ethertype: t.ethertype.clone(),
            protocol: t.protocol.clone(),
            source_port_range_min: t.source_port_range_min,
            source_port_range_max: t.source_port_range_max,
            destination_port_range_min: t.destination_port_range_min,
            destination_port_range_max: t.destination_port_range_max,
            source_ip_prefix: t.source_ip_prefix.clone(),
            destination_ip_prefix: t.destination_ip_prefix.clone(),
            logical_source_port: source.clone(),
            logical_destination_port: destination,
            l7_parameters: t.l7_parameters.clone(),
            ..FlowClassifier::default()
        };
        let recovery = match source.as_deref() {
            Some(s) => Recovery::ClassifierBySource(s),
            None => Recovery::ChainOfClassifier(None),
        };
        let (b_id, b) = self
            .prepare_existing(&project, t_id, Kind::Classifier, body, recovery)
            .await?;
        if differs(&b.name, &t.name) || differs(&b.description, &t.description) {
            let upd = FlowClassifier {
                name: Some(t.name.clone().unwrap_or_default()),
                description: Some(t.description.clone().unwrap_or_default()),
                ..FlowClassifier::default()
            };
            self.client.update_flow_classifier(&b_id, &upd).await?;
        }
        Ok(b_id)
    }

    async fn port_chain(
        &self,
        t: &PortChain,
        b_groups: Vec<String>,
        b_classifiers: Vec<String>,
    ) -> NetResult<()> {
        let t_id = t.id();
        let project = owner(&t.project_id, &t.tenant_id, &self.project_id);
        let body = PortChain {
            name: Some(t_id.to_owned()),
            description: t.description.clone(),
            tenant_id: Some(project.clone()),
            port_pair_groups: Some(b_groups.clone()),
            flow_classifiers: Some(b_classifiers.clone()),
            chain_parameters: t.chain_parameters.clone(),
            chain_id: t.chain_id,
            ..PortChain::default()
        };
        let first_fc = b_classifiers.first().map(String::as_str);
        let (b_id, b) = self
            .prepare_existing(
                &project,
                t_id,
                Kind::Chain,
                body,
                Recovery::ChainOfClassifier(first_fc),
            )
            .await?;
        if differs(&b.name, &t.name)
            || differs(&b.description, &t.description)
            || b.port_pair_groups.as_deref().unwrap_or_default() != b_groups.as_slice()
            || b.flow_classifiers.as_deref().unwrap_or_default() != b_classifiers.as_slice()
        {
            let upd = PortChain {
                name: Some(t.name.clone().unwrap_or_default()),
                description: Some(t.description.clone().unwrap_or_default()),
                port_pair_groups: Some(b_groups),
                flow_classifiers: Some(b_classifiers.clone()),
                ..PortChain::default()
            };
            match self.client.update_port_chain(&b_id, &upd).await {
                Err(e) if is_in_use(&e) && first_fc.is_some() => {
                    // A classifier still sits in a leftover chain: drop it, once.
                    for fc in &b_classifiers {
                        self.delete_chain_of_classifier(fc, Some(&b_id)).await?;
                    }
                    self.client.update_port_chain(&b_id, &upd).await?;
                }
                other => {
                    other?;
                }
            }
        }
        Ok(())
    }

    /// Empty every bottom group (but `except`) that holds one of `pairs`.
    async fn free_pairs(&self, pairs: &[String], except: Option<&str>) -> NetResult<()> {
        let groups = self.client.list_port_pair_groups(&self.filters()).await?;
        for g in groups {
            if Some(g.id()) == except {
                continue;
            }
            let held = g.port_pairs.as_deref().unwrap_or_default();
            if held.iter().any(|p| pairs.contains(p)) {
                let upd = PortPairGroup {
                    port_pairs: Some(Vec::new()),
                    ..PortPairGroup::default()
                };
                self.client.update_port_pair_group(g.id(), &upd).await?;
            }
        }
        Ok(())
    }

    /// Delete the bottom chain (but `except`) that holds classifier `fc`.
    async fn delete_chain_of_classifier(&self, fc: &str, except: Option<&str>) -> NetResult<()> {
        let chains = self.client.list_port_chains(&self.filters()).await?;
        let found = chains.iter().find(|c| {
            Some(c.id()) != except
                && c.flow_classifiers
                    .as_deref()
                    .unwrap_or_default()
                    .iter()
                    .any(|f| f == fc)
        });
        if let Some(c) = found {
            self.delete_plain(Kind::Chain, c.id()).await?;
        }
        Ok(())
    }

    /// Delete a bottom element and its routings; a missing one is fine.
    async fn delete_plain(&self, kind: Kind, b_id: &str) -> NetResult<()> {
        let c = &self.client;
        let result = match kind {
            Kind::Pair => c.delete_port_pair(b_id).await,
            Kind::Group => c.delete_port_pair_group(b_id).await,
            Kind::Classifier => c.delete_flow_classifier(b_id).await,
            Kind::Chain => c.delete_port_chain(b_id).await,
        };
        match result {
            Err(e) if !e.is_not_found() => return Err(e.into()),
            _ => {}
        }
        self.drop_routings(b_id).await
    }

    /// [`Mirror::delete_plain`], and when the element is still in use as
    /// the reference handles it: a classifier loses its chain, a pair its
    /// group, then the deletion is tried again.
    async fn delete_element(&self, kind: Kind, b_id: &str) -> NetResult<()> {
        match self.delete_plain(kind, b_id).await {
            Err(NetError::Neutron(e)) if is_in_use(&e) => match kind {
                Kind::Classifier => {
                    self.delete_chain_of_classifier(b_id, None).await?;
                    self.delete_plain(kind, b_id).await
                }
                Kind::Pair => {
                    self.free_pairs(&[b_id.to_owned()], None).await?;
                    self.delete_plain(kind, b_id).await
                }
                _ => Err(e.into()),
            },
            other => other,
        }
    }

    /// The top chain is gone: delete its copy here, with the classifiers
    /// and the groups (and their pairs) no other chain uses.
    async fn teardown(&self, pc_id: &str) -> NetResult<()> {
        let Some(b_pc_id) = self
            .net
            .bottom_id(pc_id, &self.pod, ResourceType::PortChain)
            .await?
        else {
            tracing::info!(pc_id, pod = %self.pod.region_name, "top port chain is gone and has no copy here");
            return Ok(());
        };
        let b_pc = self.client.find::<PortChain>(&b_pc_id).await?;
        self.delete_plain(Kind::Chain, &b_pc_id).await?;
        let Some(b_pc) = b_pc else {
            return Ok(());
        };
        for fc in b_pc.flow_classifiers.unwrap_or_default() {
            self.delete_element(Kind::Classifier, &fc).await?;
        }
        for g in b_pc.port_pair_groups.unwrap_or_default() {
            let Some(group) = self.client.find::<PortPairGroup>(&g).await? else {
                self.drop_routings(&g).await?;
                continue;
            };
            match self.delete_plain(Kind::Group, &g).await {
                Err(NetError::Neutron(e)) if is_in_use(&e) => {
                    tracing::info!(group = %g, pod = %self.pod.region_name,
                        "port pair group still used by another chain; kept");
                    continue;
                }
                other => other?,
            }
            for pp in group.port_pairs.unwrap_or_default() {
                self.delete_element(Kind::Pair, &pp).await?;
            }
        }
        Ok(())
    }
}

/// The owner of a top element: its project, else the job's.
fn owner(project_id: &Option<String>, tenant_id: &Option<String>, job: &str) -> String {
    project_id
        .clone()
        .or_else(|| tenant_id.clone())
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| job.to_owned())
}

/// Whether a copy's text attribute differs from the top's (unset = "").
fn differs(bottom: &Option<String>, top: &Option<String>) -> bool {
    bottom.as_deref().unwrap_or_default() != top.as_deref().unwrap_or_default()
}
