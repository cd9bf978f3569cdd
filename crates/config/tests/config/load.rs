//! Loading behaviour: defaults, merging, substitution, types, errors,
//! warnings and secrets.

use std::net::IpAddr;
use std::path::PathBuf;

use tempfile::TempDir;
use tricircle_config::{Config, ConfigError};

struct Files {
    dir: TempDir,
    paths: Vec<PathBuf>,
}

impl Files {
    fn new() -> Self {
        Files {
            dir: tempfile::tempdir().expect("tempdir"),
            paths: Vec::new(),
        }
    }

    fn add(mut self, name: &str, text: &str) -> Self {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).expect("write config");
        self.paths.push(path);
        self
    }

    fn path(&self, i: usize) -> String {
        self.paths[i].display().to_string()
    }

    fn load(&self) -> (Config, Vec<String>) {
        Config::load(&self.paths).expect("configuration loads")
    }

    fn error(&self) -> String {
        let e: ConfigError = Config::load(&self.paths).expect_err("configuration is rejected");
        let text = e.to_string();
        assert!(!text.contains('\n'), "error is one line: {text}");
        text
    }
}

fn one(text: &str) -> Files {
    Files::new().add("api.conf", text)
}

#[test]
fn defaults_without_files() {
    let (c, warnings) = Config::load(&[]).unwrap();
    assert!(warnings.is_empty());
    let d = &c.default;
    assert_eq!(d.bind_host, "0.0.0.0".parse::<IpAddr>().unwrap());
    assert_eq!(d.bind_port, 19999);
    assert_eq!(d.api_workers, 1);
    assert_eq!(d.api_extensions_path, "");
    assert_eq!(d.auth_strategy, "keystone");
    assert!(d.allow_bulk && !d.allow_pagination && !d.allow_sorting);
    assert_eq!(d.pagination_max_limit, 2000);
    assert_eq!(d.tricircle_db_connection, None);
    assert_eq!(d.host, "tricircle.xhost");
    assert_eq!(d.workers, 1);
    assert_eq!(d.worker_handle_timeout, 1800);
    assert_eq!(d.job_run_expire, 180);
    assert_eq!(d.worker_sleep_time, 0.1);
    assert_eq!(d.redo_time_span, 172800);
    assert!(!d.enable_api_gateway);
    assert_eq!(d.report_interval, 10);
    assert!(d.periodic_enable);
    assert_eq!(d.periodic_fuzzy_delay, 60);
    assert_eq!(d.transport_url, None);
    assert_eq!(d.control_exchange, "openstack");
    assert_eq!(d.rpc_response_timeout, 60);

    assert_eq!(c.database.max_pool_size, Some(5));
    assert_eq!(c.database.max_overflow, Some(50));
    assert_eq!(c.database.pool_timeout, None);
    assert_eq!(c.database.connection_recycle_time, 3600);
    assert_eq!(c.database.db_max_retries, 20);
    assert_eq!(c.database.mysql_sql_mode, "TRADITIONAL");

    assert_eq!(c.keystone_authtoken.token_cache_time, 300);
    assert_eq!(c.keystone_authtoken.www_authenticate_uri, None);
    assert!(c.keystone_authtoken.memcached_servers.is_empty());
    assert_eq!(c.keystone_authtoken.service_token_roles, vec!["service"]);

    assert_eq!(c.oslo_policy.policy_file, "policy.json");
    assert_eq!(c.oslo_policy.policy_default_rule, "default");
    assert_eq!(c.oslo_policy.policy_dirs, vec!["policy.d"]);

    assert_eq!(c.client.auth_url, "http://127.0.0.1/identity");
    assert_eq!(c.client.bridge_cidr, "100.0.0.0/9");
    assert_eq!(c.client.cross_pod_vxlan_mode, "p2p");
    assert_eq!(c.client.admin_user_domain_name, "Default");
    assert_eq!(c.client.neutron_timeout, 60);
    assert!(!c.client.auto_refresh_endpoint);

    assert_eq!(c.tricircle.type_drivers, vec!["vxlan", "local"]);
    assert_eq!(c.tricircle.flat_networks, vec!["*"]);
    assert!(c.tricircle.network_vlan_ranges.is_empty());
    assert_eq!(c.tricircle.bridge_network_type, "vxlan");
    assert_eq!(c.tricircle.default_region_for_external_network, "RegionOne");
    assert!(c.tricircle.enable_api_gateway);

    assert!(!c.rabbit.amqp_durable_queues && !c.rabbit.amqp_auto_delete);
    assert_eq!(c.rabbit.heartbeat_timeout_threshold, 60);
    assert_eq!(c.rabbit.kombu_reconnect_delay, 1.0);
    // The default of rabbit_hosts is itself substituted.
    assert_eq!(c.rabbit.rabbit_hosts, vec!["localhost:5672"]);
    assert!(c.files.is_empty());
}

