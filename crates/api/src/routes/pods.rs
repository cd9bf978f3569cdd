//! `/v1.0/pods`: the regions Tricircle manages. The top pod (central region)
//! has no `az_name`; there is only one, and no bottom pod may share its region.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;
use serde_json::json;
use tricircle_db::models::{NewPod, Pod};
use tricircle_db::pods::{self, PodCreation};
use tricircle_db::DbError;
use tricircle_policy::rules;

use crate::body;
use crate::context::RequestContext;
use crate::error::ApiError;
use crate::state::AppState;

/// A pod as the API shows it, fields in sorted order: the bytes of the
/// `serde_json::Value` (sorted map) it was first built as.
#[derive(Serialize)]
struct PodView<'a> {
    az_name: &'a str,
    dc_name: Option<&'a str>,
    pod_az_name: Option<&'a str>,
    pod_id: &'a str,
    region_name: &'a str,
}

impl<'a> From<&'a Pod> for PodView<'a> {
    fn from(p: &'a Pod) -> Self {
        PodView {
            az_name: &p.az_name,
            dc_name: p.dc_name.as_deref(),
            pod_az_name: p.pod_az_name.as_deref(),
            pod_id: &p.pod_id,
            region_name: &p.region_name,
        }
    }
}

/// `{"pod": ...}`, the body of create and show.
#[derive(Serialize)]
struct OnePod<'a> {
    pod: PodView<'a>,
}

fn one(p: &Pod) -> HttpResponse {
    HttpResponse::Ok().json(OnePod {
        pod: PodView::from(p),
    })
}

/// `{"pods": [...]}`, rendered on the database task's thread.
fn render_list(all: &[Pod]) -> Vec<u8> {
    #[derive(Serialize)]
    struct Pods<'a> {
        #[serde(serialize_with = "views")]
        pods: &'a [Pod],
    }
    fn views<S: serde::Serializer>(pods: &&[Pod], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(pods.iter().map(PodView::from))
    }
    let mut body = Vec::with_capacity(16 + all.len() * 160);
    serde_json::to_writer(&mut body, &Pods { pods: all }).expect("a pod list serializes");
    body
}

/// A pod's text field, trimmed, refused when its column cannot hold it.
fn trimmed(
    pod: &serde_json::Map<String, serde_json::Value>,
    field: &str,
) -> Result<String, ApiError> {
    let value = body::string_field(pod, field)?
        .unwrap_or("")
        .trim()
        .to_owned();
    body::check_column(field, &value, tricircle_db::text::width::NAME)?;
    Ok(value)
}

pub async fn create(
    state: web::Data<AppState>,
    ctx: RequestContext,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    if !ctx.allowed(&state.policy.current(), rules::PODS_CREATE) {
        return Err(ApiError::abort(401, "Unauthorized to create pods"));
    }
    let body = body::json_object(&req, payload).await?;
    let pod = body::member(&body, "pod")?
        .ok_or_else(|| ApiError::abort(400, "Request body pod not found"))?;

    let region_name = trimmed(pod, "region_name")?;
    let mut pod_az_name = trimmed(pod, "pod_az_name")?;
    let dc_name = trimmed(pod, "dc_name")?;
    let az_name = trimmed(pod, "az_name")?;

    if region_name.is_empty() {
        let what = if az_name.is_empty() {
            "top region"
        } else {
            "pod"
        };
        return Err(ApiError::plain(
            422,
            format!("Valid region_name is required for {what}"),
        ));
    }
    if az_name.is_empty() {
        // The top pod never carries a pod availability zone.
        pod_az_name.clear();
    }

    let new = NewPod {
        pod_id: uuid::Uuid::new_v4().to_string(),
        region_name,
        pod_az_name: Some(pod_az_name),
        dc_name: Some(dc_name),
        az_name,
    };
    // The rules on the top pod are checked in the inserting transaction,
    // so that concurrent requests cannot both pass them.
    match state.db.run(move |c| pods::create_checked(c, &new)).await {
        Ok(PodCreation::Created(pod)) => Ok(one(&pod)),
        Ok(PodCreation::TopExists) => Err(ApiError::plain(409, "Top region already exists")),
        Ok(PodCreation::InTopRegion) => Err(ApiError::plain(
            409,
            "Pod region name duplicated with the top region name",
        )),
        Err(DbError::Duplicate(detail)) => {
            tracing::info!(%detail, "pod already exists");
            Err(ApiError::plain(409, "Record already exists"))
        }
        Err(e) => Err(super::logged_failure(
            e,
            ApiError::plain(500, "Failed to create pod"),
        )),
    }
}

pub async fn show(
    state: web::Data<AppState>,
    ctx: RequestContext,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    if !ctx.allowed(&state.policy.current(), rules::PODS_SHOW) {
        return Err(ApiError::abort(401, "Unauthorized to show pods"));
    }
    let id = path.into_inner();
    match state.db.run(move |c| pods::get(c, &id)).await {
        Ok(pod) => Ok(one(&pod)),
        Err(DbError::NotFound(_)) => Err(ApiError::abort(404, "Pod not found")),
        Err(e) => Err(super::logged_failure(
            e,
            ApiError::abort(500, "Failed to show pod"),
        )),
    }
}

pub async fn list(
    state: web::Data<AppState>,
    ctx: RequestContext,
) -> Result<HttpResponse, ApiError> {
    if !ctx.allowed(&state.policy.current(), rules::PODS_LIST) {
        return Err(ApiError::abort(401, "Unauthorized to list pods"));
    }
    match state.db.run_then(pods::list, |all| render_list(&all)).await {
        Ok(body) => Ok(super::json_ok(body)),
        Err(e) => Err(super::logged_failure(
            e,
            ApiError::abort(500, "Failed to list pods"),
        )),
    }
}

pub async fn delete(
    state: web::Data<AppState>,
    ctx: RequestContext,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    if !ctx.allowed(&state.policy.current(), rules::PODS_DELETE) {
        return Err(ApiError::abort(401, "Unauthorized to delete pods"));
    }
    let id = path.into_inner();
    match state.db.run(move |c| pods::delete(c, &id)).await {
        Ok(()) => Ok(HttpResponse::Ok().json(json!({}))),
        Err(DbError::NotFound(_)) => Err(ApiError::plain(404, "Pod not found")),
        // Deliberate difference: the reference answers 500 when routings or
        // cached endpoints still point at the pod; it is the caller's conflict.
        Err(DbError::Conflict(detail)) => {
            tracing::info!(%detail, "pod still referenced");
            Err(ApiError::conflict(
                "Pod is still referenced by resource routings or cached endpoints",
            ))
        }
        Err(e) => Err(super::logged_failure(
            e,
            ApiError::plain(500, "Failed to delete pod"),
        )),
    }
}
