//! `/v1.0/jobs`: asynchronous jobs. Running and failed jobs live in
//! `async_jobs`; finished ones in `async_job_logs`; listings merge both.

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Map, Value};
use tricircle_db::jobs::{self, FoundJob, JobFilter, NewJob, Routed};
use tricircle_db::models::{AsyncJob, AsyncJobLog};
use tricircle_db::text::width;
use tricircle_db::{AnyConnection, DbError};
use tricircle_policy::rules;
use tricircle_vocab::{JobStatus, JobType, ResourceType};

use super::{python_datetime, ListQuery};
use crate::body;
use crate::context::RequestContext;
use crate::error::ApiError;
use crate::ownership::Owner;
use crate::state::AppState;

pub const PATH: &str = "/v1.0/jobs";
const SUPPORTED_FILTERS: &[&str] = &["project_id", "type", "status"];
/// Width of `async_jobs.resource_id`.
const RESOURCE_ID_WIDTH: usize = 127;

/// The job as the API shows it: status in words and `resource_id` split back
/// into named resources.
fn readable(
    id: &str,
    project_id: Option<&str>,
    job_type: &str,
    timestamp: Option<&chrono::NaiveDateTime>,
    stored_status: &str,
    resource_id: &str,
) -> Value {
    let resource: Map<String, Value> = job_type
        .parse::<JobType>()
        .map(|t| {
            t.split_resource_id(resource_id)
                .map(|(k, v)| (k.to_owned(), Value::String(v.to_owned())))
                .collect()
        })
        .unwrap_or_default();
    json!({
        "id": id,
        "project_id": project_id,
        "type": job_type,
        "timestamp": timestamp.map(python_datetime),
        "status": JobStatus::display_stored(stored_status),
        "resource": resource,
    })
}

fn readable_job(j: &AsyncJob) -> Value {
    readable(
        &j.id,
        j.project_id.as_deref(),
        j.job_type.as_deref().unwrap_or_default(),
        j.timestamp.as_ref(),
        j.status.as_deref().unwrap_or_default(),
        j.resource_id.as_deref().unwrap_or_default(),
    )
}

fn readable_log(j: &AsyncJobLog) -> Value {
    readable(
        &j.id,
        j.project_id.as_deref(),
        j.job_type.as_deref().unwrap_or_default(),
        j.timestamp.as_ref(),
        JobStatus::Success.as_stored(),
        j.resource_id.as_deref().unwrap_or_default(),
    )
}

/// Python's repr of a set of strings, which the reference puts in messages.
fn python_set(items: &[&str]) -> String {
    let inner: Vec<String> = items.iter().map(|s| format!("'{s}'")).collect();
    format!("{{{}}}", inner.join(", "))
}

/// Add `failure_reason` to the failed jobs among `items` that have one
/// kept (ours, beyond the reference: other jobs are shown unchanged).
fn with_failure_reasons(c: &mut AnyConnection, items: &mut [Value]) -> Result<(), DbError> {
    let failed = JobStatus::Fail.display();
    let ids: Vec<String> = items
        .iter()
        .filter(|j| j["status"] == failed)
        .filter_map(|j| j["id"].as_str().map(str::to_owned))
        .collect();
    let reasons = jobs::failure_reasons(c, &ids)?;
    for item in items.iter_mut() {
        let reason = item["id"].as_str().and_then(|id| reasons.get(id)).cloned();
        if let (Some(reason), Some(obj)) = (reason, item.as_object_mut()) {
            obj.insert("failure_reason".into(), Value::String(reason));
        }
    }
    Ok(())
}

fn readable_found(j: &FoundJob) -> Value {
    match j {
        FoundJob::Live(j) => readable_job(j),
        FoundJob::Logged(j) => readable_log(j),
    }
}

struct JobRequest {
    job_type: JobType,
    project_id: String,
    resource: Map<String, Value>,
}

