//! Resource routings: which bottom resource in which pod backs a top resource.

use std::collections::BTreeMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::models::{NewRouting, Pod, ResourceRouting, RoutingUpdate};
use crate::schema::{pods, resource_routings as rr};
use crate::{time, AnyConnection, DbError};

/// Equality filters for [`list`]; `None` means "any value".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoutingFilter {
    pub id: Option<i64>,
    pub top_id: Option<String>,
    pub bottom_id: Option<String>,
    pub pod_id: Option<String>,
    /// `Some(None)` selects rows whose project_id IS NULL.
    pub project_id: Option<Option<String>>,
    pub resource_type: Option<String>,
    pub created_at: Option<NaiveDateTime>,
    pub updated_at: Option<NaiveDateTime>,
}

impl RoutingFilter {
    /// Whether some row could match: a value no column can hold matches
    /// nothing, and is not sent to the database (where it may be an error).
    pub fn can_match(&self) -> bool {
        use crate::text::{storable, width};
        let fits = |v: Option<&str>, w| v.is_none_or(|v| storable(v, w));
        fits(self.top_id.as_deref(), width::TOP_ID)
            && fits(self.bottom_id.as_deref(), width::ID)
            && fits(self.pod_id.as_deref(), width::ID)
            && fits(self.project_id.clone().flatten().as_deref(), width::ID)
            && fits(self.resource_type.as_deref(), width::RESOURCE_TYPE)
    }
}

type Boxed<'a> = rr::BoxedQuery<'a, crate::conn::MultiBackend>;

fn filtered(f: &RoutingFilter) -> Boxed<'static> {
    let mut q = rr::table.into_boxed();
    if let Some(v) = f.id {
        q = q.filter(rr::id.eq(v));
    }
    if let Some(v) = &f.top_id {
        q = q.filter(rr::top_id.eq(v.clone()));
    }
    if let Some(v) = &f.bottom_id {
        q = q.filter(rr::bottom_id.eq(v.clone()));
    }
    if let Some(v) = &f.pod_id {
        q = q.filter(rr::pod_id.eq(v.clone()));
    }
    match &f.project_id {
        Some(Some(v)) => q = q.filter(rr::project_id.eq(v.clone())),
        Some(None) => q = q.filter(rr::project_id.is_null()),
        None => {}
    }
    if let Some(v) = &f.resource_type {
        q = q.filter(rr::resource_type.eq(v.clone()));
    }
    // Timestamps are shown in whole seconds (the reference's MySQL
    // precision); SQLite and PostgreSQL keep microseconds, so a shown value
    // matches every row within that second.
    if let Some(v) = f.created_at {
        let (from, to) = second_of(v);
        q = q.filter(rr::created_at.ge(from).and(rr::created_at.lt(to)));
    }
    if let Some(v) = f.updated_at {
        let (from, to) = second_of(v);
        q = q.filter(rr::updated_at.ge(from).and(rr::updated_at.lt(to)));
    }
    q
}

/// `[t, t + 1 s)` for a whole-second `t`; `[t, t]`-like (exact) otherwise.
fn second_of(t: NaiveDateTime) -> (NaiveDateTime, NaiveDateTime) {
    use chrono::{SubsecRound, Timelike};
    if t.nanosecond() == 0 {
        (t, t + chrono::Duration::seconds(1))
    } else {
        let t = t.trunc_subsecs(6);
        (t, t + chrono::Duration::microseconds(1))
    }
}

#[derive(Insertable)]
#[diesel(table_name = rr)]
#[diesel(treat_none_as_default_value = false)]
struct RoutingRow<'a> {
    top_id: &'a str,
    bottom_id: Option<&'a str>,
    pod_id: &'a str,
    project_id: Option<&'a str>,
    resource_type: &'a str,
    created_at: NaiveDateTime,
}

/// Insert a routing. `Ok(None)` when a routing with the same
/// (top_id, pod_id, resource_type) exists, as the reference (callers use
/// this as a creation lock). A missing pod is [`DbError::Conflict`].
pub fn create(
    conn: &mut AnyConnection,
    new: &NewRouting,
) -> Result<Option<ResourceRouting>, DbError> {
    let row = RoutingRow {
        top_id: &new.top_id,
        bottom_id: new.bottom_id.as_deref(),
        pod_id: &new.pod_id,
        project_id: new.project_id.as_deref(),
        resource_type: &new.resource_type,
        created_at: time::now(conn),
    };
    conn.insert_unless_duplicate(|c| {
        diesel::insert_into(rr::table).values(&row).execute(c)?;
        // The unique key identifies the new row on every backend (MySQL has
        // no RETURNING).
        rr::table
            .filter(rr::top_id.eq(&new.top_id))
            .filter(rr::pod_id.eq(&new.pod_id))
            .filter(rr::resource_type.eq(&new.resource_type))
            .select(ResourceRouting::as_select())
            .first(c)
            .map_err(DbError::from)
    })
}

