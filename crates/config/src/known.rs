//! Options that are accepted without being used, and the warnings for
//! everything else a file contains that nobody reads.
//!
//! Tricircle's configuration files usually also carry options registered by
//! OpenStack libraries the Python services load (oslo.log formats,
//! oslo.concurrency's lock path, oslo.service, oslo.middleware, ...). Those
//! are listed here so that they do not produce "unknown option" warnings.

use std::collections::HashSet;

use crate::ini::ParsedFile;
use crate::options::{all_specs, NotificationOptions};

/// Extra option names accepted per section; `None` accepts any option.
const EXTRA: &[(&str, Option<&[&str]>)] = &[
    (
        "DEFAULT",
        Some(&[
            // oslo.log
            "log_date_format",
            "use_stderr",
            "use_eventlog",
            "log_color",
            "log_rotate_interval",
            "log_rotate_interval_type",
            "max_logfile_count",
            "max_logfile_size_mb",
            "logging_context_format_string",
            "logging_default_format_string",
            "logging_debug_format_suffix",
            "logging_exception_prefix",
            "logging_user_identity_format",
            "default_log_levels",
            "publish_errors",
            "instance_format",
            "instance_uuid_format",
            "rate_limit_interval",
            "rate_limit_burst",
            "rate_limit_except_level",
            "fatal_deprecations",
            // oslo.messaging
            "rpc_backend",
            "rpc_conn_pool_size",
            "conn_pool_min_size",
            "conn_pool_ttl",
            "rpc_ping_enabled",
            "rpc_poll_timeout",
            "notification_driver",
            "notification_topics",
            "notification_transport_url",
            // oslo.service
            "backdoor_port",
            "backdoor_socket",
            "log_options",
            "graceful_shutdown_timeout",
            "run_external_periodic_tasks",
            "api_paste_config",
            "wsgi_log_format",
            "tcp_keepidle",
            "wsgi_default_pool_size",
            "max_header_line",
            "wsgi_keep_alive",
            "client_socket_timeout",
            // oslo.config itself
            "config_file",
            "config_dir",
            "config_source",
        ]),
    ),
    (
        "keystone_authtoken",
        Some(&[
            "signing_dir",
            "hash_algorithms",
            "check_revocations_for_cached",
            "revocation_cache_time",
            "memcache_pool_dead_retry",
            "memcache_pool_maxsize",
            "memcache_pool_socket_timeout",
            "memcache_pool_unused_timeout",
            "memcache_pool_conn_get_timeout",
            "memcache_use_advanced_pool",
            "memcache_tls_enabled",
            "memcache_tls_cafile",
            "memcache_tls_certfile",
            "memcache_tls_keyfile",
            "memcache_tls_allowed_ciphers",
            "memcache_sasl_enabled",
            "memcache_username",
            "memcache_password",
            // options of auth_token before keystoneauth plugins
            "auth_host",
            "auth_port",
            "auth_protocol",
            "auth_admin_prefix",
            "identity_uri",
            "admin_user",
            "admin_password",
            "admin_tenant_name",
            "admin_token",
            // other keystoneauth plugin options
            "domain_id",
            "domain_name",
            "token",
            "application_credential_id",
            "application_credential_name",
            "application_credential_secret",
            "timeout",
            "collect_timing",
            "split_loggers",
        ]),
    ),
    (
        "oslo_messaging_rabbit",
        Some(&[
            "rpc_conn_pool_size",
            "conn_pool_min_size",
            "conn_pool_ttl",
            "ssl_enforce_hostname_verification",
            "ssl_enforce_fips_mode",
            "kombu_reconnect_splay",
            "kombu_compression",
            "rabbit_max_retries",
            "rabbit_quorum_queue",
            "rabbit_transient_quorum_queue",
            "rabbit_quorum_delivery_limit",
            "rabbit_quorum_max_memory_length",
            "rabbit_quorum_max_memory_bytes",
            "direct_mandatory_flag",
            "enable_cancel_on_failover",
            "use_queue_manager",
            "hostname",
            "processname",
            "rabbit_stream_fanout",
            "fake_rabbit",
        ]),
    ),
    (
        "oslo_policy",
        Some(&[
            "remote_content_type",
            "remote_ssl_verify_server_crt",
            "remote_ssl_ca_crt_file",
            "remote_ssl_client_crt_file",
            "remote_ssl_client_key_file",
            "remote_timeout",
        ]),
    ),
    (
        "oslo_concurrency",
        Some(&["lock_path", "disable_process_locking"]),
    ),
    ("upgrade_levels", Some(&["xjobapi", "baseapi"])),
    (
        "oslo_middleware",
        Some(&[
            "enable_proxy_headers_parsing",
            "max_request_body_size",
            "secure_proxy_ssl_header",
            "http_basic_auth_user_file",
        ]),
    ),
    (
        "cors",
        Some(&[
            "allowed_origin",
            "allow_credentials",
            "expose_headers",
            "max_age",
            "allow_methods",
            "allow_headers",
        ]),
    ),
    (
        "ssl",
        Some(&["ca_file", "cert_file", "key_file", "version", "ciphers"]),
    ),
    ("oslo_messaging_notifications", None),
    ("oslo_messaging_amqp", None),
    ("oslo_messaging_kafka", None),
    ("oslo_messaging_zmq", None),
    ("matchmaker_redis", None),
];

enum Known {
    Current,
    /// A deprecated name of `[section] name`.
    Deprecated(&'static str, &'static str),
    Unknown,
}

/// The section whose options `section` has: itself, or the template of a
/// section named at run time (`[notifications_RegionOne]`).
fn template_of(section: &str) -> &str {
    if NotificationOptions::is_instance(section) {
        NotificationOptions::SECTION
    } else {
        section
    }
}

fn section_is_known(section: &str) -> bool {
    let section = template_of(section);
    EXTRA.iter().any(|(s, _)| *s == section)
        || all_specs()
            .any(|spec| spec.section == section || spec.aliases.iter().any(|(s, _)| *s == section))
}

fn classify(section: &str, name: &str) -> Known {
    let section = template_of(section);
    for spec in all_specs() {
        if spec.section == section && spec.name == name {
            return Known::Current;
        }
    }
    for spec in all_specs() {
        if spec.aliases.contains(&(section, name)) {
            return Known::Deprecated(spec.section, spec.name);
        }
    }
    let extra = EXTRA
        .iter()
        .any(|(s, names)| *s == section && names.is_none_or(|names| names.contains(&name)));
    if extra {
        Known::Current
    } else {
        Known::Unknown
    }
}

/// One warning per unknown section, unknown option and deprecated option
/// name, per file.
pub(crate) fn warnings(files: &[ParsedFile]) -> Vec<String> {
    let mut out = Vec::new();
    for file in files {
        let origin = file.origin();
        let mut seen = HashSet::new();
        for section in &file.sections {
            if !section_is_known(section) {
                out.push(format!("unknown section [{section}] in {origin}"));
            }
        }
        for e in &file.entries {
            if !section_is_known(&e.section) || !seen.insert((&e.section, &e.name)) {
                continue;
            }
            match classify(&e.section, &e.name) {
                Known::Current => {}
                Known::Deprecated(section, name) => out.push(format!(
                    "deprecated option [{}] {} in {origin}: use [{section}] {name}",
                    e.section, e.name
                )),
                Known::Unknown => out.push(format!(
                    "unknown option [{}] {} in {origin}",
                    e.section, e.name
                )),
            }
        }
    }
    out
}