#[test]
fn later_files_override_option_by_option() {
    let f = Files::new()
        .add(
            "api.conf",
            "[DEFAULT]\nbind_port = 1000\napi_workers = 4\n[client]\ntop_region_name = Central\n",
        )
        .add("override.conf", "[DEFAULT]\nbind_port = 2000\n");
    let (c, _) = f.load();
    assert_eq!(c.default.bind_port, 2000);
    assert_eq!(c.default.api_workers, 4);
    assert_eq!(c.client.top_region_name.as_deref(), Some("Central"));
    assert_eq!(c.files, f.paths);

    // Errors name the file the winning value came from.
    let f = Files::new()
        .add("a.conf", "[DEFAULT]\nbind_port = 1\napi_workers = x\n")
        .add("b.conf", "[DEFAULT]\nbind_port = 2\n");
    assert_eq!(
        f.error(),
        format!(
            "{}: [DEFAULT] api_workers = 'x': not a valid integer",
            f.path(0)
        )
    );
}

#[test]
fn a_later_file_replaces_every_occurrence_of_an_option() {
    let f = Files::new()
        .add(
            "a.conf",
            "[DEFAULT]\nhost = a1\nhost = a2\nbase = /a\n[client]\ntop_region_name = R\n",
        )
        .add(
            "b.conf",
            "[DEFAULT]\nhost = b\nbase = /b\nlog_dir = $base/log\n",
        );
    let (c, _) = f.load();
    assert_eq!(c.default.host, "b");
    // Options only present in a file are overridden the same way.
    assert_eq!(c.default.log_dir.as_deref(), Some("/b/log"));
    assert_eq!(c.client.top_region_name.as_deref(), Some("R"));
}

#[test]
fn section_names_with_dots_or_brackets_are_sections_of_their_own() {
    let f = one(
        "[client]\ntop_region_name = A\nadmin_tenant = ${client.top_region_name}\n\
         [client.top_region_name]\nx = 1\n[client[0]]\ny = 2\n[sections]\nfile = 3\n",
    );
    let (c, warnings) = f.load();
    assert_eq!(c.client.top_region_name.as_deref(), Some("A"));
    assert_eq!(c.client.admin_tenant.as_deref(), Some("A"));
    let p = f.path(0);
    assert_eq!(
        warnings,
        vec![
            format!("unknown section [client.top_region_name] in {p}"),
            format!("unknown section [client[0]] in {p}"),
            format!("unknown section [sections] in {p}"),
        ]
    );
}

#[test]
fn repeated_option_in_one_file_last_wins() {
    let (c, _) = one("[DEFAULT]\nhost = a\nhost = b\n[client]\n[DEFAULT]\nworkers = 3\n").load();
    assert_eq!(c.default.host, "b");
    assert_eq!(c.default.workers, 3);
}

