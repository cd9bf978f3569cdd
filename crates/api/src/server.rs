//! Building the API from its configuration and serving it.

use std::sync::Arc;
use std::time::Duration;

use actix_web::web;
use tricircle_config::{Config, ConfigError};
use tricircle_db::{Db, DbError, OpenError};
use tricircle_openstack::keystone::{KeystoneAuthConfig, TokenValidator};
use tricircle_policy::{Enforcer, PolicyError};

use crate::body::BodyTimeout;
use crate::dispatch::{DatabaseOnly, JobDispatcher, RpcDispatcher};
use crate::http_server::{http_server, Limits, KEEP_ALIVE};
use crate::shutdown::{self, Connections};
use crate::state::{AppState, Auth};
use tricircle_db::jobs::JobIntake;

/// Why the API could not start; each names what to fix.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    // Boxed: ConfigError is large and this error travels through every
    // start-up function.
    #[error(transparent)]
    Config(Box<ConfigError>),
    #[error("database: {0}")]
    Db(#[from] DbError),
    #[error(transparent)]
    NotReady(#[from] tricircle_db::ready::NotReady),
    #[error("policy: {0}")]
    Policy(#[from] PolicyError),
    #[error("{0}")]
    Option(String),
    #[error(transparent)]
    CentralNeutron(#[from] crate::ownership::CentralNeutronError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("server: {0}")]
    Serve(std::io::Error),
    #[error("cannot install the SIGHUP handler: {0}")]
    Signal(std::io::Error),
}

impl From<ConfigError> for StartupError {
    fn from(e: ConfigError) -> Self {
        StartupError::Config(Box::new(e))
    }
}

/// Policy rules: the defaults, overridden by `[oslo_policy] policy_file` when
/// that file is found (as oslo.policy looks it up), then by `policy_dirs`.
pub fn load_policy(config: &Config) -> Result<Enforcer, StartupError> {
    let opts = &config.oslo_policy;
    let file = config.find_file(&opts.policy_file);
    match &file {
        Some(path) => tracing::info!(path = %path.display(), "loading policy file"),
        None => tracing::info!(
            policy_file = %opts.policy_file,
            "policy file not found; using the default rules"
        ),
    }
    let dirs: Vec<_> = opts
        .policy_dirs
        .iter()
        .filter_map(|d| config.find_file(d))
        .filter(|d| d.is_dir())
        .collect();
    Ok(Enforcer::load(
        file.as_deref(),
        &dirs,
        &opts.policy_default_rule,
    )?)
}

fn required<'a>(value: &'a Option<String>, option: &str) -> Result<&'a str, StartupError> {
    value.as_deref().filter(|v| !v.is_empty()).ok_or_else(|| {
        StartupError::Option(format!(
            "[keystone_authtoken] {option} is required when [DEFAULT] auth_strategy = keystone"
        ))
    })
}

pub fn build_auth(config: &Config) -> Result<Auth, StartupError> {
    if config.default.auth_strategy == "noauth" {
        tracing::warn!("auth_strategy = noauth: identity headers are trusted without checks");
        return Ok(Auth::NoAuth);
    }
    let ks = &config.keystone_authtoken;
    let auth_url = required(&ks.auth_url, "auth_url")?;
    let password = ks
        .password
        .as_ref()
        .filter(|p| !p.is_empty())
        .ok_or_else(|| {
            StartupError::Option(
                "[keystone_authtoken] password is required when [DEFAULT] auth_strategy = keystone"
                    .into(),
            )
        })?;
    let domain = |name: &Option<String>| {
        name.clone()
            .or_else(|| ks.default_domain_name.clone())
            .unwrap_or_else(|| "Default".into())
    };
    let cfg = KeystoneAuthConfig {
        auth_url: auth_url.to_owned(),
        username: required(&ks.username, "username")?.to_owned(),
        password: password.expose().into(),
        project_name: required(&ks.project_name, "project_name")?.to_owned(),
        user_domain_name: domain(&ks.user_domain_name),
        project_domain_name: domain(&ks.project_domain_name),
        // -1 disables caching in keystonemiddleware.
        cache_ttl: Duration::from_secs(ks.token_cache_time.max(0) as u64),
        timeout: Duration::from_secs(ks.http_connect_timeout.unwrap_or(30).max(1) as u64),
        insecure: ks.insecure,
        cafile: ks.cafile.clone().map(Into::into),
    };
    let validator = TokenValidator::new(cfg)
        .map_err(|e| StartupError::Option(format!("[keystone_authtoken] {e}")))?;
    let www_authenticate_uri = ks
        .www_authenticate_uri
        .clone()
        .unwrap_or_else(|| auth_url.to_owned());
    Ok(Auth::Keystone {
        validator,
        www_authenticate_uri,
    })
}

/// SIGHUP reads the policy file and directories again; rules that no longer
/// load keep the running ones. Installed before the server listens, so an
/// early SIGHUP does not take the default action (exit).
fn reload_policy_on_hangup(
    config: &Config,
    state: web::Data<AppState>,
) -> Result<(), StartupError> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hup = signal(SignalKind::hangup()).map_err(StartupError::Signal)?;
    let config = config.clone();
    actix_web::rt::spawn(async move {
        while hup.recv().await.is_some() {
            match load_policy(&config) {
                Ok(rules) => {
                    state.policy.replace(rules);
                    tracing::info!("policy rules re-read");
                }
                Err(e) => tracing::error!(
                    error = %e,
                    "the policy no longer loads; keeping the running rules"
                ),
            }
        }
    });
    Ok(())
}

