//! The OpenAPI 3.1 description of the admin API, served at
//! `GET /v1.0/openapi.json` (no authentication: it holds no data). A test
//! drives every documented operation against the live API and checks the
//! answers against these schemas (`tests/api/openapi.rs`).

use std::sync::LazyLock;

use actix_web::HttpResponse;
use serde_json::{json, Value};

/// Responses every authenticated operation may give.
fn common_errors() -> Value {
    json!({
        "400": {"$ref": "#/components/responses/BadRequest"},
        "401": {"$ref": "#/components/responses/Unauthorized"},
        "403": {"$ref": "#/components/responses/Forbidden"},
        "503": {"$ref": "#/components/responses/IdentityUnavailable"}
    })
}

fn json_body(schema: &str, description: &str) -> Value {
    json!({
        "description": description,
        "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}
    })
}

/// One operation: its summary, success responses and the common errors.
fn op(summary: &str, ok: Value, extra_errors: Value) -> Value {
    let mut responses = common_errors();
    for (k, v) in ok.as_object().into_iter().flatten() {
        responses[k] = v.clone();
    }
    for (k, v) in extra_errors.as_object().into_iter().flatten() {
        responses[k] = v.clone();
    }
    json!({"summary": summary, "responses": responses})
}

fn with_body(mut op: Value, schema: &str, example: Value) -> Value {
    op["requestBody"] = json!({
        "required": true,
        "content": {"application/json": {
            "schema": {"$ref": format!("#/components/schemas/{schema}")},
            "example": example
        }}
    });
    op
}

fn id_param() -> Value {
    json!([{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}])
}

fn list_params(filters: &[&str]) -> Value {
    let mut params = vec![
        json!({"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1},
               "description": "Page size; clamped to pagination_max_limit"}),
        json!({"name": "marker", "in": "query", "schema": {"type": "string"},
               "description": "Id of the last item of the previous page"}),
    ];
    params.extend(filters.iter().map(|f| {
        json!({"name": f, "in": "query", "schema": {"type": "string"},
               "description": format!("Only items whose {f} equals this")})
    }));
    Value::Array(params)
}

fn nullable(t: &str) -> Value {
    json!({"type": [t, "null"]})
}

