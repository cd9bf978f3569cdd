//! The region gate every networking handler runs behind (when the context
//! enables it, as the daemon does): a job whose pod's region, or the
//! central region, does not answer ([`tricircle_openstack::breaker`])
//! fails at once, before any call, and waits for its retry; it does not
//! hold a worker slot through every call's retries and timeouts while the
//! other regions' jobs wait for slots.

use std::time::Instant;

use crate::handler::{Handler, HandlerResult, JobContext};
use crate::network::{NetError, NetworkContext, POD_NOT_SPECIFIED};

pub(crate) struct RegionGate<H> {
    pub net: NetworkContext,
    pub inner: H,
}

impl<H> RegionGate<H> {
    /// The down region the job would work in, if any.
    async fn down_region(&self, ctx: &JobContext) -> Option<String> {
        let breaker = self.net.clients.region_breaker();
        let now = Instant::now();
        if let Some(top) = &self.net.settings.top_region_name {
            if breaker.is_open(top, now) {
                return Some(top.clone());
            }
        }
        let pod_id = ctx.optional("pod_id").filter(|p| p != POD_NOT_SPECIFIED)?;
        // A pod that cannot be read is the handler's to report.
        let pod = self.net.pod(&pod_id).await.ok()?;
        breaker
            .is_open(&pod.region_name, now)
            .then_some(pod.region_name)
    }
}

#[async_trait::async_trait]
impl<H: Handler> Handler for RegionGate<H> {
    async fn handle(&self, ctx: &JobContext) -> HandlerResult {
        if self.net.region_gate {
            if let Some(region) = self.down_region(ctx).await {
                return Err(NetError::RegionDown(region).into());
            }
        }
        self.inner.handle(ctx).await
    }
}
