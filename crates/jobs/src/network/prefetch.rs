//! Reading ahead: one filtered list per collection instead of one GET per
//! resource. Within a job, what a list answers lands in the job's reads
//! ([`tricircle_openstack::calls`]), where the building blocks' later GETs
//! by id find it; a resource the list missed is read as before. Outside a
//! job nothing would keep the answers, so nothing is read ahead.

use tricircle_openstack::calls::JobCalls;
use tricircle_openstack::neutron::{Filters, NeutronClient, Resource};

use super::NetResult;

/// Distinct non-empty values, in order.
fn distinct(values: &[&str]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for v in values {
        if !v.is_empty() && !out.iter().any(|o| o == v) {
            out.push((*v).to_owned());
        }
    }
    out
}

/// The networks `ids` and every subnet on them, in two lists.
pub async fn networks_and_subnets(client: &NeutronClient, ids: &[&str]) -> NetResult<()> {
    let ids = distinct(ids);
    if ids.is_empty() || JobCalls::current().is_none() {
        return Ok(());
    }
    let (networks, subnets) = (
        Filters::new().any("id", &ids),
        Filters::new().any("network_id", &ids),
    );
    tokio::try_join!(
        client.list_networks(&networks),
        client.list_subnets(&subnets)
    )?;
    Ok(())
}

/// Every port on the networks `ids`, in one list.
pub async fn ports_on(client: &NeutronClient, ids: &[&str]) -> NetResult<()> {
    let ids = distinct(ids);
    if ids.is_empty() || JobCalls::current().is_none() {
        return Ok(());
    }
    client
        .list_ports(&Filters::new().any("network_id", &ids))
        .await?;
    Ok(())
}

/// The ports `ids`, in one list (a single port is left to its own GET:
/// one call either way).
pub async fn ports(client: &NeutronClient, ids: &[&str]) -> NetResult<()> {
    let ids = distinct(ids);
    if ids.len() < 2 || JobCalls::current().is_none() {
        return Ok(());
    }
    client.list_ports(&Filters::new().any("id", &ids)).await?;
    Ok(())
}

/// The resources `ids` of one collection in one list, read at once with
/// the job's other reads ahead (even one: a list by id costs a
/// neutron-server what its GET does, and the job's GET finds it).
pub async fn by_id<R: Resource>(client: &NeutronClient, ids: &[String]) -> NetResult<()> {
    let ids = distinct(&ids.iter().map(String::as_str).collect::<Vec<_>>());
    if ids.is_empty() || JobCalls::current().is_none() {
        return Ok(());
    }
    client.list::<R>(&Filters::new().any("id", &ids)).await?;
    Ok(())
}
