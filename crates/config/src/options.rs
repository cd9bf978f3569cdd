//! One struct per configuration section, with the reference's option names
//! and defaults.
//!
//! Tricircle's own options come from the reference (`api/app.py`,
//! `xjob/xservice.py`, `common/client.py`, `common/resource_handle.py`,
//! `db/core.py`, `network/central_plugin.py`, `network/local_plugin.py`).
//! Options of OpenStack libraries use the library's names and defaults as of
//! the versions the reference was written against (its minimum requirements:
//! keystonemiddleware 4.17, oslo.db 4.37, oslo.messaging 5.29, oslo.policy
//! 1.30, oslo.log 3.36); options those libraries added later carry the
//! default they were introduced with.

use std::net::IpAddr;

use crate::error::ConfigError;
use crate::secret::Secret;
use crate::store::Store;
use crate::value::{Kind, OptSpec, OptValue};

const INT: Kind = Kind::Int(None, None);

/// Declares a section struct together with the descriptions of its options.
///
/// Each line is `field: Type = kind, default, "help" [, aliases = [...]];`
/// where the default is INI text (`None`: no default) and the aliases are
/// deprecated `(section, name)` pairs still read.
macro_rules! options {
    (
        $(#[$meta:meta])*
        $name:ident [$section:literal] {
            $(
                $field:ident : $ty:ty = $kind:expr, $default:expr, $help:literal
                $(, aliases = [$($alias:expr),* $(,)?])?
                ;
            )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq)]
        pub struct $name {
            $(
                #[doc = $help]
                pub $field: $ty,
            )*
        }

        impl $name {
            /// The section's name in configuration files.
            pub const SECTION: &'static str = $section;

            pub(crate) const SPECS: &'static [OptSpec] = &[$(
                options!(@spec $section, $field, $ty, $kind, $default, $help, [$($($alias),*)?])
            ),*];

            // Not every section is read under its own name (a template
            // section is read once per region).
            #[allow(dead_code)]
            pub(crate) fn from_store(store: &Store<'_>) -> Result<Self, ConfigError> {
                Self::from_section(store, $section)
            }

            /// The options as set in `section`, which has this struct's
            /// options under another name (a section per region).
            pub(crate) fn from_section(
                store: &Store<'_>,
                section: &str,
            ) -> Result<Self, ConfigError> {
                Ok(Self {
                    $(
                        $field: store.get_in::<$ty>(section, &options!(
                            @spec $section, $field, $ty, $kind, $default, $help, [$($($alias),*)?]
                        ))?,
                    )*
                })
            }
        }
    };
    (@spec $section:literal, $field:ident, $ty:ty, $kind:expr, $default:expr, $help:literal,
     [$($alias:expr),*]) => {
        OptSpec {
            section: $section,
            name: stringify!($field),
            kind: $kind,
            default: $default,
            help: $help,
            secret: <$ty as OptValue>::SECRET,
            aliases: &[$($alias),*],
        }
    };
}

