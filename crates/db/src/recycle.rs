//! Resources queued for deletion in the pods (`recycle_resources`).

use diesel::prelude::*;

use crate::models::RecycleResource;
use crate::schema::recycle_resources as rc;
use crate::{AnyConnection, DbError};

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
    let inserted = conn.insert_unless_duplicate(|c| {
        Ok(diesel::insert_into(rc::table).values(&row).execute(c)?)
    })?;
    Ok(inserted.map(|_| row))
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
