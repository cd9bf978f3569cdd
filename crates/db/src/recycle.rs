//! Resources queued for deletion in the pods (`recycle_resources`) and
//! resources being deleted centrally (`deleting_resources`).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::models::{DeletingResource, RecycleResource};
use crate::schema::{deleting_resources as dr, recycle_resources as rc};
use crate::{time, AnyConnection, DbError};

/// Queue a resource for recycling; `Ok(None)` when it is already queued.
pub fn create_recycle_resource(
    conn: &mut AnyConnection,
    resource_id: &str,
    resource_type: &str,
    project_id: &str,
) -> Result<Option<RecycleResource>, DbError> {
    let row = RecycleResource {
        resource_id: resource_id.to_string(),
        resource_type: resource_type.to_string(),
        project_id: project_id.to_string(),
    };
    match conn.transaction(|c| {
        diesel::insert_into(rc::table)
            .values(&row)
            .execute(c)
            .map_err(DbError::from)
    }) {
        Ok(_) => Ok(Some(row)),
        Err(DbError::Duplicate(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Queued resources, optionally of one project and/or type.
pub fn list_recycle_resources(
    conn: &mut AnyConnection,
    project_id: Option<&str>,
    resource_type: Option<&str>,
) -> Result<Vec<RecycleResource>, DbError> {
    let mut q = rc::table.select(RecycleResource::as_select()).into_boxed();
    if let Some(p) = project_id {
        q = q.filter(rc::project_id.eq(p.to_string()));
    }
    if let Some(t) = resource_type {
        q = q.filter(rc::resource_type.eq(t.to_string()));
    }
    Ok(q.order(rc::resource_id.asc()).load(conn)?)
}

/// [`DbError::NotFound`] when not queued.
pub fn delete_recycle_resource(conn: &mut AnyConnection, resource_id: &str) -> Result<(), DbError> {
    let n = diesel::delete(rc::table.find(resource_id)).execute(conn)?;
    if n == 0 {
        return Err(DbError::NotFound(format!("recycle resource {resource_id}")));
    }
    Ok(())
}

/// Mark a resource as being deleted, stamped now. The table has no unique
/// key after migration 011, so callers check [`get_deleting_resource`]
/// first (as the reference does).
pub fn create_deleting_resource(
    conn: &mut AnyConnection,
    resource_id: &str,
    resource_type: &str,
) -> Result<DeletingResource, DbError> {
    let row = DeletingResource {
        resource_id: resource_id.to_string(),
        resource_type: resource_type.to_string(),
        deleted_at: Some(time::now(conn)),
    };
    diesel::insert_into(dr::table).values(&row).execute(conn)?;
    Ok(row)
}

pub fn get_deleting_resource(
    conn: &mut AnyConnection,
    resource_id: &str,
) -> Result<Option<DeletingResource>, DbError> {
    Ok(dr::table
        .filter(dr::resource_id.eq(resource_id))
        .select(DeletingResource::as_select())
        .first(conn)
        .optional()?)
}

/// Remove the marks of `resource_id`; returns how many rows went.
pub fn delete_deleting_resource(
    conn: &mut AnyConnection,
    resource_id: &str,
) -> Result<usize, DbError> {
    Ok(diesel::delete(dr::table.filter(dr::resource_id.eq(resource_id))).execute(conn)?)
}

/// Marks older than `before` (left behind by crashed deletions).
pub fn list_deleting_resources_before(
    conn: &mut AnyConnection,
    before: NaiveDateTime,
) -> Result<Vec<DeletingResource>, DbError> {
    Ok(dr::table
        .filter(dr::deleted_at.lt(before))
        .select(DeletingResource::as_select())
        .load(conn)?)
}
