//! `resource_recycle` (RPC `recycle_resources`): delete in the pods the
//! bottom copies of the project's resources queued in `recycle_resources`
//! (what the central plugin queues when it deletes service function chain
//! resources), then their routings and queue rows.
//!
//! As the reference, it first waits (up to three pauses) for `sfc_sync`
//! jobs to be gone, since a chain being synchronised may still use the
//! resources; when some are still there it leaves the queue for the run
//! that the end of the sync triggers. Resources go in dependency order:
//! port chains, flow classifiers, port pair groups, port pairs; other
//! queued types are left alone. A queue row goes once every pod's copy is
//! gone, so a pod that fails keeps it for the redo.
//!
//! Difference: a port pair a bottom group still holds is taken out of that
//! group, where the reference empties the group of all its pairs.

use std::collections::BTreeMap;
use std::time::Duration;

use tricircle_db::jobs::JobFilter;

use crate::handler::{HandlerResult, Job, JobContext};
use crate::network::sfc;
use crate::network::{NetResult, NetworkContext};
use crate::resource::Project;
use tricircle_vocab::JobType;
use tricircle_vocab::ResourceType;

/// Looks at the sfc_sync jobs this many times, pausing in between.
const SFC_SYNC_CHECKS: usize = 4;
/// The reference's pause between those looks.
const SFC_SYNC_PAUSE: Duration = Duration::from_secs(5);
/// Deletion order: what uses comes before what is used.
const ORDER: [ResourceType; 4] = [
    ResourceType::PortChain,
    ResourceType::FlowClassifier,
    ResourceType::PortPairGroup,
    ResourceType::PortPair,
];

pub struct ResourceRecycle {
    net: NetworkContext,
    pause: Duration,
}

impl ResourceRecycle {
    pub fn new(net: NetworkContext) -> ResourceRecycle {
        ResourceRecycle {
            net,
            pause: SFC_SYNC_PAUSE,
        }
    }

    /// Another pause between the looks at sfc_sync jobs (tests).
    pub fn with_pause(mut self, pause: Duration) -> ResourceRecycle {
        self.pause = pause;
        self
    }
}

#[async_trait::async_trait]
impl Job for ResourceRecycle {
    const TYPE: JobType = JobType::ResourceRecycle;
    type Resource = Project;

    async fn run(&self, r: Project, _: &JobContext) -> HandlerResult {
        recycle(&self.net, &r.project_id, self.pause).await?;
        Ok(())
    }
}

async fn sfc_sync_pending(net: &NetworkContext) -> NetResult<bool> {
    let filter = JobFilter {
        job_type: Some(JobType::SfcSync.name().to_owned()),
        ..JobFilter::default()
    };
    let jobs = net
        .db
        .run(move |c| tricircle_db::jobs::list_jobs(c, &filter, 1, None))
        .await?;
    Ok(!jobs.is_empty())
}

pub async fn recycle(net: &NetworkContext, project_id: &str, pause: Duration) -> NetResult<()> {
    let p = project_id.to_owned();
    let queued = net
        .db
        .run(move |c| tricircle_db::recycle::list_recycle_resources(c, Some(&p), None))
        .await?;
    if queued.is_empty() {
        return Ok(());
    }
    for check in 0..SFC_SYNC_CHECKS {
        if !sfc_sync_pending(net).await? {
            break;
        }
        if check == SFC_SYNC_CHECKS - 1 {
            tracing::info!(
                project_id,
                "sfc_sync jobs still pending; recycling is left to a later run"
            );
            return Ok(());
        }
        tokio::time::sleep(pause).await;
    }

    let mut by_type: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in queued {
        by_type
            .entry(r.resource_type)
            .or_default()
            .push(r.resource_id);
    }
    for res_type in ORDER {
        for top_id in by_type.get(res_type.as_str()).into_iter().flatten() {
            for (pod, b_id) in net.mappings(top_id, res_type).await? {
                sfc::delete_bottom_resource(net, &pod, res_type, &b_id, project_id).await?;
            }
            let id = top_id.clone();
            match net
                .db
                .run(move |c| tricircle_db::recycle::delete_recycle_resource(c, &id))
                .await
            {
                Ok(()) | Err(tricircle_db::DbError::NotFound(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(())
}