options! {
    /// `[DEFAULT]`: the admin API's and xjob's options, the database URL, and
    /// the oslo.log / oslo.messaging / oslo.service options read from there.
    DefaultOptions ["DEFAULT"] {
        bind_host: IpAddr = Kind::Ip, Some("0.0.0.0"), "IP address the admin API listens on";
        bind_port: u16 = Kind::Port, Some("19999"), "Port the admin API listens on";
        api_workers: i64 = INT, Some("1"), "Number of admin API workers (values below 1 mean 1)";
        max_connections: i64 = Kind::Int(Some(1), None), Some("1024"),
            "Connections each admin API worker holds open at once; further clients wait in the listen backlog (not in the original, whose WSGI server bounds greenthreads instead)";
        client_request_timeout: i64 = Kind::Int(Some(1), None), Some("5"),
            "Seconds a client of the admin API has to send each request's headers (the first request's from the connection's start, a later one's on a keep-alive connection from its first byte) before the connection is answered 408 and closed (not in the original, whose eventlet server only closes a connection idle for client_socket_timeout, 900 s, so a client sending a byte now and then holds it)";
        client_body_timeout: i64 = Kind::Int(Some(1), None), Some("30"),
            "Seconds a client of the admin API has to send a whole request body; a slower upload is answered 408 and the connection closed, and so is the connection of a body answered before it was read (the rest is discarded) that is not complete this long after its headers (not in the original)";
        api_extensions_path: String = Kind::Str, Some(""), "Where API extensions are looked for";
        auth_strategy: String = Kind::Choice(&["keystone", "noauth"], false), Some("keystone"),
            "How API requests are authenticated";
        api_path_prefix: Option<String> = Kind::Str, None,
            "Also serve the API under this path, e.g. /tricircle (DevStack's endpoint http://host/tricircle/v1.0)";
        allow_bulk: bool = Kind::Bool, Some("true"), "Allow bulk operations in the API";
        allow_pagination: bool = Kind::Bool, Some("false"), "Allow paginated listings in the API";
        allow_sorting: bool = Kind::Bool, Some("false"), "Allow sorted listings in the API";
        pagination_max_limit: i64 = Kind::Int(Some(1), None), Some("2000"),
            "Largest number of items one API response returns";
        tricircle_db_connection: Option<Secret> = Kind::Str, None,
            "URL of the Tricircle database, e.g. mysql+pymysql://user:pass@host/tricircle?charset=utf8";
        host: String = Kind::Str, Some("tricircle.xhost"),
            "Name of this xjob node on the message bus; give every node its own";
        workers: i64 = INT, Some("1"), "Number of xjob workers (values below 1 mean 1)";
        executor_thread_pool_size: i64 = INT, Some("64"),
            "Jobs each xjob worker runs at the same time (values below 1 mean 1), as oslo.messaging's executor pool in each of the original's worker processes";
        worker_handle_timeout: i64 = INT, Some("1800"),
            "Seconds a worker may keep re-running the jobs of one resource in one turn";
        job_run_expire: i64 = INT, Some("180"),
            "Seconds after which a running job counts as stale and may be taken over";
        worker_sleep_time: f64 = Kind::Float(None), Some("0.1"),
            "Seconds a worker pauses between two passes of its job loop";
        redo_time_span: i64 = INT, Some("172800"),
            "Only failed or new jobs created within this many seconds are redone";
        enable_api_gateway: bool = Kind::Bool, Some("false"), "Whether the Nova API gateway is deployed";
        report_interval: i64 = INT, Some("10"), "Seconds between two state reports of a service";
        periodic_enable: bool = Kind::Bool, Some("true"), "Run the periodic task that redoes jobs";
        periodic_fuzzy_delay: i64 = INT, Some("60"),
            "The first periodic run waits a random 0..N seconds; 0 starts it at once";
        periodic_interval: i64 = Kind::Int(Some(1), None), Some("60"),
            "Seconds between two runs of the periodic task that redoes jobs (not in the original, which always waits 60)";
        debug: bool = Kind::Bool, Some("false"), "Log at debug level instead of info";
        verbose: bool = Kind::Bool, Some("false"),
            "Obsolete oslo.log switch; still accepted, has no effect";
        log_file: Option<String> = Kind::Str, None,
            "Log to this file instead of standard error (relative to log_dir if set)",
            aliases = [("DEFAULT", "logfile")];
        log_dir: Option<String> = Kind::Str, None, "Directory that holds log_file",
            aliases = [("DEFAULT", "logdir")];
        use_syslog: bool = Kind::Bool, Some("false"), "Also send log records to syslog (/dev/log)";
        syslog_log_facility: String = Kind::Str, Some("LOG_USER"),
            "Syslog facility used with use_syslog: LOG_USER, LOG_DAEMON, LOG_LOCAL0 .. LOG_LOCAL7, ...";
        use_journal: bool = Kind::Bool, Some("false"),
            "Also send log records to systemd's journal, with their fields (/run/systemd/journal/socket)";
        use_json: bool = Kind::Bool, Some("false"), "Write log records as JSON";
        watch_log_file: bool = Kind::Bool, Some("false"),
            "Re-open log_file when it is moved or removed (SIGHUP always re-opens it)";
        log_config_append: Option<String> = Kind::Str, None,
            "A Python logging configuration file; not supported: start-up stops when it is set",
            aliases = [("DEFAULT", "log_config")];
        log_rotation_type: String = Kind::Choice(&["interval", "size", "none"], true), Some("none"),
            "Log rotation by the daemon; only none is supported (rotate with logrotate, then SIGHUP)";
        transport_url: Option<Secret> = Kind::Str, None,
            "Message bus URL: rabbit://user:pass@host:port[,user:pass@host2:port]/vhost";
        control_exchange: String = Kind::Str, Some("openstack"),
            "Exchange that RPC topics live in, unless the transport URL names one";
        rpc_response_timeout: i64 = INT, Some("60"), "Seconds to wait for the reply to an RPC call";
    }
}