/// [`DbError::NotFound`] when there is no routing `id`.
pub fn get(conn: &mut AnyConnection, id: i64) -> Result<ResourceRouting, DbError> {
    rr::table
        .find(id)
        .select(ResourceRouting::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| DbError::NotFound(format!("resource routing {id}")))
}

#[derive(AsChangeset, Default)]
#[diesel(table_name = rr)]
struct Changes<'a> {
    top_id: Option<&'a str>,
    bottom_id: Option<Option<&'a str>>,
    pod_id: Option<&'a str>,
    project_id: Option<Option<&'a str>>,
    resource_type: Option<&'a str>,
    updated_at: Option<NaiveDateTime>,
}

/// Apply `upd` and return the new row. `updated_at` is set to now only when
/// a value actually changes (the reference's ORM behaves so).
pub fn update(
    conn: &mut AnyConnection,
    id: i64,
    upd: &RoutingUpdate,
) -> Result<ResourceRouting, DbError> {
    let cur = get(conn, id)?;
    fn changed<'a, T: PartialEq + ?Sized>(new: Option<&'a T>, old: &T) -> Option<&'a T> {
        new.filter(|n| *n != old)
    }
    let mut ch = Changes {
        top_id: changed(upd.top_id.as_deref(), cur.top_id.as_str()),
        pod_id: changed(upd.pod_id.as_deref(), cur.pod_id.as_str()),
        resource_type: changed(upd.resource_type.as_deref(), cur.resource_type.as_str()),
        bottom_id: upd
            .bottom_id
            .as_ref()
            .map(Option::as_deref)
            .filter(|n| *n != cur.bottom_id.as_deref()),
        project_id: upd
            .project_id
            .as_ref()
            .map(Option::as_deref)
            .filter(|n| *n != cur.project_id.as_deref()),
        updated_at: None,
    };
    if ch.top_id.is_none()
        && ch.pod_id.is_none()
        && ch.resource_type.is_none()
        && ch.bottom_id.is_none()
        && ch.project_id.is_none()
    {
        return Ok(cur);
    }
    ch.updated_at = Some(time::now(conn));
    diesel::update(rr::table.find(id)).set(&ch).execute(conn)?;
    get(conn, id)
}

/// [`DbError::NotFound`] when there is no routing `id`.
pub fn delete(conn: &mut AnyConnection, id: i64) -> Result<(), DbError> {
    let n = diesel::delete(rr::table.find(id)).execute(conn)?;
    if n == 0 {
        return Err(DbError::NotFound(format!("resource routing {id}")));
    }
    Ok(())
}

/// One page of routings matching `filter`, newest (highest id) first,
/// starting after `marker` (the last id of the previous page). A negative
/// `limit` means no limit.
///
/// Keyset pagination on the primary key: the database walks the id index
/// backwards from `marker`, so a page costs O(limit) however large the
/// table is.
pub fn list(
    conn: &mut AnyConnection,
    filter: &RoutingFilter,
    limit: i64,
    marker: Option<i64>,
) -> Result<Vec<ResourceRouting>, DbError> {
    if !filter.can_match() {
        return Ok(Vec::new());
    }
    let mut q = filtered(filter);
    if let Some(m) = marker {
        q = q.filter(rr::id.lt(m));
    }
    q = q.order(rr::id.desc());
    if limit >= 0 {
        q = q.limit(limit);
    }
    Ok(q.select(ResourceRouting::as_select()).load(conn)?)
}

/// Whether `top_id` is routed as `resource_type` for `project_id` (the job
/// POST's check): one fixed statement reading an id, where [`list`] builds
/// its SQL anew at every call and reads whole rows.
pub fn routed_for_project(
    conn: &mut AnyConnection,
    top_id: &str,
    project_id: &str,
    resource_type: &str,
) -> Result<bool, DbError> {
    let filter = RoutingFilter {
        top_id: Some(top_id.to_owned()),
        project_id: Some(Some(project_id.to_owned())),
        resource_type: Some(resource_type.to_owned()),
        ..RoutingFilter::default()
    };
    if !filter.can_match() {
        return Ok(false);
    }
    Ok(rr::table
        .filter(rr::top_id.eq(top_id))
        .filter(rr::project_id.eq(project_id))
        .filter(rr::resource_type.eq(resource_type))
        .select(rr::id)
        .first::<i64>(conn)
        .optional()?
        .is_some())
}

/// Every routing matching `filter`, in id order.
pub fn find(
    conn: &mut AnyConnection,
    filter: &RoutingFilter,
) -> Result<Vec<ResourceRouting>, DbError> {
    if !filter.can_match() {
        return Ok(Vec::new());
    }
    Ok(filtered(filter)
        .order(rr::id.asc())
        .select(ResourceRouting::as_select())
        .load(conn)?)
}

