//! Bottom service function chaining resources (networking-sfc, under
//! `/v2.0/sfc/`): deleting one by its bottom id as the reference's
//! `_delete_bottom_resource_by_id` does, clearing what holds it when the
//! pod answers that it is in use.

use tricircle_db::models::Pod;
use tricircle_openstack::neutron::{Filters, Method, NeutronClient, NeutronError};

use super::{rt, NetError, NetResult, NetworkContext};

/// Collection path under `/v2.0/` and body key of many, per resource type.
fn collection(res_type: &str) -> Option<(&'static str, &'static str)> {
    Some(match res_type {
        rt::PORT_PAIR => ("sfc/port_pairs", "port_pairs"),
        rt::PORT_PAIR_GROUP => ("sfc/port_pair_groups", "port_pair_groups"),
        rt::FLOW_CLASSIFIER => ("sfc/flow_classifiers", "flow_classifiers"),
        rt::PORT_CHAIN => ("sfc/port_chains", "port_chains"),
        _ => return None,
    })
}

/// networking-sfc's "... in use." conflicts (the reference looks for
/// `in use` in a Conflict's message).
fn is_in_use(e: &NeutronError) -> bool {
    match e {
        NeutronError::InUse(_) => true,
        NeutronError::Conflict(api) => api.message.contains("in use"),
        _ => false,
    }
}

/// DELETE one resource; a resource already gone counts as deleted.
async fn delete_raw(client: &NeutronClient, res_type: &str, id: &str) -> NetResult<()> {
    let (path, _) = collection(res_type)
        .ok_or_else(|| NetError::Missing(format!("no SFC collection for {res_type}")))?;
    match client
        .request(Method::DELETE, &format!("{path}/{id}"), &[], None)
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if e.is_not_found() => {
            tracing::debug!(res_type, id, region = client.region(), "already gone");
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

async fn forget_bottom(net: &NetworkContext, bottom_id: &str) -> NetResult<()> {
    let b = bottom_id.to_owned();
    net.db
        .run(move |c| tricircle_db::routings::delete_mappings_by_bottom_id(c, &b))
        .await?;
    Ok(())
}

/// The project's resources of a type in the pod, as raw JSON.
async fn list_of_project(
    client: &NeutronClient,
    res_type: &str,
    project_id: &str,
) -> NetResult<Vec<serde_json::Value>> {
    let (path, key) = collection(res_type)
        .ok_or_else(|| NetError::Missing(format!("no SFC collection for {res_type}")))?;
    Ok(client
        .list_at(path, key, &Filters::new().eq("project_id", project_id))
        .await?)
}

fn holds(v: &serde_json::Value, key: &str, id: &str) -> bool {
    v[key]
        .as_array()
        .is_some_and(|l| l.iter().any(|x| x.as_str() == Some(id)))
}

/// Delete bottom resource `bottom_id` of `res_type` in `pod`, then its
/// routings. A flow classifier a chain uses takes that chain with it; a
/// port pair a group holds is first taken out of the group. Any other
/// refusal is returned.
pub async fn delete_bottom_resource(
    net: &NetworkContext,
    pod: &Pod,
    res_type: &str,
    bottom_id: &str,
    project_id: &str,
) -> NetResult<()> {
    let client = net.neutron(pod);
    match delete_raw(&client, res_type, bottom_id).await {
        Ok(()) => {}
        Err(NetError::Neutron(e)) if is_in_use(&e) => {
            tracing::debug!(res_type, bottom_id, region = %pod.region_name, "in use");
            match res_type {
                rt::FLOW_CLASSIFIER => {
                    let chains = list_of_project(&client, rt::PORT_CHAIN, project_id).await?;
                    if let Some(pc) = chains
                        .iter()
                        .find(|c| holds(c, "flow_classifiers", bottom_id))
                    {
                        let pc_id = pc["id"].as_str().unwrap_or_default();
                        delete_raw(&client, rt::PORT_CHAIN, pc_id).await?;
                        forget_bottom(net, pc_id).await?;
                    }
                }
                rt::PORT_PAIR => {
                    let groups = list_of_project(&client, rt::PORT_PAIR_GROUP, project_id).await?;
                    if let Some(g) = groups.iter().find(|g| holds(g, "port_pairs", bottom_id)) {
                        let rest: Vec<&serde_json::Value> = g["port_pairs"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter(|x| x.as_str() != Some(bottom_id))
                            .collect();
                        let body = serde_json::json!({"port_pair_group": {"port_pairs": rest}});
                        let path = format!(
                            "sfc/port_pair_groups/{}",
                            g["id"].as_str().unwrap_or_default()
                        );
                        client.request(Method::PUT, &path, &[], Some(&body)).await?;
                    }
                }
                _ => return Err(NetError::Neutron(e)),
            }
            // Once more; still in use (held by another project's chain or
            // group) is an error, not a loop.
            delete_raw(&client, res_type, bottom_id).await?;
        }
        Err(e) => return Err(e),
    }
    forget_bottom(net, bottom_id).await
}