options! {
    /// `[database]` (oslo.db).
    DatabaseOptions ["database"] {
        connection: Option<Secret> = Kind::Str, None, "SQLAlchemy URL of the database",
            aliases = [("DEFAULT", "sql_connection"), ("database", "sql_connection"), ("sql", "connection")];
        slave_connection: Option<Secret> = Kind::Str, None, "SQLAlchemy URL of a read-only replica";
        backend: String = Kind::Str, Some("sqlalchemy"), "Database access back end",
            aliases = [("DEFAULT", "db_backend")];
        sqlite_synchronous: bool = Kind::Bool, Some("true"), "Use synchronous mode with SQLite",
            aliases = [("DEFAULT", "sqlite_synchronous")];
        mysql_sql_mode: String = Kind::Str, Some("TRADITIONAL"),
            "SQL mode set on MySQL sessions; empty keeps the server's mode";
        mysql_enable_ndb: bool = Kind::Bool, Some("false"), "Support MySQL Cluster (NDB)";
        mysql_wsrep_sync_wait: Option<i64> = INT, None, "Galera wsrep_sync_wait set on new connections";
        connection_recycle_time: i64 = INT, Some("3600"),
            "Seconds after which a pooled connection is replaced on its next checkout",
            aliases = [("DEFAULT", "sql_idle_timeout"), ("database", "sql_idle_timeout"),
                       ("database", "idle_timeout"), ("sql", "idle_timeout")];
        max_pool_size: Option<i64> = INT, Some("5"),
            "Connections kept open in the pool (0: no limit)",
            aliases = [("DEFAULT", "sql_max_pool_size"), ("database", "sql_max_pool_size")];
        max_retries: i64 = INT, Some("10"),
            "Connection attempts at start-up (-1: retry forever)",
            aliases = [("DEFAULT", "sql_max_retries"), ("database", "sql_max_retries")];
        retry_interval: i64 = INT, Some("10"), "Seconds between two connection attempts",
            aliases = [("DEFAULT", "sql_retry_interval"), ("database", "reconnect_interval")];
        max_overflow: Option<i64> = INT, Some("50"), "Connections allowed beyond max_pool_size",
            aliases = [("DEFAULT", "sql_max_overflow"), ("database", "sqlalchemy_max_overflow")];
        connection_debug: i64 = Kind::Int(Some(0), Some(100)), Some("0"),
            "SQL debug logging verbosity, 0 (none) to 100 (everything)",
            aliases = [("DEFAULT", "sql_connection_debug")];
        connection_trace: bool = Kind::Bool, Some("false"), "Add a stack trace to SQL as a comment",
            aliases = [("DEFAULT", "sql_connection_trace")];
        pool_timeout: Option<i64> = INT, None,
            "Seconds to wait for a free pooled connection (unset: driver default, 30)",
            aliases = [("database", "sqlalchemy_pool_timeout")];
        use_db_reconnect: bool = Kind::Bool, Some("false"), "Reconnect when the connection is lost (experimental)";
        db_retry_interval: i64 = INT, Some("1"), "Seconds between two retries of a transaction";
        db_inc_retry_interval: bool = Kind::Bool, Some("true"),
            "Grow the retry interval up to db_max_retry_interval";
        db_max_retry_interval: i64 = INT, Some("10"), "Largest retry interval in seconds";
        db_max_retries: i64 = INT, Some("20"),
            "Retries after a connection error or deadlock (-1: forever)";
        connection_parameters: String = Kind::Str, Some(""),
            "Extra URL query parameters added when connecting (a=1&b=2)";
    }
}