#[test]
fn substitution() {
    let (c, _) = one("[DEFAULT]\nhost = node1\nstate_path = /var/lib/tricircle\n\
         log_dir = $state_path/log\nlog_file = ${host}.log\n\
         [client]\ntop_region_name = $host-central\n\
         admin_tenant = ${keystone_authtoken.project_name}\n\
         admin_username = pay$$me\nauth_url = http://\\$x/identity\n\
         [keystone_authtoken]\nproject_name = service\nauth_url = http://k/identity\n\
         www_authenticate_uri = $auth_url\nregion_name = a$ b\n")
    .load();
    assert_eq!(c.default.log_dir.as_deref(), Some("/var/lib/tricircle/log"));
    assert_eq!(c.default.log_file.as_deref(), Some("node1.log"));
    assert_eq!(c.client.top_region_name.as_deref(), Some("node1-central"));
    assert_eq!(c.client.admin_tenant.as_deref(), Some("service"));
    assert_eq!(c.client.admin_username.as_deref(), Some("pay$me"));
    assert_eq!(c.client.auth_url, "http://$x/identity");
    // Same-section reference wins over [DEFAULT].
    assert_eq!(
        c.keystone_authtoken.www_authenticate_uri.as_deref(),
        Some("http://k/identity")
    );
    // A lone '$' is kept.
    assert_eq!(c.keystone_authtoken.region_name.as_deref(), Some("a$ b"));
}

#[test]
fn substitution_uses_defaults_and_unset_options() {
    let (c, _) = one(
        "[DEFAULT]\nlog_file = ${control_exchange}.log\nlog_dir = x${transport_url}y\n\
         [oslo_messaging_rabbit]\nrabbit_host = mq\n",
    )
    .load();
    assert_eq!(c.default.log_file.as_deref(), Some("openstack.log"));
    // A registered option without a value substitutes as "".
    assert_eq!(c.default.log_dir.as_deref(), Some("xy"));
    // rabbit_hosts' default refers to rabbit_host, set in the file.
    assert_eq!(c.rabbit.rabbit_hosts, vec!["mq:5672"]);

    // Without braces the dot belongs to the name, as in oslo.config, so this
    // is a reference to an option "log" of a section "control_exchange".
    let f = one("[DEFAULT]\nlog_file = $control_exchange.log\n");
    assert!(
        f.error()
            .contains("refers to unknown option $control_exchange.log"),
        "{}",
        f.error()
    );
}

#[test]
fn substitution_errors() {
    let f = one("[DEFAULT]\nlog_file = $nowhere/x\n");
    assert_eq!(
        f.error(),
        format!(
            "{}: [DEFAULT] log_file = '$nowhere/x': refers to unknown option $nowhere \
             (write '$$' for a literal '$')",
            f.path(0)
        )
    );
    let f = one("[DEFAULT]\nlog_file = $log_dir\nlog_dir = $log_file\n");
    assert!(
        f.error().ends_with("substitution with '$' loops"),
        "{}",
        f.error()
    );
}

#[test]
fn secrets_are_redacted_in_substitution_errors() {
    let f = one("[client]\nadmin_password = pa$zork\n");
    let e = f.error();
    assert_eq!(
        e,
        format!(
            "{}: [client] admin_password = '***': refers to an unknown option with '$' \
             (write '$$' for a literal '$')",
            f.path(0)
        )
    );
    assert!(!e.contains("zork"));

    let f = one("[DEFAULT]\ntransport_url = rabbit://stack:s3c$ret@10.0.0.5:5672/\n");
    let e = f.error();
    assert!(
        e.contains("transport_url = 'rabbit://stack:***@10.0.0.5:5672/'"),
        "{e}"
    );
    assert!(!e.contains("s3c") && !e.contains("ret@"), "{e}");

    let f = one("[DEFAULT]\ntricircle_db_connection = mysql://root:pa$s@db/tricircle\n");
    let e = f.error();
    assert!(e.contains("'mysql://root:***@db/tricircle'"), "{e}");
    assert!(!e.contains("pa$s"), "{e}");
}

