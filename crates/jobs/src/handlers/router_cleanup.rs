//! `router_cleanup` (xjob's own, stock mode): a router deleted at the top
//! takes its pods' side with it, as the original's central plugin deleted
//! the bottom routers on router delete.
//!
//! For every bottom router of the top router (routings `router` and
//! `ns_router`): its routes, the floating IPs through it, its interfaces,
//! its gateway, the router, its routing; the top bridge port of each
//! bottom router (`bridge_port_<project>_<bottom router>`) with its copies;
//! the top ports reserving the NS router's interface addresses
//! (`ns_interface_<router>_*`). The per-project bridge network, subnet and
//! subnet pool stay, as in the original. A top router that still exists
//! is left alone (the event was stale or redelivered).

use tricircle_db::routings::{self, RoutingFilter};
use tricircle_openstack::neutron::Router;

use crate::handler::{HandlerResult, Job, JobContext};
use crate::network::{bridge, teardown, NetResult, NetworkContext};
use crate::resource::RouterRoutes;
use tricircle_vocab::{JobType, ResourceType};

pub struct RouterCleanup(pub NetworkContext);

#[async_trait::async_trait]
impl Job for RouterCleanup {
    const TYPE: JobType = JobType::RouterCleanup;
    type Resource = RouterRoutes;

    async fn run(&self, r: RouterRoutes, _: &JobContext) -> HandlerResult {
        cleanup(&self.0, &r.router_id).await?;
        Ok(())
    }
}

pub async fn cleanup(net: &NetworkContext, router_id: &str) -> NetResult<()> {
    let top_pod = net.top_pod().await?;
    if net
        .neutron(&top_pod)
        .find::<Router>(router_id)
        .await?
        .is_some()
    {
        tracing::info!(router_id, "top router still exists; nothing to clean up");
        return Ok(());
    }
    let filter = RoutingFilter {
        top_id: Some(router_id.to_owned()),
        ..RoutingFilter::default()
    };
    let rows = net.db.run(move |c| routings::find(c, &filter)).await?;
    // The NS router's tenant interfaces first: their floating IPs and top
    // ports go with them.
    teardown::withdraw_ns_interfaces(net, &top_pod, router_id, None).await?;
    for row in rows.iter().filter(|r| {
        r.resource_type == ResourceType::Router.as_str()
            || r.resource_type == ResourceType::NsRouter.as_str()
    }) {
        let pod = net.pod(&row.pod_id).await?;
        if let Some(b_router) = row.bottom_id.as_deref().filter(|b| !b.is_empty()) {
            teardown::delete_bottom_router(net, &pod, b_router).await?;
            let project = row.project_id.clone().unwrap_or_default();
            let name = bridge::port_name(&project, b_router);
            for port in teardown::top_port_routings(net, &top_pod, |n| n == name).await? {
                teardown::delete_top_port(net, &top_pod, &port).await?;
            }
        }
        let id = row.id;
        match net.db.run(move |c| routings::delete(c, id)).await {
            Ok(()) | Err(tricircle_db::DbError::NotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}
