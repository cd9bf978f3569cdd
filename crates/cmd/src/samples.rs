//! The sample files shipped in `etc/`, generated from the code so they
//! never drift from the options and rules the binaries really use.

use tricircle_config::Config;

/// Sections `tricircle-api` reads.
pub const API_SECTIONS: &[&str] = &[
    "DEFAULT",
    "database",
    "keystone_authtoken",
    "oslo_policy",
    "oslo_messaging_rabbit",
    // Stock mode: job resources are checked in the central Neutron.
    "xjob",
    "client",
];

/// Sections `tricircle-xjob` reads.
pub const XJOB_SECTIONS: &[&str] = &[
    "DEFAULT",
    "database",
    "client",
    "tricircle",
    "xjob",
    "notifications_<region>",
    "oslo_messaging_rabbit",
];

/// (file under `etc/`, its generated content).
pub fn all() -> Vec<(&'static str, String)> {
    vec![
        ("api.conf.sample", Config::sample_of(API_SECTIONS)),
        ("xjob.conf.sample", Config::sample_of(XJOB_SECTIONS)),
        ("policy.yaml.sample", tricircle_policy::sample_yaml()),
    ]
}

/// The configuration reference, relative to the repository root.
pub const REFERENCE: &str = "doc/configuration.md";

/// The programs that read `section`.
fn readers(section: &str) -> Vec<&'static str> {
    let mut who = Vec::new();
    if API_SECTIONS.contains(&section) {
        who.push("tricircle-api");
    }
    if XJOB_SECTIONS.contains(&section) {
        who.push("tricircle-xjob");
    }
    if section == "DEFAULT" || section == "database" {
        who.extend(["tricircle-db-manage", "tricircle-status"]);
    }
    who
}

/// The generated [`REFERENCE`].
pub fn reference() -> String {
    Config::reference(&readers)
}
