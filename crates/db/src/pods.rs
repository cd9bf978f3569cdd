//! Pods (regions) and their cached service endpoints.

use diesel::prelude::*;

use crate::models::{NewPod, Pod};
use crate::schema::pods;
use crate::{AnyConnection, DbError};

/// Insert a pod. [`DbError::Duplicate`] when the id or region name exists.
pub fn create(conn: &mut AnyConnection, new: &NewPod) -> Result<Pod, DbError> {
    diesel::insert_into(pods::table).values(new).execute(conn)?;
    get(conn, &new.pod_id)
}

/// [`DbError::NotFound`] when there is no such pod.
pub fn get(conn: &mut AnyConnection, pod_id: &str) -> Result<Pod, DbError> {
    pods::table
        .find(pod_id)
        .select(Pod::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| DbError::NotFound(format!("pod {pod_id}")))
}

/// All pods, in no particular order (as the reference).
pub fn list(conn: &mut AnyConnection) -> Result<Vec<Pod>, DbError> {
    Ok(pods::table.select(Pod::as_select()).load(conn)?)
}

/// Delete a pod. [`DbError::NotFound`] when absent, [`DbError::Conflict`]
/// when routings, endpoints or agents still reference it.
pub fn delete(conn: &mut AnyConnection, pod_id: &str) -> Result<(), DbError> {
    let n = diesel::delete(pods::table.find(pod_id)).execute(conn)?;
    if n == 0 {
        return Err(DbError::NotFound(format!("pod {pod_id}")));
    }
    Ok(())
}

/// The top pod: empty `az_name` and non-empty `region_name`.
pub fn top_pod(conn: &mut AnyConnection) -> Result<Option<Pod>, DbError> {
    let candidates: Vec<Pod> = pods::table
        .filter(pods::az_name.eq(""))
        .select(Pod::as_select())
        .load(conn)?;
    Ok(candidates.into_iter().find(Pod::is_top))
}

/// The pod whose `region_name` is `region_name`.
pub fn by_region_name(conn: &mut AnyConnection, region_name: &str) -> Result<Option<Pod>, DbError> {
    Ok(pods::table
        .filter(pods::region_name.eq(region_name))
        .select(Pod::as_select())
        .first(conn)
        .optional()?)
}

/// Pods whose region name or availability zone equals `az_or_region`.
/// Empty input matches nothing (the reference returns `None` there).
pub fn find_by_az_or_region_all(
    conn: &mut AnyConnection,
    az_or_region: &str,
) -> Result<Vec<Pod>, DbError> {
    if az_or_region.is_empty() {
        return Ok(Vec::new());
    }
    Ok(pods::table
        .filter(
            pods::region_name
                .eq(az_or_region)
                .or(pods::az_name.eq(az_or_region)),
        )
        .select(Pod::as_select())
        .load(conn)?)
}

/// The single pod matching `az_or_region` by region name or AZ.
/// `Ok(None)` for empty input, [`DbError::NotFound`] when nothing matches and
/// [`DbError::InvalidInput`] when several pods match (as the reference).
pub fn find_by_az_or_region(
    conn: &mut AnyConnection,
    az_or_region: &str,
) -> Result<Option<Pod>, DbError> {
    if az_or_region.is_empty() {
        return Ok(None);
    }
    let mut found = find_by_az_or_region_all(conn, az_or_region)?;
    match found.len() {
        0 => Err(DbError::NotFound(format!("pod {az_or_region}"))),
        1 => Ok(found.pop()),
        _ => Err(DbError::InvalidInput(
            "Multiple pods with the same az_name are found".into(),
        )),
    }
}

/// The bottom pod after `current_pod_id` in pod id order (the first one
/// when `current_pod_id` is `None`); the top pod is skipped.
pub fn next_bottom_pod(
    conn: &mut AnyConnection,
    current_pod_id: Option<&str>,
) -> Result<Option<Pod>, DbError> {
    let bottoms: Vec<Pod> = pods::table
        .filter(pods::az_name.ne(""))
        .order(pods::pod_id.asc())
        .select(Pod::as_select())
        .load(conn)?;
    let Some(current) = current_pod_id else {
        return Ok(bottoms.into_iter().next());
    };
    Ok(bottoms
        .iter()
        .position(|p| p.pod_id == current)
        .and_then(|i| bottoms.get(i + 1).cloned()))
}
