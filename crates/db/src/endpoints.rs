//! Service endpoints of pods as read from the Keystone catalog
//! (`cached_endpoints`), keyed by pod and service type.
//!
//! The reference stores the catalog's service *name* as `service_type`
//! (`neutron` for Neutron), so rows written by it and by us look the same.

use std::collections::BTreeMap;

use diesel::prelude::*;

use crate::models::{CachedEndpoint, Pod};
use crate::schema::{cached_endpoints, pods};
use crate::{AnyConnection, DbError};

/// What a refresh did, for logging and tests.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RefreshOutcome {
    pub created: Vec<String>,
    pub updated: Vec<String>,
    /// Regions in the catalog without exactly one pod (skipped, as the
    /// reference skips them).
    pub skipped_regions: Vec<String>,
}

/// The endpoints of `service_type` for the pod of `region_name`.
/// `Ok(None)` when no pod has that region.
pub fn for_region(
    conn: &mut AnyConnection,
    region_name: &str,
    service_type: &str,
) -> Result<Option<(Pod, Vec<CachedEndpoint>)>, DbError> {
    let Some(pod) = pods::table
        .filter(pods::region_name.eq(region_name))
        .select(Pod::as_select())
        .first(conn)
        .optional()?
    else {
        return Ok(None);
    };
    let rows = for_pod(conn, &pod.pod_id, service_type)?;
    Ok(Some((pod, rows)))
}

/// The endpoints of `service_type` for `pod_id`, oldest id order.
pub fn for_pod(
    conn: &mut AnyConnection,
    pod_id: &str,
    service_type: &str,
) -> Result<Vec<CachedEndpoint>, DbError> {
    Ok(cached_endpoints::table
        .filter(cached_endpoints::pod_id.eq(pod_id))
        .filter(cached_endpoints::service_type.eq(service_type))
        .order(cached_endpoints::service_id.asc())
        .select(CachedEndpoint::as_select())
        .load(conn)?)
}

/// Point the pod's `service_type` endpoint at `url`: update the single row
/// there is, or insert one when there is none. Several rows are ambiguous
/// and left alone (`Ok(None)`), as the reference does.
pub fn upsert(
    conn: &mut AnyConnection,
    pod_id: &str,
    service_type: &str,
    url: &str,
) -> Result<Option<(CachedEndpoint, bool)>, DbError> {
    let rows = for_pod(conn, pod_id, service_type)?;
    match rows.as_slice() {
        [] => {
            let row = CachedEndpoint {
                service_id: uuid::Uuid::new_v4().to_string(),
                pod_id: pod_id.to_owned(),
                service_type: service_type.to_owned(),
                service_url: url.to_owned(),
            };
            diesel::insert_into(cached_endpoints::table)
                .values(&row)
                .execute(conn)?;
            Ok(Some((row, true)))
        }
        [one] => {
            if one.service_url != url {
                diesel::update(cached_endpoints::table.find(&one.service_id))
                    .set(cached_endpoints::service_url.eq(url))
                    .execute(conn)?;
            }
            let mut row = one.clone();
            row.service_url = url.to_owned();
            Ok(Some((row, false)))
        }
        _ => Ok(None),
    }
}

/// Store a catalog's `region -> url` map for `service_type`, for every
/// region registered as exactly one pod.
pub fn refresh(
    conn: &mut AnyConnection,
    service_type: &str,
    urls: &BTreeMap<String, String>,
) -> Result<RefreshOutcome, DbError> {
    let mut out = RefreshOutcome::default();
    for (region, url) in urls {
        let found: Vec<Pod> = pods::table
            .filter(pods::region_name.eq(region))
            .select(Pod::as_select())
            .load(conn)?;
        let [pod] = found.as_slice() else {
            out.skipped_regions.push(region.clone());
            continue;
        };
        match upsert(conn, &pod.pod_id, service_type, url)? {
            Some((_, true)) => out.created.push(region.clone()),
            Some((_, false)) => out.updated.push(region.clone()),
            None => out.skipped_regions.push(region.clone()),
        }
    }
    Ok(out)
}

pub fn create(conn: &mut AnyConnection, e: &CachedEndpoint) -> Result<CachedEndpoint, DbError> {
    diesel::insert_into(cached_endpoints::table)
        .values(e)
        .execute(conn)?;
    get(conn, &e.service_id)
}

pub fn get(conn: &mut AnyConnection, service_id: &str) -> Result<CachedEndpoint, DbError> {
    cached_endpoints::table
        .find(service_id)
        .select(CachedEndpoint::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| DbError::NotFound(format!("cached endpoint {service_id}")))
}

/// Endpoints, optionally only those of one pod and/or service type.
pub fn list(
    conn: &mut AnyConnection,
    pod_id: Option<&str>,
    service_type: Option<&str>,
) -> Result<Vec<CachedEndpoint>, DbError> {
    let mut q = cached_endpoints::table
        .select(CachedEndpoint::as_select())
        .into_boxed();
    if let Some(p) = pod_id {
        q = q.filter(cached_endpoints::pod_id.eq(p.to_string()));
    }
    if let Some(t) = service_type {
        q = q.filter(cached_endpoints::service_type.eq(t.to_string()));
    }
    Ok(q.load(conn)?)
}

/// Change the URL of an endpoint; [`DbError::NotFound`] when absent.
pub fn update_url(
    conn: &mut AnyConnection,
    service_id: &str,
    service_url: &str,
) -> Result<CachedEndpoint, DbError> {
    get(conn, service_id)?;
    diesel::update(cached_endpoints::table.find(service_id))
        .set(cached_endpoints::service_url.eq(service_url))
        .execute(conn)?;
    get(conn, service_id)
}

pub fn delete(conn: &mut AnyConnection, service_id: &str) -> Result<(), DbError> {
    let n = diesel::delete(cached_endpoints::table.find(service_id)).execute(conn)?;
    if n == 0 {
        return Err(DbError::NotFound(format!("cached endpoint {service_id}")));
    }
    Ok(())
}
