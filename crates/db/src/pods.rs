//! Pods (regions) and their cached service endpoints.

use diesel::prelude::*;

use crate::models::{NewPod, Pod};
use crate::schema::pods;
use crate::{text, AnyConnection, DbError};

/// Insert a pod. [`DbError::Duplicate`] when the id or region name exists.
pub fn create(conn: &mut AnyConnection, new: &NewPod) -> Result<Pod, DbError> {
    diesel::insert_into(pods::table).values(new).execute(conn)?;
    get(conn, &new.pod_id)
}

/// What [`create_checked`] did.
#[derive(Debug)]
pub enum PodCreation {
    Created(Pod),
    /// A top pod (empty `az_name`) exists already.
    TopExists,
    /// A bottom pod would be in the top pod's region.
    InTopRegion,
}

/// Insert a pod under the reference's rules — one top pod, no bottom pod in
/// the top's region — checked against committed rows while concurrent
/// creations wait, so that racing requests cannot both pass the check. It
/// runs its own transaction.
pub fn create_checked(conn: &mut AnyConnection, new: &NewPod) -> Result<PodCreation, DbError> {
    let checked_insert = |c: &mut AnyConnection| {
        c.transaction(|c| {
            lock_pods_in_transaction(c)?;
            if let Some(top) = top_pod(c)? {
                if new.az_name.is_empty() {
                    return Ok(PodCreation::TopExists);
                }
                if top.region_name == new.region_name {
                    return Ok(PodCreation::InTopRegion);
                }
            }
            create(c, new).map(PodCreation::Created)
        })
    };
    if !matches!(conn, AnyConnection::Mysql(_)) {
        return checked_insert(conn);
    }
    // MariaDB: a named lock held across the whole transaction, taken before
    // its snapshot starts (a locking read instead meets racing inserts as
    // gap-lock deadlocks). Named locks belong to the session: released
    // whatever the outcome, and by the server if the connection dies.
    let got: Option<i32> =
        diesel::select(get_lock(CREATE_LOCK, LOCK_WAIT_SECONDS)).get_result(conn)?;
    if got != Some(1) {
        return Err(DbError::Deadlock(format!(
            "named lock {CREATE_LOCK} not granted in {LOCK_WAIT_SECONDS} s"
        )));
    }
    let result = checked_insert(conn);
    let released = diesel::select(release_lock(CREATE_LOCK)).get_result::<Option<i32>>(conn);
    let pod = result?;
    released?;
    Ok(pod)
}

/// MariaDB's named lock serialising pod creations.
const CREATE_LOCK: &str = "tricircle.pods.create";
const LOCK_WAIT_SECONDS: i32 = 30;

diesel::define_sql_function! {
    /// MariaDB `GET_LOCK(name, timeout)`: 1 granted, 0 timed out.
    fn get_lock(name: diesel::sql_types::Text, timeout: diesel::sql_types::Integer) -> diesel::sql_types::Nullable<diesel::sql_types::Integer>;
}

diesel::define_sql_function! {
    /// MariaDB `RELEASE_LOCK(name)`.
    fn release_lock(name: diesel::sql_types::Text) -> diesel::sql_types::Nullable<diesel::sql_types::Integer>;
}

/// Make concurrent [`create_checked`] transactions take turns where the
/// transaction itself can: PostgreSQL, a table lock only pod writers take
/// (readers go on); SQLite, a write statement, which takes the database's
/// write lock for the rest of the transaction.
fn lock_pods_in_transaction(conn: &mut AnyConnection) -> Result<(), DbError> {
    match conn {
        AnyConnection::Pg(c) => {
            diesel::sql_query("LOCK TABLE pods IN SHARE ROW EXCLUSIVE MODE").execute(c)?;
        }
        AnyConnection::Sqlite(c) => {
            diesel::sql_query("UPDATE pods SET pod_id = pod_id WHERE 1 = 0").execute(c)?;
        }
        AnyConnection::Mysql(_) => {}
    }
    Ok(())
}

/// [`DbError::NotFound`] when there is no such pod.
pub fn get(conn: &mut AnyConnection, pod_id: &str) -> Result<Pod, DbError> {
    if !text::storable(pod_id, text::width::ID) {
        return Err(DbError::NotFound(format!("pod {pod_id}")));
    }
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
    if !text::storable(pod_id, text::width::ID) {
        return Err(DbError::NotFound(format!("pod {pod_id}")));
    }
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