options! {
    /// `[keystone_authtoken]` (keystonemiddleware's auth_token and the
    /// keystoneauth password plugin).
    KeystoneAuthtokenOptions ["keystone_authtoken"] {
        www_authenticate_uri: Option<String> = Kind::Str, None,
            "Public Identity endpoint named in WWW-Authenticate of 401 responses",
            aliases = [("keystone_authtoken", "auth_uri")];
        auth_url: Option<String> = Kind::Str, None, "Identity endpoint used to validate tokens";
        auth_type: Option<String> = Kind::Str, None, "Authentication plugin of the service user, e.g. password",
            aliases = [("keystone_authtoken", "auth_plugin")];
        auth_section: Option<String> = Kind::Str, None, "Section to read the plugin options from instead";
        auth_version: Option<String> = Kind::Str, None, "Identity API version";
        interface: String = Kind::Str, Some("admin"), "Endpoint interface of the Identity API: public, internal or admin";
        username: Option<String> = Kind::Str, None, "Name of the service user",
            aliases = [("keystone_authtoken", "user_name")];
        user_id: Option<String> = Kind::Str, None, "ID of the service user";
        password: Option<Secret> = Kind::Str, None, "Password of the service user";
        user_domain_name: Option<String> = Kind::Str, None, "Domain name of the service user";
        user_domain_id: Option<String> = Kind::Str, None, "Domain ID of the service user";
        project_name: Option<String> = Kind::Str, None, "Project the service user is scoped to",
            aliases = [("keystone_authtoken", "tenant_name")];
        project_id: Option<String> = Kind::Str, None, "ID of the project the service user is scoped to",
            aliases = [("keystone_authtoken", "tenant_id")];
        project_domain_name: Option<String> = Kind::Str, None, "Domain name of that project";
        project_domain_id: Option<String> = Kind::Str, None, "Domain ID of that project";
        default_domain_name: Option<String> = Kind::Str, None,
            "Domain name used when no user or project domain is given";
        default_domain_id: Option<String> = Kind::Str, None,
            "Domain ID used when no user or project domain is given";
        system_scope: Option<String> = Kind::Str, None, "System scope of the service user's token";
        trust_id: Option<String> = Kind::Str, None, "Trust to use for the service user";
        region_name: Option<String> = Kind::Str, None, "Region of the Identity service";
        delay_auth_decision: bool = Kind::Bool, Some("false"),
            "Let requests with invalid tokens through, marked, for the application to decide";
        http_connect_timeout: Option<i64> = INT, None, "Timeout in seconds of requests to the Identity API";
        http_request_max_retries: i64 = INT, Some("3"), "Retries of a failed request to the Identity API";
        cache: Option<String> = Kind::Str, None, "Environment key of an external token cache";
        certfile: Option<String> = Kind::Str, None, "Client certificate for the Identity API";
        keyfile: Option<String> = Kind::Str, None, "Client certificate key for the Identity API";
        cafile: Option<String> = Kind::Str, None, "CA bundle for HTTPS to the Identity API (default: system CAs)";
        insecure: bool = Kind::Bool, Some("false"), "Skip HTTPS certificate verification";
        memcached_servers: Vec<String> = Kind::List, None,
            "memcached servers for the token cache (default: in-process cache)",
            aliases = [("keystone_authtoken", "memcache_servers")];
        token_cache_time: i64 = INT, Some("300"), "Seconds a validated token is cached (-1: no caching)";
        memcache_security_strategy: String = Kind::Choice(&["None", "MAC", "ENCRYPT"], true), Some("None"),
            "Protection of cached token data in memcached";
        memcache_secret_key: Option<Secret> = Kind::Str, None,
            "Key for memcache_security_strategy MAC or ENCRYPT";
        include_service_catalog: bool = Kind::Bool, Some("true"),
            "Fetch the service catalog with validated tokens";
        enforce_token_bind: String = Kind::Str, Some("permissive"),
            "Token binding check: disabled, permissive, strict, required or a bind method";
        service_token_roles: Vec<String> = Kind::List, Some("service"),
            "Roles of which a service token needs one";
        service_token_roles_required: bool = Kind::Bool, Some("false"),
            "Reject service tokens that lack all of service_token_roles";
        service_type: Option<String> = Kind::Str, None, "Service type of this service in the catalog";
    }
}