#[test]
fn secrets_are_redacted_in_debug_output() {
    let (c, _) = one(
        "[DEFAULT]\ntricircle_db_connection = mysql+pymysql://root:dbpw1@h/t\n\
         transport_url = rabbit://u:mqpw2@h:5672/\n\
         [client]\nadmin_password = adminpw3\n\
         [keystone_authtoken]\npassword = kspw4\nmemcache_secret_key = mckey5\n\
         [database]\nconnection = sqlite:///x\n\
         [oslo_messaging_rabbit]\nrabbit_password = rpw6\n",
    )
    .load();
    let debug = format!("{c:?} {c:#?}");
    for secret in ["dbpw1", "mqpw2", "adminpw3", "kspw4", "mckey5", "rpw6"] {
        assert!(!debug.contains(secret), "{secret} leaked into Debug output");
    }
    assert_eq!(
        c.client.admin_password.as_ref().unwrap().expose(),
        "adminpw3"
    );
    assert_eq!(c.rabbit.rabbit_password.expose(), "rpw6");
}

#[test]
fn typed_values() {
    let (c, _) = one(
        "[DEFAULT]\nallow_bulk = No\nallow_pagination = ON\nallow_sorting = 1\n\
         debug = YES\nuse_syslog = off\nperiodic_enable = 0\n\
         worker_sleep_time = 2.5\nbind_host = ::1\nbind_port = 8080\n\
         [tricircle]\ntype_drivers = vlan, vxlan ,local\nvni_ranges =\n\
         flat_networks = bridge,extern,\nl2gw_tunnel_ip = 10.0.0.9\n\
         [keystone_authtoken]\nmemcached_servers = a:11211,b:11211\nhttp_connect_timeout =\n\
         [database]\npool_timeout = 45\nmax_overflow =\n",
    )
    .load();
    assert!(!c.default.allow_bulk);
    assert!(c.default.allow_pagination);
    assert!(c.default.allow_sorting);
    assert!(c.default.debug);
    assert!(!c.default.use_syslog);
    assert!(!c.default.periodic_enable);
    assert_eq!(c.default.worker_sleep_time, 2.5);
    assert_eq!(c.default.bind_host, "::1".parse::<IpAddr>().unwrap());
    assert_eq!(c.default.bind_port, 8080);
    assert_eq!(c.tricircle.type_drivers, vec!["vlan", "vxlan", "local"]);
    assert!(c.tricircle.vni_ranges.is_empty());
    assert_eq!(c.tricircle.flat_networks, vec!["bridge", "extern"]);
    assert_eq!(
        c.tricircle.l2gw_tunnel_ip,
        Some("10.0.0.9".parse().unwrap())
    );
    assert_eq!(
        c.keystone_authtoken.memcached_servers,
        vec!["a:11211", "b:11211"]
    );
    assert_eq!(c.keystone_authtoken.http_connect_timeout, None);
    assert_eq!(c.database.pool_timeout, Some(45));
    assert_eq!(c.database.max_overflow, None);
}

#[test]
fn multi_valued_policy_dirs_collect_all_occurrences() {
    let f = Files::new()
        .add(
            "a.conf",
            "[oslo_policy]\npolicy_dirs = one\npolicy_dirs = two,three\n",
        )
        .add("b.conf", "[oslo_policy]\npolicy_dirs = four\n");
    let (c, _) = f.load();
    assert_eq!(c.oslo_policy.policy_dirs, vec!["one", "two,three", "four"]);
}

