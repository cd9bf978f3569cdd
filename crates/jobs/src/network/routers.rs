//! A top router's bottom routers, read a pod at a time: the external
//! network's pod holds two (the east-west and the north-south one), and a
//! router's GET is among the costliest reads of a neutron-server (it loads
//! the router with its ports), while two routers in one list cost about
//! one GET.

use tricircle_db::models::Pod;
use tricircle_openstack::neutron::{Filters, NeutronClient, Router};

use super::NetResult;

/// `items` grouped by pod, pods in the order first met.
pub fn by_pod<T>(items: impl IntoIterator<Item = (Pod, T)>) -> Vec<(Pod, Vec<T>)> {
    let mut out: Vec<(Pod, Vec<T>)> = Vec::new();
    for (pod, item) in items {
        match out.iter_mut().find(|(p, _)| p.pod_id == pod.pod_id) {
            Some((_, in_pod)) => in_pod.push(item),
            None => out.push((pod, vec![item])),
        }
    }
    out
}

/// The routers `ids` of one pod that exist: one by its GET (as the other
/// jobs read it, so that their reads can be shared), more in one list
/// (within a job, each then answers the job's GET of it).
pub async fn read<S: AsRef<str>>(client: &NeutronClient, ids: &[S]) -> NetResult<Vec<Router>> {
    let ids: Vec<&str> = ids.iter().map(AsRef::as_ref).collect();
    Ok(match ids.as_slice() {
        [one] => client.find::<Router>(one).await?.into_iter().collect(),
        _ => client.list_routers(&Filters::new().any("id", &ids)).await?,
    })
}

/// Router `id` among `routers` (as [`read`] answered).
pub fn take(routers: &mut Vec<Router>, id: &str) -> Option<Router> {
    let at = routers.iter().position(|r| r.id() == id)?;
    Some(routers.swap_remove(at))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(id: &str) -> Pod {
        Pod {
            pod_id: id.into(),
            region_name: id.into(),
            pod_az_name: None,
            dc_name: None,
            az_name: "az".into(),
        }
    }

    #[test]
    fn grouped_by_pod_in_the_order_first_met() {
        let got = by_pod([(pod("b"), 1), (pod("a"), 2), (pod("b"), 3)]);
        let got: Vec<(String, Vec<i32>)> = got.into_iter().map(|(p, v)| (p.pod_id, v)).collect();
        assert_eq!(got, [("b".into(), vec![1, 3]), ("a".into(), vec![2])]);
    }
}
