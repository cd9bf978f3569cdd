//! `/v1.0/routings`: the resource routing table (top id -> bottom id per pod).

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;
use serde_json::{Map, Value};
use tricircle_db::models::{NewRouting, ResourceRouting, RoutingUpdate};
use tricircle_db::routings::{self, RoutingFilter};
use tricircle_db::{pods, DbError};
use tricircle_policy::rules;
use tricircle_vocab::ResourceType;

use super::{json_ok, ListQuery, NextLink, PyDateTime};
use crate::body;
use crate::context::RequestContext;
use crate::error::ApiError;
use crate::state::AppState;

pub const PATH: &str = "/v1.0/routings";
const SUPPORTED_FILTERS: &[&str] = &[
    "id",
    "top_id",
    "bottom_id",
    "pod_id",
    "project_id",
    "resource_type",
    "created_at",
    "updated_at",
];
/// Column widths of `resource_routings`; values they cannot hold are
/// refused up front instead of failing (or being truncated) in the database.
const FIELD_WIDTHS: &[(&str, usize)] = &[
    ("top_id", 127),
    ("bottom_id", 36),
    ("pod_id", 36),
    ("project_id", 36),
    ("resource_type", 64),
];

/// A routing as the API shows it. Fields in sorted order: the bytes are
/// those of the `serde_json::Value` (sorted map) the reference-compatible
/// body was first built as (see [`super::json_ok`]).
#[derive(Serialize)]
pub(crate) struct RoutingView<'a> {
    bottom_id: Option<&'a str>,
    created_at: Option<PyDateTime>,
    id: i64,
    pod_id: &'a str,
    project_id: Option<&'a str>,
    resource_type: &'a str,
    top_id: &'a str,
    updated_at: Option<PyDateTime>,
}

impl<'a> From<&'a ResourceRouting> for RoutingView<'a> {
    fn from(r: &'a ResourceRouting) -> Self {
        RoutingView {
            bottom_id: r.bottom_id.as_deref(),
            created_at: r.created_at.map(PyDateTime),
            id: r.id,
            pod_id: &r.pod_id,
            project_id: r.project_id.as_deref(),
            resource_type: &r.resource_type,
            top_id: &r.top_id,
            updated_at: r.updated_at.map(PyDateTime),
        }
    }
}

/// `{"routing": ...}`, the body of create, show and update.
#[derive(Serialize)]
struct OneRouting<'a> {
    routing: RoutingView<'a>,
}

fn one(r: &ResourceRouting) -> HttpResponse {
    HttpResponse::Ok().json(OneRouting {
        routing: RoutingView::from(r),
    })
}

/// A list page: `routings`, then `routings_links` when a next page may
/// follow (sorted order, as [`RoutingView`]).
#[derive(Serialize)]
struct RoutingPage<'a> {
    #[serde(serialize_with = "views")]
    routings: &'a [ResourceRouting],
    #[serde(skip_serializing_if = "Option::is_none")]
    routings_links: Option<[NextLink; 1]>,
}

fn views<S: serde::Serializer>(rows: &&[ResourceRouting], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(rows.iter().map(RoutingView::from))
}

/// The page's JSON body: rendered on the database task's thread after the
/// connection is given back (see [`tricircle_db::Db::run_then`]).
fn render_page(found: &[ResourceRouting], query: &ListQuery) -> Vec<u8> {
    let mut links = None;
    if query.is_full(found.len()) {
        if let Some(last) = found.last() {
            // id 1 is the first row ever created: nothing can follow it.
            if last.id != 1 {
                links = Some([query.next(PATH, &last.id.to_string())]);
            }
        }
    }
    let page = RoutingPage {
        routings: found,
        routings_links: links,
    };
    // 180-odd bytes a row: one allocation for the usual page.
    let mut body = Vec::with_capacity(64 + found.len() * 200);
    serde_json::to_writer(&mut body, &page).expect("a routing page serializes");
    body
}

/// Whether `POST`/`PUT` may write this `resource_type`.
fn routable_by_api(resource_type: &str) -> bool {
    resource_type
        .parse::<ResourceType>()
        .is_ok_and(ResourceType::routable_by_api)
}

fn check_width(field: &str, value: &str) -> Result<(), ApiError> {
    match FIELD_WIDTHS.iter().find(|(f, _)| *f == field) {
        Some((_, width)) => body::check_column(field, value, *width),
        None => Ok(()),
    }
}

fn non_empty<'a>(obj: &'a Map<String, Value>, field: &str) -> Result<&'a str, ApiError> {
    match body::string_field(obj, field)? {
        Some(v) if !v.trim().is_empty() => Ok(v),
        _ => Err(ApiError::bad_request(format!(
            "Field {field} can not be empty"
        ))),
    }
}

fn parse_id(raw: &str) -> Option<i64> {
    raw.trim().parse().ok()
}