options! {
    /// `[oslo_policy]` (oslo.policy; Tricircle sets the default policy file
    /// name to `policy.json`).
    OsloPolicyOptions ["oslo_policy"] {
        policy_file: String = Kind::Str, Some("policy.json"),
            "Policy file, absolute or found like a configuration file",
            aliases = [("DEFAULT", "policy_file")];
        policy_default_rule: String = Kind::Str, Some("default"),
            "Rule checked when a requested rule is not defined",
            aliases = [("DEFAULT", "policy_default_rule")];
        policy_dirs: Vec<String> = Kind::Multi, Some("policy.d"),
            "Directories of extra policy files, absolute or found like policy_file",
            aliases = [("DEFAULT", "policy_dirs")];
        enforce_scope: bool = Kind::Bool, Some("false"),
            "Reject requests whose token scope does not match the rule's scope types";
        enforce_new_defaults: bool = Kind::Bool, Some("false"),
            "Ignore deprecated rule defaults instead of accepting them as alternatives";
    }
}

options! {
    /// `[client]`: how Tricircle reaches Keystone and Neutron.
    ClientOptions ["client"] {
        auth_url: String = Kind::Str, Some("http://127.0.0.1/identity"),
            "Keystone URL used to authenticate the admin account";
        identity_url: String = Kind::Str, Some("http://127.0.0.1/identity/v3"),
            "Keystone v3 URL (unused by the reference since Pike; kept for old files)";
        auto_refresh_endpoint: bool = Kind::Bool, Some("false"),
            "Refresh cached endpoints from Keystone when a request to one times out";
        top_region_name: Option<String> = Kind::Str, None, "Region of the central Neutron";
        admin_username: Option<String> = Kind::Str, None, "Admin account used to read endpoints";
        admin_password: Option<Secret> = Kind::Str, None, "Password of the admin account";
        admin_tenant: Option<String> = Kind::Str, None, "Project of the admin account";
        admin_user_domain_name: String = Kind::Str, Some("Default"), "Domain of the admin account";
        admin_tenant_domain_name: String = Kind::Str, Some("Default"), "Domain of the admin project";
        bridge_cidr: String = Kind::Str, Some("100.0.0.0/9"), "Address pool of the bridge networks";
        cross_pod_vxlan_mode: String = Kind::Choice(&["p2p", "l2gw", "noop"], false), Some("p2p"),
            "How VxLAN networks span pods";
        max_shadow_port_bulk_size: i64 = INT, Some("100"), "Most shadow ports created in one request";
        max_trunk_subports_bulk_size: i64 = INT, Some("100"), "Most trunk subports added in one request";
        neutron_timeout: i64 = INT, Some("60"), "Timeout in seconds of requests to Neutron";
    }
}

options! {
    /// `[tricircle]`: networking options of the central and local Neutron
    /// plugins (read by xjob where they matter to it).
    TricircleOptions ["tricircle"] {
        type_drivers: Vec<String> = Kind::List, Some("vxlan,local"), "Network type drivers to load";
        extension_drivers: Vec<String> = Kind::List, Some(""), "ML2 extension drivers to load";
        tenant_network_types: Vec<String> = Kind::List, Some("vxlan,local"),
            "Network types for tenant networks, in order of preference";
        network_vlan_ranges: Vec<String> = Kind::List, Some(""),
            "physical_network[:vlan_min:vlan_max] entries usable for VLAN networks";
        vni_ranges: Vec<String> = Kind::List, Some(""), "vni_min:vni_max ranges usable for VxLAN networks";
        flat_networks: Vec<String> = Kind::List, Some("*"),
            "Physical networks usable for flat networks ('*': any, empty: none)";
        bridge_network_type: String = Kind::Str, Some("vxlan"),
            "Network type of the L3 bridge networks (not local; must be a tenant network type)";
        default_region_for_external_network: String = Kind::Str, Some("RegionOne"),
            "Region external networks are created in by default";
        enable_api_gateway: bool = Kind::Bool, Some("true"), "Whether the Nova API gateway is deployed";
        enable_l3_route_network: bool = Kind::Bool, Some("false"),
            "Use the L3 networking model that creates bottom external networks from newL3- segments";
        real_core_plugin: Option<String> = Kind::Str, None, "Core plugin the local plugin delegates to";
        local_region_name: Option<String> = Kind::Str, None, "Region of the local Neutron";
        central_neutron_url: Option<String> = Kind::Str, None, "URL of the central Neutron";
        l2gw_tunnel_ip: Option<IpAddr> = Kind::Ip, None,
            "Tunnel IP of the L2 gateway (cross_pod_vxlan_mode = l2gw)";
    }
}