fn parse_job_request(body: &Map<String, Value>) -> Result<JobRequest, ApiError> {
    let job = body::member(body, "job")?
        .ok_or_else(|| ApiError::bad_request("Request body not found"))?;
    let mut required = Vec::with_capacity(2);
    for field in ["type", "project_id"] {
        match body::string_field(job, field)? {
            None => {
                return Err(ApiError::bad_request(format!(
                    "{field} isn't provided in request body"
                )))
            }
            Some(v) if v.trim().is_empty() => {
                return Err(ApiError::bad_request(format!("{field} can't be empty")))
            }
            Some(v) => required.push(v.to_owned()),
        }
    }
    let [type_name, project_id]: [String; 2] = required.try_into().expect("two fields");
    body::check_column("project_id", &project_id, width::ID)?;
    // xjob's own stock-mode types are recorded by xjob only: the API keeps
    // the reference's catalogue.
    let job_type = type_name
        .parse::<JobType>()
        .ok()
        .filter(|t| t.is_reference())
        .ok_or_else(|| ApiError::bad_request(format!("There is no such job type: {type_name}")))?;
    let resource = body::member(job, "resource")?
        .ok_or_else(|| {
            ApiError::bad_request("Failed to create job, because the resource is not specified")
        })?
        .clone();

    let missing: Vec<&str> = job_type
        .field_names()
        .filter(|f| !resource.contains_key(*f))
        .collect();
    if !missing.is_empty() {
        return Err(ApiError::bad_request(format!(
            "Some required fields are not specified: {}",
            python_set(&missing)
        )));
    }
    let mut redundant: Vec<&str> = resource
        .keys()
        .map(String::as_str)
        .filter(|k| !job_type.field_names().any(|f| f == *k))
        .collect();
    if !redundant.is_empty() {
        redundant.sort_unstable();
        return Err(ApiError::bad_request(format!(
            "Some fields are redundant: {}",
            python_set(&redundant)
        )));
    }
    for field in job_type.field_names() {
        match resource[field].as_str() {
            None => {
                return Err(ApiError::bad_request(format!(
                    "Resource field {field} must be a string"
                )))
            }
            // The stored resource_id joins the fields with '#': one inside a
            // value would shift the fields xjob reads back.
            Some(v) if v.contains('#') => {
                return Err(ApiError::bad_request(format!(
                    "Resource field {field} must not contain '#'"
                )))
            }
            Some(v) => body::check_column(field, v, width::TOP_ID)?,
        }
    }
    Ok(JobRequest {
        job_type,
        project_id,
        resource,
    })
}

/// Wake xjob up for the NEW row just written. The row is the job: if
/// dispatch cannot be delivered the periodic task still runs it.
async fn dispatch(state: &AppState, ctx: &RequestContext, job_type: JobType, resource_id: &str) {
    // xjob's own stock-mode types have no RPC method: a redone one is run
    // by xjob's periodic task from its NEW row.
    if job_type.is_reference() {
        state.dispatcher.dispatch(ctx, job_type, resource_id).await;
    }
}

pub async fn create(
    state: web::Data<AppState>,
    ctx: RequestContext,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    if !ctx.allowed(&state.policy.current(), rules::JOBS_CREATE) {
        return Err(ApiError::forbidden("Unauthorized to create a job"));
    }
    let body = body::json_object(&req, payload).await?;
    let req = parse_job_request(&body)?;
    let value_of = |f: &str| req.resource[f].as_str().unwrap_or_default().to_owned();

    if matches!(
        req.job_type,
        JobType::SegRuleSetup | JobType::ResourceRecycle
    ) {
        let resource_project = value_of("project_id");
        if resource_project != req.project_id {
            return Err(ApiError::bad_request(format!(
                "Specified project_id {} and resource's project_id {resource_project} are different",
                req.project_id
            )));
        }
    }
    let resource_id = req
        .job_type
        .resource_id(|f| req.resource[f].as_str().unwrap_or_default());
    if resource_id.chars().count() > RESOURCE_ID_WIDTH {
        return Err(ApiError::bad_request(format!(
            "The joined resource id is longer than {RESOURCE_ID_WIDTH} characters"
        )));
    }
    let failed = |e| super::db_failure(e, "Failed to create a job");

    // The primary resource must be routed and belong to the job's project.
    // When it is (the usual case), the look and the NEW row are one request
    // to the intake, which writes concurrent POSTs' rows together.
    let primary = req
        .job_type
        .primary_routed()
        .map(|resource_type| (resource_type, value_of(req.job_type.primary())));
    let new_job = |routed| NewJob {
        project_id: req.project_id.clone(),
        job_type: req.job_type.name().to_owned(),
        resource_id: resource_id.clone(),
        routed,
    };
    let routed = primary.as_ref().map(|(resource_type, top_id)| Routed {
        top_id: top_id.clone(),
        resource_type: resource_type.as_str().to_owned(),
    });
    let mut job = state.intake.record(new_job(routed)).await.map_err(failed)?;
    if let (None, Some((resource_type, top_id))) = (&job, &primary) {
        if !owned_in_central(&state, *resource_type, top_id, &req.project_id).await? {
            return Err(ApiError::bad_request(format!(
                "{resource_type} {top_id} doesn't belong to the project {}",
                req.project_id
            )));
        }
        job = state.intake.record(new_job(None)).await.map_err(failed)?;
    }
    // Without a routing check the intake always writes the row.
    let job = job.ok_or_else(|| failed(DbError::Other("no row was written".into())))?;
    dispatch(&state, &ctx, req.job_type, &resource_id).await;
    Ok(HttpResponse::Ok().json(json!({ "job": readable_job(&job) })))
}

