//! Everything a handler needs, shared by all workers.

use std::sync::{Arc, RwLock};

use tricircle_db::jobs::JobIntake;
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
    /// Where job POSTs write their NEW rows (together, under load).
    pub intake: JobIntake,
    pub policy: PolicyRules,
    pub auth: Auth,
    /// `[DEFAULT] pagination_max_limit`.
    pub pagination_max_limit: i64,
    pub dispatcher: Arc<dyn JobDispatcher>,
    /// Stock mode only: asked about job resources the routing table lacks.
    pub central: Option<CentralNeutron>,
}

/// The policy rules in force; SIGHUP replaces them with the file's current
/// ones while requests go on.
#[derive(Debug)]
pub struct PolicyRules(RwLock<Arc<Enforcer>>);

impl PolicyRules {
    /// The rules to decide one request with.
    pub fn current(&self) -> Arc<Enforcer> {
        self.0.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn replace(&self, rules: Enforcer) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(rules);
    }
}

impl From<Enforcer> for PolicyRules {
    fn from(rules: Enforcer) -> Self {
        PolicyRules(RwLock::new(Arc::new(rules)))
    }
}
