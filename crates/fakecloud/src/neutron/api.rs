//! The fake Neutron's HTTP surface: `/v2.0/...` routing, token checks,
//! bulk bodies, filters and `fields`.

use std::collections::BTreeMap;
use std::sync::Mutex;

use actix_web::http::{header, Method, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Map, Value};

use super::store::{fault, missing, Fault, Res, Store};
use crate::server::lock;
use crate::TokenCheck;

pub(crate) type Shared = web::Data<Mutex<Store>>;

/// One notification as Neutron's API layer publishes it after a write
/// (`neutron/api/v2/base.py`, `router.interface.*` from `l3_db.py`).
#[derive(Debug, Clone, PartialEq)]
pub struct FakeNotification {
    /// `network.create.end`, `router.interface.create`...
    pub event_type: String,
    pub payload: Value,
    /// The caller's request context (`project_id`, `tenant`, `request_id`).
    pub context: Map<String, Value>,
}

/// Where published notifications go: kept for `take_notifications`
/// (oldest first), or sent to a subscriber.
#[derive(Debug, Default)]
pub(crate) struct NotificationLog {
    pub(crate) kept: Vec<FakeNotification>,
    pub(crate) subscriber: Option<tokio::sync::mpsc::UnboundedSender<FakeNotification>>,
}

impl NotificationLog {
    fn publish(&mut self, n: FakeNotification) {
        match &self.subscriber {
            Some(tx) => {
                // Kept when the subscriber has gone, as before it came.
                if let Err(unsent) = tx.send(n) {
                    self.kept.push(unsent.0);
                }
            }
            None => self.kept.push(n),
        }
    }
}

pub(crate) type Notifications = web::Data<Mutex<NotificationLog>>;

/// One resource a successful create made (`POST` of a collection, bulk
/// items each), as a test checking that nothing was created twice reads
/// them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Created {
    /// The store's collection (`networks`, `ports`, `security_group_rules`...).
    pub collection: String,
    pub id: String,
    /// Empty for resources without a name (floating IPs, rules).
    pub name: String,
    pub project_id: String,
}

/// Every resource created so far, oldest first.
pub(crate) type Creates = web::Data<Mutex<Vec<Created>>>;

/// Who may call; `None` accepts any non-empty token.
#[derive(Clone)]
pub(crate) struct Auth(pub(crate) Option<TokenCheck>);

pub(crate) fn configure(
    cfg: &mut web::ServiceConfig,
    store: Shared,
    notifications: Notifications,
    creates: Creates,
    auth: Auth,
) {
    cfg.app_data(store)
        .app_data(notifications)
        .app_data(creates)
        .app_data(web::Data::new(auth))
        .service(web::resource("/").route(web::get().to(versions)))
        .service(web::scope("/v2.0").default_service(web::to(dispatch)));
}

async fn versions() -> HttpResponse {
    HttpResponse::Ok().json(json!({"versions": [{"id": "v2.0", "status": "CURRENT", "links": []}]}))
}

fn neutron_error(status: u16, kind: &str, message: &str) -> HttpResponse {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    HttpResponse::build(status)
        .json(json!({"NeutronError": {"type": kind, "message": message, "detail": ""}}))
}

/// Neutron's body for a status forced by a fault or an unknown path.
pub(crate) fn error_response(status: StatusCode) -> HttpResponse {
    from_fault(match status.as_u16() {
        404 => no_such_resource(),
        405 => method_not_allowed(),
        503 => fault(
            503,
            "HTTPServiceUnavailable",
            "The server is currently unavailable.",
        ),
        other => fault(
            other,
            "HTTPInternalServerError",
            "Request Failed: internal server error while processing your request.",
        ),
    })
}

fn no_such_resource() -> Fault {
    fault(404, "HTTPNotFound", "The resource could not be found.")
}

fn method_not_allowed() -> Fault {
    fault(
        405,
        "HTTPMethodNotAllowed",
        "The method is not allowed for this resource.",
    )
}

fn from_fault(f: Fault) -> HttpResponse {
    neutron_error(f.status, &f.kind, &f.message)
}

