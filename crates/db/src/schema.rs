//! Diesel table definitions for the Tricircle schema (reference migration 011).
//!
//! Every timestamp column is declared `Timestamp`: the reference uses
//! `TIMESTAMP` for job times and `DATETIME` for routing/deletion times, which
//! diesel reads and writes identically on all three backends.

diesel::table! {
    pods (pod_id) {
        pod_id -> Varchar,
        region_name -> Varchar,
        pod_az_name -> Nullable<Varchar>,
        dc_name -> Nullable<Varchar>,
        az_name -> Varchar,
    }
}

diesel::table! {
    cached_endpoints (service_id) {
        service_id -> Varchar,
        pod_id -> Varchar,
        service_type -> Varchar,
        service_url -> Varchar,
    }
}

diesel::table! {
    resource_routings (id) {
        id -> BigInt,
        top_id -> Varchar,
        bottom_id -> Nullable<Varchar>,
        pod_id -> Varchar,
        project_id -> Nullable<Varchar>,
        resource_type -> Varchar,
        created_at -> Nullable<Timestamp>,
        updated_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    async_jobs (id) {
        id -> Varchar,
        #[sql_name = "type"]
        job_type -> Nullable<Varchar>,
        timestamp -> Nullable<Timestamp>,
        status -> Nullable<Varchar>,
        resource_id -> Nullable<Varchar>,
        extra_id -> Nullable<Varchar>,
        project_id -> Nullable<Varchar>,
    }
}

diesel::table! {
    async_job_logs (id) {
        id -> Varchar,
        resource_id -> Nullable<Varchar>,
        #[sql_name = "type"]
        job_type -> Nullable<Varchar>,
        timestamp -> Nullable<Timestamp>,
        project_id -> Nullable<Varchar>,
    }
}

diesel::table! {
    shadow_agents (id) {
        id -> Varchar,
        pod_id -> Varchar,
        host -> Varchar,
        #[sql_name = "type"]
        agent_type -> Varchar,
        tunnel_ip -> Varchar,
    }
}

diesel::table! {
    recycle_resources (resource_id) {
        resource_id -> Varchar,
        resource_type -> Varchar,
        project_id -> Varchar,
    }
}

// The table has no primary key in the database (migration 011 created it
// without one); diesel needs a key column named here, and `resource_id` is
// what the reference model declares.
diesel::table! {
    deleting_resources (resource_id) {
        resource_id -> Varchar,
        resource_type -> Varchar,
        deleted_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    migrate_version (repository_id) {
        repository_id -> Varchar,
        repository_path -> Nullable<Text>,
        version -> Nullable<Integer>,
    }
}

diesel::table! {
    /// Ours, not the original's: why a job failed, by its FAIL row's id.
    async_job_failures (job_id) {
        job_id -> Varchar,
        reason -> Text,
        timestamp -> Nullable<Timestamp>,
    }
}

diesel::joinable!(cached_endpoints -> pods (pod_id));
diesel::joinable!(resource_routings -> pods (pod_id));
diesel::joinable!(shadow_agents -> pods (pod_id));

diesel::allow_tables_to_appear_in_same_query!(
    pods,
    cached_endpoints,
    resource_routings,
    async_jobs,
    async_job_logs,
    async_job_failures,
    shadow_agents,
    recycle_resources,
    deleting_resources,
    migrate_version,
);