/// Stock mode: whether the central Neutron shows the resource as the
/// project's (no plugin has routed it yet). Always false otherwise.
async fn owned_in_central(
    state: &AppState,
    resource_type: ResourceType,
    top_id: &str,
    project_id: &str,
) -> Result<bool, ApiError> {
    let Some(central) = &state.central else {
        return Ok(false);
    };
    match central.owner(resource_type, top_id).await {
        Ok(Owner::Project(p)) => Ok(p == project_id),
        Ok(Owner::Unknown) => Ok(false),
        Err(e) => {
            tracing::warn!(%resource_type, top_id, error = %e, "cannot check a job's resource");
            Err(ApiError::formatted(
                503,
                format!("Cannot check {resource_type} {top_id}: {e}"),
            ))
        }
    }
}

pub async fn list(
    state: web::Data<AppState>,
    ctx: RequestContext,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    if !ctx.allowed(&state.policy.current(), rules::JOBS_LIST) {
        return Err(ApiError::forbidden("Unauthorized to show all jobs"));
    }
    let query = ListQuery::parse(req.query_string(), state.pagination_max_limit)?;
    query.check_filters(SUPPORTED_FILTERS)?;
    let (limit, marker) = (query.limit, query.marker.clone());
    let mut filter = JobFilter::default();
    for (k, v) in &query.filters {
        match k.as_str() {
            "type" => filter.job_type = Some(v.clone()),
            // An unknown status filters as given (and matches nothing), as
            // the reference.
            "status" => {
                filter.status = Some(
                    JobStatus::from_filter(v)
                        .map_or_else(|| v.clone(), |s| s.as_stored().to_owned()),
                )
            }
            // Overridden below with the caller's project, as the reference.
            _ => {}
        }
    }
    filter.project_id = Some(ctx.project_id.clone());

    let items = state
        .db
        .run(move |c| -> Result<Option<Vec<Value>>, DbError> {
            let mut out = Vec::new();
            match marker
                .as_deref()
                .map(|m| jobs::find_job(c, m))
                .transpose()?
            {
                Some(None) => return Ok(None),
                Some(Some(FoundJob::Logged(marker_log))) => {
                    let logs = jobs::list_jobs_from_log(c, &filter, limit, Some(&marker_log))?;
                    out.extend(logs.iter().map(readable_log));
                    return Ok(Some(out));
                }
                Some(Some(FoundJob::Live(marker_job))) => {
                    let live = jobs::list_jobs(c, &filter, limit, Some(&marker_job))?;
                    out.extend(live.iter().map(readable_job));
                }
                None => {
                    let live = jobs::list_jobs(c, &filter, limit, None)?;
                    out.extend(live.iter().map(readable_job));
                }
            }
            with_failure_reasons(c, &mut out)?;
            // Live jobs first, then finished ones to fill the page.
            let room = limit - out.len() as i64;
            if room > 0 {
                let logs = jobs::list_jobs_from_log(c, &filter, room, None)?;
                out.extend(logs.iter().map(readable_log));
            }
            Ok(Some(out))
        })
        .await
        .map_err(|e| super::db_failure(e, "Failed to show all asynchronous jobs"))?
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "Invalid marker: {}",
                query.marker.as_deref().unwrap_or_default()
            ))
        })?;

    let mut result = json!({});
    if query.is_full(items.len()) {
        if let Some(last) = items.last().and_then(|j| j["id"].as_str()) {
            result["jobs_links"] = query.next_link(PATH, last);
        }
    }
    result["jobs"] = Value::Array(items);
    Ok(HttpResponse::Ok().json(result))
}

fn schemas() -> Value {
    let list: Vec<Value> = JobType::ALL
        .iter()
        .map(|t| json!({"type": t.name(), "resource": t.field_names().collect::<Vec<_>>()}))
        .collect();
    json!({ "schemas": list })
}