/// keystonemiddleware's answer to a missing or bad token.
fn unauthorized() -> HttpResponse {
    HttpResponse::Unauthorized()
        .insert_header((header::WWW_AUTHENTICATE, "Keystone uri=\"fake\""))
        .json(json!({"error": {"code": 401, "title": "Unauthorized",
            "message": "The request you have made requires authentication."}}))
}

/// Path segment -> (store collection, singular); the collection's name is
/// also the plural of its bodies.
fn collection(seg: &str) -> Option<(&'static str, &'static str)> {
    const TABLE: &[(&str, &str, &str)] = &[
        ("networks", "networks", "network"),
        ("subnets", "subnets", "subnet"),
        ("ports", "ports", "port"),
        ("routers", "routers", "router"),
        ("floatingips", "floatingips", "floatingip"),
        ("security-groups", "security_groups", "security_group"),
        (
            "security-group-rules",
            "security_group_rules",
            "security_group_rule",
        ),
        ("trunks", "trunks", "trunk"),
        ("qos/policies", "policies", "policy"),
        ("subnetpools", "subnetpools", "subnetpool"),
        ("sfc/port_pairs", "port_pairs", "port_pair"),
        (
            "sfc/port_pair_groups",
            "port_pair_groups",
            "port_pair_group",
        ),
        (
            "sfc/flow_classifiers",
            "flow_classifiers",
            "flow_classifier",
        ),
        ("sfc/port_chains", "port_chains", "port_chain"),
    ];
    TABLE
        .iter()
        .find(|(s, _, _)| *s == seg)
        .map(|(_, coll, singular)| (*coll, *singular))
}

fn query_pairs(q: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(q.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

const NOT_FILTERS: &[&str] = &[
    "fields",
    "limit",
    "marker",
    "sort_key",
    "sort_dir",
    "page_reverse",
];

fn scalar_matches(v: &Value, want: &str) -> bool {
    match v {
        Value::String(s) => s == want,
        Value::Bool(b) => match want.to_ascii_lowercase().as_str() {
            "true" | "1" => *b,
            "false" | "0" => !*b,
            _ => false,
        },
        Value::Number(n) => n.to_string() == want,
        Value::Null => want.is_empty() || want == "None",
        _ => false,
    }
}

fn matches(res: &Value, key: &str, wants: &[String]) -> bool {
    let Some(v) = res.get(key) else {
        return false;
    };
    if key == "fixed_ips" {
        // `fixed_ips=ip_address=10.0.0.3` / `fixed_ips=subnet_id=...`
        return wants.iter().any(|w| {
            let (k, want) = w.split_once('=').unwrap_or(("", w));
            v.as_array()
                .into_iter()
                .flatten()
                .any(|f| f.get(k).is_some_and(|x| scalar_matches(x, want)))
        });
    }
    match v {
        Value::Array(items) => items
            .iter()
            .any(|i| wants.iter().any(|w| scalar_matches(i, w))),
        _ => wants.iter().any(|w| scalar_matches(v, w)),
    }
}

/// Filters and `fields` over a rendered collection, as Neutron's API
/// layer applies them.
fn list(items: &[&Value], query: &[(String, String)]) -> Res<Vec<Value>> {
    let mut filters: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    let mut fields: Vec<&str> = Vec::new();
    for (k, v) in query {
        if k == "fields" {
            fields.push(v);
        } else if !NOT_FILTERS.contains(&k.as_str()) {
            filters.entry(k).or_default().push(v.clone());
        }
    }
    for key in filters.keys() {
        if !items.is_empty() && !items.iter().any(|i| i.get(*key).is_some()) {
            return Err(fault(
                400,
                "HTTPBadRequest",
                format!("[{key}] is invalid attribute for filtering"),
            ));
        }
    }
    Ok(items
        .iter()
        .filter(|i| filters.iter().all(|(k, w)| matches(i, k, w)))
        .map(|i| select_fields((*i).clone(), &fields))
        .collect())
}

fn select_fields(v: Value, fields: &[&str]) -> Value {
    if fields.is_empty() {
        return v;
    }
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .filter(|(k, _)| fields.contains(&k.as_str()))
                .collect(),
        ),
        other => other,
    }
}

