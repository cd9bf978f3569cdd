//! Shadow agents (per-host L2 agents mirrored into other pods).

use diesel::prelude::*;

use crate::models::ShadowAgent;
use crate::schema::shadow_agents as sa;
use crate::{AnyConnection, DbError};

/// Insert an agent for (`host`, `agent_type`) unless one exists; an
/// existing agent is left unchanged (as the reference).
pub fn ensure_agent_exists(
    conn: &mut AnyConnection,
    pod_id: &str,
    host: &str,
    agent_type: &str,
    tunnel_ip: &str,
) -> Result<(), DbError> {
    if get_agent_by_host_type(conn, host, agent_type)?.is_some() {
        return Ok(());
    }
    let agent = ShadowAgent {
        id: uuid::Uuid::new_v4().to_string(),
        pod_id: pod_id.to_string(),
        host: host.to_string(),
        agent_type: agent_type.to_string(),
        tunnel_ip: tunnel_ip.to_string(),
    };
    // A concurrent insert of the same (host, type) is not an error.
    conn.insert_unless_duplicate(|c| {
        Ok(diesel::insert_into(sa::table).values(&agent).execute(c)?)
    })?;
    Ok(())
}

pub fn get_agent_by_host_type(
    conn: &mut AnyConnection,
    host: &str,
    agent_type: &str,
) -> Result<Option<ShadowAgent>, DbError> {
    Ok(sa::table
        .filter(sa::host.eq(host))
        .filter(sa::agent_type.eq(agent_type))
        .select(ShadowAgent::as_select())
        .first(conn)
        .optional()?)
}

pub fn list(conn: &mut AnyConnection) -> Result<Vec<ShadowAgent>, DbError> {
    Ok(sa::table.select(ShadowAgent::as_select()).load(conn)?)
}