options! {
    /// `[xjob]`: behaviour of the job daemon beyond the reference's options.
    XjobOptions ["xjob"] {
        stock_neutron: bool = Kind::Bool, Some("false"),
            "Central and pod Neutron servers run stock ML2 (no Tricircle plugins): xjob also creates what the original's plugins create (bridge subnet pool, network and subnet, bottom networks, north-south router), and the API accepts a job for a top resource the routing table does not know yet when the central Neutron shows it owned by the job's project (asked with the [client] credentials). Set it for both services";
        notification_regions: Vec<String> = Kind::List, Some(""),
            "Stock mode: regions whose Neutron notifications xjob follows, each with a [notifications_<region>] section";
        reconcile_interval: i64 = Kind::Int(Some(0), None), Some("300"),
            "Stock mode: seconds between reconciliation sweeps; 0 turns them off";
        metrics_bind_host: IpAddr = Kind::Ip, Some("127.0.0.1"),
            "Address xjob serves its Prometheus metrics on (GET /metrics), with metrics_port";
        metrics_port: u16 = Kind::Port, Some("0"),
            "Port of xjob's Prometheus metrics (GET /metrics); 0 serves none";
    }
}

options! {
    /// `[notifications_<region>]`: where one region's Neutron publishes its
    /// notifications (its `[oslo_messaging_notifications]`), one section per
    /// region of `[xjob] notification_regions`.
    NotificationOptions ["notifications_<region>"] {
        transport_url: Option<Secret> = Kind::Str, None,
            "The region's Neutron [oslo_messaging_notifications] transport_url (rabbit://user:pass@host:5672/vhost)";
        topics: Vec<String> = Kind::List, Some("notifications"),
            "The region's Neutron [oslo_messaging_notifications] topics";
        pool: String = Kind::Str, Some("tricircle-xjob"),
            "Listener pool: the xjob processes of one pool share the notifications (each is handled once)";
    }
}

impl NotificationOptions {
    /// The section that configures `region`.
    pub fn section_of(region: &str) -> String {
        format!("notifications_{region}")
    }

    /// Whether `section` is one of these (a `[notifications_<region>]`).
    pub(crate) fn is_instance(section: &str) -> bool {
        section
            .strip_prefix("notifications_")
            .is_some_and(|region| !region.is_empty())
    }
}