fn project_of(req: &HttpRequest, auth: &Auth) -> Option<String> {
    let token = req
        .headers()
        .get("X-Auth-Token")
        .and_then(|v| v.to_str().ok())
        .filter(|t| !t.is_empty())?;
    match &auth.0 {
        Some(check) => check(token),
        None => Some("fake-project".into()),
    }
}

fn body_object<'a>(body: &'a Value, key: &str) -> Res<&'a Map<String, Value>> {
    body.get(key).and_then(Value::as_object).ok_or_else(|| {
        fault(
            400,
            "BadRequest",
            format!("Bad {key} request: Unable to find '{key}' in request body."),
        )
    })
}

type Create = fn(&mut Store, &str, &Map<String, Value>) -> Res<Value>;
type Update = fn(&mut Store, &str, &Map<String, Value>) -> Res<Value>;
type Delete = fn(&mut Store, &str) -> Res<()>;

fn handlers(coll: &str) -> (Create, Update, Delete) {
    match coll {
        "networks" => (
            Store::create_network,
            Store::update_network,
            Store::delete_network,
        ),
        "subnets" => (
            Store::create_subnet,
            Store::update_subnet,
            Store::delete_subnet,
        ),
        "ports" => (Store::create_port, Store::update_port, Store::delete_port),
        "routers" => (
            Store::create_router,
            Store::update_router,
            Store::delete_router,
        ),
        "floatingips" => (
            Store::create_floatingip,
            Store::update_floatingip,
            Store::delete_floatingip,
        ),
        "security_groups" => (
            Store::create_security_group,
            Store::update_security_group,
            Store::delete_security_group,
        ),
        "security_group_rules" => (
            Store::create_security_group_rule,
            |_, _, _| {
                Err(fault(
                    405,
                    "HTTPMethodNotAllowed",
                    "Security group rules cannot be updated.",
                ))
            },
            Store::delete_security_group_rule,
        ),
        "subnetpools" => (
            Store::create_subnetpool,
            Store::update_subnetpool,
            Store::delete_subnetpool,
        ),
        "trunks" => (
            Store::create_trunk,
            Store::update_trunk,
            Store::delete_trunk,
        ),
        "port_pairs" => (
            Store::create_port_pair,
            Store::update_port_pair,
            Store::delete_port_pair,
        ),
        "port_pair_groups" => (
            Store::create_port_pair_group,
            Store::update_port_pair_group,
            Store::delete_port_pair_group,
        ),
        "flow_classifiers" => (
            Store::create_flow_classifier,
            Store::update_flow_classifier,
            Store::delete_flow_classifier,
        ),
        "port_chains" => (
            Store::create_port_chain,
            Store::update_port_chain,
            Store::delete_port_chain,
        ),
        _ => (
            Store::create_qos_policy,
            Store::update_qos_policy,
            Store::delete_qos_policy,
        ),
    }
}

async fn dispatch(
    req: HttpRequest,
    body: web::Bytes,
    store: Shared,
    notifications: Notifications,
    creates: Creates,
    auth: web::Data<Auth>,
) -> HttpResponse {
    let Some(project) = project_of(&req, &auth) else {
        return unauthorized();
    };
    let body: Value = if body.is_empty() {
        Value::Null
    } else {
        match serde_json::from_slice(&body) {
            Ok(v) => v,
            Err(_) => {
                return neutron_error(400, "HTTPBadRequest", "Malformed request body");
            }
        }
    };
    let path = req
        .path()
        .trim_start_matches("/v2.0/")
        .trim_end_matches(".json")
        .to_owned();
    let query = query_pairs(req.query_string());
    let mut store = lock(&store);
    // Every write is all-or-nothing, as in Neutron's DB transactions.
    let before = (req.method() != Method::GET).then(|| store.clone());
    let mut events = Vec::new();
    let result = route(
        &mut store,
        req.method(),
        &path,
        &query,
        &body,
        &project,
        &mut events,
    );
    match result {
        Ok((status, v)) => {
            if req.method() == Method::POST && status == 201 {
                if let Some(v) = &v {
                    record_creates(&mut lock(&creates), v);
                }
            }
            if !events.is_empty() {
                let context = json!({"project_id": project, "tenant": project,
                    "request_id": format!("req-{}", uuid::Uuid::new_v4())});
                let context = context.as_object().cloned().unwrap_or_default();
                let mut log = lock(&notifications);
                for (event_type, payload) in events {
                    log.publish(FakeNotification {
                        event_type,
                        payload,
                        context: context.clone(),
                    });
                }
            }
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
            match v {
                Some(v) => HttpResponse::build(status).json(v),
                None => HttpResponse::build(status).finish(),
            }
        }
        Err(f) => {
            if let Some(b) = before {
                *store = b;
            }
            from_fault(f)
        }
    }
}