/// `[DEFAULT] api_path_prefix`, checked: `/name[/name...]`.
fn path_prefix(config: &Config) -> Result<Option<String>, StartupError> {
    let Some(raw) = config.default.api_path_prefix.as_deref() else {
        return Ok(None);
    };
    let prefix = raw.trim_end_matches('/');
    if prefix.is_empty() {
        return Ok(None);
    }
    let valid = prefix.starts_with('/')
        && prefix[1..].split('/').all(|seg| {
            !seg.is_empty()
                && seg
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.~".contains(c))
        });
    if !valid {
        return Err(StartupError::Option(format!(
            "[DEFAULT] api_path_prefix = {raw:?}: must be a path such as /tricircle \
             (letters, digits, - _ . ~ between slashes)"
        )));
    }
    Ok(Some(prefix.to_owned()))
}

/// Everything the handlers share, from the configuration.
pub fn build_state(
    config: &Config,
    dispatcher: Arc<dyn JobDispatcher>,
) -> Result<AppState, StartupError> {
    let db = Db::from_config(config).map_err(|e| match e {
        OpenError::Config(e) => StartupError::Config(e),
        OpenError::Connect { source, .. } => StartupError::Db(source),
    })?;
    Ok(AppState {
        central: crate::ownership::CentralNeutron::from_config(config, db.clone())?,
        intake: JobIntake::observed(db.clone(), Arc::new(crate::metrics::observe_job_batch)),
        db,
        policy: load_policy(config)?.into(),
        auth: build_auth(config)?,
        pagination_max_limit: config.default.pagination_max_limit,
        dispatcher,
    })
}

/// Serve until SIGTERM (graceful: what clients sent is answered, see
/// [`crate::shutdown`]) or SIGINT, telling systemd READY once listening and
/// STOPPING on the signal.
pub async fn run(config: Config) -> Result<(), StartupError> {
    tricircle_db::ready::wait_ready(&config)?;
    let dispatcher: Arc<dyn JobDispatcher> = if tricircle_rpc::broker_configured(&config) {
        let rpc =
            tricircle_rpc::config_from(&config).map_err(|e| StartupError::Option(e.to_string()))?;
        tracing::info!(broker = %rpc.transport_url, "jobs are cast to xjob over this message bus");
        Arc::new(
            RpcDispatcher::start(rpc).map_err(|e| {
                StartupError::Option(format!("cannot start the caster thread: {e}"))
            })?,
        )
    } else {
        tracing::info!(
            "no message bus configured ([DEFAULT] transport_url and [oslo_messaging_rabbit] \
             rabbit_host(s) unset): jobs are handed to xjob through the database only"
        );
        Arc::new(DatabaseOnly)
    };
    let state = web::Data::new(build_state(&config, dispatcher)?);
    reload_policy_on_hangup(&config, state.clone())?;
    let d = &config.default;
    let workers = d.api_workers.max(1) as usize;
    let addr = (d.bind_host, d.bind_port);
    let prefix = path_prefix(&config)?;
    let body_timeout = BodyTimeout(Duration::from_secs(d.client_body_timeout as u64));
    let connections = Connections::default();
    let limits = Limits {
        workers,
        max_connections: d.max_connections as usize,
        deadlines: crate::head_deadline::Limits {
            head: Duration::from_secs(d.client_request_timeout as u64),
            body: body_timeout.0,
        },
    };
    // Bounds what slow or idle clients can hold: each connection costs its
    // buffers, so connections are capped and every stage of reading a
    // request has a deadline (heads' and unread bodies' in `head_deadline`,
    // read bodies' in `body::json_object`).
    let server = http_server(addr.into(), limits, connections.clone(), move || {
        crate::app_under(state.clone(), prefix.clone()).app_data(body_timeout)
    })
    .map_err(|source| StartupError::Bind {
        addr: format!("{}:{}", addr.0, addr.1),
        source,
    })?;
    tracing::info!(
        host = %addr.0,
        port = addr.1,
        workers,
        max_connections = d.max_connections,
        auth_strategy = %d.auth_strategy,
        path_prefix = d.api_path_prefix.as_deref().unwrap_or(""),
        "admin API listening"
    );
    crate::memory::trim_after_closes(connections.clone())
        .map_err(|e| StartupError::Option(format!("cannot start the heap-trim thread: {e}")))?;
    // Listening: a `Type=notify` unit (etc/tricircle-api.service) is started.
    tricircle_sdnotify::notify_or_warn("READY=1\nSTATUS=serving the admin API");
    let stopping = actix_web::rt::spawn(notify_stopping());
    // A stop waits at most the keep-alive time: by then every idle
    // connection has closed as it would at any time.
    let result = shutdown::serve(server, connections, KEEP_ALIVE)
        .await
        .map_err(StartupError::Serve);
    stopping.abort();
    result
}

/// Tell systemd the graceful stop has begun when the signal that starts it
/// arrives (`shutdown::serve` handles the stop; this only listens too).
async fn notify_stopping() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::warn!("cannot watch SIGTERM/SIGINT: systemd will not be told of the stop");
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    tricircle_sdnotify::notify_or_warn("STOPPING=1");
}
