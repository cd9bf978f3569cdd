//! The routing table as a creation lock, so that two workers never create
//! the same bottom (or top) resource twice.
//!
//! A worker first inserts the routing (top_id, pod, type) with an empty
//! bottom_id; the unique key makes it the only creator. It then creates the
//! resource and fills in bottom_id. Another worker finding the row empty
//! waits for it to be bound and goes on with that resource, rather than
//! failing its job into the periodic redo. A row left empty for more than
//! [`EXPIRE_SECONDS`] belongs to a worker that died half-way: the next one
//! looks the resource up by name in the pod and either adopts it or removes
//! the row and tries again. A create that got no answer (it may still take
//! effect) leaves its row so, to be adopted rather than made twice.

use std::time::{Duration, Instant};

use tricircle_db::models::{NewRouting, Pod, RoutingUpdate};
use tricircle_db::{routings, time};
use tricircle_openstack::neutron::{Filters, FixedIp, NeutronClient, Port, Resource};

use super::{NetError, NetResult, NetworkContext};
use tricircle_vocab::ResourceType;

/// Age after which an unbound routing is considered abandoned.
pub const EXPIRE_SECONDS: i64 = 30;
/// How long a worker waits for another one creating the same resource:
/// past [`EXPIRE_SECONDS`] the routing is abandoned and taken over, so
/// this bound is only reached when the database clock stands still.
const WAIT_FOR_CREATOR: Duration = Duration::from_secs(EXPIRE_SECONDS as u64 + 5);
/// The first pause while another worker holds the routing; it doubles up
/// to [`POLL_MAX`] (a creation takes one Neutron call or a few).
const POLL_FIRST: Duration = Duration::from_millis(10);
const POLL_MAX: Duration = Duration::from_millis(250);
/// Routed resources found gone from the pod and made again before the
/// call gives up (something keeps deleting them).
const MAX_REMAKES: usize = 3;

/// Waiting for another worker's creation: pauses growing from
/// [`POLL_FIRST`] to [`POLL_MAX`], for at most [`WAIT_FOR_CREATOR`].
#[derive(Debug)]
pub struct CreatorWait {
    since: Instant,
    pause: Duration,
}

impl Default for CreatorWait {
    fn default() -> Self {
        CreatorWait {
            since: Instant::now(),
            pause: POLL_FIRST,
        }
    }
}

impl CreatorWait {
    /// Pause before looking again; false (at once) when waited long
    /// enough.
    pub async fn pause(&mut self) -> bool {
        if self.since.elapsed() >= WAIT_FOR_CREATOR {
            return false;
        }
        tokio::time::sleep(self.pause).await;
        self.pause = (self.pause * 2).min(POLL_MAX);
        true
    }
}

/// What the caller asks the lock to get or create.
#[derive(Debug, Clone)]
pub struct Element<'a, R> {
    /// The routing's top_id: a top resource id, or a name for resources
    /// without a top counterpart (bridge ports, the subnet pool).
    pub top_id: &'a str,
    /// The routing's resource_type.
    pub resource_type: ResourceType,
    /// The name the resource is created with, to find it again.
    pub name: &'a str,
    /// The create body.
    pub body: R,
}

impl<'a, R> Element<'a, R> {
    /// An element created under its top id as its name, as most copies are:
    /// the name finds it again when its routing was never completed.
    pub fn named_by_top(top_id: &'a str, resource_type: ResourceType, body: R) -> Self {
        Element {
            top_id,
            resource_type,
            name: top_id,
            body,
        }
    }
}

/// The outcome: the resource's id in the pod, and whether this call had to
/// bind the routing (created or recovered) rather than finding it complete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Got {
    pub id: String,
    pub bound_now: bool,
}

/// The outcome of a creation another branch of the job is making, for
/// branches that start with what they can and then need its id: they do
/// not wait for their siblings' other work.
#[derive(Clone)]
pub struct GotLater {
    what: &'static str,
    made: tokio::sync::watch::Receiver<Option<Got>>,
}

impl GotLater {
    /// The handle, and the sender the making branch fills in; `what`
    /// names the resource when the making branch failed.
    pub fn channel(what: &'static str) -> (tokio::sync::watch::Sender<Option<Got>>, GotLater) {
        let (tx, made) = tokio::sync::watch::channel(None);
        (tx, GotLater { what, made })
    }