/// The routing for (top_id, pod_id, resource_type), if any.
pub fn get_by_top_pod_type(
    conn: &mut AnyConnection,
    top_id: &str,
    pod_id: &str,
    resource_type: &str,
) -> Result<Option<ResourceRouting>, DbError> {
    Ok(rr::table
        .filter(rr::top_id.eq(top_id))
        .filter(rr::pod_id.eq(pod_id))
        .filter(rr::resource_type.eq(resource_type))
        .select(ResourceRouting::as_select())
        .first(conn)
        .optional()?)
}

fn has_bottom(r: &ResourceRouting) -> bool {
    r.bottom_id.as_deref().is_some_and(|b| !b.is_empty())
}

/// (pod, bottom_id) of every routing of `top_id` with type `resource_type`
/// whose bottom resource exists (non-empty bottom_id).
pub fn get_bottom_mappings_by_top_id(
    conn: &mut AnyConnection,
    top_id: &str,
    resource_type: &str,
) -> Result<Vec<(Pod, String)>, DbError> {
    let rows: Vec<(ResourceRouting, Pod)> = rr::table
        .inner_join(pods::table)
        .filter(rr::top_id.eq(top_id))
        .filter(rr::resource_type.eq(resource_type))
        .order(rr::id.asc())
        .select((ResourceRouting::as_select(), Pod::as_select()))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter(|(r, _)| has_bottom(r))
        .map(|(r, p)| (p, r.bottom_id.unwrap_or_default()))
        .collect())
}

/// The bottom id of `top_id` in the pod named `region_name`.
pub fn get_bottom_id_by_top_id_region_name(
    conn: &mut AnyConnection,
    top_id: &str,
    region_name: &str,
    resource_type: &str,
) -> Result<Option<String>, DbError> {
    Ok(get_bottom_mappings_by_top_id(conn, top_id, resource_type)?
        .into_iter()
        .find(|(p, _)| p.region_name == region_name)
        .map(|(_, b)| b))
}

/// Routings of one project in one pod with a bottom resource, keyed by top id.
pub fn get_bottom_mappings_by_tenant_pod(
    conn: &mut AnyConnection,
    tenant_id: &str,
    pod_id: &str,
    resource_type: &str,
) -> Result<BTreeMap<String, ResourceRouting>, DbError> {
    let rows: Vec<ResourceRouting> = rr::table
        .filter(rr::pod_id.eq(pod_id))
        .filter(rr::project_id.eq(tenant_id))
        .filter(rr::resource_type.eq(resource_type))
        .order(rr::id.asc())
        .select(ResourceRouting::as_select())
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter(has_bottom)
        .map(|r| (r.top_id.clone(), r))
        .collect())
}

/// Delete the routings of `top_id` (only in `pod_id` when given); returns
/// how many were deleted.
pub fn delete_mappings_by_top_id(
    conn: &mut AnyConnection,
    top_id: &str,
    pod_id: Option<&str>,
) -> Result<usize, DbError> {
    let n = match pod_id.filter(|p| !p.is_empty()) {
        Some(p) => diesel::delete(
            rr::table
                .filter(rr::top_id.eq(top_id))
                .filter(rr::pod_id.eq(p)),
        )
        .execute(conn)?,
        None => diesel::delete(rr::table.filter(rr::top_id.eq(top_id))).execute(conn)?,
    };
    Ok(n)
}

/// Delete every routing whose bottom id is `bottom_id`.
pub fn delete_mappings_by_bottom_id(
    conn: &mut AnyConnection,
    bottom_id: &str,
) -> Result<usize, DbError> {
    Ok(diesel::delete(rr::table.filter(rr::bottom_id.eq(bottom_id))).execute(conn)?)
}

/// The pod holding the bottom resource of `top_id`, when exactly one
/// routing exists for it and it has a bottom id.
pub fn get_pod_by_top_id(conn: &mut AnyConnection, top_id: &str) -> Result<Option<Pod>, DbError> {
    let routes: Vec<ResourceRouting> = rr::table
        .filter(rr::top_id.eq(top_id))
        .limit(2)
        .select(ResourceRouting::as_select())
        .load(conn)?;
    match routes.as_slice() {
        [r] if has_bottom(r) => Ok(Some(crate::pods::get(conn, &r.pod_id)?)),
        _ => Ok(None),
    }
}

/// For resources pre-created under a name: the routing whose top id is
/// `name` points (via bottom_id) at the real top id. Delete the routings of
/// that real top id and the name routing itself.
pub fn delete_pre_created_resource_mapping(
    conn: &mut AnyConnection,
    name: &str,
) -> Result<(), DbError> {
    let first: Option<ResourceRouting> = rr::table
        .filter(rr::top_id.eq(name))
        .order(rr::id.asc())
        .select(ResourceRouting::as_select())
        .first(conn)
        .optional()?;
    if let Some(entry) = first {
        if let Some(real_top) = entry.bottom_id.as_deref() {
            diesel::delete(rr::table.filter(rr::top_id.eq(real_top))).execute(conn)?;
        }
        diesel::delete(rr::table.find(entry.id)).execute(conn)?;
    }
    Ok(())
}