fn parse_timestamp(field: &str, raw: &str) -> Result<chrono::NaiveDateTime, ApiError> {
    let raw = raw.trim();
    [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S",
    ]
    .iter()
    .find_map(|fmt| chrono::NaiveDateTime::parse_from_str(raw, fmt).ok())
    .ok_or_else(|| {
        ApiError::bad_request(format!(
            "{field} should be a timestamp like '2016-09-25 03:16:32' rather than '{raw}'"
        ))
    })
}

/// The routing a `/routings/<id>` path names; a malformed id is not found.
async fn fetch(state: &AppState, raw_id: &str) -> Result<ResourceRouting, ApiError> {
    let id = parse_id(raw_id).ok_or_else(|| ApiError::not_found("Resource routing not found"))?;
    match state.db.run(move |c| routings::get(c, id)).await {
        Ok(r) => Ok(r),
        Err(DbError::NotFound(_)) => Err(ApiError::not_found("Resource routing not found")),
        Err(e) => Err(super::db_failure(e, "Failed to get resource routing")),
    }
}

pub async fn create(
    state: web::Data<AppState>,
    ctx: RequestContext,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    if !ctx.allowed(&state.policy.current(), rules::ROUTINGS_CREATE) {
        return Err(ApiError::forbidden(
            "Unauthorized to create resource routing",
        ));
    }
    let body = body::json_object(&req, payload).await?;
    let routing = body::member(&body, "routing")?
        .ok_or_else(|| ApiError::bad_request("Request body not found"))?;
    let mut values = Vec::with_capacity(5);
    for field in [
        "top_id",
        "bottom_id",
        "pod_id",
        "project_id",
        "resource_type",
    ] {
        let v = non_empty(routing, field)?.trim().to_owned();
        check_width(field, &v)?;
        values.push(v);
    }
    let [top_id, bottom_id, pod_id, project_id, resource_type]: [String; 5] =
        values.try_into().expect("five fields");
    if !routable_by_api(&resource_type) {
        return Err(ApiError::bad_request("There is no such resource type"));
    }

    let new = NewRouting {
        top_id,
        bottom_id: Some(bottom_id),
        pod_id: pod_id.clone(),
        project_id: Some(project_id),
        resource_type,
    };
    // Retried on deadlock (concurrent writers of one routing on MariaDB).
    match state
        .db
        .transaction(move |c| routings::create(c, &new))
        .await
    {
        Ok(Some(r)) => Ok(one(&r)),
        Ok(None) => Err(ApiError::conflict("Resource routing already exists")),
        // Deliberate difference: the reference answers 500 for an unknown pod.
        Err(DbError::Conflict(_)) => Err(ApiError::bad_request(format!(
            "The pod {pod_id} doesn't exist"
        ))),
        Err(e) => Err(super::db_failure(e, "Failed to create resource routing")),
    }
}

/// What one database call answers for a list request.
enum Listing {
    /// The marker names no routing.
    BadMarker(i64),
    /// The marker exists but the filters were refused: nothing listed.
    MarkerOnly,
    Page(Vec<u8>),
}

pub async fn list(
    state: web::Data<AppState>,
    ctx: RequestContext,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    if !ctx.allowed(&state.policy.current(), rules::ROUTINGS_LIST) {
        return Err(ApiError::forbidden(
            "Unauthorized to show all resource routings",
        ));
    }
    let query = ListQuery::parse(req.query_string(), state.pagination_max_limit)?;
    let limit = query.limit;
    let marker = match &query.marker {
        None => None,
        Some(raw) => Some(parse_id(raw).ok_or_else(|| {
            ApiError::bad_request(format!(
                "Marker should be an integer or a valid literal for int() rather than '{raw}'"
            ))
        })?),
    };
    // A bad marker is reported before bad filters (the reference looks the
    // marker up first); both are decided in one trip to the database.
    let filter = routing_filter(&query, &ctx);
    let wanted = filter.as_ref().ok().cloned();
    let listing = state
        .db
        .run_then(
            move |c| {
                if let Some(id) = marker {
                    match routings::get(c, id) {
                        Ok(_) => {}
                        Err(DbError::NotFound(_)) => return Ok(Err(Listing::BadMarker(id))),
                        Err(e) => return Err(e),
                    }
                }
                match wanted {
                    Some(filter) => routings::list(c, &filter, limit, marker).map(Ok),
                    None => Ok(Err(Listing::MarkerOnly)),
                }
            },
            move |found| match found {
                Ok(rows) => Listing::Page(render_page(&rows, &query)),
                Err(other) => other,
            },
        )
        .await
        .map_err(|e| super::db_failure(e, "Failed to show all resource routings"))?;
    match listing {
        Listing::BadMarker(id) => Err(ApiError::bad_request(format!(
            "Marker {id} is an invalid ID"
        ))),
        Listing::MarkerOnly => Err(filter.expect_err("filters were refused")),
        Listing::Page(body) => Ok(json_ok(body)),
    }
}

