//! Everything a handler needs, shared by all workers.

use std::sync::Arc;

use tricircle_db::Db;
use tricircle_openstack::keystone::TokenValidator;
use tricircle_policy::Enforcer;

use crate::dispatch::JobDispatcher;
use crate::ownership::CentralNeutron;

/// How callers are identified (`[DEFAULT] auth_strategy`).
pub enum Auth {
    /// Identity is read from request headers; nothing is verified.
    NoAuth,
    /// `X-Auth-Token` is validated against Keystone.
    Keystone {
        validator: TokenValidator,
        /// Sent in `WWW-Authenticate` on 401 answers.
        www_authenticate_uri: String,
    },
}

pub struct AppState {
    pub db: Db,
    pub policy: Enforcer,
    pub auth: Auth,
    /// `[DEFAULT] pagination_max_limit`.
    pub pagination_max_limit: i64,
    pub dispatcher: Arc<dyn JobDispatcher>,
    /// Stock mode only: asked about job resources the routing table lacks.
    pub central: Option<CentralNeutron>,
}
