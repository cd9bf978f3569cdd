//! The generated sample file documents exactly the options and defaults that
//! loading uses.

use tricircle_config::Config;

#[test]
fn sample_lists_options_with_defaults() {
    let sample = Config::sample();
    let sections: Vec<&str> = sample.lines().filter(|l| l.starts_with('[')).collect();
    assert_eq!(
        sections,
        vec![
            "[DEFAULT]",
            "[database]",
            "[keystone_authtoken]",
            "[oslo_policy]",
            "[client]",
            "[tricircle]",
            "[xjob]",
            "[notifications_<region>]",
            "[oslo_messaging_rabbit]",
        ]
    );
    for line in [
        "#bind_host = 0.0.0.0",
        "#bind_port = 19999",
        "#api_extensions_path =",
        "#tricircle_db_connection = <None>",
        "#policy_file = policy.json",
        "#bridge_cidr = 100.0.0.0/9",
        "#stock_neutron = false",
        "#rabbit_hosts = $rabbit_host:$rabbit_port",
        "# Deprecated names: [keystone_authtoken] auth_uri",
        "# Largest number of items one API response returns (integer value, minimum 1)",
    ] {
        assert!(sample.lines().any(|l| l == line), "missing line {line:?}");
    }
}

#[test]
fn uncommented_sample_loads_to_the_defaults() {
    // Every `#name = default` line, uncommented, must be accepted without
    // warnings and give the same values as no file at all.
    let text: String = Config::sample()
        .lines()
        .map(|line| match line.strip_prefix('#') {
            Some(rest) if !rest.starts_with(' ') && !rest.ends_with("<None>") => rest,
            _ => line,
        })
        .map(|line| format!("{line}\n"))
        .collect();
    assert!(text.contains("\nbind_port = 19999\n"));

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("api.conf");
    std::fs::write(&path, text).unwrap();
    let (from_sample, warnings) = Config::load(std::slice::from_ref(&path)).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");

    let (mut defaults, _) = Config::load(&[]).unwrap();
    defaults.files = vec![path];
    // The uncommented `rabbit_host = localhost` names a broker, which is
    // what makes the binaries use one (with no file they use none).
    assert!(from_sample.rabbit_hosts_set && !defaults.rabbit_hosts_set);
    defaults.rabbit_hosts_set = true;
    assert_eq!(from_sample, defaults);
}
