//! oslo.config-compatible configuration for the Tricircle services.
//!
//! [`Config::load`] reads the files given with `--config-file` (later files
//! override earlier ones, option by option) and returns one typed struct per
//! section plus warnings about options nobody reads.
//!
//! Compatibility with oslo.config, for existing `api.conf` / `xjob.conf`:
//! - INI dialect as oslo.config parses it (see the `ini` module): `#`/`;`
//!   comment lines, unquoted values (one pair of surrounding quotes is
//!   removed), `name = value` or `name: value`, indented continuation lines,
//!   an empty value is an empty string.
//! - Option names are case-sensitive; section names other than `DEFAULT` are
//!   not (oslo.config lowercases them). The `config` crate, which merges the
//!   files here, keeps names as they are.
//! - `$name`, `${name}` and `${section.name}` refer to another option of the
//!   same section or of `[DEFAULT]`; `$$` (or `\$`) is a literal `$`. A
//!   reference to an option that is neither known nor present in a file is
//!   an error, as in oslo.config. Only options this crate reads are
//!   substituted, so a bad reference in an ignored option is harmless.
//! - Booleans: true/false, yes/no, on/off, 1/0 in any case. Lists are
//!   comma-separated. Ports are 0-65535. An empty value of an optional
//!   number means unset.
//! - Deprecated option names are still read (and reported in the warnings).
//! - Multi-valued options (`policy_dirs`) collect every occurrence.
//!
//! Errors display as one line naming file, section, option and value;
//! values of secret options are shown with their passwords masked.

mod error;
mod ini;
mod known;
mod options;
mod sample;
mod secret;
mod store;
mod value;

use std::path::{Path, PathBuf};

pub use error::ConfigError;
pub use options::{
    ClientOptions, DatabaseOptions, DefaultOptions, KeystoneAuthtokenOptions, NotificationOptions,
    OsloPolicyOptions, RabbitOptions, TricircleOptions, XjobOptions,
};
pub use secret::Secret;

/// The project name oslo.config searches directories for.
const PROJECT: &str = "tricircle";

/// The whole configuration of a Tricircle service.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub default: DefaultOptions,
    pub database: DatabaseOptions,
    pub keystone_authtoken: KeystoneAuthtokenOptions,
    pub oslo_policy: OsloPolicyOptions,
    pub client: ClientOptions,
    pub tricircle: TricircleOptions,
    pub xjob: XjobOptions,
    /// `[notifications_<region>]` of every region of `[xjob]
    /// notification_regions`, in that order.
    pub notifications: Vec<(String, NotificationOptions)>,
    pub rabbit: RabbitOptions,
    /// Whether a file names a broker by the pre-`transport_url` options
    /// (`rabbit_host` or `rabbit_hosts`, under any of their names) rather
    /// than leaving them at their localhost default.
    pub rabbit_hosts_set: bool,
    /// The files loaded, in command-line order.
    pub files: Vec<PathBuf>,
}

impl Config {
    /// Loads `files` in order (later files win). With no files every option
    /// has its default. Also returns warnings for unknown sections, unknown
    /// options and deprecated option names, for the caller to log.
    pub fn load(files: &[PathBuf]) -> Result<(Config, Vec<String>), ConfigError> {
        let parsed = files
            .iter()
            .map(|path| ini::parse_file(path))
            .collect::<Result<Vec<_>, _>>()?;
        let store = store::Store::new(&parsed)?;
        let xjob = XjobOptions::from_store(&store)?;
        let notifications = notification_sections(&store, &xjob)?;
        let config = Config {
            default: DefaultOptions::from_store(&store)?,
            database: DatabaseOptions::from_store(&store)?,
            keystone_authtoken: KeystoneAuthtokenOptions::from_store(&store)?,
            oslo_policy: OsloPolicyOptions::from_store(&store)?,
            client: ClientOptions::from_store(&store)?,
            tricircle: TricircleOptions::from_store(&store)?,
            xjob,
            notifications,
            rabbit: RabbitOptions::from_store(&store)?,
            rabbit_hosts_set: ["rabbit_host", "rabbit_hosts"].iter().any(|name| {
                options::find_spec(RabbitOptions::SECTION, name).is_some_and(|s| store.is_set(s))
            }),
            files: files.to_vec(),
        };
        let warnings = known::warnings(&parsed);
        tracing::debug!(files = ?files, warnings = warnings.len(), "configuration loaded");
        Ok((config, warnings))
    }

    /// The Tricircle database URL: `[DEFAULT] tricircle_db_connection` (what
    /// Tricircle uses), else `[database] connection`. Empty values count as
    /// unset.
    pub fn database_url(&self) -> Result<Secret, ConfigError> {
        [
            &self.default.tricircle_db_connection,
            &self.database.connection,
        ]
        .into_iter()
        .flatten()
        .find(|url| !url.expose().trim().is_empty())
        .cloned()
        .ok_or_else(|| {
            let files: Vec<String> = self.files.iter().map(|f| f.display().to_string()).collect();
            let read = if files.is_empty() {
                "no configuration file given".to_owned()
            } else {
                format!("read {}", files.join(", "))
            };
            ConfigError::Missing(format!(
                "no database connection configured ({read}): set [DEFAULT] \
                 tricircle_db_connection or [database] connection"
            ))
        })
    }