pub async fn show(
    state: web::Data<AppState>,
    ctx: RequestContext,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    if !ctx.allowed(&state.policy.current(), rules::JOBS_SCHEMA_LIST) {
        return Err(ApiError::forbidden("Unauthorized to show job information"));
    }
    let id = path.into_inner();
    match id.as_str() {
        "schemas" => return Ok(HttpResponse::Ok().json(schemas())),
        "detail" => return list(state, ctx, req).await,
        _ => {}
    }
    let job = state
        .db
        .run(move |c| {
            let mut job: Vec<Value> = jobs::find_job(c, &id)?.iter().map(readable_found).collect();
            with_failure_reasons(c, &mut job)?;
            Ok(job.pop())
        })
        .await
        .map_err(|e| super::db_failure(e, "Failed to show the job"))?;
    match job {
        Some(j) => Ok(HttpResponse::Ok().json(json!({ "job": j }))),
        None => Err(ApiError::not_found("Resource not found")),
    }
}

/// The live job `id`, with the reference's errors for finished or unknown ids.
async fn live_job(state: &AppState, id: &str, failure: &str) -> Result<AsyncJob, ApiError> {
    let lookup = id.to_owned();
    let found = state
        .db
        .run(move |c| jobs::find_job(c, &lookup))
        .await
        .map_err(|e| super::db_failure(e, failure))?;
    match found {
        Some(FoundJob::Live(job)) => Ok(job),
        Some(FoundJob::Logged(_)) => {
            Err(ApiError::bad_request(format!("Job {id} is from job log")))
        }
        None => Err(ApiError::not_found(format!("Job {id} not found"))),
    }
}

pub async fn delete(
    state: web::Data<AppState>,
    ctx: RequestContext,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    if !ctx.allowed(&state.policy.current(), rules::JOBS_DELETE) {
        return Err(ApiError::forbidden("Unauthorized to delete a job"));
    }
    let id = path.into_inner();
    let job = live_job(&state, &id, "Failed to delete the job").await?;
    let status = job.status.as_deref().and_then(JobStatus::from_stored);
    let result = match status {
        Some(JobStatus::Running) => {
            return Err(ApiError::bad_request(format!(
                "Failed to delete the running job {id}"
            )))
        }
        // A successful job that is still in the live table is moved to the
        // log, which is what finishing it would have done.
        Some(JobStatus::Success) => {
            let now = chrono::Utc::now().naive_utc();
            state
                .db
                .run(move |c| jobs::finish_job(c, &job.id, true, now))
                .await
        }
        _ => state.db.run(move |c| jobs::delete_job(c, &job.id)).await,
    };
    match result {
        Ok(()) => Ok(HttpResponse::Ok().json(json!({}))),
        Err(DbError::NotFound(_)) => Err(ApiError::not_found(format!("Job {id} not found"))),
        Err(e) => Err(super::db_failure(e, "Failed to delete the job")),
    }
}

pub async fn redo(
    state: web::Data<AppState>,
    ctx: RequestContext,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    if !ctx.allowed(&state.policy.current(), rules::JOBS_REDO) {
        return Err(ApiError::forbidden("Unauthorized to redo a job"));
    }
    let id = path.into_inner();
    let job = live_job(&state, &id, "Failed to redo the job").await?;
    match job.status.as_deref().and_then(JobStatus::from_stored) {
        Some(JobStatus::Running) => {
            return Err(ApiError::bad_request(format!(
                "Can't redo job {id} which is running"
            )))
        }
        Some(JobStatus::Success) => {
            return Err(ApiError::bad_request(format!(
                "Can't redo job {id} which had run successfully"
            )))
        }
        _ => {}
    }
    let job_type = job
        .job_type
        .as_deref()
        .and_then(|t| t.parse::<JobType>().ok())
        .ok_or_else(|| ApiError::internal("Failed to redo the job"))?;
    let project = job.project_id.unwrap_or_default();
    let resource_id = job.resource_id.unwrap_or_default();
    let r = resource_id.clone();
    state
        .db
        .run(move |c| jobs::new_job(c, &project, job_type.name(), &r))
        .await
        .map_err(|e| super::db_failure(e, "Failed to redo the job"))?;
    dispatch(&state, &ctx, job_type, &resource_id).await;
    // The reference's controller returns None, rendered by its JSON
    // template as `null`; the openstack client parses that body.
    Ok(HttpResponse::Ok().json(Value::Null))
}