    pub async fn get(mut self) -> NetResult<Got> {
        let made = match self.made.wait_for(Option::is_some).await {
            Ok(got) => got.clone(),
            // The making branch failed (and dropped the sender); its error
            // is the job's.
            Err(_) => None,
        };
        made.ok_or_else(|| NetError::Missing(format!("{} was not made", self.what)))
    }
}

enum Step {
    Done(String),
    Recovered(String),
    Mine(i64),
    Busy,
}

/// Get the resource routed for `el` in `pod`, or create it there.
pub async fn get_or_create<R: Resource + Clone + 'static>(
    net: &NetworkContext,
    project_id: &str,
    pod: &Pod,
    el: Element<'_, R>,
) -> NetResult<Got> {
    get_or_create_existing(net, project_id, pod, el)
        .await
        .map(|(got, _)| got)
}

/// [`get_or_create`], and the resource as the pod has it now. A routed
/// resource that is gone from the pod (deleted by hand, or by a teardown
/// racing the job) loses its routing and is made again, so the job heals
/// the drift instead of failing on it at every run.
pub async fn get_or_create_existing<R: Resource + Clone + 'static>(
    net: &NetworkContext,
    project_id: &str,
    pod: &Pod,
    el: Element<'_, R>,
) -> NetResult<(Got, R)> {
    let client = net.neutron(pod);
    let mut wait = CreatorWait::default();
    let mut remakes = 0;
    loop {
        let (id, bound_now) = match take(net, project_id, pod, &el, &client).await? {
            Step::Done(id) => (id, false),
            Step::Recovered(id) => (id, true),
            Step::Busy => {
                // Another worker is creating it: wait for its result
                // rather than failing into the periodic redo.
                tracing::debug!(resource_type = %el.resource_type, top_id = el.top_id,
                    pod = %pod.region_name, "another worker is creating it; waiting");
                if !wait.pause().await {
                    return Err(NetError::Lock(format!(
                        "routing of {} {} in pod {} is held by another worker",
                        el.resource_type, el.top_id, pod.region_name
                    )));
                }
                continue;
            }
            Step::Mine(routing_id) => {
                let r = create_or_adopt(net, &client, routing_id, &el).await?;
                let got = Got {
                    id: r.id().to_owned(),
                    bound_now: true,
                };
                return Ok((got, r));
            }
        };
        if let Some(found) = client.find::<R>(&id).await? {
            return Ok((Got { id, bound_now }, found));
        }
        tracing::warn!(
            resource_type = %el.resource_type,
            top_id = el.top_id,
            bottom_id = %id,
            pod = %pod.region_name,
            "routed resource is gone from the pod; making it again"
        );
        remakes += 1;
        if remakes > MAX_REMAKES {
            return Err(NetError::Lock(format!(
                "{} {} in pod {} keeps disappearing after it is made",
                el.resource_type, el.top_id, pod.region_name
            )));
        }
        net.db
            .run(move |c| routings::delete_mappings_by_bottom_id(c, &id))
            .await?;
        super::note_routing_change();
    }
}

/// With the routing `routing_id` taken (bottom id still empty): adopt the
/// resource by name when a failed earlier attempt created it after all (a
/// timeout that took effect), else create it; then bind the routing.
async fn create_or_adopt<R: Resource + Clone + 'static>(
    net: &NetworkContext,
    client: &NeutronClient,
    routing_id: i64,
    el: &Element<'_, R>,
) -> NetResult<R> {
    // Read afresh: what the job read before it held the lock is not enough
    // to decide that nobody created the resource.
    let found = match client
        .list_fresh::<R>(&Filters::new().eq("name", el.name))
        .await
    {
        Ok(found) => found,
        Err(e) => {
            release(net, routing_id).await;
            return Err(e.into());
        }
    };
    let r = match found.into_iter().next() {
        Some(r) => r,
        None => match client.create::<R>(&el.body).await {
            Ok(r) => r,
            Err(e) if e.outcome_unknown() => {
                // Sent, unanswered: a slow server may still make it. Keep
                // the routing unbound: the next attempt waits for it to be
                // abandoned (EXPIRE_SECONDS), then adopts the resource by
                // name if it was made, instead of making a second one now.
                tracing::warn!(resource_type = %el.resource_type, top_id = el.top_id,
                    error = %e, "create unanswered; its routing is kept until it expires");
                return Err(e.into());
            }
            Err(e) => {
                // Refused or never sent: nothing was made.
                release(net, routing_id).await;
                return Err(e.into());
            }
        },
    };
    bind(net, routing_id, r.id()).await?;
    Ok(r)
}