#[test]
fn value_errors_name_file_section_option_and_value() {
    let cases = [
        (
            "[DEFAULT]\nbind_port = abc\n",
            "[DEFAULT] bind_port = 'abc': not a valid port number (0-65535)",
        ),
        (
            "[DEFAULT]\nbind_port = 65536\n",
            "[DEFAULT] bind_port = '65536': not a valid port number (0-65535)",
        ),
        (
            "[DEFAULT]\nbind_host = example.org\n",
            "[DEFAULT] bind_host = 'example.org': not a valid IP address",
        ),
        (
            "[DEFAULT]\ndebug = maybe\n",
            "[DEFAULT] debug = 'maybe': not a valid boolean (true/false, yes/no, on/off, 1/0)",
        ),
        (
            "[DEFAULT]\npagination_max_limit = 0\n",
            "[DEFAULT] pagination_max_limit = '0': must be at least 1",
        ),
        (
            "[DEFAULT]\nworker_sleep_time = fast\n",
            "[DEFAULT] worker_sleep_time = 'fast': not a valid number",
        ),
        (
            "[DEFAULT]\nauth_strategy = basic\n",
            "[DEFAULT] auth_strategy = 'basic': must be one of: keystone, noauth",
        ),
        (
            "[client]\ncross_pod_vxlan_mode = vxlan\n",
            "[client] cross_pod_vxlan_mode = 'vxlan': must be one of: p2p, l2gw, noop",
        ),
        (
            "[database]\nconnection_debug = 101\n",
            "[database] connection_debug = '101': must be at most 100",
        ),
        (
            "[DEFAULT]\nworkers =\n",
            "[DEFAULT] workers = '': not a valid integer",
        ),
    ];
    for (text, expected) in cases {
        let f = one(text);
        assert_eq!(f.error(), format!("{}: {expected}", f.path(0)));
    }
}

#[test]
fn substituted_value_errors_show_the_expansion() {
    let f = one("[DEFAULT]\nport_base = 80a\nbind_port = ${port_base}80\n");
    assert_eq!(
        f.error(),
        format!(
            "{}: [DEFAULT] bind_port = '${{port_base}}80': not a valid port number (0-65535) \
             (after substitution: '80a80')",
            f.path(0)
        )
    );
}

#[test]
fn substituted_secrets_are_not_shown_in_other_options_errors() {
    let f = one("[client]\nadmin_password = hunter2\nneutron_timeout = ${admin_password}\n");
    let e = f.error();
    assert_eq!(
        e,
        format!(
            "{}: [client] neutron_timeout = '${{admin_password}}': not a valid integer",
            f.path(0)
        )
    );
}

#[test]
fn file_errors() {
    let missing = PathBuf::from("/nonexistent/tricircle/api.conf");
    let e = Config::load(std::slice::from_ref(&missing)).unwrap_err();
    assert!(matches!(e, ConfigError::Read { .. }));
    let text = e.to_string();
    assert!(
        text.starts_with("/nonexistent/tricircle/api.conf: cannot read configuration file: "),
        "{text}"
    );

    let dir = tempfile::tempdir().unwrap();
    let e = Config::load(&[dir.path().to_path_buf()]).unwrap_err();
    assert!(matches!(e, ConfigError::Read { .. }), "{e}");

    let f = Files::new().add("good.conf", "[DEFAULT]\n").add(
        "bad.conf",
        "[DEFAULT]\ndebug = true\n[client]\nadmin_password hunter2\n",
    );
    let e = f.error();
    assert_eq!(
        e,
        format!(
            "{}: line 4 in [client]: expected 'name = value', a [section] header or a comment",
            f.path(1)
        )
    );
    assert!(!e.contains("hunter2"));

    let f = Files::new().add("bin.conf", "");
    std::fs::write(&f.paths[0], [b'[', 0xff, 0xfe, b']']).unwrap();
    assert!(f.error().contains("cannot read configuration file"));
}

#[test]
fn unknown_and_deprecated_options_warn() {
    let f = one(
        "[DEFAULT]\nfoo = 1\nfoo = 2\ndebug = true\nlogging_context_format_string = %(message)s\n\
         logfile = /var/log/t.log\n\
         [oslo_concurrency]\nlock_path = /var/lib/tricircle/lock\n\
         [keystone_authtoken]\nauth_uri = http://k/identity\nsigning_dir = /var/cache/tricircle\n\
         [nova]\nregion_name = RegionOne\n\
         [client]\ntop_pod_name = Central\n",
    );
    let (c, warnings) = f.load();
    let p = f.path(0);
    assert_eq!(
        warnings,
        vec![
            format!("unknown section [nova] in {p}"),
            format!("unknown option [DEFAULT] foo in {p}"),
            format!("deprecated option [DEFAULT] logfile in {p}: use [DEFAULT] log_file"),
            format!(
                "deprecated option [keystone_authtoken] auth_uri in {p}: \
                 use [keystone_authtoken] www_authenticate_uri"
            ),
            format!("unknown option [client] top_pod_name in {p}"),
        ]
    );
    // Deprecated names are still read.
    assert_eq!(c.default.log_file.as_deref(), Some("/var/log/t.log"));
    assert_eq!(
        c.keystone_authtoken.www_authenticate_uri.as_deref(),
        Some("http://k/identity")
    );
}

