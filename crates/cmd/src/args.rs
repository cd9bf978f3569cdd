//! The command line every Tricircle binary accepts, as oslo.config and
//! oslo.log give it to the original: `--config-file` / `--config-dir` (with
//! oslo.config's default-file discovery when they are not given) and
//! oslo.log's logging flags, which override the files.

use std::path::{Path, PathBuf};

use tricircle_config::{Config, DefaultOptions};

/// oslo.config's `project`, which names the default files and directories.
pub const PROJECT: &str = "tricircle";

/// The oslo.config command-line options every binary accepts.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct ConfigArgs {
    /// Configuration file; may be repeated, later files override earlier ones.
    /// Default: the first tricircle.conf and the first <program>.conf found in
    /// ~/.tricircle, ~, /etc/tricircle, /etc.
    #[arg(long = "config-file", value_name = "PATH")]
    pub config_files: Vec<PathBuf>,
    /// Directory whose `*.conf` files are loaded (sorted) after --config-file.
    /// Default: the first tricircle.conf.d and <program>.conf.d found in the
    /// same places.
    #[arg(long = "config-dir", value_name = "DIR")]
    pub config_dirs: Vec<PathBuf>,
    #[command(flatten)]
    pub log: LogArgs,
}

/// oslo.log's command-line flags; each overrides its `[DEFAULT]` option.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct LogArgs {
    /// Log at debug level ([DEFAULT] debug).
    #[arg(short = 'd', long, overrides_with = "nodebug")]
    debug: bool,
    #[arg(long, hide = true, overrides_with = "debug")]
    nodebug: bool,
    /// Log to this file ([DEFAULT] log_file).
    #[arg(long = "log-file", visible_alias = "logfile", value_name = "PATH")]
    log_file: Option<String>,
    /// Directory of the log file ([DEFAULT] log_dir).
    #[arg(long = "log-dir", visible_alias = "logdir", value_name = "DIR")]
    log_dir: Option<String>,
    /// Also log to syslog ([DEFAULT] use_syslog).
    #[arg(long = "use-syslog", overrides_with = "nouse_syslog")]
    use_syslog: bool,
    #[arg(long = "nouse-syslog", hide = true, overrides_with = "use_syslog")]
    nouse_syslog: bool,
    /// Syslog facility ([DEFAULT] syslog_log_facility).
    #[arg(long = "syslog-log-facility", value_name = "FACILITY")]
    syslog_log_facility: Option<String>,
    /// Also log to systemd's journal ([DEFAULT] use_journal).
    #[arg(long = "use-journal", overrides_with = "nouse_journal")]
    use_journal: bool,
    #[arg(long = "nouse-journal", hide = true, overrides_with = "use_journal")]
    nouse_journal: bool,
    /// Write log records as JSON ([DEFAULT] use_json).
    #[arg(long = "use-json", overrides_with = "nouse_json")]
    use_json: bool,
    #[arg(long = "nouse-json", hide = true, overrides_with = "use_json")]
    nouse_json: bool,
    /// Re-open the log file when it is moved ([DEFAULT] watch_log_file).
    #[arg(long = "watch-log-file", overrides_with = "nowatch_log_file")]
    watch_log_file: bool,
    #[arg(
        long = "nowatch-log-file",
        hide = true,
        overrides_with = "watch_log_file"
    )]
    nowatch_log_file: bool,
    /// A Python logging configuration ([DEFAULT] log_config_append); not
    /// supported, start-up stops when it is given.
    #[arg(
        long = "log-config-append",
        visible_aliases = ["log-config", "log_config"],
        value_name = "PATH"
    )]
    log_config_append: Option<String>,
}

impl LogArgs {
    /// Apply the flags given on top of the files' values.
    pub fn apply(&self, d: &mut DefaultOptions) {
        let switch = |on: bool, off: bool, value: &mut bool| {
            if on {
                *value = true;
            } else if off {
                *value = false;
            }
        };
        switch(self.debug, self.nodebug, &mut d.debug);
        switch(self.use_syslog, self.nouse_syslog, &mut d.use_syslog);
        switch(self.use_journal, self.nouse_journal, &mut d.use_journal);
        switch(self.use_json, self.nouse_json, &mut d.use_json);
        switch(
            self.watch_log_file,
            self.nowatch_log_file,
            &mut d.watch_log_file,
        );
        let set = |flag: &Option<String>, value: &mut Option<String>| {
            if flag.is_some() {
                value.clone_from(flag);
            }
        };
        set(&self.log_file, &mut d.log_file);
        set(&self.log_dir, &mut d.log_dir);
        set(&self.log_config_append, &mut d.log_config_append);
        if let Some(f) = &self.syslog_log_facility {
            d.syslog_log_facility.clone_from(f);
        }
    }
}