/// Remove our unbound routing after a failure, so a later run starts
/// afresh instead of waiting for it to expire.
async fn release(net: &NetworkContext, routing_id: i64) {
    if let Err(e) = net.db.run(move |c| routings::delete(c, routing_id)).await {
        tracing::warn!(routing_id, error = %e, "cannot release a routing lock");
    }
}

async fn bind(net: &NetworkContext, routing_id: i64, bottom_id: &str) -> NetResult<()> {
    let upd = RoutingUpdate {
        bottom_id: Some(Some(bottom_id.to_owned())),
        ..RoutingUpdate::default()
    };
    super::note_routing_change();
    net.db
        .run(move |c| routings::update(c, routing_id, &upd))
        .await
        .map_err(|e| NetError::Lock(format!("cannot bind routing {routing_id}: {e}")))?;
    Ok(())
}

async fn take<R: Resource + Clone + 'static>(
    net: &NetworkContext,
    project_id: &str,
    pod: &Pod,
    el: &Element<'_, R>,
    client: &tricircle_openstack::neutron::NeutronClient,
) -> NetResult<Step> {
    let (top, pod_id, rtype) = (
        el.top_id.to_owned(),
        pod.pod_id.clone(),
        el.resource_type.as_str().to_owned(),
    );
    let existing = net
        .db
        .run(move |c| {
            let r = routings::get_by_top_pod_type(c, &top, &pod_id, &rtype)?;
            Ok(r.map(|r| (r, time::now(c))))
        })
        .await?;
    if let Some((route, now)) = existing {
        if let Some(b) = route.bottom_id.as_deref().filter(|b| !b.is_empty()) {
            return Ok(Step::Done(b.to_owned()));
        }
        let since = route.updated_at.or(route.created_at).unwrap_or(now);
        if (now - since).num_seconds() <= EXPIRE_SECONDS {
            return Ok(Step::Busy);
        }
        // Abandoned: the creator may have died after creating the resource.
        let found: Vec<R> = client
            .list_fresh(&Filters::new().eq("name", el.name))
            .await?;
        if let Some(r) = found.first() {
            let id = r.id().to_owned();
            bind(net, route.id, &id).await?;
            tracing::info!(top_id = el.top_id, pod = %pod.region_name, bottom_id = %id,
                "recovered an abandoned routing by name");
            return Ok(Step::Recovered(id));
        }
        let rid = route.id;
        super::note_routing_change();
        match net.db.run(move |c| routings::delete(c, rid)).await {
            Ok(()) | Err(tricircle_db::DbError::NotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let new = NewRouting {
        top_id: el.top_id.to_owned(),
        bottom_id: None,
        pod_id: pod.pod_id.clone(),
        project_id: Some(project_id.to_owned()),
        resource_type: el.resource_type.as_str().to_owned(),
    };
    super::note_routing_change();
    let created = net.db.run(move |c| routings::create(c, &new)).await?;
    Ok(match created {
        Some(r) => Step::Mine(r.id),
        None => Step::Busy,
    })
}

/// A port in the central region reserved through the lock under its own
/// name (name and routing top id are the same), read back so the caller
/// sees the address Neutron allocated.
pub async fn reserve_top_port(
    net: &NetworkContext,
    project_id: &str,
    top_pod: &Pod,
    body: Port,
) -> NetResult<Port> {
    let name = body.name.clone().unwrap_or_default();
    // The port as created or as read when routed: no second read.
    let (_, port) = get_or_create_existing(
        net,
        project_id,
        top_pod,
        Element::named_by_top(&name, ResourceType::Port, body),
    )
    .await?;
    Ok(port)
}

/// The body of a top port that holds an address of `subnet_id` for a
/// router interface in some pod (the gateway of a pod's copy, or an NS
/// router's interface), so no other port takes it. Its owner is
/// [`super::DEVICE_OWNER_HELPER`], so it never blocks the tenant's deletes.
pub fn interface_port_body(
    project_id: &str,
    network_id: &str,
    subnet_id: &str,
    name: &str,
) -> Port {
    Port {
        tenant_id: Some(project_id.to_owned()),
        admin_state_up: Some(true),
        name: Some(name.to_owned()),
        network_id: Some(network_id.to_owned()),
        device_id: Some(String::new()),
        device_owner: Some(super::DEVICE_OWNER_HELPER.to_owned()),
        fixed_ips: Some(vec![FixedIp::on_subnet(subnet_id)]),
        ..Port::default()
    }
}