options! {
    /// `[oslo_messaging_rabbit]` (oslo.messaging's rabbit driver, including
    /// the pre-`transport_url` connection options old files still carry).
    RabbitOptions ["oslo_messaging_rabbit"] {
        amqp_durable_queues: bool = Kind::Bool, Some("false"), "Declare durable queues",
            aliases = [("DEFAULT", "amqp_durable_queues"), ("DEFAULT", "rabbit_durable_queues")];
        amqp_auto_delete: bool = Kind::Bool, Some("false"), "Declare auto-deleted queues",
            aliases = [("DEFAULT", "amqp_auto_delete")];
        rabbit_ha_queues: bool = Kind::Bool, Some("false"), "Mirror queues (x-ha-policy: all)",
            aliases = [("DEFAULT", "rabbit_ha_queues")];
        heartbeat_timeout_threshold: i64 = INT, Some("60"),
            "Seconds without heartbeat after which the connection counts as dead (0: no heartbeat)";
        heartbeat_rate: i64 = INT, Some("2"), "Heartbeat checks per heartbeat_timeout_threshold";
        ssl: bool = Kind::Bool, Some("false"), "Connect over TLS",
            aliases = [("oslo_messaging_rabbit", "rabbit_use_ssl")];
        ssl_version: String = Kind::Str, Some(""), "TLS version to use",
            aliases = [("oslo_messaging_rabbit", "kombu_ssl_version")];
        ssl_key_file: String = Kind::Str, Some(""), "Client key file for TLS",
            aliases = [("oslo_messaging_rabbit", "kombu_ssl_keyfile")];
        ssl_cert_file: String = Kind::Str, Some(""), "Client certificate file for TLS",
            aliases = [("oslo_messaging_rabbit", "kombu_ssl_certfile")];
        ssl_ca_file: String = Kind::Str, Some(""), "CA bundle to verify the broker",
            aliases = [("oslo_messaging_rabbit", "kombu_ssl_ca_certs")];
        kombu_reconnect_delay: f64 = Kind::Float(None), Some("1.0"),
            "Seconds to wait before reconnecting after an AMQP consumer cancel",
            aliases = [("DEFAULT", "kombu_reconnect_delay")];
        kombu_missing_consumer_retry_timeout: i64 = INT, Some("60"),
            "Seconds to wait for a missing reply consumer",
            aliases = [("oslo_messaging_rabbit", "kombu_reconnect_timeout")];
        kombu_failover_strategy: String = Kind::Choice(&["round-robin", "shuffle"], false), Some("round-robin"),
            "Order in which several brokers are tried";
        rabbit_login_method: String = Kind::Str, Some("AMQPLAIN"), "AMQP login method",
            aliases = [("DEFAULT", "rabbit_login_method")];
        rabbit_retry_interval: i64 = INT, Some("1"), "Seconds before retrying a connection";
        rabbit_retry_backoff: i64 = INT, Some("2"), "Seconds added to the retry interval on each attempt",
            aliases = [("DEFAULT", "rabbit_retry_backoff")];
        rabbit_interval_max: i64 = INT, Some("30"), "Largest retry interval in seconds";
        rabbit_transient_queues_ttl: i64 = Kind::Int(Some(1), None), Some("1800"),
            "Seconds an unused reply or fanout queue lives";
        rabbit_qos_prefetch_count: i64 = INT, Some("0"), "Unacknowledged messages prefetched (0: no limit)";
        rabbit_host: String = Kind::Str, Some("localhost"), "Broker host (when transport_url is unset)",
            aliases = [("DEFAULT", "rabbit_host")];
        rabbit_port: u16 = Kind::Port, Some("5672"), "Broker port (when transport_url is unset)",
            aliases = [("DEFAULT", "rabbit_port")];
        rabbit_hosts: Vec<String> = Kind::List, Some("$rabbit_host:$rabbit_port"),
            "Broker host:port pairs (when transport_url is unset)",
            aliases = [("DEFAULT", "rabbit_hosts")];
        rabbit_userid: String = Kind::Str, Some("guest"), "Broker user (when transport_url is unset)",
            aliases = [("DEFAULT", "rabbit_userid")];
        rabbit_password: Secret = Kind::Str, Some("guest"), "Broker password (when transport_url is unset)",
            aliases = [("DEFAULT", "rabbit_password")];
        rabbit_virtual_host: String = Kind::Str, Some("/"), "Broker virtual host (when transport_url is unset)",
            aliases = [("DEFAULT", "rabbit_virtual_host")];
    }
}

/// The options of every section, in sample-file order.
pub(crate) fn all_specs() -> impl Iterator<Item = &'static OptSpec> {
    [
        DefaultOptions::SPECS,
        DatabaseOptions::SPECS,
        KeystoneAuthtokenOptions::SPECS,
        OsloPolicyOptions::SPECS,
        ClientOptions::SPECS,
        TricircleOptions::SPECS,
        XjobOptions::SPECS,
        NotificationOptions::SPECS,
        RabbitOptions::SPECS,
    ]
    .into_iter()
    .flatten()
}

/// The option registered under this (current) name.
pub(crate) fn find_spec(section: &str, name: &str) -> Option<&'static OptSpec> {
    all_specs().find(|s| s.section == section && s.name == name)
}