impl ConfigArgs {
    /// All files to load, in order, for the binary named `program`: the
    /// given ones, or oslo.config's defaults when none are given.
    pub fn files(&self, program: &str) -> Result<Vec<PathBuf>, String> {
        let search = search_dirs(home().as_deref());
        let mut files = if self.config_files.is_empty() {
            default_config_files(&search, program)
        } else {
            self.config_files.clone()
        };
        let dirs = if self.config_dirs.is_empty() {
            default_config_dirs(&search, program)
        } else {
            self.config_dirs.clone()
        };
        for dir in &dirs {
            let entries = std::fs::read_dir(dir)
                .map_err(|e| format!("cannot read --config-dir {}: {e}", dir.display()))?;
            let mut confs: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "conf"))
                .collect();
            confs.sort();
            files.extend(confs);
        }
        Ok(files)
    }

    /// Load the files, then apply the command-line overrides.
    pub fn load(&self, program: &str) -> Result<(Config, Vec<String>), String> {
        let files = self.files(program)?;
        let (mut config, warnings) =
            Config::load(&files).map_err(|e| format!("configuration error: {e}"))?;
        self.log.apply(&mut config.default);
        Ok((config, warnings))
    }
}

fn home() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
}

/// Where oslo.config looks for default files, in order: `~/.tricircle`,
/// `~`, `/etc/tricircle`, `/etc`.
pub fn search_dirs(home: Option<&Path>) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(home) = home {
        dirs.push(home.join(format!(".{PROJECT}")));
        dirs.push(home.to_path_buf());
    }
    dirs.push(Path::new("/etc").join(PROJECT));
    dirs.push(PathBuf::from("/etc"));
    dirs
}

fn first_found(dirs: &[PathBuf], name: &str) -> Option<PathBuf> {
    dirs.iter().map(|d| d.join(name)).find(|p| p.exists())
}

/// oslo.config's `find_config_files`: the first `tricircle.conf` and the
/// first `<program>.conf` in `dirs`.
pub fn default_config_files(dirs: &[PathBuf], program: &str) -> Vec<PathBuf> {
    [PROJECT, program]
        .iter()
        .filter_map(|name| first_found(dirs, &format!("{name}.conf")))
        .collect()
}

/// oslo.config's `find_config_dirs`: the first `tricircle.conf.d` and the
/// first `<program>.conf.d` in `dirs`.
pub fn default_config_dirs(dirs: &[PathBuf], program: &str) -> Vec<PathBuf> {
    [PROJECT, program]
        .iter()
        .filter_map(|name| first_found(dirs, &format!("{name}.conf.d")))
        .filter(|p| p.is_dir())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discovery_takes_the_first_of_each_name_in_oslo_order() {
        let tmp = tempfile::tempdir().unwrap();
        let home = tmp.path().join("home");
        let etc = tmp.path().join("etc");
        for d in [home.join(".tricircle"), home.clone(), etc.clone()] {
            std::fs::create_dir_all(&d).unwrap();
        }
        std::fs::write(home.join("tricircle.conf"), "").unwrap();
        std::fs::write(etc.join("tricircle.conf"), "").unwrap();
        std::fs::write(etc.join("tricircle-api.conf"), "").unwrap();
        std::fs::create_dir(home.join(".tricircle/tricircle-api.conf.d")).unwrap();
        let dirs = vec![home.join(".tricircle"), home.clone(), etc.clone()];
        assert_eq!(
            default_config_files(&dirs, "tricircle-api"),
            vec![home.join("tricircle.conf"), etc.join("tricircle-api.conf")]
        );
        assert!(default_config_files(&dirs, "tricircle-xjob")
            .iter()
            .all(|p| p.ends_with("tricircle.conf")));
        assert_eq!(
            default_config_dirs(&dirs, "tricircle-api"),
            vec![home.join(".tricircle/tricircle-api.conf.d")]
        );
        assert!(default_config_dirs(&dirs, "tricircle-xjob").is_empty());
    }

    #[test]
    fn search_dirs_are_oslo_configs() {
        assert_eq!(
            search_dirs(Some(Path::new("/home/op"))),
            ["/home/op/.tricircle", "/home/op", "/etc/tricircle", "/etc"]
                .map(PathBuf::from)
                .to_vec()
        );
        assert_eq!(
            search_dirs(None),
            ["/etc/tricircle", "/etc"].map(PathBuf::from).to_vec()
        );
    }

    #[test]
    fn flags_override_the_files_and_the_last_switch_wins() {
        use clap::Parser;
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            c: ConfigArgs,
        }
        let cli = Cli::parse_from([
            "x",
            "--debug",
            "--nodebug",
            "-d",
            "--logfile",
            "a.log",
            "--log-dir",
            "/var/log/t",
            "--use-syslog",
            "--syslog-log-facility",
            "local3",
            "--use-json",
            "--nouse-json",
        ]);
        let mut d = Config::load(&[]).unwrap().0.default;
        d.use_json = true;
        cli.c.log.apply(&mut d);
        assert!(d.debug);
        assert_eq!(d.log_file.as_deref(), Some("a.log"));
        assert_eq!(d.log_dir.as_deref(), Some("/var/log/t"));
        assert!(d.use_syslog);
        assert_eq!(d.syslog_log_facility, "local3");
        assert!(!d.use_json);
        assert!(!d.watch_log_file);
    }
}
