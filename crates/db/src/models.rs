//! Row types of the eight Tricircle tables. Serialized field names match the
//! reference's `to_dict()` output (e.g. a job's `job_type` is `"type"`).

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::schema::*;

#[derive(
    Queryable,
    Selectable,
    Identifiable,
    Insertable,
    Serialize,
    Deserialize,
    Debug,
    Clone,
    PartialEq,
    Eq,
)]
#[diesel(table_name = pods, primary_key(pod_id))]
#[diesel(treat_none_as_default_value = false)]
pub struct Pod {
    pub pod_id: String,
    pub region_name: String,
    pub pod_az_name: Option<String>,
    pub dc_name: Option<String>,
    pub az_name: String,
}

impl Pod {
    /// The top (central) pod is the one without an availability zone.
    pub fn is_top(&self) -> bool {
        self.az_name.is_empty() && !self.region_name.is_empty()
    }
}

/// A pod to insert: the whole row, since the caller picks the id.
pub type NewPod = Pod;

#[derive(
    Queryable,
    Selectable,
    Identifiable,
    Insertable,
    Serialize,
    Deserialize,
    Debug,
    Clone,
    PartialEq,
    Eq,
)]
#[diesel(table_name = cached_endpoints, primary_key(service_id))]
pub struct CachedEndpoint {
    pub service_id: String,
    pub pod_id: String,
    pub service_type: String,
    pub service_url: String,
}

#[derive(
    Queryable, Selectable, Identifiable, Serialize, Deserialize, Debug, Clone, PartialEq, Eq,
)]
#[diesel(table_name = resource_routings)]
pub struct ResourceRouting {
    pub id: i64,
    pub top_id: String,
    pub bottom_id: Option<String>,
    pub pod_id: String,
    pub project_id: Option<String>,
    pub resource_type: String,
    #[diesel(deserialize_as = crate::time::Stored)]
    pub created_at: Option<NaiveDateTime>,
    #[diesel(deserialize_as = crate::time::Stored)]
    pub updated_at: Option<NaiveDateTime>,
}

/// A routing to insert; `id` and `created_at` are filled in by
/// [`crate::routings::create`].
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, Default)]
pub struct NewRouting {
    pub top_id: String,
    pub bottom_id: Option<String>,
    pub pod_id: String,
    pub project_id: Option<String>,
    pub resource_type: String,
}

/// Fields of a routing that an update may change; `None` leaves a field
/// alone, `Some(None)` sets a nullable column to NULL.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RoutingUpdate {
    pub top_id: Option<String>,
    pub bottom_id: Option<Option<String>>,
    pub pod_id: Option<String>,
    pub project_id: Option<Option<String>>,
    pub resource_type: Option<String>,
}

#[derive(
    Queryable,
    Selectable,
    Identifiable,
    Insertable,
    Serialize,
    Deserialize,
    Debug,
    Clone,
    PartialEq,
    Eq,
)]
#[diesel(table_name = async_jobs)]
// None is written as NULL, not DEFAULT (the only default, the timestamp,
// is always given): the INSERT is one fixed statement, prepared once per
// connection, instead of prepared and closed again for every job on MySQL.
#[diesel(treat_none_as_default_value = false)]
pub struct AsyncJob {
    pub id: String,
    pub project_id: Option<String>,
    #[serde(rename = "type")]
    pub job_type: Option<String>,
    pub timestamp: Option<NaiveDateTime>,
    pub status: Option<String>,
    pub resource_id: Option<String>,
    pub extra_id: Option<String>,
}

#[derive(
    Queryable,
    Selectable,
    Identifiable,
    Insertable,
    Serialize,
    Deserialize,
    Debug,
    Clone,
    PartialEq,
    Eq,
)]
#[diesel(table_name = async_job_logs)]
#[diesel(treat_none_as_default_value = false)]
pub struct AsyncJobLog {
    pub id: String,
    pub project_id: Option<String>,
    pub resource_id: Option<String>,
    #[serde(rename = "type")]
    pub job_type: Option<String>,
    pub timestamp: Option<NaiveDateTime>,
}

#[derive(
    Queryable,
    Selectable,
    Identifiable,
    Insertable,
    Serialize,
    Deserialize,
    Debug,
    Clone,
    PartialEq,
    Eq,
)]
#[diesel(table_name = shadow_agents)]
pub struct ShadowAgent {
    pub id: String,
    pub pod_id: String,
    pub host: String,
    #[serde(rename = "type")]
    pub agent_type: String,
    pub tunnel_ip: String,
}

#[derive(
    Queryable,
    Selectable,
    Identifiable,
    Insertable,
    Serialize,
    Deserialize,
    Debug,
    Clone,
    PartialEq,
    Eq,
)]
#[diesel(table_name = recycle_resources, primary_key(resource_id))]
pub struct RecycleResource {
    pub resource_id: String,
    pub resource_type: String,
    pub project_id: String,
}

#[derive(
    Queryable, Selectable, Insertable, Serialize, Deserialize, Debug, Clone, PartialEq, Eq,
)]
#[diesel(table_name = deleting_resources)]
pub struct DeletingResource {
    pub resource_id: String,
    pub resource_type: String,
    pub deleted_at: Option<NaiveDateTime>,
}