#[test]
fn current_name_beats_deprecated_name_in_the_same_file_but_not_a_later_file() {
    let (c, _) =
        one("[keystone_authtoken]\nauth_uri = http://old\nwww_authenticate_uri = http://new\n")
            .load();
    assert_eq!(
        c.keystone_authtoken.www_authenticate_uri.as_deref(),
        Some("http://new")
    );

    let (c, _) = Files::new()
        .add(
            "a.conf",
            "[keystone_authtoken]\nwww_authenticate_uri = http://new\n",
        )
        .add("b.conf", "[keystone_authtoken]\nauth_uri = http://later\n")
        .load();
    assert_eq!(
        c.keystone_authtoken.www_authenticate_uri.as_deref(),
        Some("http://later")
    );

    // Old-style broker options in [DEFAULT] still reach the rabbit section.
    let (c, _) =
        one("[DEFAULT]\nrabbit_host = mq1\nrabbit_port = 5673\nrabbit_durable_queues = true\n")
            .load();
    assert_eq!(c.rabbit.rabbit_hosts, vec!["mq1:5673"]);
    assert!(c.rabbit.amqp_durable_queues);
}

#[test]
fn section_names_are_case_insensitive_option_names_are_not() {
    let (c, warnings) = one("[Client]\ntop_region_name = X\nTop_Region_Name = Y\n").load();
    assert_eq!(c.client.top_region_name.as_deref(), Some("X"));
    assert_eq!(warnings.len(), 1);
    assert!(warnings[0].starts_with("unknown option [client] Top_Region_Name in "));
}

#[test]
fn database_url_prefers_tricircle_db_connection() {
    let (c, _) = one(
        "[DEFAULT]\ntricircle_db_connection = mysql+pymysql://a:b@h/tricircle\n\
         [database]\nconnection = sqlite:///other.db\n",
    )
    .load();
    assert_eq!(
        c.database_url().unwrap().expose(),
        "mysql+pymysql://a:b@h/tricircle"
    );

    let (c, _) = one("[database]\nconnection = sqlite:///other.db\n").load();
    assert_eq!(c.database_url().unwrap().expose(), "sqlite:///other.db");

    let (c, _) =
        one("[DEFAULT]\ntricircle_db_connection =\n[database]\nconnection = sqlite://\n").load();
    assert_eq!(c.database_url().unwrap().expose(), "sqlite://");

    let f = one("[DEFAULT]\ndebug = true\n");
    let (c, _) = f.load();
    let e = c.database_url().unwrap_err().to_string();
    assert_eq!(
        e,
        format!(
            "no database connection configured (read {}): set [DEFAULT] \
             tricircle_db_connection or [database] connection",
            f.path(0)
        )
    );
}

#[test]
fn find_file_resolves_relative_to_the_config_files() {
    let f = one("[oslo_policy]\npolicy_file = my-policy.yaml\n");
    let (c, _) = f.load();
    assert_eq!(c.find_file(&c.oslo_policy.policy_file), None);
    let policy = f.dir.path().join("my-policy.yaml");
    std::fs::write(&policy, "{}").unwrap();
    assert_eq!(c.find_file("my-policy.yaml"), Some(policy.clone()));
    // Absolute paths are used as they are, if they exist.
    assert_eq!(c.find_file(&policy), Some(policy.clone()));
    assert_eq!(c.find_file(f.dir.path().join("absent.yaml")), None);
}