fn schemas() -> Value {
    let timestamp = json!({"type": ["string", "null"],
        "description": "YYYY-MM-DD HH:MM:SS (UTC), as the original prints it"});
    json!({
        "Pod": {
            "type": "object",
            "required": ["pod_id", "region_name", "az_name", "pod_az_name", "dc_name"],
            "properties": {
                "pod_id": {"type": "string"},
                "region_name": {"type": "string"},
                "az_name": {"type": "string",
                    "description": "Empty for the central (top) pod"},
                "pod_az_name": nullable("string"),
                "dc_name": nullable("string")
            }
        },
        "PodCreate": {
            "type": "object", "required": ["pod"],
            "properties": {"pod": {"type": "object", "required": ["region_name"],
                "properties": {
                    "region_name": {"type": "string", "maxLength": 255},
                    "az_name": {"type": "string", "maxLength": 255},
                    "pod_az_name": {"type": "string", "maxLength": 255},
                    "dc_name": {"type": "string", "maxLength": 255}
                }}}
        },
        "PodOne": {"type": "object", "required": ["pod"],
            "properties": {"pod": {"$ref": "#/components/schemas/Pod"}}},
        "PodList": {"type": "object", "required": ["pods"],
            "properties": {"pods": {"type": "array", "items": {"$ref": "#/components/schemas/Pod"}}}},
        "Routing": {
            "type": "object",
            "required": ["id", "top_id", "bottom_id", "pod_id", "project_id", "resource_type",
                         "created_at", "updated_at"],
            "properties": {
                "id": {"type": "integer"},
                "top_id": {"type": "string"},
                "bottom_id": nullable("string"),
                "pod_id": {"type": "string"},
                "project_id": nullable("string"),
                "resource_type": {"type": "string"},
                "created_at": timestamp,
                "updated_at": timestamp
            }
        },
        "RoutingCreate": {
            "type": "object", "required": ["routing"],
            "properties": {"routing": {"type": "object",
                "required": ["top_id", "bottom_id", "pod_id", "project_id", "resource_type"],
                "properties": {
                    "top_id": {"type": "string", "maxLength": 127},
                    "bottom_id": {"type": "string", "maxLength": 36},
                    "pod_id": {"type": "string"},
                    "project_id": {"type": "string", "maxLength": 36},
                    "resource_type": {"type": "string",
                        "description": "network, subnet, port, router, security_group, ..."}
                }}}
        },
        "RoutingUpdate": {
            "type": "object", "required": ["routing"],
            "properties": {"routing": {"type": "object", "minProperties": 1,
                "properties": {
                    "top_id": {"type": "string"}, "bottom_id": {"type": "string"},
                    "pod_id": {"type": "string"}, "project_id": {"type": "string"},
                    "resource_type": {"type": "string"}
                }}}
        },
        "RoutingOne": {"type": "object", "required": ["routing"],
            "properties": {"routing": {"$ref": "#/components/schemas/Routing"}}},
        "RoutingList": {"type": "object", "required": ["routings"],
            "properties": {
                "routings": {"type": "array", "items": {"$ref": "#/components/schemas/Routing"}},
                "routings_links": {"$ref": "#/components/schemas/Links"}
            }},
        "Job": {
            "type": "object",
            "required": ["id", "project_id", "type", "timestamp", "status", "resource"],
            "properties": {
                "id": {"type": "string"},
                "project_id": nullable("string"),
                "type": {"type": "string"},
                "timestamp": timestamp,
                "status": {"type": "string", "enum": ["NEW", "RUNNING", "SUCCESS", "FAIL"]},
                "resource": {"type": "object", "additionalProperties": {"type": "string"},
                    "description": "The job type's resource fields (see /v1.0/jobs/schemas)"},
                "failure_reason": {"type": "string",
                    "description": "FAIL jobs only: why the last run failed (not in the original)"}
            }
        },
        "JobCreate": {
            "type": "object", "required": ["job"],
            "properties": {"job": {"type": "object", "required": ["type", "project_id", "resource"],
                "properties": {
                    "type": {"type": "string"},
                    "project_id": {"type": "string", "maxLength": 36},
                    "resource": {"type": "object", "additionalProperties": {"type": "string"}}
                }}}
        },
        "JobOne": {"type": "object", "required": ["job"],
            "properties": {"job": {"$ref": "#/components/schemas/Job"}}},
        "JobList": {"type": "object", "required": ["jobs"],
            "properties": {
                "jobs": {"type": "array", "items": {"$ref": "#/components/schemas/Job"}},
                "jobs_links": {"$ref": "#/components/schemas/Links"}
            }},
        "JobSchemas": {"type": "object", "required": ["schemas"],
            "properties": {"schemas": {"type": "array", "items": {
                "type": "object", "required": ["type", "resource"],
                "properties": {"type": {"type": "string"},
                    "resource": {"type": "array", "items": {"type": "string"}}}}}}},
        "Links": {"type": "array", "items": {"type": "object", "required": ["rel", "href"],
            "properties": {"rel": {"type": "string"}, "href": {"type": "string"}}}},
        "Empty": {"type": "object", "maxProperties": 0},
        "Null": {"type": "null"},
        "Versions": {"type": "object", "required": ["versions"],
            "properties": {"versions": {"type": "array", "items": {"type": "object",
                "required": ["id", "status", "links", "updated"]}}}},
        "Version": {"type": "object", "required": ["version", "links"],
            "properties": {"version": {"const": "1.0"},
                "links": {"$ref": "#/components/schemas/Links"}}},
        "Health": {"type": "object", "required": ["detailed", "reasons"],
            "properties": {"detailed": {"type": "boolean"},
                "reasons": {"type": "array", "items": {"type": "string"}}}},
        "Fault": {
            "description": "The original's error shapes: {\"<type>\": {\"code\", \"message\"}} \
                (badRequest, forbidden, itemNotFound, conflictingRequest), \
                {\"code\", \"title\", \"message\"}, or {\"error\": {\"code\", \"title\", \"message\"}}",
            "type": "object", "minProperties": 1
        }
    })
}

fn fault(description: &str) -> Value {
    json!({"description": description, "content": {
        "application/json": {"schema": {"$ref": "#/components/schemas/Fault"}},
        "text/plain": {"schema": {"type": "string"}}
    }})
}