/// The listing's filters from the query, or the 400 that refuses them.
fn routing_filter(query: &ListQuery, ctx: &RequestContext) -> Result<RoutingFilter, ApiError> {
    query.check_filters(SUPPORTED_FILTERS)?;
    let mut filter = RoutingFilter::default();
    for (key, value) in &query.filters {
        match key.as_str() {
            "id" => {
                filter.id = Some(parse_id(value).ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "Id should be an integer or a valid literal for int() rather than '{value}'"
                    ))
                })?)
            }
            "top_id" => filter.top_id = Some(value.clone()),
            "bottom_id" => filter.bottom_id = Some(value.clone()),
            "pod_id" => filter.pod_id = Some(value.clone()),
            "resource_type" => filter.resource_type = Some(value.clone()),
            "created_at" => filter.created_at = Some(parse_timestamp(key, value)?),
            "updated_at" => filter.updated_at = Some(parse_timestamp(key, value)?),
            // Callers only ever see their own project's routings, whatever
            // project_id they ask for: the reference overrides the filter.
            _ => {}
        }
    }
    filter.project_id = Some(ctx.project_id.clone());
    Ok(filter)
}

pub async fn show(
    state: web::Data<AppState>,
    ctx: RequestContext,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    if !ctx.allowed(&state.policy.current(), rules::ROUTINGS_SHOW) {
        return Err(ApiError::forbidden(
            "Unauthorized to show the resource routing",
        ));
    }
    let r = fetch(&state, &path).await?;
    Ok(one(&r))
}

pub async fn delete(
    state: web::Data<AppState>,
    ctx: RequestContext,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    if !ctx.allowed(&state.policy.current(), rules::ROUTINGS_DELETE) {
        return Err(ApiError::forbidden(
            "Unauthorized to delete the resource routing",
        ));
    }
    let id = fetch(&state, &path).await?.id;
    match state.db.transaction(move |c| routings::delete(c, id)).await {
        // The reference returns its empty response object, which pecan
        // turns into 204 No Content.
        Ok(()) => Ok(HttpResponse::NoContent().finish()),
        Err(DbError::NotFound(_)) => Err(ApiError::not_found("Resource routing not found")),
        Err(e) => Err(super::db_failure(
            e,
            "Failed to delete the resource routing",
        )),
    }
}

pub async fn update(
    state: web::Data<AppState>,
    ctx: RequestContext,
    path: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    if !ctx.allowed(&state.policy.current(), rules::ROUTINGS_PUT) {
        return Err(ApiError::forbidden(
            "Unauthorized to update resource routing",
        ));
    }
    let id = fetch(&state, &path).await?.id;
    let body = body::json_object(&req, payload).await?;
    let routing = body::member(&body, "routing")?
        .ok_or_else(|| ApiError::bad_request("Request body not found"))?;

    let mut update = RoutingUpdate::default();
    for field in routing.keys() {
        let value = non_empty(routing, field)?.to_owned();
        check_width(field, &value)?;
        match field.as_str() {
            "top_id" => update.top_id = Some(value),
            "bottom_id" => update.bottom_id = Some(Some(value)),
            "pod_id" => update.pod_id = Some(value),
            "project_id" => update.project_id = Some(Some(value)),
            "resource_type" => update.resource_type = Some(value),
            // id and timestamps are not the caller's to set; other keys are
            // ignored, as the reference does.
            _ => {}
        }
    }
    if let Some(rt) = &update.resource_type {
        if !routable_by_api(rt) {
            return Err(ApiError::bad_request("There is no such resource type"));
        }
    }
    if let Some(pod_id) = update.pod_id.clone() {
        let lookup = pod_id.clone();
        match state.db.run(move |c| pods::get(c, &lookup)).await {
            Ok(_) => {}
            Err(DbError::NotFound(_)) => {
                return Err(ApiError::bad_request(format!(
                    "The pod {pod_id} doesn't exist"
                )))
            }
            Err(e) => return Err(super::db_failure(e, "Failed to update resource routing")),
        }
    }
    let new_pod = update.pod_id.clone();
    match state
        .db
        .transaction(move |c| routings::update(c, id, &update))
        .await
    {
        Ok(r) => Ok(one(&r)),
        Err(DbError::NotFound(_)) => Err(ApiError::not_found("Resource routing not found")),
        Err(DbError::Duplicate(_)) => Err(ApiError::conflict("Resource routing already exists")),
        // The pod checked above was deleted meanwhile: a lost race.
        Err(DbError::Conflict(_)) => Err(ApiError::bad_request(format!(
            "The pod {} doesn't exist",
            new_pod.unwrap_or_default()
        ))),
        Err(e) => Err(super::db_failure(e, "Failed to update resource routing")),
    }
}
