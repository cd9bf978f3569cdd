//! The committed samples in etc/ and the configuration reference in doc/
//! are exactly what the code generates (regenerate with `scripts/gen-samples`).

#[test]
fn etc_samples_are_up_to_date() {
    let etc = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../etc");
    for (name, want) in tricircle_cmd::samples::all() {
        let got = std::fs::read_to_string(etc.join(name))
            .unwrap_or_else(|e| panic!("etc/{name}: {e}; run scripts/gen-samples"));
        assert!(got == want, "etc/{name} is stale: run scripts/gen-samples");
    }
}

#[test]
fn the_configuration_reference_is_up_to_date() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let path = root.join(tricircle_cmd::samples::REFERENCE);
    let got = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; run scripts/gen-samples", path.display()));
    let want = tricircle_cmd::samples::reference();
    assert!(
        got == want,
        "{} is stale: run scripts/gen-samples",
        path.display()
    );
    // Every option is in it, under its section.
    for line in [
        "## [DEFAULT]",
        "| `tricircle_db_connection` |",
        "## [client]",
        "| `api_path_prefix` |",
    ] {
        assert!(want.contains(line), "{line}");
    }
}

#[test]
fn api_sample_has_what_the_install_guide_edits() {
    let wanted: [(&str, &[&str]); 2] = [
        (
            "api.conf.sample",
            &[
                "#tricircle_db_connection = <None>",
                "#transport_url = <None>",
                "[keystone_authtoken]",
                "#www_authenticate_uri = <None>",
            ],
        ),
        (
            "xjob.conf.sample",
            &[
                "[client]",
                "#auto_refresh_endpoint = false",
                "#top_region_name = <None>",
            ],
        ),
    ];
    let samples = tricircle_cmd::samples::all();
    for (name, lines) in wanted {
        let (_, text) = samples.iter().find(|(n, _)| *n == name).unwrap();
        for line in lines {
            assert!(text.lines().any(|l| l == *line), "{name} lacks {line:?}");
        }
    }
}