    /// oslo.config's `find_file`: an absolute path is returned if it exists;
    /// a relative one is looked up in the directories of the configuration
    /// files (the last file's first), then `~/.tricircle/`, `~/`,
    /// `/etc/tricircle/` and `/etc/`. Used for `policy_file`.
    pub fn find_file(&self, name: impl AsRef<Path>) -> Option<PathBuf> {
        let home = std::env::var_os("HOME").map(PathBuf::from);
        search(name.as_ref(), &search_dirs(&self.files, home.as_deref()))
    }

    /// A commented sample configuration file listing every option with its
    /// default and a one-line help.
    pub fn sample() -> String {
        sample::sample(&[])
    }

    /// The sample limited to the given sections, in their usual order: what
    /// one program reads (e.g. `etc/api.conf.sample`).
    pub fn sample_of(sections: &[&str]) -> String {
        sample::sample(sections)
    }

    /// The configuration reference in Markdown; `readers(section)` names
    /// the programs that read each section.
    pub fn reference(readers: &dyn Fn(&str) -> Vec<&'static str>) -> String {
        sample::reference(readers)
    }
}

/// The `[notifications_<region>]` section of every listed region, each
/// with its transport URL.
fn notification_sections(
    store: &store::Store<'_>,
    xjob: &XjobOptions,
) -> Result<Vec<(String, NotificationOptions)>, ConfigError> {
    let mut out = Vec::new();
    for region in xjob.notification_regions.iter().filter(|r| !r.is_empty()) {
        let section = NotificationOptions::section_of(region);
        if !store.has_section(&section) {
            return Err(ConfigError::Missing(format!(
                "[xjob] notification_regions names {region} but no file has a [{section}] \
                 section (with the transport_url of that region's Neutron notifications)"
            )));
        }
        let options = NotificationOptions::from_section(store, &section)?;
        if options
            .transport_url
            .as_ref()
            .is_none_or(|u| u.expose().trim().is_empty())
        {
            return Err(ConfigError::Missing(format!(
                "[{section}] transport_url is not set (the transport_url of {region}'s Neutron \
                 [oslo_messaging_notifications])"
            )));
        }
        out.push((region.clone(), options));
    }
    Ok(out)
}

fn search_dirs(files: &[PathBuf], home: Option<&Path>) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = files
        .iter()
        .rev()
        .filter_map(|f| {
            let f = std::path::absolute(f).unwrap_or_else(|_| f.clone());
            f.parent().map(Path::to_path_buf)
        })
        .collect();
    if let Some(home) = home {
        dirs.push(home.join(format!(".{PROJECT}")));
        dirs.push(home.to_path_buf());
    }
    dirs.push(Path::new("/etc").join(PROJECT));
    dirs.push(PathBuf::from("/etc"));
    dirs
}

fn search(name: &Path, dirs: &[PathBuf]) -> Option<PathBuf> {
    if name.is_absolute() {
        return name.exists().then(|| name.to_path_buf());
    }
    dirs.iter()
        .map(|dir| dir.join(name))
        .find(|path| path.exists())
        .map(|path| std::path::absolute(&path).unwrap_or(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_order_is_last_file_first_then_home_then_etc() {
        let home = Path::new("/home/op");
        let files = vec![PathBuf::from("/a/api.conf"), PathBuf::from("/b/extra.conf")];
        assert_eq!(
            search_dirs(&files, Some(home)),
            vec![
                PathBuf::from("/b"),
                PathBuf::from("/a"),
                PathBuf::from("/home/op/.tricircle"),
                PathBuf::from("/home/op"),
                PathBuf::from("/etc/tricircle"),
                PathBuf::from("/etc"),
            ]
        );
    }

    #[test]
    fn search_prefers_earlier_directories() {
        let first = tempfile::tempdir().unwrap();
        let second = tempfile::tempdir().unwrap();
        let home = tempfile::tempdir().unwrap();
        std::fs::create_dir(home.path().join(".tricircle")).unwrap();
        std::fs::write(second.path().join("policy.json"), "{}").unwrap();
        std::fs::write(home.path().join(".tricircle/policy.json"), "{}").unwrap();
        std::fs::write(home.path().join("only-home.json"), "{}").unwrap();
        let files = vec![
            second.path().join("api.conf"),
            first.path().join("override.conf"),
        ];
        let dirs = search_dirs(&files, Some(home.path()));

        // Not in the last file's directory, found in the earlier file's one.
        assert_eq!(
            search(Path::new("policy.json"), &dirs),
            Some(second.path().join("policy.json"))
        );
        std::fs::write(first.path().join("policy.json"), "{}").unwrap();
        assert_eq!(
            search(Path::new("policy.json"), &dirs),
            Some(first.path().join("policy.json"))
        );
        assert_eq!(
            search(Path::new("only-home.json"), &dirs),
            Some(home.path().join("only-home.json"))
        );
        assert_eq!(search(Path::new("missing-file-xyz.json"), &dirs), None);
    }
}
