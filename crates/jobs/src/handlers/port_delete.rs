//! `port_delete` (RPC `delete_server_port`): delete a VM port in one pod
//! after its top port went away.
//!
//! The reference deletes the pod's port whose id is the top port's (its
//! local plugin gives bottom ports the top ids). Here the bottom ports the
//! routing table maps the top port to in that pod (as a port or a shadow
//! port) are deleted when there are any, the top id itself otherwise, and
//! those routings go with them (the reference's central plugin drops them
//! when it casts the job). A port already gone counts as deleted.

use crate::handler::{HandlerResult, Job, JobContext};
use crate::network::{NetResult, NetworkContext};
use crate::resource::InPod;
use tricircle_vocab::JobType;
use tricircle_vocab::ResourceType;

pub struct PortDelete(pub NetworkContext);

#[async_trait::async_trait]
impl Job for PortDelete {
    const TYPE: JobType = JobType::PortDelete;
    type Resource = InPod;

    async fn run(&self, r: InPod, ctx: &JobContext) -> HandlerResult {
        delete_port(&self.0, r.pod.one(ctx)?, &r.id).await?;
        Ok(())
    }
}

pub async fn delete_port(net: &NetworkContext, pod_id: &str, port_id: &str) -> NetResult<()> {
    let pod = net.pod(pod_id).await?;
    let (top, pid) = (port_id.to_owned(), pod.pod_id.clone());
    let routed = net
        .db
        .run(move |c| {
            let mut rows = Vec::new();
            for rtype in [ResourceType::Port, ResourceType::ShadowPort] {
                if let Some(r) =
                    tricircle_db::routings::get_by_top_pod_type(c, &top, &pid, rtype.as_str())?
                {
                    rows.push(r);
                }
            }
            Ok(rows)
        })
        .await?;
    let client = net.neutron(&pod);
    if routed.is_empty() {
        return delete_if_present(&client, port_id).await;
    }
    for r in routed {
        // An unbound row is another worker's creation lock: the port it
        // makes is not known here, so only bound rows are acted on.
        let Some(b_id) = r.bottom_id.as_deref().filter(|b| !b.is_empty()) else {
            continue;
        };
        delete_if_present(&client, b_id).await?;
        let id = r.id;
        match net
            .db
            .run(move |c| tricircle_db::routings::delete(c, id))
            .await
        {
            Ok(()) | Err(tricircle_db::DbError::NotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

async fn delete_if_present(
    client: &tricircle_openstack::neutron::NeutronClient,
    port_id: &str,
) -> NetResult<()> {
    match client.delete_port(port_id).await {
        Ok(()) => Ok(()),
        Err(e) if e.is_not_found() => {
            tracing::debug!(port_id, region = client.region(), "port already gone");
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}
