//! Files as DevStack's Tricircle plugin writes them must load unchanged.

use std::path::PathBuf;

use tricircle_config::Config;

// plugin.sh writes the same [DEFAULT] head and [client] / [oslo_concurrency]
// sections into every service's file; `concat!` needs literals, hence macros.
macro_rules! default_head {
    () => {
        "[DEFAULT]
debug = True
verbose = True
use_syslog = False
tricircle_db_connection = mysql+pymysql://root:pass@127.0.0.1/tricircle?charset=utf8
transport_url = rabbit://stackrabbit:rabbitpw@192.168.56.101:5672/
"
    };
}

macro_rules! client_and_lock {
    () => {
        "
[client]
auth_url = http://192.168.56.101/identity
identity_url = http://192.168.56.101/identity/v3
admin_username = admin
admin_password = adminpw
admin_tenant = demo
auto_refresh_endpoint = True
top_region_name = CentralRegion

[oslo_concurrency]
lock_path = /opt/stack/data/tricircle/lock
"
    };
}

/// `api.conf` as produced by devstack/plugin.sh (init_common_tricircle_conf,
/// setup_colorized_logging, configure_auth_token_middleware,
/// iniset_rpc_backend), ANSI colour escapes included.
const API_CONF: &str = concat!(
    default_head!(),
    "logging_exception_prefix = %(color)s%(asctime)s.%(msecs)03d TRACE %(name)s \x1b[01;35m%(instance)s\x1b[00m
logging_debug_format_suffix = \x1b[00;33mfrom (pid=%(process)d) %(funcName)s %(pathname)s:%(lineno)d\x1b[00m
logging_default_format_string = %(asctime)s.%(msecs)03d %(color)s%(levelname)s %(name)s [\x1b[00;36m-%(color)s] \x1b[01;35m%(instance)s%(color)s%(message)s\x1b[00m
logging_context_format_string = %(asctime)s.%(msecs)03d %(color)s%(levelname)s %(name)s [\x1b[01;36m%(request_id)s \x1b[00;36m%(tenant_name)s %(user_name)s%(color)s] \x1b[01;35m%(instance)s%(color)s%(message)s\x1b[00m
",
    client_and_lock!(),
    "
[keystone_authtoken]
memcached_servers = localhost:11211
signing_dir = /var/cache/tricircle
cafile = /opt/stack/data/ca-bundle.pem
project_domain_name = Default
project_name = service
user_domain_name = Default
password = servicepw
username = tricircle
auth_url = http://192.168.56.101/identity
auth_type = password
interface = public
www_authenticate_uri = http://192.168.56.101/identity
"
);

const XJOB_CONF: &str = concat!(
    default_head!(),
    "logging_context_format_string = %(asctime)s.%(msecs)03d %(color)s%(levelname)s %(name)s [\x1b[01;36m%(request_id)s \x1b[00;36m%(user_name)s %(project_name)s%(color)s] \x1b[01;35m%(instance)s%(color)s%(message)s\x1b[00m
",
    client_and_lock!()
);

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn devstack_api_conf_loads() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(&dir, "api.conf", API_CONF);
    let (c, warnings) = Config::load(std::slice::from_ref(&path)).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");

    assert!(c.default.debug);
    assert!(c.default.verbose);
    assert!(!c.default.use_syslog);
    assert_eq!(c.default.auth_strategy, "keystone");
    assert_eq!(c.default.bind_port, 19999);
    assert_eq!(
        c.default.transport_url.as_ref().unwrap().expose(),
        "rabbit://stackrabbit:rabbitpw@192.168.56.101:5672/"
    );
    let db = c.database_url().unwrap();
    assert_eq!(
        db.expose(),
        "mysql+pymysql://root:pass@127.0.0.1/tricircle?charset=utf8"
    );
    assert_eq!(
        db.redacted(),
        "mysql+pymysql://root:***@127.0.0.1/tricircle?charset=utf8"
    );

    assert_eq!(c.client.auth_url, "http://192.168.56.101/identity");
    assert_eq!(c.client.admin_username.as_deref(), Some("admin"));
    assert_eq!(
        c.client.admin_password.as_ref().unwrap().expose(),
        "adminpw"
    );
    assert_eq!(c.client.admin_tenant.as_deref(), Some("demo"));
    assert!(c.client.auto_refresh_endpoint);
    assert_eq!(c.client.top_region_name.as_deref(), Some("CentralRegion"));

    let k = &c.keystone_authtoken;
    assert_eq!(k.memcached_servers, vec!["localhost:11211"]);
    assert_eq!(k.cafile.as_deref(), Some("/opt/stack/data/ca-bundle.pem"));
    assert_eq!(k.project_domain_name.as_deref(), Some("Default"));
    assert_eq!(k.project_name.as_deref(), Some("service"));
    assert_eq!(k.user_domain_name.as_deref(), Some("Default"));
    assert_eq!(k.password.as_ref().unwrap().expose(), "servicepw");
    assert_eq!(k.username.as_deref(), Some("tricircle"));
    assert_eq!(
        k.auth_url.as_deref(),
        Some("http://192.168.56.101/identity")
    );
    assert_eq!(k.auth_type.as_deref(), Some("password"));
    assert_eq!(k.interface, "public");
    assert_eq!(
        k.www_authenticate_uri.as_deref(),
        Some("http://192.168.56.101/identity")
    );

    let debug = format!("{c:?}");
    for secret in ["root:pass@", "rabbitpw", "adminpw", "servicepw"] {
        assert!(!debug.contains(secret), "{secret} leaked into Debug output");
    }
}

#[test]
fn devstack_xjob_conf_loads_and_can_be_overridden() {
    let dir = tempfile::tempdir().unwrap();
    let xjob = write(&dir, "xjob.conf", XJOB_CONF);
    let local = write(
        &dir,
        "local.conf",
        "[DEFAULT]\nhost = xjob-2\nworkers = 4\n",
    );
    let (c, warnings) = Config::load(&[xjob, local]).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(c.default.host, "xjob-2");
    assert_eq!(c.default.workers, 4);
    assert_eq!(c.default.job_run_expire, 180);
    assert_eq!(c.client.top_region_name.as_deref(), Some("CentralRegion"));
    assert!(c.database_url().is_ok());
}