/// Keep each resource of a create's answer (`{"network": {...}}` or
/// `{"networks": [...]}`), under the answer's key made plural.
fn record_creates(log: &mut Vec<Created>, answer: &Value) {
    let Some((key, body)) = answer.as_object().and_then(|m| m.iter().next()) else {
        return;
    };
    let (collection, items) = match body {
        Value::Array(items) => (key.clone(), items.iter().collect::<Vec<_>>()),
        one => (plural_of(key), vec![one]),
    };
    let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
    for item in items {
        log.push(Created {
            collection: collection.clone(),
            id: text(item, "id"),
            name: text(item, "name"),
            project_id: text(item, "project_id"),
        });
    }
}

/// The collection whose bodies' singular key is `singular` (`policy` ->
/// `policies`), or `singular` + `s`.
fn plural_of(singular: &str) -> String {
    match singular {
        "policy" => "policies".to_owned(),
        s => format!("{s}s"),
    }
}

/// Serve one call; a write also adds the notification Neutron publishes
/// for it to `events`.
fn route(
    store: &mut Store,
    method: &Method,
    path: &str,
    query: &[(String, String)],
    body: &Value,
    project: &str,
    events: &mut Vec<(String, Value)>,
) -> Res<(u16, Option<Value>)> {
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    // QoS rules: qos/policies/{id}/{kind}_rules[/{rule}]
    if segs.len() >= 4 && segs[0] == "qos" && segs[1] == "policies" {
        return qos_rules(store, method, &segs[2..], query, body);
    }
    let (head, rest) = if segs.first() == Some(&"qos") && segs.len() >= 2 {
        ("qos/policies".to_owned(), &segs[2.min(segs.len())..])
    } else if segs.first() == Some(&"sfc") && segs.len() >= 2 {
        // networking-sfc's collections live under `sfc/`.
        (format!("sfc/{}", segs[1]), &segs[2..])
    } else if let Some((h, r)) = segs.split_first() {
        ((*h).to_owned(), r)
    } else {
        return Err(no_such_resource());
    };
    let Some((coll, singular)) = collection(&head) else {
        return Err(no_such_resource());
    };
    let plural = coll;
    let (create, update, delete) = handlers(coll);
    match (method.as_str(), rest) {
        ("GET", []) => {
            // Only collections whose answer carries their rules need
            // rendering before filtering; the others are filtered where
            // they lie and only what matches is copied.
            let rendered: Vec<Value>;
            let items: Vec<&Value> = if store.renders_rules(coll) {
                rendered = store
                    .all(coll)
                    .iter()
                    .map(|v| store.render(coll, v))
                    .collect();
                rendered.iter().collect()
            } else {
                store.all(coll).iter().map(|v| &**v).collect()
            };
            Ok((200, Some(json!({ plural: list(&items, query)? }))))
        }
        ("POST", []) => {
            if let Some(many) = body.get(plural).and_then(Value::as_array) {
                let mut out = Vec::new();
                for one in many {
                    let obj = one
                        .as_object()
                        .ok_or_else(|| fault(400, "BadRequest", "Bulk items must be objects"))?;
                    out.push(create(store, project, obj)?);
                }
                let done = json!({ plural: out });
                events.push((format!("{singular}.create.end"), done.clone()));
                return Ok((201, Some(done)));
            }
            let v = create(store, project, body_object(body, singular)?)?;
            let done = json!({ singular: v });
            events.push((format!("{singular}.create.end"), done.clone()));
            Ok((201, Some(done)))
        }
        ("GET", [id]) => {
            let v = store
                .find(coll, id)
                .map(|v| store.render(coll, v))
                .ok_or_else(|| missing(coll, id))?;
            let fields: Vec<&str> = query
                .iter()
                .filter(|(k, _)| k == "fields")
                .map(|(_, v)| v.as_str())
                .collect();
            Ok((200, Some(json!({ singular: select_fields(v, &fields) }))))
        }
        ("PUT", [id]) => {
            if store.find(coll, id).is_none() {
                return Err(missing(coll, id));
            }
            let v = update(store, id, body_object(body, singular)?)?;
            let done = json!({ singular: v });
            events.push((format!("{singular}.update.end"), done.clone()));
            Ok((200, Some(done)))
        }
        ("DELETE", [id]) => {
            let gone = store.find(coll, id).map(|v| store.render(coll, v));
            delete(store, id)?;
            events.push((
                format!("{singular}.delete.end"),
                json!({ format!("{singular}_id"): id, singular: gone }),
            ));
            Ok((204, None))
        }
        ("PUT", [id, action]) => {
            let obj = body.as_object().cloned().unwrap_or_default();
            let v = match (coll, *action) {
                ("routers", "add_router_interface") => {
                    let v = store.add_router_interface(id, &obj)?;
                    events.push((
                        "router.interface.create".into(),
                        json!({"router_interface": v}),
                    ));
                    v
                }
                ("routers", "remove_router_interface") => {
                    let v = store.remove_router_interface(id, &obj)?;
                    events.push((
                        "router.interface.delete".into(),
                        json!({"router_interface": v}),
                    ));
                    v
                }
                ("trunks", "add_subports") => store.add_subports(id, &obj)?,
                ("trunks", "remove_subports") => store.remove_subports(id, &obj)?,
                _ => return Err(method_not_allowed()),
            };
            Ok((200, Some(v)))
        }
        ("GET", [id, "get_subports"]) if coll == "trunks" => {
            let t = store
                .find(coll, id)
                .cloned()
                .ok_or_else(|| missing(coll, id))?;
            Ok((200, Some(json!({"sub_ports": t["sub_ports"]}))))
        }
        _ => Err(method_not_allowed()),
    }
}

