//! Property tests of configuration loading (issue 10, fuzzing suite): any
//! file text, and INI built of real section and option names with any
//! values, loads or is refused with an error; nothing panics.

use std::path::PathBuf;

use proptest::prelude::*;
use tricircle_config::Config;

fn load(text: &[u8]) -> Result<Config, String> {
    let dir = tempfile::tempdir().unwrap();
    let path: PathBuf = dir.path().join("fuzz.conf");
    std::fs::write(&path, text).unwrap();
    Config::load(&[path])
        .map(|(c, _)| c)
        .map_err(|e| e.to_string())
}

const SECTIONS: &[&str] = &[
    "DEFAULT",
    "database",
    "keystone_authtoken",
    "oslo_policy",
    "client",
    "tricircle",
    "xjob",
    "oslo_messaging_rabbit",
    "notifications_RegionOne",
    "default",
    "",
];

const OPTIONS: &[&str] = &[
    "api_workers",
    "bind_host",
    "bind_port",
    "max_connections",
    "client_body_timeout",
    "client_request_timeout",
    "pagination_max_limit",
    "worker_sleep_time",
    "debug",
    "log_file",
    "tricircle_db_connection",
    "transport_url",
    "auth_strategy",
    "policy_file",
    "policy_dirs",
    "connection",
    "max_retries",
    "retry_interval",
    "max_pool_size",
    "auth_url",
    "password",
    "token_cache_time",
    "notification_regions",
    "top_region_name",
    "bridge_network_type",
    "kombu_reconnect_delay",
    "unknown_option",
];

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[-+]?[0-9]{0,25}(\\.[0-9]{0,5})?(e[-+]?[0-9]{1,4})?",
        "(true|false|yes|no|on|off|1|0|TRUE|None)",
        "[a-z]{1,8}://[^ \n]{0,40}",
        "[a-zA-Z0-9_,:/ .$%{}()\\[\\]-]{0,40}",
    ]
    .prop_map(|v| v.replace(['\n', '\r'], " "))
}

fn line() -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::sample::select(SECTIONS).prop_map(|s| format!("[{s}]")),
        (proptest::sample::select(OPTIONS), value(), "[ =:]{1,3}")
            .prop_map(|(o, v, sep)| format!("{o}{sep}{v}")),
        value().prop_map(|v| format!("    {v}")),
        "[#;][^\n]{0,20}",
        "[\\[\\] =:\t]{0,6}",
        Just(String::new()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn any_bytes_load_or_are_refused(text in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = load(&text);
    }

    #[test]
    fn ini_of_real_options_with_any_values_loads_or_is_refused(
        lines in proptest::collection::vec(line(), 0..30),
        bom in any::<bool>(),
    ) {
        let mut text = lines.join("\n");
        if bom {
            text.insert(0, '\u{feff}');
        }
        if let Err(e) = load(text.as_bytes()) {
            // A refusal says where: the file, or a section and option.
            prop_assert!(!e.is_empty());
        }
    }
}