#[test]
fn notification_regions_each_have_their_section() {
    let (c, warnings) = one(
        "[xjob]\nstock_neutron = true\nnotification_regions = CentralRegion, RegionOne\n\
         reconcile_interval = 60\n\
         [notifications_CentralRegion]\ntransport_url = rabbit://u:central-pw@mq:5672/\n\
         [notifications_RegionOne]\ntransport_url = rabbit://u:pw1@mq1:5672/r1\n\
         topics = notifications, tricircle\npool = xjob-a\n",
    )
    .load();
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(c.xjob.reconcile_interval, 60);
    let regions: Vec<_> = c.notifications.iter().map(|(r, _)| r.as_str()).collect();
    assert_eq!(regions, ["CentralRegion", "RegionOne"]);
    let (_, central) = &c.notifications[0];
    assert_eq!(
        central.transport_url.as_ref().unwrap().expose(),
        "rabbit://u:central-pw@mq:5672/"
    );
    assert_eq!(central.topics, ["notifications"]);
    assert_eq!(central.pool, "tricircle-xjob");
    let (_, r1) = &c.notifications[1];
    assert_eq!(r1.topics, ["notifications", "tricircle"]);
    assert_eq!(r1.pool, "xjob-a");
    assert!(
        !format!("{c:?}").contains("central-pw"),
        "secrets stay hidden"
    );

    // Without the option no section is read; defaults as documented.
    let (c, _) = Config::load(&[]).unwrap();
    assert!(c.notifications.is_empty());
    assert_eq!(c.xjob.reconcile_interval, 300);
}

#[test]
fn a_listed_region_needs_its_section_and_transport_url() {
    let e = one("[xjob]\nnotification_regions = RegionTwo\n").error();
    assert!(
        e.contains("notification_regions names RegionTwo")
            && e.contains("[notifications_RegionTwo]"),
        "{e}"
    );
    let e = one("[xjob]\nnotification_regions = RegionTwo\n[notifications_RegionTwo]\npool = p\n")
        .error();
    assert!(
        e.contains("[notifications_RegionTwo] transport_url is not set"),
        "{e}"
    );
    let e = one("[xjob]\nreconcile_interval = -1\n").error();
    assert!(e.contains("[xjob] reconcile_interval"), "{e}");
}

#[test]
fn notification_sections_are_known_whatever_their_region() {
    let (c, warnings) =
        one("[notifications_Unlisted]\ntransport_url = rabbit://u:p@h/\ntopic = typo\n").load();
    assert!(c.notifications.is_empty(), "only listed regions are read");
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("unknown option [notifications_unlisted] topic"),
        "{warnings:?}"
    );
}

#[test]
fn legacy_broker_hosts_count_only_when_a_file_sets_them() {
    // Their defaults (localhost) name no broker anybody configured.
    let (c, _) = one("[DEFAULT]\nrabbit_port = 5673\n").load();
    assert!(!c.rabbit_hosts_set);
    assert_eq!(c.rabbit.rabbit_hosts, vec!["localhost:5673"]);
    for text in [
        "[oslo_messaging_rabbit]\nrabbit_host = mq\n",
        "[oslo_messaging_rabbit]\nrabbit_hosts = mq1:5672,mq2:5672\n",
        // Under their deprecated [DEFAULT] names too.
        "[DEFAULT]\nrabbit_host = mq\n",
        "[DEFAULT]\nrabbit_hosts = mq:5672\n",
    ] {
        let (c, _) = one(text).load();
        assert!(c.rabbit_hosts_set, "{text}");
    }
    // Set in an earlier file, it stays set whatever a later file holds.
    let (c, _) = Files::new()
        .add("a.conf", "[oslo_messaging_rabbit]\nrabbit_host = mq\n")
        .add("b.conf", "[DEFAULT]\ndebug = true\n")
        .load();
    assert!(c.rabbit_hosts_set);
}