fn qos_rules(
    store: &mut Store,
    method: &Method,
    segs: &[&str],
    query: &[(String, String)],
    body: &Value,
) -> Res<(u16, Option<Value>)> {
    let policy = segs[0];
    let plural = segs[1];
    let kind = match plural {
        "bandwidth_limit_rules" => "bandwidth_limit",
        "dscp_marking_rules" => "dscp_marking",
        "minimum_bandwidth_rules" => "minimum_bandwidth",
        _ => return Err(no_such_resource()),
    };
    let singular = &plural[..plural.len() - 1];
    let strip = |mut v: Value| {
        if let Some(m) = v.as_object_mut() {
            m.remove("qos_policy_id");
            m.remove("type");
        }
        v
    };
    match (method.as_str(), &segs[2..]) {
        ("GET", []) => {
            let items: Vec<Value> = store
                .qos_rules(policy, kind)?
                .into_iter()
                .map(strip)
                .collect();
            let items: Vec<&Value> = items.iter().collect();
            Ok((200, Some(json!({ plural: list(&items, query)? }))))
        }
        ("POST", []) => {
            let v = store.create_qos_rule(policy, kind, body_object(body, singular)?)?;
            Ok((201, Some(json!({ singular: strip(v) }))))
        }
        ("GET", [id]) => Ok((
            200,
            Some(json!({ singular: strip(store.qos_rule(policy, kind, id)?) })),
        )),
        ("PUT", [id]) => {
            let v = store.update_qos_rule(policy, kind, id, body_object(body, singular)?)?;
            Ok((200, Some(json!({ singular: strip(v) }))))
        }
        ("DELETE", [id]) => {
            store.delete_qos_rule(policy, kind, id)?;
            Ok((204, None))
        }
        _ => Err(method_not_allowed()),
    }
}