fn document() -> Value {
    let not_found = json!({"404": fault("No such item")});
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Tricircle admin API",
            "version": "1.0",
            "description": "Pods, the resource routing table and asynchronous jobs, as the \
                original Tricircle admin API (tricircle-api). Authentication: a Keystone token \
                in X-Auth-Token (auth_strategy = keystone), or identity headers X-Role and \
                X-Tenant-Id (noauth, for development). A policy refusal answers 401 on pods \
                and routings and 403 on jobs, as the original."
        },
        "servers": [{"url": "/"}],
        "components": {
            "schemas": schemas(),
            "securitySchemes": {"keystone": {"type": "apiKey", "in": "header", "name": "X-Auth-Token"}},
            "responses": {
                "BadRequest": fault("Bad input, with a message naming it"),
                "Unauthorized": fault("No valid token, or refused by policy (pods, routings)"),
                "Forbidden": fault("Refused by policy"),
                "IdentityUnavailable": fault("Keystone could not be reached to check the token")
            }
        },
        "security": [{"keystone": []}],
        "paths": {
            "/": {"get": op("API versions", json!({"200": json_body("Versions", "Versions")}), json!({}))},
            "/v1.0": {"get": op("Version 1.0 and its resources", json!({"200": json_body("Version", "Links")}), json!({}))},
            "/v1.0/pods": {
                "get": op("List pods", json!({"200": json_body("PodList", "The pods")}), json!({})),
                "post": with_body(
                    op("Register a pod (no az_name: the central pod, only one)",
                       json!({"200": json_body("PodOne", "The new pod")}),
                       json!({"409": fault("The central pod, or a pod of this region, exists")})),
                    "PodCreate",
                    json!({"pod": {"region_name": "RegionOne", "az_name": "az1"}}))
            },
            "/v1.0/pods/{id}": {
                "parameters": id_param(),
                "get": op("Show a pod", json!({"200": json_body("PodOne", "The pod")}), not_found.clone()),
                "delete": op("Delete a pod", json!({"200": json_body("Empty", "Deleted")}),
                    json!({"404": fault("No such pod"), "409": fault("The pod is in use")}))
            },
            "/v1.0/routings": {
                "get": {
                    "parameters": list_params(&["id", "top_id", "bottom_id", "pod_id", "project_id",
                        "resource_type", "created_at", "updated_at"]),
                    "summary": "List routings, newest id first",
                    "responses": op("", json!({"200": json_body("RoutingList", "A page of routings")}), json!({}))["responses"]
                },
                "post": with_body(
                    op("Create a routing", json!({"200": json_body("RoutingOne", "The new routing")}),
                       json!({"409": fault("A routing of this top id, pod and type exists")})),
                    "RoutingCreate",
                    json!({"routing": {"top_id": "net-top", "bottom_id": "net-bottom",
                        "pod_id": "<pod id>", "project_id": "<project>", "resource_type": "network"}}))
            },
            "/v1.0/routings/{id}": {
                "parameters": id_param(),
                "get": op("Show a routing", json!({"200": json_body("RoutingOne", "The routing")}), not_found.clone()),
                "put": with_body(
                    op("Update a routing", json!({"200": json_body("RoutingOne", "The routing")}), not_found.clone()),
                    "RoutingUpdate",
                    json!({"routing": {"bottom_id": "net-bottom-2"}})),
                "delete": op("Delete a routing", json!({"204": {"description": "Deleted"}}), not_found.clone())
            },
            "/v1.0/jobs": {
                "get": {
                    "parameters": list_params(&["type", "status"]),
                    "summary": "List the caller's project's jobs: live ones, then finished ones",
                    "responses": op("", json!({"200": json_body("JobList", "A page of jobs")}), json!({}))["responses"]
                },
                "post": with_body(
                    op("Ask for a job", json!({"200": json_body("JobOne", "The NEW job")}), json!({})),
                    "JobCreate",
                    json!({"job": {"type": "configure_route", "project_id": "<project>",
                        "resource": {"router_id": "<router id>"}}}))
            },
            "/v1.0/jobs/schemas": {
                "get": op("Job types and their resource fields", json!({"200": json_body("JobSchemas", "The job types")}), json!({}))
            },
            "/v1.0/jobs/detail": {
                "get": {
                    "parameters": list_params(&["type", "status"]),
                    "summary": "Same as GET /v1.0/jobs",
                    "responses": op("", json!({"200": json_body("JobList", "A page of jobs")}), json!({}))["responses"]
                }
            },
            "/v1.0/jobs/{id}": {
                "parameters": id_param(),
                "get": op("Show a job", json!({"200": json_body("JobOne", "The job")}), not_found.clone()),
                "put": op("Redo a NEW or FAIL job", json!({"200": json_body("Null", "JSON null, as the original")}), not_found.clone()),
                "delete": op("Delete a FAIL or NEW job", json!({"200": json_body("Empty", "Deleted")}), not_found)
            },
            "/healthcheck": {
                "get": {
                    "summary": "oslo.middleware's healthcheck: 200 OK, or 503 with reasons (database)",
                    "security": [],
                    "responses": {
                        "200": {"description": "Healthy", "content": {
                            "text/plain": {"schema": {"const": "OK"}},
                            "application/json": {"schema": {"$ref": "#/components/schemas/Health"}}}},
                        "503": {"description": "Unhealthy", "content": {
                            "text/plain": {"schema": {"type": "string"}},
                            "application/json": {"schema": {"$ref": "#/components/schemas/Health"}}}}
                    }
                }
            },
            "/metrics": {
                "get": {
                    "summary": "Prometheus metrics (OpenMetrics text)",
                    "security": [],
                    "responses": {"200": {"description": "Metrics", "content": {
                        "application/openmetrics-text": {"schema": {"type": "string"}}}}}
                }
            },
            "/v1.0/openapi.json": {
                "get": {
                    "summary": "This document",
                    "security": [],
                    "responses": {"200": {"description": "OpenAPI 3.1", "content": {
                        "application/json": {"schema": {"type": "object", "required": ["openapi", "paths"]}}}}}
                }
            }
        }
    })
}

/// The document, built once.
pub static DOCUMENT: LazyLock<Value> = LazyLock::new(document);

/// `GET /v1.0/openapi.json`.
pub async fn serve() -> HttpResponse {
    HttpResponse::Ok().json(&*DOCUMENT)
}
